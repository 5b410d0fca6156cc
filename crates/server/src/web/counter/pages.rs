//! The office counter's pages: the clerk's login, finding a citizen (their BOK state, "Start BOK
//! verification", "Unblock BOK") and one verification live. Same rules as the portal's pages: every
//! word from the catalogue (`counter.*`), every value escaped, nothing inline. The header shows the
//! clerk and the office instead of a citizen, and every form posts under `/counter`.

use civkey_i18n::{tr, tr_args, utc_minutes};
use civkey_proto::bok::BokCounterEvent;

use crate::escape_html as esc;
use crate::services::onboarding::DOCUMENT_TYPES;
use crate::web::layout::{
    clock, document_with_header, hidden, iso_duration, login_message, message_box, site_header,
    split_placeholder, Scripts,
};
use crate::web::views::{
    BokLiveView, ClerkBadge, CounterLoginView, CounterOnboardView, CounterView, PageContext,
};

/// The counter's header: the brand linking to `/counter`, and the clerk with the office and a
/// log-out form (none on the login page).
fn counter_header(ctx: &PageContext, clerk: Option<&ClerkBadge>) -> String {
    let l = ctx.locale;
    let user = match clerk {
        Some(clerk) => format!(
            "<div class=\"user\">\
             <span class=\"user-name\"><span class=\"visually-hidden\">{logged_in} </span>{who}</span>\
             <form method=\"post\" action=\"/counter/logout\" class=\"logout\">{csrf}\
             <button type=\"submit\" class=\"button quiet\">{logout}</button></form></div>\n",
            logged_in = esc(tr(l, "counter.header.logged_in")),
            who = esc(&tr_args(
                l,
                "counter.header.clerk",
                &[("name", &clerk.full_name), ("office", &clerk.office_name)]
            )),
            csrf = hidden("csrf", ctx.csrf.as_deref().unwrap_or("")),
            logout = esc(tr(l, "counter.header.logout")),
        ),
        None => String::new(),
    };
    site_header(ctx, "/counter", tr(l, "counter.header.subtitle"), &user)
}

fn counter_document(
    ctx: &PageContext,
    clerk: Option<&ClerkBadge>,
    title: &str,
    main: &str,
    scripts: Scripts,
) -> String {
    document_with_header(
        ctx,
        title,
        "page-counter",
        main,
        scripts,
        &counter_header(ctx, clerk),
    )
}

/// `GET /counter/login`: a clerk's username and password.
pub fn counter_login_page(ctx: &PageContext, view: &CounterLoginView) -> String {
    let l = ctx.locale;
    let main = format!(
        "<h1>{title}</h1>\n\
         <p class=\"lead\">{intro}</p>\n\
         {message}\
         <section class=\"card\">\n\
         <form method=\"post\" action=\"/counter/login\" class=\"form\">\n\
         {csrf}\
         <div class=\"field\"><label for=\"clerk-username\">{l_user}</label>\
         <input id=\"clerk-username\" name=\"username\" type=\"text\" value=\"{username}\" \
         autocomplete=\"username\" autocapitalize=\"none\" spellcheck=\"false\" required></div>\n\
         <div class=\"field\"><label for=\"clerk-password\">{l_pw}</label>\
         <input id=\"clerk-password\" name=\"password\" type=\"password\" \
         autocomplete=\"current-password\" required></div>\n\
         <div class=\"field\"><label for=\"clerk-totp\">{l_totp}</label>\
         <p class=\"hint\" id=\"clerk-totp-hint\">{totp_hint}</p>\
         <input id=\"clerk-totp\" name=\"totp\" type=\"text\" class=\"code-input\" \
         inputmode=\"numeric\" autocomplete=\"one-time-code\" pattern=\"[0-9]{{6}}\" \
         minlength=\"6\" maxlength=\"6\" aria-describedby=\"clerk-totp-hint\" required></div>\n\
         <div class=\"actions\"><button type=\"submit\" class=\"button primary\">{submit}</button></div>\n\
         </form>\n\
         </section>\n",
        title = esc(tr(l, "counter.login.title")),
        intro = esc(tr(l, "counter.login.intro")),
        message = login_message(l, view.error.as_ref()),
        csrf = hidden("csrf", &view.csrf),
        username = esc(&view.username),
        l_user = esc(tr(l, "counter.login.username")),
        l_pw = esc(tr(l, "counter.login.password")),
        l_totp = esc(tr(l, "counter.login.totp")),
        totp_hint = esc(tr(l, "counter.login.totp_hint")),
        submit = esc(tr(l, "counter.login.submit")),
    );
    counter_document(
        ctx,
        None,
        tr(l, "counter.login.title"),
        &main,
        Scripts::None,
    )
}

