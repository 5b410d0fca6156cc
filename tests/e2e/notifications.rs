//! Notifications over real parts: e-mail to a real SMTP server (Python's aiosmtpd, started by the
//! test) that is down at first or refuses; push POSTs to a test HTTP endpoint that answers, fails
//! once, never answers, or says the endpoint is gone; SMS to a test gateway; the app's event stream
//! over HTTP with a real device identity (login notifications, resuming with `Last-Event-ID`,
//! settings respected); pushes encrypted to a device's own keys (RFC 8291) and opened here with its
//! private key; and the portal's notification settings page.

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use civkey_client::server_api::{ApiFailure, ServerApi};
use civkey_i18n::Locale;
use civkey_proto::device::{DeviceCallAuth, PushRegistrationRequest};
use civkey_proto::events::{Event, EventKind, LoginMeans, PushWakeUp};
use civkey_proto::ids::{DeviceId, Nonce};
use civkey_proto::notify::NotificationSettings;
use civkey_proto::sign::{sign, DeviceCall};
use civkey_proto::{paths, ErrorCode};
use civkey_server::services::delivery::{Delivery, Mailer, SmsGateway, OUTBOX_KEY};
use civkey_server::services::notify::Informative;
use civkey_server::store::OutboxStatus;
use civkey_tests::{TempDir, TestServer};
use p256::ecdsa::SigningKey;
use reqwest::Method;
use serde_json::Value;

use civkey_tests::http::csrf_of;
use civkey_tests::http::get_with_cookie;

use civkey_tests::portal::eva;

use civkey_tests::portal::log_in_by_email_to;

const PYTHON: &str = "/usr/bin/python3";

// ---------------------------------------------------------------------------------------------
// Helpers

/// A loopback port nothing listens on (for now).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A child process killed when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts aiosmtpd on `port` with `handler` (`module.Class` and its arguments), from `dir`.
async fn aiosmtpd(port: u16, dir: &std::path::Path, handler: &[&str]) -> Process {
    let child = Command::new(PYTHON)
        .args([
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            &format!("127.0.0.1:{port}"),
            "-c",
        ])
        .args(handler)
        .current_dir(dir)
        .env("PYTHONPATH", dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("aiosmtpd (python3-aiosmtpd for /usr/bin/python3)");
    let process = Process(child);
    let deadline = Instant::now() + Duration::from_secs(15);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "aiosmtpd did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    process
}

/// Waits until the outbox rows to `recipient` satisfy `done`; returns them.
async fn outbox_until(
    server: &TestServer,
    recipient: &str,
    what: &str,
    done: impl Fn(&[OutboxStatus]) -> bool,
) -> Vec<OutboxStatus> {
    server.outbox_until(recipient, what, done).await
}

/// Moves the server's clock past the first retry's wait and wakes the worker.
fn retry_now(server: &TestServer, secs: u64) {
    server.clock.advance(secs);
    server.state.services().signal.notify(OUTBOX_KEY);
}

fn delivery(mailer: Mailer, sms: Option<SmsGateway>) -> Delivery {
    Delivery::new(mailer, sms, Duration::from_secs(1), 1)
}

/// A device of `citizen` made with a key held here (the API sees a paired device).
async fn device_of(
    server: &TestServer,
    citizen: &civkey_server::domain::CitizenId,
    seed: u8,
) -> (DeviceId, SigningKey) {
    server.device_with_key(citizen, seed).await
}

fn api(server: &TestServer) -> ServerApi {
    ServerApi::new(server.origin.clone()).unwrap()
}

async fn register_push(server: &TestServer, device: &(DeviceId, SigningKey), url: &str) {
    server.register_push(device, url).await.unwrap();
}

/// What the test HTTP endpoint received.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

#[derive(Clone, Default)]
struct Endpoint {
    received: Arc<Mutex<Vec<Received>>>,
}

impl Endpoint {
    fn received(&self, path: &str) -> Vec<Received> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }
}

/// A push service and SMS gateway on loopback: `/ok` and `/sms` answer 201, `/flaky` 500 the first
/// time, `/slow` never in time, `/gone` 410.
async fn endpoint() -> (String, Endpoint) {
    async fn receive(
        State(endpoint): State<Endpoint>,
        Path(path): Path<String>,
        headers: HeaderMap,
        body: axum::body::Bytes,
    ) -> StatusCode {
        let seen = {
            let mut received = endpoint.received.lock().unwrap();
            received.push(Received {
                path: path.clone(),
                headers: headers
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
                    .collect(),
                body: body.to_vec(),
            });
            received.iter().filter(|r| r.path == path).count()
        };
        match path.as_str() {
            "flaky" if seen == 1 => StatusCode::INTERNAL_SERVER_ERROR,
            "slow" => {
                tokio::time::sleep(Duration::from_secs(60)).await;
                StatusCode::CREATED
            }
            "gone" => StatusCode::GONE,
            _ => StatusCode::CREATED,
        }
    }
    let state = Endpoint::default();
    let app = Router::new()
        .route("/{path}", post(receive))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (base, state)
}

/// A citizen `eva` (e-mail eva@example.hu) who reads English.
async fn eva_in_english(server: &TestServer) -> civkey_server::domain::CitizenId {
    eva(server).await;
    let citizen = server
        .store
        .citizen_by_username("eva")
        .await
        .unwrap()
        .unwrap()
        .id;
    let services = server.state.services();
    let settings = services.notification_settings(&citizen).await.unwrap();
    services
        .save_notification_settings(&citizen, &settings, Some(Locale::En))
        .await
        .unwrap();
    citizen
}

// ---------------------------------------------------------------------------------------------
// E-mail

