//! The BOK-pad over real HTTP: a clerk logs in at the counter page, finds the citizen and starts a
//! verification; the citizen's paired device (the client library, `civkey_client::bok`, its key
//! in the real Secret Service) lists the request and answers with the BOK signed by its key; the
//! counter page's event stream says verified. Wrong answers block the BOK until the clerk
//! unblocks it; bad answers each get their own code; a clerk's session opens no citizen page and
//! the reverse. The `civkey bok wait` command answers as a separate process, its BOK from stdin.

use std::time::Duration;

use civkey_client::events::EventStream;
use civkey_client::profile::{Identity, Profile};
use civkey_proto::bok::{BokAnswerResponse, BokOutcome, BokRequest};
use civkey_proto::events::EventKind;
use civkey_proto::ids::{BokRequestId, Challenge};
use civkey_proto::rules::Bok;
use civkey_proto::{paths, ApiError, ErrorCode};
use civkey_server::services::{bok, clerks};
use civkey_tests::{TempDir, TestServer};
use reqwest::{Client, Method, StatusCode};
use serde_json::Value;

use civkey_tests::cli::admin;
use civkey_tests::counter::add_clerk;
use civkey_tests::counter::clerk_code;
use civkey_tests::counter::Counter;
use civkey_tests::counter::CLERK_PASSWORD;
use civkey_tests::http::browser;
use civkey_tests::http::csrf_of;
use civkey_tests::http::location;
use civkey_tests::http::post_with_cookie;
use civkey_tests::http::set_cookie;
use civkey_tests::keyring::paired_profile;

const BOK: &str = "482913";
/// The server with `jana` (BOK set, one device paired through the client library) and the clerk
/// `eva` at "Czech POINT, Praha 1".
struct Setup {
    server: TestServer,
    profile: Profile,
    identity: Identity,
    citizen: civkey_server::domain::CitizenId,
    home: TempDir,
}

async fn setup() -> Setup {
    let server = TestServer::start().await;
    let home = TempDir::new("civkey-bok");
    let (profile, citizen) = paired_profile(&server, &home).await;
    let identity = profile.identities().unwrap().remove(0);
    bok::set_bok(&server.store, "jana", BOK).await.unwrap();
    add_clerk(&server).await;
    Setup {
        server,
        profile,
        identity,
        citizen,
        home,
    }
}

impl Setup {
    /// The requests waiting for the device, as the client library lists them.
    async fn pending(&self) -> Result<Vec<BokRequest>, civkey_client::ClientError> {
        civkey_client::bok::pending(&self.profile, &self.identity).await
    }

    /// The device answers `request` with `bok` through the client library, which signs it with
    /// the device key in the Secret Service.
    async fn answer(
        &self,
        request: &BokRequest,
        bok: &str,
    ) -> Result<BokAnswerResponse, civkey_client::ClientError> {
        let bok = Bok::parse(bok).unwrap();
        civkey_client::bok::answer(&self.profile, &self.identity, request, &bok).await
    }

    /// The one pending request, which must be `id`.
    async fn the_request(&self, id: &str) -> BokRequest {
        let pending = self.pending().await.unwrap();
        assert_eq!(pending.len(), 1, "{pending:?}");
        assert_eq!(pending[0].id.to_text(), id);
        pending[0].clone()
    }
}

