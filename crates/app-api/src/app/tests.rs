//! The command bodies without a webview: the lock gate, the PIN, reading codes, the settings, the
//! pairing and login state machines, and pairing and logging in against the real server on
//! 127.0.0.1.

use std::sync::Arc;

use civkey_client::keystore::MemoryKeyStore;
use civkey_testkit::frames::{Distortion, Scene, Subject};
use civkey_testkit::ManualClock;

use super::*;
use crate::dto::ReadKind;

const PIN: &str = "480213";
const PAIRING: &str = "civkey://pair?v=1&s=https%3A%2F%2Fid.example.gov&id=AAECAwQFBgcICQoLDA0ODw&k=EBESExQVFhcYGRobHB0eHw";
const OTP: &str = "otpauth://totp/GitHub:octocat?secret=2GBTTWW2FOUYT5QP&issuer=GitHub";

/// An app over a fresh profile folder with an in-memory keystore and a pinned clock.
struct Fixture {
    dir: tempfile::TempDir,
    store: Arc<MemoryKeyStore>,
    clock: Arc<ManualClock>,
    app: Arc<App>,
}

impl Fixture {
    fn new(name: &str) -> Self {
        let dir = tempfile::Builder::new()
            .prefix(&format!("civkey-app-{name}-"))
            .tempdir()
            .unwrap();
        let store = Arc::new(MemoryKeyStore::new());
        let clock = Arc::new(ManualClock::at(1_767_225_600));
        let profile = Profile::open(dir.path(), store.clone())
            .unwrap()
            .with_clock(clock.clone());
        let app = Arc::new(App::with_profile(profile, Locale::En));
        Fixture {
            dir,
            store,
            clock,
            app,
        }
    }

    /// The app started again over the same profile (another process, after a restart).
    fn restarted(&self) -> App {
        let profile = Profile::open(self.dir.path(), self.store.clone())
            .unwrap()
            .with_clock(self.clock.clone());
        App::with_profile(profile, Locale::Cs)
    }

    async fn unlocked(name: &str) -> Self {
        let f = Fixture::new(name);
        f.app.set_pin(pin(PIN)).await.unwrap();
        f
    }
}

fn pin(text: &str) -> Zeroizing<String> {
    Zeroizing::new(text.to_string())
}

fn code<T: std::fmt::Debug>(result: Result<T, CommandError>) -> String {
    match result {
        Ok(value) => format!("ok: {value:?}"),
        Err(e) => e.code.to_string(),
    }
}

fn png_of(text: &str) -> Vec<u8> {
    let frame = Scene {
        subject: Subject::Code(text.into()),
        distortion: Distortion::mild(640, 480),
        seed: 5,
    }
    .render()
    .unwrap();
    let mut png = Vec::new();
    image::GrayImage::from_raw(frame.width, frame.height, frame.luma)
        .unwrap()
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    png
}

fn sink() -> Sink {
    Arc::new(|_| {})
}

#[tokio::test]
async fn everything_but_the_pin_screen_is_refused_while_locked() {
    let f = Fixture::new("locked");
    let app = &f.app;
    assert_eq!(code(app.home().await), "locked");
    assert_eq!(code(app.otp_codes().await), "locked");
    assert_eq!(code(app.read_text(PAIRING)), "locked");
    assert_eq!(code(app.scan_image(png_of(PAIRING)).await), "locked");
    assert_eq!(code(app.camera_start(sink()).await), "locked");
    assert_eq!(code(app.camera_frame(1, 1, &[0, 0, 0, 0])), "locked");
    assert_eq!(code(app.pair_begin(PAIRING, None).await), "locked");
    assert_eq!(code(app.pair_finish().await), "locked");
    assert_eq!(
        code(app.onboarding_start("https://id.example.gov").await),
        "locked"
    );
    assert_eq!(code(app.onboarding_wait().await), "locked");
    assert_eq!(code(app.onboarding_current()), "locked");
    assert_eq!(code(app.login_open("civkey://login?v=1").await), "locked");
    assert_eq!(code(app.login_decide(true).await), "locked");
    assert_eq!(code(app.rename_identity("abcd", "Phone").await), "locked");
    assert_eq!(code(app.forget_identity("abcd", true).await), "locked");
    assert_eq!(code(app.set_screenshot_protection(true).await), "locked");
    assert_eq!(code(app.bok_pending().await), "locked");
    assert_eq!(code(app.bok_submit("abcd", pin("482913")).await), "locked");
    assert_eq!(code(app.notifications()), "locked");
    assert_eq!(code(app.notifications_mark_read()), "locked");
    assert!(app.start_listening(Arc::new(|_| {})).is_empty());
    // The PIN screen's commands work.
    let status = app.status().await.unwrap();
    assert_eq!(status.pin, PinState::Unset);
    assert_eq!(status.platform, Platform::Desktop);
    assert_eq!(status.screenshot_protection, None);
    assert!(!status.biometrics);
    app.set_language(Some("cs")).await.unwrap();
    assert_eq!(app.take_link(), None);
    // Once a PIN is set, locking again closes the gate.
    app.set_pin(pin(PIN)).await.unwrap();
    app.home().await.unwrap();
    assert_eq!(app.lock_now().await.unwrap().pin, PinState::Locked);
    assert_eq!(code(app.home().await), "locked");
    assert!(!app.lock(), "locking a locked app tells nobody");
}

