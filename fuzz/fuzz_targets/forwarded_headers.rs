//! The reverse-proxy headers the server reads when its peer is a trusted proxy: `Forwarded`
//! (RFC 7239) and `X-Forwarded-For`, and the `--trusted-proxy` blocks.
#![no_main]
use std::net::IpAddr;

use civkey_proto::forwarded::{client_address, rate_limit_key, Cidr, TrustedProxies};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Lines: a CIDR block, then Forwarded lines up to an empty line, then X-Forwarded-For lines.
    let mut lines = data.split(|b| *b == b'\n');
    let block = lines.next().unwrap_or_default();
    let mut forwarded = Vec::new();
    for line in lines.by_ref() {
        if line.is_empty() {
            break;
        }
        forwarded.push(line);
    }
    let x_forwarded_for: Vec<&[u8]> = lines.collect();

    if let Some(Ok(cidr)) = std::str::from_utf8(block).ok().map(Cidr::parse) {
        // Its own spelling reads back to the same block.
        assert_eq!(Cidr::parse(&cidr.to_string()).ok(), Some(cidr));
    }

    let peer: IpAddr = [10, 0, 0, 1].into();
    let outsider: IpAddr = [192, 0, 2, 1].into();
    let proxies = trusting(&["10.0.0.0/8", "2001:db8::/32"]);
    let client = client_address(peer, &proxies, &forwarded, &x_forwarded_for);
    let key = rate_limit_key(client);
    assert!(client.is_ipv4() || key.ends_with("/64"));
    // An untrusted peer is the client, whatever its headers say.
    assert_eq!(
        client_address(outsider, &proxies, &forwarded, &x_forwarded_for),
        outsider
    );
    // Trusting everybody walks the whole chain; it still never panics.
    let _ = client_address(
        peer,
        &trusting(&["0.0.0.0/0", "::/0"]),
        &forwarded,
        &x_forwarded_for,
    );
});

fn trusting(blocks: &[&str]) -> TrustedProxies {
    TrustedProxies::new(blocks.iter().filter_map(|b| Cidr::parse(b).ok()).collect())
}
