//! The one-time code vault: a profile's accounts in `otp-vault.bin`, encrypted.
//!
//! The file is a small header followed by XChaCha20-Poly1305 ciphertext (docs/otp.md):
//!
//! ```text
//! "civkey-otp-vault" (16 bytes) | format version (1 byte, 1) | key reference length (u16, big
//! endian) | key reference (UTF-8) | nonce (24 bytes) | ciphertext and 16-byte tag
//! ```
//!
//! The whole header is the AEAD's associated data, so nothing in it can be changed unnoticed. The
//! plaintext is JSON (`{"version":1,"accounts":[…]}`, secrets in base32). The 32-byte key is made
//! on the first write and lives only in the OS keystore, under the key reference the header
//! names; a vault whose key is missing is reported and left as it is, never replaced by a new
//! one. Every write takes the vault's lock file, uses a fresh random nonce, and replaces the file
//! atomically (temporary file, fsync, rename, fsync of the folder): a crash leaves the old vault
//! or the new one. HOTP counters advance and are written before the code is returned.

use std::fs::{self, OpenOptions};
use std::io::Read;
use std::path::PathBuf;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use civkey_proto::otp::{hotp, totp, Algorithm, OtpAccount, OtpKind, OtpSecret};
use civkey_proto::UnixSeconds;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::import::{DuplicateOf, ImportReport, ImportSet};
use super::{backup, OtpError};
use crate::keystore::{KeyGuard, KeyRef, KeyStoreError};
use crate::profile::{write_atomically, Profile};
use crate::ClientError;

/// The vault's file name inside the profile directory.
pub const VAULT_FILE: &str = "otp-vault.bin";
const LOCK_FILE: &str = ".otp-vault.lock";
const MAGIC: &[u8; 16] = b"civkey-otp-vault";
const FORMAT_VERSION: u8 = 1;
const CONTENTS_VERSION: u32 = 1;
const NONCE_LEN: usize = 24;
const KEY_LEN: usize = 32;
/// The largest vault file read (thousands of accounts fit in far less).
const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;
/// In the last this many seconds of a TOTP period, the next code is shown as well.
pub const NEXT_CODE_WITHIN_SECS: u64 = 5;

/// An account as lists and the app's home screen show it: everything but the secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OtpEntry {
    /// A short random id, stable for the account's life (`k3v9q2mx`).
    pub id: String,
    /// Where it stands in the list, from 1.
    pub position: usize,
    /// `Issuer: name`, or the name alone.
    pub label: String,
    /// The service, when known.
    pub issuer: Option<String>,
    /// The account name at the service.
    pub name: String,
    /// TOTP with its period, or HOTP with the counter the next code will use.
    pub kind: OtpKind,
    /// The HMAC hash.
    pub algorithm: Algorithm,
    /// Digits per code.
    pub digits: u8,
    /// When it was added to this vault (Unix seconds).
    pub added_at: UnixSeconds,
}

/// A code to show, with its timing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OtpCode {
    /// The account's id.
    pub id: String,
    /// The account's label.
    pub label: String,
    /// The code, zero-padded.
    pub code: String,
    /// TOTP: the period in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub period: Option<u32>,
    /// TOTP: seconds the code stays valid from the time asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remaining: Option<u64>,
    /// TOTP: the first second the code is no longer valid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<UnixSeconds>,
    /// TOTP, in the last [`NEXT_CODE_WITHIN_SECS`] seconds of a period: the code that follows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_code: Option<String>,
    /// HOTP: the counter value this code was made from (the stored counter is already past it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counter: Option<u64>,
}

/// One account as the vault holds it.
#[derive(Debug, Clone)]
pub(crate) struct Stored {
    pub(crate) id: String,
    pub(crate) added_at: UnixSeconds,
    pub(crate) account: OtpAccount,
}

impl Stored {
    fn entry(&self, position: usize) -> OtpEntry {
        OtpEntry {
            id: self.id.clone(),
            position,
            label: self.account.label(),
            issuer: self.account.issuer.clone(),
            name: self.account.account.clone(),
            kind: self.account.kind,
            algorithm: self.account.algorithm,
            digits: self.account.digits,
            added_at: self.added_at,
        }
    }
}

