//! The identifiers the server makes for its own records: 128 random bits as unpadded base64url.
//!
//! Identifiers that cross the wire ([`civkey_proto::ids::DeviceId`],
//! [`civkey_proto::ids::LoginRequestId`], …) are `civkey-proto`'s; these never leave the server
//! except inside a page's link, so they are text newtypes that only the server creates.

use std::fmt;

use rand::RngCore;

/// Declares a text identifier: `new_random`, `from_stored`, `as_str`, `Display`.
macro_rules! text_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// A fresh random identifier (128 bits from the OS).
            pub fn new_random() -> Self {
                Self(random_id())
            }

            /// The identifier as the store keeps it (or as a caller named it: an unknown one is
            /// simply not found).
            pub fn from_stored(text: impl Into<String>) -> Self {
                Self(text.into())
            }

            /// The text form, for SQL parameters and links.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        /// Any text reads as an id (as with `from_stored`): an unknown one is simply not found.
        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                String::deserialize(deserializer).map(Self)
            }
        }

        impl StoredId for $name {
            fn from_stored_text(text: String) -> Option<Self> {
                Some(Self(text))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.0)
            }
        }
    };
}

text_id! {
    /// A citizen.
    CitizenId
}

text_id! {
    /// An office clerk.
    ClerkId
}

text_id! {
    /// A registered service (an OpenID Connect client).
    ClientId
}

text_id! {
    /// A recorded lift of a citizen's BOK block (a line of `bok_unblocks`).
    UnblockId
}

/// An identifier the store keeps as text; the store reads it back with this.
pub trait StoredId: Sized {
    /// The identifier with this stored text; `None` when the text is not one (a corrupted row).
    fn from_stored_text(text: String) -> Option<Self>;
}

/// The wire's identifiers, kept as their base64url text.
macro_rules! stored_proto_id {
    ($($name:ident),+) => {
        $(impl StoredId for civkey_proto::ids::$name {
            fn from_stored_text(text: String) -> Option<Self> {
                Self::parse(&text).ok()
            }
        })+
    };
}

stored_proto_id!(
    DeviceId,
    SessionId,
    LoginRequestId,
    BokRequestId,
    OnboardingId
);

/// A random 128-bit id from the OS as unpadded base64url (22 characters): the one random-id
/// function, for the typed ids here and the records that keep a text id.
pub fn random_id() -> String {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    civkey_proto::ids::DeviceId::from_bytes(bytes).to_text()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_ids_differ_and_read_back_from_their_text() {
        let a = CitizenId::new_random();
        let b = CitizenId::new_random();
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 22);
        assert_eq!(CitizenId::from_stored(a.as_str()), a);
        assert_eq!(format!("{a:?}"), format!("CitizenId({a})"));
    }
}
