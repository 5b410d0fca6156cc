//! Delivering the outbox: e-mail over SMTP (lettre), or — for the demo and development — appended
//! to a mailbox file under the data folder; events to the push endpoints devices registered (an
//! HTTP POST of the event JSON, UnifiedPush / WebPush style — encrypted to the device's keys per
//! RFC 8291 when it registered keys, see [`crate::services::webpush`]); SMS through an HTTP gateway. A worker
//! delivers what is due, retries failures with exponential backoff, records every attempt, and
//! gives up only on what can no longer matter (an expired BOK request, an endpoint that is gone).

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tokio::io::AsyncWriteExt;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use civkey_proto::device::{PushAuthSecret, PushPublicKey};
use civkey_proto::events::PushWakeUp;
use civkey_proto::ids::DeviceId;

use crate::domain::Channel;
use crate::services::push_guard::{PushPolicy, PushRefusal};
use crate::services::Services;
use crate::store::OutboxMessage;

/// The change-signal key the worker waits on.
pub const OUTBOX_KEY: &str = "outbox";

/// Where e-mail goes.
#[derive(Clone)]
pub enum Mailer {
    /// An SMTP server.
    Smtp {
        /// The transport (`smtp://`, `smtps://` or `smtp://…?tls=required` URL).
        transport: Box<AsyncSmtpTransport<Tokio1Executor>>,
        /// The sender.
        from: Mailbox,
    },
    /// A file that each message is appended to (demo).
    Mailbox(PathBuf),
}

impl Mailer {
    /// An SMTP mailer for `url` sending as `from`.
    pub fn smtp(url: &str, from: &str) -> Result<Mailer, String> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| format!("invalid SMTP URL: {e}"))?
            .timeout(Some(Duration::from_secs(20)))
            .build();
        let transport = Box::new(transport);
        let from = from
            .parse()
            .map_err(|e| format!("invalid sender address {from:?}: {e}"))?;
        Ok(Mailer::Smtp { transport, from })
    }

    async fn send(&self, m: &OutboxMessage) -> Result<(), String> {
        match self {
            Mailer::Smtp { transport, from } => {
                let to: Mailbox = m
                    .recipient
                    .parse()
                    .map_err(|e| format!("invalid recipient: {e}"))?;
                let email = Message::builder()
                    .from(from.clone())
                    .to(to)
                    .subject(&m.subject)
                    .body(m.body.clone())
                    .map_err(|e| format!("cannot build the message: {e}"))?;
                transport
                    .send(email)
                    .await
                    .map(|_| ())
                    .map_err(|e| format!("SMTP: {e}"))
            }
            Mailer::Mailbox(path) => {
                let entry = format!(
                    "To: {}\nSubject: {}\n\n{}\n\n",
                    m.recipient, m.subject, m.body
                );
                let failed = |e: std::io::Error| format!("mailbox {}: {e}", path.display());
                // Its folder is the data folder, which a server on PostgreSQL never made.
                if let Some(folder) = path.parent().filter(|f| !f.as_os_str().is_empty()) {
                    tokio::fs::create_dir_all(folder).await.map_err(failed)?;
                }
                let mut file = tokio::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .await
                    .map_err(failed)?;
                file.write_all(entry.as_bytes()).await.map_err(failed)?;
                // tokio writes in the background: the message counts as delivered only once the
                // bytes are in the file, not when they were handed over.
                file.flush().await.map_err(failed)?;
                file.sync_data().await.map_err(failed)
            }
        }
    }
}

/// Seconds to wait before attempt `attempts + 1`: 5 s doubling, at most an hour.
pub fn backoff(attempts: u64) -> u64 {
    backoff_from(DEFAULT_FIRST_RETRY_SECS, attempts)
}

/// Seconds to wait before attempt `attempts + 1` when the first retry waits `first` seconds:
/// doubling each time, at most an hour.
pub fn backoff_from(first: u64, attempts: u64) -> u64 {
    first
        .max(1)
        .saturating_mul(1 << attempts.min(20))
        .min(MAX_RETRY_SECS)
}

