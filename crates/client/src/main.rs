//! `civkey`: the app's core on the command line.

use std::process::ExitCode;

use civkey_client::{locale_from_env, CodeSummary};
use civkey_i18n::tr_args;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "civkey",
    version,
    about = "civkey: your citizen's mobile key on the command line"
)]
struct Cli {
    /// Print one JSON object per line instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Say what a scanned or pasted code is (pairing, login, one-time code account, export).
    Inspect {
        /// The text of the QR code or link.
        text: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let locale = locale_from_env();
    match cli.command {
        Command::Inspect { text } => match CodeSummary::read(&text) {
            Ok(summary) if cli.json => {
                println!("{}", serde_json::json!(summary));
                ExitCode::SUCCESS
            }
            Ok(summary) => {
                println!("{}", summary.to_text(locale));
                ExitCode::SUCCESS
            }
            Err(civkey_client::ClientError::Unreadable(reason)) => {
                if cli.json {
                    println!(
                        "{}",
                        serde_json::json!({"error": "unreadable", "message": reason.to_string()})
                    );
                } else {
                    eprintln!(
                        "{}",
                        tr_args(
                            locale,
                            "cli.error.unreadable",
                            &[("reason", &reason.to_string())]
                        )
                    );
                }
                ExitCode::FAILURE
            }
        },
    }
}
