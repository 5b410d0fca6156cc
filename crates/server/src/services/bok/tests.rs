//! The BOK-pad and the counter, without HTTP: every rule of issue 8's first part, each refusal with
//! its code, on a pinned clock and a real SQLite database.

use civkey_proto::bok::{BokAnswerRequest, BokCounterEvent, BokOutcome};
use civkey_proto::ids::BokRequestId;
use civkey_proto::rules::Bok;
use civkey_proto::sign::BokAnswer;

use crate::services::bok::{set_bok, BokPolicy};
use crate::services::fixtures::*;

#[tokio::test]
async fn set_bok_refuses_letters_and_codes_too_short_or_too_long_and_stores_only_an_argon2id_hash()
{
    let f = fixture().await;
    for bad in ["12a4", "abcd", "123", "", "12345678901", " 1234", "1234 "] {
        let refused = set_bok(&f.services.store, "jana", bad).await;
        assert_eq!(code_of(refused), ErrorCode::BokInvalidFormat, "{bad:?}");
    }
    let citizen = f
        .services
        .store
        .bok_citizen(&f.citizen)
        .await
        .unwrap()
        .unwrap();
    assert!(citizen.bok_hash.is_none(), "nothing was stored");
    assert_eq!(
        code_of(set_bok(&f.services.store, "nobody", "1234").await),
        ErrorCode::NotFound
    );

    for good in ["0000", "1234567890", BOK] {
        set_bok(&f.services.store, "jana", good).await.unwrap();
        let hash = f
            .services
            .store
            .bok_citizen(&f.citizen)
            .await
            .unwrap()
            .unwrap()
            .bok_hash
            .unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(!hash.contains(good));
        assert!(crate::services::secrets::verify_secret(good, &hash)
            .await
            .unwrap());
    }
}

#[tokio::test]
async fn the_right_bok_from_a_bok_pad_device_verifies_and_the_counter_sees_it() {
    let c = counter().await;
    let started =
        c.f.services
            .start_bok_verification(&c.clerk, "jana")
            .await
            .unwrap();
    assert_eq!(started.expires_at, T0 + 120, "two minutes by default");
    let id = started.id;
    assert_eq!(c.event(&id).await, BokCounterEvent::Waiting);

    let pending = c.pending().await;
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].id, id);
    assert_eq!(pending[0].office_name, "Czech POINT, Praha 1");
    assert_eq!(pending[0].expires_at, T0 + 120);

    c.f.clock.advance(30);
    let answered = c.answer(&id, BOK).await.unwrap();
    assert_eq!(answered.outcome, BokOutcome::Verified);
    assert_eq!(answered.attempts_left, 5);
    assert_eq!(c.event(&id).await, BokCounterEvent::Verified);
    assert!(
        c.pending().await.is_empty(),
        "an answered request is no longer pending"
    );

    let page =
        c.f.services
            .counter_bok_request(&c.clerk.clerk_id, &id)
            .await
            .unwrap()
            .unwrap();
    assert_eq!(page.citizen_name, "Jana Nováková");
    assert_eq!(page.event, BokCounterEvent::Verified);
}

#[tokio::test]
async fn a_device_with_bok_pad_off_is_refused_and_changes_nothing() {
    let c = counter().await;
    let id = c.start().await;
    c.f.services
        .set_bok_pad(&c.f.citizen, &c.device.id, false)
        .await
        .unwrap();
    let off =
        c.f.services
            .store
            .device(&c.device.id)
            .await
            .unwrap()
            .unwrap();
    assert!(!off.bok_pad);
    assert_eq!(
        code_of(c.f.services.pending_bok_requests(&off).await),
        ErrorCode::BokPadOff
    );
    let answer = c.signed(&id, BOK, &c.device_key, T0).await;
    assert_eq!(
        code_of(c.f.services.answer_bok(&off, &id, &answer).await),
        ErrorCode::BokPadOff
    );
    assert_eq!(c.event(&id).await, BokCounterEvent::Waiting);
    // With no device left with BOK-pad on, the counter cannot start another verification.
    assert_eq!(
        code_of(c.f.services.start_bok_verification(&c.clerk, "jana").await),
        ErrorCode::BokNoDevice
    );
    assert_eq!(c.citizen().await.bok_pad_devices, 0);
}