fn code(result: Result<impl std::fmt::Debug, civkey_client::ClientError>) -> ErrorCode {
    match result {
        Err(civkey_client::ClientError::Api(e)) => e.code().unwrap_or(ErrorCode::Unknown),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn a_clerk_verifies_a_bok_that_the_paired_device_answers_and_the_counter_sees_it_live() {
    let s = setup().await;
    let counter = Counter::log_in(&s.server).await;
    let page = counter.page("/counter?username=jana").await;
    assert!(
        page.contains("Eva Úřednice, Czech POINT, Praha 1"),
        "{page}"
    );
    assert!(page.contains(">Jana Nováková</h2>"), "{page}");

    let id = counter.start().await;
    let mut events = counter.events(&id).await;
    assert_eq!(events.next().await["status"], "waiting");

    let request = s.the_request(&id).await;
    assert_eq!(request.office_name, "Czech POINT, Praha 1");
    assert!(request.expires_at > s.server.clock_now());
    let answered = s.answer(&request, BOK).await.unwrap();
    assert_eq!(answered.outcome, BokOutcome::Verified);
    assert_eq!(answered.attempts_left, 5);

    assert_eq!(
        events.next().await,
        serde_json::json!({ "status": "verified" })
    );
    let after = counter.page(&format!("/counter/bok/{id}")).await;
    assert!(
        after.contains("data-step=\"verified\" aria-labelledby"),
        "drawn verified: {after}"
    );
    assert!(s.pending().await.unwrap().is_empty());
}

/// The next BOK request `stream` brings, skipping other events; within 30 s.
async fn next_bok_request(stream: &mut EventStream) -> BokRequest {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let event = tokio::time::timeout_at(deadline, stream.next())
            .await
            .expect("a BOK request on the stream within 30 s")
            .expect("the event stream");
        if let EventKind::BokRequest { request } = event.kind {
            return request;
        }
    }
}

#[tokio::test]
async fn the_clerks_request_reaches_the_client_librarys_event_stream_which_resumes_after_what_it_saw(
) {
    let s = setup().await;
    let mut stream = EventStream::new(s.profile.clone(), s.identity.clone());
    // The real server has the stream: no fallback to polling here.
    stream.connect().await.expect("the server's event stream");
    let counter = Counter::log_in(&s.server).await;
    let first = counter.start().await;
    let request = next_bok_request(&mut stream).await;
    assert_eq!(request.id.to_text(), first);
    assert_eq!(request.office_name, "Czech POINT, Praha 1");
    let answered = s.answer(&request, BOK).await.unwrap();
    assert_eq!(answered.outcome, BokOutcome::Verified);
    let seen: u64 = stream.last_id().unwrap().parse().unwrap();
    drop(stream);

    // While the app is away the clerk starts a second verification: the stream resumed after the
    // last event seen brings it, and a stream opened afresh does not bring the answered one back.
    let second = counter.start().await;
    let mut resumed = EventStream::new(s.profile.clone(), s.identity.clone()).after(seen);
    assert_eq!(next_bok_request(&mut resumed).await.id.to_text(), second);
    let mut fresh = EventStream::new(s.profile.clone(), s.identity.clone());
    assert_eq!(next_bok_request(&mut fresh).await.id.to_text(), second);
}

#[tokio::test]
async fn five_wrong_answers_block_the_bok_and_only_the_clerks_unblock_lifts_it() {
    let s = setup().await;
    let counter = Counter::log_in(&s.server).await;
    for left in (1..=4).rev() {
        let id = counter.start().await;
        let mut events = counter.events(&id).await;
        assert_eq!(events.next().await["status"], "waiting");
        let request = s.the_request(&id).await;
        let answered = s.answer(&request, "111111").await.unwrap();
        assert_eq!(
            (answered.outcome, answered.attempts_left),
            (BokOutcome::NotVerified, left)
        );
        assert_eq!(
            events.next().await,
            serde_json::json!({ "status": "not_verified", "attempts_left": left })
        );
    }
    let id = counter.start().await;
    let mut events = counter.events(&id).await;
    assert_eq!(events.next().await["status"], "waiting");
    let request = s.the_request(&id).await;
    let answered = s.answer(&request, "111111").await.unwrap();
    assert_eq!(answered.outcome, BokOutcome::Blocked);
    assert_eq!(
        events.next().await,
        serde_json::json!({ "status": "blocked" })
    );

    // Blocked: the counter cannot start another verification and offers the unblock instead.
    let refused = counter.post("/counter/bok").await;
    assert_eq!(refused.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        location(&refused),
        "/counter?username=jana&error=counter.error.bok_blocked"
    );
    let page = counter
        .page("/counter?username=jana&error=counter.error.bok_blocked")
        .await;
    assert!(
        page.contains("BOK is blocked after too many wrong answers"),
        "{page}"
    );
    assert!(page.contains("<span class=\"badge danger\">Blocked</span>"));
    assert!(page.contains("action=\"/counter/unblock\""));
    assert!(!page.contains("action=\"/counter/bok\""));

    let unblocked = counter.post("/counter/unblock").await;
    assert_eq!(
        location(&unblocked),
        "/counter?username=jana&notice=counter.unblocked"
    );
    let page = counter.page(&location(&unblocked)).await;
    assert!(
        page.contains("role=\"status\"><p>The BOK is unblocked."),
        "{page}"
    );
    assert!(
        page.contains("UTC by eva (Czech POINT, Praha 1)"),
        "the unblock is recorded: {page}"
    );
    assert!(page.contains("action=\"/counter/bok\""));

    let id = counter.start().await;
    let request = s.the_request(&id).await;
    assert_eq!(
        s.answer(&request, BOK).await.unwrap().outcome,
        BokOutcome::Verified
    );
}

/// Sends a signed answer with a raw JSON body (a BOK the client library would never build).
async fn raw_answer(s: &Setup, request: &BokRequest, body: &Value) -> (u16, ApiError) {
    let path = paths::fill(paths::BOK_ANSWER, &[("request_id", &request.id.to_text())]);
    let api = s.profile.server(&s.identity.origin).unwrap();
    let key = civkey_client::server_api::StoredKey {
        store: s.profile.store(),
        key: &s.identity.key,
        public_key: s.identity.public_key.clone(),
    };
    match api
        .device_call::<Value, Value>(&s.identity.device_id, &key, Method::POST, &path, Some(body))
        .await
    {
        Err(civkey_client::server_api::ApiFailure::Refused(e)) => (e.code.http_status(), e),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn bad_bok_answers_each_get_a_clear_code_over_http() {
    let s = setup().await;
    let counter = Counter::log_in(&s.server).await;
    let id = counter.start().await;
    let request = s.the_request(&id).await;

    // Letters, too short, too long, not a string: refused before anything is counted.
    for bok in [
        Value::from("12a4"),
        Value::from("123"),
        Value::from("12345678901"),
        Value::from(1234),
    ] {
        let body = serde_json::json!({
            "bok": bok,
            "time": s.server.clock_now(),
            "signature": "AAAA",
        });
        let (status, error) = raw_answer(&s, &request, &body).await;
        assert_eq!(
            (status, error.code),
            (400, ErrorCode::BokInvalidFormat),
            "{bok}"
        );
        assert!(!error.message.contains("12"), "{}", error.message);
    }

    // Answered twice: the second is refused, the first stands.
    let first = s.answer(&request, BOK).await.unwrap();
    assert_eq!(first.outcome, BokOutcome::Verified);
    assert_eq!(code(s.answer(&request, BOK).await), ErrorCode::BokAnswered);

    // After its two minutes: a request started 121 s ago (the server's clock set back for it).
    let now = s.server.clock_now();
    s.server.clock.set(now - 121);
    let old = counter.start().await;
    s.server.clock.set(now);
    let old = BokRequestId::parse(&old).unwrap();
    let old = BokRequest {
        id: old,
        office_name: String::new(),
        challenge: Challenge::parse(
            &s.server
                .store
                .bok_request(&old)
                .await
                .unwrap()
                .unwrap()
                .challenge,
        )
        .unwrap(),
        created_at: 0,
        expires_at: 0,
    };
    assert!(
        s.pending().await.unwrap().is_empty(),
        "an expired request is not listed"
    );
    assert_eq!(code(s.answer(&old, BOK).await), ErrorCode::BokExpired);

    // A device with BOK-pad off: refused for listing and for answering.
    let id = counter.start().await;
    let request = s.the_request(&id).await;
    s.server
        .state
        .services()
        .set_bok_pad(&s.citizen, &s.identity.device_id, false)
        .await
        .unwrap();
    assert_eq!(code(s.pending().await), ErrorCode::BokPadOff);
    assert_eq!(code(s.answer(&request, BOK).await), ErrorCode::BokPadOff);
    let signature = civkey_proto::sign::Signature::from_bytes(&[1; 64])
        .unwrap()
        .to_text();
    let body =
        serde_json::json!({ "bok": BOK, "time": s.server.clock_now(), "signature": signature });
    let (status, error) = raw_answer(&s, &request, &body).await;
    assert_eq!(
        (status, error.code),
        (403, ErrorCode::BokPadOff),
        "{}",
        error.message
    );
}

/// A portal session of `jana` (password and TOTP code, as the portal's login form opens one):
/// its cookie token and anti-forgery token.
async fn citizen_session(s: &Setup) -> (String, String) {
    use civkey_proto::otp::{totp, Algorithm, OtpSecret};
    let stored = s
        .server
        .store
        .citizen_by_username("jana")
        .await
        .unwrap()
        .unwrap();
    let secret = OtpSecret::from_base32(&stored.totp_secret.unwrap()).unwrap();
    let code = totp(
        secret.expose(),
        Algorithm::Sha1,
        6,
        30,
        s.server.clock_now(),
    )
    .code;
    let session = s
        .server
        .state
        .services()
        .login_password_totp("jana", "correct horse battery", &code, "127.0.0.1")
        .await
        .unwrap();
    (session.token.to_string(), session.csrf)
}

#[tokio::test]
async fn a_clerks_session_opens_no_citizen_page_and_a_citizens_no_counter_page() {
    let s = setup().await;
    let counter = Counter::log_in(&s.server).await;
    let clerk_token = counter.cookie.split_once('=').unwrap().1.to_string();
    let http = browser();
    let get = |path: &str, cookie: String| {
        let request = http
            .get(format!("{}{path}", s.server.base))
            .header("cookie", cookie);
        async move { request.send().await.unwrap() }
    };

    // The clerk's session, under either cookie name, is no portal session.
    for cookie in [
        format!("civkey_counter={clerk_token}"),
        format!("civkey_session={clerk_token}"),
    ] {
        for path in ["/portal", "/portal/keys", "/portal/connect"] {
            let response = get(path, cookie.clone()).await;
            assert_eq!(response.status(), StatusCode::SEE_OTHER, "{path} {cookie}");
            assert!(location(&response).starts_with("/portal/login"), "{path}");
        }
    }

    // A citizen's portal session, under either cookie name, opens no counter page.
    let citizen = citizen_session(&s).await;
    for cookie in [
        format!("civkey_session={}", citizen.0),
        format!("civkey_counter={}", citizen.0),
    ] {
        for path in ["/counter", "/counter?username=jana"] {
            let response = get(path, cookie.clone()).await;
            assert_eq!(response.status(), StatusCode::SEE_OTHER, "{path} {cookie}");
            assert_eq!(location(&response), "/counter/login");
        }
        // Its own anti-forgery token does not start a verification either.
        let response = post_with_cookie(
            &http,
            format!("{}/counter/bok", s.server.base),
            &cookie,
            &[("csrf", citizen.1.as_str()), ("username", "jana")],
        )
        .await;
        assert_eq!(location(&response), "/counter/login");
    }
    assert!(s.pending().await.unwrap().is_empty(), "nothing was started");

    // The clerk's own token does not pass as a citizen's form either.
    let page = counter.page("/counter").await;
    let clerk_csrf = csrf_of(&page, "/counter/logout");
    let response = http
        .post(format!(
            "{}/portal/keys/{}/disconnect",
            s.server.base,
            s.identity.device_id.to_text()
        ))
        .header("cookie", format!("civkey_session={clerk_token}"))
        .form(&[("csrf", clerk_csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(location(&response).starts_with("/portal/login"));
    assert_eq!(
        s.server
            .store
            .active_devices(&s.citizen)
            .await
            .unwrap()
            .len(),
        1,
        "the key is still connected"
    );

    // Logging out ends the counter session at once.
    let response = counter
        .http
        .post(format!("{}/counter/logout", s.server.base))
        .header("cookie", &counter.cookie)
        .form(&[("csrf", clerk_csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&response), "/counter/login");
    let after = counter.get("/counter").await;
    assert_eq!(location(&after), "/counter/login");
}

#[tokio::test]
async fn counter_logins_are_limited_like_the_portals() {
    let server = TestServer::start().await;
    clerks::add_clerk(
        &server.store,
        server.clock_now(),
        "eva",
        "Eva Úřednice",
        "Czech POINT, Praha 1",
        CLERK_PASSWORD,
    )
    .await
    .unwrap();
    let http = browser();
    let code = clerk_code(&server, "eva").await;
    let attempt = |password: &'static str| {
        let http = http.clone();
        let base = server.base.clone();
        let code = code.clone();
        async move {
            let form = http
                .get(format!("{base}/counter/login"))
                .send()
                .await
                .unwrap();
            let pre = set_cookie(&form, "civkey_counter_pre").unwrap();
            let csrf = csrf_of(&form.text().await.unwrap(), "/counter/login");
            http.post(format!("{base}/counter/login"))
                .header("cookie", pre.split(';').next().unwrap())
                .form(&[
                    ("csrf", csrf.as_str()),
                    ("username", "eva"),
                    ("password", password),
                    ("totp", code.as_str()),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    for _ in 0..5 {
        let wrong = attempt("not the password").await;
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
        assert!(set_cookie(&wrong, "civkey_counter").is_none());
        assert!(wrong
            .text()
            .await
            .unwrap()
            .contains("The username, password or one-time code is wrong."));
    }
    let limited = attempt(CLERK_PASSWORD).await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(set_cookie(&limited, "civkey_counter").is_none());
    assert!(limited
        .text()
        .await
        .unwrap()
        .contains("Too many attempts. Please try again in"));
}

/// `civkey-server demo` on a free port in `dir`: the process and the lines it printed up to its
/// office-counter line.
fn demo(dir: &std::path::Path) -> (std::process::Child, Vec<String>) {
    use std::io::BufRead;
    let mut child = civkey_tests::server::demo_command(dir, "warn")
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(60)) {
        let done = line.contains("office counter");
        lines.push(line);
        if done {
            return (child, lines);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("no office counter line from the demo: {lines:?}");
}

/// The demo clerk's authenticator URI among the demo's lines.
fn demo_clerk_uri(lines: &[String]) -> String {
    lines
        .iter()
        .filter(|l| l.contains("clerk's authenticator"))
        .find_map(|l| l.split_whitespace().find(|w| w.starts_with("otpauth://")))
        .unwrap_or_else(|| panic!("no clerk authenticator in {lines:?}"))
        .to_string()
}

/// The code an authenticator app shows now for the enrolment `uri`.
fn code_now(uri: &str) -> String {
    use civkey_proto::otp::{totp, OtpAccount, OtpKind};
    let account = OtpAccount::parse_uri(uri).unwrap();
    let OtpKind::Totp { period } = account.kind else {
        panic!("not a TOTP enrolment: {uri}");
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    totp(
        account.secret.expose(),
        account.algorithm,
        account.digits,
        period,
        now,
    )
    .code
}

#[tokio::test]
async fn the_demo_server_has_a_clerk_and_a_bok_for_its_citizen() {
    let dir = TempDir::new("civkey-demo-counter");
    let (mut first, lines) = demo(&dir.0);
    let text = lines.join("\n");
    assert!(
        text.contains("as clerk / civkey-demo-clerk-password"),
        "{text}"
    );
    assert!(text.contains("BOK (for the BOK-pad): 123456"), "{text}");
    // The printed clerk logs in at the printed counter, with the printed authenticator's code.
    let uri = demo_clerk_uri(&lines);
    let counter = lines
        .iter()
        .find_map(|l| l.split_whitespace().find(|w| w.ends_with("/counter")))
        .unwrap()
        .to_string();
    let http = browser();
    let form = http.get(format!("{counter}/login")).send().await.unwrap();
    let pre = set_cookie(&form, "civkey_counter_pre").unwrap();
    let csrf = csrf_of(&form.text().await.unwrap(), "/counter/login");
    let answer = http
        .post(format!("{counter}/login"))
        .header("cookie", pre.split(';').next().unwrap())
        .form(&[
            ("csrf", csrf.as_str()),
            ("username", "clerk"),
            ("password", "civkey-demo-clerk-password"),
            ("totp", code_now(&uri).as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&answer), "/counter");
    first.kill().unwrap();
    first.wait().unwrap();

    // Started again: the same clerk, and the BOK kept (not printed, not set again).
    let (mut second, lines) = demo(&dir.0);
    second.kill().unwrap();
    second.wait().unwrap();
    let text = lines.join("\n");
    assert!(text.contains("as clerk /"), "{text}");
    assert!(!text.contains("BOK"), "{text}");
    assert_eq!(demo_clerk_uri(&lines), uri, "the same authenticator");
    let clerks = admin(&dir.0, &["clerk", "list"], "");
    assert_eq!(
        String::from_utf8_lossy(&clerks.stdout)
            .matches("\"clerk\"")
            .count(),
        1,
        "{}",
        String::from_utf8_lossy(&clerks.stdout)
    );
}

#[test]
fn an_operator_adds_clerks_and_sets_a_bok_from_the_command_line() {
    let dir = TempDir::new("civkey-admin-bok");
    let out = |o: &std::process::Output| String::from_utf8_lossy(&o.stdout).to_string();
    let err = |o: &std::process::Output| String::from_utf8_lossy(&o.stderr).to_string();
    // A command that succeeded, its JSON answer.
    let answer = |o: &std::process::Output| -> Value {
        assert!(o.status.success(), "{}", err(o));
        serde_json::from_str(&out(o)).unwrap()
    };
    // A command whose error message says `what`.
    let says = |o: &std::process::Output, what: &str| {
        assert!(err(o).contains(what), "{}", err(o));
    };
    let notify = |username: &str, title: &str, body: &str| {
        let args = [
            "citizen",
            "notify",
            "--username",
            username,
            "--title",
            title,
            "--body",
            body,
        ];
        admin(&dir.0, &args, "")
    };
    let add_clerk = |username: &str, name: &str, office: &str, password: &str| {
        let args = [
            "clerk",
            "add",
            "--username",
            username,
            "--name",
            name,
            "--office",
            office,
        ];
        admin(&dir.0, &args, password)
    };
    let added = admin(
        &dir.0,
        &[
            "citizen",
            "add",
            "jana",
            "--name",
            "Jana Nováková",
            "--password-stdin",
        ],
        "correct horse battery\n",
    );
    assert!(added.status.success(), "{}", err(&added));

    for (bok, reason) in [
        ("12a4\n", "may contain only the digits 0–9"),
        ("123\n", "has too few digits"),
        ("12345678901\n", "has too many digits"),
    ] {
        let refused = admin(&dir.0, &["citizen", "set-bok", "--username", "jana"], bok);
        assert_eq!(refused.status.code(), Some(1), "{bok}");
        assert!(err(&refused).contains(reason), "{}", err(&refused));
    }
    let unknown = admin(
        &dir.0,
        &["citizen", "set-bok", "--username", "petr"],
        "1234\n",
    );
    says(&unknown, "no citizen with that username");
    let set = admin(
        &dir.0,
        &["citizen", "set-bok", "--username", "jana"],
        "482913\n",
    );
    let set = answer(&set);
    assert_eq!(
        set,
        serde_json::json!({ "username": "jana", "bok_set": true })
    );
    // The operator's notice to jana: sent; an empty title or an unknown citizen is refused.
    let notified = answer(&notify(
        "jana",
        "Planned maintenance",
        "The portal is closed on Sunday 2–4 am.",
    ));
    assert_eq!(
        notified,
        serde_json::json!({ "username": "jana", "notified": true })
    );
    let untitled = notify("jana", " ", "x");
    assert_eq!(untitled.status.code(), Some(1));
    says(&untitled, "title must be 1–100 characters");
    says(&notify("petr", "T", "x"), "no citizen with that username");

    // Only a hash was stored: the digits are nowhere in the database's files.
    for entry in std::fs::read_dir(&dir.0).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(!bytes.windows(6).any(|w| w == b"482913"));
    }

    let clerk = answer(&add_clerk(
        "eva",
        "Eva Úřednice",
        "Czech POINT, Praha 1",
        "clerk's long password\n",
    ));
    assert_eq!(clerk["office_name"], "Czech POINT, Praha 1");
    // The clerk's authenticator, printed once.
    let uri = clerk["totp_uri"].as_str().unwrap().to_string();
    let account = civkey_proto::otp::OtpAccount::parse_uri(&uri).unwrap();
    assert_eq!(
        (account.issuer.as_deref(), account.account.as_str()),
        (Some("civkey-counter"), "eva")
    );
    assert_eq!(code_now(&uri).len(), 6);
    let short = add_clerk("karel", "Karel", "Brno", "short\n");
    assert_eq!(short.status.code(), Some(1));
    says(&short, "at least 10 characters");
    let listed = admin(&dir.0, &["clerk", "list"], "");
    let listed: Vec<Value> = out(&listed)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["username"], "eva");
    assert_eq!(listed[0]["full_name"], "Eva Úřednice");
    assert_eq!(listed[0]["totp_enrolled"], true);
    assert!(
        !out(&admin(&dir.0, &["clerk", "list"], "")).contains(account.secret.to_base32().as_str())
    );
    // A new authenticator replaces the old one; an unknown clerk is refused.
    let reset = admin(&dir.0, &["clerk", "totp-reset", "eva"], "");
    let reset = answer(&reset);
    assert_eq!(reset["username"], "eva");
    let new_uri = reset["totp_uri"].as_str().unwrap();
    assert!(
        new_uri.starts_with("otpauth://totp/civkey-counter:eva?"),
        "{new_uri}"
    );
    assert_ne!(new_uri, uri);
    let nobody = admin(&dir.0, &["clerk", "totp-reset", "karel"], "");
    assert_eq!(nobody.status.code(), Some(1));
    says(&nobody, "no clerk with that username");
    assert!(!out(&admin(&dir.0, &["clerk", "list"], "")).contains("argon2"));
}

/// Clicks the element `css` selects.
async fn click(browser: &fantoccini::Client, css: &str) {
    browser
        .find(fantoccini::Locator::Css(css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// Saves a picture of the page when `CIVKEY_SCREENSHOTS` names a folder (for people to look at).
async fn picture(browser: &fantoccini::Client, name: &str) {
    if let Some(dir) = std::env::var_os("CIVKEY_SCREENSHOTS") {
        let png = browser.screenshot().await.unwrap();
        std::fs::write(std::path::Path::new(&dir).join(format!("{name}.png")), png).unwrap();
    }
}

#[tokio::test]
async fn a_clerk_in_chromium_verifies_a_bok_and_lifts_the_lock_out_after_five_wrong_answers() {
    use civkey_tests::chromium::wait_for_text;
    use civkey_tests::chromium::Driver;
    let s = setup().await;
    let driver = Driver::start();
    let browser = driver.browser().await;

    // The clerk logs in and finds the citizen.
    browser
        .goto(&format!("{}/counter?lang=en", s.server.base))
        .await
        .unwrap();
    assert_eq!(
        browser.current_url().await.unwrap().path(),
        "/counter/login"
    );
    let clerk_totp = clerk_code(&s.server, "eva").await;
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
    click(
        &browser,
        "form[action='/counter/login'] button[type='submit']",
    )
    .await;
    wait_for_text(&browser, "the counter", |t| {
        t.contains("Find a citizen") && t.contains("Eva Úřednice, Czech POINT, Praha 1")
    })
    .await;
    browser
        .find(fantoccini::Locator::Id("search-username"))
        .await
        .unwrap()
        .send_keys("jana")
        .await
        .unwrap();
    click(&browser, "form[action='/counter'] button[type='submit']").await;
    wait_for_text(&browser, "the citizen", |t| {
        t.contains("Jana Nováková") && t.contains("On record")
    })
    .await;
    picture(&browser, "counter-citizen").await;

    // Start: the page waits with its countdown, then moves on by itself when the phone answers.
    click(
        &browser,
        "form[action='/counter/bok'] button[type='submit']",
    )
    .await;
    wait_for_text(&browser, "the waiting step", |t| {
        t.contains("Waiting for the citizen") && t.contains("Time left:")
    })
    .await;
    let path = browser.current_url().await.unwrap().path().to_string();
    let id = path.strip_prefix("/counter/bok/").unwrap().to_string();
    // The page counts down from 2:00 by itself: wait for its first ticks rather than sleeping.
    let countdown =
        civkey_tests::wait_until("the countdown to tick", Duration::from_secs(10), || {
            let browser = browser.clone();
            async move {
                let text = browser
                    .find(fantoccini::Locator::Css("time[data-countdown]"))
                    .await
                    .ok()?
                    .text()
                    .await
                    .ok()?;
                (text != "2:00").then_some(text)
            }
        })
        .await;
    assert!(
        ["1:59", "1:58", "1:57"].contains(&countdown.as_str()),
        "{countdown}"
    );
    picture(&browser, "counter-waiting").await;
    let request = s.the_request(&id).await;
    s.answer(&request, BOK).await.unwrap();
    let text = wait_for_text(&browser, "the outcome", |t| t.contains("BOK verified")).await;
    assert!(!text.contains("Waiting for the citizen"), "{text}");
    assert_eq!(
        browser.current_url().await.unwrap().path(),
        path,
        "no reload"
    );
    picture(&browser, "counter-verified").await;

    // Five wrong answers, each from "Verify again"; the fifth blocks.
    let mut previous = path;
    for left in (0..5).rev() {
        click(&browser, "[data-step='verified']:not([hidden]) form[action='/counter/bok'] button, [data-step='not_verified']:not([hidden]) form[action='/counter/bok'] button").await;
        let id = wait_for_id(&browser, &previous).await;
        previous = format!("/counter/bok/{id}");
        wait_for_text(&browser, "the waiting step", |t| {
            t.contains("Waiting for the citizen")
        })
        .await;
        let request = s.the_request(&id).await;
        s.answer(&request, "111111").await.unwrap();
        if left > 0 {
            wait_for_text(&browser, "not verified", |t| {
                t.contains("BOK not verified")
                    && t.contains(&format!("Wrong answers left before it is blocked: {left}."))
            })
            .await;
        }
    }
    wait_for_text(&browser, "blocked", |t| t.contains("BOK blocked")).await;
    picture(&browser, "counter-blocked").await;

    // Back to the citizen: only the unblock is offered; it asks first, then is recorded.
    click(
        &browser,
        "[data-step='blocked'] a[href='/counter?username=jana']",
    )
    .await;
    wait_for_text(&browser, "the citizen, blocked", |t| {
        t.contains("Blocked") && t.contains("Unblock BOK")
    })
    .await;
    assert!(browser
        .find(fantoccini::Locator::Css("form[action='/counter/bok']"))
        .await
        .is_err());
    click(
        &browser,
        "form[action='/counter/unblock'] button[type='submit']",
    )
    .await;
    assert!(browser
        .get_alert_text()
        .await
        .unwrap()
        .contains("Unblock the BOK of Jana Nováková?"));
    browser.accept_alert().await.unwrap();
    wait_for_text(&browser, "the unblock", |t| {
        t.contains("The BOK is unblocked.") && t.contains("by eva (Czech POINT, Praha 1)")
    })
    .await;
    picture(&browser, "counter-unblocked").await;
    click(
        &browser,
        "form[action='/counter/bok'] button[type='submit']",
    )
    .await;
    let id = wait_for_id(&browser, &previous).await;
    let request = s.the_request(&id).await;
    assert_eq!(
        s.answer(&request, BOK).await.unwrap().outcome,
        BokOutcome::Verified
    );
    wait_for_text(&browser, "verified again", |t| t.contains("BOK verified")).await;
    browser.close().await.unwrap();
}

/// Waits until the browser is on the live page of a request other than `previous`; its id.
async fn wait_for_id(browser: &fantoccini::Client, previous: &str) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let path = browser.current_url().await.unwrap().path().to_string();
        if path != previous {
            if let Some(id) = path.strip_prefix("/counter/bok/") {
                return id.to_string();
            }
        }
        assert!(std::time::Instant::now() < deadline, "still on {path}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ----- `civkey bok wait`: the command as a separate process, the BOK from stdin -----

/// A running `civkey bok wait --stdin …` with the paired profile: its stdout lines as they come.
struct BokWait {
    child: std::process::Child,
    lines: tokio::sync::mpsc::UnboundedReceiver<String>,
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

impl BokWait {
    fn start(s: &Setup, args: &[&str]) -> BokWait {
        use std::io::BufRead;
        use std::process::Stdio;
        let mut child = civkey_tests::cli::cli(&s.home.0)
            .args(["bok", "wait", "--stdin"])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (send, lines) = tokio::sync::mpsc::unbounded_channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let mut pipe = child.stderr.take().unwrap();
        let errors = stderr.clone();
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut pipe, &mut text);
            errors.lock().unwrap().push_str(&text);
        });
        BokWait {
            child,
            lines,
            stderr,
        }
    }

    /// The next stdout line.
    async fn line(&mut self) -> String {
        tokio::time::timeout(Duration::from_secs(30), self.lines.recv())
            .await
            .expect("civkey bok wait said nothing in time")
            .expect("civkey bok wait closed its output")
    }

    /// Types `text` and a line end on its stdin, then closes it.
    fn type_line(&mut self, text: &str) {
        use std::io::Write;
        let mut stdin = self.child.stdin.take().unwrap();
        writeln!(stdin, "{text}").unwrap();
    }

    /// Waits for the exit: its status, the rest of stdout, and stderr.
    async fn finish(mut self) -> (i32, String, String) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(tokio::time::Instant::now() < deadline, "still running");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let mut rest = String::new();
        while let Some(line) = tokio::time::timeout(Duration::from_secs(5), self.lines.recv())
            .await
            .ok()
            .flatten()
        {
            rest.push_str(&line);
            rest.push('\n');
        }
        // stderr is read on a thread of its own: give it a moment after the exit to take the
        // last lines (nothing is asserted on its timing).
        tokio::time::sleep(Duration::from_millis(100)).await;
        let stderr = self.stderr.lock().unwrap().clone();
        (status.code().unwrap_or(-1), rest, stderr)
    }
}

#[tokio::test]
async fn civkey_bok_wait_answers_the_clerks_request_wrong_then_right() {
    let s = setup().await;
    let counter = Counter::log_in(&s.server).await;

    // A wrong code, in JSON: not verified, four attempts left; exit status 3.
    let mut wait = BokWait::start(&s, &["--json", "--timeout", "60"]);
    let waiting: Value = serde_json::from_str(&wait.line().await).unwrap();
    assert_eq!(waiting["event"], "waiting");
    assert_eq!(waiting["origin"], s.server.base.as_str());
    let id = counter.start().await;
    let mut events = counter.events(&id).await;
    assert_eq!(events.next().await["status"], "waiting");
    let asked: Value = serde_json::from_str(&wait.line().await).unwrap();
    assert_eq!(asked["event"], "bok_request");
    assert_eq!(asked["request_id"], id.as_str());
    assert_eq!(asked["office_name"], "Czech POINT, Praha 1");
    wait.type_line("111111");
    let (status, out, err) = wait.finish().await;
    assert_eq!(status, 3, "{out}{err}");
    let outcome: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(outcome["event"], "not_verified");
    assert_eq!(outcome["attempts_left"], 4);
    assert!(!out.contains("111111") && !err.contains("111111"));
    assert_eq!(
        events.next().await,
        serde_json::json!({ "status": "not_verified", "attempts_left": 4 })
    );

    // The right code, in words: verified; exit status 0; the counter sees it live.
    let mut wait = BokWait::start(&s, &[]);
    assert!(wait.line().await.starts_with("Waiting for an office"));
    let id = counter.start().await;
    let mut events = counter.events(&id).await;
    assert_eq!(events.next().await["status"], "waiting");
    let asked = wait.line().await;
    assert!(
        asked.starts_with("Czech POINT, Praha 1 asks for your security personal code (BOK)."),
        "{asked}"
    );
    assert!(asked.contains("The request is valid until"), "{asked}");
    wait.type_line(BOK);
    let (status, out, err) = wait.finish().await;
    assert_eq!(status, 0, "{out}{err}");
    assert!(out.contains("Verified"), "{out}");
    assert!(!out.contains(BOK) && !err.contains(BOK));
    assert_eq!(events.next().await["status"], "verified");
}

#[tokio::test]
async fn civkey_bok_wait_refuses_a_bad_bok_locally_and_sends_nothing() {
    let s = setup().await;
    let counter = Counter::log_in(&s.server).await;
    let id = counter.start().await;
    for bad in ["12a4", "123", "12345678901", ""] {
        let mut wait = BokWait::start(&s, &["--timeout", "30"]);
        assert!(wait.line().await.starts_with("Waiting for an office"));
        assert!(wait.line().await.starts_with("Czech POINT, Praha 1 asks"));
        wait.type_line(bad);
        let (status, out, err) = wait.finish().await;
        assert_eq!(status, 1, "{bad}: {out}{err}");
        assert!(
            err.contains("A security personal code (BOK) has 4 to 10 digits and nothing else. Nothing was sent."),
            "{bad}: {err}"
        );
        if !bad.is_empty() {
            assert!(!err.contains(bad) && !out.contains(bad), "{err}");
        }
    }
    // Nothing reached the server: the request still waits, and no attempt was counted.
    let request = s.the_request(&id).await;
    let answered = s.answer(&request, "111111").await.unwrap();
    assert_eq!(
        (answered.outcome, answered.attempts_left),
        (BokOutcome::NotVerified, 4)
    );
}

#[tokio::test]
async fn civkey_bok_wait_without_a_request_gives_up_after_its_timeout_with_status_5() {
    let s = setup().await;
    let started = std::time::Instant::now();
    let mut wait = BokWait::start(&s, &["--timeout", "2"]);
    assert!(wait.line().await.starts_with("Waiting for an office"));
    let (status, out, err) = wait.finish().await;
    assert_eq!(status, 5, "{out}{err}");
    assert!(
        err.contains("No office asked for the security code in time."),
        "{err}"
    );
    assert!(started.elapsed() >= Duration::from_secs(2));
}

#[tokio::test]
async fn civkey_bok_wait_on_a_device_with_bok_pad_off_says_how_to_turn_it_on() {
    let s = setup().await;
    s.server
        .state
        .services()
        .set_bok_pad(&s.citizen, &s.identity.device_id, false)
        .await
        .unwrap();
    let mut wait = BokWait::start(&s, &["--timeout", "10"]);
    assert!(wait.line().await.starts_with("Waiting for an office"));
    let (status, out, err) = wait.finish().await;
    assert_eq!(status, 1, "{out}{err}");
    assert!(err.contains("This device is not a BOK-pad."), "{err}");
}

/// Posts the counter's login form as a browser does (the form first, for its anti-forgery cookie
/// and token) with `fields` besides the token.
async fn post_counter_login(
    http: &Client,
    server: &TestServer,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let form = http
        .get(format!("{}/counter/login", server.base))
        .send()
        .await
        .unwrap();
    let pre = set_cookie(&form, "civkey_counter_pre").unwrap();
    let csrf = csrf_of(&form.text().await.unwrap(), "/counter/login");
    let mut fields = fields.to_vec();
    fields.push(("csrf", csrf.as_str()));
    http.post(format!("{}/counter/login", server.base))
        .header("cookie", pre.split(';').next().unwrap())
        .form(&fields)
        .send()
        .await
        .unwrap()
}

/// The attack: someone who has learnt a clerk's password (over the shoulder at the counter, from
/// another site's leak of a reused password) logs in at the counter with it. Clerks create
/// identities and lift BOK blocks, so the password alone must open nothing.
#[tokio::test]
async fn a_stolen_clerk_password_alone_does_not_open_the_counter() {
    let server = TestServer::start().await;
    add_clerk(&server).await;
    let http = browser();
    // A well-formed code that is not the authenticator's (it accepts the codes of the previous,
    // current and next 30 seconds).
    let valid = {
        let now = server.clock_now();
        let mut codes = Vec::new();
        for at in [now - 30, now, now + 30] {
            server.clock.set(at);
            codes.push(clerk_code(&server, "eva").await);
        }
        server.clock.set(now);
        codes
    };
    let guessed = (0..)
        .map(|n| format!("{:06}", 123_456 + n))
        .find(|c| !valid.contains(c))
        .unwrap();
    for code in ["", "not a code", guessed.as_str()] {
        let stolen = post_counter_login(
            &http,
            &server,
            &[
                ("username", "eva"),
                ("password", CLERK_PASSWORD),
                ("totp", code),
            ],
        )
        .await;
        assert_eq!(
            stolen.status(),
            StatusCode::UNAUTHORIZED,
            "the password alone (code {code:?}) opened the counter"
        );
        assert!(set_cookie(&stolen, "civkey_counter").is_none());
        assert!(stolen
            .text()
            .await
            .unwrap()
            .contains("The username, password or one-time code is wrong."));
    }

    // With the authenticator's code the clerk is in; the same code does not open a second
    // session (each code counts once).
    let code = clerk_code(&server, "eva").await;
    let fields = [
        ("username", "eva"),
        ("password", CLERK_PASSWORD),
        ("totp", code.as_str()),
    ];
    let own = post_counter_login(&http, &server, &fields).await;
    assert_eq!(own.status(), StatusCode::SEE_OTHER);
    assert!(set_cookie(&own, "civkey_counter").is_some());
    let replayed = post_counter_login(&http, &server, &fields).await;
    assert_eq!(replayed.status(), StatusCode::UNAUTHORIZED);
    assert!(set_cookie(&replayed, "civkey_counter").is_none());
}

/// The counter's cookies over https, attacked as the portal's are (see
/// `portal_http::planted_cookies_without_the_host_prefix_are_not_honoured_over_https`): a clerk
/// session or a pre-login token planted under the bare name opens nothing.
#[tokio::test]
async fn planted_counter_cookies_without_the_host_prefix_are_not_honoured_over_https() {
    let server = TestServer::start_with_origin(Some("https://id.example.gov")).await;
    let clerk = clerks::add_clerk(
        &server.store,
        server.clock_now(),
        "mallory",
        "Mallory",
        "Czech POINT, Praha 2",
        CLERK_PASSWORD,
    )
    .await
    .unwrap()
    .clerk_id;
    let token = "mallory's planted counter token";
    let now = server.clock_now();
    server
        .store
        .insert_clerk_session(
            &civkey_server::services::secrets::token_hash(token),
            &clerk,
            "mallory-csrf",
            now,
            now + 3600,
        )
        .await
        .unwrap();
    let http = browser();
    let counter = |cookie: String| {
        let request = http
            .get(format!("{}/counter", server.base))
            .header("cookie", cookie);
        async move { request.send().await.unwrap() }
    };
    let planted = counter(format!("civkey_counter={token}")).await;
    assert_eq!(
        planted.status(),
        StatusCode::SEE_OTHER,
        "a planted civkey_counter cookie opened the counter"
    );
    assert_eq!(location(&planted), "/counter/login");

    // A planted pre-login token does not pass the login form's anti-forgery check.
    let forged = http
        .post(format!("{}/counter/login", server.base))
        .header("cookie", "civkey_counter_pre=planted-token")
        .form(&[
            ("csrf", "planted-token"),
            ("username", "mallory"),
            ("password", CLERK_PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        forged.status(),
        StatusCode::FORBIDDEN,
        "a planted civkey_counter_pre cookie passed the anti-forgery check"
    );

    let own = counter(format!("__Host-civkey_counter={token}")).await;
    assert_eq!(own.status(), StatusCode::OK);

    // What the counter sets over https: only `__Host-` cookies (Secure, Path=/, no Domain).
    let form = http
        .get(format!("{}/counter/login", server.base))
        .send()
        .await
        .unwrap();
    let pre = set_cookie(&form, "__Host-civkey_counter_pre").unwrap();
    let csrf = csrf_of(&form.text().await.unwrap(), "/counter/login");
    let code = clerk_code(&server, "mallory").await;
    let answer = http
        .post(format!("{}/counter/login", server.base))
        .header("cookie", pre.split(';').next().unwrap())
        .form(&[
            ("csrf", csrf.as_str()),
            ("username", "mallory"),
            ("password", CLERK_PASSWORD),
            ("totp", code.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    let session = set_cookie(&answer, "__Host-civkey_counter").unwrap();
    for cookie in [&pre, &session] {
        for attribute in ["Secure", "Path=/;", "HttpOnly", "SameSite=Strict"] {
            assert!(cookie.contains(attribute), "{cookie}");
        }
        assert!(!cookie.contains("Domain"), "{cookie}");
    }
    let cookies: Vec<String> = answer
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_string))
        .collect();
    assert!(
        cookies.iter().all(|c| c.starts_with("__Host-")),
        "{cookies:?}"
    );
}
