//! The app's settings: `settings.json` in the profile folder, written atomically (the client's
//! helper: temporary file, fsync, rename), readable by this user only. Nothing secret is in it.
//!
//! ```json
//! { "version": 1, "language": "hu", "screenshot_protection": true,
//!   "notifications_read_through": { "AAECAwQFBgcICQoLDA0ODw": 42 } }
//! ```
//!
//! `notifications_read_through` is, per mobile key (device id), the last event the citizen saw
//! when they marked the notifications read: the list is rebuilt from the server's history at each
//! start, and what was read stays read.
//!
//! A missing file is the defaults (follow the system's language; screenshot protection on). A
//! file that cannot be read is reported in the log and the defaults are used: the settings are
//! preferences, never a reason not to start.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use civkey_client::profile::write_private_file;
use civkey_i18n::Locale;
use serde::{Deserialize, Serialize};

use crate::dto::CommandError;
use crate::error_code::ErrorCode;

/// The settings file's name inside the profile folder.
pub const SETTINGS_FILE: &str = "settings.json";
const VERSION: u32 = 1;

/// The app's settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    version: u32,
    /// The chosen language tag (`cs`, `hu`, `en`); `None` follows the system.
    pub language: Option<String>,
    /// Keep screenshots and the app switcher from showing the app's screens (mobile).
    pub screenshot_protection: bool,
    /// Per device id, the last event id marked read.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub notifications_read_through: BTreeMap<String, u64>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            version: VERSION,
            language: None,
            screenshot_protection: true,
            notifications_read_through: BTreeMap::new(),
        }
    }
}

impl Settings {
    /// The file in `dir`.
    pub fn path_in(dir: &Path) -> PathBuf {
        dir.join(SETTINGS_FILE)
    }

    /// Reads the settings at `path`; the defaults when there is no file or it cannot be read.
    pub fn load(path: &Path) -> Settings {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Settings::default(),
            Err(e) => {
                eprintln!(
                    "civkey: cannot read {}: {e}; using the defaults",
                    path.display()
                );
                return Settings::default();
            }
        };
        match serde_json::from_slice::<Settings>(&bytes) {
            Ok(settings) if settings.version == VERSION => settings.checked(),
            _ => {
                eprintln!(
                    "civkey: {} is not a civkey settings file; using the defaults",
                    path.display()
                );
                Settings::default()
            }
        }
    }

    /// Writes the settings to `path`, replacing the file atomically.
    pub fn save(&self, path: &Path) -> Result<(), CommandError> {
        let bytes = serde_json::to_vec_pretty(self)
            .map_err(|e| CommandError::new(ErrorCode::Profile, e.to_string()))?;
        write_private_file(path, &bytes).map_err(CommandError::from)
    }

    /// The chosen language, if it is one civkey speaks.
    pub fn locale(&self) -> Option<Locale> {
        self.language.as_deref().and_then(Locale::from_tag)
    }

    /// Drops a language tag civkey does not speak (a file edited by hand).
    fn checked(mut self) -> Settings {
        if self.locale().is_none() {
            self.language = None;
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_default_to_the_system_language_and_screenshot_protection_on() {
        let dir = tempfile::tempdir().unwrap();
        let settings = Settings::load(&Settings::path_in(dir.path()));
        assert_eq!(settings, Settings::default());
        assert_eq!(settings.language, None);
        assert!(settings.screenshot_protection);
    }

    #[test]
    fn settings_are_written_privately_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = Settings::path_in(dir.path());
        let settings = Settings {
            language: Some("hu".into()),
            screenshot_protection: false,
            ..Settings::default()
        };
        settings.save(&path).unwrap();
        assert_eq!(Settings::load(&path), settings);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "{mode:o}");
        }
    }

    #[test]
    fn a_damaged_file_or_unknown_language_falls_back_to_the_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = Settings::path_in(dir.path());
        std::fs::write(&path, b"{\"version\": 1, \"lang").unwrap();
        assert_eq!(Settings::load(&path), Settings::default());
        std::fs::write(
            &path,
            br#"{"version": 1, "language": "de", "screenshot_protection": false}"#,
        )
        .unwrap();
        let settings = Settings::load(&path);
        assert_eq!(settings.language, None);
        assert!(!settings.screenshot_protection);
    }
}
