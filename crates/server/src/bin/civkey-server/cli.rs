//! The command line: `serve`, `demo` and the admin commands, each setting a flag, a `CIVKEY_*`
//! variable or a line of the configuration file.

use std::net::SocketAddr;
use std::path::PathBuf;

use civkey_server::services::delivery;
use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "civkey-server",
    version,
    about = "The civkey companion identity server"
)]
pub(crate) struct Cli {
    /// A TOML configuration file (settings given as flags or CIVKEY_* variables win over it).
    #[arg(long, env = "CIVKEY_CONFIG", global = true)]
    pub(crate) config: Option<PathBuf>,
    /// Database URL: sqlite://PATH (default: DATA_DIR/civkey.db) or postgres://…
    #[arg(long, env = "CIVKEY_DATABASE", global = true)]
    pub(crate) database: Option<String>,
    /// Folder for the embedded database and the demo mailbox (default: ./civkey-data).
    #[arg(long, env = "CIVKEY_DATA_DIR", global = true)]
    pub(crate) data_dir: Option<PathBuf>,
    /// SMTP server for e-mail codes (smtp://host:25, smtps://user:pass@host,
    /// smtp://host:587?tls=required); without one, e-mail is appended to DATA_DIR/mailbox.txt.
    #[arg(long, env = "CIVKEY_SMTP_URL", global = true)]
    pub(crate) smtp_url: Option<String>,
    /// Sender address of e-mail.
    #[arg(long, env = "CIVKEY_MAIL_FROM", global = true)]
    pub(crate) mail_from: Option<String>,
    /// The key-encryption key the database's secrets are sealed under: a file only its owner can
    /// read, holding 32 bytes as 64 hex digits or base64 (`civkey-server key generate` makes
    /// one). Or the key itself in CIVKEY_KEY. Required, except by `demo`, which makes
    /// DATA_DIR/demo.key.
    #[arg(long, env = "CIVKEY_KEY_FILE", global = true)]
    pub(crate) key_file: Option<PathBuf>,
    #[command(subcommand)]
    pub(crate) command: Command,
    /// How log lines are written: text (default) or json (one object a line, with the request id).
    #[arg(long, env = "CIVKEY_LOG_FORMAT", global = true, value_name = "FORMAT")]
    pub(crate) log_format: Option<civkey_server::config::LogFormat>,
}

#[derive(Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on (default 127.0.0.1:8080).
    #[arg(long, env = "CIVKEY_LISTEN")]
    pub(crate) listen: Option<SocketAddr>,
    /// The origin citizens and apps use to reach this server (default: http://LISTEN).
    #[arg(long, env = "CIVKEY_PUBLIC_URL")]
    pub(crate) public_url: Option<String>,
    /// How long a BOK verification started at the counter stays open, in seconds (30–900;
    /// default 120).
    #[arg(long, env = "CIVKEY_BOK_REQUEST_TTL_SECS")]
    pub(crate) bok_request_ttl_secs: Option<u64>,
    /// Consecutive wrong BOK answers that block the citizen's BOK until a clerk unblocks it
    /// (1–20; default 5).
    #[arg(long, env = "CIVKEY_BOK_MAX_WRONG_ANSWERS")]
    pub(crate) bok_max_wrong_answers: Option<u32>,
    #[command(flatten)]
    pub(crate) delivery: DeliveryArgs,
    #[command(flatten)]
    pub(crate) connections: ConnectionArgs,
    #[command(flatten)]
    pub(crate) proxies: ProxyArgs,
    /// Serve Prometheus metrics (GET /metrics) on this address, never on the public one (default:
    /// no metrics). Keep it reachable only by the monitoring system.
    #[arg(long, env = "CIVKEY_METRICS_LISTEN", value_name = "ADDR")]
    pub(crate) metrics_listen: Option<SocketAddr>,
}