/// The plaintext inside the vault file.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Contents {
    version: u32,
    accounts: Vec<Record>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Record {
    id: String,
    issuer: Option<String>,
    name: String,
    kind: OtpKind,
    algorithm: Algorithm,
    digits: u8,
    /// Base32, without padding.
    secret: Zeroizing<String>,
    added_at: UnixSeconds,
}

/// What a read of the vault file found.
struct Loaded {
    key_ref: KeyRef,
    key: Zeroizing<[u8; KEY_LEN]>,
    accounts: Vec<Stored>,
}

/// The one-time code vault of a profile. Cheap to make: it reads the file on each call, so two
/// `civkey` processes (or the app and the command) always see each other's changes.
pub struct OtpVault<'p> {
    profile: &'p Profile,
}

impl Profile {
    /// This profile's one-time code vault.
    pub fn otp(&self) -> OtpVault<'_> {
        OtpVault { profile: self }
    }
}

impl OtpVault<'_> {
    /// The vault file (it exists once an account was added).
    pub fn path(&self) -> PathBuf {
        self.profile.dir().join(VAULT_FILE)
    }

    /// The accounts in their order.
    pub fn entries(&self) -> Result<Vec<OtpEntry>, ClientError> {
        Ok(entries_of(&self.load_accounts()?))
    }

    /// The account that `selector` names. Tried in turn, the first rule with any match decides:
    /// the id; the whole label (`GitHub: octocat`, also without the space); the issuer or the name
    /// alone; a part of the label. Letter case does not matter; several matches at the deciding
    /// rule are [`OtpError::AmbiguousAccount`], naming them.
    pub fn find(&self, selector: &str) -> Result<OtpEntry, ClientError> {
        let accounts = self.load_accounts()?;
        let index = select(&accounts, selector)?;
        Ok(accounts[index].entry(index + 1))
    }

    /// The current code of every TOTP account at `now` (HOTP accounts give a code only when
    /// asked for one by name, since that uses up a counter value).
    pub fn codes(&self, now: UnixSeconds) -> Result<Vec<OtpCode>, ClientError> {
        Ok(self
            .load_accounts()?
            .iter()
            .filter_map(|stored| totp_code(stored, now))
            .collect())
    }

    /// The code of the account `selector` names: for TOTP the code at `now`; for HOTP the code
    /// of the stored counter, which is advanced and written to the vault before this returns.
    pub fn code(&self, selector: &str, now: UnixSeconds) -> Result<OtpCode, ClientError> {
        let accounts = self.load_accounts()?;
        let index = select(&accounts, selector)?;
        if let Some(code) = totp_code(&accounts[index], now) {
            return Ok(code);
        }
        let id = accounts[index].id.clone();
        self.update(|accounts| {
            let stored = accounts
                .iter_mut()
                .find(|a| a.id == id)
                .ok_or_else(|| OtpError::UnknownAccount(selector.to_string()))?;
            let label = stored.account.label();
            let OtpKind::Hotp { counter } = stored.account.kind else {
                return Err(OtpError::UnknownAccount(selector.to_string()).into());
            };
            let next = counter
                .checked_add(1)
                .ok_or_else(|| OtpError::CounterExhausted(label.clone()))?;
            stored.account.kind = OtpKind::Hotp { counter: next };
            let account = &stored.account;
            let code = OtpCode {
                id: stored.id.clone(),
                label,
                code: hotp(
                    account.secret.expose(),
                    account.algorithm,
                    account.digits,
                    counter,
                ),
                period: None,
                remaining: None,
                valid_until: None,
                next_code: None,
                counter: Some(counter),
            };
            Ok((code, true))
        })
    }

    /// Adds an account at the end of the list. An account whose secret is already in the vault
    /// is refused ([`OtpError::Duplicate`]).
    pub fn add(&self, account: OtpAccount) -> Result<OtpEntry, ClientError> {
        let now = self.profile.clock().now();
        self.update(|accounts| {
            if let Some(existing) = accounts.iter().find(|a| a.account.secret == account.secret) {
                return Err(OtpError::Duplicate {
                    label: account.label(),
                    existing: existing.account.label(),
                }
                .into());
            }
            let stored = Stored {
                id: new_id(accounts),
                added_at: now,
                account,
            };
            accounts.push(stored.clone());
            Ok((stored.entry(accounts.len()), true))
        })
    }

    /// Gives the account `selector` names a new issuer (`Some("")` removes it) and/or name.
    pub fn rename(
        &self,
        selector: &str,
        issuer: Option<&str>,
        name: Option<&str>,
    ) -> Result<OtpEntry, ClientError> {
        self.update(|accounts| {
            let index = select(accounts, selector)?;
            let stored = &mut accounts[index];
            let old = &stored.account;
            let renamed = OtpAccount::new(
                old.kind,
                match issuer {
                    Some(issuer) => Some(issuer),
                    None => old.issuer.as_deref(),
                },
                name.unwrap_or(&old.account),
                old.secret.clone(),
                old.algorithm,
                old.digits,
            )?;
            stored.account = renamed;
            Ok((stored.entry(index + 1), true))
        })
    }

    /// Moves the account `selector` names to `position` (from 1); the others keep their order.
    pub fn move_to(&self, selector: &str, position: usize) -> Result<OtpEntry, ClientError> {
        self.update(|accounts| {
            let index = select(accounts, selector)?;
            if position == 0 || position > accounts.len() {
                return Err(OtpError::NoSuchPosition {
                    position,
                    count: accounts.len(),
                }
                .into());
            }
            let stored = accounts.remove(index);
            accounts.insert(position - 1, stored);
            Ok((
                accounts[position - 1].entry(position),
                index + 1 != position,
            ))
        })
    }

    /// Deletes the account `selector` names. The command asks for confirmation first.
    pub fn delete(&self, selector: &str) -> Result<OtpEntry, ClientError> {
        self.update(|accounts| {
            let index = select(accounts, selector)?;
            let removed = accounts.remove(index);
            Ok((removed.entry(index + 1), true))
        })
    }

    /// Adds what `set` holds, in order, with one write. Nothing is dropped silently: an account
    /// whose secret is already in the vault (or earlier in the set) is reported as a duplicate,
    /// an unreadable one as failed with the reason, and a Google export QR code that is missing
    /// from its batch is named.
    pub fn import(&self, set: ImportSet) -> Result<ImportReport, ClientError> {
        let now = self.profile.clock().now();
        self.update(|accounts| {
            let mut report = ImportReport::new(&set);
            for item in set.items {
                let account = match item.account {
                    Ok(account) => account,
                    Err(reason) => {
                        report.fail(item.source, item.label, reason);
                        continue;
                    }
                };
                if let Some(existing) = accounts.iter().find(|a| a.account.secret == account.secret)
                {
                    report.duplicate(item.source, &account, DuplicateOf::of(&existing.account));
                    continue;
                }
                let stored = Stored {
                    id: new_id(accounts),
                    added_at: now,
                    account,
                };
                accounts.push(stored.clone());
                report.imported.push(stored.entry(accounts.len()));
            }
            let changed = !report.imported.is_empty();
            Ok((report, changed))
        })
    }

    /// An encrypted backup of every account, protected by `passphrase` (Argon2id with `params`).
    pub fn backup(
        &self,
        passphrase: &str,
        params: backup::KdfParams,
    ) -> Result<Vec<u8>, ClientError> {
        let accounts = self.load_accounts()?;
        if accounts.is_empty() {
            return Err(OtpError::NothingToExport.into());
        }
        let uris: Vec<Zeroizing<String>> = accounts
            .iter()
            .map(|a| Zeroizing::new(a.account.to_uri()))
            .collect();
        backup::seal(&uris, self.profile.clock().now(), passphrase, params)
    }

    /// Every account as an `otpauth://` link, one a line: UNENCRYPTED secrets, for moving the
    /// accounts to another app. The command writes it only after an explicit confirmation.
    pub fn export_uris(&self) -> Result<Zeroizing<String>, ClientError> {
        let accounts = self.load_accounts()?;
        if accounts.is_empty() {
            return Err(OtpError::NothingToExport.into());
        }
        let mut text = Zeroizing::new(String::new());
        for stored in &accounts {
            let uri = Zeroizing::new(stored.account.to_uri());
            text.push_str(&uri);
            text.push('\n');
        }
        Ok(text)
    }

    /// Erases the vault: deletes its key from the OS keystore, then the file (under the vault's
    /// lock). Nothing is left to decrypt afterwards. A vault file whose header cannot be read is
    /// removed all the same (its key, if any, cannot be named). Returns whether there was a vault.
    /// The app's reset after too many wrong PINs uses this.
    pub fn erase(&self) -> Result<bool, ClientError> {
        let dir = self.profile.dir();
        let lock_path = dir.join(LOCK_FILE);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| file_error(&lock_path, e))?;
        lock.lock().map_err(|e| file_error(&lock_path, e))?;
        let path = self.path();
        let bytes = match read_limited(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            // Too large or unreadable: it is removed below all the same.
            Err(_) => Vec::new(),
        };
        if let Ok(header) = Header::parse(&bytes) {
            self.profile.store().delete(&header.key_ref)?;
        }
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(file_error(&path, e)),
        }
        remove_stale_temporary_files(dir);
        drop(lock);
        Ok(true)
    }

    fn load_accounts(&self) -> Result<Vec<Stored>, ClientError> {
        Ok(self.load()?.map(|l| l.accounts).unwrap_or_default())
    }

    /// Reads and decrypts the vault; `None` when there is no vault file yet.
    fn load(&self) -> Result<Option<Loaded>, ClientError> {
        let path = self.path();
        let bytes = match read_limited(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(file_error(&path, e)),
        };
        let damaged = |reason| OtpError::VaultDamaged {
            path: path.clone(),
            reason,
        };
        let header = Header::parse(&bytes).map_err(|e| match e {
            HeaderError::TooNew(version) => OtpError::VaultTooNew {
                path: path.clone(),
                version: u32::from(version),
            },
            HeaderError::Damaged(reason) => damaged(reason),
        })?;
        let key = self.key(&header.key_ref)?;
        let plain = XChaCha20Poly1305::new(<&chacha20poly1305::Key>::from(&*key))
            .decrypt(
                <&XNonce>::from(&header.nonce),
                Payload {
                    msg: header.ciphertext,
                    aad: header.aad,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| {
                damaged("it does not decrypt with its key in the OS keystore: the file was changed or damaged")
            })?;
        let contents: Contents = serde_json::from_slice(&plain)
            .map_err(|_| damaged("its decrypted contents are not a civkey vault"))?;
        if contents.version != CONTENTS_VERSION {
            return Err(OtpError::VaultTooNew {
                path,
                version: contents.version,
            }
            .into());
        }
        let accounts = contents
            .accounts
            .into_iter()
            .map(Stored::try_from)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| damaged("an account in it is not valid"))?;
        Ok(Some(Loaded {
            key_ref: header.key_ref,
            key,
            accounts,
        }))
    }

    /// The vault key under `key_ref`, with the keystore's refusals said in the vault's terms.
    fn key(&self, key_ref: &KeyRef) -> Result<Zeroizing<[u8; KEY_LEN]>, ClientError> {
        let secret = self
            .profile
            .store()
            .get_secret(key_ref)
            .map_err(|e| match e {
                KeyStoreError::Missing(_) => {
                    ClientError::from(OtpError::VaultKeyMissing { path: self.path() })
                }
                KeyStoreError::Damaged(_) => {
                    ClientError::from(OtpError::VaultKeyDamaged { path: self.path() })
                }
                other => ClientError::KeyStore(other),
            })?;
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        if secret.len() != KEY_LEN {
            return Err(OtpError::VaultKeyDamaged { path: self.path() }.into());
        }
        key.copy_from_slice(&secret);
        Ok(key)
    }

    /// Reads, changes and writes the vault under its lock. `change` returns its result and
    /// whether it changed anything; an unchanged vault is not written. A new vault gets a new key
    /// in the keystore, deleted again if the first write does not happen.
    fn update<T>(
        &self,
        change: impl FnOnce(&mut Vec<Stored>) -> Result<(T, bool), ClientError>,
    ) -> Result<T, ClientError> {
        let dir = self.profile.dir();
        let lock_path = dir.join(LOCK_FILE);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| file_error(&lock_path, e))?;
        lock.lock().map_err(|e| file_error(&lock_path, e))?;

        let store = self.profile.store();
        let (key_ref, key, mut accounts, guard) = match self.load()? {
            Some(loaded) => (loaded.key_ref, loaded.key, loaded.accounts, None),
            None => {
                let key_ref = KeyRef::generate(self.profile.profile_id(), "otp-vault");
                let mut key = Zeroizing::new([0u8; KEY_LEN]);
                rand::rngs::OsRng.fill_bytes(&mut key[..]);
                store.put_secret(&key_ref, &key[..])?;
                let guard = KeyGuard::new(store, key_ref.clone());
                // Read it back: a keystore that silently drops entries must be caught before
                // anything is encrypted under a key that will be gone.
                if self.key(&key_ref)?[..] != key[..] {
                    return Err(OtpError::VaultKeyDamaged { path: self.path() }.into());
                }
                (key_ref, key, Vec::new(), Some(guard))
            }
        };
        let (result, changed) = change(&mut accounts)?;
        if changed {
            let sealed = seal(&key_ref, &key, &accounts)?;
            let path = self.path();
            remove_stale_temporary_files(dir);
            write_atomically(&path, &sealed).map_err(|e| file_error(&path, e))?;
            if let Some(guard) = guard {
                guard.keep();
            }
        }
        drop(lock);
        Ok(result)
    }
}

