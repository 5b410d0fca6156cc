use super::*;
use AddressKind::*;

fn kind(text: &str) -> Option<AddressKind> {
    classify(text.parse().unwrap())
}

/// Every IPv4 range a push may not reach, at both of its ends, with its kind.
const V4_REFUSED: &[(&str, AddressKind)] = &[
    ("0.0.0.0", Unspecified),
    ("0.255.255.255", Unspecified),
    ("127.0.0.1", Loopback),
    ("127.255.255.254", Loopback),
    ("10.0.0.0", Private),
    ("10.255.255.255", Private),
    ("172.16.0.0", Private),
    ("172.31.255.255", Private),
    ("192.168.0.1", Private),
    ("192.168.255.255", Private),
    ("169.254.0.1", LinkLocal),
    ("169.254.255.255", LinkLocal),
    ("169.254.169.254", CloudMetadata),
    ("100.64.0.0", Shared),
    ("100.127.255.255", Shared),
    ("100.100.100.200", CloudMetadata),
    ("255.255.255.255", Broadcast),
    ("224.0.0.1", Multicast),
    ("239.255.255.255", Multicast),
    ("192.0.2.1", Documentation),
    ("198.51.100.7", Documentation),
    ("203.0.113.255", Documentation),
    ("192.0.0.8", Reserved),
    ("192.88.99.1", Reserved),
    ("198.18.0.0", Reserved),
    ("198.19.255.255", Reserved),
    ("240.0.0.1", Reserved),
    ("254.255.255.255", Reserved),
];

/// Public neighbours just outside those ranges.
const V4_PUBLIC: &[&str] = &[
    "1.1.1.1",
    "8.8.8.8",
    "9.255.255.255",
    "11.0.0.0",
    "172.15.255.255",
    "172.32.0.0",
    "192.167.255.255",
    "192.169.0.0",
    "169.253.255.255",
    "169.255.0.0",
    "100.63.255.255",
    "100.128.0.0",
    "126.255.255.255",
    "128.0.0.0",
    "198.17.255.255",
    "198.20.0.0",
    "223.255.255.255",
    "142.250.74.106",
];

#[test]
fn every_forbidden_ipv4_range_is_refused_with_its_kind_and_its_neighbours_are_not() {
    for (addr, expected) in V4_REFUSED {
        assert_eq!(kind(addr), Some(*expected), "{addr}");
    }
    for addr in V4_PUBLIC {
        assert_eq!(kind(addr), None, "{addr}");
    }
}

#[test]
fn ipv4_inside_ipv6_is_judged_by_its_ipv4_address() {
    for (addr, expected) in V4_REFUSED {
        for prefix in ["::ffff:", "64:ff9b::"] {
            let v6 = format!("{prefix}{addr}");
            assert_eq!(kind(&v6), Some(*expected), "{v6}");
        }
        // 6to4: 2002:AABB:CCDD::/48 carries the IPv4 address AA.BB.CC.DD.
        let o: Ipv4Addr = addr.parse().unwrap();
        let [a, b, c, d] = o.octets();
        let six_to_four = format!("2002:{a:02x}{b:02x}:{c:02x}{d:02x}::1");
        assert_eq!(kind(&six_to_four), Some(*expected), "{six_to_four}");
    }
    for addr in V4_PUBLIC {
        assert_eq!(kind(&format!("::ffff:{addr}")), None, "::ffff:{addr}");
        assert_eq!(kind(&format!("64:ff9b::{addr}")), None, "64:ff9b::{addr}");
    }
}

#[test]
fn every_forbidden_ipv6_range_is_refused_with_its_kind_and_global_unicast_is_not() {
    let refused = [
        ("::", Unspecified),
        ("::1", Loopback),
        ("fe80::1", LinkLocal),
        ("febf:ffff::1", LinkLocal),
        ("fc00::1", UniqueLocal),
        ("fdff:ffff::1", UniqueLocal),
        ("fd00:ec2::254", CloudMetadata),
        ("ff02::1", Multicast),
        ("ff0e::1", Multicast),
        ("2001:db8::1", Documentation),
        ("2001:db8:ffff::1", Documentation),
        ("3fff::1", Documentation),
        ("3fff:fff::1", Documentation),
        ("2001::1", Reserved),
        ("2001:2::1", Reserved),
        ("2001:1ff::1", Reserved),
        ("::7f00:1", Reserved),
        ("::ffff:0:7f00:1", Reserved),
        ("64:ff9b:1::1", Reserved),
        ("100::1", Reserved),
        ("fec0::1", Reserved),
        ("4000::1", Reserved),
        ("1fff::1", Reserved),
    ];
    for (addr, expected) in refused {
        assert_eq!(kind(addr), Some(expected), "{addr}");
    }
    for addr in [
        "2a00:1450:4001:80b::200a",
        "2606:4700:4700::1111",
        "2001:200::1",
        "2001:db9::1",
        "3ffe::1",
        "3fff:1000::1",
        "2003::1",
    ] {
        assert_eq!(kind(addr), None, "{addr}");
    }
}

