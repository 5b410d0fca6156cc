//! The exact bytes a device signs, and the P-256 keys and signatures that carry them.
//!
//! Every signed message is a *transcript*: a sequence of fields, each written as its length (4 bytes,
//! big-endian) followed by its bytes. The first field is always a domain-separation tag such as
//! `civkey/v1/login-approval`, so a signature made for one purpose can never be replayed for another,
//! and the length prefixes make the encoding unambiguous (no two field lists give the same bytes).
//! Numbers are 8-byte big-endian fields. Signatures are ECDSA over P-256 with SHA-256, written as the
//! 64-byte `r ‖ s` (IEEE P1363) in unpadded base64url.

use std::fmt;

use p256::ecdsa::signature::{Signer, Verifier};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

use crate::encoding::{b64url, b64url_vec};
use crate::ids::{
    BokRequestId, Challenge, DeviceId, LoginRequestId, Nonce, PairingSecret, SessionId,
};
use crate::rules::Bok;
use crate::{Error, Origin, UnixSeconds};

/// Domain-separation tags, one per purpose. Each names the version of its transcript's fields:
/// version 1, except the confirmation code, whose transcript gained the server's nonce in version 2.
pub mod tags {
    /// Pairing proof of possession: the new device key signs the pairing session.
    pub const PAIR_PROOF: &str = "civkey/v1/pair-proof";
    /// Onboarding proof of possession: the new device key signs its start of in-person onboarding.
    pub const ONBOARD_PROOF: &str = "civkey/v1/onboard-proof";
    /// Input of the identification code hash (not a signature; listed here so tags never collide).
    pub const IDENTIFICATION_CODE: &str = "civkey/v1/identification-code";
    /// Login approval or denial.
    pub const LOGIN_APPROVAL: &str = "civkey/v1/login-approval";
    /// Answer to a BOK-pad request.
    pub const BOK_ANSWER: &str = "civkey/v1/bok-answer";
    /// Every other authenticated call a device makes.
    pub const DEVICE_CALL: &str = "civkey/v1/device-call";
    /// Input of the confirmation code hash (not a signature; listed here so tags never collide).
    /// Version 2: the server's nonce is a field (version 1 hashed the device's key alone with the
    /// session, and could be ground by trying keys).
    pub const CONFIRMATION_CODE: &str = "civkey/v2/confirmation-code";
    /// Input of the login QR code MAC (not a signature; listed here so tags never collide).
    pub const LOGIN_QR: &str = "civkey/v1/login-qr";
}

/// Builds a transcript: length-prefixed fields after a tag.
#[derive(Debug, Clone)]
pub struct Transcript(Vec<u8>);

impl Transcript {
    /// A transcript that starts with `tag`.
    pub fn new(tag: &str) -> Self {
        Transcript(Vec::with_capacity(256)).field(tag.as_bytes())
    }

    /// Appends a field: 4-byte big-endian length, then the bytes.
    pub fn field(mut self, bytes: &[u8]) -> Self {
        // Fields are bounded by MAX_INPUT_LEN or fixed sizes; saturate rather than wrap regardless.
        let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
        self.0.extend_from_slice(&len.to_be_bytes());
        self.0.extend_from_slice(bytes);
        self
    }

    /// Appends a UTF-8 text field.
    pub fn text(self, text: &str) -> Self {
        self.field(text.as_bytes())
    }

    /// Appends a number as an 8-byte big-endian field.
    pub fn number(self, n: u64) -> Self {
        self.field(&n.to_be_bytes())
    }

    /// The finished bytes.
    pub fn finish(self) -> Vec<u8> {
        self.0
    }
}

/// A device's P-256 public key, as the 65-byte uncompressed SEC1 point.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct DevicePublicKey([u8; 65]);

impl DevicePublicKey {
    /// Reads a SEC1 point (uncompressed or compressed) and checks that it lies on P-256.
    pub fn from_sec1(bytes: &[u8]) -> Result<Self, Error> {
        let key = p256::PublicKey::from_sec1_bytes(bytes).map_err(|_| Error::Invalid {
            what: "device public key",
            reason: "not a P-256 point",
        })?;
        Ok(Self::from(&key))
    }

