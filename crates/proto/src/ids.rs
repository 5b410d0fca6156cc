//! Random identifiers and secrets, written as unpadded base64url on the wire.
//!
//! Identifiers ([`SessionId`], [`DeviceId`], …) may be shown and logged. Secrets ([`PairingSecret`],
//! [`QrSecret`], [`LaunchToken`], [`ClaimToken`]) are zeroized when dropped, compare in constant time,
//! and print as `***` in `Debug` output; [`PairingSecret::expose`]-style accessors are the only way to
//! their bytes.

use std::fmt;

use p256::elliptic_curve::rand_core::CryptoRngCore;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

use crate::encoding::{b64url, b64url_fixed};
use crate::Error;

macro_rules! public_id {
    ($(#[$meta:meta])* $name:ident, $len:literal, $what:literal) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name([u8; $len]);

        impl $name {
            /// Length in bytes.
            pub const LEN: usize = $len;

            /// The identifier with these bytes.
            pub fn from_bytes(bytes: [u8; $len]) -> Self {
                Self(bytes)
            }

            /// A fresh random identifier.
            pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
                let mut bytes = [0u8; $len];
                rng.fill_bytes(&mut bytes);
                Self(bytes)
            }

            /// The raw bytes.
            pub fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }

            /// Reads the unpadded base64url form.
            pub fn parse(text: &str) -> Result<Self, Error> {
                b64url_fixed::<$len>(text, $what).map(Self)
            }

            /// The unpadded base64url form.
            pub fn to_text(&self) -> String {
                b64url(&self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_text())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.to_text())
            }
        }

        impl std::str::FromStr for $name {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self, Error> {
                Self::parse(s)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.to_text())
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

macro_rules! secret_value {
    ($(#[$meta:meta])* $name:ident, $len:literal, $what:literal) => {
        $(#[$meta])*
        #[derive(Clone, Zeroize)]
        #[zeroize(drop)]
        pub struct $name([u8; $len]);

        impl $name {
            /// Length in bytes.
            pub const LEN: usize = $len;

            /// The secret with these bytes.
            pub fn from_bytes(bytes: [u8; $len]) -> Self {
                Self(bytes)
            }

            /// A fresh random secret.
            pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
                let mut bytes = [0u8; $len];
                rng.fill_bytes(&mut bytes);
                Self(bytes)
            }

            /// The raw bytes. Keep them out of logs.
            pub fn expose(&self) -> &[u8; $len] {
                &self.0
            }

            /// Reads the unpadded base64url form.
            pub fn parse(text: &str) -> Result<Self, Error> {
                b64url_fixed::<$len>(text, $what).map(Self)
            }

            /// The unpadded base64url form, for putting into a URI or body. Keep it out of logs.
            pub fn expose_text(&self) -> String {
                b64url(&self.0)
            }
        }

        impl PartialEq for $name {
            /// Constant-time comparison.
            fn eq(&self, other: &Self) -> bool {
                self.0.ct_eq(&other.0).into()
            }
        }

        impl Eq for $name {}

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "(***)"))
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.expose_text())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = zeroize::Zeroizing::new(String::deserialize(d)?);
                Self::parse(&text).map_err(serde::de::Error::custom)
            }
        }
    };
}

public_id!(
    /// A pairing session (128 bits), carried in the pairing URI as `id`.
    SessionId, 16, "session id"
);
public_id!(
    /// A login request (128 bits), carried in the login URI as `r`.
    LoginRequestId, 16, "login request id"
);
public_id!(
    /// A paired device (128 bits), assigned by the server when pairing is confirmed.
    DeviceId, 16, "device id"
);
public_id!(
    /// A pending in-person onboarding (128 bits), assigned when the app starts one.
    OnboardingId, 16, "onboarding id"
);
public_id!(
    /// A BOK verification request (128 bits).
    BokRequestId, 16, "BOK request id"
);
public_id!(
    /// A single-use value (128 bits) that makes each authenticated device call unique.
    Nonce, 16, "nonce"
);
public_id!(
    /// The server's randomness for a pairing (128 bits): drawn when the server accepts a claim, so
    /// after the device has committed to its public key, and mixed into the confirmation code.
    ServerNonce, 16, "server nonce"
);
public_id!(
    /// A server challenge (256 bits) that a device signs into a login approval or BOK answer.
    Challenge, 32, "challenge"
);

public_id!(
    /// The MAC a login page puts into its QR code for one second (256 bits), carried as `c`.
    QrMac, 32, "QR code MAC"
);

secret_value!(
    /// The pairing session's secret (128 bits), carried in the pairing URI as `k`.
    PairingSecret, 16, "pairing secret"
);
secret_value!(
    /// The key (256 bits) under which the login page MACs the elapsed seconds; never leaves the server.
    QrSecret, 32, "QR secret"
);
secret_value!(
    /// A one-time token (128 bits) for "Open the mobile key on this device", carried as `l`.
    LaunchToken, 16, "launch token"
);
secret_value!(
    /// Given to the one app whose pairing claim won; it asks for the outcome with it (128 bits).
    ClaimToken, 16, "claim token"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_text_and_json() {
        let id = SessionId::from_bytes([7; 16]);
        assert_eq!(id.to_text(), "BwcHBwcHBwcHBwcHBwcHBw");
        assert_eq!(SessionId::parse(&id.to_text()).unwrap(), id);
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(serde_json::from_str::<SessionId>(&json).unwrap(), id);
    }

    #[test]
    fn wrong_lengths_and_alphabets_are_refused() {
        assert!(SessionId::parse("BwcHBwcHBwcHBwcHBwcH").is_err());
        assert!(SessionId::parse("BwcHBwcHBwcHBwcHBwcHBw==").is_err());
        assert!(SessionId::parse("BwcHBwcHBwcHBwcHBwcH+w").is_err());
        assert!(serde_json::from_str::<DeviceId>("\"x\"").is_err());
    }

    #[test]
    fn secrets_do_not_show_in_debug_output() {
        let s = PairingSecret::from_bytes([1; 16]);
        assert_eq!(format!("{s:?}"), "PairingSecret(***)");
        assert_eq!(s, PairingSecret::parse(&s.expose_text()).unwrap());
        assert_ne!(s, PairingSecret::from_bytes([2; 16]));
    }
}
