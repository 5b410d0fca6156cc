//! Pairing and device calls over real HTTP: the app side is the client library, the browser's
//! decision is taken through the server's own services.

use std::time::{Duration, Instant};

use civkey_client::server_api::{ApiFailure, DeviceDescription, ServerApi};
use civkey_proto::device::{
    DeviceKind, DeviceList, DeviceModel, DeviceName, DeviceSummary, RenameDeviceRequest,
};
use civkey_proto::pair::PairStatus;
use civkey_proto::sign::DevicePublicKey;
use civkey_proto::{paths, ApiError, ErrorCode};
use civkey_tests::TestServer;
use p256::ecdsa::SigningKey;
use reqwest::Method;

fn device() -> DeviceDescription {
    DeviceDescription {
        name: DeviceName::parse("Pixel 8").unwrap(),
        model: DeviceModel::parse("Google Pixel 8").unwrap(),
        kind: DeviceKind::Phone,
    }
}

fn key(seed: u8) -> SigningKey {
    SigningKey::from_slice(&[seed; 32]).unwrap()
}

#[tokio::test]
async fn a_device_pairs_over_http_and_then_makes_signed_calls() {
    let server = TestServer::start().await;
    let citizen = server.add_citizen("jana").await;
    let uri = server.new_pairing(&citizen).await;
    let api = ServerApi::new(uri.origin.clone()).unwrap();
    let device_key = key(0x31);

    let claimed = api
        .claim_pairing(&uri, &device_key, &device())
        .await
        .unwrap();
    let public = DevicePublicKey::from(&p256::PublicKey::from(device_key.verifying_key()));
    assert_eq!(claimed.confirmation_code, uri.confirmation_code(&public));

    // The app waits; the citizen confirms in the browser; the app learns it within a second.
    let waiting = {
        let (api, uri, token) = (api.clone(), uri.clone(), claimed.claim_token.clone());
        tokio::spawn(async move {
            let start = Instant::now();
            (api.pairing_outcome(&uri, &token).await, start.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let decided_at = Instant::now();
    server
        .state
        .services()
        .decide_pairing(&citizen, &uri.session_id.to_text(), true)
        .await
        .unwrap();
    let (outcome, _) = waiting.await.unwrap();
    assert!(
        decided_at.elapsed() < Duration::from_secs(1),
        "outcome took {:?}",
        decided_at.elapsed()
    );
    let outcome = outcome.unwrap();
    assert_eq!(outcome.status, PairStatus::Confirmed);
    let device_id = outcome.device_id.unwrap();

    let list: DeviceList = api
        .device_call(
            &device_id,
            &device_key,
            Method::GET,
            paths::DEVICE_LIST,
            None::<&()>,
        )
        .await
        .unwrap();
    assert_eq!(list.devices.len(), 1);
    assert!(list.devices[0].last_used_at.is_some());

    let renamed: DeviceSummary = api
        .device_call(
            &device_id,
            &device_key,
            Method::POST,
            paths::DEVICE_RENAME,
            Some(&RenameDeviceRequest {
                name: DeviceName::parse("Work phone").unwrap(),
            }),
        )
        .await
        .unwrap();
    assert_eq!(renamed.name.as_str(), "Work phone");

    let _: () = api
        .device_call(
            &device_id,
            &device_key,
            Method::DELETE,
            paths::DEVICE_SELF,
            None::<&()>,
        )
        .await
        .unwrap();
    let after: Result<DeviceList, ApiFailure> = api
        .device_call(
            &device_id,
            &device_key,
            Method::GET,
            paths::DEVICE_LIST,
            None::<&()>,
        )
        .await;
    assert_eq!(
        after.unwrap_err().code(),
        Some(ErrorCode::DeviceDisconnected)
    );
}

#[tokio::test]
async fn a_second_app_scanning_the_same_code_is_told_it_lost() {
    let server = TestServer::start().await;
    let citizen = server.add_citizen("jana").await;
    let uri = server.new_pairing(&citizen).await;
    let api = ServerApi::new(uri.origin.clone()).unwrap();
    api.claim_pairing(&uri, &key(1), &device()).await.unwrap();
    let second = api
        .claim_pairing(&uri, &key(2), &device())
        .await
        .unwrap_err();
    assert_eq!(second.code(), Some(ErrorCode::PairingTaken));
}

#[tokio::test]
async fn an_expired_session_is_refused_over_http() {
    let server = TestServer::start().await;
    let citizen = server.add_citizen("jana").await;
    let uri = server.new_pairing(&citizen).await;
    server.clock.advance(240);
    let api = ServerApi::new(uri.origin.clone()).unwrap();
    let refused = api
        .claim_pairing(&uri, &key(1), &device())
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Some(ErrorCode::PairingExpired));
}

/// Posts `body` with `content_type` to the claim endpoint and returns status and error body.
async fn raw_claim(
    server: &TestServer,
    session: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (u16, ApiError) {
    let url = format!(
        "{}{}",
        server.base,
        paths::fill(paths::PAIR_CLAIM, &[("session_id", session)])
    );
    let response = reqwest::Client::new()
        .post(url)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn bad_bodies_get_a_4xx_with_a_code_and_write_nothing() {
    let server = TestServer::start().await;
    let citizen = server.add_citizen("jana").await;
    let uri = server.new_pairing(&citizen).await;
    let session = uri.session_id.to_text();
    let cases: Vec<(&str, Vec<u8>, u16, ErrorCode)> = vec![
        (
            "application/json",
            b"{not json".to_vec(),
            400,
            ErrorCode::BadRequest,
        ),
        (
            "application/json",
            br#"{"secret":"AAAAAAAAAAAAAAAAAAAAAA","surprise":1}"#.to_vec(),
            400,
            ErrorCode::BadRequest,
        ),
        (
            "application/json",
            br#"{"secret":12}"#.to_vec(),
            400,
            ErrorCode::BadRequest,
        ),
        (
            "text/plain",
            b"{}".to_vec(),
            415,
            ErrorCode::UnsupportedMediaType,
        ),
        (
            "application/json",
            vec![b' '; 17 * 1024],
            413,
            ErrorCode::BodyTooLarge,
        ),
    ];
    for (content_type, body, status, code) in cases {
        let (got_status, error) = raw_claim(&server, &session, content_type, body).await;
        assert_eq!(
            (got_status, error.code),
            (status, code),
            "{}",
            error.message
        );
    }
    let (status, error) =
        raw_claim(&server, "not-a-session", "application/json", b"{}".to_vec()).await;
    assert_eq!((status, error.code), (404, ErrorCode::PairingUnknown));
    // Nothing was written: the session is still open for the real app.
    let api = ServerApi::new(uri.origin.clone()).unwrap();
    api.claim_pairing(&uri, &key(1), &device()).await.unwrap();
}

#[tokio::test]
async fn a_forged_proof_is_refused_over_http() {
    let server = TestServer::start().await;
    let citizen = server.add_citizen("jana").await;
    let mut uri = server.new_pairing(&citizen).await;
    uri.secret = civkey_proto::ids::PairingSecret::from_bytes([0; 16]);
    let api = ServerApi::new(uri.origin.clone()).unwrap();
    let refused = api
        .claim_pairing(&uri, &key(1), &device())
        .await
        .unwrap_err();
    assert_eq!(
        refused.code(),
        Some(ErrorCode::PairingUnknown),
        "a wrong secret reads as unknown"
    );
}

#[tokio::test]
async fn a_captured_device_call_replayed_verbatim_is_refused() {
    let server = TestServer::start().await;
    let citizen = server.add_citizen("jana").await;
    let uri = server.new_pairing(&citizen).await;
    let api = ServerApi::new(uri.origin.clone()).unwrap();
    let device_key = key(7);
    let claimed = api
        .claim_pairing(&uri, &device_key, &device())
        .await
        .unwrap();
    server
        .state
        .services()
        .decide_pairing(&citizen, &uri.session_id.to_text(), true)
        .await
        .unwrap();
    let device_id = api
        .pairing_outcome(&uri, &claimed.claim_token)
        .await
        .unwrap()
        .device_id
        .unwrap();

    // Sign one call by hand so its exact headers can be sent twice.
    let nonce = civkey_proto::ids::Nonce::from_bytes([4; 16]);
    let timestamp = server.clock_now();
    let signed = civkey_proto::sign::DeviceCall {
        origin: &server.origin,
        device_id: &device_id,
        method: "GET",
        path_and_query: paths::DEVICE_LIST,
        body: b"",
        timestamp,
        nonce: &nonce,
    }
    .signed_bytes();
    let auth = civkey_proto::device::DeviceCallAuth {
        device_id,
        timestamp,
        nonce,
        signature: civkey_proto::sign::sign(&device_key, &signed),
    };
    let send = || {
        let mut request =
            reqwest::Client::new().get(format!("{}{}", server.base, paths::DEVICE_LIST));
        for (name, value) in auth.to_headers() {
            request = request.header(name, value);
        }
        request.send()
    };
    assert_eq!(send().await.unwrap().status(), 200);
    let replay = send().await.unwrap();
    assert_eq!(replay.status(), 401);
    assert_eq!(
        replay.json::<ApiError>().await.unwrap().code,
        ErrorCode::Replayed
    );

    let unsigned = reqwest::get(format!("{}{}", server.base, paths::DEVICE_LIST))
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 401);
    assert_eq!(
        unsigned.json::<ApiError>().await.unwrap().code,
        ErrorCode::Unauthorized
    );
}

#[tokio::test]
async fn a_wrong_method_gets_a_json_405() {
    let server = TestServer::start().await;
    let response = reqwest::get(format!("{}/api/v1/pairing/x/claim", server.base))
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(
        response.json::<ApiError>().await.unwrap().code,
        ErrorCode::MethodNotAllowed
    );
}
