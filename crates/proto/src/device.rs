//! Paired devices: names, the device list, rename, push registration, and the headers that
//! authenticate every device call.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ids::{DeviceId, Nonce};
use crate::sign::Signature;
use crate::{Error, UnixSeconds};

/// How far a device call's timestamp may be from the server's clock, either way (seconds). The
/// server remembers each nonce at least this long, so a replayed call is refused either as stale or
/// as seen.
pub const DEVICE_CALL_MAX_SKEW_SECS: u64 = 60;

/// The HTTP headers that authenticate a device call (lower case, as HTTP/2 writes them).
pub mod headers {
    /// The device id.
    pub const DEVICE: &str = "civkey-device";
    /// The Unix time the device signed at.
    pub const TIMESTAMP: &str = "civkey-timestamp";
    /// A fresh random nonce, base64url.
    pub const NONCE: &str = "civkey-nonce";
    /// The signature over [`crate::sign::DeviceCall::signed_bytes`], base64url.
    pub const SIGNATURE: &str = "civkey-signature";
}

/// The authentication a device call carries in its headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceCallAuth {
    /// The calling device.
    pub device_id: DeviceId,
    /// When it signed.
    pub timestamp: UnixSeconds,
    /// The call's nonce.
    pub nonce: Nonce,
    /// The signature over the call.
    pub signature: Signature,
}

impl DeviceCallAuth {
    /// The four headers, name and value.
    pub fn to_headers(&self) -> [(&'static str, String); 4] {
        [
            (headers::DEVICE, self.device_id.to_text()),
            (headers::TIMESTAMP, self.timestamp.to_string()),
            (headers::NONCE, self.nonce.to_text()),
            (headers::SIGNATURE, self.signature.to_text()),
        ]
    }

    /// Reads the four headers through `get` (a header lookup by lower-case name).
    pub fn from_headers<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Result<Self, Error> {
        let header = |name: &'static str| get(name).ok_or(Error::MissingParam(name));
        let timestamp = header(headers::TIMESTAMP)?;
        Ok(DeviceCallAuth {
            device_id: DeviceId::parse(header(headers::DEVICE)?)?,
            timestamp: parse_decimal(timestamp, headers::TIMESTAMP)?,
            nonce: Nonce::parse(header(headers::NONCE)?)?,
            signature: Signature::parse(header(headers::SIGNATURE)?)?,
        })
    }
}

/// Reads a decimal number written without sign, spaces or leading zeros (at most 20 digits).
pub(crate) fn parse_decimal(text: &str, param: &'static str) -> Result<u64, Error> {
    let invalid = |reason| Error::InvalidParam { param, reason };
    if text.is_empty() || text.len() > 20 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid("not a decimal number"));
    }
    if text.len() > 1 && text.starts_with('0') {
        return Err(invalid("has leading zeros"));
    }
    text.parse().map_err(|_| invalid("out of range"))
}

/// What kind of device a key lives on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceKind {
    /// A phone.
    Phone,
    /// A tablet.
    Tablet,
    /// A desktop or laptop computer.
    Desktop,
}

impl DeviceKind {
    /// The kind as on the wire: `phone`, `tablet` or `desktop`.
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceKind::Phone => "phone",
            DeviceKind::Tablet => "tablet",
            DeviceKind::Desktop => "desktop",
        }
    }
}

macro_rules! short_text {
    ($(#[$meta:meta])* $name:ident, $what:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub struct $name(String);

        impl $name {
            /// The most characters allowed.
            pub const MAX_CHARS: usize = 64;

            /// Trims the text and checks it: 1 to 64 characters, no control characters.
            pub fn parse(text: &str) -> Result<Self, Error> {
                let trimmed = text.trim();
                if trimmed.is_empty() {
                    return Err(Error::Invalid { what: $what, reason: "is empty" });
                }
                if trimmed.chars().count() > Self::MAX_CHARS {
                    return Err(Error::Invalid { what: $what, reason: "is longer than 64 characters" });
                }
                if trimmed.chars().any(|c| c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')) {
                    return Err(Error::Invalid { what: $what, reason: "contains control characters" });
                }
                Ok(Self(trimmed.to_string()))
            }

            /// The text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                Self::parse(&text).map_err(serde::de::Error::custom)
            }
        }
    };
}

short_text!(
    /// The name a citizen gives a device ("Jana's phone"): 1–64 characters, no control characters
    /// (bidirectional overrides included, so a name cannot disguise itself).
    DeviceName, "device name"
);
short_text!(
    /// The device model the app reports ("Pixel 8", "Linux desktop").
    DeviceModel, "device model"
);

