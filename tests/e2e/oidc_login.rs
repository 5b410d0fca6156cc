//! Logging in to a service over real HTTP: the service (played here by plain HTTP calls, as an
//! OIDC relying party makes them) sends the browser to the authorization endpoint, the login page
//! moves on by itself (server-sent events), `civkey login` approves with a key in the real Secret
//! Service, and the service exchanges the code and verifies the ID token against the JWKS.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use civkey_proto::oidc::{
    Discovery, IdTokenClaims, Jwks, JwsHeader, OAuthErrorBody, TokenResponse, UserInfo,
};
use civkey_server::services::oidc::clients::NewClient;
use civkey_tests::cli::{cli, json_lines};
use civkey_tests::http::events_url_of;
use civkey_tests::http::launch_link_of;
use civkey_tests::http::login_cookie_of;
use civkey_tests::http::query_of;
use civkey_tests::http::wait_for_event;
use civkey_tests::http::{get_json, get_with_cookie, no_redirects, post_with_cookie};
use civkey_tests::keyring::paired_profile;
use civkey_tests::{authorize_url, TempDir, TestServer};
use serde_json::Value;
use sha2::{Digest, Sha256};

const VERIFIER: &str = "e2e-verifier-0123456789-0123456789-0123456789-abcdef";

/// Where the service "Knihovna" of these tests sends the browser back (nothing listens there).
const LIBRARY_REDIRECT: &str = "http://127.0.0.1:9/callback";

/// The service `name` registered at `server` with the one redirect URI `redirect`.
async fn registered(server: &TestServer, name: &str, redirect: &str) -> NewClient {
    server
        .state
        .services()
        .register_client(name, &[redirect.to_string()], None)
        .await
        .unwrap()
}

/// The service "Knihovna" registered at `server`, its redirect URI, and a browser that shows
/// redirects instead of following them.
async fn library(server: &TestServer) -> (NewClient, &'static str, reqwest::Client) {
    let client = registered(server, "Knihovna", LIBRARY_REDIRECT).await;
    (client, LIBRARY_REDIRECT, no_redirects())
}

/// The service exchanges `code` at `token_endpoint` (client_secret_basic, the tests' verifier).
async fn exchange_code(
    http: &reqwest::Client,
    token_endpoint: &str,
    client: &NewClient,
    code: &str,
    redirect: &str,
) -> reqwest::Response {
    http.post(token_endpoint)
        .basic_auth(&client.client.id, Some(client.secret.as_str()))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .unwrap()
}

/// The library's authorization request with `state` and `nonce`, its pages in English.
fn library_authorize(
    server: &TestServer,
    client: &NewClient,
    state: &str,
    nonce: &str,
) -> url::Url {
    let mut url = authorize_url(
        &format!("{}/oidc/authorize", server.base),
        client.client.id.as_str(),
        LIBRARY_REDIRECT,
        state,
        nonce,
        VERIFIER,
    );
    url.query_pairs_mut().append_pair("lang", "en");
    url
}

/// The claims of an ID token (compact JWS), read without checking its signature.
fn id_token_claims(jwt: &str) -> IdTokenClaims {
    let payload = jwt.split('.').nth(1).expect("a compact JWS");
    serde_json::from_slice(&B64.decode(payload).unwrap()).unwrap()
}

