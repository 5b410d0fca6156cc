//! The OpenID Connect provider (authorization code flow with PKCE S256, ES256 ID tokens):
//!
//! - [`clients`]: the services citizens log in to, registered by the operator;
//! - [`keys`]: the keys ID tokens are signed with, and the JWKS that publishes them;
//! - [`authorize`]: the login request, from the service's redirect to the citizen's decision;
//! - [`token`]: the code exchange, the ID and access tokens, userinfo and pairwise subjects.

pub mod authorize;
pub mod clients;
pub mod keys;
pub mod token;

#[cfg(test)]
mod fixtures;
