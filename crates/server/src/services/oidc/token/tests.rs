//! The token endpoint without HTTP: a signed ID token, single-use codes bound to client, redirect
//! and PKCE verifier, and pairwise subjects.

use crate::domain::ClientId;
use crate::services::fixtures::*;
use crate::services::oidc::fixtures::*;

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
    let id = started.request_id;
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
    let claims = id_token_claims(&tokens.id_token);
    assert_eq!(claims.iss, "https://id.example.gov");
    assert_eq!(claims.aud, l.client_id.as_str());
    assert_eq!(claims.nonce.as_deref(), Some("n-456"));
    assert_eq!(claims.name.as_deref(), Some("Jana Nováková"));
    assert_eq!(claims.exp, l.f.clock.now() + 300);
    assert_ne!(
        claims.sub,
        l.f.citizen.as_str(),
        "sub is pairwise, not the citizen id"
    );
    assert_eq!(jwks.keys.len(), 1);

    let info = l.f.services.userinfo(&tokens.access_token).await.unwrap();
    assert_eq!(info.sub, claims.sub);
    assert_eq!(info.name.as_deref(), Some("Jana Nováková"));

    // History and last-used.
    let history =
        l.f.services
            .store
            .login_history(&l.f.citizen, 10)
            .await
            .unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].service_name, "Daňový portál");
    assert_eq!(history[0].device_id, Some(l.device_id));
    assert_eq!(l.device().await.last_used_at, Some(T0 + 3));
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
        let started = s.authorize(&p, None, "127.0.0.1").await.unwrap();
        let info = l.scan(&started).await.unwrap();
        let id = started.request_id;
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
async fn codes_are_single_use_and_bound_to_client_redirect_and_verifier() {
    let l = login_fixture().await;
    let s = &l.f.services;
    let code = l.approved_code().await;
    let err = |r: Result<_, crate::services::oidc::token::OAuthError>| r.map(|_| ()).unwrap_err();
    assert_eq!(
        err(s
            .exchange_code(&l.client_id, "wrong", &code, REDIRECT, VERIFIER)
            .await)
        .error,
        "invalid_client"
    );
    assert_eq!(
        err(s
            .exchange_code(
                &ClientId::from_stored("nobody"),
                &l.secret,
                &code,
                REDIRECT,
                VERIFIER
            )
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