#[tokio::test]
async fn email_waits_while_the_smtp_server_is_down_and_is_delivered_when_it_comes_up() {
    let port = free_port();
    let mailer = Mailer::smtp(
        &format!("smtp://127.0.0.1:{port}"),
        "civkey <noreply@civkey.invalid>",
    )
    .unwrap();
    let server = TestServer::start_with_delivery(delivery(mailer, None)).await;
    let citizen = eva_in_english(&server).await;
    server
        .state
        .services()
        .notify_informative(
            &citizen,
            &Informative::BokUnblocked {
                office_name: "Czech POINT, Praha 1".into(),
            },
        )
        .await;

    // Nothing listens yet: the attempt is recorded with its error, and the message kept.
    let rows = outbox_until(&server, "eva@example.hu", "a failed attempt", |rows| {
        rows.len() == 1 && rows[0].attempts >= 1
    })
    .await;
    let error = rows[0].last_error.clone().unwrap();
    assert!(error.starts_with("SMTP"), "{error}");
    assert_eq!((rows[0].delivered_at, rows[0].gave_up_at), (None, None));

    // The SMTP server comes up; the retry delivers the message.
    let dir = TempDir::new("civkey-smtp");
    let maildir = dir.0.join("maildir");
    let _smtpd = aiosmtpd(
        port,
        &dir.0,
        &["aiosmtpd.handlers.Mailbox", maildir.to_str().unwrap()],
    )
    .await;
    retry_now(&server, 1);
    let rows = outbox_until(&server, "eva@example.hu", "delivery", |rows| {
        rows[0].delivered_at.is_some()
    })
    .await;
    assert!(
        rows[0].attempts >= 2 && rows[0].last_error.is_none(),
        "{rows:?}"
    );
    let files: Vec<_> = std::fs::read_dir(maildir.join("new"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "one message received");
    let message = std::fs::read_to_string(&files[0]).unwrap();
    assert!(message.contains("To: eva@example.hu"), "{message}");
    assert!(
        message.contains("Subject: Your BOK was unblocked"),
        "{message}"
    );
    assert!(
        message.contains("Your BOK was unblocked at Czech POINT, Praha 1."),
        "{message}"
    );
}

#[tokio::test]
async fn an_smtp_server_that_refuses_is_recorded_and_the_message_kept_for_a_retry() {
    let dir = TempDir::new("civkey-smtp");
    std::fs::write(
        dir.0.join("refuse.py"),
        "class Refuse:\n    async def handle_RCPT(self, server, session, envelope, address, \
         rcpt_options):\n        return '550 5.1.1 No such mailbox here'\n",
    )
    .unwrap();
    let port = free_port();
    let _smtpd = aiosmtpd(port, &dir.0, &["refuse.Refuse"]).await;
    let mailer = Mailer::smtp(
        &format!("smtp://127.0.0.1:{port}"),
        "noreply@civkey.invalid",
    )
    .unwrap();
    let server = TestServer::start_with_delivery(delivery(mailer, None)).await;
    let citizen = eva_in_english(&server).await;
    server
        .state
        .services()
        .notify_informative(&citizen, &Informative::BokBlocked)
        .await;
    let rows = outbox_until(&server, "eva@example.hu", "a refused attempt", |rows| {
        rows.len() == 1 && rows[0].attempts >= 1
    })
    .await;
    let error = rows[0].last_error.clone().unwrap();
    assert!(
        error.contains("550"),
        "the server's answer is recorded: {error}"
    );
    assert_eq!((rows[0].delivered_at, rows[0].gave_up_at), (None, None));
    assert!(
        rows[0].next_attempt_at > server.clock_now(),
        "kept for a retry"
    );
}

// ---------------------------------------------------------------------------------------------
// Push and SMS

#[tokio::test]
async fn push_endpoints_receive_the_event_and_failures_are_retried_or_cleared() {
    let (base, endpoint) = endpoint().await;
    let server =
        TestServer::start_with_delivery(delivery(Mailer::Mailbox("/dev/null".into()), None)).await;
    let citizen = server.add_citizen("jana").await;
    let mut devices = Vec::new();
    for (seed, path) in [(1u8, "ok"), (2, "flaky"), (3, "slow"), (4, "gone")] {
        let device = device_of(&server, &citizen, seed).await;
        register_push(&server, &device, &format!("{base}/{path}")).await;
        devices.push(device);
    }
    // Only https (plain http on loopback only) is accepted, with a clear error.
    let refused = api(&server)
        .device_call::<Value, Value>(
            &devices[0].0,
            &devices[0].1,
            Method::POST,
            paths::DEVICE_PUSH,
            Some(&serde_json::json!({ "endpoint": "http://push.example.org/up" })),
        )
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Some(ErrorCode::BadRequest), "{refused:?}");

    let services = server.state.services();
    services
        .notify_login(&citizen, "Portál občana", LoginMeans::PasswordTotp)
        .await;

    // 2xx: delivered, with the WebPush headers. These devices registered no keys, so the push
    // provider could read the body: it says only which event waits, and the device reads that
    // event over its own signed stream.
    let url = |path: &str| format!("{base}/{path}");
    outbox_until(&server, &url("ok"), "push delivered", |rows| {
        rows.len() == 1 && rows[0].delivered_at.is_some()
    })
    .await;
    let got = endpoint.received("ok");
    assert_eq!(got.len(), 1);
    let wake_up: PushWakeUp = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&got[0].body),
        format!(r#"{{"id":{}}}"#, wake_up.id),
        "nothing but the id in clear text"
    );
    let mut stream =
        Stream::new(open_stream(&server, &devices[0], Some(&(wake_up.id - 1).to_string())).await);
    let fetched = stream.next().await;
    assert_eq!(fetched.id, wake_up.id.to_string());
    let event: Event = serde_json::from_str(&fetched.data).unwrap();
    assert_eq!(
        event.kind,
        EventKind::LoginNotification {
            service_name: "Portál občana".into(),
            means: LoginMeans::PasswordTotp,
        }
    );
    assert_eq!(got[0].headers["content-type"], "application/json");
    assert_eq!(got[0].headers["urgency"], "normal");
    assert_eq!(got[0].headers["ttl"], "86400");

    // 500: recorded and retried; the retry delivers.
    let rows = outbox_until(&server, &url("flaky"), "a failed push", |rows| {
        rows[0].attempts >= 1
    })
    .await;
    assert_eq!(
        rows[0].last_error.as_deref(),
        Some("the push endpoint answered HTTP 500")
    );
    // No answer in time: a timeout, recorded.
    let rows = outbox_until(&server, &url("slow"), "a timed-out push", |rows| {
        rows[0].attempts >= 1
    })
    .await;
    let error = rows[0].last_error.clone().unwrap();
    assert!(error.contains("timeout"), "{error}");
    // 410: the endpoint is gone: cleared on the device, not retried.
    let rows = outbox_until(&server, &url("gone"), "a gone endpoint", |rows| {
        rows[0].gave_up_at.is_some()
    })
    .await;
    assert!(rows[0].last_error.as_deref().unwrap().contains("410"));
    let gone = server.store.device(&devices[3].0).await.unwrap().unwrap();
    assert_eq!(gone.push_endpoint, None);

    retry_now(&server, 1);
    outbox_until(&server, &url("flaky"), "the retried push", |rows| {
        rows[0].delivered_at.is_some()
    })
    .await;
    assert_eq!(endpoint.received("flaky").len(), 2);
    outbox_until(&server, &url("slow"), "the retried slow push", |rows| {
        rows[0].attempts >= 2
    })
    .await;
    assert_eq!(endpoint.received("gone").len(), 1, "not retried");
    let retried: PushWakeUp = serde_json::from_slice(&endpoint.received("flaky")[1].body).unwrap();
    assert_eq!(retried, wake_up, "the same event");
}

