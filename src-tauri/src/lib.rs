//! The civkey app: a Tauri v2 shell around the web front end in `ui/www`.
//!
//! The shell holds no logic that the `civkey` command would also need. Each command is a few lines
//! that call a library (`civkey-i18n` today, `civkey-client` as the flows arrive) and map its error
//! to `{ "code", "message" }` for the front end.

use civkey_i18n::Locale;
use serde::Serialize;
use tauri::Manager;

/// An error as the front end receives it: a stable `code` to branch on and a `message` for logs.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct CommandError {
    code: &'static str,
    message: String,
}

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
        .ok_or_else(|| CommandError {
            code: "unknown_locale",
            message: format!("civkey has no catalogue for the language tag {tag:?}"),
        })
}

/// The front end's language: the system's, negotiated against the catalogue (`cs`, `hu` or `en`).
#[tauri::command]
fn ui_locale() -> &'static str {
    system_locale().tag()
}

/// Every message of `locale`, keyed `area.what` (see `crates/i18n`).
#[tauri::command]
fn ui_catalogue(locale: String) -> Result<tauri::ipc::Response, CommandError> {
    // The catalogue is already JSON: hand it over as is instead of re-encoding it as a string.
    catalogue_for(&locale).map(|json| tauri::ipc::Response::new(json.to_owned()))
}

/// Starts the app: the desktop binary calls this from `main`, mobile builds through the entry point.
#[cfg_attr(mobile, tauri::mobile_entry_point)]
pub fn run() {
    let result = tauri::Builder::default()
        .invoke_handler(tauri::generate_handler![ui_locale, ui_catalogue])
        .setup(|app| {
            let title = civkey_i18n::tr(system_locale(), "app.window_title");
            if let Some(window) = app.get_webview_window("main") {
                window.set_title(title)?;
            }
            Ok(())
        })
        .run(tauri::generate_context!());
    if let Err(error) = result {
        eprintln!("civkey: the app could not start: {error}");
        std::process::exit(1);
    }
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
}
