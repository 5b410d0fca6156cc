//! The client's address behind reverse proxies: the `Forwarded` (RFC 7239) and `X-Forwarded-For`
//! headers, believed only when the TCP peer is a trusted proxy, and the name a rate limit counts
//! a client under (an IPv4 address, or the /64 of an IPv6 one).
//!
//! The chain a header names is walked from the right — the hop nearest to the server first —
//! past every trusted proxy; the first address that is not trusted is the client. What a client
//! writes into these headers itself ends up to the left of what its proxy appends, so it is never
//! reached. A header that cannot be read as a whole counts as not given: the request is counted
//! under the peer's address, never refused.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::Error;

/// The most header text (all `Forwarded` or all `X-Forwarded-For` lines together) that is read;
/// longer chains count as unreadable, so a request cannot make the server walk megabytes.
pub const MAX_HEADER_LEN: usize = crate::MAX_INPUT_LEN;

/// A block of addresses: `ADDRESS/PREFIX`, or one address (`/32`, `/128`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

fn invalid(reason: &'static str) -> Error {
    Error::Invalid {
        what: "proxy address block",
        reason,
    }
}

impl Cidr {
    /// Reads `10.0.0.0/8`, `2001:db8::/32`, `127.0.0.1` or `::1`. Refuses bits set beyond the
    /// prefix (`10.0.0.1/8`: which was meant?) and IPv4-mapped IPv6 (write IPv4 as IPv4).
    pub fn parse(text: &str) -> Result<Cidr, Error> {
        crate::check_len(text)?;
        let text = text.trim();
        if text.is_empty() {
            return Err(Error::Empty);
        }
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let network: IpAddr = address.parse().map_err(|_| {
            invalid("not an IPv4 or IPv6 address (write ADDRESS or ADDRESS/PREFIX)")
        })?;
        if let IpAddr::V6(v6) = network {
            if v6.to_ipv4_mapped().is_some() {
                return Err(invalid(
                    "an IPv4-mapped IPv6 address; write the IPv4 address (it matches both forms)",
                ));
            }
        }
        let bits = bits_of(network);
        let prefix = match prefix {
            None => bits,
            Some(p) if !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()) => {
                p.parse::<u8>().ok().filter(|p| *p <= bits).ok_or_else(|| {
                    invalid("the prefix is longer than the address (IPv4: at most /32, IPv6: /128)")
                })?
            }
            Some(_) => return Err(invalid("the prefix after / is not a number of bits")),
        };
        if masked(network, prefix) != network {
            return Err(invalid(
                "bits are set beyond the prefix; write the block's first address (10.0.0.0/8, not 10.0.0.1/8)",
            ));
        }
        Ok(Cidr { network, prefix })
    }

    /// Whether `address` is in this block (an IPv4-mapped IPv6 address as its IPv4 address).
    pub fn contains(&self, address: IpAddr) -> bool {
        self.contains_exactly(address.to_canonical())
    }

    fn contains_exactly(&self, address: IpAddr) -> bool {
        match (self.network, address) {
            (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)) => {
                masked(address, self.prefix) == self.network
            }
            _ => false,
        }
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl std::str::FromStr for Cidr {
    type Err = Error;

    fn from_str(text: &str) -> Result<Cidr, Error> {
        Cidr::parse(text)
    }
}

/// Read from configuration files as a string, refused with [`Cidr::parse`]'s reason.
impl<'de> serde::Deserialize<'de> for Cidr {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Cidr, D::Error> {
        let text = String::deserialize(deserializer)?;
        Cidr::parse(&text).map_err(|e| serde::de::Error::custom(format!("{text:?}: {e}")))
    }
}

fn bits_of(address: IpAddr) -> u8 {
    match address {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

/// `address` with every bit beyond the first `prefix` cleared.
fn masked(address: IpAddr, prefix: u8) -> IpAddr {
    match address {
        IpAddr::V4(v4) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(u32::from(v4) & mask))
        }
        IpAddr::V6(v6) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask))
        }
    }
}

/// The proxies whose forwarding headers are believed. Empty (the default): none are, and every
/// request counts under its TCP peer's address.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<Cidr>);

impl TrustedProxies {
    /// Trusts the proxies in `blocks`.
    pub fn new(blocks: Vec<Cidr>) -> TrustedProxies {
        TrustedProxies(blocks)
    }

    /// Whether `address` is a trusted proxy.
    pub fn contains(&self, address: IpAddr) -> bool {
        self.0.iter().any(|block| block.contains(address))
    }

