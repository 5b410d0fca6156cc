//! Service tests: every state of a pairing session and every device-call refusal, with a pinned
//! clock and a real SQLite database.

use std::sync::Arc;
use std::time::Duration;

use civkey_proto::device::{DeviceCallAuth, DeviceKind, DeviceModel, DeviceName};
use civkey_proto::ids::{DeviceId, Nonce, ServerNonce};
use civkey_proto::pair::{ConfirmationCode, PairClaimRequest, PairStatus, PairingUri};
use civkey_proto::sign::{sign, DeviceCall, DevicePublicKey, PairingProof};
use civkey_proto::{ErrorCode, Origin};
use p256::ecdsa::SigningKey;

use super::devices::LAST_USED_EVERY_SECS;
use super::{citizens, ServiceError, Services};
use crate::clock::{Clock, ManualClock};
use crate::store::tests::{temp_store, TempDir};

const T0: u64 = 1_767_225_600;

struct Fixture {
    services: Services,
    clock: ManualClock,
    citizen: String,
    _dir: TempDir,
}

async fn fixture() -> Fixture {
    let (store, dir) = temp_store().await;
    let clock = ManualClock::at(T0);
    let services = Services::new(
        store.clone(),
        Arc::new(clock.clone()),
        Origin::parse("https://id.example.gov").unwrap(),
    );
    let e = citizens::add_citizen(
        &store,
        T0,
        "jana",
        "Jana Nováková",
        None,
        "correct horse battery",
    )
    .await
    .unwrap();
    Fixture {
        services,
        clock,
        citizen: e.citizen_id,
        _dir: dir,
    }
}

fn key(seed: u8) -> SigningKey {
    SigningKey::from_slice(&[seed; 32]).unwrap()
}

fn public(key: &SigningKey) -> DevicePublicKey {
    DevicePublicKey::from(&p256::PublicKey::from(key.verifying_key()))
}

fn claim(uri: &PairingUri, key: &SigningKey) -> PairClaimRequest {
    let name = DeviceName::parse("Pixel 8").unwrap();
    let proof = PairingProof {
        origin: &uri.origin,
        session_id: &uri.session_id,
        secret: &uri.secret,
        public_key: &public(key),
        device_name: name.as_str(),
    }
    .signed_bytes();
    PairClaimRequest {
        secret: uri.secret.clone(),
        public_key: public(key),
        device_name: name,
        device_model: DeviceModel::parse("Pixel 8 Pro").unwrap(),
        device_kind: DeviceKind::Phone,
        proof: sign(key, &proof),
    }
}

fn code_of(result: Result<impl std::fmt::Debug, ServiceError>) -> ErrorCode {
    match result {
        Err(e) => e.code(),
        Ok(v) => panic!("expected a refusal, got {v:?}"),
    }
}

#[tokio::test]
async fn every_claim_gets_a_fresh_server_nonce_stored_with_its_code() {
    // One key, two sessions opened at the same instant: only the server's nonce tells them apart,
    // and it must — a key chosen in advance does not decide the code.
    let f = fixture().await;
    let device_key = key(0x11);
    let mut answers = Vec::new();
    for _ in 0..2 {
        let pairing = f.services.start_pairing(&f.citizen).await.unwrap();
        let claimed = f
            .services
            .claim_pairing(&pairing.uri.session_id, &claim(&pairing.uri, &device_key))
            .await
            .unwrap();
        let record = f
            .services
            .store
            .pairing(&pairing.uri.session_id.to_text())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            record.server_nonce.as_deref(),
            Some(claimed.server_nonce.to_text().as_str())
        );
        assert_eq!(
            record.confirmation_code.as_deref(),
            Some(claimed.confirmation_code.digits().as_str())
        );
        answers.push(claimed.server_nonce);
    }
    assert_ne!(answers[0], answers[1]);
}

#[tokio::test]
async fn a_claimed_session_confirmed_in_the_browser_pairs_the_device() {
    let f = fixture().await;
    let pairing = f.services.start_pairing(&f.citizen).await.unwrap();
    assert_eq!(pairing.expires_at, T0 + 240);
    let device_key = key(0x11);
    let claimed = f
        .services
        .claim_pairing(&pairing.uri.session_id, &claim(&pairing.uri, &device_key))
        .await
        .unwrap();
    assert_eq!(
        claimed.confirmation_code,
        pairing
            .uri
            .confirmation_code(&public(&device_key), &claimed.server_nonce)
    );

    let id = pairing.uri.session_id.to_text();
    let page = f
        .services
        .pairing_page_event(&f.citizen, &id)
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(page, civkey_proto::pair::PairingPageEvent::Claimed { confirmation_code, .. } if confirmation_code == claimed.confirmation_code)
    );

    let pending = f
        .services
        .pairing_outcome(
            &pairing.uri.session_id,
            &claimed.claim_token,
            Duration::ZERO,
        )
        .await
        .unwrap();
    assert_eq!(pending.status, PairStatus::Claimed);

    assert_eq!(
        f.services
            .decide_pairing(&f.citizen, &id, true)
            .await
            .unwrap(),
        PairStatus::Confirmed
    );
    let outcome = f
        .services
        .pairing_outcome(
            &pairing.uri.session_id,
            &claimed.claim_token,
            Duration::ZERO,
        )
        .await
        .unwrap();
    assert_eq!(outcome.status, PairStatus::Confirmed);
    assert_eq!(outcome.account_name.as_deref(), Some("Jana Nováková"));
    let devices = f.services.list_devices(&f.citizen).await.unwrap().devices;
    assert_eq!(devices.len(), 1);
    assert_eq!(Some(devices[0].id), outcome.device_id);
    assert_eq!(devices[0].name.as_str(), "Pixel 8");
}

