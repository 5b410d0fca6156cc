//! `civkey-server`: reads configuration, opens the store and serves [`civkey_server::router`]
//! ([`serve`]); admin commands ([`admin`]) print JSON. The command line is in [`cli`].

mod admin;
mod cli;
mod key;
mod serve;

use std::io::IsTerminal;

use anyhow::Context;
use civkey_server::config::{Config, FileConfig, LogFormat};
use civkey_server::store::Store;
use clap::Parser;

use cli::{Cli, Command};

fn main() -> std::process::ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run());
    // Tasks still running (a request cut at the shutdown deadline, a password hash) are not
    // waited for.
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) if JSON_LOGS.load(std::sync::atomic::Ordering::Relaxed) => {
            tracing::error!(error = %format!("{e:#}"), "civkey-server failed");
            std::process::ExitCode::FAILURE
        }
        Err(e) => {
            // One line with the chain of causes; no backtrace for operators.
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Whether log lines are JSON (then the last error is one too).
static JSON_LOGS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Logs to standard error as `format` says, filtered by `CIVKEY_LOG`; a panic is logged as an
/// error line (in JSON too, and within the request's span, so with its id).
fn init_logging(format: LogFormat) {
    // PostgreSQL's notices (a migration table that already exists) are not news.
    let filter = tracing_subscriber::EnvFilter::try_from_env("CIVKEY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx::postgres::notice=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => {
            JSON_LOGS.store(true, std::sync::atomic::Ordering::Relaxed);
            builder
                .json()
                .with_current_span(true)
                .with_span_list(false)
                .init()
        }
    }
    std::panic::set_hook(Box::new(|info| {
        tracing::error!(panic = %info, "panicked");
    }));
}

async fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let file = match &cli.config {
        Some(path) => FileConfig::read(path)?,
        None => FileConfig::default(),
    };
    init_logging(cli.log_format.or(file.log_format).unwrap_or_default());
    if let Command::Key(cli::KeyCommand::Generate { out }) = &cli.command {
        return key::generate(out);
    }
    let key_file = cli.key_file.clone().or_else(|| file.key_file.clone());
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
        | Command::Outbox(_)
        | Command::Key(_) => (None, None, None, None),
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
    let config = match &cli.command {
        Command::Serve(a) | Command::Demo(a) => config
            .with_connection_flags(
                a.connections.max_connections,
                a.connections.header_read_timeout_secs,
                a.connections.body_read_timeout_secs,
            )
            .with_trusted_proxy_flags(&a.proxies.trusted_proxies)
            .with_operator_flags(a.metrics_listen, cli.log_format),
        _ => config,
    };
    let kek = key::server_key(
        key_file.as_deref(),
        &config.data_dir,
        matches!(cli.command, Command::Demo(_)),
    )?;
    let store = Store::open(&config.database_url, kek)
        .await
        .with_context(|| {
            format!(
                "cannot open the database {}",
                civkey_server::store::redacted_url(&config.database_url)
            )
        })?;

    match cli.command {
        Command::Serve(a) => serve::serve(&config, &a.delivery, store, false).await,
        Command::Demo(a) => serve::serve(&config, &a.delivery, store, true).await,
        Command::Citizen(command) => admin::citizen(command, &config, store).await,
        Command::Clerk(command) => admin::clerk(command, store).await,
        Command::Client(command) => admin::client(command, &config, store).await,
        Command::Keys(command) => admin::keys(command, &config, store).await,
        Command::Outbox(command) => admin::outbox(command, &config, store).await,
        Command::Key(command) => key::key(command, store).await,
    }
}
