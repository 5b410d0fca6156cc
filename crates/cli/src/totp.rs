//! `civkey totp …`: one-time code accounts on the command line, over
//! [`civkey_client::otp::OtpVault`].
//!
//! Secrets are never taken from the command line where other users could see them in `ps`,
//! unless the user puts them there: links and secrets can come from stdin (`-`), passphrases are
//! read from the terminal without echo (twice for a new one) or from stdin with
//! `--passphrase-stdin`.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use civkey_client::otp::backup::KdfParams;
use civkey_client::otp::{
    ImportFile, ImportReport, ImportSet, OtpCode, OtpEntry, OtpError, OtpVault,
};
use civkey_client::profile::{write_private_file, Profile};
use civkey_client::scan::{self, Camera};
use civkey_client::{ClientError, CodeSummary};
use civkey_i18n::{tr, tr_args};
use civkey_proto::otp::{Algorithm, OtpAccount, OtpKind, OtpSecret};
use civkey_proto::ScannedCode;
use clap::{Args, Subcommand};
use serde_json::json;
use zeroize::Zeroizing;

use super::{argument_or_stdin, printable, say, warn, Out};

#[derive(Subcommand)]
pub(crate) enum TotpCommand {
    /// Add an account: from its otpauth:// link, a picture of its QR code, the camera, or typed
    /// in with --account and --secret.
    Add(AddArgs),
    /// List the accounts (without their secrets).
    List,
    /// Show codes: of one account (an HOTP account's counter advances), or of every TOTP account.
    Code {
        /// The account: its id, label, issuer or name, or a part of its label.
        name: Option<String>,
        /// The time to make TOTP codes for, in Unix seconds (default: now).
        #[arg(long, value_name = "UNIX_SECONDS")]
        at: Option<u64>,
        /// Keep showing the codes, refreshed every second, until Ctrl-C.
        #[arg(long, conflicts_with_all = ["at", "name"])]
        watch: bool,
    },
    /// Import accounts from other apps or a civkey backup: a civkey backup, an Aegis export (plain
    /// or encrypted JSON), Google Authenticator export links (otpauth-migration://, one a line, or
    /// pictures of the QR codes), or otpauth:// links one a line. Duplicates and unreadable
    /// accounts are listed; exit status 1 when any account could not be imported.
    Import {
        /// The files (several for a Google export shown as several QR codes).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Read the passphrase of encrypted files from the first line of stdin.
        #[arg(long)]
        passphrase_stdin: bool,
    },
    /// Write an encrypted backup of every account (Argon2id + XChaCha20-Poly1305, protected by a
    /// passphrase), or with --plain an UNENCRYPTED list of otpauth:// links for another app.
    Export {
        /// The file to write.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Write otpauth:// links without encryption (anyone who reads the file can make your
        /// codes). Needs --i-understand-this-is-unencrypted, or a yes at the terminal.
        #[arg(long)]
        plain: bool,
        /// Confirms --plain without asking.
        #[arg(long = "i-understand-this-is-unencrypted", requires = "plain")]
        understood: bool,
        /// Read the new passphrase from the first line of stdin instead of asking twice.
        #[arg(long, conflicts_with = "plain")]
        passphrase_stdin: bool,
        /// Replace FILE if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Change an account's issuer and/or name.
    Rename {
        /// The account.
        name: String,
        /// The new issuer (service name); an empty one removes it.
        #[arg(long)]
        issuer: Option<String>,
        /// The new account name.
        #[arg(long)]
        account: Option<String>,
    },
    /// Move an account to another place in the list.
    Move {
        /// The account.
        name: String,
        /// The new position, from 1.
        #[arg(long, value_name = "POSITION")]
        to: usize,
    },
    /// Delete an account (asks first).
    Delete {
        /// The account.
        name: String,
        /// Delete without asking.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Args)]
pub(crate) struct AddArgs {
    /// The otpauth:// link (or an otpauth-migration:// export link), or `-` to read it from stdin.
    #[arg(conflicts_with_all = ["image", "camera", "account"])]
    uri: Option<String>,
    /// A picture (PNG or JPEG) of the account's QR code.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["camera", "account"])]
    image: Option<PathBuf>,
    /// Read the QR code from the camera.
    #[arg(long, conflicts_with = "account")]
    camera: bool,
    /// Which camera (default: the first).
    #[arg(long, requires = "camera", value_name = "N")]
    camera_index: Option<u32>,
    /// Give up on the camera after this many seconds.
    #[arg(
        long,
        default_value_t = 60,
        value_name = "SECONDS",
        requires = "camera"
    )]
    timeout: u64,
    /// Typed in: the service's name (issuer), e.g. "Ügyfélkapu+".
    #[arg(long, requires = "account")]
    issuer: Option<String>,
    /// Typed in: the account name at the service.
    #[arg(long)]
    account: Option<String>,
    /// Typed in: the secret in base32, or `-` to read it from stdin; without it civkey asks
    /// without echo.
    #[arg(long, requires = "account")]
    secret: Option<String>,
    /// Typed in: SHA1, SHA256 or SHA512.
    #[arg(long, default_value = "SHA1", requires = "account")]
    algorithm: String,
    /// Typed in: digits per code, 6 to 8.
    #[arg(long, default_value_t = 6, requires = "account")]
    digits: u8,
    /// Typed in: seconds per TOTP code.
    #[arg(
        long,
        default_value_t = 30,
        requires = "account",
        conflicts_with = "hotp"
    )]
    period: u32,
    /// Typed in: a counter-based (HOTP) account.
    #[arg(long, requires = "account")]
    hotp: bool,
    /// Typed in: the HOTP counter the next code uses.
    #[arg(long, default_value_t = 0, requires = "hotp")]
    counter: u64,
}

