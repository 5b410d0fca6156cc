//! The key-encryption key (KEK): the operator's 32-byte key that the database's most valuable
//! secrets are sealed under, so that a copy of the database alone is not a copy of the identity
//! system. It comes from a file (`--key-file`, readable by its owner only) or the `CIVKEY_KEY`
//! variable, never from the database.
//!
//! Sealing is ChaCha20-Poly1305 (ring's AEAD, already used for signatures: no new dependency)
//! with a random 96-bit nonce. The associated data is the value's place (table, column and row),
//! so a ciphertext copied into another row or column does not open. A sealed value is text:
//!
//! ```text
//! kek1:<key id>:<base64url(nonce ‖ ciphertext ‖ tag)>
//! ```
//!
//! The key id (12 hex digits of HMAC-SHA-256 of the key over a fixed label) names the key without
//! revealing it, so a server started with another key says so instead of failing on each value.

use std::io::Write;
use std::path::Path;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

/// What a sealed value starts with.
const PREFIX: &str = "kek1:";

/// Why a key could not be had, or a value not opened.
#[derive(Debug, thiserror::Error)]
pub enum KekError {
    /// The key text is not 32 bytes in hex or base64.
    #[error("the key-encryption key must be 32 bytes, written as 64 hex digits or in base64")]
    BadKeyText,
    /// The key file cannot be read or written.
    #[error("cannot use the key file {path}: {source}")]
    File {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The key file can be read by others than its owner.
    #[error(
        "the key file {path} can be read by others (mode {mode:o}): `chmod 600 {path}` and start again"
    )]
    Exposed {
        /// The file.
        path: String,
        /// Its permission bits.
        mode: u32,
    },
    /// The value was sealed under another key.
    #[error("sealed under key {found}, not under the key given ({given})")]
    OtherKey {
        /// The key id in the value.
        found: String,
        /// The key id of the key given.
        given: String,
    },
    /// The value is not sealed, or its seal is broken (changed, or moved from another place).
    #[error("not a sealed value, or not sealed for this place")]
    Broken,
    /// The system's random source or the cipher failed.
    #[error("cannot seal: {0}")]
    Failed(&'static str),
}

/// The key-encryption key, ready to seal and open. The key bytes live only inside ring's key
/// (and zeroized buffers while it is made); `Debug` shows the key id alone.
pub struct Kek {
    key: LessSafeKey,
    id: String,
}

impl std::fmt::Debug for Kek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kek").field("id", &self.id).finish()
    }
}

impl Kek {
    /// The key made of `bytes`.
    pub fn from_bytes(bytes: &[u8; 32]) -> Kek {
        let id_mac = ring::hmac::sign(
            &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, bytes),
            b"civkey key-encryption key id v1",
        );
        let id = hex::encode(&id_mac.as_ref()[..6]);
        // A 32-byte key is exactly what ChaCha20-Poly1305 takes; this cannot fail.
        let key = match UnboundKey::new(&CHACHA20_POLY1305, bytes) {
            Ok(key) => LessSafeKey::new(key),
            Err(_) => unreachable!("ChaCha20-Poly1305 takes 32-byte keys"),
        };
        Kek { key, id }
    }

    /// A new random key.
    pub fn generate() -> Result<Kek, KekError> {
        Ok(Self::from_bytes(&*random_key()?))
    }

    /// The key written as 64 hex digits or in base64 (standard or URL-safe, padded or not),
    /// surrounding whitespace ignored.
    pub fn parse(text: &str) -> Result<Kek, KekError> {
        let text = text.trim();
        let bytes = Zeroizing::new(
            hex::decode(text)
                .ok()
                .or_else(|| STANDARD.decode(text).ok())
                .or_else(|| URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).ok())
                .ok_or(KekError::BadKeyText)?,
        );
        let bytes: Zeroizing<[u8; 32]> = Zeroizing::new(
            bytes
                .as_slice()
                .try_into()
                .map_err(|_| KekError::BadKeyText)?,
        );
        Ok(Self::from_bytes(&bytes))
    }

    /// The key in the file `path`, which only its owner may read (on Unix: no permission bits for
    /// group or others).
    pub fn read_file(path: &Path) -> Result<Kek, KekError> {
        let file_error = |source| KekError::File {
            path: path.display().to_string(),
            source,
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path)
                .map_err(file_error)?
                .permissions()
                .mode()
                & 0o777;
            if mode & 0o077 != 0 {
                return Err(KekError::Exposed {
                    path: path.display().to_string(),
                    mode,
                });
            }
        }
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(file_error)?);
        Self::parse(&text)
    }

    /// Makes a new random key, writes it to `path` (which must not exist yet) as 64 hex digits,
    /// readable by its owner only, and returns it.
    pub fn write_new_file(path: &Path) -> Result<Kek, KekError> {
        let file_error = |source| KekError::File {
            path: path.display().to_string(),
            source,
        };
        let bytes = random_key()?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(path).map_err(file_error)?;
        let text = Zeroizing::new(format!("{}\n", hex::encode(bytes.as_slice())));
        file.write_all(text.as_bytes()).map_err(file_error)?;
        file.sync_all().map_err(file_error)?;
        Ok(Self::from_bytes(&bytes))
    }

    /// The key's id, as stored in every value it sealed.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Seals `plain` for `place` (table, column and row, as [`place`] writes it).
    pub fn seal(&self, place: &str, plain: &[u8]) -> Result<String, KekError> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| KekError::Failed("the system's random source failed"))?;
        let mut sealed = Zeroizing::new(plain.to_vec());
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(place.as_bytes()),
                &mut *sealed,
            )
            .map_err(|_| KekError::Failed("ChaCha20-Poly1305 refused the value"))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(format!(
            "{PREFIX}{}:{}",
            self.id,
            URL_SAFE_NO_PAD.encode(out)
        ))
    }

    /// Opens a value sealed for `place` under this key.
    pub fn open(&self, place: &str, sealed: &str) -> Result<Zeroizing<Vec<u8>>, KekError> {
        let found = sealed_key_id(sealed).ok_or(KekError::Broken)?;
        if found != self.id {
            return Err(KekError::OtherKey {
                found: found.to_string(),
                given: self.id.clone(),
            });
        }
        let body = &sealed[PREFIX.len() + found.len() + 1..];
        let mut bytes = Zeroizing::new(URL_SAFE_NO_PAD.decode(body).map_err(|_| KekError::Broken)?);
        if bytes.len() < NONCE_LEN {
            return Err(KekError::Broken);
        }
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&bytes[..NONCE_LEN]);
        let plain = self
            .key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(place.as_bytes()),
                &mut bytes[NONCE_LEN..],
            )
            .map_err(|_| KekError::Broken)?;
        Ok(Zeroizing::new(plain.to_vec()))
    }

    /// Opens a value sealed as text for `place`.
    pub fn open_text(&self, place: &str, sealed: &str) -> Result<Zeroizing<String>, KekError> {
        let bytes = self.open(place, sealed)?;
        String::from_utf8(bytes.to_vec())
            .map(Zeroizing::new)
            .map_err(|_| KekError::Broken)
    }
}