    /// The trusted blocks.
    pub fn blocks(&self) -> &[Cidr] {
        &self.0
    }
}

/// One hop a forwarding header names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hop {
    /// An address.
    Address(IpAddr),
    /// `unknown`, an obfuscated identifier (`_hidden`) or, in `Forwarded`, an element without
    /// `for=`: the proxy did not say who sent it the request.
    Unknown,
}

/// The client's address: the TCP `peer`, or — only when the peer is a trusted proxy — the first
/// untrusted hop from the right of the `Forwarded` header lines or else the `X-Forwarded-For`
/// lines (each line's raw bytes, in the order received). An `unknown` or obfuscated hop stops the
/// walk at the last address known. Unreadable headers, or both headers naming different clients
/// (a proxy that sets one passes the other on from the client as it came), give the peer.
pub fn client_address(
    peer: IpAddr,
    trusted: &TrustedProxies,
    forwarded: &[&[u8]],
    x_forwarded_for: &[&[u8]],
) -> IpAddr {
    let peer = peer.to_canonical();
    if !trusted.contains(peer) {
        return peer;
    }
    let from_forwarded = (!forwarded.is_empty()).then(|| {
        let hops = forwarded_hops(&joined(forwarded)?)?;
        walk(peer, trusted, hops.into_iter().rev().map(Ok))
    });
    let from_x_forwarded_for = (!x_forwarded_for.is_empty()).then(|| {
        let text = joined(x_forwarded_for)?;
        walk(peer, trusted, x_forwarded_for_hops(&text))
    });
    match (from_forwarded, from_x_forwarded_for) {
        (Some(Ok(a)), None) | (None, Some(Ok(a))) => a,
        (Some(Ok(a)), Some(Ok(b))) if a == b => a,
        _ => peer,
    }
}

/// The name a rate limit counts `address` under: an IPv4 address as it is (also when written
/// IPv4-mapped), an IPv6 address by its /64 — one customer's network gets a /64 or more, so
/// counting single IPv6 addresses would give every client 2⁶⁴ buckets.
pub fn rate_limit_key(address: IpAddr) -> String {
    match address.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        v6 @ IpAddr::V6(_) => format!("{}/64", masked(v6, 64)),
    }
}

/// Header lines joined as one list (`a, b` and two lines `a` and `b` mean the same).
fn joined(lines: &[&[u8]]) -> Result<String, Error> {
    let len = lines.iter().map(|l| l.len() + 1).sum::<usize>();
    if len > MAX_HEADER_LEN + 1 {
        return Err(Error::TooLong {
            len,
            max: MAX_HEADER_LEN,
        });
    }
    let mut text = String::with_capacity(len);
    for line in lines {
        let line = std::str::from_utf8(line).map_err(|_| Error::Malformed("not text"))?;
        if !text.is_empty() {
            text.push(',');
        }
        text.push_str(line);
    }
    Ok(text)
}

/// Walks hops nearest-first past trusted proxies; see [`client_address`].
fn walk(
    peer: IpAddr,
    trusted: &TrustedProxies,
    hops: impl Iterator<Item = Result<Hop, Error>>,
) -> Result<IpAddr, Error> {
    let mut last = peer;
    for hop in hops {
        match hop? {
            Hop::Address(address) => {
                let address = address.to_canonical();
                if !trusted.contains(address) {
                    return Ok(address);
                }
                last = address;
            }
            Hop::Unknown => return Ok(last),
        }
    }
    Ok(last)
}

/// The hops of an `X-Forwarded-For` list, nearest first, read lazily: what lies beyond the
/// client (where a client's own forgeries are) is never read. Each item is an address, with or
/// without a port (`198.51.100.7:4711`, `[2001:db8::7]:4711`, `2001:db8::7`), or `unknown`;
/// empty items are skipped.
pub fn x_forwarded_for_hops(text: &str) -> impl Iterator<Item = Result<Hop, Error>> + '_ {
    text.rsplit(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| {
            if item.eq_ignore_ascii_case("unknown") {
                return Ok(Hop::Unknown);
            }
            if let Ok(address) = item.parse::<IpAddr>() {
                return Ok(Hop::Address(address));
            }
            if let Ok(socket) = item.parse::<std::net::SocketAddr>() {
                return Ok(Hop::Address(socket.ip()));
            }
            item.strip_prefix('[')
                .and_then(|rest| rest.strip_suffix(']'))
                .and_then(|inner| inner.parse::<Ipv6Addr>().ok())
                .map(|v6| Hop::Address(IpAddr::V6(v6)))
                .ok_or(Error::Malformed(
                    "an X-Forwarded-For item is not an address",
                ))
        })
}

