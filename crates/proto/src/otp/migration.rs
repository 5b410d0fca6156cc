//! Google Authenticator's export: `otpauth-migration://offline?data=BASE64`, where `data` is a
//! protobuf `MigrationPayload`:
//!
//! ```text
//! message MigrationPayload {
//!   repeated OtpParameters otp_parameters = 1;
//!   int32 version = 2; int32 batch_size = 3; int32 batch_index = 4; int32 batch_id = 5;
//! }
//! message OtpParameters {
//!   bytes secret = 1; string name = 2; string issuer = 3;
//!   Algorithm algorithm = 4;   // 0 unspecified (SHA1), 1 SHA1, 2 SHA256, 3 SHA512, 4 MD5
//!   DigitCount digits = 5;     // 0 unspecified (6), 1 six, 2 eight
//!   OtpType type = 6;          // 0 unspecified (TOTP), 1 HOTP, 2 TOTP
//!   int64 counter = 7;
//! }
//! ```
//!
//! The decoder is written here (a few dozen lines) rather than pulled in: it reads untrusted bytes,
//! skips unknown fields as protobuf requires, and never panics. Google's format has no period:
//! every TOTP account in it uses 30 seconds.

use super::{Algorithm, OtpAccount, OtpKind, OtpSecret};
use crate::encoding::{
    b64_standard, b64_standard_lenient, escape, split_query, strip_scheme, unescape,
};
use crate::{check_len, Error};

/// One account in a batch: read, or the reason it could not be.
pub type MigrationEntry = Result<OtpAccount, Error>;

/// One `otpauth-migration://` QR code: some of an export's accounts and where they stand in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationBatch {
    /// The accounts, in order; an account that cannot be used says why, the others still import.
    pub entries: Vec<MigrationEntry>,
    /// Payload version (1 today).
    pub version: i32,
    /// How many QR codes the export has.
    pub batch_size: i32,
    /// Which of them this is (from 0).
    pub batch_index: i32,
    /// Identifies the export, the same in each of its QR codes.
    pub batch_id: i32,
}

impl MigrationBatch {
    /// Reads an `otpauth-migration://offline?data=…` URI.
    pub fn parse_uri(input: &str) -> Result<Self, Error> {
        check_len(input)?;
        if input.is_empty() {
            return Err(Error::Empty);
        }
        let rest = strip_scheme(input, "otpauth-migration")?;
        let (host, query) = rest.split_once('?').ok_or(Error::MissingParam("data"))?;
        if !host.eq_ignore_ascii_case("offline") {
            return Err(Error::Malformed(
                "expected otpauth-migration://offline?data=…",
            ));
        }
        let params = split_query(query)?;
        let raw = params
            .iter()
            .find(|(k, _)| *k == "data")
            .map(|(_, v)| *v)
            .ok_or(Error::MissingParam("data"))?;
        // Base64 `+` is data, not a space; some exporters leave it unescaped.
        let data = unescape(raw, false, "data")?;
        let bytes = b64_standard_lenient(&data).ok_or(Error::InvalidParam {
            param: "data",
            reason: "not base64",
        })?;
        Self::decode(&bytes)
    }

    /// Decodes the protobuf payload.
    pub fn decode(bytes: &[u8]) -> Result<Self, Error> {
        let mut batch = MigrationBatch {
            entries: Vec::new(),
            version: 0,
            batch_size: 1,
            batch_index: 0,
            batch_id: 0,
        };
        let mut reader = Reader(bytes);
        while let Some((field, value)) = reader.next_field()? {
            match (field, value) {
                (1, Value::Bytes(b)) => batch.entries.push(decode_account(b)),
                (2, Value::Varint(v)) => batch.version = v as i32,
                (3, Value::Varint(v)) => batch.batch_size = v as i32,
                (4, Value::Varint(v)) => batch.batch_index = v as i32,
                (5, Value::Varint(v)) => batch.batch_id = v as i32,
                _ => {}
            }
        }
        if batch.entries.is_empty() {
            return Err(Error::Invalid {
                what: "export",
                reason: "contains no accounts",
            });
        }
        Ok(batch)
    }

