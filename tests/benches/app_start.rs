//! The app's start-up: the release binary's size, the time from launch to its first screen (the
//! PIN screen, on a fresh profile) painted in its window, and its memory once idle.
//!
//! ```sh
//! cargo build --release -p civkey-app
//! dbus-run-session -- scripts/lib/with-keyring xvfb-run -a -s "-screen 0 1280x800x24" \
//!     cargo bench -p civkey-tests --bench app_start
//! ```
//!
//! Each of the runs starts `target/release/civkey-app` with a new profile and polls its X window
//! every 20 ms until it shows more than a blank page (the front end keeps the page hidden until
//! the first screen is filled in). Memory is read after 5 s idle from `/proc`: the app's own
//! process, and the app with the WebKit processes it started (WebKitWebProcess,
//! WebKitNetworkProcess), as resident set (RSS) and as proportional set (PSS, shared pages split
//! between the processes sharing them). Not a criterion benchmark: a launch is not repeatable in
//! one process.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use civkey_tests::x11::{find_window, screenshot_colours, App};
use civkey_tests::{target_dir, TempDir};

const RUNS: usize = 5;
const MIN_COLOURS: u64 = 16;
const IDLE: Duration = Duration::from_secs(5);

/// `(rss, pss)` in KiB of process `pid`.
fn memory(pid: u32) -> (u64, u64) {
    let field = |text: &str, name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
    (field(&status, "VmRSS:"), field(&rollup, "Pss:"))
}

/// `pid` and every process below it.
fn family(pid: u32) -> Vec<u32> {
    let mut all = vec![pid];
    let mut i = 0;
    while i < all.len() {
        let parent = all[i];
        let children = std::fs::read_to_string(format!("/proc/{parent}/task/{parent}/children"))
            .unwrap_or_default();
        all.extend(
            children
                .split_whitespace()
                .filter_map(|c| c.parse::<u32>().ok()),
        );
        i += 1;
    }
    all
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    assert!(
        std::env::var_os("DISPLAY").is_some(),
        "no DISPLAY: run under xvfb-run (see this file's header)"
    );
    let binary = target_dir().join("release").join("civkey-app");
    assert!(
        binary.is_file(),
        "{} is missing: cargo build --release -p civkey-app",
        binary.display()
    );
    let size = std::fs::metadata(&binary).unwrap().len();
    println!(
        "release binary: {:.1} MB ({size} bytes), {}",
        size as f64 / 1e6,
        binary.display()
    );

    let (mut starts, mut own_rss, mut own_pss, mut all_rss, mut all_pss) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for run in 0..RUNS {
        let home = TempDir::new("civkey-app-start");
        let log = home.0.join("app.log");
        let started = Instant::now();
        let mut app = App::start(&binary, &home.0, &log).unwrap();
        let shot = home.0.join("window.png");
        let first_screen = loop {
            app.check_running(&log).unwrap();
            if let Some(window) = find_window("civkey").unwrap() {
                if screenshot_colours(&window.id, &shot).unwrap_or(0) >= MIN_COLOURS {
                    break started.elapsed();
                }
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "no first screen within 60 s; log: {}",
                log.display()
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        std::thread::sleep(IDLE);
        let own = memory(app.id());
        let (rss, pss) = family(app.id())
            .into_iter()
            .map(memory)
            .fold((0, 0), |(r, p), (r2, p2)| (r + r2, p + p2));
        println!(
            "run {}: first screen after {:.0} ms; idle memory: app {:.0} MB RSS ({:.0} MB PSS); app + WebKit {:.0} MB RSS, {:.0} MB PSS",
            run + 1,
            first_screen.as_secs_f64() * 1e3,
            own.0 as f64 / 1024.0,
            own.1 as f64 / 1024.0,
            rss as f64 / 1024.0,
            pss as f64 / 1024.0
        );
        starts.push(first_screen.as_secs_f64() * 1e3);
        own_rss.push(own.0 as f64 / 1024.0);
        own_pss.push(own.1 as f64 / 1024.0);
        all_rss.push(rss as f64 / 1024.0);
        all_pss.push(pss as f64 / 1024.0);
        drop(app);
    }
    println!(
        "median of {RUNS}: first screen {:.0} ms; idle app {:.0} MB RSS ({:.0} MB PSS); app + WebKit {:.0} MB RSS, {:.0} MB PSS",
        median(&mut starts),
        median(&mut own_rss),
        median(&mut own_pss),
        median(&mut all_rss),
        median(&mut all_pss)
    );
}