pub(crate) fn run(out: &Out, profile: &Profile, command: TotpCommand) -> ExitCode {
    let vault = profile.otp();
    let result = match command {
        TotpCommand::Add(args) => add(out, &vault, args),
        TotpCommand::List => list(out, &vault),
        TotpCommand::Code { name, at, watch } => match (name, watch) {
            (_, true) => watch_codes(out, profile, &vault),
            (Some(name), false) => code(out, profile, &vault, &name, at),
            (None, false) => {
                let now = at.unwrap_or_else(|| profile.clock().now());
                all_codes(out, &vault, now)
            }
        },
        TotpCommand::Import {
            files,
            passphrase_stdin,
        } => import(out, &vault, &files, passphrase_stdin),
        TotpCommand::Export {
            out: path,
            plain,
            understood,
            passphrase_stdin,
            force,
        } => export(
            out,
            &vault,
            &path,
            plain,
            understood,
            passphrase_stdin,
            force,
        ),
        TotpCommand::Rename {
            name,
            issuer,
            account,
        } => rename(out, &vault, &name, issuer, account),
        TotpCommand::Move { name, to } => move_to(out, &vault, &name, to),
        TotpCommand::Delete { name, yes } => delete(out, &vault, &name, yes),
    };
    result.unwrap_or_else(|code| code)
}

/// A step that already told the user why it stopped.
type Step<T> = Result<T, ExitCode>;

fn fail(out: &Out, error: impl Into<ClientError>) -> ExitCode {
    out.fail(&error.into())
}

