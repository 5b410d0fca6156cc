//! Importing an Aegis Authenticator export (JSON), plain or encrypted with a password.
//!
//! ```text
//! { "version": 1,
//!   "header": { "slots": [ … ] | null, "params": { "nonce": HEX, "tag": HEX } | null },
//!   "db": { "version": 1..3, "entries": [ … ] }   (plain)
//!       | "BASE64"                                  (encrypted) }
//! ```
//!
//! An encrypted export keeps a random 256-bit master key wrapped in "slots". A password slot
//! (`"type": 1`) holds scrypt's `n`, `r`, `p` and `salt`; scrypt of the password gives the key
//! that opens the slot's `key` with AES-256-GCM (`key_params`: nonce and tag). The master key then
//! opens `db` with AES-256-GCM (`header.params`). Biometric slots (type 2) need the phone's
//! keystore and are skipped. An entry is `{"type": "totp"|"hotp"|"steam"|…, "name", "issuer",
//! "info": {"secret": BASE32, "algo", "digits", "period" | "counter"}}`; only TOTP and HOTP make
//! codes civkey can show, the others are reported.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use civkey_proto::otp::{Algorithm, OtpAccount, OtpKind, OtpSecret};
use serde::Deserialize;
use zeroize::Zeroizing;

use super::import::{ImportIssue, ImportSet, Source};
use super::{hex_field, OtpError};
use crate::ClientError;

/// The most memory scrypt may take for one slot (Aegis uses 32 MiB: N = 2^15, r = 8).
const MAX_SCRYPT_BYTES: u64 = 256 * 1024 * 1024;
/// The newest `db` version read (Aegis 3 writes 3; entries keep their shape).
const MAX_DB_VERSION: u32 = 3;

/// An Aegis export, its format checked but not yet decrypted.
pub(crate) struct AegisFile {
    header: Header,
    db: serde_json::Value,
}

#[derive(Deserialize)]
struct File {
    version: u32,
    header: Header,
    db: serde_json::Value,
}

#[derive(Deserialize)]
struct Header {
    slots: Option<Vec<Slot>>,
    params: Option<CipherParams>,
}

#[derive(Deserialize)]
struct Slot {
    #[serde(rename = "type")]
    kind: u32,
    key: String,
    key_params: CipherParams,
    n: Option<u64>,
    r: Option<u32>,
    p: Option<u32>,
    salt: Option<String>,
}

#[derive(Deserialize)]
struct CipherParams {
    nonce: String,
    tag: String,
}

#[derive(Deserialize)]
struct Db {
    version: u32,
    entries: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct Entry {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    name: String,
    issuer: Option<String>,
    info: Info,
}

#[derive(Deserialize)]
struct Info {
    secret: Zeroizing<String>,
    algo: Option<String>,
    digits: Option<u64>,
    period: Option<u64>,
    counter: Option<u64>,
}

/// Whether `json` looks like an Aegis export (it has a version, a header and a db).
pub(crate) fn is_aegis(json: &serde_json::Value) -> bool {
    ["version", "header", "db"]
        .iter()
        .all(|k| json.get(k).is_some())
}

fn damaged(reason: impl Into<String>) -> OtpError {
    OtpError::AegisDamaged(reason.into())
}

impl AegisFile {
    /// Checks the outer format.
    pub(crate) fn parse(json: serde_json::Value) -> Result<Self, OtpError> {
        let file: File = serde_json::from_value(json)
            .map_err(|e| damaged(format!("its header is not Aegis' ({e})")))?;
        if file.version != 1 {
            return Err(damaged(format!(
                "it is Aegis export version {}; civkey reads version 1",
                file.version
            )));
        }
        let encrypted = file.db.is_string();
        if encrypted && (file.header.slots.is_none() || file.header.params.is_none()) {
            return Err(damaged("it is encrypted but its header has no slots"));
        }
        if !encrypted && !file.db.is_object() {
            return Err(damaged("its db is neither an object nor encrypted text"));
        }
        Ok(AegisFile {
            header: file.header,
            db: file.db,
        })
    }