    /// Encodes accounts as one export QR code's URI. Periods other than 30 seconds cannot be
    /// represented in Google's format; such accounts are written with 30 and should be exported as
    /// `otpauth://` instead.
    pub fn encode_uri(
        accounts: &[OtpAccount],
        batch_index: i32,
        batch_size: i32,
        batch_id: i32,
    ) -> String {
        let mut payload = Vec::new();
        for account in accounts {
            let mut p = Vec::new();
            put_bytes(&mut p, 1, account.secret.expose());
            let name = match &account.issuer {
                Some(issuer) => format!("{issuer}:{}", account.account),
                None => account.account.clone(),
            };
            put_bytes(&mut p, 2, name.as_bytes());
            if let Some(issuer) = &account.issuer {
                put_bytes(&mut p, 3, issuer.as_bytes());
            }
            let algorithm = match account.algorithm {
                Algorithm::Sha1 => 1,
                Algorithm::Sha256 => 2,
                Algorithm::Sha512 => 3,
            };
            put_varint_field(&mut p, 4, algorithm);
            put_varint_field(&mut p, 5, if account.digits == 8 { 2 } else { 1 });
            match account.kind {
                OtpKind::Hotp { counter } => {
                    put_varint_field(&mut p, 6, 1);
                    put_varint_field(&mut p, 7, counter);
                }
                OtpKind::Totp { .. } => put_varint_field(&mut p, 6, 2),
            }
            put_bytes(&mut payload, 1, &p);
            zeroize::Zeroize::zeroize(&mut p);
        }
        put_varint_field(&mut payload, 2, 1);
        put_varint_field(&mut payload, 3, batch_size as u64);
        put_varint_field(&mut payload, 4, batch_index as u64);
        put_varint_field(&mut payload, 5, batch_id as u64);
        let uri = format!(
            "otpauth-migration://offline?data={}",
            escape(&b64_standard(&payload))
        );
        zeroize::Zeroize::zeroize(&mut payload);
        uri
    }
}

fn decode_account(bytes: &[u8]) -> MigrationEntry {
    let mut secret = Vec::new();
    let (mut name, mut issuer) = (String::new(), String::new());
    let (mut algorithm, mut digits, mut kind, mut counter) = (0u64, 0u64, 0u64, 0u64);
    let mut reader = Reader(bytes);
    while let Some((field, value)) = reader.next_field()? {
        match (field, value) {
            (1, Value::Bytes(b)) => secret = b.to_vec(),
            (2, Value::Bytes(b)) => name = utf8(b)?,
            (3, Value::Bytes(b)) => issuer = utf8(b)?,
            (4, Value::Varint(v)) => algorithm = v,
            (5, Value::Varint(v)) => digits = v,
            (6, Value::Varint(v)) => kind = v,
            (7, Value::Varint(v)) => counter = v,
            _ => {}
        }
    }
    let secret = OtpSecret::from_bytes(secret)?;
    let algorithm = match algorithm {
        0 | 1 => Algorithm::Sha1,
        2 => Algorithm::Sha256,
        3 => Algorithm::Sha512,
        _ => {
            return Err(Error::InvalidParam {
                param: "algorithm",
                reason: "unsupported (SHA1, SHA256 or SHA512)",
            })
        }
    };
    let digits = match digits {
        0 | 1 => 6,
        2 => 8,
        _ => {
            return Err(Error::InvalidParam {
                param: "digits",
                reason: "must be 6, 7 or 8",
            })
        }
    };
    let kind = match kind {
        1 => OtpKind::Hotp { counter },
        0 | 2 => OtpKind::Totp { period: 30 },
        _ => {
            return Err(Error::Invalid {
                what: "type",
                reason: "must be totp or hotp",
            })
        }
    };
    // Google writes "Issuer:account" into name when the account has an issuer. The issuer is
    // split off whole, so one with a `:` in it ("Bank: Retail") leaves the account name intact.
    let account = if issuer.trim().is_empty() {
        name
    } else {
        name.strip_prefix(issuer.as_str())
            .and_then(|rest| rest.strip_prefix(':'))
            .or_else(|| {
                name.split_once(':')
                    .filter(|(prefix, _)| prefix.trim() == issuer.trim())
                    .map(|(_, rest)| rest)
            })
            .map(str::to_string)
            .unwrap_or(name)
    };
    let issuer = Some(issuer).filter(|i| !i.trim().is_empty());
    OtpAccount {
        kind,
        issuer,
        account,
        secret,
        algorithm,
        digits,
    }
    .validate()
}

fn utf8(bytes: &[u8]) -> Result<String, Error> {
    String::from_utf8(bytes.to_vec()).map_err(|_| Error::Invalid {
        what: "export",
        reason: "text is not UTF-8",
    })
}