/// One paired device, as the portal and the app list it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceSummary {
    /// The device's id.
    pub id: DeviceId,
    /// Its name.
    pub name: DeviceName,
    /// Its model.
    pub model: DeviceModel,
    /// Its kind.
    pub kind: DeviceKind,
    /// When it was paired.
    pub paired_at: UnixSeconds,
    /// When it last made a call or approved a login; `None` if never.
    pub last_used_at: Option<UnixSeconds>,
}

/// `GET /api/v1/device/list`: the citizen's paired devices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceList {
    /// The devices, most recently paired first.
    pub devices: Vec<DeviceSummary>,
}

/// `POST /api/v1/device/rename`: the calling device's new name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RenameDeviceRequest {
    /// The new name.
    pub name: DeviceName,
}

/// `POST /api/v1/device/push`: where the server should POST this device's events
/// (UnifiedPush / WebPush style: any provider, no single vendor), in the shape of a WebPush
/// subscription (`{"endpoint": "https://…", "keys": {"p256dh": "…", "auth": "…"}}`).
///
/// With `keys` the server encrypts every push to them (RFC 8291, `Content-Encoding: aes128gcm`),
/// so the push provider sees only ciphertext; without them (UnifiedPush distributors that take
/// clear text) each push is only a wake-up naming the waiting event's id
/// ([`crate::events::PushWakeUp`]), and the device reads the event over its signed stream. `keys`
/// without an `endpoint` is refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "PushRegistrationWire")]
pub struct PushRegistrationRequest {
    /// The push endpoint: an `https://` URL (plain `http://` only on loopback), at most 2048 bytes;
    /// `None` removes the registration (and its keys).
    pub endpoint: Option<PushEndpoint>,
    /// The device's message encryption keys (RFC 8291); `None` (or absent, as older apps send it)
    /// for clear-text wake-ups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys: Option<PushKeys>,
}

/// The registration as it arrives, before the check that keys come with an endpoint.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PushRegistrationWire {
    endpoint: Option<PushEndpoint>,
    #[serde(default)]
    keys: Option<PushKeys>,
}

impl TryFrom<PushRegistrationWire> for PushRegistrationRequest {
    type Error = Error;

    fn try_from(wire: PushRegistrationWire) -> Result<Self, Error> {
        if wire.endpoint.is_none() && wire.keys.is_some() {
            return Err(Error::Invalid {
                what: "push registration",
                reason: "has keys but no endpoint (send neither to remove the registration)",
            });
        }
        Ok(PushRegistrationRequest {
            endpoint: wire.endpoint,
            keys: wire.keys,
        })
    }
}

/// A device's keys for RFC 8291 message encryption, as a WebPush subscription's `keys` carries
/// them: both base64url (unpadded; trailing `=` padding is tolerated).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushKeys {
    /// The device's ECDH public key: an uncompressed P-256 point (65 bytes, `0x04 || x || y`).
    pub p256dh: PushPublicKey,
    /// The authentication secret the device made (16 random bytes).
    pub auth: PushAuthSecret,
}

/// Decodes base64url (trailing `=` padding tolerated) into exactly `N` bytes, saying what is wrong.
fn push_key_bytes<const N: usize>(text: &str, what: &'static str) -> Result<[u8; N], Error> {
    let bytes = crate::encoding::b64url_vec(text.trim_end_matches('='), what)?;
    bytes.try_into().map_err(|_| Error::Invalid {
        what,
        reason: if N == PushPublicKey::LEN {
            "must be 65 bytes (an uncompressed P-256 public key)"
        } else {
            "must be 16 bytes"
        },
    })
}

/// The device's P-256 public key for push encryption (`keys.p256dh`): uncompressed, on the curve.
#[derive(Clone, PartialEq, Eq)]
pub struct PushPublicKey([u8; 65]);

impl PushPublicKey {
    /// The length of an uncompressed P-256 point.
    pub const LEN: usize = 65;

    /// Reads base64url text: 65 bytes, uncompressed (`0x04` first), a point on P-256.
    pub fn parse(text: &str) -> Result<Self, Error> {
        Self::from_bytes(push_key_bytes(text, "push key p256dh")?)
    }

    /// Checks 65 bytes: uncompressed (`0x04` first), a point on P-256.
    pub fn from_bytes(bytes: [u8; 65]) -> Result<Self, Error> {
        let invalid = |reason| Error::Invalid {
            what: "push key p256dh",
            reason,
        };
        if bytes[0] != 0x04 {
            return Err(invalid(
                "must be an uncompressed point (starting with 0x04)",
            ));
        }
        p256::PublicKey::from_sec1_bytes(&bytes)
            .map_err(|_| invalid("is not a point on the P-256 curve"))?;
        Ok(PushPublicKey(bytes))
    }

