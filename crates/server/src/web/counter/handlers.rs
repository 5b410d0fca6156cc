//! The office counter (`/counter`): clerks log in with their own accounts (password and TOTP
//! code), find a citizen, start a BOK verification and watch it live, and unblock a blocked BOK.
//! Handlers are thin, as in the portal: read the visitor and the clerk's session, check the
//! form's anti-forgery token, call one service, render one page.
//!
//! Clerk sessions use their own cookie (`civkey_counter`, `SameSite=Strict`; named
//! `__Host-civkey_counter` over https, sent only under `/counter` over loopback http) and their
//! own table; a citizen's portal session opens nothing here and a clerk's nothing in the portal.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use civkey_proto::bok::BokCounterEvent;
use civkey_proto::ErrorCode;
use futures_util::stream::{self, Stream};
use serde::Deserialize;

use super::pages;
use crate::services::clerks::CLERK_SESSION_TTL_SECS;
use crate::services::onboarding::{OnboardError, OnboardField, OnboardInput};
use crate::services::ServiceError;
use crate::web::session::{
    self, url_escape, Clerk, ClerkCaller, ClerkForm, CounterLogin, NoFields, PreLoginForm, Visitor,
    CLERK_COOKIE, CLERK_PRELOGIN_COOKIE,
};
use crate::web::views::{
    BokLiveView, CounterCitizenRow, CounterLoginView, CounterOnboardView, CounterView, Msg,
    PageContext,
};
use crate::AppState;

/// The counter's routes.
pub(in crate::web) fn routes() -> Router<AppState> {
    Router::new()
        .route("/counter", get(counter))
        .route("/counter/login", get(login_form).post(login))
        .route("/counter/logout", post(logout))
        .route("/counter/bok", post(start))
        .route("/counter/bok/{id}", get(live))
        .route("/counter/bok/{id}/events", get(events))
        .route("/counter/unblock", post(unblock))
        .route("/counter/onboard", get(onboard_form).post(onboard))
}

fn context(visitor: &Visitor, clerk: Option<&Clerk>) -> PageContext {
    PageContext {
        locale: visitor.locale,
        path: visitor.path.clone(),
        csrf: clerk.map(|c| c.session.csrf_token.clone()),
        citizen_name: None,
    }
}

/// The BOK request a path names; text that is no request id is gone, as an unknown one is.
fn request_id(
    visitor: &Visitor,
    clerk: &Clerk,
    text: &str,
) -> Result<civkey_proto::ids::BokRequestId, Box<Response>> {
    civkey_proto::ids::BokRequestId::parse(text).map_err(|_| {
        Box::new(error(
            visitor,
            Some(clerk),
            StatusCode::NOT_FOUND,
            "counter.error.gone",
        ))
    })
}

pub(in crate::web) fn error(
    visitor: &Visitor,
    clerk: Option<&Clerk>,
    status: StatusCode,
    key: &str,
) -> Response {
    let badge = clerk.map(Clerk::badge);
    visitor.page(
        status,
        pages::counter_error_page(
            &context(visitor, clerk),
            badge.as_ref(),
            status.as_u16(),
            key,
        ),
    )
}

pub(in crate::web) fn internal(visitor: &Visitor, e: ServiceError) -> Response {
    if let ServiceError::Busy { retry_after } = e {
        let page = error(
            visitor,
            None,
            StatusCode::SERVICE_UNAVAILABLE,
            "portal.error.busy",
        );
        return crate::web::session::busy(page, retry_after);
    }
    tracing::error!(error = %e, "counter request failed");
    error(
        visitor,
        None,
        StatusCode::INTERNAL_SERVER_ERROR,
        "portal.error.internal",
    )
}

async fn login_form(State(state): State<AppState>, visitor: Visitor) -> Response {
    match session::clerk(&state, &visitor).await {
        Ok(Some(_)) => Redirect::to("/counter").into_response(),
        Ok(None) => render_login(&visitor, None, String::new(), StatusCode::OK),
        Err(e) => internal(&visitor, e),
    }
}

/// The login page with a fresh pre-login anti-forgery token bound to a short-lived cookie.
fn render_login(
    visitor: &Visitor,
    error: Option<Msg>,
    username: String,
    status: StatusCode,
) -> Response {
    visitor.with_prelogin_token(CLERK_PRELOGIN_COOKIE, |csrf| {
        let view = CounterLoginView {
            csrf,
            username,
            error,
        };
        let page = pages::counter_login_page(&context(visitor, None), &view);
        visitor.page(status, page)
    })
}

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
    /// The code of the clerk's authenticator (missing counts as wrong).
    #[serde(default)]
    totp: String,
}

