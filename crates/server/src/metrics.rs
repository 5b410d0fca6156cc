//! Prometheus metrics, in the text exposition format, served on their own address
//! (`--metrics-listen`, never on the public listener): a few counters and histograms kept with
//! atomics and a mutex, written out by hand instead of through a metrics crate (see
//! docs/operations.md for the list).
//!
//! - `civkey_http_requests_total` / `civkey_http_request_duration_seconds`: requests by route
//!   (the route's template such as `/oidc/login/{id}/events`, never the raw path, so ids add no
//!   series; `unmatched` for anything no route took), method and status; the latency is until the
//!   response's head (an event stream's lifetime is not its latency).
//! - `civkey_logins_total`: logins by means (`password_totp`, `email_code`, `mobile_key`,
//!   `clerk`) and outcome (`success`, `denied`, `refused`, `rate_limited`, `busy`, `error`).
//! - `civkey_open_event_streams`: event streams open now (pages' and devices').
//! - `civkey_outbox_waiting`, `civkey_outbox_failing`, `civkey_outbox_given_up_last_day`: the
//!   outbox by channel, read from the database at scrape time (the same for every instance on
//!   one database: aggregate with `max`, not `sum`).
//! - `civkey_db_pool_connections`, `civkey_db_pool_idle`, `civkey_db_pool_max_connections`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::services::ServiceError;
use crate::AppState;

/// Upper bounds of the latency histogram's buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// The route label of a request no route matched.
const UNMATCHED: &str = "unmatched";

/// How a login was attempted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LoginMeans {
    /// Password and a TOTP code at the portal.
    PasswordTotp,
    /// A code sent by e-mail.
    EmailCode,
    /// The mobile key's signed decision.
    MobileKey,
    /// A clerk at the counter (password and TOTP code).
    Clerk,
}

impl LoginMeans {
    fn label(self) -> &'static str {
        match self {
            LoginMeans::PasswordTotp => "password_totp",
            LoginMeans::EmailCode => "email_code",
            LoginMeans::MobileKey => "mobile_key",
            LoginMeans::Clerk => "clerk",
        }
    }
}

/// The process's counters; one per server, shared by its services.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, &'static str, u16), Histogram>>,
    logins: Mutex<BTreeMap<(LoginMeans, &'static str), u64>>,
    open_streams: Arc<AtomicI64>,
}

#[derive(Debug, Default)]
struct Histogram {
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        for (bucket, bound) in self.buckets.iter_mut().zip(BUCKETS) {
            if seconds <= bound {
                *bucket += 1;
            }
        }
        self.count += 1;
        self.sum += seconds;
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Counts an event stream as open until dropped.
#[derive(Debug)]
pub struct OpenStreamGuard(Arc<AtomicI64>);

impl Drop for OpenStreamGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Metrics {
    /// Counts a request to `route` answered with `status` after `took`.
    pub fn request(&self, route: &str, method: &Method, status: StatusCode, took: Duration) {
        // A client can send any method name: only the standard ones are labels.
        let method = match *method {
            Method::GET => "GET",
            Method::POST => "POST",
            Method::PUT => "PUT",
            Method::DELETE => "DELETE",
            Method::HEAD => "HEAD",
            Method::OPTIONS => "OPTIONS",
            Method::PATCH => "PATCH",
            _ => "other",
        };
        lock(&self.requests)
            .entry((route.to_string(), method, status.as_u16()))
            .or_default()
            .observe(took.as_secs_f64());
    }

    /// Counts a login by `means` that ended as `result` says.
    pub fn login<T>(&self, means: LoginMeans, result: &Result<T, ServiceError>) {
        let outcome = match result {
            Ok(_) => "success",
            Err(ServiceError::Refused { .. }) => "refused",
            Err(ServiceError::RateLimited { .. }) => "rate_limited",
            Err(ServiceError::Busy { .. }) => "busy",
            Err(_) => "error",
        };
        self.login_outcome(means, outcome);
    }

    /// Counts a login by `means` that ended as `outcome` (a fixed label).
    pub fn login_outcome(&self, means: LoginMeans, outcome: &'static str) {
        *lock(&self.logins).entry((means, outcome)).or_default() += 1;
    }

    /// Counts an event stream as open while the guard lives.
    pub fn stream_opened(&self) -> OpenStreamGuard {
        self.open_streams.fetch_add(1, Ordering::Relaxed);
        OpenStreamGuard(Arc::clone(&self.open_streams))
    }

    /// The event streams open now.
    pub fn open_streams(&self) -> i64 {
        self.open_streams.load(Ordering::Relaxed)
    }