fn verify_es256(jwt: &str, jwks: &Jwks) -> IdTokenClaims {
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3);
    let header: JwsHeader = serde_json::from_slice(&B64.decode(parts[0]).unwrap()).unwrap();
    assert_eq!(header.alg, "ES256");
    let key = jwks
        .keys
        .iter()
        .find(|k| k.kid == header.kid)
        .expect("the token's kid is in the JWKS");
    let mut point = vec![4u8];
    point.extend(B64.decode(&key.x).unwrap());
    point.extend(B64.decode(&key.y).unwrap());
    ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_FIXED, point)
        .verify(
            format!("{}.{}", parts[0], parts[1]).as_bytes(),
            &B64.decode(parts[2]).unwrap(),
        )
        .expect("the ID token's signature verifies");
    id_token_claims(jwt)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_logs_a_citizen_in_with_civkey_login_over_openid_connect() {
    let server = TestServer::start().await;
    let home = TempDir::new("civkey-oidc");
    let (_profile, citizen) = paired_profile(&server, &home).await;
    let redirect = "http://127.0.0.1:9/callback";
    let client = registered(&server, "Daňový portál", redirect).await;
    let http = no_redirects();

    // Discovery, as a relying party starts.
    let discovery: Discovery = get_json(
        &http,
        format!("{}/.well-known/openid-configuration", server.base),
    )
    .await;
    assert_eq!(discovery.issuer, server.origin.as_str());
    assert_eq!(discovery.code_challenge_methods_supported[0], "S256");
    assert_eq!(discovery.id_token_signing_alg_values_supported[0], "ES256");

    // The browser arrives at the authorization endpoint and gets the login page.
    let authorize = authorize_url(
        &discovery.authorization_endpoint,
        client.client.id.as_str(),
        redirect,
        "st-e2e",
        "n-e2e",
        VERIFIER,
    );
    let page = http
        .get(authorize.as_str())
        .header("accept-language", "en")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let login_cookie = login_cookie_of(&page);
    let page = page.text().await.unwrap();
    assert!(page.contains("Log in to Daňový portál"), "{page}");
    // The page draws this second's login URI as its QR code (and every next one it hears).
    assert!(
        page.contains("data-qr-uri=\"civkey://login?v=1&amp;"),
        "{page}"
    );
    let events_url = events_url_of(&page);
    let launch = launch_link_of(&page);

    // The page listens; the first thing it hears is a fresh QR code.
    let events =
        get_with_cookie(&http, format!("{}{events_url}", server.base), &login_cookie).await;
    assert_eq!(
        events.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );

    // The citizen opens the mobile key on this device and approves.
    let output = civkey_cli(&home.0, &["--json", "login", &launch, "--approve"]).await;
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let lines = json_lines(&output.stdout);
    assert_eq!(lines[0]["service_name"], "Daňový portál");
    assert_eq!(lines[0]["service_origin"], "http://127.0.0.1:9");
    assert_eq!(lines[1]["event"], "approved");

    // The page moves on by itself to the service, with the code and the state.
    let approved: Value = serde_json::from_str(&wait_for_event(events, "approved").await).unwrap();
    let redirect_to = approved["redirect_to"].as_str().unwrap();
    assert!(redirect_to.starts_with(redirect), "{redirect_to}");
    let query = query_of(redirect_to);
    assert_eq!(query["state"], "st-e2e");
    assert_eq!(query["iss"], server.origin.as_str(), "RFC 9207");
    let code = &query["code"];

    // The service exchanges the code (client_secret_basic) and checks the ID token.
    let token_endpoint = discovery.token_endpoint.as_str();
    let tokens = exchange_code(&http, token_endpoint, &client, code, redirect).await;
    assert_eq!(tokens.status(), 200);
    assert_eq!(tokens.headers()["cache-control"], "no-store");
    let tokens: TokenResponse = tokens.json().await.unwrap();
    let jwks: Jwks = get_json(&http, &discovery.jwks_uri).await;
    let claims = verify_es256(&tokens.id_token, &jwks);
    assert_eq!(claims.iss, server.origin.as_str());
    assert_eq!(claims.aud, client.client.id.as_str());
    assert_eq!(claims.nonce.as_deref(), Some("n-e2e"));
    assert_eq!(claims.name.as_deref(), Some("Jana Nováková"));
    assert_ne!(claims.sub, citizen.as_str());

    let info: UserInfo = http
        .get(&discovery.userinfo_endpoint)
        .bearer_auth(&tokens.access_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info.sub, claims.sub);

    // The code works once; the second exchange (client_secret_post this time) is refused.
    let again = http
        .post(token_endpoint)
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", redirect),
            ("code_verifier", VERIFIER),
            ("client_id", client.client.id.as_str()),
            ("client_secret", client.secret.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 400);
    let again: OAuthErrorBody = again.json().await.unwrap();
    assert_eq!(again.error, "invalid_grant");

    // The portal's data has the login in the citizen's history.
    let history = server.store.login_history(&citizen, 10).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].service_name, "Daňový portál");
}

