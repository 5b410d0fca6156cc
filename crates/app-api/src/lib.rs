//! The civkey app's API without Tauri: everything the app's commands do, as plain Rust over
//! `civkey_client`, so it builds and tests without a webview. `src-tauri` wraps each method of
//! [`App`] in a `#[tauri::command]` of a few lines and adds only what needs Tauri (the window,
//! events, links, plugins), as GitButler's `but-api` sits beside its Tauri crate.
//!
//! The commands, their arguments and answers are the contract with the screens: ui/README.md,
//! "The Backend interface"; the answer types are in [`dto`] and their TypeScript declarations are
//! generated into `ui/www/lib/backend/types.d.ts` by a test (`CIVKEY_UPDATE_TYPES=1 cargo test -p
//! civkey-app-api types_ts` rewrites it).
//!
//! - [`app`]: the app's state (unlocked or not, the pending pairing or onboarding, the opened
//!   login, the camera scan, the link the app was opened with) and the command bodies as plain
//!   methods.
//! - [`settings`]: language and screenshot protection, in `settings.json` in the profile folder.
//! - [`camera`]: the scanner over the desktop camera or over frames from the webview (mobile),
//!   previews as JPEG data URLs.
//! - [`inbox`]: what the server tells the unlocked app (BOK requests, notifications), and the
//!   background task per identity that holds its event stream open.
//! - [`dto`]: the answer types; [`error_code`]: the stable codes of their errors.

pub mod app;
pub mod camera;
pub mod dto;
pub mod error_code;
pub mod inbox;
pub mod settings;

#[cfg(test)]
mod types_ts;

pub use app::App;

use civkey_i18n::Locale;

use crate::dto::CommandError;
use crate::error_code::ErrorCode;

/// The language the system prefers, among those civkey speaks (Czech when none matches).
///
/// Desktop Linux reads `LANGUAGE`, `LC_ALL`, `LC_MESSAGES` and `LANG`; Android, iOS, macOS and
/// Windows ask the platform.
pub fn system_locale() -> Locale {
    let preferred: Vec<String> = sys_locale::get_locales().collect();
    Locale::negotiate(preferred.iter().map(String::as_str))
}

/// The catalogue of `tag` (`cs`, `hu-HU`, `en_GB.UTF-8`, …) as JSON text.
pub fn catalogue_for(tag: &str) -> Result<&'static str, CommandError> {
    Locale::from_tag(tag)
        .map(Locale::catalogue_json)
        .ok_or_else(|| {
            CommandError::new(
                ErrorCode::UnknownLocale,
                format!("civkey has no catalogue for the language tag {tag:?}"),
            )
        })
}

/// A `civkey:` link among command-line arguments: the first argument (as a desktop's URL handler
/// passes it), if it is one.
pub fn link_from_args(mut args: impl Iterator<Item = String>) -> Option<String> {
    args.next();
    args.next().filter(|arg| is_civkey_link(arg))
}

/// Whether `text` is a `civkey:` link of a sane length (the screens read it strictly later).
pub fn is_civkey_link(text: &str) -> bool {
    text.len() <= civkey_proto::MAX_INPUT_LEN
        && text
            .get(..7)
            .is_some_and(|scheme| scheme.eq_ignore_ascii_case("civkey:"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_follows_the_requested_language() {
        let hungarian: serde_json::Value =
            serde_json::from_str(catalogue_for("hu-HU").unwrap()).unwrap();
        assert_eq!(
            hungarian["app.tagline"],
            civkey_i18n::tr(Locale::Hu, "app.tagline")
        );
        assert_eq!(
            catalogue_for("en_GB.UTF-8").unwrap(),
            Locale::En.catalogue_json()
        );
    }

    #[test]
    fn unknown_language_is_refused_with_a_stable_code() {
        let error = catalogue_for("de").unwrap_err();
        assert_eq!(error.code, "unknown_locale");
        assert!(error.message.contains("\"de\""), "{}", error.message);
    }

    #[test]
    fn every_catalogue_names_the_app_and_has_a_tagline() {
        for locale in Locale::ALL {
            let catalogue: serde_json::Value =
                serde_json::from_str(catalogue_for(locale.tag()).unwrap()).unwrap();
            assert_eq!(catalogue["app.name"], "civkey", "{locale:?}");
            assert!(catalogue["app.tagline"].is_string(), "{locale:?}");
        }
    }

    #[test]
    fn a_civkey_link_is_taken_from_the_first_argument_only() {
        let args = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let link = "civkey://login?v=1&s=https%3A%2F%2Fid.example.gov";
        assert_eq!(
            link_from_args(args(&["civkey-app", link]).into_iter()),
            Some(link.to_string())
        );
        assert_eq!(
            link_from_args(args(&["civkey-app", "CIVKEY://pair?x"]).into_iter()),
            Some("CIVKEY://pair?x".to_string())
        );
        assert_eq!(link_from_args(args(&["civkey-app"]).into_iter()), None);
        assert_eq!(
            link_from_args(args(&["civkey-app", "--verbose", link]).into_iter()),
            None
        );
        assert_eq!(
            link_from_args(args(&["civkey-app", "https://example.com"]).into_iter()),
            None
        );
        let long = format!("civkey://pair?{}", "a".repeat(5000));
        assert_eq!(
            link_from_args(args(&["civkey-app", &long]).into_iter()),
            None
        );
    }
}
