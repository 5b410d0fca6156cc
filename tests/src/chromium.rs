//! Real headless Chromium through chromedriver, and waiting for a page to show something.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;

use crate::TempDir;

/// chromedriver on a free loopback port, stopped when dropped (also used by `oidc_rp`).
pub struct Driver {
    child: Child,
    url: String,
    _profile: TempDir,
}

impl Driver {
    pub fn start() -> Self {
        let binary = std::env::var("CIVKEY_CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(&binary)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {binary} ({e}): run through scripts/test, which checks Chromium"
                )
            });
        crate::wait_until_blocking("chromedriver to listen", Duration::from_secs(20), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).ok()
        });
        Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
            _profile: TempDir::new("civkey-chromium"),
        }
    }

    pub async fn browser(&self) -> Client {
        let chromium =
            std::env::var("CIVKEY_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": chromium,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--no-first-run", "--window-size=1280,900", "--lang=en-US",
                    format!("--user-data-dir={}", self._profile.0.display()),
                ]
            }),
        );
        ClientBuilder::new(HttpConnector::new())
            .capabilities(caps)
            .connect(&self.url)
            .await
            .unwrap()
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The page's text, or `None` while a navigation has not produced a document yet.
pub async fn try_body_text(browser: &Client) -> Option<String> {
    let body = browser.find(Locator::Css("body")).await.ok()?;
    body.text().await.ok().map(|t| t.replace('\u{a0}', " "))
}

/// Waits up to 10 s for `check` on the page's text to hold (across a navigation in progress).
pub async fn wait_for_text(browser: &Client, what: &str, check: impl Fn(&str) -> bool) -> String {
    let deadline = Duration::from_secs(10);
    let waited = tokio::time::timeout(
        deadline,
        crate::wait_until(what, Duration::MAX, || async {
            try_body_text(browser).await.filter(|t| check(t))
        }),
    )
    .await;
    match waited {
        Ok(text) => text,
        Err(_) => panic!(
            "the page never showed {what}; it shows:\n{}",
            try_body_text(browser).await.unwrap_or_default()
        ),
    }
}
