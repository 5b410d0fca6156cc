//! OpenID Connect, first part: the services citizens log in to (clients) and the ES256 keys ID
//! tokens are signed with.
//!
//! - A client is registered by the operator (`civkey-server client add`): a random id, a random
//!   secret shown once and stored as a SHA-256 hash, redirect URIs matched exactly later (absolute
//!   `https`, or `http` on loopback for development; no fragment), all on one host, which is the
//!   client's *sector* for pairwise subject identifiers.
//! - Signing keys are P-256 key pairs made with `ring`, the private half kept (PKCS#8) in the
//!   database so every instance signs with the same key. Exactly one key is active. Rotating
//!   (`civkey-server keys rotate`) makes a new active key and keeps the old one in the JWKS for
//!   [`ID_TOKEN_TTL_SECS`] more, so tokens it signed still verify until they expire.
//! - The key id (`kid`) is the key's RFC 7638 JWK thumbprint.

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::services::cache::{ActiveKey, SIGNING_KEY_CACHE_SECS};
use crate::services::citizens::{random_id, token_hash};
use crate::services::{ServiceError, Services};
use crate::store::{ClientRecord, SigningKeyRecord};
use civkey_proto::ErrorCode;

/// How long an ID token is valid; a retired key stays in the JWKS this long (and
/// [`SIGNING_KEY_CACHE_SECS`] more).
pub const ID_TOKEN_TTL_SECS: u64 = 300;

/// Until when a key retired at `now` stays published: a server may still sign with it for
/// [`SIGNING_KEY_CACHE_SECS`], and its tokens are valid [`ID_TOKEN_TTL_SECS`] after that.
fn retired_key_kept_until(now: u64) -> u64 {
    now.saturating_add(SIGNING_KEY_CACHE_SECS)
        .saturating_add(ID_TOKEN_TTL_SECS)
}
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

fn public_jwk(public_sec1: &[u8]) -> Result<Value, ServiceError> {
    if public_sec1.len() != 65 || public_sec1[0] != 4 {
        return Err(ServiceError::Internal(
            "a signing key's public half is not an uncompressed P-256 point".into(),
        ));
    }
    Ok(json!({
        "kty": "EC",
        "crv": "P-256",
        "x": B64.encode(&public_sec1[1..33]),
        "y": B64.encode(&public_sec1[33..65]),
    }))
}

/// The RFC 7638 thumbprint of an EC public key: SHA-256 over its required members in
/// lexicographic order, without whitespace.
fn thumbprint(jwk: &Value) -> String {
    let canonical = format!(
        r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
        jwk["x"].as_str().unwrap_or_default(),
        jwk["y"].as_str().unwrap_or_default()
    );
    B64.encode(Sha256::digest(canonical.as_bytes()))
}

