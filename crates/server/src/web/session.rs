//! Who is asking and what they may do: the visitor (language, path, session, address), the
//! extractors for a portal session ([`Citizen`]), a clerk's session ([`ClerkCaller`]) and a
//! CSRF-checked form ([`CheckedForm`], [`ClerkForm`]), the pre-login token of the login forms, the
//! page error ([`PageError`]) and the page answer with its security headers. Cookies, the CSRF
//! checks and the pre-login token are written here once, for every feature.

use std::convert::Infallible;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use civkey_i18n::Locale;
use civkey_proto::Origin;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::counter::handlers as counter;
use super::layout as pages;
use super::views::{ClerkBadge, Msg, PageContext};
use crate::client_addr::ClientAddr;
use crate::services::ServiceError;
use crate::store::{CitizenRecord, ClerkSession, WebSession};
use crate::AppState;

/// Why a page is not shown, as the answer to send instead: a redirect (log in first, confirm that
/// it is you) or an error page already drawn in the visitor's language, with an internal cause
/// logged where it was made. Like `api::Failure` for the app's API: the extractors below reject
/// with it, and the checks a handler makes itself (`require_session`, `check_csrf`,
/// `require_step_up`) return it.
pub(super) struct PageError(Box<Response>);

impl PageError {
    /// A redirect to `to` (a local path).
    pub(super) fn redirect(to: &str) -> Self {
        PageError(Box::new(Redirect::to(to).into_response()))
    }
}

impl From<Response> for PageError {
    fn from(response: Response) -> Self {
        PageError(Box::new(response))
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        *self.0
    }
}

/// A portal page's caller with a session: the visitor and the citizen's session. Without a
/// session the answer is the login page, which comes back here afterwards.
pub(super) struct Citizen {
    pub(super) visitor: Visitor,
    pub(super) session: WebSession,
}

impl FromRequestParts<AppState> for Citizen {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        let Ok(visitor) = Visitor::from_request_parts(parts, state).await;
        let session = visitor.require_session()?.clone();
        Ok(Citizen { visitor, session })
    }
}

impl Citizen {
    /// The session's citizen as stored; the page to show instead when the account is gone (401)
    /// or the lookup failed.
    pub(super) async fn record(&self, state: &AppState) -> Result<CitizenRecord, PageError> {
        match state.services().citizen(&self.session.citizen_id).await {
            Ok(Some(citizen)) => Ok(citizen),
            Ok(None) => Err(self
                .visitor
                .error(StatusCode::UNAUTHORIZED, "portal.error.unauthorized")
                .into()),
            Err(e) => Err(self.visitor.failed(e)),
        }
    }
}

/// The fields of a form besides its anti-forgery token `csrf`.
#[derive(Deserialize)]
struct WithCsrf<T> {
    csrf: String,
    #[serde(flatten)]
    fields: T,
}

/// The visitor and a posted form: its anti-forgery token and its other fields. A body that is not
/// such a form is refused as axum's `Form` refuses it.
async fn read_form<T: DeserializeOwned + Send>(
    request: Request,
    state: &AppState,
) -> Result<(Visitor, String, T), PageError> {
    let (mut parts, body) = request.into_parts();
    let Ok(visitor) = Visitor::from_request_parts(&mut parts, state).await;
    let request = Request::from_parts(parts, body);
    let Form(WithCsrf { csrf, fields }) =
        Form::<WithCsrf<T>>::from_request(request, state)
            .await
            .map_err(|rejection| PageError::from(rejection.into_response()))?;
    Ok((visitor, csrf, fields))
}

/// A form posted with a portal session whose anti-forgery token matched the session's: the
/// caller and the form's other fields. Without a session the answer is the login page; with a
/// wrong token, a "refused" page (403), and nothing changes.
pub(super) struct CheckedForm<T> {
    pub(super) citizen: Citizen,
    pub(super) fields: T,
}

impl<T: DeserializeOwned + Send> FromRequest<AppState> for CheckedForm<T> {
    type Rejection = PageError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, PageError> {
        let (visitor, csrf, fields) = read_form(request, state).await?;
        let session = visitor.check_csrf(&csrf)?.clone();
        Ok(CheckedForm {
            citizen: Citizen { visitor, session },
            fields,
        })
    }
}

