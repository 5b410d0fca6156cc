//! HOTP (RFC 4226) and TOTP (RFC 6238).

use hmac::{Hmac, Mac};

use super::Algorithm;
use crate::UnixSeconds;

fn hmac(algorithm: Algorithm, key: &[u8], message: &[u8]) -> Vec<u8> {
    // HMAC takes keys of any length, so `new_from_slice` never fails; an empty MAC would only
    // give a wrong code, never a panic.
    macro_rules! run {
        ($hash:ty) => {
            match Hmac::<$hash>::new_from_slice(key) {
                Ok(mut mac) => {
                    mac.update(message);
                    mac.finalize().into_bytes().to_vec()
                }
                Err(_) => Vec::new(),
            }
        };
    }
    match algorithm {
        Algorithm::Sha1 => run!(sha1::Sha1),
        Algorithm::Sha256 => run!(sha2::Sha256),
        Algorithm::Sha512 => run!(sha2::Sha512),
    }
}

/// The HOTP code for `counter`, zero-padded to `digits` (6 to 8; other values are clamped).
pub fn hotp(secret: &[u8], algorithm: Algorithm, digits: u8, counter: u64) -> String {
    let digits = digits.clamp(6, 8);
    let mac = hmac(algorithm, secret, &counter.to_be_bytes());
    let offset = mac.last().map(|b| usize::from(b & 0x0f)).unwrap_or(0);
    let binary = mac
        .get(offset..offset + 4)
        .map(|b| u32::from_be_bytes([b[0] & 0x7f, b[1], b[2], b[3]]))
        .unwrap_or(0);
    let code = binary % 10u32.pow(u32::from(digits));
    format!("{code:0width$}", width = usize::from(digits))
}

/// A TOTP code and the time window it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotpCode {
    /// The code, zero-padded.
    pub code: String,
    /// The time step counter (`unix_time / period`).
    pub step: u64,
    /// First second the code is valid.
    pub valid_from: UnixSeconds,
    /// First second the next code is valid.
    pub valid_until: UnixSeconds,
}

impl TotpCode {
    /// Seconds left at `now` (at least 1 while the code is current).
    pub fn remaining(&self, now: UnixSeconds) -> u64 {
        self.valid_until.saturating_sub(now)
    }
}

/// The TOTP code at `unix_time` with time step `period` seconds (a period of 0 is read as 30).
pub fn totp(
    secret: &[u8],
    algorithm: Algorithm,
    digits: u8,
    period: u32,
    unix_time: UnixSeconds,
) -> TotpCode {
    let period = if period == 0 { 30 } else { u64::from(period) };
    let step = unix_time / period;
    TotpCode {
        code: hotp(secret, algorithm, digits, step),
        step,
        valid_from: step * period,
        valid_until: step.saturating_add(1).saturating_mul(period),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4226_appendix_d() {
        let expected = [
            "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583",
            "399871", "520489",
        ];
        for (counter, code) in expected.iter().enumerate() {
            assert_eq!(
                hotp(b"12345678901234567890", Algorithm::Sha1, 6, counter as u64),
                *code
            );
        }
    }

    #[test]
    fn rfc6238_appendix_b() {
        let sha1 = b"12345678901234567890".as_slice();
        let sha256 = b"12345678901234567890123456789012".as_slice();
        let sha512 = b"1234567890123456789012345678901234567890123456789012345678901234".as_slice();
        let table: [(u64, &str, &str, &str); 6] = [
            (59, "94287082", "46119246", "90693936"),
            (1111111109, "07081804", "68084774", "25091201"),
            (1111111111, "14050471", "67062674", "99943326"),
            (1234567890, "89005924", "91819424", "93441116"),
            (2000000000, "69279037", "90698825", "38618901"),
            (20000000000, "65353130", "77737706", "47863826"),
        ];
        for (time, c1, c256, c512) in table {
            assert_eq!(
                totp(sha1, Algorithm::Sha1, 8, 30, time).code,
                c1,
                "SHA1 {time}"
            );
            assert_eq!(
                totp(sha256, Algorithm::Sha256, 8, 30, time).code,
                c256,
                "SHA256 {time}"
            );
            assert_eq!(
                totp(sha512, Algorithm::Sha512, 8, 30, time).code,
                c512,
                "SHA512 {time}"
            );
        }
    }

    #[test]
    fn totp_window_and_remaining_seconds() {
        let code = totp(b"12345678901234567890", Algorithm::Sha1, 6, 30, 59);
        assert_eq!((code.valid_from, code.valid_until, code.step), (30, 60, 1));
        assert_eq!(code.remaining(59), 1);
        assert_eq!(code.remaining(45), 15);
    }
}
