//! The ES256 keys ID tokens are signed with, and the JWKS that publishes them.
//!
//! - Signing keys are P-256 key pairs made with `ring`, the private half kept (PKCS#8) in the
//!   database so every instance signs with the same key. Exactly one key is active. Rotating
//!   (`civkey-server keys rotate`) makes a new active key and keeps the old one in the JWKS for
//!   [`ID_TOKEN_TTL_SECS`] more, so tokens it signed still verify until they expire.
//! - The key id (`kid`) is the key's RFC 7638 JWK thumbprint.

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use civkey_proto::oidc::{Jwk, Jwks, JwsHeader, ALG_ES256};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde::Serialize;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::services::cache::{ActiveKey, SIGNING_KEY_CACHE_SECS};
use crate::services::{ServiceError, Services};
use crate::store::SigningKeyRecord;

/// How long an ID token is valid; a retired key stays in the JWKS this long (and
/// [`SIGNING_KEY_CACHE_SECS`] more).
pub const ID_TOKEN_TTL_SECS: u64 = 300;

/// Until when a key retired at `now` stays published: a server may still sign with it for
/// [`SIGNING_KEY_CACHE_SECS`], and its tokens are valid [`ID_TOKEN_TTL_SECS`] after that.
fn retired_key_kept_until(now: u64) -> u64 {
    now.saturating_add(SIGNING_KEY_CACHE_SECS)
        .saturating_add(ID_TOKEN_TTL_SECS)
}

/// The public half of a signing key (uncompressed SEC1) as its JWK, with its RFC 7638 thumbprint
/// as the key id.
fn public_jwk(public_sec1: &[u8]) -> Result<Jwk, ServiceError> {
    if public_sec1.len() != 65 || public_sec1[0] != 4 {
        return Err(ServiceError::Internal(
            "a signing key's public half is not an uncompressed P-256 point".into(),
        ));
    }
    let x = B64.encode(&public_sec1[1..33]);
    let y = B64.encode(&public_sec1[33..65]);
    let kid = thumbprint(&x, &y);
    Ok(Jwk::es256(x, y, kid))
}

/// The RFC 7638 thumbprint of an EC public key: SHA-256 over its required members in
/// lexicographic order, without whitespace.
fn thumbprint(x: &str, y: &str) -> String {
    B64.encode(Sha256::digest(Jwk::thumbprint_input(x, y).as_bytes()))
}

fn new_signing_key(now: u64) -> Result<SigningKeyRecord, ServiceError> {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
        .map_err(|_| ServiceError::Internal("cannot generate a signing key".into()))?;
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
        .map_err(|_| ServiceError::Internal("cannot read a new signing key".into()))?;
    let public = pair.public_key().as_ref();
    Ok(SigningKeyRecord {
        id: public_jwk(public)?.kid,
        private_pkcs8: B64.encode(pkcs8.as_ref()),
        public_key: B64.encode(public),
        created_at: now,
        retired_at: None,
        forget_after: None,
    })
}

impl Services {
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
    pub async fn jwks(&self) -> Result<Jwks, ServiceError> {
        self.active_signing_key().await?;
        let mut keys = Vec::new();
        for key in self.store.signing_keys(self.clock.now()).await? {
            let public = B64
                .decode(&key.public_key)
                .map_err(|_| ServiceError::Internal("a stored public key is corrupt".into()))?;
            // The stored id, as published so far (it is the thumbprint of keys made here).
            let jwk = public_jwk(&public)?;
            keys.push(Jwk { kid: key.id, ..jwk });
        }
        Ok(Jwks { keys })
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
    pub async fn sign_jwt(&self, claims: &impl Serialize) -> Result<String, ServiceError> {
        let key = self.signing_key().await?;
        let rng = SystemRandom::new();
        let pair = &key.pair;
        let header = JwsHeader {
            alg: ALG_ES256.into(),
            typ: "JWT".into(),
            kid: key.id.clone(),
        };
        let json =
            |e: serde_json::Error| ServiceError::Internal(format!("cannot encode a JWT: {e}"));
        let signing_input = format!(
            "{}.{}",
            B64.encode(serde_json::to_string(&header).map_err(json)?),
            B64.encode(serde_json::to_string(claims).map_err(json)?)
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
    use crate::services::fixtures::services_at;
    use serde_json::{json, Value};

    const T0: u64 = 1_767_225_600;

    /// Verifies a compact ES256 JWS against a JWKS the way a relying party does.
    fn verify(jwt: &str, jwks: &Jwks) -> Result<Value, String> {
        let parts: Vec<&str> = jwt.split('.').collect();
        let [header, claims, signature] = parts.as_slice() else {
            return Err("not three parts".into());
        };
        let header: JwsHeader = serde_json::from_slice(&B64.decode(header).unwrap()).unwrap();
        assert_eq!(header.alg, "ES256");
        let key = jwks
            .keys
            .iter()
            .find(|k| k.kid == header.kid)
            .ok_or("kid not in the JWKS")?;
        let mut point = vec![4u8];
        point.extend(B64.decode(&key.x).unwrap());
        point.extend(B64.decode(&key.y).unwrap());
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
        assert_eq!(jwks.keys.len(), 1);
        let key = &jwks.keys[0];
        assert_eq!(key.kid, thumbprint(&key.x, &key.y));
        let published = serde_json::to_value(&jwks).unwrap();
        assert!(
            published["keys"][0].get("d").is_none(),
            "the private key is not published"
        );
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
        assert_eq!(jwks.keys.len(), 1);
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
        assert_eq!(jwks.keys.len(), 2);
        assert!(verify(&old_token, &jwks).is_ok());
        assert!(verify(&new_token, &jwks).is_ok());
        assert_eq!(jwks.keys[0].kid, new_kid, "newest first");

        clock.advance(ID_TOKEN_TTL_SECS + SIGNING_KEY_CACHE_SECS - 1);
        assert_eq!(services.jwks().await.unwrap().keys.len(), 2);
        clock.advance(1);
        let jwks = services.jwks().await.unwrap();
        assert_eq!(jwks.keys.len(), 1);
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
            assert_eq!(services.jwks().await.unwrap().keys[0].kid, kid);
            assert_eq!(services.active_signing_key().await.unwrap().id, kid);
        }
    }
}
