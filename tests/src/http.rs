//! A browser's view over plain HTTP: a client that does not follow redirects, and reading
//! cookies, redirects, hidden form fields and server-sent events out of the answers.

use std::collections::HashMap;
use std::time::Duration;

use reqwest::redirect::Policy;
use reqwest::{Client, IntoUrl, Response};
use serde::de::DeserializeOwned;

use crate::TestServer;

/// A browser that does not follow redirects and prefers English.
pub fn browser() -> Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        "accept-language",
        reqwest::header::HeaderValue::from_static("en"),
    );
    Client::builder()
        .redirect(Policy::none())
        .default_headers(headers)
        .build()
        .unwrap()
}

/// A client that shows redirects instead of following them, with no preferred language.
pub fn no_redirects() -> Client {
    Client::builder().redirect(Policy::none()).build().unwrap()
}

/// GETs `url` with the `Cookie` header `cookie`.
pub async fn get_with_cookie(http: &Client, url: impl IntoUrl, cookie: &str) -> Response {
    http.get(url).header("cookie", cookie).send().await.unwrap()
}

/// POSTs `form` to `url` with the `Cookie` header `cookie`.
pub async fn post_with_cookie(
    http: &Client,
    url: impl IntoUrl,
    cookie: &str,
    form: &[(&str, &str)],
) -> Response {
    http.post(url)
        .header("cookie", cookie)
        .form(form)
        .send()
        .await
        .unwrap()
}

/// GETs `url` and reads its JSON body as a `T`.
pub async fn get_json<T: DeserializeOwned>(http: &Client, url: impl IntoUrl) -> T {
    http.get(url).send().await.unwrap().json().await.unwrap()
}

/// The `name=value` of the cookie `name` set by `response`, with its attributes.
pub fn set_cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with(&format!("{name}=")))
        .map(str::to_string)
}

pub fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("location")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string()
}

pub fn set_cookies(response: &reqwest::Response) -> Vec<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_string))
        .collect()
}

pub fn cookie_pair(cookies: &[String], name: &str) -> String {
    cookies
        .iter()
        .find(|c| c.starts_with(&format!("{name}=")))
        .and_then(|c| c.split(';').next())
        .unwrap_or_else(|| panic!("no {name} cookie in {cookies:?}"))
        .to_string()
}

/// The name the portal's session or pre-login cookie `name` goes by at `server`: `__Host-NAME`
/// when it is reached over https, else `NAME`.
pub fn host_cookie(server: &TestServer, name: &str) -> String {
    if server.origin.as_str().starts_with("https://") {
        format!("__Host-{name}")
    } else {
        name.to_string()
    }
}

/// The value of the hidden `csrf` field in the form posting to `action`.
pub fn csrf_of(html: &str, action: &str) -> String {
    hidden_of(html, action, "csrf").unwrap()
}

/// The value of the hidden field `name` in the form posting to `action`, as a browser sends it.
pub fn hidden_of(html: &str, action: &str, name: &str) -> Option<String> {
    let form = &html[html.find(&format!("action=\"{action}\"")).unwrap()..];
    let form = &form[..form.find("</form>").unwrap()];
    let marker = format!("name=\"{name}\" value=\"");
    let at = form.find(&marker)? + marker.len();
    Some(form[at..].split('"').next().unwrap().replace("&amp;", "&"))
}

/// The login page's event stream path (`data-signin-events`).
pub fn events_url_of(page: &str) -> String {
    page.split("data-signin-events=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the login page names its event stream")
        .to_string()
}

/// The login page's same-device link ("Open the mobile key on this device").
pub fn launch_link_of(page: &str) -> String {
    page.split("href=\"civkey://login?")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .map(|rest| format!("civkey://login?{}", rest.replace("&amp;", "&")))
        .expect("the login page has a same-device link")
}

/// The `civkey_login` cookie the login page set (as a `Cookie` header's pair): the browser that
/// holds it is the one the login belongs to.
pub fn login_cookie_of(page: &reqwest::Response) -> String {
    cookie_pair(&set_cookies(page), "civkey_login")
}

/// The query parameters of `url`.
pub fn query_of(url: &str) -> HashMap<String, String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// Reads server-sent events until one whose data contains `needle`; returns that data.
pub async fn wait_for_event(response: reqwest::Response, needle: &str) -> String {
    let mut response = response;
    let mut buffer = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let chunk = tokio::time::timeout_at(deadline, response.chunk())
            .await
            .expect("the page heard nothing in time")
            .unwrap()
            .expect("the stream ended");
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let event: String = buffer.drain(..end + 2).collect();
            for line in event.lines() {
                if let Some(data) = line.strip_prefix("data:") {
                    if data.contains(needle) {
                        return data.trim().to_string();
                    }
                }
            }
        }
    }
}

/// An in-person onboarding start request (`POST /api/v1/onboarding`) signed by `key` at
/// `timestamp`, as JSON.
pub fn onboarding_start_body(
    server: &TestServer,
    key: &p256::ecdsa::SigningKey,
    timestamp: u64,
) -> serde_json::Value {
    let public_key =
        civkey_proto::sign::DevicePublicKey::from(&p256::PublicKey::from(key.verifying_key()));
    let proof = civkey_proto::sign::OnboardingProof {
        origin: &server.origin,
        public_key: &public_key,
        device_name: "Pixel 8",
        device_model: "Pixel 8 Pro",
        device_kind: "phone",
        timestamp,
    }
    .signed_bytes();
    serde_json::json!({
        "public_key": public_key.to_text(),
        "device_name": "Pixel 8",
        "device_model": "Pixel 8 Pro",
        "device_kind": "phone",
        "timestamp": timestamp,
        "proof": civkey_proto::sign::sign(key, &proof).to_text(),
    })
}

/// Reads a streamed response until its end, at most `limit`: `Ok` when it ended cleanly (the
/// server finished the body), the error when it broke off; fails the test when it is still open.
pub async fn stream_end(
    response: &mut reqwest::Response,
    limit: Duration,
) -> Result<(), reqwest::Error> {
    tokio::time::timeout(limit, async {
        loop {
            match response.chunk().await {
                Ok(Some(_)) => continue,
                other => return other.map(|_| ()),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the stream was still open after {limit:?}"))
}
