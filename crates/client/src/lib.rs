//! The civkey app's core as a plain library: the `civkey` command and the Tauri app are two faces
//! of it, and tests drive it directly.
//!
//! So far it reads and describes scanned codes; keys, pairing, login approval and the TOTP vault
//! arrive in later steps.

pub mod server_api;

use civkey_i18n::{tr_args, Locale};
use civkey_proto::login::LoginUri;
use civkey_proto::ScannedCode;
use serde::Serialize;

/// What can go wrong in the app's core.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The scanned or pasted text is not a code civkey reads.
    #[error("not a code civkey can read: {0}")]
    Unreadable(#[from] civkey_proto::Error),
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
