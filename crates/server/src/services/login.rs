//! Logging in to a service with the mobile key, as an OpenID Connect provider (authorization code
//! flow with PKCE S256, required).
//!
//! 1. [`Services::authorize`] checks the service's request (client, exact redirect URI, `code`,
//!    `openid`, PKCE) and opens a login request for [`LOGIN_REQUEST_TTL_SECS`].
//! 2. The login page shows [`Services::login_qr_uri`], which changes every second.
//! 3. A paired device scans it and opens the request ([`Services::open_login`], a device call):
//!    the QR code must be fresh (or the one-time launch token right); the device then holds the
//!    request and learns which service asks, from which web origin, and the challenge.
//! 4. The same device signs its decision ([`Services::decide_login`]); an approval makes a
//!    single-use authorization code valid for [`AUTH_CODE_TTL_SECS`] and a line in the citizen's
//!    login history.
//! 5. The service exchanges the code ([`Services::exchange_code`]) with its secret and the PKCE
//!    verifier for an ES256 ID token with a pairwise `sub` and an access token for
//!    [`Services::userinfo`].

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use civkey_proto::events::LoginMeans;
use civkey_proto::ids::{Challenge, LaunchToken, LoginRequestId, QrSecret};
use civkey_proto::login::{
    check_qr_mac, qr_mac, LoginDecisionRequest, LoginDecisionResponse, LoginOpenRequest,
    LoginPageEvent, LoginQrFrame, LoginRequestInfo, LoginUri, LOGIN_REQUEST_TTL_SECS,
};
use civkey_proto::sign::{Decision, DevicePublicKey, LoginApproval};
use civkey_proto::{ErrorCode, Origin};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::citizens::{random_id, token_hash};
use super::oidc::ID_TOKEN_TTL_SECS;
use super::{verify_signature, ServiceError, Services};
use crate::store::{
    Approval, ClientRecord, DeviceRecord, LoginRecord, Means, NewLoginRequest, WebSession,
};

/// How long an authorization code may wait to be exchanged.
pub const AUTH_CODE_TTL_SECS: u64 = 60;
/// How long an access token is good for `userinfo`.
pub const ACCESS_TOKEN_TTL_SECS: u64 = 300;
/// How far a device's signing time may be from the server's.
pub const DECISION_MAX_SKEW_SECS: u64 = 60;
/// The longest `state` and `nonce` accepted.
pub const MAX_STATE_CHARS: usize = 512;

/// An authorization request as the service's browser redirect brings it.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AuthorizeParams {
    /// The service.
    pub client_id: Option<String>,
    /// Where to send the browser back; must be one of the service's, exactly.
    pub redirect_uri: Option<String>,
    /// Must be `code`.
    pub response_type: Option<String>,
    /// Must contain `openid`.
    pub scope: Option<String>,
    /// Returned unchanged.
    pub state: Option<String>,
    /// Put into the ID token.
    pub nonce: Option<String>,
    /// PKCE: BASE64URL(SHA-256(verifier)).
    pub code_challenge: Option<String>,
    /// PKCE: must be `S256`.
    pub code_challenge_method: Option<String>,
}

/// Why an authorization request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizeError {
    /// The browser cannot be sent back safely (unknown service, unknown redirect URI): the page
    /// says so itself.
    Show(String),
    /// Send the browser back to the service with an OAuth error.
    Redirect {
        /// The service's redirect URI.
        redirect_uri: String,
        /// The OAuth error code (`invalid_request`, `unsupported_response_type`, …).
        error: &'static str,
        /// A short explanation.
        description: String,
        /// The service's `state`.
        state: Option<String>,
    },
}

impl AuthorizeError {
    /// Where to send the browser, for [`AuthorizeError::Redirect`].
    pub fn redirect_url(&self) -> Option<String> {
        match self {
            AuthorizeError::Show(_) => None,
            AuthorizeError::Redirect {
                redirect_uri,
                error,
                description,
                state,
            } => Some(with_query(
                redirect_uri,
                &[
                    ("error", Some(error)),
                    ("error_description", Some(description)),
                    ("state", state.as_deref()),
                ],
            )),
        }
    }
}

