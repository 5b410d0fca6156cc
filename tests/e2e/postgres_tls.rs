//! TLS to PostgreSQL (sqlx over rustls): the suite's server speaks TLS with a certificate from its
//! own CA (scripts/lib/postgres-server). With `sslmode=verify-full` and that CA the server's
//! connections are encrypted; with another CA — a machine in the middle presenting its own
//! certificate — the server refuses to start and says why; `sslmode=require` encrypts without
//! checking whom it talks to. And the password in a database URL is not printed when the database
//! cannot be opened. These tests need PostgreSQL and run in `e2e_postgres` only
//! (.config/nextest.toml).

use civkey_server::store::{Kek, Store};
use civkey_tests::postgres;

/// `url` with `sslmode` (and `sslrootcert`) set.
fn with_tls(url: &str, mode: &str, root: Option<&std::path::Path>) -> String {
    let mut url = url::Url::parse(url).unwrap();
    url.query_pairs_mut().append_pair("sslmode", mode);
    if let Some(root) = root {
        url.query_pairs_mut()
            .append_pair("sslrootcert", root.to_str().unwrap());
    }
    url.to_string()
}

/// `civkey-server --config DIR/civkey.toml citizen list` with `database` in the file, as an
/// operator configures it: its output.
fn citizen_list_configured(dir: &std::path::Path, database: &str) -> std::process::Output {
    let config = dir.join("civkey.toml");
    std::fs::write(&config, format!("database = {}\n", toml_string(database))).unwrap();
    std::process::Command::new(
        civkey_tests::built_binary("civkey-server", "civkey-server").unwrap(),
    )
    .arg("--config")
    .arg(&config)
    .arg("--key-file")
    .arg(civkey_tests::cli::data_dir_key(dir))
    .args(["citizen", "list"])
    .env_remove("CIVKEY_DATABASE")
    .env_remove("CIVKEY_KEY")
    .env("CIVKEY_LOG", "warn")
    .output()
    .unwrap()
}

/// A TOML basic string.
fn toml_string(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

#[tokio::test]
async fn verify_full_with_the_servers_ca_connects_encrypted() {
    let url = with_tls(
        &postgres::fresh_database().await,
        "verify-full",
        Some(&postgres::ca_file()),
    );
    let dir = civkey_tests::TempDir::new("civkey-pg-tls");
    let key = Kek::read_file(&civkey_tests::cli::data_dir_key(&dir.0)).unwrap();
    let store = Store::open(&url, key).await.unwrap();
    let version = store.database_tls_version().await.unwrap();
    assert!(
        version.as_deref().is_some_and(|v| v.starts_with("TLSv1.")),
        "pg_stat_ssl says the connection is encrypted: {version:?}"
    );

    // The same through the configuration file, as an operator sets it up.
    let listed = citizen_list_configured(&dir.0, &url);
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
}

#[tokio::test]
async fn verify_full_with_another_ca_is_refused_with_the_reason() {
    // The attack: something between the server and its database presents a certificate the
    // operator's CA did not sign. Here: a CA of the attacker's, which the server is told to trust
    // instead, so the real server's certificate is the one it does not know.
    let dir = civkey_tests::TempDir::new("civkey-pg-other-ca");
    let other_ca = dir.0.join("other-ca.crt");
    let made = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=another CA",
            "-keyout",
        ])
        .arg(dir.0.join("other-ca.key"))
        .arg("-out")
        .arg(&other_ca)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let url = with_tls(
        &postgres::fresh_database().await,
        "verify-full",
        Some(&other_ca),
    );

    let err = Store::open(&url, Kek::generate().unwrap())
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("UnknownIssuer"),
        "refused for the certificate's issuer: {err}"
    );

    // The operator's view: the server does not start and says why.
    let refused = citizen_list_configured(&dir.0, &url);
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("cannot open the database") && stderr.contains("UnknownIssuer"),
        "{stderr}"
    );
}

#[tokio::test]
async fn sslmode_require_connects_encrypted() {
    let url = with_tls(&postgres::fresh_database().await, "require", None);
    let store = Store::open(&url, Kek::generate().unwrap()).await.unwrap();
    let version = store.database_tls_version().await.unwrap();
    assert!(
        version.as_deref().is_some_and(|v| v.starts_with("TLSv1.")),
        "{version:?}"
    );
}

#[tokio::test]
async fn without_sslmode_the_connection_is_reported_unencrypted() {
    // sqlx's default (`prefer`) would try TLS first; `disable` is plain, and the store says so —
    // the check above is not one that says "encrypted" for every connection.
    let url = with_tls(&postgres::fresh_database().await, "disable", None);
    let store = Store::open(&url, Kek::generate().unwrap()).await.unwrap();
    assert_eq!(store.database_tls_version().await.unwrap(), None);
}

#[tokio::test]
async fn the_database_password_is_not_printed_when_the_database_cannot_be_opened() {
    // The attack: the operator's terminal, a CI log or a log collector gathers what
    // civkey-server prints when it cannot open its database — and with it the password in the
    // URL. Here the server answers (the suite's server accepts any password) but the database
    // does not exist.
    let password = "S3cret-db-pw";
    let mut url = url::Url::parse(&postgres::admin_url()).unwrap();
    url.set_username("civkey").unwrap();
    url.set_path("/no_such_database");
    // Before the host, and as the `password` parameter (the driver takes both).
    let mut in_query = url.clone();
    in_query
        .query_pairs_mut()
        .append_pair("password", password);
    url.set_password(Some(password)).unwrap();
    let dir = civkey_tests::TempDir::new("civkey-pg-password");
    for url in [url, in_query] {
        let refused = citizen_list_configured(&dir.0, url.as_str());
        assert_eq!(refused.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(
            stderr.contains("no_such_database") && stderr.contains("does not exist"),
            "the reason is given: {stderr}"
        );
        assert!(!stderr.contains(password), "the password was printed: {stderr}");
    }
}

#[tokio::test]
async fn a_missing_certificate_authority_file_is_named_in_the_error() {
    let dir = civkey_tests::TempDir::new("civkey-pg-no-ca");
    let missing = dir.0.join("no-such-ca.crt");
    let url = with_tls(&postgres::admin_url(), "verify-full", Some(&missing));
    let refused = citizen_list_configured(&dir.0, &url);
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("cannot read the database's certificate authority (sslrootcert)")
            && stderr.contains(missing.to_str().unwrap()),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_database_that_refuses_connections_is_named_with_the_reason() {
    // Nothing listens on this port: the operator must learn that, not that "the pool timed out"
    // (what sqlx's pool says after retrying for 30 s).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = civkey_tests::TempDir::new("civkey-pg-refused");
    let url = format!("postgres://civkey@127.0.0.1:{port}/civkey");
    let refused = citizen_list_configured(&dir.0, &url);
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains(&format!("cannot open the database {url}"))
            && stderr.contains("Connection refused"),
        "{stderr}"
    );
}
