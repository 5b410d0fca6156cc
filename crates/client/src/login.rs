//! Logging in to a service: a scanned `civkey://login` URI → which service asks, from which web
//! origin, and when → the citizen's decision, signed with the device key.
//!
//! The request is opened with a device call (the server checks that the QR code is fresh, or the
//! launch token unused, and gives this device the request); the decision is signed over the
//! server, the request, the service, its web origin, the challenge and the time, so it cannot be
//! moved to another request or service.

use civkey_proto::login::{LoginDecisionRequest, LoginRequestInfo, LoginUri};
use civkey_proto::sign::{Decision, LoginApproval};
use civkey_proto::{paths, ScannedCode};

use crate::profile::{Identity, Profile};
use crate::server_api::{ApiFailure, Signer, StoredKey};
use crate::{ClientError, CodeSummary};

/// A login request this device opened: what to show before asking.
#[derive(Debug, Clone)]
pub struct OpenedLogin {
    /// The identity (server) it is for.
    pub identity: Identity,
    /// The scanned URI.
    pub uri: LoginUri,
    /// Which service asks, from where, when.
    pub info: LoginRequestInfo,
}

/// Reads `text` as a login URI, or says what it is instead.
pub fn read_login_uri(text: &str) -> Result<LoginUri, ClientError> {
    match ScannedCode::parse(text)? {
        ScannedCode::Login(uri) => Ok(uri),
        other => Err(ClientError::NotLogin(CodeSummary::of(&other))),
    }
}

impl Profile {
    /// Opens the login request of a scanned or pasted `text` with this device's identity at that
    /// server (the oldest, if there are several).
    pub async fn open_login(&self, text: &str) -> Result<OpenedLogin, ClientError> {
        let uri = read_login_uri(text)?;
        let identity = self
            .identities()?
            .into_iter()
            .find(|i| &i.origin == uri.origin())
            .ok_or_else(|| ClientError::NotPaired(uri.origin().to_string()))?;
        let path = paths::fill(
            paths::LOGIN_OPEN,
            &[("request_id", &uri.request_id().to_text())],
        );
        let info: LoginRequestInfo = self
            .device_call(
                &identity,
                reqwest::Method::POST,
                &path,
                Some(&uri.open_request()),
            )
            .await?;
        if &info.request_id != uri.request_id() {
            return Err(ClientError::Api(ApiFailure::Garbage(
                "the server answered for another login request".into(),
            )));
        }
        Ok(OpenedLogin {
            identity,
            uri,
            info,
        })
    }

    /// Signs and sends the citizen's decision on an opened request.
    pub async fn decide_login(
        &self,
        opened: &OpenedLogin,
        decision: Decision,
    ) -> Result<Decision, ClientError> {
        let identity = &opened.identity;
        let time = self.clock().now();
        let signed = LoginApproval {
            origin: &identity.origin,
            request_id: &opened.info.request_id,
            service_id: &opened.info.service_id,
            service_origin: &opened.info.service_origin,
            challenge: &opened.info.challenge,
            time,
            decision,
        }
        .signed_bytes();
        let key = StoredKey {
            store: self.store(),
            key: &identity.key,
            public_key: identity.public_key.clone(),
        };
        let body = LoginDecisionRequest {
            device_id: identity.device_id,
            decision,
            time,
            signature: key.sign(&signed)?,
        };
        let answer = self
            .server(&identity.origin)?
            .login_decision(&opened.info.request_id, &body)
            .await?;
        Ok(answer.decision)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn other_codes_are_not_taken_for_a_login() {
        let pairing = "civkey://pair?v=1&s=https%3A%2F%2Fid.example.gov&id=AAECAwQFBgcICQoLDA0ODw&k=EBESExQVFhcYGRobHB0eHw";
        assert!(matches!(
            read_login_uri(pairing),
            Err(ClientError::NotLogin(CodeSummary::Pairing { .. }))
        ));
        assert!(matches!(
            read_login_uri("civkey://login?v=1&s=https%3A%2F%2Fid.example.gov"),
            Err(ClientError::Unreadable(_))
        ));
    }
}
