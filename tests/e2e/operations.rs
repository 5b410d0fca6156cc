//! The real `civkey-server` process as an operator runs it: SIGTERM shuts it down gracefully,
//! `--log-format json` writes only JSON with the request id on every line of a request,
//! `--metrics-listen` serves metrics apart from the public listener, and `/readyz` follows the
//! database (PostgreSQL stopped and started again) while `/healthz` stays up.

use std::io::{BufRead, BufReader};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use civkey_tests::http::{cookie_pair, csrf_of, set_cookies};
use civkey_tests::postgres::OwnServer;
use civkey_tests::{ServerOptions, ServerProcess, TestServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Reads one HTTP/1.1 response with a `Content-Length` from `tcp`: its head and its whole body.
async fn read_response(tcp: &mut tokio::net::TcpStream) -> (String, String) {
    let mut bytes = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        if let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        let n = tcp.read(&mut buf).await.unwrap();
        assert!(n > 0, "the connection closed within the response head");
        bytes.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&bytes[..head_end]).to_string();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().unwrap())
        })
        .expect("a response with a Content-Length");
    while bytes.len() < head_end + length {
        let n = tcp.read(&mut buf).await.unwrap();
        assert!(n > 0, "the connection closed within the response body");
        bytes.extend_from_slice(&buf[..n]);
    }
    let body = String::from_utf8_lossy(&bytes[head_end..head_end + length]).to_string();
    (head, body)
}

/// SIGTERM with a login page's event stream open and a password post in flight (its body half
/// sent): the stream ends (cleanly, so the browser reconnects elsewhere), new connections are
/// refused, the post gets its whole answer once its body is complete, and the process exits with
/// status 0 within 10 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_ends_streams_finishes_requests_in_flight_refuses_new_ones_and_exits_0() {
    let mut server = ServerProcess::start(&[]);
    let base = server.base.clone();
    let address = base.trim_start_matches("http://").to_string();
    let http = reqwest::Client::new();

    // An event stream: the portal's own login page with the mobile key.
    let mut events = civkey_tests::portal::key_login_events(&http, &base).await;
    let first = events.chunk().await.unwrap().expect("the first QR code");
    assert!(String::from_utf8_lossy(&first).contains("event: qr"));

    // A password post in flight: on a connection that has been served once (so it is accepted),
    // the head and half the body.
    let (pre, csrf) = civkey_tests::portal::login_form(&http, &base).await;
    let form = format!("csrf={csrf}&username=nobody&password=a+guessed+password&totp=123456&next=");
    let (part, rest) = form.split_at(form.len() / 2);
    let mut tcp = tokio::net::TcpStream::connect(&address).await.unwrap();
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: civkey\r\n\r\n")
        .await
        .unwrap();
    let (head, _) = read_response(&mut tcp).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let post_head = format!(
        "POST /portal/login HTTP/1.1\r\nHost: civkey\r\nCookie: {pre}\r\nAccept-Language: en\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{part}",
        form.len()
    );
    tcp.write_all(post_head.as_bytes()).await.unwrap();
    // Time for the server to read the head and start waiting for the body.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let terminated = Instant::now();
    server.terminate();

    // The stream ends: the end of the body, not an error.
    let ended = civkey_tests::http::stream_end(&mut events, Duration::from_secs(5)).await;
    assert!(ended.is_ok(), "the stream ended cleanly: {ended:?}");

    // New connections are refused.
    civkey_tests::wait_until("new connections refused", Duration::from_secs(5), || {
        let address = address.clone();
        async move {
            tokio::net::TcpStream::connect(&address)
                .await
                .is_err()
                .then_some(())
        }
    })
    .await;

    // The post in flight is answered in full.
    tcp.write_all(rest.as_bytes()).await.unwrap();
    let (head, body) = tokio::time::timeout(Duration::from_secs(8), read_response(&mut tcp))
        .await
        .expect("the post in flight was answered");
    assert!(head.starts_with("HTTP/1.1 "), "{head}");
    assert!(
        body.contains("The username, password or one-time code is wrong.")
            && body.contains("</html>"),
        "{head}{body}"
    );

    let status = tokio::task::spawn_blocking(move || server.exit_within(Duration::from_secs(10)))
        .await
        .unwrap()
        .expect("the process exited within 10 s of SIGTERM");
    assert!(status.success(), "{status}");
    assert!(terminated.elapsed() < Duration::from_secs(10));
}

