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
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::token::authentication_methods;
use crate::domain::{ClientId, LoginStatus};
use crate::services::secrets::{random_id, token_hash};
use crate::services::{verify_signature, ServiceError, Services};
use crate::store::{
    Approval, ClientRecord, DeviceRecord, LoginRecord, Means, NewLoginRequest, WebSession,
};

/// How long an authorization code may wait to be exchanged.
pub const AUTH_CODE_TTL_SECS: u64 = 60;
/// How far a device's signing time may be from the server's.
pub const DECISION_MAX_SKEW_SECS: u64 = 60;
/// The longest `state` and `nonce` accepted.
pub const MAX_STATE_CHARS: usize = 512;

/// An authorization request as the service's browser redirect brings it.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AuthorizeParams {
    /// The service.
    pub client_id: Option<ClientId>,
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
    /// `none` (answer without any page: here always an error, see [`Services::authorize`]),
    /// `login` (authenticate afresh), `consent`, `select_account`; space-separated.
    pub prompt: Option<String>,
    /// The longest time in seconds since the citizen authenticated that the service accepts.
    pub max_age: Option<String>,
    /// The authentication levels the service accepts (see [`ACR_LEVELS`]); space-separated.
    pub acr_values: Option<String>,
    /// A request object (OpenID Connect Core 6.1): not supported, refused.
    pub request: Option<String>,
    /// A request object by reference (6.2): not supported, refused.
    pub request_uri: Option<String>,
    /// Self-issued client metadata (7.2.1): not supported, refused.
    pub registration: Option<String>,
}

/// The portal's own client: the login requests with which a citizen logs in to the portal with
/// the mobile key. Made by schema 10 with no secret and no redirect URI, so no service can use it.
pub const PORTAL_CLIENT_ID: &str = "civkey-portal";

/// What a login request is asked to be, as checked at the authorization endpoint.
struct RequestTerms {
    redirect_uri: String,
    scope: String,
    state: Option<String>,
    nonce: Option<String>,
    code_challenge: String,
    fresh_login: bool,
    max_age: Option<u64>,
    min_acr: Option<String>,
}

/// The authentication levels (`acr`) civkey offers, weakest first, and the eIDAS levels mapped onto
/// them: what `acr_values` may name, and what an ID token's `acr` says. A login satisfies a
/// request when its level is at least the weakest one the service named.
pub use civkey_proto::oidc::{acr_rank, ACR_LEVELS, EIDAS_LEVELS};

/// Whether a portal session may answer a login request, given what the service asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionFit {
    /// It may: "Continue as NAME".
    Fits,
    /// The service wants an authentication newer than the session's (`prompt=login`,
    /// `max_age`): the citizen logs in again first.
    NeedsFreshLogin,
    /// The service asks for a stronger means than the session was opened with (`acr_values`).
    TooWeak,
}

/// Whether `session` may answer `record` at `now`.
fn session_fit(record: &LoginRecord, session: &WebSession, now: u64) -> SessionFit {
    let (_, acr) = authentication_methods(session.means);
    if let Some(min) = record.min_acr.as_deref().and_then(acr_rank) {
        if acr_rank(acr).is_none_or(|rank| rank < min) {
            return SessionFit::TooWeak;
        }
    }
    let stale = record
        .max_age
        .is_some_and(|max_age| now.saturating_sub(session.authenticated_at) > max_age);
    if stale || (record.fresh_login && session.authenticated_at < record.created_at) {
        return SessionFit::NeedsFreshLogin;
    }
    SessionFit::Fits
}