/// The counter session's cookie: another name than the portal's (`__Host-civkey_counter` over
/// https, where the prefix demands `Path=/`; over loopback http sent only under `/counter`).
pub(crate) const CLERK_COOKIE: HostCookie = HostCookie {
    name: "civkey_counter",
    path: "/counter",
    same_site: "Strict",
};
/// The counter login form's anti-forgery cookie.
pub(super) const CLERK_PRELOGIN_COOKIE: HostCookie = HostCookie {
    name: "civkey_counter_pre",
    path: "/counter",
    same_site: "Strict",
};

/// The clerk behind a request: the session and its cookie token.
pub(super) struct Clerk {
    pub(super) session: ClerkSession,
    pub(super) token: String,
}

impl Clerk {
    pub(super) fn badge(&self) -> ClerkBadge {
        ClerkBadge {
            full_name: self.session.full_name.clone(),
            office_name: self.session.office_name.clone(),
        }
    }
}

/// The clerk's session from the counter cookie, if any (a citizen's session never counts).
pub(super) async fn clerk(
    state: &AppState,
    visitor: &Visitor,
) -> Result<Option<Clerk>, ServiceError> {
    let Some(token) = visitor.host_cookie(CLERK_COOKIE) else {
        return Ok(None);
    };
    Ok(state
        .services()
        .clerk_session(token)
        .await?
        .map(|session| Clerk {
            session,
            token: token.to_string(),
        }))
}

/// A counter page's caller with a clerk's session; without one, the answer is the counter's login
/// page (a citizen's portal session never counts here).
pub(super) struct ClerkCaller {
    pub(super) visitor: Visitor,
    pub(super) clerk: Clerk,
}

impl FromRequestParts<AppState> for ClerkCaller {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        let Ok(visitor) = Visitor::from_request_parts(parts, state).await;
        ClerkCaller::of(visitor, state).await
    }
}

impl ClerkCaller {
    /// The visitor with the clerk's session, or the counter's login page.
    async fn of(visitor: Visitor, state: &AppState) -> Result<Self, PageError> {
        match clerk(state, &visitor).await {
            Ok(Some(clerk)) => Ok(ClerkCaller { visitor, clerk }),
            Ok(None) => Err(PageError::redirect("/counter/login")),
            Err(e) => Err(counter::internal(&visitor, e).into()),
        }
    }
}

/// A counter form whose anti-forgery token matched the clerk session's: the caller and the form's
/// other fields. Without a session, the counter's login page; with a wrong token, a "refused" page
/// (403), and nothing changes.
pub(super) struct ClerkForm<T> {
    pub(super) caller: ClerkCaller,
    pub(super) fields: T,
}

impl<T: DeserializeOwned + Send> FromRequest<AppState> for ClerkForm<T> {
    type Rejection = PageError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, PageError> {
        let (visitor, csrf, fields) = read_form(request, state).await?;
        let caller = ClerkCaller::of(visitor, state).await?;
        if !token_matches(&caller.clerk.session.csrf_token, &csrf) {
            let ClerkCaller { visitor, clerk } = &caller;
            let status = StatusCode::FORBIDDEN;
            return Err(counter::error(visitor, Some(clerk), status, "portal.error.csrf").into());
        }
        Ok(ClerkForm { caller, fields })
    }
}

/// Whether a form's anti-forgery token is the expected one (in constant time); an empty
/// expectation matches nothing.
pub(super) fn token_matches(expected: &str, token: &str) -> bool {
    !expected.is_empty() && bool::from(expected.as_bytes().ct_eq(token.as_bytes()))
}

/// Which pre-login cookie a login form's token is checked against.
pub(super) trait PreLoginCookie {
    /// The cookie.
    const COOKIE: HostCookie;
}

/// The portal's login forms (password + TOTP, e-mail code, authenticator removal).
pub(super) struct PortalLogin;

impl PreLoginCookie for PortalLogin {
    const COOKIE: HostCookie = PRELOGIN_COOKIE;
}

/// The counter's login form.
pub(super) struct CounterLogin;

