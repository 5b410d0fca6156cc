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

use civkey_tests::bench::{percentile, LoginBench, LOGIN_STEPS, LOGIN_STEP_NAMES};
use civkey_tests::{TempDir, TestServer};

const CONCURRENCY: usize = 32;
const DEVICES: usize = 32;

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
    let bench = Arc::new(runtime.block_on(LoginBench::setup(
        &dir,
        test_server.state.services(),
        &test_server.base,
        1,
        DEVICES,
    )));
    runtime.block_on(async {
        // Warm up (this also opens the server's database connections).
        for profile in &bench.profiles {
            bench.login(profile, None).await;
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
                    latencies.push(bench.login(profile, None).await);
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

        for stage in &LOGIN_STEPS {
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
                bench.login(&bench.profiles[profile], None).await
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
        let steps: Vec<String> = LOGIN_STEP_NAMES
            .iter()
            .zip(&LOGIN_STEPS)
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
