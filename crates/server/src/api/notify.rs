//! Notifications for the calling device: the event stream (`GET /api/v1/events`, server-sent
//! events, resumable with `Last-Event-ID`), its push endpoint (`POST /api/v1/device/push`), and
//! the citizen's notification settings (`GET` / `PUT /api/v1/notifications`).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use civkey_proto::device::PushRegistrationRequest;
use civkey_proto::events::Event;
use civkey_proto::notify::NotificationSettings;
use civkey_proto::ErrorCode;
use futures_util::stream::{self, Stream};
use futures_util::StreamExt;

use super::{DeviceCaller, Failure};
use crate::services::notify::events_key;
use crate::store::DeviceRecord;
use crate::AppState;

/// How often an idle stream sends a keep-alive comment.
const KEEP_ALIVE_SECS: u64 = 15;
/// How long the stream waits for the change signal before looking again (expiry, settings
/// changed by another instance).
const RECHECK_SECS: u64 = 10;

pub(super) async fn events(
    State(state): State<AppState>,
    caller: DeviceCaller,
) -> Result<Response, Failure> {
    let after = match caller.headers.get("last-event-id") {
        None => None,
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .ok_or_else(|| {
                    Failure::new(
                        ErrorCode::BadRequest,
                        "Last-Event-ID must be an event id (a whole number)",
                    )
                })?,
        ),
    };
    // The first read happens before the answer starts, so a store failure is a clear error.
    let (first, last) = state
        .services()
        .events_for_device(&caller.device, after)
        .await?;
    // At most a few streams per device: a new one beyond the cap ends the oldest (see
    // `services::limits::DeviceStreams` for why the oldest goes, not the new one).
    let services = state.services();
    let (slot, ended) = services
        .device_streams
        .open(&caller.device.id, services.limits.streams_per_device);
    let stream = event_stream(state, caller.device, first.into(), last)
        .take_until(ended)
        .map(move |event| {
            // The stream holds its place until it ends.
            let _holds = &slot;
            event
        });
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(KEEP_ALIVE_SECS)))
        .into_response())
}

fn sse_event(event: &Event) -> SseEvent {
    let data = serde_json::to_string(event).unwrap_or_default();
    SseEvent::default()
        .id(event.id.to_string())
        .event(event.kind.name())
        .data(data)
}

/// Sends `pending`, then whatever comes after `last`, woken by the change signal; ends when the
/// device is disconnected.
fn event_stream(
    state: AppState,
    device: DeviceRecord,
    pending: VecDeque<Event>,
    last: u64,
) -> impl Stream<Item = Result<SseEvent, Infallible>> {
    let subscription = state
        .services()
        .signal
        .subscribe(&events_key(&device.citizen_id));
    // `more`: the last read moved on, so there may be more before waiting again.
    stream::unfold(
        (state, device, pending, last, subscription, true),
        |(state, mut device, mut pending, mut last, mut subscription, mut more)| async move {
            loop {
                if let Some(event) = pending.pop_front() {
                    let sse = sse_event(&event);
                    return Some((Ok(sse), (state, device, pending, last, subscription, more)));
                }
                if !more {
                    subscription
                        .changed(Duration::from_secs(RECHECK_SECS))
                        .await;
                }
                // Settings may have changed: read the device again; a disconnected one stops.
                device = match state.store().device(&device.id).await {
                    Ok(Some(d)) if d.disconnected_at.is_none() => d,
                    Ok(_) => return None,
                    Err(e) => {
                        tracing::error!(error = %e, "event stream: cannot read the device");
                        more = false;
                        continue;
                    }
                };
                match state
                    .services()
                    .events_for_device(&device, Some(last))
                    .await
                {
                    Ok((events, newest)) => {
                        more = newest != last;
                        last = newest;
                        pending.extend(events);
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "event stream: cannot read events");
                        more = false;
                    }
                }
            }
        },
    )
}

pub(super) async fn register_push(
    State(state): State<AppState>,
    caller: DeviceCaller,
) -> Result<StatusCode, Failure> {
    let request: PushRegistrationRequest = caller.json()?;
    state
        .services()
        .register_push(
            &caller.device,
            request.endpoint.as_ref(),
            request.keys.as_ref(),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn settings(
    State(state): State<AppState>,
    caller: DeviceCaller,
) -> Result<Json<NotificationSettings>, Failure> {
    Ok(Json(
        state
            .services()
            .notification_settings(&caller.device.citizen_id)
            .await?,
    ))
}

pub(super) async fn replace_settings(
    State(state): State<AppState>,
    caller: DeviceCaller,
) -> Result<Json<NotificationSettings>, Failure> {
    let request: NotificationSettings = caller.json()?;
    let services = state.services();
    let citizen = &caller.device.citizen_id;
    services
        .save_notification_settings(citizen, &request, None)
        .await?;
    Ok(Json(services.notification_settings(citizen).await?))
}
