//! `civkey-server`: reads configuration, opens the store and serves [`civkey_server::router`];
//! admin commands print JSON.

use std::io::{IsTerminal, Read};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context};
use civkey_server::clock::{Clock, SystemClock};
use civkey_server::config::{Config, FileConfig};
use civkey_server::services::delivery::{self, Mailer};
use civkey_server::services::{bok, citizens, clerks, devices, ServiceError, Services};
use civkey_server::store::Store;
use civkey_server::{router, AppState};
use clap::{Args, Parser, Subcommand};
use zeroize::Zeroizing;

#[derive(Parser)]
#[command(
    name = "civkey-server",
    version,
    about = "The civkey companion identity server"
)]
struct Cli {
    /// A TOML configuration file (settings given as flags or CIVKEY_* variables win over it).
    #[arg(long, env = "CIVKEY_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// Database URL: sqlite://PATH (default: DATA_DIR/civkey.db) or postgres://…
    #[arg(long, env = "CIVKEY_DATABASE", global = true)]
    database: Option<String>,
    /// Folder for the embedded database and the demo mailbox (default: ./civkey-data).
    #[arg(long, env = "CIVKEY_DATA_DIR", global = true)]
    data_dir: Option<PathBuf>,
    /// SMTP server for e-mail codes (smtp://host:25, smtps://user:pass@host,
    /// smtp://host:587?tls=required); without one, e-mail is appended to DATA_DIR/mailbox.txt.
    #[arg(long, env = "CIVKEY_SMTP_URL", global = true)]
    smtp_url: Option<String>,
    /// Sender address of e-mail.
    #[arg(long, env = "CIVKEY_MAIL_FROM", global = true)]
    mail_from: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on (default 127.0.0.1:8080).
    #[arg(long, env = "CIVKEY_LISTEN")]
    listen: Option<SocketAddr>,
    /// The origin citizens and apps use to reach this server (default: http://LISTEN).
    #[arg(long, env = "CIVKEY_PUBLIC_URL")]
    public_url: Option<String>,
    /// How long a BOK verification started at the counter stays open, in seconds (30–900;
    /// default 120).
    #[arg(long, env = "CIVKEY_BOK_REQUEST_TTL_SECS")]
    bok_request_ttl_secs: Option<u64>,
    /// Consecutive wrong BOK answers that block the citizen's BOK until a clerk unblocks it
    /// (1–20; default 5).
    #[arg(long, env = "CIVKEY_BOK_MAX_WRONG_ANSWERS")]
    bok_max_wrong_answers: Option<u32>,
    #[command(flatten)]
    delivery: DeliveryArgs,
}

/// How notifications are delivered (push endpoints, SMS, retries).
#[derive(Args, Clone)]
struct DeliveryArgs {
    /// An HTTP SMS gateway: POST {"to", "text"} as JSON. Without one, SMS notifications wait in the
    /// outbox (recorded as "no SMS gateway configured").
    #[arg(long, env = "CIVKEY_SMS_GATEWAY_URL")]
    sms_gateway_url: Option<String>,
    /// Seconds before the first retry of a failed delivery; then doubling, at most an hour
    /// (default 5).
    #[arg(long, env = "CIVKEY_DELIVERY_RETRY_SECS", default_value_t = delivery::DEFAULT_FIRST_RETRY_SECS,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    delivery_retry_secs: u64,
    /// Seconds a push endpoint or the SMS gateway may take to answer (default 10).
    #[arg(long, env = "CIVKEY_DELIVERY_TIMEOUT_SECS", default_value_t = delivery::DEFAULT_HTTP_TIMEOUT_SECS,
          value_parser = clap::value_parser!(u64).range(1..=120))]
    delivery_timeout_secs: u64,
}

#[derive(Subcommand)]
enum Command {
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
}

#[derive(Subcommand)]
enum OutboxCommand {
    /// Print, as JSON, per channel what waits, what fails and what was delivered or given up in
    /// the last day, with the most frequent errors (recipients and texts are not listed).
    Status,
    /// Make every failed message due now instead of after its backoff (once a channel that was
    /// down is back); a running server sends them within seconds. Prints `{"retried": N}`.
    Retry,
}

