//! The citizen portal: server-rendered pages (`pages`) from plain view data (`views`), in Czech,
//! Hungarian and English. Handlers here are thin: read the visitor (language, session), check the
//! form's anti-forgery token, call one service, render one page.

mod counter;
mod notifications;
mod oidc;
pub mod pages;
pub mod views;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::{ConnectInfo, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use civkey_i18n::Locale;
use civkey_proto::device::DeviceName;
use civkey_proto::pair::{PairStatus, PairingPageEvent};
use civkey_proto::{ErrorCode, Origin};
use futures_util::stream::{self, Stream};
use serde::Deserialize;
use subtle::ConstantTimeEq;

use crate::services::auth::random_token;
use crate::services::ServiceError;
use crate::store::WebSession;
use crate::AppState;
use views::*;

/// The portal session's cookie.
const SESSION_COOKIE: HostCookie = HostCookie {
    name: "civkey_session",
    path: "/",
    same_site: "Lax",
};
/// The login forms' anti-forgery cookie.
const PRELOGIN_COOKIE: HostCookie = HostCookie {
    name: "civkey_pre",
    path: "/",
    same_site: "Strict",
};
/// A browser that logged in to an account before: its attempts there have a limit of their own.
const KNOWN_COOKIE: HostCookie = HostCookie {
    name: "civkey_known",
    path: "/",
    same_site: "Strict",
};
const LANG_COOKIE: &str = "civkey_lang";

/// The prefix browsers reserve for cookies that only this host, over https, can set.
const HOST_PREFIX: &str = "__Host-";

/// A cookie that holds a session or an anti-forgery token. Over https it is a `__Host-` cookie
/// (Secure, `Path=/`, no `Domain`), set and read only under that name: a browser accepts such a
/// cookie only from this very host over TLS, so neither a sibling subdomain (which may set cookies
/// for the parent domain) nor a man in the middle of a plain-http request can plant one that the
/// server would read. Over loopback http (the demo), where browsers refuse `Secure` and
/// `__Host-` cookies, it keeps its bare name and its own `path`.
#[derive(Clone, Copy)]
pub(super) struct HostCookie {
    /// The bare name, used over loopback http.
    pub(super) name: &'static str,
    /// The path over loopback http; over https always `/` (the prefix demands it).
    pub(super) path: &'static str,
    /// `Strict` or `Lax`.
    pub(super) same_site: &'static str,
}

impl HostCookie {
    /// The name it is set and read under: `__Host-NAME` when `secure`.
    pub(super) fn name_for(self, secure: bool) -> std::borrow::Cow<'static, str> {
        if secure {
            format!("{HOST_PREFIX}{}", self.name).into()
        } else {
            self.name.into()
        }
    }

    /// The path it is set with: `/` when `secure`.
    fn path_for(self, secure: bool) -> &'static str {
        if secure {
            "/"
        } else {
            self.path
        }
    }
}

/// The portal's content security policy: nothing from outside, no inline script or style.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The portal's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/portal") }))
        .route("/static/portal.css", get(css))
        .route("/static/portal.js", get(js))
        .route("/static/qrcode.js", get(qr_js))
        .route("/portal", get(dashboard))
        .route("/portal/login", get(login_form).post(login))
        .route("/portal/login/email", post(email_code_request))
        .route("/portal/login/email/verify", post(email_code_login))
        .route(
            "/portal/totp/remove",
            get(totp_removal_form).post(totp_removal),
        )
        .route("/portal/logout", post(logout))
        .route("/portal/confirm", get(step_up))
        .route("/portal/connect", get(connect))
        .route("/portal/connect/{id}/events", get(connect_events))
        .route("/portal/connect/{id}/confirm", post(confirm))
        .route("/portal/connect/{id}/refuse", post(refuse))
        .route("/portal/keys", get(keys))
        .route("/portal/keys/{id}/rename", post(rename))
        .route("/portal/keys/{id}/disconnect", post(disconnect))
        .route(
            "/portal/notifications",
            get(notifications::page).post(notifications::save),
        )
        .merge(oidc::routes())
        .merge(counter::routes())
}

async fn css() -> Response {
    asset("text/css; charset=utf-8", include_str!("assets/portal.css"))
}

async fn js() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("assets/portal.js"),
    )
}

