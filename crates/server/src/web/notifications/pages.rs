//! `GET /portal/notifications`: one form with the citizen's notification settings — informative
//! notifications for the e-mail address and phone number (when the account has them, masked), and
//! informative, login and BOK-pad switches for each connected mobile key — and one Save button.
//! Nothing changes until it is pressed.

use civkey_i18n::{tr, tr_args};

use crate::escape_html as esc;
use crate::web::layout::{document, hidden, message_box, Scripts};
use crate::web::views::PageContext;

/// A contact row: its masked address and whether informative notifications are on.
#[derive(Debug, Clone)]
pub struct ContactRow {
    /// `email` or `phone` (the form field is `{channel}_informative`).
    pub channel: &'static str,
    /// The masked address.
    pub address: String,
    /// Informative notifications on.
    pub informative: bool,
}

/// A mobile key's row.
#[derive(Debug, Clone)]
pub struct DeviceSwitches {
    /// The device id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Informative notifications on.
    pub informative: bool,
    /// Login notifications on.
    pub login: bool,
    /// BOK-pad on.
    pub bok_pad: bool,
}

/// What the notifications page shows.
#[derive(Debug, Clone)]
pub struct NotificationsView {
    /// E-mail and phone, as far as the account has them.
    pub contacts: Vec<ContactRow>,
    /// Each connected mobile key.
    pub devices: Vec<DeviceSwitches>,
    /// A notice key ("saved").
    pub notice: Option<String>,
    /// An error key.
    pub error: Option<String>,
}

fn checkbox(name: &str, checked: bool, label: &str) -> String {
    format!(
        "<label class=\"switch\"><input type=\"checkbox\" name=\"{name}\" value=\"on\"{checked}> \
         {label}</label>\n",
        name = esc(name),
        checked = if checked { " checked" } else { "" },
        label = esc(label),
    )
}

/// The page.
pub fn notifications_page(ctx: &PageContext, view: &NotificationsView) -> String {
    let l = ctx.locale;
    let mut main = format!(
        "<h1>{}</h1>\n<p class=\"lead\">{}</p>\n",
        esc(tr(l, "portal.notifications.title")),
        esc(tr(l, "portal.notifications.intro")),
    );
    if let Some(key) = &view.notice {
        main.push_str(&message_box(l, key, &[], false));
    }
    if let Some(key) = &view.error {
        main.push_str(&message_box(l, key, &[], true));
    }
    main.push_str(
        "<form method=\"post\" action=\"/portal/notifications\" class=\"notifications\">\n",
    );
    main.push_str(&hidden("csrf", ctx.csrf.as_deref().unwrap_or("")));
    if !view.contacts.is_empty() {
        main.push_str(&format!(
            "<fieldset class=\"card\">\n<legend>{}</legend>\n",
            esc(tr(l, "portal.notifications.contacts"))
        ));
        for c in &view.contacts {
            let title = tr_args(
                l,
                &format!("portal.notifications.{}", c.channel),
                &[("address", &c.address)],
            );
            main.push_str(&format!("<p class=\"contact\">{}</p>\n", esc(&title)));
            main.push_str(&checkbox(
                &format!("{}_informative", c.channel),
                c.informative,
                tr(l, "portal.notifications.informative"),
            ));
        }
        main.push_str("</fieldset>\n");
    }
    main.push_str(&format!(
        "<h2>{}</h2>\n",
        esc(tr(l, "portal.notifications.keys"))
    ));
    if view.devices.is_empty() {
        main.push_str(&format!(
            "<p class=\"empty\">{}</p>\n",
            esc(tr(l, "portal.notifications.no_keys"))
        ));
    }
    for d in &view.devices {
        main.push_str(&format!(
            "<fieldset class=\"card device\">\n<legend>{}</legend>\n",
            esc(&d.name)
        ));
        main.push_str(&hidden("device", &d.id));
        main.push_str(&checkbox(
            &format!("informative:{}", d.id),
            d.informative,
            tr(l, "portal.notifications.informative"),
        ));
        main.push_str(&checkbox(
            &format!("login:{}", d.id),
            d.login,
            tr(l, "portal.notifications.login"),
        ));
        main.push_str(&checkbox(
            &format!("bok_pad:{}", d.id),
            d.bok_pad,
            tr(l, "portal.notifications.bok_pad"),
        ));
        main.push_str("</fieldset>\n");
    }
    main.push_str(&format!(
        "<p><button type=\"submit\" class=\"button primary\">{}</button></p>\n</form>\n",
        esc(tr(l, "portal.notifications.save"))
    ));
    document(
        ctx,
        tr(l, "portal.notifications.title"),
        "page-notifications",
        &main,
        Scripts::None,
    )
}

#[cfg(test)]
mod tests {
    use civkey_i18n::Locale;

    use super::*;

    fn ctx(locale: Locale) -> PageContext {
        PageContext {
            locale,
            path: "/portal/notifications".into(),
            csrf: Some("tok".into()),
            citizen_name: Some("Jana".into()),
        }
    }

    fn view() -> NotificationsView {
        NotificationsView {
            contacts: vec![ContactRow {
                channel: "email",
                address: "j***@example.cz".into(),
                informative: false,
            }],
            devices: vec![DeviceSwitches {
                id: "AAAA".into(),
                name: "<b>Jana's phone</b>".into(),
                informative: true,
                login: false,
                bok_pad: true,
            }],
            notice: None,
            error: None,
        }
    }

    #[test]
    fn the_form_shows_each_switch_as_saved_with_one_save_button_in_each_language() {
        let html = notifications_page(&ctx(Locale::En), &view());
        assert!(html.contains("action=\"/portal/notifications\""));
        assert!(html.contains("name=\"csrf\" value=\"tok\""));
        assert!(html.contains("E-mail j***@example.cz"));
        assert!(
            html.contains("name=\"email_informative\" value=\"on\">"),
            "off"
        );
        assert!(html.contains("name=\"informative:AAAA\" value=\"on\" checked>"));
        assert!(html.contains("name=\"login:AAAA\" value=\"on\">"), "off");
        assert!(html.contains("name=\"bok_pad:AAAA\" value=\"on\" checked>"));
        assert!(html.contains("name=\"device\" value=\"AAAA\""));
        assert!(
            html.contains("&lt;b&gt;Jana&#39;s phone&lt;/b&gt;"),
            "escaped"
        );
        assert_eq!(
            html.matches("type=\"submit\"").count(),
            2,
            "Save and Log out"
        );
        assert!(!html.contains("Phone (SMS)"), "no phone on the account");
        for (locale, save) in [(Locale::Cs, "Uložit"), (Locale::Hu, "Mentés")] {
            assert!(notifications_page(&ctx(locale), &view()).contains(save));
        }
        let empty = NotificationsView {
            devices: vec![],
            ..view()
        };
        assert!(notifications_page(&ctx(Locale::En), &empty)
            .contains("No mobile key is connected yet."));
    }
}