impl TryFrom<Record> for Stored {
    type Error = civkey_proto::Error;

    fn try_from(record: Record) -> Result<Self, Self::Error> {
        let account = OtpAccount {
            kind: record.kind,
            issuer: record.issuer,
            account: record.name,
            secret: OtpSecret::from_base32(&record.secret)?,
            algorithm: record.algorithm,
            digits: record.digits,
        }
        .validate_stored()?;
        Ok(Stored {
            id: record.id,
            added_at: record.added_at,
            account,
        })
    }
}

fn entries_of(accounts: &[Stored]) -> Vec<OtpEntry> {
    accounts
        .iter()
        .enumerate()
        .map(|(i, a)| a.entry(i + 1))
        .collect()
}

fn totp_code(stored: &Stored, now: UnixSeconds) -> Option<OtpCode> {
    let account = &stored.account;
    let OtpKind::Totp { period } = account.kind else {
        return None;
    };
    let secret = account.secret.expose();
    let current = totp(secret, account.algorithm, account.digits, period, now);
    let remaining = current.remaining(now);
    let next_code = (remaining <= NEXT_CODE_WITHIN_SECS
        && u64::from(period) > NEXT_CODE_WITHIN_SECS)
        .then(|| {
            totp(
                secret,
                account.algorithm,
                account.digits,
                period,
                current.valid_until,
            )
            .code
        });
    Some(OtpCode {
        id: stored.id.clone(),
        label: account.label(),
        code: current.code,
        period: Some(period),
        remaining: Some(remaining),
        valid_until: Some(current.valid_until),
        next_code,
        counter: None,
    })
}