async fn qr_js() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("assets/vendor/qrcode.js"),
    )
}

/// The QR code of `text` as an SVG document (the pairing page's code, drawn once).
fn qr_svg(text: &str) -> Result<String, ServiceError> {
    qrcode::QrCode::with_error_correction_level(text.as_bytes(), qrcode::EcLevel::M)
        .map(|code| {
            code.render::<qrcode::render::svg::Color>()
                .min_dimensions(256, 256)
                .quiet_zone(true)
                .build()
        })
        .map_err(|e| ServiceError::Internal(format!("QR code: {e}")))
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=300"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

/// Who is asking: language, path, session, address, and whether the language was just chosen.
pub struct Visitor {
    locale: Locale,
    chose_locale: bool,
    path: String,
    session: Option<(WebSession, String)>,
    cookies: Vec<(String, String)>,
    address: String,
    secure: bool,
}

fn cookies(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

impl FromRequestParts<AppState> for Visitor {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Infallible> {
        let cookies = cookies(&parts.headers);
        let secure = state.public_origin().as_str().starts_with("https://");
        let cookie = |name: &str| {
            cookies
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        let query_lang = parts
            .uri
            .query()
            .and_then(|q| q.split('&').find_map(|p| p.strip_prefix("lang=")))
            .and_then(Locale::from_tag);
        let locale = query_lang
            .or_else(|| cookie(LANG_COOKIE).as_deref().and_then(Locale::from_tag))
            .or_else(|| {
                parts
                    .headers
                    .get(header::ACCEPT_LANGUAGE)
                    .and_then(|v| v.to_str().ok())
                    .map(Locale::from_accept_language)
            })
            .unwrap_or(Locale::DEFAULT);
        let session = match cookie(&SESSION_COOKIE.name_for(secure)) {
            Some(token) => match state.services().web_session(&token).await {
                Ok(Some(session)) => Some((session, token)),
                Ok(None) => None,
                Err(e) => {
                    tracing::error!(error = %e, "session lookup failed");
                    None
                }
            },
            None => None,
        };
        let address = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_string())
            .unwrap_or_else(|| "unknown".to_string());
        Ok(Visitor {
            locale,
            chose_locale: query_lang.is_some(),
            path: parts.uri.path().to_string(),
            session,
            cookies,
            address,
            secure,
        })
    }
}

impl Visitor {
    fn context(&self, citizen_name: Option<String>) -> PageContext {
        PageContext {
            locale: self.locale,
            path: self.path.clone(),
            csrf: self.session.as_ref().map(|(s, _)| s.csrf_token.clone()),
            citizen_name,
        }
    }

    fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn set_cookie(&self, name: &str, value: &str, max_age: u64, same_site: &str) -> HeaderValue {
        self.set_cookie_at("/", name, value, max_age, same_site)
    }

    /// The value of a session or anti-forgery cookie, read only under its name for this origin
    /// (see [`HostCookie`]).
    fn host_cookie(&self, cookie: HostCookie) -> Option<&str> {
        self.cookie(&cookie.name_for(self.secure))
    }

    /// Sets (or, with `max_age` 0, clears) a session or anti-forgery cookie under its name and
    /// path for this origin (see [`HostCookie`]).
    fn set_host_cookie(&self, cookie: HostCookie, value: &str, max_age: u64) -> HeaderValue {
        self.set_cookie_at(
            cookie.path_for(self.secure),
            &cookie.name_for(self.secure),
            value,
            max_age,
            cookie.same_site,
        )
    }

    /// A cookie sent back only to the paths under `path`.
    fn set_cookie_at(
        &self,
        path: &str,
        name: &str,
        value: &str,
        max_age: u64,
        same_site: &str,
    ) -> HeaderValue {
        let secure = if self.secure { "; Secure" } else { "" };
        let text = format!(
            "{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite={same_site}{secure}"
        );
        HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
    }

    /// A page answer with the security headers, and the language cookie when it was just chosen.
    fn page(&self, status: StatusCode, html: String) -> Response {
        let mut response = (status, axum::response::Html(html)).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        );
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        headers.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if self.chose_locale {
            let cookie = self.set_cookie(LANG_COOKIE, self.locale.tag(), 365 * 24 * 3600, "Lax");
            headers.append(header::SET_COOKIE, cookie);
        }
        response
    }

    /// A page whose form may send the browser on to `origin` (a login form whose answer is the
    /// service's redirect): the same headers, with `form-action` allowing that one origin too,
    /// because browsers apply `form-action` to where a form's redirect leads.
    fn page_with_form_target(&self, status: StatusCode, html: String, origin: &Origin) -> Response {
        let mut response = self.page(status, html);
        let csp = CSP.replace(
            "form-action 'self'",
            &format!("form-action 'self' {}", origin.as_str()),
        );
        if let Ok(value) = HeaderValue::from_str(&csp) {
            response
                .headers_mut()
                .insert(header::CONTENT_SECURITY_POLICY, value);
        }
        response
    }

    /// The portal session, if the visitor has one.
    fn session(&self) -> Option<&WebSession> {
        self.session.as_ref().map(|(session, _)| session)
    }

    fn error(&self, status: StatusCode, key: &str) -> Response {
        let ctx = self.context(None);
        self.page(status, pages::error_page(&ctx, status.as_u16(), key))
    }

    /// The session's citizen id, or a redirect to the login page that comes back here.
    fn require_session(&self) -> Result<&WebSession, Box<Response>> {
        match &self.session {
            Some((session, _)) => Ok(session),
            None => {
                let next = url_escape(&self.path);
                Err(Box::new(
                    Redirect::to(&format!("/portal/login?next={next}")).into_response(),
                ))
            }
        }
    }

    /// Checks a session form's anti-forgery token.
    fn check_csrf(&self, token: &str) -> Result<&WebSession, Box<Response>> {
        let session = self.require_session()?;
        if bool::from(session.csrf_token.as_bytes().ct_eq(token.as_bytes())) {
            Ok(session)
        } else {
            Err(Box::new(
                self.error(StatusCode::FORBIDDEN, "portal.error.csrf"),
            ))
        }
    }
}

fn url_escape(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// Only local portal paths are followed after login (no open redirect).
/// Where to go after logging in: a path of the portal's own, or a service's login request
/// waiting for the portal's means (`/oidc/login/{id}/continue`); anything else is the dashboard.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if (n.starts_with("/portal") || n.starts_with("/oidc/login/"))
                && !n.starts_with("//")
                && !n.contains(['\\', '\r', '\n']) =>
        {
            n.to_string()
        }
        _ => "/portal".to_string(),
    }
}