/// The device's side of RFC 8291, written here from the RFC: read the `aes128gcm` header (salt,
/// record size, the server's one-off public key), ECDH with the device's private key, HKDF with
/// its auth secret, open the single AES-128-GCM record and take off the `0x02` delimiter.
fn open_push(body: &[u8], device_key: &p256::SecretKey, auth: &[u8; 16]) -> Vec<u8> {
    use p256::elliptic_curve::point::AffineCoordinates;
    use p256::elliptic_curve::sec1::ToEncodedPoint;
    use ring::{aead, hkdf};

    struct Len(usize);
    impl hkdf::KeyType for Len {
        fn len(&self) -> usize {
            self.0
        }
    }
    fn derive(salt: &[u8], ikm: &[u8], info: &[&[u8]], out: &mut [u8]) {
        hkdf::Salt::new(hkdf::HKDF_SHA256, salt)
            .extract(ikm)
            .expand(info, Len(out.len()))
            .unwrap()
            .fill(out)
            .unwrap();
    }

    assert!(
        body.len() > 86 + 16,
        "too short for aes128gcm: {} bytes",
        body.len()
    );
    let (salt, rest) = body.split_at(16);
    let (record_size, rest) = rest.split_at(4);
    assert_eq!(u32::from_be_bytes(record_size.try_into().unwrap()), 4096);
    let (key_id_len, rest) = rest.split_at(1);
    assert_eq!(
        key_id_len[0], 65,
        "the key id is the server's uncompressed P-256 key"
    );
    let (server_public, record) = rest.split_at(65);
    assert!(record.len() <= 4096, "one record");

    let server_public = p256::PublicKey::from_sec1_bytes(server_public).unwrap();
    let shared = (server_public.to_projective() * *device_key.to_nonzero_scalar()).to_affine();
    let device_public = device_key.public_key().to_encoded_point(false);
    let server_public = server_public.to_encoded_point(false);
    let mut ikm = [0u8; 32];
    derive(
        auth,
        &shared.x(),
        &[
            b"WebPush: info\0",
            device_public.as_bytes(),
            server_public.as_bytes(),
        ],
        &mut ikm,
    );
    let mut cek = [0u8; 16];
    derive(salt, &ikm, &[b"Content-Encoding: aes128gcm\0"], &mut cek);
    let mut nonce = [0u8; 12];
    derive(salt, &ikm, &[b"Content-Encoding: nonce\0"], &mut nonce);
    let key = aead::LessSafeKey::new(aead::UnboundKey::new(&aead::AES_128_GCM, &cek).unwrap());
    let mut sealed = record.to_vec();
    let opened = key
        .open_in_place(
            aead::Nonce::assume_unique_for_key(nonce),
            aead::Aad::empty(),
            &mut sealed,
        )
        .expect("the push opens with the device's key");
    let (delimiter, plaintext) = opened.split_last().unwrap();
    assert_eq!(*delimiter, 0x02, "the last record's padding delimiter");
    plaintext.to_vec()
}

