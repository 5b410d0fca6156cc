//! `civkey bok wait`: this computer as a BOK-pad. Waits for an office's request, shows which
//! office asks and until when, reads the security personal code (BOK) without echo at a terminal
//! (or one line from stdin with `--stdin` or when stdin is not a terminal), checks it locally
//! (4–10 digits; nothing is sent otherwise) and answers it signed with the device key.
//!
//! Exit status: 0 verified; 1 refused or failed (a BOK that breaks the rules read from stdin, an
//! expired or already answered request, BOK-pad off, …); 2 usage; 3 not verified (the code was
//! wrong); 4 blocked (too many wrong codes); 5 no request came within `--timeout`.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use civkey_client::bok::{self, read_bok};
use civkey_client::profile::{Identity, Profile};
use civkey_client::ClientError;
use civkey_i18n::{tr, tr_args, utc_minutes};
use civkey_proto::bok::{BokOutcome, BokRequest};
use civkey_proto::rules::Bok;
use clap::Subcommand;
use serde_json::json;
use zeroize::Zeroizing;

use super::{choose_identity, printable, warn, Out};

/// Exit status: the code was wrong.
pub(crate) const EXIT_NOT_VERIFIED: u8 = 3;
/// Exit status: the BOK is blocked.
pub(crate) const EXIT_BLOCKED: u8 = 4;
/// Exit status: no request came in time.
pub(crate) const EXIT_NO_REQUEST: u8 = 5;

#[derive(Subcommand)]
pub(crate) enum BokCommand {
    /// Wait for an office's request for your security personal code (BOK), type it (not shown)
    /// and send it signed with this device's key. Exit status: 0 verified, 3 not verified,
    /// 4 blocked, 5 no request in time, 1 other failures.
    Wait {
        /// Which identity (its id's first characters, or its server's origin); needed when this
        /// device holds several.
        #[arg(long, value_name = "ID")]
        identity: Option<String>,
        /// Give up after this many seconds without a request (default: wait until stopped).
        #[arg(long, value_name = "SECONDS")]
        timeout: Option<u64>,
        /// Read the BOK as one line from stdin instead of asking at the terminal.
        #[arg(long)]
        stdin: bool,
    },
}

pub(crate) async fn run(out: &Out, profile: &Profile, command: BokCommand) -> ExitCode {
    match command {
        BokCommand::Wait {
            identity,
            timeout,
            stdin,
        } => wait(out, profile, identity.as_deref(), timeout, stdin).await,
    }
}

async fn wait(
    out: &Out,
    profile: &Profile,
    selector: Option<&str>,
    timeout: Option<u64>,
    from_stdin: bool,
) -> ExitCode {
    let identity = match choose_identity(profile, selector) {
        Ok(i) => i,
        Err(ClientError::UnknownIdentity(_)) if selector.is_none() => {
            return out.fail_with("no_identity", tr(out.locale, "cli.bok.no_identity"))
        }
        Err(e) => return out.fail(&e),
    };
    if out.json {
        out.event(json!({"event": "waiting", "origin": identity.origin}));
    } else {
        out.text(&tr_args(
            out.locale,
            "cli.bok.waiting",
            &[("origin", identity.origin.as_str())],
        ));
    }
    let _ = std::io::stdout().flush();
    let waiting = bok::wait_for_request(profile, &identity);
    let request = match timeout {
        Some(secs) => match tokio::time::timeout(Duration::from_secs(secs), waiting).await {
            Ok(r) => r,
            Err(_) => Err(ClientError::NoBokRequest),
        },
        None => waiting.await,
    };
    let request = match request {
        Ok(r) => r,
        Err(e @ ClientError::NoBokRequest) => {
            out.fail(&e);
            return ExitCode::from(EXIT_NO_REQUEST);
        }
        Err(e) => return out.fail(&e),
    };
    let office = printable(&request.office_name);
    if out.json {
        out.event(json!({
            "event": "bok_request",
            "request_id": request.id,
            "office_name": request.office_name,
            "created_at": request.created_at,
            "expires_at": request.expires_at,
        }));
    } else {
        out.text(&tr_args(
            out.locale,
            "cli.bok.request",
            &[
                ("office", &office),
                ("until", &utc_minutes(request.expires_at)),
            ],
        ));
    }
    let _ = std::io::stdout().flush();
    let at_terminal = !from_stdin && std::io::stdin().is_terminal();
    let bok = match read_the_bok(out, at_terminal).await {
        Ok(b) => b,
        Err(code) => return code,
    };
    answer(out, profile, &identity, &request, &bok).await
}

/// Reads the BOK: at a terminal without echo, asking again after a BOK that breaks the rules;
/// else one line of stdin, refused when it breaks the rules. The reading blocks a thread of its
/// own, so Ctrl-C still stops the command.
async fn read_the_bok(out: &Out, at_terminal: bool) -> Result<Bok, ExitCode> {
    let prompt = tr(out.locale, "cli.bok.prompt").to_string();
    loop {
        let prompt = prompt.clone();
        let read = tokio::task::spawn_blocking(move || -> std::io::Result<Zeroizing<String>> {
            if at_terminal {
                rpassword::prompt_password(prompt).map(Zeroizing::new)
            } else {
                let mut line = Zeroizing::new(String::new());
                std::io::stdin().lock().read_line(&mut line)?;
                Ok(line)
            }
        })
        .await;
        let line = match read {
            Ok(Ok(line)) => line,
            Ok(Err(e)) => return Err(out.fail_with("unreadable", &e.to_string())),
            Err(e) => return Err(out.fail_with("internal", &e.to_string())),
        };
        match read_bok(&line) {
            Ok(bok) => return Ok(bok),
            Err(e) if at_terminal => {
                warn(&e.describe(out.locale));
                warn(tr(out.locale, "cli.bok.again"));
            }
            Err(e) => return Err(out.fail(&e)),
        }
    }
}

async fn answer(
    out: &Out,
    profile: &Profile,
    identity: &Identity,
    request: &BokRequest,
    bok: &Bok,
) -> ExitCode {
    let answered = match bok::answer(profile, identity, request, bok).await {
        Ok(a) => a,
        Err(e) => return out.fail(&e),
    };
    let text = bok::describe_outcome(&answered, out.locale);
    if out.json {
        out.event(json!({
            "event": answered.outcome,
            "attempts_left": answered.attempts_left,
            "message": text,
        }));
    } else {
        out.text(&text);
    }
    match answered.outcome {
        BokOutcome::Verified => ExitCode::SUCCESS,
        BokOutcome::NotVerified => ExitCode::from(EXIT_NOT_VERIFIED),
        BokOutcome::Blocked => ExitCode::from(EXIT_BLOCKED),
    }
}
