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
async fn home_page_speaks_czech_by_default_and_hungarian_on_request() {
    let (base, _server) = start_server().await;
    let czech = reqwest::get(format!("{base}/"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        czech.contains("lang=\"cs\"") && czech.contains("Identitní server civkey"),
        "{czech}"
    );
    let hungarian = reqwest::get(format!("{base}/?lang=hu"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        hungarian.contains("civkey azonosítási szerver"),
        "{hungarian}"
    );
}

#[tokio::test]
async fn unknown_paths_get_the_documented_error_body() {
    let (base, _server) = start_server().await;
    let response = reqwest::get(format!("{base}/nope")).await.unwrap();
    assert_eq!(response.status(), 404);
    let body: ApiError = response.json().await.unwrap();
    assert_eq!(body.code, ErrorCode::NotFound);
}
