//! Service tests: every state of a pairing session and every device-call refusal, with a pinned
//! clock and a real SQLite database.

use std::sync::Arc;
use std::time::Duration;

use civkey_proto::device::{DeviceCallAuth, DeviceKind, DeviceModel, DeviceName};
use civkey_proto::ids::{DeviceId, Nonce};
use civkey_proto::pair::{ConfirmationCode, PairClaimRequest, PairStatus, PairingUri};
use civkey_proto::sign::{sign, DeviceCall, DevicePublicKey, PairingProof};
use civkey_proto::{ErrorCode, Origin};
use p256::ecdsa::SigningKey;

use super::{citizens, ServiceError, Services};
use crate::clock::ManualClock;
use crate::signal::ChangeSignal;
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
    let services = Services {
        store: store.clone(),
        clock: Arc::new(clock.clone()),
        signal: ChangeSignal::default(),
        origin: Origin::parse("https://id.example.gov").unwrap(),
    };
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
        pairing.uri.confirmation_code(&public(&device_key))
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
    assert_eq!(
        uri.confirmation_code(&public(&device_key)),
        ConfirmationCode::parse("369 829").unwrap()
    );
}

mod auth {
    use super::*;
    use crate::clock::Clock;
    use crate::services::auth::{
        FAILURE_WINDOW_SECS, MAX_FAILURES_PER_ACCOUNT, MAX_FAILURES_PER_ADDRESS,
    };
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
        f.clock.advance(crate::services::auth::SESSION_TTL_SECS);
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
        for _ in 0..MAX_FAILURES_PER_ACCOUNT {
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
                assert!(retry_after > 0 && retry_after <= FAILURE_WINDOW_SECS)
            }
            other => panic!("expected rate limiting, got {:?}", other.map(|_| ())),
        }
        f.clock.advance(FAILURE_WINDOW_SECS);
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

    #[tokio::test]
    async fn failed_attempts_are_limited_per_client_address_across_accounts() {
        let (f, account) = enrolled().await;
        for i in 0..MAX_FAILURES_PER_ADDRESS {
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

    #[test]
    fn the_timing_dummy_hash_is_a_real_argon2id_hash() {
        // If it did not parse, an unknown username would answer faster than a wrong password.
        assert!(argon2::password_hash::PasswordHash::new(
            crate::services::auth::DUMMY_HASH_FOR_TESTS
        )
        .is_ok());
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

    /// The code in the one queued message.
    async fn sent_code(f: &Fixture) -> String {
        let due = f
            .services
            .store
            .due_messages(f.services.clock.now(), 10)
            .await
            .unwrap();
        let last = due.last().expect("a message was queued");
        assert_eq!(last.recipient, "eva@example.hu");
        last.body
            .split_whitespace()
            .find(|w| w.len() == 6 && w.bytes().all(|b| b.is_ascii_digit()))
            .unwrap()
            .to_string()
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
        f.clock.advance(crate::services::auth::EMAIL_CODE_TTL_SECS);
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
        assert!(
            f.services
                .store
                .due_messages(T0, 10)
                .await
                .unwrap()
                .is_empty(),
            "no address, no message"
        );
    }

    #[tokio::test]
    async fn a_wrong_email_code_counts_towards_the_limit() {
        let f = with_email().await;
        f.services
            .send_email_code("eva", "a", "Code", "Your code: {code} .")
            .await
            .unwrap();
        for _ in 0..4 {
            let _ = f.services.login_email_code("eva", "000000", "b").await;
        }
        assert_eq!(
            code_of(
                f.services
                    .login_email_code("eva", "000000", "b")
                    .await
                    .map(|_| ())
            ),
            ErrorCode::RateLimited
        );
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
