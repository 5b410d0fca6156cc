//! In-person onboarding (the Czech POINT path): a citizen with no account yet gets one at an
//! office counter, and the app becomes its mobile key.
//!
//! 1. The app makes a key pair and starts onboarding with its public key and a proof of possession
//!    ([`OnboardStartRequest`]). The server answers an [`IdentificationCode`], shown large and
//!    grouped (`K7QM-X2PD-9R`), and a claim token for the outcome.
//! 2. The clerk checks the citizen's identity document and types the code with the citizen's
//!    details on the counter page. That creates the account and the device in one step.
//! 3. The app learns the outcome by long polls ([`OnboardOutcomeRequest`] → [`OnboardOutcome`]).
//!
//! The identification code may be said aloud and shown on the counter's side of the desk: it only
//! names a pending device. Binding it to an account takes a logged-in clerk who checked an identity
//! document; wrong codes count towards the clerk's failed-attempt limit; a code is used once and
//! expires ([`ONBOARDING_TTL_SECS`] by default). It carries 50 bits, so guessing one of the codes
//! pending at any time within those limits is hopeless (see docs/threat-model.md).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

use crate::device::{DeviceKind, DeviceModel, DeviceName};
use crate::ids::{ClaimToken, DeviceId, OnboardingId};
use crate::sign::{tags, DevicePublicKey, Signature, Transcript};
use crate::{Error, UnixSeconds};

/// How long an identification code is valid by default (30 minutes: time to queue at the office).
pub const ONBOARDING_TTL_SECS: u64 = 30 * 60;

/// Crockford's base32 alphabet: digits and capitals without I, L, O and U.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// The identification code the app shows: 10 characters of Crockford base32 (50 bits), written
/// `K7QM-X2PD-9R`. Reading it forgives what people do when they copy a code: lower case, spaces
/// or dashes anywhere, `O` for `0` and `I`/`L` for `1`.
///
/// It is not a secret in the way a key is, but it is kept out of logs: `Debug` prints `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct IdentificationCode([u8; IdentificationCode::LEN]);

impl IdentificationCode {
    /// Characters in a code.
    pub const LEN: usize = 10;

    /// A fresh random code.
    pub fn generate(rng: &mut impl p256::elliptic_curve::rand_core::CryptoRngCore) -> Self {
        let mut bytes = [0u8; 8];
        rng.fill_bytes(&mut bytes);
        let mut n = u64::from_be_bytes(bytes);
        let mut out = [0u8; Self::LEN];
        for c in out.iter_mut() {
            *c = ALPHABET[(n & 31) as usize];
            n >>= 5;
        }
        IdentificationCode(out)
    }

    /// Reads a code as typed (see the type's documentation for what is forgiven).
    pub fn parse(text: &str) -> Result<Self, Error> {
        let invalid = |reason| Error::Invalid {
            what: "identification code",
            reason,
        };
        if text.len() > 40 {
            return Err(invalid("too long"));
        }
        let mut out = [0u8; Self::LEN];
        let mut n = 0;
        for c in text.chars() {
            let c = match c.to_ascii_uppercase() {
                ' ' | '-' => continue,
                'O' => '0',
                'I' | 'L' => '1',
                other => other,
            };
            if !c.is_ascii() || !ALPHABET.contains(&(c as u8)) {
                return Err(invalid("has a character that is not in such codes"));
            }
            if n == Self::LEN {
                return Err(invalid("has more than 10 characters"));
            }
            out[n] = c as u8;
            n += 1;
        }
        if n < Self::LEN {
            return Err(invalid("has fewer than 10 characters"));
        }
        Ok(IdentificationCode(out))
    }

    /// The 10 characters without separators: `K7QMX2PD9R`. Keep it out of logs.
    pub fn expose_text(&self) -> String {
        self.0.iter().map(|&b| char::from(b)).collect()
    }

    /// The code grouped for people: `K7QM-X2PD-9R`.
    pub fn grouped(&self) -> String {
        let t = self.expose_text();
        format!("{}-{}-{}", &t[..4], &t[4..8], &t[8..])
    }

    /// What the server stores and looks the code up by: SHA-256 of the tagged code.
    pub fn lookup_hash(&self) -> [u8; 32] {
        Sha256::digest(
            Transcript::new(tags::IDENTIFICATION_CODE)
                .field(&self.0)
                .finish(),
        )
        .into()
    }
}

