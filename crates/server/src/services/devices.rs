//! Paired devices: authenticating every call a device makes, and listing, renaming and
//! disconnecting devices (from the app or the portal).

use std::time::Duration;

use civkey_proto::device::{
    DeviceCallAuth, DeviceKind, DeviceList, DeviceModel, DeviceName, DeviceSummary,
    DEVICE_CALL_MAX_SKEW_SECS,
};
use civkey_proto::ids::DeviceId;
use civkey_proto::sign::{DeviceCall, DevicePublicKey};
use civkey_proto::ErrorCode;

use super::{verify_signature, ServiceError, Services};
use crate::domain::CitizenId;
use crate::store::{Cutoffs, DeviceRecord};

/// A device's "last used" time is written at most this often (seconds).
pub const LAST_USED_EVERY_SECS: u64 = 60;

/// Whether a device last used at `last_used_at` should have its "last used" written at `now`
/// (never written, or [`LAST_USED_EVERY_SECS`] ago or more).
pub fn last_used_is_due(last_used_at: Option<u64>, now: u64) -> bool {
    last_used_at.is_none_or(|at| now.saturating_sub(at) >= LAST_USED_EVERY_SECS)
}

impl Services {
    /// Authenticates a device call: a known, connected device; a timestamp within the allowed
    /// skew; a signature over method, path, body, time and nonce; a nonce never seen before.
    /// The signature is checked before the nonce is recorded, so nobody can burn a device's
    /// nonces without its key.
    pub async fn authenticate_device_call(
        &self,
        method: &str,
        path_and_query: &str,
        body: &[u8],
        auth: &DeviceCallAuth,
    ) -> Result<DeviceRecord, ServiceError> {
        let device = self.store.device(&auth.device_id).await?.ok_or_else(|| {
            ServiceError::refused(
                ErrorCode::DeviceUnknown,
                "this device is not paired with this server",
            )
        })?;
        if device.disconnected_at.is_some() {
            return Err(ServiceError::refused(
                ErrorCode::DeviceDisconnected,
                "this device was disconnected; pair it again from the portal",
            ));
        }
        let now = self.clock.now();
        if now.abs_diff(auth.timestamp) > DEVICE_CALL_MAX_SKEW_SECS {
            return Err(ServiceError::refused(
                ErrorCode::Replayed,
                "the request's time is too far from the server's; check the device's clock",
            ));
        }
        let key = DevicePublicKey::parse(&device.public_key).map_err(|_| {
            ServiceError::Internal(format!("stored key of device {} is corrupt", device.id))
        })?;
        let call = DeviceCall {
            origin: &self.origin,
            device_id: &auth.device_id,
            method,
            path_and_query,
            body,
            timestamp: auth.timestamp,
            nonce: &auth.nonce,
        };
        verify_signature(&key, &call.signed_bytes(), &auth.signature)?;
        if !self
            .store
            .record_nonce(&device.id, &auth.nonce.to_text(), now)
            .await?
        {
            return Err(ServiceError::refused(
                ErrorCode::Replayed,
                "this request was already received",
            ));
        }
        // "Last used" is shown to the minute: a device making calls in a row writes it once.
        if last_used_is_due(device.last_used_at, now) {
            self.store.touch_device(&device.id, now).await?;
        }
        Ok(device)
    }

    /// Forgets device-call nonces older than twice the allowed skew (a call that old is refused as
    /// stale anyway), so the nonce table stays small.
    pub async fn prune_nonces(&self) -> Result<u64, ServiceError> {
        let before = self
            .clock
            .now()
            .saturating_sub(2 * DEVICE_CALL_MAX_SKEW_SECS);
        Ok(self.store.prune_nonces(before).await?)
    }

    /// The citizen's connected devices as stored (name, model, kind, dates, notification
    /// switches), most recently paired first: what the portal's pages show.
    pub async fn active_devices(
        &self,
        citizen_id: &CitizenId,
    ) -> Result<Vec<DeviceRecord>, ServiceError> {
        Ok(self.store.active_devices(citizen_id).await?)
    }

    /// The citizen's connected devices, as the app and the portal list them.
    pub async fn list_devices(&self, citizen_id: &CitizenId) -> Result<DeviceList, ServiceError> {
        let records = self.store.active_devices(citizen_id).await?;
        Ok(DeviceList {
            devices: records.iter().filter_map(summary).collect(),
        })
    }

