//! In-person onboarding end to end: the app (the client library, its key in the real Secret
//! Service) starts onboarding and shows its identification code; a clerk in real headless
//! Chromium logs in at the counter and onboards the citizen with that code; the app sees
//! `completed` and then logs the new citizen in to a service with its new key. Plus every bad
//! input over HTTP, each with its clear code.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use civkey_client::onboarding::PendingOnboarding;
use civkey_client::profile::Profile;
use civkey_proto::login::LoginPageEvent;
use civkey_proto::onboard::{OnboardOutcome, OnboardStartResponse, OnboardStatus};
use civkey_proto::sign::Decision;
use civkey_proto::{paths, ApiError, ErrorCode};
use civkey_server::services::oidc::authorize::AuthorizeParams;
use civkey_tests::{TempDir, TestServer};
use p256::ecdsa::SigningKey;
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use civkey_tests::counter::add_clerk;
use civkey_tests::http::onboarding_start_body as start_body;

use civkey_tests::http::browser;

use civkey_tests::counter::clerk_code;

use civkey_tests::http::location;

use civkey_tests::counter::Counter;

use civkey_tests::cli::cli;
use civkey_tests::cli::json_lines;
use civkey_tests::counter::CLERK_PASSWORD;
use civkey_tests::http::csrf_of;
use civkey_tests::http::get_with_cookie;
use civkey_tests::keyring::secret_service;

const VERIFIER: &str = "e2e-verifier-0123456789-0123456789-0123456789-onboard";

/// Posts the onboarding form as the clerk's browser does; the status and the page.
async fn post_onboarding(
    server: &TestServer,
    http: &Client,
    cookie: &str,
    fields: &[(&str, &str)],
) -> (StatusCode, String) {
    let page = http
        .get(format!("{}/counter/onboard", server.base))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = csrf_of(&page, "/counter/onboard");
    let mut form = vec![("csrf", csrf.as_str())];
    form.extend_from_slice(fields);
    let answer = http
        .post(format!("{}/counter/onboard", server.base))
        .header("cookie", cookie)
        .form(&form)
        .send()
        .await
        .unwrap();
    (answer.status(), answer.text().await.unwrap())
}

fn petr(code: &str, username: &'static str) -> Vec<(&'static str, String)> {
    vec![
        ("code", code.to_string()),
        ("full_name", "Petr Svoboda".into()),
        ("username", username.into()),
        ("email", "petr@example.cz".into()),
        ("phone", "+420 601 123 456".into()),
        ("document_type", "id_card".into()),
        ("document_number", "204156789".into()),
    ]
}

fn fields<'a>(owned: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    owned.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

