//! A profile: the client's state on one device (which identities it holds, by server) and the
//! keystore holding their keys.
//!
//! The state file, `identities.json`, holds nothing secret: the server's origin, the device id, the
//! names, when it was paired, the public key, and a [`KeyRef`] naming the private key's entry in
//! the OS keystore. It is changed under a lock file and replaced atomically (write a temporary
//! file, flush it, rename it over the old one), so two `civkey` processes or a crash never leave a
//! half-written file.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use civkey_proto::device::{
    DeviceName, DeviceSummary, PushEndpoint, PushKeys, PushRegistrationRequest, RenameDeviceRequest,
};
use civkey_proto::ids::DeviceId;
use civkey_proto::pair::OUTCOME_POLL_MAX_SECS;
use civkey_proto::sign::DevicePublicKey;
use civkey_proto::{paths, ErrorCode, Origin};
use rand::RngCore;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::clock::{Clock, SystemClock};
use crate::keystore::{KeyRef, KeyStore};
use crate::server_api::{ApiFailure, ServerApi, StoredKey};
use crate::ClientError;

/// The state file's name inside the profile directory.
pub const STATE_FILE: &str = "identities.json";
const LOCK_FILE: &str = ".lock";
const STATE_VERSION: u32 = 1;
/// The shortest identity id prefix `forget` accepts.
pub const MIN_ID_PREFIX: usize = 4;

/// One identity: this device paired with one account on one server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// The server.
    pub origin: Origin,
    /// This device's id at that server.
    pub device_id: DeviceId,
    /// The device's name as proposed at pairing.
    pub device_name: String,
    /// The citizen's name as the server gave it.
    pub account_name: Option<String>,
    /// When the pairing was confirmed (Unix seconds).
    pub paired_at: u64,
    /// The device key's public half.
    pub public_key: DevicePublicKey,
    /// Where the private half is in the keystore.
    pub key: KeyRef,
}

impl Identity {
    /// The id people type: the first eight characters of the device id.
    pub fn short_id(&self) -> String {
        self.device_id.to_text().chars().take(8).collect()
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct State {
    version: u32,
    /// Random; prefixes this profile's keystore entries so profiles never collide.
    profile_id: String,
    identities: Vec<Identity>,
}

/// How `forget` treats the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forget {
    /// Disconnect the key at the server first; stop if the server cannot be told.
    TellServer,
    /// Only forget it here (the server keeps listing the key until it is disconnected in the
    /// portal).
    LocalOnly,
}

/// The result of `forget`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Forgotten {
    /// The identity that was removed.
    pub identity: Identity,
    /// Whether the server disconnected the key (false with [`Forget::LocalOnly`]).
    pub server_told: bool,
}

/// The client's state in one directory, with its keystore.
#[derive(Clone)]
pub struct Profile {
    dir: PathBuf,
    profile_id: String,
    store: Arc<dyn KeyStore>,
    clock: Arc<dyn Clock>,
    timeout: Duration,
    /// One HTTP client for every server, made on first use: it keeps connections open.
    http: Arc<std::sync::OnceLock<reqwest::Client>>,
}

impl Profile {
    /// Opens (creating if needed) the profile in `dir`, keeping keys in `store`.
    pub fn open(dir: impl Into<PathBuf>, store: Arc<dyn KeyStore>) -> Result<Self, ClientError> {
        let dir = dir.into();
        create_private_dir(&dir).map_err(|e| profile_error(&dir, e))?;
        let mut profile = Profile {
            dir,
            profile_id: String::new(),
            store,
            clock: Arc::new(SystemClock),
            timeout: Duration::from_secs(OUTCOME_POLL_MAX_SECS + 10),
            http: Arc::default(),
        };
        let state = profile.update(|_| Ok(()))?;
        profile.profile_id = state.profile_id;
        Ok(profile)
    }