fn internal(visitor: &Visitor, e: ServiceError) -> Response {
    tracing::error!(error = %e, "portal request failed");
    visitor.error(StatusCode::INTERNAL_SERVER_ERROR, "portal.error.internal")
}

/// Refuses a change of how the account is protected unless the session has just been opened with
/// the strongest means its citizen holds: a redirect to the "confirm it is you" page, which comes
/// back to `next` (a page, since a form post cannot be repeated after a login).
async fn require_step_up(
    state: &AppState,
    visitor: &Visitor,
    session: &WebSession,
    next: &str,
) -> Result<(), Box<Response>> {
    require_step_up_within(
        state,
        visitor,
        session,
        next,
        crate::services::step_up::STEP_UP_SECS,
    )
    .await
}

async fn require_step_up_within(
    state: &AppState,
    visitor: &Visitor,
    session: &WebSession,
    next: &str,
    window: u64,
) -> Result<(), Box<Response>> {
    match state.services().step_up_needed(session, window).await {
        Ok(None) => Ok(()),
        Ok(Some(_)) => Err(Box::new(
            Redirect::to(&format!("/portal/confirm?next={}", url_escape(next))).into_response(),
        )),
        Err(e) => Err(Box::new(internal(visitor, e))),
    }
}

/// `GET /portal/confirm?next=…`: "confirm that it is you" — the ways to log in again that satisfy
/// the step-up; straight on to `next` when the session already does.
async fn step_up(
    State(state): State<AppState>,
    visitor: Visitor,
    Query(query): Query<NextQuery>,
) -> Response {
    let session = match visitor.require_session() {
        Ok(s) => s.clone(),
        Err(r) => return *r,
    };
    let next = safe_next(query.next.as_deref());
    let needed = match state
        .services()
        .step_up_needed(&session, crate::services::step_up::STEP_UP_SECS)
        .await
    {
        Ok(Some(means)) => means,
        Ok(None) => return Redirect::to(&next).into_response(),
        Err(e) => return internal(&visitor, e),
    };
    let view = StepUpView {
        next,
        mobile_key: needed.mobile_key,
        password_totp: needed.password_totp,
        email_code: needed.email_code,
    };
    let name = citizen_name(&state, &session).await;
    visitor.page(
        StatusCode::OK,
        pages::step_up_page(&visitor.context(name), &view),
    )
}