impl PreLoginCookie for CounterLogin {
    const COOKIE: HostCookie = CLERK_PRELOGIN_COOKIE;
}

/// A login form, posted before there is a session: the visitor, the form's other fields, and
/// whether its anti-forgery token is the one in the pre-login cookie `C::COOKIE`. It does not
/// reject a wrong token: a login page answers that by drawing its form again with an error.
pub(super) struct PreLoginForm<T, C> {
    pub(super) visitor: Visitor,
    pub(super) fields: T,
    pub(super) token_ok: bool,
    cookie: std::marker::PhantomData<C>,
}

impl<T: DeserializeOwned + Send, C: PreLoginCookie> FromRequest<AppState> for PreLoginForm<T, C> {
    type Rejection = PageError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, PageError> {
        let (visitor, csrf, fields) = read_form(request, state).await?;
        let token_ok = visitor.prelogin_ok(C::COOKIE, &csrf);
        Ok(PreLoginForm {
            visitor,
            fields,
            token_ok,
            cookie: std::marker::PhantomData,
        })
    }
}

/// A form with no fields besides its anti-forgery token (log out, confirm, the counter's buttons).
#[derive(Deserialize)]
pub(super) struct NoFields {}

/// The portal session's cookie.
pub(super) const SESSION_COOKIE: HostCookie = HostCookie {
    name: "civkey_session",
    path: "/",
    same_site: "Lax",
};
/// The login forms' anti-forgery cookie.
pub(super) const PRELOGIN_COOKIE: HostCookie = HostCookie {
    name: "civkey_pre",
    path: "/",
    same_site: "Strict",
};
/// A browser that logged in to an account before: its attempts there have a limit of their own.
pub(super) const KNOWN_COOKIE: HostCookie = HostCookie {
    name: "civkey_known",
    path: "/",
    same_site: "Strict",
};
pub(super) const LANG_COOKIE: &str = "civkey_lang";

/// The prefix browsers reserve for cookies that only this host, over https, can set.
pub(super) const HOST_PREFIX: &str = "__Host-";

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
    pub(super) fn path_for(self, secure: bool) -> &'static str {
        if secure {
            "/"
        } else {
            self.path
        }
    }
}

/// The portal's content security policy: nothing from outside, no inline script or style.
pub(super) const CSP: &str =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Who is asking: language, path, session, address, and whether the language was just chosen.
pub(super) struct Visitor {
    pub(super) locale: Locale,
    pub(super) chose_locale: bool,
    pub(super) path: String,
    pub(super) session: Option<(WebSession, String)>,
    pub(super) cookies: Vec<(String, String)>,
    /// The client's address as per-address rate limits count it ([`ClientAddr::bucket`]).
    pub(super) address: String,
    pub(super) secure: bool,
}

