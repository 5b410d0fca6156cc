//! The OpenID Connect bodies civkey's server sends and a relying party reads: the discovery
//! document (OpenID Connect Discovery 1.0), the token response (RFC 6749 5.1), the ID token's
//! claims (OpenID Connect Core 2), userinfo (5.3), the key set (RFC 7517) with its JWS header
//! (RFC 7515), and the OAuth error body (RFC 6749 5.2).
//!
//! One type a body, so the server builds them and the end-to-end relying party parses them with
//! the same definition. Optional members are left out of the JSON when absent, as the
//! specifications ask.

use serde::{Deserialize, Serialize};

/// The only grant civkey issues: the authorization code flow with PKCE.
pub const RESPONSE_TYPE_CODE: &str = "code";

/// The ID token's signature algorithm: ECDSA P-256 with SHA-256.
pub const ALG_ES256: &str = "ES256";

/// The authentication levels civkey reports in `acr` and accepts in `acr_values`, weakest first.
pub const ACR_LEVELS: [&str; 3] = [
    "civkey:email-code",
    "civkey:password-otp",
    "civkey:mobile-key",
];

/// The eIDAS levels of assurance, mapped onto [`ACR_LEVELS`] in the same order (an e-mail code is
/// low, a password with a TOTP code substantial, the mobile key's device-bound key high).
pub const EIDAS_LEVELS: [&str; 3] = [
    "http://eidas.europa.eu/LoA/low",
    "http://eidas.europa.eu/LoA/substantial",
    "http://eidas.europa.eu/LoA/high",
];

/// The rank of an `acr` value (civkey's own or eIDAS) among [`ACR_LEVELS`], `None` when civkey
/// does not know it.
pub fn acr_rank(acr: &str) -> Option<usize> {
    ACR_LEVELS
        .iter()
        .position(|a| *a == acr)
        .or_else(|| EIDAS_LEVELS.iter().position(|a| *a == acr))
}

/// `/.well-known/openid-configuration`: what the provider supports and where its endpoints are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Discovery {
    /// The issuer identifier: the server's public origin.
    pub issuer: String,
    /// Where the browser is sent to log in.
    pub authorization_endpoint: String,
    /// Where the service exchanges a code for tokens.
    pub token_endpoint: String,
    /// Where the service reads the citizen's claims with an access token.
    pub userinfo_endpoint: String,
    /// The public signing keys.
    pub jwks_uri: String,
    /// Only `code`.
    pub response_types_supported: Vec<String>,
    /// Only `query`.
    pub response_modes_supported: Vec<String>,
    /// Only `authorization_code`.
    pub grant_types_supported: Vec<String>,
    /// Only `pairwise`: each sector sees its own subject for a citizen.
    pub subject_types_supported: Vec<String>,
    /// Only `ES256`.
    pub id_token_signing_alg_values_supported: Vec<String>,
    /// How a service authenticates at the token endpoint.
    pub token_endpoint_auth_methods_supported: Vec<String>,
    /// Only `S256`.
    pub code_challenge_methods_supported: Vec<String>,
    /// The scopes a service may ask for.
    pub scopes_supported: Vec<String>,
    /// The claims the ID token and userinfo may carry.
    pub claims_supported: Vec<String>,
    /// [`ACR_LEVELS`] and [`EIDAS_LEVELS`].
    pub acr_values_supported: Vec<String>,
    /// The `prompt` values understood.
    pub prompt_values_supported: Vec<String>,
    /// RFC 9207: the authorization response carries `iss`.
    pub authorization_response_iss_parameter_supported: bool,
    /// The `claims` request parameter is not supported.
    pub claims_parameter_supported: bool,
    /// Request objects by value are not supported.
    pub request_parameter_supported: bool,
    /// Request objects by reference are not supported.
    pub request_uri_parameter_supported: bool,
}

impl Discovery {
    /// civkey's discovery document for the issuer `issuer` (an origin, no trailing slash).
    pub fn for_issuer(issuer: &str) -> Self {
        let list = |items: &[&str]| items.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        Self {
            issuer: issuer.to_string(),
            authorization_endpoint: format!("{issuer}/oidc/authorize"),
            token_endpoint: format!("{issuer}/oidc/token"),
            userinfo_endpoint: format!("{issuer}/oidc/userinfo"),
            jwks_uri: format!("{issuer}/oidc/jwks"),
            response_types_supported: list(&[RESPONSE_TYPE_CODE]),
            response_modes_supported: list(&["query"]),
            grant_types_supported: list(&["authorization_code"]),
            subject_types_supported: list(&["pairwise"]),
            id_token_signing_alg_values_supported: list(&[ALG_ES256]),
            token_endpoint_auth_methods_supported: list(&[
                "client_secret_basic",
                "client_secret_post",
            ]),
            code_challenge_methods_supported: list(&["S256"]),
            scopes_supported: list(&["openid", "profile"]),
            claims_supported: list(&[
                "iss",
                "sub",
                "aud",
                "exp",
                "iat",
                "auth_time",
                "nonce",
                "amr",
                "acr",
                "name",
            ]),
            acr_values_supported: ACR_LEVELS
                .iter()
                .chain(EIDAS_LEVELS.iter())
                .map(|s| s.to_string())
                .collect(),
            prompt_values_supported: list(&["none", "login", "consent", "select_account"]),
            authorization_response_iss_parameter_supported: true,
            claims_parameter_supported: false,
            request_parameter_supported: false,
            request_uri_parameter_supported: false,
        }
    }
}

