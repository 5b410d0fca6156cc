//! What every server page shares: the document around a page's `<main>` (head, header with the
//! language switcher, scripts), the error page, message boxes and small formatting pieces. Every
//! visible word comes from the catalogue and every dynamic value is escaped; nothing is inline, so
//! the pages run under a CSP without `'unsafe-inline'`.

use civkey_i18n::{tr, tr_args, Locale};

use super::views::PageContext;
use crate::escape_html as esc;
/// Where the lead's routes serve the assets.
pub(super) const STYLESHEET: &str = "/static/portal.css";
pub(super) const SCRIPT: &str = "/static/portal.js";
/// The QR encoder the login page draws its animated code with (qrcode-generator, MIT).
pub(super) const QR_SCRIPT: &str = "/static/qrcode.js";

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

/// Any error: the status code and a translated message (`portal.error.*`; an unknown key shows
/// the generic message rather than the key).
pub fn error_page(ctx: &PageContext, status: u16, message_key: &str) -> String {
    let (message, main) = error_card(
        ctx.locale,
        status,
        message_key,
        "/portal",
        "portal.error.home",
    );
    document(ctx, message, "page-error", &main, Scripts::None)
}

/// An error page's card: the status, the message (`message_key` when it is a known message, else
/// the generic one) and a button back to `home` labelled by `home_key`. Returns the message (for
/// the title) and the card.
pub(super) fn error_card<'a>(
    l: Locale,
    status: u16,
    message_key: &'a str,
    home: &str,
    home_key: &str,
) -> (&'a str, String) {
    let message = known(l, message_key).unwrap_or_else(|| tr(l, "portal.error.generic"));
    let card = format!(
        "<div class=\"card error-card\">\n\
         <p class=\"status-code\">{code}</p>\n\
         <h1>{message}</h1>\n\
         <p class=\"links\"><a class=\"button primary\" href=\"{home}\">{label}</a></p>\n\
         </div>\n",
        code = esc(&tr_args(
            l,
            "portal.error.status",
            &[("status", &status.to_string())]
        )),
        message = esc(message),
        home = esc(home),
        label = esc(tr(l, home_key)),
    );
    (message, card)
}

// ---------------------------------------------------------------------------------------------
// Pieces

/// The whole document around a page's `<main>`: head, header with the language switcher and the
/// logged-in citizen, and the script when the page needs it.
pub(super) fn document(
    ctx: &PageContext,
    title: &str,
    page_class: &str,
    main: &str,
    scripts: Scripts,
) -> String {
    document_with_header(ctx, title, page_class, main, scripts, &header(ctx))
}

/// [`document`] with another header (the counter pages show the clerk and office instead).
pub(super) fn document_with_header(
    ctx: &PageContext,
    title: &str,
    page_class: &str,
    main: &str,
    scripts: Scripts,
    header: &str,
) -> String {
    let l = ctx.locale;
    let tag = |src: &str| format!("<script src=\"{src}\" defer></script>\n");
    let script = match scripts {
        Scripts::None => String::new(),
        Scripts::Portal => tag(SCRIPT),
        // Deferred scripts run in document order: the QR encoder first.
        Scripts::PortalWithQr => format!("{}{}", tag(QR_SCRIPT), tag(SCRIPT)),
    };
    format!(
        "<!doctype html>\n\
         <html lang=\"{lang}\">\n\
         <head>\n\
         <meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"color-scheme\" content=\"light dark\">\n\
         <meta name=\"referrer\" content=\"same-origin\">\n\
         <title>{title} – {app}</title>\n\
         <link rel=\"stylesheet\" href=\"{STYLESHEET}\">\n\
         {script}\
         </head>\n\
         <body class=\"{page_class}\">\n\
         <a class=\"skip-link\" href=\"#main\">{skip}</a>\n\
         {header}\
         <main id=\"main\" class=\"main\">\n{main}</main>\n\
         </body>\n\
         </html>\n",
        lang = l.tag(),
        title = esc(title),
        app = esc(tr(l, "app.name")),
        skip = esc(tr(l, "portal.skip")),
    )
}

