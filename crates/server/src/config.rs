//! Server configuration: command-line flags, then `CIVKEY_*` environment variables (both read by
//! clap in `main`), then a TOML file, then defaults.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use civkey_proto::forwarded::{Cidr, TrustedProxies};
use civkey_proto::Origin;
use serde::Deserialize;

use crate::services::bok::BokPolicy;
use crate::services::limits::RequestLimits;
use crate::services::push_guard::{HostPattern, PushPolicy, SystemLookup};
use crate::serving::{self, ServeLimits};

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
/// max_connections = 10000
/// header_read_timeout_secs = 15
/// body_read_timeout_secs = 30
/// trusted_proxies = ["10.0.0.0/24", "::1"]
/// key_file = "/etc/civkey/civkey.key"
/// metrics_listen = "127.0.0.1:9090"
/// log_format = "json"
///
/// [limits]                            # per minute, except streams_per_device
/// authorize_per_address = 600
/// authorize_per_client = 120000
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
    /// Connections served at once; more wait in the listen backlog (1–1,000,000; default 10,000).
    pub max_connections: Option<usize>,
    /// Seconds a request head may take, from the connection's start or its last response; also
    /// the keep-alive idle timeout (1–300; default 15).
    pub header_read_timeout_secs: Option<u64>,
    /// Seconds a request body may take after its head (1–600; default 30).
    pub body_read_timeout_secs: Option<u64>,
    /// Reverse proxies (CIDR blocks) whose `Forwarded` / `X-Forwarded-For` headers are believed.
    pub trusted_proxies: Option<Vec<Cidr>>,
    /// Accept push endpoints on this computer (plain http to loopback): the test mode, only with a
    /// loopback public URL (default false; `demo` on loopback turns it on).
    pub allow_loopback_push: Option<bool>,
    /// Only these push services: host names, `*.` for every name under a domain
    /// (`["fcm.googleapis.com", "*.push.apple.com"]`); default any public https host.
    pub push_allowed_hosts: Option<Vec<String>>,
    /// The file holding the key-encryption key (readable by its owner only); `--key-file` wins.
    pub key_file: Option<PathBuf>,
    /// Request-rate limits (`[limits]`; see [`crate::services::limits::RequestLimits`]).
    pub limits: Option<FileLimits>,
    /// Where Prometheus metrics are served (`GET /metrics`), apart from the public listener;
    /// default: nowhere.
    pub metrics_listen: Option<SocketAddr>,
    /// How log lines are written: `text` (default) or `json` (one object a line).
    pub log_format: Option<LogFormat>,
}