async fn citizen_name(state: &AppState, session: &WebSession) -> Option<String> {
    state
        .store()
        .citizen_by_id(&session.citizen_id)
        .await
        .ok()
        .flatten()
        .map(|c| c.full_name)
}

async fn dashboard(State(state): State<AppState>, visitor: Visitor) -> Response {
    let session = match visitor.require_session() {
        Ok(s) => s.clone(),
        Err(r) => return *r,
    };
    let citizen = match state.store().citizen_by_id(&session.citizen_id).await {
        Ok(Some(c)) => c,
        Ok(None) => return visitor.error(StatusCode::UNAUTHORIZED, "portal.error.unauthorized"),
        Err(e) => return internal(&visitor, e.into()),
    };
    let devices = match state.services().list_devices(&citizen.id).await {
        Ok(list) => list.devices,
        Err(e) => return internal(&visitor, e),
    };
    let history = match state.store().login_history(&citizen.id, 10).await {
        Ok(h) => h,
        Err(e) => return internal(&visitor, e.into()),
    };
    let recent_logins = history
        .into_iter()
        .map(|entry| LoginRow {
            means: entry.means,
            device_name: devices
                .iter()
                .find(|d| Some(d.id.to_text()) == entry.device_id)
                .map(|d| d.name.as_str().to_string()),
            service: entry.service_name,
            at: entry.at,
        })
        .collect();
    let view = DashboardView {
        full_name: citizen.full_name.clone(),
        device_count: devices.len(),
        totp_enrolled: citizen.totp_secret.is_some(),
        recent_logins,
    };
    visitor.page(
        StatusCode::OK,
        pages::dashboard_page(&visitor.context(Some(citizen.full_name)), &view),
    )
}

#[derive(Deserialize)]
struct NextQuery {
    next: Option<String>,
    /// Set when a service asked for a fresh authentication (`prompt=login`, `max_age`): the form
    /// is shown even to a browser with a session.
    fresh: Option<String>,
}

async fn login_form(visitor: Visitor, Query(query): Query<NextQuery>) -> Response {
    if visitor.session.is_some() && query.fresh.is_none() {
        return Redirect::to(&safe_next(query.next.as_deref())).into_response();
    }
    render_login(&visitor, None, String::new(), query.next)
}

/// The login page with a fresh pre-login anti-forgery token bound to a short-lived cookie.
fn render_login(
    visitor: &Visitor,
    error: Option<(String, Vec<(String, String)>)>,
    username: String,
    next: Option<String>,
) -> Response {
    let csrf = random_token();
    let view = LoginView {
        csrf: csrf.clone(),
        username,
        error,
        next: next.map(|n| safe_next(Some(&n))),
    };
    let status = if view.error.is_some() {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::OK
    };
    let mut response = visitor.page(status, pages::login_page(&visitor.context(None), &view));
    let cookie = visitor.set_host_cookie(PRELOGIN_COOKIE, &csrf, 30 * 60);
    response.headers_mut().append(header::SET_COOKIE, cookie);
    response
}

#[derive(Deserialize)]
struct LoginForm {
    csrf: String,
    username: String,
    password: String,
    totp: String,
    next: Option<String>,
}

