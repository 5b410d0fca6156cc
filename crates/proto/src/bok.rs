//! The BOK-pad: an office asks the citizen to type their security personal code (BOK) on their own
//! phone; the answer travels signed by the device key, never in a URL.

use serde::{Deserialize, Serialize};

use crate::ids::{BokRequestId, Challenge};
use crate::rules::Bok;
use crate::sign::Signature;
use crate::{Error, UnixSeconds};

/// How long a BOK request stays open by default (seconds); the operator may configure it.
pub const BOK_REQUEST_TTL_SECS: u64 = 120;

/// How many consecutive wrong answers block the BOK by default; the operator may configure it.
pub const BOK_MAX_WRONG_ANSWERS: u32 = 5;

/// A BOK request as the app receives it (in the event stream, or from `GET /api/v1/bok/pending`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BokRequest {
    /// The request.
    pub id: BokRequestId,
    /// The office asking, shown on the pad ("Czech POINT, Praha 1").
    pub office_name: String,
    /// Signed into the answer.
    pub challenge: Challenge,
    /// When the clerk started it.
    pub created_at: UnixSeconds,
    /// When it expires.
    pub expires_at: UnixSeconds,
}

/// `POST /api/v1/bok/{request_id}/answer` (a device call): the BOK the citizen typed, signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BokAnswerRequest {
    /// The code the citizen typed.
    pub bok: Bok,
    /// When the device signed.
    pub time: UnixSeconds,
    /// Signature over [`crate::sign::BokAnswer::signed_bytes`].
    pub signature: Signature,
}

impl BokAnswerRequest {
    /// Why a body that did not parse as a [`BokAnswerRequest`] was refused, when the reason is its
    /// `bok`: present, but not a string of 4–10 digits. The server answers that with
    /// `bok_invalid_format` instead of the general `bad_request`. The reason never holds the
    /// digits.
    pub fn invalid_bok(body: &[u8]) -> Option<Error> {
        let value: serde_json::Value = serde_json::from_slice(body).ok()?;
        match value.get("bok")? {
            serde_json::Value::String(text) => {
                let text = zeroize::Zeroizing::new(text.clone());
                Bok::parse(&text).err()
            }
            _ => Some(Error::Invalid {
                what: "BOK",
                reason: "must be a string of digits",
            }),
        }
    }
}

/// The outcome of a BOK answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BokOutcome {
    /// The code was right.
    Verified,
    /// The code was wrong.
    NotVerified,
    /// The code was wrong and the BOK is now blocked until an office unblocks it.
    Blocked,
}

/// The answer to a [`BokAnswerRequest`]; the counter page sees the same outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BokAnswerResponse {
    /// Verified or not.
    pub outcome: BokOutcome,
    /// Wrong answers left before the BOK is blocked.
    pub attempts_left: u32,
}

/// What the office's counter page learns live about a BOK verification it started (server-sent
/// events, `data:` as JSON): `{"status":"waiting"}`, then one final status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum BokCounterEvent {
    /// No device has answered yet.
    Waiting,
    /// The citizen typed the right BOK.
    Verified,
    /// The citizen typed a wrong BOK.
    NotVerified {
        /// Wrong answers left before the BOK is blocked.
        attempts_left: u32,
    },
    /// Nobody answered in time.
    Expired,
    /// The BOK is blocked (by this answer, or by another one meanwhile); an office must unblock it.
    Blocked,
}

impl BokCounterEvent {
    /// True for every status but [`BokCounterEvent::Waiting`]: nothing changes after it.
    pub fn is_final(self) -> bool {
        !matches!(self, BokCounterEvent::Waiting)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_events_have_the_documented_shape() {
        let cases = [
            (BokCounterEvent::Waiting, r#"{"status":"waiting"}"#),
            (BokCounterEvent::Verified, r#"{"status":"verified"}"#),
            (
                BokCounterEvent::NotVerified { attempts_left: 3 },
                r#"{"status":"not_verified","attempts_left":3}"#,
            ),
            (BokCounterEvent::Expired, r#"{"status":"expired"}"#),
            (BokCounterEvent::Blocked, r#"{"status":"blocked"}"#),
        ];
        for (event, json) in cases {
            assert_eq!(serde_json::to_string(&event).unwrap(), json);
            assert_eq!(
                serde_json::from_str::<BokCounterEvent>(json).unwrap(),
                event
            );
            assert_eq!(event.is_final(), event != BokCounterEvent::Waiting);
        }
    }

    #[test]
    fn a_bok_that_breaks_the_rules_is_told_apart_from_other_bad_bodies() {
        for bad in [
            r#"{"bok":"12a4","time":1,"signature":"x"}"#,
            r#"{"bok":"123","time":1,"signature":"x"}"#,
            r#"{"bok":"12345678901","time":1,"signature":"x"}"#,
            r#"{"bok":1234,"time":1,"signature":"x"}"#,
        ] {
            let reason = BokAnswerRequest::invalid_bok(bad.as_bytes()).unwrap();
            assert!(
                matches!(reason, Error::Invalid { what: "BOK", .. }),
                "{bad}"
            );
            assert!(!reason.to_string().contains("12"), "{reason}");
        }
        for other in [
            r#"{"bok":"1234","time":"soon","signature":"x"}"#,
            r#"{"time":1}"#,
            "not json",
        ] {
            assert_eq!(
                BokAnswerRequest::invalid_bok(other.as_bytes()),
                None,
                "{other}"
            );
        }
    }
}
