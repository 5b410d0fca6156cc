//! The citizen portal's pages: plain HTML5 documents from the askama templates beside this file
//! (`portal/*.html`, each extending `layout.html`), fed the view data in [`super::super::views`].
//! Templates escape every value by default; every visible word comes from the catalogue
//! (`portal.*` keys in `crates/i18n/locales/`), and nothing is inline — the stylesheet and the
//! script are `/static/portal.css` and `/static/portal.js`, so the pages run under a CSP without
//! `'unsafe-inline'`.
//!
//! The pages work without JavaScript; `portal.js` only adds the countdowns, the live steps of
//! "Connect mobile key" (server-sent events) and the confirmation before disconnecting a key.

use askama::Template;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use civkey_i18n::{tr, tr_args, tr_count};

use crate::web::layout::{
    login_message, notice_and_error, path_segment, render, split_placeholder, Countdown,
    MessageBox, Page, Scripts, Stamp,
};
use crate::web::session::url_escape;
use crate::web::views::{
    ConnectView, DashboardView, DevicesView, EmailCodeView, LoginView, Means, PageContext,
    PairingOutcomeView, StepUpView, TotpRemovalView,
};

#[derive(Template)]
#[template(path = "portal/login.html")]
struct LoginPage<'a> {
    page: Page<'a>,
    view: &'a LoginView,
    message: Option<MessageBox>,
    next: &'a str,
    key_next: String,
}

/// `GET /portal/login`: password + one-time code, or a code by e-mail.
pub fn login_page(ctx: &PageContext, view: &LoginView) -> String {
    let l = ctx.locale;
    render(&LoginPage {
        page: Page::portal(
            ctx,
            tr(l, "portal.login.title"),
            "page-login",
            Scripts::None,
        ),
        view,
        message: login_message(l, view.error.as_ref()),
        next: view.next.as_deref().unwrap_or(""),
        key_next: url_escape(view.next.as_deref().unwrap_or("/portal")),
    })
}

#[derive(Template)]
#[template(path = "portal/totp_removal.html")]
struct TotpRemovalPage<'a> {
    page: Page<'a>,
    view: &'a TotpRemovalView,
    message: Option<MessageBox>,
}

/// `GET /portal/totp/remove`: remove a lost authenticator with the deletion code shown at enrolment.
pub fn totp_removal_page(ctx: &PageContext, view: &TotpRemovalView) -> String {
    let l = ctx.locale;
    let message = if view.removed {
        Some(MessageBox::new(l, "portal.totp_remove.done", &[], false))
    } else {
        login_message(l, view.error.as_ref())
    };
    render(&TotpRemovalPage {
        page: Page::portal(
            ctx,
            tr(l, "portal.totp_remove.title"),
            "page-login",
            Scripts::None,
        ),
        view,
        message,
    })
}

#[derive(Template)]
#[template(path = "portal/email_code.html")]
struct EmailCodePage<'a> {
    page: Page<'a>,
    view: &'a EmailCodeView,
    intro: String,
    message: Option<MessageBox>,
    next: &'a str,
}

/// `GET /portal/login/email`: the 6-digit code sent by e-mail.
pub fn email_code_page(ctx: &PageContext, view: &EmailCodeView) -> String {
    let l = ctx.locale;
    render(&EmailCodePage {
        page: Page::portal(
            ctx,
            tr(l, "portal.email_code.title"),
            "page-login",
            Scripts::None,
        ),
        view,
        intro: tr_args(
            l,
            "portal.email_code.intro",
            &[("username", &view.username)],
        ),
        message: login_message(l, view.error.as_ref()),
        next: view.next.as_deref().unwrap_or(""),
    })
}

#[derive(Template)]
#[template(path = "portal/dashboard.html")]
struct DashboardPage<'a> {
    page: Page<'a>,
    who: String,
    keys_text: String,
    status_class: &'static str,
    status_key: &'static str,
    /// The recent logins: service, when, how.
    logins: Vec<(&'a str, Stamp, String)>,
}

/// `GET /portal`: tiles to the citizen's tasks and the authenticator's status.
pub fn dashboard_page(ctx: &PageContext, view: &DashboardView) -> String {
    let l = ctx.locale;
    let keys_text = if view.device_count == 0 {
        tr(l, "portal.dashboard.keys_none").to_string()
    } else {
        tr_count(
            l,
            "portal.dashboard.keys_count",
            u64::try_from(view.device_count).unwrap_or(u64::MAX),
            &[],
        )
    };
    let (status_class, status_key) = if view.totp_enrolled {
        ("status-line ok", "portal.dashboard.totp_on")
    } else {
        ("status-line", "portal.dashboard.totp_off")
    };
    let logins = view
        .recent_logins
        .iter()
        .map(|row| {
            let means = match (row.means, &row.device_name) {
                (Means::MobileKey, Some(device)) => {
                    tr_args(l, "portal.means.mobile_key", &[("device", device)])
                }
                (Means::MobileKey, None) => tr(l, "portal.means.mobile_key_gone").to_string(),
                (Means::PasswordTotp, _) => tr(l, "portal.means.password_totp").to_string(),
                (Means::EmailCode, _) => tr(l, "portal.means.email_code").to_string(),
            };
            (row.service.as_str(), Stamp(row.at), means)
        })
        .collect();
    render(&DashboardPage {
        page: Page::portal(
            ctx,
            tr(l, "portal.dashboard.title"),
            "page-dashboard",
            Scripts::None,
        ),
        who: tr_args(
            l,
            "portal.dashboard.logged_in_as",
            &[("name", &view.full_name)],
        ),
        keys_text,
        status_class,
        status_key,
        logins,
    })
}

/// One final state of a pairing with its next steps, as `portal/outcome.html` shows it: a step of
/// the connect page (`hidden` until `portal.js` shows it) or the body of the outcome page.
struct Outcome {
    step: &'static str,
    tone: &'static str,
    title_key: &'static str,
    text_key: &'static str,
    shown: bool,
    /// "Connect again" first.
    again: bool,
    /// "My mobile keys", with its button class.
    keys: Option<&'static str>,
}

impl Outcome {
    fn of(view: PairingOutcomeView, shown: bool) -> Self {
        let (step, tone, again, keys) = match view {
            PairingOutcomeView::Confirmed => ("confirmed", "success", false, Some("primary")),
            PairingOutcomeView::Refused => ("refused", "warning", true, None),
            PairingOutcomeView::Expired => ("expired", "warning", true, None),
            PairingOutcomeView::Gone => ("gone", "warning", true, Some("secondary")),
        };
        let (title_key, text_key) = outcome_keys(view);
        Outcome {
            step,
            tone,
            title_key,
            text_key,
            shown,
            again,
            keys,
        }
    }
}

