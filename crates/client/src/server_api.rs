//! Talking to a civkey server: the pairing claim, the outcome long poll, and signed device calls.
//!
//! The signing key is passed in; the keystore-backed identity (issue 4) holds it in the OS
//! keystore and hands it here for the moment of signing.

use std::time::Duration;

use civkey_proto::device::{DeviceCallAuth, DeviceKind, DeviceModel, DeviceName};
use civkey_proto::ids::{ClaimToken, DeviceId, Nonce};
use civkey_proto::pair::{
    PairClaimRequest, PairClaimResponse, PairOutcome, PairOutcomeRequest, PairingUri,
    OUTCOME_POLL_MAX_SECS,
};
use civkey_proto::sign::{sign, DeviceCall, DevicePublicKey, PairingProof};
use civkey_proto::{paths, ApiError, ErrorCode, Origin};
use p256::ecdsa::SigningKey;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// What can go wrong talking to a server.
#[derive(Debug, thiserror::Error)]
pub enum ApiFailure {
    /// The server refused, with its stable code.
    #[error("the server refused: {0}")]
    Refused(ApiError),
    /// The server could not be reached or did not answer in time.
    #[error("cannot reach the server: {0}")]
    Unreachable(String),
    /// The server answered something that is not the protocol.
    #[error("the server's answer is not valid: {0}")]
    Garbage(String),
}

impl ApiFailure {
    /// The server's error code, when it refused.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ApiFailure::Refused(e) => Some(e.code),
            _ => None,
        }
    }
}

/// A connection to one civkey server.
#[derive(Clone, Debug)]
pub struct ServerApi {
    origin: Origin,
    http: reqwest::Client,
}

/// How the app describes itself when pairing.
#[derive(Debug, Clone)]
pub struct DeviceDescription {
    /// The proposed name.
    pub name: DeviceName,
    /// The model.
    pub model: DeviceModel,
    /// The kind.
    pub kind: DeviceKind,
}

impl ServerApi {
    /// A client for the server at `origin`. Requests time out after the long poll's limit plus a
    /// margin, so a silent server is an error, not a hang.
    pub fn new(origin: Origin) -> Result<Self, ApiFailure> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(OUTCOME_POLL_MAX_SECS + 10))
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| ApiFailure::Unreachable(e.to_string()))?;
        Ok(ServerApi { origin, http })
    }

    /// The server's origin.
    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    /// Claims the pairing session of `uri` with `key`, proving possession of it.
    pub async fn claim_pairing(
        &self,
        uri: &PairingUri,
        key: &SigningKey,
        device: &DeviceDescription,
    ) -> Result<PairClaimResponse, ApiFailure> {
        let public_key = DevicePublicKey::from(&p256::PublicKey::from(key.verifying_key()));
        let proof = PairingProof {
            origin: &uri.origin,
            session_id: &uri.session_id,
            secret: &uri.secret,
            public_key: &public_key,
            device_name: device.name.as_str(),
        }
        .signed_bytes();
        let body = PairClaimRequest {
            secret: uri.secret.clone(),
            public_key,
            device_name: device.name.clone(),
            device_model: device.model.clone(),
            device_kind: device.kind,
            proof: sign(key, &proof),
        };
        let path = paths::fill(
            paths::PAIR_CLAIM,
            &[("session_id", &uri.session_id.to_text())],
        );
        self.send(self.http.post(self.url(&path)).json(&body)).await
    }

    /// Waits (long poll) for the browser's decision; returns when it is final or the server's
    /// poll window ends (status `claimed`: ask again).
    pub async fn pairing_outcome(
        &self,
        uri: &PairingUri,
        claim_token: &ClaimToken,
    ) -> Result<PairOutcome, ApiFailure> {
        let path = paths::fill(
            paths::PAIR_OUTCOME,
            &[("session_id", &uri.session_id.to_text())],
        );
        let body = PairOutcomeRequest {
            claim_token: claim_token.clone(),
        };
        self.send(self.http.post(self.url(&path)).json(&body)).await
    }

    /// A signed device call: `method` on `path_and_query` with an optional JSON body.
    pub async fn device_call<B: Serialize, T: DeserializeOwned>(
        &self,
        device_id: &DeviceId,
        key: &SigningKey,
        method: reqwest::Method,
        path_and_query: &str,
        body: Option<&B>,
    ) -> Result<T, ApiFailure> {
        let bytes = match body {
            Some(b) => serde_json::to_vec(b).map_err(|e| ApiFailure::Garbage(e.to_string()))?,
            None => Vec::new(),
        };
        let nonce = Nonce::generate(&mut rand::rngs::OsRng);
        let timestamp = now();
        let signed = DeviceCall {
            origin: &self.origin,
            device_id,
            method: method.as_str(),
            path_and_query,
            body: &bytes,
            timestamp,
            nonce: &nonce,
        }
        .signed_bytes();
        let auth = DeviceCallAuth {
            device_id: *device_id,
            timestamp,
            nonce,
            signature: sign(key, &signed),
        };
        let mut request = self.http.request(method, self.url(path_and_query));
        for (name, value) in auth.to_headers() {
            request = request.header(name, value);
        }
        if body.is_some() {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(bytes);
        }
        self.send(request).await
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.origin)
    }

    async fn send<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<T, ApiFailure> {
        let response = request
            .send()
            .await
            .map_err(|e| ApiFailure::Unreachable(e.to_string()))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| ApiFailure::Unreachable(e.to_string()))?;
        if status.is_success() {
            let bytes: &[u8] = if bytes.is_empty() { b"null" } else { &bytes };
            serde_json::from_slice(bytes).map_err(|e| ApiFailure::Garbage(e.to_string()))
        } else {
            match serde_json::from_slice::<ApiError>(&bytes) {
                Ok(error) => Err(ApiFailure::Refused(error)),
                Err(_) => Err(ApiFailure::Garbage(format!(
                    "HTTP {status} without an error body"
                ))),
            }
        }
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
