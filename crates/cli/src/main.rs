//! `civkey`: the app's core on the command line.
//!
//! Human output goes to stdout (results) and stderr (errors); with `--json` every line on stdout is
//! one JSON object, errors included (`{"error": "<code>", "message": "…"}`). Exit status: 0 done,
//! 1 refused or failed, 2 usage; `civkey bok wait` adds 3 not verified, 4 blocked, 5 no request
//! in time (see `bok`).

mod bok;
mod totp;

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use civkey_client::keystore::OsKeyStore;
use civkey_client::onboarding::OnboardingStarted;
use civkey_client::pairing::PairingStarted;
use civkey_client::profile::{Forget, Identity, Profile};
use civkey_client::scan::{self, Camera};
use civkey_client::{locale_from_env, this_computer, ClientError, CodeSummary};
use civkey_i18n::{tr, tr_args, utc_minutes, Locale};
use civkey_proto::device::{DeviceName, PushAuthSecret, PushEndpoint, PushKeys, PushPublicKey};
use civkey_proto::sign::Decision;
use civkey_proto::{Origin, ScannedCode};
use clap::{Parser, Subcommand};
use serde_json::json;

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
    /// Where civkey keeps its state (which identities this device holds; keys stay in the OS
    /// keystore). Default: $XDG_DATA_HOME/civkey or ~/.local/share/civkey.
    #[arg(long, global = true, env = "CIVKEY_PROFILE", value_name = "DIR")]
    profile: Option<PathBuf>,
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
    /// Connect this device to your identity: scan the portal's "Connect mobile key" QR code
    /// (civkey scan), then compare the confirmation code with the browser's.
    Pair {
        /// The pairing link (civkey://pair?…), or `-` to read it from stdin.
        uri: String,
        /// The name the portal shows for this device (default: the host name).
        #[arg(long)]
        name: Option<String>,
    },
    /// No account yet: get one at an office counter (Czech POINT). Prints an identification code
    /// to show the clerk with your identity document, waits, and makes this device the new
    /// account's mobile key.
    Onboard {
        /// The civkey server (https://…), where the office will create the account.
        server: String,
        /// The name the portal shows for this device (default: the host name).
        #[arg(long)]
        name: Option<String>,
    },
    /// Read QR codes from image files, or from the camera with --camera.
    Scan {
        /// PNG or JPEG files.
        #[arg(required_unless_present = "camera", conflicts_with = "camera")]
        images: Vec<PathBuf>,
        /// Read from the camera until a civkey or otpauth code is seen.
        #[arg(long)]
        camera: bool,
        /// Which camera (default: the first).
        #[arg(long, requires = "camera", value_name = "N")]
        camera_index: Option<u32>,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 60, value_name = "SECONDS")]
        timeout: u64,
    },
    /// Log in to a service: open a scanned login link (civkey://login?…), show which service
    /// asks, and approve or deny it with this device's key.
    Login {
        /// The login link, or `-` to read it from stdin.
        uri: String,
        /// Approve without asking.
        #[arg(long, conflicts_with = "deny")]
        approve: bool,
        /// Deny without asking.
        #[arg(long)]
        deny: bool,
    },
    /// List the identities this device holds.
    Keys,
    /// One-time codes (TOTP/HOTP): add, list, show codes, import from other apps, back up.
    Totp {
        #[command(subcommand)]
        command: totp::TotpCommand,
    },
    /// The BOK-pad: answer an office's request for your security personal code.
    Bok {
        #[command(subcommand)]
        command: bok::BokCommand,
    },
    /// Push notifications: tell the server where to push this device's events (a UnifiedPush or
    /// WebPush endpoint), or to stop.
    Push {
        #[command(subcommand)]
        command: PushCommand,
    },
    /// Forget an identity: disconnect its key at the server and delete it from the keystore.
    Forget {
        /// The identity's id (its first characters are enough) or its server's origin.
        id: String,
        /// Only forget it on this device, without telling the server (then disconnect the key in
        /// the portal).
        #[arg(long)]
        local: bool,
    },
}

