//! In-person onboarding without HTTP: the app's start, the clerk's form at the counter and the
//! app's outcome, each refusal with its code, on a pinned clock and a real SQLite database.

use civkey_proto::onboard::{IdentificationCode, OnboardStartRequest, OnboardStatus};
use civkey_proto::sign::OnboardingProof;

use crate::services::clerks::{add_clerk, clerk_code_for_tests};
use crate::services::fixtures::*;
use crate::services::onboarding::{
    OnboardError, OnboardField, OnboardInput, MAX_STARTS_PER_ADDRESS,
};
use crate::store::ClerkSession;

const CLERK_PASSWORD: &str = "clerk's long password";
const APP_ADDRESS: &str = "192.0.2.7";
const COUNTER_ADDRESS: &str = "10.0.0.1";

fn start_request(f: &Fixture, key: &SigningKey, timestamp: u64) -> OnboardStartRequest {
    let name = DeviceName::parse("Pixel 8").unwrap();
    let model = DeviceModel::parse("Pixel 8 Pro").unwrap();
    let proof = OnboardingProof {
        origin: &f.services.origin,
        public_key: &public(key),
        device_name: name.as_str(),
        device_model: model.as_str(),
        device_kind: DeviceKind::Phone.as_str(),
        timestamp,
    }
    .signed_bytes();
    OnboardStartRequest {
        public_key: public(key),
        device_name: name,
        device_model: model,
        device_kind: DeviceKind::Phone,
        timestamp,
        proof: sign(key, &proof),
    }
}

async fn clerk(f: &Fixture, username: &str) -> ClerkSession {
    add_clerk(
        &f.services.store,
        T0,
        username,
        "Eva Úřednice",
        "Czech POINT, Praha 1",
        CLERK_PASSWORD,
    )
    .await
    .unwrap();
    let code = clerk_code_for_tests(&f.services.store, username, f.clock.now()).await;
    let session = f
        .services
        .login_clerk(username, CLERK_PASSWORD, &code, COUNTER_ADDRESS)
        .await
        .unwrap();
    f.services
        .clerk_session(&session.token)
        .await
        .unwrap()
        .unwrap()
}

fn form(code: &IdentificationCode, username: &str) -> OnboardInput {
    OnboardInput {
        // Typed the way people do: lower case, spaces instead of dashes.
        code: code.grouped().to_lowercase().replace('-', " "),
        full_name: "Petr Svoboda".to_string(),
        username: username.to_string(),
        email: "petr@example.cz".to_string(),
        phone: "+420 601 123 456".to_string(),
        document_type: "id_card".to_string(),
        document_number: "2041 56789".to_string(),
    }
}

fn refusal<T: std::fmt::Debug>(result: Result<T, OnboardError>) -> OnboardError {
    match result {
        Err(e) => e,
        Ok(v) => panic!("expected a refusal, got {v:?}"),
    }
}

