//! `civkey-server serve` and `demo`: the listener, the delivery worker, housekeeping and the
//! router, until Ctrl+C; `demo` first makes a citizen and a clerk to try it with.

use std::sync::Arc;

use anyhow::{bail, Context};
use civkey_server::clock::{Clock, SystemClock};
use civkey_server::config::Config;
use civkey_server::services::delivery::{self, Mailer};
use civkey_server::services::{bok, citizens, clerks, devices, Services};
use civkey_server::shutdown::Shutdown;
use civkey_server::store::Store;
use civkey_server::{router, AppState};
use zeroize::Zeroizing;

use crate::admin::refusal;
use crate::cli::DeliveryArgs;

/// The demo citizen's login name and password (printed by `civkey-server demo`).
const DEMO_USERNAME: &str = "demo";
const DEMO_PASSWORD: &str = "civkey-demo-password";

pub(crate) async fn serve(
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
    // Loopback push endpoints in the demo on this computer (a UnifiedPush distributor beside it).
    let push = config
        .clone()
        .with_push_flags(
            delivery.allow_loopback_push || (demo && origin.is_loopback()),
            delivery.push_allowed_hosts.clone(),
        )
        .push_policy(&origin)?;
    let metrics_listener = match config.metrics_listen()? {
        Some(address) => Some(
            tokio::net::TcpListener::bind(address)
                .await
                .with_context(|| format!("cannot serve metrics on {address}"))?,
        ),
        None => None,
    };
    let shutdown = Shutdown::default();
    let database = store.clone();
    let services = Services::new(store, Arc::new(SystemClock), origin.clone());
    let state = AppState::from_services(
        services
            .with_shutdown(shutdown.clone())
            .with_bok_policy(policy)
            .with_onboarding_ttl(onboarding_ttl)
            .with_push_policy(push)
            .with_request_limits(config.request_limits()?),
    )
    .with_trusted_proxies(config.trusted_proxies());
    log_trusted_proxies(config, &origin);
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
    let worker = delivery::spawn_worker(
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
    let limits = config.serve_limits()?;
    if let Some(listener) = metrics_listener {
        let address = listener.local_addr()?;
        tracing::info!("metrics on http://{address}/metrics");
        let app = civkey_server::metrics::router(state.clone());
        tokio::spawn(civkey_server::serving::serve(
            listener,
            app,
            limits,
            shutdown.begun(),
        ));
    }
    tracing::info!(%origin, "listening on {bound}");
    let stop = shutdown.clone();
    let serving = civkey_server::serving::serve(listener, router(state), limits, async move {
        let signal = stop_signal().await;
        tracing::info!(
            "{signal}: shutting down (no new connections, event streams end, requests in flight finish)"
        );
        stop.begin();
    });
    tokio::pin!(serving);
    tokio::select! {
        () = &mut serving => {}
        () = shutdown.begun() => {
            // The hard deadline: whatever still runs then is cut, and the process exits.
            let stopped = tokio::time::timeout(SHUTDOWN_DEADLINE, async {
                (&mut serving).await;
                let _ = worker.await;
            })
            .await;
            if stopped.is_err() {
                tracing::warn!(
                    "shutdown deadline of {} s reached: cutting what still runs",
                    SHUTDOWN_DEADLINE.as_secs()
                );
            }
        }
    }
    let _ = tokio::time::timeout(std::time::Duration::from_millis(300), database.close()).await;
    tracing::info!("stopped");
    Ok(())
}

/// How long the shutdown may take from the signal before the process exits anyway (the
/// connections' own grace is shorter, so that this is a last resort).
const SHUTDOWN_DEADLINE: std::time::Duration = std::time::Duration::from_secs(9);

/// Waits for SIGTERM (how service managers and container runtimes stop a process) or Ctrl-C
/// (SIGINT), and says which came.
async fn stop_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = tokio::signal::ctrl_c() => "Ctrl-C",
            },
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; only Ctrl-C stops the server");
                let _ = tokio::signal::ctrl_c().await;
                "Ctrl-C"
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    }
}

/// Says whose forwarding headers are believed; warns when an https origin (so a TLS proxy in
/// front) has no trusted proxy, since then every client shares the proxy's rate-limit buckets.
fn log_trusted_proxies(config: &Config, origin: &civkey_proto::Origin) {
    if config.trusted_proxies.is_empty() {
        if origin.as_str().starts_with("https://") {
            tracing::warn!(
                "no --trusted-proxy: behind a reverse proxy every client counts under the proxy's \
                 address (one client's failed logins make all wait); see docs/operations.md"
            );
        }
        return;
    }
    let blocks: Vec<String> = config
        .trusted_proxies
        .iter()
        .map(|b| b.to_string())
        .collect();
    tracing::info!(
        trusted_proxies = %blocks.join(", "),
        "client addresses come from the Forwarded / X-Forwarded-For headers of these proxies"
    );
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
