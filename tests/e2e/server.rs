//! The server answers over real HTTP on a loopback port chosen by the OS.

use civkey_proto::{ApiError, ErrorCode};

async fn start_server() -> (String, civkey_tests::TestServer) {
    let server = civkey_tests::TestServer::start().await;
    (server.base.clone(), server)
}

#[tokio::test]
async fn health_check_reports_version_and_protocol() {
    let (base, _server) = start_server().await;
    let body: serde_json::Value = reqwest::get(format!("{base}/healthz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["protocol"], 1);
}

#[tokio::test]
async fn the_portal_speaks_czech_by_default_and_remembers_a_chosen_language() {
    let (base, _server) = start_server().await;
    let client = civkey_tests::http::no_redirects();
    let root = client.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(root.headers()["location"], "/portal");
    let czech = client
        .get(format!("{base}/portal/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(czech.contains("lang=\"cs\""), "{czech}");
    let chosen = client
        .get(format!("{base}/portal/login?lang=hu"))
        .send()
        .await
        .unwrap();
    let cookie = chosen
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("civkey_lang="))
        .unwrap()
        .to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let remembered = client
        .get(format!("{base}/portal/login"))
        .header("cookie", cookie.split(';').next().unwrap())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(remembered.contains("lang=\"hu\""), "{remembered}");
}

#[tokio::test]
async fn unknown_paths_get_the_documented_error_body() {
    let (base, _server) = start_server().await;
    let response = reqwest::get(format!("{base}/nope")).await.unwrap();
    assert_eq!(response.status(), 404);
    let body: ApiError = response.json().await.unwrap();
    assert_eq!(body.code, ErrorCode::NotFound);
}

/// `civkey-server ARGS…` on a fresh database in `dir`.
fn admin(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    civkey_tests::cli::admin_command(dir, args)
        .output()
        .unwrap()
}

#[test]
fn an_operator_registers_a_service_and_rotates_the_signing_key() {
    let dir = civkey_tests::TempDir::new("civkey-admin-oidc");
    let added = admin(
        &dir.0,
        &[
            "client",
            "add",
            "--name",
            "Daňový portál",
            "--redirect-uri",
            "https://dane.example.cz/callback",
        ],
    );
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let added: serde_json::Value = serde_json::from_slice(&added.stdout).unwrap();
    let client_id = added["client_id"].as_str().unwrap();
    assert!(added["client_secret"].as_str().unwrap().len() >= 40);

    let listed = admin(&dir.0, &["client", "list"]);
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(listed["client_id"], client_id);
    assert!(
        listed.get("client_secret").is_none(),
        "the secret is shown once only"
    );

    let refused = admin(
        &dir.0,
        &[
            "client",
            "add",
            "--name",
            "X",
            "--redirect-uri",
            "http://evil.example/cb",
        ],
    );
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("must use https"));

    let first = admin(&dir.0, &["keys", "rotate"]);
    let second = admin(&dir.0, &["keys", "rotate"]);
    let kid = |o: &std::process::Output| {
        serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()["active_kid"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_ne!(kid(&first), kid(&second));
    let jwks: civkey_proto::oidc::Jwks =
        serde_json::from_slice(&admin(&dir.0, &["keys", "list"]).stdout).unwrap();
    let kids: Vec<&str> = jwks.keys.iter().map(|k| k.kid.as_str()).collect();
    assert_eq!(kids, vec![kid(&second), kid(&first)]);
}

/// Every sealed column of the database in `dir`, read with plain SQL as a copy would be.
async fn sealed_columns(dir: &std::path::Path) -> Vec<Option<String>> {
    use sqlx::{Connection, Row};
    sqlx::any::install_default_drivers();
    let mut db = sqlx::AnyConnection::connect(&civkey_tests::cli::data_dir_database(dir))
        .await
        .unwrap();
    let mut values = Vec::new();
    for sql in [
        "SELECT totp_secret FROM citizens ORDER BY id",
        "SELECT bok_hash FROM citizens ORDER BY id",
        "SELECT totp_secret FROM clerks ORDER BY id",
        "SELECT private_pkcs8 FROM signing_keys ORDER BY id",
        "SELECT value FROM server_secrets ORDER BY name",
    ] {
        for row in sqlx::query(sql).fetch_all(&mut db).await.unwrap() {
            values.push(row.try_get::<Option<String>, _>(0).unwrap());
        }
    }
    values
}

/// A citizen with TOTP and a BOK, and a signing key, made from the command line in `dir`;
/// returns the citizen's TOTP secret as `citizen add` printed it.
fn citizen_with_secrets(dir: &std::path::Path) -> String {
    let added = civkey_tests::cli::admin(
        dir,
        &[
            "citizen",
            "add",
            "jana",
            "--name",
            "Jana",
            "--password-stdin",
        ],
        "correct horse battery\n",
    );
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let added: serde_json::Value = serde_json::from_slice(&added.stdout).unwrap();
    let uri = added["totp_uri"].as_str().unwrap().to_string();
    let secret = url::Url::parse(&uri)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "secret")
        .unwrap()
        .1
        .to_string();
    let bok =
        civkey_tests::cli::admin(dir, &["citizen", "set-bok", "--username", "jana"], "0042\n");
    assert!(
        bok.status.success(),
        "{}",
        String::from_utf8_lossy(&bok.stderr)
    );
    assert!(admin(dir, &["keys", "rotate"]).status.success());
    secret
}

#[tokio::test]
async fn a_wrong_key_is_refused_at_start_and_changes_nothing() {
    let dir = civkey_tests::TempDir::new("civkey-wrong-key");
    citizen_with_secrets(&dir.0);
    let before = sealed_columns(&dir.0).await;
    let other = dir.0.join("other.key");
    civkey_server::store::Kek::write_new_file(&other).unwrap();
    for args in [
        vec!["--key-file", other.to_str().unwrap(), "citizen", "list"],
        vec!["--key-file", other.to_str().unwrap(), "keys", "list"],
    ] {
        let refused = std::process::Command::new(
            civkey_tests::built_binary("civkey-server", "civkey-server").unwrap(),
        )
        .arg("--data-dir")
        .arg(&dir.0)
        .args(&args)
        .env(
            "CIVKEY_DATABASE",
            civkey_tests::cli::data_dir_database(&dir.0),
        )
        .env_remove("CIVKEY_KEY")
        .output()
        .unwrap();
        assert_eq!(refused.status.code(), Some(1));
        let err = String::from_utf8_lossy(&refused.stderr);
        assert!(err.contains("sealed under the key with id"), "{err}");
        assert!(err.contains("nothing was changed"), "{err}");
    }
    assert_eq!(sealed_columns(&dir.0).await, before, "nothing changed");
    // No key at all: refused with what to do.
    let none = std::process::Command::new(
        civkey_tests::built_binary("civkey-server", "civkey-server").unwrap(),
    )
    .arg("--data-dir")
    .arg(&dir.0)
    .args(["citizen", "list"])
    .env(
        "CIVKEY_DATABASE",
        civkey_tests::cli::data_dir_database(&dir.0),
    )
    .env_remove("CIVKEY_KEY")
    .env_remove("CIVKEY_KEY_FILE")
    .output()
    .unwrap();
    assert_eq!(none.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&none.stderr).contains("no key-encryption key"));
    assert!(admin(&dir.0, &["citizen", "list"]).status.success());
}