async fn login(
    State(state): State<AppState>,
    PreLoginForm {
        visitor,
        fields: form,
        token_ok,
        ..
    }: PreLoginForm<LoginForm, CounterLogin>,
) -> Response {
    if !token_ok {
        let error = Some(Msg::new("counter.login.error.csrf"));
        return render_login(&visitor, error, form.username, StatusCode::FORBIDDEN);
    }
    let username = form.username.trim().to_lowercase();
    let result = state
        .services()
        .login_clerk(
            &username,
            &form.password,
            form.totp.trim(),
            &visitor.address,
        )
        .await;
    match result {
        Ok(session) => {
            let mut response = Redirect::to("/counter").into_response();
            let headers = response.headers_mut();
            headers.append(
                header::SET_COOKIE,
                visitor.set_host_cookie(CLERK_COOKIE, &session.token, CLERK_SESSION_TTL_SECS),
            );
            headers.append(
                header::SET_COOKIE,
                visitor.set_host_cookie(CLERK_PRELOGIN_COOKIE, "", 0),
            );
            response
        }
        Err(ServiceError::RateLimited { retry_after }) => {
            let error = Some(
                Msg::new("counter.login.error.rate_limited")
                    .with("seconds", retry_after.to_string()),
            );
            render_login(
                &visitor,
                error,
                form.username,
                StatusCode::TOO_MANY_REQUESTS,
            )
        }
        Err(ServiceError::Refused {
            code: ErrorCode::Forbidden,
            ..
        }) => {
            let error = Some(Msg::new("counter.login.error.no_totp"));
            render_login(&visitor, error, form.username, StatusCode::FORBIDDEN)
        }
        Err(ServiceError::Refused { .. }) => {
            let error = Some(Msg::new("counter.login.error.wrong"));
            render_login(&visitor, error, form.username, StatusCode::UNAUTHORIZED)
        }
        Err(e) => internal(&visitor, e),
    }
}

async fn logout(State(state): State<AppState>, form: ClerkForm<NoFields>) -> Response {
    let ClerkCaller { visitor, clerk } = form.caller;
    if let Err(e) = state.services().logout_clerk(&clerk.token).await {
        return internal(&visitor, e);
    }
    let mut response = Redirect::to("/counter/login").into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        visitor.set_host_cookie(CLERK_COOKIE, "", 0),
    );
    response
}

#[derive(Deserialize)]
struct CounterQuery {
    username: Option<String>,
    notice: Option<String>,
    error: Option<String>,
}

/// Notices and errors arrive as catalogue keys after a redirect; only these are shown.
const NOTICES: &[&str] = &["counter.unblocked", "counter.not_blocked"];
const ERRORS: &[&str] = &[
    "counter.error.not_found",
    "counter.error.bok_not_set",
    "counter.error.bok_blocked",
    "counter.error.bok_no_device",
];

async fn counter(
    State(state): State<AppState>,
    ClerkCaller { visitor, clerk }: ClerkCaller,
    Query(query): Query<CounterQuery>,
) -> Response {
    let username = query
        .username
        .as_deref()
        .map(|u| u.trim().to_lowercase())
        .unwrap_or_default();
    let mut view = CounterView {
        username: username.clone(),
        notice: query.notice.filter(|k| NOTICES.contains(&k.as_str())),
        error: query.error.filter(|k| ERRORS.contains(&k.as_str())),
        ..CounterView::default()
    };
    if !username.is_empty() {
        match state.services().counter_citizen(&username).await {
            Ok(Some(c)) => {
                view.citizen = Some(CounterCitizenRow {
                    username: c.username,
                    full_name: c.full_name,
                    bok_set: c.bok_set,
                    blocked: c.blocked,
                    wrong_answers: c.wrong_answers,
                    bok_pad_devices: c.bok_pad_devices,
                    last_unblock: c
                        .last_unblock
                        .map(|u| (u.clerk_username, u.office_name, u.at)),
                })
            }
            Ok(None) => view.not_found = view.error.is_none(),
            Err(e) => return internal(&visitor, e),
        }
    }
    visitor.page(
        StatusCode::OK,
        pages::counter_page(&context(&visitor, Some(&clerk)), &clerk.badge(), &view),
    )
}

#[derive(Deserialize)]
struct CitizenForm {
    username: String,
}

