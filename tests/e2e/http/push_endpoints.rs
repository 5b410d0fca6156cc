//! Push endpoints as a way into the operator's network (server-side request forgery): a paired
//! device names where the server POSTs every event for it. Before the push guard, a device could
//! register `http://127.0.0.1:PORT/…` (or a name resolving there) and the server then connected to
//! whatever listened there, once per event. Now, outside the loopback test mode, an endpoint that
//! is not https or that is (or resolves to) a loopback, private, link-local, unique-local, shared,
//! multicast, documentation, reserved or cloud metadata address is refused when registered, and
//! checked again — one lookup, the connection to the checked address — at every send.

use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use civkey_client::server_api::ApiFailure;
use civkey_proto::events::LoginMeans;
use civkey_proto::ids::DeviceId;
use civkey_proto::ErrorCode;
use civkey_server::domain::CitizenId;
use civkey_server::services::push_guard::{HostsTable, PushPolicy};
use civkey_tests::TestServer;
use p256::ecdsa::SigningKey;

/// A listener on loopback that stands for a service inside the operator's network: it counts the
/// connections it accepts.
async fn internal_service() -> (u16, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = connections.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            drop(stream);
        }
    });
    (port, connections)
}

/// A server with production's push rules, its names resolved through `hosts` first.
async fn production_server(hosts: &HostsTable) -> (TestServer, CitizenId, (DeviceId, SigningKey)) {
    let policy = PushPolicy::new(false, Vec::new(), Arc::new(hosts.clone()));
    let server = TestServer::start_with_push_policy(policy).await;
    let citizen = server.add_citizen("jana").await;
    let device = server.device_with_key(&citizen, 1).await;
    (server, citizen, device)
}

/// The device registers `url` as its push endpoint over the API.
async fn register(
    server: &TestServer,
    device: &(DeviceId, SigningKey),
    url: &str,
) -> Result<(), ApiFailure> {
    server.register_push(device, url).await
}

/// An event for the citizen; waits until its push to `url` is given up, and returns why.
async fn push_given_up(server: &TestServer, citizen: &CitizenId, url: &str) -> String {
    server
        .state
        .services()
        .notify_login(citizen, "Portál občana", LoginMeans::PasswordTotp)
        .await;
    let rows = server
        .outbox_until(url, "the push given up", |rows| {
            rows.len() == 1 && rows[0].gave_up_at.is_some()
        })
        .await;
    rows[0].last_error.clone().unwrap_or_default()
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

/// The attack: a paired device registers endpoints inside the operator's network — loopback
/// (literal, and the real name `localhost`), private, link-local, unique-local, shared, the cloud
/// metadata services, and a name of its own that resolves to one. Every one is refused with
/// `push_endpoint_refused`, nothing is stored, and no event reaches the internal service.
#[tokio::test]
async fn a_device_cannot_register_a_push_endpoint_inside_the_operators_network() {
    let (port, connections) = internal_service().await;
    let hosts = HostsTable::default();
    hosts.set("internal.attacker.example", &[ip("10.20.30.40")]);
    hosts.set("meta.attacker.example", &[ip("169.254.169.254")]);
    let (server, citizen, device) = production_server(&hosts).await;
    let endpoints = [
        format!("http://127.0.0.1:{port}/admin"),
        format!("https://127.0.0.1:{port}/admin"),
        format!("http://localhost:{port}/admin"),
        format!("https://localhost:{port}/admin"),
        format!("https://[::1]:{port}/admin"),
        format!("https://[::ffff:127.0.0.1]:{port}/admin"),
        "https://10.0.0.1/".into(),
        "https://172.16.5.4/".into(),
        "https://192.168.1.1/".into(),
        "https://100.64.0.1/".into(),
        "https://169.254.10.10/".into(),
        "https://[fe80::1]/".into(),
        "https://[fc00::1]/".into(),
        "https://169.254.169.254/latest/meta-data/iam/security-credentials/".into(),
        "https://[fd00:ec2::254]/latest/meta-data/".into(),
        "https://100.100.100.200/latest/meta-data/".into(),
        "https://internal.attacker.example/".into(),
        "https://meta.attacker.example/latest/meta-data/".into(),
    ];
    for url in &endpoints {
        let refused = register(&server, &device, url).await.unwrap_err();
        assert_eq!(
            refused.code(),
            Some(ErrorCode::PushEndpointRefused),
            "{url}: {refused:?}"
        );
    }
    let stored = server.store.device(&device.0).await.unwrap().unwrap();
    assert_eq!(stored.push_endpoint, None);
    server
        .state
        .services()
        .notify_login(&citizen, "Portál občana", LoginMeans::PasswordTotp)
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        connections.load(Ordering::SeqCst),
        0,
        "no connection inside"
    );
}

