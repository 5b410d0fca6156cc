//! The server under floods, measured on the real `civkey-server` binary in its own process (the
//! release build), over loopback:
//!
//! 1. p50/p99 of an ordinary portal request (`GET /portal/login`) with no other connections, and
//!    again while 1,000 idle connections are held open (half of them half a request head, half
//!    idle keep-alive connections; the header timeout raised to 300 s so that none is cut);
//! 2. p50/p99 of `/healthz` alone, and during 200 concurrent password posts (from ten loopback
//!    addresses, each within its limit on failed logins, so every post reaches Argon2id), with how
//!    many posts were refused as busy;
//! 3. the server's resident memory (`VmRSS`) before and after 100,000 requests for the event
//!    streams of logins that never existed (after 1,000 such requests as a warm-up);
//! 4. the reference for ratios: one ring P-256 signature verification, measured in this run.
//!
//! ```sh
//! cargo build --release -p civkey-server && cargo bench -p civkey-tests --bench floods
//! ```
//!
//! Not a criterion benchmark: latency under a held load, and memory, are the figures here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use civkey_proto::ids::LoginRequestId;
use civkey_tests::bench::{p256_verify, percentile};
use civkey_tests::portal::concurrent_password_posts;
use civkey_tests::server::hold_idle_connections;
use civkey_tests::ServerProcess;

const IDLE: usize = 1_000;
const SAMPLES: usize = 2_000;
const UNKNOWN_STREAMS: u64 = 100_000;

fn summary(name: &str, mut samples: Vec<Duration>, verify: Duration) -> Duration {
    samples.sort();
    let (p50, p99) = (percentile(&samples, 0.50), percentile(&samples, 0.99));
    println!(
        "{name}: n={} p50={:.2} ms p99={:.2} ms max={:.2} ms (p99 = {:.0} P-256 verifies)",
        samples.len(),
        p50.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3,
        samples.last().unwrap().as_secs_f64() * 1e3,
        p99.as_secs_f64() / verify.as_secs_f64(),
    );
    p99
}

fn against_target(p99: Duration) {
    let met = p99 < Duration::from_millis(50);
    println!(
        "  target p99 < 50 ms: {}",
        if met { "met" } else { "NOT met" }
    );
}

async fn timed_gets(http: &reqwest::Client, url: &str, n: usize) -> Vec<Duration> {
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        let answer = http.get(url).send().await.unwrap();
        assert_eq!(answer.status(), 200);
        answer.bytes().await.unwrap();
        samples.push(start.elapsed());
    }
    samples
}

async fn idle_connections(verify: Duration) {
    let server = ServerProcess::start(&["--header-read-timeout-secs", "300"]);
    let http = reqwest::Client::new();
    let page = format!("{}/portal/login", server.base);
    timed_gets(&http, &page, 200).await;
    summary(
        "portal page, alone",
        timed_gets(&http, &page, SAMPLES).await,
        verify,
    );
    let address = server.base.trim_start_matches("http://").to_string();
    let held = hold_idle_connections(&address, IDLE).await;
    let p99 = summary(
        "portal page, 1,000 idle connections held",
        timed_gets(&http, &page, SAMPLES).await,
        verify,
    );
    against_target(p99);
    drop(held);
}

async fn password_posts(verify: Duration) {
    let server = ServerProcess::start(&[]);
    let http = reqwest::Client::new();
    let health = format!("{}/healthz", server.base);
    timed_gets(&http, &health, 200).await;
    summary(
        "/healthz, alone",
        timed_gets(&http, &health, SAMPLES).await,
        verify,
    );
    let done = Arc::new(AtomicBool::new(false));
    let samples = Arc::new(Mutex::new(Vec::new()));
    let probe = {
        let (done, samples, health) = (done.clone(), samples.clone(), health.clone());
        tokio::spawn(async move {
            let http = reqwest::Client::new();
            while !done.load(Ordering::SeqCst) {
                let start = Instant::now();
                let answer = http.get(&health).send().await.unwrap();
                answer.bytes().await.unwrap();
                samples.lock().unwrap().push(start.elapsed());
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
    };
    let start = Instant::now();
    let answers = concurrent_password_posts(&server.base, 200).await;
    let took = start.elapsed();
    done.store(true, Ordering::SeqCst);
    probe.await.unwrap();
    let busy = answers.iter().filter(|a| a.status == 503).count();
    println!(
        "200 password posts: {busy} refused as busy, {} checked, all answered in {:.2} s",
        200 - busy,
        took.as_secs_f64()
    );
    let samples = std::mem::take(&mut *samples.lock().unwrap());
    let p99 = summary("/healthz during 200 password posts", samples, verify);
    against_target(p99);
}

async fn unknown_streams(server: &ServerProcess, from: u64, count: u64) {
    let next = Arc::new(std::sync::atomic::AtomicU64::new(from));
    let mut workers = Vec::new();
    for _ in 0..16 {
        let (next, base) = (next.clone(), server.base.clone());
        workers.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= from + count {
                    return;
                }
                let mut bytes = [0u8; LoginRequestId::LEN];
                bytes[..8].copy_from_slice(&i.to_le_bytes());
                let id = LoginRequestId::from_bytes(bytes);
                let answer = http
                    .get(format!("{base}/oidc/login/{id}/events"))
                    .header("Cookie", "civkey_login=forged")
                    .send()
                    .await
                    .unwrap();
                assert_eq!(answer.status(), 404);
                answer.bytes().await.unwrap();
            }
        }));
    }
    for worker in workers {
        worker.await.unwrap();
    }
}

async fn memory_after_unknown_streams() {
    let server = ServerProcess::start(&[]);
    unknown_streams(&server, 0, 1_000).await;
    let before = server.resident_kib();
    let start = Instant::now();
    unknown_streams(&server, 1_000, UNKNOWN_STREAMS).await;
    let took = start.elapsed();
    let after = server.resident_kib();
    let grown = after as i64 - before as i64;
    println!(
        "resident memory: {before} KiB before, {after} KiB after {UNKNOWN_STREAMS} unknown-id \
         stream requests ({:.1} s): {grown:+} KiB ({:+.2} MB; target within 5 MB: {})",
        took.as_secs_f64(),
        grown as f64 / 1024.0,
        if grown.abs() <= 5 * 1024 {
            "met"
        } else {
            "NOT met"
        }
    );
}

fn main() {
    // `cargo bench` passes `--bench`; a filter picks parts: idle, posts, memory.
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let wanted = |part: &str| filter.is_empty() || filter.iter().any(|f| part.contains(f.as_str()));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let verify = p256_verify();
    println!(
        "reference: one ring P-256 verify = {:.1} µs (median)",
        verify.as_secs_f64() * 1e6
    );
    if wanted("idle") {
        runtime.block_on(idle_connections(verify));
    }
    if wanted("posts") {
        runtime.block_on(password_posts(verify));
    }
    if wanted("memory") {
        runtime.block_on(memory_after_unknown_streams());
    }
}