#[tokio::test]
async fn an_answer_after_expiry_is_refused_and_the_counter_sees_expired() {
    let c = counter().await;
    let id = c.start().await;
    c.f.clock.advance(119);
    assert_eq!(c.event(&id).await, BokCounterEvent::Waiting);
    let late = c.signed(&id, BOK, &c.device_key, T0 + 120).await;
    c.f.clock.advance(1);
    assert_eq!(c.event(&id).await, BokCounterEvent::Expired);
    assert!(c.pending().await.is_empty());
    assert_eq!(
        code_of(c.f.services.answer_bok(&c.device, &id, &late).await),
        ErrorCode::BokExpired
    );
    assert_eq!(c.citizen().await.wrong_answers, 0, "nothing was counted");
}

#[tokio::test]
async fn a_request_is_answered_once_even_by_two_devices() {
    let c = counter().await;
    let second_key = key(0x43);
    let second_id = paired(&c.f, &second_key).await;
    let second =
        c.f.services
            .store
            .device(&second_id)
            .await
            .unwrap()
            .unwrap();
    let id = c.start().await;
    assert_eq!(
        c.f.services
            .pending_bok_requests(&second)
            .await
            .unwrap()
            .len(),
        1,
        "every BOK-pad device of the citizen sees the request"
    );
    let first = c.answer(&id, "000000").await.unwrap();
    assert_eq!(first.outcome, BokOutcome::NotVerified);
    assert_eq!(code_of(c.answer(&id, BOK).await), ErrorCode::BokAnswered);
    // The other device's answer, properly signed by it, is refused the same way.
    let record = c.f.services.store.bok_request(&id).await.unwrap().unwrap();
    let challenge = civkey_proto::ids::Challenge::parse(&record.challenge).unwrap();
    let bok = Bok::parse(BOK).unwrap();
    let signed = BokAnswer {
        origin: &c.f.services.origin,
        request_id: &id,
        challenge: &challenge,
        device_id: &second_id,
        bok: &bok,
        time: T0,
    }
    .signed_bytes();
    let answer = BokAnswerRequest {
        bok,
        time: T0,
        signature: sign(&second_key, &signed),
    };
    assert_eq!(
        code_of(c.f.services.answer_bok(&second, &id, &answer).await),
        ErrorCode::BokAnswered
    );
    assert_eq!(
        c.event(&id).await,
        BokCounterEvent::NotVerified { attempts_left: 4 },
        "the first answer stands"
    );
    assert_eq!(
        c.citizen().await.wrong_answers,
        1,
        "refused answers are not counted"
    );
}

#[tokio::test]
async fn five_wrong_answers_in_a_row_block_the_bok_until_a_clerk_unblocks_it() {
    let c = counter().await;
    // A request opened before the block, still pending when it falls.
    let waiting = c.start().await;
    for left in (1..=4).rev() {
        let id = c.start().await;
        let answered = c.answer(&id, "111111").await.unwrap();
        assert_eq!(answered.outcome, BokOutcome::NotVerified);
        assert_eq!(answered.attempts_left, left);
        assert_eq!(
            c.event(&id).await,
            BokCounterEvent::NotVerified {
                attempts_left: left
            }
        );
    }
    let fifth = c.start().await;
    let answered = c.answer(&fifth, "111111").await.unwrap();
    assert_eq!(answered.outcome, BokOutcome::Blocked);
    assert_eq!(answered.attempts_left, 0);
    assert_eq!(c.event(&fifth).await, BokCounterEvent::Blocked);
    let citizen = c.citizen().await;
    assert!(citizen.blocked);
    assert_eq!(citizen.wrong_answers, 5);

    // Blocked: a request still open ends as blocked and leaves the pads, even the right BOK is
    // refused, and no new verification starts.
    assert_eq!(c.event(&waiting).await, BokCounterEvent::Blocked);
    assert!(c.pending().await.is_empty());
    assert_eq!(
        code_of(c.answer(&waiting, BOK).await),
        ErrorCode::BokBlocked
    );
    assert_eq!(
        code_of(c.f.services.start_bok_verification(&c.clerk, "jana").await),
        ErrorCode::BokBlocked
    );

    // A clerk unblocks; it is recorded with the clerk and office.
    c.f.clock.advance(600);
    assert!(c.f.services.unblock_bok(&c.clerk, "jana").await.unwrap());
    assert!(
        !c.f.services.unblock_bok(&c.clerk, "jana").await.unwrap(),
        "a second unblock finds nothing blocked"
    );
    let citizen = c.citizen().await;
    assert!(!citizen.blocked);
    assert_eq!(citizen.wrong_answers, 0);
    let record = citizen.last_unblock.unwrap();
    assert_eq!(record.clerk_username, "eva");
    assert_eq!(record.office_name, "Czech POINT, Praha 1");
    assert_eq!(record.wrong_answers, 5);
    assert_eq!(record.at, T0 + 600);

    let id = c.start().await;
    assert_eq!(
        c.answer(&id, BOK).await.unwrap().outcome,
        BokOutcome::Verified
    );
}

