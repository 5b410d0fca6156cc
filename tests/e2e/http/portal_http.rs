//! The portal over plain HTTP: anti-forgery tokens, cookie flags, and logging in with an e-mail
//! code delivered through the outbox.

use civkey_server::services::citizens;
use civkey_tests::http::cookie_pair;
use civkey_tests::http::csrf_of;
use civkey_tests::http::set_cookies;
use civkey_tests::http::{get_with_cookie, no_redirects, post_with_cookie};
use civkey_tests::portal::eva;
use civkey_tests::portal::eva_with_authenticator;
use civkey_tests::portal::log_in_by_email_to;
use civkey_tests::portal::log_in_with_password_to;
use civkey_tests::TestServer;
use reqwest::Client;

/// Logs in through the e-mail code forms; returns the session cookie pair.
async fn log_in_by_email(server: &TestServer, http: &Client) -> (String, Vec<String>) {
    let (session, cookies, _) = log_in_by_email_to(server, http, "/portal/login?lang=en").await;
    (session, cookies)
}

#[tokio::test]
async fn an_email_code_logs_in_through_the_portal() {
    let server = TestServer::start().await;
    eva(&server).await;
    let http = no_redirects();
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
    let dashboard = get_with_cookie(&http, format!("{}/portal", server.base), &session).await;
    assert_eq!(dashboard.status(), 200);
    assert!(dashboard.text().await.unwrap().contains("Eva Horváth"));
}

