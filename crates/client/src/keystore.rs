//! The OS keystore seam: where device keys and the one-time code vault's key live.
//!
//! [`KeyStore`] stores secrets by a non-secret [`KeyRef`]; the client's state file holds only the
//! reference. [`OsKeyStore`] is the real one (Secret Service on Linux, Keychain on macOS and iOS,
//! Credential Manager on Windows, through `keyring`). [`MemoryKeyStore`] keeps secrets in memory
//! for unit tests and benchmarks; nothing in the product falls back to it, nor to a plain file.
//!
//! Signing goes through the store ([`KeyStore::sign`]): the default implementation loads the
//! private scalar for the moment of signing and wipes it afterwards; a hardware-backed store
//! (Android Keystore, Secure Enclave) overrides `create_signing_key` and `sign` so that the private
//! half never exists outside the secure element.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;

use base64::Engine;
use civkey_proto::sign::{DevicePublicKey, Signature};
use p256::ecdsa::SigningKey;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// The service name the OS keystore files civkey's entries under.
pub const KEYSTORE_SERVICE: &str = "org.civkey.mobilekey";

/// A reference to a secret in the keystore: `<profile>/<purpose>/<random>`. Not secret itself.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct KeyRef(String);

impl KeyRef {
    /// A new, random reference for `purpose` (`device`, `vault`) in the profile `profile_id`.
    pub fn generate(profile_id: &str, purpose: &str) -> Self {
        let mut bytes = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let random = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        KeyRef(format!("{profile_id}/{purpose}/{random}"))
    }

    /// A reference read back from where it was stored (a state or vault file).
    pub(crate) fn from_stored(stored: String) -> Self {
        KeyRef(stored)
    }

    /// The reference as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What can go wrong with the keystore. Each is a clear stop: civkey never keeps keys elsewhere.
#[derive(Debug, thiserror::Error)]
pub enum KeyStoreError {
    /// There is no keystore to talk to (no Secret Service running, no D-Bus session, a platform
    /// without a backend).
    #[error("the OS keystore is not available: {0}")]
    Unavailable(String),
    /// The keystore is there but refused: locked, access denied, the user cancelled.
    #[error("the OS keystore refused access: {0}")]
    Refused(String),
    /// The entry is not (or no longer) in the keystore.
    #[error("the key {0} is not in the OS keystore")]
    Missing(KeyRef),
    /// The entry holds something that is not what civkey stored.
    #[error("the key {0} in the OS keystore is damaged")]
    Damaged(KeyRef),
}

/// Secrets by reference, and signing with the device keys among them.
pub trait KeyStore: Send + Sync {
    /// A short name for messages ("Secret Service", "memory").
    fn name(&self) -> &'static str;

    /// Stores `secret` under `key`, replacing what was there.
    fn put_secret(&self, key: &KeyRef, secret: &[u8]) -> Result<(), KeyStoreError>;

    /// Reads the secret under `key`.
    fn get_secret(&self, key: &KeyRef) -> Result<Zeroizing<Vec<u8>>, KeyStoreError>;

    /// Deletes the entry; deleting an entry that is not there is not an error.
    fn delete(&self, key: &KeyRef) -> Result<(), KeyStoreError>;

    /// Makes a new P-256 signing key stored under `key` and returns its public half. The store
    /// is read back before this returns, so a store that silently drops entries is caught here.
    fn create_signing_key(&self, key: &KeyRef) -> Result<DevicePublicKey, KeyStoreError> {
        let signing = SigningKey::random(&mut rand::rngs::OsRng);
        let scalar = Zeroizing::new(signing.to_bytes().to_vec());
        self.put_secret(key, &scalar)?;
        let public = self.public_key(key)?;
        if public != public_key_of(&signing) {
            return Err(KeyStoreError::Damaged(key.clone()));
        }
        Ok(public)
    }

    /// The public half of the signing key under `key`.
    fn public_key(&self, key: &KeyRef) -> Result<DevicePublicKey, KeyStoreError> {
        Ok(public_key_of(&self.load_signing_key(key)?))
    }

    /// Signs `message` with the key under `key` (ECDSA P-256, SHA-256).
    fn sign(&self, key: &KeyRef, message: &[u8]) -> Result<Signature, KeyStoreError> {
        let signing = self.load_signing_key(key)?;
        Ok(civkey_proto::sign::sign(&signing, message))
    }