/// The hops of a `Forwarded` header (RFC 7239), in header order (farthest first): per element
/// its `for=` node. Parameter names are case-insensitive; values are tokens or quoted strings;
/// whitespace is allowed around `,` and `;`; empty elements and pairs are skipped. A repeated
/// `for` in one element, a node that is neither an IPv4 address, a bracketed IPv6 address,
/// `unknown` nor an obfuscated identifier (each with an optional port), or any other syntax
/// error makes the whole header unreadable.
pub fn forwarded_hops(text: &str) -> Result<Vec<Hop>, Error> {
    let mut p = Parser {
        bytes: text.as_bytes(),
        at: 0,
    };
    let mut hops = Vec::new();
    let mut element_for: Option<Hop> = None;
    let mut element_has_pairs = false;
    loop {
        p.skip_whitespace();
        match p.peek() {
            None | Some(b',') => {
                if element_has_pairs {
                    hops.push(element_for.take().unwrap_or(Hop::Unknown));
                }
                element_has_pairs = false;
                if p.peek().is_none() {
                    return Ok(hops);
                }
                p.at += 1;
                continue;
            }
            Some(b';') => {
                p.at += 1;
                continue;
            }
            Some(_) => {}
        }
        let name = p
            .token()
            .ok_or(Error::Malformed("a Forwarded parameter has no name"))?;
        if p.peek() != Some(b'=') {
            return Err(Error::Malformed("a Forwarded parameter has no '='"));
        }
        p.at += 1;
        let value = match p.peek() {
            Some(b'"') => p.quoted()?,
            _ => p
                .token()
                .ok_or(Error::Malformed("a Forwarded parameter has no value"))?
                .to_string(),
        };
        element_has_pairs = true;
        if name.eq_ignore_ascii_case("for") {
            if element_for.is_some() {
                return Err(Error::Malformed(
                    "for= occurs twice in one Forwarded element",
                ));
            }
            element_for = Some(forwarded_node(&value)?);
        }
        p.skip_whitespace();
        if !matches!(p.peek(), None | Some(b',' | b';')) {
            return Err(Error::Malformed(
                "a Forwarded parameter is followed by text",
            ));
        }
    }
}

/// A `node` of RFC 7239 section 6: `nodename [ ":" node-port ]`.
fn forwarded_node(node: &str) -> Result<Hop, Error> {
    let bad = || Error::Malformed("a Forwarded node is not an address, unknown or obfuscated");
    let (name, port) = if let Some(rest) = node.strip_prefix('[') {
        let (inside, after) = rest.split_once(']').ok_or_else(bad)?;
        let port = match after {
            "" => None,
            _ => Some(after.strip_prefix(':').ok_or_else(bad)?),
        };
        let v6 = inside.parse::<Ipv6Addr>().map_err(|_| bad())?;
        (Hop::Address(IpAddr::V6(v6)), port)
    } else {
        let (name, port) = match node.split_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (node, None),
        };
        let hop = if name.eq_ignore_ascii_case("unknown") || is_obfuscated(name) {
            Hop::Unknown
        } else {
            Hop::Address(IpAddr::V4(name.parse::<Ipv4Addr>().map_err(|_| bad())?))
        };
        (hop, port)
    };
    match port {
        None => Ok(name),
        Some(p) if (1..=5).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()) => Ok(name),
        Some(p) if is_obfuscated(p) => Ok(name),
        Some(_) => Err(bad()),
    }
}

/// `"_" 1*( ALPHA / DIGIT / "." / "_" / "-")`.
fn is_obfuscated(text: &str) -> bool {
    text.strip_prefix('_').is_some_and(|rest| {
        !rest.is_empty()
            && rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    })
}

