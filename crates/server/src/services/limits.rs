//! Request-rate limits on what costs the server a row or a held stream, counted in the database's
//! fixed windows (`rate_limits`, the same buckets as the onboarding starts, so several instances
//! share them), and the cap on a device's open event streams (held per instance: the streams are
//! this process's connections).
//!
//! - `/oidc/authorize` writes a login request per request: counted per client address and per
//!   OIDC client ([`RequestLimits::authorize_per_address`], [`RequestLimits::authorize_per_client`]).
//! - The pages' event streams (the login page, the portal's connect page, the counter's BOK page)
//!   read the database every second while open: opens are counted per client address
//!   ([`RequestLimits::page_streams_per_address`]); a stream refused as unknown costs nothing and
//!   counts nowhere.
//! - A device's event stream: at most [`RequestLimits::streams_per_device`] open at once; a new one
//!   beyond that ends the oldest (see [`DeviceStreams`]).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use super::{ServiceError, Services};
use civkey_proto::ids::DeviceId;

use crate::domain::ClientId;

/// The fixed window every request-rate limit here counts in.
pub const WINDOW_SECS: u64 = 60;

/// The operator's request-rate limits (per [`WINDOW_SECS`]) and stream cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestLimits {
    /// Authorization requests one client address may make per window.
    pub authorize_per_address: u64,
    /// Authorization requests naming one OIDC client per window, from all addresses together.
    pub authorize_per_client: u64,
    /// Page event streams one client address may open per window.
    pub page_streams_per_address: u64,
    /// Event streams one device may hold open at once.
    pub streams_per_device: usize,
}

impl Default for RequestLimits {
    /// 600 logins a minute from one address (ten a second: far above a person's, but an office, a
    /// university or a mobile carrier's shared IPv4 address (CGNAT) puts many people behind one
    /// address), 120,000 a minute for one service (2,000 a second: twice what one
    /// server core completes, so a big service's deadline-day peak is not refused by default —
    /// operators size it to their largest service's peak), 120 page streams a
    /// minute from one address (a browser reconnects an `EventSource` every few seconds at most),
    /// 3 streams per device (the app, and the overlap while a dropped connection is replaced).
    fn default() -> Self {
        RequestLimits {
            authorize_per_address: 600,
            authorize_per_client: 120_000,
            page_streams_per_address: 120,
            streams_per_device: 3,
        }
    }
}

impl Services {
    /// Counts one request in `bucket`'s fixed window of `window_secs`; `rate_limited` with the
    /// seconds until the window ends when it is the `max + 1`-th or later. Counted first and
    /// decided on the count the statement returns, so parallel requests cannot all see room left;
    /// a refused request does not move the window's end.
    pub(crate) async fn count_request(
        &self,
        bucket: &str,
        max: u64,
        window_secs: u64,
    ) -> Result<(), ServiceError> {
        let now = self.clock.now();
        let (count, started) = self
            .store
            .count_in_window(bucket, now, now.saturating_sub(window_secs))
            .await?;
        if count > max {
            let retry_after = (started + window_secs).saturating_sub(now).max(1);
            return Err(ServiceError::RateLimited { retry_after });
        }
        Ok(())
    }

    /// Counts an authorization request about to store a login request: for its client address,
    /// then for its service (a request refused for its address counts nowhere else).
    pub async fn count_authorization(
        &self,
        address: &str,
        client: &ClientId,
    ) -> Result<(), ServiceError> {
        self.count_request(
            &format!("authorize-address:{address}"),
            self.limits.authorize_per_address,
            WINDOW_SECS,
        )
        .await?;
        self.count_request(
            &format!("authorize-client:{client}"),
            self.limits.authorize_per_client,
            WINDOW_SECS,
        )
        .await
    }

    /// Counts a page event stream about to open for `address`.
    pub async fn page_stream_opened(&self, address: &str) -> Result<(), ServiceError> {
        self.count_request(
            &format!("page-stream:{address}"),
            self.limits.page_streams_per_address,
            WINDOW_SECS,
        )
        .await
    }
}

/// The event streams open per device in this process, oldest first. Opening one beyond the cap
/// ends the oldest: a phone whose connection died without the server noticing (a network switch,
/// a NAT that forgot it) reconnects at once, and must not be locked out of its own events until
/// the dead stream's keep-alive fails.
#[derive(Default)]
pub struct DeviceStreams {
    open: Mutex<HashMap<DeviceId, VecDeque<OpenStream>>>,
    next: Mutex<u64>,
}

/// An open stream: its number, and what ends it when dropped.
type OpenStream = (u64, oneshot::Sender<()>);

/// One open stream's place: dropping it (the stream ended) gives the place back.
pub struct StreamSlot {
    streams: Arc<DeviceStreams>,
    device: DeviceId,
    id: u64,
}

impl DeviceStreams {
    /// Registers a new stream of `device`, ending the oldest when `cap` are open already. The
    /// receiver resolves when this stream is ended by a newer one.
    pub fn open(
        self: &Arc<Self>,
        device: &DeviceId,
        cap: usize,
    ) -> (StreamSlot, oneshot::Receiver<()>) {
        let id = {
            let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
            *next += 1;
            *next
        };
        let (ended, on_end) = oneshot::channel();
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let streams = open.entry(*device).or_default();
        // Dropping the sender resolves the oldest stream's receiver: it ends.
        while streams.len() >= cap.max(1) {
            streams.pop_front();
        }
        streams.push_back((id, ended));
        let slot = StreamSlot {
            streams: Arc::clone(self),
            device: *device,
            id,
        };
        (slot, on_end)
    }

    /// How many streams `device` holds open in this process.
    pub fn open_for(&self, device: &DeviceId) -> usize {
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.get(device).map_or(0, VecDeque::len)
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.streams.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(streams) = open.get_mut(&self.device) {
            streams.retain(|(id, _)| *id != self.id);
            if streams.is_empty() {
                open.remove(&self.device);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_beyond_the_cap_ends_the_oldest_and_the_last_one_leaves_nothing() {
        let streams = Arc::new(DeviceStreams::default());
        let device = DeviceId::from_bytes([1; 16]);
        let (first, mut first_end) = streams.open(&device, 2);
        let (_second, mut second_end) = streams.open(&device, 2);
        assert!(first_end.try_recv().is_err(), "still open");
        let (third, _third_end) = streams.open(&device, 2);
        assert!(
            matches!(
                first_end.try_recv(),
                Err(oneshot::error::TryRecvError::Closed)
            ),
            "the oldest was ended"
        );
        assert!(second_end.try_recv().is_err(), "the second is still open");
        assert_eq!(streams.open_for(&device), 2);
        drop(first);
        assert_eq!(
            streams.open_for(&device),
            2,
            "an ended slot was already gone"
        );
        drop(third);
        drop(_second);
        assert_eq!(streams.open_for(&device), 0);
        assert!(streams.open.lock().unwrap().is_empty(), "no entry left");
    }
}