#[tokio::test]
async fn a_device_with_push_keys_gets_the_event_encrypted_and_opens_it_with_its_private_key() {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use p256::elliptic_curve::sec1::ToEncodedPoint;
    use ring::rand::{SecureRandom, SystemRandom};

    let (base, endpoint) = endpoint().await;
    let server =
        TestServer::start_with_delivery(delivery(Mailer::Mailbox("/dev/null".into()), None)).await;
    let citizen = server.add_citizen("jana").await;
    let device = device_of(&server, &citizen, 1).await;
    let url = format!("{base}/sealed");

    // The device's own push key pair and auth secret, as a browser or the app would make them.
    let random = SystemRandom::new();
    let mut seed = [0u8; 32];
    random.fill(&mut seed).unwrap();
    let push_key = p256::SecretKey::from_slice(&seed).unwrap();
    let mut auth = [0u8; 16];
    random.fill(&mut auth).unwrap();
    let p256dh = URL_SAFE_NO_PAD.encode(push_key.public_key().to_encoded_point(false).as_bytes());
    let auth_text = URL_SAFE_NO_PAD.encode(auth);
    let register = |keys: Value| {
        let api = api(&server);
        let device = device.clone();
        let body = serde_json::json!({ "endpoint": url, "keys": keys });
        async move {
            api.device_call::<Value, ()>(
                &device.0,
                &device.1,
                Method::POST,
                paths::DEVICE_PUSH,
                Some(&body),
            )
            .await
        }
    };
    register(serde_json::json!({ "p256dh": p256dh, "auth": auth_text }))
        .await
        .unwrap();

    // Bad keys are refused with a message that says what is wrong; the registration stays.
    let mut off_curve = [0u8; 65];
    off_curve[0] = 4;
    off_curve[64] = 1;
    for (keys, says) in [
        (
            serde_json::json!({ "p256dh": URL_SAFE_NO_PAD.encode([4u8; 33]), "auth": auth_text }),
            "push key p256dh is invalid: must be 65 bytes",
        ),
        (
            serde_json::json!({ "p256dh": URL_SAFE_NO_PAD.encode(off_curve), "auth": auth_text }),
            "push key p256dh is invalid: is not a point on the P-256 curve",
        ),
        (
            serde_json::json!({ "p256dh": "not base64!", "auth": auth_text }),
            "push key p256dh is invalid: not unpadded base64url",
        ),
        (
            serde_json::json!({ "p256dh": p256dh, "auth": URL_SAFE_NO_PAD.encode([1u8; 15]) }),
            "push key auth is invalid: must be 16 bytes",
        ),
    ] {
        let refused = register(keys).await.unwrap_err();
        assert_eq!(refused.code(), Some(ErrorCode::BadRequest), "{refused:?}");
        assert!(refused.to_string().contains(says), "{says}: {refused}");
    }
    let stored = server
        .store
        .device(&device.0)
        .await
        .unwrap()
        .unwrap()
        .push_keys
        .unwrap();
    assert_eq!(
        stored.p256dh, p256dh,
        "a refused registration changes nothing"
    );

    // A login is pushed: the push service gets only ciphertext, which the device opens.
    server
        .state
        .services()
        .notify_login(&citizen, "Portál občana", LoginMeans::PasswordTotp)
        .await;
    outbox_until(&server, &url, "encrypted push delivered", |rows| {
        rows.len() == 1 && rows[0].delivered_at.is_some()
    })
    .await;
    let got = endpoint.received("sealed");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].headers["content-encoding"], "aes128gcm");
    assert_eq!(got[0].headers["content-type"], "application/octet-stream");
    assert_eq!(got[0].headers["urgency"], "normal");
    let visible = String::from_utf8_lossy(&got[0].body);
    assert!(
        !visible.contains("login") && !visible.contains("Port"),
        "the push provider sees no event text: {visible}"
    );
    let plaintext = open_push(&got[0].body, &push_key, &auth);
    let event: Event = serde_json::from_slice(&plaintext).unwrap();
    assert_eq!(
        event.kind,
        EventKind::LoginNotification {
            service_name: "Portál občana".into(),
            means: LoginMeans::PasswordTotp,
        }
    );

    // The next push has its own salt and server key.
    server
        .state
        .services()
        .notify_login(&citizen, "Portál občana", LoginMeans::EmailCode)
        .await;
    outbox_until(&server, &url, "second push delivered", |rows| {
        rows.len() == 2 && rows.iter().all(|r| r.delivered_at.is_some())
    })
    .await;
    let got = endpoint.received("sealed");
    assert_ne!(got[0].body[..86], got[1].body[..86], "fresh salt and key");
    let second: Event = serde_json::from_slice(&open_push(&got[1].body, &push_key, &auth)).unwrap();
    assert!(second.id > event.id);
}

#[tokio::test]
async fn a_bok_request_is_pushed_with_high_urgency_and_its_remaining_lifetime() {
    let (base, endpoint) = endpoint().await;
    let server =
        TestServer::start_with_delivery(delivery(Mailer::Mailbox("/dev/null".into()), None)).await;
    let citizen = server.add_citizen("jana").await;
    let device = device_of(&server, &citizen, 1).await;
    register_push(&server, &device, &format!("{base}/ok")).await;
    let now = server.clock_now();
    let request = civkey_proto::bok::BokRequest {
        id: civkey_proto::ids::BokRequestId::from_bytes([5; 16]),
        office_name: "Czech POINT, Praha 1".into(),
        challenge: civkey_proto::ids::Challenge::from_bytes([6; 32]),
        created_at: now,
        expires_at: now + 120,
    };
    server
        .state
        .services()
        .notify_bok_request(&citizen, &request)
        .await;
    outbox_until(&server, &format!("{base}/ok"), "BOK push", |rows| {
        rows.len() == 1 && rows[0].delivered_at.is_some()
    })
    .await;
    let got = endpoint.received("ok");
    assert_eq!(got[0].headers["urgency"], "high");
    assert_eq!(got[0].headers["ttl"], "120");
    // No keys registered: the push only names the stored event, which the device fetches itself
    // (over the stream while the request is open; this one was never opened at a counter).
    let wake_up: PushWakeUp = serde_json::from_slice(&got[0].body).unwrap();
    let stored = server
        .store
        .events_after(&citizen, &device.0, wake_up.id - 1, 0, 1)
        .await
        .unwrap();
    assert_eq!(stored[0].id, wake_up.id);
    let kind: EventKind = serde_json::from_str(&stored[0].kind).unwrap();
    assert_eq!(kind, EventKind::BokRequest { request });

    // The device removes its endpoint: nothing more is pushed to it.
    let _: () = api(&server)
        .device_call(
            &device.0,
            &device.1,
            Method::POST,
            paths::DEVICE_PUSH,
            Some(&PushRegistrationRequest {
                endpoint: None,
                keys: None,
            }),
        )
        .await
        .unwrap();
    let stored = server.store.device(&device.0).await.unwrap().unwrap();
    assert_eq!(stored.push_endpoint, None);
    server
        .state
        .services()
        .notify_login(&citizen, "Portál občana", LoginMeans::EmailCode)
        .await;
    assert_eq!(
        server
            .store
            .outbox_to(&format!("{base}/ok"))
            .await
            .unwrap()
            .len(),
        1,
        "no new push row"
    );
}

#[tokio::test]
async fn sms_goes_to_the_gateway_as_to_and_text_with_its_token() {
    let (base, endpoint) = endpoint().await;
    let gateway = SmsGateway {
        url: format!("{base}/sms"),
        token: Some(zeroize::Zeroizing::new("gateway-token".to_string())),
    };
    let server = TestServer::start_with_delivery(delivery(
        Mailer::Mailbox("/dev/null".into()),
        Some(gateway),
    ))
    .await;
    let citizen = eva_in_english(&server).await;
    assert!(server
        .store
        .set_phone(&citizen, Some("+36201234567"))
        .await
        .unwrap());
    server
        .state
        .services()
        .notify_informative(&citizen, &Informative::BokBlocked)
        .await;
    outbox_until(&server, "+36201234567", "SMS delivered", |rows| {
        rows.len() == 1 && rows[0].delivered_at.is_some()
    })
    .await;
    let got = endpoint.received("sms");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].headers["authorization"], "Bearer gateway-token");
    let body: Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(body["to"], "+36201234567");
    assert!(
        body["text"]
            .as_str()
            .unwrap()
            .starts_with("Your BOK is blocked: "),
        "{body}"
    );
}

