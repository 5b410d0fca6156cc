//! The login page a service sends the citizen to (OpenID Connect authorization), its "log in
//! another way" continuation, and the refusal of a request that cannot be taken.

use civkey_i18n::{tr, tr_args};

use crate::escape_html as esc;
use crate::web::layout::*;
use crate::web::views::{PageContext, SigninContinueView, SigninView};

/// The login page of a service's OpenID Connect request: which service asks, the QR code that the
/// script renews every second, the countdown, the same-device link, and the outcomes it switches
/// to by itself.
pub fn signin_page(ctx: &PageContext, view: &SigninView) -> String {
    let l = ctx.locale;
    let expired = view.expires_in == 0;
    let hide_unless = |shown: bool| if shown { "" } else { " hidden" };
    // Only a civkey login URI may become a link.
    let same_device = if view.launch_uri.starts_with("civkey://login?") {
        format!(
            "<div class=\"same-device\"><p class=\"hint\">{hint}</p>\
             <a class=\"button secondary\" href=\"{uri}\">{label}</a></div>\n",
            hint = esc(tr(l, "portal.signin.same_device_hint")),
            uri = esc(&view.launch_uri),
            label = esc(tr(l, "portal.signin.same_device")),
        )
    } else {
        String::new()
    };
    // Instead of the mobile key: a means the portal knows (a session here, or its login page).
    let other_means = match (&ctx.citizen_name, &ctx.csrf) {
        (Some(name), Some(csrf)) => format!(
            "<div class=\"other-means\"><h2>{title}</h2>\n<p class=\"hint\">{hint}</p>\n\
             <form method=\"post\" action=\"{action}\">{csrf}\
             <button type=\"submit\" class=\"button secondary\">{label}</button></form></div>\n",
            title = esc(tr(l, "portal.signin.other_means_title")),
            hint = esc(tr(l, "portal.signin.signed_in_hint")),
            action = esc(&view.other_means_url),
            csrf = hidden("csrf", csrf),
            label = esc(&tr_args(l, "portal.signin.continue_as", &[("name", name)])),
        ),
        _ => format!(
            "<div class=\"other-means\"><h2>{title}</h2>\n\
             <p><a class=\"button quiet\" href=\"{href}\">{label}</a></p></div>\n",
            title = esc(tr(l, "portal.signin.other_means_title")),
            href = esc(&view.other_means_url),
            label = esc(tr(l, "portal.signin.other_means")),
        ),
    };
    let outcome = |step: &str, key: &str, shown: bool| {
        format!(
            "<section class=\"pairing-step card\" data-step=\"{step}\"{hidden}>\
             <h2 tabindex=\"-1\">{text}</h2></section>\n",
            hidden = hide_unless(shown),
            text = esc(tr(l, key)),
        )
    };
    let main = format!(
        "<h1>{title}</h1>\n\
         <p class=\"lead\">{from}</p>\n\
         <div class=\"pairing\" data-signin-events=\"{events}\">\n\
         <section class=\"pairing-step\" data-step=\"waiting\"{waiting_hidden}>\n\
         <div class=\"qr-column\">\n\
         <div class=\"qr-frame\"><canvas class=\"qr\" data-qr-uri=\"{qr}\" role=\"img\" \
         aria-label=\"{qr_alt}\" width=\"280\" height=\"280\"></canvas></div>\n\
         <p class=\"countdown\"><span class=\"countdown-label\">{time_left}</span> \
         <time class=\"countdown-value\" data-countdown=\"{secs}\" datetime=\"{duration}\" \
         role=\"timer\">{clock}</time></p>\n\
         </div>\n\
         <div class=\"instructions\">\n<p>{scan}</p>\n{same_device}\
         <noscript><p class=\"notice\">{noscript}</p></noscript>\n{other_means}</div>\n\
         </section>\n\
         <div class=\"pairing-status\" aria-live=\"polite\">\n{approved}{denied}{expired_section}</div>\n\
         </div>\n",
        title = esc(&tr_args(l, "portal.signin.title", &[("service", &view.service_name)])),
        from = esc(&tr_args(l, "portal.signin.origin", &[("origin", &view.service_origin)])),
        events = esc(&view.events_url),
        waiting_hidden = hide_unless(!expired),
        qr = esc(&view.qr_uri),
        qr_alt = esc(tr(l, "portal.signin.qr_alt")),
        time_left = esc(tr(l, "portal.connect.time_left")),
        secs = view.expires_in,
        duration = iso_duration(view.expires_in),
        clock = clock(view.expires_in),
        scan = esc(tr(l, "portal.signin.scan")),
        noscript = esc(tr(l, "portal.signin.noscript")),
        approved = outcome("approved", "portal.signin.approved", false),
        denied = outcome("denied", "portal.signin.denied", false),
        expired_section = outcome("expired", "portal.signin.expired", expired),
    );
    document(
        ctx,
        &tr_args(l, "portal.signin.title", &[("service", &view.service_name)]),
        "page-connect",
        &main,
        Scripts::PortalWithQr,
    )
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
    let main = format!(
        "<div class=\"card\">\n<h1>{title}</h1>\n<p class=\"lead\">{from}</p>\n\
         <form method=\"post\" action=\"{action}\">{csrf}\
         <button type=\"submit\" class=\"button primary\">{label}</button></form>\n\
         <p class=\"hint\">{not_you}</p>\n</div>\n",
        title = esc(&title),
        from = esc(&tr_args(
            l,
            "portal.signin.origin",
            &[("origin", &view.service_origin)]
        )),
        action = esc(&view.action),
        csrf = hidden("csrf", ctx.csrf.as_deref().unwrap_or("")),
        label = esc(tr(l, "portal.signin.continue_button")),
        not_you = esc(tr(l, "portal.signin.not_you")),
    );
    document(ctx, &title, "page-connect", &main, Scripts::None)
}

/// A service's login request that cannot be taken (unknown service, unregistered redirect URI):
/// said on the page, because the browser cannot be sent back safely.
pub fn signin_refused_page(ctx: &PageContext, message: &str) -> String {
    let main = format!(
        "<div class=\"card error-card\">\n<h1>{}</h1>\n</div>\n",
        esc(message)
    );
    document(ctx, message, "page-error", &main, Scripts::None)
}
