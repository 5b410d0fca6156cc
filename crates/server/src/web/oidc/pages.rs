//! The login page a service sends the citizen to (OpenID Connect authorization), its "log in
//! another way" continuation, and the refusal of a request that cannot be taken: askama templates
//! beside this file (`oidc/*.html`).

use askama::Template;
use civkey_i18n::tr_args;

use crate::web::layout::{render, Countdown, Page, Scripts};
use crate::web::views::{PageContext, SigninContinueView, SigninView};

#[derive(Template)]
#[template(path = "oidc/signin.html")]
struct SigninPage<'a> {
    page: Page<'a>,
    view: &'a SigninView,
    from: String,
    expired: bool,
    countdown: Countdown,
    same_device: bool,
    /// With a portal session: "Continue as {name}", a form posting to the other means.
    continue_as: Option<String>,
}

/// The login page of a service's OpenID Connect request: which service asks, the QR code that the
/// script renews every second, the countdown, the same-device link, and the outcomes it switches
/// to by itself.
pub fn signin_page(ctx: &PageContext, view: &SigninView) -> String {
    let l = ctx.locale;
    let title = tr_args(l, "portal.signin.title", &[("service", &view.service_name)]);
    // Instead of the mobile key: a means the portal knows (a session here, or its login page).
    let continue_as = match (&ctx.citizen_name, &ctx.csrf) {
        (Some(name), Some(_)) => Some(tr_args(l, "portal.signin.continue_as", &[("name", name)])),
        _ => None,
    };
    render(&SigninPage {
        page: Page::portal(ctx, title, "page-connect", Scripts::PortalWithQr),
        view,
        from: tr_args(
            l,
            "portal.signin.origin",
            &[("origin", &view.service_origin)],
        ),
        expired: view.expires_in == 0,
        countdown: Countdown(view.expires_in),
        // Only a civkey login URI may become a link.
        same_device: view.launch_uri.starts_with("civkey://login?"),
        continue_as,
    })
}

#[derive(Template)]
#[template(path = "oidc/continue.html")]
struct SigninContinuePage<'a> {
    page: Page<'a>,
    view: &'a SigninContinueView,
    from: String,
}

/// Logging in to a service as the portal session's citizen ("log in another way").
pub fn signin_continue_page(ctx: &PageContext, view: &SigninContinueView) -> String {
    let l = ctx.locale;
    let title = tr_args(
        l,
        "portal.signin.continue_title",
        &[
            ("service", &view.service_name),
            ("name", &view.citizen_name),
        ],
    );
    render(&SigninContinuePage {
        page: Page::portal(ctx, title, "page-connect", Scripts::None),
        view,
        from: tr_args(
            l,
            "portal.signin.origin",
            &[("origin", &view.service_origin)],
        ),
    })
}

#[derive(Template)]
#[template(path = "oidc/refused.html")]
struct SigninRefusedPage<'a> {
    page: Page<'a>,
}

/// A service's login request that cannot be taken (unknown service, unregistered redirect URI):
/// said on the page, because the browser cannot be sent back safely.
pub fn signin_refused_page(ctx: &PageContext, message: &str) -> String {
    render(&SigninRefusedPage {
        page: Page::portal(ctx, message, "page-error", Scripts::None),
    })
}
