//! The event stream the app holds open (`GET /api/v1/events`, server-sent events), and the same
//! events as POSTed to a device's push endpoint.
//!
//! Each server-sent event has `id:` (the event id, for resuming with `Last-Event-ID`), `event:` (the
//! [`EventKind`]'s `type`) and `data:` (the [`Event`] as JSON).
//!
//! A push carries the [`Event`] encrypted to the device's WebPush keys, or, to a device that
//! registered none, only a [`PushWakeUp`]: the push provider can read that, so it says nothing
//! but which event to fetch over the stream.

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

/// The clear-text push to a device that registered no WebPush keys: only the id of the event
/// that is waiting, never what it says. The device reads the event over its own signed stream,
/// resuming after `id - 1`. JSON: `{"id":42}`.
///
/// It also reads from a stored [`Event`]'s JSON, which has the same `id` (other fields are
/// ignored).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushWakeUp {
    /// The waiting event's id.
    pub id: u64,
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
    /// An informative notification from the identity point. `title` and `body` are worded by the
    /// server in the citizen's language (what e-mail and SMS send, and what a client shows when it
    /// does not know the `topic`); `topic` and its arguments let a client word it in its own.
    Informative {
        /// What it is about (`other` in events stored before topics, and for a topic this build
        /// does not know).
        #[serde(default)]
        topic: InformativeTopic,
        /// `key_connected`, `key_disconnected`: the mobile key's name. Absent otherwise.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        device_name: Option<String>,
        /// `bok_unblocked`: the office that lifted the block. Absent otherwise.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        office_name: Option<String>,
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

/// What an informative notification is about (`topic` on the wire, snake_case), so that a client
/// can word it in its own language; its arguments are the event's `device_name` and `office_name`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InformativeTopic {
    /// A mobile key was connected to the account (`device_name`).
    KeyConnected,
    /// A mobile key was disconnected from the account (`device_name`).
    KeyDisconnected,
    /// Too many wrong BOK answers blocked the BOK.
    BokBlocked,
    /// An office lifted the BOK's block (`office_name`).
    BokUnblocked,
    /// Anything else (a notice an operator sends): only `title` and `body` say what. A topic
    /// this build does not know (a newer server's) reads as this too.
    #[default]
    #[serde(other)]
    Other,
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

    #[test]
    fn informative_events_carry_a_topic_with_its_arguments_and_the_rendered_text() {
        let event = Event {
            id: 8,
            at: 1_700_000_000,
            kind: EventKind::Informative {
                topic: InformativeTopic::KeyConnected,
                device_name: Some("Pixel 8".into()),
                office_name: None,
                title: "Připojen nový mobilní klíč".into(),
                body: "K vašemu účtu byl připojen mobilní klíč „Pixel 8“.".into(),
            },
        };
        let json = serde_json::to_string(&event).unwrap();
        assert_eq!(
            json,
            r#"{"id":8,"at":1700000000,"type":"informative","topic":"key_connected","device_name":"Pixel 8","title":"Připojen nový mobilní klíč","body":"K vašemu účtu byl připojen mobilní klíč „Pixel 8“."}"#
        );
        assert_eq!(serde_json::from_str::<Event>(&json).unwrap(), event);
        let unblocked = EventKind::Informative {
            topic: InformativeTopic::BokUnblocked,
            device_name: None,
            office_name: Some("Czech POINT, Praha 1".into()),
            title: "BOK odblokován".into(),
            body: "…".into(),
        };
        assert_eq!(
            serde_json::to_string(&unblocked).unwrap(),
            r#"{"type":"informative","topic":"bok_unblocked","office_name":"Czech POINT, Praha 1","title":"BOK odblokován","body":"…"}"#
        );
        for (topic, text) in [
            (InformativeTopic::KeyDisconnected, "key_disconnected"),
            (InformativeTopic::BokBlocked, "bok_blocked"),
            (InformativeTopic::Other, "other"),
        ] {
            assert_eq!(serde_json::to_value(topic).unwrap(), text);
        }
    }

    #[test]
    fn informative_events_stored_before_topics_still_read_as_other() {
        let stored =
            r#"{"type":"informative","title":"BOK zablokován","body":"Po opakovaném zadání…"}"#;
        assert_eq!(
            serde_json::from_str::<EventKind>(stored).unwrap(),
            EventKind::Informative {
                topic: InformativeTopic::Other,
                device_name: None,
                office_name: None,
                title: "BOK zablokován".into(),
                body: "Po opakovaném zadání…".into(),
            }
        );
    }

    #[test]
    fn a_topic_this_build_does_not_know_reads_as_other_with_its_text() {
        let newer = r#"{"id":9,"at":1,"type":"informative","topic":"password_changed","when":"now","title":"T","body":"B"}"#;
        let event: Event = serde_json::from_str(newer).unwrap();
        assert!(matches!(
            event.kind,
            EventKind::Informative { topic: InformativeTopic::Other, ref title, .. } if title == "T"
        ));
    }

    #[test]
    fn a_wake_up_says_only_which_event_waits() {
        let event = Event {
            id: 42,
            at: 1_700_000_000,
            kind: EventKind::LoginNotification {
                service_name: "Portál občana".into(),
                means: LoginMeans::EmailCode,
            },
        };
        let from_event: PushWakeUp =
            serde_json::from_str(&serde_json::to_string(&event).unwrap()).unwrap();
        assert_eq!(from_event, PushWakeUp { id: 42 });
        assert_eq!(serde_json::to_string(&from_event).unwrap(), r#"{"id":42}"#);
    }
}