/// An OAuth error at the token or userinfo endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    /// HTTP status.
    pub status: u16,
    /// `invalid_request`, `invalid_client`, `invalid_grant`, `unsupported_grant_type`,
    /// `invalid_token`, `server_error`.
    pub error: &'static str,
    /// A short explanation.
    pub description: String,
}

impl OAuthError {
    fn new(status: u16, error: &'static str, description: impl Into<String>) -> Self {
        OAuthError {
            status,
            error,
            description: description.into(),
        }
    }

    /// The JSON body.
    pub fn body(&self) -> Value {
        json!({ "error": self.error, "error_description": self.description })
    }
}

impl From<ServiceError> for OAuthError {
    fn from(e: ServiceError) -> Self {
        OAuthError::new(500, "server_error", e.to_string())
    }
}

impl From<crate::store::StoreError> for OAuthError {
    fn from(e: crate::store::StoreError) -> Self {
        OAuthError::from(ServiceError::from(e))
    }
}

/// A login request the page now shows.
pub struct StartedLogin {
    /// The request.
    pub request_id: LoginRequestId,
    /// The asking service.
    pub client: ClientRecord,
    /// The web origin of the redirect URI the citizen returns to.
    pub service_origin: Origin,
    /// The same-device link ("Open the mobile key on this device").
    pub launch_uri: String,
    /// When it started.
    pub created_at: u64,
    /// When it expires.
    pub expires_at: u64,
    /// MACs the animated QR code.
    qr_secret: QrSecret,
}

impl std::fmt::Debug for StartedLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StartedLogin")
            .field("request_id", &self.request_id)
            .field("client", &self.client.id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// What the login page is sent next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginPageUpdate {
    /// Still waiting: this second's QR code.
    Waiting(LoginQrFrame),
    /// Approved, denied or expired: the page moves on.
    Done(LoginPageEvent),
}

/// A login request still open to an answer, as the "log in another way" page shows it.
#[derive(Debug, Clone)]
pub struct OpenLogin {
    /// The asking service's name.
    pub service_name: String,
    /// The web origin the citizen returns to.
    pub service_origin: Origin,
}

/// The ID token's `amr` (RFC 8176) and `acr` for how the citizen logged in.
fn authentication_methods(means: Means) -> (&'static [&'static str], &'static str) {
    match means {
        Means::MobileKey => (&["hwk", "pop"], "civkey:mobile-key"),
        Means::PasswordTotp => (&["pwd", "otp", "mfa"], "civkey:password-otp"),
        Means::EmailCode => (&["otp"], "civkey:email-code"),
    }
}

/// What the token endpoint answers.
#[derive(Debug, Clone)]
pub struct TokenResponse {
    /// The ID token (compact JWS).
    pub id_token: String,
    /// The access token for userinfo.
    pub access_token: Zeroizing<String>,
    /// Its lifetime in seconds.
    pub expires_in: u64,
    /// The scopes granted.
    pub scope: String,
}

impl TokenResponse {
    /// The JSON body.
    pub fn body(&self) -> Value {
        json!({
            "access_token": self.access_token.as_str(),
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "id_token": self.id_token,
            "scope": self.scope,
        })
    }
}

/// `uri` with `params` appended to its query (`None` values left out), percent-encoded.
fn with_query(uri: &str, params: &[(&str, Option<&str>)]) -> String {
    match url::Url::parse(uri) {
        Ok(mut url) => {
            {
                let mut query = url.query_pairs_mut();
                for (name, value) in params {
                    if let Some(value) = value {
                        query.append_pair(name, value);
                    }
                }
            }
            url.to_string()
        }
        Err(_) => uri.to_string(),
    }
}

