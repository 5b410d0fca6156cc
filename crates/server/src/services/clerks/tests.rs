//! Clerks without HTTP: their sessions apart from citizens', their logins limited like the
//! portal's, their TOTP codes, and bad accounts refused.

use crate::clock::Clock;
use crate::services::clerks::{
    add_clerk, clerk_code_for_tests, reset_clerk_totp, CLERK_SESSION_TTL_SECS,
};
use crate::services::fixtures::*;

#[tokio::test]
async fn clerk_and_citizen_sessions_are_kept_apart() {
    let f = fixture().await;
    add_clerk(
        &f.services.store,
        T0,
        "eva",
        "Eva",
        "Praha 1",
        CLERK_PASSWORD,
    )
    .await
    .unwrap();
    let code = clerk_code_for_tests(&f.services.store, "eva", f.clock.now()).await;
    let clerk = f
        .services
        .login_clerk("eva", CLERK_PASSWORD, &code, "10.0.0.1")
        .await
        .unwrap();
    assert!(
        f.services
            .web_session(&clerk.token)
            .await
            .unwrap()
            .is_none(),
        "a clerk's session is no citizen's session"
    );
    let live = f
        .services
        .clerk_session(&clerk.token)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(live.office_name, "Praha 1");
    assert_eq!(live.csrf_token, clerk.csrf);
    assert_eq!(live.expires_at, T0 + CLERK_SESSION_TTL_SECS);

    // A citizen's portal session (and a citizen's password) opens nothing at the counter.
    let citizen_token = "a-citizens-portal-session-token";
    f.services
        .store
        .insert_web_session(
            &crate::services::secrets::token_hash(citizen_token),
            &f.citizen,
            crate::store::Means::PasswordTotp,
            "csrf",
            T0,
            T0 + 3600,
            None,
        )
        .await
        .unwrap();
    assert!(f
        .services
        .web_session(citizen_token)
        .await
        .unwrap()
        .is_some());
    assert!(f
        .services
        .clerk_session(citizen_token)
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        code_of(
            f.services
                .login_clerk("jana", "correct horse battery", &code, "10.0.0.1")
                .await
                .map(|_| ())
        ),
        ErrorCode::WrongCredentials
    );

    // Eight hours, then gone; logging out ends it at once.
    f.clock.advance(CLERK_SESSION_TTL_SECS - 1);
    assert!(f
        .services
        .clerk_session(&clerk.token)
        .await
        .unwrap()
        .is_some());
    f.clock.advance(1);
    assert!(f
        .services
        .clerk_session(&clerk.token)
        .await
        .unwrap()
        .is_none());
    let code = clerk_code_for_tests(&f.services.store, "eva", f.clock.now()).await;
    let again = f
        .services
        .login_clerk("eva", CLERK_PASSWORD, &code, "10.0.0.1")
        .await
        .unwrap();
    f.services.logout_clerk(&again.token).await.unwrap();
    assert!(f
        .services
        .clerk_session(&again.token)
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn clerk_logins_are_limited_like_the_portals() {
    let f = fixture().await;
    add_clerk(
        &f.services.store,
        T0,
        "eva",
        "Eva",
        "Praha 1",
        CLERK_PASSWORD,
    )
    .await
    .unwrap();
    let code = clerk_code_for_tests(&f.services.store, "eva", T0).await;
    // Wrong passwords, and the right password with a wrong code, count alike.
    let wrong_code = if code == "000000" { "111111" } else { "000000" };
    for n in 0..crate::services::portal_signin::ACCOUNT_LIMIT.free {
        let wrong = if n % 2 == 0 {
            f.services
                .login_clerk("eva", "wrong password!", &code, "10.0.0.2")
                .await
        } else {
            f.services
                .login_clerk("eva", CLERK_PASSWORD, wrong_code, "10.0.0.2")
                .await
        };
        assert_eq!(code_of(wrong.map(|_| ())), ErrorCode::WrongCredentials);
    }
    let limited = f
        .services
        .login_clerk("eva", CLERK_PASSWORD, &code, "10.0.0.3")
        .await;
    assert!(
        matches!(limited, Err(ServiceError::RateLimited { retry_after }) if retry_after > 0),
        "the right password waits too"
    );
    f.clock
        .advance(crate::services::portal_signin::ACCOUNT_LIMIT.max_wait);
    let code = clerk_code_for_tests(&f.services.store, "eva", f.clock.now()).await;
    f.services
        .login_clerk("eva", CLERK_PASSWORD, &code, "10.0.0.3")
        .await
        .unwrap();
}

#[tokio::test]
async fn a_clerk_code_counts_once_and_only_near_its_time() {
    let f = fixture().await;
    add_clerk(
        &f.services.store,
        T0,
        "eva",
        "Eva",
        "Praha 1",
        CLERK_PASSWORD,
    )
    .await
    .unwrap();
    let login = |code: String| {
        let services = f.services.clone();
        async move {
            services
                .login_clerk("eva", CLERK_PASSWORD, &code, "10.0.0.1")
                .await
                .map(|_| ())
        }
    };
    let store = &f.services.store;
    // Two steps away: refused (and counted).
    let stale = clerk_code_for_tests(store, "eva", T0 - 60).await;
    let now = clerk_code_for_tests(store, "eva", T0).await;
    if stale != now {
        assert_eq!(code_of(login(stale).await), ErrorCode::WrongCredentials);
    }
    // The next step's code is accepted (a clock 30 s ahead); then the current one is old.
    login(clerk_code_for_tests(store, "eva", T0 + 30).await)
        .await
        .unwrap();
    let used = clerk_code_for_tests(store, "eva", T0).await;
    assert_eq!(code_of(login(used).await), ErrorCode::WrongCredentials);
    f.clock.advance(60);
    login(clerk_code_for_tests(store, "eva", f.clock.now()).await)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_clerk_without_an_authenticator_cannot_log_in_until_a_reset() {
    let f = fixture().await;
    let store = &f.services.store;
    add_clerk(store, T0, "eva", "Eva", "Praha 1", CLERK_PASSWORD)
        .await
        .unwrap();
    // A clerk from a database before the second factor.
    sqlx::query("UPDATE clerks SET totp_secret = NULL WHERE username = 'eva'")
        .execute(store.pool())
        .await
        .unwrap();
    let refused = f
        .services
        .login_clerk("eva", CLERK_PASSWORD, "123456", "10.0.0.1")
        .await;
    assert!(
        matches!(&refused, Err(ServiceError::Refused { code: ErrorCode::Forbidden, message })
            if message.contains("clerk totp-reset")),
        "{:?}",
        refused.map(|_| ())
    );
    // With a wrong password it is the usual refusal (the missing authenticator stays unsaid).
    let wrong = f
        .services
        .login_clerk("eva", "wrong password!", "123456", "10.0.0.1")
        .await;
    assert_eq!(code_of(wrong.map(|_| ())), ErrorCode::WrongCredentials);

    let uri = reset_clerk_totp(store, "eva").await.unwrap();
    assert!(uri.starts_with("otpauth://totp/civkey-counter:eva?"));
    let code = clerk_code_for_tests(store, "eva", T0).await;
    let session = f
        .services
        .login_clerk("eva", CLERK_PASSWORD, &code, "10.0.0.1")
        .await
        .unwrap();
    // A reset ends the clerk's sessions, and the old authenticator stops working.
    reset_clerk_totp(store, "eva").await.unwrap();
    assert!(f
        .services
        .clerk_session(&session.token)
        .await
        .unwrap()
        .is_none());
    f.clock.advance(30);
    let old = {
        let account = civkey_proto::otp::OtpAccount::parse_uri(&uri).unwrap();
        civkey_proto::otp::totp(
            account.secret.expose(),
            civkey_proto::otp::Algorithm::Sha1,
            6,
            30,
            f.clock.now(),
        )
        .code
    };
    let new = clerk_code_for_tests(store, "eva", f.clock.now()).await;
    if old != new {
        let refused = f
            .services
            .login_clerk("eva", CLERK_PASSWORD, &old, "10.0.0.1")
            .await;
        assert_eq!(code_of(refused.map(|_| ())), ErrorCode::WrongCredentials);
    }
    assert_eq!(
        code_of(reset_clerk_totp(store, "nobody").await.map(|_| ())),
        ErrorCode::NotFound
    );
}

#[tokio::test]
async fn bad_clerk_accounts_are_refused() {
    let f = fixture().await;
    let store = &f.services.store;
    for (user, name, office, password) in [
        ("E", "Eva", "Praha 1", CLERK_PASSWORD),
        ("eva", "", "Praha 1", CLERK_PASSWORD),
        ("eva", "Eva", " ", CLERK_PASSWORD),
        ("eva", "Eva", "Praha\u{7}1", CLERK_PASSWORD),
        ("eva", "Eva", "Praha 1", "short"),
    ] {
        assert_eq!(
            code_of(
                add_clerk(store, T0, user, name, office, password)
                    .await
                    .map(|e| e.clerk_id)
            ),
            ErrorCode::BadRequest,
            "{user} {name} {office}"
        );
    }
    assert!(store.list_clerks().await.unwrap().is_empty());
    add_clerk(store, T0, "eva", "Eva", "Praha 1", CLERK_PASSWORD)
        .await
        .unwrap();
    assert_eq!(
        code_of(
            add_clerk(store, T0, "eva", "Eva", "Praha 1", CLERK_PASSWORD)
                .await
                .map(|e| e.clerk_id)
        ),
        ErrorCode::BadRequest
    );
    let stored = store.clerk_by_username("eva").await.unwrap().unwrap();
    assert!(stored.password_hash.starts_with("$argon2id$"));
    // The TOTP secret stays out of Debug output.
    let secret = stored.totp_secret.clone().unwrap();
    assert!(!format!("{stored:?}").contains(&secret));
}
