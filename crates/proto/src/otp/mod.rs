//! One-time codes: `otpauth://` Key URIs ([`OtpAccount`]), Google Authenticator's export
//! ([`MigrationBatch`]), and the HOTP (RFC 4226) / TOTP (RFC 6238) algorithms ([`hotp`], [`totp`]).

mod code;
mod migration;
mod uri;

pub use code::{hotp, totp, TotpCode};
pub use migration::{MigrationBatch, MigrationEntry};

use std::fmt;

use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::Error;

/// The HMAC hash of an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Algorithm {
    /// HMAC-SHA1, the default.
    Sha1,
    /// HMAC-SHA256.
    Sha256,
    /// HMAC-SHA512.
    Sha512,
}

impl Algorithm {
    /// The name as written in a Key URI: `SHA1`, `SHA256`, `SHA512`.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Sha1 => "SHA1",
            Algorithm::Sha256 => "SHA256",
            Algorithm::Sha512 => "SHA512",
        }
    }

    /// Reads a name case-insensitively (`sha1`, `SHA256`, `SHA-512`).
    pub fn parse(text: &str) -> Result<Self, Error> {
        match text.to_ascii_uppercase().replace('-', "").as_str() {
            "SHA1" => Ok(Algorithm::Sha1),
            "SHA256" => Ok(Algorithm::Sha256),
            "SHA512" => Ok(Algorithm::Sha512),
            _ => Err(Error::InvalidParam {
                param: "algorithm",
                reason: "unsupported (SHA1, SHA256 or SHA512)",
            }),
        }
    }
}

/// Counter-based or time-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum OtpKind {
    /// TOTP: a new code every `period` seconds.
    Totp {
        /// Seconds per code (30 by default).
        period: u32,
    },
    /// HOTP: a new code each time the counter advances.
    Hotp {
        /// The next counter value to use.
        counter: u64,
    },
}

/// An account's shared secret. Zeroized on drop, hidden from `Debug`, compared in constant time.
#[derive(Clone)]
pub struct OtpSecret(Zeroizing<Vec<u8>>);

impl OtpSecret {
    /// The most bytes a secret may have (a 1024-bit key is already far beyond any service's).
    pub const MAX_LEN: usize = 128;

    /// A secret from raw bytes (1 to [`Self::MAX_LEN`]).
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, Error> {
        let bytes = Zeroizing::new(bytes);
        if bytes.is_empty() {
            return Err(Error::Invalid {
                what: "secret",
                reason: "is empty",
            });
        }
        if bytes.len() > Self::MAX_LEN {
            return Err(Error::Invalid {
                what: "secret",
                reason: "is longer than 128 bytes",
            });
        }
        Ok(OtpSecret(bytes))
    }

    /// Reads RFC 4648 base32: upper or lower case, padded or not; spaces are ignored.
    pub fn from_base32(text: &str) -> Result<Self, Error> {
        Self::from_bytes(base32_decode(text)?)
    }

    /// The secret in upper-case base32 without padding.
    pub fn to_base32(&self) -> Zeroizing<String> {
        Zeroizing::new(base32_encode(&self.0))
    }

    /// The raw bytes. Keep them out of logs.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl PartialEq for OtpSecret {
    fn eq(&self, other: &Self) -> bool {
        self.0.len() == other.0.len() && bool::from(self.0.ct_eq(&other.0))
    }
}

impl Eq for OtpSecret {}

impl fmt::Debug for OtpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OtpSecret(***)")
    }
}

/// A one-time code account, as a Key URI describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtpAccount {
    /// TOTP or HOTP, with period or counter.
    pub kind: OtpKind,
    /// The service ("Ügyfélkapu+", "GitHub"), when known.
    pub issuer: Option<String>,
    /// The account name ("jana@example.cz").
    pub account: String,
    /// The shared secret.
    pub secret: OtpSecret,
    /// The HMAC hash.
    pub algorithm: Algorithm,
    /// Digits per code, 6 to 8.
    pub digits: u8,
}

impl OtpAccount {
    /// The fewest digits a code may have.
    pub const MIN_DIGITS: u8 = 6;
    /// The most digits a code may have.
    pub const MAX_DIGITS: u8 = 8;
    /// The longest period accepted (one day).
    pub const MAX_PERIOD: u32 = 86_400;

    /// `Issuer: account`, or just the account name, for showing to people.
    pub fn label(&self) -> String {
        match &self.issuer {
            Some(issuer) => format!("{issuer}: {}", self.account),
            None => self.account.clone(),
        }
    }

    /// An account from its parts, as a person types them in or an import file lists them:
    /// checked and tidied as [`OtpAccount::validate`] does (an empty issuer is none).
    pub fn new(
        kind: OtpKind,
        issuer: Option<&str>,
        account: &str,
        secret: OtpSecret,
        algorithm: Algorithm,
        digits: u8,
    ) -> Result<Self, Error> {
        OtpAccount {
            kind,
            issuer: issuer.map(str::to_string),
            account: account.to_string(),
            secret,
            algorithm,
            digits,
        }
        .validate()
    }

