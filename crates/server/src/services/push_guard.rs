//! Push endpoints are addresses a device names, and the server POSTs to them: without a guard a
//! paired device could make the server reach its own loopback services, the operator's private
//! network or a cloud metadata service (server-side request forgery).
//!
//! [`PushPolicy`] is that guard, used at registration and at every send (DNS can change):
//! - `https` only (plain `http` to loopback only in the loopback test mode that test servers and
//!   `civkey-server demo` run in);
//! - optionally only the operator's push services (`fcm.googleapis.com`, `*.push.apple.com`);
//! - the name resolved once, and refused if any of its addresses is loopback, private, link-local,
//!   unique-local, shared (CGNAT), unspecified, broadcast, multicast, documentation, reserved or a
//!   cloud metadata address ([`classify`], both families, IPv4 inside IPv6 by its IPv4 address);
//! - the connection goes to exactly the addresses that were checked: the only HTTP client that
//!   sends pushes resolves through this guard ([`reqwest::dns::Resolve`]; hyper connects to what
//!   the resolver returned, with no second lookup), IP-literal hosts (which skip the resolver) are
//!   checked before the request is made, no proxy is used (a proxy would resolve the name itself)
//!   and redirects are not followed.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};

/// What kind of address a push may not go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressKind {
    /// 127.0.0.0/8, ::1.
    Loopback,
    /// 10/8, 172.16/12, 192.168/16 (RFC 1918).
    Private,
    /// 169.254/16, fe80::/10.
    LinkLocal,
    /// fc00::/7.
    UniqueLocal,
    /// 100.64/10, the carrier-grade NAT range (RFC 6598).
    Shared,
    /// 0.0.0.0/8, ::.
    Unspecified,
    /// 255.255.255.255.
    Broadcast,
    /// 224/4, ff00::/8.
    Multicast,
    /// 192.0.2/24, 198.51.100/24, 203.0.113/24, 2001:db8::/32, 3fff::/20.
    Documentation,
    /// Special-purpose and unallocated ranges (240/4, 198.18/15, 192.0.0/24, 2001::/23, outside
    /// 2000::/3, …).
    Reserved,
    /// 169.254.169.254, fd00:ec2::254, 100.100.100.200.
    CloudMetadata,
}

impl std::fmt::Display for AddressKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AddressKind::Loopback => "loopback",
            AddressKind::Private => "private",
            AddressKind::LinkLocal => "link-local",
            AddressKind::UniqueLocal => "unique-local",
            AddressKind::Shared => "shared (carrier-grade NAT)",
            AddressKind::Unspecified => "unspecified",
            AddressKind::Broadcast => "broadcast",
            AddressKind::Multicast => "multicast",
            AddressKind::Documentation => "documentation",
            AddressKind::Reserved => "reserved",
            AddressKind::CloudMetadata => "cloud metadata",
        })
    }
}

/// The kind of `ip` if a push may not go there; `None` for a public unicast address.
pub fn classify(ip: IpAddr) -> Option<AddressKind> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<AddressKind> {
    use AddressKind::*;
    let [a, b, c, _] = ip.octets();
    let kind = match (a, b, c) {
        _ if ip == Ipv4Addr::new(169, 254, 169, 254) || ip == Ipv4Addr::new(100, 100, 100, 200) => {
            CloudMetadata
        }
        _ if ip.is_broadcast() => Broadcast,
        (0, _, _) => Unspecified,
        (127, _, _) => Loopback,
        (10, _, _) | (192, 168, _) => Private,
        (172, b, _) if b & 0xf0 == 16 => Private,
        (169, 254, _) => LinkLocal,
        (100, b, _) if b & 0xc0 == 64 => Shared,
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => Documentation,
        (192, 0, 0) | (192, 88, 99) => Reserved,
        (198, b, _) if b & 0xfe == 18 => Reserved,
        (a, _, _) if a & 0xf0 == 224 => Multicast,
        (a, _, _) if a & 0xf0 == 240 => Reserved,
        _ => return None,
    };
    Some(kind)
}

