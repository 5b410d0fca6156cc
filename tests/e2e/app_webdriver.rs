//! The real app, driven through WebDriver: `tauri-driver` in front of WebKitWebDriver starts the
//! built `civkey-app` under the X display `scripts/test` provides (Xvfb, with a private D-Bus
//! session and an unlocked GNOME Keyring, so the keys go to a real Secret Service).
//!
//! The citizen chooses an app PIN, survives a wrong one, pairs with a real server by pasting the
//! portal's link (the app shows the same confirmation code the portal does), approves a login
//! to a service, answers an office's BOK request on the BOK-pad the app opens by itself, finds the
//! login among its notifications, and sees the identity and one-time codes at home. Every screen
//! is saved to
//! `docs/screenshots/` as it is reached (the README shows them). A second test starts the app with
//! a pairing link, as a web page can, and sees it claim nothing before the citizen taps Continue.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use civkey_proto::bok::BokCounterEvent;
use civkey_proto::login::LoginPageEvent;
use civkey_proto::pair::PairingPageEvent;
use civkey_server::services::bok;
use civkey_server::services::oidc::authorize::AuthorizeParams;
use civkey_server::services::onboarding::OnboardInput;
use civkey_tests::{built_binary, TempDir, TestServer};
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;

use civkey_tests::counter::logged_in_clerk;

const PIN: &str = "274915";
const WRONG_PIN: &str = "111000";
const BOK: &str = "482913";

/// `tauri-driver` on free loopback ports, with the app's environment, stopped when dropped.
struct AppDriver {
    child: Child,
    url: String,
}

impl AppDriver {
    fn start(profile: &Path, log: &Path) -> Self {
        let free_port = || {
            TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port()
        };
        let (port, native_port) = (free_port(), free_port());
        let tauri_driver = which("tauri-driver");
        let log_file = std::fs::File::create(log).unwrap();
        let child = Command::new(&tauri_driver)
            .args(["--port", &port.to_string()])
            .args(["--native-port", &native_port.to_string()])
            // The app inherits these through WebKitWebDriver.
            .env("CIVKEY_PROFILE", profile)
            .env("LANGUAGE", "en")
            .env("LC_ALL", "en_US.UTF-8")
            .env("LANG", "en_US.UTF-8")
            // The app turns WebKitGTK's accelerated compositing off on Linux (src-tauri/src/main.rs);
            // without it, WebKitWebDriver's screenshots never return. The test keeps WebKit's
            // default so that it can take them; the screens are drawn the same either way.
            .env("WEBKIT_DISABLE_COMPOSITING_MODE", "0")
            .stdout(Stdio::from(log_file.try_clone().unwrap()))
            .stderr(Stdio::from(log_file))
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start {tauri_driver:?} ({e}): run through scripts/test")
            });
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "tauri-driver did not listen; log: {}",
                log.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        AppDriver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    /// A WebDriver session: tauri-driver starts the app for it.
    async fn app(&self, binary: &Path) -> Client {
        self.app_with_args(binary, &[]).await
    }

    /// A WebDriver session with the app started as `binary ARGS…` (a link as the first argument
    /// is the link the app was opened with, as the desktop's URL handler starts it).
    async fn app_with_args(&self, binary: &Path, args: &[String]) -> Client {
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), serde_json::json!("wry"));
        caps.insert(
            "tauri:options".into(),
            serde_json::json!({ "application": binary, "args": args }),
        );
        ClientBuilder::new(HttpConnector::new())
            .capabilities(caps)
            .connect(&self.url)
            .await
            .unwrap_or_else(|e| panic!("no WebDriver session with the app: {e}"))
    }
}

impl Drop for AppDriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `name` on the PATH or in cargo's bin folder (where `cargo install` puts tauri-driver).
fn which(name: &str) -> PathBuf {
    let cargo_bin = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .map(|home| home.join("bin"));
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain(cargo_bin)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| panic!("{name} is not installed: scripts/test installs it"))
}

/// Where the screenshots go: the repository's docs/screenshots.
fn screenshots() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("docs")
        .join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Saves what the window shows as `docs/screenshots/NAME.png` (after the UI settled).
async fn screenshot(app: &Client, name: &str) {
    tokio::time::sleep(Duration::from_millis(500)).await;
    let png = app.screenshot().await.unwrap();
    std::fs::write(screenshots().join(format!("{name}.png")), png).unwrap();
}