/// The index of the account `selector` names, by the rules [`OtpVault::find`] states.
pub(crate) fn select(accounts: &[Stored], selector: &str) -> Result<usize, OtpError> {
    let wanted = selector.trim().to_lowercase();
    if wanted.is_empty() {
        return Err(OtpError::UnknownAccount(selector.to_string()));
    }
    let lower = |s: &str| s.to_lowercase();
    let rules: [&dyn Fn(&Stored) -> bool; 4] = [
        &|a| a.id == wanted,
        &|a| {
            let label = lower(&a.account.label());
            label == wanted || label.replacen(": ", ":", 1) == wanted
        },
        &|a| {
            lower(&a.account.account) == wanted
                || a.account.issuer.as_deref().map(lower).as_deref() == Some(wanted.as_str())
        },
        &|a| lower(&a.account.label()).contains(&wanted),
    ];
    for rule in rules {
        let matches: Vec<usize> = (0..accounts.len())
            .filter(|&i| rule(&accounts[i]))
            .collect();
        match matches.as_slice() {
            [] => continue,
            [one] => return Ok(*one),
            many => {
                return Err(OtpError::AmbiguousAccount {
                    selector: selector.trim().to_string(),
                    candidates: many.iter().map(|&i| accounts[i].account.label()).collect(),
                })
            }
        }
    }
    Err(OtpError::UnknownAccount(selector.trim().to_string()))
}