    /// Whether it is encrypted with a password.
    pub(crate) fn is_encrypted(&self) -> bool {
        self.db.is_string()
    }

    /// Decrypts (if encrypted) and reads every entry into `set`.
    pub(crate) fn read_into(
        &self,
        file: &str,
        passphrase: Option<&str>,
        set: &mut ImportSet,
    ) -> Result<(), ClientError> {
        let db: Db = match &self.db {
            serde_json::Value::String(encoded) => {
                let passphrase = passphrase.ok_or(OtpError::PassphraseNeeded)?;
                let plain = self.decrypt(encoded, passphrase)?;
                serde_json::from_slice(&plain)
                    .map_err(|_| damaged("its decrypted contents are not an Aegis db"))?
            }
            other => serde_json::from_value(other.clone())
                .map_err(|_| damaged("its db has no list of entries"))?,
        };
        if db.version == 0 || db.version > MAX_DB_VERSION {
            return Err(damaged(format!(
                "its db is version {}; civkey reads 1 to {MAX_DB_VERSION}",
                db.version
            ))
            .into());
        }
        for (i, value) in db.entries.into_iter().enumerate() {
            let label = label_of(&value);
            set.push_labelled(Source::entry(file, i + 1), label, read_entry(value));
        }
        Ok(())
    }