/// The first retry's wait unless configured (`--delivery-retry-secs`).
pub const DEFAULT_FIRST_RETRY_SECS: u64 = 5;
/// The longest wait between two attempts.
pub const MAX_RETRY_SECS: u64 = 3600;
/// How long a push endpoint or the SMS gateway may take to answer unless configured.
pub const DEFAULT_HTTP_TIMEOUT_SECS: u64 = 10;
/// The longest wait for a push endpoint's or the SMS gateway's TCP connection (and TLS), within
/// the whole request's timeout.
pub const CONNECT_TIMEOUT_SECS: u64 = 5;

/// An HTTP SMS gateway: `POST {url}` with `{"to": "+420…", "text": "…"}`, and the bearer token
/// when one is set. Its `Debug` output never shows the token.
#[derive(Clone)]
pub struct SmsGateway {
    /// The gateway's URL.
    pub url: String,
    /// `Authorization: Bearer …`, if the gateway wants one.
    pub token: Option<zeroize::Zeroizing<String>>,
}

impl std::fmt::Debug for SmsGateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmsGateway")
            .field("url", &self.url)
            .field("token", &self.token.as_ref().map(|_| "…"))
            .finish()
    }
}

/// Everything the delivery worker sends through: e-mail, push endpoints, the SMS gateway.
#[derive(Clone)]
pub struct Delivery {
    /// Where e-mail goes.
    pub mailer: Mailer,
    /// The SMS gateway; without one SMS rows wait (recorded as "no SMS gateway configured").
    pub sms: Option<SmsGateway>,
    /// How long a push endpoint or the SMS gateway may take to answer.
    pub http_timeout: Duration,
    /// The first retry's wait, in seconds (then doubling, at most an hour).
    pub first_retry_secs: u64,
    http: reqwest::Client,
}

impl From<Mailer> for Delivery {
    fn from(mailer: Mailer) -> Self {
        Delivery::new(
            mailer,
            None,
            Duration::from_secs(DEFAULT_HTTP_TIMEOUT_SECS),
            DEFAULT_FIRST_RETRY_SECS,
        )
    }
}

/// What one attempt came to.
enum Attempt {
    Delivered,
    /// Try again after the backoff.
    Retry(String),
    /// Not attempted, and not to be (expired, the device or its endpoint changed).
    GiveUp(String),
    /// Attempted, and not to be tried again (the push endpoint is gone).
    Gone(String),
}

