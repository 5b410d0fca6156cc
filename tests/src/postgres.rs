//! The private PostgreSQL server the suite runs against: `scripts/test` starts one
//! (`scripts/lib/with-postgres`, initdb in a temporary folder, its own port, TLS with its own CA)
//! and names it in `CIVKEY_TEST_POSTGRES` (the superuser's URL) and `CIVKEY_TEST_POSTGRES_CA` (the
//! CA file that signed its certificate for 127.0.0.1 and localhost). Every test gets a database of
//! its own ([`fresh_database`]); the server and all its databases go when the run ends.

use std::path::PathBuf;

use sqlx::Connection as _;

const HOW: &str = "run the suite with scripts/test, or a test binary under \
                   scripts/lib/with-postgres (e.g. `scripts/lib/with-postgres cargo test …`)";

/// The superuser URL of the suite's PostgreSQL server (`postgres://postgres@127.0.0.1:PORT/postgres`).
/// Fails the test, naming the fix, when there is none.
pub fn admin_url() -> String {
    match std::env::var("CIVKEY_TEST_POSTGRES") {
        Ok(url) if !url.is_empty() => url,
        _ => panic!("this test needs PostgreSQL and CIVKEY_TEST_POSTGRES is not set: {HOW}"),
    }
}

/// The certificate authority that signed the suite's PostgreSQL server certificate.
pub fn ca_file() -> PathBuf {
    match std::env::var_os("CIVKEY_TEST_POSTGRES_CA") {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => panic!("this test needs PostgreSQL and CIVKEY_TEST_POSTGRES_CA is not set: {HOW}"),
    }
}

/// Creates a new empty database on the suite's server and returns its URL
/// (`postgres://postgres@127.0.0.1:PORT/civkey_<random>`).
pub async fn fresh_database() -> String {
    fresh_database_on(&admin_url()).await
}

/// Creates a new empty database on the server whose superuser URL is `admin`; returns its URL.
pub async fn fresh_database_on(admin: &str) -> String {
    let name = format!("civkey_{}", hex::encode(rand_bytes()));
    let mut conn = sqlx::PgConnection::connect(admin)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to the test PostgreSQL at {admin}: {e}"));
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .unwrap();
    let _ = conn.close().await;
    let mut url = url::Url::parse(admin).unwrap();
    url.set_path(&format!("/{name}"));
    url.to_string()
}

fn rand_bytes() -> [u8; 8] {
    let mut bytes = [0u8; 8];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes).unwrap();
    bytes
}

/// A private PostgreSQL server of its own (`scripts/lib/postgres-server start`, default settings:
/// fsync and synchronous commit on), for benchmarks, which run outside `scripts/test`; stopped
/// and removed when dropped.
pub struct PrivateServer {
    /// The superuser's URL (`postgres://postgres@127.0.0.1:PORT/postgres`).
    pub admin_url: String,
    dir: PathBuf,
}

impl PrivateServer {
    /// Starts one, under `taskset -c CPUS` when `cpus` is given (the postmaster and every process
    /// it forks stay on those cores), with the server settings `settings` (`NAME=VALUE`).
    pub fn start(cpus: Option<&str>, settings: &[&str]) -> PrivateServer {
        let dir = std::env::temp_dir().join(format!("civkey-pg-{}", hex::encode(rand_bytes())));
        let script = server_script();
        let mut command = match cpus {
            Some(cpus) => {
                let mut taskset = std::process::Command::new("taskset");
                taskset.args(["-c", cpus]).arg(&script);
                taskset
            }
            None => std::process::Command::new(&script),
        };
        let output = command
            .arg("start")
            .arg(&dir)
            .args(settings)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let admin_url = stdout
            .lines()
            .find_map(|l| l.strip_prefix("CIVKEY_TEST_POSTGRES="))
            .unwrap_or_else(|| {
                panic!(
                    "postgres-server start failed: {}",
                    String::from_utf8_lossy(&output.stderr)
                )
            })
            .to_string();
        PrivateServer { admin_url, dir }
    }

    /// The postmaster's process id (the first line of `postmaster.pid`).
    pub fn postmaster_pid(&self) -> u32 {
        let text = std::fs::read_to_string(self.dir.join("data/postmaster.pid")).unwrap();
        text.lines().next().unwrap().trim().parse().unwrap()
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        let _ = std::process::Command::new(server_script())
            .arg("stop")
            .arg(&self.dir)
            .status();
    }
}

fn server_script() -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/lib/postgres-server")
}