#[derive(Subcommand)]
enum ClientCommand {
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
enum KeysCommand {
    /// Make a new signing key; the old one stays published until its tokens have expired.
    Rotate,
    /// Print the published keys (the JWKS) as JSON.
    List,
}

#[derive(Subcommand)]
enum CitizenCommand {
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
enum ClerkCommand {
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

/// The demo citizen's login name and password (printed by `civkey-server demo`).
const DEMO_USERNAME: &str = "demo";
const DEMO_PASSWORD: &str = "civkey-demo-password";

fn main() -> std::process::ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // One line with the chain of causes; no backtrace for operators.
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            // PostgreSQL's notices (a migration table that already exists) are not news.
            tracing_subscriber::EnvFilter::try_from_env("CIVKEY_LOG").unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new("info,sqlx::postgres::notice=warn")
            }),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let file = match &cli.config {
        Some(path) => FileConfig::read(path)?,
        None => FileConfig::default(),
    };
    let (listen, public_url, bok_ttl, bok_max) = match &cli.command {
        Command::Serve(a) | Command::Demo(a) => (
            a.listen,
            a.public_url.clone(),
            a.bok_request_ttl_secs,
            a.bok_max_wrong_answers,
        ),
        Command::Citizen(_)
        | Command::Clerk(_)
        | Command::Client(_)
        | Command::Keys(_)
        | Command::Outbox(_) => (None, None, None, None),
    };
    let config = Config::merge(
        listen,
        cli.database,
        public_url,
        cli.data_dir,
        cli.smtp_url,
        cli.mail_from,
        file,
    )
    .with_bok_flags(bok_ttl, bok_max);
    let store = Store::open(&config.database_url)
        .await
        .with_context(|| format!("cannot open the database {}", config.database_url))?;

    match cli.command {
        Command::Serve(a) => serve(&config, &a.delivery, store, false).await,
        Command::Demo(a) => serve(&config, &a.delivery, store, true).await,
        Command::Citizen(CitizenCommand::Add {
            username,
            name,
            email,
            password_stdin: _,
        }) => {
            let mut password = Zeroizing::new(String::new());
            std::io::stdin()
                .read_to_string(&mut password)
                .context("cannot read the password from standard input")?;
            let password = password.trim_end_matches(['\n', '\r']);
            let enrolment = citizens::add_citizen(
                &store,
                SystemClock.now(),
                &username,
                &name,
                email.as_deref(),
                password,
            )
            .await
            .map_err(refusal)?;
            println!(
                "{}",
                serde_json::json!({
                    "id": enrolment.citizen_id,
                    "username": username,
                    "totp_uri": enrolment.otpauth_uri.as_str(),
                    "deletion_code": enrolment.deletion_code.as_str(),
                })
            );
            Ok(())
        }
        Command::Client(ClientCommand::Add {
            name,
            redirect_uris,
            logo,
        }) => {
            let services = admin_services(&config, store)?;
            let new = services
                .register_client(&name, &redirect_uris, logo.as_deref())
                .await
                .map_err(refusal)?;
            println!(
                "{}",
                serde_json::json!({
                    "client_id": new.client.id,
                    "client_secret": new.secret.as_str(),
                    "name": new.client.name,
                    "redirect_uris": new.client.redirect_uris,
                    "logo_url": new.client.logo_url,
                })
            );
            Ok(())
        }
        Command::Client(ClientCommand::List) => {
            for c in store.clients().await? {
                println!(
                    "{}",
                    serde_json::json!({
                        "client_id": c.id,
                        "name": c.name,
                        "redirect_uris": c.redirect_uris,
                        "logo_url": c.logo_url,
                        "created_at": c.created_at,
                    })
                );
            }
            Ok(())
        }
        Command::Keys(KeysCommand::Rotate) => {
            let services = admin_services(&config, store)?;
            let kid = services.rotate_signing_key().await.map_err(refusal)?;
            println!("{}", serde_json::json!({ "active_kid": kid }));
            Ok(())
        }
        Command::Keys(KeysCommand::List) => {
            let services = admin_services(&config, store)?;
            println!("{}", services.jwks().await.map_err(refusal)?);
            Ok(())
        }
        Command::Outbox(OutboxCommand::Status) => {
            let services = admin_services(&config, store)?;
            let report = services.outbox_report().await.map_err(refusal)?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(())
        }
        Command::Outbox(OutboxCommand::Retry) => {
            let services = admin_services(&config, store)?;
            let retried = services.retry_failed_deliveries().await.map_err(refusal)?;
            println!("{}", serde_json::json!({ "retried": retried }));
            Ok(())
        }
        Command::Citizen(CitizenCommand::Notify {
            username,
            title,
            body,
        }) => {
            let services = admin_services(&config, store)?;
            services
                .notify_citizen(&username, &title, &body)
                .await
                .map_err(refusal)?;
            println!(
                "{}",
                serde_json::json!({ "username": username, "notified": true })
            );
            Ok(())
        }
        Command::Citizen(CitizenCommand::SetBok { username }) => {
            let bok = read_secret("BOK: ", "The same BOK again: ")?;
            bok::set_bok(&store, &username, &bok)
                .await
                .map_err(refusal)?;
            println!(
                "{}",
                serde_json::json!({ "username": username, "bok_set": true })
            );
            Ok(())
        }
        Command::Clerk(ClerkCommand::Add {
            username,
            name,
            office,
        }) => {
            let password = read_secret("Password: ", "The same password again: ")?;
            let enrolment = clerks::add_clerk(
                &store,
                SystemClock.now(),
                &username,
                &name,
                &office,
                &password,
            )
            .await
            .map_err(refusal)?;
            println!(
                "{}",
                serde_json::json!({
                    "id": enrolment.clerk_id,
                    "username": username,
                    "full_name": name.trim(),
                    "office_name": office.trim(),
                    "totp_uri": enrolment.otpauth_uri.as_str(),
                })
            );
            Ok(())
        }
        Command::Clerk(ClerkCommand::TotpReset { username }) => {
            let uri = clerks::reset_clerk_totp(&store, &username)
                .await
                .map_err(refusal)?;
            println!(
                "{}",
                serde_json::json!({ "username": username, "totp_uri": uri.as_str() })
            );
            Ok(())
        }
        Command::Clerk(ClerkCommand::List) => {
            for c in store.list_clerks().await? {
                println!(
                    "{}",
                    serde_json::json!({
                        "id": c.id,
                        "username": c.username,
                        "full_name": c.full_name,
                        "office_name": c.office_name,
                        "totp_enrolled": c.totp_secret.is_some(),
                        "created_at": c.created_at,
                    })
                );
            }
            Ok(())
        }
        Command::Citizen(CitizenCommand::List) => {
            for c in store.list_citizens().await? {
                println!(
                    "{}",
                    serde_json::json!({
                        "id": c.id,
                        "username": c.username,
                        "full_name": c.full_name,
                        "email": c.email,
                        "totp_enrolled": c.totp_secret.is_some(),
                        "created_at": c.created_at,
                    })
                );
            }
            Ok(())
        }
    }
}

