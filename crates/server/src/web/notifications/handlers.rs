//! `GET` / `POST /portal/notifications`: the notification settings form. The POST is checked
//! against the session's anti-forgery token and replaces the settings as a whole.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Router};
use civkey_proto::ids::DeviceId;
use civkey_proto::notify::{
    ContactChannel, ContactSettings, DeviceNotificationSettings, NotificationSettings,
};

use super::pages::{self, ContactRow, DeviceSwitches, NotificationsView};
use crate::services::ServiceError;
use crate::web::session::{
    internal, known_key, require_step_up, Citizen, NoticeQuery, PageError, Visitor,
};
use crate::AppState;

/// The notification settings' route.
pub(in crate::web) fn routes() -> Router<AppState> {
    Router::new().route("/portal/notifications", get(page).post(save))
}

async fn page(
    State(state): State<AppState>,
    caller: Citizen,
    Query(query): Query<NoticeQuery>,
) -> Result<Response, PageError> {
    let citizen = caller.record(&state).await?;
    let visitor = caller.visitor;
    let services = state.services();
    let settings = services
        .notification_settings(&citizen.id)
        .await
        .map_err(|e| visitor.failed(e))?;
    let devices = services
        .active_devices(&citizen.id)
        .await
        .map_err(|e| visitor.failed(e))?;
    let view = NotificationsView {
        contacts: settings
            .contacts
            .iter()
            .map(|c| ContactRow {
                channel: match c.channel {
                    ContactChannel::Email => "email",
                    ContactChannel::Phone => "phone",
                },
                address: c.address.clone(),
                informative: c.informative,
            })
            .collect(),
        devices: devices
            .into_iter()
            .map(|d| DeviceSwitches {
                id: d.id.to_text(),
                name: d.name,
                informative: d.notify_informative,
                login: d.notify_login,
                bok_pad: d.bok_pad,
            })
            .collect(),
        notice: known_key(query.notice, &["portal.notifications.saved"]),
        error: known_key(query.error, &["portal.notifications.error.changed"]),
    };
    let page = pages::notifications_page(&visitor.context(Some(citizen.full_name)), &view);
    Ok(visitor.page(StatusCode::OK, page))
}

/// Reads the form: a checkbox is on when its field is present. The `device` fields list the keys
/// the page showed, so a key connected or disconnected since is noticed instead of guessed.
async fn save(
    State(state): State<AppState>,
    visitor: Visitor,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let field = |name: &str| fields.iter().any(|(k, _)| k == name);
    let csrf = fields
        .iter()
        .find(|(k, _)| k == "csrf")
        .map(|(_, v)| v.as_str())
        .unwrap_or_default();
    let session = match visitor.check_csrf(csrf) {
        Ok(s) => s.clone(),
        Err(r) => return r.into_response(),
    };
    // Switching off the login notifications is what an intruder would do first.
    if let Err(r) = require_step_up(&state, &visitor, &session, "/portal/notifications").await {
        return r.into_response();
    }
    let changed = || Redirect::to("/portal/notifications?error=portal.notifications.error.changed");
    let services = state.services();
    let current = match services.notification_settings(&session.citizen_id).await {
        Ok(s) => s,
        Err(e) => return internal(&visitor, e),
    };
    let contacts = current
        .contacts
        .iter()
        .map(|c| ContactSettings {
            informative: field(match c.channel {
                ContactChannel::Email => "email_informative",
                ContactChannel::Phone => "phone_informative",
            }),
            ..c.clone()
        })
        .collect();
    let mut devices = Vec::new();
    for (_, id) in fields.iter().filter(|(k, _)| k == "device") {
        let Ok(device_id) = DeviceId::parse(id) else {
            return changed().into_response();
        };
        devices.push(DeviceNotificationSettings {
            device_id,
            informative: field(&format!("informative:{id}")),
            login: field(&format!("login:{id}")),
            bok_pad: field(&format!("bok_pad:{id}")),
        });
    }
    let settings = NotificationSettings { contacts, devices };
    match services
        .save_notification_settings(&session.citizen_id, &settings, Some(visitor.locale))
        .await
    {
        Ok(()) => {
            Redirect::to("/portal/notifications?notice=portal.notifications.saved").into_response()
        }
        Err(ServiceError::Refused { .. }) => changed().into_response(),
        Err(e) => internal(&visitor, e),
    }
}
