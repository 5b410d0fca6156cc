//! Importing accounts: which format a file is in, reading it into an [`ImportSet`], and the
//! [`ImportReport`] of what [`super::OtpVault::import`] did with each account.
//!
//! Formats, each in its own module: civkey's [`super::backup`], [`super::aegis`] JSON (plain or
//! password-encrypted), and text with one link a line, each an [`super::otpauth`] account or a
//! [`super::google`] Authenticator export QR code (`otpauth-migration://`); pictures of QR codes
//! are read into the same links. Several files (several export QR codes) can go into one set, so
//! that a Google export's batches are checked for completeness together.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use civkey_i18n::{tr, tr_args, Locale};
use civkey_proto::otp::OtpAccount;
use serde::{Serialize, Serializer};
use zeroize::Zeroizing;

use super::vault::OtpEntry;
use super::{aegis, backup, google, otpauth, OtpError};
use crate::{scan, ClientError};

/// The largest file read for an import.
const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;
/// A Google export names how many QR codes it has; more than this many missing ones are not
/// listed one by one (a damaged or hostile code could claim two billion).
const MAX_MISSING_LISTED: i32 = 100;

/// What kind of file an import is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportFormat {
    /// civkey's encrypted backup (`civkey totp export`).
    CivkeyBackup,
    /// An Aegis export, plain JSON.
    Aegis,
    /// An Aegis export encrypted with a password.
    AegisEncrypted,
    /// Text: `otpauth://` links and Google Authenticator `otpauth-migration://` links, one a line.
    Links,
    /// A picture of QR codes holding such links.
    Picture,
}

impl ImportFormat {
    /// The format's name for people.
    pub fn name(self, locale: Locale) -> &'static str {
        tr(
            locale,
            match self {
                ImportFormat::CivkeyBackup => "cli.totp.format.backup",
                ImportFormat::Aegis => "cli.totp.format.aegis",
                ImportFormat::AegisEncrypted => "cli.totp.format.aegis_encrypted",
                ImportFormat::Links => "cli.totp.format.links",
                ImportFormat::Picture => "cli.totp.format.picture",
            },
        )
    }
}

enum Content {
    Backup(backup::Sealed),
    Aegis(aegis::AegisFile),
    Links(Vec<Zeroizing<String>>),
}

/// One file (or a set of scanned codes) to import from, its format recognised.
pub struct ImportFile {
    name: String,
    format: ImportFormat,
    content: Content,
}