/// The flows, for admin commands (they never serve, so the origin is only a label here).
fn admin_services(
    config: &Config,
    store: Store,
) -> anyhow::Result<civkey_server::services::Services> {
    let origin = config.public_origin(config.listen)?;
    Ok(AppState::new(origin, store).services().clone())
}

/// A secret for an admin command: at a terminal, asked twice without echo; otherwise the first
/// line of standard input. Never an argument, so it stays out of `ps` and shell history.
fn read_secret(prompt: &str, again: &str) -> anyhow::Result<Zeroizing<String>> {
    if std::io::stdin().is_terminal() {
        let first = Zeroizing::new(rpassword::prompt_password(prompt).context("cannot read it")?);
        let second = Zeroizing::new(rpassword::prompt_password(again).context("cannot read it")?);
        if first != second {
            bail!("the two entries differ; nothing was changed");
        }
        return Ok(first);
    }
    let mut text = Zeroizing::new(String::new());
    std::io::stdin()
        .read_to_string(&mut text)
        .context("cannot read standard input")?;
    let line = text.lines().next().unwrap_or_default();
    Ok(Zeroizing::new(line.to_string()))
}

fn refusal(e: ServiceError) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

async fn serve(
    config: &Config,
    delivery: &DeliveryArgs,
    store: Store,
    demo: bool,
) -> anyhow::Result<()> {
    let policy = config.bok_policy()?;
    let onboarding_ttl = config.onboarding_ttl()?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {} (is another server running there?)",
                config.listen
            )
        })?;
    let bound = listener.local_addr()?;
    let origin = config.public_origin(bound)?;
    if demo {
        let existing = store.citizen_by_username(DEMO_USERNAME).await?;
        match existing {
            Some(c) => {
                let uri = c.totp_secret.map(|s| {
                    format!("otpauth://totp/civkey:{DEMO_USERNAME}?secret={s}&issuer=civkey")
                });
                print_demo(&origin, uri.as_deref(), None);
            }
            None => {
                let e = citizens::add_citizen(
                    &store,
                    SystemClock.now(),
                    DEMO_USERNAME,
                    "Jana Nováková (demo)",
                    Some("demo@civkey.invalid"),
                    DEMO_PASSWORD,
                )
                .await
                .map_err(refusal)?;
                print_demo(&origin, Some(&e.otpauth_uri), Some(&e.deletion_code));
            }
        }
        demo_counter(&store, &origin).await?;
    } else if store.list_citizens().await?.is_empty() {
        tracing::warn!("no citizens yet: add one with `civkey-server citizen add`");
    }
    if origin.as_str().starts_with("http://") && !origin.is_loopback() {
        bail!("refusing to serve plain http on a non-loopback origin");
    }
    let mailer = match &config.smtp_url {
        Some(url) => Mailer::smtp(url, &config.mail_from).map_err(anyhow::Error::msg)?,
        None => {
            let mailbox = config.data_dir.join("mailbox.txt");
            tracing::warn!(mailbox = %mailbox.display(), "no SMTP server configured: e-mail goes to the mailbox file");
            if demo {
                println!("  e-mail codes are written to {}", mailbox.display());
            }
            Mailer::Mailbox(mailbox)
        }
    };
    let services = Services::new(store, Arc::new(SystemClock), origin.clone());
    let state = AppState::from_services(
        services
            .with_bok_policy(policy)
            .with_onboarding_ttl(onboarding_ttl),
    );
    let sms = match &delivery.sms_gateway_url {
        Some(url) => {
            let parsed = url::Url::parse(url).context("invalid --sms-gateway-url")?;
            let loopback = matches!(parsed.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
            if parsed.scheme() != "https" && !(parsed.scheme() == "http" && loopback) {
                bail!("the SMS gateway must be https (plain http only on this computer)");
            }
            // The token only from the environment, so it never shows in a process list.
            let token = std::env::var("CIVKEY_SMS_GATEWAY_TOKEN")
                .ok()
                .filter(|t| !t.is_empty())
                .map(Zeroizing::new);
            Some(delivery::SmsGateway {
                url: url.clone(),
                token,
            })
        }
        None => {
            tracing::warn!("no SMS gateway configured: SMS notifications wait in the outbox");
            None
        }
    };
    delivery::spawn_worker(
        state.services().clone(),
        delivery::Delivery::new(
            mailer,
            sms,
            std::time::Duration::from_secs(delivery.delivery_timeout_secs),
            delivery.delivery_retry_secs,
        ),
        std::time::Duration::from_secs(5),
    );
    devices::spawn_housekeeping(state.services().clone(), std::time::Duration::from_secs(60));
    tracing::info!(%origin, "listening on {bound}");
    let listener = civkey_server::without_delay(listener);
    axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
    .context("server failed")
}

