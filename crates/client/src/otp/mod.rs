//! One-time codes: the citizen's TOTP/HOTP accounts in an encrypted vault, imports from other
//! authenticator apps, and passphrase-protected backups.
//!
//! - [`vault`]: the accounts in `otp-vault.bin`, encrypted with XChaCha20-Poly1305 under a key
//!   that lives only in the OS keystore; codes, HOTP counters, rename, reorder, delete.
//! - [`import`]: reads a file (or scanned QR codes) in any format civkey knows and reports what
//!   was imported, what was already there and what could not be read, with the reason. One
//!   format, one module: [`otpauth`] links, Google Authenticator's [`google`] export, [`aegis`]
//!   JSON, civkey's own [`backup`].
//! - [`backup`]: civkey's backup file, Argon2id + XChaCha20-Poly1305.
//!
//! The byte layouts are in docs/otp.md; the account and link types come from
//! [`civkey_proto::otp`].

pub mod aegis;
pub mod backup;
pub mod google;
pub mod import;
pub mod otpauth;
pub mod vault;

use std::path::PathBuf;

use civkey_i18n::{tr_args, Locale};

pub use import::{ImportFile, ImportFormat, ImportIssue, ImportReport, ImportSet, Source};
pub use vault::{OtpCode, OtpEntry, OtpVault, NEXT_CODE_WITHIN_SECS, VAULT_FILE};

/// What can go wrong with one-time code accounts, the vault, imports and backups.
#[derive(Debug, thiserror::Error)]
pub enum OtpError {
    /// No account matches what was asked for.
    #[error("no one-time code account matches {0}")]
    UnknownAccount(String),
    /// Several accounts match.
    #[error("{selector} matches more than one account: {}", candidates.join(", "))]
    AmbiguousAccount {
        /// What was asked for.
        selector: String,
        /// The labels of the accounts it matches.
        candidates: Vec<String>,
    },
    /// The account (its secret) is in the vault already.
    #[error("{label} is already in the vault as {existing}")]
    Duplicate {
        /// The account that was to be added.
        label: String,
        /// The account already in the vault.
        existing: String,
    },
    /// The vault exists but its key is not in the OS keystore.
    #[error("the key of the vault {} is missing from the OS keystore", path.display())]
    VaultKeyMissing {
        /// The vault file.
        path: PathBuf,
    },
    /// The keystore holds something other than a 32-byte key for the vault.
    #[error("the key of the vault {} in the OS keystore is damaged", path.display())]
    VaultKeyDamaged {
        /// The vault file.
        path: PathBuf,
    },
    /// The vault file is not one civkey wrote, or it does not decrypt with its key.
    #[error("the vault {} cannot be read: {reason}", path.display())]
    VaultDamaged {
        /// The vault file.
        path: PathBuf,
        /// Why.
        reason: &'static str,
    },
    /// The vault was written by a newer civkey.
    #[error("the vault {} was written by a newer civkey (format {version})", path.display())]
    VaultTooNew {
        /// The vault file.
        path: PathBuf,
        /// The format version in the file.
        version: u32,
    },
    /// The passphrase does not open the backup or Aegis file.
    #[error("the passphrase is wrong")]
    WrongPassphrase,
    /// The file is encrypted and no passphrase was given.
    #[error("the file is encrypted: a passphrase is needed")]
    PassphraseNeeded,
    /// A new backup passphrase is too short.
    #[error("the passphrase is shorter than {min} characters")]
    PassphraseTooShort {
        /// The fewest characters accepted.
        min: usize,
    },
    /// A civkey backup that cannot be read or whose contents were changed.
    #[error("the backup cannot be read: {0}")]
    BackupDamaged(String),
    /// An Aegis file that cannot be read.
    #[error("the Aegis file cannot be read: {0}")]
    AegisDamaged(String),
    /// A file in no format civkey imports.
    #[error("not a file civkey can import")]
    UnknownFormat,
    /// An HOTP counter at its largest value.
    #[error("the counter of {0} cannot advance any further")]
    CounterExhausted(String),
    /// A position outside the list.
    #[error("there is no position {position}: the vault holds {count} accounts")]
    NoSuchPosition {
        /// The position asked for (from 1).
        position: usize,
        /// How many accounts there are.
        count: usize,
    },
    /// An export of an empty vault.
    #[error("the vault holds no accounts")]
    NothingToExport,
}

