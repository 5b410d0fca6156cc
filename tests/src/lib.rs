//! Shared fixtures for civkey's end-to-end tests (the tests themselves are in `e2e/`).

// Test-only code: fixtures fail loudly on broken setup.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use std::sync::Arc;

use civkey_proto::Origin;
use civkey_server::clock::{Clock, ManualClock, SystemClock};
use civkey_server::store::Store;
use civkey_server::{router, AppState};

/// A folder under the system's temporary directory, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A new empty folder with a random name.
    pub fn new(prefix: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let path = std::env::temp_dir().join(format!("{prefix}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
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
        let clock = ManualClock::at(SystemClock.now());
        let state = AppState::with_clock(origin.clone(), store.clone(), Arc::new(clock.clone()));
        let mailbox = dir.0.join("mailbox.txt");
        let mailer = civkey_server::mail::Mailer::Mailbox(mailbox.clone());
        civkey_server::mail::spawn_worker(
            state.services().clone(),
            mailer,
            std::time::Duration::from_secs(1),
        );
        let app = router(state.clone());
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
