//! The one way to boot a test server: the real server on `127.0.0.1:0` with a fresh SQLite
//! database, in-process (its store, services and clock at hand), and pairing a client with it.

use std::path::PathBuf;
use std::sync::Arc;

use civkey_proto::Origin;
use civkey_server::clock::{Clock, SystemClock};
use civkey_server::domain::CitizenId;
use civkey_server::services::limits::RequestLimits;
use civkey_server::store::Store;
use civkey_server::{router, AppState};
use civkey_testkit::ManualClock;

use crate::TempDir;

/// The real server on `127.0.0.1:0` with a fresh SQLite database, running until the test's
/// runtime ends.
pub struct TestServer {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The server's origin.
    pub origin: Origin,
    /// The server's store, for arranging and checking state.
    pub store: Store,
    /// The server's state (its services play the browser's part in API tests).
    pub state: AppState,
    /// The server's clock: starts at the real time, moves only when told.
    pub clock: ManualClock,
    /// Where the server's e-mail goes (a mailbox file).
    pub mailbox: PathBuf,
    _dir: TempDir,
}

impl TestServer {
    /// Adds the citizen `username` ("Jana Nováková", password `correct horse battery`); returns
    /// the citizen id.
    pub async fn add_citizen(&self, username: &str) -> CitizenId {
        civkey_server::services::citizens::add_citizen(
            &self.store,
            0,
            username,
            "Jana Nováková",
            None,
            "correct horse battery",
        )
        .await
        .unwrap()
        .citizen_id
    }

    /// A new pairing session for `citizen`, as "Connect mobile key" starts one.
    pub async fn new_pairing(&self, citizen: &CitizenId) -> civkey_proto::pair::PairingUri {
        self.state
            .services()
            .start_pairing(citizen)
            .await
            .unwrap()
            .uri
    }

    /// A server with the citizen `jana` and a pairing session of hers: (server, citizen id, the
    /// pairing URI as its QR code holds it).
    pub async fn with_pairing_session() -> (TestServer, CitizenId, String) {
        let server = TestServer::start().await;
        let citizen = server.add_citizen("jana").await;
        let uri = server.new_pairing(&citizen).await.to_uri();
        (server, citizen, uri)
    }

    /// The server's time now.
    pub fn clock_now(&self) -> u64 {
        self.state.services().clock.now()
    }

    /// Starts a server.
    pub async fn start() -> Self {
        Self::start_with_origin(None).await
    }

    /// Starts a server that believes it is reached at `public_origin` (as behind a TLS proxy);
    /// `None` means its own `http://127.0.0.1:PORT`.
    pub async fn start_with_origin(public_origin: Option<&str>) -> Self {
        Self::start_inner(public_origin, None, false, RequestLimits::default()).await
    }

    /// Starts a server whose delivery worker sends through `delivery` (a real SMTP server, push
    /// endpoints, an SMS gateway) instead of the mailbox file.
    pub async fn start_with_delivery(
        delivery: civkey_server::services::delivery::Delivery,
    ) -> Self {
        Self::start_inner(None, Some(delivery), false, RequestLimits::default()).await
    }

    /// Starts a server on the system's clock (its `clock` field then moves nothing): for
    /// benchmarks, whose rate-limit windows and expiry must move on with real time.
    pub async fn start_on_system_clock() -> Self {
        Self::start_inner(None, None, true, RequestLimits::default()).await
    }

    /// Starts a server with the request-rate limits `limits` instead of the defaults (tests of
    /// one limit; the logins benchmark, whose load all comes from one address), on the system
    /// clock when `system_clock`.
    pub async fn start_with_limits(limits: RequestLimits, system_clock: bool) -> Self {
        Self::start_inner(None, None, system_clock, limits).await
    }

    async fn start_inner(
        public_origin: Option<&str>,
        delivery: Option<civkey_server::services::delivery::Delivery>,
        system_clock: bool,
        limits: RequestLimits,
    ) -> Self {
        let dir = TempDir::new("civkey-e2e");
        let store = Store::open(&format!("sqlite://{}/civkey.db", dir.0.display()))
            .await
            .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let origin = Origin::normalise(
            &public_origin.map_or_else(|| format!("http://{address}"), str::to_string),
        )
        .unwrap();
        let clock = ManualClock::at_system_time();
        let server_clock: Arc<dyn Clock> = if system_clock {
            Arc::new(SystemClock)
        } else {
            Arc::new(clock.clone())
        };
        let state = AppState::from_services(
            civkey_server::services::Services::new(store.clone(), server_clock, origin.clone())
                .with_request_limits(limits),
        );
        let mailbox = dir.0.join("mailbox.txt");
        let delivery = delivery.unwrap_or_else(|| {
            civkey_server::services::delivery::Mailer::Mailbox(mailbox.clone()).into()
        });
        civkey_server::services::delivery::spawn_worker(
            state.services().clone(),
            delivery,
            std::time::Duration::from_secs(1),
        );
        let app = router(state.clone());
        let listener = civkey_server::without_delay(listener);
        tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
            )
            .await
            .unwrap();
        });
        TestServer {
            base: format!("http://{address}"),
            origin,
            store,
            state,
            clock,
            mailbox,
            _dir: dir,
        }
    }
}

/// Pairs `profile` with the citizen `citizen_id` at the server whose flows are `services`: the app
/// claims a new session and the citizen confirms at once in the "browser".
pub async fn pair_profile(
    services: &civkey_server::services::Services,
    profile: &civkey_client::profile::Profile,
    citizen_id: &CitizenId,
) -> civkey_client::profile::Identity {
    let pairing = services.start_pairing(citizen_id).await.unwrap();
    let pending = profile
        .begin_pairing(
            &pairing.uri.to_uri(),
            &civkey_client::this_computer().unwrap(),
        )
        .await
        .unwrap();
    services
        .decide_pairing(citizen_id, &pairing.uri.session_id, true)
        .await
        .unwrap();
    pending.finish().await.unwrap()
}