fn add(out: &Out, vault: &OtpVault<'_>, args: AddArgs) -> Step<ExitCode> {
    if let Some(account) = &args.account {
        let typed = typed_account(out, &args, account)?;
        return added(out, vault.add(typed));
    }
    let (source, texts) = if let Some(uri) = args.uri {
        let text =
            argument_or_stdin(uri).map_err(|e| out.fail_with("unreadable", &e.to_string()))?;
        (
            tr(out.locale, "cli.totp.source.pasted").to_string(),
            vec![text],
        )
    } else if let Some(image) = &args.image {
        let texts = scan::scan_image(image).map_err(|e| fail(out, e))?;
        let texts: Vec<String> = texts
            .into_iter()
            .filter(|t| {
                matches!(
                    ScannedCode::parse(t),
                    Ok(ScannedCode::Otp(_) | ScannedCode::OtpMigration(_))
                )
            })
            .collect();
        if texts.is_empty() {
            return Err(out.fail_with(
                "not_otp",
                &tr_args(
                    out.locale,
                    "cli.totp.error.no_otp_in_image",
                    &[("image", &image.display().to_string())],
                ),
            ));
        }
        (image.display().to_string(), texts)
    } else if args.camera {
        let camera = Camera::open(args.camera_index).map_err(|e| fail(out, e))?;
        if !out.json && std::io::stderr().is_terminal() {
            warn(tr(out.locale, "cli.scan.camera_looking"));
        }
        let text = scan::scan(Box::new(camera), Duration::from_secs(args.timeout))
            .map_err(|e| fail(out, e))?;
        (
            tr(out.locale, "cli.totp.source.camera").to_string(),
            vec![text],
        )
    } else {
        return Err(out.fail_with("usage", tr(out.locale, "cli.totp.error.add_what")));
    };
    let texts: Vec<Zeroizing<String>> = texts.into_iter().map(Zeroizing::new).collect();
    if let [text] = texts.as_slice() {
        match ScannedCode::parse(text) {
            Ok(ScannedCode::Otp(account)) => return added(out, vault.add(account)),
            Ok(ScannedCode::OtpMigration(_)) => {}
            Ok(other) => {
                let what = CodeSummary::of(&other).to_text(out.locale);
                return Err(out.fail_with(
                    "not_otp",
                    &tr_args(out.locale, "cli.totp.error.not_otp", &[("what", &what)]),
                ));
            }
            Err(e) => return Err(fail(out, e)),
        }
    }
    // A Google export code, or several codes in one picture: an import, with its report.
    let mut set = ImportSet::new();
    let file = ImportFile::from_texts(source, texts.iter().map(|t| t.to_string()).collect());
    file.read_into(None, &mut set).map_err(|e| fail(out, e))?;
    let report = vault.import(set).map_err(|e| fail(out, e))?;
    Ok(print_report(out, &report))
}

fn typed_account(out: &Out, args: &AddArgs, account: &str) -> Step<OtpAccount> {
    let secret = match args.secret.as_deref() {
        Some("-") => read_stdin_line().map_err(|e| out.fail_with("unreadable", &e.to_string()))?,
        Some(secret) => Zeroizing::new(secret.to_string()),
        None if std::io::stdin().is_terminal() => {
            prompt_hidden(out, tr(out.locale, "cli.totp.prompt.secret"))?
        }
        None => {
            return Err(out.fail_with("no_secret", tr(out.locale, "cli.totp.error.need_secret")))
        }
    };
    let secret = OtpSecret::from_base32(&secret).map_err(|e| fail(out, e))?;
    let algorithm = Algorithm::parse(&args.algorithm).map_err(|e| fail(out, e))?;
    let kind = if args.hotp {
        OtpKind::Hotp {
            counter: args.counter,
        }
    } else {
        OtpKind::Totp {
            period: args.period,
        }
    };
    OtpAccount::new(
        kind,
        args.issuer.as_deref(),
        account,
        secret,
        algorithm,
        args.digits,
    )
    .map_err(|e| fail(out, e))
}

fn added(out: &Out, result: Result<OtpEntry, ClientError>) -> Step<ExitCode> {
    let entry = result.map_err(|e| out.fail(&e))?;
    if out.json {
        out.event(json!({"event": "added", "account": entry}));
    } else {
        out.text(&tr_args(
            out.locale,
            "cli.totp.added",
            &[("label", &printable(&entry.label)), ("id", &entry.id)],
        ));
    }
    Ok(ExitCode::SUCCESS)
}

