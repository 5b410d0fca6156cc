//! The real Secret Service (the private GNOME Keyring that scripts/test starts): a keystore on
//! it, what it holds, and a profile paired with its keys there.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use civkey_client::keystore::{OsKeyStore, KEYSTORE_SERVICE};
use civkey_client::profile::{Profile, STATE_FILE};
use serde_json::Value;

use crate::{pair_profile, TempDir, TestServer};

/// The nextest test group (.config/nextest.toml) whose tests may use the shared GNOME Keyring.
pub const SECRET_SERVICE_GROUP: &str = "secret-service";

/// Checks that this test may use the Secret Service: there is one (scripts/test starts it), and,
/// under nextest, the test is in the group that uses it one test at a time. GNOME Keyring shared
/// by tests running in parallel lost lookups and once stopped answering altogether (the daemon
/// left the bus mid-call), failing whatever test used it next; so a test outside the group fails
/// here, at once, naming the fix, rather than now and then elsewhere.
pub fn check_secret_service_use() {
    assert!(
        std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some(),
        "these tests use the real Secret Service: run them through scripts/test, or inside \
         `dbus-run-session -- scripts/lib/with-keyring cargo nextest run`"
    );
    if let Some(group) = std::env::var_os("NEXTEST_TEST_GROUP") {
        assert!(
            group == SECRET_SERVICE_GROUP,
            "this test uses the Secret Service but runs in the nextest group {group:?}: add it to \
             the group {SECRET_SERVICE_GROUP:?} in .config/nextest.toml"
        );
    }
}

/// The tests need the Secret Service that scripts/test starts; without it they fail, saying so.
pub fn secret_service() -> Arc<OsKeyStore> {
    check_secret_service_use();
    Arc::new(OsKeyStore::new())
}

pub fn profile_id(dir: &Path) -> String {
    let state: Value =
        serde_json::from_slice(&std::fs::read(dir.join(STATE_FILE)).unwrap()).unwrap();
    state["profile_id"].as_str().unwrap().to_string()
}

/// The keystore entries of the profile in `dir`, as the Secret Service lists them.
pub fn keystore_entries(dir: &Path) -> Vec<String> {
    check_secret_service_use();
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
    let keystore = secret_service();
    let citizen = server.add_citizen("jana").await;
    let profile = Profile::open(&home.0, keystore).unwrap();
    pair_profile(server.state.services(), &profile, &citizen).await;
    (profile, citizen)
}
