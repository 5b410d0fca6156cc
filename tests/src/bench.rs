//! What the benchmarks (`tests/benches/`) share: the reference they give ratios to (one ring
//! P-256 verification), percentiles, and the CPU time of other processes (the server binary,
//! PostgreSQL's postmaster and backends) read from `/proc`.

use std::time::{Duration, Instant};

/// The median time of one ring P-256 (ECDSA, SHA-256) signature verification, as the server
/// verifies: the reference every benchmark figure is also given as a ratio to.
pub fn p256_verify() -> Duration {
    use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED};
    use ring::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_FIXED_SIGNING};
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let pair =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
    let message = b"civkey benchmark reference";
    let signature = pair.sign(&rng, message).unwrap();
    let public = UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, pair.public_key().as_ref());
    let mut times: Vec<Duration> = (0..2_000)
        .map(|_| {
            let start = Instant::now();
            public.verify(message, signature.as_ref()).unwrap();
            start.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

/// The `p`-quantile (0–1) of `sorted` (nearest rank); zero for none.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

/// The fields of `/proc/PID/stat` after the command name (the first is the state), or none when
/// the process is gone.
fn stat_fields(pid: u32) -> Option<Vec<u64>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = text.rsplit_once(')')?;
    Some(
        rest.split_whitespace()
            .skip(1)
            .map(|f| f.parse().unwrap_or(0))
            .collect(),
    )
}

/// Clock ticks per second of `/proc`'s CPU times (`getconf CLK_TCK`, 100 on Linux).
fn ticks_per_second() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// CPU time (user + system) the process `pid` has used, all its threads together, in seconds
/// (a resolution of one clock tick, 10 ms).
pub fn process_cpu_secs(pid: u32) -> f64 {
    // After the state: ppid, pgrp, session, tty, tpgid, flags, minflt, cminflt, majflt,
    // cmajflt, utime (10), stime (11), cutime (12), cstime (13).
    let f = stat_fields(pid).unwrap_or_default();
    (f.get(10).unwrap_or(&0) + f.get(11).unwrap_or(&0)) as f64 / ticks_per_second()
}

/// CPU time PostgreSQL has used, in seconds: the postmaster `postmaster`, every process it forked
/// (the backends behind a pool's long-lived connections, the WAL writer, the checkpointer, …)
/// and those of its children that have exited.
pub fn postgres_cpu_secs(postmaster: u32) -> f64 {
    let mut ticks = 0;
    if let Some(f) = stat_fields(postmaster) {
        ticks += f[10] + f[11] + f[12] + f[13];
    }
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if let Some(f) = stat_fields(pid) {
            if f.first() == Some(&u64::from(postmaster)) {
                ticks += f[10] + f[11];
            }
        }
    }
    ticks as f64 / ticks_per_second()
}

/// Runs `program` with `args`, failing the benchmark with its name when it fails.
fn run(program: &str, args: &[&str]) {
    let status = std::process::Command::new(program)
        .args(args)
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(status.success(), "{program} {args:?} failed: {status}");
}

/// Pins every thread of this process, and those it starts later, to `cpus` (`taskset -a -p`).
pub fn pin_this_process(cpus: &str) {
    run(
        "taskset",
        &["-a", "-p", "-c", cpus, &std::process::id().to_string()],
    );
}

/// This process's open-file limit (the soft one, `Max open files` in `/proc/self/limits`);
/// the processes it starts inherit it.
pub fn open_file_limit() -> u64 {
    std::fs::read_to_string("/proc/self/limits")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("Max open files"))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or(1024)
}

/// The machine's load average over 1, 5 and 15 minutes (`/proc/loadavg`).
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The PKCE verifier of the logins benchmarks' service.
pub const LOGIN_VERIFIER: &str = "bench-verifier-0123456789-0123456789-0123456789-abcdef";
/// The redirect URI of the logins benchmarks' service.
pub const LOGIN_REDIRECT: &str = "http://127.0.0.1:9/callback";

/// A service, a citizen and her paired devices (in memory: the keystore is not what is measured)
/// at a server, and an HTTP client: everything one complete login needs ([`LoginBench::login`]).
pub struct LoginBench {
    base: String,
    client_id: String,
    secret: String,
    /// The citizen's paired devices.
    pub profiles: Vec<civkey_client::profile::Profile>,
    http: reqwest::Client,
    authorize_url: String,
}

/// Time spent in each step of [`LoginBench::login`], summed over all logins (nanoseconds).
pub static LOGIN_STEPS: [std::sync::atomic::AtomicU64; 7] =
    [const { std::sync::atomic::AtomicU64::new(0) }; 7];