    /// Reads the unpadded base64url form of the SEC1 point.
    pub fn parse(text: &str) -> Result<Self, Error> {
        if text.len() > 200 {
            return Err(Error::Invalid {
                what: "device public key",
                reason: "too long",
            });
        }
        Self::from_sec1(&b64url_vec(text, "device public key")?)
    }

    /// The 65-byte uncompressed SEC1 point.
    pub fn as_sec1(&self) -> &[u8; 65] {
        &self.0
    }

    /// The unpadded base64url form (87 characters).
    pub fn to_text(&self) -> String {
        b64url(&self.0)
    }

    /// A short fingerprint for people and logs: the first 8 bytes of SHA-256 of the point, in hex.
    pub fn fingerprint(&self) -> String {
        Sha256::digest(self.0)[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// Checks `signature` over `message` with this key (ECDSA P-256, SHA-256).
    pub fn verify(&self, message: &[u8], signature: &Signature) -> Result<(), Error> {
        let bad = Error::Invalid {
            what: "signature",
            reason: "does not verify",
        };
        let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(&self.0).map_err(|_| bad.clone())?;
        let sig = p256::ecdsa::Signature::from_slice(&signature.0).map_err(|_| bad.clone())?;
        key.verify(message, &sig).map_err(|_| bad)
    }
}

impl From<&p256::PublicKey> for DevicePublicKey {
    fn from(key: &p256::PublicKey) -> Self {
        use p256::elliptic_curve::sec1::ToEncodedPoint;
        let point = key.to_encoded_point(false);
        let mut bytes = [0u8; 65];
        bytes.copy_from_slice(point.as_bytes());
        DevicePublicKey(bytes)
    }
}

impl fmt::Debug for DevicePublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DevicePublicKey({})", self.fingerprint())
    }
}

/// An ECDSA P-256 signature as 64 bytes `r ‖ s`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Signature([u8; 64]);

impl Signature {
    /// Reads 64 bytes `r ‖ s`, refusing zero or out-of-range scalars.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        let sig = p256::ecdsa::Signature::from_slice(bytes).map_err(|_| Error::Invalid {
            what: "signature",
            reason: "not 64 bytes r ‖ s",
        })?;
        let mut out = [0u8; 64];
        out.copy_from_slice(&sig.to_bytes());
        Ok(Signature(out))
    }

    /// Reads the unpadded base64url form.
    pub fn parse(text: &str) -> Result<Self, Error> {
        if text.len() > 100 {
            return Err(Error::Invalid {
                what: "signature",
                reason: "too long",
            });
        }
        Self::from_bytes(&b64url_vec(text, "signature")?)
    }

    /// The 64 bytes `r ‖ s`.
    pub fn as_bytes(&self) -> &[u8; 64] {
        &self.0
    }

    /// The unpadded base64url form (86 characters).
    pub fn to_text(&self) -> String {
        b64url(&self.0)
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({}…)", &self.to_text()[..12])
    }
}

/// Signs `message` with a P-256 key held in memory (deterministic, RFC 6979).
///
/// The app keeps its key in the OS keystore and signs there where the platform allows; this is the
/// reference used by tests and by platforms whose keystore stores the key as a secret.
pub fn sign(key: &p256::ecdsa::SigningKey, message: &[u8]) -> Signature {
    let sig: p256::ecdsa::Signature = key.sign(message);
    let mut out = [0u8; 64];
    out.copy_from_slice(&sig.to_bytes());
    Signature(out)
}

macro_rules! text_serde {
    ($name:ident) => {
        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.to_text())
            }
        }
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                $name::parse(&text).map_err(serde::de::Error::custom)
            }
        }
    };
}
text_serde!(DevicePublicKey);
text_serde!(Signature);

