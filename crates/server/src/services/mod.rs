//! The flows, testable without HTTP: each takes the store and a clock and returns a typed result.

pub mod bok;
pub mod cache;
pub mod citizens;
pub mod clerks;
pub mod delivery;
pub mod devices;
#[cfg(test)]
pub(crate) mod fixtures;
pub mod limits;
pub mod notify;
pub mod oidc;
pub mod onboarding;
pub mod pairing;
pub mod portal_signin;
pub mod push_guard;
pub mod secrets;
pub mod step_up;
pub mod webpush;

use std::sync::Arc;

use civkey_proto::sign::{DevicePublicKey, Signature};
use civkey_proto::{ErrorCode, Origin};

use crate::clock::Clock;
use crate::signal::ChangeSignal;
use crate::store::{Store, StoreError};
use cache::Caches;

/// What every flow needs: the store, the clock, the change signal and the server's own origin.
#[derive(Clone)]
pub struct Services {
    /// The database.
    pub store: Store,
    /// The time.
    pub clock: Arc<dyn Clock>,
    /// Wakes live updates.
    pub signal: ChangeSignal,
    /// Where citizens and apps reach this server (signed into every device message).
    pub origin: Origin,
    /// What the login hot path keeps in memory (see [`cache`]).
    pub(crate) cache: Arc<Caches>,
    /// The operator's BOK-pad settings (see [`bok::BokPolicy`]).
    pub(crate) bok: bok::BokPolicy,
    /// How long an identification code for in-person onboarding is valid.
    pub(crate) onboarding_ttl_secs: u64,
    /// Where devices' push endpoints may point, and the client that POSTs to them.
    pub(crate) push: push_guard::PushPolicy,
    /// The request-rate limits and the device stream cap (see [`limits`]).
    pub(crate) limits: limits::RequestLimits,
    /// The device event streams open in this process (see [`limits::DeviceStreams`]).
    pub device_streams: Arc<limits::DeviceStreams>,
    /// This process's counters (see [`crate::metrics`]).
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Begun when the process stops (see [`crate::shutdown`]).
    pub shutdown: crate::shutdown::Shutdown,
}

impl Services {
    /// The flows over `store`, on `clock`, for the server at `origin`.
    pub fn new(store: Store, clock: Arc<dyn Clock>, origin: Origin) -> Services {
        Services {
            signal: store.change_signal(),
            store,
            clock,
            origin,
            cache: Arc::default(),
            bok: bok::BokPolicy::default(),
            onboarding_ttl_secs: civkey_proto::onboard::ONBOARDING_TTL_SECS,
            push: push_guard::PushPolicy::default(),
            limits: limits::RequestLimits::default(),
            device_streams: Arc::default(),
            metrics: Arc::default(),
            shutdown: crate::shutdown::Shutdown::default(),
        }
    }

    /// The same flows with identification codes valid `secs` seconds instead of the default.
    pub fn with_onboarding_ttl(mut self, secs: u64) -> Services {
        self.onboarding_ttl_secs = secs;
        self
    }

    /// The same flows with the operator's BOK-pad settings instead of the defaults.
    pub fn with_bok_policy(mut self, policy: bok::BokPolicy) -> Services {
        self.bok = policy;
        self
    }

    /// The same flows with another push policy than production's (the loopback test mode, the
    /// operator's list of push services).
    pub fn with_push_policy(mut self, policy: push_guard::PushPolicy) -> Services {
        self.push = policy;
        self
    }

    /// The same flows with other request-rate limits (see [`limits`]).
    pub fn with_request_limits(mut self, limits: limits::RequestLimits) -> Services {
        self.limits = limits;
        self
    }

    /// The same flows, letting go of clients when `shutdown` begins (see [`crate::shutdown`]).
    pub fn with_shutdown(mut self, shutdown: crate::shutdown::Shutdown) -> Services {
        self.shutdown = shutdown;
        self
    }
}

/// Checks an ECDSA P-256 / SHA-256 signature (`r ‖ s`) with `ring`, the fast path: about five
/// times the verifications per second of the pure-Rust `p256` (see docs/benchmarks.md).
pub fn verify_signature(
    key: &DevicePublicKey,
    message: &[u8],
    signature: &Signature,
) -> Result<(), ServiceError> {
    ring::signature::UnparsedPublicKey::new(
        &ring::signature::ECDSA_P256_SHA256_FIXED,
        key.as_sec1(),
    )
    .verify(message, signature.as_bytes())
    .map_err(|_| ServiceError::refused(ErrorCode::BadSignature, "the signature does not verify"))
}

/// Why a flow refused or failed. Each refusal carries the stable wire code the API answers with.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The request was understood and refused (expired, used, wrong code, …).
    #[error("{message}")]
    Refused {
        /// The wire code.
        code: ErrorCode,
        /// A short English explanation, safe to show.
        message: String,
    },
    /// Too many failed attempts: try again after `retry_after` seconds.
    #[error("too many failed attempts; try again in {retry_after} seconds")]
    RateLimited {
        /// Seconds until the window ends.
        retry_after: u64,
    },
    /// The server is too busy to take this now (its password hashing queue is full): try again
    /// after `retry_after` seconds. Nothing was checked or counted.
    #[error("the server is busy; try again in {retry_after} seconds")]
    Busy {
        /// Seconds to wait.
        retry_after: u64,
    },
    /// The store failed; the cause is logged, the client hears "internal".
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Something else failed inside the server.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ServiceError {
    /// A refusal with `code` and `message`.
    pub fn refused(code: ErrorCode, message: impl Into<String>) -> Self {
        ServiceError::Refused {
            code,
            message: message.into(),
        }
    }

    /// The wire code for this error (`internal` for failures).
    pub fn code(&self) -> ErrorCode {
        match self {
            ServiceError::Refused { code, .. } => *code,
            // A client waits and tries again after either; no wire code of its own yet.
            ServiceError::RateLimited { .. } | ServiceError::Busy { .. } => ErrorCode::RateLimited,
            ServiceError::Store(_) | ServiceError::Internal(_) => ErrorCode::Internal,
        }
    }
}