impl Delivery {
    /// Delivery through `mailer`, the SMS gateway `sms`, with `http_timeout` for each push and SMS
    /// request and `first_retry_secs` before the first retry.
    pub fn new(
        mailer: Mailer,
        sms: Option<SmsGateway>,
        http_timeout: Duration,
        first_retry_secs: u64,
    ) -> Delivery {
        // The SMS gateway's client (pushes go through the services' push policy, which checks
        // where they go). No redirects: the gateway cannot send the request somewhere else.
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(http_timeout)
            .connect_timeout(http_timeout.min(Duration::from_secs(CONNECT_TIMEOUT_SECS)))
            .user_agent(concat!("civkey-server/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        Delivery {
            mailer,
            sms,
            http_timeout,
            first_retry_secs,
            http,
        }
    }

    async fn attempt(&self, services: &Services, m: &OutboxMessage, now: u64) -> Attempt {
        if m.expires_at.is_some_and(|t| now >= t) {
            return Attempt::GiveUp("expired before it could be delivered".into());
        }
        let result = match m.channel {
            Channel::Email => self.mailer.send(m).await,
            Channel::EmailCode => {
                // A citizen's request for an e-mail code: the code is made now, for the account's
                // address. No such account (or no address): nothing to send, and done.
                match services.email_code_message(m).await {
                    Ok(Some(email)) => self.mailer.send(&email).await,
                    Ok(None) => Ok(()),
                    Err(e) => Err(format!("cannot make the e-mail code: {e}")),
                }
            }
            Channel::Sms => self.send_sms(m).await,
            Channel::Push => return self.push(services, m, now).await,
        };
        match result {
            Ok(()) => Attempt::Delivered,
            Err(e) => Attempt::Retry(e),
        }
    }

    /// Describes a failed HTTP request without its URL (a push endpoint is a capability).
    fn http_error(&self, what: &str, e: reqwest::Error) -> String {
        if e.is_timeout() {
            format!(
                "{what} did not answer within {} s (timeout)",
                self.http_timeout.as_secs_f32()
            )
        } else if e.is_connect() {
            format!("{what} is unreachable (connection failed)")
        } else {
            format!("{what} failed: {}", e.without_url())
        }
    }

    async fn send_sms(&self, m: &OutboxMessage) -> Result<(), String> {
        let Some(gateway) = &self.sms else {
            return Err("no SMS gateway configured".into());
        };
        let mut request = self
            .http
            .post(&gateway.url)
            .json(&serde_json::json!({ "to": m.recipient, "text": m.body }));
        if let Some(token) = &gateway.token {
            request = request.bearer_auth(token.as_str());
        }
        let response = request
            .send()
            .await
            .map_err(|e| self.http_error("the SMS gateway", e))?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("the SMS gateway answered HTTP {}", status.as_u16()))
        }
    }

    /// POSTs the event to the device's push endpoint (WebPush-style `TTL` and `Urgency`):
    /// encrypted to the device's current keys (RFC 8291, `Content-Encoding: aes128gcm`) when it
    /// registered keys; otherwise only a [`PushWakeUp`] with the event's id, which the push
    /// provider may read, and the device fetches the event over its signed stream.
    ///
    /// The outbox keeps the event JSON and the encryption happens here, per attempt: the keys are
    /// read with the endpoint the row is checked against (a re-registration with new keys is
    /// honoured), each attempt gets a fresh key and salt, and the outbox stays portable text.
    async fn push(&self, services: &Services, m: &OutboxMessage, now: u64) -> Attempt {
        let Some(device_id) = &m.device_id else {
            return Attempt::GiveUp("a push row without a device".into());
        };
        let stored_keys = match services.store.device(device_id).await {
            Ok(Some(d)) if d.disconnected_at.is_none() => {
                if d.push_endpoint.as_deref() != Some(m.recipient.as_str()) {
                    return Attempt::GiveUp(
                        "the device changed or removed its push endpoint".into(),
                    );
                }
                d.push_keys
            }
            Ok(_) => return Attempt::GiveUp("the device was disconnected".into()),
            Err(e) => return Attempt::Retry(format!("cannot read the device: {e}")),
        };
        let (content_type, encoding, body) = match stored_keys {
            None => {
                // The event's own JSON reads as a wake-up: its `id`, nothing else.
                let wake_up = serde_json::from_str::<PushWakeUp>(&m.body)
                    .and_then(|w| serde_json::to_vec(&w));
                match wake_up {
                    Ok(body) => ("application/json", None, body),
                    Err(e) => {
                        return Attempt::GiveUp(format!("the stored event does not read: {e}"))
                    }
                }
            }
            Some(stored) => {
                // Checked when registered; keys that no longer read get no push, not a wake-up.
                let keys = match (
                    PushPublicKey::parse(&stored.p256dh),
                    PushAuthSecret::parse(&stored.auth),
                ) {
                    (Ok(p256dh), Ok(auth)) => (p256dh, auth),
                    _ => {
                        return Attempt::GiveUp("the device's stored push keys are invalid".into())
                    }
                };
                match crate::services::webpush::encrypt_for_push(
                    m.body.as_bytes(),
                    &keys.0,
                    &keys.1,
                ) {
                    Ok(body) => ("application/octet-stream", Some("aes128gcm"), body),
                    Err(e) => return Attempt::GiveUp(format!("cannot encrypt the push: {e}")),
                }
            }
        };
        let ttl = m
            .expires_at
            .map_or(crate::services::notify::PUSH_TTL_SECS, |t| {
                t.saturating_sub(now)
            });
        let urgency = if m.subject == "bok_request" {
            "high"
        } else {
            "normal"
        };
        // Checked again at every send (DNS can change): through the push policy's own client,
        // which connects only to the addresses it checked.
        let request = match services.push.post(&m.recipient) {
            Ok(request) => request,
            Err(refusal) => return Attempt::GiveUp(refused_push(&refusal)),
        };
        let mut request = request
            .timeout(self.http_timeout)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .header("TTL", ttl.to_string())
            .header("Urgency", urgency);
        if let Some(encoding) = encoding {
            request = request.header(reqwest::header::CONTENT_ENCODING, encoding);
        }
        let sent = request.body(body).send().await;
        let response = match sent {
            Ok(r) => r,
            Err(e) => {
                return match PushPolicy::refusal_in(&e) {
                    Some(refusal) => Attempt::GiveUp(refused_push(&refusal)),
                    None => Attempt::Retry(self.http_error("the push endpoint", e)),
                }
            }
        };
        let status = response.status().as_u16();
        match status {
            200..=299 => Attempt::Delivered,
            404 | 410 => {
                if let Err(e) = services
                    .store
                    .clear_push_endpoint(device_id, &m.recipient)
                    .await
                {
                    tracing::error!(error = %e, "cannot clear a push endpoint that is gone");
                }
                Attempt::Gone(format!(
                    "the push endpoint is gone (HTTP {status}); it was removed from the device"
                ))
            }
            _ => Attempt::Retry(format!("the push endpoint answered HTTP {status}")),
        }
    }
}

