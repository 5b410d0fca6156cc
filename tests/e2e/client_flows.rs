//! The app's core and the `civkey` command against the real server over HTTP, with device keys in
//! the real Secret Service (GNOME Keyring in the private D-Bus session scripts/test starts).
//!
//! The browser's decision is taken through the server's own services, as the portal's handler
//! takes it; the portal in Chromium is covered in `portal_browser`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use civkey_client::keystore::{KeyRef, KeyStore, KeyStoreError, OsKeyStore, KEYSTORE_SERVICE};
use civkey_client::pairing::PairingStarted;
use civkey_client::profile::{Forget, Profile, STATE_FILE};
use civkey_client::server_api::{ApiFailure, ServerApi};
use civkey_client::{this_computer, ClientError};
use civkey_proto::device::DeviceList;
use civkey_proto::pair::{PairingPageEvent, PAIRING_TTL_SECS};
use civkey_proto::paths;
use civkey_tests::{built_binary, TempDir, TestServer};
use p256::ecdsa::SigningKey;
use serde_json::Value;
use zeroize::Zeroizing;

/// The tests need the Secret Service that scripts/test starts; without it they fail, saying so.
pub(crate) fn secret_service() -> Arc<OsKeyStore> {
    assert!(
        std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some(),
        "these tests use the real Secret Service: run them through scripts/test, or inside \
         `dbus-run-session -- scripts/lib/with-keyring cargo nextest run`"
    );
    Arc::new(OsKeyStore::new())
}

/// Records the keys a store creates, so a test can check that none is left behind.
struct Recording {
    inner: Arc<OsKeyStore>,
    created: Mutex<Vec<KeyRef>>,
}

impl KeyStore for Recording {
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    fn put_secret(&self, key: &KeyRef, secret: &[u8]) -> Result<(), KeyStoreError> {
        self.created.lock().unwrap().push(key.clone());
        self.inner.put_secret(key, secret)
    }
    fn get_secret(&self, key: &KeyRef) -> Result<Zeroizing<Vec<u8>>, KeyStoreError> {
        self.inner.get_secret(key)
    }
    fn delete(&self, key: &KeyRef) -> Result<(), KeyStoreError> {
        self.inner.delete(key)
    }
}

impl Recording {
    fn new() -> Arc<Self> {
        Arc::new(Recording {
            inner: secret_service(),
            created: Mutex::new(Vec::new()),
        })
    }

    /// Asserts that every key it created is gone from the Secret Service again.
    fn assert_nothing_left(&self) {
        let created = self.created.lock().unwrap().clone();
        assert!(!created.is_empty(), "the flow never created a key");
        for key in created {
            assert!(
                matches!(self.inner.get_secret(&key), Err(KeyStoreError::Missing(_))),
                "{key} was left in the keystore"
            );
        }
    }
}

/// The citizen's browser: waits until the app has claimed, checks the page shows `expected`, then
/// confirms or refuses.
fn browser_decides(
    server: &TestServer,
    citizen: &str,
    uri: &str,
    confirm: bool,
    codes: tokio::sync::oneshot::Receiver<PairingStarted>,
) -> tokio::task::JoinHandle<()> {
    let state = server.state.clone();
    let citizen = citizen.to_string();
    let session = civkey_client::pairing::read_pairing_uri(uri)
        .unwrap()
        .session_id
        .to_text();
    tokio::spawn(async move {
        let started = codes.await.unwrap();
        let page = state
            .services()
            .pairing_page_event(&citizen, &session)
            .await
            .unwrap();
        match page {
            Some(PairingPageEvent::Claimed {
                confirmation_code, ..
            }) => assert_eq!(confirmation_code, started.confirmation_code),
            other => panic!("the page shows {other:?}"),
        }
        state
            .services()
            .decide_pairing(&citizen, &session, confirm)
            .await
            .unwrap();
    })
}