fn classify_v6(ip: Ipv6Addr) -> Option<AddressKind> {
    use AddressKind::*;
    let s = ip.segments();
    // IPv4 inside IPv6 reaches that IPv4 address: mapped (::ffff:0:0/96), NAT64 (64:ff9b::/96)
    // and 6to4 (2002::/16) are judged by it.
    let embedded =
        |hi: u16, lo: u16| classify_v4(Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo)));
    let kind = match s {
        [0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254] => CloudMetadata,
        [0, 0, 0, 0, 0, 0, 0, 0] => Unspecified,
        [0, 0, 0, 0, 0, 0, 0, 1] => Loopback,
        [0, 0, 0, 0, 0, 0xffff, hi, lo] | [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => {
            return embedded(hi, lo)
        }
        [0x2002, hi, lo, ..] => return embedded(hi, lo),
        [0x2001, 0x0db8, ..] => Documentation,
        [0x3fff, b, ..] if b & 0xf000 == 0 => Documentation,
        [a, ..] if a & 0xfe00 == 0xfc00 => UniqueLocal,
        [a, ..] if a & 0xffc0 == 0xfe80 => LinkLocal,
        [a, ..] if a & 0xff00 == 0xff00 => Multicast,
        // 2001::/23: IETF protocol assignments (Teredo, benchmarking, ORCHID, …).
        [0x2001, b, ..] if b & 0xfe00 == 0 => Reserved,
        // Everything else outside global unicast 2000::/3 (IPv4-compatible ::/96, 64:ff9b:1::/48,
        // discard 100::/64, site-local fec0::/10, unallocated space).
        [a, ..] if a & 0xe000 != 0x2000 => Reserved,
        _ => return None,
    };
    Some(kind)
}

/// Why a push endpoint is refused. The text names the host and the address, never the URL's path
/// (a push endpoint's path is a capability).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushRefusal {
    /// Not `https` (and not plain `http` to loopback in the loopback test mode).
    #[error("it must be https")]
    NotHttps,
    /// Not a URL with a host.
    #[error("it is not a URL with a host name")]
    NoHost,
    /// The operator allows only some push services, and this is not one of them.
    #[error("{0} is not one of the push services this server allows")]
    NotAllowed(String),
    /// The name has no address (or the lookup failed).
    #[error("{0} does not resolve to an address")]
    Unresolved(String),
    /// The host is, or resolves to, an address a push may not go to.
    #[error("{}", forbidden_text(host, addr, kind))]
    Forbidden {
        /// The host as written in the endpoint.
        host: String,
        /// The address.
        addr: IpAddr,
        /// Its kind.
        kind: AddressKind,
    },
}

/// `10.0.0.1 is a private address`; `push.example.org is 10.0.0.1, a private address`.
fn forbidden_text(host: &str, addr: &IpAddr, kind: &AddressKind) -> String {
    if *host == addr.to_string() {
        format!("{addr} is a {kind} address")
    } else {
        format!("{host} is {addr}, a {kind} address")
    }
}

/// An entry of the operator's list of push services: a host name (`fcm.googleapis.com`) or every
/// name under a domain (`*.push.apple.com`, which does not match `push.apple.com` itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPattern {
    name: String,
    subdomains: bool,
}

impl HostPattern {
    /// Reads `fcm.googleapis.com` or `*.push.apple.com` (case-insensitive; no IP addresses).
    pub fn parse(text: &str) -> Result<HostPattern, String> {
        let lower = text.trim().trim_end_matches('.').to_ascii_lowercase();
        let (subdomains, name) = match lower.strip_prefix("*.") {
            Some(rest) => (true, rest.to_string()),
            None => (false, lower),
        };
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        };
        let labels: Vec<&str> = name.split('.').collect();
        if name.len() > 253 || labels.len() < 2 || !labels.iter().all(|l| label_ok(l)) {
            return Err(format!(
                "{text:?} is not a host name such as fcm.googleapis.com or *.push.apple.com"
            ));
        }
        if name.parse::<IpAddr>().is_ok() || labels.iter().all(|l| l.parse::<u8>().is_ok()) {
            return Err(format!(
                "{text:?} is an IP address; list push services by name"
            ));
        }
        Ok(HostPattern { name, subdomains })
    }

    /// Whether `host` (lower case, no trailing dot) is this service.
    pub fn matches(&self, host: &str) -> bool {
        if self.subdomains {
            host.strip_suffix(self.name.as_str())
                .is_some_and(|head| head.len() > 1 && head.ends_with('.'))
        } else {
            host == self.name
        }
    }
}

