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
                Self(random_text())
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

/// 128 random bits from the OS as unpadded base64url (22 characters).
fn random_text() -> String {
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