/// What one client connection may hold (slow and idle clients are cut).
#[derive(Args, Clone)]
pub(crate) struct ConnectionArgs {
    /// Connections served at once; more wait in the listen backlog (1–1000000; default 10000).
    /// The process's file limit (ulimit -n, LimitNOFILE) must be higher.
    #[arg(long, env = "CIVKEY_MAX_CONNECTIONS")]
    pub(crate) max_connections: Option<usize>,
    /// Seconds a request head may take, from the connection's start or its previous response;
    /// also how long an idle keep-alive connection stays open (1–300; default 15).
    #[arg(long, env = "CIVKEY_HEADER_READ_TIMEOUT_SECS")]
    pub(crate) header_read_timeout_secs: Option<u64>,
    /// Seconds a request body may take after its head (1–600; default 30).
    #[arg(long, env = "CIVKEY_BODY_READ_TIMEOUT_SECS")]
    pub(crate) body_read_timeout_secs: Option<u64>,
}

/// Which reverse proxies name the client.
#[derive(Args, Clone)]
pub(crate) struct ProxyArgs {
    /// A reverse proxy (CIDR block, or one address) whose Forwarded / X-Forwarded-For header names
    /// the client; repeat for several (CIVKEY_TRUSTED_PROXIES: comma-separated). Without one,
    /// every request counts under its TCP peer's address: behind a proxy, all clients share it.
    #[arg(
        long = "trusted-proxy",
        value_name = "CIDR",
        env = "CIVKEY_TRUSTED_PROXIES",
        value_delimiter = ','
    )]
    pub(crate) trusted_proxies: Vec<civkey_proto::forwarded::Cidr>,
}

/// How notifications are delivered (push endpoints, SMS, retries).
#[derive(Args, Clone)]
pub(crate) struct DeliveryArgs {
    /// An HTTP SMS gateway: POST {"to", "text"} as JSON. Without one, SMS notifications wait in the
    /// outbox (recorded as "no SMS gateway configured").
    #[arg(long, env = "CIVKEY_SMS_GATEWAY_URL")]
    pub(crate) sms_gateway_url: Option<String>,
    /// Seconds before the first retry of a failed delivery; then doubling, at most an hour
    /// (default 5).
    #[arg(long, env = "CIVKEY_DELIVERY_RETRY_SECS", default_value_t = delivery::DEFAULT_FIRST_RETRY_SECS,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub(crate) delivery_retry_secs: u64,
    /// Seconds a push endpoint or the SMS gateway may take to answer (default 10).
    #[arg(long, env = "CIVKEY_DELIVERY_TIMEOUT_SECS", default_value_t = delivery::DEFAULT_HTTP_TIMEOUT_SECS,
          value_parser = clap::value_parser!(u64).range(1..=120))]
    pub(crate) delivery_timeout_secs: u64,
    /// Accept push endpoints on this computer (plain http to loopback): a test mode, refused
    /// unless the public URL is on loopback (`demo` on loopback has it on).
    #[arg(long, env = "CIVKEY_ALLOW_LOOPBACK_PUSH")]
    pub(crate) allow_loopback_push: bool,
    /// Accept push endpoints only at this push service (repeatable; `*.push.apple.com` for every
    /// name under a domain); default any public https host.
    #[arg(
        long = "push-allowed-host",
        env = "CIVKEY_PUSH_ALLOWED_HOSTS",
        value_delimiter = ','
    )]
    pub(crate) push_allowed_hosts: Vec<String>,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Serve the portal and the app API.
    Serve(ServeArgs),
    /// Serve with a demo citizen (created on first start) and print how to log in.
    Demo(ServeArgs),
    /// Manage citizens.
    #[command(subcommand)]
    Citizen(CitizenCommand),
    /// Manage office clerks (they log in at /counter).
    #[command(subcommand)]
    Clerk(ClerkCommand),
    /// Manage the services citizens log in to (OpenID Connect clients).
    #[command(subcommand)]
    Client(ClientCommand),
    /// Manage the keys ID tokens are signed with.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// See and retry the deliveries waiting in the outbox (e-mail, SMS, push).
    #[command(subcommand)]
    Outbox(OutboxCommand),
    /// Manage the key-encryption key the database's secrets are sealed under.
    #[command(subcommand)]
    Key(KeyCommand),
}

