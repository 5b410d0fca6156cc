//! The portal over plain HTTP: anti-forgery tokens, cookie flags, and logging in with an e-mail
//! code delivered through the outbox.

use std::time::{Duration, Instant};

use civkey_server::services::citizens;
use civkey_tests::TestServer;
use reqwest::redirect::Policy;
use reqwest::Client;

fn client() -> Client {
    Client::builder().redirect(Policy::none()).build().unwrap()
}

pub(crate) fn set_cookies(response: &reqwest::Response) -> Vec<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_string))
        .collect()
}

pub(crate) fn cookie_pair(cookies: &[String], name: &str) -> String {
    cookies
        .iter()
        .find(|c| c.starts_with(&format!("{name}=")))
        .and_then(|c| c.split(';').next())
        .unwrap_or_else(|| panic!("no {name} cookie in {cookies:?}"))
        .to_string()
}

/// The name the portal's session or pre-login cookie `name` goes by at `server`: `__Host-NAME`
/// when it is reached over https, else `NAME`.
pub(crate) fn host_cookie(server: &TestServer, name: &str) -> String {
    if server.origin.as_str().starts_with("https://") {
        format!("__Host-{name}")
    } else {
        name.to_string()
    }
}

/// The value of the hidden `csrf` field in the form posting to `action`.
pub(crate) fn csrf_of(html: &str, action: &str) -> String {
    hidden_of(html, action, "csrf").unwrap()
}

/// The value of the hidden field `name` in the form posting to `action`, as a browser sends it.
fn hidden_of(html: &str, action: &str, name: &str) -> Option<String> {
    let form = &html[html.find(&format!("action=\"{action}\"")).unwrap()..];
    let form = &form[..form.find("</form>").unwrap()];
    let marker = format!("name=\"{name}\" value=\"");
    let at = form.find(&marker)? + marker.len();
    Some(form[at..].split('"').next().unwrap().replace("&amp;", "&"))
}

