//! The office counter's pages: the clerk's login, finding a citizen (their BOK state, "Start BOK
//! verification", "Unblock BOK"), one verification live, onboarding a new citizen and errors —
//! askama templates beside this file (`counter/*.html`). Same rules as the portal's pages: every
//! word from the catalogue (`counter.*`), every value escaped by the template, nothing inline. The
//! header shows the clerk and the office instead of a citizen, and every form posts under
//! `/counter`.

use askama::Template;
use civkey_i18n::{tr, tr_args, utc_minutes};
use civkey_proto::bok::BokCounterEvent;

use crate::services::onboarding::DOCUMENT_TYPES;
use crate::web::layout::{
    error_document, error_message, login_message, notice_and_error, render, split_placeholder,
    Countdown, HeaderUser, MessageBox, Page, Scripts,
};
use crate::web::session::url_escape;
use crate::web::views::{
    BokLiveView, ClerkBadge, CounterLoginView, CounterOnboardView, CounterView, PageContext,
};

/// A counter page: the header links to `/counter` and shows the clerk and the office with a
/// log-out form (none on the login page).
fn counter_layout<'a>(
    ctx: &'a PageContext,
    clerk: Option<&ClerkBadge>,
    title: impl Into<String>,
    scripts: Scripts,
) -> Page<'a> {
    let l = ctx.locale;
    Page {
        ctx,
        title: title.into(),
        class: "page-counter",
        scripts,
        home: "/counter",
        subtitle: tr(l, "counter.header.subtitle"),
        user: clerk.map(|clerk| HeaderUser {
            logged_in: tr(l, "counter.header.logged_in"),
            name: tr_args(
                l,
                "counter.header.clerk",
                &[("name", &clerk.full_name), ("office", &clerk.office_name)],
            ),
            logout: "/counter/logout",
            logout_label: tr(l, "counter.header.logout"),
        }),
    }
}

#[derive(Template)]
#[template(path = "counter/login.html")]
struct CounterLoginPage<'a> {
    page: Page<'a>,
    view: &'a CounterLoginView,
    message: Option<MessageBox>,
}

/// `GET /counter/login`: a clerk's username and password.
pub fn counter_login_page(ctx: &PageContext, view: &CounterLoginView) -> String {
    let l = ctx.locale;
    render(&CounterLoginPage {
        page: counter_layout(ctx, None, tr(l, "counter.login.title"), Scripts::None),
        view,
        message: login_message(l, view.error.as_ref()),
    })
}

#[derive(Template)]
#[template(path = "counter/counter.html")]
struct CounterPage<'a> {
    page: Page<'a>,
    view: &'a CounterView,
    intro: String,
    messages: Vec<MessageBox>,
    not_found: Option<MessageBox>,
    last_unblock: Option<String>,
    unblock_confirm: String,
}

/// `GET /counter`: find a citizen by username; their BOK state with "Start BOK verification" and,
/// when blocked, "Unblock BOK".
pub fn counter_page(ctx: &PageContext, clerk: &ClerkBadge, view: &CounterView) -> String {
    let l = ctx.locale;
    let citizen = view.citizen.as_ref();
    render(&CounterPage {
        page: counter_layout(ctx, Some(clerk), tr(l, "counter.title"), Scripts::Portal),
        view,
        intro: tr_args(l, "counter.intro", &[("office", &clerk.office_name)]),
        messages: notice_and_error(l, view.notice.as_deref(), view.error.as_deref()),
        not_found: view
            .not_found
            .then(|| MessageBox::new(l, "counter.error.not_found", &[], true)),
        last_unblock: citizen
            .and_then(|c| c.last_unblock.as_ref())
            .map(|(by, office, at)| {
                tr_args(
                    l,
                    "counter.citizen.last_unblock_value",
                    &[("at", &utc_minutes(*at)), ("clerk", by), ("office", office)],
                )
            }),
        unblock_confirm: citizen
            .map(|c| tr_args(l, "counter.unblock.confirm", &[("name", &c.full_name)]))
            .unwrap_or_default(),
    })
}

