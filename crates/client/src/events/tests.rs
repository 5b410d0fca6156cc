//! The parser on awkward input, and the stream against a small local server: resuming with
//! `Last-Event-ID`, a server without the stream, a refusal that ends it; and the BOK wait's
//! fallback to polling.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use civkey_proto::bok::BokRequest;
use civkey_proto::events::EventKind;
use civkey_proto::ids::{BokRequestId, Challenge, DeviceId};
use civkey_proto::Origin;

use super::*;
use crate::keystore::{KeyRef, KeyStore, MemoryKeyStore};

#[test]
fn events_are_read_whatever_the_chunks_and_line_ends() {
    let wire =
        ": keep-alive\r\n\r\nid: 1\r\nevent: informative\r\ndata: {\"a\":\r\ndata: 1}\r\n\r\n\
                id:2\nevent:bok_request\ndata:x\n\nretry: 5\nunknown\n\ndata: last\r\rid: 3\n";
    let whole = SseParser::default().push(wire.as_bytes());
    let expected = vec![
        SseMessage {
            id: Some("1".into()),
            event: "informative".into(),
            data: "{\"a\":\n1}".into(),
        },
        SseMessage {
            id: Some("2".into()),
            event: "bok_request".into(),
            data: "x".into(),
        },
        SseMessage {
            id: Some("2".into()),
            event: "message".into(),
            data: "last".into(),
        },
    ];
    assert_eq!(whole, expected);
    for size in 1..8 {
        let mut parser = SseParser::default();
        let mut got = Vec::new();
        for chunk in wire.as_bytes().chunks(size) {
            got.extend(parser.push(chunk));
        }
        assert_eq!(got, expected, "chunks of {size}");
    }
}

#[test]
fn an_overlong_line_drops_its_event_not_the_stream() {
    let mut parser = SseParser::default();
    let mut wire = b"data: ".to_vec();
    wire.extend(std::iter::repeat_n(b'x', MAX_LINE_BYTES + 10));
    wire.extend_from_slice(b"\n\ndata: ok\n\n");
    let got = parser.push(&wire);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].data, "ok");
}

/// A profile with one identity at `origin`, its key in memory, in a temporary folder that is
/// removed when the returned guard is dropped.
fn profile_at(origin: &str, name: &str) -> (Profile, Identity, tempfile::TempDir) {
    let tmp = tempfile::Builder::new()
        .prefix(&format!("civkey-events-{name}-"))
        .tempdir()
        .unwrap();
    let dir = tmp.path().join("profile");
    let store = Arc::new(MemoryKeyStore::new());
    let profile = Profile::open(&dir, store.clone())
        .unwrap()
        .with_timeout(Duration::from_secs(5));
    let key = KeyRef::generate("p", "device");
    let identity = Identity {
        origin: Origin::parse(origin).unwrap(),
        device_id: DeviceId::from_bytes([7; 16]),
        device_name: "Laptop".into(),
        account_name: None,
        paired_at: 1,
        public_key: store.create_signing_key(&key).unwrap(),
        key,
    };
    profile.add(identity.clone()).unwrap();
    (profile, identity, tmp)
}

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    format!("http://{addr}")
}

fn sse(body: String) -> impl IntoResponse {
    ([("content-type", "text/event-stream")], body)
}

fn informative(id: u64) -> String {
    format!(
        "id: {id}\nevent: informative\ndata: {{\"id\":{id},\"at\":1,\"type\":\"informative\",\"title\":\"T{id}\",\"body\":\"B\"}}\n\n"
    )
}

fn bok_request(expires_at: u64) -> BokRequest {
    BokRequest {
        id: BokRequestId::from_bytes([3; 16]),
        office_name: "Czech POINT, Praha 1".into(),
        challenge: Challenge::from_bytes([4; 32]),
        created_at: 1,
        expires_at,
    }
}

/// What a connection sent: its `Last-Event-ID`, and whether it was signed.
type Connection = (Option<String>, bool);