impl std::fmt::Display for HostPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.subdomains {
            f.write_str("*.")?;
        }
        f.write_str(&self.name)
    }
}

/// A future of the addresses of a name.
pub type Lookup = Pin<Box<dyn Future<Output = std::io::Result<Vec<IpAddr>>> + Send>>;

/// How names become addresses: the system's resolver, or a table for tests.
pub trait NameLookup: Send + Sync {
    /// The addresses of `host`.
    fn lookup(&self, host: &str) -> Lookup;
}

/// The system's resolver (getaddrinfo: `/etc/hosts`, then DNS).
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemLookup;

impl NameLookup for SystemLookup {
    fn lookup(&self, host: &str) -> Lookup {
        let host = host.to_string();
        Box::pin(async move {
            let addrs = tokio::net::lookup_host((host.as_str(), 0)).await?;
            Ok(addrs.map(|a| a.ip()).collect())
        })
    }
}

/// A hosts table in front of the system's resolver: names set here resolve to their addresses
/// (and can be changed while the server runs, as DNS changes), other names as the system says.
#[derive(Debug, Default, Clone)]
pub struct HostsTable(Arc<Mutex<HashMap<String, Vec<IpAddr>>>>);

impl HostsTable {
    /// Makes `host` resolve to `addrs` from now on.
    pub fn set(&self, host: &str, addrs: &[IpAddr]) {
        if let Ok(mut table) = self.0.lock() {
            table.insert(host.to_ascii_lowercase(), addrs.to_vec());
        }
    }
}

impl NameLookup for HostsTable {
    fn lookup(&self, host: &str) -> Lookup {
        let listed = self
            .0
            .lock()
            .ok()
            .and_then(|table| table.get(&host.to_ascii_lowercase()).cloned());
        match listed {
            Some(addrs) => Box::pin(std::future::ready(Ok(addrs))),
            None => SystemLookup.lookup(host),
        }
    }
}

/// The rules, shared by the policy and the resolver of its HTTP client.
struct Rules {
    allow_loopback: bool,
    allowed_hosts: Vec<HostPattern>,
    lookup: Arc<dyn NameLookup>,
}

impl Rules {
    fn check_addr(&self, host: &str, addr: IpAddr) -> Result<(), PushRefusal> {
        match classify(addr) {
            None => Ok(()),
            Some(AddressKind::Loopback) if self.allow_loopback => Ok(()),
            Some(kind) => Err(PushRefusal::Forbidden {
                host: host.to_string(),
                addr,
                kind,
            }),
        }
    }

    fn check_name(&self, host: &str) -> Result<(), PushRefusal> {
        if self.allowed_hosts.is_empty() || self.allowed_hosts.iter().any(|p| p.matches(host)) {
            Ok(())
        } else {
            Err(PushRefusal::NotAllowed(host.to_string()))
        }
    }

    /// The one lookup of `host`, every address checked.
    async fn resolve(&self, host: &str) -> Result<Vec<IpAddr>, PushRefusal> {
        self.check_name(host)?;
        let addrs = self
            .lookup
            .lookup(host)
            .await
            .map_err(|_| PushRefusal::Unresolved(host.to_string()))?;
        if addrs.is_empty() {
            return Err(PushRefusal::Unresolved(host.to_string()));
        }
        for addr in &addrs {
            self.check_addr(host, *addr)?;
        }
        Ok(addrs)
    }
}