/// `GET /counter`: find a citizen by username; their BOK state with "Start BOK verification" and,
/// when blocked, "Unblock BOK".
pub fn counter_page(ctx: &PageContext, clerk: &ClerkBadge, view: &CounterView) -> String {
    let l = ctx.locale;
    let csrf = hidden("csrf", ctx.csrf.as_deref().unwrap_or(""));
    let mut main = format!(
        "<h1>{title}</h1>\n<p class=\"lead\">{intro}</p>\n",
        title = esc(tr(l, "counter.title")),
        intro = esc(&tr_args(
            l,
            "counter.intro",
            &[("office", &clerk.office_name)]
        )),
    );
    if let Some(key) = &view.notice {
        main.push_str(&message_box(l, key, &[], false));
    }
    if let Some(key) = &view.error {
        main.push_str(&message_box(l, key, &[], true));
    }
    main.push_str(&format!(
        "<section class=\"card\" aria-labelledby=\"search-heading\">\n\
         <h2 id=\"search-heading\">{heading}</h2>\n\
         <form method=\"get\" action=\"/counter\" class=\"form\" role=\"search\">\n\
         <div class=\"field\"><label for=\"search-username\">{label}</label>\
         <div class=\"inline\"><input id=\"search-username\" name=\"username\" type=\"text\" \
         value=\"{username}\" autocomplete=\"off\" autocapitalize=\"none\" spellcheck=\"false\" \
         maxlength=\"32\" required>\
         <button type=\"submit\" class=\"button secondary\">{submit}</button></div></div>\n\
         </form>\n</section>\n",
        heading = esc(tr(l, "counter.search.heading")),
        label = esc(tr(l, "counter.search.username")),
        username = esc(&view.username),
        submit = esc(tr(l, "counter.search.submit")),
    ));
    if view.not_found {
        main.push_str(&message_box(l, "counter.error.not_found", &[], true));
    }
    main.push_str(&format!(
        "<section class=\"card\" aria-labelledby=\"onboard-heading\">\n\
         <h2 id=\"onboard-heading\">{heading}</h2>\n<p class=\"hint\">{hint}</p>\n\
         <p class=\"links\"><a class=\"button secondary\" href=\"/counter/onboard\">{link}</a></p>\n\
         </section>\n",
        heading = esc(tr(l, "counter.onboard.title")),
        hint = esc(tr(l, "counter.onboard.link_hint")),
        link = esc(tr(l, "counter.onboard.link")),
    ));
    if let Some(c) = &view.citizen {
        let bok_state = if c.blocked {
            format!(
                "<span class=\"badge danger\">{}</span>",
                esc(tr(l, "counter.citizen.bok_blocked"))
            )
        } else if c.bok_set {
            esc(tr(l, "counter.citizen.bok_set"))
        } else {
            esc(tr(l, "counter.citizen.bok_not_set"))
        };
        let last_unblock = match &c.last_unblock {
            Some((by, office, at)) => format!(
                "<div><dt>{}</dt><dd>{}</dd></div>\n",
                esc(tr(l, "counter.citizen.last_unblock")),
                esc(&tr_args(
                    l,
                    "counter.citizen.last_unblock_value",
                    &[("at", &utc_minutes(*at)), ("clerk", by), ("office", office)],
                )),
            ),
            None => String::new(),
        };
        let username = hidden("username", &c.username);
        let start = if c.blocked {
            String::new()
        } else {
            format!(
                "<form method=\"post\" action=\"/counter/bok\">\n{csrf}{username}\
                 <p class=\"hint\">{hint}</p>\
                 <button type=\"submit\" class=\"button primary\">{label}</button>\n</form>\n",
                hint = esc(tr(l, "counter.verify.hint")),
                label = esc(tr(l, "counter.verify.start")),
            )
        };
        let unblock = if c.blocked {
            format!(
                "<form method=\"post\" action=\"/counter/unblock\">\n{csrf}{username}\
                 <p class=\"hint\">{hint}</p>\
                 <button type=\"submit\" class=\"button danger\" data-confirm=\"{confirm}\">{label}</button>\n\
                 </form>\n",
                hint = esc(tr(l, "counter.unblock.hint")),
                confirm = esc(&tr_args(
                    l,
                    "counter.unblock.confirm",
                    &[("name", &c.full_name)]
                )),
                label = esc(tr(l, "counter.unblock.button")),
            )
        } else {
            String::new()
        };
        main.push_str(&format!(
            "<section class=\"card citizen\" aria-labelledby=\"citizen-heading\">\n\
             <h2 id=\"citizen-heading\">{name}</h2>\n\
             <dl class=\"facts\">\n\
             <div><dt>{l_user}</dt><dd>{user}</dd></div>\n\
             <div><dt>{l_bok}</dt><dd>{bok_state}</dd></div>\n\
             <div><dt>{l_wrong}</dt><dd>{wrong}</dd></div>\n\
             <div><dt>{l_devices}</dt><dd>{devices}</dd></div>\n\
             {last_unblock}\
             </dl>\n\
             <div class=\"device-actions\">\n{start}{unblock}</div>\n\
             </section>\n",
            name = esc(&c.full_name),
            l_user = esc(tr(l, "counter.citizen.username")),
            user = esc(&c.username),
            l_bok = esc(tr(l, "counter.citizen.bok")),
            l_wrong = esc(tr(l, "counter.citizen.wrong_answers")),
            wrong = c.wrong_answers,
            l_devices = esc(tr(l, "counter.citizen.devices")),
            devices = c.bok_pad_devices,
        ));
    }
    counter_document(
        ctx,
        Some(clerk),
        tr(l, "counter.title"),
        &main,
        Scripts::Portal,
    )
}