/// Pairs with `uri`, expecting it to fail before any confirmation code is shown.
async fn pairing_fails(profile: &Profile, uri: &str) -> ClientError {
    profile
        .pair(uri, &this_computer().unwrap(), |started| {
            panic!("a code was shown: {started:?}")
        })
        .await
        .unwrap_err()
}

fn open_profile(dir: &Path, store: Arc<dyn KeyStore>) -> Profile {
    Profile::open(dir, store).unwrap()
}

#[tokio::test]
async fn pairing_keeps_the_key_in_the_secret_service_and_signs_device_calls() {
    let (server, citizen, uri) = TestServer::with_pairing_session().await;
    let home = TempDir::new("civkey-pair");
    let store = secret_service();
    let profile = open_profile(&home.0, store.clone());

    let (tx, rx) = tokio::sync::oneshot::channel();
    let browser = browser_decides(&server, &citizen, &uri, true, rx);
    let identity = profile
        .pair(&uri, &this_computer().unwrap(), |started| {
            tx.send(started.clone()).unwrap();
        })
        .await
        .unwrap();
    browser.await.unwrap();
    assert_eq!(identity.origin, server.origin);
    assert_eq!(identity.account_name.as_deref(), Some("Jana Nováková"));

    // The private key is in the Secret Service, and nowhere in the state file.
    let scalar = store.get_secret(&identity.key).unwrap();
    assert_eq!(scalar.len(), 32);
    let state = std::fs::read_to_string(home.0.join(STATE_FILE)).unwrap();
    assert!(state.contains(identity.key.as_str()), "{state}");
    for encoded in [
        hex::encode(&scalar[..]),
        base64_url(&scalar),
        base64_std(&scalar),
    ] {
        assert!(
            !state.contains(&encoded),
            "the state file holds the private key"
        );
    }
    let lookup = Command::new("secret-tool")
        .args(["lookup", "service", KEYSTORE_SERVICE, "username"])
        .arg(identity.key.as_str())
        .output()
        .unwrap();
    assert!(lookup.status.success(), "secret-tool found nothing");

    // The stored key signs device calls the server accepts.
    let list: DeviceList = profile
        .device_call::<(), _>(&identity, reqwest::Method::GET, paths::DEVICE_LIST, None)
        .await
        .unwrap();
    assert_eq!(list.devices.len(), 1);
    assert_eq!(list.devices[0].id, identity.device_id);

    // Forgetting disconnects it at the server and deletes the key.
    let forgotten = profile
        .forget(&identity.short_id(), Forget::TellServer)
        .await
        .unwrap();
    assert!(forgotten.server_told);
    assert!(matches!(
        store.get_secret(&identity.key),
        Err(KeyStoreError::Missing(_))
    ));
    assert!(profile.identities().unwrap().is_empty());
    assert!(server
        .store
        .active_devices(&citizen)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn identities_at_two_servers_live_side_by_side() {
    let first = TestServer::start().await;
    let second = TestServer::start().await;
    let home = TempDir::new("civkey-two");
    let profile = open_profile(&home.0, secret_service());
    let mut paired = Vec::new();
    for server in [&first, &second] {
        let citizen = server.add_citizen("jana").await;
        let uri = server.new_pairing(&citizen).await.to_uri();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let browser = browser_decides(server, &citizen, &uri, true, rx);
        let identity = profile
            .pair(&uri, &this_computer().unwrap(), |s| {
                tx.send(s.clone()).unwrap()
            })
            .await
            .unwrap();
        browser.await.unwrap();
        paired.push(identity);
    }
    assert_eq!(profile.identities().unwrap(), paired);
    assert_ne!(paired[0].key, paired[1].key);
    profile
        .forget(first.origin.as_str(), Forget::TellServer)
        .await
        .unwrap();
    assert_eq!(profile.identities().unwrap(), vec![paired[1].clone()]);
    // The remaining identity still signs.
    let list: DeviceList = profile
        .device_call::<(), _>(&paired[1], reqwest::Method::GET, paths::DEVICE_LIST, None)
        .await
        .unwrap();
    assert_eq!(list.devices.len(), 1);
}

#[tokio::test]
async fn a_refused_pairing_stores_nothing_and_deletes_the_new_key() {
    let (server, citizen, uri) = TestServer::with_pairing_session().await;
    let home = TempDir::new("civkey-refused");
    let store = Recording::new();
    let profile = open_profile(&home.0, store.clone());
    let (tx, rx) = tokio::sync::oneshot::channel();
    let browser = browser_decides(&server, &citizen, &uri, false, rx);
    let err = profile
        .pair(&uri, &this_computer().unwrap(), |s| {
            tx.send(s.clone()).unwrap()
        })
        .await
        .unwrap_err();
    browser.await.unwrap();
    assert!(matches!(err, ClientError::PairingRefused), "{err:?}");
    assert!(profile.identities().unwrap().is_empty());
    store.assert_nothing_left();
}

#[tokio::test]
async fn an_expired_pairing_code_is_refused_and_leaves_nothing() {
    let (server, _citizen, uri) = TestServer::with_pairing_session().await;
    server.clock.advance(PAIRING_TTL_SECS + 1);
    let home = TempDir::new("civkey-expired");
    let store = Recording::new();
    let profile = open_profile(&home.0, store.clone());
    let err = pairing_fails(&profile, &uri).await;
    assert!(matches!(err, ClientError::PairingExpired), "{err:?}");
    assert!(err
        .describe(civkey_i18n::Locale::En)
        .contains("Start again in the portal"));
    assert!(profile.identities().unwrap().is_empty());
    store.assert_nothing_left();
}

#[tokio::test]
async fn a_pairing_code_claimed_by_another_device_is_refused() {
    let (server, _citizen, uri) = TestServer::with_pairing_session().await;
    // Another device claimed it first (and waits for the browser).
    let parsed = civkey_client::pairing::read_pairing_uri(&uri).unwrap();
    ServerApi::new(server.origin.clone())
        .unwrap()
        .claim_pairing(
            &parsed,
            &SigningKey::from_slice(&[7; 32]).unwrap(),
            &this_computer().unwrap(),
        )
        .await
        .unwrap();

    let home = TempDir::new("civkey-second");
    let store = Recording::new();
    let second = open_profile(&home.0, store.clone());
    let err = pairing_fails(&second, &uri).await;
    assert!(
        matches!(err.code(), "pairing_taken" | "pairing_used"),
        "{err:?}"
    );
    assert!(err
        .describe(civkey_i18n::Locale::En)
        .contains("already been used"));
    store.assert_nothing_left();
}

/// A server that answers every request with `response`, or never answers when it is `None`.
async fn fake_server(response: Option<&'static str>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            match response {
                Some(text) => {
                    tokio::spawn(async move {
                        use tokio::io::{AsyncReadExt, AsyncWriteExt};
                        let mut buf = [0u8; 4096];
                        let _ = socket.read(&mut buf).await;
                        let _ = socket.write_all(text.as_bytes()).await;
                    });
                }
                None => held.push(socket),
            }
        }
    });
    format!(
        "civkey://pair?v=1&s=http%3A%2F%2F127.0.0.1%3A{port}&id=AAECAwQFBgcICQoLDA0ODw&k=EBESExQVFhcYGRobHB0eHw"
    )
}