#[tokio::test]
async fn the_app_learns_the_browser_decision_without_polling() {
    let f = fixture().await;
    let pairing = f.services.start_pairing(&f.citizen).await.unwrap();
    let claimed = f
        .services
        .claim_pairing(&pairing.uri.session_id, &claim(&pairing.uri, &key(1)))
        .await
        .unwrap();
    let services = f.services.clone();
    let session = pairing.uri.session_id;
    let waiter = tokio::spawn(async move {
        let start = std::time::Instant::now();
        let outcome = services
            .pairing_outcome(&session, &claimed.claim_token, Duration::from_secs(20))
            .await;
        (outcome, start.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    f.services
        .decide_pairing(&f.citizen, &session.to_text(), false)
        .await
        .unwrap();
    let (outcome, took) = waiter.await.unwrap();
    assert_eq!(outcome.unwrap().status, PairStatus::Refused);
    assert!(took < Duration::from_secs(1), "took {took:?}");
}

#[tokio::test]
async fn two_apps_racing_for_one_qr_code_exactly_one_wins() {
    let f = fixture().await;
    let pairing = f.services.start_pairing(&f.citizen).await.unwrap();
    let (first, second) = (claim(&pairing.uri, &key(1)), claim(&pairing.uri, &key(2)));
    let (a, b) = tokio::join!(
        f.services.claim_pairing(&pairing.uri.session_id, &first),
        f.services.claim_pairing(&pairing.uri.session_id, &second),
    );
    let wins = [a.is_ok(), b.is_ok()];
    assert_eq!(wins.iter().filter(|w| **w).count(), 1, "{wins:?}");
    let loser = if a.is_ok() { b } else { a };
    assert_eq!(code_of(loser), ErrorCode::PairingTaken);
}

#[tokio::test]
async fn expired_pairing_session_is_refused() {
    let f = fixture().await;
    let pairing = f.services.start_pairing(&f.citizen).await.unwrap();
    f.clock.advance(240);
    let refused = f
        .services
        .claim_pairing(&pairing.uri.session_id, &claim(&pairing.uri, &key(1)))
        .await;
    assert_eq!(code_of(refused), ErrorCode::PairingExpired);
}

#[tokio::test]
async fn a_claimed_session_expires_before_the_browser_decides() {
    let f = fixture().await;
    let pairing = f.services.start_pairing(&f.citizen).await.unwrap();
    let claimed = f
        .services
        .claim_pairing(&pairing.uri.session_id, &claim(&pairing.uri, &key(1)))
        .await
        .unwrap();
    f.clock.advance(240);
    let id = pairing.uri.session_id.to_text();
    assert_eq!(
        code_of(f.services.decide_pairing(&f.citizen, &id, true).await),
        ErrorCode::PairingExpired
    );
    let outcome = f
        .services
        .pairing_outcome(
            &pairing.uri.session_id,
            &claimed.claim_token,
            Duration::ZERO,
        )
        .await
        .unwrap();
    assert_eq!(outcome.status, PairStatus::Expired);
    assert!(f
        .services
        .list_devices(&f.citizen)
        .await
        .unwrap()
        .devices
        .is_empty());
}

#[tokio::test]
async fn used_refused_and_unknown_sessions_each_have_their_own_code() {
    let f = fixture().await;
    let used = f.services.start_pairing(&f.citizen).await.unwrap();
    f.services
        .claim_pairing(&used.uri.session_id, &claim(&used.uri, &key(1)))
        .await
        .unwrap();
    f.services
        .decide_pairing(&f.citizen, &used.uri.session_id.to_text(), true)
        .await
        .unwrap();
    assert_eq!(
        code_of(
            f.services
                .claim_pairing(&used.uri.session_id, &claim(&used.uri, &key(2)))
                .await
        ),
        ErrorCode::PairingUsed
    );
    assert_eq!(
        code_of(
            f.services
                .decide_pairing(&f.citizen, &used.uri.session_id.to_text(), true)
                .await
        ),
        ErrorCode::PairingUsed
    );

    let refused = f.services.start_pairing(&f.citizen).await.unwrap();
    f.services
        .decide_pairing(&f.citizen, &refused.uri.session_id.to_text(), false)
        .await
        .unwrap();
    assert_eq!(
        code_of(
            f.services
                .claim_pairing(&refused.uri.session_id, &claim(&refused.uri, &key(3)))
                .await
        ),
        ErrorCode::PairingRefused
    );

    let mut wrong_secret = f.services.start_pairing(&f.citizen).await.unwrap().uri;
    wrong_secret.secret = civkey_proto::ids::PairingSecret::from_bytes([9; 16]);
    assert_eq!(
        code_of(
            f.services
                .claim_pairing(&wrong_secret.session_id, &claim(&wrong_secret, &key(4)))
                .await
        ),
        ErrorCode::PairingUnknown
    );
    let nowhere = civkey_proto::ids::SessionId::from_bytes([7; 16]);
    assert_eq!(
        code_of(
            f.services
                .claim_pairing(&nowhere, &claim(&wrong_secret, &key(4)))
                .await
        ),
        ErrorCode::PairingUnknown
    );
}

#[tokio::test]
async fn a_claim_with_a_proof_from_another_key_is_refused_and_changes_nothing() {
    let f = fixture().await;
    let pairing = f.services.start_pairing(&f.citizen).await.unwrap();
    let mut forged = claim(&pairing.uri, &key(1));
    forged.public_key = public(&key(2));
    assert_eq!(
        code_of(
            f.services
                .claim_pairing(&pairing.uri.session_id, &forged)
                .await
        ),
        ErrorCode::BadSignature
    );
    // The session is still open for the honest app.
    f.services
        .claim_pairing(&pairing.uri.session_id, &claim(&pairing.uri, &key(2)))
        .await
        .unwrap();
}

#[tokio::test]
async fn another_citizen_cannot_decide_or_watch_a_session() {
    let f = fixture().await;
    let other = citizens::add_citizen(
        &f.services.store,
        T0,
        "petr",
        "Petr",
        None,
        "correct horse battery",
    )
    .await
    .unwrap();
    let pairing = f.services.start_pairing(&f.citizen).await.unwrap();
    let id = pairing.uri.session_id.to_text();
    f.services
        .claim_pairing(&pairing.uri.session_id, &claim(&pairing.uri, &key(1)))
        .await
        .unwrap();
    assert_eq!(
        code_of(
            f.services
                .decide_pairing(&other.citizen_id, &id, true)
                .await
        ),
        ErrorCode::PairingUnknown
    );
    assert!(f
        .services
        .pairing_page_event(&other.citizen_id, &id)
        .await
        .unwrap()
        .is_none());
}

/// Pairs a device with `key` and returns its id.
async fn paired(f: &Fixture, device_key: &SigningKey) -> DeviceId {
    let pairing = f.services.start_pairing(&f.citizen).await.unwrap();
    let claimed = f
        .services
        .claim_pairing(&pairing.uri.session_id, &claim(&pairing.uri, device_key))
        .await
        .unwrap();
    f.services
        .decide_pairing(&f.citizen, &pairing.uri.session_id.to_text(), true)
        .await
        .unwrap();
    f.services
        .pairing_outcome(
            &pairing.uri.session_id,
            &claimed.claim_token,
            Duration::ZERO,
        )
        .await
        .unwrap()
        .device_id
        .unwrap()
}

fn signed_call(
    f: &Fixture,
    device: DeviceId,
    device_key: &SigningKey,
    body: &[u8],
    nonce: u8,
    timestamp: u64,
) -> DeviceCallAuth {
    let nonce = Nonce::from_bytes([nonce; 16]);
    let call = DeviceCall {
        origin: &f.services.origin,
        device_id: &device,
        method: "POST",
        path_and_query: "/api/v1/device/rename",
        body,
        timestamp,
        nonce: &nonce,
    };
    DeviceCallAuth {
        device_id: device,
        timestamp,
        nonce,
        signature: sign(device_key, &call.signed_bytes()),
    }
}

#[tokio::test]
async fn last_used_is_written_once_a_minute_however_many_calls_come() {
    let f = fixture().await;
    let device_key = key(5);
    let device = paired(&f, &device_key).await;
    let body = br#"{"name":"Work phone"}"#;
    let first = f.clock.now();
    let mut seen = Vec::new();
    for (nonce, wait) in [(1, 0), (2, LAST_USED_EVERY_SECS - 1), (3, 1)] {
        f.clock.advance(wait);
        let auth = signed_call(&f, device, &device_key, body, nonce, f.clock.now());
        f.services
            .authenticate_device_call("POST", "/api/v1/device/rename", body, &auth)
            .await
            .unwrap();
        let record = f.services.store.device(&device.to_text()).await.unwrap();
        seen.push(record.unwrap().last_used_at);
    }
    assert_eq!(
        seen,
        [Some(first), Some(first), Some(first + LAST_USED_EVERY_SECS)],
        "within the minute a call writes nothing"
    );
}

#[tokio::test]
async fn device_calls_are_authenticated_and_cannot_be_replayed() {
    let f = fixture().await;
    let device_key = key(5);
    let device = paired(&f, &device_key).await;
    let body = br#"{"name":"Work phone"}"#;
    let auth = signed_call(&f, device, &device_key, body, 1, T0);
    let record = f
        .services
        .authenticate_device_call("POST", "/api/v1/device/rename", body, &auth)
        .await
        .unwrap();
    assert_eq!(record.citizen_id, f.citizen);
    assert_eq!(
        f.services
            .store
            .device(&device.to_text())
            .await
            .unwrap()
            .unwrap()
            .last_used_at,
        Some(T0)
    );

    let replay = f
        .services
        .authenticate_device_call("POST", "/api/v1/device/rename", body, &auth)
        .await;
    assert_eq!(code_of(replay), ErrorCode::Replayed);

    let changed_body = f
        .services
        .authenticate_device_call(
            "POST",
            "/api/v1/device/rename",
            br#"{"name":"Evil"}"#,
            &signed_call(&f, device, &device_key, body, 2, T0),
        )
        .await;
    assert_eq!(code_of(changed_body), ErrorCode::BadSignature);
    let other_path = f
        .services
        .authenticate_device_call(
            "DELETE",
            "/api/v1/device",
            body,
            &signed_call(&f, device, &device_key, body, 3, T0),
        )
        .await;
    assert_eq!(code_of(other_path), ErrorCode::BadSignature);
    let wrong_key = f
        .services
        .authenticate_device_call(
            "POST",
            "/api/v1/device/rename",
            body,
            &signed_call(&f, device, &key(6), body, 4, T0),
        )
        .await;
    assert_eq!(code_of(wrong_key), ErrorCode::BadSignature);
    // A refused signature does not burn the nonce: the honest call with nonce 2 still works.
    f.services
        .authenticate_device_call(
            "POST",
            "/api/v1/device/rename",
            body,
            &signed_call(&f, device, &device_key, body, 2, T0),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn a_device_call_outside_the_clock_skew_is_refused() {
    let f = fixture().await;
    let device_key = key(5);
    let device = paired(&f, &device_key).await;
    for (nonce, at) in [(1, T0 - 61), (2, T0 + 61)] {
        let auth = signed_call(&f, device, &device_key, b"", nonce, at);
        assert_eq!(
            code_of(
                f.services
                    .authenticate_device_call("POST", "/api/v1/device/rename", b"", &auth)
                    .await
            ),
            ErrorCode::Replayed
        );
    }
    let auth = signed_call(&f, device, &device_key, b"", 3, T0 + 60);
    f.services
        .authenticate_device_call("POST", "/api/v1/device/rename", b"", &auth)
        .await
        .unwrap();
}

#[tokio::test]
async fn old_nonces_are_pruned_and_a_replay_of_them_is_still_refused_as_stale() {
    let f = fixture().await;
    let device_key = key(5);
    let device = paired(&f, &device_key).await;
    let auth = signed_call(&f, device, &device_key, b"", 1, T0);
    f.services
        .authenticate_device_call("POST", "/api/v1/device/rename", b"", &auth)
        .await
        .unwrap();
    f.clock.advance(121);
    assert_eq!(f.services.prune_nonces().await.unwrap(), 1);
    let replay = f
        .services
        .authenticate_device_call("POST", "/api/v1/device/rename", b"", &auth)
        .await;
    assert_eq!(code_of(replay), ErrorCode::Replayed);
}

#[tokio::test]
async fn a_disconnected_device_is_refused_at_once_and_an_unknown_one_too() {
    let f = fixture().await;
    let device_key = key(5);
    let device = paired(&f, &device_key).await;
    f.services
        .disconnect_device(&f.citizen, &device.to_text())
        .await
        .unwrap();
    let auth = signed_call(&f, device, &device_key, b"", 1, T0);
    assert_eq!(
        code_of(
            f.services
                .authenticate_device_call("POST", "/api/v1/device/rename", b"", &auth)
                .await
        ),
        ErrorCode::DeviceDisconnected
    );
    let stranger = signed_call(&f, DeviceId::from_bytes([1; 16]), &device_key, b"", 2, T0);
    assert_eq!(
        code_of(
            f.services
                .authenticate_device_call("POST", "/api/v1/device/rename", b"", &stranger)
                .await
        ),
        ErrorCode::DeviceUnknown
    );
    assert!(f
        .services
        .list_devices(&f.citizen)
        .await
        .unwrap()
        .devices
        .is_empty());
}

#[test]
fn confirmation_codes_from_the_server_match_the_protocol_vector() {
    // The server derives codes only through civkey-proto; this pins that it is the documented one.
    let uri = PairingUri::parse("civkey://pair?v=1&s=https%3A%2F%2Fid.example.gov&id=AAECAwQFBgcICQoLDA0ODw&k=EBESExQVFhcYGRobHB0eHw").unwrap();
    let mut scalar = [0u8; 32];
    scalar
        .iter_mut()
        .enumerate()
        .for_each(|(i, b)| *b = 0x20 + i as u8);
    let device_key = SigningKey::from_slice(&scalar).unwrap();
    let server_nonce = ServerNonce::from_bytes(std::array::from_fn(|i| 0xd0 + i as u8));
    assert_eq!(
        uri.confirmation_code(&public(&device_key), &server_nonce),
        ConfirmationCode::parse("140 829").unwrap()
    );
}

mod auth {
    use super::*;
    use crate::clock::Clock;
    use crate::services::portal_signin::{ACCOUNT_LIMIT, ADDRESS_LIMIT};
    use civkey_proto::otp::{totp, OtpAccount};

    async fn enrolled() -> (Fixture, OtpAccount) {
        let f = fixture().await;
        let e = citizens::add_citizen(
            &f.services.store,
            T0,
            "petr",
            "Petr Svoboda",
            None,
            "petr's long password",
        )
        .await
        .unwrap();
        (f, OtpAccount::parse_uri(&e.otpauth_uri).unwrap())
    }

    fn code_at(account: &OtpAccount, t: u64) -> String {
        totp(account.secret.expose(), account.algorithm, 6, 30, t).code
    }

    /// Rows in `table`.
    async fn rows(f: &Fixture, table: &str) -> i64 {
        let row = sqlx::query(&format!("SELECT COUNT(*) AS n FROM {table}"))
            .fetch_one(f.services.store.pool())
            .await
            .unwrap();
        sqlx::Row::try_get(&row, "n").unwrap()
    }

    #[tokio::test]
    async fn housekeeping_forgets_what_expired_and_keeps_the_record() {
        use crate::services::devices::{FLOW_RETENTION_SECS, NOTIFICATION_RETENTION_SECS};
        let (f, account) = enrolled().await;
        let s = &f.services;
        // At T0: a portal session (2 h), a failed attempt (a rate-limit window), a pairing
        // session (4 min), a login notification, and a login history line.
        let session = s
            .login_password_totp(
                "petr",
                "petr's long password",
                &code_at(&account, T0),
                "1.2.3.4",
            )
            .await
            .unwrap();
        let _ = s
            .login_password_totp("petr", "wrong password", "000000", "1.2.3.4")
            .await;
        s.start_pairing(&f.citizen).await.unwrap();
        sqlx::query(
            "INSERT INTO login_history (id, citizen_id, client_id, service_name, means, at) \
             VALUES ('h1', $1, 'c', 'Daňový portál', 'mobile_key', $2)",
        )
        .bind(&f.citizen)
        .bind(T0 as i64)
        .execute(s.store.pool())
        .await
        .unwrap();
        let tables = [
            "web_sessions",
            "attempt_limits",
            "pairing_sessions",
            "events",
            "login_history",
        ];
        let mut counts = Vec::new();
        for table in tables {
            counts.push(rows(&f, table).await);
        }
        assert!(counts.iter().all(|n| *n > 0), "{tables:?} {counts:?}");

        // An hour on: nothing has expired long enough.
        f.clock.advance(3600);
        s.housekeeping().await.unwrap();
        assert!(s.web_session(&session.token).await.unwrap().is_some());
        assert_eq!(
            rows(&f, "pairing_sessions").await,
            counts[2],
            "kept a day after expiry"
        );

        // A day on: the session, the rate-limit windows and the expired pairing session go.
        f.clock.advance(FLOW_RETENTION_SECS);
        s.housekeeping().await.unwrap();
        for table in ["web_sessions", "attempt_limits", "pairing_sessions"] {
            assert_eq!(rows(&f, table).await, 0, "{table}");
        }
        assert!(rows(&f, "events").await > 0, "events stay 90 days");

        // 90 days on: the events go; the login history stays.
        f.clock.advance(NOTIFICATION_RETENTION_SECS);
        s.housekeeping().await.unwrap();
        assert_eq!(rows(&f, "events").await, 0);
        assert_eq!(rows(&f, "login_history").await, 1);
        // Event ids keep counting up after old events are gone (petr's login was his event 1).
        let petr = s
            .store
            .citizen_by_username("petr")
            .await
            .unwrap()
            .unwrap()
            .id;
        s.notify_login(
            &petr,
            "Portál",
            civkey_proto::events::LoginMeans::PasswordTotp,
        )
        .await;
        let row = sqlx::query("SELECT id FROM events")
            .fetch_one(s.store.pool())
            .await
            .unwrap();
        let id: i64 = sqlx::Row::try_get(&row, "id").unwrap();
        assert!(id > 1, "a new event does not reuse an old id: {id}");
    }

    #[tokio::test]
    async fn password_and_current_totp_code_log_in_once() {
        let (f, account) = enrolled().await;
        let code = code_at(&account, T0);
        let session = f
            .services
            .login_password_totp("petr", "petr's long password", &code, "127.0.0.1")
            .await
            .unwrap();
        let live = f
            .services
            .web_session(&session.token)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(live.csrf_token, session.csrf);
        let again = f
            .services
            .login_password_totp("petr", "petr's long password", &code, "127.0.0.1")
            .await;
        assert_eq!(
            code_of(again.map(|_| ())),
            ErrorCode::WrongCredentials,
            "a code is accepted once"
        );
        f.services.logout(&session.token).await.unwrap();
        assert!(f
            .services
            .web_session(&session.token)
            .await
            .unwrap()
            .is_none());
    }

    #[tokio::test]
    async fn a_code_from_the_previous_or_next_step_is_accepted_but_not_older() {
        let (f, account) = enrolled().await;
        f.services
            .login_password_totp(
                "petr",
                "petr's long password",
                &code_at(&account, T0 - 30),
                "a",
            )
            .await
            .unwrap();
        f.services
            .login_password_totp(
                "petr",
                "petr's long password",
                &code_at(&account, T0 + 30),
                "a",
            )
            .await
            .unwrap();
        let old = f
            .services
            .login_password_totp(
                "petr",
                "petr's long password",
                &code_at(&account, T0 - 60),
                "a",
            )
            .await;
        assert_eq!(code_of(old.map(|_| ())), ErrorCode::WrongCredentials);
    }

    #[tokio::test]
    async fn sessions_expire() {
        let (f, account) = enrolled().await;
        let session = f
            .services
            .login_password_totp("petr", "petr's long password", &code_at(&account, T0), "a")
            .await
            .unwrap();
        f.clock
            .advance(crate::services::portal_signin::SESSION_TTL_SECS);
        assert!(f
            .services
            .web_session(&session.token)
            .await
            .unwrap()
            .is_none());
    }

    #[tokio::test]
    async fn failed_attempts_are_limited_per_account_with_a_clear_wait_and_nothing_locked_forever()
    {
        let (f, account) = enrolled().await;
        for _ in 0..ACCOUNT_LIMIT.free {
            let wrong = f
                .services
                .login_password_totp("petr", "wrong password!", "000000", "10.0.0.1")
                .await;
            assert_eq!(code_of(wrong.map(|_| ())), ErrorCode::WrongCredentials);
        }
        let limited = f
            .services
            .login_password_totp(
                "petr",
                "petr's long password",
                &code_at(&account, T0),
                "10.0.0.2",
            )
            .await;
        match limited {
            Err(ServiceError::RateLimited { retry_after }) => {
                assert_eq!(retry_after, ACCOUNT_LIMIT.first_wait)
            }
            other => panic!("expected rate limiting, got {:?}", other.map(|_| ())),
        }
        f.clock.advance(ACCOUNT_LIMIT.first_wait);
        let t = f.clock.now();
        f.services
            .login_password_totp(
                "petr",
                "petr's long password",
                &code_at(&account, t),
                "10.0.0.2",
            )
            .await
            .unwrap();
    }

    /// After the free attempts each one waits twice as long as the one before, up to 5 minutes,
    /// to the second the refusal states; refused attempts do not lengthen the wait.
    #[tokio::test]
    async fn the_waits_double_after_the_free_attempts_up_to_five_minutes() {
        let (f, _) = enrolled().await;
        let wrong = || {
            f.services
                .login_password_totp("petr", "wrong", "000000", "10.0.0.1")
        };
        for _ in 0..ACCOUNT_LIMIT.free {
            assert_eq!(
                code_of(wrong().await.map(|_| ())),
                ErrorCode::WrongCredentials
            );
        }
        let mut waits = Vec::new();
        for _ in 0..12 {
            let retry_after = match wrong().await {
                Err(ServiceError::RateLimited { retry_after }) => retry_after,
                other => panic!("expected a wait, got {:?}", other.map(|_| ())),
            };
            // Asking again a second early changes nothing.
            f.clock.advance(retry_after - 1);
            assert!(
                matches!(
                    wrong().await,
                    Err(ServiceError::RateLimited { retry_after: 1 })
                ),
                "a refused attempt moved the wait"
            );
            f.clock.advance(1);
            assert_eq!(
                code_of(wrong().await.map(|_| ())),
                ErrorCode::WrongCredentials
            );
            waits.push(retry_after);
        }
        assert_eq!(
            waits,
            [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300],
            "the waits"
        );
        assert_eq!(ACCOUNT_LIMIT.wait_after(1000), ACCOUNT_LIMIT.max_wait);
        // A day later it starts again from the free attempts.
        f.clock.advance(ACCOUNT_LIMIT.memory);
        for _ in 0..ACCOUNT_LIMIT.free {
            assert_eq!(
                code_of(wrong().await.map(|_| ())),
                ErrorCode::WrongCredentials
            );
        }
    }

    #[tokio::test]
    async fn failed_attempts_are_limited_per_client_address_across_accounts() {
        let (f, account) = enrolled().await;
        for i in 0..ADDRESS_LIMIT.free {
            let _ = f
                .services
                .login_password_totp(&format!("nobody{i}"), "x", "000000", "10.9.9.9")
                .await;
        }
        let limited = f
            .services
            .login_password_totp(
                "petr",
                "petr's long password",
                &code_at(&account, T0),
                "10.9.9.9",
            )
            .await;
        assert_eq!(code_of(limited.map(|_| ())), ErrorCode::RateLimited);
        f.services
            .login_password_totp(
                "petr",
                "petr's long password",
                &code_at(&account, T0),
                "10.1.1.1",
            )
            .await
            .unwrap();
    }
}

mod email_codes {
    use super::*;

    async fn with_email() -> Fixture {
        let f = fixture().await;
        citizens::add_citizen(
            &f.services.store,
            T0,
            "eva",
            "Eva Horváth",
            Some("eva@example.hu"),
            "eva's long password",
        )
        .await
        .unwrap();
        f
    }

    /// Delivers what the outbox holds to a mailbox file; returns the code in the last message.
    async fn sent_code(f: &Fixture) -> String {
        let mail = delivered_mail(f).await;
        let last = &mail[mail.rfind("To: ").expect("a message was sent")..];
        assert!(last.starts_with("To: eva@example.hu"), "{last}");
        last.split(|c: char| !c.is_ascii_digit())
            .find(|w| w.len() == 6)
            .unwrap()
            .to_string()
    }

    /// Delivers what is due to the fixture's mailbox file; returns the file's text.
    async fn delivered_mail(f: &Fixture) -> String {
        let mailbox = f._dir.0.join("mailbox.txt");
        let delivery = crate::services::delivery::Delivery::from(
            crate::services::delivery::Mailer::Mailbox(mailbox.clone()),
        );
        crate::services::delivery::deliver_due(&f.services, &delivery).await;
        std::fs::read_to_string(&mailbox).unwrap_or_default()
    }

    #[tokio::test]
    async fn an_email_code_logs_in_once_within_ten_minutes() {
        let f = with_email().await;
        f.services
            .send_email_code("eva", "a", "Code", "Your code: {code} .")
            .await
            .unwrap();
        let code = sent_code(&f).await;
        f.services
            .login_email_code("eva", &code, "a")
            .await
            .unwrap();
        assert_eq!(
            code_of(
                f.services
                    .login_email_code("eva", &code, "a")
                    .await
                    .map(|_| ())
            ),
            ErrorCode::WrongCredentials
        );
    }

    #[tokio::test]
    async fn an_email_code_expires_after_ten_minutes() {
        let f = with_email().await;
        f.services
            .send_email_code("eva", "a", "Code", "Your code: {code} .")
            .await
            .unwrap();
        let code = sent_code(&f).await;
        f.clock
            .advance(crate::services::portal_signin::EMAIL_CODE_TTL_SECS);
        assert_eq!(
            code_of(
                f.services
                    .login_email_code("eva", &code, "a")
                    .await
                    .map(|_| ())
            ),
            ErrorCode::WrongCredentials
        );
    }

    #[tokio::test]
    async fn asking_for_a_code_reveals_nothing_about_the_account() {
        let f = with_email().await;
        f.services
            .send_email_code("nobody", "a", "Code", "{code}")
            .await
            .unwrap();
        f.services
            .send_email_code("jana", "a", "Code", "{code}")
            .await
            .unwrap();
        assert_eq!(delivered_mail(&f).await, "", "no address, no message");
        assert!(
            f.services
                .store
                .due_messages(T0 + 3600, 10)
                .await
                .unwrap()
                .is_empty(),
            "both requests were dealt with"
        );
    }

    #[tokio::test]
    async fn a_wrong_email_code_counts_towards_the_limit() {
        let f = with_email().await;
        f.services
            .send_email_code("eva", "a", "Code", "Your code: {code} .")
            .await
            .unwrap();
        let code = sent_code(&f).await;
        for _ in 0..crate::services::portal_signin::ACCOUNT_LIMIT.free {
            let wrong = f.services.login_email_code("eva", "000000", "b").await;
            assert_eq!(code_of(wrong.map(|_| ())), ErrorCode::WrongCredentials);
        }
        assert_eq!(
            code_of(
                f.services
                    .login_email_code("eva", &code, "b")
                    .await
                    .map(|_| ())
            ),
            ErrorCode::RateLimited,
            "even the right code waits"
        );
        f.clock
            .advance(crate::services::portal_signin::ACCOUNT_LIMIT.first_wait);
        f.services
            .login_email_code("eva", &code, "b")
            .await
            .unwrap();
    }
}

mod totp_removal {
    use super::*;

    #[tokio::test]
    async fn the_deletion_code_removes_a_lost_authenticator_once() {
        let f = fixture().await;
        let e = citizens::add_citizen(
            &f.services.store,
            T0,
            "ivo",
            "Ivo Král",
            None,
            "ivo's long password",
        )
        .await
        .unwrap();
        let typed = e.deletion_code.to_lowercase().replace('-', " ");
        let wrong = f
            .services
            .remove_totp_with_deletion_code(
                "ivo",
                "ivo's long password",
                "AAAA-BBBB-CCCC-DDDD",
                "a",
            )
            .await;
        assert_eq!(code_of(wrong), ErrorCode::WrongCredentials);
        let no_password = f
            .services
            .remove_totp_with_deletion_code("ivo", "not the password", &e.deletion_code, "a")
            .await;
        assert_eq!(code_of(no_password), ErrorCode::WrongCredentials);
        f.services
            .remove_totp_with_deletion_code("ivo", "ivo's long password", &typed, "a")
            .await
            .unwrap();
        assert!(f
            .services
            .store
            .citizen_by_username("ivo")
            .await
            .unwrap()
            .unwrap()
            .totp_secret
            .is_none());
        let again = f
            .services
            .remove_totp_with_deletion_code("ivo", "ivo's long password", &e.deletion_code, "a")
            .await;
        assert_eq!(
            code_of(again),
            ErrorCode::WrongCredentials,
            "a deletion code works once"
        );
    }
}

/// Logging in to a service with the mobile key (OpenID Connect provider side).
mod login {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use base64::Engine;
    use civkey_proto::login::{LoginDecisionRequest, LoginOpenRequest, LoginPageEvent, LoginUri};
    use civkey_proto::sign::{Decision, LoginApproval};
    use sha2::{Digest, Sha256};

    use super::*;
    use crate::clock::Clock;
    use crate::services::oidc::authorize::{AuthorizeError, AuthorizeParams, StartedLogin};

    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk-and-some-more-bytes";
    const REDIRECT: &str = "https://dane.example.cz/callback";

    fn challenge(verifier: &str) -> String {
        B64.encode(Sha256::digest(verifier.as_bytes()))
    }

    fn params(client_id: &str) -> AuthorizeParams {
        AuthorizeParams {
            client_id: Some(client_id.into()),
            redirect_uri: Some(REDIRECT.into()),
            response_type: Some("code".into()),
            scope: Some("openid profile".into()),
            state: Some("st-123".into()),
            nonce: Some("n-456".into()),
            code_challenge: Some(challenge(VERIFIER)),
            code_challenge_method: Some("S256".into()),
            ..AuthorizeParams::default()
        }
    }

    struct Login {
        f: Fixture,
        client_id: String,
        secret: String,
        device_key: SigningKey,
        device_id: DeviceId,
    }

    async fn login_fixture() -> Login {
        let f = fixture().await;
        let new = f
            .services
            .register_client("Daňový portál", &[REDIRECT.into()], None)
            .await
            .unwrap();
        let device_key = key(0x42);
        let device_id = paired(&f, &device_key).await;
        Login {
            client_id: new.client.id.clone(),
            secret: new.secret.to_string(),
            f,
            device_key,
            device_id,
        }
    }

    impl Login {
        async fn start(&self) -> StartedLogin {
            self.f
                .services
                .authorize(&params(&self.client_id), None)
                .await
                .unwrap()
        }

        async fn device(&self) -> crate::store::DeviceRecord {
            self.f
                .services
                .store
                .device(&self.device_id.to_text())
                .await
                .unwrap()
                .unwrap()
        }

        /// Scans the page's current QR code and opens the request.
        async fn scan(
            &self,
            started: &StartedLogin,
        ) -> Result<civkey_proto::login::LoginRequestInfo, ServiceError> {
            let (text, _) = self
                .f
                .services
                .login_qr_uri(&started.request_id.to_text())
                .await
                .unwrap();
            let uri = LoginUri::parse(&text).unwrap();
            self.f
                .services
                .open_login(
                    &self.device().await,
                    &started.request_id.to_text(),
                    &uri.open_request(),
                )
                .await
        }

        fn decision(
            &self,
            info: &civkey_proto::login::LoginRequestInfo,
            key: &SigningKey,
            decision: Decision,
        ) -> LoginDecisionRequest {
            let time = self.f.clock.now();
            let signed = LoginApproval {
                origin: &self.f.services.origin,
                request_id: &info.request_id,
                service_id: &info.service_id,
                service_origin: &info.service_origin,
                challenge: &info.challenge,
                time,
                decision,
            }
            .signed_bytes();
            LoginDecisionRequest {
                device_id: self.device_id,
                decision,
                time,
                signature: civkey_proto::sign::sign(key, &signed),
            }
        }

        /// Scans, approves, and returns the code from the page's redirect.
        async fn approved_code(&self) -> String {
            let started = self.start().await;
            let info = self.scan(&started).await.unwrap();
            let id = started.request_id.to_text();
            self.f
                .services
                .decide_login(
                    &id,
                    &self.decision(&info, &self.device_key, Decision::Approve),
                )
                .await
                .unwrap();
            match self
                .f
                .services
                .login_page_event(&id, Some(&started.browser_token))
                .await
                .unwrap()
            {
                LoginPageEvent::Approved { redirect_to } => {
                    let url = url::Url::parse(&redirect_to).unwrap();
                    assert!(redirect_to.starts_with(REDIRECT));
                    let q: std::collections::HashMap<_, _> = url.query_pairs().collect();
                    assert_eq!(q["state"], "st-123");
                    q["code"].to_string()
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn a_scanned_and_approved_login_gives_the_service_a_signed_id_token() {
        let l = login_fixture().await;
        let started = l.start().await;
        assert!(started
            .launch_uri
            .starts_with("civkey://login?v=1&s=https%3A%2F%2Fid.example.gov"));
        let info = l.scan(&started).await.unwrap();
        assert_eq!(info.service_name, "Daňový portál");
        assert_eq!(info.service_origin.as_str(), "https://dane.example.cz");
        let id = started.request_id.to_text();
        assert_eq!(
            l.f.services
                .login_page_event(&id, Some(&started.browser_token))
                .await
                .unwrap(),
            LoginPageEvent::Waiting
        );
        l.f.clock.advance(3);
        l.f.services
            .decide_login(&id, &l.decision(&info, &l.device_key, Decision::Approve))
            .await
            .unwrap();
        let LoginPageEvent::Approved { redirect_to } =
            l.f.services
                .login_page_event(&id, Some(&started.browser_token))
                .await
                .unwrap()
        else {
            panic!("not approved")
        };
        let url = url::Url::parse(&redirect_to).unwrap();
        let code = url
            .query_pairs()
            .find(|(k, _)| k == "code")
            .unwrap()
            .1
            .to_string();

        let tokens =
            l.f.services
                .exchange_code(&l.client_id, &l.secret, &code, REDIRECT, VERIFIER)
                .await
                .unwrap();
        let jwks = l.f.services.jwks().await.unwrap();
        let parts: Vec<&str> = tokens.id_token.split('.').collect();
        let claims: serde_json::Value =
            serde_json::from_slice(&B64.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(claims["iss"], "https://id.example.gov");
        assert_eq!(claims["aud"], l.client_id.as_str());
        assert_eq!(claims["nonce"], "n-456");
        assert_eq!(claims["name"], "Jana Nováková");
        assert_eq!(claims["exp"], json_u64(l.f.clock.now() + 300));
        assert_ne!(
            claims["sub"],
            l.f.citizen.as_str(),
            "sub is pairwise, not the citizen id"
        );
        assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);

        let info = l.f.services.userinfo(&tokens.access_token).await.unwrap();
        assert_eq!(info["sub"], claims["sub"]);
        assert_eq!(info["name"], "Jana Nováková");

        // History and last-used.
        let history =
            l.f.services
                .store
                .login_history(&l.f.citizen, 10)
                .await
                .unwrap();
        assert_eq!(history.len(), 1);
        assert_eq!(history[0].service_name, "Daňový portál");
        assert_eq!(
            history[0].device_id.as_deref(),
            Some(l.device_id.to_text().as_str())
        );
        assert_eq!(l.device().await.last_used_at, Some(T0 + 3));
    }

    fn json_u64(n: u64) -> serde_json::Value {
        serde_json::json!(n)
    }

    /// A portal session of the fixture's citizen, opened with `means`.
    fn session(l: &Login, means: crate::store::Means) -> crate::store::WebSession {
        crate::store::WebSession {
            citizen_id: l.f.citizen.clone(),
            means,
            csrf_token: "csrf".into(),
            authenticated_at: T0,
            device_id: None,
            expires_at: T0 + 3600,
        }
    }

    #[tokio::test]
    async fn only_the_browser_that_started_a_login_hears_it_or_answers_it() {
        use crate::store::Means;
        let l = login_fixture().await;
        let s = &l.f.services;
        let started = l.start().await;
        let id = started.request_id.to_text();
        let other = l.start().await;
        for browser in [None, Some("made-up"), Some(other.browser_token.as_str())] {
            let refused = [
                s.login_page_update(&id, browser).await.map(|_| ()),
                s.login_page_event(&id, browser).await.map(|_| ()),
                s.open_login_for_session(&id, browser, &session(&l, Means::PasswordTotp))
                    .await
                    .map(|_| ()),
                s.approve_login_with_session(&id, browser, &session(&l, Means::PasswordTotp))
                    .await
                    .map(|_| ()),
            ];
            for e in refused {
                assert_eq!(e.unwrap_err().code(), ErrorCode::Forbidden, "{browser:?}");
            }
        }
        // Nothing was approved by those attempts; the right browser still can.
        assert_eq!(
            s.login_page_event(&id, Some(&started.browser_token))
                .await
                .unwrap(),
            LoginPageEvent::Waiting
        );
        s.approve_login_with_session(
            &id,
            Some(&started.browser_token),
            &session(&l, Means::PasswordTotp),
        )
        .await
        .unwrap();
        // Only the cookie's hash is stored.
        let record = s.store.login_request(&id).await.unwrap().unwrap();
        assert_ne!(
            record.browser_hash.as_deref(),
            Some(started.browser_token.as_str())
        );
    }

    #[tokio::test]
    async fn a_session_answers_only_what_the_service_asked_for() {
        use crate::services::oidc::authorize::SessionFit;
        use crate::store::Means;
        let l = &login_fixture().await;
        let s = &l.f.services;
        let start = |extra: fn(&mut AuthorizeParams)| {
            let mut p = params(&l.client_id);
            extra(&mut p);
            async move { s.authorize(&p, None).await.unwrap() }
        };
        let fit = |started: StartedLogin, means: Means| async move {
            s.open_login_for_session(
                &started.request_id.to_text(),
                Some(&started.browser_token),
                &session(l, means),
            )
            .await
            .unwrap()
            .fit
        };
        // The session was opened at T0; now is T0 + 100.
        l.f.clock.advance(100);
        type Case = (fn(&mut AuthorizeParams), Means, SessionFit);
        let cases: [Case; 8] = [
            (|_| {}, Means::EmailCode, SessionFit::Fits),
            (
                |p| p.max_age = Some("3600".into()),
                Means::EmailCode,
                SessionFit::Fits,
            ),
            (
                |p| p.max_age = Some("99".into()),
                Means::EmailCode,
                SessionFit::NeedsFreshLogin,
            ),
            (
                |p| p.max_age = Some("0".into()),
                Means::PasswordTotp,
                SessionFit::NeedsFreshLogin,
            ),
            (
                |p| p.prompt = Some("login".into()),
                Means::PasswordTotp,
                SessionFit::NeedsFreshLogin,
            ),
            (
                |p| p.acr_values = Some("civkey:password-otp".into()),
                Means::EmailCode,
                SessionFit::TooWeak,
            ),
            (
                |p| p.acr_values = Some("http://eidas.europa.eu/LoA/substantial".into()),
                Means::PasswordTotp,
                SessionFit::Fits,
            ),
            (
                |p| p.acr_values = Some("civkey:mobile-key".into()),
                Means::PasswordTotp,
                SessionFit::TooWeak,
            ),
        ];
        for (i, (extra, means, expected)) in cases.into_iter().enumerate() {
            assert_eq!(fit(start(extra).await, means).await, expected, "case {i}");
        }
        // A session that does not fit cannot approve either.
        let started = start(|p| p.prompt = Some("login".into())).await;
        let refused = s
            .approve_login_with_session(
                &started.request_id.to_text(),
                Some(&started.browser_token),
                &session(l, Means::PasswordTotp),
            )
            .await
            .unwrap_err();
        assert_eq!(refused.code(), ErrorCode::Unauthorized);
        // The mobile key answers any of them: its approval is fresh and the strongest means.
        let started = start(|p| {
            p.prompt = Some("login".into());
            p.acr_values = Some("civkey:mobile-key".into());
        })
        .await;
        let info = l.scan(&started).await.unwrap();
        s.decide_login(
            &started.request_id.to_text(),
            &l.decision(&info, &l.device_key, Decision::Approve),
        )
        .await
        .unwrap();
    }

    #[tokio::test]
    async fn a_pkce_verifier_outside_rfc_7636s_alphabet_is_refused_even_when_its_hash_matches() {
        let l = login_fixture().await;
        let s = &l.f.services;
        for verifier in [
            "spaces and colons: not in the unreserved alphabet of RFC 7636",
            "short",
            &"a".repeat(129),
        ] {
            let mut p = params(&l.client_id);
            p.code_challenge = Some(challenge(verifier));
            let started = s.authorize(&p, None).await.unwrap();
            let info = l.scan(&started).await.unwrap();
            let id = started.request_id.to_text();
            s.decide_login(&id, &l.decision(&info, &l.device_key, Decision::Approve))
                .await
                .unwrap();
            let LoginPageEvent::Approved { redirect_to } = s
                .login_page_event(&id, Some(&started.browser_token))
                .await
                .unwrap()
            else {
                panic!("not approved")
            };
            let code = url::Url::parse(&redirect_to)
                .unwrap()
                .query_pairs()
                .find(|(k, _)| k == "code")
                .unwrap()
                .1
                .to_string();
            let refused = s
                .exchange_code(&l.client_id, &l.secret, &code, REDIRECT, verifier)
                .await
                .unwrap_err();
            assert_eq!(refused.error, "invalid_grant", "{verifier}");
        }
    }

    #[tokio::test]
    async fn a_portal_session_approves_instead_of_the_mobile_key_and_the_token_says_how() {
        use crate::store::Means;
        let l = login_fixture().await;
        let s = &l.f.services;
        let started = l.start().await;
        let id = started.request_id.to_text();
        // A device opened it but has not decided: the citizen uses the password instead.
        let info = l.scan(&started).await.unwrap();
        let open = s
            .open_login_for_session(
                &id,
                Some(&started.browser_token),
                &session(&l, Means::PasswordTotp),
            )
            .await
            .unwrap();
        assert_eq!(open.service_name, "Daňový portál");
        assert_eq!(open.service_origin.as_str(), "https://dane.example.cz");
        l.f.clock.advance(2);
        let redirect = s
            .approve_login_with_session(
                &id,
                Some(&started.browser_token),
                &session(&l, Means::PasswordTotp),
            )
            .await
            .unwrap();
        let url = url::Url::parse(&redirect).unwrap();
        let q: std::collections::HashMap<_, _> = url.query_pairs().collect();
        assert!(redirect.starts_with(REDIRECT));
        assert_eq!(q["state"], "st-123");
        // The page learns it too, with the same code.
        assert_eq!(
            s.login_page_event(&id, Some(&started.browser_token))
                .await
                .unwrap(),
            LoginPageEvent::Approved {
                redirect_to: redirect.clone()
            }
        );
        // The device that opened it can no longer decide; nothing can answer it again.
        let late = s
            .decide_login(&id, &l.decision(&info, &l.device_key, Decision::Approve))
            .await
            .unwrap_err();
        assert_eq!(late.code(), ErrorCode::LoginUsed);
        for means in [Means::PasswordTotp, Means::EmailCode] {
            let again = s
                .approve_login_with_session(&id, Some(&started.browser_token), &session(&l, means))
                .await
                .unwrap_err();
            assert_eq!(again.code(), ErrorCode::LoginUsed);
        }
        let tokens = s
            .exchange_code(&l.client_id, &l.secret, &q["code"], REDIRECT, VERIFIER)
            .await
            .unwrap();
        let claims: serde_json::Value = serde_json::from_slice(
            &B64.decode(tokens.id_token.split('.').nth(1).unwrap())
                .unwrap(),
        )
        .unwrap();
        assert_eq!(claims["amr"], serde_json::json!(["pwd", "otp", "mfa"]));
        assert_eq!(claims["acr"], "civkey:password-otp");
        // When the citizen authenticated (the session's start), not when the login was approved.
        assert_eq!(claims["auth_time"], json_u64(T0));
        let history = s.store.login_history(&l.f.citizen, 10).await.unwrap();
        assert_eq!(history.len(), 1);
        assert_eq!(history[0].means, Means::PasswordTotp);
        assert_eq!(history[0].device_id, None);

        // An e-mail code session; and an expired request cannot be taken any more.
        let started = l.start().await;
        let id = started.request_id.to_text();
        let redirect = s
            .approve_login_with_session(
                &id,
                Some(&started.browser_token),
                &session(&l, Means::EmailCode),
            )
            .await
            .unwrap();
        let code = url::Url::parse(&redirect)
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "code")
            .unwrap()
            .1
            .to_string();
        let tokens = s
            .exchange_code(&l.client_id, &l.secret, &code, REDIRECT, VERIFIER)
            .await
            .unwrap();
        let claims: serde_json::Value = serde_json::from_slice(
            &B64.decode(tokens.id_token.split('.').nth(1).unwrap())
                .unwrap(),
        )
        .unwrap();
        assert_eq!(claims["amr"], serde_json::json!(["otp"]));
        assert_eq!(claims["acr"], "civkey:email-code");
        let started = l.start().await;
        let id = started.request_id.to_text();
        l.f.clock
            .advance(civkey_proto::login::LOGIN_REQUEST_TTL_SECS);
        for e in [
            s.open_login_for_session(
                &id,
                Some(&started.browser_token),
                &session(&l, Means::PasswordTotp),
            )
            .await
            .map(|_| ())
            .unwrap_err(),
            s.approve_login_with_session(
                &id,
                Some(&started.browser_token),
                &session(&l, Means::PasswordTotp),
            )
            .await
            .map(|_| ())
            .unwrap_err(),
        ] {
            assert_eq!(e.code(), ErrorCode::LoginExpired);
        }
        let unknown = s
            .open_login_for_session("nope", None, &session(&l, Means::PasswordTotp))
            .await
            .unwrap_err();
        assert_eq!(unknown.code(), ErrorCode::LoginUnknown);
    }

    /// Makes every write of an event fail (the notification's table is down), or lets them
    /// through again.
    pub(super) async fn events_fail(s: &Services, fail: bool) {
        let sql = if fail {
            "CREATE TRIGGER events_down BEFORE INSERT ON events \
             BEGIN SELECT RAISE(ABORT, 'events are down'); END"
        } else {
            "DROP TRIGGER events_down"
        };
        sqlx::query(sql).execute(s.store.pool()).await.unwrap();
    }

    #[tokio::test]
    async fn a_session_approves_a_login_only_together_with_its_notification() {
        use crate::store::Means;
        let l = login_fixture().await;
        let s = &l.f.services;
        let started = l.start().await;
        let id = started.request_id.to_text();
        // The notification cannot be written: the approval is not made either.
        events_fail(s, true).await;
        let failed = s
            .approve_login_with_session(
                &id,
                Some(&started.browser_token),
                &session(&l, Means::PasswordTotp),
            )
            .await
            .unwrap_err();
        assert_eq!(failed.code(), ErrorCode::Internal);
        assert!(s
            .store
            .login_history(&l.f.citizen, 10)
            .await
            .unwrap()
            .is_empty());
        assert!(!matches!(
            s.login_page_event(&id, Some(&started.browser_token))
                .await
                .unwrap(),
            LoginPageEvent::Approved { .. }
        ));
        // Once it can be written, the same request is approved, and announced.
        events_fail(s, false).await;
        s.approve_login_with_session(
            &id,
            Some(&started.browser_token),
            &session(&l, Means::PasswordTotp),
        )
        .await
        .unwrap();
        assert_eq!(
            s.store.login_history(&l.f.citizen, 10).await.unwrap().len(),
            1
        );
        let events = s
            .store
            .events_after(&l.f.citizen, "any device", 0, 0, 10)
            .await
            .unwrap();
        let logins: Vec<_> = events
            .iter()
            .filter(|e| e.kind.contains("login_notification"))
            .collect();
        assert_eq!(
            logins.len(),
            1,
            "one notification, from the approval that was made"
        );
        assert_eq!(
            serde_json::from_str::<civkey_proto::events::EventKind>(&logins[0].kind).unwrap(),
            civkey_proto::events::EventKind::LoginNotification {
                service_name: "Daňový portál".into(),
                means: civkey_proto::events::LoginMeans::PasswordTotp,
            }
        );
    }

    #[tokio::test]
    async fn codes_are_single_use_and_bound_to_client_redirect_and_verifier() {
        let l = login_fixture().await;
        let s = &l.f.services;
        let code = l.approved_code().await;
        let err =
            |r: Result<_, crate::services::oidc::token::OAuthError>| r.map(|_| ()).unwrap_err();
        assert_eq!(
            err(s
                .exchange_code(&l.client_id, "wrong", &code, REDIRECT, VERIFIER)
                .await)
            .error,
            "invalid_client"
        );
        assert_eq!(
            err(s
                .exchange_code("nobody", &l.secret, &code, REDIRECT, VERIFIER)
                .await)
            .error,
            "invalid_client"
        );
        // A failed exchange with the right client uses the code up (it may have leaked).
        let e = err(s
            .exchange_code(
                &l.client_id,
                &l.secret,
                &code,
                REDIRECT,
                "x".repeat(43).as_str(),
            )
            .await);
        assert_eq!((e.error, e.status), ("invalid_grant", 400));
        assert!(e.description.contains("code_verifier"), "{e:?}");
        assert_eq!(
            err(s
                .exchange_code(&l.client_id, &l.secret, &code, REDIRECT, VERIFIER)
                .await)
            .error,
            "invalid_grant"
        );

        let code = l.approved_code().await;
        let e = err(s
            .exchange_code(
                &l.client_id,
                &l.secret,
                &code,
                "https://dane.example.cz/other",
                VERIFIER,
            )
            .await);
        assert!(e.description.contains("redirect_uri"), "{e:?}");

        let code = l.approved_code().await;
        s.exchange_code(&l.client_id, &l.secret, &code, REDIRECT, VERIFIER)
            .await
            .unwrap();
        let e = err(s
            .exchange_code(&l.client_id, &l.secret, &code, REDIRECT, VERIFIER)
            .await);
        assert!(e.description.contains("already used"), "{e:?}");

        let code = l.approved_code().await;
        l.f.clock.advance(61);
        let e = err(s
            .exchange_code(&l.client_id, &l.secret, &code, REDIRECT, VERIFIER)
            .await);
        assert!(e.description.contains("expired"), "{e:?}");
        assert_eq!(
            s.userinfo("not-a-token").await.unwrap_err().error,
            "invalid_token"
        );
    }

    #[tokio::test]
    async fn bad_authorization_requests_are_refused_the_standard_way() {
        let l = login_fixture().await;
        let s = &l.f.services;
        let mut p = params("nobody");
        assert!(matches!(
            s.authorize(&p, None).await,
            Err(AuthorizeError::Show(_))
        ));
        // Redirect URIs match exactly: another host, and near misses of the registered one.
        for near in [
            "https://evil.example/cb".to_string(),
            format!("{REDIRECT}/"),
            format!("{REDIRECT}?next=x"),
            format!("{REDIRECT}#x"),
            REDIRECT.replace("https://", "http://"),
            REDIRECT.to_uppercase(),
        ] {
            p = params(&l.client_id);
            p.redirect_uri = Some(near.clone());
            assert!(
                matches!(s.authorize(&p, None).await, Err(AuthorizeError::Show(_))),
                "{near}"
            );
        }
        for (change, error) in [
            (
                (|p: &mut AuthorizeParams| p.code_challenge = None) as fn(&mut AuthorizeParams),
                "invalid_request",
            ),
            (
                |p| p.code_challenge_method = Some("plain".into()),
                "invalid_request",
            ),
            (
                |p| p.code_challenge = Some("short".into()),
                "invalid_request",
            ),
            (|p| p.scope = Some("profile".into()), "invalid_scope"),
            (
                |p| p.response_type = Some("token".into()),
                "unsupported_response_type",
            ),
            (|p| p.response_type = None, "unsupported_response_type"),
            (|p| p.state = Some("s".repeat(600)), "invalid_request"),
        ] {
            let mut p = params(&l.client_id);
            change(&mut p);
            let refused = s.authorize(&p, None).await.unwrap_err();
            let url = refused.redirect_url().unwrap();
            assert!(url.starts_with(REDIRECT), "{url}");
            assert!(url.contains(&format!("error={error}")), "{url}");
        }
        let mut p = params(&l.client_id);
        p.code_challenge = None;
        let url = s
            .authorize(&p, None)
            .await
            .unwrap_err()
            .redirect_url()
            .unwrap();
        assert!(url.contains("state=st-123"), "{url}");
    }

    #[tokio::test]
    async fn a_photographed_qr_code_is_refused_a_few_seconds_later() {
        let l = login_fixture().await;
        let started = l.start().await;
        let id = started.request_id.to_text();
        let (text, left) = l.f.services.login_qr_uri(&id).await.unwrap();
        assert_eq!(left, 180);
        let photographed = LoginUri::parse(&text).unwrap().open_request();
        l.f.clock.advance(6);
        let device = l.device().await;
        assert_eq!(
            code_of(l.f.services.open_login(&device, &id, &photographed).await),
            ErrorCode::LoginQrStale
        );
        // A forged MAC is refused outright.
        let forged = LoginOpenRequest::Qr {
            elapsed: 6,
            mac: civkey_proto::ids::QrMac::from_bytes([7; 32]),
        };
        assert_eq!(
            code_of(l.f.services.open_login(&device, &id, &forged).await),
            ErrorCode::LoginQrInvalid
        );
        // The code on the page now works.
        assert!(l.scan(&started).await.is_ok());
        // After three minutes the request is gone.
        l.f.clock.advance(180);
        assert_eq!(code_of(l.scan(&started).await), ErrorCode::LoginExpired);
        assert_eq!(
            l.f.services
                .login_page_event(&id, Some(&started.browser_token))
                .await
                .unwrap(),
            LoginPageEvent::Expired
        );
    }

    #[tokio::test]
    async fn the_launch_token_opens_the_request_once() {
        let l = login_fixture().await;
        let started = l.start().await;
        let id = started.request_id.to_text();
        let open = LoginUri::parse(&started.launch_uri).unwrap().open_request();
        let device = l.device().await;
        l.f.services.open_login(&device, &id, &open).await.unwrap();
        // Another device with the same (leaked) link gets nothing.
        let other_key = key(0x43);
        let other = paired(&l.f, &other_key).await;
        let other =
            l.f.services
                .store
                .device(&other.to_text())
                .await
                .unwrap()
                .unwrap();
        assert!(l.f.services.open_login(&other, &id, &open).await.is_err());
    }

    #[tokio::test]
    async fn only_the_scanning_device_decides_once_with_its_own_key() {
        let l = login_fixture().await;
        let started = l.start().await;
        let id = started.request_id.to_text();
        let info = l.scan(&started).await.unwrap();
        // A signature by another key is refused.
        assert_eq!(
            code_of(
                l.f.services
                    .decide_login(&id, &l.decision(&info, &key(0x77), Decision::Approve))
                    .await
            ),
            ErrorCode::BadSignature
        );
        // A denial is recorded and the page learns it; no code, no history.
        l.f.services
            .decide_login(&id, &l.decision(&info, &l.device_key, Decision::Deny))
            .await
            .unwrap();
        assert_eq!(
            l.f.services
                .login_page_event(&id, Some(&started.browser_token))
                .await
                .unwrap(),
            LoginPageEvent::Denied
        );
        assert_eq!(
            code_of(
                l.f.services
                    .decide_login(&id, &l.decision(&info, &l.device_key, Decision::Approve))
                    .await
            ),
            ErrorCode::LoginUsed
        );
        assert!(l
            .f
            .services
            .store
            .login_history(&l.f.citizen, 10)
            .await
            .unwrap()
            .is_empty());
    }

    #[tokio::test]
    async fn an_approval_from_a_disconnected_device_is_refused() {
        let l = login_fixture().await;
        let started = l.start().await;
        let id = started.request_id.to_text();
        let info = l.scan(&started).await.unwrap();
        l.f.services
            .store
            .disconnect_device(&l.f.citizen, &l.device_id.to_text(), T0)
            .await
            .unwrap();
        assert_eq!(
            code_of(
                l.f.services
                    .decide_login(&id, &l.decision(&info, &l.device_key, Decision::Approve))
                    .await
            ),
            ErrorCode::DeviceDisconnected
        );
    }

    #[tokio::test]
    async fn services_on_different_hosts_see_different_subjects() {
        let l = login_fixture().await;
        let s = &l.f.services;
        let a = s
            .pairwise_sub("dane.example.cz", &l.f.citizen)
            .await
            .unwrap();
        let b = s
            .pairwise_sub("banka.example.cz", &l.f.citizen)
            .await
            .unwrap();
        assert_ne!(a, b);
        assert_eq!(
            a,
            s.pairwise_sub("dane.example.cz", &l.f.citizen)
                .await
                .unwrap()
        );
        assert_eq!(a.len(), 43);
    }

    /// Every way of logging in to a service tells the devices with login notifications on: the
    /// mobile key's approval (with the device's name) and a portal session's; a denial does not.
    #[tokio::test]
    async fn every_login_to_a_service_notifies_the_devices_and_a_denial_does_not() {
        use crate::store::Means;
        use civkey_proto::events::{EventKind, LoginMeans};
        let l = login_fixture().await;
        let s = &l.f.services;
        async fn logins(l: &Login) -> Vec<(String, LoginMeans)> {
            let device = l.device().await;
            l.f.services
                .events_for_device(&device, None)
                .await
                .unwrap()
                .0
                .into_iter()
                .filter_map(|e| match e.kind {
                    EventKind::LoginNotification {
                        service_name,
                        means,
                    } => Some((service_name, means)),
                    _ => None,
                })
                .collect()
        }
        // Denied: nobody logged in.
        let started = l.start().await;
        let info = l.scan(&started).await.unwrap();
        s.decide_login(
            &started.request_id.to_text(),
            &l.decision(&info, &l.device_key, Decision::Deny),
        )
        .await
        .unwrap();
        assert!(logins(&l).await.is_empty());

        l.approved_code().await;
        let started = l.start().await;
        s.approve_login_with_session(
            &started.request_id.to_text(),
            Some(&started.browser_token),
            &session(&l, Means::EmailCode),
        )
        .await
        .unwrap();
        assert_eq!(
            logins(&l).await,
            vec![
                (
                    "Daňový portál".to_string(),
                    LoginMeans::MobileKey {
                        device_name: "Pixel 8".into()
                    }
                ),
                ("Daňový portál".to_string(), LoginMeans::EmailCode),
            ]
        );

        // The portal's own login with the mobile key: announced at the app's decision, finished
        // once and only by the browser that started it; a service login its session approves is
        // announced with the key's name, and the session is strong enough for step-up.
        let portal = s.start_portal_login("/portal/connect").await.unwrap();
        let id = portal.request_id.to_text();
        let info = l.scan(&portal).await.unwrap();
        assert_eq!(
            info.service_id,
            crate::services::oidc::authorize::PORTAL_CLIENT_ID
        );
        s.decide_login(&id, &l.decision(&info, &l.device_key, Decision::Approve))
            .await
            .unwrap();
        assert_eq!(
            s.finish_portal_login(&id, None)
                .await
                .map(|_| ())
                .unwrap_err()
                .code(),
            ErrorCode::Forbidden
        );
        let opened = s
            .finish_portal_login(&id, Some(&portal.browser_token))
            .await
            .unwrap();
        assert_eq!(
            s.finish_portal_login(&id, Some(&portal.browser_token))
                .await
                .map(|_| ())
                .unwrap_err()
                .code(),
            ErrorCode::LoginUsed
        );
        // Its code is no service's: the token endpoint knows no secret for it.
        let key_session = s.web_session(&opened.token).await.unwrap().unwrap();
        assert_eq!(key_session.means, Means::MobileKey);
        assert_eq!(
            s.step_up_needed(&key_session, crate::services::step_up::STEP_UP_SECS)
                .await
                .unwrap(),
            None
        );
        let started = l.start().await;
        s.approve_login_with_session(
            &started.request_id.to_text(),
            Some(&started.browser_token),
            &key_session,
        )
        .await
        .unwrap();
        let announced = logins(&l).await;
        assert_eq!(
            &announced[announced.len() - 2..],
            &[
                (
                    "Citizen portal".to_string(),
                    LoginMeans::MobileKey {
                        device_name: "Pixel 8".into()
                    }
                ),
                (
                    "Daňový portál".to_string(),
                    LoginMeans::MobileKey {
                        device_name: "Pixel 8".into()
                    }
                ),
            ]
        );
    }

    #[tokio::test]
    async fn an_email_code_is_enough_for_step_up_only_without_anything_stronger() {
        use crate::services::step_up::{StepUpMeans, STEP_UP_SECS};
        use crate::store::Means;
        let l = login_fixture().await;
        let s = &l.f.services;
        // The fixture's citizen holds a mobile key and an authenticator.
        let email = session(&l, Means::EmailCode);
        assert_eq!(
            s.step_up_needed(&email, STEP_UP_SECS).await.unwrap(),
            Some(StepUpMeans {
                mobile_key: true,
                password_totp: true,
                email_code: false
            })
        );
        // Strong, but older than five minutes.
        let strong = session(&l, Means::PasswordTotp);
        assert_eq!(s.step_up_needed(&strong, STEP_UP_SECS).await.unwrap(), None);
        l.f.clock.advance(STEP_UP_SECS + 1);
        assert!(s
            .step_up_needed(&strong, STEP_UP_SECS)
            .await
            .unwrap()
            .is_some());
        // Without the key, the authenticator is still stronger than her e-mail.
        s.disconnect_device(&l.f.citizen, &l.device_id.to_text())
            .await
            .unwrap();
        let fresh = crate::store::WebSession {
            authenticated_at: l.f.clock.now(),
            ..email
        };
        assert_eq!(
            s.step_up_needed(&fresh, STEP_UP_SECS).await.unwrap(),
            Some(StepUpMeans {
                mobile_key: false,
                password_totp: true,
                email_code: false
            })
        );
        // Without the authenticator too, her e-mail is the strongest means she holds.
        sqlx::query("UPDATE citizens SET totp_secret = NULL WHERE id = $1")
            .bind(&l.f.citizen)
            .execute(s.store.pool())
            .await
            .unwrap();
        assert_eq!(s.step_up_needed(&fresh, STEP_UP_SECS).await.unwrap(), None);
    }
}

mod bok;
mod limits;
mod notify;
mod onboarding;