async fn login(
    State(state): State<AppState>,
    visitor: Visitor,
    Form(form): Form<LoginForm>,
) -> Response {
    if !prelogin_csrf_ok(&visitor, &form.csrf) {
        let error = Some(("portal.login.error.csrf".to_string(), vec![]));
        return render_login(&visitor, error, form.username, form.next);
    }
    let username = form.username.trim().to_lowercase();
    let result = state
        .services()
        .login_password_totp_in(
            &username,
            &form.password,
            form.totp.trim(),
            &visitor.address,
            visitor.host_cookie(KNOWN_COOKIE),
        )
        .await;
    match result {
        Ok(session) => logged_in(&visitor, &session, form.next.as_deref()),
        Err(ServiceError::RateLimited { retry_after }) => {
            let error = Some(rate_limited_error(retry_after));
            let mut response = render_login(&visitor, error, form.username, form.next);
            *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
            response
        }
        Err(ServiceError::Refused {
            code: ErrorCode::WrongCredentials,
            ..
        }) => render_login(
            &visitor,
            Some(("portal.login.error.wrong".to_string(), vec![])),
            form.username,
            form.next,
        ),
        Err(e) => internal(&visitor, e),
    }
}

/// Sets the session cookie (and clears the pre-login one; and sets the known-browser one when
/// the login gave a new token) on a redirect to `next`.
fn logged_in(
    visitor: &Visitor,
    session: &crate::services::auth::LoggedIn,
    next: Option<&str>,
) -> Response {
    let mut response = Redirect::to(&safe_next(next)).into_response();
    let max_age = crate::services::auth::SESSION_TTL_SECS;
    let headers = response.headers_mut();
    headers.append(
        header::SET_COOKIE,
        visitor.set_host_cookie(SESSION_COOKIE, &session.token, max_age),
    );
    if let Some(known) = &session.known_browser {
        let max_age = crate::services::auth::KNOWN_BROWSER_TTL_SECS;
        headers.append(
            header::SET_COOKIE,
            visitor.set_host_cookie(KNOWN_COOKIE, known, max_age),
        );
    }
    headers.append(
        header::SET_COOKIE,
        visitor.set_host_cookie(PRELOGIN_COOKIE, "", 0),
    );
    response
}

fn prelogin_csrf_ok(visitor: &Visitor, token: &str) -> bool {
    let expected = visitor.host_cookie(PRELOGIN_COOKIE).unwrap_or_default();
    !expected.is_empty() && bool::from(expected.as_bytes().ct_eq(token.as_bytes()))
}

fn rate_limited_error(retry_after: u64) -> (String, Vec<(String, String)>) {
    (
        "portal.login.error.rate_limited".to_string(),
        vec![("seconds".to_string(), retry_after.to_string())],
    )
}

/// The e-mail code form, with a fresh pre-login token.
fn render_email_code(
    visitor: &Visitor,
    username: String,
    error: Option<(String, Vec<(String, String)>)>,
    next: Option<String>,
    status: StatusCode,
) -> Response {
    let csrf = random_token();
    let next = next.map(|n| safe_next(Some(&n)));
    let view = EmailCodeView {
        csrf: csrf.clone(),
        username,
        error,
        next,
    };
    let mut response = visitor.page(
        status,
        pages::email_code_page(&visitor.context(None), &view),
    );
    let cookie = visitor.set_host_cookie(PRELOGIN_COOKIE, &csrf, 30 * 60);
    response.headers_mut().append(header::SET_COOKIE, cookie);
    response
}

#[derive(Deserialize)]
struct EmailRequestForm {
    csrf: String,
    username: String,
    next: Option<String>,
}

async fn email_code_request(
    State(state): State<AppState>,
    visitor: Visitor,
    Form(form): Form<EmailRequestForm>,
) -> Response {
    if !prelogin_csrf_ok(&visitor, &form.csrf) {
        let error = Some(("portal.login.error.csrf".to_string(), vec![]));
        return render_login(&visitor, error, form.username, form.next);
    }
    let username = form.username.trim().to_lowercase();
    let subject = civkey_i18n::tr(visitor.locale, "mail.code.subject");
    let body = civkey_i18n::tr(visitor.locale, "mail.code.body");
    let sent = state
        .services()
        .send_email_code(&username, &visitor.address, subject, body)
        .await;
    match sent {
        Ok(()) => render_email_code(&visitor, username, None, form.next, StatusCode::OK),
        Err(ServiceError::RateLimited { retry_after }) => {
            let error = Some(rate_limited_error(retry_after));
            let mut response = render_login(&visitor, error, form.username, form.next);
            *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
            response
        }
        Err(e) => internal(&visitor, e),
    }
}

