//! civkey's translation catalogue: every user-visible string in Czech (the default), Hungarian and
//! English, in one place for the server's pages, the `civkey` command and the app.
//!
//! The catalogue is three flat JSON files under `locales/`, keyed `area.what` (`app.tagline`,
//! `server.title`). Placeholders are `{name}`. A plural has one key per category,
//! `common.seconds.one` / `.few` / `.other`, chosen by [`plural_category`]. The app's web front end
//! gets the same JSON through [`Locale::catalogue_json`], so there is no second copy to drift.
#![deny(missing_docs)]

use std::collections::HashMap;
use std::sync::OnceLock;

/// A language civkey speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Locale {
    /// Czech, the default.
    Cs,
    /// Hungarian.
    Hu,
    /// English.
    En,
}

impl Locale {
    /// Every locale, default first.
    pub const ALL: [Locale; 3] = [Locale::Cs, Locale::Hu, Locale::En];
    /// The locale used when nothing the user prefers is available.
    pub const DEFAULT: Locale = Locale::Cs;

    /// The BCP 47 primary language tag: `cs`, `hu`, `en`.
    pub fn tag(self) -> &'static str {
        match self {
            Locale::Cs => "cs",
            Locale::Hu => "hu",
            Locale::En => "en",
        }
    }

    /// The language's own name, for a language switcher.
    pub fn native_name(self) -> &'static str {
        match self {
            Locale::Cs => "Čeština",
            Locale::Hu => "Magyar",
            Locale::En => "English",
        }
    }

    /// Reads a language tag such as `hu`, `hu-HU`, `en_GB.UTF-8` or `CS`; `None` for other languages.
    pub fn from_tag(tag: &str) -> Option<Locale> {
        let primary = tag
            .trim()
            .split(['-', '_', '.', '@'])
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        match primary.as_str() {
            "cs" | "cz" => Some(Locale::Cs),
            "hu" => Some(Locale::Hu),
            "en" => Some(Locale::En),
            _ => None,
        }
    }

    /// The first of the user's preferred tags that civkey speaks, or [`Locale::DEFAULT`].
    pub fn negotiate<'a>(preferences: impl IntoIterator<Item = &'a str>) -> Locale {
        preferences
            .into_iter()
            .find_map(Locale::from_tag)
            .unwrap_or(Locale::DEFAULT)
    }

    /// Reads an HTTP `Accept-Language` header (quality values respected), or [`Locale::DEFAULT`].
    pub fn from_accept_language(header: &str) -> Locale {
        let mut ranked: Vec<(u16, usize, &str)> = header
            .split(',')
            .enumerate()
            .filter_map(|(position, item)| {
                let mut parts = item.split(';');
                let tag = parts.next()?.trim();
                let quality = parts
                    .find_map(|p| p.trim().strip_prefix("q="))
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .unwrap_or(1.0);
                // Quality in thousandths keeps the sort total; q=0 means "not this one".
                let q = (quality.clamp(0.0, 1.0) * 1000.0) as u16;
                (q > 0).then_some((q, position, tag))
            })
            .collect();
        ranked.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        Locale::negotiate(ranked.into_iter().map(|(_, _, tag)| tag))
    }

    /// The raw catalogue for this locale, as JSON text (for the app's web front end).
    pub fn catalogue_json(self) -> &'static str {
        match self {
            Locale::Cs => include_str!("../locales/cs.json"),
            Locale::Hu => include_str!("../locales/hu.json"),
            Locale::En => include_str!("../locales/en.json"),
        }
    }

    fn index(self) -> usize {
        match self {
            Locale::Cs => 0,
            Locale::Hu => 1,
            Locale::En => 2,
        }
    }
}

type Messages = HashMap<String, String>;

fn catalogues() -> &'static [Messages; 3] {
    static CATALOGUES: OnceLock<[Messages; 3]> = OnceLock::new();
    CATALOGUES.get_or_init(|| {
        // The files are compiled in and checked by this crate's tests; a broken file would show
        // keys instead of text rather than take the process down.
        Locale::ALL.map(|l| serde_json::from_str(l.catalogue_json()).unwrap_or_default())
    })
}

/// The message `key` in `locale`; English when the locale lacks it, the key itself when none has it.
pub fn tr(locale: Locale, key: &str) -> &str {
    let all = catalogues();
    all[locale.index()]
        .get(key)
        .or_else(|| all[Locale::En.index()].get(key))
        .map(String::as_str)
        .unwrap_or(key)
}

/// The message `key` with each `{name}` replaced by its value from `args`.
pub fn tr_args(locale: Locale, key: &str, args: &[(&str, &str)]) -> String {
    fill(tr(locale, key), args)
}

/// The plural form of `key` for the number `n` (`{n}` is filled in, as are `args`).
pub fn tr_count(locale: Locale, key: &str, n: u64, args: &[(&str, &str)]) -> String {
    let category = plural_category(locale, n);
    let specific = format!("{key}.{category}");
    let all = catalogues();
    let chosen = if all[locale.index()].contains_key(&specific) {
        specific
    } else {
        format!("{key}.other")
    };
    let count = n.to_string();
    let mut with_n: Vec<(&str, &str)> = vec![("n", count.as_str())];
    with_n.extend_from_slice(args);
    fill(tr(locale, &chosen), &with_n)
}

/// The CLDR plural category of `n` in `locale`: `one`, `few` (Czech 2–4) or `other`.
pub fn plural_category(locale: Locale, n: u64) -> &'static str {
    match (locale, n) {
        (_, 1) => "one",
        (Locale::Cs, 2..=4) => "few",
        _ => "other",
    }
}