#[tokio::test]
async fn a_server_answering_garbage_is_a_clear_error_and_leaves_nothing() {
    let uri = fake_server(Some(
        "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: 15\r\nconnection: close\r\n\r\n<html>hi</html>",
    ))
    .await;
    let home = TempDir::new("civkey-garbage");
    let store = Recording::new();
    let profile = open_profile(&home.0, store.clone());
    let err = pairing_fails(&profile, &uri).await;
    assert!(
        matches!(err, ClientError::Api(ApiFailure::Garbage(_))),
        "{err:?}"
    );
    assert!(err
        .describe(civkey_i18n::Locale::En)
        .contains("not one civkey understands"));
    assert!(profile.identities().unwrap().is_empty());
    store.assert_nothing_left();
}

#[tokio::test]
async fn a_server_reporting_a_code_other_than_its_nonce_gives_is_refused_and_leaves_nothing() {
    // A well-formed claim answer whose code is not the one the app derives from the QR code, its
    // own key and the answer's server nonce: the app shows no code and keeps nothing. (The code
    // it would derive is "000000" once in a million keys.)
    let body = r#"{"confirmation_code":"000000","server_nonce":"AAAAAAAAAAAAAAAAAAAAAA","claim_token":"AAAAAAAAAAAAAAAAAAAAAA","expires_at":4102444800}"#;
    let answer: &'static str = Box::leak(
        format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_boxed_str(),
    );
    let uri = fake_server(Some(answer)).await;
    let home = TempDir::new("civkey-mismatch");
    let store = Recording::new();
    let profile = open_profile(&home.0, store.clone());
    let err = pairing_fails(&profile, &uri).await;
    assert!(matches!(err, ClientError::CodeMismatch), "{err:?}");
    assert!(profile.identities().unwrap().is_empty());
    store.assert_nothing_left();
}