#[tokio::test]
async fn rotating_the_key_keeps_logins_totp_and_bok_working_and_the_old_key_opens_nothing() {
    use civkey_server::store::{Kek, Store};
    let dir = civkey_tests::TempDir::new("civkey-rotate-key");
    let totp_secret = citizen_with_secrets(&dir.0);
    let old_key = civkey_tests::cli::data_dir_key(&dir.0);
    let old_copy = dir.0.join("old.key");
    std::fs::copy(&old_key, &old_copy).unwrap();
    let new_key = dir.0.join("new.key");
    let made = admin(
        &dir.0,
        &["key", "generate", "--out", new_key.to_str().unwrap()],
    );
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let before = sealed_columns(&dir.0).await;

    let rotated = admin(
        &dir.0,
        &["key", "rotate", "--new-key-file", new_key.to_str().unwrap()],
    );
    assert!(
        rotated.status.success(),
        "{}",
        String::from_utf8_lossy(&rotated.stderr)
    );
    let rotated: serde_json::Value = serde_json::from_slice(&rotated.stdout).unwrap();
    // TOTP seed, BOK hash, signing key, pairwise key… and the key check.
    assert!(rotated["resealed"].as_u64().unwrap() >= 4, "{rotated}");
    let after = sealed_columns(&dir.0).await;
    assert_eq!(before.len(), after.len());
    assert!(before
        .iter()
        .zip(&after)
        .all(|(b, a)| b.is_none() == a.is_none() && (b.is_none() || b != a)));

    // The old key opens nothing: the server refuses to start with it.
    let url = civkey_tests::cli::data_dir_database(&dir.0);
    let err = Store::open(&url, Kek::read_file(&old_copy).unwrap())
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("sealed under the key with id"),
        "{err}"
    );

    // With the new key, everything works: the TOTP seed, the BOK, signing ID tokens.
    let store = Store::open(&url, Kek::read_file(&new_key).unwrap())
        .await
        .unwrap();
    let citizen = store.citizen_by_username("jana").await.unwrap().unwrap();
    assert_eq!(citizen.totp_secret.as_deref(), Some(totp_secret.as_str()));
    let bok = store.bok_citizen(&citizen.id).await.unwrap().unwrap();
    assert!(
        civkey_server::services::secrets::verify_secret("0042", &bok.bok_hash.unwrap())
            .await
            .unwrap()
    );
    let services = civkey_server::services::Services::new(
        store,
        std::sync::Arc::new(civkey_server::clock::SystemClock),
        civkey_proto::Origin::normalise("http://127.0.0.1:1").unwrap(),
    );
    let jwks = services.jwks().await.unwrap();
    let token = services
        .sign_jwt(&serde_json::json!({"sub": "x"}))
        .await
        .unwrap();
    let kid = serde_json::from_slice::<serde_json::Value>(
        &base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            token.split('.').next().unwrap(),
        )
        .unwrap(),
    )
    .unwrap()["kid"]
        .clone();
    assert_eq!(
        kid,
        serde_json::json!(jwks.keys[0].kid),
        "the same signing key signs"
    );
}

#[tokio::test]
async fn two_citizens_added_at_once_under_one_username_make_one_and_the_other_is_told_it_is_taken()
{
    // On both engines (this test runs in e2e and e2e_postgres): the database's unique constraint
    // decides the race, and its violation is recognised as "taken", not an internal error.
    let server = civkey_tests::TestServer::start().await;
    let add = || {
        civkey_server::services::citizens::add_citizen(
            &server.store,
            0,
            "jana",
            "Jana Nováková",
            None,
            "correct horse battery",
        )
    };
    let (first, second) = tokio::join!(add(), add());
    let (made, refused) = match (first, second) {
        (Ok(made), Err(refused)) | (Err(refused), Ok(made)) => (made, refused),
        (first, second) => panic!(
            "one citizen made and one refused, not {:?} and {:?}",
            first.map(|e| e.citizen_id),
            second.map(|e| e.citizen_id)
        ),
    };
    assert_eq!(refused.code(), ErrorCode::BadRequest, "{refused}");
    assert!(refused.to_string().contains("already taken"), "{refused}");
    let stored = server.store.citizen_by_username("jana").await.unwrap();
    assert_eq!(stored.map(|c| c.id), Some(made.citizen_id));
}
