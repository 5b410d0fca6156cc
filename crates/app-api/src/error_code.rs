//! The stable codes a command rejects with (`CommandError::code`), as one enum: the screens show
//! `app.error.<code>` and branch on a few of them, and the TypeScript union `ErrorCode` generated
//! from it (`types_ts`) lets `tsc` check every code the front end names.
//!
//! The codes come from three places: the app's own refusals, `civkey_client::ClientError::code`
//! and a server's refusal (`civkey_proto::ErrorCode`) passed on as it is. Tests check that every
//! code of the last two has its variant here.

use serde::Serialize;

/// Declares the enum, its wire strings (one per variant, written once) and the list of all.
macro_rules! error_codes {
    ($($(#[$doc:meta])* $variant:ident = $code:tt,)*) => {
        /// A stable error code, as the front end receives it (`"pairing_expired"`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
        #[cfg_attr(test, derive(ts_rs::TS))]
        pub enum ErrorCode {
            $($(#[$doc])* #[serde(rename = $code)] $variant,)*
        }

        impl ErrorCode {
            /// Every code.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),*];

            /// The code as the front end receives it.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $code,)*
                }
            }
        }
    };
}

error_codes! {
    // The app's own.
    /// The app is locked: enter the app PIN first.
    Locked = "locked",
    /// No catalogue for the language tag.
    UnknownLocale = "unknown_locale",
    /// The platform does not offer it (biometrics).
    NotAvailable = "not_available",
    /// `pair_finish` without a `pair_begin`.
    NoPairing = "no_pairing",
    /// `pair_finish` while one already waits.
    PairingBusy = "pairing_busy",
    /// `onboarding_wait` without an `onboarding_start`.
    NoOnboarding = "no_onboarding",
    /// `login_decide` without a `login_open`.
    NoLogin = "no_login",
    /// No such BOK request (also a server's refusal).
    BokUnknown = "bok_unknown",
    /// Not a server's address.
    ServerAddress = "server_address",
    /// A fault inside the app (also a server's refusal).
    Internal = "internal",
    // civkey-client's (`ClientError::code`: the keystore, the PIN, scanning, one-time codes).
    AegisDamaged = "aegis_damaged",
    AmbiguousAccount = "ambiguous_account",
    AmbiguousIdentity = "ambiguous_identity",
    AppReset = "app_reset",
    BackupDamaged = "backup_damaged",
    BadAnswer = "bad_answer",
    BokInvalidFormat = "bok_invalid_format",
    Camera = "camera",
    Cancelled = "cancelled",
    CodeMismatch = "code_mismatch",
    CounterExhausted = "counter_exhausted",
    DuplicateAccount = "duplicate_account",
    Image = "image",
    Invalid = "invalid",
    KeystoreDamaged = "keystore_damaged",
    KeystoreMissing = "keystore_missing",
    KeystoreRefused = "keystore_refused",
    KeystoreUnavailable = "keystore_unavailable",
    NoBokRequest = "no_bok_request",
    NoCamera = "no_camera",
    NoCode = "no_code",
    NoSuchPosition = "no_such_position",
    NotALink = "not_a_link",
    NotCivkey = "not_civkey",
    NotFound = "not_found",
    NotLogin = "not_login",
    NotPaired = "not_paired",
    NotPairing = "not_pairing",
    NothingToExport = "nothing_to_export",
    OnboardingExpired = "onboarding_expired",
    PairingExpired = "pairing_expired",
    PairingRefused = "pairing_refused",
    PassphraseNeeded = "passphrase_needed",
    PassphraseTooShort = "passphrase_too_short",
    PinAlreadySet = "pin_already_set",
    PinDamaged = "pin_damaged",
    PinFormat = "pin_format",
    PinGuessable = "pin_guessable",
    PinNotSet = "pin_not_set",
    PinWait = "pin_wait",
    Profile = "profile",
    ScanFailed = "scan_failed",
    Timeout = "timeout",
    UnknownAccount = "unknown_account",
    UnknownFormat = "unknown_format",
    UnknownIdentity = "unknown_identity",
    Unreachable = "unreachable",
    Unreadable = "unreadable",
    UnsupportedType = "unsupported_type",
    VaultDamaged = "vault_damaged",
    VaultKeyDamaged = "vault_key_damaged",
    VaultKeyMissing = "vault_key_missing",
    VaultTooNew = "vault_too_new",
    WrongPassphrase = "wrong_passphrase",
    WrongPin = "wrong_pin",
    // A server's refusal (civkey-proto's `ErrorCode`, passed on as it is).
    BadRequest = "bad_request",
    BodyTooLarge = "body_too_large",
    UnsupportedMediaType = "unsupported_media_type",
    MethodNotAllowed = "method_not_allowed",
    RateLimited = "rate_limited",
    Unauthorized = "unauthorized",
    Forbidden = "forbidden",
    CsrfFailed = "csrf_failed",
    WrongCredentials = "wrong_credentials",
    BadSignature = "bad_signature",
    Replayed = "replayed",
    DeviceUnknown = "device_unknown",
    DeviceDisconnected = "device_disconnected",
    PairingUnknown = "pairing_unknown",
    PairingUsed = "pairing_used",
    PairingTaken = "pairing_taken",
    OnboardingUnknown = "onboarding_unknown",
    OnboardingUsed = "onboarding_used",
    UsernameTaken = "username_taken",
    LoginUnknown = "login_unknown",
    LoginExpired = "login_expired",
    LoginUsed = "login_used",
    LoginQrStale = "login_qr_stale",
    LoginQrInvalid = "login_qr_invalid",
    LaunchTokenInvalid = "launch_token_invalid",
    LoginDenied = "login_denied",
    BokBlocked = "bok_blocked",
    BokExpired = "bok_expired",
    BokAnswered = "bok_answered",
    BokPadOff = "bok_pad_off",
    BokNotSet = "bok_not_set",
    BokNoDevice = "bok_no_device",
    PushEndpointRefused = "push_endpoint_refused",
    Unknown = "unknown",
}

impl ErrorCode {
    /// The variant of a code `civkey_client` or a server gave, if the app knows it.
    pub fn from_code(code: &str) -> Option<ErrorCode> {
        ErrorCode::ALL
            .iter()
            .copied()
            .find(|known| known.as_str() == code)
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<str> for ErrorCode {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for ErrorCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_distinct_and_snake_case() {
        let mut seen = std::collections::BTreeSet::new();
        for code in ErrorCode::ALL {
            let text = code.as_str();
            assert!(seen.insert(text), "{text} twice");
            assert!(
                text.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{text}"
            );
            assert_eq!(ErrorCode::from_code(text), Some(*code));
            assert_eq!(serde_json::to_value(code).unwrap(), text);
        }
    }

    #[test]
    fn every_server_refusal_is_passed_on_with_its_own_code() {
        for code in civkey_proto::ErrorCode::ALL {
            assert!(
                ErrorCode::from_code(code.as_str()).is_some(),
                "civkey-proto's {code:?} has no variant in ErrorCode"
            );
        }
    }

    /// `ClientError::code` and the codes of the errors inside it return string literals; every
    /// literal they can return has its variant (read from the sources, so a new code there fails
    /// here until it is added).
    #[test]
    fn every_client_code_has_its_variant() {
        let sources = [
            include_str!("../../client/src/lib.rs"),
            include_str!("../../client/src/app_lock.rs"),
            include_str!("../../client/src/otp/mod.rs"),
            include_str!("../../client/src/otp/import.rs"),
        ];
        let mut missing = Vec::new();
        let mut found = 0;
        for source in sources {
            for (start, _) in source.match_indices("fn code(&self) -> &'static str {") {
                let body = &source[start..];
                let body = &body[..body.find("\n    }\n").unwrap_or(body.len())];
                for literal in body.split('"').skip(1).step_by(2) {
                    if literal.is_empty()
                        || !literal.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                    {
                        continue;
                    }
                    found += 1;
                    if ErrorCode::from_code(literal).is_none() {
                        missing.push(literal.to_string());
                    }
                }
            }
        }
        assert!(
            found > 40,
            "the code functions were not found ({found} codes)"
        );
        assert!(missing.is_empty(), "codes without a variant: {missing:?}");
    }
}
