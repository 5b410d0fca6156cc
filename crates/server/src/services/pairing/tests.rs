//! Every state of a pairing session, on a pinned clock and a real SQLite database.

use crate::services::fixtures::*;

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
            .pairing(&pairing.uri.session_id)
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

    let id = pairing.uri.session_id;
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

/// A session claimed by an app that then waits up to 20 s for the outcome (its long poll): the
/// session's id and the poll, which answers the outcome and how long it took.
async fn claimed_and_waiting(
    f: &Fixture,
) -> (
    civkey_proto::ids::SessionId,
    tokio::task::JoinHandle<(
        Result<civkey_proto::pair::PairOutcome, ServiceError>,
        Duration,
    )>,
) {
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
    (session, waiter)
}

#[tokio::test]
async fn the_app_learns_the_browser_decision_without_polling() {
    let f = fixture().await;
    let (session, waiter) = claimed_and_waiting(&f).await;
    f.services
        .decide_pairing(&f.citizen, &session, false)
        .await
        .unwrap();
    let (outcome, took) = waiter.await.unwrap();
    assert_eq!(outcome.unwrap().status, PairStatus::Refused);
    assert!(took < Duration::from_secs(1), "took {took:?}");
}

#[tokio::test]
async fn at_shutdown_the_apps_long_poll_answers_at_once_with_where_it_stands() {
    let f = fixture().await;
    let (_session, waiter) = claimed_and_waiting(&f).await;
    assert!(!waiter.is_finished(), "the poll waits for the decision");
    f.services.shutdown.begin();
    let (outcome, took) = waiter.await.unwrap();
    assert_eq!(outcome.unwrap().status, PairStatus::Claimed);
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
    let id = pairing.uri.session_id;
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
        .decide_pairing(&f.citizen, &used.uri.session_id, true)
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
                .decide_pairing(&f.citizen, &used.uri.session_id, true)
                .await
        ),
        ErrorCode::PairingUsed
    );

    let refused = f.services.start_pairing(&f.citizen).await.unwrap();
    f.services
        .decide_pairing(&f.citizen, &refused.uri.session_id, false)
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
    let id = pairing.uri.session_id;
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

#[tokio::test]
async fn a_stored_state_the_server_does_not_know_is_an_error_not_a_default() {
    let f = fixture().await;
    let pairing = f.services.start_pairing(&f.citizen).await.unwrap();
    let id = pairing.uri.session_id;
    sqlx::query("UPDATE pairing_sessions SET state = 'confrimed' WHERE id = $1")
        .bind(id.to_text())
        .execute(f.services.store.pool())
        .await
        .unwrap();
    let err = f.services.store.pairing(&id).await.unwrap_err();
    assert!(
        matches!(&err, crate::store::StoreError::Unknown(e) if e.value == "confrimed"),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "unknown pairing state \"confrimed\" in the database"
    );
}
