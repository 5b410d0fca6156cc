//! The shutdown token: once [`Shutdown::begin`] is called (SIGTERM or Ctrl-C in
//! `civkey-server serve`), everything that would otherwise wait for long lets go, so the process
//! can exit within seconds and clients go on at another instance:
//!
//! - event streams (the portal's, the counter's and the login page's, and the devices') end
//!   cleanly ([`end_streams`]): browsers' `EventSource` and the app reconnect, through the proxy,
//!   to an instance that still serves;
//! - the app's long polls (pairing and onboarding outcomes) answer at once with where the flow
//!   stands, as when their wait runs out;
//! - the delivery worker claims nothing more and lets the attempts under way finish.
//!
//! Requests in flight are not cut by it: `serving::serve` lets them finish.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::Response;
use axum::BoxError;
use http_body::{Frame, SizeHint};
use tokio::sync::watch;

use crate::AppState;

/// Tells the parts of the server that hold on to clients that the process is stopping.
#[derive(Clone, Debug)]
pub struct Shutdown {
    began: Arc<watch::Sender<bool>>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Shutdown {
            began: Arc::new(watch::channel(false).0),
        }
    }
}

impl Shutdown {
    /// Starts the shutdown: every [`Shutdown::begun`] returns.
    pub fn begin(&self) {
        self.began.send_replace(true);
    }

    /// Whether the shutdown has begun.
    pub fn has_begun(&self) -> bool {
        *self.began.borrow()
    }

    /// Returns once the shutdown has begun (at once if it has).
    pub fn begun(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut began = self.began.subscribe();
        async move {
            // The sender lives in `self.began` as long as any clone, so this cannot fail while
            // anyone could still begin the shutdown; if it does, nobody will.
            if began.wait_for(|b| *b).await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}

/// Middleware: a response that is an event stream (`text/event-stream`) ends when the shutdown
/// begins, and counts as an open stream in the metrics while it lasts.
pub async fn end_streams(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let is_stream = response
        .headers()
        .get(CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    if !is_stream {
        return response;
    }
    let services = state.services();
    let open = services.metrics.stream_opened();
    let stop = Box::pin(services.shutdown.begun());
    response.map(|inner| {
        Body::new(EndingBody {
            inner,
            stop,
            _open: open,
        })
    })
}

/// A streamed body that ends (cleanly, as if the stream were over) once `stop` completes.
struct EndingBody {
    inner: Body,
    stop: Pin<Box<dyn Future<Output = ()> + Send>>,
    _open: crate::metrics::OpenStreamGuard,
}

impl http_body::Body for EndingBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if this.stop.as_mut().poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        Pin::new(&mut this.inner)
            .poll_frame(cx)
            .map(|f| f.map(|f| f.map_err(BoxError::from)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waiters_return_when_the_shutdown_begins_and_later_ones_at_once() {
        let shutdown = Shutdown::default();
        let waiting = tokio::spawn(shutdown.begun());
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished() && !shutdown.has_begun());
        shutdown.clone().begin();
        tokio::time::timeout(std::time::Duration::from_secs(5), waiting)
            .await
            .unwrap()
            .unwrap();
        assert!(shutdown.has_begun());
        tokio::time::timeout(std::time::Duration::from_secs(5), shutdown.begun())
            .await
            .unwrap();
    }
}