/// Whether the browser's login cookie `browser` is the one the request `record` was started with.
fn check_browser(record: &LoginRecord, browser: Option<&str>) -> Result<(), ServiceError> {
    let same = match (record.browser_hash.as_deref(), browser) {
        (Some(expected), Some(token)) => {
            bool::from(token_hash(token).as_bytes().ct_eq(expected.as_bytes()))
        }
        _ => false,
    };
    if same {
        Ok(())
    } else {
        Err(ServiceError::refused(
            ErrorCode::Forbidden,
            "this login was started in another browser",
        ))
    }
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
        /// This provider's issuer, sent as `iss` (RFC 9207).
        issuer: String,
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
                issuer,
            } => Some(with_query(
                redirect_uri,
                &[
                    ("error", Some(error)),
                    ("error_description", Some(description)),
                    ("state", state.as_deref()),
                    ("iss", Some(issuer)),
                ],
            )),
        }
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
    /// The cookie that binds the request to this browser (only its hash is stored).
    pub browser_token: Zeroizing<String>,
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

/// A login request as its page's stream last read it while it waited: enough to draw each
/// second's QR code ([`Services::login_page_frame`]) without reading it again.
pub struct WaitingLogin(LoginRecord);

/// A login request still open to an answer, as the "log in another way" page shows it.
#[derive(Debug, Clone)]
pub struct OpenLogin {
    /// The asking service's name.
    pub service_name: String,
    /// The web origin the citizen returns to.
    pub service_origin: Origin,
    /// Whether the portal session may answer it.
    pub fit: SessionFit,
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
    mac.update(record.id.to_text().as_bytes());
    Ok(Zeroizing::new(B64.encode(mac.finalize().into_bytes())))
}

fn decode_secret<const N: usize>(text: &str) -> Result<[u8; N], ServiceError> {
    B64.decode(text)
        .ok()
        .and_then(|b| <[u8; N]>::try_from(b).ok())
        .ok_or_else(|| ServiceError::Internal("a stored login secret is corrupt".into()))
}

fn login_status(record: &LoginRecord, now: u64) -> LoginPageEventKind {
    match record.status {
        LoginStatus::Approved => LoginPageEventKind::Approved,
        LoginStatus::Denied => LoginPageEventKind::Denied,
        LoginStatus::Waiting | LoginStatus::Opened if now >= record.expires_at => {
            LoginPageEventKind::Expired
        }
        LoginStatus::Waiting | LoginStatus::Opened => LoginPageEventKind::Waiting,
    }
}

enum LoginPageEventKind {
    Waiting,
    Approved,
    Denied,
    Expired,
}

/// The change-signal key of a login request.
pub fn signal_key(request_id: &LoginRequestId) -> String {
    format!("login:{request_id}")
}

/// The login request named by `text` (a page's path): text that is no request id is
/// `login_unknown`, the same answer as an id the store does not know.
pub fn login_request_id(text: &str) -> Result<LoginRequestId, ServiceError> {
    LoginRequestId::parse(text).map_err(|_| unknown_login())
}

fn unknown_login() -> ServiceError {
    ServiceError::refused(ErrorCode::LoginUnknown, "no such login request")
}