/// The id of the key a stored value is sealed under; `None` for a value that is not sealed (a
/// row written before sealing, migrated at the next start).
pub fn sealed_key_id(stored: &str) -> Option<&str> {
    let rest = stored.strip_prefix(PREFIX)?;
    let (id, _) = rest.split_once(':')?;
    Some(id)
}

/// A sealed value's place: `table.column/row`. Bound into the seal, so the value opens only there.
pub fn place(table_column: &str, row: &str) -> String {
    format!("{table_column}/{row}")
}

fn random_key() -> Result<Zeroizing<[u8; 32]>, KekError> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    SystemRandom::new()
        .fill(&mut *bytes)
        .map_err(|_| KekError::Failed("the system's random source failed"))?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_value_opens_only_with_its_key_and_at_its_place() {
        let kek = Kek::generate().unwrap();
        let sealed = kek
            .seal("citizens.totp_secret/c1", b"JBSWY3DPEHPK3PXP")
            .unwrap();
        assert!(!sealed.contains("JBSWY3DPEHPK3PXP"));
        assert_eq!(sealed_key_id(&sealed), Some(kek.id()));
        assert_eq!(
            kek.open_text("citizens.totp_secret/c1", &sealed)
                .unwrap()
                .as_str(),
            "JBSWY3DPEHPK3PXP"
        );
        // Moved to another citizen's row: refused.
        assert!(matches!(
            kek.open("citizens.totp_secret/c2", &sealed),
            Err(KekError::Broken)
        ));
        // Another key: named as such.
        assert!(matches!(
            Kek::generate()
                .unwrap()
                .open("citizens.totp_secret/c1", &sealed),
            Err(KekError::OtherKey { .. })
        ));
        // A changed byte: refused.
        let mut changed = sealed.clone().into_bytes();
        let last = changed.len() - 1;
        changed[last] = if changed[last] == b'A' { b'B' } else { b'A' };
        let changed = String::from_utf8(changed).unwrap();
        assert!(kek.open("citizens.totp_secret/c1", &changed).is_err());
        // Plain text is no sealed value.
        assert_eq!(sealed_key_id("JBSWY3DPEHPK3PXP"), None);
        assert!(kek.open("x/y", "JBSWY3DPEHPK3PXP").is_err());
        assert!(kek.open("x/y", "kek1:").is_err());
        assert!(kek.open("x/y", &format!("kek1:{}:", kek.id())).is_err());
    }

    #[test]
    fn a_key_is_read_in_hex_or_base64_and_nothing_else() {
        let bytes = [7u8; 32];
        let id = Kek::from_bytes(&bytes).id().to_string();
        for text in [
            hex::encode(bytes),
            STANDARD.encode(bytes),
            URL_SAFE_NO_PAD.encode(bytes),
            format!("  {}\n", hex::encode(bytes)),
        ] {
            assert_eq!(Kek::parse(&text).unwrap().id(), id, "{text}");
        }
        for bad in [
            "",
            "abc",
            &hex::encode([7u8; 31]),
            &STANDARD.encode([7u8; 33]),
        ] {
            assert!(
                matches!(Kek::parse(bad), Err(KekError::BadKeyText)),
                "{bad}"
            );
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_key_file_is_made_for_its_owner_only_and_refused_when_others_can_read_it() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("civkey.key");
        let made = Kek::write_new_file(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(Kek::read_file(&path).unwrap().id(), made.id());
        assert!(Kek::write_new_file(&path).is_err(), "never overwritten");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = Kek::read_file(&path).unwrap_err();
        assert!(err.to_string().contains("chmod 600"), "{err}");
    }
}