async fn post_json(server: &TestServer, path: &str, body: &Value) -> reqwest::Response {
    Client::new()
        .post(format!("{}{path}", server.base))
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn refused(response: reqwest::Response) -> (u16, ErrorCode) {
    let status = response.status().as_u16();
    let body: ApiError = response.json().await.unwrap();
    assert!(!body.message.is_empty());
    (status, body.code)
}

/// The service logs the citizen in: the app approves with its key; the ID token's name.
async fn log_in_to_a_service(server: &TestServer, profile: &Profile) -> String {
    let services = server.state.services();
    let redirect = "https://dane.example.cz/cb";
    let client = services
        .register_client("Daňový portál", &[redirect.to_string()], None)
        .await
        .unwrap();
    let params = AuthorizeParams {
        client_id: Some(client.client.id.clone()),
        redirect_uri: Some(redirect.into()),
        response_type: Some("code".into()),
        scope: Some("openid profile".into()),
        state: Some("st".into()),
        nonce: Some("n".into()),
        code_challenge: Some(B64.encode(Sha256::digest(VERIFIER.as_bytes()))),
        code_challenge_method: Some("S256".into()),
        ..AuthorizeParams::default()
    };
    let started = services
        .authorize(&params, None, "127.0.0.1")
        .await
        .unwrap();
    let opened = profile.open_login(&started.launch_uri).await.unwrap();
    assert_eq!(opened.info.service_name, "Daňový portál");
    assert_eq!(
        profile
            .decide_login(&opened, Decision::Approve)
            .await
            .unwrap(),
        Decision::Approve
    );
    let LoginPageEvent::Approved { redirect_to } = services
        .login_page_event(&started.request_id, Some(&started.browser_token))
        .await
        .unwrap()
    else {
        panic!("the login was not approved");
    };
    let code = url::Url::parse(&redirect_to)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let tokens: civkey_proto::oidc::TokenResponse = Client::new()
        .post(format!("{}/oidc/token", server.base))
        .basic_auth(&client.client.id, Some(client.secret.as_str()))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", redirect),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let payload = tokens.id_token.split('.').nth(1).expect("an ID token");
    let claims: civkey_proto::oidc::IdTokenClaims =
        serde_json::from_slice(&B64.decode(payload).unwrap()).unwrap();
    claims.name.expect("the profile scope gives the name")
}

#[tokio::test]
async fn a_clerk_in_chromium_onboards_a_citizen_whose_app_then_logs_in_with_its_new_key() {
    use civkey_tests::chromium::wait_for_text;
    use civkey_tests::chromium::Driver;
    let server = TestServer::start().await;
    add_clerk(&server).await;
    let home = TempDir::new("civkey-onboard");
    let profile = Profile::open(&home.0, secret_service()).unwrap();

    // The app: a new key in the Secret Service, and the code to show at the counter.
    let pending: PendingOnboarding = profile
        .begin_onboarding(&server.origin, &civkey_client::this_computer().unwrap())
        .await
        .unwrap();
    let code = pending.started.identification_code.grouped();
    assert_eq!(code.len(), 12, "{code}");
    assert!(profile.identities().unwrap().is_empty());
    let waiting = tokio::spawn(pending.finish());

    // The clerk, in Chromium: log in, "Onboard a new citizen", the form, the result.
    let driver = Driver::start();
    let browser = driver.browser().await;
    browser
        .goto(&format!("{}/counter?lang=en", server.base))
        .await
        .unwrap();
    let clerk_totp = clerk_code(&server, "eva").await;
    for (name, value) in [
        ("username", "eva"),
        ("password", CLERK_PASSWORD),
        ("totp", clerk_totp.as_str()),
    ] {
        browser
            .find(fantoccini::Locator::Css(&format!(
                "form[action='/counter/login'] input[name='{name}']"
            )))
            .await
            .unwrap()
            .send_keys(value)
            .await
            .unwrap();
    }
    browser
        .find(fantoccini::Locator::Css(
            "form[action='/counter/login'] button[type='submit']",
        ))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_text(&browser, "the counter", |t| {
        t.contains("Onboard a new citizen")
    })
    .await;
    browser
        .find(fantoccini::Locator::Css("a[href='/counter/onboard']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_text(&browser, "the onboarding form", |t| {
        t.contains("First check the citizen's identity document")
    })
    .await;
    // The clerk types the code as heard, in lower case with spaces.
    let typed = code.to_lowercase().replace('-', " ");
    for (name, value) in [
        ("code", typed.as_str()),
        ("full_name", "Petr Svoboda"),
        ("username", "petr"),
        ("email", "petr@example.cz"),
        ("phone", "+420 601 123 456"),
        ("document_number", "204156789"),
    ] {
        browser
            .find(fantoccini::Locator::Id(&format!("onboard-{name}")))
            .await
            .unwrap()
            .send_keys(value)
            .await
            .unwrap();
    }
    browser
        .find(fantoccini::Locator::Id("onboard-document_type"))
        .await
        .unwrap()
        .select_by_value("id_card")
        .await
        .unwrap();
    browser
        .find(fantoccini::Locator::Css(
            "form[action='/counter/onboard'] button[type='submit']",
        ))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let device_name = civkey_client::this_computer().unwrap().name;
    wait_for_text(&browser, "the result", |t| {
        t.contains(&format!(
            "Onboarded: Petr Svoboda, mobile key {}",
            device_name.as_str()
        ))
    })
    .await;
    browser.close().await.unwrap();

    // The app hears it and stores the identity as after pairing.
    let identity = tokio::time::timeout(Duration::from_secs(30), waiting)
        .await
        .expect("the app never heard the outcome")
        .unwrap()
        .unwrap();
    assert_eq!(identity.account_name.as_deref(), Some("Petr Svoboda"));
    assert_eq!(identity.origin, server.origin);
    assert_eq!(profile.identities().unwrap(), vec![identity.clone()]);
    let petr = server
        .store
        .citizen_by_username("petr")
        .await
        .unwrap()
        .unwrap();
    let devices = server.store.active_devices(&petr.id).await.unwrap();
    assert_eq!(devices.len(), 1);
    assert_eq!(devices[0].id, identity.device_id);
    assert!(devices[0].bok_pad);
    assert_eq!(
        server
            .store
            .citizen_onboarding(&petr.id)
            .await
            .unwrap()
            .map(|r| (r.0, r.2, r.3)),
        Some(("eva".into(), "id_card".into(), "6789".into()))
    );

    // A real mobile key: it logs Petr in to a service.
    assert_eq!(log_in_to_a_service(&server, &profile).await, "Petr Svoboda");
}

#[tokio::test]
async fn civkey_onboard_prints_the_grouped_code_waits_for_the_clerk_and_stores_the_identity() {
    let server = TestServer::start().await;
    add_clerk(&server).await;
    let home = TempDir::new("civkey-onboard-cli");
    let _ = secret_service();
    let mut child = cli(&home.0)
        .args([
            "--json",
            "onboard",
            server.origin.as_str(),
            "--name",
            "Petr's laptop",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Its output, line by line, as it comes (the first line is there before it waits).
    let stdout = child.stdout.take().unwrap();
    let (lines_tx, lines) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let (first, lines) = tokio::task::spawn_blocking(move || {
        let first = lines.recv_timeout(Duration::from_secs(30));
        (first, lines)
    })
    .await
    .unwrap();
    let first = first.expect("no code printed");
    let event: Value = serde_json::from_str(&first).unwrap();
    assert_eq!(event["event"], "identification_code");
    let code = event["identification_code"].as_str().unwrap().to_string();
    assert!(
        code.len() == 12 && code.chars().nth(4) == Some('-') && code.chars().nth(9) == Some('-'),
        "{code}"
    );

    // The clerk at the counter (over HTTP this time).
    let http = browser();
    let cookie = Counter::log_in(&server).await.cookie;
    let (status, page) =
        post_onboarding(&server, &http, &cookie, &fields(&petr(&code, "petr"))).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("Onboarded: Petr Svoboda, mobile key Petr&#39;s laptop"));

    let (status, rest) = tokio::task::spawn_blocking(move || {
        let status = child.wait().unwrap();
        (status, lines.into_iter().collect::<Vec<String>>())
    })
    .await
    .unwrap();
    assert!(status.success(), "{rest:?}");
    let rest = json_lines(rest.join("\n").as_bytes());
    assert_eq!(rest[0]["event"], "onboarded");
    assert_eq!(rest[0]["identity"]["account_name"], "Petr Svoboda");
    assert_eq!(rest[0]["identity"]["device_name"], "Petr's laptop");
    // `civkey keys` lists it like a paired identity.
    let keys = cli(&home.0).args(["--json", "keys"]).output().unwrap();
    assert!(String::from_utf8_lossy(&keys.stdout).contains("Petr Svoboda"));
}

#[tokio::test]
async fn bad_onboarding_requests_each_get_a_clear_code_over_http() {
    let server = TestServer::start().await;
    let key = SigningKey::from_slice(&[0x51; 32]).unwrap();
    let now = server.clock_now();
    let good = start_body(&server, &key, now);

    // A malformed public key, a proof by another key, a stale proof, unknown fields.
    let mut malformed = good.clone();
    malformed["public_key"] = json!("BAAA");
    let mut forged = good.clone();
    forged["public_key"] = start_body(&server, &SigningKey::from_slice(&[0x52; 32]).unwrap(), now)
        ["public_key"]
        .clone();
    let mut extra = good.clone();
    extra["citizen"] = json!("jana");
    for (body, expected) in [
        (malformed, (400, ErrorCode::BadRequest)),
        (forged, (401, ErrorCode::BadSignature)),
        (
            start_body(&server, &key, now - 3600),
            (401, ErrorCode::Replayed),
        ),
        (extra, (400, ErrorCode::BadRequest)),
        (json!("not an object"), (400, ErrorCode::BadRequest)),
    ] {
        let answer = refused(post_json(&server, paths::ONBOARD_START, &body).await).await;
        assert_eq!(answer, expected, "{body}");
    }
    // Not JSON, and too large.
    let http = Client::new();
    let url = format!("{}{}", server.base, paths::ONBOARD_START);
    let answer = http.post(&url).body(good.to_string()).send().await.unwrap();
    assert_eq!(
        refused(answer).await,
        (415, ErrorCode::UnsupportedMediaType)
    );
    let huge = json!({ "public_key": "A".repeat(64 * 1024) });
    let answer = http.post(&url).json(&huge).send().await.unwrap();
    assert_eq!(refused(answer).await, (413, ErrorCode::BodyTooLarge));

    // A good start; its outcome waits, and only with its own claim token.
    let started: OnboardStartResponse = post_json(&server, paths::ONBOARD_START, &good)
        .await
        .json()
        .await
        .unwrap();
    let outcome_path = paths::fill(
        paths::ONBOARD_OUTCOME,
        &[("onboarding_id", &started.onboarding_id.to_text())],
    );
    let other_token = json!({ "claim_token": "AAAAAAAAAAAAAAAAAAAAAA" });
    assert_eq!(
        refused(post_json(&server, &outcome_path, &other_token).await).await,
        (404, ErrorCode::OnboardingUnknown)
    );
    let not_an_id = paths::fill(paths::ONBOARD_OUTCOME, &[("onboarding_id", "nope")]);
    assert_eq!(
        refused(post_json(&server, &not_an_id, &other_token).await).await,
        (404, ErrorCode::OnboardingUnknown)
    );
    let own_token = json!({ "claim_token": started.claim_token.expose_text() });

    // At the counter: a citizen's session opens nothing, a form without the token changes
    // nothing, a wrong code and a taken username say so; then the right one works once.
    add_clerk(&server).await;
    let http = browser();
    let citizen = server.add_citizen("jana").await;
    let session = {
        let token = "jana's portal session token";
        server
            .store
            .insert_web_session(
                &civkey_server::services::secrets::token_hash(token),
                &citizen,
                civkey_server::store::Means::PasswordTotp,
                "jana-csrf",
                now,
                now + 3600,
                None,
            )
            .await
            .unwrap();
        token
    };
    let code = started.identification_code.grouped();
    for cookie in [
        format!("civkey_session={session}"),
        format!("civkey_counter={session}"),
    ] {
        let page =
            get_with_cookie(&http, format!("{}/counter/onboard", server.base), &cookie).await;
        assert_eq!(location(&page), "/counter/login", "{cookie}");
        let owned = petr(&code, "petr");
        let mut form = fields(&owned);
        form.push(("csrf", "jana-csrf"));
        let post = http
            .post(format!("{}/counter/onboard", server.base))
            .header("cookie", &cookie)
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(location(&post), "/counter/login", "{cookie}");
    }
    let cookie = Counter::log_in(&server).await.cookie;
    // The clerk's session opens no citizen page.
    let token = cookie.split_once('=').unwrap().1;
    let portal = get_with_cookie(
        &http,
        format!("{}/portal", server.base),
        &format!("civkey_session={token}"),
    )
    .await;
    assert!(location(&portal).starts_with("/portal/login"));
    let owned = petr(&code, "petr");
    let mut form = fields(&owned);
    form.push(("csrf", "not the token"));
    let forged = http
        .post(format!("{}/counter/onboard", server.base))
        .header("cookie", &cookie)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);

    let (status, page) = post_onboarding(
        &server,
        &http,
        &cookie,
        &fields(&petr("AAAA-AAAA-AA", "petr")),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(page.contains("No app is waiting with this identification code."));
    let (status, page) =
        post_onboarding(&server, &http, &cookie, &fields(&petr(&code, "jana"))).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(page.contains("That username is already taken."));
    let mut bad_email = petr(&code, "petr");
    bad_email[3].1 = "petr(at)example.cz".into();
    let (status, page) = post_onboarding(&server, &http, &cookie, &fields(&bad_email)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("The e-mail address is not valid."));
    // What was typed stays, except the document number.
    assert!(page.contains("value=\"Petr Svoboda\""));
    assert!(page.contains("name=\"document_number\" value=\"\""));

    let (status, page) =
        post_onboarding(&server, &http, &cookie, &fields(&petr(&code, "petr"))).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let outcome: OnboardOutcome = post_json(&server, &outcome_path, &own_token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(outcome.status, OnboardStatus::Completed);
    assert_eq!(outcome.account_name.as_deref(), Some("Petr Svoboda"));
    let (status, page) =
        post_onboarding(&server, &http, &cookie, &fields(&petr(&code, "petr2"))).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(page.contains("This identification code was already used."));

    // The same key cannot start another onboarding: it is a device's key now.
    let again = start_body(&server, &key, server.clock_now());
    assert_eq!(
        refused(post_json(&server, paths::ONBOARD_START, &again).await).await,
        (400, ErrorCode::BadRequest)
    );

    // An expired code: the app hears `expired`, the counter says so.
    let late_key = SigningKey::from_slice(&[0x53; 32]).unwrap();
    let late: OnboardStartResponse = post_json(
        &server,
        paths::ONBOARD_START,
        &start_body(&server, &late_key, server.clock_now()),
    )
    .await
    .json()
    .await
    .unwrap();
    server.clock.advance(30 * 60);
    let late_path = paths::fill(
        paths::ONBOARD_OUTCOME,
        &[("onboarding_id", &late.onboarding_id.to_text())],
    );
    let outcome: OnboardOutcome = post_json(
        &server,
        &late_path,
        &json!({ "claim_token": late.claim_token.expose_text() }),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(outcome.status, OnboardStatus::Expired);
    let late_code = late.identification_code.grouped();
    let (status, page) =
        post_onboarding(&server, &http, &cookie, &fields(&petr(&late_code, "late"))).await;
    assert_eq!(status, StatusCode::GONE);
    assert!(page.contains("This identification code has expired."));
}

#[tokio::test]
async fn guessing_identification_codes_at_the_counter_is_stopped_after_five_wrong_ones() {
    let server = TestServer::start().await;
    add_clerk(&server).await;
    let key = SigningKey::from_slice(&[0x54; 32]).unwrap();
    let started: OnboardStartResponse = post_json(
        &server,
        paths::ONBOARD_START,
        &start_body(&server, &key, server.clock_now()),
    )
    .await
    .json()
    .await
    .unwrap();
    let http = browser();
    let cookie = Counter::log_in(&server).await.cookie;
    for guess in [
        "AAAA-AAAA-A1",
        "AAAA-AAAA-A2",
        "AAAA-AAAA-A3",
        "AAAA-AAAA-A4",
        "AAAA-AAAA-A5",
    ] {
        let (status, _) =
            post_onboarding(&server, &http, &cookie, &fields(&petr(guess, "petr"))).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{guess}");
    }
    let code = started.identification_code.grouped();
    let (status, page) =
        post_onboarding(&server, &http, &cookie, &fields(&petr(&code, "petr"))).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(page.contains("Too many wrong identification codes. Try again in"));
    assert!(server
        .store
        .citizen_by_username("petr")
        .await
        .unwrap()
        .is_none());
}