    /// The 65 bytes.
    pub fn as_bytes(&self) -> &[u8; 65] {
        &self.0
    }

    /// The key as base64url.
    pub fn to_text(&self) -> String {
        crate::encoding::b64url(&self.0)
    }
}

impl std::fmt::Debug for PushPublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PushPublicKey({})", self.to_text())
    }
}

impl Serialize for PushPublicKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_text())
    }
}

impl<'de> Deserialize<'de> for PushPublicKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        PushPublicKey::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// The device's push authentication secret (`keys.auth`, 16 bytes). Kept from the push provider;
/// its `Debug` output does not show it, and it is wiped when dropped.
#[derive(Clone, PartialEq, Eq, zeroize::Zeroize, zeroize::ZeroizeOnDrop)]
pub struct PushAuthSecret([u8; 16]);

impl PushAuthSecret {
    /// Reads base64url text of 16 bytes.
    pub fn parse(text: &str) -> Result<Self, Error> {
        Ok(PushAuthSecret(push_key_bytes(text, "push key auth")?))
    }

    /// The secret from its 16 bytes.
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        PushAuthSecret(bytes)
    }

    /// The 16 bytes.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// The secret as base64url (to store it; never to log it).
    pub fn to_text(&self) -> String {
        crate::encoding::b64url(&self.0)
    }
}

impl std::fmt::Debug for PushAuthSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PushAuthSecret(…)")
    }
}

impl Serialize for PushAuthSecret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_text())
    }
}

impl<'de> Deserialize<'de> for PushAuthSecret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = zeroize::Zeroizing::new(String::deserialize(d)?);
        PushAuthSecret::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// A push endpoint URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushEndpoint(String);

