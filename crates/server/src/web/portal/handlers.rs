//! The citizen portal's handlers: log in (password + TOTP, e-mail code), log out, remove a lost
//! authenticator, the dashboard, "Connect mobile key" and "My mobile keys". Thin: read the visitor
//! (language, session), check the form's anti-forgery token, call one service, render one page.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use civkey_proto::device::DeviceName;
use civkey_proto::pair::{PairStatus, PairingPageEvent};
use civkey_proto::ErrorCode;
use futures_util::stream::{self, Stream};
use serde::Deserialize;

use super::pages;
use crate::services::ServiceError;
use crate::web::session::*;
use crate::web::views::*;
use crate::AppState;

/// The portal's routes.
pub(in crate::web) fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/portal") }))
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

/// `GET /portal/confirm?next=…`: "confirm that it is you" — the ways to log in again that satisfy
/// the step-up; straight on to `next` when the session already does.
async fn step_up(
    State(state): State<AppState>,
    Citizen { visitor, session }: Citizen,
    Query(query): Query<NextQuery>,
) -> Response {
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

async fn dashboard(State(state): State<AppState>, caller: Citizen) -> Result<Response, PageError> {
    let citizen = caller.record(&state).await?;
    let visitor = caller.visitor;
    let services = state.services();
    let devices = services
        .list_devices(&citizen.id)
        .await
        .map_err(|e| visitor.failed(e))?
        .devices;
    let history = services
        .login_history(&citizen.id, 10)
        .await
        .map_err(|e| visitor.failed(e))?;
    let recent_logins = history
        .into_iter()
        .map(|entry| LoginRow {
            means: entry.means,
            device_name: devices
                .iter()
                .find(|d| Some(d.id) == entry.device_id)
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
    let page = pages::dashboard_page(&visitor.context(Some(citizen.full_name)), &view);
    Ok(visitor.page(StatusCode::OK, page))
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
    render_login(&visitor, None, String::new(), query.next, StatusCode::OK)
}

/// The login page with a fresh pre-login anti-forgery token bound to a short-lived cookie.
fn render_login(
    visitor: &Visitor,
    error: Option<Msg>,
    username: String,
    next: Option<String>,
    status: StatusCode,
) -> Response {
    visitor.with_prelogin_token(PRELOGIN_COOKIE, |csrf| {
        let view = LoginView {
            csrf,
            username,
            error,
            next: next.map(|n| safe_next(Some(&n))),
        };
        visitor.page(status, pages::login_page(&visitor.context(None), &view))
    })
}

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
    totp: String,
    next: Option<String>,
}

async fn login(
    State(state): State<AppState>,
    PreLoginForm {
        visitor,
        fields: form,
        token_ok,
        ..
    }: PreLoginForm<LoginForm, PortalLogin>,
) -> Response {
    if !token_ok {
        return render_login(
            &visitor,
            Some(Msg::new("portal.login.error.csrf")),
            form.username,
            form.next,
            StatusCode::UNAUTHORIZED,
        );
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
            render_login(
                &visitor,
                error,
                form.username,
                form.next,
                StatusCode::TOO_MANY_REQUESTS,
            )
        }
        Err(ServiceError::Refused {
            code: ErrorCode::WrongCredentials,
            ..
        }) => render_login(
            &visitor,
            Some(Msg::new("portal.login.error.wrong")),
            form.username,
            form.next,
            StatusCode::UNAUTHORIZED,
        ),
        Err(e) => internal(&visitor, e),
    }
}

/// The e-mail code form, with a fresh pre-login token.
fn render_email_code(
    visitor: &Visitor,
    username: String,
    error: Option<Msg>,
    next: Option<String>,
    status: StatusCode,
) -> Response {
    visitor.with_prelogin_token(PRELOGIN_COOKIE, |csrf| {
        let view = EmailCodeView {
            csrf,
            username,
            error,
            next: next.map(|n| safe_next(Some(&n))),
        };
        let page = pages::email_code_page(&visitor.context(None), &view);
        visitor.page(status, page)
    })
}

#[derive(Deserialize)]
struct EmailRequestForm {
    username: String,
    next: Option<String>,
}

async fn email_code_request(
    State(state): State<AppState>,
    PreLoginForm {
        visitor,
        fields: form,
        token_ok,
        ..
    }: PreLoginForm<EmailRequestForm, PortalLogin>,
) -> Response {
    if !token_ok {
        return render_login(
            &visitor,
            Some(Msg::new("portal.login.error.csrf")),
            form.username,
            form.next,
            StatusCode::UNAUTHORIZED,
        );
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
            render_login(
                &visitor,
                error,
                form.username,
                form.next,
                StatusCode::TOO_MANY_REQUESTS,
            )
        }
        Err(e) => internal(&visitor, e),
    }
}

#[derive(Deserialize)]
struct EmailCodeForm {
    username: String,
    code: String,
    next: Option<String>,
}