    /// Uses `clock` for timestamps (tests pin time).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Limits each server request to `timeout` (at least the long poll's 25 s in the product).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self.http = Arc::default();
        self
    }

    /// The profile's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The keystore.
    pub fn store(&self) -> &dyn KeyStore {
        self.store.as_ref()
    }

    /// The clock.
    pub fn clock(&self) -> &dyn Clock {
        self.clock.as_ref()
    }

    /// The random id prefixing this profile's keystore entries.
    pub fn profile_id(&self) -> &str {
        &self.profile_id
    }

    /// A server connection with this profile's limits.
    pub fn server(&self, origin: &Origin) -> Result<ServerApi, ClientError> {
        let http = match self.http.get() {
            Some(http) => http.clone(),
            None => {
                let made = crate::server_api::http_client(self.timeout)?;
                self.http.get_or_init(|| made).clone()
            }
        };
        Ok(ServerApi::with_client(origin.clone(), http))
    }

    /// The identities, oldest first.
    pub fn identities(&self) -> Result<Vec<Identity>, ClientError> {
        Ok(self.read()?.identities)
    }

    /// The identity whose id starts with `selector` (at least [`MIN_ID_PREFIX`] characters), or
    /// whose server origin is `selector` when only one identity is at that server.
    pub fn find(&self, selector: &str) -> Result<Identity, ClientError> {
        find_in(&self.identities()?, selector)
    }

    /// Adds a paired identity.
    pub(crate) fn add(&self, identity: Identity) -> Result<(), ClientError> {
        self.update(|state| {
            state
                .identities
                .retain(|i| i.device_id != identity.device_id);
            state.identities.push(identity);
            Ok(())
        })?;
        Ok(())
    }

    /// A signed call as `identity`'s device.
    pub async fn device_call<B: Serialize, T: DeserializeOwned>(
        &self,
        identity: &Identity,
        method: reqwest::Method,
        path_and_query: &str,
        body: Option<&B>,
    ) -> Result<T, ClientError> {
        let key = StoredKey {
            store: self.store.as_ref(),
            key: &identity.key,
            public_key: identity.public_key.clone(),
        };
        let api = self.server(&identity.origin)?;
        Ok(api
            .device_call(&identity.device_id, &key, method, path_and_query, body)
            .await?)
    }

    /// Forgets the identity `selector` names: disconnects its key at the server (unless
    /// [`Forget::LocalOnly`]), deletes the key from the keystore, then removes it from the state.
    /// When a step fails, the later ones are not taken, so the command can be run again.
    pub async fn forget(&self, selector: &str, how: Forget) -> Result<Forgotten, ClientError> {
        let identity = self.find(selector)?;
        let server_told = match how {
            Forget::LocalOnly => false,
            Forget::TellServer => {
                self.disconnect_at_server(&identity).await?;
                true
            }
        };
        self.forget_here(&identity)?;
        Ok(Forgotten {
            identity,
            server_told,
        })
    }

    /// Forgets `identity` on this device only: deletes its key from the keystore, then removes it
    /// from the state (the server is not told; see [`Forget::LocalOnly`]).
    pub(crate) fn forget_here(&self, identity: &Identity) -> Result<(), ClientError> {
        self.store.delete(&identity.key)?;
        self.update(|state| {
            state
                .identities
                .retain(|i| i.device_id != identity.device_id);
            Ok(())
        })?;
        Ok(())
    }

    /// Renames the device of the identity `selector` names: at the server first (a signed call),
    /// then here. A name the protocol refuses (empty, too long, control characters) is
    /// [`ClientError::Unreadable`] before the server is asked.
    pub async fn rename(&self, selector: &str, name: &str) -> Result<Identity, ClientError> {
        let identity = self.find(selector)?;
        let name = DeviceName::parse(name.trim())?;
        let summary: DeviceSummary = self
            .device_call(
                &identity,
                reqwest::Method::POST,
                paths::DEVICE_RENAME,
                Some(&RenameDeviceRequest { name }),
            )
            .await?;
        let new_name = summary.name.as_str().to_string();
        let mut renamed = identity.clone();
        self.update(|state| {
            if let Some(stored) = state
                .identities
                .iter_mut()
                .find(|i| i.device_id == identity.device_id)
            {
                stored.device_name = new_name.clone();
                renamed = stored.clone();
            }
            Ok(())
        })?;
        Ok(renamed)
    }

    /// Tells `identity`'s server where to push this device's events (`POST /api/v1/device/push`,
    /// a signed call): a UnifiedPush or WebPush endpoint, or `None` to stop pushes. The server
    /// then POSTs each event there, besides the event stream the unlocked app holds open.
    /// Refusals keep the server's code (`device_disconnected`, …).
    pub async fn register_push(
        &self,
        identity: &Identity,
        endpoint: Option<PushEndpoint>,
        keys: Option<PushKeys>,
    ) -> Result<(), ClientError> {
        self.device_call::<_, ()>(
            identity,
            reqwest::Method::POST,
            paths::DEVICE_PUSH,
            Some(&PushRegistrationRequest { endpoint, keys }),
        )
        .await
    }

    /// Disconnects `identity`'s key at its server (a signed call). A key the server no longer
    /// knows, or already disconnected in the portal, counts as done.
    pub(crate) async fn disconnect_at_server(
        &self,
        identity: &Identity,
    ) -> Result<(), ClientError> {
        let result: Result<serde_json::Value, ClientError> = self
            .device_call::<(), _>(identity, reqwest::Method::DELETE, paths::DEVICE_SELF, None)
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(ClientError::Api(ApiFailure::Refused(e)))
                if matches!(
                    e.code,
                    ErrorCode::DeviceUnknown | ErrorCode::DeviceDisconnected
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    fn state_path(&self) -> PathBuf {
        self.dir.join(STATE_FILE)
    }

    fn read(&self) -> Result<State, ClientError> {
        let path = self.state_path();
        match fs::read(&path) {
            Ok(bytes) => parse_state(&path, &bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State {
                version: STATE_VERSION,
                profile_id: self.profile_id.clone(),
                identities: Vec::new(),
            }),
            Err(e) => Err(profile_error(&path, e)),
        }
    }

    /// Reads, changes and writes the state under the profile's lock.
    fn update(
        &self,
        change: impl FnOnce(&mut State) -> Result<(), ClientError>,
    ) -> Result<State, ClientError> {
        let lock_path = self.dir.join(LOCK_FILE);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| profile_error(&lock_path, e))?;
        lock.lock().map_err(|e| profile_error(&lock_path, e))?;
        let path = self.state_path();
        let (mut state, existed) = match fs::read(&path) {
            Ok(bytes) => (parse_state(&path, &bytes)?, true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (
                State {
                    version: STATE_VERSION,
                    profile_id: new_profile_id(),
                    identities: Vec::new(),
                },
                false,
            ),
            Err(e) => return Err(profile_error(&path, e)),
        };
        let before = serde_json::to_vec(&state).unwrap_or_default();
        change(&mut state)?;
        let after = serde_json::to_vec_pretty(&state)
            .map_err(|e| profile_error(&path, std::io::Error::other(e)))?;
        if !existed || before != serde_json::to_vec(&state).unwrap_or_default() {
            write_atomically(&path, &after).map_err(|e| profile_error(&path, e))?;
        }
        drop(lock);
        Ok(state)
    }
}

fn find_in(identities: &[Identity], selector: &str) -> Result<Identity, ClientError> {
    let selector = selector.trim();
    let by_origin: Vec<&Identity> = identities
        .iter()
        .filter(|i| i.origin.as_str() == selector.trim_end_matches('/'))
        .collect();
    let matches: Vec<&Identity> = if !by_origin.is_empty() {
        by_origin
    } else if selector.chars().count() >= MIN_ID_PREFIX {
        identities
            .iter()
            .filter(|i| i.device_id.to_text().starts_with(selector))
            .collect()
    } else {
        Vec::new()
    };
    match matches.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(ClientError::UnknownIdentity(selector.to_string())),
        _ => Err(ClientError::AmbiguousIdentity(selector.to_string())),
    }
}

