//! The server's event stream for one identity (`GET /api/v1/events`, a signed device call
//! answered with server-sent events): login notifications, BOK requests, informative
//! notifications, disconnected devices.
//!
//! Each event has `id:` (increasing), `event:` (its kind) and `data:` (a
//! [`civkey_proto::events::Event`] as JSON). [`EventStream`] remembers the last id it saw and,
//! when the connection drops, the server goes quiet for [`IDLE_LIMIT`] or a connection has been
//! open for [`CONNECTION_LIMIT`], opens it again with `Last-Event-ID` after a back-off (1 s,
//! doubling to [`MAX_BACKOFF`]; reset by the first event of a new connection). A server without
//! the stream (404) is [`StreamError::Unsupported`]: callers fall back to polling (see
//! [`crate::bok::wait_for_request`]). A refusal that another try will not change (the device was
//! disconnected, the signature is refused) is [`StreamError::Fatal`].

use std::collections::VecDeque;
use std::time::Duration;

use civkey_proto::events::Event;
use civkey_proto::{paths, ErrorCode};

use crate::profile::{Identity, Profile};
use crate::server_api::{ApiFailure, StoredKey};
use crate::ClientError;

/// Without a byte from the server (an event or a keep-alive comment) for this long, the
/// connection is taken as dead and opened again.
pub const IDLE_LIMIT: Duration = Duration::from_secs(90);
/// A connection is opened anew after this long (a fresh signed request), resuming after the
/// last event.
pub const CONNECTION_LIMIT: Duration = Duration::from_secs(15 * 60);
/// The longest wait between two tries.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// The longest line the parser keeps (an event's JSON is a few hundred bytes).
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// Why the stream gave no event.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// The server has no event stream (an older server): poll instead.
    #[error("the server has no event stream")]
    Unsupported,
    /// Another try will not help (the device was disconnected, the call is refused).
    #[error(transparent)]
    Fatal(ClientError),
    /// The connection failed or dropped; [`EventStream::next`] tries again after a back-off.
    #[error(transparent)]
    Transient(ClientError),
}

/// One server-sent event as read off the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseMessage {
    /// The `id:` field, if the event had one.
    pub id: Option<String>,
    /// The `event:` field (`message` when absent).
    pub event: String,
    /// The `data:` lines joined with `\n`.
    pub data: String,
}

/// A server-sent events parser (the WHATWG rules, without `retry:`): fed bytes as they come,
/// gives the complete events. Comments (`:` lines, keep-alives) are skipped.
#[derive(Debug, Default)]
pub struct SseParser {
    line: Vec<u8>,
    data: Option<String>,
    event: Option<String>,
    id: Option<String>,
    /// The line ended with `\r`; a `\n` right after it belongs to the same line end.
    after_cr: bool,
    overlong: bool,
}

impl SseParser {
    /// Feeds `bytes`; returns the events they completed.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<SseMessage> {
        let mut out = Vec::new();
        for &byte in bytes {
            if self.after_cr {
                self.after_cr = false;
                if byte == b'\n' {
                    continue;
                }
            }
            match byte {
                b'\n' | b'\r' => {
                    self.after_cr = byte == b'\r';
                    let line = std::mem::take(&mut self.line);
                    if std::mem::take(&mut self.overlong) {
                        // Drop the whole event it belonged to.
                        self.data = None;
                        self.event = None;
                        continue;
                    }
                    if let Some(message) = self.line_done(&line) {
                        out.push(message);
                    }
                }
                _ if self.line.len() >= MAX_LINE_BYTES => self.overlong = true,
                _ => self.line.push(byte),
            }
        }
        out
    }

    fn line_done(&mut self, line: &[u8]) -> Option<SseMessage> {
        if line.is_empty() {
            let mut data = self.data.take()?;
            data.pop();
            return Some(SseMessage {
                id: self.id.clone(),
                event: self.event.take().unwrap_or_else(|| "message".into()),
                data,
            });
        }
        let line = String::from_utf8_lossy(line);
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line.as_ref(), ""),
        };
        match field {
            "data" => {
                let data = self.data.get_or_insert_with(String::new);
                data.push_str(value);
                data.push('\n');
            }
            "event" => self.event = Some(value.to_string()),
            "id" if !value.contains('\0') => self.id = Some(value.to_string()),
            _ => {}
        }
        None
    }
}

/// The event stream of one identity, reconnecting by itself. Cancel-safe: dropping a
/// [`EventStream::next`] future loses no event.
pub struct EventStream {
    profile: Profile,
    identity: Identity,
    path: String,
    last_id: Option<String>,
    response: Option<reqwest::Response>,
    opened_at: Option<tokio::time::Instant>,
    parser: SseParser,
    ready: VecDeque<Event>,
    backoff: Duration,
    failed: bool,
}

impl EventStream {
    /// The stream of `identity`'s events, from now on.
    pub fn new(profile: Profile, identity: Identity) -> Self {
        EventStream {
            profile,
            identity,
            path: paths::EVENTS.to_string(),
            last_id: None,
            response: None,
            opened_at: None,
            parser: SseParser::default(),
            ready: VecDeque::new(),
            backoff: Duration::ZERO,
            failed: false,
        }
    }