/// The demo clerk's login name and password, and the demo citizen's BOK (printed by
/// `civkey-server demo`).
const DEMO_CLERK: &str = "clerk";
const DEMO_CLERK_PASSWORD: &str = "civkey-demo-clerk-password";
const DEMO_BOK: &str = "123456";

/// The demo's office counter: a clerk (made on first start, with an authenticator whose URI is
/// printed at every start) and a BOK for the demo citizen (set when it has none), so the BOK-pad
/// and in-person onboarding can be tried at once.
async fn demo_counter(store: &Store, origin: &civkey_proto::Origin) -> anyhow::Result<()> {
    let existing = store.clerk_by_username(DEMO_CLERK).await?;
    let totp_uri = match existing {
        None => {
            clerks::add_clerk(
                store,
                SystemClock.now(),
                DEMO_CLERK,
                "Eva Úřednice (demo)",
                "Czech POINT (demo)",
                DEMO_CLERK_PASSWORD,
            )
            .await
            .map_err(refusal)?
            .otpauth_uri
        }
        // The same authenticator at every start of the demo; a demo clerk from before the
        // second factor gets one now.
        Some(clerk) => match clerk
            .totp_secret
            .as_deref()
            .and_then(|secret| clerks::clerk_otpauth_uri(DEMO_CLERK, secret))
        {
            Some(uri) => uri,
            None => clerks::reset_clerk_totp(store, DEMO_CLERK)
                .await
                .map_err(refusal)?,
        },
    };
    let has_bok = store
        .bok_citizen_by_username(DEMO_USERNAME)
        .await?
        .is_some_and(|c| c.bok_hash.is_some());
    if !has_bok {
        bok::set_bok(store, DEMO_USERNAME, DEMO_BOK)
            .await
            .map_err(refusal)?;
    }
    if !has_bok {
        println!("  the demo citizen's BOK (for the BOK-pad): {DEMO_BOK}");
    }
    println!(
        "  the demo clerk's authenticator (add to any TOTP app, or `civkey inspect`): {}",
        totp_uri.as_str()
    );
    println!(
        "  office counter: {origin}/counter as {DEMO_CLERK} / {DEMO_CLERK_PASSWORD} and the code of that authenticator"
    );
    Ok(())
}

fn print_demo(origin: &civkey_proto::Origin, totp_uri: Option<&str>, deletion_code: Option<&str>) {
    println!("civkey demo server: open {origin}/ in a browser (Ctrl+C stops it)");
    println!("  demo citizen: {DEMO_USERNAME} / {DEMO_PASSWORD}");
    if let Some(uri) = totp_uri {
        println!("  authenticator (add to any TOTP app, or `civkey inspect`): {uri}");
    }
    if let Some(code) = deletion_code {
        println!("  TOTP deletion code (shown once): {code}");
    }
}
