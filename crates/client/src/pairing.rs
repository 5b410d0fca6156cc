//! Pairing: from a scanned `civkey://pair` URI to a stored identity.
//!
//! 1. Read the URI strictly (an `http://` origin other than loopback is refused by the protocol
//!    crate).
//! 2. Make the device key in the keystore; it is deleted again unless the flow ends in a confirmed
//!    pairing (also when the [`PendingPairing`] is simply dropped).
//! 3. Claim the session with a proof signed by the new key (our commitment to it); the server then
//!    draws its nonce and answers with it. The confirmation code is derived here, from the URI's
//!    secret, our own public key and the server's nonce; a server that reports another code is not
//!    trusted (a relayed QR code yields a different code, which is the point of comparing).
//! 4. Show the code, wait for the browser's decision (long polls), and store the identity only when
//!    the citizen confirmed it.

use civkey_proto::ids::DeviceId;
use civkey_proto::pair::{ConfirmationCode, PairClaimResponse, PairStatus, PairingUri};
use civkey_proto::sign::DevicePublicKey;
use civkey_proto::{ErrorCode, Origin, ScannedCode};
use serde::Serialize;

use crate::keystore::KeyRef;
use crate::profile::{Identity, Profile};
use crate::server_api::{ApiFailure, DeviceDescription, ServerApi, StoredKey};
use crate::{ClientError, CodeSummary};

/// How long after the session's stated expiry the client keeps asking before it calls the session
/// expired itself (a server that keeps saying "claimed" must not hold the app forever).
pub const EXPIRY_GRACE_SECS: u64 = 30;

/// What the citizen compares: shown as soon as the session is claimed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PairingStarted {
    /// The server.
    pub origin: Origin,
    /// The code to compare with the browser's.
    pub confirmation_code: ConfirmationCode,
    /// When the session expires (Unix seconds).
    pub expires_at: u64,
}

/// Reads `text` as a pairing URI, or says what it is instead.
pub fn read_pairing_uri(text: &str) -> Result<PairingUri, ClientError> {
    match ScannedCode::parse(text)? {
        ScannedCode::Pair(uri) => Ok(uri),
        other => Err(ClientError::NotPairing(CodeSummary::of(&other))),
    }
}

/// A claimed pairing session: the code is known, the browser has not decided yet. Dropping it
/// abandons the pairing and deletes the new key. It holds its own handle on the profile (a cheap
/// clone), so an app can keep it between two of its commands.
pub struct PendingPairing {
    api: ServerApi,
    uri: PairingUri,
    new_key: NewKey,
    claim: PairClaimResponse,
    device_name: String,
    /// What to show the citizen.
    pub started: PairingStarted,
}

impl Profile {
    /// Pairs this device using the scanned or pasted `text`: calls `on_code` with the confirmation
    /// code once the session is claimed, then waits for the browser's decision and returns the
    /// stored identity. On any error, nothing is stored and the new key is deleted again.
    pub async fn pair(
        &self,
        text: &str,
        device: &DeviceDescription,
        on_code: impl FnOnce(&PairingStarted),
    ) -> Result<Identity, ClientError> {
        let pending = self.begin_pairing(text, device).await?;
        on_code(&pending.started);
        pending.finish().await
    }

    /// The first half of [`Profile::pair`]: reads the URI, makes the key, claims the session and
    /// checks the confirmation code.
    pub async fn begin_pairing(
        &self,
        text: &str,
        device: &DeviceDescription,
    ) -> Result<PendingPairing, ClientError> {
        let uri = read_pairing_uri(text)?;
        let api = self.server(&uri.origin)?;
        let new_key = NewKey::create(self)?;
        let claim = api
            .claim_pairing(&uri, &new_key.stored(), device)
            .await
            .map_err(pairing_error)?;
        let ours = uri.confirmation_code(new_key.public_key(), &claim.server_nonce);
        if claim.confirmation_code != ours {
            return Err(ClientError::CodeMismatch);
        }
        let started = PairingStarted {
            origin: uri.origin.clone(),
            confirmation_code: ours,
            expires_at: claim.expires_at,
        };
        Ok(PendingPairing {
            api,
            uri,
            new_key,
            claim,
            device_name: device.name.as_str().to_string(),
            started,
        })
    }
}

impl PendingPairing {
    /// The second half of [`Profile::pair`]: waits for the browser's decision and stores the
    /// identity when the citizen confirmed.
    pub async fn finish(self) -> Result<Identity, ClientError> {
        let PendingPairing {
            api,
            uri,
            new_key,
            claim,
            device_name,
            started: _,
        } = self;
        let profile = new_key.profile();
        let outcome = loop {
            let outcome = api
                .pairing_outcome(&uri, &claim.claim_token)
                .await
                .map_err(pairing_error)?;
            match outcome.status {
                PairStatus::Confirmed => break outcome,
                PairStatus::Refused => return Err(ClientError::PairingRefused),
                PairStatus::Expired => return Err(ClientError::PairingExpired),
                PairStatus::Claimed | PairStatus::Waiting => {
                    let deadline = claim.expires_at.max(outcome.expires_at);
                    if profile.clock().now() > deadline.saturating_add(EXPIRY_GRACE_SECS) {
                        return Err(ClientError::PairingExpired);
                    }
                }
            }
        };
        new_key
            .into_identity(
                uri.origin.clone(),
                outcome.device_id,
                device_name,
                outcome.account_name,
                "a confirmed pairing",
            )
            .await
    }
}

/// A device key made for a pairing or an onboarding: deleted from the keystore when dropped,
/// unless it became an identity's key. Whatever stops the flow half-way (an error, a refusal, the
/// future or the pending flow being dropped), no orphaned key is left behind.
pub(crate) struct NewKey {
    profile: Profile,
    key: KeyRef,
    public_key: DevicePublicKey,
    kept: bool,
}