#[derive(Template)]
#[template(path = "portal/connect.html")]
struct ConnectPage<'a> {
    page: Page<'a>,
    view: &'a ConnectView,
    expired: bool,
    session: String,
    qr: String,
    countdown: Countdown,
    same_device: bool,
    downloads: Vec<&'a (String, String)>,
    /// The "Device {name} wants to connect" text around the name `portal.js` fills in.
    device: (&'static str, &'static str),
    outcomes: [Outcome; 3],
}

/// `GET /portal/connect`: the pairing QR code with its countdown, then — switched by
/// `portal.js` from the server-sent events at `events_url` — the confirmation code and the
/// citizen's decision, then the outcome. Every step is in the document (`hidden` until needed).
pub fn connect_page(ctx: &PageContext, view: &ConnectView) -> String {
    let l = ctx.locale;
    // A session that ran out before the page was drawn starts in its final state.
    let expired = view.expires_in == 0;
    render(&ConnectPage {
        page: Page::portal(
            ctx,
            tr(l, "portal.connect.title"),
            "page-connect",
            Scripts::Portal,
        ),
        view,
        expired,
        session: path_segment(&view.session_id),
        qr: BASE64.encode(view.qr_svg.as_bytes()),
        countdown: Countdown(view.expires_in),
        // Only a civkey pairing URI may become a link: nothing else can slip into an href here.
        same_device: view.pairing_uri.starts_with("civkey://pair?"),
        downloads: view
            .downloads
            .iter()
            .filter(|(_, url)| url.starts_with("https://") || url.starts_with("http://"))
            .collect(),
        device: split_placeholder(tr(l, "portal.connect.claimed_device"), "name"),
        outcomes: [
            Outcome::of(PairingOutcomeView::Confirmed, false),
            Outcome::of(PairingOutcomeView::Refused, false),
            Outcome::of(PairingOutcomeView::Expired, expired),
        ],
    })
}

#[derive(Template)]
#[template(path = "portal/pairing_outcome.html")]
struct PairingOutcomePage<'a> {
    page: Page<'a>,
    o: Outcome,
}

/// What `POST /portal/connect/{id}/confirm|refuse` lands on, or an expired or gone session.
pub fn pairing_outcome_page(ctx: &PageContext, view: PairingOutcomeView) -> String {
    let l = ctx.locale;
    render(&PairingOutcomePage {
        page: Page::portal(
            ctx,
            tr(l, outcome_keys(view).0),
            "page-outcome",
            Scripts::None,
        ),
        o: Outcome::of(view, true),
    })
}

/// One row of the devices page, ready to show.
struct DeviceCard {
    /// The id, made safe for a path segment.
    id: String,
    name: String,
    model: String,
    /// The kind in words ("phone"), or as stored when unknown.
    kind: String,
    paired_at: Stamp,
    last_used_at: Option<Stamp>,
    /// The question before disconnecting it.
    confirm: String,
}

#[derive(Template)]
#[template(path = "portal/devices.html")]
struct DevicesPage<'a> {
    page: Page<'a>,
    messages: Vec<MessageBox>,
    /// The only device of a citizen with no other means: each card warns.
    last_means: bool,
    devices: Vec<DeviceCard>,
}

/// `GET /portal/keys`: the citizen's paired devices with rename and disconnect forms.
pub fn devices_page(ctx: &PageContext, view: &DevicesView) -> String {
    let l = ctx.locale;
    let last_means = view.keys_are_only_means && view.devices.len() == 1;
    let confirm_key = if last_means {
        "portal.keys.disconnect_confirm_last"
    } else {
        "portal.keys.disconnect_confirm"
    };
    let devices = view
        .devices
        .iter()
        .map(|d| DeviceCard {
            id: path_segment(&d.id),
            name: d.name.clone(),
            model: d.model.clone(),
            kind: match d.kind.as_str() {
                "phone" => tr(l, "portal.keys.kind_phone").to_string(),
                "tablet" => tr(l, "portal.keys.kind_tablet").to_string(),
                "desktop" => tr(l, "portal.keys.kind_desktop").to_string(),
                other => other.to_string(),
            },
            paired_at: Stamp(d.paired_at),
            last_used_at: d.last_used_at.map(Stamp),
            confirm: tr_args(l, confirm_key, &[("name", &d.name)]),
        })
        .collect();
    render(&DevicesPage {
        page: Page::portal(
            ctx,
            tr(l, "portal.keys.title"),
            "page-keys",
            Scripts::Portal,
        ),
        messages: notice_and_error(l, view.notice.as_deref(), view.error.as_deref()),
        last_means,
        devices,
    })
}

#[derive(Template)]
#[template(path = "portal/step_up.html")]
struct StepUpPage<'a> {
    page: Page<'a>,
    view: &'a StepUpView,
    next: String,
}

/// `GET /portal/confirm`: a change that needs step-up; the ways to log in again that would do.
pub fn step_up_page(ctx: &PageContext, view: &StepUpView) -> String {
    render(&StepUpPage {
        page: Page::portal(
            ctx,
            tr(ctx.locale, "portal.step_up.title"),
            "page-step-up",
            Scripts::None,
        ),
        view,
        next: url_escape(&view.next),
    })
}

/// The title and text keys of a pairing outcome.
fn outcome_keys(view: PairingOutcomeView) -> (&'static str, &'static str) {
    match view {
        PairingOutcomeView::Confirmed => (
            "portal.connect.confirmed_title",
            "portal.connect.confirmed_text",
        ),
        PairingOutcomeView::Refused => (
            "portal.connect.refused_title",
            "portal.connect.refused_text",
        ),
        PairingOutcomeView::Expired => (
            "portal.connect.expired_title",
            "portal.connect.expired_text",
        ),
        PairingOutcomeView::Gone => ("portal.connect.gone_title", "portal.connect.gone_text"),
    }
}

#[cfg(test)]
mod tests {
    use civkey_i18n::Locale;

    use super::*;
    use crate::escape_html as esc;
    use crate::web::counter::pages as counter;
    use crate::web::layout::error_page;
    use crate::web::oidc::pages::*;
    use crate::web::views::DeviceRow;
    use crate::web::views::LoginRow;
    use crate::web::views::Msg;
    use crate::web::views::{SigninContinueView, SigninView};

    const TOKEN: &str = "csrf-token-0123456789";
    const URI: &str = "civkey://pair?v=1&s=https%3A%2F%2Fid.example.gov&id=AAECAwQFBgcICQoLDA0ODw&k=EBESExQVFhcYGRobHB0eHw";
    const EVIL: &str = "<script>alert(1)</script>";