    /// Resumes after the event `id` (sent as `Last-Event-ID`).
    pub fn after(mut self, id: u64) -> Self {
        self.last_id = Some(id.to_string());
        self
    }

    /// Reads from `path` instead of `/api/v1/events` (tests).
    pub fn at_path(mut self, path: &str) -> Self {
        self.path = path.to_string();
        self
    }

    /// The id of the last event seen, to resume from.
    pub fn last_id(&self) -> Option<&str> {
        self.last_id.as_deref()
    }

    /// The identity whose events these are.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// Opens the connection now (when not open): the answer's status is known when this returns.
    pub async fn connect(&mut self) -> Result<(), StreamError> {
        if self.response.is_some() {
            return Ok(());
        }
        let key = StoredKey {
            store: self.profile.store(),
            key: &self.identity.key,
            public_key: self.identity.public_key.clone(),
        };
        let api = self
            .profile
            .server(&self.identity.origin)
            .map_err(StreamError::Fatal)?;
        match api
            .device_stream(
                &self.identity.device_id,
                &key,
                &self.path,
                self.last_id.as_deref(),
                CONNECTION_LIMIT,
            )
            .await
        {
            Ok(response) => {
                self.response = Some(response);
                self.opened_at = Some(tokio::time::Instant::now());
                self.parser = SseParser::default();
                Ok(())
            }
            Err(ApiFailure::NotFound) => Err(StreamError::Unsupported),
            Err(ApiFailure::Refused(e)) if e.code == ErrorCode::NotFound => {
                Err(StreamError::Unsupported)
            }
            Err(ApiFailure::Refused(e)) if is_fatal(e.code) => {
                Err(StreamError::Fatal(ApiFailure::Refused(e).into()))
            }
            Err(ApiFailure::KeyStore(e)) => Err(StreamError::Fatal(e.into())),
            Err(other) => Err(StreamError::Transient(other.into())),
        }
    }

    /// The next event. A stream that drops or goes quiet is reopened after a back-off without a
    /// word; a connection that cannot be opened comes back as [`StreamError::Transient`] (so a
    /// caller can show that it is offline; calling `next` again tries again after the back-off).
    /// [`StreamError::Unsupported`] and [`StreamError::Fatal`] are final.
    pub async fn next(&mut self) -> Result<Event, StreamError> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Ok(event);
            }
            if self.response.is_none() {
                if self.failed {
                    tokio::time::sleep(self.backoff).await;
                    self.failed = false;
                }
                if let Err(e) = self.connect().await {
                    return Err(self.failure(e));
                }
            }
            let Some(response) = self.response.as_mut() else {
                continue;
            };
            let chunk = tokio::time::timeout(IDLE_LIMIT, response.chunk()).await;
            match chunk {
                Ok(Ok(Some(bytes))) => {
                    for message in self.parser.push(&bytes) {
                        if let Some(event) = self.accept(message) {
                            self.ready.push_back(event);
                            self.backoff = Duration::ZERO;
                        }
                    }
                }
                Ok(Ok(None)) => {
                    self.response = None;
                    // A connection that ended after its limit is simply reopened.
                    let long = self.opened_at.is_some_and(|at| {
                        at.elapsed() + Duration::from_secs(5) >= CONNECTION_LIMIT
                    });
                    if !long {
                        let _ = self.failure(StreamError::Transient(ClientError::Api(
                            ApiFailure::Unreachable("the event stream ended".into()),
                        )));
                    }
                }
                Ok(Err(e)) => {
                    self.response = None;
                    let _ = self.failure(StreamError::Transient(ClientError::Api(
                        ApiFailure::Unreachable(e.to_string()),
                    )));
                }
                Err(_idle) => {
                    self.response = None;
                }
            }
        }
    }

    /// Notes a failure: the next try waits longer.
    fn failure(&mut self, error: StreamError) -> StreamError {
        if matches!(error, StreamError::Transient(_)) {
            self.failed = true;
            self.backoff = (self.backoff * 2).clamp(Duration::from_secs(1), MAX_BACKOFF);
        }
        error
    }

    /// The event in `message`, remembering its id; `None` for what this client does not know
    /// (a newer server's kinds are skipped, not an error).
    fn accept(&mut self, message: SseMessage) -> Option<Event> {
        if let Some(id) = &message.id {
            self.last_id = Some(id.clone());
        }
        let event: Event = serde_json::from_str(&message.data).ok()?;
        if message.id.is_none() {
            self.last_id = Some(event.id.to_string());
        }
        Some(event)
    }
}

/// Refusals that another try does not change.
fn is_fatal(code: ErrorCode) -> bool {
    !matches!(
        code,
        ErrorCode::Internal | ErrorCode::RateLimited | ErrorCode::Replayed | ErrorCode::Unknown
    )
}

#[cfg(test)]
mod tests;
