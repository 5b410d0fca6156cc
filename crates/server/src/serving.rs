//! Serving the router over TCP, with limits on what one client may hold: the accept loop that
//! `main`, the end-to-end tests and the benchmarks all serve through.
//!
//! - **A connection cap.** At most [`ServeLimits::max_connections`] connections are served at
//!   once. At the cap the loop stops accepting: new connections wait in the kernel's listen
//!   backlog (and beyond it the client's SYN retries) until a place frees, instead of being
//!   closed. A legitimate client then sees a delay rather than an error, and places free within
//!   the header timeout below, since a connection that sends nothing is cut.
//! - **A header read timeout.** A request head must arrive complete within
//!   [`ServeLimits::header_read_timeout`], counted from when the connection opens or its previous
//!   response ends (hyper's HTTP/1 timer starts again when a keep-alive connection goes idle): a
//!   slowloris client sending half a header, and an idle keep-alive connection, are both closed
//!   then. This is also the keep-alive idle timeout.
//! - **A body read timeout.** A request body must arrive complete within
//!   [`ServeLimits::body_read_timeout`] of its head. The deadline covers the whole body, not the
//!   gap between two reads, so a client trickling a byte a second gains nothing. A late body
//!   reads as an error ([`BodyTimedOut`]) and the handler refuses the request; the body size
//!   limits of the routes stay as they are.
//! - `TCP_NODELAY` on every connection: small responses and server-sent events go out at once
//!   instead of waiting for the peer's delayed ACK (p99 54 ms → 14 ms in the login benchmark).
//! - Graceful shutdown: when `shutdown` completes, the loop stops accepting (the listener is
//!   closed: new connections are refused, and a proxy sends them to another instance), idle
//!   connections close and requests in progress finish. Event streams end on their own when the
//!   server's [`crate::shutdown::Shutdown`] begins; a connection still open after
//!   [`SHUTDOWN_GRACE`] is cut, and the count is logged.

use std::convert::Infallible;
use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::{Request, Response};
use axum::{BoxError, Router};
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio::time::Sleep;

/// How long connections still open at shutdown may take to finish (under the 10 s a service
/// manager commonly waits after SIGTERM).
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(8);

/// What one connection may hold of the server (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeLimits {
    /// Connections served at once; more wait in the listen backlog.
    pub max_connections: usize,
    /// The time a request head may take, from the connection's start or its last response.
    pub header_read_timeout: Duration,
    /// The time a request body may take, from its head.
    pub body_read_timeout: Duration,
}

/// Connections served at once unless configured otherwise (each is a file descriptor: the
/// process's limit, `ulimit -n` or systemd's `LimitNOFILE`, must be higher).
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
/// Seconds a request head may take unless configured otherwise.
pub const DEFAULT_HEADER_READ_TIMEOUT_SECS: u64 = 15;
/// Seconds a request body may take unless configured otherwise (bodies here are at most a few
/// kilobytes of form or JSON).
pub const DEFAULT_BODY_READ_TIMEOUT_SECS: u64 = 30;

impl Default for ServeLimits {
    fn default() -> Self {
        ServeLimits {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            header_read_timeout: Duration::from_secs(DEFAULT_HEADER_READ_TIMEOUT_SECS),
            body_read_timeout: Duration::from_secs(DEFAULT_BODY_READ_TIMEOUT_SECS),
        }
    }
}

/// Serves `app` on `listener` within `limits` until `shutdown` completes, then shuts down
/// gracefully. Handlers can extract `ConnectInfo<SocketAddr>` (the TCP peer).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ServeLimits,
    shutdown: impl Future<Output = ()> + Send,
) {
    let places = Arc::new(Semaphore::new(limits.max_connections));
    let (stop, stopped) = watch::channel(false);
    let mut shutdown = pin!(shutdown);
    loop {
        let place = tokio::select! {
            place = Arc::clone(&places).acquire_owned() => place,
            () = &mut shutdown => break,
        };
        let Ok(place) = place else { break };
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = tcp.set_nodelay(true);
        let app = app.clone();
        let mut stopped = stopped.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                let mut app = app.clone();
                let mut request = request.map(|body| deadline_body(body, limits.body_read_timeout));
                request.extensions_mut().insert(ConnectInfo(peer));
                async move {
                    let response: Result<Response<Body>, Infallible> =
                        tower_service::Service::call(&mut app, request).await;
                    response
                }
            });
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout);
            let mut connection = pin!(http.serve_connection(TokioIo::new(tcp), service));
            let stopping = tokio::select! {
                _ = connection.as_mut() => false,
                _ = stopped.wait_for(|stop| *stop) => true,
            };
            if stopping {
                connection.as_mut().graceful_shutdown();
                let _ = tokio::time::timeout(SHUTDOWN_GRACE, connection).await;
            }
            drop(place);
        });
    }
    drop(listener);
    let _ = stop.send(true);
    // Every connection holds a place until it ends: all places back means all connections closed.
    let open = limits.max_connections - places.available_permits();
    if open > 0 {
        tracing::info!(open, "waiting for the open connections to finish");
    }
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    if tokio::time::timeout(SHUTDOWN_GRACE, places.acquire_many(all))
        .await
        .is_err()
    {
        let cut = limits.max_connections - places.available_permits();
        tracing::warn!(
            cut,
            "connections still open {} s after the shutdown began are cut",
            SHUTDOWN_GRACE.as_secs()
        );
    }
}

/// An accept that failed: a connection reset before it was taken is nothing; out of file
/// descriptors (or memory), wait a little for some to free instead of spinning.
async fn accept_failed(e: std::io::Error) {
    use std::io::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset | ErrorKind::ConnectionRefused
    ) {
        return;
    }
    tracing::error!(error = %e, "cannot accept a connection (too many open files?)");
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// The request body, wrapped with a deadline for the whole of it (a body-less request as is).
fn deadline_body(body: Incoming, timeout: Duration) -> Body {
    if http_body::Body::is_end_stream(&body) {
        return Body::new(body);
    }
    Body::new(DeadlineBody {
        inner: body,
        deadline: Box::pin(tokio::time::sleep(timeout)),
        timeout,
    })
}

/// A request body that must arrive complete before its deadline.
struct DeadlineBody {
    inner: Incoming,
    deadline: Pin<Box<Sleep>>,
    timeout: Duration,
}

/// The error a request body reads as when it arrived too slowly.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {} seconds", .0.as_secs())]
pub struct BodyTimedOut(Duration);

/// The [`BodyTimedOut`] behind a failed body read, if that is why it failed.
pub fn body_timed_out<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a BodyTimedOut> {
    let mut cause = Some(e);
    while let Some(e) = cause {
        if let Some(late) = e.downcast_ref::<BodyTimedOut>() {
            return Some(late);
        }
        cause = e.source();
    }
    None
}

impl http_body::Body for DeadlineBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(BoxError::from)));
        }
        if this.deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(Box::new(BodyTimedOut(this.timeout)))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
