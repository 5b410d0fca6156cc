//! Pairing a phone to an identity: the pairing URI, the confirmation code, and the API bodies.
//!
//! The portal shows `civkey://pair?v=1&s=ORIGIN&id=SESSION&k=SECRET` as a QR code. The app makes a
//! key pair, claims the session with its public key and a proof of possession — its commitment —
//! and only then does the server draw its own randomness ([`ServerNonce`]) and answer with it. Both
//! the app and the browser show the same [`ConfirmationCode`] derived from the session, the secret,
//! the device's public key and the server's nonce. A relayed QR code pairs a different key and so
//! shows a different code; and since the nonce is drawn after the key is fixed, no choice of key
//! steers the code (from the key alone, about 10⁶ key generations would match any code).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

use crate::device::{DeviceKind, DeviceModel, DeviceName};
use crate::encoding::escape;
use crate::ids::{ClaimToken, DeviceId, PairingSecret, ServerNonce, SessionId};
use crate::sign::{tags, DevicePublicKey, Signature, Transcript};
use crate::uri::CivkeyParams;
use crate::{Error, Origin, UnixSeconds, PROTOCOL_VERSION};

/// How long a pairing session lives (4 minutes).
pub const PAIRING_TTL_SECS: u64 = 240;

/// The longest an outcome long poll is held open by the server before it answers `pending`.
pub const OUTCOME_POLL_MAX_SECS: u64 = 25;

/// `civkey://pair?v=1&s=…&id=…&k=…`: what the pairing QR code carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairingUri {
    /// The civkey server to pair with.
    pub origin: Origin,
    /// The pairing session.
    pub session_id: SessionId,
    /// The session's secret.
    pub secret: PairingSecret,
}

impl PairingUri {
    /// Reads a pairing URI strictly: `v=1`, every parameter present once, nothing else.
    pub fn parse(input: &str) -> Result<Self, Error> {
        let params = CivkeyParams::read(input, "pair", &["s", "id", "k"])?;
        Ok(PairingUri {
            origin: params.origin()?,
            session_id: SessionId::parse(params.require("id")?).map_err(|_| {
                Error::InvalidParam {
                    param: "id",
                    reason: "not a session id",
                }
            })?,
            secret: PairingSecret::parse(params.require("k")?).map_err(|_| {
                Error::InvalidParam {
                    param: "k",
                    reason: "not a pairing secret",
                }
            })?,
        })
    }

    /// Writes the URI in its one canonical form. It contains the secret: keep it out of logs.
    pub fn to_uri(&self) -> String {
        format!(
            "civkey://pair?v={PROTOCOL_VERSION}&s={}&id={}&k={}",
            escape(self.origin.as_str()),
            self.session_id,
            self.secret.expose_text()
        )
    }

    /// The confirmation code this session gives with `public_key` and the server's nonce.
    pub fn confirmation_code(
        &self,
        public_key: &DevicePublicKey,
        server_nonce: &ServerNonce,
    ) -> ConfirmationCode {
        ConfirmationCode::derive(&self.session_id, &self.secret, public_key, server_nonce)
    }
}

/// The 6-digit code both the browser and the app show, written `123 456`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConfirmationCode(u32);

impl ConfirmationCode {
    /// Derives the code: the first 8 bytes of
    /// SHA-256(transcript(tag, session id, secret, public key, server nonce)), big-endian, modulo
    /// 1 000 000. The server draws `server_nonce` after the device committed to `public_key`, so
    /// the device cannot choose a key that gives a code of its liking.
    pub fn derive(
        session_id: &SessionId,
        secret: &PairingSecret,
        public_key: &DevicePublicKey,
        server_nonce: &ServerNonce,
    ) -> Self {
        let input = Transcript::new(tags::CONFIRMATION_CODE)
            .field(session_id.as_bytes())
            .field(secret.expose())
            .field(public_key.as_sec1())
            .field(server_nonce.as_bytes())
            .finish();
        let digest = Sha256::digest(input);
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        // 2^64 is 18 446 744 073 709 times 10^6, so the modulo bias is below 10^-13.
        ConfirmationCode((u64::from_be_bytes(first) % 1_000_000) as u32)
    }