/// The `[limits]` table: each a whole number of at least 1; those left out keep their default.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileLimits {
    /// Authorization requests one client address may make a minute (default 60).
    pub authorize_per_address: Option<u64>,
    /// Authorization requests for one service a minute, from all addresses (default 120,000).
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
    /// A connection limit is out of its bounds.
    #[error("invalid connection setting: {0}")]
    Connections(String),
    /// An entry of the push services' allow-list is not a host name.
    #[error("invalid push_allowed_hosts entry: {0}")]
    PushAllowedHost(String),
    /// Loopback push endpoints were asked for on a server reached from elsewhere.
    #[error("allow_loopback_push is a test mode: it needs a loopback public URL, not {0}")]
    LoopbackPush(String),
    /// A request-rate limit is 0.
    #[error("invalid limit: [limits] {0} must be at least 1")]
    Limit(&'static str),
    /// The metrics address is the public listener's.
    #[error(
        "metrics_listen {0} is the public listen address: metrics need an address of their own"
    )]
    MetricsListen(SocketAddr),
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
    /// Connections served at once.
    pub max_connections: usize,
    /// Seconds a request head may take (also the keep-alive idle timeout).
    pub header_read_timeout_secs: u64,
    /// Seconds a request body may take after its head.
    pub body_read_timeout_secs: u64,
    /// Reverse proxies whose forwarding headers name the client (default: none).
    pub trusted_proxies: Vec<Cidr>,
    /// Whether push endpoints on this computer are accepted (the loopback test mode).
    pub allow_loopback_push: bool,
    /// The push services endpoints may point at (empty: any public https host).
    pub push_allowed_hosts: Vec<String>,
    /// Request-rate limits and the device stream cap.
    pub request_limits: RequestLimits,
    /// Where Prometheus metrics are served, if anywhere (never on `listen`).
    pub metrics_listen: Option<SocketAddr>,
    /// How log lines are written.
    pub log_format: LogFormat,
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
            max_connections: file
                .max_connections
                .unwrap_or(serving::DEFAULT_MAX_CONNECTIONS),
            header_read_timeout_secs: file
                .header_read_timeout_secs
                .unwrap_or(serving::DEFAULT_HEADER_READ_TIMEOUT_SECS),
            body_read_timeout_secs: file
                .body_read_timeout_secs
                .unwrap_or(serving::DEFAULT_BODY_READ_TIMEOUT_SECS),
            trusted_proxies: file.trusted_proxies.unwrap_or_default(),
            allow_loopback_push: file.allow_loopback_push.unwrap_or(false),
            push_allowed_hosts: file.push_allowed_hosts.unwrap_or_default(),
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
            metrics_listen: file.metrics_listen,
            log_format: file.log_format.unwrap_or_default(),
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

    /// The trusted proxies given as `--trusted-proxy` flags (or `CIVKEY_TRUSTED_PROXIES`), when
    /// any, instead of those from the file.
    pub fn with_trusted_proxy_flags(mut self, flags: &[Cidr]) -> Config {
        if !flags.is_empty() {
            self.trusted_proxies = flags.to_vec();
        }
        self
    }

    /// The trusted proxies, as the server checks peers against them.
    pub fn trusted_proxies(&self) -> TrustedProxies {
        TrustedProxies::new(self.trusted_proxies.clone())
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

    /// The push settings given as flags (or `CIVKEY_*` variables) over those from the file: the
    /// test mode if either asks for it, the flags' allow-list if they give one.
    pub fn with_push_flags(mut self, allow_loopback: bool, allowed_hosts: Vec<String>) -> Config {
        self.allow_loopback_push |= allow_loopback;
        if !allowed_hosts.is_empty() {
            self.push_allowed_hosts = allowed_hosts;
        }
        self
    }

    /// Where push endpoints may point, for the server at `origin`: the allow-list read, and the
    /// loopback test mode only on a loopback origin.
    pub fn push_policy(&self, origin: &Origin) -> Result<PushPolicy, ConfigError> {
        if self.allow_loopback_push && !origin.is_loopback() {
            return Err(ConfigError::LoopbackPush(origin.to_string()));
        }
        let allowed = self
            .push_allowed_hosts
            .iter()
            .map(|h| HostPattern::parse(h).map_err(ConfigError::PushAllowedHost))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(PushPolicy::new(
            self.allow_loopback_push,
            allowed,
            std::sync::Arc::new(SystemLookup),
        ))
    }

    /// The public origin, given the address actually bound.
    pub fn public_origin(&self, bound: SocketAddr) -> Result<Origin, ConfigError> {
        let url = self
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{bound}"));
        Origin::normalise(&url).map_err(|reason| ConfigError::PublicUrl { url, reason })
    }

    /// The connection settings given as flags (or `CIVKEY_*` variables) over those from the file.
    pub fn with_connection_flags(
        mut self,
        max_connections: Option<usize>,
        header_read_timeout_secs: Option<u64>,
        body_read_timeout_secs: Option<u64>,
    ) -> Config {
        self.max_connections = max_connections.unwrap_or(self.max_connections);
        self.header_read_timeout_secs =
            header_read_timeout_secs.unwrap_or(self.header_read_timeout_secs);
        self.body_read_timeout_secs = body_read_timeout_secs.unwrap_or(self.body_read_timeout_secs);
        self
    }

    /// The connection limits, checked against their bounds.
    pub fn serve_limits(&self) -> Result<ServeLimits, ConfigError> {
        let out = |what: &str, value: String, bounds: &str| {
            ConfigError::Connections(format!("{what} = {value} must be {bounds}"))
        };
        if !(1..=1_000_000).contains(&self.max_connections) {
            let value = self.max_connections.to_string();
            return Err(out("max_connections", value, "1 to 1000000"));
        }
        if !(1..=300).contains(&self.header_read_timeout_secs) {
            let value = self.header_read_timeout_secs.to_string();
            return Err(out("header_read_timeout_secs", value, "1 to 300"));
        }
        if !(1..=600).contains(&self.body_read_timeout_secs) {
            let value = self.body_read_timeout_secs.to_string();
            return Err(out("body_read_timeout_secs", value, "1 to 600"));
        }
        Ok(ServeLimits {
            max_connections: self.max_connections,
            header_read_timeout: std::time::Duration::from_secs(self.header_read_timeout_secs),
            body_read_timeout: std::time::Duration::from_secs(self.body_read_timeout_secs),
        })
    }
}

