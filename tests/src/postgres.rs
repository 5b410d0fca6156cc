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

/// Whether this test binary runs its servers on PostgreSQL: true in `e2e_postgres` (the e2e suite
/// compiled a second time, tests/Cargo.toml), false in `e2e` and everywhere else (benchmarks,
/// the library's own tests). Cargo names a test binary `NAME-HASH`, so the running executable's
/// file name says which one this is; nothing else has to be set for either run.
///
/// The tests that stay on SQLite (the app's own window and WebDriver tests, which test the app and
/// not the database, and the one-time code accounts, which use no server) are left out of
/// `e2e_postgres` in one place, `.config/nextest.toml`'s `default-filter`.
pub fn this_binary_runs_on_postgres() -> bool {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.file_name().map(|n| n.to_string_lossy().into_owned()))
        .is_some_and(|name| name.starts_with("e2e_postgres"))
}

/// A fresh database for one test server whose files go in `dir`: a new database on the suite's
/// PostgreSQL server when [`this_binary_runs_on_postgres`], else a new SQLite file
/// `dir/civkey.db` (the same path `civkey-server --data-dir DIR` uses).
pub async fn test_database(dir: &std::path::Path) -> String {
    if this_binary_runs_on_postgres() {
        fresh_database().await
    } else {
        format!("sqlite://{}/civkey.db", dir.display())
    }
}

/// [`fresh_database`] for code outside an async runtime (or inside one that must not block):
/// made on a thread of its own.
pub fn fresh_database_blocking() -> String {
    std::thread::spawn(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(fresh_database())
    })
    .join()
    .unwrap()
}

/// A backup of the database at `url` restored elsewhere, as a thief would hold one: `pg_dump`
/// (plain SQL) of it loaded by `psql` into a fresh database on the suite's server; returns the
/// copy's URL.
pub fn dump_and_restore(url: &str) -> String {
    let copy = fresh_database_blocking();
    let dump = std::process::Command::new(server_program("pg_dump"))
        .args(["--no-owner", "--dbname", url])
        .output()
        .unwrap();
    assert!(
        dump.status.success(),
        "pg_dump: {}",
        String::from_utf8_lossy(&dump.stderr)
    );
    let mut psql = std::process::Command::new(server_program("psql"))
        .args(["--quiet", "--set", "ON_ERROR_STOP=1", "--dbname", &copy])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut psql.stdin.take().unwrap(), &dump.stdout).unwrap();
    assert!(psql.wait().unwrap().success(), "psql loaded the dump");
    copy
}

/// A program of Debian's PostgreSQL (`/usr/lib/postgresql/VERSION/bin/NAME`, the newest version
/// installed), as scripts/lib/postgres-server finds them.
fn server_program(name: &str) -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|version| version.path().join("bin").join(name))
        .filter(|program| program.exists())
        .collect();
    found.sort();
    found
        .pop()
        .unwrap_or_else(|| panic!("no {name} under /usr/lib/postgresql: install postgresql"))
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
        Self::start_with(None, &["fsync=off"])
    }

    /// Starts a new server with the settings `settings` (`NAME=VALUE`; none: Debian's defaults,
    /// fsync and synchronous commit on, as the benchmarks want), under `taskset -c CPUS` when
    /// `cpus` is given (the postmaster and every process it forks stay on those cores).
    pub fn start_with(cpus: Option<&str>, settings: &[&str]) -> OwnServer {
        let dir = crate::TempDir::new("civkey-own-postgres");
        // The server runs as `postgres` when the tests run as root: it must reach its folder.
        std::process::Command::new("chmod")
            .arg("755")
            .arg(dir.path())
            .status()
            .unwrap();
        let folder = dir.path().join("server");
        let mut command = match cpus {
            Some(cpus) => {
                let mut taskset = std::process::Command::new("taskset");
                taskset.args(["-c", cpus]).arg(script());
                taskset
            }
            None => std::process::Command::new(script()),
        };
        let out = command
            .arg("start")
            .arg(&folder)
            .args(settings)
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

    /// The postmaster's process id (the first line of `postmaster.pid`).
    pub fn postmaster_pid(&self) -> u32 {
        let pid_file = self.folder.join("data/postmaster.pid");
        let text = std::fs::read_to_string(pid_file).unwrap();
        text.lines().next().unwrap().trim().parse().unwrap()
    }

    fn pg_ctl(&self, args: &[&str]) {
        let pg_ctl = server_program("pg_ctl");
        let data = self.folder.join("data");
        let mut command = if is_root() {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(pg_ctl);
            c
        } else {
            std::process::Command::new(pg_ctl)
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
