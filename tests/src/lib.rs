//! Shared fixtures for civkey's end-to-end tests (the tests themselves are in `e2e/`).

// Test-only code: fixtures fail loudly on broken setup.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod x11;

use std::path::{Path, PathBuf};

use std::sync::Arc;

use civkey_proto::Origin;
use civkey_server::clock::Clock;
use civkey_server::store::Store;
use civkey_server::{router, AppState};
pub use civkey_testkit::{wait_until, wait_until_blocking, ManualClock};

/// An OpenID Connect authorization request at `endpoint`, as a service's redirect sends the
/// browser: code flow, `openid profile`, PKCE S256 for `verifier`, with `state` and `nonce`.
pub fn authorize_url(
    endpoint: &str,
    client_id: &str,
    redirect_uri: &str,
    state: &str,
    nonce: &str,
    verifier: &str,
) -> url::Url {
    use base64::Engine as _;
    use sha2::Digest as _;
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    let mut url = url::Url::parse(endpoint).unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("response_type", "code")
        .append_pair("scope", "openid profile")
        .append_pair("state", state)
        .append_pair("nonce", nonce)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    url
}

/// The workspace's `target/` (or `CARGO_TARGET_DIR`).
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => match build_profile_dir().as_deref().and_then(Path::parent) {
            Some(dir) if dir.join("debug").is_dir() || dir.join("release").is_dir() => {
                dir.to_path_buf()
            }
            _ => Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join("target"),
        },
    }
}

/// The profile directory this test binary was built into, e.g. `target/debug`: the test binary
/// lives in `<target>/<profile>/deps/`.
fn build_profile_dir() -> Option<PathBuf> {
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.to_path_buf()))
}

/// A binary of the workspace, built beside this test binary (scripts/test builds them all first).
pub fn built_binary(name: &str, package: &str) -> anyhow::Result<PathBuf> {
    let mut candidates: Vec<PathBuf> = build_profile_dir().iter().map(|p| p.join(name)).collect();
    candidates.push(target_dir().join("debug").join(name));
    if let Some(found) = candidates.iter().find(|p| p.is_file()) {
        return Ok(found.clone());
    }
    let tried: Vec<String> = candidates.iter().map(|p| p.display().to_string()).collect();
    anyhow::bail!(
        "{name} is not built (looked for {}): run `cargo build -p {package}` first, \
         or run the whole suite with scripts/test",
        tried.join(", ")
    )
}

/// Pairs `profile` with the citizen `citizen_id` at the server whose flows are `services`: the app
/// claims a new session and the citizen confirms at once in the "browser".
pub async fn pair_profile(
    services: &civkey_server::services::Services,
    profile: &civkey_client::profile::Profile,
    citizen_id: &str,
) -> civkey_client::profile::Identity {
    let pairing = services.start_pairing(citizen_id).await.unwrap();
    let pending = profile
        .begin_pairing(
            &pairing.uri.to_uri(),
            &civkey_client::this_computer().unwrap(),
        )
        .await
        .unwrap();
    services
        .decide_pairing(citizen_id, &pairing.uri.session_id.to_text(), true)
        .await
        .unwrap();
    pending.finish().await.unwrap()
}

/// A new empty folder under the system's temporary directory (made by `tempfile`), removed when
/// dropped; its path is `.0`.
pub struct TempDir(
    pub PathBuf,
    #[allow(dead_code)] // held for its `Drop`, which removes the folder
    tempfile::TempDir,
);

impl TempDir {
    /// A new empty folder whose name starts with `prefix`.
    pub fn new(prefix: &str) -> Self {
        let dir = tempfile::Builder::new()
            .prefix(&format!("{prefix}-"))
            .tempdir()
            .unwrap();
        TempDir(dir.path().to_path_buf(), dir)
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

/// The real server on `127.0.0.1:0` with a fresh SQLite database, running until the test's
/// runtime ends.
pub struct TestServer {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The server's origin.
    pub origin: Origin,
    /// The server's store, for arranging and checking state.
    pub store: Store,
    /// The server's state (its services play the browser's part in API tests).
    pub state: AppState,
    /// The server's clock: starts at the real time, moves only when told.
    pub clock: ManualClock,
    /// Where the server's e-mail goes (a mailbox file).
    pub mailbox: PathBuf,
    _dir: TempDir,
}

impl TestServer {
    /// Adds the citizen `username` ("Jana Nováková", password `correct horse battery`); returns
    /// the citizen id.
    pub async fn add_citizen(&self, username: &str) -> String {
        civkey_server::services::citizens::add_citizen(
            &self.store,
            0,
            username,
            "Jana Nováková",
            None,
            "correct horse battery",
        )
        .await
        .unwrap()
        .citizen_id
    }

    /// A new pairing session for `citizen`, as "Connect mobile key" starts one.
    pub async fn new_pairing(&self, citizen: &str) -> civkey_proto::pair::PairingUri {
        self.state
            .services()
            .start_pairing(citizen)
            .await
            .unwrap()
            .uri
    }

    /// A server with the citizen `jana` and a pairing session of hers: (server, citizen id, the
    /// pairing URI as its QR code holds it).
    pub async fn with_pairing_session() -> (TestServer, String, String) {
        let server = TestServer::start().await;
        let citizen = server.add_citizen("jana").await;
        let uri = server.new_pairing(&citizen).await.to_uri();
        (server, citizen, uri)
    }

    /// The server's time now.
    pub fn clock_now(&self) -> u64 {
        self.clock.now()
    }

    /// Starts a server.
    pub async fn start() -> Self {
        Self::start_with_origin(None).await
    }

    /// Starts a server that believes it is reached at `public_origin` (as behind a TLS proxy);
    /// `None` means its own `http://127.0.0.1:PORT`.
    pub async fn start_with_origin(public_origin: Option<&str>) -> Self {
        Self::start_inner(public_origin, None).await
    }

    /// Starts a server whose delivery worker sends through `delivery` (a real SMTP server, push
    /// endpoints, an SMS gateway) instead of the mailbox file.
    pub async fn start_with_delivery(delivery: civkey_server::mail::Delivery) -> Self {
        Self::start_inner(None, Some(delivery)).await
    }

    async fn start_inner(
        public_origin: Option<&str>,
        delivery: Option<civkey_server::mail::Delivery>,
    ) -> Self {
        let dir = TempDir::new("civkey-e2e");
        let store = Store::open(&format!("sqlite://{}/civkey.db", dir.0.display()))
            .await
            .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let origin = Origin::normalise(
            &public_origin.map_or_else(|| format!("http://{address}"), str::to_string),
        )
        .unwrap();
        let clock = ManualClock::at_system_time();
        let state = AppState::with_clock(origin.clone(), store.clone(), Arc::new(clock.clone()));
        let mailbox = dir.0.join("mailbox.txt");
        let delivery = delivery
            .unwrap_or_else(|| civkey_server::mail::Mailer::Mailbox(mailbox.clone()).into());
        civkey_server::mail::spawn_worker(
            state.services().clone(),
            delivery,
            std::time::Duration::from_secs(1),
        );
        let app = router(state.clone());
        let listener = civkey_server::without_delay(listener);
        tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
            )
            .await
            .unwrap();
        });
        TestServer {
            base: format!("http://{address}"),
            origin,
            store,
            state,
            clock,
            mailbox,
            _dir: dir,
        }
    }
}
