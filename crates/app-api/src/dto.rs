//! What the commands answer, as the front end receives it (JSON, snake_case field names).
//!
//! These are the app's own types, converted from `civkey_client`'s: the contract with the screens
//! (ui/README.md, "The Backend interface") stays put when the client's types grow. A test
//! generates their TypeScript declarations into `ui/www/lib/backend/types.d.ts` (see
//! `types_ts.rs`); the derive is compiled for tests only, so the app does not link `ts-rs`.

use civkey_client::profile::Identity as ClientIdentity;
use civkey_client::{ClientError, CodeSummary};
use civkey_i18n::Locale;
use civkey_proto::otp::{Algorithm, OtpKind as ClientOtpKind};
use serde::Serialize;

pub use crate::error_code::ErrorCode;

/// An error as the front end receives it: a stable `code` to branch on (the screens show
/// `app.error.<code>`) and a `message` in English for logs. Never holds a secret.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct CommandError {
    /// Stable: `locked`, `wrong_pin`, `pairing_expired`, `no_camera`, … (ui/README.md).
    pub code: ErrorCode,
    /// What happened, for logs and developers.
    pub message: String,
}

impl CommandError {
    /// An error with `code` and `message`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        CommandError {
            code,
            message: message.into(),
        }
    }

    /// The app is locked: everything but the PIN screen's commands is refused.
    pub fn locked() -> Self {
        Self::new(
            ErrorCode::Locked,
            "the app is locked: enter the app PIN first",
        )
    }
}

impl From<ClientError> for CommandError {
    fn from(error: ClientError) -> Self {
        // Every code the client gives has its variant (error_code's tests); `internal` is the
        // answer to a code added there and not here.
        let code = ErrorCode::from_code(error.code()).unwrap_or(ErrorCode::Internal);
        CommandError::new(code, error.to_string())
    }
}

/// Whether the app PIN was chosen, and whether the app is unlocked now.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum PinState {
    /// First run: no PIN yet.
    Unset,
    /// A PIN is set and must be entered.
    Locked,
    /// The PIN was entered.
    Unlocked,
}

/// Which kind of device the app runs on.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum Platform {
    /// Linux, macOS, Windows.
    Desktop,
    /// Android.
    Android,
    /// iOS.
    Ios,
}

impl Platform {
    /// The platform this build is for.
    pub const fn current() -> Self {
        if cfg!(target_os = "android") {
            Platform::Android
        } else if cfg!(target_os = "ios") {
            Platform::Ios
        } else {
            Platform::Desktop
        }
    }
}

/// The app's state for the PIN screen and the settings.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct AppStatus {
    /// `unset` (first run), `locked` or `unlocked`.
    #[cfg_attr(test, ts(inline))]
    pub pin: PinState,
    /// Seconds before the next PIN is taken (0: now).
    pub wait_seconds: u64,
    /// Wrong PINs left before the app resets itself.
    pub attempts_left: u32,
    /// The language in use: `cs`, `hu` or `en`.
    pub locale: String,
    /// The language chosen in the settings; `null` follows the system.
    pub language_choice: Option<String>,
    /// `desktop`, `android` or `ios`.
    #[cfg_attr(test, ts(inline))]
    pub platform: Platform,
    /// Whether biometrics can unlock the app (not yet on any platform: docs/mobile.md).
    pub biometrics: bool,
    /// Screenshot protection on mobile (on by default); `null` on desktop, where it is not offered.
    pub screenshot_protection: Option<bool>,
}

/// One identity this device holds: paired with one account on one server.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct Identity {
    /// The short id people type (the device id's first eight characters).
    pub id: String,
    /// The server's origin, `https://id.example.gov`.
    pub server: String,
    /// The citizen's name as the server gave it.
    pub account_name: Option<String>,
    /// This device's name at the server.
    pub device_name: String,
    /// When the pairing was confirmed (Unix seconds).
    pub paired_at: u64,
}