    /// Loads the signing key; it wipes itself when dropped.
    #[doc(hidden)]
    fn load_signing_key(&self, key: &KeyRef) -> Result<SigningKey, KeyStoreError> {
        let scalar = self.get_secret(key)?;
        SigningKey::from_slice(&scalar).map_err(|_| KeyStoreError::Damaged(key.clone()))
    }
}

fn public_key_of(key: &SigningKey) -> DevicePublicKey {
    DevicePublicKey::from(&p256::PublicKey::from(key.verifying_key()))
}

/// Deletes a freshly made key when dropped, unless [`KeyGuard::keep`] was called: whatever stops a
/// flow half-way (an error, a refusal, the future being dropped), no orphaned key is left behind.
pub struct KeyGuard<'a> {
    store: &'a dyn KeyStore,
    key: Option<KeyRef>,
}

impl<'a> KeyGuard<'a> {
    /// Guards `key` in `store`.
    pub fn new(store: &'a dyn KeyStore, key: KeyRef) -> Self {
        KeyGuard {
            store,
            key: Some(key),
        }
    }

    /// The flow succeeded: keep the key.
    pub fn keep(mut self) {
        self.key = None;
    }
}

impl Drop for KeyGuard<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            // Best effort: the flow's own error is the one to report.
            let _ = self.store.delete(&key);
        }
    }
}

type Entries = HashMap<KeyRef, Zeroizing<Vec<u8>>>;

/// Secrets in memory, for unit tests and benchmarks. Not a keystore: it forgets on exit.
#[derive(Default)]
pub struct MemoryKeyStore {
    entries: Mutex<Entries>,
}

impl MemoryKeyStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many entries it holds.
    pub fn len(&self) -> usize {
        self.entries.lock().map(|e| e.len()).unwrap_or(0)
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn entries(&self) -> Result<std::sync::MutexGuard<'_, Entries>, KeyStoreError> {
        self.entries
            .lock()
            .map_err(|_| KeyStoreError::Unavailable("the in-memory store is poisoned".into()))
    }
}

impl KeyStore for MemoryKeyStore {
    fn name(&self) -> &'static str {
        "memory"
    }

    fn put_secret(&self, key: &KeyRef, secret: &[u8]) -> Result<(), KeyStoreError> {
        self.entries()?
            .insert(key.clone(), Zeroizing::new(secret.to_vec()));
        Ok(())
    }

    fn get_secret(&self, key: &KeyRef) -> Result<Zeroizing<Vec<u8>>, KeyStoreError> {
        self.entries()?
            .get(key)
            .cloned()
            .ok_or_else(|| KeyStoreError::Missing(key.clone()))
    }

    fn delete(&self, key: &KeyRef) -> Result<(), KeyStoreError> {
        self.entries()?.remove(key);
        Ok(())
    }
}

/// A keystore that is there but says no (locked, access denied): for tests of what a flow does
/// when the OS keystore refuses.
#[cfg(test)]
pub(crate) struct RefusingKeyStore;

#[cfg(test)]
impl KeyStore for RefusingKeyStore {
    fn name(&self) -> &'static str {
        "refusing"
    }
    fn put_secret(&self, _: &KeyRef, _: &[u8]) -> Result<(), KeyStoreError> {
        Err(KeyStoreError::Refused("the collection is locked".into()))
    }
    fn get_secret(&self, key: &KeyRef) -> Result<Zeroizing<Vec<u8>>, KeyStoreError> {
        Err(KeyStoreError::Missing(key.clone()))
    }
    fn delete(&self, _: &KeyRef) -> Result<(), KeyStoreError> {
        Ok(())
    }
}

/// The operating system's keystore through `keyring`: Secret Service (GNOME Keyring, KWallet) on
/// Linux, Keychain on macOS and iOS, Credential Manager on Windows. Entries are filed under
/// [`KEYSTORE_SERVICE`] with the [`KeyRef`] as the user name.
#[derive(Debug, Clone, Default)]
pub struct OsKeyStore;

impl OsKeyStore {
    /// The platform's keystore. Nothing is contacted until the first use.
    pub fn new() -> Self {
        OsKeyStore
    }
}

#[cfg(any(target_os = "linux", target_os = "macos", target_os = "ios", windows))]
mod os {
    use super::{KeyRef, KeyStoreError, KEYSTORE_SERVICE};
    use zeroize::Zeroizing;

    fn entry(key: &KeyRef) -> Result<keyring::Entry, KeyStoreError> {
        keyring::Entry::new(KEYSTORE_SERVICE, key.as_str()).map_err(|e| map(key, e))
    }