/// The web origin of a (checked) redirect URI.
fn origin_of(uri: &str) -> Result<Origin, ServiceError> {
    let parsed = url::Url::parse(uri)
        .map_err(|_| ServiceError::Internal("a stored redirect URI does not parse".into()))?;
    Origin::normalise(&parsed.origin().ascii_serialization())
        .map_err(|_| ServiceError::Internal("a stored redirect URI has no usable origin".into()))
}

/// The authorization code of an approved request: HMAC-SHA256 of the request id under its QR
/// secret. Only its hash is stored; the page derives it again to send the browser on, and the app
/// never sees it.
fn authorization_code(record: &LoginRecord) -> Result<Zeroizing<String>, ServiceError> {
    let secret: Zeroizing<[u8; 32]> = Zeroizing::new(decode_secret(&record.qr_secret)?);
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_ref())
        .map_err(|_| ServiceError::Internal("the QR secret is unusable".into()))?;
    mac.update(b"civkey/v1/authorization-code\0");
    mac.update(record.id.as_bytes());
    Ok(Zeroizing::new(B64.encode(mac.finalize().into_bytes())))
}

fn pkce_challenge(verifier: &str) -> String {
    B64.encode(Sha256::digest(verifier.as_bytes()))
}

fn decode_secret<const N: usize>(text: &str) -> Result<[u8; N], ServiceError> {
    B64.decode(text)
        .ok()
        .and_then(|b| <[u8; N]>::try_from(b).ok())
        .ok_or_else(|| ServiceError::Internal("a stored login secret is corrupt".into()))
}

fn login_status(record: &LoginRecord, now: u64) -> LoginPageEventKind {
    match record.status.as_str() {
        "approved" => LoginPageEventKind::Approved,
        "denied" => LoginPageEventKind::Denied,
        _ if now >= record.expires_at => LoginPageEventKind::Expired,
        _ => LoginPageEventKind::Waiting,
    }
}

enum LoginPageEventKind {
    Waiting,
    Approved,
    Denied,
    Expired,
}

/// The change-signal key of a login request.
pub fn signal_key(request_id: &str) -> String {
    format!("login:{request_id}")
}