#[tokio::test]
async fn a_dropped_stream_is_resumed_after_the_last_event_with_the_device_headers() {
    let connections = Arc::new(AtomicUsize::new(0));
    let seen: Arc<Mutex<Vec<Connection>>> = Arc::default();
    let router = Router::new().route(
        "/api/v1/events",
        get({
            let connections = connections.clone();
            let seen = seen.clone();
            move |headers: HeaderMap| async move {
                let n = connections.fetch_add(1, Ordering::SeqCst);
                let last = headers
                    .get("last-event-id")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                let signed = headers.contains_key(civkey_proto::device::headers::SIGNATURE);
                seen.lock().unwrap().push((last, signed));
                let body = match n {
                    0 => format!(": hello\n\n{}{}", informative(1), informative(2)),
                    _ => informative(3),
                };
                sse(body)
            }
        }),
    );
    let base = serve(router).await;
    let (profile, identity, _tmp) = profile_at(&base, "resume");
    let mut stream = EventStream::new(profile, identity);
    let mut ids = Vec::new();
    while ids.len() < 3 {
        match tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .unwrap()
        {
            Ok(event) => {
                assert!(matches!(event.kind, EventKind::Informative { .. }));
                ids.push(event.id);
            }
            // Not expected here (the server answers every connection), but not final either.
            Err(StreamError::Transient(_)) => {}
            Err(other) => panic!("{other:?}"),
        }
    }
    assert_eq!(ids, vec![1, 2, 3]);
    assert_eq!(stream.last_id(), Some("3"));
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen[0], (None, true));
    assert_eq!(seen[1], (Some("2".into()), true));
}

#[tokio::test]
async fn a_server_without_the_stream_is_told_apart_and_a_refusal_ends_it() {
    let router = Router::new().route(
        "/gone",
        get(|| async {
            (
                StatusCode::FORBIDDEN,
                axum::Json(serde_json::json!({
                    "code": "device_disconnected",
                    "message": "This mobile key was disconnected."
                })),
            )
        }),
    );
    let base = serve(router).await;
    let (profile, identity, _tmp) = profile_at(&base, "unsupported");
    let mut stream = EventStream::new(profile.clone(), identity.clone());
    assert!(matches!(stream.next().await, Err(StreamError::Unsupported)));
    let mut stream = EventStream::new(profile, identity).at_path("/gone");
    match stream.next().await {
        Err(StreamError::Fatal(e)) => assert_eq!(e.code(), "device_disconnected"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn waiting_for_a_bok_request_polls_when_the_server_has_no_stream() {
    let asked = Arc::new(AtomicUsize::new(0));
    let router = Router::new().route(
        "/api/v1/bok/pending",
        get({
            let asked = asked.clone();
            move || async move {
                let n = asked.fetch_add(1, Ordering::SeqCst);
                let list = match n {
                    0 => vec![bok_request(10)], // expired: skipped
                    1 => vec![],
                    _ => vec![bok_request(u64::MAX)],
                };
                axum::Json(list)
            }
        }),
    );
    let base = serve(router).await;
    let (profile, identity, _tmp) = profile_at(&base, "poll");
    let request = tokio::time::timeout(
        Duration::from_secs(20),
        crate::bok::wait_for_request(&profile, &identity),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(request.office_name, "Czech POINT, Praha 1");
    assert_eq!(asked.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn waiting_for_a_bok_request_takes_it_from_the_stream() {
    let request = bok_request(u64::MAX);
    let event = serde_json::json!({
        "id": 9, "at": 1, "type": "bok_request", "request": request,
    });
    let body = format!("id: 9\nevent: bok_request\ndata: {event}\n\n");
    let router = Router::new()
        .route(
            "/api/v1/bok/pending",
            get(|| async { axum::Json(Vec::<BokRequest>::new()) }),
        )
        .route(
            "/api/v1/events",
            get(move || {
                let body = body.clone();
                async move { sse(body) }
            }),
        );
    let base = serve(router).await;
    let (profile, identity, _tmp) = profile_at(&base, "stream");
    let got = tokio::time::timeout(
        Duration::from_secs(10),
        crate::bok::wait_for_request(&profile, &identity),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(got, request);
}

#[tokio::test]
async fn a_server_error_is_said_once_and_tried_again_after_a_back_off() {
    let connections = Arc::new(AtomicUsize::new(0));
    let router = Router::new().route(
        "/api/v1/events",
        get({
            let connections = connections.clone();
            move || async move {
                if connections.fetch_add(1, Ordering::SeqCst) == 0 {
                    (
                        StatusCode::INTERNAL_SERVER_ERROR,
                        axum::Json(
                            serde_json::json!({"code": "internal", "message": "internal error"}),
                        ),
                    )
                        .into_response()
                } else {
                    sse(informative(5)).into_response()
                }
            }
        }),
    );
    let base = serve(router).await;
    let (profile, identity, _tmp) = profile_at(&base, "backoff");
    let mut stream = EventStream::new(profile, identity);
    match stream.next().await {
        Err(StreamError::Transient(e)) => assert_eq!(e.code(), "internal"),
        other => panic!("{other:?}"),
    }
    let started = tokio::time::Instant::now();
    let event = tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(event.id, 5);
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "waited first"
    );
}
