//! The server's typed domain: the identifiers it makes and the states its flows move through.
//!
//! The store keeps these as text columns; it converts at its edge, so services and pages match on
//! enums and pass typed ids, and a misspelt state or a device id handed where a citizen id belongs
//! is a compile error. A stored text the server does not know is read as
//! [`crate::store::StoreError::Corrupt`], never guessed.

pub mod ids;
pub mod states;

pub use ids::{random_id, CitizenId, ClerkId, ClientId, StoredId, UnblockId};
pub use states::{
    BokStatus, Channel, LoginStatus, OnboardingState, OutboxState, PairingState, StoredText,
};

/// A stored text that names no known value of a domain type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {value:?} in the database")]
pub struct UnknownValue {
    /// The type: "login status", "channel", ….
    pub what: &'static str,
    /// The text read.
    pub value: String,
}