impl OtpError {
    /// A stable code for machine-readable output.
    pub fn code(&self) -> &'static str {
        match self {
            OtpError::UnknownAccount(_) => "unknown_account",
            OtpError::AmbiguousAccount { .. } => "ambiguous_account",
            OtpError::Duplicate { .. } => "duplicate_account",
            OtpError::VaultKeyMissing { .. } => "vault_key_missing",
            OtpError::VaultKeyDamaged { .. } => "vault_key_damaged",
            OtpError::VaultDamaged { .. } => "vault_damaged",
            OtpError::VaultTooNew { .. } => "vault_too_new",
            OtpError::WrongPassphrase => "wrong_passphrase",
            OtpError::PassphraseNeeded => "passphrase_needed",
            OtpError::PassphraseTooShort { .. } => "passphrase_too_short",
            OtpError::BackupDamaged(_) => "backup_damaged",
            OtpError::AegisDamaged(_) => "aegis_damaged",
            OtpError::UnknownFormat => "unknown_format",
            OtpError::CounterExhausted(_) => "counter_exhausted",
            OtpError::NoSuchPosition { .. } => "no_such_position",
            OtpError::NothingToExport => "nothing_to_export",
        }
    }

    /// What went wrong and what to do next, in `locale`.
    pub fn describe(&self, locale: Locale) -> String {
        let t = |key: &str, args: &[(&str, &str)]| tr_args(locale, key, args);
        match self {
            OtpError::UnknownAccount(name) => {
                t("cli.totp.error.unknown_account", &[("name", name)])
            }
            OtpError::AmbiguousAccount {
                selector,
                candidates,
            } => t(
                "cli.totp.error.ambiguous_account",
                &[("name", selector), ("candidates", &candidates.join(", "))],
            ),
            OtpError::Duplicate { label, existing } => t(
                "cli.totp.error.duplicate",
                &[("label", label), ("existing", existing)],
            ),
            OtpError::VaultKeyMissing { path } => t(
                "cli.totp.error.vault_key_missing",
                &[("path", &path.display().to_string())],
            ),
            OtpError::VaultKeyDamaged { path } => t(
                "cli.totp.error.vault_key_damaged",
                &[("path", &path.display().to_string())],
            ),
            OtpError::VaultDamaged { path, reason } => t(
                "cli.totp.error.vault_damaged",
                &[("path", &path.display().to_string()), ("reason", reason)],
            ),
            OtpError::VaultTooNew { path, version } => t(
                "cli.totp.error.vault_too_new",
                &[
                    ("path", &path.display().to_string()),
                    ("version", &version.to_string()),
                ],
            ),
            OtpError::WrongPassphrase => t("cli.totp.error.wrong_passphrase", &[]),
            OtpError::PassphraseNeeded => t("cli.totp.error.passphrase_needed", &[]),
            OtpError::PassphraseTooShort { min } => t(
                "cli.totp.error.passphrase_too_short",
                &[("min", &min.to_string())],
            ),
            OtpError::BackupDamaged(reason) => {
                t("cli.totp.error.backup_damaged", &[("reason", reason)])
            }
            OtpError::AegisDamaged(reason) => {
                t("cli.totp.error.aegis_damaged", &[("reason", reason)])
            }
            OtpError::UnknownFormat => t("cli.totp.error.unknown_format", &[]),
            OtpError::CounterExhausted(label) => {
                t("cli.totp.error.counter_exhausted", &[("label", label)])
            }
            OtpError::NoSuchPosition { position, count } => t(
                "cli.totp.error.no_such_position",
                &[
                    ("position", &position.to_string()),
                    ("count", &count.to_string()),
                ],
            ),
            OtpError::NothingToExport => t("cli.totp.error.nothing_to_export", &[]),
        }
    }
}

/// Hex-decodes a field of an import file into exactly `N` bytes, or says which field is wrong.
fn hex_field<const N: usize>(text: &str, what: &str) -> Result<[u8; N], String> {
    let bytes = hex::decode(text.trim()).map_err(|_| format!("{what} is not hexadecimal"))?;
    bytes
        .try_into()
        .map_err(|_| format!("{what} is not {N} bytes long"))
}
