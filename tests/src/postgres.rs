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
    let admin = admin_url();
    let name = format!("civkey_{}", hex::encode(rand_bytes()));
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to the test PostgreSQL at {admin}: {e}"));
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .unwrap();
    let _ = conn.close().await;
    let mut url = url::Url::parse(&admin).unwrap();
    url.set_path(&format!("/{name}"));
    url.to_string()
}

fn rand_bytes() -> [u8; 8] {
    let mut bytes = [0u8; 8];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes).unwrap();
    bytes
}

/// A PostgreSQL server of the test's own (`scripts/lib/postgres-server start`, in a temporary
/// folder), which the test can stop and start again on the same port — to see what the civkey
/// server does while its database is down. Removed when dropped.
pub struct OwnServer {
    /// The superuser's URL (`postgres://postgres@127.0.0.1:PORT/postgres`).
    pub url: String,
    folder: PathBuf,
    _dir: crate::TempDir,
}

impl OwnServer {
    /// Starts a new server (initdb and all: a second or two).
    pub fn start() -> OwnServer {
        let dir = crate::TempDir::new("civkey-own-postgres");
        // The server runs as `postgres` when the tests run as root: it must reach its folder.
        std::process::Command::new("chmod")
            .arg("755")
            .arg(dir.path())
            .status()
            .unwrap();
        let folder = dir.path().join("server");
        let out = std::process::Command::new(script())
            .arg("start")
            .arg(&folder)
            .arg("fsync=off")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "postgres-server start failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let url = String::from_utf8_lossy(&out.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("CIVKEY_TEST_POSTGRES="))
            .expect("postgres-server names its URL")
            .to_string();
        OwnServer {
            url,
            folder,
            _dir: dir,
        }
    }

    /// Stops the server (fast shutdown: its connections are cut); [`OwnServer::start_again`]
    /// brings it back on the same port with the same data.
    pub fn stop(&self) {
        self.pg_ctl(&["-m", "fast", "-w", "stop"]);
    }

    /// Starts the stopped server again, with the options it first started with.
    pub fn start_again(&self) {
        let log = self.folder.join("server.log");
        self.pg_ctl(&["-l", &log.display().to_string(), "-w", "restart"]);
    }

    fn pg_ctl(&self, args: &[&str]) {
        let bindir = std::fs::read_dir("/usr/lib/postgresql")
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.path().join("bin"))
            .filter(|p| p.join("pg_ctl").is_file())
            .max()
            .expect("PostgreSQL's server programs are installed");
        let data = self.folder.join("data");
        let mut command = if is_root() {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(bindir.join("pg_ctl"));
            c
        } else {
            std::process::Command::new(bindir.join("pg_ctl"))
        };
        let out = command.arg("-D").arg(&data).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "pg_ctl {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        let _ = std::process::Command::new(script())
            .arg("stop")
            .arg(&self.folder)
            .output();
    }
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/lib/postgres-server")
}

fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}