#[tokio::test]
async fn a_right_answer_clears_the_count_of_wrong_ones() {
    let c = counter().await;
    for _ in 0..4 {
        let id = c.start().await;
        c.answer(&id, "2222").await.unwrap();
    }
    assert_eq!(c.citizen().await.wrong_answers, 4);
    let id = c.start().await;
    assert_eq!(
        c.answer(&id, BOK).await.unwrap().outcome,
        BokOutcome::Verified
    );
    assert_eq!(c.citizen().await.wrong_answers, 0);
    let id = c.start().await;
    let answered = c.answer(&id, "2222").await.unwrap();
    assert_eq!(
        (answered.outcome, answered.attempts_left),
        (BokOutcome::NotVerified, 4),
        "counting starts again"
    );
}

#[tokio::test]
async fn the_operator_sets_the_lifetime_and_the_number_of_wrong_answers() {
    let c = counter().await;
    let services =
        c.f.services
            .clone()
            .with_bok_policy(BokPolicy::new(60, 2).unwrap());
    let started = services
        .start_bok_verification(&c.clerk, "jana")
        .await
        .unwrap();
    assert_eq!(started.expires_at, T0 + 60);
    let answer = c.signed(&started.id, "9999", &c.device_key, T0).await;
    let first = services
        .answer_bok(&c.device, &started.id, &answer)
        .await
        .unwrap();
    assert_eq!(
        (first.outcome, first.attempts_left),
        (BokOutcome::NotVerified, 1)
    );
    let second = services
        .start_bok_verification(&c.clerk, "jana")
        .await
        .unwrap();
    let answer = c.signed(&second.id, "9999", &c.device_key, T0).await;
    let blocked = services
        .answer_bok(&c.device, &second.id, &answer)
        .await
        .unwrap();
    assert_eq!(blocked.outcome, BokOutcome::Blocked);
    assert!(BokPolicy::new(10, 5).is_err() && BokPolicy::new(120, 0).is_err());
}

#[tokio::test]
async fn a_forged_misdirected_or_stale_answer_is_refused_and_leaves_the_request_open() {
    let c = counter().await;
    let id = c.start().await;
    let other = c.start().await;
    let cases = [
        // Signed by another key.
        (
            c.signed(&id, BOK, &key(0x99), T0).await,
            ErrorCode::BadSignature,
        ),
        // Signed for another request.
        (
            c.signed(&other, BOK, &c.device_key, T0).await,
            ErrorCode::BadSignature,
        ),
        // Signed with a time far from the server's.
        (
            c.signed(&id, BOK, &c.device_key, T0 - 120).await,
            ErrorCode::Replayed,
        ),
    ];
    for (answer, code) in cases {
        assert_eq!(
            code_of(c.f.services.answer_bok(&c.device, &id, &answer).await),
            code
        );
    }
    // A BOK swapped into a signed answer no longer verifies.
    let mut swapped = c.signed(&id, "000000", &c.device_key, T0).await;
    swapped.bok = Bok::parse(BOK).unwrap();
    assert_eq!(
        code_of(c.f.services.answer_bok(&c.device, &id, &swapped).await),
        ErrorCode::BadSignature
    );
    assert_eq!(c.event(&id).await, BokCounterEvent::Waiting);
    assert_eq!(c.citizen().await.wrong_answers, 0);
    assert_eq!(
        c.answer(&id, BOK).await.unwrap().outcome,
        BokOutcome::Verified
    );
    assert_eq!(
        code_of(
            c.f.services
                .answer_bok(&c.device, &BokRequestId::from_bytes([7; 16]), &swapped)
                .await
        ),
        ErrorCode::BokUnknown
    );
}

#[tokio::test]
async fn a_verification_needs_a_bok_on_record_an_unblocked_bok_and_a_bok_pad_device() {
    let f = fixture().await;
    let clerk = clerk(&f, "eva", "Czech POINT, Praha 1").await;
    let start = |username: &'static str| {
        let services = f.services.clone();
        let clerk = clerk.clone();
        async move { services.start_bok_verification(&clerk, username).await }
    };
    assert_eq!(code_of(start("nobody").await), ErrorCode::NotFound);
    assert_eq!(code_of(start("jana").await), ErrorCode::BokNotSet);
    set_bok(&f.services.store, "jana", BOK).await.unwrap();
    assert_eq!(code_of(start("jana").await), ErrorCode::BokNoDevice);
    let device = paired(&f, &key(0x44)).await;
    start("jana").await.unwrap();
    f.services
        .disconnect_device(&f.citizen, &device)
        .await
        .unwrap();
    assert_eq!(
        code_of(start("jana").await),
        ErrorCode::BokNoDevice,
        "a disconnected device is no BOK-pad"
    );
}