impl From<&ClientIdentity> for Identity {
    fn from(identity: &ClientIdentity) -> Self {
        Identity {
            id: identity.short_id(),
            server: identity.origin.to_string(),
            account_name: identity.account_name.clone(),
            device_name: identity.device_name.clone(),
            paired_at: identity.paired_at,
        }
    }
}

/// Counter-based or time-based.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum OtpKind {
    /// A new code every `period` seconds.
    Totp {
        /// Seconds per code.
        period: u32,
    },
    /// A new code each time the counter advances.
    Hotp {
        /// The counter the next code uses.
        counter: u64,
    },
}

/// The HMAC hash of an account.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub enum OtpAlgorithm {
    /// HMAC-SHA1.
    #[serde(rename = "SHA1")]
    Sha1,
    /// HMAC-SHA256.
    #[serde(rename = "SHA256")]
    Sha256,
    /// HMAC-SHA512.
    #[serde(rename = "SHA512")]
    Sha512,
}

/// A one-time code account, without its secret.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct OtpEntry {
    /// A short random id, stable for the account's life.
    pub id: String,
    /// Where it stands in the list, from 1.
    pub position: u32,
    /// `Issuer: name`, or the name alone.
    pub label: String,
    /// The service, when known.
    pub issuer: Option<String>,
    /// The account name at the service.
    pub name: String,
    /// TOTP with its period, or HOTP with its counter.
    #[cfg_attr(test, ts(inline))]
    pub kind: OtpKind,
    /// `SHA1`, `SHA256` or `SHA512`.
    #[cfg_attr(test, ts(inline))]
    pub algorithm: OtpAlgorithm,
    /// Digits per code.
    pub digits: u8,
    /// When it was added (Unix seconds).
    pub added_at: u64,
}

impl From<&civkey_client::otp::OtpEntry> for OtpEntry {
    fn from(entry: &civkey_client::otp::OtpEntry) -> Self {
        OtpEntry {
            id: entry.id.clone(),
            position: u32::try_from(entry.position).unwrap_or(u32::MAX),
            label: entry.label.clone(),
            issuer: entry.issuer.clone(),
            name: entry.name.clone(),
            kind: match entry.kind {
                ClientOtpKind::Totp { period } => OtpKind::Totp { period },
                ClientOtpKind::Hotp { counter } => OtpKind::Hotp { counter },
            },
            algorithm: match entry.algorithm {
                Algorithm::Sha1 => OtpAlgorithm::Sha1,
                Algorithm::Sha256 => OtpAlgorithm::Sha256,
                Algorithm::Sha512 => OtpAlgorithm::Sha512,
            },
            digits: entry.digits,
            added_at: entry.added_at,
        }
    }
}

/// A TOTP code to show now.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct OtpCode {
    /// The account's id.
    pub id: String,
    /// The account's label.
    pub label: String,
    /// The code, zero-padded.
    pub code: String,
    /// Seconds per code.
    pub period: Option<u32>,
    /// Seconds the code stays valid.
    pub remaining: Option<u64>,
    /// The first second the code is no longer valid (Unix seconds).
    pub valid_until: Option<u64>,
    /// In a period's last seconds: the code that follows.
    pub next_code: Option<String>,
}

impl From<civkey_client::otp::OtpCode> for OtpCode {
    fn from(code: civkey_client::otp::OtpCode) -> Self {
        OtpCode {
            id: code.id,
            label: code.label,
            code: code.code,
            period: code.period,
            remaining: code.remaining,
            valid_until: code.valid_until,
            next_code: code.next_code,
        }
    }
}

/// The home screen: identities and one-time code accounts.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct Home {
    /// Oldest first.
    pub identities: Vec<Identity>,
    /// In the citizen's order.
    pub otp: Vec<OtpEntry>,
}

/// What kind of code was read.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum ReadKind {
    /// A pairing QR code: go to `#/pair`.
    Pair,
    /// A login QR code or same-device link: go to `#/login`.
    Login,
    /// An `otpauth://` account.
    Otp,
    /// A Google Authenticator export batch.
    OtpMigration,
}

