//! Abuse of the server over HTTP: requests made to cost it memory or time.

use civkey_proto::ids::LoginRequestId;
use civkey_server::services::oidc::authorize::signal_key;
use civkey_tests::http::no_redirects;
use civkey_tests::TestServer;

/// The attack: ask for the event stream of logins that never existed, with a cookie of one's own
/// making, again and again. Each request used to leave an entry in the server's change signal for
/// good (it subscribed before it looked the login up); now an entry lives only while its stream
/// does.
#[tokio::test]
async fn event_streams_asked_for_unknown_logins_leave_nothing_behind() {
    let server = TestServer::start().await;
    let http = no_redirects();
    let signal = &server.state.services().signal;
    let mut asked = Vec::new();
    for i in 0..2_000u64 {
        let mut bytes = [0u8; LoginRequestId::LEN];
        bytes[..8].copy_from_slice(&i.to_le_bytes());
        let id = LoginRequestId::from_bytes(bytes);
        let response = http
            .get(format!("{}/oidc/login/{id}/events", server.base))
            .header("Cookie", "civkey_login=forged")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "an unknown login is not found");
        asked.push(signal_key(&id));
    }
    let left = asked.iter().filter(|key| signal.is_watched(key)).count();
    assert_eq!(left, 0, "no entry is left per unknown id");
}