/// Back to the citizen on the counter page, with a notice or an error key.
fn back_to(username: &str, param: &str, key: &str) -> Response {
    Redirect::to(&format!(
        "/counter?username={}&{param}={key}",
        url_escape(username)
    ))
    .into_response()
}

async fn start(State(state): State<AppState>, form: ClerkForm<CitizenForm>) -> Response {
    let ClerkCaller { visitor, clerk } = form.caller;
    let form = form.fields;
    let username = form.username.trim().to_lowercase();
    match state
        .services()
        .start_bok_verification(&clerk.session, &username)
        .await
    {
        Ok(started) => {
            Redirect::to(&format!("/counter/bok/{}", started.id.to_text())).into_response()
        }
        Err(ServiceError::Refused { code, .. }) => {
            let key = match code {
                ErrorCode::BokNotSet => "counter.error.bok_not_set",
                ErrorCode::BokBlocked => "counter.error.bok_blocked",
                ErrorCode::BokNoDevice => "counter.error.bok_no_device",
                _ => "counter.error.not_found",
            };
            back_to(&username, "error", key)
        }
        Err(e) => internal(&visitor, e),
    }
}

async fn unblock(State(state): State<AppState>, form: ClerkForm<CitizenForm>) -> Response {
    let ClerkCaller { visitor, clerk } = form.caller;
    let form = form.fields;
    let username = form.username.trim().to_lowercase();
    match state
        .services()
        .unblock_bok(&clerk.session, &username)
        .await
    {
        Ok(true) => back_to(&username, "notice", "counter.unblocked"),
        Ok(false) => back_to(&username, "notice", "counter.not_blocked"),
        Err(ServiceError::Refused { .. }) => back_to(&username, "error", "counter.error.not_found"),
        Err(e) => internal(&visitor, e),
    }
}

async fn live(
    State(state): State<AppState>,
    ClerkCaller { visitor, clerk }: ClerkCaller,
    Path(id): Path<String>,
) -> Response {
    let services = state.services();
    let id = match request_id(&visitor, &clerk, &id) {
        Ok(id) => id,
        Err(r) => return *r,
    };
    let request = match services
        .counter_bok_request(&clerk.session.clerk_id, &id)
        .await
    {
        Ok(Some(r)) => r,
        Ok(None) => {
            return error(
                &visitor,
                Some(&clerk),
                StatusCode::NOT_FOUND,
                "counter.error.gone",
            )
        }
        Err(e) => return internal(&visitor, e),
    };
    let view = BokLiveView {
        citizen_name: request.citizen_name,
        citizen_username: request.citizen_username,
        office_name: request.office_name,
        expires_in: request.expires_at.saturating_sub(services.clock.now()),
        events_url: format!("/counter/bok/{}/events", request.id),
        status: request.event,
    };
    visitor.page(
        StatusCode::OK,
        pages::counter_bok_page(&context(&visitor, Some(&clerk)), &clerk.badge(), &view),
    )
}

