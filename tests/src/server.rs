//! The one way to boot a test server: the real server on `127.0.0.1:0` with a fresh database
//! (SQLite, or PostgreSQL in the `e2e_postgres` binary: [`crate::postgres::test_database`]), in-process (its store, services and clock at hand), and pairing a client with it.

use std::path::PathBuf;
use std::sync::Arc;

use civkey_proto::Origin;
use civkey_server::clock::{Clock, SystemClock};
use civkey_server::domain::CitizenId;
use civkey_server::services::limits::RequestLimits;
use civkey_server::services::push_guard::PushPolicy;
use civkey_server::services::Services;
use civkey_server::serving::ServeLimits;
use civkey_server::store::Store;
use civkey_server::{router, AppState};
use civkey_testkit::ManualClock;

use crate::TempDir;

/// How [`TestServer::start_with`] sets up a server; the default is what [`TestServer::start`]
/// starts.
#[derive(Default)]
pub struct ServerOptions<'a> {
    /// The origin the server believes it is reached at (as behind a TLS proxy); `None` means its
    /// own `http://127.0.0.1:PORT`.
    pub public_origin: Option<&'a str>,
    /// Where the delivery worker sends (default: the mailbox file).
    pub delivery: Option<civkey_server::services::delivery::Delivery>,
    /// The system's clock instead of a manual one.
    pub system_clock: bool,
    /// What one connection may hold.
    pub limits: ServeLimits,
    /// Proxies (CIDR blocks) whose forwarding headers are believed.
    pub trusted_proxies: &'a [&'a str],
    /// The rules push endpoints obey (default: the loopback test mode).
    pub push: Option<PushPolicy>,
    /// Request-rate limits (default: production's).
    pub request_limits: RequestLimits,
    /// The database's URL (`postgres://…` from [`crate::postgres::fresh_database`], or one
    /// shared with another instance); `None` means a fresh one of the kind this test binary runs
    /// on ([`crate::postgres::test_database`]).
    pub database: Option<String>,
    /// The key-encryption key (instances sharing a database share it); `None` means a new one.
    pub kek: Option<civkey_server::store::Kek>,
    /// Routes of the test's own added to the server's (a handler that panics, say), behind the
    /// same layers as the server's (`civkey_server::operations::with_layers`).
    pub routes: Option<axum::Router<AppState>>,
}

/// The real server on `127.0.0.1:0` with a fresh database ([`crate::postgres::test_database`]),
/// running until the test's runtime ends.
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
    /// The database's URL: `sqlite://…` in the test's folder, or `postgres://…` (see
    /// [`crate::postgres::this_binary_runs_on_postgres`]).
    pub database: String,
}

impl TestServer {
    /// Adds the citizen `username` ("Jana Nováková", password `correct horse battery`); returns
    /// the citizen id.
    pub async fn add_citizen(&self, username: &str) -> CitizenId {
        add_citizen(&self.store, username).await
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
        Self::start_with(ServerOptions {
            public_origin,
            ..ServerOptions::default()
        })
        .await
    }

    /// Starts a server that believes the forwarding headers of the proxies in `proxies` (CIDR
    /// blocks, as `--trusted-proxy` takes them).
    pub async fn start_behind_proxies(proxies: &[&str]) -> Self {
        Self::start_with(ServerOptions {
            trusted_proxies: proxies,
            ..ServerOptions::default()
        })
        .await
    }

    /// Starts a server whose delivery worker sends through `delivery` (a real SMTP server, push
    /// endpoints, an SMS gateway) instead of the mailbox file.
    pub async fn start_with_delivery(
        delivery: civkey_server::services::delivery::Delivery,
    ) -> Self {
        Self::start_with(ServerOptions {
            delivery: Some(delivery),
            ..ServerOptions::default()
        })
        .await
    }

    /// Starts a server whose push endpoints obey `policy` (production's rules, say) instead of the
    /// loopback test mode every other test server runs in.
    pub async fn start_with_push_policy(policy: PushPolicy) -> Self {
        Self::start_with(ServerOptions {
            push: Some(policy),
            ..ServerOptions::default()
        })
        .await
    }

    /// Starts a server on the system's clock (its `clock` field then moves nothing): for
    /// benchmarks, whose rate-limit windows and expiry must move on with real time.
    pub async fn start_on_system_clock() -> Self {
        Self::start_with(ServerOptions {
            system_clock: true,
            ..ServerOptions::default()
        })
        .await
    }

    /// Starts a server whose connections are held to `limits` (short timeouts, a small cap).
    pub async fn start_with_limits(limits: ServeLimits) -> Self {
        Self::start_with(ServerOptions {
            limits,
            ..ServerOptions::default()
        })
        .await
    }

    /// Starts a server with the request-rate limits `limits` instead of the defaults (tests of
    /// one limit; the logins benchmark, whose load all comes from one address), on the system
    /// clock when `system_clock`.
    pub async fn start_with_request_limits(limits: RequestLimits, system_clock: bool) -> Self {
        Self::start_with(ServerOptions {
            request_limits: limits,
            system_clock,
            ..ServerOptions::default()
        })
        .await
    }

