//! civkey's backup file: every account, encrypted under a passphrase, for a new phone or computer.
//!
//! ```json
//! { "civkey_otp_backup": 1,
//!   "kdf": { "name": "argon2id", "version": 19, "m_kib": 65536, "t": 3, "p": 1, "salt": B64 },
//!   "cipher": "xchacha20poly1305",
//!   "key_check": B64, "nonce": B64, "data": B64 }
//! ```
//!
//! The key is Argon2id of the passphrase (UTF-8) with the file's parameters and 16-byte salt.
//! `data` is XChaCha20-Poly1305 of the JSON `{"version":1,"exported_at":…,"accounts":["otpauth://…",
//! …]}` under that key and the 24-byte nonce; its associated data is every header field above in
//! a fixed order (docs/otp.md), so a changed parameter is detected. `key_check` is the first 16
//! bytes of SHA-256("civkey-otp-backup key check" ‖ key): it tells a wrong passphrase from a
//! damaged file and helps no attacker, who can test a guess by decrypting anyway; each guess costs
//! the full Argon2id work. Parameters are bounded when read, so a hostile file cannot make civkey
//! allocate gigabytes.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::OtpError;
use crate::ClientError;

/// The format's marker and version.
const FORMAT_VERSION: u32 = 1;
const CONTENTS_VERSION: u32 = 1;
const KDF_NAME: &str = "argon2id";
const ARGON2_VERSION: u32 = 0x13;
const CIPHER: &str = "xchacha20poly1305";
const SALT_LEN: usize = 16;
const NONCE_LEN: usize = 24;
const CHECK_LEN: usize = 16;
/// The fewest characters a new backup passphrase may have.
pub const MIN_PASSPHRASE_CHARS: usize = 8;

/// Argon2id's cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    /// Memory in KiB.
    pub m_kib: u32,
    /// Passes.
    pub t: u32,
    /// Lanes.
    pub p: u32,
}

impl KdfParams {
    /// What `civkey totp export` uses: 64 MiB, 3 passes, 1 lane (RFC 9106's second
    /// recommendation, with one lane because a phone derives it on one core). About half a
    /// second on a laptop; each passphrase guess costs an attacker the same.
    pub const DEFAULT: KdfParams = KdfParams {
        m_kib: 64 * 1024,
        t: 3,
        p: 1,
    };
    /// The most memory a backup may ask for when read (1 GiB).
    pub const MAX_M_KIB: u32 = 1024 * 1024;
    /// The most passes a backup may ask for when read.
    pub const MAX_T: u32 = 64;
    /// The most lanes a backup may ask for when read.
    pub const MAX_P: u32 = 16;

