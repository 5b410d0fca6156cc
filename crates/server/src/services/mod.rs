//! The flows, testable without HTTP: each takes the store and a clock and returns a typed result.

pub mod citizens;

use civkey_proto::ErrorCode;

use crate::store::StoreError;

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
            ServiceError::Store(_) | ServiceError::Internal(_) => ErrorCode::Internal,
        }
    }
}