    /// Reads `123456` or `123 456`.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let invalid = Error::Invalid {
            what: "confirmation code",
            reason: "must be 6 digits",
        };
        if text.len() > 16 {
            return Err(invalid);
        }
        let digits: String = text.chars().filter(|c| *c != ' ').collect();
        if digits.len() != 6 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid);
        }
        digits.parse().map(ConfirmationCode).map_err(|_| invalid)
    }

    /// The six digits without a space: `123456`.
    pub fn digits(&self) -> String {
        format!("{:06}", self.0)
    }
}

impl fmt::Display for ConfirmationCode {
    /// `123 456`: grouped as people read it aloud.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.digits();
        write!(f, "{} {}", &d[..3], &d[3..])
    }
}

impl Serialize for ConfirmationCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.digits())
    }
}

impl<'de> Deserialize<'de> for ConfirmationCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        ConfirmationCode::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// `POST /api/v1/pairing/{session_id}/claim`: the app claims the session with its new key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PairClaimRequest {
    /// The secret from the QR code.
    pub secret: PairingSecret,
    /// The device's new public key.
    pub public_key: DevicePublicKey,
    /// The name the app proposes ("Pixel 8").
    pub device_name: DeviceName,
    /// The device model.
    pub device_model: DeviceModel,
    /// The kind of device.
    pub device_kind: DeviceKind,
    /// Signature over [`crate::sign::PairingProof::signed_bytes`] with the new key.
    pub proof: Signature,
}

/// The answer to a winning claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairClaimResponse {
    /// The code the app shows; the browser shows the same one. The app derives it itself from
    /// the QR code, its own key and [`PairClaimResponse::server_nonce`], and refuses another.
    pub confirmation_code: ConfirmationCode,
    /// The server's randomness, drawn when it accepted this claim (after the key was sent).
    pub server_nonce: ServerNonce,
    /// Proves, when asking for the outcome, that this app is the one that claimed.
    pub claim_token: ClaimToken,
    /// When the session expires.
    pub expires_at: UnixSeconds,
}

/// `POST /api/v1/pairing/{session_id}/outcome`: wait for the browser's decision (long poll).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PairOutcomeRequest {
    /// From [`PairClaimResponse`].
    pub claim_token: ClaimToken,
}

/// Where a pairing session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PairStatus {
    /// The QR code is shown; no app has claimed it yet.
    Waiting,
    /// An app claimed it; the browser has not decided yet.
    Claimed,
    /// The citizen confirmed the code: the device is paired.
    Confirmed,
    /// The citizen said the browser showed a different code.
    Refused,
    /// Four minutes passed.
    Expired,
}

impl PairStatus {
    /// Whether the session can no longer change.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            PairStatus::Confirmed | PairStatus::Refused | PairStatus::Expired
        )
    }
}

/// The answer to [`PairOutcomeRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairOutcome {
    /// The status (`claimed` while the browser has not decided).
    pub status: PairStatus,
    /// The new device's id, once confirmed.
    pub device_id: Option<DeviceId>,
    /// The citizen's display name, once confirmed, so the app can label the identity.
    pub account_name: Option<String>,
    /// When the session expires.
    pub expires_at: UnixSeconds,
}