/// A code read from text, a picture or the camera.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct ReadResult {
    /// What it is.
    #[cfg_attr(test, ts(inline))]
    pub kind: ReadKind,
    /// The text as read, to hand to `pair_begin` or `login_open`. It may hold a secret: the
    /// screens keep it out of logs and never show it.
    pub text: String,
    /// One line for people in the app's language, without secrets ("Pairing QR code for
    /// https://id.example.gov").
    pub summary: String,
}

impl ReadResult {
    /// Describes `text`, already read as `summary`, in `locale`.
    pub fn new(text: String, summary: &CodeSummary, locale: Locale) -> Self {
        let kind = match summary {
            CodeSummary::Pairing { .. } => ReadKind::Pair,
            CodeSummary::Login { .. } => ReadKind::Login,
            CodeSummary::Otp { .. } => ReadKind::Otp,
            CodeSummary::OtpMigration { .. } => ReadKind::OtpMigration,
        };
        ReadResult {
            kind,
            text,
            summary: summary.to_text(locale),
        }
    }
}

/// What the camera sends while scanning.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CameraEvent {
    /// What the camera sees, about 5 a second, grey, about 480 pixels wide.
    Preview {
        /// `data:image/jpeg;base64,…`
        image: String,
        /// Pixels.
        width: u32,
        /// Pixels.
        height: u32,
    },
    /// A code was read; the camera has stopped.
    Found {
        /// What was read.
        result: ReadResult,
    },
    /// Scanning stopped with an error (`camera`, `timeout`, …).
    Error {
        /// Stable.
        code: ErrorCode,
        /// For logs.
        message: String,
    },
}

/// A pairing session was claimed: the code to compare with the browser's.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct PairingStarted {
    /// The server's origin.
    pub server: String,
    /// Six digits, `123456` (the screen groups them as `123 456`).
    pub confirmation_code: String,
    /// When the session expires (Unix seconds).
    pub expires_at: u64,
}

/// How the browser decided.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum PairingStatus {
    /// The citizen confirmed: the identity is stored.
    Confirmed,
    /// The citizen said the browser showed a different code.
    Refused,
    /// The session expired before anyone decided.
    Expired,
}

/// The outcome of a pairing.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct PairingOutcome {
    /// `confirmed`, `refused` or `expired`.
    #[cfg_attr(test, ts(inline))]
    pub status: PairingStatus,
    /// The new identity, when confirmed.
    pub identity: Option<Identity>,
}

/// In-person onboarding was started: the identification code to show at the office counter.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct OnboardingStarted {
    /// The server's origin, where the office will create the account.
    pub server: String,
    /// The code for the clerk, grouped: `K7QM-X2PD-9R` (10 characters of Crockford base32).
    pub identification_code: String,
    /// When the code expires (Unix seconds).
    pub expires_at: u64,
}

/// A login request this device opened: what to show before asking.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct LoginRequest {
    /// The identity server's origin.
    pub server: String,
    /// The asking service's name.
    pub service_name: String,
    /// The web origin the citizen will be sent back to.
    pub service_origin: String,
    /// When the request started (Unix seconds).
    pub started_at: u64,
    /// When it expires (Unix seconds).
    pub expires_at: u64,
    /// The short id of the identity that will answer.
    pub identity_id: String,
}

/// The citizen's decision.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Logged in.
    Approve,
    /// Refused.
    Deny,
}

/// The decision the server recorded.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct LoginOutcome {
    /// `approve` or `deny`.
    #[cfg_attr(test, ts(inline))]
    pub decision: Decision,
}

/// An office's request for the security personal code (BOK), waiting for the citizen.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct BokPrompt {
    /// The request, for `bok_submit`.
    pub request_id: String,
    /// The office asking ("Czech POINT, Praha 1").
    pub office_name: String,
    /// The identity server's origin.
    pub server: String,
    /// When the clerk started it (Unix seconds).
    pub created_at: u64,
    /// When it expires (Unix seconds).
    pub expires_at: u64,
}