/// The recorded reason of a push the policy refused (it names the host, never the path).
fn refused_push(refusal: &PushRefusal) -> String {
    format!("the push endpoint is refused: {refusal}")
}

/// How long a delivery worker holds the messages it claimed before another may try them (when it
/// stopped mid-attempt). Far longer than an attempt takes (HTTP and SMTP time out sooner).
pub const CLAIM_LEASE_SECS: u64 = 300;

/// How long one attempt may take in all, whatever the channel: well inside the claim's lease, so
/// an attempt never outlives its claim (and another worker never sends the message while this one
/// still is). Each send has its own, shorter timeouts (HTTP: [`Delivery::http_timeout`]; SMTP:
/// 20 s per exchange).
pub const ATTEMPT_DEADLINE_SECS: u64 = CLAIM_LEASE_SECS / 2;

/// A worker's delivery lanes: each channel family sends through its own slots, so pushes (to
/// endpoints that devices chose, any of which may be slow or a tarpit) never take the slots of
/// e-mail and SMS, and a push to one device never waits for another's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lane {
    Mail,
    Sms,
    Push,
}

impl Lane {
    const ALL: [Lane; 3] = [Lane::Mail, Lane::Sms, Lane::Push];

    fn channels(self) -> &'static [Channel] {
        match self {
            Lane::Mail => &[Channel::Email, Channel::EmailCode],
            Lane::Sms => &[Channel::Sms],
            Lane::Push => &[Channel::Push],
        }
    }

    /// Attempts in flight at once in the lane.
    fn slots(self) -> usize {
        match self {
            Lane::Mail => MAIL_SLOTS,
            Lane::Sms => SMS_SLOTS,
            Lane::Push => PUSH_SLOTS,
        }
    }
}

/// E-mail attempts (codes and notifications) in flight at once.
pub const MAIL_SLOTS: usize = 16;
/// SMS attempts in flight at once.
pub const SMS_SLOTS: usize = 8;
/// Push attempts in flight at once; each device has at most one of them, so a device whose
/// endpoint never answers holds one slot, and its other pushes wait unclaimed.
pub const PUSH_SLOTS: usize = 32;

