//! Complete logins per second: authorize (the login page), the page's live events (its first QR
//! code, then the outcome), the app's open (by the animated QR code's text) and signed approval,
//! the code exchange (ID token) and userinfo — every step over HTTP on loopback against the real
//! server with SQLite (WAL) on the system clock.
//!
//! ```sh
//! cargo bench -p civkey-tests --bench logins                              # server on ONE core
//! CIVKEY_BENCH_CORES=shared taskset -c 1 cargo bench -p civkey-tests --bench logins
//! ```
//!
//! By default every server thread (its Tokio runtime, named `server`, and SQLite's worker
//! threads) runs on CPU 0 and everything else (the load generator, which signs with the pure-Rust
//! `p256` and runs the HTTP clients) on CPU 1: the figure is what ONE server core does. The
//! threads are pinned by name just before each run, and the bench prints which thread ran where.
//! With `CIVKEY_BENCH_CORES=shared` nothing is pinned (under `taskset -c 1`, server and load share
//! one core: a lower bound). It prints the closed-loop maximum and then an open-loop run at half
//! that rate with latency percentiles. Not a criterion benchmark: throughput under concurrency is
//! the figure here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use civkey_client::keystore::MemoryKeyStore;
use civkey_client::profile::Profile;
use civkey_proto::sign::Decision;
use civkey_tests::{authorize_url, pair_profile, TempDir, TestServer};

const VERIFIER: &str = "bench-verifier-0123456789-0123456789-0123456789-abcdef";
const REDIRECT: &str = "http://127.0.0.1:9/callback";
const CONCURRENCY: usize = 32;
const DEVICES: usize = 32;

struct Bench {
    base: String,
    client_id: String,
    secret: String,
    profiles: Vec<Profile>,
    http: reqwest::Client,
    authorize_url: String,
}

async fn setup(dir: &TempDir, server: &TestServer) -> Bench {
    let (state, base) = (&server.state, &server.base);
    let store = state.store();
    let services = state.services();
    let citizen = civkey_server::services::citizens::add_citizen(
        store,
        0,
        "jana",
        "Jana Nováková",
        None,
        "correct horse battery",
    )
    .await
    .unwrap()
    .citizen_id;
    let client = services
        .register_client("Bench service", &[REDIRECT.to_string()], None)
        .await
        .unwrap();
    // Several paired devices (in memory: the keystore is not what is measured here).
    let mut profiles = Vec::new();
    for i in 0..DEVICES {
        let home = dir.0.join(format!("device-{i}"));
        let profile = Profile::open(&home, Arc::new(MemoryKeyStore::new())).unwrap();
        pair_profile(services, &profile, &citizen).await;
        profiles.push(profile);
    }
    let authorize = authorize_url(
        &format!("{base}/oidc/authorize"),
        client.client.id.as_str(),
        REDIRECT,
        "s",
        "n",
        VERIFIER,
    );
    Bench {
        base: base.clone(),
        client_id: client.client.id.to_string(),
        secret: client.secret.to_string(),
        profiles,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(64)
            .build()
            .unwrap(),
        authorize_url: authorize.to_string(),
    }
}

/// Time spent in each step, summed over all logins (nanoseconds).
static STAGES: [AtomicU64; 7] = [const { AtomicU64::new(0) }; 7];
const STAGE_NAMES: [&str; 7] = [
    "authorize page",
    "first QR event",
    "open (device call)",
    "decision",
    "approval event",
    "token",
    "userinfo",
];

