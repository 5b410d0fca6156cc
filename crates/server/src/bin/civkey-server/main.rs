//! `civkey-server`: reads configuration, opens the store and serves [`civkey_server::router`]
//! ([`serve`]); admin commands ([`admin`]) print JSON. The command line is in [`cli`].

mod admin;
mod cli;
mod key;
mod serve;

use std::io::IsTerminal;

use anyhow::Context;
use civkey_server::config::{Config, FileConfig};
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
            .with_trusted_proxy_flags(&a.proxies.trusted_proxies),
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