fn new_signing_key(now: u64) -> Result<SigningKeyRecord, ServiceError> {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
        .map_err(|_| ServiceError::Internal("cannot generate a signing key".into()))?;
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
        .map_err(|_| ServiceError::Internal("cannot read a new signing key".into()))?;
    let public = pair.public_key().as_ref();
    Ok(SigningKeyRecord {
        id: thumbprint(&public_jwk(public)?),
        private_pkcs8: B64.encode(pkcs8.as_ref()),
        public_key: B64.encode(public),
        created_at: now,
        retired_at: None,
        forget_after: None,
    })
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
            id: random_id(),
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

    /// Makes a new active signing key; the previous one stays in the JWKS until the tokens it
    /// signed have expired (and a server that still holds it in memory has let it go). Returns
    /// the new key id.
    pub async fn rotate_signing_key(&self) -> Result<String, ServiceError> {
        let now = self.clock.now();
        let key = new_signing_key(now)?;
        self.store
            .rotate_signing_key(&key, retired_key_kept_until(now))
            .await?;
        self.cache.forget_signing_key();
        self.store.forget_signing_keys(now).await?;
        Ok(key.id)
    }

    /// The service `id`, from memory when it was read less than
    /// [`crate::services::cache::CLIENT_CACHE_SECS`] ago.
    pub async fn client(&self, id: &str) -> Result<Option<ClientRecord>, ServiceError> {
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

    /// The key that signs now; made on first use.
    pub async fn active_signing_key(&self) -> Result<SigningKeyRecord, ServiceError> {
        let now = self.clock.now();
        if let Some(key) = self
            .store
            .signing_keys(now)
            .await?
            .into_iter()
            .find(|k| k.retired_at.is_none())
        {
            return Ok(key);
        }
        let key = new_signing_key(now)?;
        // Another instance may have made one at the same moment: both then rotate, and the
        // later one wins; tokens signed by the other still verify through the JWKS.
        self.store
            .rotate_signing_key(&key, retired_key_kept_until(now))
            .await?;
        Ok(key)
    }

    /// The JSON Web Key Set: every key whose tokens may still be valid, and always the key that
    /// signs now (made here if there is none yet: a relying party that fetches the set once, at
    /// discovery, must find the key of the first token it gets).
    pub async fn jwks(&self) -> Result<Value, ServiceError> {
        self.active_signing_key().await?;
        let mut keys = Vec::new();
        for key in self.store.signing_keys(self.clock.now()).await? {
            let public = B64
                .decode(&key.public_key)
                .map_err(|_| ServiceError::Internal("a stored public key is corrupt".into()))?;
            let mut jwk = public_jwk(&public)?;
            jwk["kid"] = json!(key.id);
            jwk["use"] = json!("sig");
            jwk["alg"] = json!("ES256");
            keys.push(jwk);
        }
        Ok(json!({ "keys": keys }))
    }

    /// The active key, parsed, from memory when it was read less than
    /// [`SIGNING_KEY_CACHE_SECS`] ago.
    async fn signing_key(&self) -> Result<Arc<ActiveKey>, ServiceError> {
        let now = self.clock.now();
        if let Some(key) = self.cache.signing_key(now) {
            return Ok(key);
        }
        let record = self.active_signing_key().await?;
        let pkcs8 = Zeroizing::new(
            B64.decode(&record.private_pkcs8)
                .map_err(|_| ServiceError::Internal("a stored signing key is corrupt".into()))?,
        );
        let pair = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            &pkcs8,
            &SystemRandom::new(),
        )
        .map_err(|_| ServiceError::Internal("a stored signing key is corrupt".into()))?;
        let key = Arc::new(ActiveKey {
            id: record.id,
            pair,
        });
        self.cache.keep_signing_key(key.clone(), now);
        Ok(key)
    }

    /// Signs `claims` as a compact JWS (ES256) with the active key.
    pub async fn sign_jwt(&self, claims: &Value) -> Result<String, ServiceError> {
        let key = self.signing_key().await?;
        let rng = SystemRandom::new();
        let pair = &key.pair;
        let header = json!({ "alg": "ES256", "typ": "JWT", "kid": key.id });
        let signing_input = format!(
            "{}.{}",
            B64.encode(header.to_string()),
            B64.encode(claims.to_string())
        );
        let signature = pair
            .sign(&rng, signing_input.as_bytes())
            .map_err(|_| ServiceError::Internal("signing failed".into()))?;
        Ok(format!(
            "{signing_input}.{}",
            B64.encode(signature.as_ref())
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::tests_support::services_at;

    const T0: u64 = 1_767_225_600;

    /// Verifies a compact ES256 JWS against a JWKS the way a relying party does.
    fn verify(jwt: &str, jwks: &Value) -> Result<Value, String> {
        let parts: Vec<&str> = jwt.split('.').collect();
        let [header, claims, signature] = parts.as_slice() else {
            return Err("not three parts".into());
        };
        let header: Value = serde_json::from_slice(&B64.decode(header).unwrap()).unwrap();
        assert_eq!(header["alg"], "ES256");
        let key = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["kid"] == header["kid"])
            .ok_or("kid not in the JWKS")?;
        let mut point = vec![4u8];
        point.extend(B64.decode(key["x"].as_str().unwrap()).unwrap());
        point.extend(B64.decode(key["y"].as_str().unwrap()).unwrap());
        ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_FIXED, point)
            .verify(
                format!("{}.{}", parts[0], parts[1]).as_bytes(),
                &B64.decode(signature).unwrap(),
            )
            .map_err(|_| "bad signature".to_string())?;
        Ok(serde_json::from_slice(&B64.decode(claims).unwrap()).unwrap())
    }

    #[tokio::test]
    async fn an_id_token_verifies_against_the_published_key() {
        let (services, _clock, _dir) = services_at(T0).await;
        let jwt = services
            .sign_jwt(&json!({"sub": "abc", "aud": "x"}))
            .await
            .unwrap();
        let jwks = services.jwks().await.unwrap();
        assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);
        let key = &jwks["keys"][0];
        assert_eq!(key["kid"], json!(thumbprint(key)));
        assert!(key.get("d").is_none(), "the private key is not published");
        assert_eq!(verify(&jwt, &jwks).unwrap()["sub"], "abc");
        // A changed claim no longer verifies.
        let mut parts: Vec<String> = jwt.split('.').map(str::to_string).collect();
        parts[1] = B64.encode(json!({"sub": "evil", "aud": "x"}).to_string());
        assert_eq!(verify(&parts.join("."), &jwks), Err("bad signature".into()));
    }

    #[tokio::test]
    async fn a_fresh_server_publishes_the_key_of_its_first_token_before_signing_it() {
        // A relying party may fetch the key set once, at discovery, before any login.
        let (services, _clock, _dir) = services_at(T0).await;
        let jwks = services.jwks().await.unwrap();
        assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);
        let jwt = services.sign_jwt(&json!({"sub": "abc"})).await.unwrap();
        assert_eq!(verify(&jwt, &jwks).unwrap()["sub"], "abc");
    }

    #[tokio::test]
    async fn a_rotated_key_stays_published_until_its_tokens_expire() {
        let (services, clock, _dir) = services_at(T0).await;
        let old_token = services.sign_jwt(&json!({"sub": "a"})).await.unwrap();
        let old_kid = services.active_signing_key().await.unwrap().id;
        clock.advance(60);
        let new_kid = services.rotate_signing_key().await.unwrap();
        assert_ne!(old_kid, new_kid);
        let new_token = services.sign_jwt(&json!({"sub": "b"})).await.unwrap();
        let jwks = services.jwks().await.unwrap();
        assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
        assert!(verify(&old_token, &jwks).is_ok());
        assert!(verify(&new_token, &jwks).is_ok());
        assert_eq!(jwks["keys"][0]["kid"], json!(new_kid), "newest first");

        clock.advance(ID_TOKEN_TTL_SECS + SIGNING_KEY_CACHE_SECS - 1);
        assert_eq!(
            services.jwks().await.unwrap()["keys"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
        clock.advance(1);
        let jwks = services.jwks().await.unwrap();
        assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);
        assert_eq!(verify(&old_token, &jwks), Err("kid not in the JWKS".into()));
        services.rotate_signing_key().await.unwrap();
        let stored = services.store.signing_keys(0).await.unwrap();
        assert!(
            stored.iter().all(|k| k.id != old_kid),
            "expired keys are deleted at the next rotation"
        );
        assert!(!format!("{stored:?}").contains(&stored[0].private_pkcs8));
    }

    #[tokio::test]
    async fn a_key_rotated_by_another_process_signs_here_within_the_cache_time() {
        let (services, clock, _dir) = services_at(T0).await;
        services.sign_jwt(&json!({"sub": "a"})).await.unwrap();
        let old_kid = services.active_signing_key().await.unwrap().id;
        // `civkey-server keys rotate` in another process: the same database, other memory.
        let other = Services::new(
            services.store.clone(),
            services.clock.clone(),
            services.origin.clone(),
        );
        clock.advance(1);
        let new_kid = other.rotate_signing_key().await.unwrap();
        let kid_of = |jwt: &str| {
            let header = B64.decode(jwt.split('.').next().unwrap()).unwrap();
            serde_json::from_slice::<Value>(&header).unwrap()["kid"].clone()
        };
        let token = services.sign_jwt(&json!({"sub": "b"})).await.unwrap();
        assert_eq!(kid_of(&token), json!(old_kid), "still the kept key");
        assert!(verify(&token, &services.jwks().await.unwrap()).is_ok());
        clock.advance(SIGNING_KEY_CACHE_SECS);
        let token = services.sign_jwt(&json!({"sub": "c"})).await.unwrap();
        assert_eq!(kid_of(&token), json!(new_kid));
    }

    #[tokio::test]
    async fn the_active_key_is_listed_first_even_when_rotated_twice_in_one_second() {
        let (services, _clock, _dir) = services_at(T0).await;
        for _ in 0..5 {
            let kid = services.rotate_signing_key().await.unwrap();
            assert_eq!(services.jwks().await.unwrap()["keys"][0]["kid"], json!(kid));
            assert_eq!(services.active_signing_key().await.unwrap().id, kid);
        }
    }

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