impl NewKey {
    /// Makes a device key in `profile`'s keystore.
    pub(crate) fn create(profile: &Profile) -> Result<NewKey, ClientError> {
        let key = KeyRef::generate(profile.profile_id(), "device");
        let public_key = profile.store().create_signing_key(&key)?;
        Ok(NewKey {
            profile: profile.clone(),
            key,
            public_key,
            kept: false,
        })
    }

    /// The profile the key was made in.
    pub(crate) fn profile(&self) -> &Profile {
        &self.profile
    }

    /// The key's public half.
    pub(crate) fn public_key(&self) -> &DevicePublicKey {
        &self.public_key
    }

    /// The key, to sign with.
    pub(crate) fn stored(&self) -> StoredKey<'_> {
        StoredKey {
            store: self.profile.store(),
            key: &self.key,
            public_key: self.public_key.clone(),
        }
    }

    /// The server made the key the device `device_id` (`None` is a server's mistake, named by
    /// `what`: "a confirmed pairing"): stores the identity and keeps the key. If the identity
    /// cannot be stored, the key is disconnected at the server before it is deleted here, so no
    /// half-made mobile key is left on either side.
    pub(crate) async fn into_identity(
        mut self,
        origin: Origin,
        device_id: Option<DeviceId>,
        device_name: String,
        account_name: Option<String>,
        what: &str,
    ) -> Result<Identity, ClientError> {
        let device_id = device_id.ok_or_else(|| {
            ClientError::Api(ApiFailure::Garbage(format!("{what} without a device id")))
        })?;
        let identity = Identity {
            origin,
            device_id,
            device_name,
            account_name,
            paired_at: self.profile.clock().now(),
            public_key: self.public_key.clone(),
            key: self.key.clone(),
        };
        if let Err(error) = self.profile.add(identity.clone()) {
            let _ = self.profile.disconnect_at_server(&identity).await;
            return Err(error);
        }
        self.kept = true;
        Ok(identity)
    }
}

impl Drop for NewKey {
    fn drop(&mut self) {
        if !self.kept {
            // Best effort: the flow's own error is the one to report.
            let _ = self.profile.store().delete(&self.key);
        }
    }
}

/// The server's pairing refusals as the app names them.
fn pairing_error(failure: ApiFailure) -> ClientError {
    match failure.code() {
        Some(ErrorCode::PairingExpired) => ClientError::PairingExpired,
        Some(ErrorCode::PairingRefused) => ClientError::PairingRefused,
        _ => ClientError::from(failure),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keystore::KeyStoreError;

    #[test]
    fn other_codes_are_not_taken_for_pairing() {
        let err =
            read_pairing_uri("otpauth://totp/GitHub:jana?secret=JBSWY3DPEHPK3PXP&issuer=GitHub")
                .unwrap_err();
        assert!(
            matches!(err, ClientError::NotPairing(CodeSummary::Otp { .. })),
            "{err:?}"
        );
        let err = read_pairing_uri("https://example.com/").unwrap_err();
        assert!(matches!(err, ClientError::Unreadable(_)), "{err:?}");
    }

    #[test]
    fn a_pairing_uri_for_plain_http_off_loopback_is_refused() {
        let uri = "civkey://pair?v=1&s=http%3A%2F%2Fid.example.gov&id=AAECAwQFBgcICQoLDA0ODw&k=EBESExQVFhcYGRobHB0eHw";
        let err = read_pairing_uri(uri).unwrap_err();
        assert!(matches!(err, ClientError::Unreadable(_)), "{err:?}");
        assert!(err.to_string().contains("http"), "{err}");
        let loopback = "civkey://pair?v=1&s=http%3A%2F%2F127.0.0.1%3A8080&id=AAECAwQFBgcICQoLDA0ODw&k=EBESExQVFhcYGRobHB0eHw";
        assert!(read_pairing_uri(loopback).is_ok());
    }

    #[test]
    fn truncated_and_oversized_uris_are_refused() {
        let full = "civkey://pair?v=1&s=https%3A%2F%2Fid.example.gov&id=AAECAwQFBgcICQoLDA0ODw&k=EBESExQVFhcYGRobHB0eHw";
        for cut in [20, 40, 60, full.len() - 5] {
            assert!(read_pairing_uri(&full[..cut]).is_err(), "{}", &full[..cut]);
        }
        let oversized = format!("{full}&pad={}", "A".repeat(5000));
        assert!(read_pairing_uri(&oversized).is_err());
    }

    #[tokio::test]
    async fn a_refusing_keystore_stops_pairing_before_the_server_hears_of_it() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let uri = format!(
            "civkey://pair?v=1&s=http%3A%2F%2F127.0.0.1%3A{port}&id=AAECAwQFBgcICQoLDA0ODw&k=EBESExQVFhcYGRobHB0eHw"
        );
        let tmp = tempfile::tempdir().unwrap();
        let profile = Profile::open(
            tmp.path().join("profile"),
            std::sync::Arc::new(crate::keystore::RefusingKeyStore),
        )
        .unwrap();
        let err = profile
            .pair(&uri, &crate::this_computer().unwrap(), |_| {
                panic!("no code")
            })
            .await
            .unwrap_err();
        assert!(
            matches!(err, ClientError::KeyStore(KeyStoreError::Refused(_))),
            "{err:?}"
        );
        assert!(err
            .describe(civkey_i18n::Locale::En)
            .contains("The OS keystore refused access (the collection is locked)"));
        let accepted =
            tokio::time::timeout(std::time::Duration::from_millis(200), listener.accept()).await;
        assert!(accepted.is_err(), "the server was contacted");
        assert!(profile.identities().unwrap().is_empty());
    }
}
