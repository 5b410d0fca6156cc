//! `GET /portal/notifications`: one form with the citizen's notification settings — informative
//! notifications for the e-mail address and phone number (when the account has them, masked), and
//! informative, login and BOK-pad switches for each connected mobile key — and one Save button.
//! Nothing changes until it is pressed.

use askama::Template;
use civkey_i18n::{tr, tr_args};

use crate::web::layout::{notice_and_error, render, MessageBox, Page, Scripts};
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

/// One switch of the form, as `notifications/checkbox.html` shows it.
struct Switch {
    /// The form field (`email_informative`, `login:{device id}`).
    name: String,
    checked: bool,
    label_key: &'static str,
}

impl Switch {
    fn new(name: String, checked: bool, label_key: &'static str) -> Self {
        Switch {
            name,
            checked,
            label_key,
        }
    }
}

#[derive(Template)]
#[template(path = "notifications/notifications.html")]
struct NotificationsPage<'a> {
    page: Page<'a>,
    messages: Vec<MessageBox>,
    /// Each contact's line ("E-mail j***@example.cz") and its switch.
    contacts: Vec<(String, Switch)>,
    /// Each mobile key with its three switches.
    devices: Vec<(&'a DeviceSwitches, [Switch; 3])>,
}

/// The page.
pub fn notifications_page(ctx: &PageContext, view: &NotificationsView) -> String {
    let l = ctx.locale;
    let informative = "portal.notifications.informative";
    let contacts = view
        .contacts
        .iter()
        .map(|c| {
            let title = tr_args(
                l,
                &format!("portal.notifications.{}", c.channel),
                &[("address", &c.address)],
            );
            let name = format!("{}_informative", c.channel);
            (title, Switch::new(name, c.informative, informative))
        })
        .collect();
    let devices = view
        .devices
        .iter()
        .map(|d| {
            let switches = [
                Switch::new(format!("informative:{}", d.id), d.informative, informative),
                Switch::new(
                    format!("login:{}", d.id),
                    d.login,
                    "portal.notifications.login",
                ),
                Switch::new(
                    format!("bok_pad:{}", d.id),
                    d.bok_pad,
                    "portal.notifications.bok_pad",
                ),
            ];
            (d, switches)
        })
        .collect();
    render(&NotificationsPage {
        page: Page::portal(
            ctx,
            tr(l, "portal.notifications.title"),
            "page-notifications",
            Scripts::None,
        ),
        messages: notice_and_error(l, view.notice.as_deref(), view.error.as_deref()),
        contacts,
        devices,
    })
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
