//! What operators rely on, over HTTP against the real router: a panicking handler answers 500 and
//! the server goes on serving; request ids come from trusted proxies only; metrics count logins
//! and requests by route template, on their own listener and never on the public one.

use std::time::Duration;

use axum::routing::get;
use civkey_tests::{ServerOptions, TestServer};

/// A handler with a bug: it panics (what an `unwrap` on a broken invariant does).
async fn panics() -> &'static str {
    panic!("a handler's bug")
}

/// The attack: a request that makes a handler panic. Without the panic layer the connection task
/// died with it and the client got no answer at all (the connection closed before a response);
/// and in a release build, which aborted on panic, the whole process went down with every
/// connection. Now the API answers its `{code, message}` 500, a page the translated error page,
/// and the server goes on serving. The panicking routes are the test's own, behind the server's
/// own layers (`civkey_server::operations::with_layers`).
#[tokio::test]
async fn a_panicking_handler_answers_500_and_the_server_goes_on_serving() {
    let routes = axum::Router::new()
        .route("/api/v1/test-panic", get(panics))
        .route("/test-panic", get(panics));
    let server = TestServer::start_with(ServerOptions {
        routes: Some(routes),
        ..ServerOptions::default()
    })
    .await;
    let http = reqwest::Client::new();
    for _ in 0..3 {
        let api = http
            .get(format!("{}/api/v1/test-panic", server.base))
            .send()
            .await
            .expect("the API answers instead of closing the connection");
        assert_eq!(api.status(), 500);
        assert!(api.headers().contains_key("x-request-id"));
        let body: serde_json::Value = api.json().await.unwrap();
        assert_eq!(body["code"], "internal", "{body}");
        assert_eq!(
            body["message"], "internal error",
            "nothing of the panic: {body}"
        );

        let page = http
            .get(format!("{}/test-panic", server.base))
            .header("accept-language", "en")
            .send()
            .await
            .expect("a page answers instead of closing the connection");
        assert_eq!(page.status(), 500);
        let html = page.text().await.unwrap();
        assert!(
            html.contains("Something went wrong on our side") && !html.contains("a handler's bug"),
            "{html}"
        );
    }
    let czech = http
        .get(format!("{}/test-panic?lang=cs", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(czech.status(), 500);
    assert!(czech.text().await.unwrap().contains("lang=\"cs\""));
    let health = http
        .get(format!("{}/healthz", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200, "the server still serves");
    let login = http
        .get(format!("{}/portal/login", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
}

/// The attack: a client names its own request id (`X-Request-Id: …`), to have its requests
/// logged under another request's id, or to break log lines with quotes and line breaks. A
/// client that is not a trusted proxy gets an id of the server's own; a trusted proxy's id is
/// kept (so one id follows a request through the proxy's logs and ours), but only when it is a
/// short plain token.
#[tokio::test]
async fn only_a_trusted_proxy_names_the_request_id() {
    let http = reqwest::Client::new();
    let direct = TestServer::start().await;
    let answer = http
        .get(format!("{}/healthz", direct.base))
        .header("x-request-id", "forged-id-1")
        .send()
        .await
        .unwrap();
    let id = answer.headers()["x-request-id"].to_str().unwrap();
    assert_ne!(id, "forged-id-1", "a client chose its request id");
    assert!(
        id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "{id}"
    );
    let again = http
        .get(format!("{}/healthz", direct.base))
        .send()
        .await
        .unwrap();
    assert_ne!(
        again.headers()["x-request-id"].to_str().unwrap(),
        id,
        "one id per request"
    );

    let proxied = TestServer::start_behind_proxies(&["127.0.0.1"]).await;
    let answer = http
        .get(format!("{}/healthz", proxied.base))
        .header("x-request-id", "proxy-7f3a.1")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.headers()["x-request-id"], "proxy-7f3a.1");
    let answer = http
        .get(format!("{}/healthz", proxied.base))
        .header("x-request-id", "two words\"")
        .send()
        .await
        .unwrap();
    let id = answer.headers()["x-request-id"].to_str().unwrap();
    assert!(
        id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "{id}"
    );
}

/// Metrics move with a login and with requests, counted by route template (an id in the path adds
/// no series), the open event streams are counted, and the public listener serves no metrics.
#[tokio::test]
async fn metrics_count_logins_requests_and_streams_on_their_own_listener_only() {
    let server = TestServer::start().await;
    let account = civkey_tests::portal::eva_with_authenticator(&server).await;
    let http = civkey_tests::http::no_redirects();
    let public = http
        .get(format!("{}/metrics", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(public.status(), 404, "metrics on the public listener");

    // The metrics listener, as `civkey-server serve --metrics-listen` serves it.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let metrics_url = format!("http://{}/metrics", listener.local_addr().unwrap());
    tokio::spawn(civkey_server::serving::serve(
        listener,
        civkey_server::metrics::router(server.state.clone()),
        Default::default(),
        std::future::pending(),
    ));
    let scrape = || async {
        let answer = reqwest::get(&metrics_url).await.unwrap();
        assert_eq!(answer.status(), 200);
        assert!(answer.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4"));
        answer.text().await.unwrap()
    };
    let before = scrape().await;
    assert!(!before.contains("means=\"password_totp\""), "{before}");

    civkey_tests::portal::log_in_with_password_to(
        &server,
        &http,
        "/portal/login",
        "",
        ("eva", "eva's long password", &account),
    )
    .await;
    for id in ["0123456789abcdef0123456789abcdef", "another-id"] {
        let _ = http
            .get(format!("{}/oidc/login/{id}/events", server.base))
            .send()
            .await
            .unwrap();
    }
    let events = civkey_tests::portal::key_login_events(&http, &server.base).await;

    let after = scrape().await;
    for line in [
        "civkey_logins_total{means=\"password_totp\",outcome=\"success\"} 1",
        "civkey_http_requests_total{route=\"/portal/login\",method=\"POST\",status=\"303\"} 1",
        "civkey_http_requests_total{route=\"/metrics\"",
        "civkey_http_requests_total{route=\"unmatched\",method=\"GET\",status=\"404\"} 1",
        "civkey_http_request_duration_seconds_bucket{route=\"/portal/login\",method=\"GET\",status=\"200\",le=\"+Inf\"}",
        "civkey_open_event_streams 1",
        "civkey_db_pool_connections ",
        "civkey_db_pool_idle ",
        "civkey_outbox_readable 1",
    ] {
        if line.contains("/metrics") {
            // The metrics listener's own requests are not counted with the server's.
            assert!(!after.contains(line), "{after}");
        } else {
            assert!(after.lines().any(|l| l.starts_with(line)), "{line} in\n{after}");
        }
    }
    let events_route = after
        .lines()
        .filter(|l| l.starts_with("civkey_http_requests_total{route=\"/oidc/login/{id}/events\""))
        .count();
    assert!(events_route >= 1, "{after}");
    assert!(
        !after.contains("0123456789abcdef0123456789abcdef") && !after.contains("another-id"),
        "a raw path made a series: {after}"
    );

    drop(events);
    civkey_tests::wait_until(
        "the stream counted as closed",
        Duration::from_secs(10),
        || {
            let scrape = scrape();
            async move {
                scrape
                    .await
                    .lines()
                    .any(|l| l == "civkey_open_event_streams 0")
                    .then_some(())
            }
        },
    )
    .await;
}