#[tokio::test]
async fn a_server_that_never_answers_times_out_and_leaves_nothing() {
    let uri = fake_server(None).await;
    let home = TempDir::new("civkey-silent");
    let store = Recording::new();
    let profile = open_profile(&home.0, store.clone()).with_timeout(Duration::from_secs(1));
    let started = std::time::Instant::now();
    let err = pairing_fails(&profile, &uri).await;
    assert!(
        matches!(err, ClientError::Api(ApiFailure::Unreachable(_))),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    store.assert_nothing_left();
}

// ----- the `civkey` command -----

fn civkey() -> PathBuf {
    built_binary("civkey", "civkey-cli").unwrap()
}

/// `civkey --profile DIR ARGS…` in English.
pub(crate) fn cli(profile: &Path) -> Command {
    let mut command = Command::new(civkey());
    command
        .arg("--profile")
        .arg(profile)
        .env("LC_ALL", "en_US.UTF-8")
        .env_remove("CIVKEY_PROFILE");
    command
}

pub(crate) fn json_lines(bytes: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(bytes)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn profile_id(dir: &Path) -> String {
    let state: Value =
        serde_json::from_slice(&std::fs::read(dir.join(STATE_FILE)).unwrap()).unwrap();
    state["profile_id"].as_str().unwrap().to_string()
}

/// The keystore entries of the profile in `dir`, as the Secret Service lists them.
pub(crate) fn keystore_entries(dir: &Path) -> Vec<String> {
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

/// Runs `civkey pair` and lets the browser decide once the code is printed; returns the exit
/// status and every line printed.
async fn cli_pair(
    server: &TestServer,
    citizen: &str,
    uri: &str,
    profile: &Path,
    json: bool,
    confirm: bool,
) -> (std::process::ExitStatus, Vec<String>, String) {
    let _ = secret_service();
    let mut command = cli(profile);
    if json {
        command.arg("--json");
    }
    let mut child = command
        .args(["pair", uri, "--name", "Test laptop"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (line_tx, mut line_rx) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if line_tx.send(line).is_err() {
                return;
            }
        }
    });
    let first = tokio::time::timeout(Duration::from_secs(60), line_rx.recv())
        .await
        .unwrap()
        .unwrap_or_default();
    let mut lines = vec![first.clone()];
    let code = if json {
        serde_json::from_str::<Value>(&first).unwrap()["confirmation_code"]
            .as_str()
            .map(str::to_string)
    } else {
        first
            .strip_prefix("Confirmation code: ")
            .map(str::to_string)
    };
    if let Some(code) = code {
        let session = civkey_client::pairing::read_pairing_uri(uri)
            .unwrap()
            .session_id
            .to_text();
        match server
            .state
            .services()
            .pairing_page_event(citizen, &session)
            .await
            .unwrap()
        {
            Some(PairingPageEvent::Claimed {
                confirmation_code, ..
            }) => assert_eq!(confirmation_code.to_string(), code),
            other => panic!("the page shows {other:?}"),
        }
        server
            .state
            .services()
            .decide_pairing(citizen, &session, confirm)
            .await
            .unwrap();
    }
    let output = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    while let Ok(line) = line_rx.try_recv() {
        lines.push(line);
    }
    // The reader thread may still be draining; give it a moment to pass the last lines on.
    while let Ok(Some(line)) =
        tokio::time::timeout(Duration::from_millis(200), line_rx.recv()).await
    {
        lines.push(line);
    }
    (
        output.status,
        lines,
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

// The command runs as a child process while the server answers on the other worker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn civkey_pair_prints_the_portals_code_and_exits_zero_once_confirmed() {
    let (server, citizen, uri) = TestServer::with_pairing_session().await;
    let home = TempDir::new("civkey-cli-pair");
    let (status, lines, stderr) = cli_pair(&server, &citizen, &uri, &home.0, false, true).await;
    assert!(status.success(), "{lines:?} {stderr}");
    assert!(lines[0].starts_with("Confirmation code: "), "{lines:?}");
    let code = lines[0].trim_start_matches("Confirmation code: ");
    assert!(
        code.len() == 7 && code.as_bytes()[3] == b' ',
        "grouped as 123 456: {code}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("Paired with ") && l.contains("Jana Nováková")),
        "{lines:?}"
    );

    // `civkey keys` lists it; `civkey forget` disconnects it at the server.
    let keys = cli(&home.0).args(["--json", "keys"]).output().unwrap();
    assert!(keys.status.success());
    let keys = json_lines(&keys.stdout);
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["origin"], server.origin.as_str());
    assert_eq!(keys[0]["device_name"], "Test laptop");
    let id = keys[0]["id"].as_str().unwrap().to_string();
    assert_eq!(keystore_entries(&home.0).len(), 1);

    let text = cli(&home.0).arg("keys").output().unwrap();
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(
        text.starts_with(&id) && text.contains("Test laptop") && text.contains(" UTC"),
        "{text}"
    );

    let forget = cli(&home.0).args(["forget", &id]).output().unwrap();
    assert!(
        forget.status.success(),
        "{}",
        String::from_utf8_lossy(&forget.stderr)
    );
    assert!(String::from_utf8_lossy(&forget.stdout).contains("the server disconnected the key"));
    assert!(keystore_entries(&home.0).is_empty());
    assert!(server
        .store
        .active_devices(&citizen)
        .await
        .unwrap()
        .is_empty());
    let keys = cli(&home.0).arg("keys").output().unwrap();
    assert!(String::from_utf8_lossy(&keys.stdout).starts_with("No identities yet"));
}

// The command runs as a child process while the server answers on the other worker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn civkey_pair_refused_in_the_browser_exits_one_and_leaves_nothing() {
    let (server, citizen, uri) = TestServer::with_pairing_session().await;
    let home = TempDir::new("civkey-cli-refused");
    let (status, lines, _) = cli_pair(&server, &citizen, &uri, &home.0, true, false).await;
    assert_eq!(status.code(), Some(1), "{lines:?}");
    let events: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events[0]["event"], "confirmation_code");
    assert_eq!(events.last().unwrap()["error"], "pairing_refused");
    assert!(keystore_entries(&home.0).is_empty());
    let keys = cli(&home.0).args(["--json", "keys"]).output().unwrap();
    assert!(keys.stdout.is_empty());
}