    fn ctx(locale: Locale, path: &str) -> PageContext {
        PageContext {
            locale,
            path: path.to_string(),
            csrf: Some(TOKEN.to_string()),
            citizen_name: Some("Jana Nováková".to_string()),
        }
    }

    fn anonymous(locale: Locale, path: &str) -> PageContext {
        PageContext {
            locale,
            path: path.to_string(),
            csrf: None,
            citizen_name: None,
        }
    }

    fn device(id: &str, name: &str, last_used_at: Option<u64>) -> DeviceRow {
        DeviceRow {
            id: id.to_string(),
            name: name.to_string(),
            model: "Pixel 8".to_string(),
            kind: "phone".to_string(),
            paired_at: 1_767_225_600,
            last_used_at,
        }
    }

    fn connect_view(expires_in: u64) -> ConnectView {
        ConnectView {
            session_id: "AAECAwQFBgcICQoLDA0ODw".to_string(),
            pairing_uri: URI.to_string(),
            qr_svg: "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 1 1\"><rect width=\"1\" height=\"1\"/></svg>".to_string(),
            expires_in,
            events_url: "/portal/connect/AAECAwQFBgcICQoLDA0ODw/events".to_string(),
            downloads: vec![
                ("Google Play".to_string(), "https://play.example/civkey".to_string()),
                ("F-Droid".to_string(), "https://f-droid.example/civkey".to_string()),
            ],
        }
    }

    fn devices_view(devices: Vec<DeviceRow>, only_means: bool) -> DevicesView {
        DevicesView {
            devices,
            keys_are_only_means: only_means,
            notice: Some("portal.keys.renamed".to_string()),
            error: Some("portal.keys.error.name".to_string()),
        }
    }

    /// Every page in every language, as (description, html).
    fn every_page() -> Vec<(String, String)> {
        let mut pages = Vec::new();
        for l in Locale::ALL {
            let tag = l.tag();
            let login = LoginView {
                csrf: TOKEN.to_string(),
                username: "jana".to_string(),
                error: Some(Msg::new("portal.login.error.rate_limited").with("seconds", "30")),
                next: Some("/portal/connect".to_string()),
            };
            pages.push((
                format!("login {tag}"),
                login_page(&anonymous(l, "/portal/login"), &login),
            ));
            let email = EmailCodeView {
                csrf: TOKEN.to_string(),
                username: "jana".to_string(),
                error: Some(Msg::new("portal.login.error.email_sent")),
                next: None,
            };
            pages.push((
                format!("email code {tag}"),
                email_code_page(&anonymous(l, "/portal/login/email"), &email),
            ));
            for (removed, error) in [
                (false, Some(Msg::new("portal.totp_remove.error.wrong"))),
                (true, None),
            ] {
                let view = TotpRemovalView {
                    csrf: TOKEN.to_string(),
                    username: "jana".to_string(),
                    error,
                    removed,
                };
                pages.push((
                    format!("totp removal {removed} {tag}"),
                    totp_removal_page(&anonymous(l, "/portal/totp/remove"), &view),
                ));
            }
            for count in [0, 1, 3, 7] {
                let view = DashboardView {
                    full_name: "Jana Nováková".to_string(),
                    device_count: count,
                    totp_enrolled: count % 2 == 1,
                    recent_logins: (0..count)
                        .map(|i| LoginRow {
                            service: format!("Služba {i}"),
                            at: 1_767_225_600 + i as u64,
                            means: [Means::MobileKey, Means::PasswordTotp, Means::EmailCode][i % 3],
                            device_name: (i % 2 == 0).then(|| "Pixel".to_string()),
                        })
                        .collect(),
                };
                pages.push((
                    format!("dashboard {count} {tag}"),
                    dashboard_page(&ctx(l, "/portal"), &view),
                ));
            }
            for secs in [240, 0] {
                pages.push((
                    format!("connect {secs} {tag}"),
                    connect_page(&ctx(l, "/portal/connect"), &connect_view(secs)),
                ));
            }
            for outcome in [
                PairingOutcomeView::Confirmed,
                PairingOutcomeView::Refused,
                PairingOutcomeView::Expired,
                PairingOutcomeView::Gone,
            ] {
                pages.push((
                    format!("outcome {outcome:?} {tag}"),
                    pairing_outcome_page(&ctx(l, "/portal/connect/x/confirm"), outcome),
                ));
            }
            let rows = vec![
                device("dev1", "Jana's phone", Some(1_767_312_000)),
                device("dev2", "Tablet", None),
            ];
            pages.push((
                format!("devices {tag}"),
                devices_page(&ctx(l, "/portal/keys"), &devices_view(rows, false)),
            ));
            pages.push((
                format!("devices last {tag}"),
                devices_page(
                    &ctx(l, "/portal/keys"),
                    &devices_view(vec![device("dev1", "Jana's phone", None)], true),
                ),
            ));
            pages.push((
                format!("devices empty {tag}"),
                devices_page(&ctx(l, "/portal/keys"), &devices_view(vec![], true)),
            ));
            for (status, key) in [
                (404, "portal.error.not_found"),
                (403, "portal.error.csrf"),
                (500, "portal.error.internal"),
                (400, "no.such.key"),
            ] {
                pages.push((
                    format!("error {status} {tag}"),
                    error_page(&anonymous(l, "/portal/x"), status, key),
                ));
            }
            pages.extend(counter::tests::every_counter_page(
                l,
                &anonymous(l, "/counter/login"),
                &clerk_ctx(l, "/counter"),
            ));
        }
        pages
    }

    /// A counter page's context: the clerk's session token, no citizen.
    fn clerk_ctx(locale: Locale, path: &str) -> PageContext {
        PageContext {
            locale,
            path: path.to_string(),
            csrf: Some(TOKEN.to_string()),
            citizen_name: None,
        }
    }