enum Value<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<u64, Error> {
        let mut value = 0u64;
        for i in 0..10 {
            let (&byte, rest) = self.0.split_first().ok_or(TRUNCATED)?;
            self.0 = rest;
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(Error::Invalid {
            what: "export",
            reason: "varint longer than 10 bytes",
        })
    }

    fn take(&mut self, n: u64) -> Result<&'a [u8], Error> {
        let n = usize::try_from(n).map_err(|_| TRUNCATED)?;
        if n > self.0.len() {
            return Err(TRUNCATED);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn next_field(&mut self) -> Result<Option<(u64, Value<'a>)>, Error> {
        if self.0.is_empty() {
            return Ok(None);
        }
        let key = self.varint()?;
        let field = key >> 3;
        let value = match key & 7 {
            0 => Value::Varint(self.varint()?),
            1 => {
                self.take(8)?;
                Value::Fixed
            }
            2 => {
                let len = self.varint()?;
                Value::Bytes(self.take(len)?)
            }
            5 => {
                self.take(4)?;
                Value::Fixed
            }
            _ => {
                return Err(Error::Invalid {
                    what: "export",
                    reason: "unknown protobuf wire type",
                })
            }
        };
        Ok(Some((field, value)))
    }
}

const TRUNCATED: Error = Error::Invalid {
    what: "export",
    reason: "data is truncated",
};

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_varint_field(out: &mut Vec<u8>, field: u64, v: u64) {
    put_varint(out, field << 3);
    put_varint(out, v);
}

fn put_bytes(out: &mut Vec<u8>, field: u64, bytes: &[u8]) {
    put_varint(out, (field << 3) | 2);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(issuer: Option<&str>, name: &str, kind: OtpKind) -> OtpAccount {
        OtpAccount {
            kind,
            issuer: issuer.map(str::to_string),
            account: name.into(),
            secret: OtpSecret::from_bytes(b"Hello!\xde\xad\xbe\xef".to_vec()).unwrap(),
            algorithm: Algorithm::Sha1,
            digits: 6,
        }
    }

    #[test]
    fn a_batch_of_several_accounts_round_trips() {
        let accounts = vec![
            account(Some("GitHub"), "jana", OtpKind::Totp { period: 30 }),
            account(None, "bank", OtpKind::Hotp { counter: 42 }),
        ];
        let uri = MigrationBatch::encode_uri(&accounts, 1, 3, 77);
        let batch = MigrationBatch::parse_uri(&uri).unwrap();
        assert_eq!(
            (
                batch.version,
                batch.batch_index,
                batch.batch_size,
                batch.batch_id
            ),
            (1, 1, 3, 77)
        );
        let read: Vec<OtpAccount> = batch.entries.into_iter().map(Result::unwrap).collect();
        assert_eq!(read, accounts);
    }

    #[test]
    fn an_unusable_account_is_reported_and_the_rest_still_read() {
        let mut payload = Vec::new();
        let mut md5 = Vec::new();
        put_bytes(&mut md5, 1, b"0123456789");
        put_bytes(&mut md5, 2, b"old");
        put_varint_field(&mut md5, 4, 4);
        put_bytes(&mut payload, 1, &md5);
        let mut good = Vec::new();
        put_bytes(&mut good, 1, b"0123456789");
        put_bytes(&mut good, 2, b"new");
        put_bytes(&mut payload, 1, &good);
        let batch = MigrationBatch::decode(&payload).unwrap();
        assert!(matches!(
            batch.entries[0],
            Err(Error::InvalidParam {
                param: "algorithm",
                ..
            })
        ));
        assert_eq!(batch.entries[1].as_ref().unwrap().account, "new");
    }

    #[test]
    fn broken_payloads_are_refused() {
        assert!(MigrationBatch::decode(&[]).is_err(), "no accounts");
        assert!(
            MigrationBatch::decode(&[0x0a, 0x05, 0x01]).is_err(),
            "truncated"
        );
        assert!(
            MigrationBatch::decode(&[0xff; 11]).is_err(),
            "endless varint"
        );
        assert!(MigrationBatch::decode(&[0x0b]).is_err(), "wire type 3");
        assert!(MigrationBatch::parse_uri("otpauth-migration://offline?data=%%%").is_err());
        assert!(MigrationBatch::parse_uri("otpauth-migration://online?data=AA").is_err());
        assert!(MigrationBatch::parse_uri("otpauth-migration://offline").is_err());
    }
}