// The command runs as a child process while the server answers on the other worker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn civkey_pair_without_a_keystore_says_so_and_claims_nothing() {
    let (server, citizen, uri) = TestServer::with_pairing_session().await;
    let home = TempDir::new("civkey-cli-nokeystore");
    let output = cli(&home.0)
        .env(
            "DBUS_SESSION_BUS_ADDRESS",
            format!("unix:path={}/no-bus", home.0.display()),
        )
        .args(["pair", &uri])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("The OS keystore is not available") && stderr.contains("never in a file"),
        "{stderr}"
    );
    // The session was never claimed: the browser still waits for a scan.
    let session = civkey_client::pairing::read_pairing_uri(&uri)
        .unwrap()
        .session_id
        .to_text();
    let page = server
        .state
        .services()
        .pairing_page_event(&citizen, &session)
        .await
        .unwrap();
    assert_eq!(page, Some(PairingPageEvent::Waiting));
    let keys = cli(&home.0).args(["--json", "keys"]).output().unwrap();
    assert!(keys.stdout.is_empty());
}

#[test]
fn civkey_pair_refuses_other_codes_and_plain_http_servers() {
    let home = TempDir::new("civkey-cli-bad");
    for (text, expected) in [
        (
            "otpauth://totp/GitHub:jana?secret=JBSWY3DPEHPK3PXP&issuer=GitHub",
            "This is not a pairing QR code but: One-time code account GitHub: jana",
        ),
        (
            "civkey://pair?v=1&s=http%3A%2F%2Fid.example.gov&id=AAECAwQFBgcICQoLDA0ODw&k=EBESExQVFhcYGRobHB0eHw",
            "This is not a code civkey can read",
        ),
        ("civkey://pair?v=1&s=https%3A%2F%2Fid.exa", "This is not a code civkey can read"),
        ("https://example.com/", "This is not a code civkey can read"),
    ] {
        let output = cli(&home.0).args(["pair", text]).output().unwrap();
        assert_eq!(output.status.code(), Some(1), "{text}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{text}: {stderr}");
    }
    let long = format!(
        "civkey://pair?v=1&s=https%3A%2F%2Fid.example.gov&id={}",
        "A".repeat(10_000)
    );
    let output = cli(&home.0)
        .args(["--json", "pair", &long])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(json_lines(&output.stdout)[0]["error"], "unreadable");
}

