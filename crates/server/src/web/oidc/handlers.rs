//! The OpenID Connect provider's HTTP face: discovery, JWKS, the authorization endpoint (the
//! login page with its animated QR code and live outcome), the token endpoint and userinfo.
//! Errors follow OAuth 2.0 / OpenID Connect: redirects with `error=` where the browser can be sent
//! back safely, JSON `{ "error", "error_description" }` at the token and userinfo endpoints.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use civkey_proto::oidc::{Discovery, OAuthErrorBody};
use futures_util::stream::{self, Stream};
use serde::{Deserialize, Serialize};

use super::pages;
use crate::services::oidc::authorize::{
    login_request_id, signal_key, AuthorizeError, AuthorizeParams, LoginPageUpdate, SessionFit,
    WaitingLogin,
};
use crate::services::oidc::token::OAuthError;
use crate::services::ServiceError;
use crate::signal::Subscription;
use crate::web::session::{self, PageError, Visitor};
use crate::web::views::{SigninContinueView, SigninView};
use crate::AppState;
use civkey_proto::ErrorCode;

/// The provider's routes.
pub(in crate::web) fn routes() -> Router<AppState> {
    Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/oidc/jwks", get(jwks))
        .route("/oidc/authorize", get(authorize).post(authorize_post))
        .route("/oidc/login/{id}/events", get(events))
        .route(
            "/oidc/login/{id}/continue",
            get(continue_page).post(continue_login),
        )
        .route("/oidc/login/{id}/portal", get(finish_portal_login))
        .route("/portal/login/key", get(portal_key_login))
        .route("/oidc/token", post(token))
        .route("/oidc/userinfo", get(userinfo).post(userinfo_post))
}

