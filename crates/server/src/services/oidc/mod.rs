//! The OpenID Connect provider: the services citizens log in to ([`clients`]), the login request
//! flow ([`authorize`]).

pub mod authorize;
pub mod clients;