fn parse_state(path: &Path, bytes: &[u8]) -> Result<State, ClientError> {
    let state: State = serde_json::from_slice(bytes).map_err(|e| ClientError::Profile {
        path: path.to_path_buf(),
        reason: format!("not a civkey state file ({e}); it was left as it is"),
    })?;
    if state.version != STATE_VERSION {
        return Err(ClientError::Profile {
            path: path.to_path_buf(),
            reason: format!(
                "written by another civkey version (state version {}, this one reads {STATE_VERSION})",
                state.version
            ),
        });
    }
    Ok(state)
}

fn new_profile_id() -> String {
    let mut bytes = [0u8; 9];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn profile_error(path: &Path, error: std::io::Error) -> ClientError {
    ClientError::Profile {
        path: path.to_path_buf(),
        reason: error.to_string(),
    }
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Writes a file only this user may read (an export or backup), replacing it atomically.
pub fn write_private_file(path: &Path, bytes: &[u8]) -> Result<(), ClientError> {
    write_atomically(path, bytes).map_err(|e| profile_error(path, e))
}

/// Writes `bytes` to `path` so that a reader (or a crash) sees the old file or the new one whole:
/// a temporary file beside it (mode 0600 on Unix) is written and fsynced, renamed over `path`,
/// and the folder is fsynced so that the rename itself survives a power cut.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let result = (|| {
        let mut file = options.open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        #[cfg(unix)]
        File::open(dir)?.sync_all()?;
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keystore::MemoryKeyStore;

    /// A profile folder not made yet, inside a temporary folder removed when dropped.
    fn temp_dir(name: &str) -> (tempfile::TempDir, PathBuf) {
        let tmp = tempfile::Builder::new()
            .prefix(&format!("civkey-profile-{name}-"))
            .tempdir()
            .unwrap();
        let dir = tmp.path().join("profile");
        (tmp, dir)
    }

    fn identity(device: u8, origin: &str) -> Identity {
        Identity {
            origin: Origin::parse(origin).unwrap(),
            device_id: DeviceId::from_bytes([device; 16]),
            device_name: "Laptop".into(),
            account_name: Some("Jana Nováková".into()),
            paired_at: 1_767_225_600,
            public_key: crate::server_api::Signer::public_key(
                &p256::ecdsa::SigningKey::from_slice(&[device; 32]).unwrap(),
            ),
            key: KeyRef::generate("p", "device"),
        }
    }

    #[test]
    fn a_new_profile_is_empty_and_keeps_its_id() {
        let (_tmp, dir) = temp_dir("new");
        let store = Arc::new(MemoryKeyStore::new());
        let profile = Profile::open(&dir, store.clone()).unwrap();
        assert!(profile.identities().unwrap().is_empty());
        let again = Profile::open(&dir, store).unwrap();
        assert_eq!(again.profile_id(), profile.profile_id());
        assert!(!profile.profile_id().is_empty());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.join(STATE_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "state file is private: {mode:o}");
        }
    }

    #[test]
    fn identities_are_stored_and_found_by_prefix_or_origin() {
        let (_tmp, dir) = temp_dir("find");
        let profile = Profile::open(&dir, Arc::new(MemoryKeyStore::new())).unwrap();
        let a = identity(1, "https://id.example.gov");
        let b = identity(2, "https://other.example.org");
        profile.add(a.clone()).unwrap();
        profile.add(b.clone()).unwrap();
        let reopened = Profile::open(&dir, Arc::new(MemoryKeyStore::new())).unwrap();
        assert_eq!(reopened.identities().unwrap(), vec![a.clone(), b.clone()]);
        assert_eq!(reopened.find(&a.short_id()).unwrap(), a);
        assert_eq!(reopened.find("https://other.example.org/").unwrap(), b);
        assert!(matches!(
            reopened.find("AQE"),
            Err(ClientError::UnknownIdentity(_))
        ));
        assert!(matches!(
            reopened.find("zzzzzz"),
            Err(ClientError::UnknownIdentity(_))
        ));
    }

    #[test]
    fn two_identities_at_one_server_need_the_id() {
        let (_tmp, dir) = temp_dir("ambiguous");
        let profile = Profile::open(&dir, Arc::new(MemoryKeyStore::new())).unwrap();
        profile.add(identity(1, "https://id.example.gov")).unwrap();
        profile.add(identity(3, "https://id.example.gov")).unwrap();
        assert!(matches!(
            profile.find("https://id.example.gov"),
            Err(ClientError::AmbiguousIdentity(_))
        ));
    }

    #[test]
    fn a_damaged_state_file_is_reported_and_left_alone() {
        let (_tmp, dir) = temp_dir("damaged");
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join(STATE_FILE), b"{\"version\": 1, \"identi").unwrap();
        let err = match Profile::open(&dir, Arc::new(MemoryKeyStore::new())) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("a damaged state file was accepted"),
        };
        assert!(
            err.contains(STATE_FILE) && err.contains("left as it is"),
            "{err}"
        );
        assert_eq!(
            fs::read(dir.join(STATE_FILE)).unwrap(),
            b"{\"version\": 1, \"identi"
        );
    }

    #[test]
    fn a_state_file_from_another_version_is_refused() {
        let (_tmp, dir) = temp_dir("version");
        fs::create_dir_all(&dir).unwrap();
        fs::write(
            dir.join(STATE_FILE),
            br#"{"version": 9, "profile_id": "x", "identities": []}"#,
        )
        .unwrap();
        let err = Profile::open(&dir, Arc::new(MemoryKeyStore::new()))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("state version 9"), "{err}");
    }

    #[tokio::test]
    async fn forgetting_locally_deletes_the_key_and_the_identity() {
        let (_tmp, dir) = temp_dir("forget");
        let store = Arc::new(MemoryKeyStore::new());
        let profile = Profile::open(&dir, store.clone()).unwrap();
        let mut a = identity(1, "https://id.example.gov");
        a.public_key = store.create_signing_key(&a.key).unwrap();
        profile.add(a.clone()).unwrap();
        let forgotten = profile
            .forget(&a.short_id(), Forget::LocalOnly)
            .await
            .unwrap();
        assert!(!forgotten.server_told);
        assert!(store.is_empty());
        assert!(profile.identities().unwrap().is_empty());
    }

    #[tokio::test]
    async fn forgetting_stops_when_the_server_cannot_be_told() {
        let (_tmp, dir) = temp_dir("forget-unreachable");
        let store = Arc::new(MemoryKeyStore::new());
        let profile = Profile::open(&dir, store.clone())
            .unwrap()
            .with_timeout(Duration::from_secs(2));
        // A loopback port nobody listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut a = identity(1, &format!("http://127.0.0.1:{port}"));
        a.public_key = store.create_signing_key(&a.key).unwrap();
        profile.add(a.clone()).unwrap();
        let err = profile
            .forget(&a.short_id(), Forget::TellServer)
            .await
            .unwrap_err();
        assert!(
            matches!(err, ClientError::Api(ApiFailure::Unreachable(_))),
            "{err:?}"
        );
        assert_eq!(profile.identities().unwrap(), vec![a]);
        assert_eq!(store.len(), 1);
    }
}
