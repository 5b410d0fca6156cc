//! Server configuration: command-line flags, then `CIVKEY_*` environment variables (both read by
//! clap in `main`), then a TOML file, then defaults.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use civkey_proto::Origin;
use serde::Deserialize;

use crate::services::bok::BokPolicy;
use crate::services::limits::RequestLimits;

/// The folder for the embedded database (and the demo's mailbox) unless configured otherwise.
pub const DEFAULT_DATA_DIR: &str = "civkey-data";
/// The default listening address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// Settings from a TOML file; every field is optional.
///
/// ```toml
/// listen = "0.0.0.0:8080"
/// public_url = "https://id.example.gov"
/// database = "postgres://civkey@db/civkey"
/// data_dir = "/var/lib/civkey"
/// bok_request_ttl_secs = 120
/// bok_max_wrong_answers = 5
/// onboarding_ttl_secs = 1800
///
/// [limits]                            # per minute, except streams_per_device
/// authorize_per_address = 60
/// authorize_per_client = 6000
/// page_streams_per_address = 120
/// streams_per_device = 3
/// ```
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Address to listen on.
    pub listen: Option<SocketAddr>,
    /// The public origin.
    pub public_url: Option<String>,
    /// Database URL.
    pub database: Option<String>,
    /// Data folder.
    pub data_dir: Option<PathBuf>,
    /// SMTP server for e-mail (`smtp://host:25`, `smtps://user:pass@host`, `smtp://host:587?tls=required`).
    pub smtp_url: Option<String>,
    /// Sender address of e-mail.
    pub mail_from: Option<String>,
    /// How long a BOK verification stays open (seconds, 30–900; default 120).
    pub bok_request_ttl_secs: Option<u64>,
    /// Consecutive wrong BOK answers that block the BOK (1–20; default 5).
    pub bok_max_wrong_answers: Option<u32>,
    /// How long an identification code for in-person onboarding is valid (seconds, 300–86400;
    /// default 1800).
    pub onboarding_ttl_secs: Option<u64>,
    /// Request-rate limits (`[limits]`; see [`crate::services::limits::RequestLimits`]).
    pub limits: Option<FileLimits>,
}

/// The `[limits]` table: each a whole number of at least 1; those left out keep their default.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileLimits {
    /// Authorization requests one client address may make a minute (default 60).
    pub authorize_per_address: Option<u64>,
    /// Authorization requests for one service a minute, from all addresses (default 6,000).
    pub authorize_per_client: Option<u64>,
    /// Page event streams one client address may open a minute (default 120).
    pub page_streams_per_address: Option<u64>,
    /// Event streams one device may hold open at once (default 3).
    pub streams_per_device: Option<usize>,
}

/// Why configuration could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read the configuration file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has unknown settings.
    #[error("the configuration file {path} is invalid: {message}")]
    Parse {
        /// The file.
        path: String,
        /// What is wrong, with line and column.
        message: String,
    },
    /// The public URL is not a usable origin.
    #[error("the public URL {url:?} is not usable: {reason}")]
    PublicUrl {
        /// The URL.
        url: String,
        /// Why.
        reason: civkey_proto::Error,
    },
    /// The onboarding code lifetime is out of its bounds.
    #[error("invalid onboarding setting: onboarding_ttl_secs = {0} must be 300 to 86400")]
    OnboardingTtl(u64),
    /// A BOK-pad setting is out of its bounds.
    #[error("invalid BOK-pad setting: {0}")]
    Bok(String),
    /// A request-rate limit is 0.
    #[error("invalid limit: [limits] {0} must be at least 1")]
    Limit(&'static str),
}

impl FileConfig {
    /// Reads a TOML file.
    pub fn read(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.display().to_string(),
            message: e.to_string(),
        })
    }
}