#[tokio::test]
async fn the_pin_is_chosen_once_and_wrong_pins_are_counted() {
    let f = Fixture::new("pin");
    let app = &f.app;
    assert_eq!(code(app.unlock(pin(PIN)).await), "pin_not_set");
    assert_eq!(code(app.set_pin(pin("123456")).await), "pin_guessable");
    assert_eq!(code(app.set_pin(pin("12345")).await), "pin_format");
    let status = app.set_pin(pin(PIN)).await.unwrap();
    assert_eq!(status.pin, PinState::Unlocked);
    assert_eq!(code(app.set_pin(pin("902731")).await), "pin_already_set");
    app.lock();
    assert_eq!(code(app.unlock(pin("480214")).await), "wrong_pin");
    let status = app.status().await.unwrap();
    assert_eq!((status.pin, status.attempts_left), (PinState::Locked, 9));
    let status = app.unlock(pin(PIN)).await.unwrap();
    assert_eq!((status.pin, status.attempts_left), (PinState::Unlocked, 10));
    // Another start of the app begins locked.
    assert_eq!(f.restarted().status().await.unwrap().pin, PinState::Locked);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_pins_sent_at_once_are_each_counted() {
    let f = Fixture::unlocked("pin-race").await;
    f.app.lock();
    let attempts: Vec<_> = (0..3)
        .map(|_| {
            let app = Arc::clone(&f.app);
            tokio::spawn(async move { app.unlock(pin("480214")).await })
        })
        .collect();
    for attempt in attempts {
        assert_eq!(code(attempt.await.unwrap()), "wrong_pin");
    }
    assert_eq!(f.app.status().await.unwrap().attempts_left, 7);
}

#[tokio::test]
async fn waits_are_told_and_the_tenth_wrong_pin_resets_the_app() {
    let f = Fixture::unlocked("reset").await;
    let app = &f.app;
    app.profile()
        .otp()
        .add(civkey_proto::otp::OtpAccount::parse_uri(OTP).unwrap())
        .unwrap();
    assert_eq!(app.home().await.unwrap().otp.len(), 1);
    app.lock();
    for attempt in 1..10u32 {
        assert_eq!(
            code(app.unlock(pin("480214")).await),
            "wrong_pin",
            "{attempt}"
        );
        let status = app.status().await.unwrap();
        assert_eq!(status.attempts_left, 10 - attempt);
        if attempt == 4 {
            assert_eq!(status.wait_seconds, 30);
            assert_eq!(code(app.unlock(pin(PIN)).await), "pin_wait");
        }
        f.clock.advance(status.wait_seconds);
    }
    assert_eq!(code(app.unlock(pin("480214")).await), "app_reset");
    let status = app.status().await.unwrap();
    assert_eq!(status.pin, PinState::Unset);
    assert!(
        f.store.is_empty(),
        "the vault key or the PIN record was left"
    );
    app.set_pin(pin("902731")).await.unwrap();
    assert!(app.home().await.unwrap().otp.is_empty());
}

#[tokio::test]
async fn an_otpauth_account_is_added_once() {
    let f = Fixture::unlocked("otp-add").await;
    let app = &f.app;
    assert_eq!(code(app.otp_add(OTP).await.map(|_| ())), "ok: ()");
    let home = app.home().await.unwrap();
    assert_eq!(home.otp.len(), 1);
    assert_eq!(home.otp[0].label, "GitHub: octocat");
    assert_eq!(code(app.otp_add(OTP).await), "duplicate_account");
    assert_eq!(code(app.otp_add(PAIRING).await), "unreadable");
    let codes = app.otp_codes().await.unwrap();
    assert_eq!(codes.len(), 1);
    assert_eq!(codes[0].code.len(), 6);
    assert_eq!(codes[0].period, Some(30));
    app.lock();
    assert_eq!(code(app.otp_add(OTP).await), "locked");
}

#[tokio::test]
async fn read_text_names_the_kind_and_refuses_what_is_not_ours() {
    let f = Fixture::unlocked("read").await;
    let app = &f.app;
    let pairing = app.read_text(&format!("  {PAIRING}\n")).unwrap();
    assert_eq!(pairing.kind, ReadKind::Pair);
    assert_eq!(pairing.text, PAIRING);
    assert_eq!(
        pairing.summary,
        "Pairing QR code for https://id.example.gov"
    );
    assert_eq!(app.read_text(OTP).unwrap().kind, ReadKind::Otp);
    let login = "civkey://login?v=1&s=https%3A%2F%2Fid.example.gov&r=AAECAwQFBgcICQoLDA0ODw&t=3&m=AAECAwQFBgcICQoLDA0ODw";
    match app.read_text(login) {
        Ok(result) => assert_eq!(result.kind, ReadKind::Login),
        Err(e) => assert_eq!(e.code, "unreadable", "{e:?}"),
    }
    assert_eq!(code(app.read_text("https://example.com/")), "not_civkey");
    assert_eq!(code(app.read_text("hello")), "not_civkey");
    assert_eq!(code(app.read_text("civkey://pair?v=1")), "unreadable");
    assert_eq!(code(app.read_text("otpauth://totp/x")), "unreadable");
    // The summary follows the chosen language.
    app.set_language(Some("hu")).await.unwrap();
    assert_ne!(app.read_text(PAIRING).unwrap().summary, pairing.summary);
}

#[tokio::test]
async fn a_picture_is_read_for_codes_and_says_when_it_has_none() {
    let f = Fixture::unlocked("picture").await;
    let app = &f.app;
    let results = app.scan_image(png_of(PAIRING)).await.unwrap();
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].kind, ReadKind::Pair);
    assert_eq!(results[0].text, PAIRING);
    assert_eq!(
        code(app.scan_image(png_of("https://example.com/")).await),
        "not_civkey"
    );
    assert_eq!(
        code(app.scan_image(b"not a picture".to_vec()).await),
        "image"
    );
    let blank = {
        let mut png = Vec::new();
        image::GrayImage::from_pixel(64, 64, image::Luma([255]))
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        png
    };
    assert_eq!(code(app.scan_image(blank).await), "no_code");
}

