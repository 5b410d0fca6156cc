//! The BOK-pad: an office asks the citizen to type their security personal code (BOK) on their own
//! phone; the answer travels signed by the device key, never in a URL.

use serde::{Deserialize, Serialize};

use crate::ids::{BokRequestId, Challenge};
use crate::rules::Bok;
use crate::sign::Signature;
use crate::UnixSeconds;

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