/// The final statuses, each a step of the live page (shown by `portal.js`, or at once when the
/// page is drawn after the fact): step, title key, text key, tone.
const FINAL_STEPS: [(&str, &str, &str, &str); 4] = [
    (
        "verified",
        "counter.bok.verified",
        "counter.bok.verified_text",
        "success",
    ),
    (
        "not_verified",
        "counter.bok.not_verified",
        "counter.bok.not_verified_text",
        "warning",
    ),
    (
        "expired",
        "counter.bok.expired",
        "counter.bok.expired_text",
        "warning",
    ),
    (
        "blocked",
        "counter.bok.blocked",
        "counter.bok.blocked_text",
        "danger",
    ),
];

fn step_name(event: BokCounterEvent) -> &'static str {
    match event {
        BokCounterEvent::Waiting => "waiting",
        BokCounterEvent::Verified => "verified",
        BokCounterEvent::NotVerified { .. } => "not_verified",
        BokCounterEvent::Expired => "expired",
        BokCounterEvent::Blocked => "blocked",
    }
}

#[derive(Template)]
#[template(path = "counter/bok.html")]
struct BokPage<'a> {
    page: Page<'a>,
    view: &'a BokLiveView,
    who: String,
    waiting_text: String,
    countdown: Countdown,
    steps: [(&'static str, &'static str, &'static str, &'static str); 4],
    /// The step shown as the page is drawn.
    shown: &'static str,
    /// The "not verified" text around the attempts left (which `portal.js` fills in later).
    attempts: (&'static str, String, &'static str),
    /// Back to the citizen's page.
    back: String,
}

impl BokPage<'_> {
    /// ` hidden` on every step but the one shown.
    fn hidden_unless(&self, step: &str) -> &'static str {
        if step == self.shown {
            ""
        } else {
            " hidden"
        }
    }
}

/// `GET /counter/bok/{id}`: one verification, live.
pub fn counter_bok_page(ctx: &PageContext, clerk: &ClerkBadge, view: &BokLiveView) -> String {
    let l = ctx.locale;
    let left = match view.status {
        BokCounterEvent::NotVerified { attempts_left } => attempts_left.to_string(),
        _ => String::new(),
    };
    let (before, after) = split_placeholder(tr(l, "counter.bok.not_verified_text"), "n");
    render(&BokPage {
        page: counter_layout(
            ctx,
            Some(clerk),
            tr(l, "counter.bok.title"),
            Scripts::Portal,
        ),
        view,
        who: tr_args(
            l,
            "counter.bok.for",
            &[
                ("name", &view.citizen_name),
                ("username", &view.citizen_username),
            ],
        ),
        waiting_text: tr_args(
            l,
            "counter.bok.waiting_text",
            &[("office", &view.office_name)],
        ),
        countdown: Countdown(view.expires_in),
        steps: FINAL_STEPS,
        shown: step_name(view.status),
        attempts: (before, left, after),
        back: format!("/counter?username={}", url_escape(&view.citizen_username)),
    })
}

/// One text field of the onboarding form, as `counter/onboard_field.html` shows it.
struct OnboardField<'a> {
    /// The form field's name (and the id's suffix).
    name: &'static str,
    label_key: &'static str,
    /// A hint below the label.
    hint_key: Option<&'static str>,
    /// What was typed.
    value: &'a str,
    /// The input's `type`.
    kind: &'static str,
    class: Option<&'static str>,
    autocapitalize: Option<&'static str>,
    no_spellcheck: bool,
    maxlength: u16,
    required: bool,
}

impl<'a> OnboardField<'a> {
    /// A required text field without hint, class or spell-check settings.
    fn text(name: &'static str, label_key: &'static str, value: &'a str, maxlength: u16) -> Self {
        OnboardField {
            name,
            label_key,
            hint_key: None,
            value,
            kind: "text",
            class: None,
            autocapitalize: None,
            no_spellcheck: false,
            maxlength,
            required: true,
        }
    }
}

/// After onboarding: who was onboarded, and the way back to them.
struct OnboardDone {
    title: String,
    text: String,
    username_query: String,
}

