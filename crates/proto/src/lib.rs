//! civkey protocol v1: every byte that crosses a boundary between the civkey app and the civkey
//! server, and the pure logic both sides must agree on. No I/O lives here.
//!
//! One module per message family, named as in `docs/protocol.md`:
//!
//! | module | what it owns |
//! |---|---|
//! | [`pair`] | the pairing URI `civkey://pair?…`, the confirmation code, the pairing API bodies |
//! | [`onboard`] | in-person onboarding: the identification code and the onboarding API bodies |
//! | [`login`] | the animated login URI `civkey://login?…`, its QR code MAC, the login API bodies |
//! | [`otp`] | `otpauth://` Key URIs, Google Authenticator's `otpauth-migration://` export, HOTP/TOTP |
//! | [`sign`] | the exact bytes a device signs, P-256 public keys and signatures |
//! | [`device`] | device list/rename/disconnect bodies, push registration, authenticated device calls |
//! | [`notify`] | notification settings bodies |
//! | [`oidc`] | the OpenID Connect bodies: discovery, token response, ID token claims, userinfo, JWKS |
//! | [`bok`] | BOK-pad requests and answers |
//! | [`events`] | the event stream to the app |
//! | [`forwarded`] | the client address behind trusted reverse proxies (`Forwarded`, `X-Forwarded-For`), rate-limit keys |
//! | [`clock`] | the [`clock::Clock`] trait that flows read the time through, and the system's clock |
//! | [`rules`] | BOK (4–10 digits) and app PIN (6 digits) rules |
//! | [`error`] | the wire error body `{ "code", "message" }` and this crate's parse [`Error`] |
//!
//! Every parser of untrusted text refuses input longer than [`MAX_INPUT_LEN`] and returns a typed
//! [`Error`] that says what is wrong; none of them panics.
#![deny(missing_docs)]

pub mod bok;
pub mod clock;
pub mod device;
mod encoding;
pub mod error;
pub mod events;
pub mod forwarded;
pub mod ids;
pub mod login;
pub mod notify;
pub mod oidc;
pub mod onboard;
pub mod origin;
pub mod otp;
pub mod pair;
pub mod paths;
pub mod rules;
pub mod sign;
pub mod uri;

pub use error::{ApiError, Error, ErrorCode};
pub use origin::Origin;
pub use uri::ScannedCode;

/// The protocol version this crate speaks; carried as `v=1` in every civkey URI.
pub const PROTOCOL_VERSION: u32 = 1;

/// The longest text any parser here accepts (4 KiB); longer input is refused before it is read.
pub const MAX_INPUT_LEN: usize = 4096;

/// A point in time: whole seconds since the Unix epoch (UTC).
pub type UnixSeconds = u64;

pub(crate) fn check_len(input: &str) -> Result<(), Error> {
    if input.len() > MAX_INPUT_LEN {
        return Err(Error::TooLong {
            len: input.len(),
            max: MAX_INPUT_LEN,
        });
    }
    Ok(())
}