#[tokio::test]
async fn without_an_sms_gateway_sms_waits_with_a_clear_error() {
    let server =
        TestServer::start_with_delivery(delivery(Mailer::Mailbox("/dev/null".into()), None)).await;
    let citizen = eva_in_english(&server).await;
    server
        .store
        .set_phone(&citizen, Some("+36201234567"))
        .await
        .unwrap();
    server
        .state
        .services()
        .notify_informative(&citizen, &Informative::BokBlocked)
        .await;
    let rows = outbox_until(&server, "+36201234567", "a pending SMS", |rows| {
        rows.len() == 1 && rows[0].attempts >= 1
    })
    .await;
    assert_eq!(
        rows[0].last_error.as_deref(),
        Some("no SMS gateway configured")
    );
    assert_eq!((rows[0].delivered_at, rows[0].gave_up_at), (None, None));
}

// ---------------------------------------------------------------------------------------------
// The event stream

/// Opens `GET /api/v1/events` as the device, signed like any device call.
async fn open_stream(
    server: &TestServer,
    device: &(DeviceId, SigningKey),
    last_event_id: Option<&str>,
) -> reqwest::Response {
    let mut nonce = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut nonce).unwrap();
    let nonce = Nonce::from_bytes(nonce);
    let timestamp = server.clock_now();
    let signed = DeviceCall {
        origin: &server.origin,
        device_id: &device.0,
        method: "GET",
        path_and_query: paths::EVENTS,
        body: b"",
        timestamp,
        nonce: &nonce,
    }
    .signed_bytes();
    let auth = DeviceCallAuth {
        device_id: device.0,
        timestamp,
        nonce,
        signature: sign(&device.1, &signed),
    };
    let mut request = reqwest::Client::new().get(format!("{}{}", server.base, paths::EVENTS));
    for (name, value) in auth.to_headers() {
        request = request.header(name, value);
    }
    if let Some(id) = last_event_id {
        request = request.header("last-event-id", id);
    }
    request.send().await.unwrap()
}

/// One server-sent event: its id, name and data.
#[derive(Debug)]
struct Sse {
    id: String,
    name: String,
    data: String,
}

/// Reads a stream's events one by one (keep-alive comments skipped).
struct Stream {
    response: reqwest::Response,
    buffer: String,
}

impl Stream {
    fn new(response: reqwest::Response) -> Self {
        assert_eq!(response.status(), 200);
        assert!(response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream"));
        Stream {
            response,
            buffer: String::new(),
        }
    }

    async fn next(&mut self) -> Sse {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let field = |name: &str| {
                    block
                        .lines()
                        .find_map(|l| l.strip_prefix(&format!("{name}:")))
                        .map(|v| v.trim_start().to_string())
                };
                if let (Some(id), Some(name), Some(data)) =
                    (field("id"), field("event"), field("data"))
                {
                    return Sse { id, name, data };
                }
                continue;
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk())
                .await
                .expect("no event in time")
                .unwrap()
                .expect("the stream ended");
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}

#[tokio::test]
async fn the_event_stream_brings_login_notifications_resumes_and_respects_settings() {
    let server = TestServer::start().await;
    eva(&server).await;
    let citizen = server
        .store
        .citizen_by_username("eva")
        .await
        .unwrap()
        .unwrap()
        .id;
    let a = device_of(&server, &citizen, 1).await;
    let b = device_of(&server, &citizen, 2).await;

    // Device A switches B's login notifications off through the settings API.
    let mut settings: NotificationSettings = api(&server)
        .device_call(&a.0, &a.1, Method::GET, paths::NOTIFICATIONS, None::<&()>)
        .await
        .unwrap();
    assert_eq!(settings.devices.len(), 2);
    for d in &mut settings.devices {
        d.login = d.device_id != b.0;
    }
    let saved: NotificationSettings = api(&server)
        .device_call(
            &a.0,
            &a.1,
            Method::PUT,
            paths::NOTIFICATIONS,
            Some(&settings),
        )
        .await
        .unwrap();
    assert_eq!(saved, settings);
    // Another citizen's device cannot be named: a clear refusal, nothing changed.
    let jana = server.add_citizen("jana").await;
    let janas = device_of(&server, &jana, 3).await;
    let mut foreign = settings.clone();
    foreign.devices[0].device_id = janas.0;
    let refused = api(&server)
        .device_call::<_, NotificationSettings>(
            &a.0,
            &a.1,
            Method::PUT,
            paths::NOTIFICATIONS,
            Some(&foreign),
        )
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Some(ErrorCode::NotFound), "{refused:?}");
    assert!(
        matches!(&refused, ApiFailure::Refused(e) if e.message.contains("not a connected mobile key"))
    );

    let mut stream_a = Stream::new(open_stream(&server, &a, None).await);
    let mut stream_b = Stream::new(open_stream(&server, &b, None).await);

    // Eva logs in to the portal with an e-mail code: A hears of it at once.
    let http = civkey_tests::http::no_redirects();
    log_in_by_email_to(&server, &http, "/portal/login?lang=en").await;
    let login = stream_a.next().await;
    assert_eq!(login.name, "login_notification");
    let event: Event = serde_json::from_str(&login.data).unwrap();
    assert_eq!(login.id, event.id.to_string());
    assert!(
        matches!(
            &event.kind,
            EventKind::LoginNotification {
                means: LoginMeans::EmailCode,
                ..
            }
        ),
        "{event:?}"
    );