    /// Starts a server set up as `options` say.
    pub async fn start_with(options: ServerOptions<'_>) -> Self {
        let ServerOptions {
            public_origin,
            delivery,
            system_clock,
            limits,
            trusted_proxies,
            push,
            request_limits,
            database,
            kek,
            routes,
        } = options;
        let dir = TempDir::new("civkey-e2e");
        let database = match database {
            Some(url) => url,
            None => crate::postgres::test_database(&dir.0).await,
        };
        let kek = kek.unwrap_or_else(|| civkey_server::store::Kek::generate().unwrap());
        let store = Store::open(&database, kek).await.unwrap();
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
        let proxies = trusted_proxies.iter().map(|p| p.parse().unwrap()).collect();
        // Test push endpoints listen on 127.0.0.1: the loopback test mode unless told otherwise.
        let push = push.unwrap_or_else(PushPolicy::loopback_test_mode);
        let state = AppState::from_services(
            Services::new(store.clone(), server_clock, origin.clone())
                .with_push_policy(push)
                .with_request_limits(request_limits),
        )
        .with_trusted_proxies(civkey_proto::forwarded::TrustedProxies::new(proxies));
        let mailbox = dir.0.join("mailbox.txt");
        let delivery = delivery.unwrap_or_else(|| {
            civkey_server::services::delivery::Mailer::Mailbox(mailbox.clone()).into()
        });
        civkey_server::services::delivery::spawn_worker(
            state.services().clone(),
            delivery,
            std::time::Duration::from_secs(1),
        );
        let app = match routes {
            Some(routes) => civkey_server::operations::with_layers(
                civkey_server::routes().merge(routes),
                state.clone(),
            ),
            None => router(state.clone()),
        };
        tokio::spawn(civkey_server::serving::serve(
            listener,
            app,
            limits,
            std::future::pending(),
        ));
        TestServer {
            base: format!("http://{address}"),
            origin,
            store,
            state,
            clock,
            mailbox,
            _dir: dir,
            database,
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

/// The real `civkey-server demo` binary on `127.0.0.1:0` in a fresh data folder, as an operator
/// runs it, with `flags` added: a process of its own, so its resident memory can be read and its
/// password-hashing pool is not shared with other tests. Killed when dropped.
pub struct ServerProcess {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    child: std::process::Child,
    _dir: TempDir,
}

/// The built `civkey-server demo` on a free loopback port with its data in `dir`, logging at
/// `log` (to nowhere), its standard output piped for the lines it prints.
pub fn demo_command(dir: &std::path::Path, log: &str) -> std::process::Command {
    demo_command_on(dir, log, None)
}

/// [`demo_command`] started under `taskset -c CPUS` when `cpus` is given (the server then sees
/// only those cores: one Tokio worker per core).
pub fn demo_command_on(
    dir: &std::path::Path,
    log: &str,
    cpus: Option<&str>,
) -> std::process::Command {
    let binary = crate::built_binary("civkey-server", "civkey-server").unwrap();
    let mut command = match cpus {
        Some(cpus) => {
            let mut taskset = std::process::Command::new("taskset");
            taskset.args(["-c", cpus]).arg(binary);
            taskset
        }
        None => std::process::Command::new(binary),
    };
    command
        .arg("--data-dir")
        .arg(dir)
        .args(["demo", "--listen", "127.0.0.1:0"])
        .env("CIVKEY_DATABASE", crate::cli::data_dir_database(dir))
        .env("CIVKEY_LOG", log)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    command
}

impl ServerProcess {
    /// Starts the server and waits for the line that names its address.
    pub fn start(flags: &[&str]) -> ServerProcess {
        Self::start_with(flags, &[], None)
    }

    /// Starts the server with `flags`, the environment variables `env` and, when `cpus` is
    /// given, pinned to those cores (`taskset -c`); waits for the line that names its address.
    pub fn start_with(flags: &[&str], env: &[(&str, &str)], cpus: Option<&str>) -> ServerProcess {
        use std::io::BufRead;
        let dir = TempDir::new("civkey-process");
        let mut command = demo_command_on(&dir.0, "error", cpus);
        command.args(flags).envs(env.iter().copied());
        let mut child = command.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        // Reads every line (the pipe never fills), sending the first that names the address.
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if let Some(base) = line
                    .split_whitespace()
                    .find(|w| w.starts_with("http://127.0.0.1:"))
                {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(base.trim_end_matches('/').to_string());
                    }
                }
            }
        });
        match rx.recv_timeout(std::time::Duration::from_secs(120)) {
            Ok(base) => ServerProcess {
                base,
                child,
                _dir: dir,
            },
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("civkey-server demo printed no address: {e}");
            }
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The process's resident memory in KiB (`VmRSS` in `/proc/PID/status`).
    pub fn resident_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Opens `count` connections to `address` that never finish a request: even ones send half a
/// request head, odd ones make one request (`/healthz`) and then sit idle on keep-alive.
pub async fn hold_idle_connections(address: &str, count: usize) -> Vec<tokio::net::TcpStream> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut held = Vec::new();
    for i in 0..count {
        let mut tcp = tokio::net::TcpStream::connect(address).await.unwrap();
        if i % 2 == 0 {
            tcp.write_all(b"GET /portal/login HTTP/1.1\r\nHost: civkey\r\nX-Slow: ")
                .await
                .unwrap();
        } else {
            tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: civkey\r\n\r\n")
                .await
                .unwrap();
            let mut head = [0u8; 12];
            tcp.read_exact(&mut head).await.unwrap();
            assert_eq!(
                &head, b"HTTP/1.1 200",
                "the keep-alive request was answered"
            );
        }
        held.push(tcp);
    }
    held
}

impl ServerProcess {
    /// Sends the process SIGTERM, as a service manager stops it.
    pub fn terminate(&self) {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -TERM failed");
    }

    /// The process's exit status once it has exited, if it does within `limit`.
    pub fn exit_within(&mut self, limit: std::time::Duration) -> Option<std::process::ExitStatus> {
        let start = std::time::Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if start.elapsed() > limit {
                return None;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

/// Adds the citizen `username` ("Jana Nováková", password `correct horse battery`) to `store`;
/// returns the citizen id.
pub async fn add_citizen(store: &Store, username: &str) -> CitizenId {
    civkey_server::services::citizens::add_citizen(
        store,
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