#[tokio::test]
async fn another_citizens_device_and_another_clerk_cannot_see_the_request() {
    let c = counter().await;
    let id = c.start().await;
    citizens::add_citizen(
        &c.f.services.store,
        T0,
        "petr",
        "Petr Svoboda",
        None,
        "petr's long password",
    )
    .await
    .unwrap();
    let petr =
        c.f.services
            .store
            .citizen_by_username("petr")
            .await
            .unwrap()
            .unwrap();
    let pairing = c.f.services.start_pairing(&petr.id).await.unwrap();
    let petr_key = key(0x45);
    c.f.services
        .claim_pairing(&pairing.uri.session_id, &claim(&pairing.uri, &petr_key))
        .await
        .unwrap();
    c.f.services
        .decide_pairing(&petr.id, &pairing.uri.session_id, true)
        .await
        .unwrap();
    let petr_device =
        c.f.services
            .store
            .active_devices(&petr.id)
            .await
            .unwrap()
            .remove(0);
    assert!(c
        .f
        .services
        .pending_bok_requests(&petr_device)
        .await
        .unwrap()
        .is_empty());
    let answer = c.signed(&id, BOK, &petr_key, T0).await;
    assert_eq!(
        code_of(c.f.services.answer_bok(&petr_device, &id, &answer).await),
        ErrorCode::BokUnknown
    );

    let other_clerk = clerk(&c.f, "karel", "Czech POINT, Brno").await;
    assert!(c
        .f
        .services
        .bok_counter_event(&other_clerk.clerk_id, &id)
        .await
        .unwrap()
        .is_none());
    assert!(c
        .f
        .services
        .counter_bok_request(&other_clerk.clerk_id, &id)
        .await
        .unwrap()
        .is_none());
}

/// The clerk's start reaches the BOK-pad as a `bok_request` event (the same request the pad lists);
/// five wrong answers and the clerk's unblock are told to the citizen as informative ones.
#[tokio::test]
async fn a_started_verification_and_the_block_and_unblock_are_notified_to_the_device() {
    use civkey_proto::events::EventKind;
    let c = counter().await;
    let id = c.start().await;
    let events = |c: &Counter| {
        let (s, device) = (c.f.services.clone(), c.device.clone());
        async move { s.events_for_device(&device, None).await.unwrap().0 }
    };
    let pending = c.pending().await[0].clone();
    let bok_requests: Vec<_> = events(&c)
        .await
        .into_iter()
        .filter(|e| matches!(e.kind, EventKind::BokRequest { .. }))
        .collect();
    assert_eq!(bok_requests.len(), 1, "{bok_requests:?}");
    assert_eq!(
        bok_requests[0].kind,
        EventKind::BokRequest { request: pending }
    );
    assert_eq!(c.pending().await[0].id, id);
    c.answer(&id, "111111").await.unwrap();
    for _ in 0..4 {
        let id = c.start().await;
        c.answer(&id, "111111").await.unwrap();
    }
    assert!(c.f.services.unblock_bok(&c.clerk, "jana").await.unwrap());
    let titles: Vec<String> = events(&c)
        .await
        .into_iter()
        .filter_map(|e| match e.kind {
            EventKind::Informative { title, .. } => Some(title),
            _ => None,
        })
        .collect();
    assert_eq!(
        titles,
        [
            "Připojen nový mobilní klíč",
            "BOK zablokován",
            "BOK odblokován"
        ]
    );
    // Answered and blocked requests are no longer sent (a reconnecting pad is not asked again).
    let bok_requests = |events: Vec<civkey_proto::events::Event>| {
        events
            .into_iter()
            .filter(|e| matches!(e.kind, EventKind::BokRequest { .. }))
            .count()
    };
    assert_eq!(bok_requests(events(&c).await), 0);
    // A new request is sent until it expires, then no longer.
    c.start().await;
    assert_eq!(bok_requests(events(&c).await), 1);
    c.f.clock.advance(c.f.services.bok.request_ttl_secs);
    assert_eq!(bok_requests(events(&c).await), 0);
}