#[test]
fn civkey_forget_of_an_unknown_identity_names_the_next_step() {
    let home = TempDir::new("civkey-cli-unknown");
    let output = cli(&home.0).args(["forget", "abcdefgh"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("See civkey keys"));
}

fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn base64_std(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

// ----- `civkey scan` -----

fn qr_fixtures() -> (PathBuf, Vec<Value>) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/qr");
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    (dir, manifest["frames"].as_array().unwrap().clone())
}

/// The first fixture frame of `kind` (`pairing`, `other`, `none-…`) at 480p.
fn fixture(kind: &str) -> (PathBuf, Option<String>) {
    let (dir, frames) = qr_fixtures();
    let frame = frames
        .iter()
        .find(|f| {
            f["resolution"] == "640x480" && f["kind"].as_str().unwrap_or("").starts_with(kind)
        })
        .unwrap_or_else(|| panic!("no 480p {kind} fixture"));
    (
        dir.join(frame["file"].as_str().unwrap()),
        frame["expected"].as_str().map(str::to_string),
    )
}

#[test]
fn civkey_scan_prints_the_link_in_an_image_and_says_what_else_it_saw() {
    let home = TempDir::new("civkey-cli-scan");
    let (pairing, expected) = fixture("pairing");
    let (other, _) = fixture("other");
    let (empty, _) = fixture("none");
    let output = cli(&home.0)
        .arg("scan")
        .args([&pairing, &other, &empty])
        .output()
        .unwrap();
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        format!("{}\n", expected.unwrap())
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("a QR code that is not a civkey or otpauth code"),
        "{stderr}"
    );
    assert!(stderr.contains("no QR code found"), "{stderr}");

    // Nothing usable: exit 1.
    let output = cli(&home.0)
        .arg("scan")
        .args([&other, &empty])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
}

