//! Shared fixtures for civkey's end-to-end tests (the tests themselves are in `e2e/`).

// Test-only code: fixtures fail loudly on broken setup.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use civkey_proto::Origin;
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
    /// The server's store, for arranging and checking state.
    pub store: Store,
    _dir: TempDir,
}

impl TestServer {
    /// Starts a server.
    pub async fn start() -> Self {
        let dir = TempDir::new("civkey-e2e");
        let store = Store::open(&format!("sqlite://{}/civkey.db", dir.0.display()))
            .await
            .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let origin = Origin::normalise(&format!("http://{address}")).unwrap();
        let app = router(AppState::new(origin, store.clone()));
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        TestServer {
            base: format!("http://{address}"),
            store,
            _dir: dir,
        }
    }
}
