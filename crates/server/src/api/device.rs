//! The calling device's own endpoints: list the citizen's devices, rename itself, disconnect itself.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use civkey_proto::device::{DeviceList, DeviceSummary, RenameDeviceRequest};
use civkey_proto::ErrorCode;

use super::{DeviceCaller, Failure};
use crate::AppState;

pub(super) async fn list(
    State(state): State<AppState>,
    caller: DeviceCaller,
) -> Result<Json<DeviceList>, Failure> {
    Ok(Json(
        state
            .services()
            .list_devices(&caller.device.citizen_id)
            .await?,
    ))
}

pub(super) async fn rename(
    State(state): State<AppState>,
    caller: DeviceCaller,
) -> Result<Json<DeviceSummary>, Failure> {
    let request: RenameDeviceRequest = caller.json()?;
    let services = state.services();
    let citizen = &caller.device.citizen_id;
    services
        .rename_device(citizen, &caller.device.id, &request.name)
        .await?;
    services
        .list_devices(citizen)
        .await?
        .devices
        .into_iter()
        .find(|d| d.id == caller.device.id)
        .map(Json)
        .ok_or_else(|| Failure::new(ErrorCode::NotFound, "no such connected device"))
}

pub(super) async fn disconnect(
    State(state): State<AppState>,
    caller: DeviceCaller,
) -> Result<StatusCode, Failure> {
    state
        .services()
        .disconnect_device(&caller.device.citizen_id, &caller.device.id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
