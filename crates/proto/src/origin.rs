//! Web origins: where a civkey server (or a service asking for a login) lives.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Error;

/// A web origin `scheme://host[:port]`, always in its canonical form.
///
/// Only `https` is accepted, except `http` on a loopback host (`localhost`, `127.0.0.0/8`, `[::1]`)
/// for development and tests: a pairing or login link must never send the app to a plain-text server
/// on the network.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Origin(String);

impl Origin {
    /// Reads an origin exactly as civkey writes it (`https://id.example.gov`, no trailing slash,
    /// lower-case host, no default port). Anything else is refused with the reason.
    pub fn parse(input: &str) -> Result<Self, Error> {
        let canonical = Self::normalise(input)?;
        if canonical.0 != input {
            return Err(Error::InvalidOrigin(
                "not in canonical form scheme://host[:port] (lower case, no path, no default port)",
            ));
        }
        Ok(canonical)
    }

    /// Reads an origin leniently, as an operator may type it (`https://ID.example.gov:443/`), and
    /// returns its canonical form. The same rules about schemes and hosts apply.
    pub fn normalise(input: &str) -> Result<Self, Error> {
        crate::check_len(input)?;
        if input.is_empty() {
            return Err(Error::InvalidOrigin("empty"));
        }
        if input.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(Error::InvalidOrigin(
                "contains spaces or control characters",
            ));
        }
        let url = url::Url::parse(input).map_err(|_| Error::InvalidOrigin("not a URL"))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Error::InvalidOrigin(
                "must not contain a user name or password",
            ));
        }
        if url.path() != "/" && !url.path().is_empty() {
            return Err(Error::InvalidOrigin("must not contain a path"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(Error::InvalidOrigin("must not contain a query or fragment"));
        }
        let host = url.host().ok_or(Error::InvalidOrigin("has no host"))?;
        if let url::Host::Domain(domain) = host {
            // After IDNA, a DNS name is letters, digits, hyphens and dots; the URL standard lets
            // through more (a backtick, say), which no real server has and a spoof might use.
            let ldh = |label: &str| {
                !label.is_empty()
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    && !label.starts_with('-')
                    && !label.ends_with('-')
            };
            if !domain.split('.').all(ldh) {
                return Err(Error::InvalidOrigin("host is not a valid DNS name"));
            }
        }
        match url.scheme() {
            "https" => {}
            "http" if is_loopback(&host) => {}
            "http" => {
                return Err(Error::InvalidOrigin(
                    "plain http is allowed only for localhost; the server must use https",
                ))
            }
            _ => return Err(Error::InvalidOrigin("scheme must be https")),
        }
        let serialised = url.origin().ascii_serialization();
        if serialised == "null" {
            return Err(Error::InvalidOrigin("opaque origin"));
        }
        Ok(Origin(serialised))
    }

    /// The origin as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this origin is on a loopback host (development and tests).
    pub fn is_loopback(&self) -> bool {
        url::Url::parse(&self.0)
            .ok()
            .and_then(|u| u.host().map(|h| is_loopback(&h)))
            .unwrap_or(false)
    }

    /// The host (and port, where not the default), for showing to people: `id.example.gov`.
    pub fn host_for_display(&self) -> &str {
        self.0.split_once("://").map(|(_, h)| h).unwrap_or(&self.0)
    }
}

fn is_loopback(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Origin({})", self.0)
    }
}

impl std::str::FromStr for Origin {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Origin::parse(s)
    }
}

impl Serialize for Origin {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Origin {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Origin::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_and_loopback_http_are_accepted() {
        for ok in [
            "https://id.example.gov",
            "https://id.example.gov:8443",
            "http://localhost:8080",
            "http://127.0.0.1:41234",
            "http://[::1]:8080",
        ] {
            assert_eq!(Origin::parse(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn http_on_the_network_is_refused() {
        for bad in [
            "http://id.example.gov",
            "http://10.0.0.1",
            "http://localhost.evil.com",
        ] {
            assert!(
                matches!(Origin::parse(bad), Err(Error::InvalidOrigin(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn non_canonical_or_decorated_origins_are_refused() {
        for bad in [
            "https://id.example.gov/",
            "https://ID.example.gov",
            "https://id.example.gov:443",
            "https://id.example.gov/path",
            "https://user@id.example.gov",
            "https://id.example.gov?x=1",
            "https://id.example.gov#f",
            "ftp://id.example.gov",
            "javascript:alert(1)",
            "https:// id.example.gov",
            "https://`d.example.gov",
            "https://a..b",
            "https://-a.example",
            "",
        ] {
            assert!(Origin::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn operator_input_is_normalised() {
        let o = Origin::normalise("https://ID.Example.gov:443/").unwrap();
        assert_eq!(o.as_str(), "https://id.example.gov");
        assert_eq!(o.host_for_display(), "id.example.gov");
        assert!(Origin::normalise("http://127.0.0.1:8080")
            .unwrap()
            .is_loopback());
        assert!(!o.is_loopback());
    }
}