/// The devices with a push in flight in this worker.
type BusyDevices = Arc<Mutex<HashSet<DeviceId>>>;

/// A device's turn to be pushed to: while it lives, no other push to the device starts.
struct DeviceTurn {
    busy: BusyDevices,
    device: DeviceId,
}

impl DeviceTurn {
    fn take(busy: &BusyDevices, device: DeviceId) -> Option<DeviceTurn> {
        let mut devices = busy.lock().unwrap_or_else(|p| p.into_inner());
        devices.insert(device).then(|| DeviceTurn {
            busy: Arc::clone(busy),
            device,
        })
    }
}

impl Drop for DeviceTurn {
    fn drop(&mut self) {
        let mut devices = self.busy.lock().unwrap_or_else(|p| p.into_inner());
        devices.remove(&self.device);
    }
}

/// The slots of a worker's lanes and its devices with a push in flight.
struct Lanes {
    slots: [Arc<Semaphore>; 3],
    busy: BusyDevices,
}

impl Lanes {
    fn new() -> Lanes {
        Lanes {
            slots: Lane::ALL.map(|lane| Arc::new(Semaphore::new(lane.slots()))),
            busy: BusyDevices::default(),
        }
    }

    /// Claims what is due for each lane's free slots (pushes only to devices with none in
    /// flight, one per device) and starts each attempt in `tasks`, which answer whether the
    /// message was delivered. Returns at once: the attempts run on.
    async fn start_due(&self, services: &Services, delivery: &Delivery, tasks: &mut JoinSet<bool>) {
        for (lane, slots) in Lane::ALL.into_iter().zip(&self.slots) {
            loop {
                let free = slots.available_permits();
                if free == 0 {
                    break;
                }
                let skip: Vec<DeviceId> = if lane == Lane::Push {
                    let busy = self.busy.lock().unwrap_or_else(|p| p.into_inner());
                    busy.iter().copied().collect()
                } else {
                    Vec::new()
                };
                let now = services.clock.now();
                let claimed = services
                    .store
                    .claim_due_on(
                        lane.channels(),
                        &skip,
                        now,
                        now + CLAIM_LEASE_SECS,
                        free as i64,
                    )
                    .await;
                let claimed = match claimed {
                    Ok(claimed) => claimed,
                    Err(e) => {
                        tracing::error!(error = %e, "cannot read the outbox");
                        break;
                    }
                };
                let mut released = false;
                for message in claimed {
                    let turn = match message.device_id.filter(|_| lane == Lane::Push) {
                        Some(device) => match DeviceTurn::take(&self.busy, device) {
                            Some(turn) => Some(turn),
                            None => {
                                // A second push to the device in this claim: it waits its turn.
                                release(services, &message).await;
                                released = true;
                                continue;
                            }
                        },
                        None => None,
                    };
                    let Ok(slot) = Arc::clone(slots).try_acquire_owned() else {
                        release(services, &message).await;
                        continue;
                    };
                    let (services, delivery) = (services.clone(), delivery.clone());
                    tasks.spawn(async move {
                        let delivered = deliver_one(&services, &delivery, &message).await;
                        drop((slot, turn));
                        delivered
                    });
                }
                // What was let go may have kept others out of this claim: claim again, now
                // without the devices that have their push in flight.
                if !released {
                    break;
                }
            }
        }
    }
}

/// Lets go of a claimed message unattempted.
async fn release(services: &Services, message: &OutboxMessage) {
    if let Err(e) = services.store.release_claim(&message.id).await {
        tracing::error!(error = %e, "cannot let go of an outbox message");
    }
}

