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
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
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
