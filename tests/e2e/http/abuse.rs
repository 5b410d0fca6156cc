//! Abuse of the server over HTTP: requests made to cost it memory or time.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use civkey_proto::ids::LoginRequestId;
use civkey_server::services::oidc::authorize::signal_key;
use civkey_server::serving::ServeLimits;
use civkey_tests::http::no_redirects;
use civkey_tests::portal::concurrent_password_posts;
use civkey_tests::server::hold_idle_connections;
use civkey_tests::{ServerProcess, TestServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The attack: ask for the event stream of logins that never existed, with a cookie of one's own
/// making, again and again. Each request used to leave an entry in the server's change signal for
/// good (it subscribed before it looked the login up); now an entry lives only while its stream
/// does.
#[tokio::test]
async fn event_streams_asked_for_unknown_logins_leave_nothing_behind() {
    let server = TestServer::start().await;
    let http = no_redirects();
    let signal = &server.state.services().signal;
    let mut asked = Vec::new();
    for i in 0..2_000u64 {
        let mut bytes = [0u8; LoginRequestId::LEN];
        bytes[..8].copy_from_slice(&i.to_le_bytes());
        let id = LoginRequestId::from_bytes(bytes);
        let response = http
            .get(format!("{}/oidc/login/{id}/events", server.base))
            .header("Cookie", "civkey_login=forged")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "an unknown login is not found");
        asked.push(signal_key(&id));
    }
    let left = asked.iter().filter(|key| signal.is_watched(key)).count();
    assert_eq!(left, 0, "no entry is left per unknown id");
}

/// A server whose connections are cut after 2 seconds without a complete request head or body,
/// serving at most `max_connections` at once.
async fn server_with_short_timeouts(max_connections: usize) -> TestServer {
    let timeout = Duration::from_secs(2);
    TestServer::start_with_limits(ServeLimits {
        max_connections,
        header_read_timeout: timeout,
        body_read_timeout: timeout,
    })
    .await
}

/// Reads until the server closes `tcp` (whatever it sends first); false if it is still open
/// after `patience`.
async fn closed_by_server(tcp: &mut TcpStream, patience: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let read_to_end = async {
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(patience, read_to_end).await.is_ok()
}

/// The attack (slowloris): take every connection the server serves — 1,000 — and never finish a
/// request: half of them send half a request head and then nothing, the other half make one
/// request and then hold the keep-alive connection idle. With no timeouts (as under
/// `axum::serve`, or with them set to an hour here) every one is held for good and the next
/// citizen's request waits behind them for ever. Now each is cut after the header timeout, and
/// an ordinary portal request answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_idle_and_half_sent_connections_are_cut_and_the_portal_still_answers() {
    const HELD: usize = 1_000;
    let server = server_with_short_timeouts(HELD).await;
    let address = server.base.trim_start_matches("http://").to_string();
    let mut held = hold_idle_connections(&address, HELD).await;

    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let page = http
        .get(format!("{}/portal/login", server.base))
        .send()
        .await
        .expect("the portal answers while 1,000 connections are held");
    assert_eq!(page.status(), 200);

    let mut still_open = 0;
    for tcp in &mut held {
        if !closed_by_server(tcp, Duration::from_secs(10)).await {
            still_open += 1;
        }
    }
    assert_eq!(still_open, 0, "connections the server still holds");
}

/// The attack: send a request body a byte at a time, each byte just before a timeout between
/// reads would strike, so the body never ends. The deadline covers the whole body: after it the
/// request is refused with a clear error and the connection closed. (With the body timeout set to
/// an hour the request was still waiting after 10 seconds.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_trickled_a_byte_at_a_time_is_cut_at_its_deadline() {
    let server = server_with_short_timeouts(100).await;
    let citizen = server.add_citizen("jana").await;
    let pairing = server.new_pairing(&citizen).await;
    let path =
        civkey_proto::paths::PAIR_CLAIM.replace("{session_id}", &pairing.session_id.to_string());
    let mut tcp = TcpStream::connect(server.base.trim_start_matches("http://"))
        .await
        .unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: civkey\r\nContent-Type: application/json\r\n\
         Content-Length: 1000\r\n\r\n"
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let trickled = async {
        let mut buf = [0u8; 1024];
        loop {
            // A byte every half second; the answer arrives in between.
            let _ = tcp.write_all(b" ").await;
            match tokio::time::timeout(Duration::from_millis(500), tcp.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return,
                Ok(Ok(n)) => answer.extend_from_slice(&buf[..n]),
                Err(_) => {}
            }
        }
    };
    assert!(
        tokio::time::timeout(Duration::from_secs(10), trickled)
            .await
            .is_ok(),
        "the server still reads the trickled body after 10 seconds"
    );
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(
        answer.contains("the request body did not arrive within 2 seconds"),
        "{answer}"
    );
}