impl Config {
    /// The operator's settings given as flags (or `CIVKEY_*` variables) over those from the file:
    /// the metrics address and the log format.
    pub fn with_operator_flags(
        mut self,
        metrics_listen: Option<SocketAddr>,
        log_format: Option<LogFormat>,
    ) -> Config {
        self.metrics_listen = metrics_listen.or(self.metrics_listen);
        self.log_format = log_format.unwrap_or(self.log_format);
        self
    }

    /// The metrics address, refused when it is the public listener's (metrics are never served
    /// there).
    pub fn metrics_listen(&self) -> Result<Option<SocketAddr>, ConfigError> {
        match self.metrics_listen {
            Some(address) if address == self.listen && address.port() != 0 => {
                Err(ConfigError::MetricsListen(address))
            }
            other => Ok(other),
        }
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// For people: one line of text an event.
    #[default]
    Text,
    /// For log collectors: one JSON object a line, with the request's id in its span.
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(format!("unknown log format {other:?}: use text or json")),
        }
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

    #[test]
    fn connection_limits_come_from_flags_over_the_file_over_defaults_within_bounds() {
        let defaults = Config::merge(None, None, None, None, None, None, FileConfig::default());
        assert_eq!(defaults.serve_limits().unwrap(), ServeLimits::default());
        let file: FileConfig = toml::from_str(
            "max_connections = 500\nheader_read_timeout_secs = 5\nbody_read_timeout_secs = 20",
        )
        .unwrap();
        let c = Config::merge(None, None, None, None, None, None, file);
        let limits = c.serve_limits().unwrap();
        assert_eq!(limits.max_connections, 500);
        assert_eq!(limits.header_read_timeout.as_secs(), 5);
        assert_eq!(limits.body_read_timeout.as_secs(), 20);
        let c = c.with_connection_flags(Some(1000), None, Some(60));
        let limits = c.serve_limits().unwrap();
        assert_eq!(limits.max_connections, 1000);
        assert_eq!(limits.header_read_timeout.as_secs(), 5);
        assert_eq!(limits.body_read_timeout.as_secs(), 60);
        for (max, header, body) in [
            (0, 5, 5),
            (10, 0, 5),
            (10, 301, 5),
            (10, 5, 0),
            (10, 5, 601),
        ] {
            let c = defaults
                .clone()
                .with_connection_flags(Some(max), Some(header), Some(body));
            let err = c.serve_limits().unwrap_err();
            assert!(
                err.to_string().starts_with("invalid connection setting: "),
                "{err}"
            );
        }
    }