/// A new id: 8 characters of lower-case base32, not used in `accounts`.
fn new_id(accounts: &[Stored]) -> String {
    loop {
        let mut bytes = [0u8; 5];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let id = OtpSecret::from_bytes(bytes.to_vec())
            .map(|s| s.to_base32().to_ascii_lowercase())
            .unwrap_or_default();
        if id.len() == 8 && !accounts.iter().any(|a| a.id == id) {
            return id;
        }
    }
}

fn seal(
    key_ref: &KeyRef,
    key: &[u8; KEY_LEN],
    accounts: &[Stored],
) -> Result<Vec<u8>, ClientError> {
    let contents = Contents {
        version: CONTENTS_VERSION,
        accounts: accounts
            .iter()
            .map(|s| Record {
                id: s.id.clone(),
                issuer: s.account.issuer.clone(),
                name: s.account.account.clone(),
                kind: s.account.kind,
                algorithm: s.account.algorithm,
                digits: s.account.digits,
                secret: s.account.secret.to_base32(),
                added_at: s.added_at,
            })
            .collect(),
    };
    let plain =
        Zeroizing::new(
            serde_json::to_vec(&contents).map_err(|e| ClientError::Profile {
                path: PathBuf::from(VAULT_FILE),
                reason: e.to_string(),
            })?,
        );
    let mut nonce = [0u8; NONCE_LEN];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let reference = key_ref.as_str().as_bytes();
    let reference_len = u16::try_from(reference.len()).map_err(|_| ClientError::Profile {
        path: PathBuf::from(VAULT_FILE),
        reason: "the key reference is too long".into(),
    })?;
    let mut file = Vec::with_capacity(64 + reference.len() + plain.len());
    file.extend_from_slice(MAGIC);
    file.push(FORMAT_VERSION);
    file.extend_from_slice(&reference_len.to_be_bytes());
    file.extend_from_slice(reference);
    file.extend_from_slice(&nonce);
    let ciphertext = XChaCha20Poly1305::new(<&chacha20poly1305::Key>::from(key))
        .encrypt(
            <&XNonce>::from(&nonce),
            Payload {
                msg: &plain,
                aad: &file,
            },
        )
        .map_err(|_| ClientError::Profile {
            path: PathBuf::from(VAULT_FILE),
            reason: "encryption failed".into(),
        })?;
    file.extend_from_slice(&ciphertext);
    Ok(file)
}

