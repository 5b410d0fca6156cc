//! Errors: this crate's parse [`Error`], and the error body every civkey endpoint answers with.

use serde::{Deserialize, Serialize};

/// What is wrong with a piece of untrusted input (a URI, a code, a value in a body).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The input is longer than [`crate::MAX_INPUT_LEN`].
    #[error("input is {len} bytes long; at most {max} are accepted")]
    TooLong {
        /// Length of the input in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The input is empty.
    #[error("input is empty")]
    Empty,
    /// The URI has another scheme than the one expected.
    #[error("not a {expected} link (it starts with {found:?})")]
    WrongScheme {
        /// The scheme(s) this parser reads.
        expected: &'static str,
        /// What the input starts with (shortened).
        found: String,
    },
    /// A civkey URI of a kind this version does not know (neither `pair` nor `login`).
    #[error("unknown civkey link kind {0:?}")]
    UnknownKind(String),
    /// The URI is not well formed.
    #[error("malformed link: {0}")]
    Malformed(&'static str),
    /// A required parameter is missing.
    #[error("parameter {0:?} is missing")]
    MissingParam(&'static str),
    /// A parameter occurs more than once.
    #[error("parameter {0:?} occurs more than once")]
    DuplicateParam(String),
    /// A parameter this kind of link does not have.
    #[error("unknown parameter {0:?}")]
    UnknownParam(String),
    /// A parameter's value is not valid.
    #[error("parameter {param:?} is invalid: {reason}")]
    InvalidParam {
        /// The parameter's name.
        param: &'static str,
        /// Why it is invalid.
        reason: &'static str,
    },
    /// A protocol version this build does not speak.
    #[error("protocol version {0} is not supported (this app speaks version 1); update civkey")]
    UnsupportedVersion(String),
    /// A server or web origin that is not acceptable.
    #[error("invalid origin: {0}")]
    InvalidOrigin(&'static str),
    /// A value is not valid (a code, a key, a name).
    #[error("{what} is invalid: {reason}")]
    Invalid {
        /// What the value is.
        what: &'static str,
        /// Why it is invalid.
        reason: &'static str,
    },
}

/// The stable error codes civkey endpoints answer with. Clients match on these, never on messages.
///
/// New codes may appear in later versions: a client reads an unknown code as [`ErrorCode::Unknown`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    // Generic request problems.
    /// The request is malformed (bad JSON, missing or unknown fields, invalid values).
    BadRequest,
    /// The body is larger than the endpoint accepts.
    BodyTooLarge,
    /// The `Content-Type` is not the one the endpoint reads.
    UnsupportedMediaType,
    /// No such resource.
    NotFound,
    /// The method is not allowed here.
    MethodNotAllowed,
    /// Too many attempts; try again after the time the message names.
    RateLimited,
    /// The server failed; the cause is in its log, not in the answer.
    Internal,
    // Sessions and authentication.
    /// Not logged in, or the login has expired.
    Unauthorized,
    /// Logged in, but with a role that may not do this (a clerk acting as a citizen, or the reverse).
    Forbidden,
    /// A form was posted without a valid anti-forgery token.
    CsrfFailed,
    /// The password or one-time code is wrong.
    WrongCredentials,
    // Device calls.
    /// The signature does not verify against the device's key.
    BadSignature,
    /// The request was already seen (same nonce), or its timestamp is outside the allowed skew.
    Replayed,
    /// The device is not known to the server.
    DeviceUnknown,
    /// The device was disconnected by the citizen; it must be paired again.
    DeviceDisconnected,
    // Pairing.
    /// No such pairing session.
    PairingUnknown,
    /// The pairing session is older than four minutes.
    PairingExpired,
    /// The pairing session was already completed or claimed.
    PairingUsed,
    /// Another app scanned the same QR code first.
    PairingTaken,
    /// The citizen said the browser showed a different confirmation code.
    PairingRefused,
    // In-person onboarding.
    /// No such onboarding, or the identification code is not one the server issued.
    OnboardingUnknown,
    /// The onboarding (its identification code) is older than its lifetime.
    OnboardingExpired,
    /// The identification code was already used to onboard a citizen.
    OnboardingUsed,
    /// The username is taken by another citizen.
    UsernameTaken,
    // Login.
    /// No such login request.
    LoginUnknown,
    /// The login request has expired.
    LoginExpired,
    /// The login request was already decided.
    LoginUsed,
    /// The QR code was scanned too late (a photographed or relayed code).
    LoginQrStale,
    /// The QR code's MAC does not verify.
    LoginQrInvalid,
    /// The same-device launch token is unknown or was already used.
    LaunchTokenInvalid,
    /// The citizen denied the login.
    LoginDenied,
    // BOK-pad.
    /// The BOK is not 4–10 digits.
    BokInvalidFormat,
    /// The BOK is blocked after too many wrong answers; an office must unblock it.
    BokBlocked,
    /// No such BOK request.
    BokUnknown,
    /// The BOK request has expired.
    BokExpired,
    /// The BOK request was already answered.
    BokAnswered,
    /// This device does not have BOK-pad switched on.
    BokPadOff,
    /// The citizen has no BOK on record; the office sets one first.
    BokNotSet,
    /// The citizen has no connected mobile key with BOK-pad switched on.
    BokNoDevice,
    // Push.
    /// The push endpoint is not https, not one of the operator's push services, or is (or
    /// resolves to) an address the server may not reach (loopback, private, link-local, …).
    PushEndpointRefused,
    /// A code this client does not know (sent by a newer server).
    #[serde(other)]
    Unknown,
}

impl ErrorCode {
    /// The HTTP status an endpoint answers with for this code.
    pub fn http_status(self) -> u16 {
        use ErrorCode::*;
        match self {
            BadRequest | BokInvalidFormat | LoginQrInvalid | PushEndpointRefused => 400,
            Unauthorized | WrongCredentials | BadSignature | Replayed | DeviceUnknown => 401,
            Forbidden | CsrfFailed | DeviceDisconnected | BokPadOff => 403,
            NotFound | PairingUnknown | LoginUnknown | BokUnknown | LaunchTokenInvalid
            | OnboardingUnknown => 404,
            MethodNotAllowed => 405,
            PairingUsed | PairingTaken | PairingRefused | LoginUsed | LoginDenied | BokAnswered
            | BokNotSet | BokNoDevice | OnboardingUsed | UsernameTaken => 409,
            PairingExpired | LoginExpired | LoginQrStale | BokExpired | OnboardingExpired => 410,
            BodyTooLarge => 413,
            UnsupportedMediaType => 415,
            BokBlocked | RateLimited => 429,
            Internal | Unknown => 500,
        }
    }

    /// The code as it appears on the wire (`pairing_expired`).
    pub fn as_str(self) -> &'static str {
        use ErrorCode::*;
        match self {
            BadRequest => "bad_request",
            BodyTooLarge => "body_too_large",
            UnsupportedMediaType => "unsupported_media_type",
            NotFound => "not_found",
            MethodNotAllowed => "method_not_allowed",
            RateLimited => "rate_limited",
            Internal => "internal",
            Unauthorized => "unauthorized",
            Forbidden => "forbidden",
            CsrfFailed => "csrf_failed",
            WrongCredentials => "wrong_credentials",
            BadSignature => "bad_signature",
            Replayed => "replayed",
            DeviceUnknown => "device_unknown",
            DeviceDisconnected => "device_disconnected",
            PairingUnknown => "pairing_unknown",
            PairingExpired => "pairing_expired",
            PairingUsed => "pairing_used",
            PairingTaken => "pairing_taken",
            PairingRefused => "pairing_refused",
            OnboardingUnknown => "onboarding_unknown",
            OnboardingExpired => "onboarding_expired",
            OnboardingUsed => "onboarding_used",
            UsernameTaken => "username_taken",
            LoginUnknown => "login_unknown",
            LoginExpired => "login_expired",
            LoginUsed => "login_used",
            LoginQrStale => "login_qr_stale",
            LoginQrInvalid => "login_qr_invalid",
            LaunchTokenInvalid => "launch_token_invalid",
            LoginDenied => "login_denied",
            BokInvalidFormat => "bok_invalid_format",
            BokBlocked => "bok_blocked",
            BokUnknown => "bok_unknown",
            BokExpired => "bok_expired",
            BokAnswered => "bok_answered",
            BokPadOff => "bok_pad_off",
            BokNotSet => "bok_not_set",
            BokNoDevice => "bok_no_device",
            PushEndpointRefused => "push_endpoint_refused",
            Unknown => "unknown",
        }
    }

    /// Every code, for tests and documentation.
    pub const ALL: &'static [ErrorCode] = &[
        ErrorCode::BadRequest,
        ErrorCode::BodyTooLarge,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::NotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::RateLimited,
        ErrorCode::Internal,
        ErrorCode::Unauthorized,
        ErrorCode::Forbidden,
        ErrorCode::CsrfFailed,
        ErrorCode::WrongCredentials,
        ErrorCode::BadSignature,
        ErrorCode::Replayed,
        ErrorCode::DeviceUnknown,
        ErrorCode::DeviceDisconnected,
        ErrorCode::PairingUnknown,
        ErrorCode::PairingExpired,
        ErrorCode::PairingUsed,
        ErrorCode::PairingTaken,
        ErrorCode::PairingRefused,
        ErrorCode::OnboardingUnknown,
        ErrorCode::OnboardingExpired,
        ErrorCode::OnboardingUsed,
        ErrorCode::UsernameTaken,
        ErrorCode::LoginUnknown,
        ErrorCode::LoginExpired,
        ErrorCode::LoginUsed,
        ErrorCode::LoginQrStale,
        ErrorCode::LoginQrInvalid,
        ErrorCode::LaunchTokenInvalid,
        ErrorCode::LoginDenied,
        ErrorCode::BokInvalidFormat,
        ErrorCode::BokBlocked,
        ErrorCode::BokUnknown,
        ErrorCode::BokExpired,
        ErrorCode::BokAnswered,
        ErrorCode::BokPadOff,
        ErrorCode::BokNotSet,
        ErrorCode::BokNoDevice,
        ErrorCode::PushEndpointRefused,
    ];
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The body of every error answer: `{ "code": "pairing_expired", "message": "…" }`.
///
/// `message` is for people and logs, in English; clients translate from `code`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    /// The stable code.
    pub code: ErrorCode,
    /// A short human explanation. Never contains secrets or internals.
    pub message: String,
}

impl ApiError {
    /// An error body with `code` and `message`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_serialises_as_its_stable_name_and_back() {
        for &code in ErrorCode::ALL {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            assert_eq!(serde_json::from_str::<ErrorCode>(&json).unwrap(), code);
            assert!((400..600).contains(&code.http_status()));
        }
    }

    #[test]
    fn an_unknown_code_from_a_newer_server_reads_as_unknown() {
        let body: ApiError =
            serde_json::from_str(r#"{"code":"quantum_flux","message":"new"}"#).unwrap();
        assert_eq!(body.code, ErrorCode::Unknown);
    }

    #[test]
    fn error_body_has_the_documented_shape() {
        let body = ApiError::new(ErrorCode::PairingExpired, "the QR code has expired");
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"code":"pairing_expired","message":"the QR code has expired"}"#
        );
    }
}