fn list(out: &Out, vault: &OtpVault<'_>) -> Step<ExitCode> {
    let entries = vault.entries().map_err(|e| out.fail(&e))?;
    if out.json {
        for entry in &entries {
            out.event(json!(entry));
        }
    } else if entries.is_empty() {
        out.text(tr(out.locale, "cli.totp.list.none"));
    } else {
        for entry in &entries {
            out.text(&tr_args(
                out.locale,
                "cli.totp.list.row",
                &[
                    ("position", &entry.position.to_string()),
                    ("label", &printable(&entry.label)),
                    ("id", &entry.id),
                    ("kind", &kind_text(out, entry)),
                ],
            ));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn kind_text(out: &Out, entry: &OtpEntry) -> String {
    let digits = entry.digits.to_string();
    let algorithm = entry.algorithm.as_str();
    match entry.kind {
        OtpKind::Totp { period } => tr_args(
            out.locale,
            "cli.totp.kind.totp",
            &[
                ("period", &period.to_string()),
                ("digits", &digits),
                ("algorithm", algorithm),
            ],
        ),
        OtpKind::Hotp { counter } => tr_args(
            out.locale,
            "cli.totp.kind.hotp",
            &[
                ("counter", &counter.to_string()),
                ("digits", &digits),
                ("algorithm", algorithm),
            ],
        ),
    }
}

/// `123 456`, `123 4567`, `1234 5678`: easier to read off and type.
fn grouped(code: &str) -> String {
    let (head, tail) = code.split_at(code.len() / 2);
    format!("{head} {tail}")
}

/// One account's code: the digits alone on stdout (to pipe on); how long it is valid, the next
/// code near the end of its period, or the HOTP counter used, on stderr at a terminal.
fn code(
    out: &Out,
    profile: &Profile,
    vault: &OtpVault<'_>,
    name: &str,
    at: Option<u64>,
) -> Step<ExitCode> {
    let now = at.unwrap_or_else(|| profile.clock().now());
    let code = vault.code(name, now).map_err(|e| out.fail(&e))?;
    if out.json {
        out.event(json!(code));
        return Ok(ExitCode::SUCCESS);
    }
    out.text(&code.code);
    if std::io::stderr().is_terminal() {
        let label = printable(&code.label);
        let line = match (code.remaining, code.counter) {
            (Some(remaining), _) => {
                let mut line = tr_args(
                    out.locale,
                    "cli.totp.code.valid",
                    &[("label", &label), ("remaining", &remaining.to_string())],
                );
                if let Some(next) = &code.next_code {
                    line.push_str(&tr_args(
                        out.locale,
                        "cli.totp.code.next",
                        &[("next", next)],
                    ));
                }
                line
            }
            (None, Some(counter)) => tr_args(
                out.locale,
                "cli.totp.code.hotp_used",
                &[("label", &label), ("counter", &counter.to_string())],
            ),
            (None, None) => label,
        };
        warn(&line);
    }
    Ok(ExitCode::SUCCESS)
}

/// Every account in order: TOTP accounts with their code, HOTP accounts with how to get one.
fn all_codes(out: &Out, vault: &OtpVault<'_>, now: u64) -> Step<ExitCode> {
    let entries = vault.entries().map_err(|e| out.fail(&e))?;
    let codes = vault.codes(now).map_err(|e| out.fail(&e))?;
    if entries.is_empty() && !out.json {
        out.text(tr(out.locale, "cli.totp.list.none"));
    }
    for entry in &entries {
        let code = codes.iter().find(|c| c.id == entry.id);
        if out.json {
            match code {
                Some(code) => out.event(json!(code)),
                None => out.event(json!({
                    "id": entry.id,
                    "label": entry.label,
                    "kind": entry.kind,
                })),
            }
        } else {
            out.text(&code_row(out, entry, code));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn code_row(out: &Out, entry: &OtpEntry, code: Option<&OtpCode>) -> String {
    let label = printable(&entry.label);
    match code {
        Some(code) => {
            let mut row = tr_args(
                out.locale,
                "cli.totp.code.row",
                &[
                    ("code", &grouped(&code.code)),
                    ("label", &label),
                    ("remaining", &code.remaining.unwrap_or(0).to_string()),
                ],
            );
            if let Some(next) = &code.next_code {
                row.push_str(&tr_args(
                    out.locale,
                    "cli.totp.code.next",
                    &[("next", &grouped(next))],
                ));
            }
            row
        }
        None => tr_args(
            out.locale,
            "cli.totp.code.hotp_row",
            &[("label", &label), ("id", &entry.id)],
        ),
    }
}

/// The codes, redrawn every second (the terminal's screen is cleared between rounds).
fn watch_codes(out: &Out, profile: &Profile, vault: &OtpVault<'_>) -> Step<ExitCode> {
    let clear = !out.json && std::io::stdout().is_terminal();
    loop {
        if clear {
            let _ = write!(std::io::stdout(), "\x1b[2J\x1b[H");
        }
        all_codes(out, vault, profile.clock().now())?;
        if !clear && !out.json {
            say("");
        }
        let _ = std::io::stdout().flush();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        std::thread::sleep(Duration::from_millis(1000 - u64::from(now.subsec_millis())));
    }
}

fn import(
    out: &Out,
    vault: &OtpVault<'_>,
    paths: &[PathBuf],
    passphrase_stdin: bool,
) -> Step<ExitCode> {
    let mut set = ImportSet::new();
    let mut from_stdin: Option<Zeroizing<String>> = None;
    for path in paths {
        let file = ImportFile::open(path).map_err(|e| out.fail(&e))?;
        if !out.json {
            out.text(&tr_args(
                out.locale,
                "cli.totp.import.reading",
                &[
                    ("file", file.name()),
                    ("format", file.format().name(out.locale)),
                ],
            ));
        }
        let passphrase = if !file.needs_passphrase() {
            None
        } else if passphrase_stdin {
            if from_stdin.is_none() {
                from_stdin = Some(
                    read_stdin_line().map_err(|e| out.fail_with("unreadable", &e.to_string()))?,
                );
            }
            from_stdin.clone()
        } else {
            Some(ask_passphrase(
                out,
                &tr_args(
                    out.locale,
                    "cli.totp.prompt.passphrase_for",
                    &[("file", file.name())],
                ),
                None,
            )?)
        };
        file.read_into(passphrase.as_deref().map(|p| p.as_str()), &mut set)
            .map_err(|e| with_file(out, &e, file.name()))?;
    }
    let report = vault.import(set).map_err(|e| out.fail(&e))?;
    Ok(print_report(out, &report))
}

/// An import error, naming the file when several were given.
fn with_file(out: &Out, error: &ClientError, file: &str) -> ExitCode {
    let message = match error {
        ClientError::Otp(OtpError::PassphraseNeeded) => tr_args(
            out.locale,
            "cli.totp.error.passphrase_needed_for",
            &[("file", file)],
        ),
        other => format!("{file}: {}", other.describe(out.locale)),
    };
    out.fail_with(error.code(), &message)
}

fn print_report(out: &Out, report: &ImportReport) -> ExitCode {
    if out.json {
        out.event(json!({"event": "imported", "report": report}));
    } else {
        let t = |key: &str, args: &[(&str, &str)]| tr_args(out.locale, key, args);
        for entry in &report.imported {
            out.text(&t(
                "cli.totp.import.imported",
                &[("label", &printable(&entry.label)), ("id", &entry.id)],
            ));
        }
        for dup in &report.duplicates {
            let key = if dup.same_label {
                "cli.totp.import.duplicate"
            } else {
                "cli.totp.import.duplicate_secret"
            };
            out.text(&t(
                key,
                &[
                    ("source", &dup.source.to_text(out.locale)),
                    ("label", &printable(&dup.label)),
                    ("existing", &printable(&dup.existing)),
                ],
            ));
        }
        for failure in &report.failed {
            let source = failure.source.to_text(out.locale);
            let reason = failure.reason.describe(out.locale);
            out.text(&match &failure.label {
                Some(label) => t(
                    "cli.totp.import.failed_label",
                    &[
                        ("source", &source),
                        ("label", &printable(label)),
                        ("reason", &reason),
                    ],
                ),
                None => t(
                    "cli.totp.import.failed",
                    &[("source", &source), ("reason", &reason)],
                ),
            });
        }
        for missing in &report.missing_batches {
            out.text(&t(
                "cli.totp.import.missing_batch",
                &[
                    ("qr", &missing.qr.to_string()),
                    ("of", &missing.of.to_string()),
                ],
            ));
        }
        out.text(&t(
            "cli.totp.import.summary",
            &[
                ("imported", &report.imported.len().to_string()),
                ("duplicates", &report.duplicates.len().to_string()),
                (
                    "failed",
                    &(report.failed.len() + report.missing_batches.len()).to_string(),
                ),
            ],
        ));
    }
    if report.failed.is_empty() && report.missing_batches.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn export(
    out: &Out,
    vault: &OtpVault<'_>,
    path: &Path,
    plain: bool,
    understood: bool,
    passphrase_stdin: bool,
    force: bool,
) -> Step<ExitCode> {
    let shown = path.display().to_string();
    if path.exists() && !force {
        return Err(out.fail_with(
            "file_exists",
            &tr_args(
                out.locale,
                "cli.totp.error.file_exists",
                &[("path", &shown)],
            ),
        ));
    }
    if plain {
        warn(tr(out.locale, "cli.totp.export.plain_warning"));
        if !understood && !confirmed(out, tr(out.locale, "cli.totp.export.plain_question")) {
            return Err(out.fail_with(
                "not_confirmed",
                tr(out.locale, "cli.totp.export.plain_refused"),
            ));
        }
        let text = vault.export_uris().map_err(|e| out.fail(&e))?;
        write_private_file(path, text.as_bytes()).map_err(|e| out.fail(&e))?;
        let count = text.lines().count();
        if out.json {
            out.event(
                json!({"event": "exported", "path": path, "count": count, "encrypted": false}),
            );
        } else {
            out.text(&tr_args(
                out.locale,
                "cli.totp.export.plain_done",
                &[("count", &count.to_string()), ("path", &shown)],
            ));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let count = vault.entries().map_err(|e| out.fail(&e))?.len();
    if count == 0 {
        return Err(fail(out, OtpError::NothingToExport));
    }
    let passphrase = if passphrase_stdin {
        read_stdin_line().map_err(|e| out.fail_with("unreadable", &e.to_string()))?
    } else {
        ask_passphrase(
            out,
            tr(out.locale, "cli.totp.prompt.new_passphrase"),
            Some(tr(out.locale, "cli.totp.prompt.passphrase_again")),
        )?
    };
    let backup = vault
        .backup(&passphrase, KdfParams::DEFAULT)
        .map_err(|e| out.fail(&e))?;
    write_private_file(path, &backup).map_err(|e| out.fail(&e))?;
    if out.json {
        out.event(json!({"event": "exported", "path": path, "count": count, "encrypted": true}));
    } else {
        out.text(&tr_args(
            out.locale,
            "cli.totp.export.done",
            &[("count", &count.to_string()), ("path", &shown)],
        ));
    }
    Ok(ExitCode::SUCCESS)
}

fn rename(
    out: &Out,
    vault: &OtpVault<'_>,
    name: &str,
    issuer: Option<String>,
    account: Option<String>,
) -> Step<ExitCode> {
    if issuer.is_none() && account.is_none() {
        return Err(out.fail_with("usage", tr(out.locale, "cli.totp.error.rename_what")));
    }
    let entry = vault
        .rename(name, issuer.as_deref(), account.as_deref())
        .map_err(|e| out.fail(&e))?;
    if out.json {
        out.event(json!({"event": "renamed", "account": entry}));
    } else {
        out.text(&tr_args(
            out.locale,
            "cli.totp.renamed",
            &[("label", &printable(&entry.label))],
        ));
    }
    Ok(ExitCode::SUCCESS)
}

fn move_to(out: &Out, vault: &OtpVault<'_>, name: &str, to: usize) -> Step<ExitCode> {
    let entry = vault.move_to(name, to).map_err(|e| out.fail(&e))?;
    if out.json {
        out.event(json!({"event": "moved", "account": entry}));
    } else {
        out.text(&tr_args(
            out.locale,
            "cli.totp.moved",
            &[
                ("label", &printable(&entry.label)),
                ("position", &entry.position.to_string()),
            ],
        ));
    }
    Ok(ExitCode::SUCCESS)
}

fn delete(out: &Out, vault: &OtpVault<'_>, name: &str, yes: bool) -> Step<ExitCode> {
    let entry = vault.find(name).map_err(|e| out.fail(&e))?;
    if !yes {
        if !std::io::stdin().is_terminal() || out.json {
            return Err(out.fail_with("no_answer", tr(out.locale, "cli.totp.error.need_yes")));
        }
        let question = tr_args(
            out.locale,
            "cli.totp.delete.question",
            &[("label", &printable(&entry.label))],
        );
        if !confirmed(out, &question) {
            out.text(tr(out.locale, "cli.totp.delete.kept"));
            return Ok(ExitCode::FAILURE);
        }
    }
    // By id: the account asked about, even if another matching one was added meanwhile.
    let deleted = vault.delete(&entry.id).map_err(|e| out.fail(&e))?;
    if out.json {
        out.event(json!({"event": "deleted", "account": deleted}));
    } else {
        out.text(&tr_args(
            out.locale,
            "cli.totp.deleted",
            &[("label", &printable(&deleted.label))],
        ));
    }
    Ok(ExitCode::SUCCESS)
}

/// Asks `question` at the terminal; only the locale's "yes" letter says yes. Without a terminal
/// the answer is no.
fn confirmed(out: &Out, question: &str) -> bool {
    if !std::io::stdin().is_terminal() || out.json {
        return false;
    }
    let _ = write!(std::io::stderr(), "{question}");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    if std::io::stdin().lock().read_line(&mut line).is_err() {
        return false;
    }
    line.trim()
        .eq_ignore_ascii_case(tr(out.locale, "cli.login.yes"))
}

/// The first line of stdin without its line ending, wiped from memory when dropped.
fn read_stdin_line() -> std::io::Result<Zeroizing<String>> {
    let mut line = Zeroizing::new(String::new());
    std::io::stdin().lock().read_line(&mut line)?;
    let end = line.trim_end_matches(['\n', '\r']).len();
    line.truncate(end);
    Ok(line)
}

/// Reads a line at the terminal without echo.
fn prompt_hidden(out: &Out, prompt: &str) -> Step<Zeroizing<String>> {
    rpassword::prompt_password(prompt)
        .map(Zeroizing::new)
        .map_err(|e| out.fail_with("unreadable", &e.to_string()))
}

/// A passphrase from the terminal without echo; with `again`, asked twice and compared.
fn ask_passphrase(out: &Out, prompt: &str, again: Option<&str>) -> Step<Zeroizing<String>> {
    if !std::io::stdin().is_terminal() {
        return Err(out.fail_with(
            "no_passphrase",
            tr(out.locale, "cli.totp.error.no_passphrase"),
        ));
    }
    let first = prompt_hidden(out, prompt)?;
    if let Some(again) = again {
        let second = prompt_hidden(out, again)?;
        if first != second {
            return Err(out.fail_with(
                "passphrases_differ",
                tr(out.locale, "cli.totp.error.passphrases_differ"),
            ));
        }
    }
    Ok(first)
}