struct Header<'a> {
    key_ref: KeyRef,
    nonce: [u8; NONCE_LEN],
    aad: &'a [u8],
    ciphertext: &'a [u8],
}

enum HeaderError {
    TooNew(u8),
    Damaged(&'static str),
}

impl<'a> Header<'a> {
    fn parse(bytes: &'a [u8]) -> Result<Self, HeaderError> {
        let not_vault = HeaderError::Damaged("it is not a civkey vault file");
        let rest = bytes.strip_prefix(MAGIC.as_slice()).ok_or(not_vault)?;
        let (&version, rest) = rest
            .split_first()
            .ok_or(HeaderError::Damaged("it is cut short"))?;
        if version != FORMAT_VERSION {
            return Err(HeaderError::TooNew(version));
        }
        let short = || HeaderError::Damaged("it is cut short");
        let (len, rest) = rest.split_at_checked(2).ok_or_else(short)?;
        let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
        let (reference, rest) = rest.split_at_checked(len).ok_or_else(short)?;
        let (nonce, ciphertext) = rest.split_at_checked(NONCE_LEN).ok_or_else(short)?;
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| short())?;
        let reference = std::str::from_utf8(reference)
            .map_err(|_| HeaderError::Damaged("its key reference is not text"))?;
        if ciphertext.len() < 16 {
            return Err(short());
        }
        let aad_len = bytes.len() - ciphertext.len();
        Ok(Header {
            key_ref: KeyRef::from_stored(reference.to_string()),
            nonce,
            aad: &bytes[..aad_len],
            ciphertext,
        })
    }
}

/// Removes temporary vault files that a writer killed mid-write left behind. Only called under
/// the vault's lock, when no other writer can be using one.
fn remove_stale_temporary_files(dir: &std::path::Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let prefix = format!(".{VAULT_FILE}.");
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(&prefix) && name.ends_with(".tmp") && entry.path().is_file() {
            let _ = fs::remove_file(entry.path());
        }
    }
}

fn read_limited(path: &std::path::Path) -> std::io::Result<Vec<u8>> {
    let file = fs::File::open(path)?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(std::io::Error::other("the file is larger than 16 MiB"));
    }
    Ok(bytes)
}

fn file_error(path: &std::path::Path, error: std::io::Error) -> ClientError {
    ClientError::Profile {
        path: path.to_path_buf(),
        reason: error.to_string(),
    }
}

#[cfg(test)]
pub(crate) mod tests;