#[test]
fn host_patterns_match_whole_labels_and_refuse_what_is_not_a_host_name() {
    let exact = HostPattern::parse("FCM.googleapis.com.").unwrap();
    assert!(exact.matches("fcm.googleapis.com"));
    assert!(!exact.matches("x.fcm.googleapis.com"));
    assert!(!exact.matches("evilfcm.googleapis.com"));
    let under = HostPattern::parse("*.push.apple.com").unwrap();
    assert_eq!(under.to_string(), "*.push.apple.com");
    assert!(under.matches("api.push.apple.com"));
    assert!(under.matches("a.b.push.apple.com"));
    assert!(!under.matches("push.apple.com"));
    assert!(!under.matches("evilpush.apple.com"));
    assert!(!under.matches("push.apple.com.evil.org"));
    for bad in [
        "",
        "*",
        "*.",
        "com",
        "*.com",
        "a..b",
        "-a.org",
        "a b.org",
        "https://fcm.googleapis.com",
        "10.0.0.1",
        "[::1]",
        "fcm.googleapis.com/path",
    ] {
        assert!(HostPattern::parse(bad).is_err(), "{bad:?}");
    }
}

fn policy(allow_loopback: bool, allowed: &[&str], hosts: &HostsTable) -> PushPolicy {
    let allowed = allowed
        .iter()
        .map(|p| HostPattern::parse(p).unwrap())
        .collect();
    PushPolicy::new(allow_loopback, allowed, Arc::new(hosts.clone()))
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

#[tokio::test]
async fn registration_refuses_forbidden_hosts_literal_or_resolved() {
    let hosts = HostsTable::default();
    hosts.set("push.example.org", &[ip("93.184.215.14")]);
    hosts.set("dual.example.org", &[ip("93.184.215.14"), ip("10.1.2.3")]);
    hosts.set("meta.example.org", &[ip("::ffff:169.254.169.254")]);
    hosts.set("nothing.example.org", &[]);
    let strict = policy(false, &[], &hosts);
    assert_eq!(
        strict.check_endpoint("https://push.example.org/up/1").await,
        Ok(())
    );
    assert_eq!(
        strict.check_endpoint("https://93.184.215.14/up").await,
        Ok(())
    );
    // The refusal names the host as written and the address that is forbidden.
    let forbidden = |host: &str, addr: &str, kind| {
        Err(PushRefusal::Forbidden {
            host: host.into(),
            addr: ip(addr),
            kind,
        })
    };
    for (url, refusal) in [
        ("http://push.example.org/up", Err(PushRefusal::NotHttps)),
        ("http://127.0.0.1:9000/up", Err(PushRefusal::NotHttps)),
        (
            "https://127.0.0.1:9000/up",
            forbidden("127.0.0.1", "127.0.0.1", Loopback),
        ),
        ("https://[::1]/up", forbidden("::1", "::1", Loopback)),
        (
            "https://10.0.0.8/up",
            forbidden("10.0.0.8", "10.0.0.8", Private),
        ),
        (
            "https://169.254.169.254/latest/meta-data/",
            forbidden("169.254.169.254", "169.254.169.254", CloudMetadata),
        ),
        (
            "https://[fd00:ec2::254]/",
            forbidden("fd00:ec2::254", "fd00:ec2::254", CloudMetadata),
        ),
        (
            "https://[::ffff:192.168.1.1]/",
            forbidden("::ffff:192.168.1.1", "::ffff:192.168.1.1", Private),
        ),
        (
            "https://dual.example.org/up",
            forbidden("dual.example.org", "10.1.2.3", Private),
        ),
        (
            "https://meta.example.org/up",
            forbidden("meta.example.org", "::ffff:169.254.169.254", CloudMetadata),
        ),
        (
            "https://nothing.example.org/up",
            Err(PushRefusal::Unresolved("nothing.example.org".into())),
        ),
    ] {
        assert_eq!(strict.check_endpoint(url).await, refusal, "{url}");
    }
    // What the device and the outbox are told: the host and the address, never the path.
    let text = |r: Result<(), PushRefusal>| r.unwrap_err().to_string();
    assert_eq!(
        text(strict.check_endpoint("https://10.0.0.8/secret").await),
        "10.0.0.8 is a private address"
    );
    assert_eq!(
        text(
            strict
                .check_endpoint("https://dual.example.org/secret")
                .await
        ),
        "dual.example.org is 10.1.2.3, a private address"
    );
    // A real name the system resolves to loopback (127.0.0.1 or ::1, whichever comes first).
    assert!(matches!(
        strict.check_endpoint("https://localhost:9000/up").await,
        Err(PushRefusal::Forbidden { kind: Loopback, .. })
    ));
}

#[tokio::test]
async fn the_loopback_test_mode_allows_loopback_only() {
    let hosts = HostsTable::default();
    hosts.set("lan.example.org", &[ip("192.168.0.10")]);
    let test_mode = policy(true, &[], &hosts);
    assert!(test_mode.allows_loopback());
    for url in [
        "http://127.0.0.1:9000/up",
        "http://[::1]:9000/up",
        "http://localhost:9000/up",
        "https://127.0.0.1/up",
    ] {
        assert_eq!(test_mode.check_endpoint(url).await, Ok(()), "{url}");
    }
    assert!(matches!(
        test_mode.check_endpoint("https://lan.example.org/up").await,
        Err(PushRefusal::Forbidden { kind: Private, .. })
    ));
    assert!(matches!(
        test_mode.check_endpoint("https://169.254.169.254/").await,
        Err(PushRefusal::Forbidden {
            kind: CloudMetadata,
            ..
        })
    ));
    assert_eq!(
        test_mode.check_endpoint("http://93.184.215.14/up").await,
        Err(PushRefusal::NotHttps)
    );
}

#[tokio::test]
async fn with_an_allow_list_only_the_listed_push_services_are_allowed() {
    let hosts = HostsTable::default();
    for name in [
        "fcm.googleapis.com",
        "api.push.apple.com",
        "push.example.org",
    ] {
        hosts.set(name, &[ip("93.184.215.14")]);
    }
    hosts.set("evil.push.apple.com", &[ip("10.0.0.1")]);
    let listed = policy(false, &["fcm.googleapis.com", "*.push.apple.com"], &hosts);
    assert_eq!(
        listed
            .check_endpoint("https://fcm.googleapis.com/fcm/send/x")
            .await,
        Ok(())
    );
    assert_eq!(
        listed
            .check_endpoint("https://API.push.apple.com/3/device/x")
            .await,
        Ok(())
    );
    assert_eq!(
        listed.check_endpoint("https://push.example.org/up").await,
        Err(PushRefusal::NotAllowed("push.example.org".into()))
    );
    assert_eq!(
        listed.check_endpoint("https://93.184.215.14/up").await,
        Err(PushRefusal::NotAllowed("93.184.215.14".into()))
    );
    // Listed, and still not allowed into the private network.
    assert!(matches!(
        listed.check_endpoint("https://evil.push.apple.com/").await,
        Err(PushRefusal::Forbidden { kind: Private, .. })
    ));
}

/// A loopback listener that counts the connections it accepts.
async fn counting_listener() -> (u16, Arc<std::sync::atomic::AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = count.clone();
    tokio::spawn(async move {
        while let Ok((_stream, _)) = listener.accept().await {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    (port, count)
}

#[tokio::test]
async fn a_name_checked_public_that_resolves_to_loopback_at_send_time_is_never_connected() {
    let (port, connections) = counting_listener().await;
    let hosts = HostsTable::default();
    hosts.set("push.example.org", &[ip("93.184.215.14")]);
    let strict = policy(false, &[], &hosts);
    let url = format!("https://push.example.org:{port}/up/1");
    assert_eq!(strict.check_endpoint(&url).await, Ok(()));
    // DNS changes after the check: the send resolves once, through the guard.
    hosts.set("push.example.org", &[ip("127.0.0.1")]);
    let error = strict
        .post(&url)
        .unwrap()
        .timeout(std::time::Duration::from_secs(5))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        PushPolicy::refusal_in(&error),
        Some(PushRefusal::Forbidden {
            host: "push.example.org".into(),
            addr: ip("127.0.0.1"),
            kind: Loopback
        })
    );
    // A literal loopback address is refused before any request is made.
    assert!(matches!(
        strict.post(&format!("https://127.0.0.1:{port}/up")),
        Err(PushRefusal::Forbidden { kind: Loopback, .. })
    ));
    // The same client in the test mode does connect there: the listener would have seen it.
    let test_mode = policy(true, &[], &hosts);
    let _ = test_mode
        .post(&format!("http://127.0.0.1:{port}/up"))
        .unwrap()
        .timeout(std::time::Duration::from_millis(300))
        .send()
        .await;
    assert_eq!(connections.load(std::sync::atomic::Ordering::SeqCst), 1);
}
