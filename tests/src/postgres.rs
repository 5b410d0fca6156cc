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