impl ImportFile {
    /// Reads `path` and recognises its format: a civkey backup, an Aegis export, text with
    /// links, or a PNG/JPEG picture of QR codes.
    pub fn open(path: &Path) -> Result<ImportFile, ClientError> {
        let name = path.display().to_string();
        let file_error = |e: std::io::Error| ClientError::Profile {
            path: path.to_path_buf(),
            reason: e.to_string(),
        };
        let file = std::fs::File::open(path).map_err(file_error)?;
        let mut bytes = Zeroizing::new(Vec::new());
        file.take(MAX_FILE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(file_error)?;
        if bytes.len() as u64 > MAX_FILE_BYTES {
            return Err(file_error(std::io::Error::other(
                "the file is larger than 16 MiB",
            )));
        }
        if bytes.starts_with(b"\x89PNG") || bytes.starts_with(b"\xff\xd8\xff") {
            let texts = scan::scan_image(path)?;
            return Ok(ImportFile::from_texts(name, texts));
        }
        ImportFile::from_bytes(name, &bytes)
    }

    /// Recognises the format of `bytes` (a backup, Aegis JSON or text with links); `name` says
    /// where they came from in the report.
    pub fn from_bytes(name: impl Into<String>, bytes: &[u8]) -> Result<ImportFile, ClientError> {
        let name = name.into();
        let text = std::str::from_utf8(bytes).map_err(|_| OtpError::UnknownFormat)?;
        let text = text.trim_start_matches('\u{feff}');
        if text.trim_start().starts_with('{') {
            let json: serde_json::Value =
                serde_json::from_str(text).map_err(|_| OtpError::UnknownFormat)?;
            let (format, content) = if backup::is_backup(&json) {
                (
                    ImportFormat::CivkeyBackup,
                    Content::Backup(backup::Sealed::parse(json)?),
                )
            } else if aegis::is_aegis(&json) {
                let file = aegis::AegisFile::parse(json)?;
                let format = if file.is_encrypted() {
                    ImportFormat::AegisEncrypted
                } else {
                    ImportFormat::Aegis
                };
                (format, Content::Aegis(file))
            } else {
                return Err(OtpError::UnknownFormat.into());
            };
            return Ok(ImportFile {
                name,
                format,
                content,
            });
        }
        let lines: Vec<Zeroizing<String>> = text
            .lines()
            .map(|l| Zeroizing::new(l.to_string()))
            .collect();
        let any_link = lines.iter().any(|l| {
            let l = l.trim_start().to_ascii_lowercase();
            l.starts_with("otpauth:") || l.starts_with("otpauth-migration:")
        });
        if !any_link {
            return Err(OtpError::UnknownFormat.into());
        }
        Ok(ImportFile {
            name,
            format: ImportFormat::Links,
            content: Content::Links(lines),
        })
    }

    /// Links read from QR codes (a picture, the camera) or pasted, one link each.
    pub fn from_texts(name: impl Into<String>, texts: Vec<String>) -> ImportFile {
        ImportFile {
            name: name.into(),
            format: ImportFormat::Picture,
            content: Content::Links(texts.into_iter().map(Zeroizing::new).collect()),
        }
    }

    /// Where it came from, as given.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its format.
    pub fn format(&self) -> ImportFormat {
        self.format
    }

    /// Whether reading it needs a passphrase.
    pub fn needs_passphrase(&self) -> bool {
        matches!(
            self.format,
            ImportFormat::CivkeyBackup | ImportFormat::AegisEncrypted
        )
    }

    /// Reads its accounts into `set`. An encrypted file needs `passphrase`; a wrong one is
    /// [`OtpError::WrongPassphrase`] and adds nothing.
    pub fn read_into(
        &self,
        passphrase: Option<&str>,
        set: &mut ImportSet,
    ) -> Result<(), ClientError> {
        match &self.content {
            Content::Backup(sealed) => {
                let passphrase = passphrase.ok_or(OtpError::PassphraseNeeded)?;
                let uris = sealed.open(passphrase)?;
                for (i, uri) in uris.iter().enumerate() {
                    set.push(
                        Source::entry(&self.name, i + 1),
                        OtpAccount::parse_uri(uri).map_err(ImportIssue::Invalid),
                    );
                }
                Ok(())
            }
            Content::Aegis(file) => file.read_into(&self.name, passphrase, set),
            Content::Links(lines) => {
                read_links(&self.name, lines, set);
                Ok(())
            }
        }
    }
}

/// Text lines: blank lines and `#` comments are skipped; every other line is a link or a
/// failure with its line number.
fn read_links(file: &str, lines: &[Zeroizing<String>], set: &mut ImportSet) {
    for (i, line) in lines.iter().enumerate() {
        let text = line.trim();
        if text.is_empty() || text.starts_with('#') {
            continue;
        }
        let scheme = text
            .split_once(':')
            .map(|(s, _)| s.to_ascii_lowercase())
            .unwrap_or_default();
        match scheme.as_str() {
            "otpauth" => otpauth::read_line(file, i + 1, text, set),
            "otpauth-migration" => google::read_line(file, i + 1, text, set),
            _ => set.push(Source::line(file, i + 1), Err(ImportIssue::NotALink)),
        }
    }
}

/// Accounts read from one or more files, not yet in the vault.
#[derive(Default)]
pub struct ImportSet {
    pub(crate) items: Vec<Incoming>,
    pub(crate) batches: Vec<BatchSeen>,
}

impl ImportSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many accounts (readable or not) it holds.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub(crate) fn push(&mut self, source: Source, account: Result<OtpAccount, ImportIssue>) {
        self.push_labelled(source, None, account);
    }

