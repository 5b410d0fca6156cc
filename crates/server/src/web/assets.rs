//! The pages' stylesheet and scripts, served from the binary.

use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/static/portal.css", get(css))
        .route("/static/portal.js", get(js))
        .route("/static/qrcode.js", get(qr_js))
}

async fn css() -> Response {
    asset("text/css; charset=utf-8", include_str!("assets/portal.css"))
}

async fn js() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("assets/portal.js"),
    )
}

async fn qr_js() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("assets/vendor/qrcode.js"),
    )
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=300"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}