/// Reads the event stream until an event whose data contains `needle`; returns that data.
async fn next_event(stream: &mut reqwest::Response, needle: &str) -> String {
    let mut text = String::new();
    loop {
        if let Some(data) = text
            .split("\n\n")
            .filter_map(|event| event.lines().find_map(|l| l.strip_prefix("data:")))
            .find(|data| data.contains(needle))
        {
            return data.trim().to_string();
        }
        let chunk = stream
            .chunk()
            .await
            .unwrap()
            .expect("the event stream ended");
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
}

fn lap(stage: usize, since: &mut Instant) {
    let now = Instant::now();
    STAGES[stage].fetch_add((now - *since).as_nanos() as u64, Ordering::Relaxed);
    *since = now;
}

/// One complete login; returns its duration.
async fn login(bench: &Bench, profile: &Profile) -> Duration {
    let started = Instant::now();
    let mut since = started;
    let page = bench.http.get(&bench.authorize_url).send().await.unwrap();
    // The cookie that makes this "browser" the one the login belongs to.
    let login_cookie = page
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("civkey_login="))
        .and_then(|c| c.split(';').next())
        .unwrap()
        .to_string();
    let page = page.text().await.unwrap();
    let events = page
        .split("data-signin-events=\"/oidc/login/")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap()
        .to_string();
    assert!(page.contains("data-qr-uri=\"civkey://login?"));
    lap(0, &mut since);
    // As a browser does: the page's event stream, whose first event is this second's QR code.
    let mut stream = bench
        .http
        .get(format!("{}/oidc/login/{events}/events", bench.base))
        .header("cookie", &login_cookie)
        .send()
        .await
        .unwrap();
    let frame = next_event(&mut stream, "\"uri\"").await;
    let frame: serde_json::Value = serde_json::from_str(&frame).unwrap();
    lap(1, &mut since);
    // The phone scans the code.
    let opened = profile
        .open_login(frame["uri"].as_str().unwrap())
        .await
        .unwrap();
    lap(2, &mut since);
    profile
        .decide_login(&opened, Decision::Approve)
        .await
        .unwrap();
    lap(3, &mut since);
    // The page's next event carries the redirect with the code.
    let data = next_event(&mut stream, "redirect_to").await;
    drop(stream);
    let event: serde_json::Value = serde_json::from_str(&data).unwrap();
    let redirect = url::Url::parse(event["redirect_to"].as_str().unwrap()).unwrap();
    let code = redirect
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    lap(4, &mut since);
    let tokens: serde_json::Value = bench
        .http
        .post(format!("{}/oidc/token", bench.base))
        .basic_auth(&bench.client_id, Some(&bench.secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    lap(5, &mut since);
    let info = bench
        .http
        .get(format!("{}/oidc/userinfo", bench.base))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(info.status(), 200);
    lap(6, &mut since);
    started.elapsed()
}

/// Whether the thread named `comm` is the server's: its runtime's threads and SQLite's workers.
fn is_server_thread(comm: &str) -> bool {
    comm.starts_with("server") || comm.starts_with("sqlx-sqlite")
}

/// CPU time the server's threads have used so far (nanoseconds, `/proc/self/task/*/schedstat`):
/// divided by the logins, what one login costs the server, whatever else the machine runs.
fn server_cpu_ns() -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir("/proc/self/task").unwrap() {
        let path = entry.unwrap().path();
        let comm = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        if is_server_thread(comm.trim()) {
            total += std::fs::read_to_string(path.join("schedstat"))
                .ok()
                .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    total
}

/// Pins every thread of this process: the server's (its runtime's `server` threads and SQLite's
/// `sqlx-sqlite-worker` threads) to CPU 0, all others to CPU 1, with `taskset` (no unsafe code).
/// Returns what ran where.
fn pin_threads() -> String {
    let mut placed: BTreeMap<(usize, String), usize> = BTreeMap::new();
    for entry in std::fs::read_dir("/proc/self/task").unwrap() {
        let entry = entry.unwrap();
        let tid = entry.file_name().to_string_lossy().into_owned();
        let Ok(comm) = std::fs::read_to_string(entry.path().join("comm")) else {
            continue; // the thread ended
        };
        let comm = comm.trim().to_string();
        let cpu = usize::from(!is_server_thread(&comm));
        let status = std::process::Command::new("taskset")
            .args(["-p", "-c", &cpu.to_string(), &tid])
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        if status.success() {
            let kind = comm.trim_end_matches(|c: char| c.is_ascii_digit() || c == '-');
            *placed.entry((cpu, kind.to_string())).or_default() += 1;
        }
    }
    placed
        .iter()
        .map(|((cpu, name), n)| format!("CPU {cpu}: {n} × {name}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn report(label: &str, count: u64, elapsed: Duration, mut latencies: Vec<Duration>) {
    latencies.sort();
    println!(
        "{label}: {count} logins in {:.1} s = {:.0} logins/s; latency p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms",
        elapsed.as_secs_f64(),
        count as f64 / elapsed.as_secs_f64(),
        percentile(&latencies, 0.5).as_secs_f64() * 1e3,
        percentile(&latencies, 0.9).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
    );
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else to parse.
    let seconds: u64 = std::env::var("CIVKEY_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let pinned = std::env::var("CIVKEY_BENCH_CORES").as_deref() != Ok("shared");
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pinned = pinned && cpus >= 2;
    // One worker thread each: the server's runtime is what one server core runs.
    let server = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("server")
        .enable_all()
        .build()
        .unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(if pinned { 1 } else { cpus })
        .thread_name("load")
        .enable_all()
        .build()
        .unwrap();
    let dir = TempDir::new("civkey-bench-logins");
    // The server on its own runtime (the one it is started on), on the system's clock.
    // All the load comes from one address and for one service: the limits are raised out of the
    // way, and still counted on every request (what each costs is part of the figure).
    let limits = civkey_server::services::limits::RequestLimits {
        authorize_per_address: u64::MAX,
        authorize_per_client: u64::MAX,
        page_streams_per_address: u64::MAX,
        ..Default::default()
    };
    let test_server = server.block_on(TestServer::start_with_request_limits(limits, true));
    let bench = Arc::new(runtime.block_on(setup(&dir, &test_server)));
    runtime.block_on(async {
        // Warm up (this also opens the server's database connections).
        for profile in &bench.profiles {
            login(&bench, profile).await;
        }
        if pinned {
            println!("pinned: {}", pin_threads());
        } else {
            println!("not pinned: server and load generator share the cores they are given");
        }

        // Closed loop: CONCURRENCY logins in flight at all times.
        let cpu_before = server_cpu_ns();
        let done = Arc::new(AtomicU64::new(0));
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let started = Instant::now();
        let mut tasks = Vec::new();
        for worker in 0..CONCURRENCY {
            let (bench, done) = (bench.clone(), done.clone());
            tasks.push(tokio::spawn(async move {
                let mut latencies = Vec::new();
                let profile = &bench.profiles[worker % bench.profiles.len()];
                while Instant::now() < deadline {
                    latencies.push(login(&bench, profile).await);
                    done.fetch_add(1, Ordering::Relaxed);
                }
                latencies
            }));
        }
        let mut latencies = Vec::new();
        for task in tasks {
            latencies.extend(task.await.unwrap());
        }
        let elapsed = started.elapsed();
        let count = done.load(Ordering::Relaxed);
        let cpu_per_login = (server_cpu_ns() - cpu_before) as f64 / count.max(1) as f64;
        report(
            &format!("closed loop, {CONCURRENCY} in flight"),
            count,
            elapsed,
            latencies,
        );
        println!(
            "  server CPU time per login: {:.0} µs, that is {:.0} logins/s per fully used core",
            cpu_per_login / 1e3,
            1e9 / cpu_per_login
        );

        for stage in &STAGES {
            stage.store(0, Ordering::Relaxed);
        }
        if pinned {
            // Threads started during the first run (more connections) are pinned too.
            println!("pinned: {}", pin_threads());
        }
        // Open loop at half that rate: a new login every 1/rate seconds, whatever the others do.
        let rate = (count as f64 / elapsed.as_secs_f64() / 2.0).max(1.0);
        let interval = Duration::from_secs_f64(1.0 / rate);
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        let started = Instant::now();
        let deadline = started + Duration::from_secs(seconds);
        let mut tasks = Vec::new();
        let mut n = 0usize;
        while Instant::now() < deadline {
            ticker.tick().await;
            let bench = bench.clone();
            let profile = n % bench.profiles.len();
            n += 1;
            tasks.push(tokio::spawn(async move {
                login(&bench, &bench.profiles[profile]).await
            }));
        }
        let mut latencies = Vec::new();
        for task in tasks {
            latencies.push(task.await.unwrap());
        }
        let count = latencies.len() as u64;
        report(
            &format!("open loop at {rate:.0}/s (half the maximum)"),
            count,
            started.elapsed(),
            latencies,
        );
        let steps: Vec<String> = STAGE_NAMES
            .iter()
            .zip(&STAGES)
            .map(|(name, total)| {
                let mean = total.load(Ordering::Relaxed) as f64 / count.max(1) as f64 / 1e6;
                format!("{name} {mean:.2} ms")
            })
            .collect();
        println!(
            "  mean time per step in the open loop: {}",
            steps.join(", ")
        );
    });
}