    /// This process's counters in the text exposition format.
    fn render_counters(&self, out: &mut String) {
        out.push_str("# HELP civkey_http_requests_total HTTP requests by route template, method and status.\n");
        out.push_str("# TYPE civkey_http_requests_total counter\n");
        let requests = lock(&self.requests);
        for ((route, method, status), h) in requests.iter() {
            let labels = format!(
                "route=\"{}\",method=\"{method}\",status=\"{status}\"",
                escape(route)
            );
            let _ = writeln!(out, "civkey_http_requests_total{{{labels}}} {}", h.count);
        }
        out.push_str("# HELP civkey_http_request_duration_seconds Time until the response's head, by route template, method and status.\n");
        out.push_str("# TYPE civkey_http_request_duration_seconds histogram\n");
        for ((route, method, status), h) in requests.iter() {
            let labels = format!(
                "route=\"{}\",method=\"{method}\",status=\"{status}\"",
                escape(route)
            );
            for (count, bound) in h.buckets.iter().zip(BUCKETS) {
                let _ = writeln!(
                    out,
                    "civkey_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {count}"
                );
            }
            let _ = writeln!(
                out,
                "civkey_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "civkey_http_request_duration_seconds_sum{{{labels}}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "civkey_http_request_duration_seconds_count{{{labels}}} {}",
                h.count
            );
        }
        drop(requests);
        out.push_str("# HELP civkey_logins_total Logins by means and outcome.\n");
        out.push_str("# TYPE civkey_logins_total counter\n");
        for ((means, outcome), n) in lock(&self.logins).iter() {
            let _ = writeln!(
                out,
                "civkey_logins_total{{means=\"{}\",outcome=\"{outcome}\"}} {n}",
                means.label()
            );
        }
        out.push_str(
            "# HELP civkey_open_event_streams Event streams open now (pages' and devices').\n",
        );
        out.push_str("# TYPE civkey_open_event_streams gauge\n");
        let _ = writeln!(out, "civkey_open_event_streams {}", self.open_streams());
    }
}

/// A label value escaped for the exposition format.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Middleware: counts every request under its route template.
pub async fn count_requests(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED, MatchedPath::as_str)
        .to_string();
    let response = next.run(request).await;
    let took = started.elapsed();
    // The access log: the route's template, never the raw path (a query can carry a token).
    tracing::debug!(
        target: "civkey_server::access",
        %method,
        %route,
        status = response.status().as_u16(),
        micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX),
        "answered"
    );
    state
        .services()
        .metrics
        .request(&route, &method, response.status(), took);
    response
}

/// Everything, this process's counters and what the database says, in the text format.
pub async fn render(state: &AppState) -> String {
    let services = state.services();
    let mut out = String::with_capacity(8 * 1024);
    services.metrics.render_counters(&mut out);
    let pool = services.store.pool_stats();
    for (name, help, value) in [
        (
            "civkey_db_pool_connections",
            "Database connections open (in use or idle).",
            pool.size,
        ),
        (
            "civkey_db_pool_idle",
            "Database connections open and idle.",
            pool.idle,
        ),
        (
            "civkey_db_pool_max_connections",
            "The most database connections the pool opens.",
            pool.max,
        ),
    ] {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
        );
    }
    let since = services.clock.now().saturating_sub(86_400);
    match services.store.outbox_summary(since).await {
        Ok(channels) => {
            for (name, help, value) in [
                (
                    "civkey_outbox_waiting",
                    "Messages neither delivered nor given up, by channel.",
                    (|c: &crate::store::ChannelSummary| c.waiting) as fn(&_) -> u64,
                ),
                (
                    "civkey_outbox_failing",
                    "Waiting messages that failed at least once, by channel.",
                    |c| c.failing,
                ),
                (
                    "civkey_outbox_given_up_last_day",
                    "Messages given up in the last day, by channel.",
                    |c| c.given_up_last_day,
                ),
            ] {
                let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
                for c in &channels {
                    let _ = writeln!(
                        out,
                        "{name}{{channel=\"{}\"}} {}",
                        c.channel.as_str(),
                        value(c)
                    );
                }
            }
            out.push_str("# HELP civkey_outbox_readable Whether the outbox could be read (1) or not (0).\n# TYPE civkey_outbox_readable gauge\ncivkey_outbox_readable 1\n");
        }
        Err(e) => {
            tracing::warn!(error = %e, "metrics: cannot read the outbox");
            out.push_str("# HELP civkey_outbox_readable Whether the outbox could be read (1) or not (0).\n# TYPE civkey_outbox_readable gauge\ncivkey_outbox_readable 0\n");
        }
    }
    out
}

/// The metrics listener's one route: `GET /metrics`.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .with_state(state)
}

async fn scrape(State(state): State<AppState>) -> Response {
    let body = render(&state).await;
    let mut response = body.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_by_template_with_cumulative_buckets() {
        let m = Metrics::default();
        let route = "/oidc/login/{id}/events";
        m.request(
            route,
            &Method::GET,
            StatusCode::OK,
            Duration::from_millis(3),
        );
        m.request(route, &Method::GET, StatusCode::OK, Duration::from_secs(20));
        m.request(
            route,
            &Method::from_bytes(b"BREW").unwrap(),
            StatusCode::METHOD_NOT_ALLOWED,
            Duration::ZERO,
        );
        m.login::<()>(LoginMeans::EmailCode, &Ok(()));
        let mut out = String::new();
        m.render_counters(&mut out);
        let labels = "route=\"/oidc/login/{id}/events\",method=\"GET\",status=\"200\"";
        for line in [
            format!("civkey_http_requests_total{{{labels}}} 2"),
            format!("civkey_http_request_duration_seconds_bucket{{{labels},le=\"0.001\"}} 0"),
            format!("civkey_http_request_duration_seconds_bucket{{{labels},le=\"0.005\"}} 1"),
            format!("civkey_http_request_duration_seconds_bucket{{{labels},le=\"10\"}} 1"),
            format!("civkey_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} 2"),
            "civkey_http_requests_total{route=\"/oidc/login/{id}/events\",method=\"other\",status=\"405\"} 1".to_string(),
            "civkey_logins_total{means=\"email_code\",outcome=\"success\"} 1".to_string(),
            "civkey_open_event_streams 0".to_string(),
        ] {
            assert!(out.lines().any(|l| l == line), "{line} missing in\n{out}");
        }
        let open = m.stream_opened();
        assert_eq!(m.open_streams(), 1);
        drop(open);
        assert_eq!(m.open_streams(), 0);
    }
}
