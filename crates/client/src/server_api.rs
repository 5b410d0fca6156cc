//! Talking to a civkey server: the pairing claim, the outcome long poll, and signed device calls.
//!
//! Signing goes through a [`Signer`]: a key in the OS keystore ([`StoredKey`]) in the product, a
//! plain `SigningKey` in protocol tests.

use std::time::Duration;

use civkey_proto::device::{DeviceCallAuth, DeviceKind, DeviceModel, DeviceName};
use civkey_proto::ids::{ClaimToken, DeviceId, Nonce, OnboardingId};
use civkey_proto::onboard::{
    OnboardOutcome, OnboardOutcomeRequest, OnboardStartRequest, OnboardStartResponse,
};
use civkey_proto::pair::{
    PairClaimRequest, PairClaimResponse, PairOutcome, PairOutcomeRequest, PairingUri,
    OUTCOME_POLL_MAX_SECS,
};
use civkey_proto::sign::{DeviceCall, DevicePublicKey, OnboardingProof, PairingProof, Signature};
use civkey_proto::{paths, ApiError, ErrorCode, Origin};
use p256::ecdsa::SigningKey;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::keystore::{KeyRef, KeyStore, KeyStoreError};

/// Something that signs with a device key.
pub trait Signer: Sync {
    /// The public half.
    fn public_key(&self) -> DevicePublicKey;
    /// Signs `message`.
    fn sign(&self, message: &[u8]) -> Result<Signature, KeyStoreError>;
}

impl Signer for SigningKey {
    fn public_key(&self) -> DevicePublicKey {
        DevicePublicKey::from(&p256::PublicKey::from(self.verifying_key()))
    }

    fn sign(&self, message: &[u8]) -> Result<Signature, KeyStoreError> {
        Ok(civkey_proto::sign::sign(self, message))
    }
}

/// A device key in a [`KeyStore`], with its public half known.
pub struct StoredKey<'a> {
    /// The store.
    pub store: &'a dyn KeyStore,
    /// The entry.
    pub key: &'a KeyRef,
    /// Its public half.
    pub public_key: DevicePublicKey,
}

impl Signer for StoredKey<'_> {
    fn public_key(&self) -> DevicePublicKey {
        self.public_key.clone()
    }

    fn sign(&self, message: &[u8]) -> Result<Signature, KeyStoreError> {
        self.store.sign(self.key, message)
    }
}

/// What can go wrong talking to a server.
#[derive(Debug, thiserror::Error)]
pub enum ApiFailure {
    /// The server refused, with its stable code.
    #[error("the server refused: {0}")]
    Refused(ApiError),
    /// The server could not be reached or did not answer in time.
    #[error("cannot reach the server: {0}")]
    Unreachable(String),
    /// The server does not know the path (404 without an error body): an older server.
    #[error("the server does not offer this (HTTP 404)")]
    NotFound,
    /// The server answered something that is not the protocol.
    #[error("the server's answer is not valid: {0}")]
    Garbage(String),
    /// The device key could not sign.
    #[error(transparent)]
    KeyStore(#[from] KeyStoreError),
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

/// The largest answer the client reads; the protocol's answers are a few hundred bytes.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;

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
        Self::with_timeout(origin, Duration::from_secs(OUTCOME_POLL_MAX_SECS + 10))
    }

    /// As [`ServerApi::new`] with another limit for each request (at least the long poll's, in
    /// the product; tests shorten it).
    pub fn with_timeout(origin: Origin, timeout: Duration) -> Result<Self, ApiFailure> {
        Ok(ServerApi {
            origin,
            http: http_client(timeout)?,
        })
    }

    /// A connection over an existing HTTP client (which keeps its connections open between calls).
    pub fn with_client(origin: Origin, http: reqwest::Client) -> Self {
        ServerApi { origin, http }
    }

