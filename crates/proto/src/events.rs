//! The event stream the app holds open (`GET /api/v1/events`, server-sent events), and the same
//! events as POSTed to a device's push endpoint.
//!
//! Each server-sent event has `id:` (the event id, for resuming with `Last-Event-ID`), `event:` (the
//! [`EventKind`]'s `type`) and `data:` (the [`Event`] as JSON).

use serde::{Deserialize, Serialize};

use crate::bok::BokRequest;
use crate::ids::DeviceId;
use crate::UnixSeconds;

/// One event for a device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Increasing per citizen; the app resumes after the last id it saw.
    pub id: u64,
    /// When it happened.
    pub at: UnixSeconds,
    /// What happened.
    #[serde(flatten)]
    pub kind: EventKind,
}

/// How a citizen logged in, for login notifications and history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "means", rename_all = "snake_case")]
pub enum LoginMeans {
    /// With a mobile key.
    MobileKey {
        /// The device's name.
        device_name: String,
    },
    /// With password and TOTP code.
    PasswordTotp,
    /// With an e-mail code.
    EmailCode,
}

/// What an [`Event`] says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    /// The citizen logged in somewhere.
    LoginNotification {
        /// The service logged in to (or the portal).
        service_name: String,
        /// How.
        #[serde(flatten)]
        means: LoginMeans,
    },
    /// An office asks this device to act as a BOK-pad.
    BokRequest {
        /// The request.
        request: BokRequest,
    },
    /// An informative notification from the identity point.
    Informative {
        /// Its title.
        title: String,
        /// Its text.
        body: String,
    },
    /// A device of this citizen was disconnected (this one, when `device_id` is the receiver's own).
    DeviceDisconnected {
        /// The device.
        device_id: DeviceId,
    },
}

impl EventKind {
    /// The server-sent event name (`event:` line), equal to the JSON `type`.
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::LoginNotification { .. } => "login_notification",
            EventKind::BokRequest { .. } => "bok_request",
            EventKind::Informative { .. } => "informative",
            EventKind::DeviceDisconnected { .. } => "device_disconnected",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_tagged_by_type_and_name_matches() {
        let event = Event {
            id: 7,
            at: 1_700_000_000,
            kind: EventKind::LoginNotification {
                service_name: "Portál občana".into(),
                means: LoginMeans::MobileKey {
                    device_name: "Pixel".into(),
                },
            },
        };
        let json = serde_json::to_string(&event).unwrap();
        assert_eq!(
            json,
            r#"{"id":7,"at":1700000000,"type":"login_notification","service_name":"Portál občana","means":"mobile_key","device_name":"Pixel"}"#
        );
        assert_eq!(serde_json::from_str::<Event>(&json).unwrap(), event);
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value["type"], event.kind.name());
    }
}