fn fill(template: &str, args: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) => {
                let name = &after[..close];
                match args.iter().find(|(k, _)| *k == name) {
                    Some((_, value)) => out.push_str(value),
                    None => {
                        out.push('{');
                        out.push_str(name);
                        out.push('}');
                    }
                }
                rest = &after[close + 1..];
            }
            None => {
                out.push_str(&rest[open..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// Unix seconds as (year, month, day, hour, minute) in UTC (H. Hinnant's `civil_from_days`).
pub fn civil(unix: u64) -> (i64, u64, u64, u64, u64) {
    let days = i64::try_from(unix / 86_400).unwrap_or(0);
    let secs = unix % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        year,
        u64::try_from(month).unwrap_or(1),
        u64::try_from(day).unwrap_or(1),
        secs / 3_600,
        secs % 3_600 / 60,
    )
}

/// Unix seconds as `2026-01-01 13:07 UTC`: the same in every language, unambiguous.
pub fn utc_minutes(unix: u64) -> String {
    let (y, mo, d, h, mi) = civil(unix);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02} UTC")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn parsed(locale: Locale) -> Messages {
        serde_json::from_str(locale.catalogue_json()).expect("catalogue parses")
    }

    /// A key without its plural suffix, so `a.b.one` and `a.b.few` count as one message.
    fn message_ids(m: &Messages) -> BTreeSet<String> {
        m.keys()
            .map(|k| {
                for suffix in [".one", ".few", ".other"] {
                    if let Some(base) = k.strip_suffix(suffix) {
                        return base.to_string();
                    }
                }
                k.clone()
            })
            .collect()
    }

    fn placeholders(s: &str) -> BTreeSet<String> {
        s.split('{')
            .skip(1)
            .filter_map(|p| p.split_once('}').map(|(n, _)| n.to_string()))
            .collect()
    }

    #[test]
    fn every_locale_has_every_message() {
        let english = message_ids(&parsed(Locale::En));
        for locale in Locale::ALL {
            assert_eq!(
                message_ids(&parsed(locale)),
                english,
                "{locale:?} differs from English"
            );
        }
    }

    #[test]
    fn plurals_have_one_and_other_and_czech_has_few() {
        for locale in Locale::ALL {
            let m = parsed(locale);
            for key in m.keys().filter(|k| k.ends_with(".one")) {
                let base = key.trim_end_matches(".one");
                assert!(
                    m.contains_key(&format!("{base}.other")),
                    "{locale:?} {base}.other"
                );
                if locale == Locale::Cs {
                    assert!(m.contains_key(&format!("{base}.few")), "cs {base}.few");
                }
            }
        }
    }

    #[test]
    fn translations_keep_the_same_placeholders() {
        let english = parsed(Locale::En);
        for locale in Locale::ALL {
            for (key, text) in parsed(locale) {
                let base = key
                    .rsplit_once('.')
                    .filter(|(_, s)| ["one", "few", "other"].contains(s))
                    .map(|(b, _)| format!("{b}.other"))
                    .unwrap_or(key.clone());
                let reference = english.get(&base).expect("English has the message");
                assert_eq!(
                    placeholders(&text),
                    placeholders(reference),
                    "{locale:?} {key}"
                );
            }
        }
    }

    #[test]
    fn tags_and_accept_language_choose_the_right_locale() {
        assert_eq!(Locale::from_tag("hu-HU"), Some(Locale::Hu));
        assert_eq!(Locale::from_tag("en_GB.UTF-8"), Some(Locale::En));
        assert_eq!(Locale::from_tag("de"), None);
        assert_eq!(Locale::negotiate(["de-AT", "en-US"]), Locale::En);
        assert_eq!(Locale::negotiate(["de"]), Locale::Cs);
        assert_eq!(
            Locale::from_accept_language("de;q=1, en;q=0.5, hu;q=0.8"),
            Locale::Hu
        );
        assert_eq!(Locale::from_accept_language("hu;q=0, en"), Locale::En);
        assert_eq!(Locale::from_accept_language(""), Locale::Cs);
    }

    #[test]
    fn czech_plurals_follow_cldr() {
        assert_eq!(tr_count(Locale::Cs, "common.seconds", 1, &[]), "1 sekunda");
        assert_eq!(tr_count(Locale::Cs, "common.seconds", 3, &[]), "3 sekundy");
        assert_eq!(tr_count(Locale::Cs, "common.seconds", 5, &[]), "5 sekund");
        assert_eq!(tr_count(Locale::En, "common.seconds", 2, &[]), "2 seconds");
        assert_eq!(
            tr_count(Locale::Hu, "common.seconds", 2, &[]),
            "2 másodperc"
        );
    }

    #[test]
    fn placeholders_are_filled_and_unknown_ones_kept() {
        assert_eq!(
            tr_args(
                Locale::En,
                "cli.inspect.pairing",
                &[("origin", "https://id.example")]
            ),
            "Pairing QR code for https://id.example"
        );
        assert_eq!(fill("a {x} {y", &[("x", "1")]), "a 1 {y");
        assert_eq!(tr(Locale::Hu, "no.such.key"), "no.such.key");
    }

    #[test]
    fn dates_are_utc_calendar_dates() {
        assert_eq!(civil(0), (1970, 1, 1, 0, 0));
        assert_eq!(civil(951_782_400), (2000, 2, 29, 0, 0));
        assert_eq!(civil(1_767_225_599), (2025, 12, 31, 23, 59));
        assert_eq!(civil(4_107_542_400), (2100, 3, 1, 0, 0));
        assert_eq!(
            utc_minutes(1_767_225_600 + 13 * 3_600 + 7 * 60 + 59),
            "2026-01-01 13:07 UTC"
        );
    }
}