    fn argon2(self) -> Result<argon2::Argon2<'static>, String> {
        if self.m_kib > Self::MAX_M_KIB || self.t > Self::MAX_T || self.p > Self::MAX_P {
            return Err(format!(
                "its Argon2id cost (m = {} KiB, t = {}, p = {}) is beyond what civkey accepts",
                self.m_kib, self.t, self.p
            ));
        }
        let params = argon2::Params::new(self.m_kib, self.t, self.p, Some(32))
            .map_err(|e| format!("its Argon2id parameters are not valid ({e})"))?;
        Ok(argon2::Argon2::new(
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            params,
        ))
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Kdf {
    name: String,
    version: u32,
    m_kib: u32,
    t: u32,
    p: u32,
    salt: String,
}

/// A backup file, read but not yet opened.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Sealed {
    civkey_otp_backup: u32,
    kdf: Kdf,
    cipher: String,
    key_check: String,
    nonce: String,
    data: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Contents {
    version: u32,
    exported_at: u64,
    accounts: Vec<Zeroizing<String>>,
}

/// Whether `json` is a civkey backup (of any version).
pub(crate) fn is_backup(json: &serde_json::Value) -> bool {
    json.get("civkey_otp_backup").is_some()
}

fn damaged(reason: impl Into<String>) -> OtpError {
    OtpError::BackupDamaged(reason.into())
}

/// The associated data: the header's fields in a fixed order.
fn aad(sealed: &Sealed) -> Vec<u8> {
    let k = &sealed.kdf;
    format!(
        "civkey-otp-backup\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n",
        sealed.civkey_otp_backup,
        k.name,
        k.version,
        k.m_kib,
        k.t,
        k.p,
        k.salt,
        sealed.cipher,
        sealed.key_check,
    )
    .into_bytes()
}

fn derive(
    passphrase: &str,
    salt: &[u8],
    params: KdfParams,
) -> Result<Zeroizing<[u8; 32]>, OtpError> {
    let argon2 = params.argon2().map_err(damaged)?;
    let mut key = Zeroizing::new([0u8; 32]);
    argon2
        .hash_password_into(passphrase.as_bytes(), salt, &mut key[..])
        .map_err(|e| damaged(format!("Argon2id failed ({e})")))?;
    Ok(key)
}

fn key_check(key: &[u8; 32]) -> [u8; CHECK_LEN] {
    let digest = Sha256::new()
        .chain_update(b"civkey-otp-backup key check")
        .chain_update(key)
        .finalize();
    let mut check = [0u8; CHECK_LEN];
    check.copy_from_slice(&digest[..CHECK_LEN]);
    check
}

/// Writes a backup of `uris` (each an `otpauth://` link) under `passphrase`.
pub(crate) fn seal(
    uris: &[Zeroizing<String>],
    exported_at: u64,
    passphrase: &str,
    params: KdfParams,
) -> Result<Vec<u8>, ClientError> {
    if passphrase.chars().count() < MIN_PASSPHRASE_CHARS {
        return Err(OtpError::PassphraseTooShort {
            min: MIN_PASSPHRASE_CHARS,
        }
        .into());
    }
    let mut salt = [0u8; SALT_LEN];
    let mut nonce = [0u8; NONCE_LEN];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let key = derive(passphrase, &salt, params)?;
    let mut sealed = Sealed {
        civkey_otp_backup: FORMAT_VERSION,
        kdf: Kdf {
            name: KDF_NAME.into(),
            version: ARGON2_VERSION,
            m_kib: params.m_kib,
            t: params.t,
            p: params.p,
            salt: STANDARD.encode(salt),
        },
        cipher: CIPHER.into(),
        key_check: STANDARD.encode(key_check(&key)),
        nonce: STANDARD.encode(nonce),
        data: String::new(),
    };
    let contents = Contents {
        version: CONTENTS_VERSION,
        exported_at,
        accounts: uris.to_vec(),
    };
    let plain = Zeroizing::new(
        serde_json::to_vec(&contents).map_err(|e| damaged(format!("cannot encode ({e})")))?,
    );
    let ciphertext = XChaCha20Poly1305::new(<&chacha20poly1305::Key>::from(&*key))
        .encrypt(
            <&XNonce>::from(&nonce),
            Payload {
                msg: &plain,
                aad: &aad(&sealed),
            },
        )
        .map_err(|_| damaged("encryption failed"))?;
    sealed.data = STANDARD.encode(ciphertext);
    let mut out =
        serde_json::to_vec_pretty(&sealed).map_err(|e| damaged(format!("cannot encode ({e})")))?;
    out.push(b'\n');
    Ok(out)
}

impl Sealed {
    /// Checks the container's format (not the passphrase).
    pub(crate) fn parse(json: serde_json::Value) -> Result<Self, OtpError> {
        let sealed: Sealed = serde_json::from_value(json)
            .map_err(|e| damaged(format!("its header is not a civkey backup's ({e})")))?;
        if sealed.civkey_otp_backup != FORMAT_VERSION {
            return Err(damaged(format!(
                "it is backup format {}; this civkey reads format {FORMAT_VERSION} (update civkey)",
                sealed.civkey_otp_backup
            )));
        }
        if sealed.kdf.name != KDF_NAME || sealed.kdf.version != ARGON2_VERSION {
            return Err(damaged(format!(
                "its key derivation {} (version {}) is not Argon2id 1.3",
                printable(&sealed.kdf.name),
                sealed.kdf.version
            )));
        }
        if sealed.cipher != CIPHER {
            return Err(damaged(format!(
                "its cipher {} is not XChaCha20-Poly1305",
                printable(&sealed.cipher)
            )));
        }
        sealed.params().argon2().map_err(damaged)?;
        Ok(sealed)
    }

    fn params(&self) -> KdfParams {
        KdfParams {
            m_kib: self.kdf.m_kib,
            t: self.kdf.t,
            p: self.kdf.p,
        }
    }

    /// Opens it with `passphrase`: the `otpauth://` links it holds, in order.
    pub(crate) fn open(&self, passphrase: &str) -> Result<Vec<Zeroizing<String>>, OtpError> {
        let field = |text: &str, what: &str| {
            STANDARD
                .decode(text)
                .map_err(|_| damaged(format!("its {what} is not base64")))
        };
        let salt = field(&self.kdf.salt, "salt")?;
        let nonce = field(&self.nonce, "nonce")?;
        let check = field(&self.key_check, "key check")?;
        let data = field(&self.data, "data")?;
        let nonce: [u8; NONCE_LEN] = nonce
            .try_into()
            .map_err(|_| damaged("its nonce has the wrong length"))?;
        if salt.len() < 8 || check.len() != CHECK_LEN {
            return Err(damaged("a header field has the wrong length"));
        }
        let key = derive(passphrase, &salt, self.params())?;
        if key_check(&key).as_slice() != check.as_slice() {
            return Err(OtpError::WrongPassphrase);
        }
        let plain = XChaCha20Poly1305::new(<&chacha20poly1305::Key>::from(&*key))
            .decrypt(
                <&XNonce>::from(&nonce),
                Payload {
                    msg: &data,
                    aad: &aad(self),
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| {
                damaged("the passphrase is right, but the file was changed or damaged after it was written")
            })?;
        let contents: Contents = serde_json::from_slice(&plain)
            .map_err(|_| damaged("its decrypted contents are not a list of accounts"))?;
        if contents.version != CONTENTS_VERSION {
            return Err(damaged(format!(
                "its contents are version {}; update civkey",
                contents.version
            )));
        }
        Ok(contents.accounts)
    }
}

/// A name from the file, safe to show.
fn printable(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(30).collect()
}

#[cfg(test)]
mod tests;