#[derive(Template)]
#[template(path = "counter/onboard.html")]
struct OnboardPage<'a> {
    page: Page<'a>,
    done: Option<OnboardDone>,
    message: Option<MessageBox>,
    fields_before: [OnboardField<'a>; 5],
    /// The document types: value, label, selected.
    documents: Vec<(&'static str, String, bool)>,
    fields_after: [OnboardField<'a>; 1],
}

/// `GET /counter/onboard`: "Onboard a new citizen" — the identification code from the app, the
/// citizen's details and the identity document checked; after a `POST`, the result.
pub fn counter_onboard_page(
    ctx: &PageContext,
    clerk: &ClerkBadge,
    view: &CounterOnboardView,
) -> String {
    let l = ctx.locale;
    let input = &view.input;
    let done = view
        .done
        .as_ref()
        .map(|(name, username, device)| OnboardDone {
            title: tr_args(
                l,
                "counter.onboard.done",
                &[("name", name), ("device", device)],
            ),
            text: tr_args(l, "counter.onboard.done_text", &[("username", username)]),
            username_query: url_escape(username),
        });
    let fields_before = [
        OnboardField {
            hint_key: Some("counter.onboard.code_hint"),
            class: Some("code-input"),
            autocapitalize: Some("characters"),
            no_spellcheck: true,
            ..OnboardField::text("code", "counter.onboard.code", &input.code, 16)
        },
        OnboardField::text(
            "full_name",
            "counter.onboard.full_name",
            &input.full_name,
            100,
        ),
        OnboardField {
            hint_key: Some("counter.onboard.username_hint"),
            autocapitalize: Some("none"),
            no_spellcheck: true,
            ..OnboardField::text("username", "counter.onboard.username", &input.username, 32)
        },
        OnboardField {
            kind: "email",
            ..OnboardField::text("email", "counter.onboard.email", &input.email, 254)
        },
        OnboardField {
            kind: "tel",
            required: false,
            ..OnboardField::text("phone", "counter.onboard.phone", &input.phone, 20)
        },
    ];
    let fields_after = [OnboardField {
        hint_key: Some("counter.onboard.document_number_hint"),
        no_spellcheck: true,
        ..OnboardField::text(
            "document_number",
            "counter.onboard.document_number",
            &input.document_number,
            30,
        )
    }];
    let documents = DOCUMENT_TYPES
        .iter()
        .map(|t| {
            let label = tr(l, &format!("counter.onboard.document.{t}")).to_string();
            (*t, label, input.document_type == *t)
        })
        .collect();
    render(&OnboardPage {
        page: counter_layout(
            ctx,
            Some(clerk),
            tr(l, "counter.onboard.title"),
            Scripts::None,
        ),
        done,
        message: login_message(l, view.error.as_ref()),
        fields_before,
        documents,
        fields_after,
    })
}

/// An error at the counter: the status and a translated message (`counter.*` or `portal.error.*`),
/// with the way back to the counter.
pub fn counter_error_page(
    ctx: &PageContext,
    clerk: Option<&ClerkBadge>,
    status: u16,
    message_key: &str,
) -> String {
    let message = error_message(ctx.locale, message_key);
    error_document(
        counter_layout(ctx, clerk, message, Scripts::None),
        status,
        "/counter",
        "counter.back",
    )
}

#[cfg(test)]
pub(in crate::web) mod tests {
    use civkey_i18n::Locale;

    use super::*;
    use crate::web::views::CounterCitizenRow;
    use crate::web::views::Msg;

    const TOKEN: &str = "csrf-token-0123456789";

    fn clerk() -> ClerkBadge {
        ClerkBadge {
            full_name: "Eva Úřednice".to_string(),
            office_name: "Czech POINT, Praha 1".to_string(),
        }
    }

    fn ctx(locale: Locale, path: &str) -> PageContext {
        PageContext {
            locale,
            path: path.to_string(),
            csrf: Some(TOKEN.to_string()),
            citizen_name: None,
        }
    }

    fn citizen(blocked: bool) -> CounterCitizenRow {
        CounterCitizenRow {
            username: "jana".to_string(),
            full_name: "Jana Nováková".to_string(),
            bok_set: true,
            blocked,
            wrong_answers: if blocked { 5 } else { 2 },
            bok_pad_devices: 1,
            last_unblock: Some(("eva".to_string(), "Praha 1".to_string(), 1_767_225_600)),
        }
    }

    fn live(status: BokCounterEvent) -> BokLiveView {
        BokLiveView {
            citizen_name: "Jana Nováková".to_string(),
            citizen_username: "jana".to_string(),
            office_name: "Czech POINT, Praha 1".to_string(),
            expires_in: if status.is_final() { 0 } else { 120 },
            events_url: "/counter/bok/AAECAwQFBgcICQoLDA0ODw/events".to_string(),
            status,
        }
    }

    const STATUSES: [BokCounterEvent; 5] = [
        BokCounterEvent::Waiting,
        BokCounterEvent::Verified,
        BokCounterEvent::NotVerified { attempts_left: 3 },
        BokCounterEvent::Expired,
        BokCounterEvent::Blocked,
    ];

    /// Every counter page in `l`, for the checks every page passes (`pages::tests`).
    pub(in crate::web) fn every_counter_page(
        l: Locale,
        anonymous: &PageContext,
        clerk_ctx: &PageContext,
    ) -> Vec<(String, String)> {
        let tag = l.tag();
        let mut pages = vec![(
            format!("counter login {tag}"),
            counter_login_page(
                anonymous,
                &CounterLoginView {
                    csrf: TOKEN.to_string(),
                    username: "eva".to_string(),
                    error: Some(Msg::new("counter.login.error.rate_limited").with("seconds", "30")),
                },
            ),
        )];
        let views = [
            ("empty", CounterView::default()),
            (
                "found",
                CounterView {
                    username: "jana".to_string(),
                    citizen: Some(citizen(false)),
                    error: Some("counter.error.bok_no_device".to_string()),
                    ..CounterView::default()
                },
            ),
            (
                "blocked",
                CounterView {
                    username: "jana".to_string(),
                    citizen: Some(citizen(true)),
                    notice: Some("counter.not_blocked".to_string()),
                    ..CounterView::default()
                },
            ),
            (
                "not-found",
                CounterView {
                    username: "nobody".to_string(),
                    not_found: true,
                    ..CounterView::default()
                },
            ),
        ];
        for (name, view) in views {
            pages.push((
                format!("counter {name} {tag}"),
                counter_page(clerk_ctx, &clerk(), &view),
            ));
        }
        for status in STATUSES {
            pages.push((
                format!("counter bok {status:?} {tag}"),
                counter_bok_page(clerk_ctx, &clerk(), &live(status)),
            ));
        }
        let typed = crate::services::onboarding::OnboardInput {
            code: "K7QM-X2PD-9R".to_string(),
            full_name: "Jana Nováková".to_string(),
            username: "jana".to_string(),
            email: "jana@example.cz".to_string(),
            document_type: "id_card".to_string(),
            ..Default::default()
        };
        for (name, view) in [
            ("fresh", CounterOnboardView::default()),
            (
                "refused",
                CounterOnboardView {
                    input: typed,
                    error: Some(
                        Msg::new("counter.onboard.error.rate_limited").with("seconds", "30"),
                    ),
                    done: None,
                },
            ),
            (
                "done",
                CounterOnboardView {
                    done: Some((
                        "Jana Nováková".to_string(),
                        "jana".to_string(),
                        "Pixel 8".to_string(),
                    )),
                    ..CounterOnboardView::default()
                },
            ),
        ] {
            pages.push((
                format!("counter onboard {name} {tag}"),
                counter_onboard_page(clerk_ctx, &clerk(), &view),
            ));
        }
        pages.push((
            format!("counter error {tag}"),
            counter_error_page(clerk_ctx, Some(&clerk()), 404, "counter.error.gone"),
        ));
        pages
    }

    /// The `data-step` sections shown (not `hidden`).
    fn shown_steps(html: &str) -> Vec<String> {
        html.match_indices("data-step=\"")
            .filter_map(|(i, _)| {
                let rest = &html[i + "data-step=\"".len()..];
                let name = &rest[..rest.find('"')?];
                let tag_end = rest.find('>')?;
                (!rest[..tag_end].contains(" hidden")).then(|| name.to_string())
            })
            .collect()
    }

    #[test]
    fn the_counter_header_shows_the_clerk_and_office_and_logs_out_of_the_counter() {
        let html = counter_page(
            &ctx(Locale::En, "/counter"),
            &clerk(),
            &CounterView::default(),
        );
        assert!(
            html.contains("Eva Úřednice, Czech POINT, Praha 1"),
            "{html}"
        );
        assert!(html.contains("<form method=\"post\" action=\"/counter/logout\""));
        assert!(html.contains("<a class=\"brand\" href=\"/counter\">"));
        assert!(
            !html.contains("/portal/logout"),
            "no citizen's log-out here"
        );
        let login = counter_login_page(
            &ctx(Locale::En, "/counter/login"),
            &CounterLoginView::default(),
        );
        assert!(login.contains("<form method=\"post\" action=\"/counter/login\""));
        assert!(!login.contains("/counter/logout"), "nobody to log out yet");
        assert!(login.contains("autocomplete=\"current-password\""));
    }

    #[test]
    fn a_found_citizen_can_be_verified_and_a_blocked_bok_only_unblocked() {
        let view = CounterView {
            username: "jana".to_string(),
            citizen: Some(citizen(false)),
            ..CounterView::default()
        };
        let html = counter_page(&ctx(Locale::En, "/counter"), &clerk(), &view);
        assert!(html.contains("<form method=\"post\" action=\"/counter/bok\">"));
        assert!(html.contains("<input type=\"hidden\" name=\"username\" value=\"jana\">"));
        assert!(html.contains(">Start BOK verification</button>"));
        assert!(!html.contains("/counter/unblock"));
        assert!(
            html.contains("2026-01-01 00:00 UTC by eva (Praha 1)"),
            "{html}"
        );

        let view = CounterView {
            citizen: Some(citizen(true)),
            ..view
        };
        let html = counter_page(&ctx(Locale::En, "/counter"), &clerk(), &view);
        assert!(!html.contains("action=\"/counter/bok\""));
        assert!(html.contains("<form method=\"post\" action=\"/counter/unblock\">"));
        assert!(html.contains(
            "data-confirm=\"Unblock the BOK of Jana Nováková? Have you checked their identity document?\""
        ));
        assert!(html.contains("<span class=\"badge danger\">Blocked</span>"));
    }

    #[test]
    fn the_live_page_shows_one_step_and_carries_every_other_for_the_events() {
        for status in STATUSES {
            let html =
                counter_bok_page(&ctx(Locale::En, "/counter/bok/x"), &clerk(), &live(status));
            let shown = shown_steps(&html);
            assert_eq!(shown.len(), 1, "{status:?}: {shown:?}");
            let all: Vec<String> = html
                .match_indices("data-step=\"")
                .map(|(i, _)| {
                    let rest = &html[i + 11..];
                    rest[..rest.find('"').unwrap()].to_string()
                })
                .collect();
            assert_eq!(
                all,
                ["waiting", "verified", "not_verified", "expired", "blocked"],
                "{status:?}"
            );
            assert!(html.contains("data-bok-events=\"/counter/bok/AAECAwQFBgcICQoLDA0ODw/events\""));
            assert!(html.contains("<script src=\"/static/portal.js\" defer></script>"));
        }
        let waiting = counter_bok_page(
            &ctx(Locale::En, "/counter/bok/x"),
            &clerk(),
            &live(BokCounterEvent::Waiting),
        );
        assert!(waiting.contains("data-countdown=\"120\""));
        assert!(waiting.contains(">2:00</time>"));
        assert!(waiting.contains("which shows “Czech POINT, Praha 1”"));
        // The countdown is outside the live region (it would be read out every second).
        let live_region = waiting.find("aria-live=\"polite\"").unwrap();
        assert!(waiting.find("data-countdown").unwrap() < live_region);
        let wrong = counter_bok_page(
            &ctx(Locale::En, "/counter/bok/x"),
            &clerk(),
            &live(BokCounterEvent::NotVerified { attempts_left: 3 }),
        );
        assert!(wrong.contains(
            "Wrong answers left before it is blocked: <strong data-fill=\"attempts-left\">3</strong>."
        ));
        // Blocked: no "Verify again", only the way back to the citizen (and the unblock there).
        let blocked = counter_bok_page(
            &ctx(Locale::En, "/counter/bok/x"),
            &clerk(),
            &live(BokCounterEvent::Blocked),
        );
        let section = &blocked[blocked.find("data-step=\"blocked\"").unwrap()..];
        let section = &section[..section.find("</section>").unwrap()];
        assert!(!section.contains("<form"));
        assert!(section.contains("href=\"/counter?username=jana\""));
    }

    #[test]
    fn the_onboarding_form_posts_every_field_with_the_token_and_keeps_what_was_typed() {
        let view = CounterOnboardView {
            input: crate::services::onboarding::OnboardInput {
                code: "k7qm x2pd 9r".to_string(),
                full_name: "<b>Jana</b>".to_string(),
                document_type: "passport".to_string(),
                ..Default::default()
            },
            error: Some(Msg::new("counter.onboard.error.code_unknown")),
            done: None,
        };
        let html = counter_onboard_page(&ctx(Locale::En, "/counter/onboard"), &clerk(), &view);
        assert!(html.contains("<form method=\"post\" action=\"/counter/onboard\""));
        assert!(html.contains(&format!("name=\"csrf\" value=\"{TOKEN}\"")));
        for name in [
            "code",
            "full_name",
            "username",
            "email",
            "phone",
            "document_type",
            "document_number",
        ] {
            assert!(html.contains(&format!("name=\"{name}\"")), "{name}");
        }
        assert!(html.contains("value=\"k7qm x2pd 9r\""));
        assert!(html.contains("value=\"&lt;b&gt;Jana&lt;/b&gt;\""));
        assert!(html.contains("<option value=\"passport\" selected>Passport</option>"));
        assert!(html.contains("role=\"alert\"><p>No app is waiting with this identification code."));
        let done = CounterOnboardView {
            done: Some((
                "Jana Nováková".to_string(),
                "jana".to_string(),
                "Pixel 8".to_string(),
            )),
            ..CounterOnboardView::default()
        };
        let html = counter_onboard_page(&ctx(Locale::En, "/counter/onboard"), &clerk(), &done);
        assert!(
            html.contains("Onboarded: Jana Nováková, mobile key Pixel 8"),
            "{html}"
        );
        assert!(!html.contains("<form method=\"post\" action=\"/counter/onboard\""));
        let cs = counter_onboard_page(&ctx(Locale::Cs, "/counter/onboard"), &clerk(), &done);
        assert!(cs.contains("Účet založen: Jana Nováková, mobilní klíč Pixel 8"));
    }

    #[test]
    fn counter_values_are_escaped() {
        let evil = "<script>alert(1)</script>";
        let badge = ClerkBadge {
            full_name: evil.to_string(),
            office_name: evil.to_string(),
        };
        let mut row = citizen(true);
        row.full_name = evil.to_string();
        row.username = "a\"b".to_string();
        let view = CounterView {
            username: evil.to_string(),
            citizen: Some(row),
            ..CounterView::default()
        };
        let html = counter_page(&ctx(Locale::En, "/counter"), &badge, &view);
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(html.contains("value=\"a&quot;b\""));
        let mut view = live(BokCounterEvent::Waiting);
        view.citizen_name = evil.to_string();
        view.office_name = evil.to_string();
        view.citizen_username = "&x=1".to_string();
        let html = counter_bok_page(&ctx(Locale::En, "/counter/bok/x"), &badge, &view);
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(html.contains("href=\"/counter?username=%26x%3D1\""));
    }

    #[test]
    fn the_counter_speaks_czech_and_hungarian() {
        let cs = counter_bok_page(
            &ctx(Locale::Cs, "/counter/bok/x"),
            &clerk(),
            &live(BokCounterEvent::Verified),
        );
        assert!(cs.contains("<h1>Ověření BOK</h1>"));
        assert!(cs.contains("BOK ověřen"));
        let hu = counter_page(
            &ctx(Locale::Hu, "/counter"),
            &clerk(),
            &CounterView::default(),
        );
        assert!(hu.contains("<h1>Ügyfélablak</h1>"));
        assert!(hu.contains(">Keresés</button>"));
    }
}