/// Attempts `message` once (within [`ATTEMPT_DEADLINE_SECS`]) and records the outcome: delivered,
/// failed with its error and the next attempt's time, or given up. Answers whether it was
/// delivered.
async fn deliver_one(services: &Services, delivery: &Delivery, message: &OutboxMessage) -> bool {
    let now = services.clock.now();
    let attempt = tokio::time::timeout(
        Duration::from_secs(ATTEMPT_DEADLINE_SECS),
        delivery.attempt(services, message, now),
    )
    .await
    .unwrap_or_else(|_| {
        Attempt::Retry(format!(
            "the attempt did not end within {ATTEMPT_DEADLINE_SECS} s"
        ))
    });
    let now = services.clock.now();
    let (delivered, recorded) = match attempt {
        Attempt::Delivered => {
            tracing::info!(id = %message.id, channel = %message.channel, "message delivered");
            (true, services.store.mark_delivered(&message.id, now).await)
        }
        Attempt::Retry(error) => {
            let wait = backoff_from(delivery.first_retry_secs, message.attempts);
            tracing::warn!(id = %message.id, channel = %message.channel, %error, retry_in = wait, "delivery failed");
            (
                false,
                services
                    .store
                    .mark_failed(&message.id, &error, now + wait)
                    .await,
            )
        }
        Attempt::GiveUp(error) => {
            tracing::warn!(id = %message.id, channel = %message.channel, %error, "delivery given up");
            (
                false,
                services.store.mark_given_up(&message.id, &error, now).await,
            )
        }
        Attempt::Gone(error) => {
            tracing::warn!(id = %message.id, channel = %message.channel, %error, "delivery given up");
            (
                false,
                services.store.mark_gone(&message.id, &error, now).await,
            )
        }
    };
    if let Err(e) = recorded {
        tracing::error!(error = %e, "cannot record a delivery attempt");
    }
    delivered
}

/// Claims the due messages (as far as the lanes' slots go) and delivers each once, concurrently;
/// returns how many were delivered. Workers of several server instances on one database share
/// the work: each message is claimed by one of them.
pub async fn deliver_due(services: &Services, delivery: &Delivery) -> u64 {
    let mut tasks = JoinSet::new();
    Lanes::new().start_due(services, delivery, &mut tasks).await;
    let mut delivered = 0;
    while let Some(done) = tasks.join_next().await {
        delivered += u64::from(done.unwrap_or(false));
    }
    delivered
}

/// Runs the delivery worker until the services' shutdown begins: starts what is due in each
/// lane's free slots, then waits for a new message (the change signal), an attempt that ends (a
/// slot comes free), or at most `poll` for retries that come due. Attempts run on while the
/// worker claims more, so a slow endpoint delays only its own messages.
///
/// At shutdown it claims nothing more and waits for the attempts under way, at most `grace`;
/// those still running then are dropped, and their messages, claimed for a while only, are sent
/// by another instance (or this one after its restart) once the claim runs out. The returned
/// handle completes when the worker has stopped.
pub fn spawn_worker(
    services: Services,
    delivery: impl Into<Delivery>,
    poll: Duration,
) -> tokio::task::JoinHandle<()> {
    let delivery = delivery.into();
    tokio::spawn(async move {
        let lanes = Lanes::new();
        let mut tasks = JoinSet::new();
        let stopping = services.shutdown.begun();
        tokio::pin!(stopping);
        loop {
            let mut wake = services.signal.subscribe(OUTBOX_KEY);
            lanes.start_due(&services, &delivery, &mut tasks).await;
            tokio::select! {
                () = wake.changed(poll) => {}
                Some(_) = tasks.join_next() => {}
                () = &mut stopping => break,
            }
            while tasks.try_join_next().is_some() {}
        }
        let grace = WORKER_SHUTDOWN_GRACE;
        let under_way = tasks.len();
        let finished =
            tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} }).await;
        if finished.is_err() {
            tracing::warn!(
                cut = tasks.len(),
                of = under_way,
                "delivery worker stopped: attempts still under way after {} s were cut (sent later)",
                grace.as_secs()
            );
        }
    })
}

/// How long the delivery worker waits at shutdown for the attempts under way.
pub const WORKER_SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

#[cfg(test)]
mod tests;