/// Server-sent events for the live page: the current state at once, then every change, until a
/// final state.
async fn events(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<String>,
) -> Response {
    let clerk = match session::clerk(&state, &visitor).await {
        Ok(Some(c)) => c,
        Ok(None) => {
            return error(
                &visitor,
                None,
                StatusCode::UNAUTHORIZED,
                "portal.error.unauthorized",
            )
        }
        Err(e) => return internal(&visitor, e),
    };
    let id = match request_id(&visitor, &clerk, &id) {
        Ok(id) => id,
        Err(r) => return *r,
    };
    match state
        .services()
        .bok_counter_event(&clerk.session.clerk_id, &id)
        .await
    {
        Ok(Some(_)) => {}
        Ok(None) => {
            return error(
                &visitor,
                Some(&clerk),
                StatusCode::NOT_FOUND,
                "counter.error.gone",
            )
        }
        Err(e) => return internal(&visitor, e),
    }
    if let Err(e) = state.services().page_stream_opened(&visitor.address).await {
        return crate::web::session::limited(&visitor, e);
    }
    Sse::new(bok_events(state, clerk.session.clerk_id, id))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

fn bok_events(
    state: AppState,
    clerk_id: crate::domain::ClerkId,
    id: civkey_proto::ids::BokRequestId,
) -> impl Stream<Item = Result<Event, Infallible>> {
    let subscription = state.services().watch_bok(&id);
    stream::unfold(
        (state, clerk_id, id, subscription, None::<BokCounterEvent>),
        |(state, clerk_id, id, mut subscription, last)| async move {
            if last.is_some_and(BokCounterEvent::is_final) {
                return None;
            }
            loop {
                let services = state.services();
                let (current, expires_at) = match services.bok_counter_event(&clerk_id, &id).await {
                    Ok(Some(found)) => found,
                    _ => return None,
                };
                if last != Some(current) {
                    let data = serde_json::to_string(&current).unwrap_or_default();
                    return Some((
                        Ok(Event::default().data(data)),
                        (state, clerk_id, id, subscription, Some(current)),
                    ));
                }
                // Wake on a change, at expiry, and every few seconds regardless.
                let until_expiry = expires_at.saturating_sub(services.clock.now()).max(1);
                subscription
                    .changed(Duration::from_secs(until_expiry.min(5)))
                    .await;
            }
        },
    )
}

async fn onboard_form(ClerkCaller { visitor, clerk }: ClerkCaller) -> Response {
    visitor.page(
        StatusCode::OK,
        pages::counter_onboard_page(
            &context(&visitor, Some(&clerk)),
            &clerk.badge(),
            &CounterOnboardView::default(),
        ),
    )
}

#[derive(Deserialize)]
struct OnboardForm {
    code: String,
    full_name: String,
    username: String,
    email: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    document_type: String,
    document_number: String,
}

/// The message and status for each way onboarding can be refused.
fn onboard_refusal(error: &OnboardError) -> (Msg, StatusCode) {
    let (key, status) = match error {
        OnboardError::Invalid(field) => (
            match field {
                OnboardField::Code => "counter.onboard.error.code_invalid",
                OnboardField::FullName => "counter.onboard.error.full_name",
                OnboardField::Username => "counter.onboard.error.username",
                OnboardField::Email => "counter.onboard.error.email",
                OnboardField::Phone => "counter.onboard.error.phone",
                OnboardField::DocumentType => "counter.onboard.error.document_type",
                OnboardField::DocumentNumber => "counter.onboard.error.document_number",
            },
            StatusCode::BAD_REQUEST,
        ),
        OnboardError::CodeUnknown => ("counter.onboard.error.code_unknown", StatusCode::NOT_FOUND),
        OnboardError::CodeExpired => ("counter.onboard.error.code_expired", StatusCode::GONE),
        OnboardError::CodeUsed => ("counter.onboard.error.code_used", StatusCode::CONFLICT),
        OnboardError::UsernameTaken => {
            ("counter.onboard.error.username_taken", StatusCode::CONFLICT)
        }
        OnboardError::DeviceTaken => ("counter.onboard.error.device_taken", StatusCode::CONFLICT),
        OnboardError::RateLimited { retry_after } => {
            let msg = Msg::new("counter.onboard.error.rate_limited")
                .with("seconds", retry_after.to_string());
            return (msg, StatusCode::TOO_MANY_REQUESTS);
        }
        OnboardError::Failed(ServiceError::Busy { .. }) => {
            ("portal.error.busy", StatusCode::SERVICE_UNAVAILABLE)
        }
        OnboardError::Failed(_) => ("portal.error.internal", StatusCode::INTERNAL_SERVER_ERROR),
    };
    (Msg::new(key), status)
}

async fn onboard(State(state): State<AppState>, form: ClerkForm<OnboardForm>) -> Response {
    let ClerkCaller { visitor, clerk } = form.caller;
    let form = form.fields;
    let input = OnboardInput {
        code: form.code,
        full_name: form.full_name,
        username: form.username,
        email: form.email,
        phone: form.phone,
        document_type: form.document_type,
        document_number: form.document_number,
    };
    let result = state
        .services()
        .onboard_citizen(&clerk.session, &input, &visitor.address)
        .await;
    let (status, view) = match result {
        Ok(done) => (
            StatusCode::OK,
            CounterOnboardView {
                done: Some((done.full_name, done.username, done.device_name)),
                ..CounterOnboardView::default()
            },
        ),
        Err(error) => {
            if let OnboardError::Failed(e) = &error {
                tracing::error!(error = %e, "onboarding at the counter failed");
            }
            let (msg, status) = onboard_refusal(&error);
            // The document number is not shown again: it is typed anew from the document.
            let input = OnboardInput {
                document_number: String::new(),
                ..input
            };
            (
                status,
                CounterOnboardView {
                    input,
                    error: Some(msg),
                    done: None,
                },
            )
        }
    };
    visitor.page(
        status,
        pages::counter_onboard_page(&context(&visitor, Some(&clerk)), &clerk.badge(), &view),
    )
}