    // An informative notification follows; B (login off) gets only that one.
    server
        .state
        .services()
        .notify_informative(&citizen, &Informative::BokBlocked)
        .await;
    let informative = stream_a.next().await;
    assert_eq!(informative.name, "informative");
    let first_for_b = stream_b.next().await;
    assert_eq!(
        first_for_b.name, "informative",
        "B has login notifications off"
    );
    assert_eq!(first_for_b.id, informative.id);

    // Resuming after the login gives only what came later.
    let mut resumed = Stream::new(open_stream(&server, &a, Some(&login.id)).await);
    assert_eq!(resumed.next().await.id, informative.id);

    // Disconnecting the device ends its stream.
    server
        .state
        .services()
        .disconnect_device(&citizen, &b.0)
        .await
        .unwrap();
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(chunk) = stream_b.response.chunk().await.unwrap() {
            assert!(
                !String::from_utf8_lossy(&chunk).contains("login_notification"),
                "B never gets a login notification"
            );
        }
    })
    .await;
    assert!(ended.is_ok(), "the disconnected device's stream ended");

    // A Last-Event-ID that is not an id is refused clearly.
    let bad = open_stream(&server, &a, Some("yesterday")).await;
    assert_eq!(bad.status(), 400);
    let body: Value = bad.json().await.unwrap();
    assert_eq!(body["code"], "bad_request");
}

// ---------------------------------------------------------------------------------------------
// The portal page

#[tokio::test]
async fn the_portal_notifications_page_changes_settings_only_on_save_with_its_token() {
    let server = TestServer::start().await;
    let account = civkey_tests::portal::eva_with_authenticator(&server).await;
    let citizen = server
        .store
        .citizen_by_username("eva")
        .await
        .unwrap()
        .unwrap()
        .id;
    let (device, _) = device_of(&server, &citizen, 1).await;
    let id = device.to_text();
    let http = civkey_tests::http::no_redirects();
    // Changing the notifications needs the strongest means she holds: password and TOTP.
    let (session, _) = civkey_tests::portal::log_in_with_password_to(
        &server,
        &http,
        "/portal/login?lang=en",
        "",
        ("eva", "eva's long password", &account),
    )
    .await;
    let page = |query: &'static str| {
        let http = http.clone();
        let session = session.clone();
        let url = format!("{}/portal/notifications{query}", server.base);
        async move {
            let response = get_with_cookie(&http, url, &session).await;
            assert_eq!(response.status(), 200);
            response.text().await.unwrap()
        }
    };
    let html = page("?lang=en").await;
    assert!(
        html.contains("E-mail e***@example.hu"),
        "masked address: {html}"
    );
    assert!(!html.contains("eva@example.hu"), "never the whole address");
    assert!(!html.contains("Phone (SMS)"), "no phone on this account");
    for name in [
        "email_informative",
        &format!("informative:{id}"),
        &format!("login:{id}"),
        &format!("bok_pad:{id}"),
    ] {
        assert!(
            html.contains(&format!("name=\"{name}\" value=\"on\" checked")),
            "{name} on"
        );
    }
    assert!(html.contains(">Save</button>"));
    let csrf = csrf_of(&html, "/portal/notifications");
    let settings = || async {
        server
            .state
            .services()
            .notification_settings(&citizen)
            .await
            .unwrap()
    };
    let before = settings().await;

    // The form without its token is refused; nothing changes.
    let form = |csrf: Option<&str>| {
        let mut fields = vec![
            ("device".to_string(), id.clone()),
            (format!("informative:{id}"), "on".to_string()),
        ];
        if let Some(csrf) = csrf {
            fields.push(("csrf".to_string(), csrf.to_string()));
        }
        fields
    };
    let refused = http
        .post(format!("{}/portal/notifications", server.base))
        .header("cookie", &session)
        .form(&form(None))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    assert_eq!(
        settings().await,
        before,
        "nothing changed without the token"
    );

    // Save: e-mail off, login and BOK-pad off, informative kept.
    let saved = http
        .post(format!("{}/portal/notifications", server.base))
        .header("cookie", &session)
        .form(&form(Some(&csrf)))
        .send()
        .await
        .unwrap();
    assert_eq!(saved.status(), 303);
    let location = saved.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(
        location,
        "/portal/notifications?notice=portal.notifications.saved"
    );
    let after = settings().await;
    assert!(!after.contacts[0].informative);
    let d = &after.devices[0];
    assert!(d.informative && !d.login && !d.bok_pad, "{d:?}");
    let html = page("?lang=en&notice=portal.notifications.saved").await;
    assert!(html.contains("Your notification settings were saved."));
    assert!(
        html.contains(&format!("name=\"login:{id}\" value=\"on\">")),
        "shown off"
    );
}

