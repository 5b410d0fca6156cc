//! The state machines, one enum each, with the text the store keeps for every state.

use std::fmt;

use super::UnknownValue;

/// A value the store keeps as text and reads back with a typed error for text it does not know.
pub trait StoredText: Sized {
    /// Reads the stored text.
    fn parse_stored(text: &str) -> Result<Self, UnknownValue>;
}

/// Declares a stored enum: its variants with their stored text, `as_str`, `parse` and `Display`.
macro_rules! stored_enum {
    ($(#[$meta:meta])* $name:ident, $what:literal { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The text the store keeps.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }

            /// Reads the stored text.
            pub fn parse(text: &str) -> Result<Self, UnknownValue> {
                match text {
                    $($text => Ok($name::$variant),)+
                    _ => Err(UnknownValue { what: $what, value: text.to_string() }),
                }
            }
        }

        impl StoredText for $name {
            fn parse_stored(text: &str) -> Result<Self, UnknownValue> {
                $name::parse(text)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

stored_enum! {
    /// A pairing session: `waiting` → `claimed` (a device sent its key) → `confirmed` (the citizen
    /// compared the codes in the browser); `refused` from either of the first two.
    PairingState, "pairing state" {
        /// Shown as a QR code, no device yet.
        Waiting = "waiting",
        /// A device claimed it; the browser shows the confirmation code.
        Claimed = "claimed",
        /// The citizen confirmed: the device is paired.
        Confirmed = "confirmed",
        /// The citizen said the codes differ.
        Refused = "refused",
    }
}

stored_enum! {
    /// A login request: `waiting` → `opened` (one device holds it) → `approved` or `denied`; a
    /// portal session may approve it straight from `waiting`.
    LoginStatus, "login status" {
        /// The page shows the QR code.
        Waiting = "waiting",
        /// A device scanned it and decides.
        Opened = "opened",
        /// The citizen approved: the code may be exchanged once.
        Approved = "approved",
        /// The citizen refused.
        Denied = "denied",
    }
}

stored_enum! {
    /// A BOK verification at the counter: `pending` → `checking` (one device's answer won) →
    /// `verified`, `not_verified` or `blocked`; a pending one is `blocked` when the BOK is.
    BokStatus, "BOK request status" {
        /// Waiting for the citizen's device.
        Pending = "pending",
        /// A device answered; the answer is being compared.
        Checking = "checking",
        /// The BOK was right.
        Verified = "verified",
        /// The BOK was wrong.
        NotVerified = "not_verified",
        /// The BOK is blocked (too many wrong answers).
        Blocked = "blocked",
    }
}

stored_enum! {
    /// In-person onboarding: `waiting` for the clerk → `completed`.
    OnboardingState, "onboarding state" {
        /// The device shows its identification code.
        Waiting = "waiting",
        /// A clerk checked the citizen and connected the device.
        Completed = "completed",
    }
}

stored_enum! {
    /// A delivery channel of the outbox.
    Channel, "channel" {
        /// An e-mail through SMTP or the mailbox file.
        Email = "email",
        /// An RFC 8291 Web Push message to a device.
        Push = "push",
        /// A text message through the SMS gateway.
        Sms = "sms",
        /// A citizen's request for an e-mail code: the code is made when it is delivered, for the
        /// account's address, so the code itself is never in the outbox.
        EmailCode = "email_code",
    }
}

/// An outbox message's state, read from its columns: due or being attempted, failing (an attempt
/// failed, another is due later), delivered, or given up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutboxState {
    /// Not attempted yet.
    Waiting,
    /// At least one attempt failed; another is due at `next_attempt_at`.
    Failing,
    /// Delivered.
    Delivered,
    /// Given up (expired, endpoint gone, device disconnected).
    GaveUp,
}

impl OutboxState {
    /// The state of a message with these columns.
    pub fn of(attempts: u64, delivered_at: Option<u64>, gave_up_at: Option<u64>) -> Self {
        match (delivered_at, gave_up_at) {
            (Some(_), _) => OutboxState::Delivered,
            (None, Some(_)) => OutboxState::GaveUp,
            (None, None) if attempts > 0 => OutboxState::Failing,
            (None, None) => OutboxState::Waiting,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_reads_back_from_its_stored_text() {
        for state in PairingState::ALL {
            assert_eq!(PairingState::parse(state.as_str()), Ok(*state));
        }
        for status in LoginStatus::ALL {
            assert_eq!(LoginStatus::parse(status.as_str()), Ok(*status));
        }
        for status in BokStatus::ALL {
            assert_eq!(BokStatus::parse(status.as_str()), Ok(*status));
        }
        for state in OnboardingState::ALL {
            assert_eq!(OnboardingState::parse(state.as_str()), Ok(*state));
        }
        for channel in Channel::ALL {
            assert_eq!(Channel::parse(channel.as_str()), Ok(*channel));
        }
    }

    #[test]
    fn an_unknown_stored_text_is_an_error_that_names_it() {
        let e = LoginStatus::parse("aproved").unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown login status \"aproved\" in the database"
        );
    }

    #[test]
    fn an_outbox_message_is_delivered_before_anything_else() {
        assert_eq!(OutboxState::of(0, None, None), OutboxState::Waiting);
        assert_eq!(OutboxState::of(2, None, None), OutboxState::Failing);
        assert_eq!(OutboxState::of(2, Some(5), None), OutboxState::Delivered);
        assert_eq!(OutboxState::of(2, None, Some(5)), OutboxState::GaveUp);
    }
}
