//! Small encoding helpers shared by the URI parsers: base64url, percent-encoding, query splitting.

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use base64::Engine;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC};

use crate::Error;

/// Everything but RFC 3986 unreserved characters is escaped in a query value.
pub(crate) const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

pub(crate) fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes unpadded base64url into exactly `N` bytes.
pub(crate) fn b64url_fixed<const N: usize>(
    text: &str,
    what: &'static str,
) -> Result<[u8; N], Error> {
    let bytes = b64url_vec(text, what)?;
    bytes.try_into().map_err(|_| Error::Invalid {
        what,
        reason: "wrong length",
    })
}

pub(crate) fn b64url_vec(text: &str, what: &'static str) -> Result<Vec<u8>, Error> {
    URL_SAFE_NO_PAD.decode(text).map_err(|_| Error::Invalid {
        what,
        reason: "not unpadded base64url",
    })
}

/// Standard base64 (Google's export uses it), with or without padding.
pub(crate) fn b64_standard_lenient(text: &str) -> Option<Vec<u8>> {
    STANDARD
        .decode(text)
        .ok()
        .or_else(|| STANDARD_NO_PAD.decode(text).ok())
}

pub(crate) fn b64_standard(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

pub(crate) fn escape(value: &str) -> String {
    percent_encoding::utf8_percent_encode(value, QUERY_VALUE).to_string()
}

/// Percent-decodes strictly: a `%` must start a valid escape, the result must be UTF-8.
/// With `plus_is_space`, `+` reads as a space (form encoding, as in `otpauth://` query values).
pub(crate) fn unescape(
    raw: &str,
    plus_is_space: bool,
    what: &'static str,
) -> Result<String, Error> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or(Error::Invalid {
                        what,
                        reason: "broken percent-escape",
                    })?;
                out.push(hex);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| Error::Invalid {
        what,
        reason: "not UTF-8",
    })
}

/// The raw `key=value` pairs of a query, refusing duplicate keys. Values are left escaped.
pub(crate) fn split_query(query: &str) -> Result<Vec<(&str, &str)>, Error> {
    let mut pairs: Vec<(&str, &str)> = Vec::new();
    for part in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = part.split_once('=').unwrap_or((part, ""));
        if pairs.iter().any(|(k, _)| *k == key) {
            return Err(Error::DuplicateParam(truncate(key)));
        }
        pairs.push((key, value));
    }
    Ok(pairs)
}

/// A prefix of untrusted text short enough to quote in an error message.
pub(crate) fn truncate(text: &str) -> String {
    const MAX: usize = 24;
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

/// Splits `scheme://rest`, comparing the scheme case-insensitively with `expected`.
pub(crate) fn strip_scheme<'a>(input: &'a str, expected: &'static str) -> Result<&'a str, Error> {
    let wrong = || Error::WrongScheme {
        expected,
        found: truncate(input),
    };
    let (scheme, rest) = input.split_once("://").ok_or_else(wrong)?;
    if scheme.eq_ignore_ascii_case(expected) {
        Ok(rest)
    } else {
        Err(wrong())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescape_is_strict_about_broken_escapes() {
        assert_eq!(unescape("a%20b+c", true, "x").unwrap(), "a b c");
        assert_eq!(unescape("a+b", false, "x").unwrap(), "a+b");
        assert!(unescape("%zz", false, "x").is_err());
        assert!(unescape("%4", false, "x").is_err());
        assert!(unescape("%ff", false, "x").is_err(), "not UTF-8");
        assert!(unescape("%c3%", false, "x").is_err());
    }

    #[test]
    fn duplicate_keys_are_refused() {
        assert_eq!(
            split_query("a=1&b=2").unwrap(),
            vec![("a", "1"), ("b", "2")]
        );
        assert_eq!(
            split_query("a=1&a=2"),
            Err(Error::DuplicateParam("a".into()))
        );
    }

    #[test]
    fn truncate_respects_char_boundaries() {
        assert_eq!(truncate("ééééééééééééééééééééééééééé").chars().count(), 25);
    }
}