/// The resolver of the push client: the only way its connections find an address.
struct GuardedResolver(Arc<Rules>);

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let rules = self.0.clone();
        let host = name.as_str().trim_end_matches('.').to_ascii_lowercase();
        Box::pin(async move {
            let addrs = rules.resolve(&host).await?;
            // Port 0: reqwest puts in the URL's port (or the scheme's).
            let addrs: reqwest::dns::Addrs =
                Box::new(addrs.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

/// Where pushes may go, and the HTTP client that sends them only there.
#[derive(Clone)]
pub struct PushPolicy {
    rules: Arc<Rules>,
    http: reqwest::Client,
}

impl Default for PushPolicy {
    /// Production: https to public addresses, any push service, the system's resolver.
    fn default() -> Self {
        PushPolicy::new(false, Vec::new(), Arc::new(SystemLookup))
    }
}

/// The host of a checked endpoint.
enum Host {
    Name(String),
    Ip(IpAddr),
}

impl PushPolicy {
    /// A policy: `allow_loopback` is the test mode (plain `http` and loopback addresses allowed;
    /// every other forbidden range still refused); `allowed_hosts` empty allows any push service;
    /// names resolve through `lookup`.
    pub fn new(
        allow_loopback: bool,
        allowed_hosts: Vec<HostPattern>,
        lookup: Arc<dyn NameLookup>,
    ) -> PushPolicy {
        let rules = Arc::new(Rules {
            allow_loopback,
            allowed_hosts,
            lookup,
        });
        // No redirects (an endpoint cannot send the request elsewhere), no proxy (it would resolve
        // the name itself), and names resolved only by the guard.
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(Arc::new(GuardedResolver(rules.clone())))
            .user_agent(concat!("civkey-server/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        PushPolicy { rules, http }
    }

    /// The loopback test mode of test servers and `civkey-server demo`: endpoints on this
    /// computer allowed (plain `http` too), the rest as in production.
    pub fn loopback_test_mode() -> PushPolicy {
        PushPolicy::new(true, Vec::new(), Arc::new(SystemLookup))
    }

    /// Whether loopback endpoints (and plain `http` to them) are allowed: the test mode.
    pub fn allows_loopback(&self) -> bool {
        self.rules.allow_loopback
    }

    /// The scheme, the allow-list and an IP-literal host, without a lookup.
    fn check_url(&self, endpoint: &str) -> Result<Host, PushRefusal> {
        let url = url::Url::parse(endpoint).map_err(|_| PushRefusal::NoHost)?;
        let host = match url.host() {
            Some(url::Host::Domain(name)) => {
                Host::Name(name.trim_end_matches('.').to_ascii_lowercase())
            }
            Some(url::Host::Ipv4(ip)) => Host::Ip(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Host::Ip(IpAddr::V6(ip)),
            None => return Err(PushRefusal::NoHost),
        };
        let loopback_http = self.rules.allow_loopback
            && match &host {
                Host::Name(name) => name == "localhost",
                Host::Ip(ip) => ip.is_loopback(),
            };
        if url.scheme() != "https" && !(url.scheme() == "http" && loopback_http) {
            return Err(PushRefusal::NotHttps);
        }
        match &host {
            Host::Name(name) => self.rules.check_name(name)?,
            Host::Ip(ip) => {
                let shown = ip.to_string();
                self.rules.check_name(&shown)?;
                self.rules.check_addr(&shown, *ip)?;
            }
        }
        Ok(host)
    }

    /// The check at registration: the URL, then the name's addresses.
    pub async fn check_endpoint(&self, endpoint: &str) -> Result<(), PushRefusal> {
        match self.check_url(endpoint)? {
            Host::Name(name) => self.rules.resolve(&name).await.map(|_| ()),
            Host::Ip(_) => Ok(()),
        }
    }

    /// A POST to `endpoint` through the guarded client; what it connects to is checked again
    /// when it resolves the name (a refusal then is in the error: [`PushPolicy::refusal_in`]).
    pub fn post(&self, endpoint: &str) -> Result<reqwest::RequestBuilder, PushRefusal> {
        self.check_url(endpoint)?;
        Ok(self.http.post(endpoint))
    }

    /// The guard's refusal inside a failed request's chain of causes, if that is why it failed.
    pub fn refusal_in(error: &reqwest::Error) -> Option<PushRefusal> {
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
        while let Some(e) = cause {
            if let Some(refusal) = e.downcast_ref::<PushRefusal>() {
                return Some(refusal.clone());
            }
            cause = e.source();
        }
        None
    }
}

#[cfg(test)]
mod tests;