fn json_response(status: StatusCode, body: impl Serialize) -> Response {
    let mut response = (status, Json(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

fn oauth_error(e: &OAuthError) -> Response {
    if e.status >= 500 {
        tracing::error!(error = %e.description, "OIDC request failed");
    }
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
    let mut response = if e.status >= 500 {
        let body = OAuthErrorBody {
            error: "server_error".into(),
            error_description: "internal error".into(),
        };
        json_response(status, body)
    } else {
        json_response(status, e.body())
    };
    if e.status == 401 {
        let challenge = if e.error == "invalid_token" {
            "Bearer error=\"invalid_token\""
        } else {
            "Basic realm=\"civkey\""
        };
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(challenge),
        );
    }
    response
}

async fn discovery(State(state): State<AppState>) -> Response {
    json_response(
        StatusCode::OK,
        Discovery::for_issuer(state.public_origin().as_str()),
    )
}

async fn jwks(State(state): State<AppState>) -> Response {
    match state.services().jwks().await {
        Ok(keys) => json_response(StatusCode::OK, keys),
        Err(e) => oauth_error(&OAuthError::from(e)),
    }
}

/// The cookie that binds a login request to the browser that started it. It is sent back only
/// to the request's own paths (`/oidc/login/{id}/…`), so a browser may hold several.
fn login_cookie_name(visitor: &Visitor) -> &'static str {
    if visitor.secure {
        "__Secure-civkey_login"
    } else {
        "civkey_login"
    }
}

/// The login cookie this browser holds for the request whose paths it asked for.
fn login_cookie(visitor: &Visitor) -> Option<&str> {
    visitor.cookie(login_cookie_name(visitor))
}

/// `POST /oidc/authorize`: the same request as a form (OpenID Connect Core 3.1.2.1).
async fn authorize_post(
    state: State<AppState>,
    visitor: Visitor,
    Form(params): Form<AuthorizeParams>,
) -> Response {
    authorize(state, visitor, Query(params)).await
}

async fn authorize(
    State(state): State<AppState>,
    visitor: Visitor,
    Query(params): Query<AuthorizeParams>,
) -> Response {
    let services = state.services();
    let started = match services
        .authorize(&params, visitor.session(), &visitor.address)
        .await
    {
        Ok(started) => started,
        Err(refused) => {
            return match refused.redirect_url() {
                Some(url) => Redirect::to(&url).into_response(),
                None => {
                    let AuthorizeError::Show(reason) = refused else {
                        return visitor.error(StatusCode::BAD_REQUEST, "portal.error.generic");
                    };
                    let ctx = visitor.context(None);
                    let message = civkey_i18n::tr_args(
                        ctx.locale,
                        "portal.signin.refused",
                        &[("reason", &reason)],
                    );
                    visitor.page(
                        StatusCode::BAD_REQUEST,
                        pages::signin_refused_page(&ctx, &message),
                    )
                }
            };
        }
    };
    let id = started.request_id.to_text();
    let citizen = match visitor.session() {
        Some(session) => session::citizen_name(&state, session).await,
        None => None,
    };
    let other_means_url = format!("/oidc/login/{id}/continue");
    let service_name = started.client.name.clone();
    login_page(
        &state,
        &visitor,
        &started,
        service_name,
        other_means_url,
        citizen,
    )
}

/// A login request's page (its QR code, countdown, same-device link and other means), with the
/// cookie that binds the request to this browser.
fn login_page(
    state: &AppState,
    visitor: &Visitor,
    started: &crate::services::oidc::authorize::StartedLogin,
    service_name: String,
    other_means_url: String,
    citizen: Option<String>,
) -> Response {
    let id = started.request_id.to_text();
    let (qr_uri, expires_in) = state.services().first_login_qr_uri(started);
    let view = SigninView {
        service_name,
        service_origin: started.service_origin.as_str().to_string(),
        qr_uri,
        launch_uri: started.launch_uri.clone(),
        expires_in,
        events_url: format!("/oidc/login/{id}/events"),
        other_means_url,
    };
    let mut response = visitor.page_with_form_target(
        StatusCode::OK,
        pages::signin_page(&visitor.context(citizen), &view),
        &started.service_origin,
    );
    // Lax: the cookie is set on the service's cross-site redirect, and the page's own requests
    // (its event stream, "Continue as NAME") are same-site.
    let cookie = visitor.set_cookie_at(
        &format!("/oidc/login/{id}"),
        login_cookie_name(visitor),
        &started.browser_token,
        civkey_proto::login::LOGIN_REQUEST_TTL_SECS + 60,
        "Lax",
    );
    response.headers_mut().append(header::SET_COOKIE, cookie);
    response
}

/// `GET /oidc/login/{id}/continue`: log in to the service with the portal's own means instead of
/// the mobile key. Without a portal session, the portal's login page first (it comes back here).
async fn continue_page(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<String>,
) -> Response {
    // Another browser's request is refused before anything else (also before the portal's
    // login): a link to it is of no use to anyone but the browser that started it.
    if login_cookie(&visitor).is_none() {
        return other_browser(&visitor);
    }
    let session = match visitor.require_session() {
        Ok(s) => s.clone(),
        Err(r) => return r.into_response(),
    };
    let id = match login_request_id(&id) {
        Ok(id) => id,
        Err(e) => return login_gone(&visitor, e),
    };
    let open = match open_for_session(&state, &visitor, &id, &session).await {
        Ok(open) => open,
        Err(page) => return page.into_response(),
    };
    let Some(citizen_name) = session::citizen_name(&state, &session).await else {
        return visitor.error(StatusCode::UNAUTHORIZED, "portal.error.unauthorized");
    };
    let view = SigninContinueView {
        service_name: open.service_name,
        service_origin: open.service_origin.as_str().to_string(),
        citizen_name: citizen_name.clone(),
        action: format!("/oidc/login/{id}/continue"),
    };
    visitor.page_with_form_target(
        StatusCode::OK,
        pages::signin_continue_page(&visitor.context(Some(citizen_name)), &view),
        &open.service_origin,
    )
}

#[derive(Debug, Deserialize)]
struct ContinueForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /oidc/login/{id}/continue`: the portal session's citizen logs in to the service; the
/// browser goes straight on to it (the page's CSP allows that one form target).
async fn continue_login(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<String>,
    Form(form): Form<ContinueForm>,
) -> Response {
    if login_cookie(&visitor).is_none() {
        return other_browser(&visitor);
    }
    let session = match visitor.check_csrf(&form.csrf) {
        Ok(s) => s.clone(),
        Err(r) => return r.into_response(),
    };
    let id = match login_request_id(&id) {
        Ok(id) => id,
        Err(e) => return login_gone(&visitor, e),
    };
    if let Err(response) = open_for_session(&state, &visitor, &id, &session).await {
        return response.into_response();
    }
    match state
        .services()
        .approve_login_with_session(&id, login_cookie(&visitor), &session)
        .await
    {
        Ok(redirect_to) => Redirect::to(&redirect_to).into_response(),
        Err(e) => login_gone(&visitor, e),
    }
}

/// The request `id` as the portal session may answer it, or the page to show instead: another
/// browser's request, one that is gone, a fresh login first (`prompt=login`, `max_age`), or a
/// service asking for a stronger means than the session's.
async fn open_for_session(
    state: &AppState,
    visitor: &Visitor,
    id: &civkey_proto::ids::LoginRequestId,
    session: &crate::store::WebSession,
) -> Result<crate::services::oidc::authorize::OpenLogin, PageError> {
    let open = state
        .services()
        .open_login_for_session(id, login_cookie(visitor), session)
        .await
        .map_err(|e| PageError::from(login_gone(visitor, e)))?;
    match open.fit {
        SessionFit::Fits => Ok(open),
        SessionFit::NeedsFreshLogin => {
            let next = session::url_escape(&format!("/oidc/login/{id}/continue"));
            Err(PageError::redirect(&format!(
                "/portal/login?fresh=1&next={next}"
            )))
        }
        SessionFit::TooWeak => Err(visitor
            .error(StatusCode::FORBIDDEN, "portal.signin.too_weak")
            .into()),
    }
}

#[derive(Debug, Deserialize)]
struct NextQuery {
    next: Option<String>,
}

/// `GET /portal/login/key`: log in to the portal with the mobile key — the portal's own login
/// request, scanned and approved in the app like a service's. The password and e-mail forms are
/// the other means; `next` is where the citizen goes after logging in.
async fn portal_key_login(
    State(state): State<AppState>,
    visitor: Visitor,
    Query(query): Query<NextQuery>,
) -> Response {
    let next = session::safe_next(query.next.as_deref());
    // The portal's own login page stores a login request too: counted like a service's.
    let portal =
        crate::domain::ClientId::from_stored(crate::services::oidc::authorize::PORTAL_CLIENT_ID);
    if let Err(e) = state
        .services()
        .count_authorization(&visitor.address, &portal)
        .await
    {
        return session::limited(&visitor, e);
    }
    let started = match state.services().start_portal_login(&next).await {
        Ok(started) => started,
        Err(e) => return session::internal(&visitor, e),
    };
    let other_means_url = format!("/portal/login?fresh=1&next={}", session::url_escape(&next));
    let service_name = civkey_i18n::tr(visitor.locale, "portal.key_login.service").to_string();
    login_page(
        &state,
        &visitor,
        &started,
        service_name,
        other_means_url,
        None,
    )
}

/// `GET /oidc/login/{id}/portal`: where the portal's own login request approved in the app
/// brings the browser that started it: a portal session opened with the mobile key, then `next`.
async fn finish_portal_login(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<String>,
    Query(query): Query<NextQuery>,
) -> Response {
    let id = match login_request_id(&id) {
        Ok(id) => id,
        Err(e) => return login_gone(&visitor, e),
    };
    match state
        .services()
        .finish_portal_login(&id, login_cookie(&visitor))
        .await
    {
        Ok(session) => session::logged_in(&visitor, &session, query.next.as_deref()),
        Err(e) => login_gone(&visitor, e),
    }
}

/// "This login was started in another browser": nothing of the request is shown.
fn other_browser(visitor: &Visitor) -> Response {
    visitor.error(StatusCode::FORBIDDEN, "portal.signin.other_browser")
}

/// A login request that cannot be answered any more (or never existed), or not from here.
fn login_gone(visitor: &Visitor, e: ServiceError) -> Response {
    match e {
        ServiceError::Refused {
            code: ErrorCode::Forbidden,
            ..
        } => other_browser(visitor),
        ServiceError::Refused { .. } => visitor.error(StatusCode::GONE, "portal.signin.gone"),
        other => session::internal(visitor, other),
    }
}

/// Server-sent events for the login page: a new QR code every second (`event: qr`), and the
/// outcome as soon as the app decides (`LoginPageEvent`), until a final state.
async fn events(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<String>,
) -> Response {
    // Subscribe before the first read, so that no change between the two is missed.
    let Some(browser) = login_cookie(&visitor).map(str::to_string) else {
        return other_browser(&visitor);
    };
    let Ok(id) = login_request_id(&id) else {
        return visitor.error(StatusCode::NOT_FOUND, "portal.error.not_found");
    };
    let subscription = state.services().signal.subscribe(&signal_key(&id));
    let first = match state.services().login_page_watch(&id, Some(&browser)).await {
        Ok(update) => update,
        Err(ServiceError::Refused {
            code: ErrorCode::Forbidden,
            ..
        }) => return other_browser(&visitor),
        Err(ServiceError::Refused { .. }) => {
            return visitor.error(StatusCode::NOT_FOUND, "portal.error.not_found")
        }
        Err(other) => return session::internal(&visitor, other),
    };
    if let Err(e) = state.services().page_stream_opened(&visitor.address).await {
        return session::limited(&visitor, e);
    }
    Sse::new(login_events(state, id, browser, subscription, first))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

/// How often a login page's stream reads its request even when no change was signalled (a
/// change signal lost between instances costs at most this long); between reads it draws each
/// second's QR code from the last read, so 10,000 waiting pages are not 10,000 reads a second.
const PAGE_REREAD: Duration = Duration::from_secs(5);

/// The page's events: `first` at once, then a QR code every second (sooner when something
/// changed) until the outcome, which ends the stream. The request is read again when the change
/// signal says so and every [`PAGE_REREAD`]; the frames in between come from the last read.
fn login_events(
    state: AppState,
    id: civkey_proto::ids::LoginRequestId,
    browser: String,
    subscription: Subscription,
    first: (LoginPageUpdate, Option<WaitingLogin>),
) -> impl Stream<Item = Result<Event, Infallible>> {
    let (first, waiting) = first;
    let read_at = tokio::time::Instant::now();
    stream::unfold(
        (
            state,
            id,
            browser,
            subscription,
            Some(first),
            waiting,
            read_at,
            false,
        ),
        |(state, id, browser, mut subscription, ready, mut waiting, mut read_at, done)| async move {
            if done {
                return None;
            }
            let update = match ready {
                Some(update) => update,
                None => {
                    let notified = subscription.notified_within(Duration::from_secs(1)).await;
                    let services = state.services();
                    match &waiting {
                        Some(last) if !notified && read_at.elapsed() < PAGE_REREAD => {
                            services.login_page_frame(last).ok()?
                        }
                        _ => {
                            let (update, now_waiting) =
                                services.login_page_watch(&id, Some(&browser)).await.ok()?;
                            (waiting, read_at) = (now_waiting, tokio::time::Instant::now());
                            update
                        }
                    }
                }
            };
            let (event, done) = match update {
                LoginPageUpdate::Waiting(frame) => (
                    Event::default()
                        .event("qr")
                        .data(serde_json::to_string(&frame).unwrap_or_default()),
                    false,
                ),
                LoginPageUpdate::Done(outcome) => (
                    Event::default().data(serde_json::to_string(&outcome).unwrap_or_default()),
                    true,
                ),
            };
            let next = (
                state,
                id,
                browser,
                subscription,
                None,
                waiting,
                read_at,
                done,
            );
            Some((Ok(event), next))
        },
    )
}

/// The token request's form (client credentials may come here or in `Authorization: Basic`).
#[derive(Debug, Deserialize)]
struct TokenForm {
    grant_type: Option<String>,
    code: Option<String>,
    redirect_uri: Option<String>,
    code_verifier: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

/// `Authorization: Basic base64(urlencoded id ":" urlencoded secret)` (RFC 6749 §2.3.1).
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))?;
    let decoded = String::from_utf8(BASE64.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let unescape = |s: &str| {
        percent_encoding::percent_decode_str(&s.replace('+', " "))
            .decode_utf8()
            .ok()
            .map(|c| c.into_owned())
    };
    Some((unescape(id)?, unescape(secret)?))
}

async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<TokenForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let invalid = |d: &str| {
        oauth_error(&OAuthError {
            status: 400,
            error: "invalid_request",
            description: d.into(),
        })
    };
    let Ok(Form(form)) = form else {
        return invalid("the body must be application/x-www-form-urlencoded");
    };
    if form.grant_type.as_deref() != Some("authorization_code") {
        return oauth_error(&OAuthError {
            status: 400,
            error: "unsupported_grant_type",
            description: "only authorization_code is supported".into(),
        });
    }
    let (client_id, client_secret) = match (
        basic_credentials(&headers),
        &form.client_id,
        &form.client_secret,
    ) {
        (Some(basic), None, None) => basic,
        (Some((id, secret)), Some(form_id), None) if *form_id == id => (id, secret),
        (None, Some(id), Some(secret)) => (id.clone(), secret.clone()),
        (Some(_), _, Some(_)) => return invalid("use one client authentication method, not two"),
        _ => {
            return oauth_error(&OAuthError {
                status: 401,
                error: "invalid_client",
                description: "client authentication is required".into(),
            })
        }
    };
    let (Some(code), Some(redirect_uri), Some(verifier)) =
        (&form.code, &form.redirect_uri, &form.code_verifier)
    else {
        return invalid("code, redirect_uri and code_verifier are required");
    };
    match state
        .services()
        .exchange_code(
            &crate::domain::ClientId::from_stored(client_id),
            &client_secret,
            code,
            redirect_uri,
            verifier,
        )
        .await
    {
        Ok(tokens) => json_response(StatusCode::OK, tokens.body()),
        Err(e) => oauth_error(&e),
    }
}

#[derive(Debug, Deserialize)]
struct UserinfoForm {
    access_token: Option<String>,
}

/// `POST /oidc/userinfo`: the bearer token in the `Authorization` header, or as `access_token`
/// in a form body (RFC 6750 section 2.2) — one of the two, not both.
async fn userinfo_post(
    state: State<AppState>,
    headers: HeaderMap,
    form: Result<Form<UserinfoForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let in_body = form.ok().and_then(|Form(f)| f.access_token);
    match (in_body, bearer(&headers).is_some()) {
        (Some(_), true) => oauth_error(&OAuthError {
            status: 400,
            error: "invalid_request",
            description: "send the token once: in the header or in the body".into(),
        }),
        (Some(token), false) => userinfo_for(&state, Some(&token)).await,
        (None, _) => userinfo(state, headers).await,
    }
}

/// The token of `Authorization: Bearer TOKEN`.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
}

async fn userinfo(State(state): State<AppState>, headers: HeaderMap) -> Response {
    userinfo_for(&state, bearer(&headers)).await
}

async fn userinfo_for(state: &AppState, token: Option<&str>) -> Response {
    let Some(token) = token else {
        return oauth_error(&OAuthError {
            status: 401,
            error: "invalid_token",
            description: "a bearer token is required".into(),
        });
    };
    match state.services().userinfo(token.trim()).await {
        Ok(info) => json_response(StatusCode::OK, info),
        Err(e) => oauth_error(&e),
    }
}