#[tokio::test]
async fn without_a_camera_camera_start_says_no_camera() {
    let f = Fixture::unlocked("camera").await;
    match f.app.camera_start(sink()).await {
        // This machine has no camera.
        Err(e) => assert!(matches!(e.code.as_str(), "no_camera" | "camera"), "{e:?}"),
        Ok(()) => f.app.camera_stop(),
    }
    assert_eq!(code(f.app.camera_frame(1, 1, &[0, 0, 0, 255])), "camera");
    f.app.camera_stop();
}

#[tokio::test]
async fn the_language_and_its_choice_are_kept_in_the_settings() {
    let f = Fixture::new("language");
    let status = f.app.set_language(Some("hu-HU")).await.unwrap();
    assert_eq!(status.locale, "hu");
    assert_eq!(status.language_choice.as_deref(), Some("hu"));
    assert_eq!(f.app.locale(), Locale::Hu);
    // Kept across a restart, whatever the system's language.
    assert_eq!(f.restarted().locale(), Locale::Hu);
    assert_eq!(code(f.app.set_language(Some("de")).await), "unknown_locale");
    let status = f.app.set_language(None).await.unwrap();
    assert_eq!(status.language_choice, None);
    assert_eq!(status.locale, "en");
    assert_eq!(f.restarted().locale(), Locale::Cs);
    let settings: serde_json::Value =
        serde_json::from_slice(&std::fs::read(f.dir.path().join("settings.json")).unwrap())
            .unwrap();
    assert_eq!(settings["screenshot_protection"], true);
}

#[tokio::test]
async fn screenshot_protection_is_not_offered_on_desktop() {
    let f = Fixture::unlocked("screenshots").await;
    assert_eq!(
        code(f.app.set_screenshot_protection(false).await),
        "not_available"
    );
    assert!(f.app.screenshot_protection());
}

#[tokio::test]
async fn finishing_or_deciding_without_beginning_is_refused() {
    let f = Fixture::unlocked("state-machine").await;
    let app = &f.app;
    assert_eq!(code(app.pair_finish().await), "no_pairing");
    app.pair_cancel();
    assert_eq!(code(app.login_decide(true).await), "no_login");
    // A code that is not a pairing code does not begin one.
    assert_eq!(code(app.pair_begin(OTP, None).await), "not_pairing");
    assert_eq!(code(app.pair_finish().await), "no_pairing");
    assert_eq!(code(app.login_open(PAIRING).await), "not_login");
    assert_eq!(code(app.login_decide(false).await), "no_login");
    // A bad device name is refused before anything is made.
    assert_eq!(
        code(app.pair_begin(PAIRING, Some("bad\u{7}name")).await),
        "unreadable"
    );
    assert_eq!(f.store.len(), 1, "only the PIN record");
}

#[tokio::test]
async fn onboarding_refuses_a_malformed_server_and_waiting_without_a_code() {
    let f = Fixture::unlocked("onboarding-refusals").await;
    let app = &f.app;
    assert_eq!(code(app.onboarding_wait().await), "no_onboarding");
    assert_eq!(app.onboarding_current(), Ok(None));
    app.onboarding_cancel();
    for bad in [
        "",
        "   ",
        "not a server",
        "http://id.example.gov",
        "https://id.example.gov/onboard",
        "ftp://id.example.gov",
        "https://user@id.example.gov",
    ] {
        let error = app.onboarding_start(bad).await.unwrap_err();
        assert_eq!(error.code, "server_address", "{bad:?}: {error:?}");
        assert!(
            error.message.contains("not a civkey server's address"),
            "{error:?}"
        );
    }
    assert_eq!(code(app.onboarding_wait().await), "no_onboarding");
    assert_eq!(f.store.len(), 1, "only the PIN record: no key was made");
}

#[test]
fn a_server_address_is_read_as_people_type_it() {
    for (typed, origin) in [
        ("identita.example.cz", "https://identita.example.cz"),
        (
            " https://Identita.Example.cz/ ",
            "https://identita.example.cz",
        ),
        (
            "https://identita.example.cz:443",
            "https://identita.example.cz",
        ),
        ("http://127.0.0.1:8443", "http://127.0.0.1:8443"),
        ("localhost:8443", "https://localhost:8443"),
    ] {
        assert_eq!(
            server_address(typed).map(|o| o.to_string()),
            Ok(origin.to_string()),
            "{typed:?}"
        );
    }
}