#[derive(Subcommand)]
pub(crate) enum KeyCommand {
    /// Make a new key-encryption key in a new file (readable by its owner only); prints its id.
    Generate {
        /// The file to write (it must not exist).
        #[arg(long)]
        out: PathBuf,
    },
    /// Re-seal every secret in the database under the key in NEW_KEY_FILE, in one transaction;
    /// the current key (--key-file or CIVKEY_KEY) opens nothing afterwards. Stop every server
    /// using the database first and start them with the new key afterwards.
    Rotate {
        /// The new key's file (from `civkey-server key generate`).
        #[arg(long)]
        new_key_file: PathBuf,
    },
}

#[derive(Subcommand)]
pub(crate) enum OutboxCommand {
    /// Print, as JSON, per channel what waits, what fails and what was delivered or given up in
    /// the last day, with the most frequent errors (recipients and texts are not listed).
    Status,
    /// Make every failed message due now instead of after its backoff (once a channel that was
    /// down is back); a running server sends them within seconds. Prints `{"retried": N}`.
    Retry,
}

#[derive(Subcommand)]
pub(crate) enum ClientCommand {
    /// Register a service; prints its client id and secret as JSON (the secret only this once).
    Add {
        /// The name citizens see on the login page.
        #[arg(long)]
        name: String,
        /// A redirect URI (repeat for several; matched exactly; all on one host).
        #[arg(long = "redirect-uri", required = true)]
        redirect_uris: Vec<String>,
        /// A logo to show on the login page (https).
        #[arg(long)]
        logo: Option<String>,
    },
    /// List services as JSON.
    List,
}

#[derive(Subcommand)]
pub(crate) enum KeysCommand {
    /// Make a new signing key; the old one stays published until its tokens have expired.
    Rotate,
    /// Print the published keys (the JWKS) as JSON.
    List,
}

#[derive(Subcommand)]
pub(crate) enum CitizenCommand {
    /// Create a citizen; prints the TOTP enrolment URI and the one-time deletion code as JSON.
    Add {
        /// Login name (3–32 characters: a-z, 0-9, '.', '_', '-').
        username: String,
        /// Full name.
        #[arg(long)]
        name: String,
        /// E-mail address (for e-mail codes and notifications).
        #[arg(long)]
        email: Option<String>,
        /// Read the password from standard input (required: passwords never go on the command line).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// List citizens as JSON.
    List,
    /// Send a citizen an informative notice worded by the operator: to their mobile keys with
    /// informative notifications on, and by e-mail and SMS where switched on. A running server
    /// delivers it within seconds. Prints `{"username": …, "notified": true}`.
    Notify {
        /// The citizen's login name.
        #[arg(long)]
        username: String,
        /// The title (one line, up to 100 characters).
        #[arg(long)]
        title: String,
        /// The text (up to 1000 characters).
        #[arg(long)]
        body: String,
    },
    /// Set a citizen's BOK (security personal code, 4–10 digits), stored only as an Argon2id hash.
    /// Prompted twice without echo at a terminal, else read from standard input. It does not lift
    /// a block: a clerk unblocks at the counter.
    SetBok {
        /// The citizen's login name.
        #[arg(long)]
        username: String,
    },
}

#[derive(Subcommand)]
pub(crate) enum ClerkCommand {
    /// Add a clerk; the password is prompted twice without echo at a terminal, else read from
    /// standard input. Prints the clerk as JSON with the TOTP enrolment URI (`totp_uri`, shown
    /// only this once): the clerk adds it to an authenticator app, whose code the counter asks for
    /// at every login.
    Add {
        /// Login name (3–32 characters: a-z, 0-9, '.', '_', '-').
        #[arg(long)]
        username: String,
        /// Full name.
        #[arg(long)]
        name: String,
        /// The office, as citizens see it on their BOK-pad ("Czech POINT, Praha 1").
        #[arg(long)]
        office: String,
    },
    /// List clerks as JSON (`totp_enrolled` says whether a clerk can log in).
    List,
    /// Give a clerk a new TOTP secret: for a lost authenticator, or a clerk added before the counter
    /// asked for a code (who cannot log in until then). The old authenticator stops working and
    /// the clerk's counter sessions end. Prints the new enrolment URI as JSON (only this once).
    TotpReset {
        /// The clerk's login name.
        username: String,
    },
}
