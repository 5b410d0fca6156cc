//! The office counter: the clerk `eva` and logging her in, with or without HTTP.

use std::time::Duration;

use civkey_server::services::clerks;
use reqwest::{Client, StatusCode};
use serde_json::Value;

use crate::http::{browser, csrf_of, location, set_cookie};
use crate::TestServer;

/// The password of the clerk `eva`.
pub const CLERK_PASSWORD: &str = "clerk's long password";

/// Adds the clerk `eva` ("Eva Úřednice") at "Czech POINT, Praha 1", password [`CLERK_PASSWORD`].
pub async fn add_clerk(server: &TestServer) {
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
}

/// The code the authenticator of the clerk `username` shows at the server's time (its secret as
/// `clerk add` stored it).
pub async fn clerk_code(server: &TestServer, username: &str) -> String {
    use civkey_proto::otp::{totp, Algorithm, OtpSecret};
    let clerk = server
        .store
        .clerk_by_username(username)
        .await
        .unwrap()
        .unwrap();
    let secret = OtpSecret::from_base32(&clerk.totp_secret.unwrap()).unwrap();
    totp(secret.expose(), Algorithm::Sha1, 6, 30, server.clock_now()).code
}

/// Eva (see [`add_clerk`]) added and logged in at the counter with her password and
/// authenticator code, without a browser: her session.
pub async fn logged_in_clerk(server: &TestServer) -> civkey_server::store::ClerkSession {
    add_clerk(server).await;
    let code = clerk_code(server, "eva").await;
    let services = server.state.services();
    let logged_in = services
        .login_clerk("eva", CLERK_PASSWORD, &code, "127.0.0.1")
        .await
        .unwrap();
    services
        .clerk_session(&logged_in.token)
        .await
        .unwrap()
        .unwrap()
}

/// A clerk's browser at the counter: its session cookie.
pub struct Counter<'a> {
    /// The server it is at.
    pub server: &'a TestServer,
    /// Its HTTP client (no redirects followed).
    pub http: Client,
    /// `civkey_counter=…`, for a `cookie` header.
    pub cookie: String,
}

impl<'a> Counter<'a> {
    /// Logs `eva` in over HTTP, as a browser does: the form with its token, then the post with
    /// her password and her authenticator's code.
    pub async fn log_in(server: &'a TestServer) -> Counter<'a> {
        let code = clerk_code(server, "eva").await;
        let http = browser();
        let form = http
            .get(format!("{}/counter/login", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(form.status(), StatusCode::OK);
        let pre = set_cookie(&form, "civkey_counter_pre").unwrap();
        assert!(
            pre.contains("Path=/counter") && pre.contains("SameSite=Strict"),
            "{pre}"
        );
        let pre = pre.split(';').next().unwrap().to_string();
        let csrf = csrf_of(&form.text().await.unwrap(), "/counter/login");
        let answer = http
            .post(format!("{}/counter/login", server.base))
            .header("cookie", &pre)
            .form(&[
                ("csrf", csrf.as_str()),
                ("username", "eva"),
                ("password", CLERK_PASSWORD),
                ("totp", code.as_str()),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(&answer), "/counter");
        let session = set_cookie(&answer, "civkey_counter").unwrap();
        for attribute in [
            "Path=/counter",
            "HttpOnly",
            "SameSite=Strict",
            "Max-Age=28800",
        ] {
            assert!(session.contains(attribute), "{session}");
        }
        Counter {
            server,
            http,
            cookie: session.split(';').next().unwrap().to_string(),
        }
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.server.base))
            .header("cookie", &self.cookie)
            .send()
            .await
            .unwrap()
    }

    pub async fn page(&self, path: &str) -> String {
        let response = self.get(path).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        response.text().await.unwrap()
    }

    /// Posts `username=jana` to `action` with the session's anti-forgery token (as every form of
    /// the page carries it; taken from the log-out form, which every counter page has).
    pub async fn post(&self, action: &str) -> reqwest::Response {
        let page = self.page("/counter?username=jana").await;
        let csrf = csrf_of(&page, "/counter/logout");
        self.http
            .post(format!("{}{action}", self.server.base))
            .header("cookie", &self.cookie)
            .form(&[("csrf", csrf.as_str()), ("username", "jana")])
            .send()
            .await
            .unwrap()
    }

    /// "Start BOK verification": the request id from the redirect to its live page.
    pub async fn start(&self) -> String {
        let answer = self.post("/counter/bok").await;
        assert_eq!(answer.status(), StatusCode::SEE_OTHER);
        let to = location(&answer);
        let id = to.strip_prefix("/counter/bok/").unwrap().to_string();
        let page = self.page(&to).await;
        assert!(page.contains("data-countdown=\"120\""), "{page}");
        id
    }

    /// The live page's event stream.
    pub async fn events(&self, id: &str) -> Events {
        let response = self.get(&format!("/counter/bok/{id}/events")).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream"));
        Events {
            response,
            buffer: String::new(),
        }
    }
}

/// The counter page's server-sent events, one `data:` at a time.
pub struct Events {
    response: reqwest::Response,
    buffer: String,
}

impl Events {
    /// The next event's data, as JSON (waiting up to 20 s for it).
    pub async fn next(&mut self) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let event: String = self.buffer.drain(..end + 2).collect();
                if let Some(data) = event.lines().find_map(|l| l.strip_prefix("data:")) {
                    return serde_json::from_str(data.trim()).unwrap();
                }
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk())
                .await
                .expect("the counter page heard nothing in time")
                .unwrap()
                .expect("the stream ended");
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}
