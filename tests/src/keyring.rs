//! The real Secret Service (the private GNOME Keyring that scripts/test starts): a keystore on
//! it, what it holds, and a profile paired with its keys there.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use civkey_client::keystore::{OsKeyStore, KEYSTORE_SERVICE};
use civkey_client::profile::{Profile, STATE_FILE};
use serde_json::Value;

use crate::{pair_profile, TempDir, TestServer};

/// The tests need the Secret Service that scripts/test starts; without it they fail, saying so.
pub fn secret_service() -> Arc<OsKeyStore> {
    assert!(
        std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some(),
        "these tests use the real Secret Service: run them through scripts/test, or inside \
         `dbus-run-session -- scripts/lib/with-keyring cargo nextest run`"
    );
    Arc::new(OsKeyStore::new())
}

pub fn profile_id(dir: &Path) -> String {
    let state: Value =
        serde_json::from_slice(&std::fs::read(dir.join(STATE_FILE)).unwrap()).unwrap();
    state["profile_id"].as_str().unwrap().to_string()
}

/// The keystore entries of the profile in `dir`, as the Secret Service lists them.
pub fn keystore_entries(dir: &Path) -> Vec<String> {
    let prefix = format!("{}/", profile_id(dir));
    let out = Command::new("secret-tool")
        .args(["search", "--all", "service", KEYSTORE_SERVICE])
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    text.lines()
        .filter_map(|l| l.strip_prefix("attribute.username = "))
        .filter(|u| u.starts_with(&prefix))
        .map(str::to_string)
        .collect()
}

/// A paired profile (keys in the Secret Service) for the citizen `jana` at `server`.
pub async fn paired_profile(
    server: &TestServer,
    home: &TempDir,
) -> (Profile, civkey_server::domain::CitizenId) {
    assert!(
        std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some(),
        "run through scripts/test (needs the Secret Service)"
    );
    let citizen = server.add_citizen("jana").await;
    let profile = Profile::open(&home.0, std::sync::Arc::new(OsKeyStore::new())).unwrap();
    pair_profile(server.state.services(), &profile, &citizen).await;
    (profile, citizen)
}