#[tokio::test]
async fn events_fill_the_notification_list_newest_first_open_the_bok_pad_and_stay_read_after_a_restart(
) {
    use civkey_proto::bok::BokRequest;
    use civkey_proto::events::{Event, EventKind, InformativeTopic, LoginMeans as Means};
    use civkey_proto::ids::{BokRequestId, Challenge};

    use crate::dto::{LoginMeans, NotificationKind, NotificationTopic};
    use crate::inbox::{take_in, AppEvent, NOTIFICATIONS_CAP};

    let f = Fixture::unlocked("inbox").await;
    let identity = civkey_client::profile::Identity {
        origin: civkey_proto::Origin::parse("https://id.example.gov").unwrap(),
        device_id: civkey_proto::ids::DeviceId::from_bytes([7; 16]),
        device_name: "Laptop".into(),
        account_name: None,
        paired_at: 1,
        public_key: f
            .store
            .create_signing_key(&civkey_client::keystore::KeyRef::generate("p", "d"))
            .unwrap(),
        key: civkey_client::keystore::KeyRef::generate("p", "d"),
    };
    let told: Arc<std::sync::Mutex<Vec<AppEvent>>> = Arc::default();
    let emit: crate::inbox::Emit = {
        let told = told.clone();
        Arc::new(move |e| told.lock().unwrap().push(e))
    };
    let now = civkey_client::clock::Clock::now(f.clock.as_ref());
    let events = [
        EventKind::LoginNotification {
            service_name: "Portál občana".into(),
            means: Means::MobileKey {
                device_name: "Pixel".into(),
            },
        },
        EventKind::Informative {
            topic: InformativeTopic::KeyConnected,
            device_name: Some("Pixel 8".into()),
            office_name: None,
            title: "Připojen nový mobilní klíč".into(),
            body: "K vašemu účtu byl připojen mobilní klíč „Pixel 8“.".into(),
        },
        EventKind::BokRequest {
            request: BokRequest {
                id: BokRequestId::from_bytes([3; 16]),
                office_name: "Czech POINT, Praha 1".into(),
                challenge: Challenge::from_bytes([4; 32]),
                created_at: now,
                expires_at: now + 120,
            },
        },
    ];
    for (i, kind) in events.into_iter().enumerate() {
        let event = Event {
            id: i as u64 + 1,
            at: now + i as u64,
            kind,
        };
        take_in(f.app.inbox(), &emit, &identity, &event);
        // The same event again (a resumed stream) is not listed twice.
        take_in(f.app.inbox(), &emit, &identity, &event);
    }
    let list = f.app.notifications().unwrap();
    assert_eq!(
        list.iter().map(|n| n.kind).collect::<Vec<_>>(),
        vec![
            NotificationKind::BokRequest,
            NotificationKind::Informative,
            NotificationKind::Login
        ]
    );
    assert_eq!(list[0].office_name.as_deref(), Some("Czech POINT, Praha 1"));
    // The topic and its argument for the screens to word, the server's text to fall back on.
    assert_eq!(list[1].topic, Some(NotificationTopic::KeyConnected));
    assert_eq!(list[1].device_name.as_deref(), Some("Pixel 8"));
    assert_eq!(list[1].office_name, None);
    assert_eq!(list[1].title.as_deref(), Some("Připojen nový mobilní klíč"));
    assert_eq!(list[0].topic, None, "only informative ones have a topic");
    assert_eq!(list[2].means, Some(LoginMeans::MobileKey));
    assert_eq!(list[2].device_name.as_deref(), Some("Pixel"));
    assert!(list.iter().all(|n| !n.read));
    assert!(f
        .app
        .notifications_mark_read()
        .unwrap()
        .iter()
        .all(|n| n.read));
    let told = told.lock().unwrap().clone();
    let prompts: Vec<_> = told
        .iter()
        .filter_map(|e| match e {
            AppEvent::BokRequest(p) => Some(p.clone()),
            AppEvent::Notification(_) => None,
        })
        .collect();
    assert_eq!(
        prompts.len(),
        2,
        "a BOK request opens the pad each time it comes"
    );
    assert_eq!(prompts[0].office_name, "Czech POINT, Praha 1");
    assert_eq!(
        told.iter()
            .filter(|e| matches!(e, AppEvent::Notification(_)))
            .count(),
        3
    );
    // After a restart the list is rebuilt from the server's history (the stream resends it):
    // what was marked read stays read, and what came after is new.
    let restarted = f.restarted();
    restarted.unlock(pin(PIN)).await.unwrap();
    for id in 1..=4 {
        let event = Event {
            id,
            at: now,
            kind: EventKind::Informative {
                topic: InformativeTopic::Other,
                device_name: None,
                office_name: None,
                title: format!("e{id}"),
                body: String::new(),
            },
        };
        take_in(restarted.inbox(), &emit, &identity, &event);
    }
    let read: Vec<bool> = restarted
        .notifications()
        .unwrap()
        .iter()
        .map(|n| n.read)
        .collect();
    assert_eq!(read, vec![false, true, true, true], "only event 4 is new");

    // Capped, newest first.
    for i in 0..(NOTIFICATIONS_CAP as u64 + 20) {
        let event = Event {
            id: 100 + i,
            at: now,
            kind: EventKind::Informative {
                topic: InformativeTopic::Other,
                device_name: None,
                office_name: None,
                title: format!("n{i}"),
                body: String::new(),
            },
        };
        take_in(f.app.inbox(), &emit, &identity, &event);
    }
    let list = f.app.notifications().unwrap();
    assert_eq!(list.len(), NOTIFICATIONS_CAP);
    assert_eq!(
        list[0].title.as_deref(),
        Some(format!("n{}", NOTIFICATIONS_CAP + 19).as_str())
    );
    // A BOK that breaks the rules is refused before anything else; an unknown request is said.
    assert_eq!(
        code(f.app.bok_submit("whatever", pin("12a4")).await),
        "bok_invalid_format"
    );
    assert_eq!(
        code(f.app.bok_submit("whatever", pin("482913")).await),
        "bok_unknown"
    );
}