/// The settings the server runs with.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Database URL (`sqlite://…` or `postgres://…`).
    pub database_url: String,
    /// Where citizens and apps reach the server; `None` means `http://` + the bound address.
    pub public_url: Option<String>,
    /// Data folder (embedded database, demo mailbox).
    pub data_dir: PathBuf,
    /// SMTP server URL; without one, e-mail is appended to `DATA_DIR/mailbox.txt`.
    pub smtp_url: Option<String>,
    /// Sender address of e-mail.
    pub mail_from: String,
    /// How long a BOK verification stays open (seconds).
    pub bok_request_ttl_secs: u64,
    /// Consecutive wrong BOK answers that block the BOK.
    pub bok_max_wrong_answers: u32,
    /// How long an identification code for in-person onboarding is valid (seconds).
    pub onboarding_ttl_secs: u64,
    /// Request-rate limits and the device stream cap.
    pub request_limits: RequestLimits,
}

impl Config {
    /// Merges what the command line (and environment) said over the file and the defaults.
    pub fn merge(
        listen: Option<SocketAddr>,
        database: Option<String>,
        public_url: Option<String>,
        data_dir: Option<PathBuf>,
        smtp_url: Option<String>,
        mail_from: Option<String>,
        file: FileConfig,
    ) -> Config {
        let data_dir = data_dir
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        let database_url = database
            .or(file.database)
            .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("civkey.db").display()));
        let listen = listen
            .or(file.listen)
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080)));
        Config {
            listen,
            database_url,
            public_url: public_url.or(file.public_url),
            data_dir,
            smtp_url: smtp_url.or(file.smtp_url),
            mail_from: mail_from
                .or(file.mail_from)
                .unwrap_or_else(|| "civkey <noreply@civkey.invalid>".to_string()),
            bok_request_ttl_secs: file
                .bok_request_ttl_secs
                .unwrap_or(civkey_proto::bok::BOK_REQUEST_TTL_SECS),
            bok_max_wrong_answers: file
                .bok_max_wrong_answers
                .unwrap_or(civkey_proto::bok::BOK_MAX_WRONG_ANSWERS),
            onboarding_ttl_secs: file
                .onboarding_ttl_secs
                .unwrap_or(civkey_proto::onboard::ONBOARDING_TTL_SECS),
            request_limits: file.limits.map_or_else(RequestLimits::default, |l| {
                let d = RequestLimits::default();
                RequestLimits {
                    authorize_per_address: l
                        .authorize_per_address
                        .unwrap_or(d.authorize_per_address),
                    authorize_per_client: l.authorize_per_client.unwrap_or(d.authorize_per_client),
                    page_streams_per_address: l
                        .page_streams_per_address
                        .unwrap_or(d.page_streams_per_address),
                    streams_per_device: l.streams_per_device.unwrap_or(d.streams_per_device),
                }
            }),
        }
    }

    /// The request-rate limits, each at least 1.
    pub fn request_limits(&self) -> Result<RequestLimits, ConfigError> {
        let l = self.request_limits;
        let zero = [
            ("authorize_per_address", l.authorize_per_address == 0),
            ("authorize_per_client", l.authorize_per_client == 0),
            ("page_streams_per_address", l.page_streams_per_address == 0),
            ("streams_per_device", l.streams_per_device == 0),
        ]
        .into_iter()
        .find(|(_, zero)| *zero);
        match zero {
            Some((name, _)) => Err(ConfigError::Limit(name)),
            None => Ok(l),
        }
    }

    /// How long identification codes are valid, checked against its bounds (5 minutes to a day).
    pub fn onboarding_ttl(&self) -> Result<u64, ConfigError> {
        if (300..=86_400).contains(&self.onboarding_ttl_secs) {
            Ok(self.onboarding_ttl_secs)
        } else {
            Err(ConfigError::OnboardingTtl(self.onboarding_ttl_secs))
        }
    }

    /// The BOK-pad settings given as flags (or `CIVKEY_*` variables) over those from the file.
    pub fn with_bok_flags(mut self, ttl_secs: Option<u64>, max_wrong: Option<u32>) -> Config {
        if let Some(ttl) = ttl_secs {
            self.bok_request_ttl_secs = ttl;
        }
        if let Some(max) = max_wrong {
            self.bok_max_wrong_answers = max;
        }
        self
    }

    /// The BOK-pad settings, checked against their bounds.
    pub fn bok_policy(&self) -> Result<BokPolicy, ConfigError> {
        BokPolicy::new(self.bok_request_ttl_secs, self.bok_max_wrong_answers)
            .map_err(ConfigError::Bok)
    }

    /// The public origin, given the address actually bound.
    pub fn public_origin(&self, bound: SocketAddr) -> Result<Origin, ConfigError> {
        let url = self
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{bound}"));
        Origin::normalise(&url).map_err(|reason| ConfigError::PublicUrl { url, reason })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_the_file_and_the_file_over_defaults() {
        let file: FileConfig = toml::from_str(
            "listen = \"0.0.0.0:9000\"\npublic_url = \"https://id.example.gov\"\ndata_dir = \"/srv/civkey\"",
        )
        .unwrap();
        let c = Config::merge(
            Some("127.0.0.1:1234".parse().unwrap()),
            None,
            None,
            None,
            None,
            None,
            file,
        );
        assert_eq!(c.listen.port(), 1234);
        assert_eq!(c.public_url.as_deref(), Some("https://id.example.gov"));
        assert_eq!(c.database_url, "sqlite:///srv/civkey/civkey.db");
        let d = Config::merge(None, None, None, None, None, None, FileConfig::default());
        assert_eq!(d.database_url, "sqlite://civkey-data/civkey.db");
        assert_eq!(d.listen.to_string(), DEFAULT_LISTEN);
    }

    #[test]
    fn request_limits_come_from_the_limits_table_over_defaults_and_zero_is_refused() {
        let merge = |text: &str| {
            let file: FileConfig = toml::from_str(text).unwrap();
            Config::merge(None, None, None, None, None, None, file)
        };
        assert_eq!(
            merge("").request_limits().unwrap(),
            RequestLimits::default()
        );
        let set = merge("[limits]\nauthorize_per_address = 10\nstreams_per_device = 2");
        let limits = set.request_limits().unwrap();
        assert_eq!(
            (limits.authorize_per_address, limits.streams_per_device),
            (10, 2)
        );
        assert_eq!(
            limits.authorize_per_client,
            RequestLimits::default().authorize_per_client
        );
        let zero = merge("[limits]\npage_streams_per_address = 0");
        assert!(matches!(
            zero.request_limits(),
            Err(ConfigError::Limit("page_streams_per_address"))
        ));
        assert!(toml::from_str::<FileConfig>("[limits]\nper_hour = 5").is_err());
    }

    #[test]
    fn bok_settings_come_from_flags_over_the_file_over_defaults_within_bounds() {
        let defaults = Config::merge(None, None, None, None, None, None, FileConfig::default());
        assert_eq!(defaults.bok_policy().unwrap(), BokPolicy::default());
        assert_eq!(defaults.bok_request_ttl_secs, 120);
        assert_eq!(defaults.bok_max_wrong_answers, 5);
        let file: FileConfig =
            toml::from_str("bok_request_ttl_secs = 300\nbok_max_wrong_answers = 3").unwrap();
        let c = Config::merge(None, None, None, None, None, None, file);
        assert_eq!(c.bok_policy().unwrap(), BokPolicy::new(300, 3).unwrap());
        let c = c.with_bok_flags(Some(60), None);
        assert_eq!(c.bok_policy().unwrap(), BokPolicy::new(60, 3).unwrap());
        for (ttl, max) in [(5, 5), (3600, 5), (120, 0), (120, 100)] {
            let c = defaults.clone().with_bok_flags(Some(ttl), Some(max));
            let err = c.bok_policy().unwrap_err();
            assert!(
                err.to_string().starts_with("invalid BOK-pad setting: bok_"),
                "{err}"
            );
        }
    }

    #[test]
    fn unknown_settings_and_plain_http_public_urls_are_refused() {
        assert!(toml::from_str::<FileConfig>("listn = \"x\"").is_err());
        let c = Config::merge(
            None,
            None,
            Some("http://id.example.gov".into()),
            None,
            None,
            None,
            FileConfig::default(),
        );
        let err = c
            .public_origin("127.0.0.1:8080".parse().unwrap())
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("plain http is allowed only for localhost"),
            "{err}"
        );
    }
}