#[tokio::test]
async fn bad_oidc_requests_get_standard_error_responses() {
    let server = TestServer::start().await;
    let redirect = "http://127.0.0.1:9/callback";
    let client = registered(&server, "Service", redirect).await;
    let http = no_redirects();
    let base = &server.base;

    // Unknown client: said on the page, no redirect.
    let unknown = http
        .get(format!("{base}/oidc/authorize?client_id=nobody&redirect_uri={redirect}&response_type=code&scope=openid"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 400);
    assert!(unknown.headers().get("location").is_none());

    // No PKCE: back to the service with error=invalid_request and the state.
    let mut no_pkce = url::Url::parse(&format!("{base}/oidc/authorize")).unwrap();
    no_pkce
        .query_pairs_mut()
        .append_pair("client_id", client.client.id.as_str())
        .append_pair("redirect_uri", redirect)
        .append_pair("response_type", "code")
        .append_pair("scope", "openid")
        .append_pair("state", "s1");
    let refused = http.get(no_pkce.as_str()).send().await.unwrap();
    assert_eq!(refused.status(), 303);
    let location = refused.headers()["location"].to_str().unwrap();
    let query = query_of(location);
    assert_eq!(query["error"], "invalid_request");
    assert_eq!(query["state"], "s1");

    // The token endpoint: no client authentication, unknown grant, unknown code.
    let token = format!("{base}/oidc/token");
    let no_auth = http
        .post(&token)
        .form(&[("grant_type", "authorization_code"), ("code", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(no_auth.status(), 401);
    assert!(no_auth.headers().contains_key("www-authenticate"));
    assert_eq!(
        no_auth.json::<OAuthErrorBody>().await.unwrap().error,
        "invalid_client"
    );
    let grant = http
        .post(&token)
        .form(&[("grant_type", "password")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        grant.json::<OAuthErrorBody>().await.unwrap().error,
        "unsupported_grant_type"
    );
    let code = exchange_code(&http, &token, &client, "made-up", redirect).await;
    assert_eq!(code.status(), 400);
    assert_eq!(
        code.json::<OAuthErrorBody>().await.unwrap().error,
        "invalid_grant"
    );

    // Userinfo without a valid token.
    let info = http
        .get(format!("{base}/oidc/userinfo"))
        .bearer_auth("nope")
        .send()
        .await
        .unwrap();
    assert_eq!(info.status(), 401);
    assert!(info.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("invalid_token"));
}

/// `civkey --profile DIR ARGS…` in English, run off the async runtime.
async fn civkey_cli(profile: &std::path::Path, args: &[&str]) -> std::process::Output {
    let mut command = cli(profile);
    command.args(args).stdin(std::process::Stdio::null());
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn civkey_login_denies_tells_the_page_and_refuses_bad_links() {
    use civkey_proto::login::LoginPageEvent;
    use civkey_server::services::oidc::authorize::AuthorizeParams;

    let server = TestServer::start().await;
    let home = TempDir::new("civkey-oidc-deny");
    let (_profile, _citizen) = paired_profile(&server, &home).await;
    let services = server.state.services();
    let client = registered(&server, "Banka", "https://banka.example.cz/cb").await;
    let params = AuthorizeParams {
        client_id: Some(client.client.id.clone()),
        redirect_uri: Some("https://banka.example.cz/cb".into()),
        response_type: Some("code".into()),
        scope: Some("openid".into()),
        state: None,
        nonce: None,
        code_challenge: Some(B64.encode(Sha256::digest(VERIFIER.as_bytes()))),
        code_challenge_method: Some("S256".into()),
        ..AuthorizeParams::default()
    };

    // Denied: the page learns it.
    let started = services
        .authorize(&params, None, "127.0.0.1")
        .await
        .unwrap();
    let denied = civkey_cli(&home.0, &["--json", "login", &started.launch_uri, "--deny"]).await;
    assert!(
        denied.status.success(),
        "{}",
        String::from_utf8_lossy(&denied.stderr)
    );
    assert!(String::from_utf8_lossy(&denied.stdout).contains("\"event\":\"denied\""));
    assert_eq!(
        services
            .login_page_event(&started.request_id, Some(&started.browser_token))
            .await
            .unwrap(),
        LoginPageEvent::Denied
    );

    // Without a terminal it will not guess the answer.
    let started = services
        .authorize(&params, None, "127.0.0.1")
        .await
        .unwrap();
    let unanswered = civkey_cli(&home.0, &["login", &started.launch_uri]).await;
    assert_eq!(unanswered.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unanswered.stderr).contains("--approve or --deny"));

    // A photographed QR code, scanned six seconds later.
    let started = services
        .authorize(&params, None, "127.0.0.1")
        .await
        .unwrap();
    let (qr, _) = services.login_qr_uri(&started.request_id).await.unwrap();
    server.clock.advance(6);
    let stale = civkey_cli(&home.0, &["login", &qr, "--approve"]).await;
    assert_eq!(stale.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&stale.stderr).contains("The QR code is too old"),
        "{}",
        String::from_utf8_lossy(&stale.stderr)
    );

    // A used launch link, a pairing code, and a server this device is not paired with.
    let used = civkey_cli(&home.0, &["login", &started.launch_uri, "--approve"]).await;
    assert!(used.status.success());
    let again = civkey_cli(
        &home.0,
        &["--json", "login", &started.launch_uri, "--approve"],
    )
    .await;
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stdout).contains("\"error\":\"login_used\""));
    let pairing = server.new_pairing(&server.add_citizen("petr").await).await;
    let wrong_kind = civkey_cli(&home.0, &["login", &pairing.to_uri(), "--approve"]).await;
    assert!(String::from_utf8_lossy(&wrong_kind.stderr).contains("This is not a login QR code"));
    let elsewhere = started.launch_uri.replace(
        &url_escape(server.origin.as_str()),
        "https%3A%2F%2Fother.example.org",
    );
    let not_paired = civkey_cli(&home.0, &["login", &elsewhere, "--approve"]).await;
    assert_eq!(not_paired.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&not_paired.stderr)
            .contains("This device is not paired with https://other.example.org"),
        "{}",
        String::from_utf8_lossy(&not_paired.stderr)
    );
}

fn url_escape(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// The path of the login page's "log in another way" link, or of its "Continue as NAME" form.
fn continue_path_of(page: &str) -> String {
    let end = page
        .find("/continue\"")
        .expect("the login page offers the other means");
    let start = page[..end].rfind("/oidc/login/").unwrap();
    format!("{}/continue", &page[start..end])
}

/// The login page's "log in another way" link.
fn other_means_link(page: &str) -> String {
    page.split("href=\"/oidc/login/")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .map(|rest| format!("/oidc/login/{rest}"))
        .expect("the login page links to the other means")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_mobile_key_a_citizen_logs_in_to_a_service_with_an_email_code() {
    use civkey_tests::http::csrf_of;
    use civkey_tests::portal::eva;
    use civkey_tests::portal::log_in_by_email_to;
    let server = TestServer::start().await;
    eva(&server).await;
    let (client, redirect, http) = library(&server).await;
    let authorize = library_authorize(&server, &client, "st-mail", "n-mail");
    let page = http.get(authorize.as_str()).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let login_cookie = login_cookie_of(&page);
    let page = page.text().await.unwrap();
    let continue_path = other_means_link(&page);
    assert!(continue_path.ends_with("/continue"), "{continue_path}");
    assert!(page.contains("Log in with a password or an e-mail code</a>"));

    // Without a portal session, the link leads to the portal's login, which comes back.
    let bounced = get_with_cookie(
        &http,
        format!("{}{continue_path}", server.base),
        &login_cookie,
    )
    .await;
    assert_eq!(bounced.status(), 303);
    let login_path = bounced.headers()["location"].to_str().unwrap().to_string();
    let asked_next = query_of(&format!("{}{login_path}", server.base));
    assert!(login_path.starts_with("/portal/login?"), "{login_path}");
    assert_eq!(asked_next["next"], continue_path);
    let (session, _, next) = log_in_by_email_to(&server, &http, &login_path).await;
    let session = format!("{session}; {login_cookie}");
    assert_eq!(
        next, continue_path,
        "the e-mail login returns to the service's request"
    );

    // "Log in to Knihovna as Eva Horváth?": a form whose answer may lead to the service.
    let confirm = get_with_cookie(
        &http,
        format!("{}{continue_path}?lang=en", server.base),
        &session,
    )
    .await;
    assert_eq!(confirm.status(), 200);
    let csp = confirm.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains("form-action 'self' http://127.0.0.1:9;"),
        "{csp}"
    );
    let html = confirm.text().await.unwrap();
    assert!(
        html.contains("Log in to Knihovna as Eva Horváth?"),
        "{html}"
    );
    let csrf = csrf_of(&html, &continue_path);

    // A post without the session's anti-forgery token changes nothing.
    let forged = post_with_cookie(
        &http,
        format!("{}{continue_path}", server.base),
        &session,
        &[("csrf", "forged")],
    )
    .await;
    assert_eq!(forged.status(), 403);

    let approved = post_with_cookie(
        &http,
        format!("{}{continue_path}", server.base),
        &session,
        &[("csrf", csrf.as_str())],
    )
    .await;
    assert_eq!(approved.status(), 303);
    let back = approved.headers()["location"].to_str().unwrap().to_string();
    assert!(back.starts_with(redirect), "{back}");
    let query = query_of(&back);
    assert_eq!(query["state"], "st-mail");

    // Once answered, the request cannot be answered again.
    let again = post_with_cookie(
        &http,
        format!("{}{continue_path}", server.base),
        &session,
        &[("csrf", csrf.as_str())],
    )
    .await;
    assert_eq!(again.status(), 410);

    // The service gets an ID token saying how the citizen logged in.
    let token_endpoint = format!("{}/oidc/token", server.base);
    let tokens = exchange_code(&http, &token_endpoint, &client, &query["code"], redirect).await;
    let tokens: TokenResponse = tokens.json().await.unwrap();
    let jwks: Jwks = get_json(&http, format!("{}/oidc/jwks", server.base)).await;
    let claims = verify_es256(&tokens.id_token, &jwks);
    assert_eq!(claims.name.as_deref(), Some("Eva Horváth"));
    assert_eq!(claims.nonce.as_deref(), Some("n-mail"));
    assert_eq!(claims.amr, ["otp"]);
    assert_eq!(claims.acr, "civkey:email-code");

    // The portal's history says so; the next login page offers "Continue as Eva Horváth".
    let dashboard = get_with_cookie(&http, format!("{}/portal?lang=en", server.base), &session)
        .await
        .text()
        .await
        .unwrap();
    assert!(dashboard.contains("<td>Knihovna</td>"), "{dashboard}");
    assert!(dashboard.contains("<td>E-mail code</td>"), "{dashboard}");
    let page = get_with_cookie(&http, authorize.as_str(), &session).await;
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains("form-action 'self' http://127.0.0.1:9;"),
        "{csp}"
    );
    let page = page.text().await.unwrap();
    assert!(page.contains(">Continue as Eva Horváth</button>"), "{page}");
}

/// The login page's stream, asked by anyone but the browser that started the login: before the
/// login was bound to its browser, whoever saw the request id once (a shoulder, a proxy log, a
/// shared link) could read fresh QR codes off the public stream — defeating their 5-second
/// freshness and letting another device open the request first — and the outcome with the
/// service's code. Now that client is told the login was started in another browser and hears
/// nothing; the browser that started it is served as before.
#[tokio::test]
async fn a_second_client_cannot_read_the_login_pages_stream() {
    let server = TestServer::start().await;
    let (client, _, http) = library(&server).await;
    let authorize = library_authorize(&server, &client, "st", "n");
    let page = http.get(authorize.as_str()).send().await.unwrap();
    let set_cookie = civkey_tests::http::set_cookies(&page)
        .into_iter()
        .find(|c| c.starts_with("civkey_login="))
        .unwrap();
    // Sent back only to this request's own paths, never to script.
    assert!(set_cookie.contains("HttpOnly"), "{set_cookie}");
    assert!(set_cookie.contains("SameSite=Lax"), "{set_cookie}");
    let login_cookie = login_cookie_of(&page);
    let page = page.text().await.unwrap();
    let events_url = events_url_of(&page);
    assert!(
        set_cookie.contains(&format!("Path={}", events_url.trim_end_matches("/events"))),
        "{set_cookie}"
    );
    let other_browser = civkey_i18n::tr(civkey_i18n::Locale::En, "portal.signin.other_browser");

    // Another client: no cookie, or a cookie of its own making.
    for cookie in [None, Some("civkey_login=made-up-by-the-attacker")] {
        let mut request = http
            .get(format!("{}{events_url}?lang=en", server.base))
            .header("accept-language", "en");
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        let refused = request.send().await.unwrap();
        assert_eq!(refused.status(), 403, "{cookie:?}");
        assert_ne!(
            refused.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        let body = refused.text().await.unwrap();
        assert!(
            body.contains(&other_browser.replace('\'', "&#x27;")) || body.contains(other_browser),
            "{body}"
        );
        assert!(!body.contains("civkey://login"), "{body}");
    }
    // Another login's cookie is not this one's either.
    let second = http.get(authorize.as_str()).send().await.unwrap();
    let second_cookie = login_cookie_of(&second);
    let refused = get_with_cookie(
        &http,
        format!("{}{events_url}", server.base),
        &second_cookie,
    )
    .await;
    assert_eq!(refused.status(), 403);

    // The browser that started it hears this second's QR code.
    let events =
        get_with_cookie(&http, format!("{}{events_url}", server.base), &login_cookie).await;
    assert_eq!(events.status(), 200);
    let frame = wait_for_event(events, "civkey://login?").await;
    assert!(frame.contains("\"seconds_left\""), "{frame}");
}

/// What a certified OpenID provider does with `prompt`, `max_age`, `acr_values`, request objects
/// and a reused code, over HTTP with a citizen's e-mail-code session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prompt_max_age_acr_values_and_code_reuse_behave_as_openid_connect_core_says() {
    use civkey_tests::http::csrf_of;
    use civkey_tests::portal::eva;
    use civkey_tests::portal::log_in_by_email_to;
    let server = TestServer::start().await;
    eva(&server).await;
    let (client, redirect, http) = library(&server).await;
    let issuer = server.origin.as_str().to_string();
    let authorize = |extra: &[(&str, &str)]| {
        let mut url = library_authorize(&server, &client, "st-core", "n-core");
        for (k, v) in extra {
            url.query_pairs_mut().append_pair(k, v);
        }
        url
    };
    let refused_with = |response: &reqwest::Response| {
        assert_eq!(response.status(), 303);
        let query = query_of(response.headers()["location"].to_str().unwrap());
        assert_eq!(query["state"], "st-core");
        assert_eq!(query["iss"], issuer, "RFC 9207: iss in error responses too");
        query["error"].clone()
    };

    // Discovery says what is supported.
    let discovery: Discovery = get_json(
        &http,
        format!("{}/.well-known/openid-configuration", server.base),
    )
    .await;
    assert!(discovery.authorization_response_iss_parameter_supported);
    assert!(!discovery.request_parameter_supported);
    assert!(!discovery.request_uri_parameter_supported);
    assert!(discovery
        .acr_values_supported
        .iter()
        .any(|acr| acr == "civkey:mobile-key"));

    // prompt=none without a session: back to the service with login_required, no page.
    let none = http
        .get(authorize(&[("prompt", "none")]).as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(refused_with(&none), "login_required");
    // Request objects, registration, unknown acr values, a bad max_age: refused by name.
    for (extra, error) in [
        (
            ("request", "eyJhbGciOiJub25lIn0.e30."),
            "request_not_supported",
        ),
        (
            ("request_uri", "https://attacker.example/r"),
            "request_uri_not_supported",
        ),
        (("registration", "{}"), "registration_not_supported"),
        (("acr_values", "1 2"), "invalid_request"),
        (("max_age", "soon"), "invalid_request"),
        (("prompt", "none login"), "invalid_request"),
    ] {
        let response = http.get(authorize(&[extra]).as_str()).send().await.unwrap();
        assert_eq!(refused_with(&response), error, "{extra:?}");
    }
    // An unknown parameter is ignored; the request may also be a form POST (Core 3.1.2.1).
    let unknown = http
        .get(authorize(&[("vendor_thing", "x")]).as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 200);
    let form: Vec<(String, String)> = authorize(&[]).query_pairs().into_owned().collect();
    let posted = http
        .post(format!("{}/oidc/authorize", server.base))
        .header("accept-language", "en")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 200);
    assert!(posted.text().await.unwrap().contains("Log in to Knihovna"));

    // Eva logs in to the portal with an e-mail code (through a login request, as a citizen would).
    let page = http.get(authorize(&[]).as_str()).send().await.unwrap();
    let continue_path = other_means_link(&page.text().await.unwrap());
    let (session, _, _) = log_in_by_email_to(
        &server,
        &http,
        &format!("/portal/login?next={}", url_escape(&continue_path)),
    )
    .await;
    let session_authenticated_at = server.clock_now();

    // With a session, prompt=none is still an error: civkey never logs in without the citizen.
    let none = get_with_cookie(&http, authorize(&[("prompt", "none")]), &session).await;
    assert_eq!(refused_with(&none), "interaction_required");

    // A service asking for at least password + TOTP: the e-mail-code session is not enough.
    let strong = get_with_cookie(
        &http,
        authorize(&[("acr_values", "civkey:mobile-key civkey:password-otp")]),
        &session,
    )
    .await;
    let strong_cookie = login_cookie_of(&strong);
    let strong_continue = continue_path_of(&strong.text().await.unwrap());
    let too_weak = http
        .get(format!("{}{strong_continue}", server.base))
        .header("accept-language", "en")
        .header("cookie", format!("{session}; {strong_cookie}"))
        .send()
        .await
        .unwrap();
    assert_eq!(too_weak.status(), 403);
    assert!(too_weak
        .text()
        .await
        .unwrap()
        .contains("asks for a stronger means"));

    // prompt=login, and max_age shorter than the session's age: log in afresh first.
    server.clock.advance(120);
    for extra in [("prompt", "login"), ("max_age", "60")] {
        let page = get_with_cookie(&http, authorize(&[extra]), &session).await;
        let cookie = login_cookie_of(&page);
        let path = continue_path_of(&page.text().await.unwrap());
        let both = format!("{session}; {cookie}");
        let fresh = get_with_cookie(&http, format!("{}{path}", server.base), &both).await;
        assert_eq!(fresh.status(), 303, "{extra:?}");
        let location = fresh.headers()["location"].to_str().unwrap().to_string();
        assert!(
            location.starts_with("/portal/login?fresh=1&next="),
            "{location}"
        );
        // The login form is shown although the browser has a session.
        let form = get_with_cookie(&http, format!("{}{location}", server.base), &session).await;
        assert_eq!(form.status(), 200, "{extra:?}");
    }

    // max_age longer than the session's age: "Continue as Eva"; auth_time is when she logged in.
    let page = get_with_cookie(&http, authorize(&[("max_age", "3600")]), &session).await;
    let cookie = login_cookie_of(&page);
    let path = continue_path_of(&page.text().await.unwrap());
    let both_now = format!("{session}; {cookie}");
    let confirm = get_with_cookie(&http, format!("{}{path}", server.base), &both_now).await;
    assert_eq!(confirm.status(), 200);
    let csrf = csrf_of(&confirm.text().await.unwrap(), &path);
    let approved = post_with_cookie(
        &http,
        format!("{}{path}", server.base),
        &both_now,
        &[("csrf", csrf.as_str())],
    )
    .await;
    assert_eq!(approved.status(), 303);
    let query = query_of(approved.headers()["location"].to_str().unwrap());
    assert_eq!(query["iss"], issuer);
    let token_endpoint = format!("{}/oidc/token", server.base);
    let exchange = || exchange_code(&http, &token_endpoint, &client, &query["code"], redirect);
    let tokens: TokenResponse = exchange().await.json().await.unwrap();
    let claims = id_token_claims(&tokens.id_token);
    assert_eq!(claims.auth_time, session_authenticated_at);
    let userinfo = |token: String| {
        http.get(format!("{}/oidc/userinfo", server.base))
            .bearer_auth(token)
            .send()
    };
    let access = tokens.access_token.clone();
    assert_eq!(userinfo(access.clone()).await.unwrap().status(), 200);
    // Userinfo also takes the token in a POST body (RFC 6750 section 2.2), but not twice.
    let in_body = http
        .post(format!("{}/oidc/userinfo", server.base))
        .form(&[("access_token", access.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(in_body.status(), 200);
    assert_eq!(
        in_body.json::<UserInfo>().await.unwrap().name.as_deref(),
        Some("Eva Horváth")
    );
    let twice = http
        .post(format!("{}/oidc/userinfo", server.base))
        .bearer_auth(&access)
        .form(&[("access_token", access.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(twice.status(), 400);

    // The code used a second time (stolen from a log, say): refused, and the tokens it gave die.
    let again = exchange().await;
    assert_eq!(again.status(), 400);
    assert_eq!(
        again.json::<OAuthErrorBody>().await.unwrap().error,
        "invalid_grant"
    );
    assert_eq!(userinfo(access).await.unwrap().status(), 401);
}

/// A citizen with a paired key logs in to the portal with it — always possible, whatever the
/// password limits say — and that login is strong enough for Connect mobile key (step-up). The
/// finishing link works only in the browser that started the login, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_citizen_logs_in_to_the_portal_with_the_mobile_key_and_may_connect_another() {
    let server = TestServer::start().await;
    let home = TempDir::new("civkey-portal-key");
    let (profile, _citizen) = paired_profile(&server, &home).await;
    let http = no_redirects();
    let page = http
        .get(format!(
            "{}/portal/login/key?next=%2Fportal%2Fconnect&lang=en",
            server.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let login_cookie = login_cookie_of(&page);
    let page = page.text().await.unwrap();
    assert!(page.contains("Log in to Citizen portal"), "{page}");
    let events_url = events_url_of(&page);
    let launch = launch_link_of(&page);
    let events =
        get_with_cookie(&http, format!("{}{events_url}", server.base), &login_cookie).await;

    // The app shows who asks: the portal itself, at the server's own origin.
    let opened = profile.open_login(&launch).await.unwrap();
    assert_eq!(opened.info.service_origin.as_str(), server.origin.as_str());
    profile
        .decide_login(&opened, civkey_proto::sign::Decision::Approve)
        .await
        .unwrap();
    let approved: Value = serde_json::from_str(&wait_for_event(events, "approved").await).unwrap();
    let finish = approved["redirect_to"].as_str().unwrap().to_string();
    assert!(
        finish.starts_with(&format!("{}/oidc/login/", server.origin.as_str())),
        "{finish}"
    );

    // Another browser cannot finish it.
    let elsewhere = http.get(&finish).send().await.unwrap();
    assert_eq!(elsewhere.status(), 403);

    // Her browser can, once: a portal session, and on to Connect mobile key, which opens.
    let finished = get_with_cookie(&http, &finish, &login_cookie).await;
    assert_eq!(finished.status(), 303);
    assert_eq!(finished.headers()["location"], "/portal/connect");
    let session = civkey_tests::http::cookie_pair(
        &civkey_tests::http::set_cookies(&finished),
        "civkey_session",
    );
    let connect = get_with_cookie(&http, format!("{}/portal/connect", server.base), &session).await;
    assert_eq!(connect.status(), 200);
    let again = get_with_cookie(&http, &finish, &login_cookie).await;
    assert_eq!(again.status(), 410);
}
