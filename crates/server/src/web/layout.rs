//! What every server page shares: the document around a page's `<main>` (`layout.html`: head,
//! header with the language switcher, scripts), the error page (`error.html`), message boxes
//! (`message.html`) and small values the templates show. Templates escape every value by default
//! (see [`Html`]); every visible word comes from the catalogue; nothing is inline, so the pages run
//! under a CSP without `'unsafe-inline'`.

use askama::Template;
use civkey_i18n::{tr, tr_args, Locale};

use super::views::{Msg, PageContext};

/// The scripts a page loads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Scripts {
    /// None: the page works without script.
    None,
    /// The portal's script (countdowns, live updates, confirmations).
    Portal,
    /// The portal's script and the QR encoder (the login page draws its code every second).
    PortalWithQr,
}

/// Renders a page's template. Rendering cannot fail for these templates (they show only strings
/// and numbers); should it ever, the cause is logged and the answer is an empty page, never a panic.
pub(super) fn render(template: &impl Template) -> String {
    template.render().unwrap_or_else(|e| {
        tracing::error!(error = %e, "page template failed");
        String::new()
    })
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    page: Page<'a>,
    code: String,
    home: &'static str,
    home_key: &'static str,
}

/// Any error: the status code and a translated message (`portal.error.*`; an unknown key shows
/// the generic message rather than the key).
pub fn error_page(ctx: &PageContext, status: u16, message_key: &str) -> String {
    let message = error_message(ctx.locale, message_key);
    error_document(
        Page::portal(ctx, message, "page-error", Scripts::None),
        status,
        "/portal",
        "portal.error.home",
    )
}

/// The message of an error page: `message_key` when it is a known message, else the generic one.
pub(super) fn error_message(l: Locale, message_key: &str) -> &str {
    known(l, message_key).unwrap_or_else(|| tr(l, "portal.error.generic"))
}

/// An error page: the status, the message (the page's title) and a button back to `home`
/// labelled by `home_key`.
pub(super) fn error_document(
    page: Page<'_>,
    status: u16,
    home: &'static str,
    home_key: &'static str,
) -> String {
    let code = tr_args(
        page.ctx.locale,
        "portal.error.status",
        &[("status", &status.to_string())],
    );
    render(&ErrorPage {
        page,
        code,
        home,
        home_key,
    })
}

/// A message from the handler on the login pages: the e-mail notice is a status, the rest are
/// errors.
pub(super) fn login_message(l: Locale, message: Option<&Msg>) -> Option<MessageBox> {
    message.map(|msg| {
        let args: Vec<(&str, &str)> = msg.args.iter().map(|(k, v)| (*k, v.as_str())).collect();
        MessageBox::new(
            l,
            msg.key,
            &args,
            msg.key != "portal.login.error.email_sent",
        )
    })
}

/// The message `key`, or `None` when the catalogue does not have it (so a wrong key never
/// reaches the page as text).
pub(super) fn known(l: Locale, key: &str) -> Option<&str> {
    let text = tr(l, key);
    (text != key).then_some(text)
}

/// Seconds as the countdown shows them: `4:00`, `0:59`.
fn clock(secs: u64) -> String {
    format!("{}:{:02}", secs / 60, secs % 60)
}

/// Seconds as an ISO 8601 duration for `<time datetime>`: `PT4M0S`.
fn iso_duration(secs: u64) -> String {
    format!("PT{}M{}S", secs / 60, secs % 60)
}

/// An id made safe for one URL path segment (unreserved characters kept, the rest
/// percent-encoded), so no id can change the form's target.
pub(super) fn path_segment(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The request path for the language links, or `/portal` when it is not a plain local path
/// (`//host` would make the link leave the site).
pub(super) fn safe_path(path: &str) -> &str {
    let plain = path.starts_with('/')
        && !path.starts_with("//")
        && !path.contains(['\\', '?', '#'])
        && !path.chars().any(char::is_control);
    if plain {
        path
    } else {
        "/portal"
    }
}

/// A message split around its `{name}` placeholder, for a value `portal.js` fills in later.
pub(super) fn split_placeholder<'a>(text: &'a str, name: &str) -> (&'a str, &'a str) {
    let marker = format!("{{{name}}}");
    text.split_once(marker.as_str()).unwrap_or((text, ""))
}

// ---------------------------------------------------------------------------------------------
// Templates (askama): the escaper, the document around every page, and the small values the
// templates show.

/// The escaper of every `.html` template (`askama.toml`): the same entities as
/// [`crate::escape_html`] (`&#39;` for an apostrophe), so no page changes by moving to templates.
#[derive(Debug, Clone, Copy)]
pub struct Html;

impl askama::filters::Escaper for Html {
    fn write_escaped_str<W: std::fmt::Write>(&self, mut dest: W, text: &str) -> std::fmt::Result {
        let mut last = 0;
        for (i, byte) in text.bytes().enumerate() {
            let entity = match byte {
                b'&' => "&amp;",
                b'<' => "&lt;",
                b'>' => "&gt;",
                b'"' => "&quot;",
                b'\'' => "&#39;",
                _ => continue,
            };
            dest.write_str(&text[last..i])?;
            dest.write_str(entity)?;
            last = i + 1;
        }
        dest.write_str(&text[last..])
    }
}