    fn map(key: &KeyRef, error: keyring::Error) -> KeyStoreError {
        match error {
            keyring::Error::NoEntry => KeyStoreError::Missing(key.clone()),
            keyring::Error::NoStorageAccess(e) => KeyStoreError::Refused(e.to_string()),
            keyring::Error::PlatformFailure(e) => KeyStoreError::Unavailable(e.to_string()),
            keyring::Error::BadEncoding(_) | keyring::Error::Ambiguous(_) => {
                KeyStoreError::Damaged(key.clone())
            }
            other => KeyStoreError::Unavailable(other.to_string()),
        }
    }

    pub fn put(key: &KeyRef, secret: &[u8]) -> Result<(), KeyStoreError> {
        entry(key)?.set_secret(secret).map_err(|e| map(key, e))
    }

    pub fn get(key: &KeyRef) -> Result<Zeroizing<Vec<u8>>, KeyStoreError> {
        entry(key)?
            .get_secret()
            .map(Zeroizing::new)
            .map_err(|e| map(key, e))
    }

    pub fn delete(key: &KeyRef) -> Result<(), KeyStoreError> {
        match entry(key)?.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(map(key, e)),
        }
    }
}

/// Platforms where `keyring` has no backend (Android): the app supplies its own [`KeyStore`]
/// (docs/mobile.md); this one says so instead of pretending.
#[cfg(not(any(target_os = "linux", target_os = "macos", target_os = "ios", windows)))]
mod os {
    use super::{KeyRef, KeyStoreError};
    use zeroize::Zeroizing;

    const NONE: &str = "this platform has no OS keystore backend in civkey-client";

    pub fn put(_: &KeyRef, _: &[u8]) -> Result<(), KeyStoreError> {
        Err(KeyStoreError::Unavailable(NONE.into()))
    }

    pub fn get(_: &KeyRef) -> Result<Zeroizing<Vec<u8>>, KeyStoreError> {
        Err(KeyStoreError::Unavailable(NONE.into()))
    }

    pub fn delete(_: &KeyRef) -> Result<(), KeyStoreError> {
        Err(KeyStoreError::Unavailable(NONE.into()))
    }
}

impl KeyStore for OsKeyStore {
    fn name(&self) -> &'static str {
        if cfg!(target_os = "linux") {
            "Secret Service"
        } else if cfg!(any(target_os = "macos", target_os = "ios")) {
            "Keychain"
        } else if cfg!(windows) {
            "Credential Manager"
        } else {
            "none"
        }
    }

    fn put_secret(&self, key: &KeyRef, secret: &[u8]) -> Result<(), KeyStoreError> {
        os::put(key, secret)
    }

    fn get_secret(&self, key: &KeyRef) -> Result<Zeroizing<Vec<u8>>, KeyStoreError> {
        os::get(key)
    }

    fn delete(&self, key: &KeyRef) -> Result<(), KeyStoreError> {
        os::delete(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signing_key_signs_what_its_public_half_verifies() {
        let store = MemoryKeyStore::new();
        let key = KeyRef::generate("p1", "device");
        let public = store.create_signing_key(&key).unwrap();
        let signature = store.sign(&key, b"message").unwrap();
        public.verify(b"message", &signature).unwrap();
        assert!(public.verify(b"other", &signature).is_err());
        assert_eq!(store.public_key(&key).unwrap(), public);
    }

    #[test]
    fn key_refs_are_random_and_name_their_profile() {
        let a = KeyRef::generate("prof", "device");
        let b = KeyRef::generate("prof", "device");
        assert_ne!(a, b);
        assert!(a.as_str().starts_with("prof/device/"), "{a}");
    }

    #[test]
    fn a_damaged_entry_is_reported_not_used() {
        let store = MemoryKeyStore::new();
        let key = KeyRef::generate("p", "device");
        store.put_secret(&key, b"not a scalar").unwrap();
        assert!(matches!(
            store.sign(&key, b"m"),
            Err(KeyStoreError::Damaged(_))
        ));
    }

    #[test]
    fn a_guarded_key_is_deleted_unless_kept() {
        let store = MemoryKeyStore::new();
        let dropped = KeyRef::generate("p", "device");
        store.create_signing_key(&dropped).unwrap();
        drop(KeyGuard::new(&store, dropped.clone()));
        assert!(matches!(
            store.get_secret(&dropped),
            Err(KeyStoreError::Missing(_))
        ));
        let kept = KeyRef::generate("p", "device");
        store.create_signing_key(&kept).unwrap();
        KeyGuard::new(&store, kept.clone()).keep();
        assert!(store.get_secret(&kept).is_ok());
    }

    #[test]
    fn deleting_a_missing_entry_is_fine() {
        let store = MemoryKeyStore::new();
        store.delete(&KeyRef::generate("p", "device")).unwrap();
    }
}