async fn email_code_login(
    State(state): State<AppState>,
    PreLoginForm {
        visitor,
        fields: form,
        token_ok,
        ..
    }: PreLoginForm<EmailCodeForm, PortalLogin>,
) -> Response {
    if !token_ok {
        let error = Some(Msg::new("portal.login.error.csrf"));
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
            let error = Some(Msg::new("portal.login.error.code_wrong"));
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
    visitor.with_prelogin_token(PRELOGIN_COOKIE, |csrf| {
        view.csrf = csrf;
        let page = pages::totp_removal_page(&visitor.context(None), &view);
        visitor.page(status, page)
    })
}

async fn totp_removal_form(visitor: Visitor) -> Response {
    render_totp_removal(&visitor, TotpRemovalView::default(), StatusCode::OK)
}

#[derive(Deserialize)]
struct TotpRemovalForm {
    username: String,
    password: String,
    deletion_code: String,
}

async fn totp_removal(
    State(state): State<AppState>,
    PreLoginForm {
        visitor,
        fields: form,
        token_ok,
        ..
    }: PreLoginForm<TotpRemovalForm, PortalLogin>,
) -> Response {
    let mut view = TotpRemovalView {
        username: form.username.clone(),
        ..TotpRemovalView::default()
    };
    if !token_ok {
        view.error = Some(Msg::new("portal.login.error.csrf"));
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
            view.error = Some(Msg::new("portal.totp_remove.error.wrong"));
            render_totp_removal(&visitor, view, StatusCode::UNAUTHORIZED)
        }
        Err(e) => internal(&visitor, e),
    }
}

async fn logout(State(state): State<AppState>, form: CheckedForm<NoFields>) -> Response {
    let visitor = form.citizen.visitor;
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

async fn connect(
    State(state): State<AppState>,
    Citizen { visitor, session }: Citizen,
) -> Result<Response, PageError> {
    // A new mobile key is a new means to log in as this citizen.
    require_step_up(&state, &visitor, &session, "/portal/connect").await?;
    let pairing = state
        .services()
        .start_pairing(&session.citizen_id)
        .await
        .map_err(|e| visitor.failed(e))?;
    let uri = pairing.uri.to_uri();
    let qr_svg = qr_svg(&uri).map_err(|e| visitor.failed(e))?;
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
    let page = pages::connect_page(&visitor.context(name), &view);
    Ok(visitor.page(StatusCode::OK, page))
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
    let Ok(id) = crate::services::pairing::pairing_session_id(&id) else {
        return visitor.error(StatusCode::NOT_FOUND, "portal.error.not_found");
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
    if let Err(e) = state.services().page_stream_opened(&visitor.address).await {
        return crate::web::session::limited(&visitor, e);
    }
    Sse::new(pairing_events(state, session.citizen_id, id))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

fn pairing_events(
    state: AppState,
    citizen_id: crate::domain::CitizenId,
    id: civkey_proto::ids::SessionId,
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

async fn decide(state: AppState, citizen: Citizen, id: String, confirm: bool) -> Response {
    let Citizen { visitor, session } = citizen;
    // The pairing was started on a stepped-up page; its confirmation may come up to the pairing's
    // lifetime later.
    if confirm {
        let window = crate::services::step_up::STEP_UP_SECS + civkey_proto::pair::PAIRING_TTL_SECS;
        if let Err(r) =
            require_step_up_within(&state, &visitor, &session, "/portal/connect", window).await
        {
            return r.into_response();
        }
    }
    let decided = match crate::services::pairing::pairing_session_id(&id) {
        Ok(id) => {
            state
                .services()
                .decide_pairing(&session.citizen_id, &id, confirm)
                .await
        }
        Err(unknown) => Err(unknown),
    };
    let outcome = match decided {
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
    Path(id): Path<String>,
    form: CheckedForm<NoFields>,
) -> Response {
    decide(state, form.citizen, id, true).await
}

async fn refuse(
    State(state): State<AppState>,
    Path(id): Path<String>,
    form: CheckedForm<NoFields>,
) -> Response {
    decide(state, form.citizen, id, false).await
}

async fn keys(
    State(state): State<AppState>,
    caller: Citizen,
    Query(query): Query<NoticeQuery>,
) -> Result<Response, PageError> {
    let citizen = caller.record(&state).await?;
    let visitor = caller.visitor;
    let devices = state
        .services()
        .active_devices(&citizen.id)
        .await
        .map_err(|e| visitor.failed(e))?;
    let view = DevicesView {
        devices: devices
            .into_iter()
            .map(|d| DeviceRow {
                id: d.id.to_text(),
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
    let page = pages::devices_page(&visitor.context(Some(citizen.full_name)), &view);
    Ok(visitor.page(StatusCode::OK, page))
}

#[derive(Deserialize)]
struct RenameForm {
    name: String,
}

async fn rename(
    State(state): State<AppState>,
    Path(id): Path<String>,
    form: CheckedForm<RenameForm>,
) -> Response {
    let Citizen { visitor, session } = form.citizen;
    let form = form.fields;
    let Ok(name) = DeviceName::parse(&form.name) else {
        return Redirect::to("/portal/keys?error=portal.keys.error.name").into_response();
    };
    let Ok(id) = civkey_proto::ids::DeviceId::parse(&id) else {
        return Redirect::to("/portal/keys?error=portal.keys.error.not_found").into_response();
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
    Path(id): Path<String>,
    form: CheckedForm<NoFields>,
) -> Result<Response, PageError> {
    let Citizen { visitor, session } = form.citizen;
    require_step_up(&state, &visitor, &session, "/portal/keys").await?;
    let Ok(id) = civkey_proto::ids::DeviceId::parse(&id) else {
        return Ok(Redirect::to("/portal/keys?error=portal.keys.error.not_found").into_response());
    };
    Ok(
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
        },
    )
}
