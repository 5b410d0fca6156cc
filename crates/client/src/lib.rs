//! The civkey app's core as a plain library: the `civkey` command and the Tauri app are two faces
//! of it, and tests drive it directly.
//!
//! - [`keystore`]: the OS keystore seam (device keys live only there);
//! - [`app_lock`]: the app PIN, its slowing-down waits and the reset after ten wrong PINs;
//! - [`profile`]: the identities this device holds, in a non-secret state file;
//! - [`pairing`]: scanned pairing URI → confirmation code → stored identity;
//! - [`onboarding`]: no account yet → identification code for the office counter → stored identity;
//! - [`scan`]: QR codes from the camera, image files or generated frames;
//! - [`server_api`]: the HTTP calls, signed with the device key;
//! - [`login`]: approving a login with the device key;
//! - [`otp`]: one-time code accounts in an encrypted vault, imports and backups;
//! - [`bok`]: the BOK-pad: an office's requests for the security personal code, and the answer;
//! - [`events`]: the server's event stream (login notifications, BOK requests), resumed after
//!   the last event seen.

pub mod app_lock;
pub mod bok;
pub mod clock;
pub mod events;
pub mod keystore;
pub mod login;
pub mod onboarding;
pub mod otp;
pub mod pairing;
pub mod profile;
pub mod scan;
pub mod server_api;

use std::path::PathBuf;

use civkey_i18n::{tr_args, Locale};
use civkey_proto::device::{DeviceKind, DeviceModel, DeviceName};
use civkey_proto::login::LoginUri;
use civkey_proto::{ErrorCode, ScannedCode};
use serde::Serialize;

use crate::keystore::KeyStoreError;
use crate::server_api::{ApiFailure, DeviceDescription};

