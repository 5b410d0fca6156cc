//! civkey as an OpenID Connect provider to a relying party built on a stock client library (the
//! `openidconnect` crate), as a service would build one: discovery, PKCE, state and nonce, the
//! code exchange with either client authentication, the ID token verified against the provider's
//! JWKS, userinfo. First with plain HTTP playing the browser and the client library approving
//! through the page's same-device link; then as a small web app in real headless Chromium, where
//! the client library scans the page's QR code and the page moves on by itself.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, Redirect};
use axum::routing::get;
use axum::Router;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use civkey_client::login::read_login_uri;
use civkey_client::profile::Profile;
use civkey_client::scan::{self, Frame};
use civkey_i18n::Locale;
use civkey_proto::login::{LoginPageEvent, LoginUri};
use civkey_proto::sign::Decision;
use civkey_server::clock::{Clock, SystemClock};
use civkey_tests::{TempDir, TestServer};
use fantoccini::{Client as Browser, Locator};
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreErrorResponseType, CoreIdToken, CoreIdTokenClaims,
    CoreProviderMetadata, CoreTokenResponse, CoreUserInfoClaims,
};
use openidconnect::{
    AccessTokenHash, AuthType, AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret,
    CsrfToken, EndpointMaybeSet, EndpointNotSet, EndpointSet, HttpClientError, IssuerUrl, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RequestTokenError,
    Scope, StandardErrorResponse, TokenResponse,
};
use url::Url;

use civkey_tests::keyring::paired_profile;

use civkey_tests::chromium::Driver;
use civkey_tests::http::wait_for_event;

/// The client as `CoreClient::from_provider_metadata` makes it: the authorization endpoint is
/// known; the token and userinfo endpoints are whatever discovery said.
type RpClient = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

type TokenError = RequestTokenError<
    HttpClientError<reqwest::Error>,
    StandardErrorResponse<CoreErrorResponseType>,
>;

/// How long the browser or the page may take for one step on a busy two-core machine.
const STEP: Duration = Duration::from_secs(30);

/// A relying party: a service registered at civkey, with its `openidconnect` client.
struct Service {
    client: RpClient,
    /// The service's HTTP client for the back channel: redirects off, as the library asks.
    http: reqwest::Client,
    name: String,
}

/// What the service keeps between sending the browser off and its return.
struct PendingLogin {
    state: CsrfToken,
    nonce: Nonce,
    verifier: PkceCodeVerifier,
}

/// Who the service learnt has signed in.
struct SignedIn {
    sub: String,
    name: String,
}

