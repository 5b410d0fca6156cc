//! `civkey-server`: parses configuration and serves [`civkey_server::router`].

use std::net::SocketAddr;

use anyhow::Context;
use civkey_proto::Origin;
use civkey_server::{router, AppState};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "civkey-server",
    version,
    about = "The civkey companion identity server"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the portal and the app API.
    Serve {
        /// Address to listen on.
        #[arg(long, env = "CIVKEY_LISTEN", default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// The origin citizens and apps use to reach this server (default: http://LISTEN).
        #[arg(long, env = "CIVKEY_PUBLIC_URL")]
        public_url: Option<String>,
    },
    /// Serve a demonstration instance on 127.0.0.1:8080 and print how to use it.
    Demo {
        /// Address to listen on.
        #[arg(long, env = "CIVKEY_LISTEN", default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CIVKEY_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let cli = Cli::parse();
    let (listen, public_url, demo) = match cli.command {
        Command::Serve { listen, public_url } => (listen, public_url, false),
        Command::Demo { listen } => (listen, None, true),
    };
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen} (is another server running there?)"))?;
    let bound = listener.local_addr()?;
    let public_url = public_url.unwrap_or_else(|| format!("http://{bound}"));
    let origin = Origin::normalise(&public_url)
        .with_context(|| format!("--public-url {public_url:?} is not a usable origin"))?;
    if demo {
        println!("civkey demo server: open {origin}/ in a browser (Ctrl+C stops it)");
    }
    tracing::info!(%origin, "listening on {bound}");
    axum::serve(listener, router(AppState::new(origin)))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .context("server failed")
}