impl Services {
    /// Checks an authorization request and opens a login request for it, bound to the asking
    /// browser by [`StartedLogin::browser_token`]. `session` is the browser's portal session, if
    /// it has one (for `prompt=none`).
    ///
    /// `prompt=none` is always refused: civkey never logs a citizen in to a service without the
    /// citizen's own act (an approval in the app, or "Continue as NAME"), so the answer is
    /// `login_required` without a portal session and `interaction_required` with one.
    ///
    /// A request that would store a login request counts towards the limits of its client
    /// `address` and of its service (see [`crate::services::limits`]); over either, the browser
    /// goes back with `temporarily_unavailable` (RFC 6749 section 4.1.2.1) and nothing is stored.
    pub async fn authorize(
        &self,
        p: &AuthorizeParams,
        session: Option<&WebSession>,
        address: &str,
    ) -> Result<StartedLogin, AuthorizeError> {
        let internal = |e: ServiceError| AuthorizeError::Show(e.to_string());
        let client_id = p.client_id.as_ref().ok_or_else(|| {
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
            issuer: self.origin.as_str().to_string(),
        };
        // Request objects and self-issued registration are not supported (Core 6.1, 6.2, 7.2.1).
        for (present, error, what) in [
            (&p.request, "request_not_supported", "request objects"),
            (&p.request_uri, "request_uri_not_supported", "request_uri"),
            (
                &p.registration,
                "registration_not_supported",
                "registration",
            ),
        ] {
            if present.is_some() {
                return Err(refuse(
                    error,
                    &format!("this provider does not support {what}"),
                ));
            }
        }
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
        let prompts: Vec<&str> = p
            .prompt
            .as_deref()
            .unwrap_or_default()
            .split_whitespace()
            .collect();
        if let Some(unknown) = prompts
            .iter()
            .find(|v| !matches!(**v, "none" | "login" | "consent" | "select_account"))
        {
            return Err(refuse(
                "invalid_request",
                &format!("unknown prompt value {unknown:?}"),
            ));
        }
        if prompts.contains(&"none") {
            if prompts.len() > 1 {
                return Err(refuse(
                    "invalid_request",
                    "prompt=none cannot be combined with other values",
                ));
            }
            return Err(match session {
                None => refuse("login_required", "the citizen is not logged in here"),
                Some(_) => refuse(
                    "interaction_required",
                    "civkey logs a citizen in to a service only with the citizen's own approval",
                ),
            });
        }
        let max_age = match p.max_age.as_deref() {
            None => None,
            Some(text) => Some(text.trim().parse::<u64>().map_err(|_| {
                refuse(
                    "invalid_request",
                    "max_age must be a non-negative number of seconds",
                )
            })?),
        };
        let min_acr = match p.acr_values.as_deref().map(str::split_whitespace) {
            None => None,
            Some(values) => {
                let values: Vec<&str> = values.collect();
                let weakest = values.iter().filter_map(|v| acr_rank(v)).min();
                match weakest {
                    Some(rank) => Some(ACR_LEVELS[rank].to_string()),
                    None if values.is_empty() => None,
                    None => {
                        return Err(refuse(
                            "invalid_request",
                            &format!(
                                "acr_values names no level this provider offers ({})",
                                ACR_LEVELS.join(" ")
                            ),
                        ))
                    }
                }
            }
        };
        self.count_authorization(address, &client.id)
            .await
            .map_err(|e| match e {
                ServiceError::RateLimited { retry_after } => refuse(
                    "temporarily_unavailable",
                    &format!("too many login requests; try again in {retry_after} s"),
                ),
                other => internal(other),
            })?;
        let fresh_login = prompts.contains(&"login") || max_age == Some(0);
        let request_id = LoginRequestId::generate(&mut rand::rngs::OsRng);
        self.open_request(
            request_id,
            client,
            RequestTerms {
                redirect_uri: redirect_uri.to_string(),
                scope: scope.to_string(),
                state: p.state.clone(),
                nonce: p.nonce.clone(),
                code_challenge: code_challenge.to_string(),
                fresh_login,
                max_age,
                min_acr,
            },
        )
        .await
        .map_err(internal)
    }

    /// Stores a new login request `request_id` of `client` on `terms`, bound to a new browser
    /// token, and returns what its page needs.
    async fn open_request(
        &self,
        request_id: LoginRequestId,
        client: ClientRecord,
        terms: RequestTerms,
    ) -> Result<StartedLogin, ServiceError> {
        let mut rng = rand::rngs::OsRng;
        let browser_token = Zeroizing::new(crate::services::secrets::random_token());
        let qr_secret = QrSecret::generate(&mut rng);
        let launch_token = LaunchToken::generate(&mut rng);
        let now = self.clock.now();
        let expires_at = now + LOGIN_REQUEST_TTL_SECS;
        let service_origin = origin_of(&terms.redirect_uri)?;
        self.store
            .insert_login_request(&NewLoginRequest {
                id: request_id,
                client_id: client.id.clone(),
                redirect_uri: terms.redirect_uri,
                scope: terms.scope,
                state: terms.state,
                nonce: terms.nonce,
                code_challenge: terms.code_challenge,
                qr_secret: qr_secret.expose_text(),
                launch_token_hash: token_hash(&launch_token.expose_text()),
                challenge: Challenge::generate(&mut rng).to_text(),
                created_at: now,
                expires_at,
                browser_hash: token_hash(&browser_token),
                fresh_login: terms.fresh_login,
                max_age: terms.max_age,
                min_acr: terms.min_acr,
            })
            .await?;
        let launch_uri = LoginUri::SameDevice {
            origin: self.origin.clone(),
            request_id,
            launch_token,
        }
        .to_uri();
        Ok(StartedLogin {
            request_id,
            client,
            service_origin,
            launch_uri,
            created_at: now,
            expires_at,
            browser_token,
            qr_secret,
        })
    }

    /// Starts a login to the portal itself with the mobile key: a login request of the portal's
    /// own client ([`PORTAL_CLIENT_ID`]), answered in the app like any service's, whose approval
    /// brings the browser to `/oidc/login/{id}/portal?next=NEXT` ([`Self::finish_portal_login`]).
    pub async fn start_portal_login(&self, next: &str) -> Result<StartedLogin, ServiceError> {
        let client = self
            .client(&ClientId::from_stored(PORTAL_CLIENT_ID))
            .await?
            .ok_or_else(|| {
                ServiceError::Internal("the portal's own client is missing (schema 10)".into())
            })?;
        let request_id = LoginRequestId::generate(&mut rand::rngs::OsRng);
        let redirect_uri = with_query(
            &format!(
                "{}/oidc/login/{}/portal",
                self.origin.as_str(),
                request_id.to_text()
            ),
            &[("next", Some(next))],
        );
        // Nothing outside the server ever exchanges this request's code: no verifier exists.
        let unusable_challenge = B64.encode(Sha256::digest(random_id().as_bytes()));
        self.open_request(
            request_id,
            client,
            RequestTerms {
                redirect_uri,
                scope: "openid".into(),
                state: None,
                nonce: None,
                code_challenge: unusable_challenge,
                fresh_login: true,
                max_age: None,
                min_acr: Some(ACR_LEVELS[2].to_string()),
            },
        )
        .await
    }

    /// Opens a portal session for the citizen whose mobile key approved the portal's login
    /// request `request_id`, in the browser `browser` that started it; once (the request's code
    /// is used up). Anything else is refused: another browser (`forbidden`), a request that is not
    /// the portal's, not approved, or already used.
    pub async fn finish_portal_login(
        &self,
        request_id: &LoginRequestId,
        browser: Option<&str>,
    ) -> Result<crate::services::portal_signin::LoggedIn, ServiceError> {
        let record = self.login_record(request_id).await?;
        check_browser(&record, browser)?;
        let not_approved = || {
            ServiceError::refused(
                ErrorCode::LoginUsed,
                "this login was not approved with the mobile key, or was used already",
            )
        };
        if record.client_id.as_str() != PORTAL_CLIENT_ID || record.means != Some(Means::MobileKey) {
            return Err(not_approved());
        }
        let code = authorization_code(&record)?;
        let used = self
            .store
            .use_authorization_code(&token_hash(&code), self.clock.now())
            .await?
            .ok_or_else(not_approved)?;
        let citizen_id = used.citizen_id.ok_or_else(not_approved)?;
        let device_id = used.device_id.ok_or_else(not_approved)?;
        // The login itself was announced at the app's decision.
        let session = self.start_session(&citizen_id, Means::MobileKey).await?;
        self.store
            .set_session_device(&token_hash(&session.token), &device_id)
            .await?;
        Ok(session)
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
    async fn login_record(&self, id: &LoginRequestId) -> Result<LoginRecord, ServiceError> {
        self.store
            .login_request(id)
            .await?
            .ok_or_else(unknown_login)
    }

    /// The login QR code's text for this second, and the seconds the request has left.
    pub async fn login_qr_uri(
        &self,
        request_id: &LoginRequestId,
    ) -> Result<(String, u64), ServiceError> {
        let record = self.login_record(request_id).await?;
        self.qr_uri_of(&record, self.clock.now())
    }

    fn qr_uri_of(&self, record: &LoginRecord, now: u64) -> Result<(String, u64), ServiceError> {
        let id = record.id;
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
    /// waits, or its outcome. Only for the browser that started the request (its login cookie
    /// `browser`): anyone else is refused with `forbidden` and learns nothing.
    pub async fn login_page_update(
        &self,
        request_id: &LoginRequestId,
        browser: Option<&str>,
    ) -> Result<LoginPageUpdate, ServiceError> {
        Ok(self.login_page_watch(request_id, browser).await?.0)
    }

    /// [`Services::login_page_update`], and while the request waits, what draws the QR codes
    /// of the seconds to come without reading the request again ([`Services::login_page_frame`]).
    pub async fn login_page_watch(
        &self,
        request_id: &LoginRequestId,
        browser: Option<&str>,
    ) -> Result<(LoginPageUpdate, Option<WaitingLogin>), ServiceError> {
        let record = self.login_record(request_id).await?;
        check_browser(&record, browser)?;
        let update = self.page_update_of(&record, self.clock.now())?;
        let waiting = matches!(update, LoginPageUpdate::Waiting(_)).then_some(WaitingLogin(record));
        Ok((update, waiting))
    }

    /// This second's update of a login that [`Services::login_page_watch`] read as waiting: its
    /// QR code, or `Expired` once its time is up — from what was read then, so an answer given
    /// since shows only when the page reads again (its stream does when the change signal
    /// says so, and every few seconds).
    pub fn login_page_frame(
        &self,
        waiting: &WaitingLogin,
    ) -> Result<LoginPageUpdate, ServiceError> {
        self.page_update_of(&waiting.0, self.clock.now())
    }

    fn page_update_of(
        &self,
        record: &LoginRecord,
        now: u64,
    ) -> Result<LoginPageUpdate, ServiceError> {
        Ok(match self.page_event_of(record, now)? {
            LoginPageEvent::Waiting => {
                let (uri, seconds_left) = self.qr_uri_of(record, now)?;
                LoginPageUpdate::Waiting(LoginQrFrame { uri, seconds_left })
            }
            done => LoginPageUpdate::Done(done),
        })
    }

    /// A paired device opens a login request it scanned (an authenticated device call).
    pub async fn open_login(
        &self,
        device: &DeviceRecord,
        request_id: &LoginRequestId,
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
        let id = record.id;
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
            let (code, message) = if launch_hash.is_some() && record.status == LoginStatus::Waiting
            {
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
            service_id: client.id.to_string(),
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
        request_id: &LoginRequestId,
        request: &LoginDecisionRequest,
    ) -> Result<LoginDecisionResponse, ServiceError> {
        let result = self.decide_login_attempt(request_id, request).await;
        match &result {
            Ok(r) if r.decision == Decision::Deny => self
                .metrics
                .login_outcome(crate::metrics::LoginMeans::MobileKey, "denied"),
            other => self
                .metrics
                .login(crate::metrics::LoginMeans::MobileKey, other),
        }
        result
    }

    /// The attempt [`Services::decide_login`] counts in the metrics.
    async fn decide_login_attempt(
        &self,
        request_id: &LoginRequestId,
        request: &LoginDecisionRequest,
    ) -> Result<LoginDecisionResponse, ServiceError> {
        // The request and the device holding it in one read.
        let (record, holder) = self
            .store
            .login_request_and_holder(request_id)
            .await?
            .ok_or_else(unknown_login)?;
        let now = self.clock.now();
        let device_id = request.device_id;
        let unknown =
            || ServiceError::refused(ErrorCode::DeviceUnknown, "this device is not paired here");
        let disconnected = || {
            ServiceError::refused(
                ErrorCode::DeviceDisconnected,
                "this device was disconnected; pair it again from the portal",
            )
        };
        if record.device_id != Some(device_id) {
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
        let id = record.id;
        let challenge = Challenge::parse(&record.challenge)
            .map_err(|_| ServiceError::Internal("a stored challenge is corrupt".into()))?;
        let service_origin = origin_of(&record.redirect_uri)?;
        let signed = LoginApproval {
            origin: &self.origin,
            request_id: &id,
            service_id: client.id.as_str(),
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
            touch_device: crate::services::devices::last_used_is_due(device.last_used_at, now),
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

    /// The login request `id` if it can still be answered (not decided, not expired) by the
    /// browser `browser` that started it, and whether `session` may answer it: what the "log in
    /// another way" page needs. Anything else is `forbidden` (another browser), `login_used` or
    /// `login_expired`.
    pub async fn open_login_for_session(
        &self,
        request_id: &LoginRequestId,
        browser: Option<&str>,
        session: &WebSession,
    ) -> Result<OpenLogin, ServiceError> {
        let record = self.login_record(request_id).await?;
        check_browser(&record, browser)?;
        self.open_login_of(&record, session).await
    }

    async fn open_login_of(
        &self,
        record: &LoginRecord,
        session: &WebSession,
    ) -> Result<OpenLogin, ServiceError> {
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
            fit: session_fit(record, session, self.clock.now()),
        })
    }

    /// Approves the login request `id` for the citizen of a portal session, with the means that
    /// session was opened with (the "log in another way" path), in the browser `browser` that
    /// started the request. Returns where the browser goes next: the service's redirect URI with
    /// the code, `state` and `iss`. A session that does not fit the request (see [`SessionFit`])
    /// is refused with `unauthorized`.
    pub async fn approve_login_with_session(
        &self,
        request_id: &LoginRequestId,
        browser: Option<&str>,
        session: &WebSession,
    ) -> Result<String, ServiceError> {
        let record = self.login_record(request_id).await?;
        check_browser(&record, browser)?;
        let open = self.open_login_of(&record, session).await?;
        if open.fit != SessionFit::Fits {
            return Err(ServiceError::refused(
                ErrorCode::Unauthorized,
                "the service asks for a fresher or stronger authentication than this session's",
            ));
        }
        let now = self.clock.now();
        let code = authorization_code(&record)?;
        let code_hash = token_hash(&code);
        let history_id = random_id();
        // A session opened with the mobile key is announced with the key's name.
        let means = match (session.means, &session.device_id) {
            (Means::MobileKey, Some(device_id)) => Some(LoginMeans::MobileKey {
                device_name: self
                    .store
                    .device(device_id)
                    .await?
                    .map(|d| d.name)
                    .unwrap_or_default(),
            }),
            (means, _) => crate::services::portal_signin::notified_means(means),
        };
        let notification = means
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
                session.authenticated_at,
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
        Ok(self.code_redirect(&record, &code))
    }

    /// The authorization response: the service's redirect URI with the code, its `state` and
    /// this provider's `iss` (RFC 9207).
    fn code_redirect(&self, record: &LoginRecord, code: &str) -> String {
        with_query(
            &record.redirect_uri,
            &[
                ("code", Some(code)),
                ("state", record.state.as_deref()),
                ("iss", Some(self.origin.as_str())),
            ],
        )
    }

    /// What the login page shows now in the browser `browser`; for an approval, where the browser
    /// goes next (the service's redirect URI with the code, `state` and `iss`). Another browser is
    /// refused with `forbidden`.
    pub async fn login_page_event(
        &self,
        request_id: &LoginRequestId,
        browser: Option<&str>,
    ) -> Result<LoginPageEvent, ServiceError> {
        let record = self.login_record(request_id).await?;
        check_browser(&record, browser)?;
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
                    redirect_to: self.code_redirect(record, &code),
                }
            }
        })
    }
}

#[cfg(test)]
mod tests;
