//! Shared fixtures for civkey's end-to-end tests (the tests themselves are in `e2e/`): the one
//! way to boot a test server ([`server`]), a browser's view over HTTP ([`http`]), the portal and
//! the counter logged in ([`portal`], [`counter`]), real Chromium ([`chromium`]), the real Secret
//! Service ([`keyring`]), the suite's PostgreSQL server ([`postgres`]), the built binaries ([`cli`]), the app's window under Xvfb ([`x11`]),
//! and waiting for a condition ([`wait_until`], from `civkey_testkit`).

// Test-only code: fixtures fail loudly on broken setup.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod bench;
pub mod chromium;
pub mod cli;
pub mod counter;
pub mod http;
pub mod keyring;
pub mod portal;
pub mod postgres;
pub mod server;
pub mod x11;

pub use server::{pair_profile, ServerOptions, ServerProcess, TestServer};

use std::path::{Path, PathBuf};

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