#[tokio::test]
async fn session_cookies_are_secure_behind_tls() {
    let server = TestServer::start_with_origin(Some("https://id.example.gov")).await;
    eva(&server).await;
    let login = no_redirects()
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
        log_in_by_email_to(&server, &no_redirects(), "/portal/login?lang=en").await;
    assert!(session.starts_with("__Host-civkey_session="), "{session}");
    for cookie in cookies.iter().filter(|c| !c.starts_with("civkey_lang=")) {
        assert!(cookie.starts_with("__Host-"), "{cookie}");
        for attribute in ["Secure", "Path=/;", "HttpOnly"] {
            assert!(cookie.contains(attribute), "{cookie}");
        }
        assert!(!cookie.contains("Domain"), "{cookie}");
    }
    let dashboard = no_redirects()
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
    let account = eva_with_authenticator(&server).await;
    let http = no_redirects();
    // Password and TOTP: Connect mobile key needs the strongest means she holds.
    let (session, _) = log_in_with_password_to(
        &server,
        &http,
        "/portal/login",
        "",
        ("eva", "eva's long password", &account),
    )
    .await;
    // A connect page creates a session; refusing it needs the form's token.
    let page = get_with_cookie(&http, format!("{}/portal/connect", server.base), &session).await;
    let html = page.text().await.unwrap();
    let action = html
        .split("action=\"")
        .map(|s| s.split('"').next().unwrap())
        .find(|a| a.ends_with("/refuse"))
        .unwrap()
        .to_string();
    for token in ["", "forged-token"] {
        let refused = post_with_cookie(
            &http,
            format!("{}{action}", server.base),
            &session,
            &[("csrf", token)],
        )
        .await;
        assert_eq!(refused.status(), 403, "token {token:?}");
    }
    let missing = post_with_cookie(
        &http,
        format!("{}{action}", server.base),
        &session,
        &[("x", "1")],
    )
    .await;
    assert!(
        missing.status().is_client_error(),
        "no token field at all: {}",
        missing.status()
    );
    // The session is still open: the real form (with its token) refuses it.
    let csrf = csrf_of(&html, &action);
    let real = post_with_cookie(
        &http,
        format!("{}{action}", server.base),
        &session,
        &[("csrf", csrf.as_str())],
    )
    .await;
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
    let response = no_redirects()
        .get(format!("{}/portal/keys", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(
        response.headers()["location"],
        "/portal/login?next=%2Fportal%2Fkeys"
    );
    let html = no_redirects()
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

/// Issue 14's step-up attack: someone who can read the citizen's e-mail (or an e-mail code alone)
/// opens a portal session and, before this defence, connected his own phone as her mobile key
/// (after which services were told `hwk` for his logins) and switched off the login
/// notifications that would have warned her. Now every change of how the account is protected
/// needs a login of the last five minutes with the strongest means she holds.
#[tokio::test]
async fn an_email_code_session_cannot_connect_a_key_or_silence_the_login_notifications() {
    use civkey_server::clock::Clock;
    let server = TestServer::start().await;
    let account = eva_with_authenticator(&server).await;
    let citizen_id = server
        .store
        .citizen_by_username("eva")
        .await
        .unwrap()
        .unwrap()
        .id;
    let http = no_redirects();
    let (session, _) = log_in_by_email(&server, &http).await;
    let to_confirm = |response: &reqwest::Response, next: &str| {
        assert_eq!(response.status(), 303);
        assert_eq!(
            response.headers()["location"].to_str().unwrap(),
            format!("/portal/confirm?next={}", next.replace('/', "%2F"))
        );
    };

    // Connect mobile key: sent to confirm it is her; no pairing session was made.
    let connect = get_with_cookie(&http, format!("{}/portal/connect", server.base), &session).await;
    to_confirm(&connect, "/portal/connect");

    // Switching off the login notifications: refused the same way, nothing saved.
    let page = http
        .get(format!("{}/portal/notifications?lang=en", server.base))
        .header("cookie", &session)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = csrf_of(&page, "/portal/notifications");
    let before = server
        .state
        .services()
        .notification_settings(&citizen_id)
        .await
        .unwrap();
    let saved = post_with_cookie(
        &http,
        format!("{}/portal/notifications", server.base),
        &session,
        &[("csrf", csrf.as_str())],
    )
    .await;
    to_confirm(&saved, "/portal/notifications");
    let after = server
        .state
        .services()
        .notification_settings(&citizen_id)
        .await
        .unwrap();
    assert_eq!(format!("{before:?}"), format!("{after:?}"));

    // Disconnecting a key too (before even looking the key up).
    let disconnect = http
        .post(format!(
            "{}/portal/keys/some-device/disconnect",
            server.base
        ))
        .header("cookie", &session)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    to_confirm(&disconnect, "/portal/keys");

    // The confirm page offers what she holds that is stronger: password and authenticator.
    let confirm = http
        .get(format!(
            "{}/portal/confirm?next=%2Fportal%2Fconnect&lang=en",
            server.base
        ))
        .header("cookie", &session)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(confirm.contains("Confirm with your password and authenticator code"));
    assert!(!confirm.contains("Confirm with a code sent by e-mail"));
    assert!(!confirm.contains("Confirm with the mobile key"));

    // She logs in again with password and TOTP (the form is shown although she has a session)
    // and comes back to Connect mobile key, which now opens.
    let (strong, back) = log_in_with_password_to(
        &server,
        &http,
        "/portal/login?fresh=1&next=%2Fportal%2Fconnect",
        &session,
        ("eva", "eva's long password", &account),
    )
    .await;
    assert_eq!(back, "/portal/connect");
    let connect = get_with_cookie(&http, format!("{}/portal/connect", server.base), &strong).await;
    assert_eq!(connect.status(), 200);
    assert!(connect.text().await.unwrap().contains("civkey://pair?"));

    // Five minutes on, the same strong session must confirm again.
    server.clock.set(server.clock.now() + 6 * 60);
    let later = get_with_cookie(&http, format!("{}/portal/connect", server.base), &strong).await;
    to_confirm(&later, "/portal/connect");
}

/// Adds the citizen `petr` (password `petr's long password`, no e-mail); returns his citizen id
/// and authenticator.
async fn petr(
    server: &TestServer,
) -> (
    civkey_server::domain::CitizenId,
    civkey_proto::otp::OtpAccount,
) {
    let enrolled = citizens::add_citizen(
        &server.store,
        0,
        "petr",
        "Petr Svoboda",
        None,
        "petr's long password",
    )
    .await
    .unwrap();
    let account = civkey_proto::otp::OtpAccount::parse_uri(&enrolled.otpauth_uri).unwrap();
    (enrolled.citizen_id, account)
}

fn totp_at(account: &civkey_proto::otp::OtpAccount, t: u64) -> String {
    civkey_proto::otp::totp(account.secret.expose(), account.algorithm, 6, 30, t).code
}

/// The login page's pre-login cookie and its form's anti-forgery token.
async fn login_form(server: &TestServer, http: &Client) -> (String, String) {
    let page = http
        .get(format!("{}/portal/login?lang=en", server.base))
        .send()
        .await
        .unwrap();
    let pre = cookie_pair(&set_cookies(&page), "civkey_pre");
    let csrf = csrf_of(&page.text().await.unwrap(), "/portal/login");
    (pre, csrf)
}

/// Posts the password login form; returns the status and the page.
async fn post_login(
    server: &TestServer,
    http: &Client,
    (pre, csrf): &(String, String),
    username: &str,
    password: &str,
    totp: &str,
) -> (u16, Vec<String>, String) {
    let response = http
        .post(format!("{}/portal/login", server.base))
        .header("cookie", pre)
        .header("accept-language", "en")
        .form(&[
            ("csrf", csrf.as_str()),
            ("username", username),
            ("password", password),
            ("totp", totp),
        ])
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let cookies = set_cookies(&response);
    (status, cookies, response.text().await.unwrap())
}

/// The seconds in the page's "Too many attempts. Please try again in N s."
/// Petr's right password and code while his account waits: told how long (at most 5 minutes),
/// and after that wait his login goes through. Returns the cookies it set.
async fn petr_waits_then_logs_in(
    server: &TestServer,
    http: &Client,
    form: &(String, String),
    account: &civkey_proto::otp::OtpAccount,
) -> Vec<String> {
    let now = server.clock_now();
    let (status, _, page) = post_login(
        server,
        http,
        form,
        "petr",
        "petr's long password",
        &totp_at(account, now),
    )
    .await;
    assert_eq!(status, 429);
    let wait = told_to_wait(&page);
    assert!((1..=300).contains(&wait), "{wait}");
    server.clock.advance(wait);
    let now = server.clock_now();
    let (status, cookies, _) = post_login(
        server,
        http,
        form,
        "petr",
        "petr's long password",
        &totp_at(account, now),
    )
    .await;
    assert_eq!(status, 303);
    cookies
}

fn told_to_wait(page: &str) -> u64 {
    let rest = page
        .split("try again in ")
        .nth(1)
        .unwrap_or_else(|| panic!("no wait on the page: {page}"));
    rest.split(' ').next().unwrap().parse().unwrap()
}

/// Attack: 40 wrong TOTP codes with the right password, all at once over HTTP. Checking the
/// count first and writing the failure after let every one of them be tried; counting before
/// verifying lets at most the account's five free attempts be checked, the rest are told to wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forty_parallel_wrong_totp_codes_with_the_right_password_get_at_most_five_checks() {
    let server = TestServer::start().await;
    let (_, account) = petr(&server).await;
    let http = no_redirects();
    let form = login_form(&server, &http).await;
    let now = server.clock_now();
    let right = [now - 30, now, now + 30].map(|t| totp_at(&account, t));
    let guesses: Vec<String> = (0u32..)
        .map(|n| format!("{:06}", (n * 7919) % 1_000_000))
        .filter(|c| !right.contains(c))
        .take(40)
        .collect();
    let tasks: Vec<_> = guesses
        .into_iter()
        .map(|guess| {
            let (base, http, form) = (server.base.clone(), http.clone(), form.clone());
            tokio::spawn(async move {
                http.post(format!("{base}/portal/login"))
                    .header("cookie", &form.0)
                    .form(&[
                        ("csrf", form.1.as_str()),
                        ("username", "petr"),
                        ("password", "petr's long password"),
                        ("totp", guess.as_str()),
                    ])
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    let checked = statuses.iter().filter(|s| **s == 401).count();
    let waiting = statuses.iter().filter(|s| **s == 429).count();
    assert!(
        (1..=5).contains(&checked),
        "{checked} of 40 parallel codes were checked: {statuses:?}"
    );
    assert_eq!(checked + waiting, 40, "{statuses:?}");

    // Petr is told how long to wait, and after that his own code logs him in.
    let cookies = petr_waits_then_logs_in(&server, &http, &form, &account).await;
    cookie_pair(&cookies, "civkey_session");
}

/// Whoever makes the password attempts of a citizen wait, the mobile key is not limited by them:
/// the citizen logs in to a service with it, and (after the wait the page states, never more than
/// 5 minutes) disconnects a stolen key in the portal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_citizen_whose_password_is_under_attack_logs_in_with_the_mobile_key_and_disconnects_a_stolen_one(
) {
    use civkey_client::keystore::MemoryKeyStore;
    use civkey_client::profile::Profile;
    use civkey_proto::sign::Decision;
    use std::sync::Arc;

    let server = TestServer::start().await;
    let (citizen, account) = petr(&server).await;
    let home = civkey_tests::TempDir::new("civkey-limits");
    let phone_home = home.0.join("phone");
    let stolen_home = home.0.join("stolen");
    let phone = Profile::open(&phone_home, Arc::new(MemoryKeyStore::new())).unwrap();
    let stolen = Profile::open(&stolen_home, Arc::new(MemoryKeyStore::new())).unwrap();
    civkey_tests::pair_profile(server.state.services(), &phone, &citizen).await;
    let thief = civkey_tests::pair_profile(server.state.services(), &stolen, &citizen).await;

    // Someone tries petr's password until the portal makes every attempt wait.
    let http = no_redirects();
    let form = login_form(&server, &http).await;
    let mut attempts = 0;
    loop {
        let (status, _, _) = post_login(&server, &http, &form, "petr", "a guess", "000000").await;
        attempts += 1;
        if status == 429 {
            break;
        }
        assert_eq!(status, 401);
        assert!(attempts <= 5, "no limit after {attempts} wrong attempts");
    }

    // A service sends petr to log in; the mobile key approves, and the page moves on.
    let redirect = "http://127.0.0.1:9/callback";
    let client_app = server
        .state
        .services()
        .register_client("Daňový portál", &[redirect.to_string()], None)
        .await
        .unwrap();
    let authorize = civkey_tests::authorize_url(
        &format!("{}/oidc/authorize", server.base),
        client_app.client.id.as_str(),
        redirect,
        "st-limits",
        "n-limits",
        "limits-verifier-0123456789-0123456789-0123456789-abc",
    );
    let page = http.get(authorize.as_str()).send().await.unwrap();
    // The cookie that makes this client the browser the login belongs to.
    let login_cookie = civkey_tests::http::login_cookie_of(&page);
    let page = page.text().await.unwrap();
    let events_url = civkey_tests::http::events_url_of(&page);
    let launch = civkey_tests::http::launch_link_of(&page);
    let events =
        get_with_cookie(&http, format!("{}{events_url}", server.base), &login_cookie).await;
    let opened = phone.open_login(&launch).await.unwrap();
    assert_eq!(
        phone
            .decide_login(&opened, Decision::Approve)
            .await
            .unwrap(),
        Decision::Approve
    );
    let approved = civkey_tests::http::wait_for_event(events, "approved").await;
    assert!(
        approved.contains(redirect) && approved.contains("code="),
        "{approved}"
    );

    // The password still waits, as long as the page says; then petr disconnects the stolen key.
    let cookies = petr_waits_then_logs_in(&server, &http, &form, &account).await;
    let session = cookie_pair(&cookies, "civkey_session");
    let keys = http
        .get(format!("{}/portal/keys", server.base))
        .header("cookie", &session)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let action = format!("/portal/keys/{}/disconnect", thief.device_id.to_text());
    let csrf = csrf_of(&keys, &action);
    let disconnected = post_with_cookie(
        &http,
        format!("{}{action}", server.base),
        &session,
        &[("csrf", csrf.as_str())],
    )
    .await;
    assert!(
        disconnected.status().is_redirection() || disconnected.status().is_success(),
        "{}",
        disconnected.status()
    );
    let left = server.store.active_devices(&citizen).await.unwrap();
    assert_eq!(left.len(), 1, "only the stolen key is disconnected");
    assert_ne!(left[0].id, thief.device_id);
}

/// A browser that logged in to an account gets a long-lived `civkey_known` cookie; attempts made
/// anywhere else in the account's name (here until every further attempt must wait) do not make
/// that browser wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_that_logged_in_before_is_not_kept_waiting_by_attempts_made_elsewhere() {
    let server = TestServer::start().await;
    let (_, account) = petr(&server).await;
    let http = no_redirects();
    let form = login_form(&server, &http).await;
    let now = server.clock_now();
    let (status, cookies, _) = post_login(
        &server,
        &http,
        &form,
        "petr",
        "petr's long password",
        &totp_at(&account, now),
    )
    .await;
    assert_eq!(status, 303);
    let known = cookies
        .iter()
        .find(|c| c.starts_with("civkey_known="))
        .unwrap_or_else(|| panic!("no civkey_known cookie in {cookies:?}"));
    assert!(
        known.contains("HttpOnly") && known.contains("SameSite=Strict"),
        "{known}"
    );
    let known = cookie_pair(&cookies, "civkey_known");

    // Someone else tries petr's password until every attempt must wait.
    server.clock.advance(30);
    let stranger = login_form(&server, &http).await;
    loop {
        let (status, _, _) =
            post_login(&server, &http, &stranger, "petr", "a guess", "000000").await;
        if status == 429 {
            break;
        }
        assert_eq!(status, 401);
    }

    // Petr's own browser logs in at once.
    let now = server.clock_now();
    let mine = (format!("{}; {known}", form.0), form.1.clone());
    let (status, cookies, _) = post_login(
        &server,
        &http,
        &mine,
        "petr",
        "petr's long password",
        &totp_at(&account, now),
    )
    .await;
    assert_eq!(status, 303);
    cookie_pair(&cookies, "civkey_session");
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
            &civkey_server::services::secrets::token_hash(token),
            &mallory,
            civkey_server::store::Means::PasswordTotp,
            "mallory-csrf",
            now,
            now + 3600,
            None,
        )
        .await
        .unwrap();
    let http = no_redirects();
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
    let forged = post_with_cookie(
        &http,
        format!("{}/portal/login/email", server.base),
        "civkey_pre=planted-token",
        &[("csrf", "planted-token"), ("username", "eva")],
    )
    .await;
    assert_eq!(
        forged.status(),
        401,
        "a planted civkey_pre cookie passed the anti-forgery check"
    );

    // Under its prefixed name (which only this host, over https, can set) it is the session.
    let own = dashboard(format!("__Host-civkey_session={token}")).await;
    assert_eq!(own.status(), 200);
}

/// The attack: a name that reaches a page (here a service's, as its operator typed it) carries
/// markup, hoping the page runs it. Every page is an askama template that escapes by default, so
/// the browser gets text; the test fails if a template ever writes a value raw.
#[tokio::test]
async fn markup_in_a_service_name_reaches_the_login_page_as_text() {
    let server = TestServer::start().await;
    let evil = "<script>alert(1)</script><img src=x onerror=alert(2)> Knihovna";
    let redirect = "http://127.0.0.1:9/callback";
    let client = server
        .state
        .services()
        .register_client(evil, &[redirect.to_string()], None)
        .await
        .unwrap();
    let mut url = civkey_tests::authorize_url(
        &format!("{}/oidc/authorize", server.base),
        client.client.id.as_str(),
        redirect,
        "s",
        "n",
        "e2e-verifier-0123456789-0123456789-0123456789-abcdef",
    );
    url.query_pairs_mut().append_pair("lang", "en");
    let page = no_redirects().get(url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains(
            "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt; Knihovna"
        ),
        "the name is shown, escaped: {html}"
    );
    assert!(!html.contains("<script>alert"), "{html}");
    assert!(!html.contains("<img src=x"), "{html}");
}
