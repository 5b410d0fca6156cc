//! The login-request fixture of the OIDC tests: a registered service, a citizen with a paired
//! device, and the steps of a login as the page, the app and the service take them.

pub(crate) use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
pub(crate) use base64::Engine;
pub(crate) use civkey_proto::login::{
    LoginDecisionRequest, LoginOpenRequest, LoginPageEvent, LoginUri,
};
pub(crate) use civkey_proto::sign::{Decision, LoginApproval};
pub(crate) use sha2::{Digest, Sha256};

pub(crate) use crate::clock::Clock;
use crate::domain::ClientId;
use crate::services::fixtures::*;
pub(crate) use crate::services::oidc::authorize::{AuthorizeError, AuthorizeParams, StartedLogin};

pub(crate) const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk-and-some-more-bytes";
pub(crate) const REDIRECT: &str = "https://dane.example.cz/callback";

pub(crate) fn challenge(verifier: &str) -> String {
    B64.encode(Sha256::digest(verifier.as_bytes()))
}

pub(crate) fn params(client_id: &ClientId) -> AuthorizeParams {
    AuthorizeParams {
        client_id: Some(client_id.clone()),
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

pub(crate) struct Login {
    pub(crate) f: Fixture,
    pub(crate) client_id: ClientId,
    pub(crate) secret: String,
    pub(crate) device_key: SigningKey,
    pub(crate) device_id: DeviceId,
}

pub(crate) async fn login_fixture() -> Login {
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
    pub(crate) async fn start(&self) -> StartedLogin {
        self.f
            .services
            .authorize(&params(&self.client_id), None, "127.0.0.1")
            .await
            .unwrap()
    }

    pub(crate) async fn device(&self) -> crate::store::DeviceRecord {
        self.f
            .services
            .store
            .device(&self.device_id)
            .await
            .unwrap()
            .unwrap()
    }

    /// Scans the page's current QR code and opens the request.
    pub(crate) async fn scan(
        &self,
        started: &StartedLogin,
    ) -> Result<civkey_proto::login::LoginRequestInfo, ServiceError> {
        let (text, _) = self
            .f
            .services
            .login_qr_uri(&started.request_id)
            .await
            .unwrap();
        let uri = LoginUri::parse(&text).unwrap();
        self.f
            .services
            .open_login(
                &self.device().await,
                &started.request_id,
                &uri.open_request(),
            )
            .await
    }

    pub(crate) fn decision(
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
    pub(crate) async fn approved_code(&self) -> String {
        let started = self.start().await;
        let info = self.scan(&started).await.unwrap();
        let id = started.request_id;
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

/// The claims of a compact JWS, read the way a relying party reads them (the signature is
/// checked elsewhere).
pub(crate) fn id_token_claims(jwt: &str) -> civkey_proto::oidc::IdTokenClaims {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&B64.decode(payload).unwrap()).unwrap()
}

/// A portal session of the fixture's citizen, opened with `means`.
pub(crate) fn session(l: &Login, means: crate::store::Means) -> crate::store::WebSession {
    crate::store::WebSession {
        citizen_id: l.f.citizen.clone(),
        means,
        csrf_token: "csrf".into(),
        authenticated_at: T0,
        device_id: None,
        expires_at: T0 + 3600,
    }
}