    fn decrypt(&self, encoded: &str, passphrase: &str) -> Result<Zeroizing<Vec<u8>>, OtpError> {
        let slots = self.header.slots.as_deref().unwrap_or_default();
        let params = self
            .header
            .params
            .as_ref()
            .ok_or_else(|| damaged("it has no db parameters"))?;
        let master = master_key(slots, passphrase)?;
        let mut message = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map_err(|_| damaged("its db is not base64"))?;
        let nonce: [u8; 12] = hex_field(&params.nonce, "the db nonce").map_err(damaged)?;
        let tag: [u8; 16] = hex_field(&params.tag, "the db tag").map_err(damaged)?;
        message.extend_from_slice(&tag);
        let cipher = Aes256Gcm::new_from_slice(&master[..])
            .map_err(|_| damaged("its master key has the wrong length"))?;
        cipher
            .decrypt(<&Nonce<_>>::from(&nonce), message.as_slice())
            .map(Zeroizing::new)
            .map_err(|_| {
                damaged(
                    "its db does not decrypt with its master key: the file was changed or damaged",
                )
            })
    }
}

/// Opens the first password slot that `passphrase` opens.
fn master_key(slots: &[Slot], passphrase: &str) -> Result<Zeroizing<[u8; 32]>, OtpError> {
    let password_slots: Vec<&Slot> = slots.iter().filter(|s| s.kind == 1).collect();
    if password_slots.is_empty() {
        return Err(damaged(
            "it has no password slot (it can only be opened with the phone's fingerprint)",
        ));
    }
    for slot in password_slots {
        let (Some(n), Some(r), Some(p), Some(salt)) = (slot.n, slot.r, slot.p, &slot.salt) else {
            return Err(damaged("a password slot has no scrypt parameters"));
        };
        let memory = 128u64.saturating_mul(n).saturating_mul(u64::from(r));
        if !n.is_power_of_two() || n < 2 || r == 0 || p == 0 || p > 16 || memory > MAX_SCRYPT_BYTES
        {
            return Err(damaged(format!(
                "its scrypt parameters (n = {n}, r = {r}, p = {p}) are outside what civkey accepts"
            )));
        }
        let log_n = n.trailing_zeros() as u8;
        let scrypt_params = scrypt::Params::new(log_n, r, p, 32)
            .map_err(|_| damaged("its scrypt parameters are not valid"))?;
        let salt =
            hex::decode(salt.trim()).map_err(|_| damaged("a slot's salt is not hexadecimal"))?;
        let mut derived = Zeroizing::new([0u8; 32]);
        scrypt::scrypt(
            passphrase.as_bytes(),
            &salt,
            &scrypt_params,
            &mut derived[..],
        )
        .map_err(|_| damaged("scrypt failed"))?;
        let nonce: [u8; 12] =
            hex_field(&slot.key_params.nonce, "a slot's nonce").map_err(damaged)?;
        let tag: [u8; 16] = hex_field(&slot.key_params.tag, "a slot's tag").map_err(damaged)?;
        let mut wrapped =
            hex::decode(slot.key.trim()).map_err(|_| damaged("a slot's key is not hexadecimal"))?;
        wrapped.extend_from_slice(&tag);
        let cipher = Aes256Gcm::new_from_slice(&derived[..])
            .map_err(|_| damaged("scrypt gave a key of the wrong length"))?;
        if let Ok(key) = cipher.decrypt(<&Nonce<_>>::from(&nonce), wrapped.as_slice()) {
            let key = Zeroizing::new(key);
            let mut master = Zeroizing::new([0u8; 32]);
            if key.len() != 32 {
                return Err(damaged("its master key is not 32 bytes long"));
            }
            master.copy_from_slice(&key);
            return Ok(master);
        }
    }
    Err(OtpError::WrongPassphrase)
}

/// `Issuer: name` of an entry, when it has them, so that even a failed entry can be named.
fn label_of(value: &serde_json::Value) -> Option<String> {
    let text = |k: &str| {
        value
            .get(k)
            .and_then(|v| v.as_str())
            .map(str::trim)
            .filter(|s| !s.is_empty())
    };
    match (text("issuer"), text("name")) {
        (Some(issuer), Some(name)) => Some(format!("{issuer}: {name}")),
        (None, Some(name)) => Some(name.to_string()),
        (Some(issuer), None) => Some(issuer.to_string()),
        (None, None) => None,
    }
}

fn read_entry(value: serde_json::Value) -> Result<OtpAccount, ImportIssue> {
    let invalid =
        |what, reason| ImportIssue::Invalid(civkey_proto::Error::Invalid { what, reason });
    let entry: Entry = serde_json::from_value(value).map_err(|_| {
        invalid(
            "entry",
            "is not an Aegis entry (type, name, info with secret)",
        )
    })?;
    let info = &entry.info;
    let kind = match entry.kind.to_ascii_lowercase().as_str() {
        "totp" => OtpKind::Totp {
            period: u32::try_from(info.period.unwrap_or(30)).map_err(|_| {
                ImportIssue::Invalid(civkey_proto::Error::InvalidParam {
                    param: "period",
                    reason: "must be between 1 and 86400 seconds",
                })
            })?,
        },
        "hotp" => OtpKind::Hotp {
            counter: info.counter.unwrap_or(0),
        },
        other => return Err(ImportIssue::UnsupportedType(printable(other))),
    };
    let algorithm =
        Algorithm::parse(info.algo.as_deref().unwrap_or("SHA1")).map_err(ImportIssue::Invalid)?;
    let digits = u8::try_from(info.digits.unwrap_or(6)).map_err(|_| {
        ImportIssue::Invalid(civkey_proto::Error::InvalidParam {
            param: "digits",
            reason: "must be 6, 7 or 8",
        })
    })?;
    let secret = OtpSecret::from_base32(&info.secret).map_err(ImportIssue::Invalid)?;
    OtpAccount::new(
        kind,
        entry.issuer.as_deref(),
        &entry.name,
        secret,
        algorithm,
        digits,
    )
    .map_err(ImportIssue::Invalid)
}

/// An entry type from the file, safe to show: at most 20 characters, no control characters.
fn printable(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(20).collect()
}

#[cfg(test)]
pub(crate) mod tests;