/// The attack: 200 password posts at once (from ten addresses, within each one's limit on failed
/// logins, so every post reaches the Argon2id check). Without a bound on the hashing queue all
/// 200 waited, each holding its memory, and the last waited for all the others; now the posts
/// beyond the queue are refused at once with a translated "busy, try again" page (503,
/// `Retry-After`), nothing else waits for them, and `/healthz` answers throughout. The real
/// server binary runs in its own process so its hashing pool is not shared with other tests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_password_posts_at_once_overflow_into_busy_answers_while_healthz_answers() {
    let server = ServerProcess::start(&[]);
    let done = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicUsize::new(0));
    let health = {
        let (base, done, answered) = (server.base.clone(), done.clone(), answered.clone());
        tokio::spawn(async move {
            let http = reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .unwrap();
            while !done.load(Ordering::SeqCst) {
                let ok = http.get(format!("{base}/healthz")).send().await.unwrap();
                assert_eq!(ok.status(), 200);
                answered.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let answers = concurrent_password_posts(&server.base, 200).await;
    done.store(true, Ordering::SeqCst);
    health
        .await
        .expect("/healthz answered within 5 s during the posts");

    let busy: Vec<_> = answers.iter().filter(|a| a.status == 503).collect();
    let checked = answers
        .iter()
        .filter(|a| {
            a.page
                .contains("The username, password or one-time code is wrong.")
        })
        .count();
    assert_eq!(
        busy.len() + checked,
        200,
        "every post is checked or refused as busy: {:?}",
        answers
            .iter()
            .filter(|a| a.status != 503)
            .map(|a| (a.status, a.page.get(..300)))
            .next()
    );
    for refused in &busy {
        assert_eq!(refused.retry_after.as_deref(), Some("1"));
        assert!(refused
            .page
            .contains("The server is busy right now. Please try again in a moment."));
    }
    assert!(
        busy.len() >= 100,
        "only {} of 200 posts were refused as busy: the queue grew",
        busy.len()
    );
    assert!(checked >= 2, "only {checked} posts were checked");
    assert!(answered.load(Ordering::SeqCst) > 0);
}

const REDIRECT: &str = "https://shop.example/callback";

/// The service "Shop", registered with [`REDIRECT`].
async fn shop(server: &TestServer) -> civkey_server::services::oidc::clients::NewClient {
    server
        .state
        .services()
        .register_client("Shop", &[REDIRECT.to_string()], None)
        .await
        .unwrap()
}

/// A valid authorization request for `client_id` at `server` (state `st`).
fn authorize_url(server: &TestServer, client_id: &str) -> url::Url {
    civkey_tests::authorize_url(
        &format!("{}/oidc/authorize", server.base),
        client_id,
        REDIRECT,
        "st",
        "nn",
        "verifier-0123456789-0123456789-0123456789-0123",
    )
}

/// The login requests named by the login pages among `pages` (each page is one stored row).
fn stored_logins(pages: &[String]) -> Vec<String> {
    pages
        .iter()
        .filter_map(|page| {
            page.split("data-signin-events=\"/oidc/login/")
                .nth(1)
                .and_then(|rest| rest.split('/').next())
                .map(str::to_string)
        })
        .collect()
}

/// Sends `count` authorization requests for `client_id` (50 at a time) from `http`; returns the
/// bodies of the login pages and the redirects (`Location`) of the rest.
async fn authorize_many(
    server: &TestServer,
    http: &reqwest::Client,
    client_id: &str,
    count: usize,
) -> (Vec<String>, Vec<String>) {
    let url = authorize_url(server, client_id);
    let (mut pages, mut redirects) = (Vec::new(), Vec::new());
    for _ in 0..count.div_ceil(50) {
        let mut batch = tokio::task::JoinSet::new();
        for _ in 0..50 {
            let (http, url) = (http.clone(), url.clone());
            batch.spawn(async move {
                let response = http.get(url).send().await.unwrap();
                match response.status().as_u16() {
                    200 => Ok(response.text().await.unwrap()),
                    303 => Err(response.headers()["location"].to_str().unwrap().to_string()),
                    other => panic!("unexpected status {other}"),
                }
            });
        }
        for answer in batch.join_all().await {
            match answer {
                Ok(page) => pages.push(page),
                Err(location) => redirects.push(location),
            }
        }
    }
    (pages, redirects)
}

/// The attack: a script asks the authorization endpoint for login pages as fast as it can; each
/// answer used to store a login request (2,000 requests, 2,000 rows). Now one address gets 600 a
/// minute, and the rest are sent back to the service with the OAuth error
/// `temporarily_unavailable` (RFC 6749 4.1.2.1), which any OIDC client understands.
#[tokio::test]
async fn thousands_of_authorization_requests_from_one_address_store_no_more_than_its_limit() {
    let server = TestServer::start().await;
    let client = shop(&server).await;
    let http = no_redirects();
    let (pages, redirects) = authorize_many(&server, &http, client.client.id.as_str(), 2_000).await;
    let stored = stored_logins(&pages);
    for id in stored.iter().take(3) {
        let id = LoginRequestId::parse(id).unwrap();
        assert!(server.store.login_request(&id).await.unwrap().is_some());
    }
    assert_eq!(
        stored.len(),
        600,
        "login requests stored for one address in a minute"
    );
    assert_eq!(redirects.len(), 2_000 - 600);
    let refused = url::Url::parse(&redirects[0]).unwrap();
    assert!(redirects[0].starts_with(REDIRECT), "{refused}");
    let query: std::collections::HashMap<_, _> = refused.query_pairs().into_owned().collect();
    assert_eq!(query["error"], "temporarily_unavailable");
    assert_eq!(query["state"], "st");
    assert!(
        query["error_description"].contains("try again in"),
        "{query:?}"
    );
}

/// The attack: open a real login's page stream again and again (each open stream reads the
/// database every second). Now one address opens 120 page streams a minute; the next is refused
/// with 429 and `Retry-After` before anything is read or held.
#[tokio::test]
async fn page_event_streams_opened_again_and_again_from_one_address_are_limited() {
    let server = TestServer::start().await;
    let client = shop(&server).await;
    let http = no_redirects();
    let url = authorize_url(&server, client.client.id.as_str());
    let page = http.get(url).send().await.unwrap();
    let cookie = page.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let id = stored_logins(&[page.text().await.unwrap()]).remove(0);
    let events = format!("{}/oidc/login/{id}/events", server.base);
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..200 {
        let response = http
            .get(&events)
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
        if response.status() == 429 {
            retry_after = response.headers().get("retry-after").cloned();
        }
    }
    let opened = statuses.iter().filter(|s| **s == 200).count();
    assert_eq!(opened, 120, "streams opened from one address in a minute");
    assert!(statuses[120..].iter().all(|s| *s == 429), "{statuses:?}");
    let retry_after: u64 = retry_after.unwrap().to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after));
}

/// Many addresses together (a botnet) against one service: its logins are counted per service
/// too (here lowered to 100 a minute), while another service and another address go on.
#[tokio::test]
async fn authorization_requests_for_one_service_are_limited_across_addresses() {
    use civkey_server::services::limits::RequestLimits;
    let server = TestServer::start_with_request_limits(
        RequestLimits {
            authorize_per_address: 150,
            authorize_per_client: 100,
            ..RequestLimits::default()
        },
        false,
    )
    .await;
    let services = server.state.services();
    let shop = services
        .register_client("Shop", &[REDIRECT.to_string()], None)
        .await
        .unwrap();
    let library = services
        .register_client("Library", &[REDIRECT.to_string()], None)
        .await
        .unwrap();
    let from = |last: u8| {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .local_address(std::net::IpAddr::from([127, 0, 0, last]))
            .build()
            .unwrap()
    };
    let (first, second) = (from(1), from(2));
    let (pages, refused) = authorize_many(&server, &first, shop.client.id.as_str(), 150).await;
    assert_eq!(
        (pages.len(), refused.len()),
        (100, 50),
        "one service's limit"
    );
    let (pages, refused) = authorize_many(&server, &second, shop.client.id.as_str(), 50).await;
    assert_eq!((pages.len(), refused.len()), (0, 50), "from any address");
    let (pages, _) = authorize_many(&server, &second, library.client.id.as_str(), 50).await;
    assert_eq!(pages.len(), 50, "another service is not held up");
    let (pages, refused) = authorize_many(&server, &first, library.client.id.as_str(), 50).await;
    assert_eq!(
        (pages.len(), refused.len()),
        (0, 50),
        "the first address spent its 150 (refused requests count for it, not for the service)"
    );
}