#[derive(Deserialize)]
struct EmailCodeForm {
    csrf: String,
    username: String,
    code: String,
    next: Option<String>,
}

async fn email_code_login(
    State(state): State<AppState>,
    visitor: Visitor,
    Form(form): Form<EmailCodeForm>,
) -> Response {
    if !prelogin_csrf_ok(&visitor, &form.csrf) {
        let error = Some(("portal.login.error.csrf".to_string(), vec![]));
        return render_email_code(
            &visitor,
            form.username,
            error,
            form.next,
            StatusCode::FORBIDDEN,
        );
    }
    let username = form.username.trim().to_lowercase();
    let result = state
        .services()
        .login_email_code_in(
            &username,
            &form.code,
            &visitor.address,
            visitor.host_cookie(KNOWN_COOKIE),
        )
        .await;
    match result {
        Ok(session) => logged_in(&visitor, &session, form.next.as_deref()),
        Err(ServiceError::RateLimited { retry_after }) => {
            let error = Some(rate_limited_error(retry_after));
            render_email_code(
                &visitor,
                username,
                error,
                form.next,
                StatusCode::TOO_MANY_REQUESTS,
            )
        }
        Err(ServiceError::Refused { .. }) => {
            let error = Some(("portal.login.error.code_wrong".to_string(), vec![]));
            render_email_code(
                &visitor,
                username,
                error,
                form.next,
                StatusCode::UNAUTHORIZED,
            )
        }
        Err(e) => internal(&visitor, e),
    }
}

/// The authenticator removal page, with a fresh pre-login token.
fn render_totp_removal(
    visitor: &Visitor,
    mut view: TotpRemovalView,
    status: StatusCode,
) -> Response {
    let csrf = random_token();
    view.csrf = csrf.clone();
    let mut response = visitor.page(
        status,
        pages::totp_removal_page(&visitor.context(None), &view),
    );
    let cookie = visitor.set_host_cookie(PRELOGIN_COOKIE, &csrf, 30 * 60);
    response.headers_mut().append(header::SET_COOKIE, cookie);
    response
}

async fn totp_removal_form(visitor: Visitor) -> Response {
    render_totp_removal(&visitor, TotpRemovalView::default(), StatusCode::OK)
}

#[derive(Deserialize)]
struct TotpRemovalForm {
    csrf: String,
    username: String,
    password: String,
    deletion_code: String,
}

async fn totp_removal(
    State(state): State<AppState>,
    visitor: Visitor,
    Form(form): Form<TotpRemovalForm>,
) -> Response {
    let mut view = TotpRemovalView {
        username: form.username.clone(),
        ..TotpRemovalView::default()
    };
    if !prelogin_csrf_ok(&visitor, &form.csrf) {
        view.error = Some(("portal.login.error.csrf".to_string(), vec![]));
        return render_totp_removal(&visitor, view, StatusCode::FORBIDDEN);
    }
    let username = form.username.trim().to_lowercase();
    let result = state
        .services()
        .remove_totp_with_deletion_code(
            &username,
            &form.password,
            &form.deletion_code,
            &visitor.address,
        )
        .await;
    match result {
        Ok(()) => {
            view.removed = true;
            render_totp_removal(&visitor, view, StatusCode::OK)
        }
        Err(ServiceError::RateLimited { retry_after }) => {
            view.error = Some(rate_limited_error(retry_after));
            render_totp_removal(&visitor, view, StatusCode::TOO_MANY_REQUESTS)
        }
        Err(ServiceError::Refused { .. }) => {
            view.error = Some(("portal.totp_remove.error.wrong".to_string(), vec![]));
            render_totp_removal(&visitor, view, StatusCode::UNAUTHORIZED)
        }
        Err(e) => internal(&visitor, e),
    }
}

/// A form that carries only its anti-forgery token (log out, and the counter's buttons).
#[derive(Deserialize)]
pub(super) struct CsrfForm {
    pub(super) csrf: String,
}

async fn logout(
    State(state): State<AppState>,
    visitor: Visitor,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Err(r) = visitor.check_csrf(&form.csrf) {
        return *r;
    }
    if let Some((_, token)) = &visitor.session {
        if let Err(e) = state.services().logout(token).await {
            return internal(&visitor, e);
        }
    }
    let mut response = Redirect::to("/portal/login").into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        visitor.set_host_cookie(SESSION_COOKIE, "", 0),
    );
    response
}