/// What the counter learnt from the BOK the citizen typed.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum BokOutcome {
    /// The code was right.
    Verified,
    /// The code was wrong.
    NotVerified,
    /// The code was wrong, and now the BOK is blocked until an office unblocks it.
    Blocked,
}

/// The answer to `bok_submit`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct BokResult {
    /// Verified, not verified or blocked.
    #[cfg_attr(test, ts(inline))]
    pub outcome: BokOutcome,
    /// Wrong codes left before the BOK is blocked.
    pub attempts_left: u32,
}

impl From<civkey_proto::bok::BokAnswerResponse> for BokResult {
    fn from(answer: civkey_proto::bok::BokAnswerResponse) -> Self {
        use civkey_proto::bok::BokOutcome as O;
        BokResult {
            outcome: match answer.outcome {
                O::Verified => BokOutcome::Verified,
                O::NotVerified => BokOutcome::NotVerified,
                O::Blocked => BokOutcome::Blocked,
            },
            attempts_left: answer.attempts_left,
        }
    }
}

/// What a notification is about.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    /// The citizen logged in somewhere (`service_name`, `means`, `device_name`).
    Login,
    /// An office asked for the BOK (`office_name`).
    BokRequest,
    /// An informative notification from the identity point (`topic`, its `device_name` or
    /// `office_name`, and the server's `title` and `body`).
    Informative,
}

/// What an informative notification is about, for the screens to word it in the app's language
/// (the server's `notify.*` messages of the shared catalogue); `other` shows its `title` and `body`.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum NotificationTopic {
    /// A mobile key was connected to the account (`device_name`).
    KeyConnected,
    /// A mobile key was disconnected from the account (`device_name`).
    KeyDisconnected,
    /// Too many wrong BOK answers blocked the BOK.
    BokBlocked,
    /// An office lifted the BOK's block (`office_name`).
    BokUnblocked,
    /// Anything else, or a topic this app does not know: `title` and `body` say what.
    Other,
}

impl From<civkey_proto::events::InformativeTopic> for NotificationTopic {
    fn from(topic: civkey_proto::events::InformativeTopic) -> Self {
        use civkey_proto::events::InformativeTopic as T;
        match topic {
            T::KeyConnected => NotificationTopic::KeyConnected,
            T::KeyDisconnected => NotificationTopic::KeyDisconnected,
            T::BokBlocked => NotificationTopic::BokBlocked,
            T::BokUnblocked => NotificationTopic::BokUnblocked,
            T::Other => NotificationTopic::Other,
        }
    }
}

/// How the citizen logged in.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum LoginMeans {
    /// With a mobile key (`device_name` says which).
    MobileKey,
    /// With password and one-time code.
    PasswordTotp,
    /// With an e-mail code.
    EmailCode,
}

/// One entry of the notification list (newest first); the screens word it in their language.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct Notification {
    /// Unique in the list.
    pub id: String,
    /// The identity server's origin.
    pub server: String,
    /// When it happened (Unix seconds).
    pub at: u64,
    /// What it is about; the fields that kind uses are set, the others `null`.
    #[cfg_attr(test, ts(inline))]
    pub kind: NotificationKind,
    /// Login: the service.
    pub service_name: Option<String>,
    /// Login: how.
    #[cfg_attr(test, ts(inline))]
    pub means: Option<LoginMeans>,
    /// Login with a mobile key: the device's name; informative `key_connected` and
    /// `key_disconnected`: the mobile key's name.
    pub device_name: Option<String>,
    /// BOK request: the office; informative `bok_unblocked`: the office that lifted the block.
    pub office_name: Option<String>,
    /// Informative: what it is about, for the screens to word in the app's language.
    #[cfg_attr(test, ts(inline))]
    pub topic: Option<NotificationTopic>,
    /// Informative: its title, as the server worded it (in the citizen's language on the portal).
    pub title: Option<String>,
    /// Informative: its text, as the server worded it.
    pub body: Option<String>,
    /// Whether the list was opened since it came.
    pub read: bool,
}