/// Waits up to 20 s for the element `css` to be displayed; returns it.
async fn shown(app: &Client, css: &str) -> fantoccini::elements::Element {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(element) = app.find(Locator::Css(css)).await {
            if element.is_displayed().await.unwrap_or(false) {
                return element;
            }
        }
        if Instant::now() > deadline {
            let text = match app.find(Locator::Css("body")).await {
                Ok(body) => body.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            panic!("{css} was not shown within 20 s; the app shows:\n{text}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the screen `name` (`data-screen`) is shown.
async fn on_screen(app: &Client, name: &str) {
    shown(app, &format!("[data-screen=\"{name}\"]")).await;
}

async fn text(app: &Client, css: &str) -> String {
    shown(app, css).await.text().await.unwrap()
}

/// Clicks `css` once it is shown and nothing covers it (screens move in with a short transition).
async fn click(app: &Client, css: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let element = shown(app, css).await;
        // Into the middle of the window: the screen's bottom bar must not cover it.
        let _ = app
            .execute(
                "arguments[0].scrollIntoView({block: 'center'}); return null;",
                vec![serde_json::to_value(&element).unwrap()],
            )
            .await;
        match element.click().await {
            Ok(()) => return,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("cannot click {css}: {e}"),
        }
    }
}

/// Types `pin` on the app's PIN pad.
async fn type_pin(app: &Client, pin: &str) {
    for digit in pin.chars() {
        click(app, &format!("[data-testid=\"pin-key-{digit}\"]")).await;
    }
}

/// Pastes `link` on the scan screen.
async fn paste_link(app: &Client, link: &str) {
    goto_hash(app, "#/scan").await;
    on_screen(app, "scan").await;
    let field = shown(app, "[data-testid=\"paste-input\"]").await;
    field.clear().await.unwrap();
    field.send_keys(link).await.unwrap();
    click(app, "[data-testid=\"paste-submit\"]").await;
}

/// Goes to the app's route `hash` (`#/home`), as its own links do.
async fn goto_hash(app: &Client, hash: &str) {
    app.execute(
        "window.location.hash = arguments[0]; return null;",
        vec![serde_json::json!(hash)],
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_citizen_uses_the_real_app_from_first_run_to_an_approved_login() {
    assert!(
        std::env::var_os("DISPLAY").is_some(),
        "run through scripts/test (needs Xvfb and the Secret Service)"
    );
    civkey_tests::keyring::check_secret_service_use();
    let binary = built_binary("civkey-app", "civkey-app").unwrap();
    let home = TempDir::new("civkey-app-e2e");
    let log = home.0.join("tauri-driver.log");
    let server = TestServer::start().await;
    let citizen = server.add_citizen("jana").await;

    // Two one-time code accounts, added with the civkey command into the profile the app uses.
    let profile = home.0.join("profile");
    let civkey = built_binary("civkey", "civkey-cli").unwrap();
    for uri in [
        "otpauth://totp/GitHub:jana?secret=JBSWY3DPEHPK3PXP&issuer=GitHub",
        "otpauth://totp/%C3%9Cgyf%C3%A9lkapu%2B:jana?secret=KRSXG5CTMVRXEZLU&issuer=%C3%9Cgyf%C3%A9lkapu%2B",
    ] {
        let added = Command::new(&civkey)
            .arg("--profile")
            .arg(&profile)
            .args(["totp", "add", uri])
            .output()
            .unwrap();
        assert!(
            added.status.success(),
            "{}",
            String::from_utf8_lossy(&added.stderr)
        );
    }

    let driver = AppDriver::start(&profile, &log);
    let app = driver.app(&binary).await;

    // First run: choose the PIN, twice.
    on_screen(&app, "pin").await;
    screenshot(&app, "01-pin-choose").await;
    type_pin(&app, PIN).await;
    type_pin(&app, PIN).await;
    on_screen(&app, "home").await;
    screenshot(&app, "02-home-empty").await;

    // Locked (as after the background): a wrong PIN is refused and says so; the right one opens.
    app.execute(
        "return window.__TAURI__.core.invoke('lock').then(() => { location.hash = '#/pin'; return null; });",
        vec![],
    )
    .await
    .unwrap();
    on_screen(&app, "pin").await;
    type_pin(&app, WRONG_PIN).await;
    shown(&app, "[data-testid=\"pin-error\"]").await;
    screenshot(&app, "03-pin-wrong").await;
    type_pin(&app, PIN).await;
    on_screen(&app, "home").await;

    // Pairing by the paste-a-link path: the app shows the portal's confirmation code.
    let pairing = server.new_pairing(&citizen).await;
    paste_link(&app, &pairing.to_uri()).await;
    on_screen(&app, "pair").await;
    let shown_code: String = text(&app, "[data-testid=\"confirmation-code\"]")
        .await
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    let services = server.state.services();
    let session = pairing.session_id;
    let portal_code = loop {
        match services
            .pairing_page_event(&citizen, &session)
            .await
            .unwrap()
        {
            Some(PairingPageEvent::Claimed {
                confirmation_code, ..
            }) => break confirmation_code.digits(),
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    };
    assert_eq!(shown_code, portal_code, "the app shows the portal's code");
    screenshot(&app, "04-pair-code").await;
    services
        .decide_pairing(&citizen, &session, true)
        .await
        .unwrap();
    shown(&app, "[data-testid=\"pair-confirmed\"]").await;
    screenshot(&app, "05-pair-confirmed").await;

    // A service asks; the citizen opens the same-device link and approves.
    let redirect = "http://127.0.0.1:9/callback";
    let client = services
        .register_client("Daňový portál", &[redirect.to_string()], None)
        .await
        .unwrap();
    let started = services
        .authorize(
            &AuthorizeParams {
                client_id: Some(client.client.id.clone()),
                redirect_uri: Some(redirect.into()),
                response_type: Some("code".into()),
                scope: Some("openid".into()),
                state: Some("s".into()),
                nonce: None,
                code_challenge: Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into()),
                code_challenge_method: Some("S256".into()),
                ..AuthorizeParams::default()
            },
            None,
            "127.0.0.1",
        )
        .await
        .unwrap();
    paste_link(&app, &started.launch_uri).await;
    on_screen(&app, "login").await;
    // The screen shows "Fetching the request…" until the request has come; then the service.
    shown(&app, "[data-testid=\"login-service\"]").await;
    let asked = text(&app, "[data-screen=\"login\"]").await;
    assert!(asked.contains("Daňový portál"), "{asked}");
    assert!(asked.contains("http://127.0.0.1:9"), "{asked}");
    screenshot(&app, "06-login-approval").await;
    click(&app, "[data-testid=\"login-approve\"]").await;
    shown(&app, "[data-testid=\"login-approved\"]").await;
    screenshot(&app, "07-login-approved").await;
    let id = started.request_id;
    assert!(matches!(
        services
            .login_page_event(&id, Some(&started.browser_token))
            .await
            .unwrap(),
        LoginPageEvent::Approved { .. }
    ));

    // At an office counter: the clerk starts a BOK verification; the unlocked app hears it on its
    // event stream and opens the BOK-pad with the office's name by itself; the citizen types the
    // BOK and the app shows the counter's outcome.
    bok::set_bok(&server.store, "jana", BOK).await.unwrap();
    let clerk = logged_in_clerk(&server).await;
    let started = services
        .start_bok_verification(&clerk, "jana")
        .await
        .unwrap();
    on_screen(&app, "bok").await;
    let office = text(&app, "[data-testid=\"bok-office\"]").await;
    assert!(office.contains("Czech POINT, Praha 1"), "{office}");
    let left = text(&app, "[data-testid=\"bok-time-left\"]").await;
    assert!(
        left.starts_with("1:") || left == "2:00",
        "two minutes to answer: {left}"
    );
    for digit in BOK.chars() {
        click(&app, &format!("[data-testid=\"bok-key-{digit}\"]")).await;
    }
    screenshot(&app, "12-bok-pad").await;
    click(&app, "[data-testid=\"bok-submit\"]").await;
    shown(&app, "[data-testid=\"bok-verified\"]").await;
    screenshot(&app, "13-bok-verified").await;
    let (counter_sees, _) = services
        .bok_counter_event(&clerk.clerk_id, &started.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(counter_sees, BokCounterEvent::Verified);

    // The notifications: the login to the service, told on the event stream.
    goto_hash(&app, "#/notifications").await;
    on_screen(&app, "notifications").await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let told = loop {
        let told = text(&app, "[data-screen=\"notifications\"]").await;
        let complete =
            told.contains("Daňový portál") && told.contains("A new mobile key was connected");
        if complete || Instant::now() > deadline {
            break told;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(told.contains("Daňový portál"), "{told}");
    // The server words informative notices in the citizen's language (Czech here); the app words
    // a known topic in its own.
    assert!(told.contains("A new mobile key was connected"), "{told}");
    screenshot(&app, "14-notifications").await;

    // A pasted otpauth:// link asks before adding the account.
    paste_link(
        &app,
        "otpauth://totp/Banka:jana?secret=GEZDGNBVGY3TQOJQ&issuer=Banka&digits=8",
    )
    .await;
    on_screen(&app, "otp-add").await;
    let summary = text(&app, "[data-testid=\"otp-add-summary\"]").await;
    assert!(summary.contains("Banka"), "{summary}");
    screenshot(&app, "08-otp-add").await;
    click(&app, "[data-testid=\"otp-add-confirm\"]").await;

    // Home: the identity and the three accounts (two added with the civkey command); the scan
    // screen without a camera; settings.
    goto_hash(&app, "#/home").await;
    on_screen(&app, "home").await;
    // The screen fills its lists in after it shows ("Added: Banka" may come first): wait for all.
    let deadline = Instant::now() + Duration::from_secs(20);
    let home_text = loop {
        let home_text = text(&app, "[data-screen=\"home\"]").await;
        let complete = ["127.0.0.1", "GitHub", "Ügyfélkapu+", "Banka: jana"]
            .iter()
            .all(|part| home_text.contains(part))
            && !home_text.contains("Loading");
        if complete || Instant::now() > deadline {
            break home_text;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(home_text.contains("127.0.0.1"), "{home_text}");
    assert!(home_text.contains("GitHub"), "{home_text}");
    assert!(home_text.contains("Ügyfélkapu+"), "{home_text}");
    assert!(home_text.contains("Banka"), "{home_text}");
    screenshot(&app, "09-home").await;
    goto_hash(&app, "#/scan").await;
    on_screen(&app, "scan").await;
    screenshot(&app, "10-scan").await;
    goto_hash(&app, "#/settings").await;
    on_screen(&app, "settings").await;
    screenshot(&app, "11-settings").await;

    // In-person onboarding: someone with no account yet (Petr) starts in the app, which shows an
    // identification code; the clerk types it with Petr's details at the counter; the app
    // becomes Petr's mobile key. (The address is filled in from the identity the app holds.)
    goto_hash(&app, "#/onboard").await;
    on_screen(&app, "onboard").await;
    click(&app, "[data-testid=\"onboard-start\"]").await;
    let code = text(&app, "[data-testid=\"identification-code\"]").await;
    assert!(
        code.len() == 12 && code.chars().filter(|c| *c == '-').count() == 2,
        "a grouped code: {code:?}"
    );
    screenshot(&app, "15-onboard-code").await;
    let onboarded = services
        .onboard_citizen(
            &clerk,
            &OnboardInput {
                code: code.clone(),
                full_name: "Petr Svoboda".into(),
                username: "petr".into(),
                email: "petr@example.cz".into(),
                phone: String::new(),
                document_type: "id_card".into(),
                document_number: "203948571".into(),
            },
            "127.0.0.1",
        )
        .await
        .unwrap();
    let done = text(&app, "[data-testid=\"onboard-done\"]").await;
    assert!(done.contains("Petr Svoboda"), "{done}");
    screenshot(&app, "16-onboard-done").await;
    let petrs_keys = server
        .store
        .active_devices(&onboarded.citizen_id)
        .await
        .unwrap();
    assert_eq!(petrs_keys.len(), 1, "Petr has one mobile key");

    app.close().await.unwrap();
}

/// What the connect page of `citizen`'s pairing `session` shows now.
async fn page_event(
    server: &TestServer,
    citizen: &civkey_server::domain::CitizenId,
    session: &civkey_proto::ids::SessionId,
) -> PairingPageEvent {
    server
        .state
        .services()
        .pairing_page_event(citizen, session)
        .await
        .unwrap()
        .unwrap()
}

/// A pairing link the app is started with (as a web page or another app can start it, without the
/// citizen choosing the link) says where it leads and claims nothing until the citizen taps
/// Continue: the server's session stays waiting until then.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pairing_link_the_app_is_started_with_claims_nothing_before_continue() {
    assert!(
        std::env::var_os("DISPLAY").is_some(),
        "run through scripts/test (needs Xvfb and the Secret Service)"
    );
    civkey_tests::keyring::check_secret_service_use();
    let binary = built_binary("civkey-app", "civkey-app").unwrap();
    let home = TempDir::new("civkey-app-link");
    let log = home.0.join("tauri-driver.log");
    let server = TestServer::start().await;
    let citizen = server.add_citizen("jana").await;
    let pairing = server.new_pairing(&citizen).await;
    let session = pairing.session_id;

    let driver = AppDriver::start(&home.0.join("profile"), &log);
    let app = driver.app_with_args(&binary, &[pairing.to_uri()]).await;
    // First run: the PIN comes first, then the link.
    on_screen(&app, "pin").await;
    type_pin(&app, PIN).await;
    type_pin(&app, PIN).await;
    on_screen(&app, "link").await;
    let host = pairing
        .origin
        .as_str()
        .trim_start_matches("http://")
        .to_string();
    assert_eq!(
        text(&app, "[data-screen=\"link\"] h1").await,
        format!("Pair with {host}?")
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        page_event(&server, &citizen, &session).await,
        PairingPageEvent::Waiting,
        "nothing was sent before Continue"
    );

    click(&app, "[data-testid=\"link-continue\"]").await;
    on_screen(&app, "pair").await;
    let shown_code: String = text(&app, "[data-testid=\"confirmation-code\"]")
        .await
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    match page_event(&server, &citizen, &session).await {
        PairingPageEvent::Claimed {
            confirmation_code, ..
        } => assert_eq!(shown_code, confirmation_code.digits()),
        other => panic!("claimed after Continue, not {other:?}"),
    }
    app.close().await.unwrap();
}
