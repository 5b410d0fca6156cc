//! The login request without HTTP: who may see and answer it, refusals the standard way, QR
//! codes and launch tokens, notifications, and step-up.

use crate::domain::ClientId;
use crate::services::fixtures::*;
use crate::services::oidc::authorize::LoginPageUpdate;
use crate::services::oidc::fixtures::*;

#[tokio::test]
async fn only_the_browser_that_started_a_login_hears_it_or_answers_it() {
    use crate::store::Means;
    let l = login_fixture().await;
    let s = &l.f.services;
    let started = l.start().await;
    let id = started.request_id;
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
        async move { s.authorize(&p, None, "127.0.0.1").await.unwrap() }
    };
    let fit = |started: StartedLogin, means: Means| async move {
        s.open_login_for_session(
            &started.request_id,
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
            &started.request_id,
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
        &started.request_id,
        &l.decision(&info, &l.device_key, Decision::Approve),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn a_portal_session_approves_instead_of_the_mobile_key_and_the_token_says_how() {
    use crate::store::Means;
    let l = login_fixture().await;
    let s = &l.f.services;
    let started = l.start().await;
    let id = started.request_id;
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
    let claims = id_token_claims(&tokens.id_token);
    assert_eq!(claims.amr, ["pwd", "otp", "mfa"]);
    assert_eq!(claims.acr, "civkey:password-otp");
    // When the citizen authenticated (the session's start), not when the login was approved.
    assert_eq!(claims.auth_time, T0);
    let history = s.store.login_history(&l.f.citizen, 10).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].means, Means::PasswordTotp);
    assert_eq!(history[0].device_id, None);

    // An e-mail code session; and an expired request cannot be taken any more.
    let started = l.start().await;
    let id = started.request_id;
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
    let claims = id_token_claims(&tokens.id_token);
    assert_eq!(claims.amr, ["otp"]);
    assert_eq!(claims.acr, "civkey:email-code");
    let started = l.start().await;
    let id = started.request_id;
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
    // A path's text that is no request id is unknown too, like an id nobody made.
    let unparsable = super::login_request_id("nope").unwrap_err();
    assert_eq!(unparsable.code(), ErrorCode::LoginUnknown);
    let nobodys = civkey_proto::ids::LoginRequestId::generate(&mut rand::rngs::OsRng);
    let unknown = s
        .open_login_for_session(&nobodys, None, &session(&l, Means::PasswordTotp))
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), ErrorCode::LoginUnknown);
}

#[tokio::test]
async fn a_session_approves_a_login_only_together_with_its_notification() {
    use crate::store::Means;
    let l = login_fixture().await;
    let s = &l.f.services;
    let started = l.start().await;
    let id = started.request_id;
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
        .events_after(&l.f.citizen, &DeviceId::from_bytes([0xEE; 16]), 0, 0, 10)
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
async fn bad_authorization_requests_are_refused_the_standard_way() {
    let l = login_fixture().await;
    let s = &l.f.services;
    let mut p = params(&ClientId::from_stored("nobody"));
    assert!(matches!(
        s.authorize(&p, None, "127.0.0.1").await,
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
            matches!(
                s.authorize(&p, None, "127.0.0.1").await,
                Err(AuthorizeError::Show(_))
            ),
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
        let refused = s.authorize(&p, None, "127.0.0.1").await.unwrap_err();
        let url = refused.redirect_url().unwrap();
        assert!(url.starts_with(REDIRECT), "{url}");
        assert!(url.contains(&format!("error={error}")), "{url}");
    }
    let mut p = params(&l.client_id);
    p.code_challenge = None;
    let url = s
        .authorize(&p, None, "127.0.0.1")
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
    let id = started.request_id;
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
    let id = started.request_id;
    let open = LoginUri::parse(&started.launch_uri).unwrap().open_request();
    let device = l.device().await;
    l.f.services.open_login(&device, &id, &open).await.unwrap();
    // Another device with the same (leaked) link gets nothing.
    let other_key = key(0x43);
    let other = paired(&l.f, &other_key).await;
    let other = l.f.services.store.device(&other).await.unwrap().unwrap();
    assert!(l.f.services.open_login(&other, &id, &open).await.is_err());
}

#[tokio::test]
async fn only_the_scanning_device_decides_once_with_its_own_key() {
    let l = login_fixture().await;
    let started = l.start().await;
    let id = started.request_id;
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
    let id = started.request_id;
    let info = l.scan(&started).await.unwrap();
    l.f.services
        .store
        .disconnect_device(&l.f.citizen, &l.device_id, T0)
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
        &started.request_id,
        &l.decision(&info, &l.device_key, Decision::Deny),
    )
    .await
    .unwrap();
    assert!(logins(&l).await.is_empty());

    l.approved_code().await;
    let started = l.start().await;
    s.approve_login_with_session(
        &started.request_id,
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
    let id = portal.request_id;
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
        &started.request_id,
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
    s.disconnect_device(&l.f.citizen, &l.device_id)
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
        .bind(l.f.citizen.as_str())
        .execute(s.store.pool())
        .await
        .unwrap();
    assert_eq!(s.step_up_needed(&fresh, STEP_UP_SECS).await.unwrap(), None);
}

#[tokio::test]
async fn a_waiting_login_page_draws_each_seconds_code_from_one_read_until_it_expires() {
    use crate::store::Means;
    let l = login_fixture().await;
    let s = &l.f.services;
    let started = l.start().await;
    let id = started.request_id;
    let browser = Some(started.browser_token.as_str());
    let (first, waiting) = s.login_page_watch(&id, browser).await.unwrap();
    let waiting = waiting.expect("a waiting request can be drawn from");
    let frame = |update: LoginPageUpdate| match update {
        LoginPageUpdate::Waiting(frame) => frame,
        done => panic!("expected a QR code, got {done:?}"),
    };
    let first = frame(first);
    l.f.clock.advance(1);
    let next = frame(s.login_page_frame(&waiting).unwrap());
    assert_ne!(next.uri, first.uri, "a new code every second");
    assert_eq!(next.seconds_left, first.seconds_left - 1);
    // The drawn code is the one a read would give, and the app can open it.
    assert_eq!(
        next,
        frame(s.login_page_update(&id, browser).await.unwrap())
    );
    // An answer shows only on reading again (the stream does when the signal says so).
    s.approve_login_with_session(&id, browser, &session(&l, Means::PasswordTotp))
        .await
        .unwrap();
    frame(s.login_page_frame(&waiting).unwrap());
    let (read, none) = s.login_page_watch(&id, browser).await.unwrap();
    assert!(matches!(
        read,
        LoginPageUpdate::Done(LoginPageEvent::Approved { .. })
    ));
    assert!(none.is_none(), "nothing to draw for a finished request");
    // Time alone ends a waiting request's codes.
    let other = l.start().await;
    let (_, waiting) = s
        .login_page_watch(&other.request_id, Some(&other.browser_token))
        .await
        .unwrap();
    l.f.clock
        .advance(civkey_proto::login::LOGIN_REQUEST_TTL_SECS);
    assert_eq!(
        s.login_page_frame(&waiting.unwrap()).unwrap(),
        LoginPageUpdate::Done(LoginPageEvent::Expired)
    );
}