/// Runs the `civkey` command on the profile in `home` (off the runtime: the server is in this
/// process); its exit status, standard output and error.
async fn civkey(home: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let mut command = civkey_tests::cli::cli(home);
    command.args(args);
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn civkey_push_set_registers_the_endpoint_where_the_clerks_request_is_pushed() {
    let (base, endpoint) = endpoint().await;
    let server =
        TestServer::start_with_delivery(delivery(Mailer::Mailbox("/dev/null".into()), None)).await;
    let home = TempDir::new("civkey-push-cli");
    let (profile, _) = civkey_tests::keyring::paired_profile(&server, &home).await;
    let identity = profile.identities().unwrap().remove(0);

    // A plain-http endpoint on a public host is refused before anything is sent.
    let (status, _, err) = civkey(&home.0, &["push", "set", "http://push.example.org/up"]).await;
    assert_eq!(status, 1, "{err}");
    assert!(err.contains("The URL was not registered"), "{err}");
    let stored = server.store.device(&identity.device_id).await;
    assert_eq!(stored.unwrap().unwrap().push_endpoint, None);

    let url = format!("{base}/cli");
    let (status, out, err) = civkey(&home.0, &["--json", "push", "set", &url]).await;
    assert_eq!(status, 0, "{out}{err}");
    let said: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(said["event"], "push_set");
    assert_eq!(said["endpoint"], url.as_str());

    // A clerk starts a BOK verification: the event is POSTed to the registered endpoint.
    civkey_server::services::bok::set_bok(&server.store, "jana", "482913")
        .await
        .unwrap();
    let clerk = civkey_tests::counter::logged_in_clerk(&server).await;
    let started = server
        .state
        .services()
        .start_bok_verification(&clerk, "jana")
        .await
        .unwrap();
    outbox_until(&server, &url, "the BOK request pushed", |rows| {
        rows.iter().any(|r| r.delivered_at.is_some())
    })
    .await;
    // The push wakes the device (no keys yet, so it carries only the event's id); the client
    // library then reads that event over the device's signed stream, as the app does.
    let woken: Vec<PushWakeUp> = endpoint
        .received("cli")
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    let last = woken.last().expect("a push came");
    let mut stream = civkey_client::events::EventStream::new(profile.clone(), identity.clone())
        .after(last.id - 1);
    stream.connect().await.unwrap();
    let event = stream.next().await.unwrap();
    assert_eq!(event.id, last.id);
    assert!(
        matches!(&event.kind,
            EventKind::BokRequest { request }
                if request.id == started.id && request.office_name == "Czech POINT, Praha 1"),
        "{event:?}"
    );

    // With the subscription's keys the server encrypts what it pushes: they are stored with
    // the endpoint; a key that is not a P-256 point is refused before anything is sent.
    use base64::Engine as _;
    let push_key = p256::SecretKey::from_slice(&[7u8; 32]).unwrap();
    let p256dh = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(
        p256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(&push_key.public_key(), false)
            .as_bytes(),
    );
    let auth = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([9u8; 16]);
    let bad = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([4u8; 65]);
    let (status, _, err) = civkey(
        &home.0,
        &["push", "set", &url, "--p256dh", &bad, "--auth", &auth],
    )
    .await;
    assert_eq!(status, 1, "{err}");
    assert!(err.contains("not a point on the P-256 curve"), "{err}");
    let (status, out, err) = civkey(
        &home.0,
        &["push", "set", &url, "--p256dh", &p256dh, "--auth", &auth],
    )
    .await;
    assert_eq!(status, 0, "{out}{err}");
    let stored = server
        .store
        .device(&identity.device_id)
        .await
        .unwrap()
        .unwrap();
    let keys = stored.push_keys.expect("the keys are stored");
    assert_eq!(keys.p256dh, p256dh);

    // `push clear`: the server forgets the endpoint.
    let (status, out, err) = civkey(&home.0, &["push", "clear"]).await;
    assert_eq!(status, 0, "{out}{err}");
    let stored = server.store.device(&identity.device_id).await;
    assert_eq!(stored.unwrap().unwrap().push_endpoint, None);
}

/// The operator's view of the outbox from the command line: what waits and fails, the errors
/// behind it (no recipients, no texts), and a retry once the channel is back.
#[tokio::test]
async fn an_operator_sees_the_outbox_and_retries_failed_deliveries_from_the_command_line() {
    use civkey_tests::cli::admin;
    let dir = TempDir::new("civkey-admin-outbox");
    let json = |o: &std::process::Output| -> Value {
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_slice(&o.stdout).unwrap()
    };
    json(&admin(
        &dir.0,
        &[
            "citizen",
            "add",
            "petr",
            "--name",
            "Petr Svoboda",
            "--email",
            "petr@example.cz",
            "--password-stdin",
        ],
        "correct horse battery\n",
    ));
    json(&admin(
        &dir.0,
        &[
            "citizen",
            "notify",
            "--username",
            "petr",
            "--title",
            "Maintenance",
            "--body",
            "Sunday 2–4 am.",
        ],
        "",
    ));
    let status = json(&admin(&dir.0, &["outbox", "status"], ""));
    let email = &status["channels"][0];
    assert_eq!(email["channel"], "email");
    assert_eq!(
        (email["waiting"].as_u64(), email["failing"].as_u64()),
        (Some(1), Some(0))
    );
    assert!(email["oldest_waiting_since"].as_u64().is_some());
    assert_eq!(status["errors"], serde_json::json!([]));
    let text = status.to_string();
    assert!(
        !text.contains("petr@example.cz") && !text.contains("Sunday"),
        "no recipient or text: {text}"
    );

    // A worker's attempt failed (the SMTP server refused): it waits for its backoff.
    let store = civkey_server::store::Store::open(
        &civkey_tests::cli::data_dir_database(&dir.0),
        civkey_server::store::Kek::read_file(&civkey_tests::cli::data_dir_key(&dir.0)).unwrap(),
    )
    .await
    .unwrap();
    let row = store.outbox_to("petr@example.cz").await.unwrap().remove(0);
    let far = 4_000_000_000;
    store
        .mark_failed(
            &row.id,
            "the SMTP server refused: 550 mailbox unavailable",
            far,
        )
        .await
        .unwrap();
    let status = json(&admin(&dir.0, &["outbox", "status"], ""));
    assert_eq!(status["channels"][0]["failing"], 1);
    assert_eq!(
        status["errors"],
        serde_json::json!([{
            "error": "the SMTP server refused: 550 mailbox unavailable",
            "messages": 1
        }])
    );
    // The channel is back: the operator retries now; a second retry has nothing left to do.
    let retried = json(&admin(&dir.0, &["outbox", "retry"], ""));
    assert_eq!(retried, serde_json::json!({ "retried": 1 }));
    let again = json(&admin(&dir.0, &["outbox", "retry"], ""));
    assert_eq!(again, serde_json::json!({ "retried": 0 }));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert_eq!(
        store.due_messages(now + 1, 10).await.unwrap().len(),
        1,
        "due now"
    );
}

// ---------------------------------------------------------------------------------------------
// Abuse: held streams, a tarpit push endpoint

/// Whether `response`'s body ends within `within` (whatever it sends before is read and dropped).
async fn ends_within(response: &mut reqwest::Response, within: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, response.chunk()).await {
            Err(_) => return false,
            Ok(Ok(Some(_))) => continue,
            Ok(Ok(None)) | Ok(Err(_)) => return true,
        }
    }
}