/// The attack past registration: an endpoint under a name that resolves to a public address when
/// registered, then (its owner changes the DNS record) to the server's own loopback. The send
/// resolves once, sees loopback, gives the push up and never connects.
#[tokio::test]
async fn a_name_that_turns_to_loopback_after_registration_is_never_connected_to() {
    let (port, connections) = internal_service().await;
    let hosts = HostsTable::default();
    hosts.set("push.attacker.example", &[ip("93.184.215.14")]);
    let (server, citizen, device) = production_server(&hosts).await;
    let url = format!("https://push.attacker.example:{port}/up/1");
    register(&server, &device, &url).await.unwrap();
    hosts.set("push.attacker.example", &[ip("127.0.0.1")]);
    assert_eq!(
        push_given_up(&server, &citizen, &url).await,
        "the push endpoint is refused: push.attacker.example is 127.0.0.1, a loopback address"
    );
    assert_eq!(connections.load(Ordering::SeqCst), 0, "never connected");
}

/// An endpoint stored before the guard existed (or by any other way past registration) is
/// checked at send time too: literal loopback over plain http is given up, not sent.
#[tokio::test]
async fn an_endpoint_stored_without_the_check_is_refused_at_send_time() {
    let (port, connections) = internal_service().await;
    let (server, citizen, device) = production_server(&HostsTable::default()).await;
    let url = format!("http://127.0.0.1:{port}/admin");
    assert!(server
        .store
        .set_push_endpoint(&device.0, Some(&url), None)
        .await
        .unwrap());
    assert_eq!(
        push_given_up(&server, &citizen, &url).await,
        "the push endpoint is refused: it must be https"
    );
    assert_eq!(connections.load(Ordering::SeqCst), 0, "never connected");
}

/// The operator's allow-list: only the listed push services are accepted, and a listed name is
/// still refused when it resolves into the network.
#[tokio::test]
async fn with_an_allow_list_only_the_operators_push_services_are_accepted() {
    let hosts = HostsTable::default();
    hosts.set("fcm.googleapis.com", &[ip("142.250.74.106")]);
    hosts.set("push.example.org", &[ip("93.184.215.14")]);
    hosts.set("rogue.push.apple.com", &[ip("192.168.7.7")]);
    let allowed = ["fcm.googleapis.com", "*.push.apple.com"]
        .iter()
        .map(|p| civkey_server::services::push_guard::HostPattern::parse(p).unwrap())
        .collect();
    let policy = PushPolicy::new(false, allowed, Arc::new(hosts));
    let server = TestServer::start_with_push_policy(policy).await;
    let citizen = server.add_citizen("jana").await;
    let device = server.device_with_key(&citizen, 1).await;
    register(&server, &device, "https://fcm.googleapis.com/fcm/send/abc")
        .await
        .unwrap();
    for url in [
        "https://push.example.org/up",
        "https://rogue.push.apple.com/3/device/x",
    ] {
        let refused = register(&server, &device, url).await.unwrap_err();
        assert_eq!(
            refused.code(),
            Some(ErrorCode::PushEndpointRefused),
            "{url}"
        );
    }
    let stored = server.store.device(&device.0).await.unwrap().unwrap();
    assert_eq!(
        stored.push_endpoint.as_deref(),
        Some("https://fcm.googleapis.com/fcm/send/abc"),
        "a refused registration loses nothing"
    );
}