/// What a new device key signs when it claims a pairing session: proof that the app holds the
/// private key of the public key it sends, bound to this server, session and QR secret.
#[derive(Debug, Clone, Copy)]
pub struct PairingProof<'a> {
    /// The civkey server the device pairs with.
    pub origin: &'a Origin,
    /// The pairing session from the QR code.
    pub session_id: &'a SessionId,
    /// The pairing secret from the QR code.
    pub secret: &'a PairingSecret,
    /// The device's new public key.
    pub public_key: &'a DevicePublicKey,
    /// The device name the app proposes.
    pub device_name: &'a str,
}

impl PairingProof<'_> {
    /// The bytes to sign: tag, origin, session id, secret, public key, device name.
    pub fn signed_bytes(&self) -> Vec<u8> {
        Transcript::new(tags::PAIR_PROOF)
            .text(self.origin.as_str())
            .field(self.session_id.as_bytes())
            .field(self.secret.expose())
            .field(self.public_key.as_sec1())
            .text(self.device_name)
            .finish()
    }
}

/// What a new device key signs when it starts in-person onboarding: proof that the app holds the
/// private key of the public key it sends, bound to this server, the device's description and the
/// time (the server accepts it only within [`crate::device::DEVICE_CALL_MAX_SKEW_SECS`]).
#[derive(Debug, Clone, Copy)]
pub struct OnboardingProof<'a> {
    /// The civkey server the device onboards with.
    pub origin: &'a Origin,
    /// The device's new public key.
    pub public_key: &'a DevicePublicKey,
    /// The device name the app proposes.
    pub device_name: &'a str,
    /// The device model.
    pub device_model: &'a str,
    /// The device kind as on the wire (`phone`, `tablet`, `desktop`).
    pub device_kind: &'a str,
    /// When the app signed it (Unix seconds).
    pub timestamp: UnixSeconds,
}

impl OnboardingProof<'_> {
    /// The bytes to sign: tag, origin, public key, device name, model, kind, timestamp.
    pub fn signed_bytes(&self) -> Vec<u8> {
        Transcript::new(tags::ONBOARD_PROOF)
            .text(self.origin.as_str())
            .field(self.public_key.as_sec1())
            .text(self.device_name)
            .text(self.device_model)
            .text(self.device_kind)
            .number(self.timestamp)
            .finish()
    }
}

/// The citizen's decision on a login request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Log in.
    Approve,
    /// Refuse the login.
    Deny,
}

impl Decision {
    fn as_str(self) -> &'static str {
        match self {
            Decision::Approve => "approve",
            Decision::Deny => "deny",
        }
    }
}

/// What a device signs to approve (or deny) a login request.
#[derive(Debug, Clone, Copy)]
pub struct LoginApproval<'a> {
    /// The civkey server.
    pub origin: &'a Origin,
    /// The login request.
    pub request_id: &'a LoginRequestId,
    /// The asking service's client id.
    pub service_id: &'a str,
    /// The asking service's web origin, as shown to the citizen.
    pub service_origin: &'a Origin,
    /// The request's challenge.
    pub challenge: &'a Challenge,
    /// When the device signed (Unix seconds).
    pub time: UnixSeconds,
    /// Approve or deny.
    pub decision: Decision,
}

impl LoginApproval<'_> {
    /// The bytes to sign: tag, origin, request id, service id, service origin, challenge, time,
    /// decision.
    pub fn signed_bytes(&self) -> Vec<u8> {
        Transcript::new(tags::LOGIN_APPROVAL)
            .text(self.origin.as_str())
            .field(self.request_id.as_bytes())
            .text(self.service_id)
            .text(self.service_origin.as_str())
            .field(self.challenge.as_bytes())
            .number(self.time)
            .text(self.decision.as_str())
            .finish()
    }
}

/// What a device signs to answer a BOK-pad request. The BOK travels only inside this answer.
#[derive(Debug, Clone, Copy)]
pub struct BokAnswer<'a> {
    /// The civkey server.
    pub origin: &'a Origin,
    /// The BOK request.
    pub request_id: &'a BokRequestId,
    /// The request's challenge.
    pub challenge: &'a Challenge,
    /// The answering device.
    pub device_id: &'a DeviceId,
    /// The code the citizen typed.
    pub bok: &'a Bok,
    /// When the device signed (Unix seconds).
    pub time: UnixSeconds,
}