/// What the portal's "Connect mobile key" page learns live (server-sent events, `data:` as JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum PairingPageEvent {
    /// Still waiting for a scan.
    Waiting,
    /// Scanned: show this code and the two buttons.
    Claimed {
        /// The code to compare.
        confirmation_code: ConfirmationCode,
        /// The device's proposed name.
        device_name: String,
    },
    /// Paired.
    Confirmed,
    /// Refused.
    Refused,
    /// Expired.
    Expired,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> PairingUri {
        PairingUri {
            origin: Origin::parse("https://id.example.gov").unwrap(),
            session_id: SessionId::from_bytes([1; 16]),
            secret: PairingSecret::from_bytes([2; 16]),
        }
    }

    #[test]
    fn pairing_uri_round_trips() {
        let uri = sample();
        assert_eq!(PairingUri::parse(&uri.to_uri()).unwrap(), uri);
    }

    #[test]
    fn pairing_uri_errors_say_what_is_wrong() {
        let good = sample().to_uri();
        let cases: Vec<(String, Error)> = vec![
            (
                good.replace("v=1", "v=2"),
                Error::UnsupportedVersion("2".into()),
            ),
            (good.replace("v=1&", ""), Error::MissingParam("v")),
            (good.replace("&k=", "&x="), Error::UnknownParam("x".into())),
            (
                format!("{good}&id=AQEBAQEBAQEBAQEBAQEBAQ"),
                Error::DuplicateParam("id".into()),
            ),
            (
                good.replace("civkey://pair", "civkey://pear"),
                Error::UnknownKind("pear".into()),
            ),
            (
                format!("{good}#x"),
                Error::Malformed("a civkey link has no fragment (#…)"),
            ),
            (
                good[..good.len() - 3].to_string(),
                Error::InvalidParam {
                    param: "k",
                    reason: "not a pairing secret",
                },
            ),
            (
                good.replace(
                    "https%3A%2F%2Fid.example.gov",
                    "http%3A%2F%2Fid.example.gov",
                ),
                Error::InvalidOrigin(
                    "plain http is allowed only for localhost; the server must use https",
                ),
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(PairingUri::parse(&input), Err(expected), "{input}");
        }
        assert!(matches!(
            PairingUri::parse(&"x".repeat(5000)),
            Err(Error::TooLong { .. })
        ));
    }

    #[test]
    fn confirmation_code_is_grouped_and_parses_both_ways() {
        let code = ConfirmationCode(42);
        assert_eq!(code.to_string(), "000 042");
        assert_eq!(code.digits(), "000042");
        assert_eq!(ConfirmationCode::parse("000 042").unwrap(), code);
        assert_eq!(ConfirmationCode::parse("000042").unwrap(), code);
        for bad in ["", "12345", "1234567", "12a456", "-12345"] {
            assert!(ConfirmationCode::parse(bad).is_err(), "{bad}");
        }
    }

    fn key(b: u8) -> DevicePublicKey {
        let sk = p256::ecdsa::SigningKey::from_slice(&[b; 32]).unwrap();
        DevicePublicKey::from(&p256::PublicKey::from(sk.verifying_key()))
    }

    #[test]
    fn a_relayed_qr_code_gives_a_different_code() {
        let uri = sample();
        let nonce = ServerNonce::from_bytes([3; 16]);
        let victim = uri.confirmation_code(&key(0x11), &nonce);
        let attacker = uri.confirmation_code(&key(0x22), &nonce);
        assert_ne!(victim, attacker);
    }

    #[test]
    fn the_servers_nonce_decides_the_code_a_key_gives() {
        // A key fixed in advance gives, over the server's nonces, codes spread over the digits:
        // what a key commits to says nothing about the code it will get.
        let uri = sample();
        let public = key(0x11);
        let codes: std::collections::HashSet<ConfirmationCode> = (0u8..64)
            .map(|n| uri.confirmation_code(&public, &ServerNonce::from_bytes([n; 16])))
            .collect();
        assert!(
            codes.len() >= 60,
            "only {} codes from 64 nonces",
            codes.len()
        );
        let last_digits: std::collections::HashSet<char> =
            codes.iter().filter_map(|c| c.digits().pop()).collect();
        assert!(last_digits.len() >= 8, "{last_digits:?}");
    }

    #[test]
    fn claim_request_refuses_unknown_fields() {
        let json = r#"{"secret":"AgICAgICAgICAgICAgICAg","extra":true}"#;
        let err = serde_json::from_str::<PairClaimRequest>(json)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("unknown field") || err.contains("missing field"),
            "{err}"
        );
    }
}