impl Services {
    /// Checks an authorization request and opens a login request for it.
    pub async fn authorize(&self, p: &AuthorizeParams) -> Result<StartedLogin, AuthorizeError> {
        let internal = |e: ServiceError| AuthorizeError::Show(e.to_string());
        let client_id = p.client_id.as_deref().ok_or_else(|| {
            AuthorizeError::Show("the request names no service (client_id)".into())
        })?;
        let client = self
            .client(client_id)
            .await
            .map_err(internal)?
            .ok_or_else(|| AuthorizeError::Show("the service is not registered here".into()))?;
        let redirect_uri = p
            .redirect_uri
            .as_deref()
            .ok_or_else(|| AuthorizeError::Show("the request has no redirect_uri".into()))?;
        if !client.redirect_uris.iter().any(|r| r == redirect_uri) {
            return Err(AuthorizeError::Show(
                "the redirect_uri is not one the service registered".into(),
            ));
        }
        let refuse = |error: &'static str, description: &str| AuthorizeError::Redirect {
            redirect_uri: redirect_uri.to_string(),
            error,
            description: description.to_string(),
            state: p.state.clone(),
        };
        if p.response_type.as_deref() != Some("code") {
            return Err(refuse(
                "unsupported_response_type",
                "only the authorization code flow (response_type=code) is supported",
            ));
        }
        let scope = p.scope.as_deref().unwrap_or_default();
        if !scope.split(' ').any(|s| s == "openid") {
            return Err(refuse("invalid_scope", "the scope must include openid"));
        }
        let Some(code_challenge) = p.code_challenge.as_deref() else {
            return Err(refuse(
                "invalid_request",
                "PKCE is required (code_challenge)",
            ));
        };
        if p.code_challenge_method.as_deref() != Some("S256") {
            return Err(refuse(
                "invalid_request",
                "PKCE must use code_challenge_method=S256",
            ));
        }
        if code_challenge.len() != 43 || B64.decode(code_challenge).is_err() {
            return Err(refuse(
                "invalid_request",
                "code_challenge must be BASE64URL(SHA-256(verifier))",
            ));
        }
        for (what, value) in [("state", &p.state), ("nonce", &p.nonce)] {
            if value
                .as_ref()
                .is_some_and(|v| v.chars().count() > MAX_STATE_CHARS)
            {
                return Err(refuse(
                    "invalid_request",
                    &format!("{what} is longer than {MAX_STATE_CHARS} characters"),
                ));
            }
        }
        let mut rng = rand::rngs::OsRng;
        let request_id = LoginRequestId::generate(&mut rng);
        let qr_secret = QrSecret::generate(&mut rng);
        let launch_token = LaunchToken::generate(&mut rng);
        let now = self.clock.now();
        let expires_at = now + LOGIN_REQUEST_TTL_SECS;
        self.store
            .insert_login_request(&NewLoginRequest {
                id: request_id.to_text(),
                client_id: client.id.clone(),
                redirect_uri: redirect_uri.to_string(),
                scope: scope.to_string(),
                state: p.state.clone(),
                nonce: p.nonce.clone(),
                code_challenge: code_challenge.to_string(),
                qr_secret: qr_secret.expose_text(),
                launch_token_hash: token_hash(&launch_token.expose_text()),
                challenge: Challenge::generate(&mut rng).to_text(),
                created_at: now,
                expires_at,
            })
            .await
            .map_err(|e| internal(e.into()))?;
        let launch_uri = LoginUri::SameDevice {
            origin: self.origin.clone(),
            request_id,
            launch_token,
        }
        .to_uri();
        let service_origin = origin_of(redirect_uri).map_err(internal)?;
        Ok(StartedLogin {
            request_id,
            client,
            service_origin,
            launch_uri,
            created_at: now,
            expires_at,
            qr_secret,
        })
    }

    /// The QR code's text for this second of a request just started, and the seconds it has
    /// left (no database read: the login page's first code).
    pub fn first_login_qr_uri(&self, started: &StartedLogin) -> (String, u64) {
        let now = self.clock.now();
        let elapsed = now.saturating_sub(started.created_at);
        let uri = LoginUri::Animated {
            origin: self.origin.clone(),
            request_id: started.request_id,
            elapsed,
            mac: qr_mac(&started.qr_secret, &started.request_id, elapsed),
        };
        (uri.to_uri(), started.expires_at.saturating_sub(now))
    }

    /// The login request `id`, or `login_unknown`.
    async fn login_record(&self, id: &str) -> Result<LoginRecord, ServiceError> {
        self.store
            .login_request(id)
            .await?
            .ok_or_else(|| ServiceError::refused(ErrorCode::LoginUnknown, "no such login request"))
    }

    /// The login QR code's text for this second, and the seconds the request has left.
    pub async fn login_qr_uri(&self, request_id: &str) -> Result<(String, u64), ServiceError> {
        let record = self.login_record(request_id).await?;
        self.qr_uri_of(&record, self.clock.now())
    }

    fn qr_uri_of(&self, record: &LoginRecord, now: u64) -> Result<(String, u64), ServiceError> {
        let id = LoginRequestId::parse(&record.id)
            .map_err(|_| ServiceError::Internal("a stored login request id is corrupt".into()))?;
        let secret = QrSecret::from_bytes(decode_secret(&record.qr_secret)?);
        let elapsed = now.saturating_sub(record.created_at);
        let uri = LoginUri::Animated {
            origin: self.origin.clone(),
            request_id: id,
            elapsed,
            mac: qr_mac(&secret, &id, elapsed),
        };
        Ok((uri.to_uri(), record.expires_at.saturating_sub(now)))
    }

    /// What the login page is sent next, from one read: this second's QR code while the request
    /// waits, or its outcome.
    pub async fn login_page_update(
        &self,
        request_id: &str,
    ) -> Result<LoginPageUpdate, ServiceError> {
        let record = self.login_record(request_id).await?;
        let now = self.clock.now();
        Ok(match self.page_event_of(&record, now)? {
            LoginPageEvent::Waiting => {
                let (uri, seconds_left) = self.qr_uri_of(&record, now)?;
                LoginPageUpdate::Waiting(LoginQrFrame { uri, seconds_left })
            }
            done => LoginPageUpdate::Done(done),
        })
    }

    /// A paired device opens a login request it scanned (an authenticated device call).
    pub async fn open_login(
        &self,
        device: &DeviceRecord,
        request_id: &str,
        open: &LoginOpenRequest,
    ) -> Result<LoginRequestInfo, ServiceError> {
        let record = self.login_record(request_id).await?;
        let now = self.clock.now();
        if now >= record.expires_at {
            return Err(ServiceError::refused(
                ErrorCode::LoginExpired,
                "the login request has expired; start again on the service's page",
            ));
        }
        let id = LoginRequestId::parse(&record.id)
            .map_err(|_| ServiceError::Internal("a stored login request id is corrupt".into()))?;
        let launch_hash = match open {
            LoginOpenRequest::Qr { elapsed, mac } => {
                let secret = QrSecret::from_bytes(decode_secret(&record.qr_secret)?);
                check_qr_mac(
                    &secret,
                    &id,
                    *elapsed,
                    mac,
                    now.saturating_sub(record.created_at),
                )
                .map_err(|code| {
                    let message = if code == ErrorCode::LoginQrStale {
                        "the QR code is too old: scan the code on the page as it is now"
                    } else {
                        "the QR code is not one this server drew"
                    };
                    ServiceError::refused(code, message)
                })?;
                None
            }
            LoginOpenRequest::LaunchToken { launch_token } => {
                Some(token_hash(&launch_token.expose_text()))
            }
        };
        let opened = self
            .store
            .open_login_request(
                &record.id,
                &device.id,
                &device.citizen_id,
                launch_hash.as_deref(),
                now,
            )
            .await?;
        if !opened {
            let (code, message) = if launch_hash.is_some() && record.status == "waiting" {
                (
                    ErrorCode::LaunchTokenInvalid,
                    "this link was already used or is not this request's",
                )
            } else {
                (
                    ErrorCode::LoginUsed,
                    "another device is answering this login request, or it was decided",
                )
            };
            return Err(ServiceError::refused(code, message));
        }
        self.signal.notify(&signal_key(&record.id));
        let client = self.client(&record.client_id).await?.ok_or_else(|| {
            ServiceError::refused(ErrorCode::LoginUnknown, "the service was removed")
        })?;
        Ok(LoginRequestInfo {
            request_id: id,
            service_id: client.id,
            service_name: client.name,
            service_origin: origin_of(&record.redirect_uri)?,
            challenge: Challenge::parse(&record.challenge)
                .map_err(|_| ServiceError::Internal("a stored challenge is corrupt".into()))?,
            started_at: record.created_at,
            expires_at: record.expires_at,
        })
    }

    /// The opening device's signed decision.
    pub async fn decide_login(
        &self,
        request_id: &str,
        request: &LoginDecisionRequest,
    ) -> Result<LoginDecisionResponse, ServiceError> {
        // The request and the device holding it in one read.
        let (record, holder) = self
            .store
            .login_request_and_holder(request_id)
            .await?
            .ok_or_else(|| {
                ServiceError::refused(ErrorCode::LoginUnknown, "no such login request")
            })?;
        let now = self.clock.now();
        let device_id = request.device_id.to_text();
        let unknown =
            || ServiceError::refused(ErrorCode::DeviceUnknown, "this device is not paired here");
        let disconnected = || {
            ServiceError::refused(
                ErrorCode::DeviceDisconnected,
                "this device was disconnected; pair it again from the portal",
            )
        };
        if record.device_id.as_deref() != Some(device_id.as_str()) {
            // Not the holder: say why, as for any device.
            return Err(match self.store.device(&device_id).await? {
                None => unknown(),
                Some(d) if d.disconnected_at.is_some() => disconnected(),
                Some(_) => ServiceError::refused(
                    ErrorCode::LoginUsed,
                    "only the device that scanned the code can answer",
                ),
            });
        }
        let device = holder.ok_or_else(unknown)?;
        if device.disconnected_at.is_some() {
            return Err(disconnected());
        }
        if now.abs_diff(request.time) > DECISION_MAX_SKEW_SECS {
            return Err(ServiceError::refused(
                ErrorCode::Replayed,
                "the decision's time is too far from the server's; check the device's clock",
            ));
        }
        let client = self.client(&record.client_id).await?.ok_or_else(|| {
            ServiceError::refused(ErrorCode::LoginUnknown, "the service was removed")
        })?;
        let id = LoginRequestId::parse(&record.id)
            .map_err(|_| ServiceError::Internal("a stored login request id is corrupt".into()))?;
        let challenge = Challenge::parse(&record.challenge)
            .map_err(|_| ServiceError::Internal("a stored challenge is corrupt".into()))?;
        let service_origin = origin_of(&record.redirect_uri)?;
        let signed = LoginApproval {
            origin: &self.origin,
            request_id: &id,
            service_id: &client.id,
            service_origin: &service_origin,
            challenge: &challenge,
            time: request.time,
            decision: request.decision,
        }
        .signed_bytes();
        let key = DevicePublicKey::parse(&device.public_key)
            .map_err(|_| ServiceError::Internal("a stored public key is corrupt".into()))?;
        verify_signature(&key, &signed, &request.signature)?;
        if now >= record.expires_at {
            return Err(ServiceError::refused(
                ErrorCode::LoginExpired,
                "the login request has expired; start again on the service's page",
            ));
        }
        let code = authorization_code(&record)?;
        let code_hash = token_hash(&code);
        let history_id = random_id();
        // The login notification goes in the decision's own transaction (one commit per login).
        let notification = match request.decision {
            Decision::Approve => Some(self.login_notification(
                &device.citizen_id,
                &client.name,
                LoginMeans::MobileKey {
                    device_name: device.name.clone(),
                },
            )?),
            Decision::Deny => None,
        };
        let approval = (request.decision == Decision::Approve).then(|| Approval {
            code_hash: &code_hash,
            code_expires_at: now + AUTH_CODE_TTL_SECS,
            history_id: &history_id,
            service_name: &client.name,
            touch_device: super::devices::last_used_is_due(device.last_used_at, now),
            notification: notification.as_ref().map(|n| (n.row(), n.pushes())),
        });
        let Some(pushes_queued) = self
            .store
            .decide_login_request(&record.id, &device_id, approval, now)
            .await?
        else {
            return Err(ServiceError::refused(
                ErrorCode::LoginUsed,
                "this login request was already decided",
            ));
        };
        self.signal.notify(&signal_key(&record.id));
        if notification.is_some() {
            self.event_stored(&device.citizen_id, pushes_queued);
        }
        Ok(LoginDecisionResponse {
            decision: request.decision,
        })
    }

    /// The login request `id` if it can still be answered (not decided, not expired): what the
    /// "log in another way" page needs. Anything else is `login_used` or `login_expired`.
    pub async fn open_login_for_session(
        &self,
        request_id: &str,
    ) -> Result<OpenLogin, ServiceError> {
        let record = self.login_record(request_id).await?;
        self.open_login_of(&record).await
    }

    async fn open_login_of(&self, record: &LoginRecord) -> Result<OpenLogin, ServiceError> {
        match login_status(record, self.clock.now()) {
            LoginPageEventKind::Waiting => {}
            LoginPageEventKind::Expired => {
                return Err(ServiceError::refused(
                    ErrorCode::LoginExpired,
                    "the login request has expired; start again on the service's page",
                ))
            }
            LoginPageEventKind::Approved | LoginPageEventKind::Denied => {
                return Err(ServiceError::refused(
                    ErrorCode::LoginUsed,
                    "this login request was already answered",
                ))
            }
        }
        let client = self.client(&record.client_id).await?.ok_or_else(|| {
            ServiceError::refused(ErrorCode::LoginUnknown, "the service was removed")
        })?;
        Ok(OpenLogin {
            service_name: client.name,
            service_origin: origin_of(&record.redirect_uri)?,
        })
    }

    /// Approves the login request `id` for the citizen of a portal session, with the means that
    /// session was opened with (the "log in another way" path). Returns where the browser goes
    /// next: the service's redirect URI with the code and `state`.
    pub async fn approve_login_with_session(
        &self,
        request_id: &str,
        session: &WebSession,
    ) -> Result<String, ServiceError> {
        let record = self.login_record(request_id).await?;
        let open = self.open_login_of(&record).await?;
        let now = self.clock.now();
        let code = authorization_code(&record)?;
        let code_hash = token_hash(&code);
        let history_id = random_id();
        let notification = super::auth::notified_means(session.means)
            .map(|m| self.login_notification(&session.citizen_id, &open.service_name, m))
            .transpose()?;
        let approval = Approval {
            code_hash: &code_hash,
            code_expires_at: now + AUTH_CODE_TTL_SECS,
            history_id: &history_id,
            service_name: &open.service_name,
            // No device is involved.
            touch_device: false,
            notification: notification.as_ref().map(|n| (n.row(), n.pushes())),
        };
        let Some(pushes_queued) = self
            .store
            .approve_login_request_with_session(
                &record.id,
                &session.citizen_id,
                session.means,
                approval,
                now,
            )
            .await?
        else {
            return Err(ServiceError::refused(
                ErrorCode::LoginUsed,
                "this login request was already answered",
            ));
        };
        self.signal.notify(&signal_key(&record.id));
        if notification.is_some() {
            self.event_stored(&session.citizen_id, pushes_queued);
        }
        Ok(with_query(
            &record.redirect_uri,
            &[("code", Some(&code)), ("state", record.state.as_deref())],
        ))
    }

    /// What the login page shows now; for an approval, where the browser goes next (the
    /// service's redirect URI with the code and `state`).
    pub async fn login_page_event(&self, request_id: &str) -> Result<LoginPageEvent, ServiceError> {
        let record = self.login_record(request_id).await?;
        self.page_event_of(&record, self.clock.now())
    }

    fn page_event_of(
        &self,
        record: &LoginRecord,
        now: u64,
    ) -> Result<LoginPageEvent, ServiceError> {
        Ok(match login_status(record, now) {
            LoginPageEventKind::Waiting => LoginPageEvent::Waiting,
            LoginPageEventKind::Denied => LoginPageEvent::Denied,
            LoginPageEventKind::Expired => LoginPageEvent::Expired,
            LoginPageEventKind::Approved => {
                let code = authorization_code(record)?;
                LoginPageEvent::Approved {
                    redirect_to: with_query(
                        &record.redirect_uri,
                        &[("code", Some(&code)), ("state", record.state.as_deref())],
                    ),
                }
            }
        })
    }

    /// The token endpoint: the service proves itself (secret) and the code's origin (PKCE).
    pub async fn exchange_code(
        &self,
        client_id: &str,
        client_secret: &str,
        code: &str,
        redirect_uri: &str,
        code_verifier: &str,
    ) -> Result<TokenResponse, OAuthError> {
        let client = self
            .client(client_id)
            .await?
            .filter(|c| {
                bool::from(
                    token_hash(client_secret)
                        .as_bytes()
                        .ct_eq(c.secret_hash.as_bytes()),
                )
            })
            .ok_or_else(|| {
                OAuthError::new(401, "invalid_client", "unknown client or wrong secret")
            })?;
        let now = self.clock.now();
        let invalid = |why: &str| OAuthError::new(400, "invalid_grant", why);
        let record = self
            .store
            .use_authorization_code(&token_hash(code), now)
            .await?
            .ok_or_else(|| invalid("the code is unknown, expired or already used"))?;
        if record.client_id != client.id {
            return Err(invalid("the code was issued to another client"));
        }
        if record.redirect_uri != redirect_uri {
            return Err(invalid(
                "redirect_uri does not match the authorization request",
            ));
        }
        if code_verifier.len() < 43
            || code_verifier.len() > 128
            || !bool::from(
                pkce_challenge(code_verifier)
                    .as_bytes()
                    .ct_eq(record.code_challenge.as_bytes()),
            )
        {
            return Err(invalid("the PKCE code_verifier does not match"));
        }
        let citizen_id = record
            .citizen_id
            .clone()
            .ok_or_else(|| invalid("the request was not approved"))?;
        let citizen = self
            .store
            .citizen_by_id(&citizen_id)
            .await?
            .ok_or_else(|| invalid("the citizen no longer exists"))?;
        let sub = self.pairwise_sub(&client.sector, &citizen_id).await?;
        let (amr, acr) = authentication_methods(record.means.unwrap_or(Means::MobileKey));
        let mut claims = json!({
            "iss": self.origin.as_str(),
            "sub": sub,
            "aud": client.id,
            "iat": now,
            "exp": now + ID_TOKEN_TTL_SECS,
            "auth_time": record.decided_at.unwrap_or(now),
            "amr": amr,
            "acr": acr,
        });
        if let Some(nonce) = &record.nonce {
            claims["nonce"] = json!(nonce);
        }
        if record.scope.split(' ').any(|s| s == "profile") {
            claims["name"] = json!(citizen.full_name);
        }
        let id_token = self.sign_jwt(&claims).await?;
        let access_token = Zeroizing::new(format!("{}{}", random_id(), random_id()));
        self.store
            .insert_access_token(
                &token_hash(&access_token),
                &client.id,
                &citizen_id,
                &record.scope,
                now + ACCESS_TOKEN_TTL_SECS,
            )
            .await?;
        Ok(TokenResponse {
            id_token,
            access_token,
            expires_in: ACCESS_TOKEN_TTL_SECS,
            scope: record.scope,
        })
    }

    /// The userinfo endpoint: who the access token's citizen is, to that service.
    pub async fn userinfo(&self, access_token: &str) -> Result<Value, OAuthError> {
        // The token's citizen comes with it (a token dies with its citizen: ON DELETE CASCADE).
        let token = self
            .store
            .access_token(&token_hash(access_token), self.clock.now())
            .await?
            .ok_or_else(|| OAuthError::new(401, "invalid_token", "unknown or expired token"))?;
        let client = self
            .client(&token.client_id)
            .await?
            .ok_or_else(|| OAuthError::new(401, "invalid_token", "the service was removed"))?;
        let mut info =
            json!({ "sub": self.pairwise_sub(&client.sector, &token.citizen_id).await? });
        if token.scope.split(' ').any(|s| s == "profile") {
            info["name"] = json!(token.full_name);
        }
        Ok(info)
    }

    /// The citizen's subject identifier for one sector: HMAC-SHA256 under a server-wide key, so
    /// services on different hosts cannot link a citizen and nobody can reverse it.
    pub async fn pairwise_sub(
        &self,
        sector: &str,
        citizen_id: &str,
    ) -> Result<String, ServiceError> {
        let key = match self.cache.pairwise_key() {
            Some(key) => key,
            None => {
                let key = std::sync::Arc::new(Zeroizing::new(
                    self.store
                        .server_secret(
                            "pairwise_sub_key",
                            &format!("{}{}", random_id(), random_id()),
                        )
                        .await?,
                ));
                self.cache.keep_pairwise_key(key.clone());
                key
            }
        };
        let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes())
            .map_err(|_| ServiceError::Internal("the pairwise key is unusable".into()))?;
        mac.update(sector.as_bytes());
        mac.update(&[0]);
        mac.update(citizen_id.as_bytes());
        Ok(B64.encode(mac.finalize().into_bytes()))
    }
}
