//! Abuse of the server over HTTP: requests made to cost it memory or time.

use civkey_proto::ids::LoginRequestId;
use civkey_server::services::oidc::authorize::signal_key;
use civkey_tests::http::no_redirects;
use civkey_tests::TestServer;

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
/// answer used to store a login request (2,000 requests, 2,000 rows). Now one address gets 60 a
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
        60,
        "login requests stored for one address in a minute"
    );
    assert_eq!(redirects.len(), 2_000 - 60);
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
    let server = TestServer::start_with_limits(
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