#[derive(Subcommand)]
enum PushCommand {
    /// Have the server POST this device's events (logins, BOK requests, notices) to URL, the
    /// endpoint a push distributor gave (https; plain http only on this computer).
    Set {
        /// The push endpoint.
        url: String,
        /// The subscription's public key (`keys.p256dh`, base64url): with it and --auth the
        /// server encrypts every push (RFC 8291), so the push service sees only ciphertext.
        #[arg(long, value_name = "KEY", requires = "auth")]
        p256dh: Option<String>,
        /// The subscription's authentication secret (`keys.auth`, base64url).
        #[arg(long, value_name = "SECRET", requires = "p256dh")]
        auth: Option<String>,
        /// Which identity (its id's first characters, or its server's origin); needed when this
        /// device holds several.
        #[arg(long, value_name = "ID")]
        identity: Option<String>,
    },
    /// Stop pushes to this device (the event stream still works while an app listens).
    Clear {
        /// Which identity (its id's first characters, or its server's origin); needed when this
        /// device holds several.
        #[arg(long, value_name = "ID")]
        identity: Option<String>,
    },
}

/// Writes results and errors as text or JSON lines.
struct Out {
    json: bool,
    locale: Locale,
}

/// Writes a line to stdout. A reader that went away (`civkey scan … | head -1`) is not an error
/// worth a panic: the outcome is still told by the exit status.
fn say(line: &str) {
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

/// Writes a line to stderr, likewise.
fn warn(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

impl Out {
    fn text(&self, line: &str) {
        say(line);
    }

    fn event(&self, value: serde_json::Value) {
        say(&value.to_string());
    }

    fn fail(&self, error: &ClientError) -> ExitCode {
        self.fail_with(error.code(), &error.describe(self.locale))
    }

    fn fail_with(&self, code: &str, message: &str) -> ExitCode {
        if self.json {
            say(&json!({"error": code, "message": message}).to_string());
        } else {
            warn(message);
        }
        ExitCode::FAILURE
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let out = Out {
        json: cli.json,
        locale: locale_from_env(),
    };
    match cli.command {
        Command::Inspect { text } => inspect(&out, &text),
        Command::Scan {
            images,
            camera,
            camera_index,
            timeout,
        } => {
            if camera {
                scan_camera(&out, camera_index, Duration::from_secs(timeout))
            } else {
                scan_images(&out, &images)
            }
        }
        Command::Pair { uri, name } => match open_profile(&out, cli.profile) {
            Ok(profile) => run(&out, pair(&out, &profile, uri, name)),
            Err(code) => code,
        },
        Command::Onboard { server, name } => match open_profile(&out, cli.profile) {
            Ok(profile) => run(&out, onboard(&out, &profile, server, name)),
            Err(code) => code,
        },
        Command::Login { uri, approve, deny } => match open_profile(&out, cli.profile) {
            Ok(profile) => {
                let answer = match (approve, deny) {
                    (true, _) => Some(Decision::Approve),
                    (_, true) => Some(Decision::Deny),
                    _ => None,
                };
                run(&out, login(&out, &profile, uri, answer))
            }
            Err(code) => code,
        },
        Command::Keys => match open_profile(&out, cli.profile) {
            Ok(profile) => keys(&out, &profile),
            Err(code) => code,
        },
        Command::Totp { command } => match open_profile(&out, cli.profile) {
            Ok(profile) => totp::run(&out, &profile, command),
            Err(code) => code,
        },
        Command::Bok { command } => match open_profile(&out, cli.profile) {
            Ok(profile) => run(&out, bok::run(&out, &profile, command)),
            Err(code) => code,
        },
        Command::Push { command } => match open_profile(&out, cli.profile) {
            Ok(profile) => run(&out, push(&out, &profile, command)),
            Err(code) => code,
        },
        Command::Forget { id, local } => match open_profile(&out, cli.profile) {
            Ok(profile) => run(&out, forget(&out, &profile, id, local)),
            Err(code) => code,
        },
    }
}

/// The profile in `dir` (or the default place), keys in the OS keystore.
fn open_profile(out: &Out, dir: Option<PathBuf>) -> Result<Profile, ExitCode> {
    let Some(dir) = dir.or_else(default_profile_dir) else {
        return Err(out.fail_with("profile", tr(out.locale, "cli.error.no_profile_dir")));
    };
    Profile::open(dir, Arc::new(OsKeyStore::new())).map_err(|e| out.fail(&e))
}

/// Runs `flow` on a runtime; Ctrl-C stops it cleanly (a pairing in progress deletes its new key
/// on the way out).
fn run(out: &Out, flow: impl std::future::Future<Output = ExitCode>) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return out.fail_with("internal", &e.to_string()),
    };
    let code = runtime.block_on(async {
        tokio::select! {
            code = flow => code,
            _ = tokio::signal::ctrl_c() => {
                out.fail_with("interrupted", tr(out.locale, "cli.interrupted"))
            }
        }
    });
    // A thread still reading the terminal (`civkey bok wait` stopped with Ctrl-C) is not waited for.
    runtime.shutdown_background();
    code
}

/// `$XDG_DATA_HOME/civkey`, `~/.local/share/civkey`; `%APPDATA%\civkey` on Windows;
/// `~/Library/Application Support/civkey` on macOS.
fn default_profile_dir() -> Option<PathBuf> {
    let var = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if cfg!(windows) {
        return var("APPDATA").map(|d| d.join("civkey"));
    }
    if cfg!(target_os = "macos") {
        return var("HOME").map(|h| h.join("Library/Application Support/civkey"));
    }
    var("XDG_DATA_HOME")
        .or_else(|| var("HOME").map(|h| h.join(".local/share")))
        .map(|d| d.join("civkey"))
}

fn inspect(out: &Out, text: &str) -> ExitCode {
    match CodeSummary::read(text) {
        Ok(summary) if out.json => {
            out.event(json!(summary));
            ExitCode::SUCCESS
        }
        Ok(summary) => {
            out.text(&summary.to_text(out.locale));
            ExitCode::SUCCESS
        }
        Err(e) => out.fail(&e),
    }
}

/// The argument, or the first line of stdin for `-`.
fn argument_or_stdin(text: String) -> Result<String, std::io::Error> {
    if text != "-" {
        return Ok(text);
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim().to_string())
}

async fn login(out: &Out, profile: &Profile, uri: String, answer: Option<Decision>) -> ExitCode {
    let uri = match argument_or_stdin(uri) {
        Ok(u) => u,
        Err(e) => return out.fail_with("unreadable", &e.to_string()),
    };
    let opened = match profile.open_login(&uri).await {
        Ok(o) => o,
        Err(e) => return out.fail(&e),
    };
    let info = &opened.info;
    let account = opened.identity.account_name.as_deref().unwrap_or("—");
    if out.json {
        out.event(json!({
            "event": "login_request",
            "service_id": info.service_id,
            "service_name": info.service_name,
            "service_origin": info.service_origin,
            "account_name": account,
            "started_at": info.started_at,
            "expires_at": info.expires_at,
        }));
    } else {
        out.text(&tr_args(
            out.locale,
            "cli.login.asks",
            &[
                ("service", &printable(&info.service_name)),
                ("origin", info.service_origin.as_str()),
                ("account", account),
                ("at", &utc_minutes(info.started_at)),
            ],
        ));
    }
    let decision = match answer {
        Some(d) => d,
        None if std::io::stdin().is_terminal() && !out.json => {
            let _ = write!(
                std::io::stdout(),
                "{}",
                tr(out.locale, "cli.login.question")
            );
            let _ = std::io::stdout().flush();
            let mut line = String::new();
            let _ = std::io::stdin().lock().read_line(&mut line);
            let yes = tr(out.locale, "cli.login.yes");
            if line.trim().eq_ignore_ascii_case(yes) {
                Decision::Approve
            } else {
                Decision::Deny
            }
        }
        None => return out.fail_with("no_answer", tr(out.locale, "cli.login.need_answer")),
    };
    match profile.decide_login(&opened, decision).await {
        Ok(decided) => {
            let approved = decided == Decision::Approve;
            if out.json {
                out.event(json!({
                    "event": if approved { "approved" } else { "denied" },
                    "service_name": info.service_name,
                }));
            } else {
                let key = if approved {
                    "cli.login.approved"
                } else {
                    "cli.login.denied"
                };
                out.text(&tr_args(
                    out.locale,
                    key,
                    &[("service", &printable(&info.service_name))],
                ));
            }
            ExitCode::SUCCESS
        }
        Err(e) => out.fail(&e),
    }
}

async fn pair(out: &Out, profile: &Profile, uri: String, name: Option<String>) -> ExitCode {
    let uri = match argument_or_stdin(uri) {
        Ok(u) => u,
        Err(e) => return out.fail_with("unreadable", &e.to_string()),
    };
    let device = match this_device(name) {
        Ok(d) => d,
        Err(e) => return out.fail(&e),
    };
    let on_code = |started: &PairingStarted| {
        if out.json {
            out.event(json!({
                "event": "confirmation_code",
                "origin": started.origin,
                "confirmation_code": started.confirmation_code.to_string(),
                "expires_at": started.expires_at,
            }));
        } else {
            out.text(&tr_args(
                out.locale,
                "cli.pair.code",
                &[("code", &started.confirmation_code.to_string())],
            ));
            out.text(&tr_args(
                out.locale,
                "cli.pair.compare",
                &[
                    ("origin", started.origin.as_str()),
                    ("until", &utc_minutes(started.expires_at)),
                ],
            ));
        }
        let _ = std::io::stdout().flush();
    };
    match profile.pair(&uri, &device, on_code).await {
        Ok(identity) => {
            says_identity_is_stored(out, &identity, "paired", "cli.pair.done");
            ExitCode::SUCCESS
        }
        Err(e) => out.fail(&e),
    }
}

async fn onboard(out: &Out, profile: &Profile, server: String, name: Option<String>) -> ExitCode {
    let origin = match Origin::parse(server.trim()) {
        Ok(o) => o,
        Err(e) => return out.fail(&e.into()),
    };
    let device = match this_device(name) {
        Ok(d) => d,
        Err(e) => return out.fail(&e),
    };
    let on_code = |started: &OnboardingStarted| {
        let code = started.identification_code.grouped();
        if out.json {
            out.event(json!({
                "event": "identification_code",
                "origin": started.origin,
                "identification_code": code,
                "expires_at": started.expires_at,
            }));
        } else {
            out.text(&tr_args(out.locale, "cli.onboard.code", &[("code", &code)]));
            out.text(&tr_args(
                out.locale,
                "cli.onboard.instructions",
                &[("until", &utc_minutes(started.expires_at))],
            ));
        }
        let _ = std::io::stdout().flush();
    };
    match profile.onboard(&origin, &device, on_code).await {
        Ok(identity) => {
            says_identity_is_stored(out, &identity, "onboarded", "cli.onboard.done");
            ExitCode::SUCCESS
        }
        Err(e) => out.fail(&e),
    }
}

/// This computer as a device, named `name` when given.
fn this_device(
    name: Option<String>,
) -> Result<civkey_client::server_api::DeviceDescription, ClientError> {
    let mut device = this_computer()?;
    if let Some(name) = name {
        device.name = DeviceName::parse(&name)?;
    }
    Ok(device)
}

/// Says that `identity` was stored: the JSON `event`, or the catalogue's `key` (with the origin,
/// the account and the identity's id).
fn says_identity_is_stored(out: &Out, identity: &Identity, event: &str, key: &str) {
    if out.json {
        out.event(json!({"event": event, "identity": identity_json(identity)}));
    } else {
        out.text(&tr_args(
            out.locale,
            key,
            &[
                ("origin", identity.origin.as_str()),
                ("account", identity.account_name.as_deref().unwrap_or("—")),
                ("id", &identity.short_id()),
            ],
        ));
    }
}

fn identity_json(identity: &Identity) -> serde_json::Value {
    json!({
        "id": identity.short_id(),
        "origin": identity.origin,
        "device_id": identity.device_id,
        "device_name": identity.device_name,
        "account_name": identity.account_name,
        "paired_at": identity.paired_at,
        "key_fingerprint": identity.public_key.fingerprint(),
    })
}

fn keys(out: &Out, profile: &Profile) -> ExitCode {
    let identities = match profile.identities() {
        Ok(i) => i,
        Err(e) => return out.fail(&e),
    };
    if out.json {
        for identity in &identities {
            out.event(identity_json(identity));
        }
    } else if identities.is_empty() {
        out.text(tr(out.locale, "cli.keys.none"));
    } else {
        for identity in &identities {
            out.text(&tr_args(
                out.locale,
                "cli.keys.row",
                &[
                    ("id", &identity.short_id()),
                    ("origin", identity.origin.as_str()),
                    ("account", identity.account_name.as_deref().unwrap_or("—")),
                    ("device", &identity.device_name),
                    ("paired", &utc_minutes(identity.paired_at)),
                ],
            ));
        }
    }
    ExitCode::SUCCESS
}

/// The identity `selector` names, else the only one this device holds.
pub(crate) fn choose_identity(
    profile: &Profile,
    selector: Option<&str>,
) -> Result<Identity, ClientError> {
    if let Some(selector) = selector {
        return profile.find(selector);
    }
    let mut all = profile.identities()?;
    match all.len() {
        0 => Err(ClientError::UnknownIdentity("—".into())),
        1 => Ok(all.remove(0)),
        _ => Err(ClientError::AmbiguousIdentity("--identity".into())),
    }
}

/// The subscription keys from `--p256dh` and `--auth` (clap requires both or neither).
fn push_keys(
    p256dh: Option<String>,
    auth: Option<String>,
) -> Result<Option<PushKeys>, civkey_proto::Error> {
    match (p256dh, auth) {
        (Some(p256dh), Some(auth)) => Ok(Some(PushKeys {
            p256dh: PushPublicKey::parse(p256dh.trim())?,
            auth: PushAuthSecret::parse(auth.trim())?,
        })),
        _ => Ok(None),
    }
}

async fn push(out: &Out, profile: &Profile, command: PushCommand) -> ExitCode {
    let (endpoint, keys, selector) = match command {
        PushCommand::Set {
            url,
            identity,
            p256dh,
            auth,
        } => match (PushEndpoint::parse(url.trim()), push_keys(p256dh, auth)) {
            (Ok(endpoint), Ok(keys)) => (Some(endpoint), keys, identity),
            (Err(e), _) | (_, Err(e)) => {
                let reason = e.to_string();
                let message = tr_args(out.locale, "cli.push.bad_url", &[("reason", &reason)]);
                return out.fail_with("unreadable", &message);
            }
        },
        PushCommand::Clear { identity } => (None, None, identity),
    };
    let identity = match choose_identity(profile, selector.as_deref()) {
        Ok(i) => i,
        Err(ClientError::UnknownIdentity(_)) if selector.is_none() => {
            return out.fail_with("no_identity", tr(out.locale, "cli.push.no_identity"))
        }
        Err(e) => return out.fail(&e),
    };
    let shown = endpoint.as_ref().map(|e| e.as_str().to_string());
    if let Err(e) = profile.register_push(&identity, endpoint, keys).await {
        return out.fail(&e);
    }
    if out.json {
        out.event(json!({
            "event": if shown.is_some() { "push_set" } else { "push_cleared" },
            "identity": identity.short_id(),
            "origin": identity.origin,
            "endpoint": shown,
        }));
    } else {
        let origin = identity.origin.as_str();
        let id = identity.short_id();
        match &shown {
            Some(url) => out.text(&tr_args(
                out.locale,
                "cli.push.set",
                &[("origin", origin), ("id", &id), ("url", &printable(url))],
            )),
            None => out.text(&tr_args(
                out.locale,
                "cli.push.cleared",
                &[("origin", origin), ("id", &id)],
            )),
        }
    }
    ExitCode::SUCCESS
}

async fn forget(out: &Out, profile: &Profile, id: String, local: bool) -> ExitCode {
    let how = if local {
        Forget::LocalOnly
    } else {
        Forget::TellServer
    };
    match profile.forget(&id, how).await {
        Ok(done) => {
            if out.json {
                out.event(json!({
                    "event": "forgotten",
                    "identity": identity_json(&done.identity),
                    "server_told": done.server_told,
                }));
            } else {
                let key = if done.server_told {
                    "cli.forget.done"
                } else {
                    "cli.forget.done_local"
                };
                out.text(&tr_args(
                    out.locale,
                    key,
                    &[
                        ("id", &done.identity.short_id()),
                        ("origin", done.identity.origin.as_str()),
                    ],
                ));
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            let mut message = e.describe(out.locale);
            if !local && matches!(e, ClientError::Api(_) | ClientError::KeyStore(_)) {
                message.push('\n');
                message.push_str(&tr_args(
                    out.locale,
                    "cli.forget.local_hint",
                    &[("id", &id)],
                ));
            }
            out.fail_with(e.code(), &message)
        }
    }
}

/// Prints what each image holds; exit 0 when at least one civkey or otpauth code was read.
fn scan_images(out: &Out, images: &[PathBuf]) -> ExitCode {
    let mut found = 0usize;
    for path in images {
        match scan::scan_image(path) {
            Ok(texts) if texts.is_empty() => report(out, path, "none", None),
            Ok(texts) => {
                for text in texts {
                    if ScannedCode::parse(&text).is_ok() {
                        found += 1;
                        report(out, path, "code", Some(&text));
                    } else {
                        report(out, path, "other", Some(&text));
                    }
                }
            }
            Err(e) => {
                let e = ClientError::from(e);
                if out.json {
                    out.event(json!({
                        "image": path,
                        "error": e.code(),
                        "message": e.describe(out.locale),
                    }));
                } else {
                    warn(&e.describe(out.locale));
                }
            }
        }
    }
    if found > 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// One line per decoded text: the civkey or otpauth text itself on stdout (so it can be piped to
/// `civkey pair -`), anything else explained on stderr.
fn report(out: &Out, path: &Path, kind: &str, text: Option<&str>) {
    if out.json {
        out.event(json!({"image": path, "kind": kind, "text": text}));
        return;
    }
    let shown = path.display().to_string();
    match (kind, text) {
        ("code", Some(text)) => out.text(text),
        (_, Some(text)) => warn(&tr_args(
            out.locale,
            "cli.scan.other",
            &[("image", &shown), ("text", &printable(text))],
        )),
        _ => warn(&tr_args(out.locale, "cli.scan.none", &[("image", &shown)])),
    }
}

fn scan_camera(out: &Out, index: Option<u32>, timeout: Duration) -> ExitCode {
    let camera = match Camera::open(index) {
        Ok(c) => c,
        Err(e) => return out.fail(&e.into()),
    };
    if !out.json && std::io::stderr().is_terminal() {
        warn(tr(out.locale, "cli.scan.camera_looking"));
    }
    match scan::scan(Box::new(camera), timeout) {
        Ok(text) => {
            if out.json {
                out.event(json!({"kind": "code", "text": text}));
            } else {
                out.text(&text);
            }
            ExitCode::SUCCESS
        }
        Err(e) => out.fail(&e.into()),
    }
}

/// A QR code's text made safe for a terminal: control characters shown as `?`, at most 200
/// characters.
fn printable(text: &str) -> String {
    let mut shown: String = text
        .chars()
        .take(200)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if text.chars().count() > 200 {
        shown.push('…');
    }
    shown
}
