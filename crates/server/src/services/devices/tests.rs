//! Every device-call refusal, and last-used kept cheap, on a pinned clock and a real SQLite
//! database.

use crate::services::fixtures::*;

#[tokio::test]
async fn last_used_is_written_once_a_minute_however_many_calls_come() {
    let f = fixture().await;
    let device_key = key(5);
    let device = paired(&f, &device_key).await;
    let body = br#"{"name":"Work phone"}"#;
    let first = f.clock.now();
    let mut seen = Vec::new();
    for (nonce, wait) in [(1, 0), (2, LAST_USED_EVERY_SECS - 1), (3, 1)] {
        f.clock.advance(wait);
        let auth = signed_call(&f, device, &device_key, body, nonce, f.clock.now());
        f.services
            .authenticate_device_call("POST", "/api/v1/device/rename", body, &auth)
            .await
            .unwrap();
        let record = f.services.store.device(&device).await.unwrap();
        seen.push(record.unwrap().last_used_at);
    }
    assert_eq!(
        seen,
        [Some(first), Some(first), Some(first + LAST_USED_EVERY_SECS)],
        "within the minute a call writes nothing"
    );
}

#[tokio::test]
async fn device_calls_are_authenticated_and_cannot_be_replayed() {
    let f = fixture().await;
    let device_key = key(5);
    let device = paired(&f, &device_key).await;
    let body = br#"{"name":"Work phone"}"#;
    let auth = signed_call(&f, device, &device_key, body, 1, T0);
    let record = f
        .services
        .authenticate_device_call("POST", "/api/v1/device/rename", body, &auth)
        .await
        .unwrap();
    assert_eq!(record.citizen_id, f.citizen);
    assert_eq!(
        f.services
            .store
            .device(&device)
            .await
            .unwrap()
            .unwrap()
            .last_used_at,
        Some(T0)
    );

    let replay = f
        .services
        .authenticate_device_call("POST", "/api/v1/device/rename", body, &auth)
        .await;
    assert_eq!(code_of(replay), ErrorCode::Replayed);

    let changed_body = f
        .services
        .authenticate_device_call(
            "POST",
            "/api/v1/device/rename",
            br#"{"name":"Evil"}"#,
            &signed_call(&f, device, &device_key, body, 2, T0),
        )
        .await;
    assert_eq!(code_of(changed_body), ErrorCode::BadSignature);
    let other_path = f
        .services
        .authenticate_device_call(
            "DELETE",
            "/api/v1/device",
            body,
            &signed_call(&f, device, &device_key, body, 3, T0),
        )
        .await;
    assert_eq!(code_of(other_path), ErrorCode::BadSignature);
    let wrong_key = f
        .services
        .authenticate_device_call(
            "POST",
            "/api/v1/device/rename",
            body,
            &signed_call(&f, device, &key(6), body, 4, T0),
        )
        .await;
    assert_eq!(code_of(wrong_key), ErrorCode::BadSignature);
    // A refused signature does not burn the nonce: the honest call with nonce 2 still works.
    f.services
        .authenticate_device_call(
            "POST",
            "/api/v1/device/rename",
            body,
            &signed_call(&f, device, &device_key, body, 2, T0),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn a_device_call_outside_the_clock_skew_is_refused() {
    let f = fixture().await;
    let device_key = key(5);
    let device = paired(&f, &device_key).await;
    for (nonce, at) in [(1, T0 - 61), (2, T0 + 61)] {
        let auth = signed_call(&f, device, &device_key, b"", nonce, at);
        assert_eq!(
            code_of(
                f.services
                    .authenticate_device_call("POST", "/api/v1/device/rename", b"", &auth)
                    .await
            ),
            ErrorCode::Replayed
        );
    }
    let auth = signed_call(&f, device, &device_key, b"", 3, T0 + 60);
    f.services
        .authenticate_device_call("POST", "/api/v1/device/rename", b"", &auth)
        .await
        .unwrap();
}

#[tokio::test]
async fn old_nonces_are_pruned_and_a_replay_of_them_is_still_refused_as_stale() {
    let f = fixture().await;
    let device_key = key(5);
    let device = paired(&f, &device_key).await;
    let auth = signed_call(&f, device, &device_key, b"", 1, T0);
    f.services
        .authenticate_device_call("POST", "/api/v1/device/rename", b"", &auth)
        .await
        .unwrap();
    f.clock.advance(121);
    assert_eq!(f.services.prune_nonces().await.unwrap(), 1);
    let replay = f
        .services
        .authenticate_device_call("POST", "/api/v1/device/rename", b"", &auth)
        .await;
    assert_eq!(code_of(replay), ErrorCode::Replayed);
}

#[tokio::test]
async fn a_disconnected_device_is_refused_at_once_and_an_unknown_one_too() {
    let f = fixture().await;
    let device_key = key(5);
    let device = paired(&f, &device_key).await;
    f.services
        .disconnect_device(&f.citizen, &device)
        .await
        .unwrap();
    let auth = signed_call(&f, device, &device_key, b"", 1, T0);
    assert_eq!(
        code_of(
            f.services
                .authenticate_device_call("POST", "/api/v1/device/rename", b"", &auth)
                .await
        ),
        ErrorCode::DeviceDisconnected
    );
    let stranger = signed_call(&f, DeviceId::from_bytes([1; 16]), &device_key, b"", 2, T0);
    assert_eq!(
        code_of(
            f.services
                .authenticate_device_call("POST", "/api/v1/device/rename", b"", &stranger)
                .await
        ),
        ErrorCode::DeviceUnknown
    );
    assert!(f
        .services
        .list_devices(&f.citizen)
        .await
        .unwrap()
        .devices
        .is_empty());
}