/// The names of [`LOGIN_STEPS`].
pub const LOGIN_STEP_NAMES: [&str; 7] = [
    "authorize page",
    "first QR event",
    "open (device call)",
    "decision",
    "approval event",
    "token",
    "userinfo",
];

fn lap(step: usize, since: &mut Instant) {
    let now = Instant::now();
    LOGIN_STEPS[step].fetch_add(
        (now - *since).as_nanos() as u64,
        std::sync::atomic::Ordering::Relaxed,
    );
    *since = now;
}

/// Reads the event stream until an event whose data contains `needle`; returns that data.
pub async fn next_event(stream: &mut reqwest::Response, needle: &str) -> String {
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

/// A login page as a browser got it.
pub struct LoginPage {
    /// Its `civkey_login` cookie, `name=value`: what makes this browser the login's.
    pub cookie: String,
    /// The path of its event stream (`/oidc/login/ID/events`).
    pub events: String,
}

/// Asks for the login page at `authorize_url` (from `address` through a trusted proxy when
/// given: `X-Forwarded-For`), as a service's redirect sends the browser.
pub async fn login_page(
    http: &reqwest::Client,
    authorize_url: &str,
    address: Option<&str>,
) -> LoginPage {
    let mut request = http.get(authorize_url);
    if let Some(address) = address {
        request = request.header("x-forwarded-for", address);
    }
    let page = request.send().await.unwrap();
    assert_eq!(page.status(), 200, "the login page");
    let cookie = page
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("civkey_login="))
        .and_then(|c| c.split(';').next())
        .unwrap()
        .to_string();
    let text = page.text().await.unwrap();
    assert!(text.contains("data-qr-uri=\"civkey://login?"));
    let events = text
        .split("data-signin-events=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_string();
    LoginPage { cookie, events }
}

impl LoginBench {
    /// Adds `citizens` citizens, registers a service and pairs `devices` devices in `dir`, in
    /// turn to each citizen, through `services` (whose origin is the server's at `base`: in this
    /// process or another sharing its database).
    pub async fn setup(
        dir: &crate::TempDir,
        services: &civkey_server::services::Services,
        base: &str,
        citizens: usize,
        devices: usize,
    ) -> LoginBench {
        let mut people = Vec::new();
        for i in 0..citizens {
            people.push(crate::server::add_citizen(&services.store, &format!("jana{i}")).await);
        }
        let client = services
            .register_client("Bench service", &[LOGIN_REDIRECT.to_string()], None)
            .await
            .unwrap();
        let mut profiles = Vec::new();
        for i in 0..devices {
            let home = dir.0.join(format!("device-{i}"));
            let keys = std::sync::Arc::new(civkey_client::keystore::MemoryKeyStore::new());
            let profile = civkey_client::profile::Profile::open(&home, keys).unwrap();
            crate::pair_profile(services, &profile, &people[i % citizens]).await;
            profiles.push(profile);
        }
        let authorize = crate::authorize_url(
            &format!("{base}/oidc/authorize"),
            client.client.id.as_str(),
            LOGIN_REDIRECT,
            "s",
            "n",
            LOGIN_VERIFIER,
        );
        LoginBench {
            base: base.to_string(),
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

    /// One complete login by `profile` (the browser's requests from `address` through a trusted
    /// proxy when given: `X-Forwarded-For`); returns its duration. Adds each step's time to
    /// [`LOGIN_STEPS`].
    pub async fn login(
        &self,
        profile: &civkey_client::profile::Profile,
        address: Option<&str>,
    ) -> Duration {
        use civkey_proto::sign::Decision;
        let started = Instant::now();
        let mut since = started;
        let page = login_page(&self.http, &self.authorize_url, address).await;
        let from = |request: reqwest::RequestBuilder| match address {
            Some(address) => request.header("x-forwarded-for", address),
            None => request,
        };
        lap(0, &mut since);
        // As a browser does: the page's event stream, whose first event is this second's QR code.
        let mut stream = from(self.http.get(format!("{}{}", self.base, page.events)))
            .header("cookie", &page.cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(stream.status(), 200, "the login page's event stream");
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
        let tokens: serde_json::Value = self
            .http
            .post(format!("{}/oidc/token", self.base))
            .basic_auth(&self.client_id, Some(&self.secret))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", LOGIN_REDIRECT),
                ("code_verifier", LOGIN_VERIFIER),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        lap(5, &mut since);
        let info = self
            .http
            .get(format!("{}/oidc/userinfo", self.base))
            .bearer_auth(tokens["access_token"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(info.status(), 200);
        lap(6, &mut since);
        started.elapsed()
    }
}