/// Reads the 6-digit code from the mailbox file once the outbox has delivered it.
async fn mailed_code(server: &TestServer) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(text) = std::fs::read_to_string(&server.mailbox) {
            if let Some(code) = text
                .split(|c: char| !c.is_ascii_digit())
                .find(|w| w.len() == 6)
            {
                return code.to_string();
            }
        }
        assert!(Instant::now() < deadline, "no code was mailed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Logs in through the e-mail code forms; returns the session cookie pair.
async fn log_in_by_email(server: &TestServer, http: &Client) -> (String, Vec<String>) {
    let (session, cookies, _) = log_in_by_email_to(server, http, "/portal/login?lang=en").await;
    (session, cookies)
}

/// Logs in as `eva` through the e-mail code forms, starting at the login page `login_path`
/// (which may carry `next`); returns the session cookie pair, all cookies set, and where the
/// browser is sent.
pub(crate) async fn log_in_by_email_to(
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

pub(crate) async fn eva(server: &TestServer) {
    citizens::add_citizen(
        &server.store,
        0,
        "eva",
        "Eva Horváth",
        Some("eva@example.hu"),
        "eva's long password",
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn an_email_code_logs_in_through_the_portal() {
    let server = TestServer::start().await;
    eva(&server).await;
    let http = client();
    let (session, cookies) = log_in_by_email(&server, &http).await;
    let cookie = cookies
        .iter()
        .find(|c| c.starts_with("civkey_session="))
        .unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert!(
        !cookie.contains("Secure"),
        "plain http on loopback: no Secure flag"
    );
    let dashboard = http
        .get(format!("{}/portal", server.base))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(dashboard.status(), 200);
    assert!(dashboard.text().await.unwrap().contains("Eva Horváth"));
}

#[tokio::test]
async fn session_cookies_are_secure_behind_tls() {
    let server = TestServer::start_with_origin(Some("https://id.example.gov")).await;
    eva(&server).await;
    let login = client()
        .get(format!("{}/portal/login", server.base))
        .send()
        .await
        .unwrap();
    let pre = set_cookies(&login)
        .into_iter()
        .find(|c| c.starts_with("__Host-civkey_pre="))
        .unwrap();
    assert!(
        pre.contains("Secure") && pre.contains("HttpOnly") && pre.contains("SameSite=Strict"),
        "{pre}"
    );
    // Logged in over https, the session cookie is a `__Host-` cookie too: Secure, Path=/, no
    // Domain, so only this host over TLS can set it (see
    // `planted_cookies_without_the_host_prefix_are_not_honoured_over_https`).
    let (session, cookies, _) =
        log_in_by_email_to(&server, &client(), "/portal/login?lang=en").await;
    assert!(session.starts_with("__Host-civkey_session="), "{session}");
    for cookie in cookies.iter().filter(|c| !c.starts_with("civkey_lang=")) {
        assert!(cookie.starts_with("__Host-"), "{cookie}");
        for attribute in ["Secure", "Path=/;", "HttpOnly"] {
            assert!(cookie.contains(attribute), "{cookie}");
        }
        assert!(!cookie.contains("Domain"), "{cookie}");
    }
    let dashboard = client()
        .get(format!("{}/portal", server.base))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(dashboard.status(), 200);
}

#[tokio::test]
async fn form_posts_without_the_anti_forgery_token_are_refused_and_change_nothing() {
    let server = TestServer::start().await;
    eva(&server).await;
    let http = client();
    let (session, _) = log_in_by_email(&server, &http).await;
    // A connect page creates a session; refusing it needs the form's token.
    let page = http
        .get(format!("{}/portal/connect", server.base))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    let html = page.text().await.unwrap();
    let action = html
        .split("action=\"")
        .map(|s| s.split('"').next().unwrap())
        .find(|a| a.ends_with("/refuse"))
        .unwrap()
        .to_string();
    for token in ["", "forged-token"] {
        let refused = http
            .post(format!("{}{action}", server.base))
            .header("cookie", &session)
            .form(&[("csrf", token)])
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 403, "token {token:?}");
    }
    let missing = http
        .post(format!("{}{action}", server.base))
        .header("cookie", &session)
        .form(&[("x", "1")])
        .send()
        .await
        .unwrap();
    assert!(
        missing.status().is_client_error(),
        "no token field at all: {}",
        missing.status()
    );
    // The session is still open: the real form (with its token) refuses it.
    let csrf = csrf_of(&html, &action);
    let real = http
        .post(format!("{}{action}", server.base))
        .header("cookie", &session)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(real.status(), 200);

    // The login form without its pre-login cookie is refused too.
    let login = http
        .post(format!("{}/portal/login", server.base))
        .form(&[
            ("csrf", "x"),
            ("username", "eva"),
            ("password", "eva's long password"),
            ("totp", "000000"),
        ])
        .send()
        .await
        .unwrap();
    assert_ne!(login.status(), 303);
    assert!(set_cookies(&login)
        .iter()
        .all(|c| !c.starts_with("civkey_session=")));
}

#[tokio::test]
async fn pages_need_a_session_and_send_you_back_after_login() {
    let server = TestServer::start().await;
    let response = client()
        .get(format!("{}/portal/keys", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(
        response.headers()["location"],
        "/portal/login?next=%2Fportal%2Fkeys"
    );
    let html = client()
        .get(format!("{}/portal/login?next=//evil.example", server.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !html.contains("evil.example"),
        "only local paths are kept as next"
    );
}

/// The attack on the portal's cookies over https: a sibling subdomain (`evil.example.gov` may set
/// cookies for `.example.gov`) or a man in the middle of a plain-http request to the same host
/// plants cookies under the portal's bare names: the attacker's own session (so the victim works
/// in the attacker's account and types their data into it), and a pre-login token of the
/// attacker's choosing (so a forged login form passes the anti-forgery check). Over https the
/// portal reads only `__Host-` cookies, which neither of them can set.
#[tokio::test]
async fn planted_cookies_without_the_host_prefix_are_not_honoured_over_https() {
    let server = TestServer::start_with_origin(Some("https://id.example.gov")).await;
    eva(&server).await;
    // The attacker's own account and a session of it, its token known to the attacker.
    let mallory = server.add_citizen("mallory").await;
    let token = "mallory's planted session token";
    let now = server.clock_now();
    server
        .store
        .insert_web_session(
            &citizens::token_hash(token),
            &mallory,
            civkey_server::store::Means::PasswordTotp,
            "mallory-csrf",
            now,
            now + 3600,
            None,
        )
        .await
        .unwrap();
    let http = client();
    let dashboard = |cookie: String| {
        let request = http
            .get(format!("{}/portal", server.base))
            .header("cookie", cookie);
        async move { request.send().await.unwrap() }
    };

    let planted = dashboard(format!("civkey_session={token}")).await;
    assert_eq!(
        planted.status(),
        303,
        "a planted civkey_session cookie was taken as the victim's session"
    );
    assert!(planted.headers()["location"]
        .to_str()
        .unwrap()
        .starts_with("/portal/login"));

    // A planted pre-login token does not pass the login forms' anti-forgery check.
    let forged = http
        .post(format!("{}/portal/login/email", server.base))
        .header("cookie", "civkey_pre=planted-token")
        .form(&[("csrf", "planted-token"), ("username", "eva")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        forged.status(),
        401,
        "a planted civkey_pre cookie passed the anti-forgery check"
    );

    // Under its prefixed name (which only this host, over https, can set) it is the session.
    let own = dashboard(format!("__Host-civkey_session={token}")).await;
    assert_eq!(own.status(), 200);
}
