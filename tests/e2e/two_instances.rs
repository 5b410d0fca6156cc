//! Two server instances on one PostgreSQL database, as behind a load balancer: the browser talks
//! to instance 1, the app to instance 2 (both believe they are reached at one public origin, so
//! the QR codes instance 1 draws send the app to instance 2). Pairing, a service login, a BOK
//! verification at the counter and an in-person onboarding each complete, and each side learns
//! what the other told the other instance within a second: the change signal crosses instances
//! (PostgreSQL LISTEN/NOTIFY), no flow keeps state that only one process knows.
//!
//! Needs PostgreSQL (`CIVKEY_TEST_POSTGRES`, see [`civkey_tests::postgres`]) in either test binary.
//! The app's keys are in memory: no keyring.

use std::sync::Arc;
use std::time::{Duration, Instant};

use civkey_client::events::EventStream;
use civkey_client::keystore::MemoryKeyStore;
use civkey_client::profile::Profile;
use civkey_proto::bok::{BokOutcome, BokRequest};
use civkey_proto::events::EventKind;
use civkey_proto::pair::PairingPageEvent;
use civkey_proto::rules::Bok;
use civkey_proto::sign::Decision;
use civkey_server::services::bok;
use civkey_tests::counter::{add_clerk, Counter};
use civkey_tests::http::{
    csrf_of, events_url_of, get_with_cookie, launch_link_of, login_cookie_of, no_redirects,
    query_of, wait_for_event,
};
use civkey_tests::{authorize_url, ServerOptions, TempDir, TestServer};
use serde_json::Value;

/// What "within a second" allows: the cross-instance signal's goal.
const PROMPTLY: Duration = Duration::from_secs(1);
const BOK: &str = "482913";
const VERIFIER: &str = "e2e-verifier-0123456789-0123456789-0123456789-twoinst";
const REDIRECT: &str = "http://127.0.0.1:9/callback";

/// Two instances on one fresh PostgreSQL database with one key-encryption key: (instance 1,
/// where the browser goes; instance 2, where the app goes and whose origin both use).
async fn two_instances() -> (TestServer, TestServer) {
    let database = civkey_tests::postgres::fresh_database().await;
    let mut key = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut key).unwrap();
    let two = TestServer::start_with(ServerOptions {
        database: Some(database.clone()),
        kek: Some(civkey_server::store::Kek::from_bytes(&key)),
        system_clock: true,
        ..ServerOptions::default()
    })
    .await;
    let origin = two.base.clone();
    let one = TestServer::start_with(ServerOptions {
        database: Some(database),
        kek: Some(civkey_server::store::Kek::from_bytes(&key)),
        system_clock: true,
        public_origin: Some(&origin),
        ..ServerOptions::default()
    })
    .await;
    assert_eq!(one.origin, two.origin);
    (one, two)
}

/// Awaits `what` (at most 30 s) and asserts that it is done within [`PROMPTLY`] of `since`; says
/// how long it took.
async fn promptly<T>(
    what: &str,
    since: Instant,
    future: impl std::future::Future<Output = T>,
) -> T {
    let value = tokio::time::timeout(Duration::from_secs(30), future)
        .await
        .unwrap_or_else(|_| panic!("{what}: nothing within 30 s"));
    let took = since.elapsed();
    eprintln!("{what}: {took:?}");
    assert!(
        took < PROMPTLY,
        "{what} took {took:?}, not within {PROMPTLY:?}"
    );
    value
}

/// The next `data:` of a page's event stream (its JSON), with the text read so far in `buffer`.
async fn next_event(response: &mut reqwest::Response, buffer: &mut String) -> Value {
    loop {
        if let Some(end) = buffer.find("\n\n") {
            let event: String = buffer.drain(..end + 2).collect();
            if let Some(data) = event.lines().find_map(|l| l.strip_prefix("data:")) {
                return serde_json::from_str(data.trim()).unwrap();
            }
            continue;
        }
        let chunk = response
            .chunk()
            .await
            .unwrap()
            .expect("the page's event stream ended");
        buffer.push_str(&String::from_utf8_lossy(&chunk));
    }
}