#[test]
fn links_are_kept_once() {
    let f = Fixture::new("links");
    let link = "civkey://login?v=1&s=https%3A%2F%2Fid.example.gov";
    f.app.keep_link(link.into());
    assert!(f.app.is_pending(link));
    assert_eq!(f.app.take_link().as_deref(), Some(link));
    assert_eq!(f.app.take_link(), None);
    assert!(!f.app.is_pending(link));
}

mod real_server {
    //! Pairing and logging in through the commands against the real server on 127.0.0.1.

    use std::net::SocketAddr;

    use civkey_proto::Origin;
    use civkey_server::services::oidc::authorize::AuthorizeParams;
    use civkey_server::store::Store;
    use civkey_server::{router, AppState};

    use super::*;

    const REDIRECT: &str = "https://service.example.org/callback";

    struct Server {
        state: AppState,
        citizen: civkey_server::domain::CitizenId,
        _dir: Fixture,
    }

    async fn start() -> Server {
        start_with_onboarding_ttl(civkey_proto::onboard::ONBOARDING_TTL_SECS).await
    }

    /// The server's push rules in production, with `push.example.org` resolving to a public
    /// address without asking DNS (the tests' push endpoint).
    fn push_policy() -> civkey_server::services::push_guard::PushPolicy {
        use civkey_server::services::push_guard::{HostsTable, PushPolicy};
        let hosts = HostsTable::default();
        hosts.set("push.example.org", &["93.184.215.14".parse().unwrap()]);
        PushPolicy::new(false, Vec::new(), Arc::new(hosts))
    }
    /// A server whose identification codes are valid `ttl` seconds.
    async fn start_with_onboarding_ttl(ttl: u64) -> Server {
        // The server's database goes in a folder of its own (a fixture's, for the clean-up).
        let dir = Fixture::new("server-db");
        let store = Store::open(
            &format!("sqlite://{}/civkey.db", dir.dir.path().display()),
            civkey_server::store::Kek::generate().unwrap(),
        )
        .await
        .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let origin = Origin::normalise(&format!("http://{address}")).unwrap();
        let services = civkey_server::services::Services::new(
            store.clone(),
            Arc::new(civkey_server::clock::SystemClock),
            origin,
        )
        .with_onboarding_ttl(ttl)
        .with_push_policy(push_policy());
        let state = AppState::from_services(services);
        let app = router(state.clone());
        tokio::spawn(async move {
            let _ = axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await;
        });
        let citizen = civkey_server::services::citizens::add_citizen(
            &store,
            0,
            "jana",
            "Jana Nováková",
            None,
            "correct horse battery",
        )
        .await
        .unwrap()
        .citizen_id;
        Server {
            state,
            citizen,
            _dir: dir,
        }
    }