async fn connect(State(state): State<AppState>, visitor: Visitor) -> Response {
    let session = match visitor.require_session() {
        Ok(s) => s.clone(),
        Err(r) => return *r,
    };
    // A new mobile key is a new means to log in as this citizen.
    if let Err(r) = require_step_up(&state, &visitor, &session, "/portal/connect").await {
        return *r;
    }
    let pairing = match state.services().start_pairing(&session.citizen_id).await {
        Ok(p) => p,
        Err(e) => return internal(&visitor, e),
    };
    let uri = pairing.uri.to_uri();
    let qr_svg = match qr_svg(&uri) {
        Ok(svg) => svg,
        Err(e) => return internal(&visitor, e),
    };
    let id = pairing.uri.session_id.to_text();
    let view = ConnectView {
        session_id: id.clone(),
        pairing_uri: uri,
        qr_svg,
        expires_in: pairing
            .expires_at
            .saturating_sub(state.services().clock.now()),
        events_url: format!("/portal/connect/{id}/events"),
        downloads: vec![
            (
                "Android".to_string(),
                "https://example.invalid/civkey/android".to_string(),
            ),
            (
                "iOS".to_string(),
                "https://example.invalid/civkey/ios".to_string(),
            ),
            (
                "Linux, Windows, macOS".to_string(),
                "https://example.invalid/civkey/desktop".to_string(),
            ),
        ],
    };
    let name = citizen_name(&state, &session).await;
    visitor.page(
        StatusCode::OK,
        pages::connect_page(&visitor.context(name), &view),
    )
}

