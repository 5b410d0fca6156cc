//! The one way to boot a test server: the real server on `127.0.0.1:0` with a fresh SQLite
//! database, in-process (its store, services and clock at hand), and pairing a client with it.

use std::path::PathBuf;
use std::sync::Arc;

use civkey_proto::Origin;
use civkey_server::clock::{Clock, SystemClock};
use civkey_server::domain::CitizenId;
use civkey_server::services::push_guard::PushPolicy;
use civkey_server::services::Services;
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

    /// A device of `citizen` made with a key held here (the API sees a paired device): its id and
    /// key are `seed` repeated.
    pub async fn device_with_key(
        &self,
        citizen: &CitizenId,
        seed: u8,
    ) -> (civkey_proto::ids::DeviceId, p256::ecdsa::SigningKey) {
        let key = p256::ecdsa::SigningKey::from_slice(&[seed; 32]).unwrap();
        let id = civkey_proto::ids::DeviceId::from_bytes([seed; 16]);
        self.store
            .insert_device(&civkey_server::store::NewDevice {
                id,
                citizen_id: citizen.clone(),
                public_key: civkey_proto::sign::DevicePublicKey::from(&p256::PublicKey::from(
                    key.verifying_key(),
                ))
                .to_text(),
                name: format!("Phone {seed}"),
                model: "Pixel 8".into(),
                kind: "phone".into(),
                paired_at: self.clock_now(),
            })
            .await
            .unwrap();
        (id, key)
    }

    /// The device registers `url` as its push endpoint (no keys) over the API.
    pub async fn register_push(
        &self,
        device: &(civkey_proto::ids::DeviceId, p256::ecdsa::SigningKey),
        url: &str,
    ) -> Result<(), civkey_client::server_api::ApiFailure> {
        let body = civkey_proto::device::PushRegistrationRequest {
            endpoint: Some(civkey_proto::device::PushEndpoint::parse(url).unwrap()),
            keys: None,
        };
        civkey_client::server_api::ServerApi::new(self.origin.clone())
            .unwrap()
            .device_call::<_, ()>(
                &device.0,
                &device.1,
                reqwest::Method::POST,
                civkey_proto::paths::DEVICE_PUSH,
                Some(&body),
            )
            .await
    }

    /// The outbox rows to `recipient` once `done` says so; fails the test (naming `what`) after
    /// 20 s.
    pub async fn outbox_until(
        &self,
        recipient: &str,
        what: &str,
        done: impl Fn(&[civkey_server::store::OutboxStatus]) -> bool,
    ) -> Vec<civkey_server::store::OutboxStatus> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let rows = self.store.outbox_to(recipient).await.unwrap();
            if done(&rows) {
                return rows;
            }
            assert!(std::time::Instant::now() < deadline, "{what}: {rows:?}");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
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
        Self::start_inner(public_origin, None, false, None).await
    }

    /// Starts a server whose delivery worker sends through `delivery` (a real SMTP server, push
    /// endpoints, an SMS gateway) instead of the mailbox file.
    pub async fn start_with_delivery(
        delivery: civkey_server::services::delivery::Delivery,
    ) -> Self {
        Self::start_inner(None, Some(delivery), false, None).await
    }

    /// Starts a server whose push endpoints obey `policy` (production's rules, say) instead of the
    /// loopback test mode every other test server runs in.
    pub async fn start_with_push_policy(policy: PushPolicy) -> Self {
        Self::start_inner(None, None, false, Some(policy)).await
    }

    /// Starts a server on the system's clock (its `clock` field then moves nothing): for
    /// benchmarks, whose rate-limit windows and expiry must move on with real time.
    pub async fn start_on_system_clock() -> Self {
        Self::start_inner(None, None, true, None).await
    }

    async fn start_inner(
        public_origin: Option<&str>,
        delivery: Option<civkey_server::services::delivery::Delivery>,
        system_clock: bool,
        push: Option<PushPolicy>,
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
        // Test push endpoints listen on 127.0.0.1: the loopback test mode unless told otherwise.
        let push = push.unwrap_or_else(PushPolicy::loopback_test_mode);
        let state = AppState::from_services(
            Services::new(store.clone(), server_clock, origin.clone()).with_push_policy(push),
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