pub(super) fn cookies(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The language the query asks for (`?lang=`), if any.
fn query_locale(uri: &axum::http::Uri) -> Option<Locale> {
    uri.query()
        .and_then(|q| q.split('&').find_map(|p| p.strip_prefix("lang=")))
        .and_then(Locale::from_tag)
}

/// The page's language: the query's, the language cookie's, the browser's, or the default.
fn locale_of(uri: &axum::http::Uri, headers: &HeaderMap, cookies: &[(String, String)]) -> Locale {
    query_locale(uri)
        .or_else(|| {
            cookies
                .iter()
                .find(|(k, _)| k == LANG_COOKIE)
                .and_then(|(_, v)| Locale::from_tag(v))
        })
        .or_else(|| {
            headers
                .get(header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok())
                .map(Locale::from_accept_language)
        })
        .unwrap_or(Locale::DEFAULT)
}

/// The "something went wrong on our side" page (500) for a request whose handler never answered
/// (it panicked): in the visitor's language, without a session (nothing more is looked up).
pub(crate) fn internal_error_page(uri: &axum::http::Uri, headers: &HeaderMap) -> Response {
    let cookies = cookies(headers);
    let visitor = Visitor {
        locale: locale_of(uri, headers, &cookies),
        chose_locale: false,
        path: uri.path().to_string(),
        session: None,
        cookies,
        address: "unknown".to_string(),
        secure: false,
    };
    visitor.error(StatusCode::INTERNAL_SERVER_ERROR, "portal.error.internal")
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
        let query_lang = query_locale(&parts.uri);
        let locale = locale_of(&parts.uri, &parts.headers, &cookies);
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
        let Ok(address) = ClientAddr::from_request_parts(parts, state).await;
        let address = address.bucket();
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
    pub(super) fn context(&self, citizen_name: Option<String>) -> PageContext {
        PageContext {
            locale: self.locale,
            path: self.path.clone(),
            csrf: self.session.as_ref().map(|(s, _)| s.csrf_token.clone()),
            citizen_name,
        }
    }

    pub(super) fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub(super) fn set_cookie(
        &self,
        name: &str,
        value: &str,
        max_age: u64,
        same_site: &str,
    ) -> HeaderValue {
        self.set_cookie_at("/", name, value, max_age, same_site)
    }

    /// The value of a session or anti-forgery cookie, read only under its name for this origin
    /// (see [`HostCookie`]).
    pub(super) fn host_cookie(&self, cookie: HostCookie) -> Option<&str> {
        self.cookie(&cookie.name_for(self.secure))
    }

    /// Sets (or, with `max_age` 0, clears) a session or anti-forgery cookie under its name and
    /// path for this origin (see [`HostCookie`]).
    pub(super) fn set_host_cookie(
        &self,
        cookie: HostCookie,
        value: &str,
        max_age: u64,
    ) -> HeaderValue {
        self.set_cookie_at(
            cookie.path_for(self.secure),
            &cookie.name_for(self.secure),
            value,
            max_age,
            cookie.same_site,
        )
    }

    /// A cookie sent back only to the paths under `path`.
    pub(super) fn set_cookie_at(
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
    pub(super) fn page(&self, status: StatusCode, html: String) -> Response {
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
    pub(super) fn page_with_form_target(
        &self,
        status: StatusCode,
        html: String,
        origin: &Origin,
    ) -> Response {
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
    pub(super) fn session(&self) -> Option<&WebSession> {
        self.session.as_ref().map(|(session, _)| session)
    }

    pub(super) fn error(&self, status: StatusCode, key: &str) -> Response {
        let ctx = self.context(None);
        self.page(status, pages::error_page(&ctx, status.as_u16(), key))
    }

    /// The session's citizen id, or a redirect to the login page that comes back here.
    pub(super) fn require_session(&self) -> Result<&WebSession, PageError> {
        match &self.session {
            Some((session, _)) => Ok(session),
            None => {
                let next = url_escape(&self.path);
                Err(PageError::redirect(&format!("/portal/login?next={next}")))
            }
        }
    }

    /// Checks a session form's anti-forgery token.
    pub(super) fn check_csrf(&self, token: &str) -> Result<&WebSession, PageError> {
        let session = self.require_session()?;
        if token_matches(&session.csrf_token, token) {
            Ok(session)
        } else {
            Err(self
                .error(StatusCode::FORBIDDEN, "portal.error.csrf")
                .into())
        }
    }
}

pub(super) fn url_escape(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// Only local portal paths are followed after login (no open redirect).
/// Where to go after logging in: a path of the portal's own, or a service's login request
/// waiting for the portal's means (`/oidc/login/{id}/continue`); anything else is the dashboard.
pub(super) fn safe_next(next: Option<&str>) -> String {
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

impl Visitor {
    /// The page for a request that failed inside (the cause is logged, the page says only
    /// "internal error").
    pub(super) fn failed(&self, e: ServiceError) -> PageError {
        internal(self, e).into()
    }
}

/// The answer to a request over a rate limit: 429 with `Retry-After` and the page that says to
/// wait a moment; any other failure is internal.
pub(super) fn limited(visitor: &Visitor, e: ServiceError) -> Response {
    let ServiceError::RateLimited { retry_after } = e else {
        return internal(visitor, e);
    };
    let mut response = visitor.error(StatusCode::TOO_MANY_REQUESTS, "portal.error.rate_limited");
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
    response
}

pub(super) fn internal(visitor: &Visitor, e: ServiceError) -> Response {
    if let ServiceError::Busy { retry_after } = e {
        return busy(
            visitor.error(StatusCode::SERVICE_UNAVAILABLE, "portal.error.busy"),
            retry_after,
        );
    }
    tracing::error!(error = %e, "portal request failed");
    visitor.error(StatusCode::INTERNAL_SERVER_ERROR, "portal.error.internal")
}

/// The "busy, try again" page `page` (a 503), telling the browser when to try again.
pub(super) fn busy(mut page: Response, retry_after: u64) -> Response {
    page.headers_mut().insert(
        axum::http::header::RETRY_AFTER,
        axum::http::HeaderValue::from(retry_after),
    );
    page
}

/// Refuses a change of how the account is protected unless the session has just been opened with
/// the strongest means its citizen holds: a redirect to the "confirm it is you" page, which comes
/// back to `next` (a page, since a form post cannot be repeated after a login).
pub(super) async fn require_step_up(
    state: &AppState,
    visitor: &Visitor,
    session: &WebSession,
    next: &str,
) -> Result<(), PageError> {
    require_step_up_within(
        state,
        visitor,
        session,
        next,
        crate::services::step_up::STEP_UP_SECS,
    )
    .await
}

pub(super) async fn require_step_up_within(
    state: &AppState,
    visitor: &Visitor,
    session: &WebSession,
    next: &str,
    window: u64,
) -> Result<(), PageError> {
    match state.services().step_up_needed(session, window).await {
        Ok(None) => Ok(()),
        Ok(Some(_)) => Err(PageError::redirect(&format!(
            "/portal/confirm?next={}",
            url_escape(next)
        ))),
        Err(e) => Err(internal(visitor, e).into()),
    }
}

pub(super) async fn citizen_name(state: &AppState, session: &WebSession) -> Option<String> {
    state
        .services()
        .citizen(&session.citizen_id)
        .await
        .ok()
        .flatten()
        .map(|c| c.full_name)
}

/// Sets the session cookie (and clears the pre-login one; and sets the known-browser one when
/// the login gave a new token) on a redirect to `next`.
pub(super) fn logged_in(
    visitor: &Visitor,
    session: &crate::services::portal_signin::LoggedIn,
    next: Option<&str>,
) -> Response {
    let mut response = Redirect::to(&safe_next(next)).into_response();
    let max_age = crate::services::portal_signin::SESSION_TTL_SECS;
    let headers = response.headers_mut();
    headers.append(
        header::SET_COOKIE,
        visitor.set_host_cookie(SESSION_COOKIE, &session.token, max_age),
    );
    if let Some(known) = &session.known_browser {
        let max_age = crate::services::portal_signin::KNOWN_BROWSER_TTL_SECS;
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

/// How long a login form's pre-login anti-forgery token lives (its cookie's max-age).
const PRELOGIN_TTL_SECS: u64 = 30 * 60;

impl Visitor {
    /// A page with a login form: `page` draws it with a fresh pre-login anti-forgery token for
    /// the form's hidden field, and the token is bound to the short-lived cookie `cookie` set
    /// with the answer.
    pub(super) fn with_prelogin_token(
        &self,
        cookie: HostCookie,
        page: impl FnOnce(String) -> Response,
    ) -> Response {
        let token = crate::services::secrets::random_token();
        let set = self.set_host_cookie(cookie, &token, PRELOGIN_TTL_SECS);
        let mut response = page(token);
        response.headers_mut().append(header::SET_COOKIE, set);
        response
    }

    /// Whether a login form's token is the one in the pre-login cookie `cookie`.
    pub(super) fn prelogin_ok(&self, cookie: HostCookie, token: &str) -> bool {
        token_matches(self.host_cookie(cookie).unwrap_or_default(), token)
    }
}

pub(super) fn rate_limited_error(retry_after: u64) -> Msg {
    Msg::new("portal.login.error.rate_limited").with("seconds", retry_after.to_string())
}

#[derive(Deserialize)]
pub(super) struct NoticeQuery {
    pub(super) notice: Option<String>,
    pub(super) error: Option<String>,
}

/// Notices and errors arrive as keys in the query after a redirect; only known keys are shown.
pub(super) fn known_key(key: Option<String>, allowed: &[&str]) -> Option<String> {
    key.filter(|k| allowed.contains(&k.as_str()))
}
