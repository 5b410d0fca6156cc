//! The admin commands: they change the database directly (a running server sees the change) and
//! print JSON.

use std::io::{IsTerminal, Read};

use anyhow::{bail, Context};
use civkey_server::clock::{Clock, SystemClock};
use civkey_server::config::Config;
use civkey_server::services::{bok, citizens, clerks, ServiceError};
use civkey_server::store::Store;
use civkey_server::AppState;
use zeroize::Zeroizing;

use crate::cli::{CitizenCommand, ClerkCommand, ClientCommand, KeysCommand, OutboxCommand};

/// `civkey-server citizen …`: manages citizens.
pub(crate) async fn citizen(
    command: CitizenCommand,
    config: &Config,
    store: Store,
) -> anyhow::Result<()> {
    match command {
        CitizenCommand::Add {
            username,
            name,
            email,
            password_stdin: _,
        } => {
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
        CitizenCommand::Notify {
            username,
            title,
            body,
        } => {
            let services = admin_services(config, store)?;
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
        CitizenCommand::SetBok { username } => {
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
        CitizenCommand::List => {
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

/// `civkey-server clerk …`: manages office clerks.
pub(crate) async fn clerk(command: ClerkCommand, store: Store) -> anyhow::Result<()> {
    match command {
        ClerkCommand::Add {
            username,
            name,
            office,
        } => {
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
        ClerkCommand::TotpReset { username } => {
            let uri = clerks::reset_clerk_totp(&store, &username)
                .await
                .map_err(refusal)?;
            println!(
                "{}",
                serde_json::json!({ "username": username, "totp_uri": uri.as_str() })
            );
            Ok(())
        }
        ClerkCommand::List => {
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
    }
}

/// `civkey-server client …`: manages the services citizens log in to.
pub(crate) async fn client(
    command: ClientCommand,
    config: &Config,
    store: Store,
) -> anyhow::Result<()> {
    match command {
        ClientCommand::Add {
            name,
            redirect_uris,
            logo,
        } => {
            let services = admin_services(config, store)?;
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
        ClientCommand::List => {
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
    }
}

/// `civkey-server keys …`: manages the keys ID tokens are signed with.
pub(crate) async fn keys(
    command: KeysCommand,
    config: &Config,
    store: Store,
) -> anyhow::Result<()> {
    match command {
        KeysCommand::Rotate => {
            let services = admin_services(config, store)?;
            let kid = services.rotate_signing_key().await.map_err(refusal)?;
            println!("{}", serde_json::json!({ "active_kid": kid }));
            Ok(())
        }
        KeysCommand::List => {
            let services = admin_services(config, store)?;
            let jwks = services.jwks().await.map_err(refusal)?;
            println!("{}", serde_json::to_string(&jwks)?);
            Ok(())
        }
    }
}

/// `civkey-server outbox …`: manages the outbox.
pub(crate) async fn outbox(
    command: OutboxCommand,
    config: &Config,
    store: Store,
) -> anyhow::Result<()> {
    match command {
        OutboxCommand::Status => {
            let services = admin_services(config, store)?;
            let report = services.outbox_report().await.map_err(refusal)?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(())
        }
        OutboxCommand::Retry => {
            let services = admin_services(config, store)?;
            let retried = services.retry_failed_deliveries().await.map_err(refusal)?;
            println!("{}", serde_json::json!({ "retried": retried }));
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

pub(crate) fn refusal(e: ServiceError) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}
