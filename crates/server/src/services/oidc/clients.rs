//! The services citizens log in to (OpenID Connect clients).
//!
//! A client is registered by the operator (`civkey-server client add`): a random id, a random
//! secret shown once and stored as a SHA-256 hash, redirect URIs matched exactly later (absolute
//! `https`, or `http` on loopback for development; no fragment), all on one host, which is the
//! client's *sector* for pairwise subject identifiers.

use zeroize::Zeroizing;

use crate::domain::ClientId;
use crate::services::secrets::{random_id, token_hash};
use crate::services::{ServiceError, Services};
use crate::store::ClientRecord;
use civkey_proto::ErrorCode;

/// The longest redirect URI accepted.
pub const MAX_REDIRECT_URI_CHARS: usize = 2_000;
/// The longest client name accepted.
pub const MAX_CLIENT_NAME_CHARS: usize = 80;

/// A newly registered client, with its secret (shown once).
#[derive(Debug)]
pub struct NewClient {
    /// The client as stored.
    pub client: ClientRecord,
    /// The client secret.
    pub secret: Zeroizing<String>,
}

/// Checks a redirect URI as registration and the authorization endpoint need it: absolute,
/// `https` (or `http` on a loopback host), no fragment, no user info. Returns its host.
pub fn check_redirect_uri(uri: &str) -> Result<String, ServiceError> {
    let bad = |why: &str| {
        ServiceError::refused(
            ErrorCode::BadRequest,
            format!("redirect URI {uri:?}: {why}"),
        )
    };
    if uri.chars().count() > MAX_REDIRECT_URI_CHARS {
        return Err(bad("too long"));
    }
    let parsed = url::Url::parse(uri).map_err(|e| bad(&e.to_string()))?;
    if parsed.fragment().is_some() {
        return Err(bad("must not have a fragment (#…)"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(bad("must not carry a user name or password"));
    }
    if !matches!(parsed.scheme(), "https" | "http") {
        return Err(bad("must be an https URL"));
    }
    let host = parsed
        .host_str()
        .ok_or_else(|| bad("must have a host"))?
        .to_ascii_lowercase();
    let loopback = host == "localhost"
        || host == "[::1]"
        || host
            .parse::<std::net::Ipv4Addr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false);
    if parsed.scheme() == "http" && !loopback {
        return Err(bad("must use https (plain http only on loopback)"));
    }
    Ok(host)
}

impl Services {
    /// Registers a service: `name` as citizens see it, its exact redirect URIs (one host), an
    /// optional logo. The secret is in the result only.
    pub async fn register_client(
        &self,
        name: &str,
        redirect_uris: &[String],
        logo_url: Option<&str>,
    ) -> Result<NewClient, ServiceError> {
        let name = name.trim();
        if name.is_empty()
            || name.chars().count() > MAX_CLIENT_NAME_CHARS
            || name.chars().any(char::is_control)
        {
            return Err(ServiceError::refused(
                ErrorCode::BadRequest,
                format!("the name must be 1 to {MAX_CLIENT_NAME_CHARS} characters of text"),
            ));
        }
        let mut sector = None;
        for uri in redirect_uris {
            let host = check_redirect_uri(uri)?;
            match &sector {
                None => sector = Some(host),
                Some(first) if *first == host => {}
                Some(first) => {
                    return Err(ServiceError::refused(
                        ErrorCode::BadRequest,
                        format!(
                            "redirect URIs on different hosts ({first}, {host}): register one \
                             client per host, so each keeps its own pairwise identifiers"
                        ),
                    ))
                }
            }
        }
        let Some(sector) = sector else {
            return Err(ServiceError::refused(
                ErrorCode::BadRequest,
                "at least one redirect URI is needed",
            ));
        };
        if let Some(logo) = logo_url {
            check_redirect_uri(logo).map_err(|_| {
                ServiceError::refused(
                    ErrorCode::BadRequest,
                    "the logo must be an https URL (http only on loopback)",
                )
            })?;
        }
        let secret = Zeroizing::new(format!("{}{}", random_id(), random_id()));
        let client = ClientRecord {
            id: ClientId::new_random(),
            name: name.to_string(),
            secret_hash: token_hash(&secret),
            redirect_uris: redirect_uris.to_vec(),
            logo_url: logo_url.map(str::to_string),
            sector,
            created_at: self.clock.now(),
        };
        self.store.insert_client(&client).await?;
        Ok(NewClient { client, secret })
    }

    /// The service `id`, from memory when it was read less than
    /// [`crate::services::cache::CLIENT_CACHE_SECS`] ago.
    pub async fn client(&self, id: &ClientId) -> Result<Option<ClientRecord>, ServiceError> {
        let now = self.clock.now();
        if let Some(client) = self.cache.client(id, now) {
            return Ok(Some(client));
        }
        let client = self.store.client(id).await?;
        if let Some(client) = &client {
            self.cache.keep_client(client, now);
        }
        Ok(client)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::fixtures::services_at;

    const T0: u64 = 1_767_225_600;

    #[tokio::test]
    async fn a_client_is_registered_with_a_secret_shown_once() {
        let (services, _clock, _dir) = services_at(T0).await;
        let new = services
            .register_client(
                "Daňový portál",
                &["https://dane.example.cz/callback".into()],
                Some("https://dane.example.cz/logo.svg"),
            )
            .await
            .unwrap();
        let stored = services
            .store
            .client(&new.client.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored, new.client);
        assert_eq!(stored.sector, "dane.example.cz");
        assert_eq!(stored.secret_hash, token_hash(&new.secret));
        assert!(new.secret.len() >= 40);
        assert_eq!(services.store.clients().await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn bad_client_registrations_are_refused_with_the_reason() {
        let (services, _clock, _dir) = services_at(T0).await;
        for (name, uris, logo, reason) in [
            ("", vec!["https://a.example/cb"], None, "1 to 80 characters"),
            ("A", vec![], None, "at least one redirect URI"),
            ("A", vec!["http://a.example/cb"], None, "must use https"),
            ("A", vec!["https://a.example/cb#x"], None, "fragment"),
            ("A", vec!["https://u:p@a.example/cb"], None, "user name"),
            ("A", vec!["javascript:alert(1)"], None, "https URL"),
            ("A", vec!["/relative"], None, "relative URL"),
            (
                "A",
                vec!["https://a.example/cb", "https://b.example/cb"],
                None,
                "different hosts",
            ),
            (
                "A",
                vec!["https://a.example/cb"],
                Some("ftp://x/logo"),
                "logo",
            ),
        ] {
            let uris: Vec<String> = uris.into_iter().map(String::from).collect();
            let err = services
                .register_client(name, &uris, logo)
                .await
                .unwrap_err();
            assert_eq!(err.code(), ErrorCode::BadRequest);
            assert!(err.to_string().contains(reason), "{reason}: {err}");
        }
        // Loopback http is fine for development.
        services
            .register_client("Dev", &["http://127.0.0.1:9000/cb".into()], None)
            .await
            .unwrap();
        assert_eq!(services.store.clients().await.unwrap().len(), 1);
    }
}