async fn waiting_outcome(
    f: &Fixture,
    started: &civkey_proto::onboard::OnboardStartResponse,
) -> civkey_proto::onboard::OnboardOutcome {
    f.services
        .onboarding_outcome(&started.onboarding_id, &started.claim_token, Duration::ZERO)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_clerk_onboards_a_citizen_and_the_app_becomes_their_paired_mobile_key() {
    let f = fixture().await;
    let eva = clerk(&f, "eva").await;
    let app_key = key(0x61);
    let started = f
        .services
        .start_onboarding(&start_request(&f, &app_key, T0), APP_ADDRESS)
        .await
        .unwrap();
    assert_eq!(started.expires_at, T0 + 30 * 60);
    assert_eq!(
        waiting_outcome(&f, &started).await.status,
        OnboardStatus::Waiting
    );

    // The app waits; the clerk's submission wakes it without polling.
    let services = f.services.clone();
    let (id, token) = (started.onboarding_id, started.claim_token.clone());
    let waiting = tokio::spawn(async move {
        services
            .onboarding_outcome(&id, &token, Duration::from_secs(10))
            .await
    });
    tokio::task::yield_now().await;
    let done = f
        .services
        .onboard_citizen(
            &eva,
            &form(&started.identification_code, "petr"),
            COUNTER_ADDRESS,
        )
        .await
        .unwrap();
    assert_eq!(done.full_name, "Petr Svoboda");
    assert_eq!(done.username, "petr");
    assert_eq!(done.device_name, "Pixel 8");
    let outcome = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("the app was not woken")
        .unwrap()
        .unwrap();
    assert_eq!(outcome.status, OnboardStatus::Completed);
    assert_eq!(outcome.account_name.as_deref(), Some("Petr Svoboda"));
    let device_id = outcome.device_id.unwrap();

    // The device is a paired device like any other: the app's key, notifications and BOK-pad on.
    let store = &f.services.store;
    let device = store.device(&device_id).await.unwrap().unwrap();
    assert_eq!(device.citizen_id, done.citizen_id);
    assert_eq!(device.public_key, public(&app_key).to_text());
    assert!(device.bok_pad);
    let citizen = store
        .citizen_by_id(&done.citizen_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(citizen.email.as_deref(), Some("petr@example.cz"));
    assert!(citizen.totp_secret.is_none());
    // Who onboarded them, with the document's type and only the last 4 of its number.
    let (by, office, doc, last4, at) = store
        .citizen_onboarding(&done.citizen_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            by.as_str(),
            office.as_str(),
            doc.as_str(),
            last4.as_str(),
            at
        ),
        ("eva", "Czech POINT, Praha 1", "id_card", "6789", T0)
    );
    // The app's signed calls now work with the key it made.
    let body = br#"{"name":"Petr's phone"}"#;
    let auth = signed_call(&f, device_id, &app_key, body, 1, T0);
    let caller = f
        .services
        .authenticate_device_call("POST", "/api/v1/device/rename", body, &auth)
        .await
        .unwrap();
    assert_eq!(caller.citizen_id, done.citizen_id);
    // No password opens the account: the mobile key is its means.
    let no_password = f
        .services
        .login_password_totp("petr", "", "000000", APP_ADDRESS)
        .await;
    assert_eq!(
        no_password.err().map(|e| e.code()),
        Some(ErrorCode::WrongCredentials)
    );
}

#[tokio::test]
async fn an_expired_identification_code_is_refused_at_the_counter_and_the_app_hears_expired() {
    let f = fixture().await;
    let f = Fixture {
        services: f.services.clone().with_onboarding_ttl(60),
        ..f
    };
    let eva = clerk(&f, "eva").await;
    let started = f
        .services
        .start_onboarding(&start_request(&f, &key(0x62), T0), APP_ADDRESS)
        .await
        .unwrap();
    assert_eq!(started.expires_at, T0 + 60);
    f.clock.advance(60);
    let err = refusal(
        f.services
            .onboard_citizen(
                &eva,
                &form(&started.identification_code, "petr"),
                COUNTER_ADDRESS,
            )
            .await,
    );
    assert!(matches!(err, OnboardError::CodeExpired), "{err:?}");
    assert_eq!(err.code(), ErrorCode::OnboardingExpired);
    assert_eq!(
        waiting_outcome(&f, &started).await.status,
        OnboardStatus::Expired
    );
    assert!(f
        .services
        .store
        .citizen_by_username("petr")
        .await
        .unwrap()
        .is_none());
    // Housekeeping forgets it a day later (not before); then the app hears it is unknown.
    assert_eq!(f.services.prune_onboardings().await.unwrap(), 0);
    f.clock
        .advance(crate::services::onboarding::KEEP_EXPIRED_SECS + 1);
    assert_eq!(f.services.prune_onboardings().await.unwrap(), 1);
    assert_eq!(
        code_of(
            f.services
                .onboarding_outcome(&started.onboarding_id, &started.claim_token, Duration::ZERO)
                .await
        ),
        ErrorCode::OnboardingUnknown
    );
}

#[tokio::test]
async fn a_used_identification_code_cannot_onboard_a_second_citizen() {
    let f = fixture().await;
    let eva = clerk(&f, "eva").await;
    let started = f
        .services
        .start_onboarding(&start_request(&f, &key(0x63), T0), APP_ADDRESS)
        .await
        .unwrap();
    let code = &started.identification_code;
    f.services
        .onboard_citizen(&eva, &form(code, "petr"), COUNTER_ADDRESS)
        .await
        .unwrap();
    let err = refusal(
        f.services
            .onboard_citizen(&eva, &form(code, "petr2"), COUNTER_ADDRESS)
            .await,
    );
    assert!(matches!(err, OnboardError::CodeUsed), "{err:?}");
    assert_eq!(err.code(), ErrorCode::OnboardingUsed);
    assert!(f
        .services
        .store
        .citizen_by_username("petr2")
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn wrong_codes_count_towards_the_clerks_limit_and_then_even_a_right_code_waits() {
    let f = fixture().await;
    let eva = clerk(&f, "eva").await;
    let started = f
        .services
        .start_onboarding(&start_request(&f, &key(0x64), T0), APP_ADDRESS)
        .await
        .unwrap();
    // A malformed code is a typo, not a guess: refused, not counted.
    let mut typo = form(&started.identification_code, "petr");
    typo.code = "K7QM-X2PD".to_string();
    for _ in 0..10 {
        let err = refusal(
            f.services
                .onboard_citizen(&eva, &typo, COUNTER_ADDRESS)
                .await,
        );
        assert!(matches!(err, OnboardError::Invalid(OnboardField::Code)));
    }
    let mut rng = rand::rngs::OsRng;
    for _ in 0..5 {
        let guess = IdentificationCode::generate(&mut rng);
        let err = refusal(
            f.services
                .onboard_citizen(&eva, &form(&guess, "petr"), COUNTER_ADDRESS)
                .await,
        );
        assert!(matches!(err, OnboardError::CodeUnknown), "{err:?}");
        assert_eq!(err.code(), ErrorCode::OnboardingUnknown);
    }
    let err = refusal(
        f.services
            .onboard_citizen(
                &eva,
                &form(&started.identification_code, "petr"),
                COUNTER_ADDRESS,
            )
            .await,
    );
    assert!(
        matches!(err, OnboardError::RateLimited { retry_after } if retry_after > 0),
        "{err:?}"
    );
    // Another clerk at another desk is not held up; after the window, Eva is not either.
    let adam = clerk(&f, "adam").await;
    let done = f
        .services
        .onboard_citizen(
            &adam,
            &form(&started.identification_code, "petr"),
            "10.0.0.2",
        )
        .await
        .unwrap();
    assert_eq!(done.username, "petr");
    f.clock
        .advance(crate::services::portal_signin::ACCOUNT_LIMIT.max_wait);
    let err = refusal(
        f.services
            .onboard_citizen(
                &eva,
                &form(&IdentificationCode::generate(&mut rng), "petr"),
                COUNTER_ADDRESS,
            )
            .await,
    );
    assert!(matches!(err, OnboardError::CodeUnknown), "{err:?}");
}

#[tokio::test]
async fn a_taken_username_or_bad_details_create_nothing_and_the_code_stays_usable() {
    let f = fixture().await;
    let eva = clerk(&f, "eva").await;
    let started = f
        .services
        .start_onboarding(&start_request(&f, &key(0x65), T0), APP_ADDRESS)
        .await
        .unwrap();
    let code = &started.identification_code;
    // `jana` is the fixture's citizen.
    let err = refusal(
        f.services
            .onboard_citizen(&eva, &form(code, "jana"), COUNTER_ADDRESS)
            .await,
    );
    assert!(matches!(err, OnboardError::UsernameTaken), "{err:?}");
    assert_eq!(err.code(), ErrorCode::UsernameTaken);
    type Spoil = fn(&mut OnboardInput);
    let bad: [(Spoil, OnboardField); 8] = [
        (|i| i.full_name = " ".into(), OnboardField::FullName),
        (|i| i.username = "Petr!".into(), OnboardField::Username),
        (|i| i.email = "petr.example.cz".into(), OnboardField::Email),
        (|i| i.email = String::new(), OnboardField::Email),
        (|i| i.phone = "12ab".into(), OnboardField::Phone),
        (
            |i| i.document_type = "library_card".into(),
            OnboardField::DocumentType,
        ),
        (
            |i| i.document_number = "12".into(),
            OnboardField::DocumentNumber,
        ),
        (|i| i.code = "K7QM-X2PD-9U".into(), OnboardField::Code),
    ];
    for (spoil, field) in bad {
        let mut input = form(code, "petr");
        spoil(&mut input);
        let err = refusal(
            f.services
                .onboard_citizen(&eva, &input, COUNTER_ADDRESS)
                .await,
        );
        assert!(
            matches!(&err, OnboardError::Invalid(f) if *f == field),
            "{field:?}: {err:?}"
        );
        assert_eq!(err.code(), ErrorCode::BadRequest);
    }
    assert_eq!(f.services.store.list_citizens().await.unwrap().len(), 1);
    assert_eq!(
        waiting_outcome(&f, &started).await.status,
        OnboardStatus::Waiting
    );
    // Without a phone number is fine.
    let mut input = form(code, "petr");
    input.phone = String::new();
    f.services
        .onboard_citizen(&eva, &input, COUNTER_ADDRESS)
        .await
        .unwrap();
}

#[tokio::test]
async fn bad_starts_are_refused_each_with_its_code() {
    let f = fixture().await;
    let app_key = key(0x66);
    // A proof signed by another key than the one sent.
    let mut forged = start_request(&f, &app_key, T0);
    forged.public_key = public(&key(0x67));
    assert_eq!(
        code_of(f.services.start_onboarding(&forged, APP_ADDRESS).await),
        ErrorCode::BadSignature
    );
    // A proof from long ago (a replayed request).
    let stale = start_request(&f, &app_key, T0 - 3600);
    assert_eq!(
        code_of(f.services.start_onboarding(&stale, APP_ADDRESS).await),
        ErrorCode::Replayed
    );
    // A key that is already a paired device's.
    let paired_key = key(0x68);
    paired(&f, &paired_key).await;
    assert_eq!(
        code_of(
            f.services
                .start_onboarding(&start_request(&f, &paired_key, T0), APP_ADDRESS)
                .await
        ),
        ErrorCode::BadRequest
    );
    // Someone else's claim token learns nothing.
    let started = f
        .services
        .start_onboarding(&start_request(&f, &app_key, T0), APP_ADDRESS)
        .await
        .unwrap();
    let other = civkey_proto::ids::ClaimToken::generate(&mut rand::rngs::OsRng);
    assert_eq!(
        code_of(
            f.services
                .onboarding_outcome(&started.onboarding_id, &other, Duration::ZERO)
                .await
        ),
        ErrorCode::OnboardingUnknown
    );
}

#[tokio::test]
async fn one_address_cannot_mint_identification_codes_without_end() {
    let f = fixture().await;
    for i in 0..MAX_STARTS_PER_ADDRESS {
        let key = key(0x70 + i as u8);
        f.services
            .start_onboarding(&start_request(&f, &key, T0), APP_ADDRESS)
            .await
            .unwrap();
    }
    let result = f
        .services
        .start_onboarding(&start_request(&f, &key(0x10), T0), APP_ADDRESS)
        .await;
    assert!(
        matches!(result, Err(ServiceError::RateLimited { .. })),
        "{result:?}"
    );
    f.services
        .start_onboarding(&start_request(&f, &key(0x10), T0), "192.0.2.8")
        .await
        .unwrap();
}

#[tokio::test]
async fn a_citizens_session_is_no_clerk_session_and_cannot_onboard() {
    let f = fixture().await;
    let session = "a citizen's portal session token";
    f.services
        .store
        .insert_web_session(
            &crate::services::secrets::token_hash(session),
            &f.citizen,
            crate::store::Means::PasswordTotp,
            "csrf",
            T0,
            T0 + 3600,
            None,
        )
        .await
        .unwrap();
    assert!(f.services.web_session(session).await.unwrap().is_some());
    assert!(f.services.clerk_session(session).await.unwrap().is_none());
    let eva = clerk(&f, "eva").await;
    // And a clerk's session token opens no portal session.
    // A second session of hers, with the next step's code (the current one is used).
    let code = clerk_code_for_tests(&f.services.store, "eva", f.clock.now() + 30).await;
    let clerk_token = f
        .services
        .login_clerk("eva", CLERK_PASSWORD, &code, COUNTER_ADDRESS)
        .await
        .unwrap()
        .token;
    assert!(f
        .services
        .web_session(&clerk_token)
        .await
        .unwrap()
        .is_none());
    assert_eq!(eva.username, "eva");
}