impl PushEndpoint {
    /// Checks a push endpoint: https (http only on loopback), no user info, at most 2048 bytes.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let invalid = |reason| Error::Invalid {
            what: "push endpoint",
            reason,
        };
        if text.len() > 2048 {
            return Err(invalid("is longer than 2048 bytes"));
        }
        let url = url::Url::parse(text).map_err(|_| invalid("is not a URL"))?;
        crate::Origin::normalise(&url.origin().ascii_serialization())
            .map_err(|_| invalid("must be https (plain http only on this computer)"))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid("must not contain a user name or password"));
        }
        if url.fragment().is_some() {
            return Err(invalid("must not contain a fragment"));
        }
        Ok(PushEndpoint(url.to_string()))
    }

    /// The URL.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Serialize for PushEndpoint {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for PushEndpoint {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        PushEndpoint::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_names_are_trimmed_and_bounded() {
        assert_eq!(
            DeviceName::parse("  Jana's phone ").unwrap().as_str(),
            "Jana's phone"
        );
        assert!(DeviceName::parse("   ").is_err());
        assert!(DeviceName::parse(&"x".repeat(65)).is_err());
        assert!(
            DeviceName::parse(&"ř".repeat(64)).is_ok(),
            "64 characters, not bytes"
        );
        assert!(DeviceName::parse("a\u{0}b").is_err());
        assert!(DeviceName::parse("evil\u{202e}gnp.exe").is_err());
    }

    #[test]
    fn rename_refuses_unknown_fields() {
        assert!(serde_json::from_str::<RenameDeviceRequest>(r#"{"name":"A","x":1}"#).is_err());
        assert!(serde_json::from_str::<RenameDeviceRequest>(r#"{"name":""}"#).is_err());
    }

    #[test]
    fn push_endpoints_must_be_https_or_loopback() {
        assert!(PushEndpoint::parse("https://push.example.org/up/abc?x=1").is_ok());
        assert!(PushEndpoint::parse("http://127.0.0.1:9000/push").is_ok());
        assert!(PushEndpoint::parse("http://push.example.org/up").is_err());
        assert!(PushEndpoint::parse("https://u:p@push.example.org/").is_err());
        assert!(PushEndpoint::parse(&format!("https://a.org/{}", "x".repeat(2048))).is_err());
    }

    /// The user agent's keys of RFC 8291's example (section 5).
    const RFC8291_UA_PUBLIC: &str =
        "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
    const RFC8291_AUTH: &str = "BTBZMqHH6r4Tts7J_aSIgg";

    #[test]
    fn push_registration_reads_a_webpush_subscription_with_keys() {
        let json = format!(
            r#"{{"endpoint":"https://push.example.org/up/abc","keys":{{"p256dh":"{RFC8291_UA_PUBLIC}","auth":"{RFC8291_AUTH}"}}}}"#
        );
        let request: PushRegistrationRequest = serde_json::from_str(&json).unwrap();
        let keys = request.keys.as_ref().unwrap();
        assert_eq!(keys.p256dh.to_text(), RFC8291_UA_PUBLIC);
        assert_eq!(keys.auth.as_bytes().len(), 16);
        assert_eq!(keys.auth.to_text(), RFC8291_AUTH);
        assert_eq!(serde_json::to_string(&request).unwrap(), json, "round trip");
        assert!(
            !format!("{request:?}").contains(RFC8291_AUTH),
            "the auth secret stays out of Debug output"
        );
        // Padded base64url, as some libraries write it, reads the same.
        let padded = json.replace(RFC8291_AUTH, &format!("{RFC8291_AUTH}=="));
        let padded: PushRegistrationRequest = serde_json::from_str(&padded).unwrap();
        assert_eq!(padded, request);
    }

    #[test]
    fn push_registration_without_keys_still_parses_as_older_apps_send_it() {
        let request: PushRegistrationRequest =
            serde_json::from_str(r#"{"endpoint":"https://push.example.org/up"}"#).unwrap();
        assert_eq!(request.keys, None);
        assert_eq!(
            serde_json::to_string(&request).unwrap(),
            r#"{"endpoint":"https://push.example.org/up"}"#
        );
        let removal: PushRegistrationRequest =
            serde_json::from_str(r#"{"endpoint":null}"#).unwrap();
        assert_eq!(removal.endpoint, None);
        assert!(
            serde_json::from_str::<PushRegistrationRequest>(r#"{"endpoint":null,"x":1}"#).is_err()
        );
    }

    #[test]
    fn bad_push_keys_are_refused_with_a_reason() {
        let error = |p256dh: &str, auth: &str| {
            let json = format!(
                r#"{{"endpoint":"https://push.example.org/up","keys":{{"p256dh":"{p256dh}","auth":"{auth}"}}}}"#
            );
            serde_json::from_str::<PushRegistrationRequest>(&json)
                .unwrap_err()
                .to_string()
        };
        let short = crate::encoding::b64url(&[4; 33]);
        assert!(
            error(&short, RFC8291_AUTH).contains("push key p256dh is invalid: must be 65 bytes")
        );
        let mut off_curve = [0u8; 65];
        off_curve[0] = 4;
        off_curve[64] = 1;
        assert!(error(&crate::encoding::b64url(&off_curve), RFC8291_AUTH)
            .contains("push key p256dh is invalid: is not a point on the P-256 curve"));
        let mut compressed_tag = PushPublicKey::parse(RFC8291_UA_PUBLIC).unwrap().0;
        compressed_tag[0] = 2;
        assert!(
            error(&crate::encoding::b64url(&compressed_tag), RFC8291_AUTH)
                .contains("must be an uncompressed point")
        );
        assert!(error("not base64!", RFC8291_AUTH)
            .contains("push key p256dh is invalid: not unpadded base64url"));
        assert!(error(RFC8291_UA_PUBLIC, &crate::encoding::b64url(&[1; 15]))
            .contains("push key auth is invalid: must be 16 bytes"));
        assert!(error(RFC8291_UA_PUBLIC, "+/+/").contains("push key auth is invalid"));
        let keys_without_endpoint = format!(
            r#"{{"endpoint":null,"keys":{{"p256dh":"{RFC8291_UA_PUBLIC}","auth":"{RFC8291_AUTH}"}}}}"#
        );
        assert!(
            serde_json::from_str::<PushRegistrationRequest>(&keys_without_endpoint)
                .unwrap_err()
                .to_string()
                .contains("has keys but no endpoint")
        );
        let extra = format!(
            r#"{{"endpoint":"https://a.org/","keys":{{"p256dh":"{RFC8291_UA_PUBLIC}","auth":"{RFC8291_AUTH}","x":"1"}}}}"#
        );
        assert!(serde_json::from_str::<PushRegistrationRequest>(&extra).is_err());
    }

    #[test]
    fn device_call_headers_round_trip_and_refuse_garbage() {
        let auth = DeviceCallAuth {
            device_id: DeviceId::from_bytes([1; 16]),
            timestamp: 1_700_000_000,
            nonce: Nonce::from_bytes([2; 16]),
            signature: crate::sign::Signature::from_bytes(&[3; 64]).unwrap(),
        };
        let headers = auth.to_headers();
        let get = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(DeviceCallAuth::from_headers(get).unwrap(), auth);
        let missing = |name: &str| {
            if name == headers::NONCE {
                None
            } else {
                get(name)
            }
        };
        assert_eq!(
            DeviceCallAuth::from_headers(missing),
            Err(Error::MissingParam("civkey-nonce"))
        );
        for bad in ["", "-1", "01", "1e9", "99999999999999999999999"] {
            assert!(parse_decimal(bad, "t").is_err(), "{bad}");
        }
    }
}