    /// The server's origin.
    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    /// Claims the pairing session of `uri` with `key`, proving possession of it.
    pub async fn claim_pairing(
        &self,
        uri: &PairingUri,
        key: &dyn Signer,
        device: &DeviceDescription,
    ) -> Result<PairClaimResponse, ApiFailure> {
        let public_key = key.public_key();
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
            proof: key.sign(&proof)?,
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

    /// Starts in-person onboarding with `key` (no account yet), proving possession of it at
    /// `timestamp`; the answer carries the identification code to show.
    pub async fn start_onboarding(
        &self,
        key: &dyn Signer,
        device: &DeviceDescription,
        timestamp: u64,
    ) -> Result<OnboardStartResponse, ApiFailure> {
        let public_key = key.public_key();
        let proof = OnboardingProof {
            origin: &self.origin,
            public_key: &public_key,
            device_name: device.name.as_str(),
            device_model: device.model.as_str(),
            device_kind: device.kind.as_str(),
            timestamp,
        }
        .signed_bytes();
        let body = OnboardStartRequest {
            public_key,
            device_name: device.name.clone(),
            device_model: device.model.clone(),
            device_kind: device.kind,
            timestamp,
            proof: key.sign(&proof)?,
        };
        self.send(self.http.post(self.url(paths::ONBOARD_START)).json(&body))
            .await
    }

    /// Waits (long poll) for a clerk to complete the onboarding; returns when it is final or the
    /// server's poll window ends (status `waiting`: ask again).
    pub async fn onboarding_outcome(
        &self,
        onboarding_id: &OnboardingId,
        claim_token: &ClaimToken,
    ) -> Result<OnboardOutcome, ApiFailure> {
        let path = paths::fill(
            paths::ONBOARD_OUTCOME,
            &[("onboarding_id", &onboarding_id.to_text())],
        );
        let body = OnboardOutcomeRequest {
            claim_token: claim_token.clone(),
        };
        self.send(self.http.post(self.url(&path)).json(&body)).await
    }

    /// Sends the citizen's signed login decision (the signature is inside the body).
    pub async fn login_decision(
        &self,
        request_id: &civkey_proto::ids::LoginRequestId,
        body: &civkey_proto::login::LoginDecisionRequest,
    ) -> Result<civkey_proto::login::LoginDecisionResponse, ApiFailure> {
        let path = paths::fill(
            paths::LOGIN_DECISION,
            &[("request_id", &request_id.to_text())],
        );
        self.send(self.http.post(self.url(&path)).json(body)).await
    }

    /// A signed device call: `method` on `path_and_query` with an optional JSON body.
    pub async fn device_call<B: Serialize, T: DeserializeOwned>(
        &self,
        device_id: &DeviceId,
        key: &dyn Signer,
        method: reqwest::Method,
        path_and_query: &str,
        body: Option<&B>,
    ) -> Result<T, ApiFailure> {
        let request = self.signed_request(device_id, key, method, path_and_query, body)?;
        self.send(request).await
    }

    /// A signed `GET` of a stream (server-sent events): the response once its status is a
    /// success, its body still to be read. `last_event_id` resumes after that event; `timeout`
    /// limits the whole response (a stream is reopened after it), replacing the client's.
    /// A refusal is read as for [`ServerApi::device_call`]; a 404 without an error body is
    /// [`ApiFailure::NotFound`] (a server that does not have the stream).
    pub async fn device_stream(
        &self,
        device_id: &DeviceId,
        key: &dyn Signer,
        path_and_query: &str,
        last_event_id: Option<&str>,
        timeout: Duration,
    ) -> Result<reqwest::Response, ApiFailure> {
        let mut request = self
            .signed_request::<()>(device_id, key, reqwest::Method::GET, path_and_query, None)?
            .header(reqwest::header::ACCEPT, "text/event-stream")
            .timeout(timeout);
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        let response = request
            .send()
            .await
            .map_err(|e| ApiFailure::Unreachable(e.to_string()))?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status();
        match read_limited(response).await {
            Ok(bytes) => match serde_json::from_slice::<ApiError>(&bytes) {
                Ok(error) => Err(ApiFailure::Refused(error)),
                Err(_) if status == reqwest::StatusCode::NOT_FOUND => Err(ApiFailure::NotFound),
                Err(_) => Err(ApiFailure::Garbage(format!(
                    "HTTP {status} without an error body"
                ))),
            },
            Err(e) => Err(e),
        }
    }

    fn signed_request<B: Serialize>(
        &self,
        device_id: &DeviceId,
        key: &dyn Signer,
        method: reqwest::Method,
        path_and_query: &str,
        body: Option<&B>,
    ) -> Result<reqwest::RequestBuilder, ApiFailure> {
        let bytes = match body {
            Some(b) => serde_json::to_vec(b).map_err(|e| ApiFailure::Garbage(e.to_string()))?,
            None => Vec::new(),
        };
        let nonce = Nonce::generate(&mut rand::rngs::OsRng);
        let timestamp = crate::clock::Clock::now(&crate::clock::SystemClock);
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
            signature: key.sign(&signed)?,
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
        Ok(request)
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
        let bytes = read_limited(response).await?;
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

/// The body of `response`, at most [`MAX_ANSWER_BYTES`].
async fn read_limited(mut response: reqwest::Response) -> Result<Vec<u8>, ApiFailure> {
    let mut bytes = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| ApiFailure::Unreachable(e.to_string()))?
    {
        if bytes.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(ApiFailure::Garbage(format!(
                "the answer is larger than {MAX_ANSWER_BYTES} bytes"
            )));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// An HTTP client for civkey servers: rustls with the Mozilla roots, `timeout` for each request.
/// Building one loads the root certificates, so callers keep it (see `Profile`).
pub fn http_client(timeout: Duration) -> Result<reqwest::Client, ApiFailure> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .user_agent(concat!("civkey/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| ApiFailure::Unreachable(e.to_string()))
}