    /// The opening tags named `name` (`<input …>`), attributes included.
    fn tags<'a>(html: &'a str, name: &str) -> Vec<&'a str> {
        let open = format!("<{name}");
        let mut found = Vec::new();
        let mut rest = html;
        while let Some(start) = rest.find(&open) {
            let after = &rest[start..];
            let next = after.as_bytes().get(open.len()).copied();
            let end = after.find('>').map(|e| e + 1).unwrap_or(after.len());
            if matches!(next, Some(b' ' | b'>')) {
                found.push(&after[..end]);
            }
            rest = &after[end..];
        }
        found
    }

    fn attr(tag: &str, name: &str) -> Option<String> {
        let needle = format!(" {name}=\"");
        let start = tag.find(&needle)? + needle.len();
        let len = tag[start..].find('"')?;
        Some(tag[start..start + len].to_string())
    }

    fn unescape(text: &str) -> String {
        text.replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&amp;", "&")
    }

    /// The document's text outside tags.
    fn text_content(html: &str) -> String {
        let mut out = String::new();
        let mut in_tag = false;
        for c in html.chars() {
            match c {
                '<' => in_tag = true,
                '>' => {
                    in_tag = false;
                    out.push(' ');
                }
                _ if !in_tag => out.push(c),
                _ => {}
            }
        }
        out
    }

    /// Something shaped like a catalogue key (`portal.login.title`), anywhere in the document.
    fn raw_key(html: &str) -> Option<String> {
        ["portal.", "counter."]
            .iter()
            .find_map(|prefix| raw_key_of(html, prefix))
    }

    fn raw_key_of(html: &str, prefix: &str) -> Option<String> {
        html.match_indices(prefix).find_map(|(i, _)| {
            let rest = &html[i + prefix.len()..];
            let word: String = rest
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            let after = rest[word.len()..].chars().next();
            (!word.is_empty() && after == Some('.')).then(|| html[i..].chars().take(40).collect())
        })
    }

    /// A leftover `{placeholder}`.
    fn placeholder(html: &str) -> Option<String> {
        html.match_indices('{').find_map(|(i, _)| {
            let rest = &html[i + 1..];
            let word: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            let starts_with_letter = word.starts_with(|c: char| c.is_ascii_alphabetic());
            (starts_with_letter && rest[word.len()..].starts_with('}'))
                .then(|| format!("{{{word}}}"))
        })
    }

    #[test]
    fn every_page_is_a_complete_document_in_its_language() {
        for (what, html) in every_page() {
            let tag = what.rsplit(' ').next().unwrap();
            assert!(html.starts_with("<!doctype html>\n"), "{what}");
            assert!(html.contains(&format!("<html lang=\"{tag}\">")), "{what}");
            assert!(html.contains("<meta charset=\"utf-8\">"), "{what}");
            assert!(html.contains("<meta name=\"viewport\""), "{what}");
            assert!(
                html.contains("<title>") && html.contains(" – civkey</title>"),
                "{what}"
            );
            assert!(
                html.contains("<link rel=\"stylesheet\" href=\"/static/portal.css\">"),
                "{what}"
            );
            assert_eq!(tags(&html, "h1").len(), 1, "{what}: one h1");
            assert!(html.trim_end().ends_with("</html>"), "{what}");
        }
    }

    #[test]
    fn no_page_shows_a_catalogue_key_or_a_placeholder() {
        for (what, html) in every_page() {
            assert_eq!(raw_key(&html), None, "{what}");
            assert_eq!(placeholder(&html), None, "{what}");
            assert!(
                !text_content(&html).contains("portal.")
                    && !text_content(&html).contains("counter."),
                "{what}: a key in the text"
            );
        }
    }

    #[test]
    fn nothing_is_inline_so_the_strict_csp_holds() {
        for (what, html) in every_page() {
            assert!(!html.contains("style="), "{what}: style attribute");
            assert!(!html.contains("<style"), "{what}: style element");
            for script in tags(&html, "script") {
                assert_eq!(
                    script, "<script src=\"/static/portal.js\" defer>",
                    "{what}: only the portal script"
                );
            }
            assert_eq!(
                html.matches("<script").count(),
                html.matches("</script>").count()
            );
            assert_eq!(
                html.matches("<script").count(),
                html.matches("<script src=\"/static/portal.js\" defer></script>")
                    .count(),
                "{what}"
            );
            for handler in [
                " onclick=",
                " onload=",
                " onsubmit=",
                " onerror=",
                "javascript:",
            ] {
                assert!(!html.contains(handler), "{what}: {handler}");
            }
            // Every external reference stays on the site, except the app download links.
            for img in tags(&html, "img") {
                assert!(attr(img, "src")
                    .unwrap()
                    .starts_with("data:image/svg+xml;base64,"));
            }
        }
    }

    #[test]
    fn every_control_has_a_visible_label() {
        for (what, html) in every_page() {
            let labels: Vec<String> = tags(&html, "label")
                .into_iter()
                .filter_map(|t| attr(t, "for"))
                .collect();
            for name in ["input", "select", "textarea"] {
                for control in tags(&html, name) {
                    if attr(control, "type").as_deref() == Some("hidden") {
                        continue;
                    }
                    let id = attr(control, "id")
                        .unwrap_or_else(|| panic!("{what}: control without id: {control}"));
                    assert_eq!(
                        labels.iter().filter(|l| **l == id).count(),
                        1,
                        "{what}: no label for {id}"
                    );
                }
            }
            // Ids are unique, so each label points at one control.
            let mut ids: Vec<String> = html
                .match_indices(" id=\"")
                .map(|(i, _)| {
                    let rest = &html[i + 5..];
                    rest[..rest.find('"').unwrap()].to_string()
                })
                .collect();
            let all = ids.len();
            ids.sort();
            ids.dedup();
            assert_eq!(ids.len(), all, "{what}: duplicate ids");
        }
    }

    #[test]
    fn every_post_form_carries_the_csrf_token_and_submits_with_a_button() {
        for (what, html) in every_page() {
            let mut rest = html.as_str();
            let mut forms = 0;
            while let Some(start) = rest.find("<form ") {
                let end = rest[start..].find("</form>").unwrap() + start;
                let form = &rest[start..end];
                // A search (the counter's) reads and changes nothing: GET, no token.
                if form.starts_with("<form method=\"get\" action=\"/") {
                    assert!(!form.contains("name=\"csrf\""), "{what}: {form}");
                    assert!(form.contains("<button type=\"submit\""), "{what}: {form}");
                    forms += 1;
                    rest = &rest[end..];
                    continue;
                }
                assert!(
                    form.starts_with("<form method=\"post\" action=\"/"),
                    "{what}: {form}"
                );
                assert!(
                    form.contains(&format!(
                        "<input type=\"hidden\" name=\"csrf\" value=\"{TOKEN}\">"
                    )),
                    "{what}: no csrf in {form}"
                );
                assert!(form.contains("<button type=\"submit\""), "{what}: {form}");
                forms += 1;
                rest = &rest[end..];
            }
            assert_eq!(
                forms,
                html.matches("<form").count(),
                "{what}: a form of another kind"
            );
            for button in tags(&html, "button") {
                assert!(button.starts_with("<button type=\"submit\""), "{what}");
            }
        }
    }

    #[test]
    fn header_has_languages_and_logout_only_when_logged_in() {
        let html = dashboard_page(
            &ctx(Locale::En, "/portal"),
            &DashboardView {
                full_name: "Jana".into(),
                device_count: 1,
                totp_enrolled: true,
                recent_logins: Vec::new(),
            },
        );
        for tag in ["cs", "hu", "en"] {
            assert!(html.contains(&format!("href=\"/portal?lang={tag}\"")));
        }
        assert!(html.contains(
            "href=\"/portal?lang=en\" lang=\"en\" hreflang=\"en\" aria-current=\"true\""
        ));
        assert!(html.contains("<form method=\"post\" action=\"/portal/logout\""));
        assert!(html.contains("Log out"));
        assert!(html.contains("Jana Nováková"));

        let login = login_page(
            &anonymous(Locale::En, "/portal/login"),
            &LoginView::default(),
        );
        assert!(!login.contains("/portal/logout"));
        assert!(login.contains("href=\"/portal/login?lang=hu\""));
    }

    #[test]
    fn language_links_never_leave_the_site() {
        for path in ["//evil.example/x", "https://evil.example", "/a\\b", "x"] {
            let html = error_page(&anonymous(Locale::En, path), 404, "portal.error.not_found");
            assert!(html.contains("href=\"/portal?lang=cs\""), "{path}");
            assert!(!html.contains("evil"), "{path}");
        }
    }

    #[test]
    fn dynamic_values_are_escaped() {
        let mut c = ctx(Locale::En, "/portal/keys\"><script>");
        c.citizen_name = Some(EVIL.to_string());
        c.csrf = Some("\"><script>".to_string());
        let rows = vec![DeviceRow {
            id: "a/../b\"".to_string(),
            name: EVIL.to_string(),
            model: EVIL.to_string(),
            kind: EVIL.to_string(),
            paired_at: 0,
            last_used_at: None,
        }];
        let devices = devices_page(&c, &devices_view(rows, true));
        let login = login_page(
            &anonymous(Locale::En, "/portal/login"),
            &LoginView {
                csrf: EVIL.into(),
                username: EVIL.into(),
                error: Some(Msg::new("portal.login.error.rate_limited").with("seconds", EVIL)),
                next: Some(EVIL.into()),
            },
        );
        let email = email_code_page(
            &anonymous(Locale::En, "/portal/login/email"),
            &EmailCodeView {
                csrf: EVIL.into(),
                username: EVIL.into(),
                error: None,
                next: Some(EVIL.into()),
            },
        );
        let dashboard = dashboard_page(
            &c,
            &DashboardView {
                full_name: EVIL.into(),
                device_count: 2,
                totp_enrolled: false,
                recent_logins: Vec::new(),
            },
        );
        let mut view = connect_view(240);
        view.events_url = EVIL.into();
        view.session_id = "x/\"y".into();
        view.downloads = vec![(EVIL.into(), "https://x.example/\"><script>".into())];
        let connect = connect_page(&c, &view);
        for (what, html) in [
            ("devices", &devices),
            ("login", &login),
            ("email", &email),
            ("dashboard", &dashboard),
            ("connect", &connect),
        ] {
            assert!(!html.contains(EVIL), "{what}");
            assert!(!html.contains("\"><script>"), "{what}");
            assert_eq!(
                html.matches("<script").count(),
                html.matches("<script src=").count(),
                "{what}"
            );
        }
        assert!(devices.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(devices.contains("<h2 id=\"device-0-name\" class=\"device-name\">&lt;script&gt;alert(1)&lt;/script&gt;</h2>"));
        assert!(
            devices.contains("value=\"&lt;script&gt;alert(1)&lt;/script&gt;\" maxlength=\"64\"")
        );
        // The id cannot change where the forms go.
        assert!(devices.contains("action=\"/portal/keys/a%2F..%2Fb%22/rename\""));
        assert!(devices.contains("action=\"/portal/keys/a%2F..%2Fb%22/disconnect\""));
        assert!(connect.contains("action=\"/portal/connect/x%2F%22y/confirm\""));
        assert!(login.contains("Please try again in &lt;script&gt;alert(1)&lt;/script&gt; s."));
    }

    #[test]
    fn login_page_has_both_forms_and_shows_errors_as_alerts() {
        let view = LoginView {
            csrf: TOKEN.into(),
            username: "jana".into(),
            error: Some(Msg::new("portal.login.error.wrong")),
            next: Some("/portal/connect".into()),
        };
        let html = login_page(&anonymous(Locale::En, "/portal/login"), &view);
        let login_form = &html[html.find("action=\"/portal/login\"").unwrap()..];
        let login_form = &login_form[..login_form.find("</form>").unwrap()];
        for field in ["username", "password", "totp"] {
            assert!(login_form.contains(&format!("name=\"{field}\"")), "{field}");
        }
        assert!(
            login_form.contains("<input type=\"hidden\" name=\"next\" value=\"/portal/connect\">")
        );
        // The e-mail code form carries it on too.
        let email_form = &html[html.find("action=\"/portal/login/email\"").unwrap()..];
        let email_form = &email_form[..email_form.find("</form>").unwrap()];
        assert!(
            email_form.contains("<input type=\"hidden\" name=\"next\" value=\"/portal/connect\">")
        );
        let totp = tags(login_form, "input")
            .into_iter()
            .find(|t| attr(t, "name").as_deref() == Some("totp"))
            .unwrap();
        assert_eq!(attr(totp, "inputmode").as_deref(), Some("numeric"));
        assert_eq!(attr(totp, "autocomplete").as_deref(), Some("one-time-code"));
        assert_eq!(attr(totp, "maxlength").as_deref(), Some("6"));
        assert!(html.contains("value=\"jana\""));

        let email_form = &html[html.find("action=\"/portal/login/email\"").unwrap()..];
        let email_form = &email_form[..email_form.find("</form>").unwrap()];
        let names: Vec<String> = tags(email_form, "input")
            .into_iter()
            .filter_map(|t| attr(t, "name"))
            .collect();
        assert_eq!(
            names,
            ["csrf", "next", "username"],
            "next carries on to the code page"
        );
        assert!(email_form.contains("Send me a code by e-mail"));

        assert!(html.contains(
            "<div class=\"message error\" role=\"alert\"><p>The username, password or one-time code is wrong.</p></div>"
        ));

        let sent = LoginView {
            error: Some(Msg::new("portal.login.error.email_sent")),
            ..view.clone()
        };
        let html = login_page(&anonymous(Locale::En, "/portal/login"), &sent);
        assert!(html.contains("role=\"status\""));
        assert!(!html.contains("role=\"alert\""));

        let limited = LoginView {
            error: Some(Msg::new("portal.login.error.rate_limited").with("seconds", "42")),
            ..view.clone()
        };
        let html = login_page(&anonymous(Locale::Cs, "/portal/login"), &limited);
        assert!(html.contains("Zkuste to prosím znovu za 42 s."));

        let unknown = LoginView {
            error: Some(Msg::new("portal.nonexistent")),
            ..view
        };
        let html = login_page(&anonymous(Locale::En, "/portal/login"), &unknown);
        assert!(html.contains("Something went wrong. Please try again."));
        assert!(!html.contains("portal.nonexistent"));
    }

    #[test]
    fn email_code_page_posts_code_with_username_and_next() {
        let view = EmailCodeView {
            csrf: TOKEN.into(),
            username: "jana".into(),
            error: Some(Msg::new("portal.login.error.code_wrong")),
            next: Some("/portal/keys".into()),
        };
        let html = email_code_page(&anonymous(Locale::En, "/portal/login/email"), &view);
        assert!(html.contains("<form method=\"post\" action=\"/portal/login/email/verify\""));
        assert!(html.contains("<input type=\"hidden\" name=\"username\" value=\"jana\">"));
        assert!(html.contains("<input type=\"hidden\" name=\"next\" value=\"/portal/keys\">"));
        let code = tags(&html, "input")
            .into_iter()
            .find(|t| attr(t, "name").as_deref() == Some("code"))
            .unwrap();
        assert_eq!(attr(code, "autocomplete").as_deref(), Some("one-time-code"));
        assert_eq!(attr(code, "pattern").as_deref(), Some("[0-9]{6}"));
        assert!(html.contains("role=\"alert\"><p>The code is wrong or has expired.</p>"));
        assert!(html.contains("If the account jana has an e-mail address"));
    }

    #[test]
    fn dashboard_lists_recent_logins_with_the_key_used() {
        let view = DashboardView {
            full_name: "Jana".into(),
            device_count: 1,
            totp_enrolled: true,
            recent_logins: vec![
                LoginRow {
                    service: "Daně <b>".into(),
                    at: 1_767_225_600,
                    means: Means::MobileKey,
                    device_name: Some("Pixel 8".into()),
                },
                LoginRow {
                    service: "Banka".into(),
                    at: 1_767_225_000,
                    means: Means::MobileKey,
                    device_name: None,
                },
                LoginRow {
                    service: "Pojišťovna".into(),
                    at: 1_767_224_000,
                    means: Means::PasswordTotp,
                    device_name: None,
                },
                LoginRow {
                    service: "Knihovna".into(),
                    at: 1_767_223_000,
                    means: Means::EmailCode,
                    device_name: None,
                },
            ],
        };
        let html = dashboard_page(&ctx(Locale::En, "/portal"), &view);
        assert!(html.contains("Recent logins to services"));
        assert!(html.contains("<td>Daně &lt;b&gt;</td>"), "{html}");
        assert!(html.contains("Mobile key Pixel 8"));
        assert!(html.contains("Mobile key (since disconnected)"));
        assert!(html.contains("<td>Password and authenticator app</td>"));
        assert!(html.contains("<td>E-mail code</td>"));
        assert!(html.contains("2026-01-01 00:00 UTC"));
        let empty = DashboardView {
            recent_logins: Vec::new(),
            ..view
        };
        let html = dashboard_page(&ctx(Locale::Cs, "/portal"), &empty);
        assert!(html.contains("Zatím jste se mobilním klíčem do žádné služby nepřihlásili."));
    }

    #[test]
    fn dashboard_links_the_tiles_and_counts_keys_in_each_language() {
        let view = |n, totp| DashboardView {
            full_name: "Jana".into(),
            device_count: n,
            totp_enrolled: totp,
            recent_logins: Vec::new(),
        };
        let html = dashboard_page(&ctx(Locale::En, "/portal"), &view(2, true));
        for href in ["/portal/connect", "/portal/keys", "/portal/notifications"] {
            assert!(html.contains(&format!("href=\"{href}\"")), "{href}");
        }
        assert!(html.contains("Connect mobile key"));
        assert!(html.contains("2 mobile keys connected"));
        assert!(html.contains("Authenticator app: set up."));
        let html = dashboard_page(&ctx(Locale::En, "/portal"), &view(0, false));
        assert!(html.contains("No mobile key connected yet"));
        assert!(html.contains("Authenticator app: not set up."));
        let cs = |n| dashboard_page(&ctx(Locale::Cs, "/portal"), &view(n, true));
        assert!(cs(1).contains("1 připojený mobilní klíč"));
        assert!(cs(3).contains("3 připojené mobilní klíče"));
        assert!(cs(5).contains("5 připojených mobilních klíčů"));
        assert!(cs(5).contains("Připojit mobilní klíč"));
        let hu = dashboard_page(&ctx(Locale::Hu, "/portal"), &view(2, true));
        assert!(hu.contains("2 csatlakoztatott mobilkulcs"));
        assert!(hu.contains("Mobilkulcs csatlakoztatása"));
    }

    #[test]
    fn connect_page_shows_the_qr_code_countdown_link_and_the_decision() {
        let view = connect_view(240);
        let html = connect_page(&ctx(Locale::En, "/portal/connect"), &view);
        let img = tags(&html, "img")[0];
        assert_eq!(attr(img, "alt").as_deref(), Some("Pairing QR code"));
        assert_eq!(
            attr(img, "src").unwrap(),
            format!("data:image/svg+xml;base64,{}", BASE64.encode(&view.qr_svg))
        );
        // The same-device link is exactly the pairing URI once the HTML is parsed.
        let link = tags(&html, "a")
            .into_iter()
            .find(|t| attr(t, "href").is_some_and(|h| h.starts_with("civkey:")))
            .unwrap();
        assert_eq!(unescape(&attr(link, "href").unwrap()), URI);
        assert!(html.contains(&format!(
            "href=\"{}\">Open the mobile key on this device</a>",
            esc(URI)
        )));
        assert!(html.contains("data-countdown=\"240\""));
        assert!(html.contains(">4:00</time>"));
        assert!(html.contains("Yes, the right code was shown</button>"));
        assert!(html.contains("No, a different code was shown</button>"));
        assert!(html.contains(
            "<form method=\"post\" action=\"/portal/connect/AAECAwQFBgcICQoLDA0ODw/confirm\""
        ));
        assert!(html.contains(
            "<form method=\"post\" action=\"/portal/connect/AAECAwQFBgcICQoLDA0ODw/refuse\""
        ));
        assert!(
            html.contains("data-pairing-events=\"/portal/connect/AAECAwQFBgcICQoLDA0ODw/events\"")
        );
        assert!(html.contains("<script src=\"/static/portal.js\" defer></script>"));
        assert!(html.contains("aria-live=\"polite\""));
        assert!(
            html.contains("href=\"https://play.example/civkey\" rel=\"noopener\">Google Play</a>")
        );
        // Waiting shows; the later steps are in the document but hidden until the events say so.
        for (step, shown) in [
            ("waiting", true),
            ("claimed", false),
            ("confirmed", false),
            ("refused", false),
            ("expired", false),
        ] {
            let at = html.find(&format!("data-step=\"{step}\"")).unwrap();
            let tag_end = at + html[at..].find('>').unwrap();
            assert_eq!(!html[at..tag_end].contains(" hidden"), shown, "{step}");
        }
        assert!(html.contains("data-fill=\"code\""));
        assert!(html.contains("data-fill=\"device-name\""));
        // The countdown itself is not inside the live region (it would speak every second).
        let live = html.find("aria-live=\"polite\"").unwrap();
        assert!(html.find("id=\"countdown\"").unwrap() < live);
    }

    #[test]
    fn connect_page_counts_down_from_what_is_left_and_starts_expired_at_zero() {
        let html = connect_page(&ctx(Locale::En, "/portal/connect"), &connect_view(59));
        assert!(
            html.contains("data-countdown=\"59\" datetime=\"PT0M59S\" role=\"timer\">0:59</time>")
        );
        let html = connect_page(&ctx(Locale::En, "/portal/connect"), &connect_view(0));
        assert!(html.contains("data-step=\"waiting\" hidden"));
        assert!(html.contains("data-step=\"expired\" aria-labelledby=\"outcome-expired-heading\">"));
    }

    #[test]
    fn connect_page_links_only_civkey_and_web_addresses() {
        let mut view = connect_view(240);
        view.pairing_uri = "javascript:alert(1)".into();
        view.downloads = vec![("Bad".into(), "javascript:alert(1)".into())];
        let html = connect_page(&ctx(Locale::En, "/portal/connect"), &view);
        assert!(!html.contains("javascript:"));
        assert!(!html.contains("Open the mobile key on this device"));
        assert!(!html.contains(">Bad<"));
    }

    #[test]
    fn the_signin_page_names_the_service_safely_and_links_only_civkey() {
        let view = SigninView {
            service_name: "<script>alert(1)</script> Daně".into(),
            service_origin: "https://dane.example.cz".into(),
            qr_uri: "civkey://login?v=1&s=x&r=y&e=3&m=\"><script>".into(),
            launch_uri: "civkey://login?v=1&s=x&r=y&l=z".into(),
            expires_in: 180,
            events_url: "/oidc/login/abc/events".into(),
            other_means_url: "/oidc/login/abc/continue".into(),
        };
        let html = signin_page(&anonymous(Locale::En, "/oidc/authorize"), &view);
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(html.contains("Log in to &lt;script&gt;"), "{html}");
        assert!(html.contains("After logging in you return to https://dane.example.cz."));
        assert!(html.contains("href=\"civkey://login?v=1&amp;s=x&amp;r=y&amp;l=z\""));
        assert!(html.contains("data-countdown=\"180\""));
        assert!(html.contains("data-signin-events=\"/oidc/login/abc/events\""));
        // The code is drawn by the page's script from the escaped URI; the encoder loads first.
        assert!(html.contains(
            "data-qr-uri=\"civkey://login?v=1&amp;s=x&amp;r=y&amp;e=3&amp;m=&quot;&gt;&lt;script&gt;\""
        ));
        assert!(html.contains("role=\"img\" aria-label=\"Login QR code\""));
        let qr_script = html
            .find("<script src=\"/static/qrcode.js\" defer>")
            .unwrap();
        assert!(
            qr_script
                < html
                    .find("<script src=\"/static/portal.js\" defer>")
                    .unwrap()
        );
        // Without a portal session: a link to the portal's own means.
        assert!(html.contains(
            "href=\"/oidc/login/abc/continue\">Log in with a password or an e-mail code</a>"
        ));
        assert!(!html.contains("<form"), "{html}");
        let mut bad = view.clone();
        bad.launch_uri = "javascript:alert(1)".into();
        let html = signin_page(&anonymous(Locale::Cs, "/oidc/authorize"), &bad);
        assert!(!html.contains("javascript:"));
        assert!(html.contains("Přihlášení do služby"));
    }

    #[test]
    fn with_a_portal_session_the_signin_page_offers_to_continue_as_the_citizen() {
        let view = SigninView {
            service_name: "Daně".into(),
            service_origin: "https://dane.example.cz".into(),
            qr_uri: "civkey://login?v=1".into(),
            launch_uri: "civkey://login?v=1&l=z".into(),
            expires_in: 180,
            events_url: "/oidc/login/abc/events".into(),
            other_means_url: "/oidc/login/abc/continue".into(),
        };
        let html = signin_page(&ctx(Locale::En, "/oidc/authorize"), &view);
        assert!(html.contains("<form method=\"post\" action=\"/oidc/login/abc/continue\">"));
        assert!(
            html.contains(&format!("name=\"csrf\" value=\"{TOKEN}\"")),
            "{html}"
        );
        assert!(
            html.contains(">Continue as Jana Nováková</button>"),
            "{html}"
        );
        let hu = signin_page(&ctx(Locale::Hu, "/oidc/authorize"), &view);
        assert!(hu.contains(">Folytatás Jana Nováková néven</button>"));
        let page = signin_continue_page(
            &ctx(Locale::Cs, "/oidc/login/abc/continue"),
            &SigninContinueView {
                service_name: "Daně <b>".into(),
                service_origin: "https://dane.example.cz".into(),
                citizen_name: "Jana Nováková".into(),
                action: "/oidc/login/abc/continue".into(),
            },
        );
        assert!(page.contains("<h1>Přihlásit se do služby Daně &lt;b&gt; jako Jana Nováková?</h1>"));
        assert!(page.contains("<form method=\"post\" action=\"/oidc/login/abc/continue\">"));
        assert!(page.contains(">Přihlásit se</button>"));
        assert!(!page.contains("<script"));
    }

    #[test]
    fn connect_page_speaks_czech_and_hungarian() {
        let cs = connect_page(&ctx(Locale::Cs, "/portal/connect"), &connect_view(240));
        assert!(cs.contains("<h1>Připojit mobilní klíč</h1>"));
        assert!(cs.contains("Ano, zobrazil se správný kód"));
        assert!(cs.contains("alt=\"QR kód pro spárování\""));
        let hu = connect_page(&ctx(Locale::Hu, "/portal/connect"), &connect_view(240));
        assert!(hu.contains("<h1>Mobilkulcs csatlakoztatása</h1>"));
        assert!(hu.contains("Igen, a helyes kód jelent meg"));
    }

    #[test]
    fn outcome_page_says_what_happened_and_what_next() {
        let page = |o| pairing_outcome_page(&ctx(Locale::En, "/portal/connect/x/confirm"), o);
        let confirmed = page(PairingOutcomeView::Confirmed);
        assert!(confirmed.contains("Your mobile key is connected"));
        assert!(confirmed.contains("href=\"/portal/keys\""));
        let refused = page(PairingOutcomeView::Refused);
        assert!(refused.contains("Nothing was paired"));
        assert!(refused.contains("href=\"/portal/connect\""));
        let expired = page(PairingOutcomeView::Expired);
        assert!(expired.contains("The QR code has expired"));
        assert!(expired.contains("href=\"/portal/connect\""));
        let gone = page(PairingOutcomeView::Gone);
        assert!(gone.contains("This pairing is no longer available"));
        assert!(
            gone.contains("href=\"/portal/connect\"") && gone.contains("href=\"/portal/keys\"")
        );
        for html in [&confirmed, &refused, &expired, &gone] {
            assert!(!html.contains(" hidden"));
            assert!(!html.contains("<script"));
        }
    }

    #[test]
    fn devices_page_lists_devices_with_dates_and_forms() {
        let rows = vec![
            device("dev1", "Jana's phone", Some(1_767_312_000 + 3_660)),
            device("dev2", "Tablet", None),
        ];
        let html = devices_page(&ctx(Locale::En, "/portal/keys"), &devices_view(rows, false));
        assert!(html.contains("Jana&#39;s phone"));
        assert!(html.contains("<time datetime=\"2026-01-01T00:00Z\">2026-01-01 00:00 UTC</time>"));
        assert!(html.contains("2026-01-02 01:01 UTC"));
        assert!(html.contains("<dd>never</dd>"));
        assert!(html.contains("Pixel 8 <span class=\"kind\">(phone)</span>"));
        for id in ["dev1", "dev2"] {
            assert!(html.contains(&format!("action=\"/portal/keys/{id}/rename\"")));
            assert!(html.contains(&format!("action=\"/portal/keys/{id}/disconnect\"")));
        }
        for input in tags(&html, "input") {
            if attr(input, "name").as_deref() == Some("name") {
                assert_eq!(attr(input, "maxlength").as_deref(), Some("64"));
            }
        }
        assert!(html.contains(
            "data-confirm=\"Disconnect the mobile key “Jana&#39;s phone”? You will no longer be able to log in with it.\""
        ));
        assert!(html.contains("role=\"status\"><p>The mobile key was renamed.</p>"));
        assert!(html.contains("role=\"alert\"><p>The name must have 1 to 64 characters"));
        assert!(html.contains("<script src=\"/static/portal.js\" defer></script>"));
    }

    #[test]
    fn last_means_warning_shows_only_for_the_last_key_when_keys_are_the_only_means() {
        let warning = "This is your last way to log in.";
        let page_warning = "Your mobile key is your only way to log in";
        let page = |rows: Vec<DeviceRow>, only| {
            devices_page(&ctx(Locale::En, "/portal/keys"), &devices_view(rows, only))
        };
        let one = || vec![device("dev1", "Phone", None)];
        let two = || {
            vec![
                device("dev1", "Phone", None),
                device("dev2", "Tablet", None),
            ]
        };

        let html = page(one(), true);
        assert!(html.contains(warning));
        assert!(html.contains(page_warning));
        assert!(html.contains("data-confirm=\"“Phone” is your only way to log in."));
        assert!(html.contains("aria-describedby=\"last-means-0\""));
        // The warning sits in the disconnect form, next to its button.
        let form = &html[html.find("/disconnect\"").unwrap()..];
        let form = &form[..form.find("</form>").unwrap()];
        assert!(form.contains(warning));

        for html in [page(two(), true), page(one(), false), page(two(), false)] {
            assert!(!html.contains(warning));
            assert!(!html.contains(page_warning));
            assert!(!html.contains("only way to log in"));
        }
    }

    #[test]
    fn devices_page_without_devices_offers_to_connect_one() {
        let html = devices_page(
            &ctx(Locale::En, "/portal/keys"),
            &devices_view(vec![], true),
        );
        assert!(html.contains("No mobile key is connected to your account yet."));
        assert!(html.contains("href=\"/portal/connect\">Connect mobile key</a>"));
        assert!(!html.contains("<form method=\"post\" action=\"/portal/keys"));
        assert!(!html.contains("only way to log in"));
    }

    #[test]
    fn error_page_shows_the_status_and_a_translated_message() {
        let html = error_page(
            &anonymous(Locale::En, "/nope"),
            404,
            "portal.error.not_found",
        );
        assert!(html.contains("Error 404"));
        assert!(html.contains("<h1>This page does not exist.</h1>"));
        assert!(html.contains("<title>This page does not exist. – civkey</title>"));
        let html = error_page(
            &anonymous(Locale::Hu, "/nope"),
            403,
            "portal.error.forbidden",
        );
        assert!(html.contains("Hibakód: 403"));
        assert!(html.contains("Ehhez nincs jogosultsága."));
        let html = error_page(&anonymous(Locale::Cs, "/nope"), 500, "made.up");
        assert!(html.contains("Chyba 500"));
        assert!(html.contains("Něco se nepovedlo."));
        assert!(!html.contains("made.up"));
    }

    #[test]
    fn dates_are_utc_calendar_dates() {
        let at = Stamp(1_767_225_600 + 13 * 3_600 + 7 * 60 + 59);
        assert_eq!(at.iso(), "2026-01-01T13:07Z");
        assert_eq!(at.human(), "2026-01-01 13:07 UTC");
        assert_eq!(Countdown(240).clock(), "4:00");
        assert_eq!(Countdown(9).clock(), "0:09");
        assert_eq!(Countdown(240).iso(), "PT4M0S");
    }

    #[test]
    fn the_script_and_stylesheet_keep_their_promises() {
        let js = include_str!("../assets/portal.js");
        assert!(js.contains("'use strict'"));
        assert!(js.contains("new EventSource(url)"));
        assert!(js.contains("source.close()"));
        assert!(js.contains("window.confirm"));
        assert!(js.contains("textContent"));
        for banned in [
            "innerHTML",
            "outerHTML",
            "eval(",
            "new Function",
            "document.write",
            "insertAdjacentHTML",
        ] {
            assert!(!js.contains(banned), "portal.js uses {banned}");
        }
        let css = include_str!("../assets/portal.css");
        assert!(css.contains("prefers-color-scheme: dark"));
        assert!(css.contains(":focus-visible"));
        assert!(css.contains("[hidden]"));
        assert!(
            !css.contains("@import") && !css.contains("url("),
            "no external assets"
        );
    }
}
