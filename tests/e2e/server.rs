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
    std::process::Command::new(
        civkey_tests::built_binary("civkey-server", "civkey-server").unwrap(),
    )
    .arg("--data-dir")
    .arg(dir)
    .args(args)
    .env("CIVKEY_LOG", "warn")
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