pub(super) fn header(ctx: &PageContext) -> String {
    let l = ctx.locale;
    let user = match &ctx.citizen_name {
        Some(name) => format!(
            "<div class=\"user\">\
             <span class=\"user-name\"><span class=\"visually-hidden\">{logged_in} </span>{name}</span>\
             <form method=\"post\" action=\"/portal/logout\" class=\"logout\">{csrf}\
             <button type=\"submit\" class=\"button quiet\">{logout}</button></form></div>\n",
            logged_in = esc(tr(l, "portal.header.logged_in")),
            name = esc(name),
            csrf = hidden("csrf", ctx.csrf.as_deref().unwrap_or("")),
            logout = esc(tr(l, "portal.header.logout")),
        ),
        None => String::new(),
    };
    site_header(ctx, "/portal", tr(l, "portal.header.subtitle"), &user)
}

/// The site header: the brand linking to `home` with `subtitle`, the language switcher, and
/// `user` (who is logged in, with a log-out form).
pub(super) fn site_header(ctx: &PageContext, home: &str, subtitle: &str, user: &str) -> String {
    let l = ctx.locale;
    let path = esc(safe_path(&ctx.path));
    let languages: String = Locale::ALL
        .iter()
        .map(|&other| {
            let current = if other == l {
                " aria-current=\"true\""
            } else {
                ""
            };
            format!(
                "<li><a href=\"{path}?lang={tag}\" lang=\"{tag}\" hreflang=\"{tag}\"{current}>{name}</a></li>",
                tag = other.tag(),
                name = esc(other.native_name()),
            )
        })
        .collect();
    format!(
        "<header class=\"site-header\">\n<div class=\"header-inner\">\n\
         <a class=\"brand\" href=\"{home}\"><span class=\"brand-name\">{app}</span>\
         <span class=\"brand-sub\">{subtitle}</span></a>\n\
         <nav class=\"languages\" aria-label=\"{lang_label}\"><ul>{languages}</ul></nav>\n\
         {user}\
         </div>\n</header>\n",
        home = esc(home),
        app = esc(tr(l, "app.name")),
        subtitle = esc(subtitle),
        lang_label = esc(tr(l, "common.language")),
    )
}

/// A message from the handler on the login pages: the e-mail notice is a status, the rest are
/// errors.
pub(super) fn login_message(
    l: Locale,
    message: Option<&(String, Vec<(String, String)>)>,
) -> String {
    match message {
        Some((key, args)) => {
            let args: Vec<(&str, &str)> =
                args.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            message_box(l, key, &args, key != "portal.login.error.email_sent")
        }
        None => String::new(),
    }
}

/// A notice (`role="status"`) or an error (`role="alert"`) from a catalogue key.
pub(super) fn message_box(l: Locale, key: &str, args: &[(&str, &str)], error: bool) -> String {
    let text = match known(l, key) {
        Some(_) => tr_args(l, key, args),
        None => tr(l, "portal.error.generic").to_string(),
    };
    let (class, role) = if error {
        ("message error", "alert")
    } else {
        ("message notice", "status")
    };
    format!(
        "<div class=\"{class}\" role=\"{role}\"><p>{}</p></div>\n",
        esc(&text)
    )
}

/// The message `key`, or `None` when the catalogue does not have it (so a wrong key never
/// reaches the page as text).
pub(super) fn known(l: Locale, key: &str) -> Option<&str> {
    let text = tr(l, key);
    (text != key).then_some(text)
}

/// `<input type="hidden">` with an escaped value.
pub(super) fn hidden(name: &str, value: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"{}\" value=\"{}\">\n",
        esc(name),
        esc(value)
    )
}

/// A timestamp as `<time datetime="…">YYYY-MM-DD HH:MM UTC</time>`.
pub(super) fn datetime(unix: u64) -> String {
    let (y, mo, d, h, mi) = civkey_i18n::civil(unix);
    format!(
        "<time datetime=\"{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}Z\">{y:04}-{mo:02}-{d:02} {h:02}:{mi:02} UTC</time>"
    )
}

/// Seconds as the countdown shows them: `4:00`, `0:59`.
pub(super) fn clock(secs: u64) -> String {
    format!("{}:{:02}", secs / 60, secs % 60)
}

/// Seconds as an ISO 8601 duration for `<time datetime>`: `PT4M0S`.
pub(super) fn iso_duration(secs: u64) -> String {
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