/// The next BOK request the device's event stream brings, skipping other events.
async fn next_bok_request(stream: &mut EventStream) -> BokRequest {
    loop {
        let event = stream.next().await.expect("the device's event stream");
        if let EventKind::BokRequest { request } = event.kind {
            return request;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_on_one_instance_learns_within_a_second_what_the_app_told_the_other() {
    let (one, two) = two_instances().await;
    let http = no_redirects();
    let account = civkey_tests::portal::jana_with_authenticator(&one).await;
    let home = TempDir::new("civkey-two-instances");
    let profile = Profile::open(&home.0, Arc::new(MemoryKeyStore::new())).unwrap();

    // 1. Pairing. The citizen opens "Connect mobile key" on instance 1 and its page listens.
    let (session, _) = civkey_tests::portal::log_in_with_password_to(
        &one,
        &http,
        "/portal/login?lang=en",
        "",
        ("jana", "correct horse battery", &account),
    )
    .await;
    let html = get_with_cookie(&http, format!("{}/portal/connect", one.base), &session)
        .await
        .text()
        .await
        .unwrap();
    let attribute = |name: &str| {
        let at = html.find(name).unwrap() + name.len();
        html[at..].split('"').next().unwrap().replace("&amp;", "&")
    };
    let uri = format!("civkey://pair?{}", attribute("href=\"civkey://pair?"));
    let events = attribute("data-pairing-events=\"");
    let confirm = format!(
        "{}/confirm",
        events.strip_suffix("/events").expect("the events path")
    );
    let csrf = csrf_of(&html, &confirm);
    let mut page = get_with_cookie(&http, format!("{}{events}", one.base), &session).await;
    assert_eq!(page.status(), 200);
    let mut buffer = String::new();
    let waiting: PairingPageEvent =
        serde_json::from_value(next_event(&mut page, &mut buffer).await).unwrap();
    assert_eq!(waiting, PairingPageEvent::Waiting);

    // The app scans the code and claims the session at instance 2; instance 1's page shows the
    // confirmation code.
    let pending = profile
        .begin_pairing(&uri, &civkey_client::this_computer().unwrap())
        .await
        .unwrap();
    let claimed_at = Instant::now();
    let claimed: PairingPageEvent = serde_json::from_value(
        promptly(
            "pairing: the page shows the code",
            claimed_at,
            next_event(&mut page, &mut buffer),
        )
        .await,
    )
    .unwrap();
    match claimed {
        PairingPageEvent::Claimed {
            confirmation_code, ..
        } => assert_eq!(confirmation_code, pending.started.confirmation_code),
        other => panic!("expected the claimed code, got {other:?}"),
    }

    // The citizen confirms in the browser (instance 1); the app waiting at instance 2 hears it.
    let finish = tokio::spawn(pending.finish());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let confirmed = http
        .post(format!("{}{confirm}", one.base))
        .header("cookie", &session)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    let confirmed_at = Instant::now();
    assert_eq!(confirmed.status(), 200);
    let outcome = confirmed.text().await.unwrap();
    assert!(outcome.contains("data-step=\"confirmed\""), "{outcome}");
    let identity = promptly(
        "pairing: the app hears the confirmation",
        confirmed_at,
        finish,
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(identity.origin, two.origin);

    // 2. A service login: the browser on instance 1, the app approves at instance 2.
    let client = one
        .state
        .services()
        .register_client("Daňový portál", &[REDIRECT.to_string()], None)
        .await
        .unwrap();
    let authorize = authorize_url(
        &format!("{}/oidc/authorize", one.base),
        client.client.id.as_str(),
        REDIRECT,
        "st-two",
        "n-two",
        VERIFIER,
    );
    let login = http
        .get(authorize.as_str())
        .header("accept-language", "en")
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let login_cookie = login_cookie_of(&login);
    let login = login.text().await.unwrap();
    let events = get_with_cookie(
        &http,
        format!("{}{}", one.base, events_url_of(&login)),
        &login_cookie,
    )
    .await;
    let opened = profile.open_login(&launch_link_of(&login)).await.unwrap();
    assert_eq!(opened.info.service_name, "Daňový portál");
    profile
        .decide_login(&opened, Decision::Approve)
        .await
        .unwrap();
    let approved: Value = serde_json::from_str(
        &promptly(
            "login: the page moves on",
            Instant::now(),
            wait_for_event(events, "approved"),
        )
        .await,
    )
    .unwrap();
    let redirect_to = approved["redirect_to"].as_str().unwrap();
    let code = query_of(redirect_to)["code"].clone();
    // The service exchanges the code at the other instance.
    let tokens = http
        .post(format!("{}/oidc/token", two.base))
        .basic_auth(client.client.id.as_str(), Some(client.secret.as_str()))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(tokens.status(), 200, "{:?}", tokens.text().await);

    // 3. BOK at the counter: the clerk on instance 1, the app's event stream on instance 2.
    bok::set_bok(&one.store, "jana", BOK).await.unwrap();
    add_clerk(&one).await;
    let counter = Counter::log_in(&one).await;
    let mut stream = EventStream::new(profile.clone(), identity.clone());
    stream.connect().await.expect("the server's event stream");
    // Connected streams have nothing to bring yet; let it settle into waiting.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let id = counter.start().await;
    let request = promptly(
        "BOK: the app's event stream brings the request",
        Instant::now(),
        next_bok_request(&mut stream),
    )
    .await;
    assert_eq!(request.id.to_text(), id);
    let mut events = counter.events(&id).await;
    assert_eq!(events.next().await["status"], "waiting");
    let answered =
        civkey_client::bok::answer(&profile, &identity, &request, &Bok::parse(BOK).unwrap())
            .await
            .unwrap();
    assert_eq!(answered.outcome, BokOutcome::Verified);
    assert_eq!(
        promptly(
            "BOK: the counter sees verified",
            Instant::now(),
            events.next()
        )
        .await,
        serde_json::json!({ "status": "verified" })
    );

    // 4. In-person onboarding: the new app at instance 2, the clerk at instance 1.
    let new_home = TempDir::new("civkey-two-instances-onboard");
    let newcomer = Profile::open(&new_home.0, Arc::new(MemoryKeyStore::new())).unwrap();
    let pending = newcomer
        .begin_onboarding(&two.origin, &civkey_client::this_computer().unwrap())
        .await
        .unwrap();
    let code = pending.started.identification_code.grouped();
    let finish = tokio::spawn(pending.finish());
    let form = get_with_cookie(
        &http,
        format!("{}/counter/onboard", one.base),
        &counter.cookie,
    )
    .await
    .text()
    .await
    .unwrap();
    let csrf = csrf_of(&form, "/counter/onboard");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let onboarded = http
        .post(format!("{}/counter/onboard", one.base))
        .header("cookie", &counter.cookie)
        .form(&[
            ("csrf", csrf.as_str()),
            ("code", code.as_str()),
            ("full_name", "Petr Svoboda"),
            ("username", "petr"),
            ("email", "petr@example.cz"),
            ("phone", "+420 601 123 456"),
            ("document_type", "id_card"),
            ("document_number", "204156789"),
        ])
        .send()
        .await
        .unwrap();
    let done_at = Instant::now();
    let status = onboarded.status();
    let page = onboarded.text().await.unwrap();
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Petr Svoboda, "), "{page}");
    let onboarded = promptly("onboarding: the app hears the clerk", done_at, finish)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(onboarded.account_name.as_deref(), Some("Petr Svoboda"));
}

/// Ten stores (as ten instances starting at once) open one new PostgreSQL database together,
/// in several rounds: all start, and each migration is applied and recorded once, with its
/// checksum (the advisory lock lets one migrate while the others wait).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_starting_at_once_on_a_new_database_apply_each_migration_once() {
    use sqlx::{Connection as _, Row as _};
    let key = [0x17; 32];
    for _ in 0..5 {
        let database = civkey_tests::postgres::fresh_database().await;
        // Each its own thread and runtime, as separate processes would be.
        let opens: Vec<_> = (0..10)
            .map(|_| {
                let database = database.clone();
                std::thread::spawn(move || {
                    let runtime = tokio::runtime::Runtime::new().unwrap();
                    runtime.block_on(async {
                        let store = civkey_server::store::Store::open(
                            &database,
                            civkey_server::store::Kek::from_bytes(&key),
                        )
                        .await?;
                        store.schema_current().await
                    })
                })
            })
            .collect();
        for open in opens {
            let current = tokio::task::spawn_blocking(move || open.join().unwrap())
                .await
                .unwrap();
            assert!(current.unwrap(), "started with the current schema");
        }
        let mut conn = sqlx::PgConnection::connect(&database).await.unwrap();
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, COUNT(checksum) AS summed, MAX(version) AS newest \
             FROM civkey_schema",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap();
        let newest: i64 = row.get("newest");
        assert_eq!(newest, civkey_server::store::SCHEMA_VERSION);
        assert_eq!(row.get::<i64, _>("n"), row.get::<i64, _>("summed"));
        assert!(row.get::<i64, _>("n") >= 13);
        let _ = conn.close().await;
    }
}

/// The listening connection of an instance is killed (a database restart, a proxy timing out):
/// it connects again, wakes every waiter of its own (they re-read, as notifications may have
/// been lost meanwhile), and hears the other instance again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_whose_listener_was_cut_wakes_its_waiters_and_hears_again() {
    use sqlx::Connection as _;
    let database = civkey_tests::postgres::fresh_database().await;
    let key = [0x18; 32];
    let kek = || civkey_server::store::Kek::from_bytes(&key);
    let one = civkey_server::store::Store::open(&database, kek())
        .await
        .unwrap();
    let two = civkey_server::store::Store::open(&database, kek())
        .await
        .unwrap();
    let (here, there) = (one.change_signal(), two.change_signal());

    // Across instances, promptly.
    let mut waiter = here.subscribe("pairing:cut");
    let sent = Instant::now();
    there.notify("pairing:cut");
    waiter.changed(Duration::from_secs(10)).await;
    assert!(sent.elapsed() < PROMPTLY, "{:?}", sent.elapsed());

    // Every listening session of this database is cut.
    let mut admin = sqlx::PgConnection::connect(&civkey_tests::postgres::admin_url())
        .await
        .unwrap();
    let name = url::Url::parse(&database).unwrap().path()[1..].to_string();
    let cut = Instant::now();
    let killed: i64 = sqlx::query_scalar(
        "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE datname = $1 AND query LIKE 'LISTEN %'",
    )
    .bind(&name)
    .fetch_one(&mut admin)
    .await
    .unwrap();
    assert_eq!(killed, 2, "both instances' listeners");
    // Nobody notifies: the waiter wakes because its instance reconnected.
    waiter.changed(Duration::from_secs(10)).await;
    assert!(
        cut.elapsed() < Duration::from_secs(5),
        "woken after the reconnect: {:?}",
        cut.elapsed()
    );
    // And the other instance is heard again (the reconnect may still be under way: retry).
    let mut heard = false;
    for _ in 0..20 {
        let mut waiter = here.subscribe("pairing:after");
        let sent = Instant::now();
        there.notify("pairing:after");
        waiter.changed(Duration::from_millis(500)).await;
        if sent.elapsed() < Duration::from_millis(450) {
            heard = true;
            break;
        }
    }
    assert!(heard, "the other instance's notifications arrive again");
    let _ = admin.close().await;
}

/// On PostgreSQL: a database from before checksums gets them filled in at its next start; a
/// changed applied migration is refused by number (and the refusal leaves the migration lock
/// free: the next start, with the record put right, goes ahead).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_checksums_are_filled_in_then_a_changed_migration_is_refused() {
    use civkey_server::store::{Kek, Store, StoreError};
    use sqlx::{Connection as _, Row as _};
    let database = civkey_tests::postgres::fresh_database().await;
    let key = [0x19; 32];
    drop(Store::open(&database, Kek::from_bytes(&key)).await.unwrap());
    let mut conn = sqlx::PgConnection::connect(&database).await.unwrap();
    let original: String = sqlx::query("SELECT checksum FROM civkey_schema WHERE version = 7")
        .fetch_one(&mut conn)
        .await
        .unwrap()
        .get("checksum");
    sqlx::query("ALTER TABLE civkey_schema DROP COLUMN checksum")
        .execute(&mut conn)
        .await
        .unwrap();
    drop(Store::open(&database, Kek::from_bytes(&key)).await.unwrap());
    let row = sqlx::query(
        "SELECT COUNT(*) - COUNT(checksum) AS unfilled, \
         MAX(CASE WHEN version = 7 THEN checksum END) AS seventh FROM civkey_schema",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(row.get::<i64, _>("unfilled"), 0);
    assert_eq!(row.get::<String, _>("seventh"), original);

    sqlx::query("UPDATE civkey_schema SET checksum = 'edited' WHERE version = 7")
        .execute(&mut conn)
        .await
        .unwrap();
    let err = Store::open(&database, Kek::from_bytes(&key))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::MigrationChanged { version: 7, .. }),
        "{err}"
    );
    assert!(err.to_string().starts_with("migration 0007 "), "{err}");

    sqlx::query("UPDATE civkey_schema SET checksum = $1 WHERE version = 7")
        .bind(&original)
        .execute(&mut conn)
        .await
        .unwrap();
    let again = tokio::time::timeout(
        Duration::from_secs(20),
        Store::open(&database, Kek::from_bytes(&key)),
    )
    .await
    .expect("the lock was left free")
    .unwrap();
    assert!(again.schema_current().await.unwrap());
    let _ = conn.close().await;
}
