//! The portal in real headless Chromium (driven through chromedriver): log in with password and
//! TOTP, connect a mobile key — the app side played by the client library — see the page move on
//! by itself to the same confirmation code, confirm, then rename and disconnect the key.

use std::time::{Duration, Instant};

use civkey_client::server_api::{DeviceDescription, ServerApi};
use civkey_proto::device::{DeviceKind, DeviceList, DeviceModel, DeviceName};
use civkey_proto::otp::totp;
use civkey_proto::pair::{PairStatus, PairingUri};
use civkey_proto::{paths, ErrorCode};
use civkey_server::clock::Clock;
use civkey_tests::chromium::wait_for_text;
use civkey_tests::chromium::Driver;
use civkey_tests::TestServer;
use fantoccini::{Client, Locator};
use p256::ecdsa::SigningKey;

async fn text_of(browser: &Client, css: &str) -> String {
    browser
        .find(Locator::Css(css))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
        .replace('\u{a0}', " ")
}

async fn body_text(browser: &Client) -> String {
    text_of(browser, "body").await
}

async fn submit_button(browser: &Client, label: &str) {
    let xpath = format!("//button[normalize-space()=\"{label}\"]");
    browser
        .find(Locator::XPath(&xpath))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

#[tokio::test]
async fn a_citizen_connects_renames_and_disconnects_a_mobile_key_in_chromium() {
    let server = TestServer::start().await;
    let account = civkey_tests::portal::jana_with_authenticator(&server).await;
    let driver = Driver::start();
    let browser = driver.browser().await;

    // Log in with password and TOTP.
    browser
        .goto(&format!("{}/portal?lang=en", server.base))
        .await
        .unwrap();
    assert!(browser
        .current_url()
        .await
        .unwrap()
        .path()
        .starts_with("/portal/login"));
    let code = totp(
        account.secret.expose(),
        account.algorithm,
        6,
        30,
        server.clock.now(),
    )
    .code;
    for (name, value) in [
        ("username", "jana"),
        ("password", "correct horse battery"),
        ("totp", code.as_str()),
    ] {
        let field = browser
            .find(Locator::Css(&format!(
                "form[action='/portal/login'] input[name='{name}']"
            )))
            .await
            .unwrap();
        field.send_keys(value).await.unwrap();
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
    wait_for_text(&browser, "the dashboard", |t| t.contains("Jana Nováková")).await;
    assert_eq!(browser.current_url().await.unwrap().path(), "/portal");

    // Connect mobile key: QR code, countdown, same-device link.
    browser
        .goto(&format!("{}/portal/connect", server.base))
        .await
        .unwrap();
    let qr = browser.find(Locator::Css("img.qr")).await.unwrap();
    assert_eq!(
        qr.attr("alt").await.unwrap().as_deref(),
        Some("Pairing QR code")
    );
    let countdown = text_of(&browser, "time[data-countdown]").await;
    assert!(
        countdown.starts_with("4:00") || countdown.starts_with("3:5"),
        "countdown shows {countdown:?}"
    );
    let link = browser
        .find(Locator::Css("a[href^='civkey://pair']"))
        .await
        .unwrap();
    assert_eq!(
        link.text().await.unwrap(),
        "Open the mobile key on this device"
    );
    let uri = PairingUri::parse(&link.attr("href").await.unwrap().unwrap()).unwrap();

    // The app scans and claims; the page moves on by itself to the same code.
    let api = ServerApi::new(uri.origin.clone()).unwrap();
    let device_key = SigningKey::from_slice(&[0x42; 32]).unwrap();
    let description = DeviceDescription {
        name: DeviceName::parse("Jana's Pixel").unwrap(),
        model: DeviceModel::parse("Google Pixel 8").unwrap(),
        kind: DeviceKind::Phone,
    };
    let claimed = api
        .claim_pairing(&uri, &device_key, &description)
        .await
        .unwrap();
    let shown = claimed.confirmation_code.to_string();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let on_page = text_of(&browser, "p.confirmation-code").await;
        if on_page == shown {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the page shows {on_page:?}, the app {shown:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(body_text(&browser).await.contains("Jana's Pixel"));

    // The citizen confirms; the app learns it.
    submit_button(&browser, "Yes, the right code was shown").await;
    // Shown (not hidden) only once the server has confirmed the pairing.
    wait_for_text(&browser, "the pairing outcome", |t| {
        t.contains("Your mobile key is connected")
    })
    .await;
    let outcome = api
        .pairing_outcome(&uri, &claimed.claim_token)
        .await
        .unwrap();
    assert_eq!(outcome.status, PairStatus::Confirmed);
    let device_id = outcome.device_id.unwrap();

    // My mobile keys: rename, then disconnect (accepting the confirmation dialog).
    browser
        .goto(&format!("{}/portal/keys", server.base))
        .await
        .unwrap();
    wait_for_text(&browser, "the device list", |t| {
        t.contains("Jana's Pixel") && t.contains("Google Pixel 8")
    })
    .await;
    let rename = browser
        .find(Locator::Css(&format!(
            "form[action='/portal/keys/{device_id}/rename'] input[name='name']"
        )))
        .await
        .unwrap();
    rename.clear().await.unwrap();
    rename.send_keys("Work phone").await.unwrap();
    browser
        .find(Locator::Css(&format!(
            "form[action='/portal/keys/{device_id}/rename'] button[type='submit']"
        )))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_text(&browser, "the new name", |t| {
        t.contains("The mobile key was renamed.") && t.contains("Work phone")
    })
    .await;
    let list: DeviceList = api
        .device_call(
            &device_id,
            &device_key,
            reqwest::Method::GET,
            paths::DEVICE_LIST,
            None::<&()>,
        )
        .await
        .unwrap();
    assert_eq!(list.devices[0].name.as_str(), "Work phone");

    browser
        .find(Locator::Css(&format!(
            "form[action='/portal/keys/{device_id}/disconnect'] button[type='submit']"
        )))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    if browser.get_alert_text().await.is_ok() {
        browser.accept_alert().await.unwrap();
    }
    wait_for_text(&browser, "the empty list", |t| {
        t.contains("The mobile key was disconnected.") && !t.contains("Work phone")
    })
    .await;
    let refused = api
        .device_call::<(), DeviceList>(
            &device_id,
            &device_key,
            reqwest::Method::GET,
            paths::DEVICE_LIST,
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Some(ErrorCode::DeviceDisconnected));

    browser.close().await.unwrap();
}