/// Who the header shows as logged in, with a log-out form.
#[derive(Debug, Clone)]
pub(super) struct HeaderUser {
    /// "Logged in as" for screen readers.
    pub(super) logged_in: &'static str,
    /// The citizen's name, or the clerk with the office.
    pub(super) name: String,
    /// Where the log-out form posts.
    pub(super) logout: &'static str,
    /// The log-out button's label.
    pub(super) logout_label: &'static str,
}

/// One language of the header's switcher.
pub(super) struct LanguageLink {
    pub(super) tag: &'static str,
    pub(super) name: &'static str,
    pub(super) current: bool,
}

/// What `layout.html` needs from every page: the context, the title, the body's class, the
/// scripts and the header (brand, home, who is logged in).
pub(super) struct Page<'a> {
    pub(super) ctx: &'a PageContext,
    pub(super) title: String,
    pub(super) class: &'static str,
    pub(super) scripts: Scripts,
    pub(super) home: &'static str,
    pub(super) subtitle: &'static str,
    pub(super) user: Option<HeaderUser>,
}

impl<'a> Page<'a> {
    /// A portal page: the header links to `/portal` and shows the logged-in citizen.
    pub(super) fn portal(
        ctx: &'a PageContext,
        title: impl Into<String>,
        class: &'static str,
        scripts: Scripts,
    ) -> Self {
        let l = ctx.locale;
        Page {
            ctx,
            title: title.into(),
            class,
            scripts,
            home: "/portal",
            subtitle: tr(l, "portal.header.subtitle"),
            user: ctx.citizen_name.as_ref().map(|name| HeaderUser {
                logged_in: tr(l, "portal.header.logged_in"),
                name: name.clone(),
                logout: "/portal/logout",
                logout_label: tr(l, "portal.header.logout"),
            }),
        }
    }

    /// The catalogue's text for `key` in the page's language.
    pub(super) fn t<'k>(&self, key: &'k str) -> &'k str {
        tr(self.ctx.locale, key)
    }

    /// The page's language tag.
    pub(super) fn lang(&self) -> &'static str {
        self.ctx.locale.tag()
    }

    /// The session's anti-forgery token for the page's forms.
    pub(super) fn csrf(&self) -> &str {
        self.ctx.csrf.as_deref().unwrap_or("")
    }

    /// The request path for the language links (see [`safe_path`]).
    pub(super) fn path(&self) -> &str {
        safe_path(&self.ctx.path)
    }

    /// The language switcher's links.
    pub(super) fn languages(&self) -> impl Iterator<Item = LanguageLink> + '_ {
        Locale::ALL.iter().map(|&other| LanguageLink {
            tag: other.tag(),
            name: other.native_name(),
            current: other == self.ctx.locale,
        })
    }

    /// Whether the page loads the QR encoder (before the portal script).
    pub(super) fn qr_script(&self) -> bool {
        self.scripts == Scripts::PortalWithQr
    }

    /// Whether the page loads the portal script.
    pub(super) fn portal_script(&self) -> bool {
        self.scripts != Scripts::None
    }
}

/// A notice (`role="status"`) or an error (`role="alert"`) as `message.html` shows it.
#[derive(Debug, Clone)]
pub(super) struct MessageBox {
    pub(super) class: &'static str,
    pub(super) role: &'static str,
    pub(super) text: String,
}

impl MessageBox {
    /// The message `key` (the generic one when the catalogue does not have it) with `args`.
    pub(super) fn new(l: Locale, key: &str, args: &[(&str, &str)], error: bool) -> Self {
        let text = match known(l, key) {
            Some(_) => tr_args(l, key, args),
            None => tr(l, "portal.error.generic").to_string(),
        };
        let (class, role) = if error {
            ("message error", "alert")
        } else {
            ("message notice", "status")
        };
        MessageBox { class, role, text }
    }
}

/// The boxes for a page's notice and error after a redirect (`?notice=…`, `?error=…`), in that
/// order.
pub(super) fn notice_and_error(
    l: Locale,
    notice: Option<&str>,
    error: Option<&str>,
) -> Vec<MessageBox> {
    let notice = notice.map(|key| MessageBox::new(l, key, &[], false));
    let error = error.map(|key| MessageBox::new(l, key, &[], true));
    notice.into_iter().chain(error).collect()
}

/// A moment as `<time datetime="2026-01-01T00:00Z">2026-01-01 00:00 UTC</time>` shows it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Stamp(pub(super) u64);

impl Stamp {
    /// `2026-01-01T00:00Z`.
    pub(super) fn iso(&self) -> String {
        let (y, mo, d, h, mi) = civkey_i18n::civil(self.0);
        format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}Z")
    }

    /// `2026-01-01 00:00 UTC`.
    pub(super) fn human(&self) -> String {
        let (y, mo, d, h, mi) = civkey_i18n::civil(self.0);
        format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02} UTC")
    }
}

/// A countdown's start as the page shows it: `4:00`, with `PT4M0S` for `<time datetime>`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Countdown(pub(super) u64);

impl Countdown {
    /// `4:00`, `0:59`.
    pub(super) fn clock(&self) -> String {
        clock(self.0)
    }

    /// `PT4M0S`.
    pub(super) fn iso(&self) -> String {
        iso_duration(self.0)
    }
}