/// What can go wrong in the app's core.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The scanned or pasted text is not a code civkey reads.
    #[error("not a code civkey can read: {0}")]
    Unreadable(#[from] civkey_proto::Error),
    /// A code civkey reads, but not the kind this step needs.
    #[error("not a pairing QR code: {0:?}")]
    NotPairing(CodeSummary),
    /// A code civkey reads, but not a login code.
    #[error("not a login QR code: {0:?}")]
    NotLogin(CodeSummary),
    /// This device holds no identity at the server a login code is from.
    #[error("this device is not paired with {0}")]
    NotPaired(String),
    /// The OS keystore is missing, locked or refused.
    #[error(transparent)]
    KeyStore(#[from] KeyStoreError),
    /// The server refused, could not be reached or answered nonsense.
    #[error(transparent)]
    Api(ApiFailure),
    /// The citizen said the browser showed a different code.
    #[error("the pairing was refused in the browser")]
    PairingRefused,
    /// The pairing session expired before the browser decided.
    #[error("the pairing QR code has expired")]
    PairingExpired,
    /// The identification code expired before a clerk entered it.
    #[error("the identification code has expired")]
    OnboardingExpired,
    /// The server reported a confirmation code other than the one this device derived.
    #[error("the server reported a different confirmation code")]
    CodeMismatch,
    /// The profile's state file cannot be read or written.
    #[error("cannot use {}: {reason}", path.display())]
    Profile {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// No identity matches.
    #[error("no identity matches {0}")]
    UnknownIdentity(String),
    /// Several identities match.
    #[error("{0} matches more than one identity")]
    AmbiguousIdentity(String),
    /// Scanning failed.
    #[error(transparent)]
    Scan(#[from] scan::ScanError),
    /// One-time code accounts, the vault, an import or a backup.
    #[error(transparent)]
    Otp(#[from] otp::OtpError),
    /// The app PIN.
    #[error(transparent)]
    AppLock(#[from] app_lock::AppLockError),
    /// A BOK that breaks the rules (4–10 digits), refused before anything was sent. The reason
    /// never holds the digits.
    #[error("not a security personal code: {0}")]
    BokFormat(civkey_proto::Error),
    /// Waited for an office's BOK request and none came.
    #[error("no BOK request came in time")]
    NoBokRequest,
}

impl From<ApiFailure> for ClientError {
    fn from(failure: ApiFailure) -> Self {
        match failure {
            ApiFailure::KeyStore(e) => ClientError::KeyStore(e),
            other => ClientError::Api(other),
        }
    }
}

impl ClientError {
    /// A stable code for machine-readable output (`--json`).
    pub fn code(&self) -> &'static str {
        match self {
            ClientError::Unreadable(_) => "unreadable",
            ClientError::NotPairing(_) => "not_pairing",
            ClientError::NotLogin(_) => "not_login",
            ClientError::NotPaired(_) => "not_paired",
            ClientError::KeyStore(KeyStoreError::Unavailable(_)) => "keystore_unavailable",
            ClientError::KeyStore(KeyStoreError::Refused(_)) => "keystore_refused",
            ClientError::KeyStore(KeyStoreError::Missing(_)) => "keystore_missing",
            ClientError::KeyStore(KeyStoreError::Damaged(_)) => "keystore_damaged",
            ClientError::Api(ApiFailure::Refused(e)) => e.code.as_str(),
            ClientError::Api(ApiFailure::Unreachable(_)) => "unreachable",
            ClientError::Api(ApiFailure::Garbage(_)) => "bad_answer",
            ClientError::Api(ApiFailure::NotFound) => "not_found",
            ClientError::Api(ApiFailure::KeyStore(_)) => "keystore_unavailable",
            ClientError::PairingRefused => "pairing_refused",
            ClientError::PairingExpired => "pairing_expired",
            ClientError::OnboardingExpired => "onboarding_expired",
            ClientError::CodeMismatch => "code_mismatch",
            ClientError::Profile { .. } => "profile",
            ClientError::UnknownIdentity(_) => "unknown_identity",
            ClientError::AmbiguousIdentity(_) => "ambiguous_identity",
            ClientError::Scan(e) => e.code(),
            ClientError::Otp(e) => e.code(),
            ClientError::AppLock(e) => e.code(),
            ClientError::BokFormat(_) => "bok_invalid_format",
            ClientError::NoBokRequest => "no_bok_request",
        }
    }

    /// What went wrong and what to do next, in `locale`, worded for the `civkey` command.
    pub fn describe(&self, locale: Locale) -> String {
        let t = |key: &str, args: &[(&str, &str)]| tr_args(locale, key, args);
        match self {
            ClientError::Unreadable(e) => t("cli.error.unreadable", &[("reason", &e.to_string())]),
            ClientError::NotPairing(what) => {
                t("cli.error.not_pairing", &[("what", &what.to_text(locale))])
            }
            ClientError::NotLogin(what) => {
                t("cli.error.not_login", &[("what", &what.to_text(locale))])
            }
            ClientError::NotPaired(origin) => t("cli.error.not_paired", &[("origin", origin)]),
            ClientError::KeyStore(e) | ClientError::Api(ApiFailure::KeyStore(e)) => match e {
                KeyStoreError::Unavailable(r) => {
                    t("cli.error.keystore_unavailable", &[("reason", r)])
                }
                KeyStoreError::Refused(r) => t("cli.error.keystore_refused", &[("reason", r)]),
                KeyStoreError::Missing(_) => t("cli.error.keystore_missing", &[]),
                KeyStoreError::Damaged(_) => t("cli.error.keystore_damaged", &[]),
            },
            ClientError::Api(ApiFailure::Refused(e)) => match e.code {
                ErrorCode::PairingUsed | ErrorCode::PairingTaken => {
                    t("cli.error.pairing_used", &[])
                }
                ErrorCode::PairingUnknown => t("cli.error.pairing_unknown", &[]),
                ErrorCode::PairingExpired => t("cli.error.pairing_expired", &[]),
                ErrorCode::OnboardingUnknown => t("cli.error.onboarding_unknown", &[]),
                ErrorCode::OnboardingExpired => t("cli.error.onboarding_expired", &[]),
                ErrorCode::LoginQrStale => t("cli.error.login_qr_stale", &[]),
                ErrorCode::LoginExpired | ErrorCode::LoginUnknown => {
                    t("cli.error.login_expired", &[])
                }
                ErrorCode::LoginUsed => t("cli.error.login_used", &[]),
                ErrorCode::LaunchTokenInvalid => t("cli.error.launch_token_used", &[]),
                ErrorCode::DeviceUnknown | ErrorCode::DeviceDisconnected => {
                    t("cli.error.device_disconnected", &[])
                }
                ErrorCode::BokInvalidFormat => t("cli.error.bok_invalid_format", &[]),
                ErrorCode::BokExpired | ErrorCode::BokUnknown => t("cli.error.bok_expired", &[]),
                ErrorCode::BokAnswered => t("cli.error.bok_answered", &[]),
                ErrorCode::BokBlocked => t("cli.error.bok_blocked", &[]),
                ErrorCode::BokPadOff => t("cli.error.bok_pad_off", &[]),
                ErrorCode::BokNotSet => t("cli.error.bok_not_set", &[]),
                _ => t(
                    "cli.error.server",
                    &[("code", e.code.as_str()), ("message", &e.message)],
                ),
            },
            ClientError::Api(ApiFailure::Unreachable(r)) => {
                t("cli.error.unreachable", &[("reason", r)])
            }
            ClientError::Api(ApiFailure::Garbage(r)) => t("cli.error.bad_answer", &[("reason", r)]),
            ClientError::Api(ApiFailure::NotFound) => t("cli.error.not_found", &[]),
            ClientError::PairingRefused => t("cli.error.pairing_refused", &[]),
            ClientError::PairingExpired => t("cli.error.pairing_expired", &[]),
            ClientError::OnboardingExpired => t("cli.error.onboarding_expired", &[]),
            ClientError::CodeMismatch => t("cli.error.code_mismatch", &[]),
            ClientError::Profile { path, reason } => t(
                "cli.error.profile",
                &[("path", &path.display().to_string()), ("reason", reason)],
            ),
            ClientError::UnknownIdentity(id) => t("cli.error.unknown_identity", &[("id", id)]),
            ClientError::AmbiguousIdentity(id) => t("cli.error.ambiguous_identity", &[("id", id)]),
            ClientError::Scan(e) => e.describe(locale),
            ClientError::Otp(e) => e.describe(locale),
            ClientError::AppLock(e) => e.describe(locale),
            ClientError::BokFormat(_) => t("cli.error.bok_invalid_format", &[]),
            ClientError::NoBokRequest => t("cli.error.no_bok_request", &[]),
        }
    }
}

impl scan::ScanError {
    /// A stable code for machine-readable output.
    pub fn code(&self) -> &'static str {
        use scan::ScanError as E;
        match self {
            E::NoCamera => "no_camera",
            E::Camera(_) => "camera",
            E::Image { .. } => "image",
            E::NoCodeInImage { .. } => "no_code",
            E::NothingFound { .. } => "no_code",
            E::NotCivkey { .. } => "not_civkey",
            E::Timeout => "timeout",
            E::Cancelled => "cancelled",
            E::InvalidFrame(_) | E::Generate(_) | E::Internal(_) => "scan_failed",
        }
    }

    /// What went wrong and what to do next, in `locale`.
    pub fn describe(&self, locale: Locale) -> String {
        use scan::ScanError as E;
        let t = |key: &str, args: &[(&str, &str)]| tr_args(locale, key, args);
        match self {
            E::NoCamera => t("cli.scan.error.no_camera", &[]),
            E::Camera(reason) => t("cli.scan.error.camera", &[("reason", reason)]),
            E::Image { path, reason } => t(
                "cli.scan.error.image",
                &[("image", &path.display().to_string()), ("reason", reason)],
            ),
            E::NoCodeInImage { path } => {
                t("cli.scan.none", &[("image", &path.display().to_string())])
            }
            E::NothingFound { .. } => t("cli.scan.error.nothing_found", &[]),
            E::NotCivkey { .. } => t("cli.scan.error.not_civkey", &[]),
            E::Timeout => t("cli.scan.error.timeout", &[]),
            E::Cancelled => t("cli.scan.error.cancelled", &[]),
            E::InvalidFrame(reason) | E::Generate(reason) | E::Internal(reason) => {
                t("cli.scan.error.internal", &[("reason", reason)])
            }
        }
    }
}

/// How this computer describes itself when pairing: its host name (or `civkey`), the model
/// `civkey (<OS>)`, a desktop.
pub fn this_computer() -> Result<DeviceDescription, civkey_proto::Error> {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| {
            h.trim()
                .chars()
                .take(DeviceName::MAX_CHARS)
                .collect::<String>()
        })
        .unwrap_or_default();
    Ok(DeviceDescription {
        name: DeviceName::parse(&host).or_else(|_| DeviceName::parse("civkey"))?,
        model: DeviceModel::parse(&format!("civkey ({})", std::env::consts::OS))?,
        kind: DeviceKind::Desktop,
    })
}

/// A scanned code, described without its secrets (safe to print and log).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CodeSummary {
    /// A pairing QR code.
    Pairing {
        /// The server to pair with.
        origin: String,
    },
    /// A login QR code or same-device link.
    Login {
        /// The server.
        origin: String,
        /// Whether it is the same-device link.
        same_device: bool,
    },
    /// A one-time code account.
    Otp {
        /// `Issuer: account`.
        label: String,
    },
    /// A Google Authenticator export batch.
    OtpMigration {
        /// Accounts in this batch.
        count: usize,
        /// Which batch (from 1).
        index: i32,
        /// How many batches.
        size: i32,
    },
}

impl CodeSummary {
    /// Reads `text` and describes it.
    pub fn read(text: &str) -> Result<Self, ClientError> {
        Ok(Self::of(&ScannedCode::parse(text)?))
    }

    /// Describes a parsed code.
    pub fn of(code: &ScannedCode) -> Self {
        match code {
            ScannedCode::Pair(p) => CodeSummary::Pairing {
                origin: p.origin.to_string(),
            },
            ScannedCode::Login(l) => CodeSummary::Login {
                origin: l.origin().to_string(),
                same_device: matches!(l, LoginUri::SameDevice { .. }),
            },
            ScannedCode::Otp(a) => CodeSummary::Otp { label: a.label() },
            ScannedCode::OtpMigration(m) => CodeSummary::OtpMigration {
                count: m.entries.len(),
                index: m.batch_index.saturating_add(1),
                size: m.batch_size,
            },
        }
    }

    /// One line for people, in `locale`.
    pub fn to_text(&self, locale: Locale) -> String {
        match self {
            CodeSummary::Pairing { origin } => {
                tr_args(locale, "cli.inspect.pairing", &[("origin", origin)])
            }
            CodeSummary::Login {
                origin,
                same_device: false,
            } => tr_args(locale, "cli.inspect.login", &[("origin", origin)]),
            CodeSummary::Login {
                origin,
                same_device: true,
            } => tr_args(
                locale,
                "cli.inspect.login_same_device",
                &[("origin", origin)],
            ),
            CodeSummary::Otp { label } => tr_args(locale, "cli.inspect.otp", &[("label", label)]),
            CodeSummary::OtpMigration { count, index, size } => tr_args(
                locale,
                "cli.inspect.migration",
                &[
                    ("count", &count.to_string()),
                    ("index", &index.to_string()),
                    ("size", &size.to_string()),
                ],
            ),
        }
    }
}

/// The user's language from the environment (`LC_ALL`, `LC_MESSAGES`, `LANG`), as POSIX orders it.
pub fn locale_from_env() -> Locale {
    let vars = ["LC_ALL", "LC_MESSAGES", "LANG"].map(|v| std::env::var(v).unwrap_or_default());
    Locale::negotiate(
        vars.iter()
            .map(String::as_str)
            .filter(|v| !v.is_empty() && *v != "C"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pairing_code_is_described_without_its_secret() {
        let uri = "civkey://pair?v=1&s=https%3A%2F%2Fid.example.gov&id=AAECAwQFBgcICQoLDA0ODw&k=EBESExQVFhcYGRobHB0eHw";
        let summary = CodeSummary::read(uri).unwrap();
        let text = summary.to_text(Locale::En);
        assert_eq!(text, "Pairing QR code for https://id.example.gov");
        let json = serde_json::to_string(&summary).unwrap();
        assert!(!json.contains("EBESExQVFhcYGRobHB0eHw"), "{json}");
        assert_eq!(
            summary.to_text(Locale::Cs),
            "QR kód pro spárování s https://id.example.gov"
        );
    }

    #[test]
    fn other_codes_are_refused_with_the_reason() {
        let err = CodeSummary::read("https://example.com")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("not a civkey, otpauth or otpauth-migration link"),
            "{err}"
        );
    }
}