/// The attack: one device opens its event stream again and again and keeps every one (each held
/// stream is a connection and a wake-up on every event of the citizen's). A device holds at most
/// three: a new one ends the oldest, so a phone that reconnects after its connection silently
/// died is never locked out by its own dead stream.
#[tokio::test]
async fn a_device_holds_at_most_three_event_streams_and_a_new_one_ends_the_oldest() {
    let server = TestServer::start().await;
    let citizen = server.add_citizen("jana").await;
    let device = device_of(&server, &citizen, 1).await;
    let mut streams = Vec::new();
    for _ in 0..20 {
        let response = open_stream(&server, &device, None).await;
        assert_eq!(response.status(), 200);
        streams.push(response);
    }
    let mut ended = Vec::new();
    for (i, stream) in streams.iter_mut().enumerate() {
        let within = Duration::from_millis(if i < 17 { 5_000 } else { 300 });
        ended.push(ends_within(stream, within).await);
    }
    let expected: Vec<bool> = (0..20).map(|i| i < 17).collect();
    assert_eq!(
        ended, expected,
        "the 17 oldest ended, the 3 newest are open"
    );
    // The newest still brings the device its events.
    server
        .state
        .services()
        .notify_login(&citizen, "Portál občana", LoginMeans::PasswordTotp)
        .await;
    let mut newest = Stream::new(streams.pop().unwrap());
    assert_eq!(newest.next().await.name, "login_notification");
}

/// A TCP listener on loopback that accepts every connection and never answers (it holds them
/// open): the base URL, and how many connections it accepted.
async fn tarpit() -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = Arc::clone(&accepted);
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            held.push(socket);
        }
    });
    (base, accepted)
}

/// How long until the outbox rows to `recipient` are all delivered (at most a minute).
async fn delivered_after(server: &TestServer, recipient: &str, since: Instant) -> Duration {
    loop {
        let rows = server.store.outbox_to(recipient).await.unwrap();
        if !rows.is_empty() && rows.iter().all(|r| r.delivered_at.is_some()) {
            return since.elapsed();
        }
        if since.elapsed() > Duration::from_secs(60) {
            return since.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The attack: a paired device registers a push endpoint that accepts the connection and never
/// answers, then makes events for itself (here 120 login notifications). Every push to it waits
/// for the whole timeout (10 s by default); the worker used to wait for its whole batch of 50
/// before claiming more, so another citizen's e-mail code and BOK request waited behind them.
/// Now pushes run beside e-mail, a citizen's pushes hold at most two delivery slots, and the
/// rest wait their turn without a slot: the e-mail code and the BOK push go out at once.
#[tokio::test]
async fn a_tarpit_push_endpoint_does_not_hold_up_another_citizens_email_code_and_bok_request() {
    let (base, _endpoint) = endpoint().await;
    let (tarpit, accepted) = tarpit().await;
    let dir = TempDir::new("civkey-tarpit");
    let server = TestServer::start_with_delivery(Delivery::new(
        Mailer::Mailbox(dir.0.join("mailbox.txt")),
        None,
        Duration::from_secs(civkey_server::services::delivery::DEFAULT_HTTP_TIMEOUT_SECS),
        1,
    ))
    .await;
    let services = server.state.services();
    let mallory = server.add_citizen("mallory").await;
    let device = device_of(&server, &mallory, 9).await;
    register_push(&server, &device, &format!("{tarpit}/up")).await;
    for _ in 0..120 {
        services
            .notify_login(&mallory, "Shop", LoginMeans::PasswordTotp)
            .await;
    }
    civkey_tests::wait_until("the tarpit is held", Duration::from_secs(10), || async {
        (accepted.load(std::sync::atomic::Ordering::SeqCst) > 0).then_some(())
    })
    .await;

    let eva = eva_in_english(&server).await;
    let phone = device_of(&server, &eva, 1).await;
    register_push(&server, &phone, &format!("{base}/ok")).await;
    let asked = Instant::now();
    // Eva asks for an e-mail code on the portal's login page.
    let http = civkey_tests::http::browser();
    let login = http
        .get(format!("{}/portal/login", server.base))
        .send()
        .await
        .unwrap();
    let pre = civkey_tests::http::cookie_pair(
        &civkey_tests::http::set_cookies(&login),
        &civkey_tests::http::host_cookie(&server, "civkey_pre"),
    );
    let csrf = csrf_of(&login.text().await.unwrap(), "/portal/login/email");
    let sent = http
        .post(format!("{}/portal/login/email", server.base))
        .header("cookie", &pre)
        .form(&[("csrf", csrf.as_str()), ("username", "eva"), ("next", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 200);
    // A clerk asks her device for her BOK.
    let now = server.clock_now();
    let request = civkey_proto::bok::BokRequest {
        id: civkey_proto::ids::BokRequestId::from_bytes([5; 16]),
        office_name: "Czech POINT, Praha 1".into(),
        challenge: civkey_proto::ids::Challenge::from_bytes([6; 32]),
        created_at: now,
        expires_at: now + 120,
    };
    services.notify_bok_request(&eva, &request).await;

    let email = delivered_after(&server, "eva", asked).await;
    let bok = delivered_after(&server, &format!("{base}/ok"), asked).await;
    assert!(
        email < Duration::from_secs(3) && bok < Duration::from_secs(3),
        "with a tarpit push endpoint held: the e-mail code went out after {email:?}, the BOK \
         push after {bok:?}"
    );
}

/// When the server begins to shut down (SIGTERM), a device's event stream ends — cleanly, so the
/// app reconnects (with `Last-Event-ID`) to an instance that still serves — instead of holding the
/// stopping process open.
#[tokio::test]
async fn a_devices_event_stream_ends_when_the_server_shuts_down() {
    let server = TestServer::start().await;
    let citizen = server.add_citizen("jana").await;
    let device = server.device_with_key(&citizen, 7).await;
    let mut stream = open_stream(&server, &device, None).await;
    assert_eq!(stream.status(), 200);
    assert!(
        tokio::time::timeout(Duration::from_millis(300), stream.chunk())
            .await
            .is_err(),
        "the stream is open and quiet before the shutdown"
    );
    server.state.services().shutdown.begin();
    let ended = civkey_tests::http::stream_end(&mut stream, Duration::from_secs(5)).await;
    assert!(ended.is_ok(), "the stream ended cleanly: {ended:?}");
}