impl BokAnswer<'_> {
    /// The bytes to sign: tag, origin, request id, challenge, device id, BOK, time.
    pub fn signed_bytes(&self) -> Vec<u8> {
        Transcript::new(tags::BOK_ANSWER)
            .text(self.origin.as_str())
            .field(self.request_id.as_bytes())
            .field(self.challenge.as_bytes())
            .field(self.device_id.as_bytes())
            .text(self.bok.expose())
            .number(self.time)
            .finish()
    }
}

/// What a device signs for every other call it makes after pairing (see [`crate::device`] for the
/// headers that carry it).
#[derive(Debug, Clone, Copy)]
pub struct DeviceCall<'a> {
    /// The civkey server.
    pub origin: &'a Origin,
    /// The calling device.
    pub device_id: &'a DeviceId,
    /// The HTTP method, upper case (`GET`, `POST`).
    pub method: &'a str,
    /// The request target: path and query as sent (`/api/v1/device/keys?x=1`).
    pub path_and_query: &'a str,
    /// The request body (empty for none); its SHA-256 is signed.
    pub body: &'a [u8],
    /// When the device signed (Unix seconds).
    pub timestamp: UnixSeconds,
    /// A fresh random value; the server refuses a nonce it has seen.
    pub nonce: &'a Nonce,
}

impl DeviceCall<'_> {
    /// The bytes to sign: tag, origin, device id, method, path and query, SHA-256 of the body,
    /// timestamp, nonce.
    pub fn signed_bytes(&self) -> Vec<u8> {
        Transcript::new(tags::DEVICE_CALL)
            .text(self.origin.as_str())
            .field(self.device_id.as_bytes())
            .text(self.method)
            .text(self.path_and_query)
            .field(&Sha256::digest(self.body))
            .number(self.timestamp)
            .field(self.nonce.as_bytes())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transcript_fields_are_length_prefixed() {
        let bytes = Transcript::new("t").text("ab").number(1).finish();
        assert_eq!(
            hex::encode(bytes),
            "000000017400000002616200000008".to_string() + "0000000000000001"
        );
    }

    #[test]
    fn moving_a_byte_between_fields_changes_the_transcript() {
        let a = Transcript::new("t").text("ab").text("c").finish();
        let b = Transcript::new("t").text("a").text("bc").finish();
        assert_ne!(a, b);
    }

    #[test]
    fn a_signature_verifies_only_for_its_message_and_key() {
        let key = p256::ecdsa::SigningKey::from_slice(&[0x11; 32]).unwrap();
        let other = p256::ecdsa::SigningKey::from_slice(&[0x22; 32]).unwrap();
        let public = DevicePublicKey::from(&p256::PublicKey::from(key.verifying_key()));
        let sig = sign(&key, b"message");
        public.verify(b"message", &sig).unwrap();
        assert!(public.verify(b"messagE", &sig).is_err());
        let other_public = DevicePublicKey::from(&p256::PublicKey::from(other.verifying_key()));
        assert!(other_public.verify(b"message", &sig).is_err());
    }

    #[test]
    fn keys_and_signatures_refuse_garbage() {
        assert!(DevicePublicKey::from_sec1(&[4; 65]).is_err());
        assert!(DevicePublicKey::parse("!!").is_err());
        assert!(Signature::from_bytes(&[0; 64]).is_err(), "zero scalars");
        assert!(Signature::from_bytes(&[1; 63]).is_err());
        assert!(Signature::parse(&"A".repeat(500)).is_err());
    }

    #[test]
    fn compressed_points_are_stored_uncompressed() {
        let key = p256::ecdsa::SigningKey::from_slice(&[0x11; 32]).unwrap();
        let point = p256::PublicKey::from(key.verifying_key());
        use p256::elliptic_curve::sec1::ToEncodedPoint;
        let compressed = point.to_encoded_point(true);
        let parsed = DevicePublicKey::from_sec1(compressed.as_bytes()).unwrap();
        assert_eq!(parsed, DevicePublicKey::from(&point));
        assert_eq!(parsed.as_sec1()[0], 4);
    }
}