struct Parser<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.at += 1;
        }
    }

    /// A `token` (RFC 9110 `tchar`s), or `None` when there is none here.
    fn token(&mut self) -> Option<&'a str> {
        let start = self.at;
        while self
            .peek()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
        {
            self.at += 1;
        }
        (self.at > start)
            .then(|| std::str::from_utf8(&self.bytes[start..self.at]).ok())
            .flatten()
    }

    /// A `quoted-string` starting here, unescaped.
    fn quoted(&mut self) -> Result<String, Error> {
        self.at += 1;
        let mut value = Vec::new();
        loop {
            match self.peek() {
                None => return Err(Error::Malformed("a Forwarded quoted value is not closed")),
                Some(b'"') => {
                    self.at += 1;
                    return String::from_utf8(value)
                        .map_err(|_| Error::Malformed("a Forwarded value is not text"));
                }
                Some(b'\\') => {
                    let escaped = self
                        .bytes
                        .get(self.at + 1)
                        .copied()
                        .filter(|b| *b == b'\t' || (b' '..=b'~').contains(b))
                        .ok_or(Error::Malformed("a Forwarded value ends in a bad escape"))?;
                    value.push(escaped);
                    self.at += 2;
                }
                Some(b) if b == b'\t' || (b' '..=b'~').contains(&b) => {
                    value.push(b);
                    self.at += 1;
                }
                Some(_) => return Err(Error::Malformed("a Forwarded value has a control byte")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEER: &str = "10.0.0.2";

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn trusting(blocks: &[&str]) -> TrustedProxies {
        TrustedProxies::new(blocks.iter().map(|b| Cidr::parse(b).unwrap()).collect())
    }

    /// The client the proxy `10.0.0.2` (trusted with `10.0.0.0/24`) forwards.
    fn client(forwarded: &[&str], x_forwarded_for: &[&str]) -> String {
        let f: Vec<&[u8]> = forwarded.iter().map(|l| l.as_bytes()).collect();
        let x: Vec<&[u8]> = x_forwarded_for.iter().map(|l| l.as_bytes()).collect();
        client_address(ip(PEER), &trusting(&["10.0.0.0/24"]), &f, &x).to_string()
    }

    #[test]
    fn address_blocks_are_read_or_refused_with_the_reason() {
        for (text, shown) in [
            ("10.0.0.0/8", "10.0.0.0/8"),
            (" 127.0.0.1 ", "127.0.0.1/32"),
            ("::1", "::1/128"),
            ("2001:db8::/32", "2001:db8::/32"),
            ("0.0.0.0/0", "0.0.0.0/0"),
            ("::/0", "::/0"),
        ] {
            assert_eq!(Cidr::parse(text).unwrap().to_string(), shown);
        }
        for (text, says) in [
            ("", "empty"),
            ("10.0.0.1/8", "first address"),
            ("10.0.0.0/33", "longer than the address"),
            ("::/129", "longer than the address"),
            ("10.0.0.0/", "not a number"),
            ("10.0.0.0/+8", "not a number"),
            ("10.0.0.0/0008", "not a number"),
            ("localhost", "not an IPv4 or IPv6 address"),
            ("010.0.0.0/8", "not an IPv4 or IPv6 address"),
            ("::ffff:10.0.0.0/104", "IPv4-mapped"),
        ] {
            let err = Cidr::parse(text).unwrap_err().to_string();
            assert!(err.contains(says), "{text:?}: {err}");
        }
    }

    #[test]
    fn blocks_contain_their_addresses_and_ipv4_mapped_ones() {
        let block = Cidr::parse("192.168.0.0/16").unwrap();
        assert!(block.contains(ip("192.168.255.1")));
        assert!(block.contains(ip("::ffff:192.168.1.1")));
        assert!(!block.contains(ip("192.169.0.1")));
        assert!(!block.contains(ip("::1")));
        let v6 = Cidr::parse("2001:db8::/32").unwrap();
        assert!(v6.contains(ip("2001:db8:ffff::1")));
        assert!(!v6.contains(ip("2001:db9::1")));
        assert!(!v6.contains(ip("192.168.1.1")));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_writes() {
        let forwarded: &[&[u8]] = &[b"for=198.51.100.1"];
        let x: &[&[u8]] = &[b"198.51.100.2"];
        let nobody = TrustedProxies::default();
        assert_eq!(client_address(ip(PEER), &nobody, forwarded, x), ip(PEER));
        let others = trusting(&["10.1.0.0/16"]);
        assert_eq!(client_address(ip(PEER), &others, forwarded, x), ip(PEER));
        assert_eq!(
            client_address(ip("::ffff:10.0.0.2"), &nobody, &[], &[]),
            ip(PEER),
            "an IPv4-mapped peer is its IPv4 address"
        );
    }

    #[test]
    fn the_chain_is_walked_from_the_right_past_trusted_proxies() {
        assert_eq!(client(&[], &[]), PEER, "no header: the peer");
        assert_eq!(client(&[], &["198.51.100.7"]), "198.51.100.7");
        assert_eq!(client(&[], &["6.6.6.6, 198.51.100.7"]), "198.51.100.7");
        assert_eq!(
            client(&[], &["6.6.6.6", "198.51.100.7, 10.0.0.9"]),
            "198.51.100.7"
        );
        assert_eq!(client(&[], &["garbage, 198.51.100.7"]), "198.51.100.7");
        assert_eq!(client(&[], &["198.51.100.7:4711"]), "198.51.100.7");
        assert_eq!(client(&[], &["[2001:db8::7]:4711"]), "2001:db8::7");
        assert_eq!(client(&[], &["[2001:db8::7]"]), "2001:db8::7");
        assert_eq!(client(&[], &["2001:db8::7, "]), "2001:db8::7");
        assert_eq!(client(&[], &["::ffff:198.51.100.7"]), "198.51.100.7");
        assert_eq!(
            client(&[], &["10.0.0.5, 10.0.0.9"]),
            "10.0.0.5",
            "all trusted"
        );
        assert_eq!(
            client(
                &["for=6.6.6.6, for=198.51.100.7;proto=https;by=10.0.0.2"],
                &[]
            ),
            "198.51.100.7"
        );
        assert_eq!(
            client(&["For=\"[2001:db8:cafe::17]:4711\", for=10.0.0.3"], &[]),
            "2001:db8:cafe::17"
        );
        assert_eq!(client(&["for=\"198.51.100.7:80\""], &[]), "198.51.100.7");
        assert_eq!(
            client(&["for=198.51.100.7", "for=10.0.0.4"], &[]),
            "198.51.100.7"
        );
        assert_eq!(client(&[" , for=198.51.100.7 ;; , "], &[]), "198.51.100.7");
    }

    #[test]
    fn unknown_and_obfuscated_hops_stop_at_the_last_known_address() {
        assert_eq!(client(&["for=unknown"], &[]), PEER);
        assert_eq!(
            client(&["for=198.51.100.7, for=_hidden, for=10.0.0.3"], &[]),
            "10.0.0.3"
        );
        assert_eq!(client(&["for=\"_gazonk:_port\""], &[]), PEER);
        assert_eq!(client(&["for=UNKNOWN:8080"], &[]), PEER);
        assert_eq!(
            client(&["proto=https"], &[]),
            PEER,
            "an element without for="
        );
        assert_eq!(client(&[], &["198.51.100.7, unknown"]), PEER);
    }

    #[test]
    fn unreadable_or_disagreeing_headers_give_the_peer() {
        for forwarded in [
            "for=2001:db8::1",
            "for=\"[2001:db8::1\"",
            "for=\"unterminated",
            "for=198.51.100.7;for=198.51.100.8",
            "for=198.51.100.7 junk",
            "for=198.51.100.7:123456",
            "for=_",
            "for=\"[::1]x\"",
            "=198.51.100.7",
            "for",
            "for=",
            "for=\"a\\\u{1}\"",
            "for=\"\u{7f}\"",
        ] {
            assert_eq!(client(&[forwarded], &[]), PEER, "{forwarded:?}");
        }
        for x in ["198.51.100.7, garbage", "198.51.100.7:x", "[198.51.100.7]"] {
            assert_eq!(client(&[], &[x]), PEER, "{x:?}");
        }
        let long = format!("{}198.51.100.7", "1.1.1.1,".repeat(600));
        assert_eq!(client(&[], &[&long]), PEER, "over 4 KiB");
        let bytes: &[&[u8]] = &[b"\xff198.51.100.7"];
        assert_eq!(
            client_address(ip(PEER), &trusting(&["10.0.0.0/24"]), &[], bytes),
            ip(PEER)
        );
        assert_eq!(
            client(&["for=198.51.100.8"], &["198.51.100.7"]),
            PEER,
            "a forged header of the kind the proxy does not set"
        );
        assert_eq!(
            client(&["for=198.51.100.7"], &["198.51.100.7"]),
            "198.51.100.7",
            "both agree"
        );
    }

    #[test]
    fn ipv6_clients_are_counted_per_64_and_mapped_ipv4_as_ipv4() {
        assert_eq!(rate_limit_key(ip("198.51.100.7")), "198.51.100.7");
        assert_eq!(rate_limit_key(ip("::ffff:198.51.100.7")), "198.51.100.7");
        assert_eq!(
            rate_limit_key(ip("2001:db8:1:2:aaaa:bbbb:cccc:dddd")),
            "2001:db8:1:2::/64"
        );
        assert_eq!(
            rate_limit_key(ip("2001:db8:1:2::1")),
            rate_limit_key(ip("2001:db8:1:2:ffff::1"))
        );
        assert_ne!(
            rate_limit_key(ip("2001:db8:1:2::1")),
            rate_limit_key(ip("2001:db8:1:3::1"))
        );
        assert_eq!(rate_limit_key(ip("::1")), "::/64");
    }
}