    /// An app whose profile uses the real clock (the server checks signed times).
    async fn app_for_server(name: &str) -> (Fixture, Arc<App>) {
        let f = Fixture::new(name);
        let profile = Profile::open(f.dir.path(), f.store.clone()).unwrap();
        let app = Arc::new(App::with_profile(profile, Locale::En));
        app.set_pin(pin(PIN)).await.unwrap();
        (f, app)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pairing_and_logging_in_work_against_the_real_server() {
        let server = start().await;
        let services = server.state.services();
        let (f, app) = app_for_server("real-pair").await;

        let pairing = services.start_pairing(&server.citizen).await.unwrap();
        let started = app
            .pair_begin(&pairing.uri.to_uri(), Some("Jana's laptop"))
            .await
            .unwrap();
        assert_eq!(started.server, services_origin(&server));
        assert_eq!(started.confirmation_code.len(), 6);
        assert!(started
            .confirmation_code
            .bytes()
            .all(|b| b.is_ascii_digit()));
        // The browser confirms while the app waits.
        let decide = {
            let state = server.state.clone();
            let citizen = server.citizen.clone();
            let session = pairing.uri.session_id;
            tokio::spawn(async move {
                // Lets the app's wait start first, as a citizen is slower than the app; the
                // outcome is the same either way, nothing is asserted on the timing.
                tokio::time::sleep(std::time::Duration::from_millis(300)).await;
                state
                    .services()
                    .decide_pairing(&citizen, &session, true)
                    .await
                    .unwrap();
            })
        };
        let outcome = app.pair_finish().await.unwrap();
        decide.await.unwrap();
        assert_eq!(outcome.status, PairingStatus::Confirmed);
        let identity = outcome.identity.unwrap();
        assert_eq!(identity.device_name, "Jana's laptop");
        assert_eq!(identity.account_name.as_deref(), Some("Jana Nováková"));
        let home = app.home().await.unwrap();
        assert_eq!(home.identities, vec![identity.clone()]);
        assert_eq!(code(app.pair_finish().await), "no_pairing");

        // A service asks for a login; the app opens it, shows who asks, and approves.
        let client = services
            .register_client("Town library", &[REDIRECT.to_string()], None)
            .await
            .unwrap();
        let login = services
            .authorize(
                &AuthorizeParams {
                    client_id: Some(client.client.id.clone()),
                    redirect_uri: Some(REDIRECT.into()),
                    response_type: Some("code".into()),
                    scope: Some("openid".into()),
                    state: Some("s".into()),
                    nonce: Some("n".into()),
                    code_challenge: Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into()),
                    code_challenge_method: Some("S256".into()),
                    ..AuthorizeParams::default()
                },
                None,
                "127.0.0.1",
            )
            .await
            .unwrap();
        let (qr, _) = services.first_login_qr_uri(&login);
        let request = app.login_open(&qr).await.unwrap();
        assert_eq!(request.service_name, "Town library");
        assert_eq!(request.service_origin, "https://service.example.org");
        assert_eq!(request.identity_id, identity.id);
        assert_eq!(request.server, identity.server);
        let outcome = app.login_decide(true).await.unwrap();
        assert_eq!(outcome.decision, Decision::Approve);
        assert_eq!(code(app.login_decide(true).await), "no_login");

        // A second request, from the same-device link, denied.
        let login = services
            .authorize(
                &AuthorizeParams {
                    client_id: Some(client.client.id.clone()),
                    redirect_uri: Some(REDIRECT.into()),
                    response_type: Some("code".into()),
                    scope: Some("openid".into()),
                    code_challenge: Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into()),
                    code_challenge_method: Some("S256".into()),
                    ..AuthorizeParams::default()
                },
                None,
                "127.0.0.1",
            )
            .await
            .unwrap();
        app.login_open(&login.launch_uri).await.unwrap();
        assert_eq!(
            app.login_decide(false).await.unwrap().decision,
            Decision::Deny
        );
        // Renamed at the server and here; forgotten with the server told.
        let renamed = app
            .rename_identity(&identity.id, "Work laptop")
            .await
            .unwrap();
        assert_eq!(renamed.device_name, "Work laptop");
        assert_eq!(
            app.home().await.unwrap().identities[0].device_name,
            "Work laptop"
        );
        let home = app.forget_identity(&identity.id, false).await.unwrap();
        assert!(home.identities.is_empty());
        assert_eq!(f.store.len(), 1, "only the PIN record is left");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_bok_request_reaches_the_unlocked_app_and_is_answered_with_its_outcome() {
        use crate::dto::BokOutcome;
        use crate::inbox::AppEvent;

        let server = start().await;
        let services = server.state.services();
        let (_f, app) = app_for_server("real-bok").await;
        let pairing = services.start_pairing(&server.citizen).await.unwrap();
        app.pair_begin(&pairing.uri.to_uri(), Some("Jana's phone"))
            .await
            .unwrap();
        services
            .decide_pairing(&server.citizen, &pairing.uri.session_id, true)
            .await
            .unwrap();
        app.pair_finish().await.unwrap();
        civkey_server::services::bok::set_bok(&services.store, "jana", "482913")
            .await
            .unwrap();
        let clerk = clerk(&server).await;
        assert_eq!(app.bok_pending().await.unwrap(), None);

        // The listening task tells the screens when the clerk starts (this server has no event
        // stream yet, so the task polls).
        let (told_tx, mut told) = tokio::sync::mpsc::unbounded_channel();
        for task in app.start_listening(Arc::new(move |e| {
            let _ = told_tx.send(e);
        })) {
            tokio::spawn(task);
        }
        let started = services
            .start_bok_verification(&clerk, "jana")
            .await
            .unwrap();
        let prompt = loop {
            match tokio::time::timeout(std::time::Duration::from_secs(15), told.recv())
                .await
                .unwrap()
                .unwrap()
            {
                AppEvent::BokRequest(p) => break p,
                AppEvent::Notification(_) => {}
            }
        };
        assert_eq!(prompt.request_id, started.id.to_text());
        assert_eq!(prompt.office_name, "Czech POINT, Praha 1");
        assert_eq!(app.bok_pending().await.unwrap(), Some(prompt.clone()));
        assert_eq!(
            app.notifications().unwrap()[0].office_name.as_deref(),
            Some("Czech POINT, Praha 1")
        );

        // Letters: refused here, nothing counted. A wrong code: not verified, 4 left; the request
        // is then used up.
        assert_eq!(
            code(app.bok_submit(&prompt.request_id, pin("48a9")).await),
            "bok_invalid_format"
        );
        let wrong = app
            .bok_submit(&prompt.request_id, pin("111111"))
            .await
            .unwrap();
        assert_eq!(
            (wrong.outcome, wrong.attempts_left),
            (BokOutcome::NotVerified, 4)
        );
        assert_eq!(
            code(app.bok_submit(&prompt.request_id, pin("482913")).await),
            "bok_unknown"
        );
        assert_eq!(app.bok_pending().await.unwrap(), None);

        // The next request, the right code: verified.
        let started = services
            .start_bok_verification(&clerk, "jana")
            .await
            .unwrap();
        let prompt = app.bok_pending().await.unwrap().unwrap();
        assert_eq!(prompt.request_id, started.id.to_text());
        let right = app
            .bok_submit(&prompt.request_id, pin("482913"))
            .await
            .unwrap();
        assert_eq!(right.outcome, BokOutcome::Verified);

        // Locked: the listening ends and the BOK commands are refused.
        app.lock();
        assert_eq!(code(app.bok_pending().await), "locked");
        assert!(
            tokio::time::timeout(std::time::Duration::from_secs(2), async {
                while told.recv().await.is_some() {}
            })
            .await
            .is_ok(),
            "the listening task ended at the lock"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_refused_pairing_says_so_and_a_cancelled_one_leaves_no_key() {
        let server = start().await;
        let services = server.state.services();
        let (f, app) = app_for_server("real-refuse").await;

        let pairing = services.start_pairing(&server.citizen).await.unwrap();
        app.pair_begin(&pairing.uri.to_uri(), None).await.unwrap();
        services
            .decide_pairing(&server.citizen, &pairing.uri.session_id, false)
            .await
            .unwrap();
        let outcome = app.pair_finish().await.unwrap();
        assert_eq!(outcome.status, PairingStatus::Refused);
        assert_eq!(outcome.identity, None);
        assert_eq!(f.store.len(), 1, "the refused pairing's key was deleted");

        // Cancelled while waiting for the browser.
        let pairing = services.start_pairing(&server.citizen).await.unwrap();
        app.pair_begin(&pairing.uri.to_uri(), None).await.unwrap();
        assert_eq!(f.store.len(), 2);
        let waiting = {
            let app = Arc::clone(&app);
            tokio::spawn(async move { app.pair_finish().await })
        };
        civkey_testkit::wait_until(
            "the first pair_finish to wait",
            std::time::Duration::from_secs(10),
            || {
                let waiting = app.pairing_is_waiting();
                async move { waiting.then_some(()) }
            },
        )
        .await;
        assert_eq!(code(app.pair_finish().await), "pairing_busy");
        app.pair_cancel();
        assert_eq!(code(waiting.await.unwrap()), "cancelled");
        assert_eq!(f.store.len(), 1, "the cancelled pairing's key was deleted");
        assert!(app.home().await.unwrap().identities.is_empty());

        // Begun, then abandoned by locking and beginning anew: the first key goes too.
        let first = services.start_pairing(&server.citizen).await.unwrap();
        app.pair_begin(&first.uri.to_uri(), None).await.unwrap();
        let second = services.start_pairing(&server.citizen).await.unwrap();
        app.pair_begin(&second.uri.to_uri(), None).await.unwrap();
        assert_eq!(f.store.len(), 2, "one pairing key at a time");
        app.pair_cancel();
        assert_eq!(f.store.len(), 1);
    }

    /// Eva, a clerk at the counter, logged in.
    async fn clerk(server: &Server) -> civkey_server::store::ClerkSession {
        let services = server.state.services();
        let enrolment = civkey_server::services::clerks::add_clerk(
            &services.store,
            0,
            "eva",
            "Eva Úřednice",
            "Czech POINT, Praha 1",
            "clerk's long password",
        )
        .await
        .unwrap();
        // The code her authenticator shows, from the URI `clerk add` printed.
        let account = civkey_proto::otp::OtpAccount::parse_uri(&enrolment.otpauth_uri).unwrap();
        let code = civkey_proto::otp::totp(
            account.secret.expose(),
            account.algorithm,
            account.digits,
            30,
            civkey_server::clock::Clock::now(services.clock.as_ref()),
        )
        .code;
        let session = services
            .login_clerk("eva", "clerk's long password", &code, "10.0.0.1")
            .await
            .unwrap();
        services
            .clerk_session(&session.token)
            .await
            .unwrap()
            .unwrap()
    }

    /// What the clerk types on the counter's form for Petr, with the code the app shows.
    fn petr(code: &str) -> civkey_server::services::onboarding::OnboardInput {
        civkey_server::services::onboarding::OnboardInput {
            code: code.to_string(),
            full_name: "Petr Svoboda".into(),
            username: "petr".into(),
            email: "petr@example.cz".into(),
            phone: String::new(),
            document_type: "id_card".into(),
            document_number: "203948571".into(),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn in_person_onboarding_makes_the_app_a_mobile_key_against_the_real_server() {
        let server = start().await;
        let services = server.state.services();
        let eva = clerk(&server).await;
        let (f, app) = app_for_server("real-onboard").await;

        // The citizen types the server's address with a stray space and slash.
        let typed = services_origin(&server);
        let started = app.onboarding_start(&format!(" {typed}/ ")).await.unwrap();
        assert_eq!(started.server, services_origin(&server));
        let grouped = &started.identification_code;
        assert_eq!(grouped.len(), 12, "{grouped}");
        assert_eq!(
            grouped.split('-').map(str::len).collect::<Vec<_>>(),
            [4, 4, 2]
        );
        let now = civkey_client::clock::Clock::now(&civkey_client::clock::SystemClock);
        assert!(started.expires_at > now + 25 * 60, "{started:?}");
        assert_eq!(f.store.len(), 2, "the PIN record and the new device key");
        assert_eq!(app.onboarding_current(), Ok(Some(started.clone())));

        // The clerk checks Petr's ID card and types the code (read aloud: lower case, spaces)
        // while the app waits.
        let clerk_types = {
            let state = server.state.clone();
            let said = grouped.to_lowercase().replace('-', " ");
            tokio::spawn(async move {
                // Lets the app's wait start first, as a citizen is slower than the app; the
                // outcome is the same either way, nothing is asserted on the timing.
                tokio::time::sleep(std::time::Duration::from_millis(300)).await;
                state
                    .services()
                    .onboard_citizen(&eva, &petr(&said), "10.0.0.2")
                    .await
                    .unwrap()
            })
        };
        // One wait runs on (the screen went when the app locked); the screen shown again after
        // the unlock waits along with it, and both hear the outcome.
        let first = {
            let app = Arc::clone(&app);
            tokio::spawn(async move { app.onboarding_wait().await })
        };
        let identity = app.onboarding_wait().await.unwrap();
        assert_eq!(first.await.unwrap(), Ok(identity.clone()));
        let onboarded = clerk_types.await.unwrap();
        assert_eq!(onboarded.username, "petr");
        assert_eq!(identity.account_name.as_deref(), Some("Petr Svoboda"));
        assert_eq!(identity.server, services_origin(&server));
        assert_eq!(app.home().await.unwrap().identities, vec![identity.clone()]);
        assert_eq!(code(app.onboarding_wait().await), "no_onboarding");
        assert_eq!(app.onboarding_current(), Ok(None));
        assert_eq!(f.store.len(), 2, "the new key is kept");

        // The new identity is listened to, like a paired one.
        assert_eq!(app.start_listening(Arc::new(|_| {})).len(), 1);

        // It is a mobile key like any other: it registers a push endpoint, then clears it.
        let stored = app.profile().identities().unwrap().remove(0);
        let device_id = stored.device_id;
        let endpoint =
            civkey_proto::device::PushEndpoint::parse("https://push.example.org/up/petr").unwrap();
        app.profile()
            .register_push(&stored, Some(endpoint), None)
            .await
            .unwrap();
        let device = services.store.device(&device_id).await.unwrap().unwrap();
        assert_eq!(
            device.push_endpoint.as_deref(),
            Some("https://push.example.org/up/petr")
        );
        app.profile()
            .register_push(&stored, None, None)
            .await
            .unwrap();
        let device = services.store.device(&device_id).await.unwrap().unwrap();
        assert_eq!(device.push_endpoint, None);
        app.lock();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_expired_or_cancelled_onboarding_says_so_and_leaves_no_key() {
        let server = start_with_onboarding_ttl(2).await;
        let (f, app) = app_for_server("real-onboard-expiry").await;
        let origin = services_origin(&server);

        // Nobody enters the code: after its two seconds the app hears it expired.
        let started = app.onboarding_start(&origin).await.unwrap();
        let now = civkey_client::clock::Clock::now(&civkey_client::clock::SystemClock);
        assert!(started.expires_at <= now + 3, "{started:?}");
        let expired =
            tokio::time::timeout(std::time::Duration::from_secs(20), app.onboarding_wait())
                .await
                .unwrap();
        assert_eq!(code(expired), "onboarding_expired");
        assert_eq!(f.store.len(), 1, "the expired onboarding's key was deleted");
        assert!(app.home().await.unwrap().identities.is_empty());

        assert_eq!(app.onboarding_current(), Ok(None));

        // Cancelled while two calls wait for the clerk.
        app.onboarding_start(&origin).await.unwrap();
        assert_eq!(f.store.len(), 2);
        let waiting: Vec<_> = (0..2)
            .map(|_| {
                let app = Arc::clone(&app);
                tokio::spawn(async move { app.onboarding_wait().await })
            })
            .collect();
        civkey_testkit::wait_until(
            "both calls to wait",
            std::time::Duration::from_secs(10),
            || {
                let waiters = app.onboarding_waiters();
                async move { (waiters == 2).then_some(()) }
            },
        )
        .await;
        app.onboarding_cancel();
        for waiting in waiting {
            assert_eq!(code(waiting.await.unwrap()), "cancelled");
        }
        assert_eq!(app.onboarding_current(), Ok(None));
        assert_eq!(
            f.store.len(),
            1,
            "the cancelled onboarding's key was deleted"
        );

        // A new code replaces the one shown before (its key goes), and a PIN reset forgets it.
        app.onboarding_start(&origin).await.unwrap();
        app.onboarding_start(&origin).await.unwrap();
        assert_eq!(f.store.len(), 2, "one onboarding key at a time");
        app.onboarding_cancel();
        assert_eq!(f.store.len(), 1);
        assert!(app.home().await.unwrap().identities.is_empty());
    }

    fn services_origin(server: &Server) -> String {
        server.state.public_origin().to_string()
    }
}