    /// Checks the parts that a URI, an import or a person could get wrong, and tidies the
    /// names, so that every account it lets through writes a Key URI ([`OtpAccount::to_uri`])
    /// that reads back to the same account: issuer and account name are trimmed (an issuer
    /// left empty is none); then 6 to 8 digits, a period of 1 to 86400 seconds, an account name
    /// that is not empty, names without control characters and at most 256 characters long,
    /// and a Key URI no longer than [`crate::MAX_INPUT_LEN`] (only names of hundreds of
    /// characters outside ASCII come near it).
    pub fn validate(self) -> Result<Self, Error> {
        let account = self.validate_stored()?;
        if Zeroizing::new(account.to_uri()).len() > crate::MAX_INPUT_LEN {
            return Err(Error::Invalid {
                what: "label",
                reason: "is too long to write as an otpauth:// link",
            });
        }
        Ok(account)
    }

    /// [`OtpAccount::validate`] without the limit on the Key URI's length, for an account that
    /// is already kept (the vault): it was entered before that limit, and refusing it now would
    /// lock every other account in the vault away with it.
    pub fn validate_stored(mut self) -> Result<Self, Error> {
        self.issuer = self
            .issuer
            .as_deref()
            .map(str::trim)
            .filter(|i| !i.is_empty())
            .map(str::to_string);
        self.account = self.account.trim().to_string();
        if !(Self::MIN_DIGITS..=Self::MAX_DIGITS).contains(&self.digits) {
            return Err(Error::InvalidParam {
                param: "digits",
                reason: "must be 6, 7 or 8",
            });
        }
        if let OtpKind::Totp { period } = self.kind {
            if period == 0 || period > Self::MAX_PERIOD {
                return Err(Error::InvalidParam {
                    param: "period",
                    reason: "must be between 1 and 86400 seconds",
                });
            }
        }
        if self.account.is_empty() {
            return Err(Error::Invalid {
                what: "label",
                reason: "has no account name",
            });
        }
        let texts = std::iter::once(self.account.as_str()).chain(self.issuer.as_deref());
        for text in texts {
            if text.chars().any(char::is_control) {
                return Err(Error::Invalid {
                    what: "label",
                    reason: "contains control characters",
                });
            }
            if text.chars().count() > 256 {
                return Err(Error::Invalid {
                    what: "label",
                    reason: "is longer than 256 characters",
                });
            }
        }
        Ok(self)
    }
}

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

fn base32_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(BASE32[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(BASE32[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

fn base32_decode(text: &str) -> Result<Vec<u8>, Error> {
    let invalid = |reason| Error::InvalidParam {
        param: "secret",
        reason,
    };
    let cleaned: Zeroizing<Vec<u8>> = Zeroizing::new(
        text.bytes()
            .filter(|b| *b != b' ')
            .map(|b| b.to_ascii_uppercase())
            .collect(),
    );
    let unpadded = match cleaned.iter().position(|&b| b == b'=') {
        Some(first_pad) => {
            if cleaned[first_pad..].iter().any(|&b| b != b'=') {
                return Err(invalid("is not valid base32 (padding in the middle)"));
            }
            &cleaned[..first_pad]
        }
        None => &cleaned[..],
    };
    if unpadded.is_empty() {
        return Err(invalid("is empty"));
    }
    if matches!(unpadded.len() % 8, 1 | 3 | 6) {
        return Err(invalid("is not valid base32 (impossible length)"));
    }
    let mut out = Vec::with_capacity(unpadded.len() * 5 / 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &c in unpadded {
        let value = match c {
            b'A'..=b'Z' => c - b'A',
            b'2'..=b'7' => c - b'2' + 26,
            _ => {
                return Err(invalid(
                    "is not valid base32 (letters A–Z and digits 2–7 only)",
                ))
            }
        };
        buffer = ((buffer << 5) | u32::from(value)) & 0xffff;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(((buffer >> bits) & 0xff) as u8);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32_matches_rfc4648_vectors() {
        for (plain, encoded) in [
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ] {
            assert_eq!(base32_encode(plain.as_bytes()), encoded);
            assert_eq!(base32_decode(encoded).unwrap(), plain.as_bytes());
            assert_eq!(
                base32_decode(&encoded.to_lowercase()).unwrap(),
                plain.as_bytes()
            );
        }
        assert_eq!(base32_decode("MZXW6YQ=").unwrap(), b"foob");
        assert_eq!(base32_decode("MZXW 6YTB").unwrap(), b"fooba");
    }

    #[test]
    fn invalid_base32_is_refused_with_a_reason() {
        for bad in [
            "", "====", "MZ=XW", "M", "MZX", "MZXW6Y", "MZ1W", "MZXW6YQ!",
        ] {
            assert!(base32_decode(bad).is_err(), "{bad}");
        }
    }
}