impl Service {
    /// Registers `name` with `redirect` at `server` and discovers the provider from its issuer,
    /// as a service configures itself; `auth` is how it authenticates at the token endpoint.
    async fn discover(server: &TestServer, name: &str, redirect: &str, auth: AuthType) -> Service {
        let registered = server
            .state
            .services()
            .register_client(name, &[redirect.to_string()], None)
            .await
            .unwrap();
        let http = civkey_tests::http::no_redirects();
        let issuer = IssuerUrl::new(server.origin.as_str().to_string()).unwrap();
        let metadata = CoreProviderMetadata::discover_async(issuer, &http)
            .await
            .unwrap();
        assert_eq!(metadata.issuer().as_str(), server.origin.as_str());
        // The library keeps the key set it fetched here, so the first login must verify with it.
        assert!(
            !metadata.jwks().keys().is_empty(),
            "the provider's JWKS is empty at discovery: the library could not verify a login"
        );
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(registered.client.id.to_string()),
            Some(ClientSecret::new(registered.secret.to_string())),
        )
        .set_redirect_uri(RedirectUrl::new(redirect.to_string()).unwrap())
        .set_auth_type(auth);
        Service {
            client,
            http,
            name: name.to_string(),
        }
    }

    /// The authorization URL to send the browser to (PKCE S256, state, nonce, `openid profile`),
    /// and what to keep until the browser comes back.
    fn start_login(&self) -> (Url, PendingLogin) {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state, nonce) = self
            .client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("profile".to_string()))
            .set_pkce_challenge(challenge)
            .url();
        let pending = PendingLogin {
            state,
            nonce,
            verifier,
        };
        (url, pending)
    }

    async fn exchange(
        &self,
        code: &str,
        verifier: PkceCodeVerifier,
    ) -> Result<CoreTokenResponse, TokenError> {
        self.client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .map_err(|e| RequestTokenError::Other(e.to_string()))?
            .set_pkce_verifier(verifier)
            .request_async(&self.http)
            .await
    }

    /// The ID token's claims, verified by the library against the JWKS from discovery, with the
    /// nonce; and the access token bound to them where the token says so (`at_hash`).
    fn verify<'t>(
        &self,
        tokens: &'t CoreTokenResponse,
        nonce: &Nonce,
    ) -> Result<&'t CoreIdTokenClaims, String> {
        let id_token = tokens.id_token().ok_or("no ID token")?;
        let verifier = self.client.id_token_verifier();
        let claims =
            id_token
                .claims(&verifier, nonce)
                .map_err(|e| match std::error::Error::source(&e) {
                    Some(cause) => format!("the ID token does not verify: {e}: {cause}"),
                    None => format!("the ID token does not verify: {e}"),
                })?;
        if let Some(expected) = claims.access_token_hash() {
            let actual = AccessTokenHash::from_token(
                tokens.access_token(),
                id_token.signing_alg().map_err(|e| e.to_string())?,
                id_token.signing_key(&verifier).map_err(|e| e.to_string())?,
            )
            .map_err(|e| e.to_string())?;
            if actual != *expected {
                return Err("the access token is not the one the ID token names".into());
            }
        }
        Ok(claims)
    }

    /// The whole return leg, as the web app's callback does it.
    async fn sign_in(&self, code: &str, pending: PendingLogin) -> Result<SignedIn, String> {
        let tokens = self
            .exchange(code, pending.verifier)
            .await
            .map_err(|e| format!("the code exchange failed: {e}"))?;
        let claims = self.verify(&tokens, &pending.nonce)?;
        Ok(SignedIn {
            sub: claims.subject().to_string(),
            name: name_of(claims),
        })
    }
}

fn name_of(claims: &CoreIdTokenClaims) -> String {
    claims
        .name()
        .and_then(|name| name.get(None))
        .map(|name| name.to_string())
        .unwrap_or_default()
}

/// The text between `marker` and the next `"` in an HTML page, with `&amp;` undone.
fn quoted_after(page: &str, marker: &str) -> String {
    page.split(marker)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("the page has no {marker}…\"; it is:\n{page}"))
        .replace("&amp;", "&")
}