impl fmt::Debug for IdentificationCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IdentificationCode(***)")
    }
}

impl Serialize for IdentificationCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.grouped())
    }
}

impl<'de> Deserialize<'de> for IdentificationCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        IdentificationCode::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// `POST /api/v1/onboarding`: the app starts onboarding with its new key (no account yet).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OnboardStartRequest {
    /// The device's new public key.
    pub public_key: DevicePublicKey,
    /// The name the app proposes ("Pixel 8").
    pub device_name: DeviceName,
    /// The device model.
    pub device_model: DeviceModel,
    /// The kind of device.
    pub device_kind: DeviceKind,
    /// When the app signed the proof (Unix seconds).
    pub timestamp: UnixSeconds,
    /// Signature over [`crate::sign::OnboardingProof::signed_bytes`] with the new key.
    pub proof: Signature,
}

/// The answer to [`OnboardStartRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OnboardStartResponse {
    /// The pending onboarding.
    pub onboarding_id: OnboardingId,
    /// The code the app shows and the clerk types.
    pub identification_code: IdentificationCode,
    /// Proves, when asking for the outcome, that this app started it.
    pub claim_token: ClaimToken,
    /// When the code expires.
    pub expires_at: UnixSeconds,
}

/// `POST /api/v1/onboarding/{onboarding_id}/outcome`: wait for the clerk (long poll).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OnboardOutcomeRequest {
    /// From [`OnboardStartResponse`].
    pub claim_token: ClaimToken,
}

/// Where an onboarding stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnboardStatus {
    /// The code is shown; no clerk has entered it yet.
    Waiting,
    /// A clerk entered it: the account exists and this device is its mobile key.
    Completed,
    /// The code expired unused.
    Expired,
}

impl OnboardStatus {
    /// Whether the onboarding can no longer change.
    pub fn is_final(self) -> bool {
        !matches!(self, OnboardStatus::Waiting)
    }
}

/// The answer to [`OnboardOutcomeRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OnboardOutcome {
    /// The status (`waiting` while no clerk has entered the code).
    pub status: OnboardStatus,
    /// The new device's id, once completed.
    pub device_id: Option<DeviceId>,
    /// The new citizen's display name, once completed, so the app can label the identity.
    pub account_name: Option<String>,
    /// When the code expires.
    pub expires_at: UnixSeconds,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identification_codes_are_grouped_and_read_forgivingly() {
        let code = IdentificationCode::parse("K7QM-X2PD-9R").unwrap();
        assert_eq!(code.grouped(), "K7QM-X2PD-9R");
        assert_eq!(code.expose_text(), "K7QMX2PD9R");
        for same in ["k7qmx2pd9r", " K7QM X2PD 9R ", "k7qm-x2pd-9r"] {
            assert_eq!(IdentificationCode::parse(same).unwrap(), code, "{same}");
        }
        let o = IdentificationCode::parse("OIL0-0000-00").unwrap();
        assert_eq!(o.grouped(), "0110-0000-00");
        for bad in [
            "",
            "K7QM-X2PD-9",
            "K7QM-X2PD-9RR",
            "K7QM-X2PD-9U",
            "K7QM_X2PD_9R",
            "K7QM-X2PD-9Ř",
        ] {
            assert!(IdentificationCode::parse(bad).is_err(), "{bad}");
        }
        assert!(IdentificationCode::parse(&"-".repeat(100)).is_err());
    }

    #[test]
    fn generated_codes_differ_and_print_no_secret() {
        let mut rng = p256::elliptic_curve::rand_core::OsRng;
        let a = IdentificationCode::generate(&mut rng);
        let b = IdentificationCode::generate(&mut rng);
        assert_ne!(a, b);
        assert_eq!(IdentificationCode::parse(&a.grouped()).unwrap(), a);
        assert_eq!(format!("{a:?}"), "IdentificationCode(***)");
        assert_ne!(a.lookup_hash(), b.lookup_hash());
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(json, format!("\"{}\"", a.grouped()));
    }

    #[test]
    fn start_request_refuses_unknown_fields() {
        let err = serde_json::from_str::<OnboardStartRequest>(r#"{"extra":1}"#)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("unknown field") || err.contains("missing field"),
            "{err}"
        );
    }
}