/// The token endpoint's answer to a good code (RFC 6749 5.1, OpenID Connect Core 3.1.3.3).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenResponse {
    /// The bearer token for userinfo (a secret: left out of `Debug`).
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// The access token's lifetime in seconds.
    pub expires_in: u64,
    /// The signed ID token (compact JWS).
    pub id_token: String,
    /// The scopes granted, space-separated.
    pub scope: String,
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenResponse")
            .field("access_token", &"***")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field("id_token", &"***")
            .field("scope", &self.scope)
            .finish()
    }
}

/// The ID token's claims (OpenID Connect Core 2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdTokenClaims {
    /// The issuer: the server's public origin.
    pub iss: String,
    /// The citizen's pairwise subject for the service's sector.
    pub sub: String,
    /// The service's client id.
    pub aud: String,
    /// Issued at (Unix seconds).
    pub iat: u64,
    /// Expires at (Unix seconds).
    pub exp: u64,
    /// When the citizen last authenticated actively (Unix seconds).
    pub auth_time: u64,
    /// The authentication methods (RFC 8176), e.g. `["hwk", "pop"]`.
    pub amr: Vec<String>,
    /// The authentication level, one of [`ACR_LEVELS`].
    pub acr: String,
    /// The service's `nonce`, when it sent one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// The citizen's full name, with the `profile` scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// The userinfo endpoint's answer (OpenID Connect Core 5.3.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    /// The same pairwise subject as in the ID token.
    pub sub: String,
    /// The citizen's full name, with the `profile` scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// A public P-256 signing key as a JWK (RFC 7517, RFC 7518 6.2.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    /// Always `EC`.
    pub kty: String,
    /// Always `P-256`.
    pub crv: String,
    /// The x coordinate, unpadded base64url.
    pub x: String,
    /// The y coordinate, unpadded base64url.
    pub y: String,
    /// The key id: its RFC 7638 thumbprint.
    pub kid: String,
    /// Always `sig`.
    #[serde(rename = "use")]
    pub key_use: String,
    /// Always `ES256`.
    pub alg: String,
}

impl Jwk {
    /// The ES256 signing key with these coordinates (unpadded base64url) and key id.
    pub fn es256(x: String, y: String, kid: String) -> Self {
        Self {
            kty: "EC".into(),
            crv: "P-256".into(),
            x,
            y,
            kid,
            key_use: "sig".into(),
            alg: ALG_ES256.into(),
        }
    }

    /// The RFC 7638 thumbprint input: the required members in lexicographic order, no whitespace.
    pub fn thumbprint_input(x: &str, y: &str) -> String {
        format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#)
    }
}

/// The key set published at `jwks_uri`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwks {
    /// The keys a relying party may meet in an ID token's `kid`.
    pub keys: Vec<Jwk>,
}

/// A compact JWS's protected header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JwsHeader {
    /// Always `ES256`.
    pub alg: String,
    /// Always `JWT`.
    pub typ: String,
    /// The signing key's id.
    pub kid: String,
}

/// An OAuth error body (RFC 6749 5.2, OpenID Connect Core 3.1.2.6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuthErrorBody {
    /// The error code, e.g. `invalid_grant`.
    pub error: String,
    /// What went wrong, for the service's developer.
    pub error_description: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_discovery_document_names_the_endpoints_under_the_issuer() {
        let doc = Discovery::for_issuer("https://id.example");
        let json = serde_json::to_value(&doc).unwrap();
        assert_eq!(json["token_endpoint"], "https://id.example/oidc/token");
        assert_eq!(json["acr_values_supported"].as_array().unwrap().len(), 6);
        assert_eq!(json["authorization_response_iss_parameter_supported"], true);
        let back: Discovery = serde_json::from_value(json).unwrap();
        assert_eq!(back, doc);
    }

    #[test]
    fn absent_optional_claims_are_left_out_of_the_json() {
        let claims = IdTokenClaims {
            iss: "https://id.example".into(),
            sub: "s".into(),
            aud: "c".into(),
            iat: 1,
            exp: 2,
            auth_time: 1,
            amr: vec!["hwk".into(), "pop".into()],
            acr: ACR_LEVELS[2].into(),
            nonce: None,
            name: None,
        };
        let json = serde_json::to_string(&claims).unwrap();
        assert!(!json.contains("nonce") && !json.contains("name"), "{json}");
        let info = serde_json::to_string(&UserInfo {
            sub: "s".into(),
            name: Some("Eva".into()),
        })
        .unwrap();
        assert_eq!(info, r#"{"sub":"s","name":"Eva"}"#);
    }

    #[test]
    fn a_jwk_names_its_use_as_the_rfc_spells_it() {
        let json = serde_json::to_value(Jwk::es256("x".into(), "y".into(), "k".into())).unwrap();
        assert_eq!(json["use"], "sig");
        assert!(json.get("key_use").is_none());
    }

    #[test]
    fn a_token_response_keeps_its_tokens_out_of_debug_output() {
        let response = TokenResponse {
            access_token: "secret-access".into(),
            token_type: "Bearer".into(),
            expires_in: 300,
            id_token: "secret-id".into(),
            scope: "openid".into(),
        };
        let shown = format!("{response:?}");
        assert!(!shown.contains("secret"), "{shown}");
    }

    #[test]
    fn acr_ranks_read_civkey_and_eidas_levels_alike() {
        assert_eq!(acr_rank("civkey:mobile-key"), Some(2));
        assert_eq!(acr_rank("http://eidas.europa.eu/LoA/low"), Some(0));
        assert_eq!(acr_rank("urn:other"), None);
    }
}