    /// Like `push`, with the account's label as the file gives it, to name it if it fails.
    pub(crate) fn push_labelled(
        &mut self,
        source: Source,
        label: Option<String>,
        account: Result<OtpAccount, ImportIssue>,
    ) {
        self.items.push(Incoming {
            source,
            label,
            account,
        });
    }
}

/// One account read from a file, or why it could not be.
pub(crate) struct Incoming {
    pub(crate) source: Source,
    pub(crate) label: Option<String>,
    pub(crate) account: Result<OtpAccount, ImportIssue>,
}

/// A Google export QR code that was read: which export, which of how many.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BatchSeen {
    pub(crate) id: i32,
    pub(crate) index: i32,
    pub(crate) size: i32,
}

/// Where in an import an account was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Source {
    /// The file (or `camera`, `pasted`).
    pub file: String,
    /// Where in it.
    #[serde(flatten)]
    pub place: Place,
}

/// A place in an import file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Place {
    /// A Google export QR code's account: the link's line, the QR code's number among the
    /// export's, and the account's number in the QR code (all from 1).
    Batch {
        /// The line.
        line: usize,
        /// Which QR code of the export.
        qr: i32,
        /// How many QR codes the export has.
        of: i32,
        /// Which account in it.
        entry: usize,
    },
    /// A line of text (from 1).
    Line {
        /// The line.
        line: usize,
    },
    /// An entry of a backup or Aegis file (from 1).
    Entry {
        /// The entry.
        entry: usize,
    },
}

impl Source {
    pub(crate) fn line(file: &str, line: usize) -> Source {
        Source {
            file: file.to_string(),
            place: Place::Line { line },
        }
    }

    pub(crate) fn entry(file: &str, entry: usize) -> Source {
        Source {
            file: file.to_string(),
            place: Place::Entry { entry },
        }
    }

    /// Where, for people.
    pub fn to_text(&self, locale: Locale) -> String {
        let file = self.file.as_str();
        match &self.place {
            Place::Line { line } => tr_args(
                locale,
                "cli.totp.source.line",
                &[("file", file), ("line", &line.to_string())],
            ),
            Place::Entry { entry } => tr_args(
                locale,
                "cli.totp.source.entry",
                &[("file", file), ("entry", &entry.to_string())],
            ),
            Place::Batch {
                line,
                qr,
                of,
                entry,
            } => tr_args(
                locale,
                "cli.totp.source.batch",
                &[
                    ("file", file),
                    ("line", &line.to_string()),
                    ("qr", &qr.to_string()),
                    ("of", &of.to_string()),
                    ("entry", &entry.to_string()),
                ],
            ),
        }
    }
}

/// Why one account could not be imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportIssue {
    /// The link or entry is not valid: bad base32, an unsupported algorithm, digits out of
    /// range, a period of 0, a label without an account name, …
    Invalid(civkey_proto::Error),
    /// A line that is neither an `otpauth://` nor an `otpauth-migration://` link.
    NotALink,
    /// An Aegis entry of a kind civkey does not make codes for (Steam, Yandex, mOTP).
    UnsupportedType(String),
}

impl ImportIssue {
    /// A stable code for machine-readable output.
    pub fn code(&self) -> &'static str {
        match self {
            ImportIssue::Invalid(_) => "invalid",
            ImportIssue::NotALink => "not_a_link",
            ImportIssue::UnsupportedType(_) => "unsupported_type",
        }
    }

    /// The reason, for people.
    pub fn describe(&self, locale: Locale) -> String {
        match self {
            ImportIssue::Invalid(e) => tr_args(
                locale,
                "cli.totp.issue.invalid",
                &[("reason", &e.to_string())],
            ),
            ImportIssue::NotALink => tr(locale, "cli.totp.issue.not_a_link").to_string(),
            ImportIssue::UnsupportedType(kind) => {
                tr_args(locale, "cli.totp.issue.unsupported_type", &[("kind", kind)])
            }
        }
    }
}