    /// Renames a device of the citizen.
    pub async fn rename_device(
        &self,
        citizen_id: &CitizenId,
        device_id: &DeviceId,
        name: &DeviceName,
    ) -> Result<(), ServiceError> {
        if self
            .store
            .rename_device(citizen_id, device_id, name.as_str())
            .await?
        {
            Ok(())
        } else {
            Err(ServiceError::refused(
                ErrorCode::NotFound,
                "no such connected device",
            ))
        }
    }

    /// Disconnects a device of the citizen; it is refused at once from then on.
    pub async fn disconnect_device(
        &self,
        citizen_id: &CitizenId,
        device_id: &DeviceId,
    ) -> Result<(), ServiceError> {
        let device = self.store.device(device_id).await?;
        if self
            .store
            .disconnect_device(citizen_id, device_id, self.clock.now())
            .await?
        {
            self.signal.notify(&format!("device:{device_id}"));
            // Ends the device's own event stream, and tells the citizen's other channels.
            self.signal.notify(&super::notify::events_key(citizen_id));
            if let Some(device) = device {
                let what = super::notify::Informative::DeviceDisconnected {
                    device_name: device.name,
                };
                self.notify_informative(citizen_id, &what).await;
            }
            Ok(())
        } else {
            Err(ServiceError::refused(
                ErrorCode::NotFound,
                "no such connected device",
            ))
        }
    }
}

/// A stored device as the wire type; rows that no longer parse are skipped (and logged).
fn summary(d: &DeviceRecord) -> Option<DeviceSummary> {
    let kind = match d.kind.as_str() {
        "phone" => DeviceKind::Phone,
        "tablet" => DeviceKind::Tablet,
        _ => DeviceKind::Desktop,
    };
    let parsed = (DeviceName::parse(&d.name), DeviceModel::parse(&d.model));
    match parsed {
        (Ok(name), Ok(model)) => Some(DeviceSummary {
            id: d.id,
            name,
            model,
            kind,
            paired_at: d.paired_at,
            last_used_at: d.last_used_at,
        }),
        _ => {
            tracing::error!(device = %d.id, "stored device does not parse; left out of the list");
            None
        }
    }
}

/// Expired pairing sessions and login requests are kept this long after expiry (a late visitor
/// reads "expired", not "unknown").
pub const FLOW_RETENTION_SECS: u64 = 24 * 3600;
/// Rate-limit windows are kept this long (far longer than a window).
pub const RATE_LIMIT_RETENTION_SECS: u64 = 24 * 3600;
/// Delivered (or given-up) notifications and events are kept this long: a device that comes back
/// after longer gets the events since then only.
pub const NOTIFICATION_RETENTION_SECS: u64 = 90 * 24 * 3600;

impl Services {
    /// One round of housekeeping: forgets device-call nonces that can no longer be replayed,
    /// onboardings that expired unused a day ago, and what [`crate::store::Store::prune`] deletes
    /// (expired sessions, codes and tokens; pairing sessions and login requests a day after
    /// expiry; old rate-limit windows; notifications delivered and events older than 90 days).
    /// Login history, BOK verifications and the onboarding record are kept.
    pub async fn housekeeping(&self) -> Result<u64, ServiceError> {
        let now = self.clock.now();
        let nonces = self.prune_nonces().await?;
        let onboardings = self.prune_onboardings().await?;
        let pruned = self
            .store
            .prune(&Cutoffs {
                expired: now,
                flows: now.saturating_sub(FLOW_RETENTION_SECS),
                rate_limits: now.saturating_sub(RATE_LIMIT_RETENTION_SECS),
                notifications: now.saturating_sub(NOTIFICATION_RETENTION_SECS),
            })
            .await?;
        let total = nonces + onboardings + pruned.total();
        if pruned.total() + onboardings > 0 {
            tracing::info!(?pruned, onboardings, "housekeeping forgot old rows");
        }
        Ok(total)
    }
}

/// Runs [`Services::housekeeping`] every `every` until the process ends.
pub fn spawn_housekeeping(services: Services, every: Duration) {
    tokio::spawn(async move {
        loop {
            if let Err(e) = services.housekeeping().await {
                tracing::error!(error = %e, "housekeeping failed");
            }
            tokio::time::sleep(every).await;
        }
    });
}

#[cfg(test)]
mod tests;
