//! The rules for codes people type: the BOK (security personal code) and the app PIN.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::Zeroizing;

use crate::Error;

/// A security personal code (BOK): 4 to 10 ASCII digits. Zeroized on drop, hidden from `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Bok(Zeroizing<String>);

impl Bok {
    /// The fewest digits a BOK has.
    pub const MIN_LEN: usize = 4;
    /// The most digits a BOK has.
    pub const MAX_LEN: usize = 10;

    /// Checks the BOK rules: only digits, 4 to 10 of them. Nothing is trimmed.
    pub fn parse(text: &str) -> Result<Self, Error> {
        check_digits(text, "BOK", Self::MIN_LEN, Self::MAX_LEN)?;
        Ok(Bok(Zeroizing::new(text.to_string())))
    }

    /// The digits. Keep them out of logs and URLs.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Bok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Bok(***)")
    }
}

impl Serialize for Bok {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Bok {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = Zeroizing::new(String::deserialize(d)?);
        Bok::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// The app PIN: exactly 6 ASCII digits. Zeroized on drop, hidden from `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct AppPin(Zeroizing<String>);

impl AppPin {
    /// Digits in an app PIN.
    pub const LEN: usize = 6;

    /// Checks a PIN being entered: exactly 6 digits.
    pub fn parse(text: &str) -> Result<Self, Error> {
        check_digits(text, "app PIN", Self::LEN, Self::LEN)?;
        Ok(AppPin(Zeroizing::new(text.to_string())))
    }

    /// Checks a PIN being chosen: 6 digits, and not one that is guessed first — the same digit six
    /// times (`111111`), a straight run (`123456`, `987654`), or a repeated pair or triple (`121212`,
    /// `123123`).
    pub fn choose(text: &str) -> Result<Self, Error> {
        let pin = Self::parse(text)?;
        if let Some(reason) = weakness(pin.expose().as_bytes()) {
            return Err(Error::Invalid {
                what: "app PIN",
                reason,
            });
        }
        Ok(pin)
    }

    /// The digits. Keep them out of logs.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AppPin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AppPin(***)")
    }
}

fn check_digits(text: &str, what: &'static str, min: usize, max: usize) -> Result<(), Error> {
    if text.is_empty() {
        return Err(Error::Invalid {
            what,
            reason: "is empty",
        });
    }
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::Invalid {
            what,
            reason: "may contain only the digits 0–9",
        });
    }
    if text.len() < min {
        return Err(Error::Invalid {
            what,
            reason: "has too few digits",
        });
    }
    if text.len() > max {
        return Err(Error::Invalid {
            what,
            reason: "has too many digits",
        });
    }
    Ok(())
}

fn weakness(d: &[u8]) -> Option<&'static str> {
    let steps: Vec<i16> = d
        .windows(2)
        .map(|w| i16::from(w[1]) - i16::from(w[0]))
        .collect();
    if steps.iter().all(|&s| s == 0) {
        return Some("uses one digit only; choose a less predictable PIN");
    }
    if steps.iter().all(|&s| s == 1) || steps.iter().all(|&s| s == -1) {
        return Some("is a run of consecutive digits; choose a less predictable PIN");
    }
    let repeats = |period: usize| d.iter().enumerate().all(|(i, &b)| b == d[i % period]);
    if repeats(2) || repeats(3) {
        return Some("repeats a short pattern; choose a less predictable PIN");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bok_is_four_to_ten_digits() {
        for ok in ["0000", "1234", "0123456789"] {
            assert_eq!(Bok::parse(ok).unwrap().expose(), ok);
        }
        for (bad, reason) in [
            ("", "is empty"),
            ("123", "has too few digits"),
            ("01234567890", "has too many digits"),
            ("12a4", "may contain only the digits 0–9"),
            (" 1234", "may contain only the digits 0–9"),
            ("１２３４", "may contain only the digits 0–9"),
        ] {
            assert_eq!(
                Bok::parse(bad),
                Err(Error::Invalid {
                    what: "BOK",
                    reason
                }),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn app_pin_is_six_digits_and_guessable_ones_cannot_be_chosen() {
        assert!(
            AppPin::parse("123456").is_ok(),
            "an existing PIN is still accepted on entry"
        );
        assert!(AppPin::parse("12345").is_err());
        assert!(AppPin::parse("1234567").is_err());
        for weak in ["000000", "123456", "987654", "121212", "123123", "456789"] {
            assert!(AppPin::choose(weak).is_err(), "{weak}");
        }
        for strong in ["402719", "135790", "112358", "900142"] {
            assert!(AppPin::choose(strong).is_ok(), "{strong}");
        }
    }

    #[test]
    fn codes_stay_out_of_debug_output() {
        assert_eq!(format!("{:?}", Bok::parse("1234").unwrap()), "Bok(***)");
        assert_eq!(
            format!("{:?}", AppPin::parse("402719").unwrap()),
            "AppPin(***)"
        );
    }
}