impl Serialize for ImportIssue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("ImportIssue", 2)?;
        s.serialize_field("code", self.code())?;
        s.serialize_field("message", &self.describe(Locale::En))?;
        s.end()
    }
}

/// What an import did with each account.
#[derive(Debug, Clone, Serialize)]
pub struct ImportReport {
    /// Added to the vault, in order.
    pub imported: Vec<OtpEntry>,
    /// Not added: the secret is in the vault already (or earlier in the import).
    pub duplicates: Vec<Duplicate>,
    /// Not added: unreadable, with the reason.
    pub failed: Vec<Failure>,
    /// Google export QR codes that belong to the export but were not given.
    pub missing_batches: Vec<MissingBatch>,
}

/// An account that was not imported because the vault has its secret already.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Duplicate {
    /// Where it was in the import.
    pub source: Source,
    /// Its label in the import.
    pub label: String,
    /// The label of the account already in the vault.
    pub existing: String,
    /// Whether issuer and name are the same too (otherwise it is the same account under
    /// another name).
    pub same_label: bool,
}

/// An account that could not be imported.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    /// Where it was in the import.
    pub source: Source,
    /// Its label, when the file names it even though the account cannot be read.
    pub label: Option<String>,
    /// Why.
    pub reason: ImportIssue,
}

/// A QR code of a Google export that was not given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MissingBatch {
    /// The export's id (the same in each of its QR codes).
    pub batch_id: i32,
    /// Which QR code (from 1).
    pub qr: i32,
    /// How many the export has.
    pub of: i32,
}

/// The account already in the vault that an imported one duplicates.
pub(crate) struct DuplicateOf {
    label: String,
    issuer: Option<String>,
    name: String,
}

impl DuplicateOf {
    pub(crate) fn of(account: &OtpAccount) -> Self {
        DuplicateOf {
            label: account.label(),
            issuer: account.issuer.clone(),
            name: account.account.clone(),
        }
    }
}

impl ImportReport {
    /// An empty report for `set`, with its missing Google export QR codes named.
    pub(crate) fn new(set: &ImportSet) -> Self {
        let mut exports: BTreeMap<i32, (i32, Vec<i32>)> = BTreeMap::new();
        for batch in &set.batches {
            let (size, seen) = exports.entry(batch.id).or_default();
            *size = (*size).max(batch.size);
            seen.push(batch.index);
        }
        let mut missing_batches = Vec::new();
        for (batch_id, (size, seen)) in exports {
            let missing = (0..size).filter(|i| !seen.contains(i));
            for index in missing.take(MAX_MISSING_LISTED as usize) {
                missing_batches.push(MissingBatch {
                    batch_id,
                    qr: index.saturating_add(1),
                    of: size,
                });
            }
        }
        ImportReport {
            imported: Vec::new(),
            duplicates: Vec::new(),
            failed: Vec::new(),
            missing_batches,
        }
    }

    pub(crate) fn fail(&mut self, source: Source, label: Option<String>, reason: ImportIssue) {
        self.failed.push(Failure {
            source,
            label,
            reason,
        });
    }

    pub(crate) fn duplicate(&mut self, source: Source, account: &OtpAccount, of: DuplicateOf) {
        self.duplicates.push(Duplicate {
            source,
            label: account.label(),
            same_label: of.issuer == account.issuer && of.name == account.account,
            existing: of.label,
        });
    }

    /// Whether anything was left out (duplicates, failures, missing QR codes).
    pub fn is_complete(&self) -> bool {
        self.duplicates.is_empty() && self.failed.is_empty() && self.missing_batches.is_empty()
    }
}

#[cfg(test)]
mod tests;