/// `civkey-server serve --log-format json --metrics-listen …`: every line on standard error is a
/// JSON object (standard output stays empty), the lines logged within a request carry the id the
/// response's `X-Request-Id` names, a password posted is on no line, metrics are served on their
/// own address (and not on the public one), and SIGTERM ends it with status 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_carry_the_request_id_and_metrics_are_served_apart() {
    let dir = civkey_tests::TempDir::new("civkey-json-logs");
    let key = hex::encode([7u8; 32]);
    let mut child = std::process::Command::new(
        civkey_tests::built_binary("civkey-server", "civkey-server").unwrap(),
    )
    .arg("--data-dir")
    .arg(dir.path())
    .args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--metrics-listen",
        "127.0.0.1:0",
        "--log-format",
        "json",
    ])
    .env("CIVKEY_KEY", &key)
    .env("CIVKEY_LOG", "info,civkey_server::access=debug")
    .stdin(std::process::Stdio::null())
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let stderr = child.stderr.take().unwrap();
    let reader = {
        let lines = Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line);
            }
        })
    };
    let stdout = child.stdout.take().unwrap();
    let stdout_reader = std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<_>>()
    });
    let message_with = |needle: &str| {
        let lines = Arc::clone(&lines);
        let needle = needle.to_string();
        move || {
            let lines = lines.lock().unwrap().clone();
            let found = lines.iter().find_map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).ok()?;
                let m = v["fields"]["message"].as_str()?;
                m.contains(&needle).then(|| m.to_string())
            });
            async move { found }
        }
    };
    let listening = civkey_tests::wait_until(
        "the listening line",
        Duration::from_secs(60),
        message_with("listening on "),
    )
    .await;
    let base = format!("http://{}", listening.rsplit(' ').next().unwrap());
    let metrics = civkey_tests::wait_until(
        "the metrics line",
        Duration::from_secs(5),
        message_with("metrics on "),
    )
    .await;
    let metrics_url = metrics.rsplit(' ').next().unwrap().to_string();

    let http = reqwest::Client::new();
    let login = http
        .get(format!("{base}/portal/login"))
        .send()
        .await
        .unwrap();
    let get_id = login.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    let pre = cookie_pair(&set_cookies(&login), "civkey_pre");
    let csrf = csrf_of(&login.text().await.unwrap(), "/portal/login");
    let secret = "SECRET-horse-battery-9431";
    let posted = http
        .post(format!("{base}/portal/login"))
        .header("cookie", &pre)
        .form(&[
            ("csrf", csrf.as_str()),
            ("username", "nobody"),
            ("password", secret),
            ("totp", "123456"),
            ("next", ""),
        ])
        .send()
        .await
        .unwrap();
    let post_id = posted.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    assert_ne!(get_id, post_id);
    let _ = posted.text().await.unwrap();

    let public = http.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(public.status(), 404, "metrics on the public listener");
    let public_id = public.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    let scraped = http
        .get(&metrics_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        scraped.contains("civkey_logins_total{means=\"password_totp\",outcome=\"refused\"} 1")
            && scraped
                .contains("civkey_http_requests_total{route=\"/portal/login\",method=\"POST\""),
        "{scraped}"
    );

    // Each request's access line, in its span with its id.
    for (id, method) in [(&get_id, "GET"), (&post_id, "POST")] {
        let lines = lines.clone();
        let id = id.clone();
        civkey_tests::wait_until("the request's lines", Duration::from_secs(5), move || {
            let found = lines.lock().unwrap().iter().any(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap_or_default();
                v["span"]["request_id"] == id.as_str() && v["fields"]["method"] == method
            });
            async move { found.then_some(()) }
        })
        .await;
    }

    let pid = child.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    reader.join().unwrap();
    assert!(
        stdout_reader.join().unwrap().is_empty(),
        "serve prints nothing on stdout"
    );

    let lines = lines.lock().unwrap().clone();
    assert!(lines.len() >= 5, "{lines:?}");
    for line in &lines {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("a log line is not JSON ({e}): {line}"));
        assert!(
            v["level"].is_string() && v["timestamp"].is_string(),
            "{line}"
        );
        assert!(!line.contains(secret), "the password was logged: {line}");
        // A line in a request's span carries one of the ids answered.
        if let Some(id) = v["span"]["request_id"].as_str() {
            assert!(
                [&get_id, &post_id, &public_id].contains(&&id.to_string()),
                "{line}"
            );
        }
    }
    assert!(
        lines.iter().any(|l| l.contains("SIGTERM: shutting down")),
        "{lines:?}"
    );
}

/// `/readyz` asks the database: 200 while PostgreSQL answers, 503 (with a short reason) while it
/// is stopped — when `/healthz` still says the process lives — and 200 again once it is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_follows_postgresql_while_healthz_stays_up() {
    let postgres = tokio::task::spawn_blocking(OwnServer::start).await.unwrap();
    let server = TestServer::start_with(ServerOptions {
        database: Some(postgres.url.clone()),
        ..ServerOptions::default()
    })
    .await;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let get = |path: &str| {
        let request = http.get(format!("{}{path}", server.base));
        async move {
            let answer = request.send().await.unwrap();
            let status = answer.status().as_u16();
            (status, answer.text().await.unwrap())
        }
    };
    assert_eq!(
        get("/readyz").await,
        (200, r#"{"status":"ready"}"#.to_string())
    );
    assert_eq!(get("/healthz").await.0, 200);

    let postgres = tokio::task::spawn_blocking(move || {
        postgres.stop();
        postgres
    })
    .await
    .unwrap();
    let started = Instant::now();
    let (status, body) = get("/readyz").await;
    assert_eq!(status, 503, "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "readyz answers within its own timeout"
    );
    let reason: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(reason["status"], "not_ready");
    assert_eq!(reason["reason"], "database unavailable");
    assert_eq!(get("/healthz").await.0, 200, "the process still lives");

    let _postgres = tokio::task::spawn_blocking(move || {
        postgres.start_again();
        postgres
    })
    .await
    .unwrap();
    civkey_tests::wait_until("ready again", Duration::from_secs(15), || {
        let answer = get("/readyz");
        async move { (answer.await.0 == 200).then_some(()) }
    })
    .await;
}
