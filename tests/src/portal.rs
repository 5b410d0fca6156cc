//! The citizen portal over plain HTTP: the citizen `eva` and logging her in (e-mail code, or
//! password and authenticator code).

use std::time::Duration;

use civkey_server::services::citizens;
use reqwest::Client;

use crate::http::{cookie_pair, csrf_of, hidden_of, host_cookie, set_cookies};
use crate::TestServer;

/// Reads the 6-digit code from the mailbox file once the outbox has delivered it.
pub async fn mailed_code(server: &TestServer) -> String {
    crate::wait_until("a mailed code", Duration::from_secs(10), || async {
        let text = std::fs::read_to_string(&server.mailbox).ok()?;
        text.split(|c: char| !c.is_ascii_digit())
            .find(|w| w.len() == 6)
            .map(str::to_string)
    })
    .await
}

/// Logs in as `eva` through the e-mail code forms, starting at the login page `login_path`
/// (which may carry `next`); returns the session cookie pair, all cookies set, and where the
/// browser is sent.
pub async fn log_in_by_email_to(
    server: &TestServer,
    http: &Client,
    login_path: &str,
) -> (String, Vec<String>, String) {
    let login = http
        .get(format!("{}{login_path}", server.base))
        .send()
        .await
        .unwrap();
    let pre = cookie_pair(&set_cookies(&login), &host_cookie(server, "civkey_pre"));
    let html = login.text().await.unwrap();
    let csrf = csrf_of(&html, "/portal/login/email");
    let next = hidden_of(&html, "/portal/login/email", "next").unwrap_or_default();
    let asked = http
        .post(format!("{}/portal/login/email", server.base))
        .header("cookie", &pre)
        .form(&[
            ("csrf", csrf.as_str()),
            ("username", "eva"),
            ("next", next.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(asked.status(), 200);
    let pre = cookie_pair(&set_cookies(&asked), &host_cookie(server, "civkey_pre"));
    let html = asked.text().await.unwrap();
    let csrf = csrf_of(&html, "/portal/login/email/verify");
    let next = hidden_of(&html, "/portal/login/email/verify", "next").unwrap_or_default();
    let code = mailed_code(server).await;
    let verified = http
        .post(format!("{}/portal/login/email/verify", server.base))
        .header("cookie", &pre)
        .form(&[
            ("csrf", csrf.as_str()),
            ("username", "eva"),
            ("code", code.as_str()),
            ("next", next.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(verified.status(), 303, "logged in and redirected");
    let location = verified.headers()["location"].to_str().unwrap().to_string();
    let cookies = set_cookies(&verified);
    let session = cookie_pair(&cookies, &host_cookie(server, "civkey_session"));
    (session, cookies, location)
}

/// Adds the citizen `eva` (see [`eva_with_authenticator`]).
pub async fn eva(server: &TestServer) {
    eva_with_authenticator(server).await;
}

/// Adds the citizen `jana` ("Jana Nováková", password `correct horse battery`, no e-mail address,
/// an authenticator), as [`TestServer::add_citizen`] does; returns her authenticator's account.
pub async fn jana_with_authenticator(server: &TestServer) -> civkey_proto::otp::OtpAccount {
    let enrolment = citizens::add_citizen(
        &server.store,
        0,
        "jana",
        "Jana Nováková",
        None,
        "correct horse battery",
    )
    .await
    .unwrap();
    civkey_proto::otp::OtpAccount::parse_uri(&enrolment.otpauth_uri).unwrap()
}

/// Adds the citizen `eva` (password `eva's long password`, an e-mail address, an authenticator);
/// returns her authenticator's account.
pub async fn eva_with_authenticator(server: &TestServer) -> civkey_proto::otp::OtpAccount {
    let enrolment = citizens::add_citizen(
        &server.store,
        0,
        "eva",
        "Eva Horváth",
        Some("eva@example.hu"),
        "eva's long password",
    )
    .await
    .unwrap();
    civkey_proto::otp::OtpAccount::parse_uri(&enrolment.otpauth_uri).unwrap()
}

/// Logs `username` in through the password and TOTP form at `login_path` (which may carry `next`
/// and `fresh`), with `cookie` sent along (an existing session, say); returns the new session
/// cookie pair and where the browser is sent.
pub async fn log_in_with_password_to(
    server: &TestServer,
    http: &Client,
    login_path: &str,
    cookie: &str,
    (username, password, account): (&str, &str, &civkey_proto::otp::OtpAccount),
) -> (String, String) {
    use civkey_server::clock::Clock;
    let login = http
        .get(format!("{}{login_path}", server.base))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200, "the login form is shown");
    let pre = cookie_pair(&set_cookies(&login), "civkey_pre");
    let html = login.text().await.unwrap();
    let csrf = csrf_of(&html, "/portal/login");
    let next = hidden_of(&html, "/portal/login", "next").unwrap_or_default();
    let code = civkey_proto::otp::totp(
        account.secret.expose(),
        account.algorithm,
        6,
        30,
        server.clock.now(),
    )
    .code;
    let posted = http
        .post(format!("{}/portal/login", server.base))
        .header("cookie", &pre)
        .form(&[
            ("csrf", csrf.as_str()),
            ("username", username),
            ("password", password),
            ("totp", code.as_str()),
            ("next", next.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 303, "logged in and redirected");
    let location = posted.headers()["location"].to_str().unwrap().to_string();
    (
        cookie_pair(&set_cookies(&posted), "civkey_session"),
        location,
    )
}

/// What the portal answered a password post: its status, its `Retry-After` header and its page.
pub struct PostAnswer {
    pub status: u16,
    pub retry_after: Option<String>,
    pub page: String,
}

/// `count` password posts to the portal at `base`, all at once, each for an account that does
/// not exist (which costs the same Argon2id work as a wrong password). They come from loopback
/// addresses 127.0.0.2, 127.0.0.3 … with at most 20 from each, so the per-address limit on
/// failed logins lets every one of them through to the password check. Pages come in English.
pub async fn concurrent_password_posts(base: &str, count: usize) -> Vec<PostAnswer> {
    const PER_ADDRESS: usize = 20;
    let mut posts = Vec::new();
    for address in 0..count.div_ceil(PER_ADDRESS) {
        let source = std::net::Ipv4Addr::new(127, 0, 0, 2 + u8::try_from(address).unwrap());
        let mut english = reqwest::header::HeaderMap::new();
        english.insert(
            reqwest::header::ACCEPT_LANGUAGE,
            reqwest::header::HeaderValue::from_static("en"),
        );
        let http = reqwest::Client::builder()
            .default_headers(english)
            .local_address(std::net::IpAddr::V4(source))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let (pre, csrf) = login_form(&http, base).await;
        for i in 0..PER_ADDRESS.min(count - address * PER_ADDRESS) {
            let (http, pre, csrf) = (http.clone(), pre.clone(), csrf.clone());
            let url = format!("{base}/portal/login");
            posts.push(tokio::spawn(async move {
                let username = format!("nobody-{address}-{i}");
                let posted = http
                    .post(url)
                    .header("cookie", pre)
                    .form(&[
                        ("csrf", csrf.as_str()),
                        ("username", username.as_str()),
                        ("password", "a guessed password"),
                        ("totp", "123456"),
                        ("next", ""),
                    ])
                    .send()
                    .await
                    .unwrap();
                PostAnswer {
                    status: posted.status().as_u16(),
                    retry_after: posted
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string),
                    page: posted.text().await.unwrap(),
                }
            }));
        }
    }
    let mut answers = Vec::new();
    for post in posts {
        answers.push(post.await.unwrap());
    }
    answers
}

/// The portal's login form at `base`, as a browser gets it: the `civkey_pre` cookie pair and the
/// form's anti-forgery token, to post a login with.
pub async fn login_form(http: &Client, base: &str) -> (String, String) {
    let login = http
        .get(format!("{base}/portal/login"))
        .send()
        .await
        .unwrap();
    let pre = cookie_pair(&set_cookies(&login), "civkey_pre");
    let csrf = csrf_of(&login.text().await.unwrap(), "/portal/login");
    (pre, csrf)
}

/// Opens the event stream of the portal's own login page with the mobile key (`/portal/login/key`)
/// at `base`, as that page's browser does: the stream, answered `200`.
pub async fn key_login_events(http: &Client, base: &str) -> reqwest::Response {
    let page = http
        .get(format!("{base}/portal/login/key"))
        .send()
        .await
        .unwrap();
    let cookie = crate::http::login_cookie_of(&page);
    let events_url = crate::http::events_url_of(&page.text().await.unwrap());
    let events = crate::http::get_with_cookie(http, format!("{base}{events_url}"), &cookie).await;
    assert_eq!(events.status(), 200, "the login page's event stream");
    events
}