#[test]
fn civkey_scan_of_a_file_that_is_not_an_image_names_the_file() {
    let home = TempDir::new("civkey-cli-scan-bad");
    let text = home.0.join("notes.png");
    std::fs::write(&text, "not a picture").unwrap();
    let (pairing, _) = fixture("pairing");
    let truncated = home.0.join("truncated.jpg");
    let bytes = std::fs::read(&pairing).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 3]).unwrap();
    let missing = home.0.join("missing.png");
    for file in [&text, &truncated, &missing] {
        let output = cli(&home.0)
            .args(["--json", "scan"])
            .arg(file)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1), "{}", file.display());
        let lines = json_lines(&output.stdout);
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(
            matches!(lines[0]["error"].as_str(), Some("image" | "no_code")),
            "{lines:?}"
        );
        assert!(
            lines[0]["message"]
                .as_str()
                .unwrap()
                .contains(&file.display().to_string()),
            "{lines:?}"
        );
    }
}

#[test]
fn civkey_scan_camera_without_a_camera_offers_an_image_or_a_link() {
    let has_camera = std::fs::read_dir("/dev")
        .map(|d| {
            d.flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with("video"))
        })
        .unwrap_or(false);
    if has_camera {
        eprintln!("this machine has a camera: the no-camera message cannot be checked here");
        return;
    }
    let home = TempDir::new("civkey-cli-camera");
    let output = cli(&home.0)
        .args(["scan", "--camera", "--timeout", "5"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("No camera found")
            && stderr.contains("civkey scan IMAGE")
            && stderr.contains("civkey pair LINK"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn civkey_pair_stopped_with_ctrl_c_deletes_its_new_key() {
    let _ = secret_service();
    let (_server, _citizen, uri) = TestServer::with_pairing_session().await;
    let home = TempDir::new("civkey-cli-interrupted");
    let mut child = cli(&home.0)
        .args(["--json", "pair", &uri])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let first = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        (line, stdout)
    });
    let (line, mut stdout) = tokio::time::timeout(Duration::from_secs(60), first)
        .await
        .unwrap()
        .unwrap();
    assert!(line.contains("confirmation_code"), "{line}");
    // The key exists while the app waits for the browser.
    assert_eq!(keystore_entries(&home.0).len(), 1);
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(1));
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    assert!(rest.contains("\"error\":\"interrupted\""), "{rest}");
    assert!(keystore_entries(&home.0).is_empty());
    assert!(cli(&home.0)
        .args(["--json", "keys"])
        .output()
        .unwrap()
        .stdout
        .is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_photo_of_the_portals_qr_code_pairs_through_civkey_scan_and_civkey_pair() {
    use civkey_client::scan::{Distortion, FrameSource, SyntheticFrames};
    let _ = secret_service();
    let (server, citizen, uri) = TestServer::with_pairing_session().await;
    let home = TempDir::new("civkey-cli-photo");

    // A webcam's picture of the QR code on the portal's page.
    let frame = SyntheticFrames::of_text(&uri, Distortion::mild(1280, 720), 1, 7)
        .next_frame()
        .unwrap()
        .unwrap();
    let photo = home.0.join("portal.png");
    image::GrayImage::from_raw(frame.width, frame.height, frame.luma)
        .unwrap()
        .save(&photo)
        .unwrap();
    let scanned = cli(&home.0).arg("scan").arg(&photo).output().unwrap();
    assert!(scanned.status.success());
    assert_eq!(String::from_utf8(scanned.stdout).unwrap().trim(), uri);

    // `civkey pair -` reads the scanned link from stdin.
    let mut child = cli(&home.0)
        .args(["--json", "pair", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        writeln!(stdin, "{uri}").unwrap();
    }
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let (line, stdout) = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        (line, stdout)
    })
    .await
    .unwrap();
    let event: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(event["event"], "confirmation_code");
    let session = civkey_client::pairing::read_pairing_uri(&uri)
        .unwrap()
        .session_id
        .to_text();
    server
        .state
        .services()
        .decide_pairing(&citizen, &session, true)
        .await
        .unwrap();
    let status = tokio::task::spawn_blocking(move || {
        drop(stdout);
        child.wait()
    })
    .await
    .unwrap()
    .unwrap();
    assert!(status.success());
    assert_eq!(
        server.store.active_devices(&citizen).await.unwrap().len(),
        1
    );
}
