//! The server's pages, by feature: the citizen portal (`portal`), the office counter (`counter`),
//! the OpenID Connect provider (`oidc`) and the notification settings (`notifications`), each with
//! its handlers and its pages side by side. What they share: who is asking and the cookies
//! (`session`), the document around every page (`layout`), the plain view data (`views`).
//! Handlers reach data only through services.

mod assets;
mod counter;
mod layout;
mod notifications;
mod oidc;
mod portal;
mod session;
pub mod views;

/// The pages `benches/pages.rs` renders.
#[doc(hidden)]
pub mod bench {
    pub use super::counter::pages::counter_bok_page;
    pub use super::portal::pages::devices_page;
}

use axum::Router;

pub(crate) use session::internal_error_page;

use crate::AppState;

/// Every page's route: the static assets, the portal, the notification settings, the OpenID
/// Connect provider and the office counter.
pub fn routes() -> Router<AppState> {
    Router::new()
        .merge(assets::routes())
        .merge(portal::handlers::routes())
        .merge(notifications::handlers::routes())
        .merge(oidc::handlers::routes())
        .merge(counter::handlers::routes())
}
