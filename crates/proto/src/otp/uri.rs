//! The Key URI Format: `otpauth://totp/Issuer:account?secret=…&issuer=…&algorithm=…&digits=…&period=…`
//! (`hotp` with `counter=…`).
//!
//! The format forbids a `:` in issuer and account name, but people and services put one there
//! ("Bank: Retail", "jana:home"), so civkey writes labels that cannot be split in the wrong place:
//! with an issuer, `Issuer:account` and the `issuer` parameter, which names the prefix to split off
//! whole; without one, `account`, or `:account` when the account name has a `:` (an empty issuer
//! prefix, which reads back as no issuer). A `:` inside a name is escaped (`%3A`). Names are
//! trimmed on the way in ([`OtpAccount::validate`]), as the spaces the format lets follow the `:`
//! would be lost on the way back.

use super::{Algorithm, OtpAccount, OtpKind, OtpSecret};
use crate::device::parse_decimal;
use crate::encoding::{escape, split_query, strip_scheme, unescape};
use crate::{check_len, Error};

impl OtpAccount {
    /// Reads an `otpauth://` Key URI.
    ///
    /// Accepted as authenticator apps do: the type in any case, lower-case and unpadded base32,
    /// `:` or `%3A` between issuer and account, spaces before the account name, an empty issuer
    /// before the `:`. The `issuer` parameter wins over the label's prefix; when the label starts
    /// with that issuer and a `:`, the rest is the account name, `:`s and all. Otherwise the first
    /// `:` ends the issuer. Issuer and account name are trimmed. Parameters other than the standard ones (`image`,
    /// `color`, …) are ignored; a standard one given twice is refused.
    pub fn parse_uri(input: &str) -> Result<Self, Error> {
        check_len(input)?;
        if input.is_empty() {
            return Err(Error::Empty);
        }
        let rest = strip_scheme(input, "otpauth")?;
        let rest = rest.split('#').next().unwrap_or_default();
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (kind, label) = path
            .split_once('/')
            .ok_or(Error::Malformed("no type/label path"))?;
        let params = split_query(query)?;
        let param = |name: &'static str| -> Result<Option<String>, Error> {
            params
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| unescape(v, true, name))
                .transpose()
        };
        if params
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("secret"))
            .count()
            > 1
        {
            return Err(Error::DuplicateParam("secret".into()));
        }

        let label = unescape(label, false, "label")?;
        let issuer_param = param("issuer")?.filter(|i| !i.trim().is_empty());
        // An issuer with a `:` in it (written escaped in the label) is split off whole when the
        // `issuer` parameter names it; otherwise the first `:` separates issuer and account.
        let prefixed = issuer_param.as_deref().and_then(|issuer| {
            label
                .strip_prefix(issuer)
                .and_then(|rest| rest.strip_prefix(':'))
                .map(|account| (Some(issuer.trim().to_string()), account.trim_start()))
        });
        let (label_issuer, account) = match prefixed {
            Some(split) => split,
            None => match label.split_once(':') {
                Some((issuer, account)) => (Some(issuer.trim().to_string()), account.trim_start()),
                None => (None, label.as_str()),
            },
        };
        if account.trim().is_empty() {
            return Err(Error::Invalid {
                what: "label",
                reason: "has no account name",
            });
        }
        let issuer = issuer_param.or(label_issuer.filter(|i| !i.is_empty()));

        let secret = param("secret")?.ok_or(Error::MissingParam("secret"))?;
        let secret = OtpSecret::from_base32(&secret)?;
        let algorithm = match param("algorithm")? {
            Some(a) => Algorithm::parse(&a)?,
            None => Algorithm::Sha1,
        };
        let digits = match param("digits")? {
            Some(d) => {
                u8::try_from(parse_decimal(&d, "digits")?).map_err(|_| Error::InvalidParam {
                    param: "digits",
                    reason: "must be 6, 7 or 8",
                })?
            }
            None => 6,
        };
        let kind = match kind.to_ascii_lowercase().as_str() {
            "totp" => OtpKind::Totp {
                period: match param("period")? {
                    Some(p) => u32::try_from(parse_decimal(&p, "period")?).map_err(|_| {
                        Error::InvalidParam {
                            param: "period",
                            reason: "is too large",
                        }
                    })?,
                    None => 30,
                },
            },
            "hotp" => OtpKind::Hotp {
                counter: parse_decimal(
                    &param("counter")?.ok_or(Error::MissingParam("counter"))?,
                    "counter",
                )?,
            },
            _ => {
                return Err(Error::Invalid {
                    what: "type",
                    reason: "must be totp or hotp",
                })
            }
        };
        OtpAccount {
            kind,
            issuer,
            account: account.to_string(),
            secret,
            algorithm,
            digits,
        }
        .validate()
    }

    /// Writes the Key URI with every parameter spelled out (see the module's notes on the
    /// label). It contains the secret.
    pub fn to_uri(&self) -> String {
        let (kind, last) = match self.kind {
            OtpKind::Totp { period } => ("totp", format!("period={period}")),
            OtpKind::Hotp { counter } => ("hotp", format!("counter={counter}")),
        };
        let label = match &self.issuer {
            Some(issuer) => format!("{}:{}", escape(issuer), escape(&self.account)),
            // An empty issuer prefix keeps a `:` in the account name from being read as one.
            None if self.account.contains(':') => format!(":{}", escape(&self.account)),
            None => escape(&self.account),
        };
        let issuer = self
            .issuer
            .as_ref()
            .map(|i| format!("&issuer={}", escape(i)))
            .unwrap_or_default();
        format!(
            "otpauth://{kind}/{label}?secret={}{issuer}&algorithm={}&digits={}&{last}",
            self.secret.to_base32().as_str(),
            self.algorithm.as_str(),
            self.digits
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn googles_example_reads_with_defaults() {
        let a = OtpAccount::parse_uri(
            "otpauth://totp/Example:alice@google.com?secret=JBSWY3DPEHPK3PXP&issuer=Example",
        )
        .unwrap();
        assert_eq!(a.issuer.as_deref(), Some("Example"));
        assert_eq!(a.account, "alice@google.com");
        assert_eq!(a.secret.expose(), b"Hello!\xde\xad\xbe\xef");
        assert_eq!(
            (a.algorithm, a.digits, a.kind),
            (Algorithm::Sha1, 6, OtpKind::Totp { period: 30 })
        );
    }

    #[test]
    fn lenient_forms_are_accepted() {
        let a = OtpAccount::parse_uri(
            "OTPAUTH://TOTP/%C3%9Cgyf%C3%A9lkapu%2B%3A%20jana?secret=jbswy3dpehpk3pxp&algorithm=sha512&digits=8&period=60&image=https%3A%2F%2Fx",
        )
        .unwrap();
        assert_eq!(a.issuer.as_deref(), Some("Ügyfélkapu+"));
        assert_eq!(a.account, "jana");
        assert_eq!(a.algorithm, Algorithm::Sha512);
        assert_eq!(a.digits, 8);
        assert_eq!(a.kind, OtpKind::Totp { period: 60 });
    }

    #[test]
    fn hotp_needs_a_counter() {
        let ok =
            OtpAccount::parse_uri("otpauth://hotp/x?secret=JBSWY3DPEHPK3PXP&counter=5").unwrap();
        assert_eq!(ok.kind, OtpKind::Hotp { counter: 5 });
        assert_eq!(
            OtpAccount::parse_uri("otpauth://hotp/x?secret=JBSWY3DPEHPK3PXP"),
            Err(Error::MissingParam("counter"))
        );
    }

    #[test]
    fn an_issuer_with_a_colon_round_trips() {
        let account = OtpAccount::new(
            OtpKind::Totp { period: 30 },
            Some("Bank: Retail"),
            "jana:home",
            OtpSecret::from_base32("JBSWY3DPEHPK3PXP").unwrap(),
            Algorithm::Sha1,
            6,
        )
        .unwrap();
        let read = OtpAccount::parse_uri(&account.to_uri()).unwrap();
        assert_eq!(read.issuer.as_deref(), Some("Bank: Retail"));
        assert_eq!(read.account, "jana:home");
    }

    fn round_trip(account: &OtpAccount) -> OtpAccount {
        OtpAccount::parse_uri(&account.to_uri()).unwrap()
    }

    // Issue 23, first input: an empty issuer before the `:` is no issuer, and the account name
    // keeps its own `:` on the way back.
    #[test]
    fn a_label_starting_with_a_colon_is_an_account_name_without_issuer() {
        let a = OtpAccount::parse_uri("otpauth://totp/:a:b?secret=JBSWY3DPEHPK3PXP").unwrap();
        assert_eq!((a.issuer.as_deref(), a.account.as_str()), (None, "a:b"));
        assert!(
            a.to_uri().starts_with("otpauth://totp/:a%3Ab?"),
            "{}",
            a.to_uri()
        );
        assert_eq!(round_trip(&a), a);
    }

    // Issue 23, second input: spaces before an account name are trimmed on the way in, so the
    // spaces a reader skips after `Issuer:` are not lost on the way back.
    #[test]
    fn leading_spaces_and_an_issuer_the_label_lacks_round_trip() {
        let a =
            OtpAccount::parse_uri("otpauth://totp/%20a?secret=JBSWY3DPEHPK3PXP&issuer=B").unwrap();
        assert_eq!((a.issuer.as_deref(), a.account.as_str()), (Some("B"), "a"));
        assert_eq!(round_trip(&a), a);
    }

    // Issue 23, the backup case: a name that looks like `Issuer: account` but has no issuer.
    #[test]
    fn an_account_name_with_a_colon_and_no_issuer_round_trips() {
        let secret = OtpSecret::from_base32("JBSWY3DPEHPK3PXP").unwrap();
        let totp = OtpKind::Totp { period: 30 };
        let a = OtpAccount::new(totp, Some(""), "Bank: me", secret, Algorithm::Sha1, 6).unwrap();
        assert!(a.to_uri().starts_with("otpauth://totp/:Bank%3A%20me?"));
        let read = round_trip(&a);
        assert_eq!(
            (read.issuer.as_deref(), read.account.as_str()),
            (None, "Bank: me")
        );
    }

    #[test]
    fn names_too_long_to_write_as_a_link_are_refused() {
        let secret = || OtpSecret::from_base32("JBSWY3DPEHPK3PXP").unwrap();
        let totp = OtpKind::Totp { period: 30 };
        let long = "\u{1F511}".repeat(200);
        let err =
            OtpAccount::new(totp, Some(&long), &long, secret(), Algorithm::Sha1, 6).unwrap_err();
        assert!(err.to_string().contains("too long"), "{err}");
        // Raw (unescaped) in a link that is itself short enough to read.
        let uri = format!("otpauth://totp/{long}:{long}?secret=JBSWY3DPEHPK3PXP");
        assert!(uri.len() < crate::MAX_INPUT_LEN);
        let err = OtpAccount::parse_uri(&uri).unwrap_err();
        assert!(err.to_string().contains("too long"), "{err}");
        // The same names in ASCII fit.
        let ascii = "k".repeat(256);
        let a = OtpAccount::new(totp, Some(&ascii), &ascii, secret(), Algorithm::Sha1, 6).unwrap();
        assert_eq!(round_trip(&a), a);
    }

    #[test]
    fn typed_accounts_are_trimmed_and_checked() {
        let secret = || OtpSecret::from_base32("JBSWY3DPEHPK3PXP").unwrap();
        let totp = OtpKind::Totp { period: 30 };
        let a = OtpAccount::new(totp, Some("  "), " jana ", secret(), Algorithm::Sha1, 6).unwrap();
        assert_eq!((a.issuer, a.account.as_str()), (None, "jana"));
        let cases = [
            (
                OtpAccount::new(totp, None, "  ", secret(), Algorithm::Sha1, 6),
                "label",
            ),
            (
                OtpAccount::new(totp, None, "x", secret(), Algorithm::Sha1, 5),
                "digits",
            ),
            (
                OtpAccount::new(totp, None, "x", secret(), Algorithm::Sha1, 9),
                "digits",
            ),
            (
                OtpAccount::new(
                    OtpKind::Totp { period: 0 },
                    None,
                    "x",
                    secret(),
                    Algorithm::Sha1,
                    6,
                ),
                "period",
            ),
            (
                OtpAccount::new(totp, Some("a\u{7}b"), "x", secret(), Algorithm::Sha1, 6),
                "control",
            ),
        ];
        for (result, about) in cases {
            let text = result.unwrap_err().to_string();
            assert!(text.contains(about), "{text}");
        }
    }

    #[test]
    fn bad_accounts_say_what_is_wrong() {
        let cases = [
            ("otpauth://totp/x?secret=JBSWY3DPEHPK3PX1", "secret"),
            (
                "otpauth://totp/x?secret=JBSWY3DPEHPK3PXP&algorithm=MD5",
                "algorithm",
            ),
            (
                "otpauth://totp/x?secret=JBSWY3DPEHPK3PXP&digits=5",
                "digits",
            ),
            (
                "otpauth://totp/x?secret=JBSWY3DPEHPK3PXP&digits=9",
                "digits",
            ),
            (
                "otpauth://totp/x?secret=JBSWY3DPEHPK3PXP&period=0",
                "period",
            ),
            ("otpauth://totp/Issuer:?secret=JBSWY3DPEHPK3PXP", "label"),
            ("otpauth://totp/?secret=JBSWY3DPEHPK3PXP", "label"),
            ("otpauth://totp/x", "secret"),
            ("otpauth://motp/x?secret=JBSWY3DPEHPK3PXP", "type"),
            ("otpauth://totp/x?secret=A&secret=B", "secret"),
            ("https://totp/x?secret=JBSWY3DPEHPK3PXP", "scheme"),
        ];
        for (input, about) in cases {
            let err = OtpAccount::parse_uri(input).unwrap_err();
            let text = err.to_string();
            assert!(
                text.contains(about) || (about == "scheme" && text.contains("otpauth")),
                "{input}: {text}"
            );
        }
    }
}