/// Server-sent events for the connect page: the current state at once, then every change, until a
/// final state.
async fn connect_events(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<String>,
) -> Response {
    let session = match visitor.require_session() {
        Ok(s) => s.clone(),
        Err(_) => return visitor.error(StatusCode::UNAUTHORIZED, "portal.error.unauthorized"),
    };
    match state
        .services()
        .pairing_page_event(&session.citizen_id, &id)
        .await
    {
        Ok(Some(_)) => {}
        Ok(None) => return visitor.error(StatusCode::NOT_FOUND, "portal.error.not_found"),
        Err(e) => return internal(&visitor, e),
    }
    Sse::new(pairing_events(state, session.citizen_id, id))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

fn pairing_events(
    state: AppState,
    citizen_id: String,
    id: String,
) -> impl Stream<Item = Result<Event, Infallible>> {
    let subscription = state.services().watch_pairing(&id);
    stream::unfold(
        (
            state,
            citizen_id,
            id,
            subscription,
            None::<PairingPageEvent>,
            false,
        ),
        |(state, citizen_id, id, mut subscription, last, done)| async move {
            if done {
                return None;
            }
            loop {
                let current = match state.services().pairing_page_event(&citizen_id, &id).await {
                    Ok(Some(event)) => event,
                    _ => return None,
                };
                if last.as_ref() != Some(&current) {
                    let is_final = !matches!(
                        current,
                        PairingPageEvent::Waiting | PairingPageEvent::Claimed { .. }
                    );
                    let data = serde_json::to_string(&current).unwrap_or_default();
                    let event = Event::default().data(data);
                    return Some((
                        Ok(event),
                        (state, citizen_id, id, subscription, Some(current), is_final),
                    ));
                }
                // Wake on a change, and at least every few seconds to notice expiry.
                subscription.changed(Duration::from_secs(5)).await;
            }
        },
    )
}

async fn decide(
    state: AppState,
    visitor: Visitor,
    id: String,
    csrf: String,
    confirm: bool,
) -> Response {
    let session = match visitor.check_csrf(&csrf) {
        Ok(s) => s.clone(),
        Err(r) => return *r,
    };
    // The pairing was started on a stepped-up page; its confirmation may come up to the pairing's
    // lifetime later.
    if confirm {
        let window = crate::services::step_up::STEP_UP_SECS + civkey_proto::pair::PAIRING_TTL_SECS;
        if let Err(r) =
            require_step_up_within(&state, &visitor, &session, "/portal/connect", window).await
        {
            return *r;
        }
    }
    let outcome = match state
        .services()
        .decide_pairing(&session.citizen_id, &id, confirm)
        .await
    {
        Ok(PairStatus::Confirmed) => PairingOutcomeView::Confirmed,
        Ok(_) => PairingOutcomeView::Refused,
        Err(ServiceError::Refused {
            code: ErrorCode::PairingExpired,
            ..
        }) => PairingOutcomeView::Expired,
        Err(ServiceError::Refused { .. }) => PairingOutcomeView::Gone,
        Err(e) => return internal(&visitor, e),
    };
    let name = citizen_name(&state, &session).await;
    visitor.page(
        StatusCode::OK,
        pages::pairing_outcome_page(&visitor.context(name), outcome),
    )
}

async fn confirm(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Response {
    decide(state, visitor, id, form.csrf, true).await
}

async fn refuse(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Response {
    decide(state, visitor, id, form.csrf, false).await
}

#[derive(Deserialize)]
struct NoticeQuery {
    notice: Option<String>,
    error: Option<String>,
}

/// Notices and errors arrive as keys in the query after a redirect; only known keys are shown.
fn known_key(key: Option<String>, allowed: &[&str]) -> Option<String> {
    key.filter(|k| allowed.contains(&k.as_str()))
}

async fn keys(
    State(state): State<AppState>,
    visitor: Visitor,
    Query(query): Query<NoticeQuery>,
) -> Response {
    let session = match visitor.require_session() {
        Ok(s) => s.clone(),
        Err(r) => return *r,
    };
    let citizen = match state.store().citizen_by_id(&session.citizen_id).await {
        Ok(Some(c)) => c,
        Ok(None) => return visitor.error(StatusCode::UNAUTHORIZED, "portal.error.unauthorized"),
        Err(e) => return internal(&visitor, e.into()),
    };
    let devices = match state.store().active_devices(&citizen.id).await {
        Ok(d) => d,
        Err(e) => return internal(&visitor, e.into()),
    };
    let view = DevicesView {
        devices: devices
            .into_iter()
            .map(|d| DeviceRow {
                id: d.id,
                name: d.name,
                model: d.model,
                kind: d.kind,
                paired_at: d.paired_at,
                last_used_at: d.last_used_at,
            })
            .collect(),
        keys_are_only_means: citizen.totp_secret.is_none() && citizen.email.is_none(),
        notice: known_key(
            query.notice,
            &["portal.keys.renamed", "portal.keys.disconnected"],
        ),
        error: known_key(
            query.error,
            &["portal.keys.error.name", "portal.keys.error.not_found"],
        ),
    };
    visitor.page(
        StatusCode::OK,
        pages::devices_page(&visitor.context(Some(citizen.full_name)), &view),
    )
}

#[derive(Deserialize)]
struct RenameForm {
    csrf: String,
    name: String,
}

async fn rename(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<String>,
    Form(form): Form<RenameForm>,
) -> Response {
    let session = match visitor.check_csrf(&form.csrf) {
        Ok(s) => s.clone(),
        Err(r) => return *r,
    };
    let Ok(name) = DeviceName::parse(&form.name) else {
        return Redirect::to("/portal/keys?error=portal.keys.error.name").into_response();
    };
    match state
        .services()
        .rename_device(&session.citizen_id, &id, &name)
        .await
    {
        Ok(()) => Redirect::to("/portal/keys?notice=portal.keys.renamed").into_response(),
        Err(ServiceError::Refused { .. }) => {
            Redirect::to("/portal/keys?error=portal.keys.error.not_found").into_response()
        }
        Err(e) => internal(&visitor, e),
    }
}

async fn disconnect(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Response {
    let session = match visitor.check_csrf(&form.csrf) {
        Ok(s) => s.clone(),
        Err(r) => return *r,
    };
    if let Err(r) = require_step_up(&state, &visitor, &session, "/portal/keys").await {
        return *r;
    }
    match state
        .services()
        .disconnect_device(&session.citizen_id, &id)
        .await
    {
        Ok(()) => Redirect::to("/portal/keys?notice=portal.keys.disconnected").into_response(),
        Err(ServiceError::Refused { .. }) => {
            Redirect::to("/portal/keys?error=portal.keys.error.not_found").into_response()
        }
        Err(e) => internal(&visitor, e),
    }
}