/// The final statuses, each a step of the live page (shown by `portal.js`, or at once when the
/// page is drawn after the fact).
const FINAL_STEPS: [(&str, &str, &str); 4] = [
    ("verified", "counter.bok.verified", "success"),
    ("not_verified", "counter.bok.not_verified", "warning"),
    ("expired", "counter.bok.expired", "warning"),
    ("blocked", "counter.bok.blocked", "danger"),
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

/// `GET /counter/bok/{id}`: the verification with its countdown, switched live by `portal.js`
/// from the server-sent events at `events_url` (waiting → verified / not verified / expired /
/// blocked). Every step is in the document, `hidden` until it applies.
pub fn counter_bok_page(ctx: &PageContext, clerk: &ClerkBadge, view: &BokLiveView) -> String {
    let l = ctx.locale;
    let csrf = hidden("csrf", ctx.csrf.as_deref().unwrap_or(""));
    let shown = step_name(view.status);
    let hide_unless = |step: &str| if step == shown { "" } else { " hidden" };
    let back = format!(
        "/counter?username={}",
        percent_encoding::utf8_percent_encode(
            &view.citizen_username,
            percent_encoding::NON_ALPHANUMERIC
        )
    );
    let again = format!(
        "<form method=\"post\" action=\"/counter/bok\" class=\"inline-form\">{csrf}{user}\
         <button type=\"submit\" class=\"button primary\">{label}</button></form>",
        user = hidden("username", &view.citizen_username),
        label = esc(tr(l, "counter.bok.again")),
    );
    let back_link = format!(
        "<a class=\"button secondary\" href=\"{}\">{}</a>",
        esc(&back),
        esc(tr(l, "counter.bok.back"))
    );
    let attempts_left = match view.status {
        BokCounterEvent::NotVerified { attempts_left } => attempts_left.to_string(),
        _ => String::new(),
    };
    let finals: String = FINAL_STEPS
        .iter()
        .map(|(step, key, tone)| {
            let text = if *step == "not_verified" {
                let (before, after) =
                    split_placeholder(tr(l, "counter.bok.not_verified_text"), "n");
                format!(
                    "{}<strong data-fill=\"attempts-left\">{}</strong>{}",
                    esc(before),
                    esc(&attempts_left),
                    esc(after)
                )
            } else {
                esc(tr(l, &format!("{key}_text")))
            };
            // Blocked: the unblock button is on the citizen's page, after checking their ID.
            let links = if *step == "blocked" {
                back_link.clone()
            } else {
                format!("{again}{back_link}")
            };
            format!(
                "<section class=\"pairing-step outcome card {tone}\" data-step=\"{step}\" \
                 aria-labelledby=\"bok-{step}-heading\"{hidden}>\n\
                 <h2 id=\"bok-{step}-heading\" class=\"outcome-title\" tabindex=\"-1\">{title}</h2>\n\
                 <p>{text}</p>\n<div class=\"links\">{links}</div>\n</section>\n",
                hidden = hide_unless(step),
                title = esc(tr(l, key)),
            )
        })
        .collect();
    let main = format!(
        "<h1>{title}</h1>\n\
         <p class=\"lead\">{who}</p>\n\
         <div class=\"pairing\" data-bok-events=\"{events}\">\n\
         <section class=\"pairing-step card\" data-step=\"waiting\" \
         aria-labelledby=\"bok-waiting-heading\"{waiting_hidden}>\n\
         <h2 id=\"bok-waiting-heading\" tabindex=\"-1\">{waiting}</h2>\n\
         <p>{waiting_text}</p>\n\
         <p class=\"countdown\"><span class=\"countdown-label\">{time_left}</span> \
         <time class=\"countdown-value\" data-countdown=\"{secs}\" datetime=\"{duration}\" \
         role=\"timer\">{clock}</time></p>\n\
         <noscript><p class=\"notice\">{noscript} <a href=\"\">{reload}</a></p></noscript>\n\
         </section>\n\
         <div class=\"pairing-status\" aria-live=\"polite\">\n{finals}</div>\n\
         </div>\n",
        title = esc(tr(l, "counter.bok.title")),
        who = esc(&tr_args(
            l,
            "counter.bok.for",
            &[
                ("name", &view.citizen_name),
                ("username", &view.citizen_username)
            ]
        )),
        events = esc(&view.events_url),
        waiting_hidden = hide_unless("waiting"),
        waiting = esc(tr(l, "counter.bok.waiting")),
        waiting_text = esc(&tr_args(
            l,
            "counter.bok.waiting_text",
            &[("office", &view.office_name)]
        )),
        noscript = esc(tr(l, "counter.bok.noscript")),
        reload = esc(tr(l, "counter.bok.reload")),
        time_left = esc(tr(l, "counter.bok.time_left")),
        secs = view.expires_in,
        duration = iso_duration(view.expires_in),
        clock = clock(view.expires_in),
    );
    counter_document(
        ctx,
        Some(clerk),
        tr(l, "counter.bok.title"),
        &main,
        Scripts::Portal,
    )
}

/// One text field of the onboarding form, with an optional hint below its label.
fn onboard_field(
    l: civkey_i18n::Locale,
    name: &str,
    label_key: &str,
    hint_key: Option<&str>,
    value: &str,
    extra: &str,
) -> String {
    let hint = match hint_key {
        Some(key) => format!(
            "<p class=\"hint\" id=\"onboard-{name}-hint\">{}</p>",
            esc(tr(l, key))
        ),
        None => String::new(),
    };
    let described = if hint_key.is_some() {
        format!(" aria-describedby=\"onboard-{name}-hint\"")
    } else {
        String::new()
    };
    format!(
        "<div class=\"field\"><label for=\"onboard-{name}\">{label}</label>{hint}\
         <input id=\"onboard-{name}\" name=\"{name}\" value=\"{value}\"{described} {extra}></div>\n",
        label = esc(tr(l, label_key)),
        value = esc(value),
    )
}

/// `GET /counter/onboard`: "Onboard a new citizen" — the identification code from the app, the
/// citizen's details and the identity document checked; after a `POST`, the result.
pub fn counter_onboard_page(
    ctx: &PageContext,
    clerk: &ClerkBadge,
    view: &CounterOnboardView,
) -> String {
    let l = ctx.locale;
    let csrf = hidden("csrf", ctx.csrf.as_deref().unwrap_or(""));
    let mut main = format!(
        "<h1>{title}</h1>\n<p class=\"lead\">{intro}</p>\n",
        title = esc(tr(l, "counter.onboard.title")),
        intro = esc(tr(l, "counter.onboard.intro")),
    );
    if let Some((name, username, device)) = &view.done {
        main.push_str(&format!(
            "<section class=\"card outcome success\" aria-labelledby=\"onboard-done-heading\" \
             role=\"status\">\n\
             <h2 id=\"onboard-done-heading\" class=\"outcome-title\">{done}</h2>\n\
             <p>{text}</p>\n\
             <p class=\"links\"><a class=\"button primary\" href=\"/counter/onboard\">{another}</a> \
             <a class=\"button secondary\" href=\"/counter?username={user_q}\">{back}</a></p>\n\
             </section>\n",
            done = esc(&tr_args(
                l,
                "counter.onboard.done",
                &[("name", name), ("device", device)]
            )),
            text = esc(&tr_args(
                l,
                "counter.onboard.done_text",
                &[("username", username)]
            )),
            another = esc(tr(l, "counter.onboard.another")),
            user_q = esc(
                &percent_encoding::utf8_percent_encode(
                    username,
                    percent_encoding::NON_ALPHANUMERIC
                )
                .to_string()
            ),
            back = esc(tr(l, "counter.back")),
        ));
        return counter_document(
            ctx,
            Some(clerk),
            tr(l, "counter.onboard.title"),
            &main,
            Scripts::None,
        );
    }
    main.push_str(&login_message(l, view.error.as_ref()));
    let input = &view.input;
    let options: String = DOCUMENT_TYPES
        .iter()
        .map(|t| {
            format!(
                "<option value=\"{t}\"{selected}>{label}</option>",
                selected = if input.document_type == *t {
                    " selected"
                } else {
                    ""
                },
                label = esc(tr(l, &format!("counter.onboard.document.{t}"))),
            )
        })
        .collect();
    main.push_str(&format!(
        "<section class=\"card\">\n\
         <form method=\"post\" action=\"/counter/onboard\" class=\"form\">\n{csrf}\
         {code}{full_name}{username}{email}{phone}\
         <div class=\"field\"><label for=\"onboard-document_type\">{l_doc}</label>\
         <select id=\"onboard-document_type\" name=\"document_type\" required>\
         <option value=\"\">{choose}</option>{options}</select></div>\n\
         {number}\
         <div class=\"actions\"><button type=\"submit\" class=\"button primary\">{submit}</button></div>\n\
         </form>\n</section>\n",
        code = onboard_field(
            l,
            "code",
            "counter.onboard.code",
            Some("counter.onboard.code_hint"),
            &input.code,
            "type=\"text\" class=\"code-input\" autocomplete=\"off\" autocapitalize=\"characters\" \
             spellcheck=\"false\" maxlength=\"16\" required"
        ),
        full_name = onboard_field(
            l,
            "full_name",
            "counter.onboard.full_name",
            None,
            &input.full_name,
            "type=\"text\" autocomplete=\"off\" maxlength=\"100\" required"
        ),
        username = onboard_field(
            l,
            "username",
            "counter.onboard.username",
            Some("counter.onboard.username_hint"),
            &input.username,
            "type=\"text\" autocomplete=\"off\" autocapitalize=\"none\" spellcheck=\"false\" \
             maxlength=\"32\" required"
        ),
        email = onboard_field(
            l,
            "email",
            "counter.onboard.email",
            None,
            &input.email,
            "type=\"email\" autocomplete=\"off\" maxlength=\"254\" required"
        ),
        phone = onboard_field(
            l,
            "phone",
            "counter.onboard.phone",
            None,
            &input.phone,
            "type=\"tel\" autocomplete=\"off\" maxlength=\"20\""
        ),
        l_doc = esc(tr(l, "counter.onboard.document_type")),
        choose = esc(tr(l, "counter.onboard.document.choose")),
        number = onboard_field(
            l,
            "document_number",
            "counter.onboard.document_number",
            Some("counter.onboard.document_number_hint"),
            &input.document_number,
            "type=\"text\" autocomplete=\"off\" spellcheck=\"false\" maxlength=\"30\" required"
        ),
        submit = esc(tr(l, "counter.onboard.submit")),
    ));
    counter_document(
        ctx,
        Some(clerk),
        tr(l, "counter.onboard.title"),
        &main,
        Scripts::None,
    )
}

/// An error at the counter: the status and a translated message (`counter.*` or `portal.error.*`),
/// with the way back to the counter.
pub fn counter_error_page(
    ctx: &PageContext,
    clerk: Option<&ClerkBadge>,
    status: u16,
    message_key: &str,
) -> String {
    let (message, main) =
        crate::web::layout::error_card(ctx.locale, status, message_key, "/counter", "counter.back");
    counter_document(ctx, clerk, message, &main, Scripts::None)
}

#[cfg(test)]
pub(in crate::web) mod tests {
    use civkey_i18n::Locale;

    use super::*;
    use crate::web::views::CounterCitizenRow;

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
                    error: Some((
                        "counter.login.error.rate_limited".to_string(),
                        vec![("seconds".to_string(), "30".to_string())],
                    )),
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
                    error: Some((
                        "counter.onboard.error.rate_limited".to_string(),
                        vec![("seconds".to_string(), "30".to_string())],
                    )),
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
            error: Some(("counter.onboard.error.code_unknown".to_string(), vec![])),
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