    #[test]
    fn trusted_proxies_come_from_flags_over_the_file_and_bad_blocks_say_why() {
        let file: FileConfig =
            toml::from_str("trusted_proxies = [\"10.0.0.0/24\", \"::1\"]").unwrap();
        let c = Config::merge(None, None, None, None, None, None, file);
        let shown: Vec<String> = c.trusted_proxies.iter().map(|b| b.to_string()).collect();
        assert_eq!(shown, ["10.0.0.0/24", "::1/128"]);
        assert!(c.trusted_proxies().contains("10.0.0.7".parse().unwrap()));
        let flag = Cidr::parse("192.0.2.1").unwrap();
        let c = c.with_trusted_proxy_flags(&[flag]);
        assert_eq!(c.trusted_proxies, [flag]);
        let c = c.with_trusted_proxy_flags(&[]);
        assert_eq!(
            c.trusted_proxies,
            [flag],
            "no flag keeps what the file said"
        );
        let d = Config::merge(None, None, None, None, None, None, FileConfig::default());
        assert!(d.trusted_proxies.is_empty(), "nobody is trusted by default");
        let err = toml::from_str::<FileConfig>("trusted_proxies = [\"10.0.0.1/8\"]")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("line 1")
                && err.contains("\"10.0.0.1/8\"")
                && err.contains("first address"),
            "{err}"
        );
    }

    #[test]
    fn push_settings_come_from_flags_over_the_file_and_the_test_mode_needs_loopback() {
        let file: FileConfig =
            toml::from_str("push_allowed_hosts = [\"fcm.googleapis.com\", \"*.push.apple.com\"]")
                .unwrap();
        let c = Config::merge(None, None, None, None, None, None, file);
        assert_eq!(c.push_allowed_hosts.len(), 2);
        let public = Origin::parse("https://id.example.gov").unwrap();
        let local = Origin::parse("http://127.0.0.1:8080").unwrap();
        let policy = c.push_policy(&public).unwrap();
        assert!(!policy.allows_loopback());
        let flagged = c
            .clone()
            .with_push_flags(true, vec!["updates.push.services.mozilla.com".into()]);
        assert_eq!(
            flagged.push_allowed_hosts,
            ["updates.push.services.mozilla.com"]
        );
        assert!(flagged.push_policy(&local).unwrap().allows_loopback());
        let err = flagged.push_policy(&public).err().unwrap();
        assert!(
            err.to_string()
                .starts_with("allow_loopback_push is a test mode"),
            "{err}"
        );
        let bad = c.with_push_flags(false, vec!["10.0.0.1".into()]);
        let err = bad.push_policy(&public).err().unwrap();
        assert!(
            err.to_string()
                .starts_with("invalid push_allowed_hosts entry"),
            "{err}"
        );
    }

    #[test]
    fn metrics_and_log_format_come_from_flags_over_the_file_and_never_share_the_listener() {
        let file: FileConfig =
            toml::from_str("metrics_listen = \"127.0.0.1:9090\"\nlog_format = \"json\"").unwrap();
        let c = Config::merge(None, None, None, None, None, None, file);
        assert_eq!(c.log_format, LogFormat::Json);
        assert_eq!(
            c.metrics_listen().unwrap(),
            Some("127.0.0.1:9090".parse().unwrap())
        );
        let c = c.with_operator_flags(
            Some("127.0.0.1:8080".parse().unwrap()),
            Some(LogFormat::Text),
        );
        assert_eq!(c.log_format, LogFormat::Text);
        let err = c.metrics_listen().unwrap_err().to_string();
        assert!(err.contains("an address of their own"), "{err}");
        let d = Config::merge(None, None, None, None, None, None, FileConfig::default());
        assert_eq!((d.metrics_listen, d.log_format), (None, LogFormat::Text));
        assert!(toml::from_str::<FileConfig>("log_format = \"xml\"").is_err());
        assert!("xml".parse::<LogFormat>().is_err());
    }
}
