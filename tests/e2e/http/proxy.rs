//! Behind a reverse proxy: whose address the per-address limits count. The test client on
//! 127.0.0.1 plays the proxy; the forwarding headers it sends name the clients behind it.

use civkey_server::services::onboarding::MAX_STARTS_PER_ADDRESS;
use civkey_server::services::portal_signin::ADDRESS_LIMIT;
use civkey_tests::http::{browser, cookie_pair, csrf_of, onboarding_start_body, set_cookies};
use civkey_tests::portal::{eva_with_authenticator, log_in_with_password_to};
use civkey_tests::TestServer;
use p256::ecdsa::SigningKey;
use reqwest::Client;

/// The failures an address may make at once before it is told to wait.
const FREE: usize = ADDRESS_LIMIT.free as usize;

/// A wrong password for the never-seen username `nobody-N` (so no account's own limit is met),
/// sent with the forwarding header `header` (name, value); the status: 401 when the password was
/// checked and refused, 429 when the client was told to wait.
async fn wrong_login(server: &TestServer, http: &Client, n: usize, header: (&str, &str)) -> u16 {
    let page = http
        .get(format!("{}/portal/login?lang=en", server.base))
        .header(header.0, header.1)
        .send()
        .await
        .unwrap();
    let pre = cookie_pair(&set_cookies(&page), "civkey_pre");
    let csrf = csrf_of(&page.text().await.unwrap(), "/portal/login");
    let username = format!("nobody-{n}");
    http.post(format!("{}/portal/login", server.base))
        .header("cookie", pre)
        .header(header.0, header.1)
        .form(&[
            ("csrf", csrf.as_str()),
            ("username", username.as_str()),
            ("password", "a wrong password"),
            ("totp", "000000"),
        ])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// `FREE + 1` wrong logins, the `n`th with the forwarding header `forge(n)`; their statuses.
async fn wrong_logins(
    server: &TestServer,
    forge: impl Fn(usize) -> (&'static str, String),
) -> Vec<u16> {
    let http = browser();
    let mut statuses = Vec::new();
    for n in 0..=FREE {
        let (name, value) = forge(n);
        statuses.push(wrong_login(server, &http, n, (name, &value)).await);
    }
    statuses
}

/// A fresh address per request, in either header, as an attacker writes them.
fn fresh_address(n: usize) -> (&'static str, String) {
    if n.is_multiple_of(2) {
        ("x-forwarded-for", format!("198.51.100.{n}"))
    } else {
        ("forwarded", format!("for=203.0.113.{n}"))
    }
}

fn locked_out_after_the_free_failures(statuses: &[u16]) -> bool {
    statuses[..FREE].iter().all(|s| *s == 401) && statuses[FREE] == 429
}

/// The attack: a client talking to the server directly (no proxy is trusted) writes a fresh
/// forwarding header into every failed login, to get a fresh address bucket each time. Its
/// failures still count under its own address: after the free ones it waits. The same requests
/// at a server that believes this peer's headers (a naive server believes everyone's) each get a
/// fresh bucket and are all checked — the escape the attack is after. And a client that forges
/// the start of the header a trusted proxy appends to gets nothing either: the walk from the right
/// stops at the address the proxy wrote.
#[tokio::test]
async fn forged_forwarding_headers_do_not_escape_the_lockout() {
    let direct = TestServer::start().await;
    let statuses = wrong_logins(&direct, fresh_address).await;
    assert!(
        locked_out_after_the_free_failures(&statuses),
        "an untrusted peer's headers changed its bucket: {statuses:?}"
    );

    let believing = TestServer::start_behind_proxies(&["127.0.0.1"]).await;
    let statuses = wrong_logins(&believing, fresh_address).await;
    assert!(
        statuses.iter().all(|s| *s == 401),
        "believed headers give fresh buckets: {statuses:?}"
    );

    let behind = TestServer::start_behind_proxies(&["127.0.0.1"]).await;
    let statuses = wrong_logins(&behind, |n| {
        if n.is_multiple_of(2) {
            ("x-forwarded-for", format!("198.51.100.{n}, 192.0.2.44"))
        } else {
            ("forwarded", format!("for=203.0.113.{n}, for=192.0.2.44"))
        }
    })
    .await;
    assert!(
        locked_out_after_the_free_failures(&statuses),
        "a forged start of the proxy's header changed the bucket: {statuses:?}"
    );
}

/// Behind a trusted proxy, one client's failures lock out that client, not the country: Eva,
/// another client of the same proxy, logs in at once. Before trusted proxies every citizen shared
/// the proxy's bucket and she was told to wait. An IPv4-mapped spelling of the failing client's
/// address is the same client.
#[tokio::test]
async fn behind_a_trusted_proxy_one_clients_failures_do_not_lock_out_another() {
    let server = TestServer::start_behind_proxies(&["127.0.0.0/8"]).await;
    let account = eva_with_authenticator(&server).await;
    let statuses = wrong_logins(&server, |_| {
        ("x-forwarded-for", "198.51.100.7, 127.0.0.9".to_string())
    })
    .await;
    assert!(
        locked_out_after_the_free_failures(&statuses),
        "the failing client is limited: {statuses:?}"
    );
    let mapped = wrong_login(
        &server,
        &browser(),
        99,
        ("forwarded", "for=\"[::ffff:198.51.100.7]:4711\""),
    )
    .await;
    assert_eq!(mapped, 429, "an IPv4-mapped address is the IPv4 client");

    let eva = with_header("x-forwarded-for", "203.0.113.9");
    log_in_with_password_to(
        &server,
        &eva,
        "/portal/login",
        "",
        ("eva", "eva's long password", &account),
    )
    .await;
}

/// In-person onboarding starts are limited per client behind the proxy, not nationwide: after one
/// client's starts are used up, another client of the same proxy still starts.
#[tokio::test]
async fn behind_a_trusted_proxy_onboarding_starts_are_limited_per_client() {
    let server = TestServer::start_behind_proxies(&["127.0.0.1"]).await;
    let start = |n: u8, client: &'static str| {
        let body = onboarding_start_body(
            &server,
            &SigningKey::from_slice(&[n + 1; 32]).unwrap(),
            server.clock_now(),
        );
        let url = format!("{}/api/v1/onboarding", server.base);
        async move {
            Client::new()
                .post(url)
                .header("forwarded", client)
                .json(&body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    for n in 0..MAX_STARTS_PER_ADDRESS as u8 {
        assert_eq!(start(n, "for=198.51.100.7").await, 200, "start {n}");
    }
    assert_eq!(
        start(100, "for=198.51.100.7").await,
        429,
        "one client's starts run out"
    );
    assert_eq!(
        start(101, "for=\"[2001:db8:7::1]:4711\"").await,
        200,
        "another client of the proxy still starts"
    );
}

/// IPv6 clients are counted per /64: fresh addresses in one /64 share a bucket, the next /64 has
/// its own.
#[tokio::test]
async fn ipv6_addresses_in_one_64_share_a_bucket_and_another_64_does_not() {
    let server = TestServer::start_behind_proxies(&["127.0.0.1"]).await;
    let statuses = wrong_logins(&server, |n| {
        (
            "forwarded",
            format!("for=\"[2001:db8:1:2:{n:x}::{n:x}]:443\""),
        )
    })
    .await;
    assert!(
        locked_out_after_the_free_failures(&statuses),
        "one /64 is one client: {statuses:?}"
    );
    let http = browser();
    let same = ("x-forwarded-for", "2001:db8:1:2:ffff:ffff:ffff:ffff");
    assert_eq!(wrong_login(&server, &http, 50, same).await, 429);
    let next = ("x-forwarded-for", "2001:db8:1:3::1");
    assert_eq!(wrong_login(&server, &http, 51, next).await, 401);
}

/// A browser that sends `name: value` with every request.
fn with_header(name: &'static str, value: &'static str) -> Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(name, reqwest::header::HeaderValue::from_static(value));
    headers.insert(
        "accept-language",
        reqwest::header::HeaderValue::from_static("en"),
    );
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .default_headers(headers)
        .build()
        .unwrap()
}
