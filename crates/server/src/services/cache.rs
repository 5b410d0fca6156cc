//! What the login hot path would otherwise read from the database on every request, kept in
//! memory for a short, stated time:
//!
//! - **services (OIDC clients)**, for [`CLIENT_CACHE_SECS`]: a login reads its service up to five
//!   times (authorize, open, decision, token, userinfo). Only clients found are kept, so one
//!   registered from the command line while the server runs is found at once.
//! - **the active signing key, parsed**, for [`SIGNING_KEY_CACHE_SECS`]: parsing the PKCS#8 key
//!   checks the key pair, which costs more than signing. A key rotated by this process replaces
//!   it at once; one rotated by another process (`civkey-server keys rotate`, another instance)
//!   is picked up within that time, so a retired key stays published that much longer.
//! - **the pairwise-subject key**, for good: it never changes once made.
//!
//! Times are the services' clock, so tests move them like everything else.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use ring::signature::EcdsaKeyPair;
use zeroize::Zeroizing;

use crate::domain::ClientId;
use crate::store::ClientRecord;

/// How long a service's record is reused.
pub const CLIENT_CACHE_SECS: u64 = 30;
/// How long the parsed signing key is reused before the store is asked for the active key again.
pub const SIGNING_KEY_CACHE_SECS: u64 = 10;

/// The signing key ready to sign.
pub struct ActiveKey {
    /// Its key id (`kid`).
    pub id: String,
    /// The key pair.
    pub pair: EcdsaKeyPair,
}

struct Kept<T> {
    value: T,
    until: u64,
}

/// The caches; one per [`super::Services`], shared by its clones.
#[derive(Default)]
pub struct Caches {
    clients: Mutex<HashMap<ClientId, Kept<ClientRecord>>>,
    signing_key: Mutex<Option<Kept<Arc<ActiveKey>>>>,
    pairwise_key: Mutex<Option<Arc<Zeroizing<String>>>>,
}

/// A poisoned lock only means another request panicked while holding it; the maps stay usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Services ever kept are few (one per registered client); expired ones are dropped when the map
/// reaches this size.
const MAX_CLIENTS: usize = 10_000;

impl Caches {
    /// The client `id` if it was read less than [`CLIENT_CACHE_SECS`] before `now`.
    pub fn client(&self, id: &ClientId, now: u64) -> Option<ClientRecord> {
        lock(&self.clients)
            .get(id)
            .filter(|kept| now < kept.until)
            .map(|kept| kept.value.clone())
    }

    /// Keeps a client just read.
    pub fn keep_client(&self, client: &ClientRecord, now: u64) {
        let mut clients = lock(&self.clients);
        if clients.len() >= MAX_CLIENTS {
            clients.retain(|_, kept| now < kept.until);
        }
        clients.insert(
            client.id.clone(),
            Kept {
                value: client.clone(),
                until: now.saturating_add(CLIENT_CACHE_SECS),
            },
        );
    }

    /// The signing key if it was read less than [`SIGNING_KEY_CACHE_SECS`] before `now`.
    pub fn signing_key(&self, now: u64) -> Option<Arc<ActiveKey>> {
        lock(&self.signing_key)
            .as_ref()
            .filter(|kept| now < kept.until)
            .map(|kept| kept.value.clone())
    }

    /// Keeps the signing key just read.
    pub fn keep_signing_key(&self, key: Arc<ActiveKey>, now: u64) {
        *lock(&self.signing_key) = Some(Kept {
            value: key,
            until: now.saturating_add(SIGNING_KEY_CACHE_SECS),
        });
    }

    /// Forgets the signing key (this process rotated it).
    pub fn forget_signing_key(&self) {
        *lock(&self.signing_key) = None;
    }

    /// The pairwise-subject key, once read.
    pub fn pairwise_key(&self) -> Option<Arc<Zeroizing<String>>> {
        lock(&self.pairwise_key).clone()
    }

    /// Keeps the pairwise-subject key.
    pub fn keep_pairwise_key(&self, key: Arc<Zeroizing<String>>) {
        *lock(&self.pairwise_key) = Some(key);
    }
}