/// Plays the browser at `authorize_url` and the citizen's phone: the login page comes, the client
/// library opens the page's same-device link and approves, and the page's events stream says
/// where the browser goes next. Returns that URL.
async fn approve_through_the_page(
    browser: &reqwest::Client,
    server: &TestServer,
    profile: &Profile,
    service: &Service,
    authorize_url: &Url,
) -> Url {
    let page = browser
        .get(authorize_url.as_str())
        .header("accept-language", "en")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let login_cookie = civkey_tests::http::login_cookie_of(&page);
    let page = page.text().await.unwrap();
    assert!(
        page.contains(&format!("Log in to {}", service.name)),
        "{page}"
    );
    let events_url = quoted_after(&page, "data-signin-events=\"");
    let events = browser
        .get(format!("{}{events_url}", server.base))
        .header("cookie", &login_cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(events.status(), 200);
    let launch = format!(
        "civkey://login?{}",
        quoted_after(&page, "href=\"civkey://login?")
    );

    let opened = profile.open_login(&launch).await.unwrap();
    assert_eq!(opened.info.service_name, service.name);
    assert_eq!(
        profile
            .decide_login(&opened, Decision::Approve)
            .await
            .unwrap(),
        Decision::Approve
    );

    let event = wait_for_event(events, "approved").await;
    match serde_json::from_str(&event).unwrap() {
        LoginPageEvent::Approved { redirect_to } => Url::parse(&redirect_to).unwrap(),
        other => panic!("the page heard {other:?}"),
    }
}

/// `redirect_to` must be the service's redirect URI with a code and the state it sent; the code.
fn code_for(redirect_to: &Url, redirect: &str, pending: &PendingLogin) -> String {
    let mut without_query = redirect_to.clone();
    without_query.set_query(None);
    assert_eq!(without_query.as_str(), redirect, "{redirect_to}");
    let query: HashMap<String, String> = redirect_to.query_pairs().into_owned().collect();
    assert_eq!(
        query.get("state").map(String::as_str),
        Some(pending.state.secret().as_str())
    );
    query.get("code").expect("a code comes back").clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stock_openidconnect_relying_party_logs_a_citizen_in() {
    let server = TestServer::start().await;
    let home = TempDir::new("civkey-oidc-rp");
    let (profile, citizen) = paired_profile(&server, &home).await;
    let browser = civkey_tests::http::no_redirects();

    // The service configures itself by discovery, and sends the browser to civkey.
    let redirect = "https://dane.example.cz/callback";
    let portal = Service::discover(&server, "Daňový portál", redirect, AuthType::BasicAuth).await;
    let (authorize_url, pending) = portal.start_login();
    let redirect_to =
        approve_through_the_page(&browser, &server, &profile, &portal, &authorize_url).await;
    let code = code_for(&redirect_to, redirect, &pending);

    // The code exchange (client_secret_basic, PKCE) and the ID token, checked by the library.
    let verifier = pending.verifier.secret().clone();
    let tokens = portal
        .exchange(&code, PkceCodeVerifier::new(verifier.clone()))
        .await
        .unwrap();
    let claims = portal.verify(&tokens, &pending.nonce).unwrap();
    assert_eq!(claims.issuer().as_str(), server.origin.as_str());
    assert_eq!(
        claims
            .audiences()
            .iter()
            .map(|a| a.as_str())
            .collect::<Vec<_>>(),
        [portal.client.client_id().as_str()]
    );
    assert_eq!(name_of(claims), "Jana Nováková");
    let sub = claims.subject().clone();
    assert_ne!(
        sub.as_str(),
        citizen.as_str(),
        "the service sees a pairwise identifier"
    );

    // Userinfo, through the library: the same citizen.
    let info: CoreUserInfoClaims = portal
        .client
        .user_info(tokens.access_token().clone(), Some(sub.clone()))
        .unwrap()
        .request_async(&portal.http)
        .await
        .unwrap();
    assert_eq!(info.subject(), &sub);
    assert_eq!(
        info.name().and_then(|n| n.get(None)).map(|n| n.as_str()),
        Some("Jana Nováková")
    );

    // The code works once.
    match portal
        .exchange(&code, PkceCodeVerifier::new(verifier))
        .await
    {
        Err(RequestTokenError::ServerResponse(e)) => {
            assert_eq!(*e.error(), CoreErrorResponseType::InvalidGrant, "{e:?}")
        }
        other => panic!("a used code was exchanged again: {other:?}"),
    }

    // A token for another login's nonce, or with one byte of its signature changed, is refused.
    let id_token = tokens.id_token().unwrap();
    let id_verifier = portal.client.id_token_verifier();
    let other_nonce = Nonce::new_random();
    assert!(matches!(
        id_token.claims(&id_verifier, &other_nonce),
        Err(ClaimsVerificationError::InvalidNonce(_))
    ));
    let jwt = id_token.to_string();
    let (signed_part, signature) = jwt.rsplit_once('.').unwrap();
    let as_sent: CoreIdToken = jwt.parse().unwrap();
    assert!(as_sent.claims(&id_verifier, &pending.nonce).is_ok());
    let mut signature = B64.decode(signature).unwrap();
    signature[10] ^= 0x01;
    let forged: CoreIdToken = format!("{signed_part}.{}", B64.encode(&signature))
        .parse()
        .unwrap();
    assert!(matches!(
        forged.claims(&id_verifier, &pending.nonce),
        Err(ClaimsVerificationError::SignatureVerification(_))
    ));

    // Another service (another host, client_secret_post) knows the same citizen by another name.
    let bank_redirect = "https://banka.example.cz/oidc";
    let bank = Service::discover(&server, "Banka", bank_redirect, AuthType::RequestBody).await;
    let (authorize_url, pending) = bank.start_login();
    let redirect_to =
        approve_through_the_page(&browser, &server, &profile, &bank, &authorize_url).await;
    let code = code_for(&redirect_to, bank_redirect, &pending);
    let at_bank = bank.sign_in(&code, pending).await.unwrap();
    assert_eq!(at_bank.name, "Jana Nováková");
    assert_ne!(at_bank.sub, sub.as_str());
    assert_ne!(at_bank.sub, citizen.as_str());
}

/// A service's web app on `127.0.0.1:0`, built on `openidconnect`: `/login` sends the browser to
/// civkey, `/callback` finishes the login and greets the citizen.
struct WebApp {
    service: Service,
    pending: Mutex<HashMap<String, PendingLogin>>,
    callbacks: AtomicUsize,
}

impl WebApp {
    /// Serves the web app of the service `name`, registered at `server`; returns its base URL.
    async fn start(server: &TestServer, name: &str) -> (String, Arc<WebApp>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let redirect = format!("{base}/callback");
        let service = Service::discover(server, name, &redirect, AuthType::BasicAuth).await;
        let app = Arc::new(WebApp {
            service,
            pending: Mutex::new(HashMap::new()),
            callbacks: AtomicUsize::new(0),
        });
        let router = Router::new()
            .route("/login", get(web_login))
            .route("/callback", get(web_callback))
            .with_state(app.clone());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        (base, app)
    }
}

async fn web_login(State(app): State<Arc<WebApp>>) -> Redirect {
    let (url, pending) = app.service.start_login();
    app.pending
        .lock()
        .unwrap()
        .insert(pending.state.secret().clone(), pending);
    Redirect::to(url.as_str())
}

async fn web_callback(
    State(app): State<Arc<WebApp>>,
    Query(query): Query<HashMap<String, String>>,
) -> (StatusCode, Html<String>) {
    app.callbacks.fetch_add(1, Ordering::SeqCst);
    let pending = query
        .get("state")
        .and_then(|state| app.pending.lock().unwrap().remove(state));
    let outcome = match (pending, query.get("code")) {
        (Some(pending), Some(code)) => app.service.sign_in(code, pending).await,
        (None, _) => Err("unknown state".to_string()),
        (_, None) => Err(format!("no code: {query:?}")),
    };
    match outcome {
        Ok(signed_in) => (
            StatusCode::OK,
            Html(format!(
                "<!doctype html><title>Signed in</title>\
                 <h1>Signed in as {}</h1><p>Your identifier here: <code>{}</code></p>",
                escape_html(&signed_in.name),
                escape_html(&signed_in.sub)
            )),
        ),
        Err(why) => (
            StatusCode::BAD_REQUEST,
            Html(format!(
                "<!doctype html><title>Not signed in</title><h1>Not signed in</h1><p>{}</p>",
                escape_html(&why)
            )),
        ),
    }
}

fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The page's text, or `None` while a navigation has not produced a document yet.
async fn page_text(browser: &Browser) -> Option<String> {
    let body = browser.find(Locator::Css("body")).await.ok()?;
    body.text().await.ok().map(|t| t.replace('\u{a0}', " "))
}

/// Waits (without touching the page) until the browser is at a URL that `at` accepts and the
/// page's text contains `text`; returns that text.
async fn wait_until_shown(browser: &Browser, at: impl Fn(&Url) -> bool, text: &str) -> String {
    let deadline = Instant::now() + STEP;
    loop {
        let url = browser.current_url().await.ok();
        let shown = page_text(browser).await.unwrap_or_default();
        if url.as_ref().is_some_and(&at) && shown.contains(text) {
            return shown;
        }
        assert!(
            Instant::now() < deadline,
            "the browser never showed {text:?}; it is at {url:?} showing:\n{shown}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Points the phone's camera at the login page: a screenshot of the QR code's frame, decoded by
/// the client library, until it reads an animated login code.
async fn scan_login_qr(browser: &Browser) -> String {
    let deadline = Instant::now() + STEP;
    loop {
        let mut read = Vec::new();
        if let Ok(frame) = browser.find(Locator::Css(".qr-frame")).await {
            if let Ok(png) = frame.screenshot().await {
                let grey = image::load_from_memory(&png).unwrap().to_luma8();
                let (width, height) = grey.dimensions();
                read = scan::decode(&Frame::new(width, height, grey.into_raw()).unwrap());
            }
        }
        if let Some(text) = read
            .iter()
            .find(|t| matches!(read_login_uri(t), Ok(LoginUri::Animated { .. })))
        {
            return text.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no login QR code could be read in .qr-frame (read: {read:?})"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The test server's clock moves only when told; the phone's decisions must be within a minute
/// of it. Set it to the real time before each login, since Chromium is slow to come up.
fn keep_server_time(server: &TestServer) {
    server.clock.set(SystemClock.now());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_citizen_logs_in_to_a_service_in_chromium_and_the_page_moves_on_by_itself() {
    let driver = Driver::start();
    let browser = driver.browser().await;
    let server = TestServer::start().await;
    let home = TempDir::new("civkey-oidc-rp-chromium");
    let (profile, citizen) = paired_profile(&server, &home).await;
    let (service_base, app) = WebApp::start(&server, "Obec Lhota").await;
    let provider = Url::parse(&server.base).unwrap();
    let service = Url::parse(&service_base).unwrap();
    let on_the_login_page =
        |url: &Url| url.origin() == provider.origin() && url.path() == "/oidc/authorize";

    // The service sends the browser to civkey's login page.
    keep_server_time(&server);
    browser
        .goto(&format!("{service_base}/login"))
        .await
        .unwrap();
    wait_until_shown(&browser, on_the_login_page, "Log in to Obec Lhota").await;

    // The phone scans the QR code off the screen and approves.
    let scanned = scan_login_qr(&browser).await;
    let opened = profile.open_login(&scanned).await.unwrap();
    assert_eq!(opened.info.service_name, "Obec Lhota");
    assert_eq!(opened.info.service_origin.as_str(), service_base);
    assert_eq!(
        profile
            .decide_login(&opened, Decision::Approve)
            .await
            .unwrap(),
        Decision::Approve
    );

    // Untouched, the page moves on to the service, which verifies the login and greets her.
    let greeting = wait_until_shown(
        &browser,
        |url| url.origin() == service.origin() && url.path() == "/callback",
        "Signed in as Jana Nováková",
    )
    .await;
    let sub = greeting
        .split("Your identifier here: ")
        .nth(1)
        .unwrap()
        .trim();
    assert!(!sub.is_empty() && sub != citizen.as_str(), "{greeting}");
    assert_eq!(app.callbacks.load(Ordering::SeqCst), 1);

    // A login denied on the phone: the page says so and stays at civkey.
    keep_server_time(&server);
    browser
        .goto(&format!("{service_base}/login"))
        .await
        .unwrap();
    wait_until_shown(&browser, on_the_login_page, "Log in to Obec Lhota").await;
    let scanned = scan_login_qr(&browser).await;
    let opened = profile.open_login(&scanned).await.unwrap();
    assert_eq!(
        profile.decide_login(&opened, Decision::Deny).await.unwrap(),
        Decision::Deny
    );
    let denied = civkey_i18n::tr(Locale::En, "portal.signin.denied");
    wait_until_shown(&browser, on_the_login_page, denied).await;
    assert_eq!(app.callbacks.load(Ordering::SeqCst), 1);

    browser.close().await.unwrap();
}

/// Logs `username` in to the portal in `browser` with the password and this step's TOTP code.
async fn portal_login_in_chromium(
    browser: &Browser,
    server: &TestServer,
    username: &str,
    password: &str,
    account: &civkey_proto::otp::OtpAccount,
) {
    browser
        .goto(&format!("{}/portal/login?lang=en", server.base))
        .await
        .unwrap();
    let code = civkey_proto::otp::totp(
        account.secret.expose(),
        account.algorithm,
        6,
        30,
        server.clock.now(),
    )
    .code;
    for (name, value) in [
        ("username", username),
        ("password", password),
        ("totp", code.as_str()),
    ] {
        browser
            .find(Locator::Css(&format!(
                "form[action='/portal/login'] input[name='{name}']"
            )))
            .await
            .unwrap()
            .send_keys(value)
            .await
            .unwrap();
    }
    browser
        .find(Locator::Css(
            "form[action='/portal/login'] button[type='submit']",
        ))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let provider = Url::parse(&server.base).unwrap();
    wait_until_shown(
        browser,
        |url| url.origin() == provider.origin() && url.path() == "/portal",
        "Jana Nováková",
    )
    .await;
}

/// The attack of issue 14 (item 1), in two real browsers: an attacker starts a login at a real
/// service and keeps its login page open; he sends the victim, who is logged in to the portal in
/// her own browser, the page's "log in another way" link; she clicks "Log in". Before the login was
/// bound to the browser that started it, the attacker's open page heard the approval on its event
/// stream and went on to the service with her code — the attacker held the service's `state` and
/// PKCE verifier, so the service logged him in as her. Now her browser is told that the login was
/// started in another browser, nothing is approved, and the attacker's page keeps waiting. Her own
/// login in her own browser ("Continue as NAME") still works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_handed_to_another_browser_gives_the_attacker_nothing_in_chromium() {
    let server = TestServer::start().await;
    let account = civkey_tests::portal::jana_with_authenticator(&server).await;
    let (service_base, app) = WebApp::start(&server, "Obec Lhota").await;
    let provider = Url::parse(&server.base).unwrap();
    let service = Url::parse(&service_base).unwrap();
    let on_the_login_page =
        |url: &Url| url.origin() == provider.origin() && url.path() == "/oidc/authorize";
    // Two browsers with profiles of their own: nothing shared but the network.
    let attacker_driver = Driver::start();
    let attacker = attacker_driver.browser().await;
    let victim_driver = Driver::start();
    let victim = victim_driver.browser().await;
    keep_server_time(&server);

    // The victim is logged in to the portal in her browser.
    portal_login_in_chromium(&victim, &server, "jana", "correct horse battery", &account).await;

    // The attacker starts a login at the service and keeps civkey's login page open.
    attacker
        .goto(&format!("{service_base}/login"))
        .await
        .unwrap();
    wait_until_shown(&attacker, on_the_login_page, "Log in to Obec Lhota").await;
    let link = attacker
        .find(Locator::Css("a[href$='/continue']"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    let link = provider.join(&link).unwrap();
    let request_id =
        civkey_proto::ids::LoginRequestId::parse(link.path_segments().unwrap().nth(2).unwrap())
            .unwrap();

    // The victim opens the link she was sent and, if offered, clicks "Log in".
    victim.goto(link.as_str()).await.unwrap();
    let shown = wait_until_shown(&victim, |_| true, "").await;
    if shown.contains("Log in to Obec Lhota as Jana Nováková?") {
        victim
            .find(Locator::XPath("//button[normalize-space()='Log in']"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    }
    let other_browser = civkey_i18n::tr(Locale::En, "portal.signin.other_browser");
    wait_until_shown(
        &victim,
        |url| url.origin() == provider.origin(),
        other_browser,
    )
    .await;

    // Nothing was approved: the request still waits, the service heard nothing, and the
    // attacker's page is still civkey's login page.
    let record = server
        .store
        .login_request(&request_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.status, civkey_server::domain::LoginStatus::Waiting);
    assert_eq!(record.citizen_id, None);
    assert_eq!(app.callbacks.load(Ordering::SeqCst), 0);
    assert!(on_the_login_page(&attacker.current_url().await.unwrap()));

    // Her own login, in her own browser: "Continue as Jana Nováková" takes her to the service.
    keep_server_time(&server);
    victim.goto(&format!("{service_base}/login")).await.unwrap();
    wait_until_shown(&victim, on_the_login_page, "Continue as Jana Nováková").await;
    victim
        .find(Locator::XPath(
            "//button[normalize-space()='Continue as Jana Nováková']",
        ))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_until_shown(
        &victim,
        |url| url.origin() == service.origin() && url.path() == "/callback",
        "Signed in as Jana Nováková",
    )
    .await;
    assert_eq!(app.callbacks.load(Ordering::SeqCst), 1);

    attacker.close().await.unwrap();
    victim.close().await.unwrap();
}
