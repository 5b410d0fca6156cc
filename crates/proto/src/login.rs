//! Logging in to a service with the mobile key: the animated login URI and the API bodies.
//!
//! The login page shows `civkey://login?v=1&s=ORIGIN&r=REQUEST&t=ELAPSED&c=MAC` as a QR code that
//! changes every second: `t` is the number of whole seconds since the request started and `c` is
//! HMAC-SHA256 of `t` (and the request id) under the request's [`QrSecret`], which never leaves the
//! server. The server accepts a code only while it is at most [`LOGIN_QR_MAX_AGE_SECS`] old, so a
//! photographed or relayed code is useless a few seconds later. "Open the mobile key on this device"
//! carries `l=LAUNCH_TOKEN` instead of `t` and `c`: a one-time token, good for one open.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::device::parse_decimal;
use crate::encoding::escape;
use crate::ids::{Challenge, DeviceId, LaunchToken, LoginRequestId, QrMac, QrSecret};
use crate::sign::{tags, Decision, Signature, Transcript};
use crate::uri::CivkeyParams;
use crate::{Error, ErrorCode, Origin, UnixSeconds, PROTOCOL_VERSION};

/// How long a login request stays open (3 minutes); the page shows this countdown.
pub const LOGIN_REQUEST_TTL_SECS: u64 = 180;

/// How old (in seconds, by the server's count) a scanned QR code may be when the app opens it.
pub const LOGIN_QR_MAX_AGE_SECS: u64 = 5;

/// How far ahead of the server's count a QR code may be (clock rounding between page and server).
pub const LOGIN_QR_MAX_AHEAD_SECS: u64 = 1;

/// A login URI: the animated QR code variant or the same-device link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginUri {
    /// From the QR code on the login page.
    Animated {
        /// The civkey server.
        origin: Origin,
        /// The login request.
        request_id: LoginRequestId,
        /// Seconds since the request started, when this frame was drawn.
        elapsed: u64,
        /// [`qr_mac`] of `elapsed`.
        mac: QrMac,
    },
    /// From "Open the mobile key on this device".
    SameDevice {
        /// The civkey server.
        origin: Origin,
        /// The login request.
        request_id: LoginRequestId,
        /// A one-time launch token.
        launch_token: LaunchToken,
    },
}

impl LoginUri {
    /// Reads a login URI strictly: `v=1`, `s` and `r`, and either `t` and `c` or `l`.
    pub fn parse(input: &str) -> Result<Self, Error> {
        let params = CivkeyParams::read(input, "login", &["s", "r", "t", "c", "l"])?;
        let origin = params.origin()?;
        let request_id =
            LoginRequestId::parse(params.require("r")?).map_err(|_| Error::InvalidParam {
                param: "r",
                reason: "not a login request id",
            })?;
        match (params.get("t"), params.get("c"), params.get("l")) {
            (None, None, Some(l)) => Ok(LoginUri::SameDevice {
                origin,
                request_id,
                launch_token: LaunchToken::parse(l).map_err(|_| Error::InvalidParam {
                    param: "l",
                    reason: "not a launch token",
                })?,
            }),
            (Some(t), Some(c), None) => Ok(LoginUri::Animated {
                origin,
                request_id,
                elapsed: parse_decimal(t, "t")?,
                mac: QrMac::parse(c).map_err(|_| Error::InvalidParam {
                    param: "c",
                    reason: "not a QR code MAC",
                })?,
            }),
            (_, _, Some(_)) => Err(Error::Malformed(
                "a login link carries either t and c, or l — not both",
            )),
            (None, _, None) => Err(Error::MissingParam("t")),
            (Some(_), None, None) => Err(Error::MissingParam("c")),
        }
    }

    /// Writes the URI in its one canonical form. A same-device link holds a secret token: keep it
    /// out of logs.
    pub fn to_uri(&self) -> String {
        match self {
            LoginUri::Animated {
                origin,
                request_id,
                elapsed,
                mac,
            } => format!(
                "civkey://login?v={PROTOCOL_VERSION}&s={}&r={request_id}&t={elapsed}&c={mac}",
                escape(origin.as_str())
            ),
            LoginUri::SameDevice {
                origin,
                request_id,
                launch_token,
            } => format!(
                "civkey://login?v={PROTOCOL_VERSION}&s={}&r={request_id}&l={}",
                escape(origin.as_str()),
                launch_token.expose_text()
            ),
        }
    }

    /// The civkey server.
    pub fn origin(&self) -> &Origin {
        match self {
            LoginUri::Animated { origin, .. } | LoginUri::SameDevice { origin, .. } => origin,
        }
    }

    /// The login request.
    pub fn request_id(&self) -> &LoginRequestId {
        match self {
            LoginUri::Animated { request_id, .. } | LoginUri::SameDevice { request_id, .. } => {
                request_id
            }
        }
    }

    /// The body the app sends to open the request.
    pub fn open_request(&self) -> LoginOpenRequest {
        match self {
            LoginUri::Animated { elapsed, mac, .. } => LoginOpenRequest::Qr {
                elapsed: *elapsed,
                mac: *mac,
            },
            LoginUri::SameDevice { launch_token, .. } => LoginOpenRequest::LaunchToken {
                launch_token: launch_token.clone(),
            },
        }
    }
}

/// The MAC for second `elapsed` of a login request: HMAC-SHA256 under `secret` of
/// transcript(tag `civkey/v1/login-qr`, request id, elapsed).
pub fn qr_mac(secret: &QrSecret, request_id: &LoginRequestId, elapsed: u64) -> QrMac {
    let input = Transcript::new(tags::LOGIN_QR)
        .field(request_id.as_bytes())
        .number(elapsed)
        .finish();
    // HMAC accepts keys of any length, so this cannot fail; a 32-byte key is always taken.
    let mut out = [0u8; 32];
    if let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.expose()) {
        mac.update(&input);
        out.copy_from_slice(&mac.finalize().into_bytes());
    }
    QrMac::from_bytes(out)
}

/// Checks a scanned QR code on the server: the MAC must verify (compared in constant time) and the
/// code must be fresh — drawn at most [`LOGIN_QR_MAX_AGE_SECS`] before `elapsed_now` and at most
/// [`LOGIN_QR_MAX_AHEAD_SECS`] after it.
pub fn check_qr_mac(
    secret: &QrSecret,
    request_id: &LoginRequestId,
    elapsed: u64,
    mac: &QrMac,
    elapsed_now: u64,
) -> Result<(), ErrorCode> {
    let expected = qr_mac(secret, request_id, elapsed);
    if !bool::from(expected.as_bytes().ct_eq(mac.as_bytes())) {
        return Err(ErrorCode::LoginQrInvalid);
    }
    if elapsed > elapsed_now.saturating_add(LOGIN_QR_MAX_AHEAD_SECS) {
        return Err(ErrorCode::LoginQrInvalid);
    }
    if elapsed_now.saturating_sub(elapsed) > LOGIN_QR_MAX_AGE_SECS {
        return Err(ErrorCode::LoginQrStale);
    }
    Ok(())
}

/// `POST /api/v1/login/{request_id}/open` (a device call): what the app scanned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "via", rename_all = "snake_case", deny_unknown_fields)]
pub enum LoginOpenRequest {
    /// From the animated QR code.
    Qr {
        /// `t` from the URI.
        elapsed: u64,
        /// `c` from the URI.
        mac: QrMac,
    },
    /// From the same-device link.
    LaunchToken {
        /// `l` from the URI.
        launch_token: LaunchToken,
    },
}

/// The answer to [`LoginOpenRequest`]: what the app shows before the citizen decides.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginRequestInfo {
    /// The request.
    pub request_id: LoginRequestId,
    /// The asking service's client id.
    pub service_id: String,
    /// The asking service's name.
    pub service_name: String,
    /// The web origin the citizen will be sent back to.
    pub service_origin: Origin,
    /// To sign into the decision.
    pub challenge: Challenge,
    /// When the request started.
    pub started_at: UnixSeconds,
    /// When it expires.
    pub expires_at: UnixSeconds,
}

/// `POST /api/v1/login/{request_id}/decision`: the citizen's signed decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginDecisionRequest {
    /// The deciding device.
    pub device_id: DeviceId,
    /// Approve or deny.
    pub decision: Decision,
    /// When the device signed.
    pub time: UnixSeconds,
    /// Signature over [`crate::sign::LoginApproval::signed_bytes`].
    pub signature: Signature,
}

/// The answer to [`LoginDecisionRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginDecisionResponse {
    /// The decision as recorded.
    pub decision: Decision,
}

/// The login page's QR code for one second (server-sent event `qr`, `data:` as JSON). The page
/// draws the code itself from `uri`, so the server does no image work per second and per page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginQrFrame {
    /// This second's animated login URI ([`LoginUri::Animated`]), the text of the QR code.
    pub uri: String,
    /// Seconds the login request has left.
    pub seconds_left: u64,
}

/// What the login page learns live (server-sent events, `data:` as JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum LoginPageEvent {
    /// Still waiting.
    Waiting,
    /// Approved: the page goes to `redirect_to`.
    Approved {
        /// Where the browser goes next.
        redirect_to: String,
    },
    /// Denied on the phone.
    Denied,
    /// The request expired.
    Expired,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> QrSecret {
        QrSecret::from_bytes([9; 32])
    }

    #[test]
    fn both_variants_round_trip() {
        let origin = Origin::parse("http://127.0.0.1:8080").unwrap();
        let request_id = LoginRequestId::from_bytes([3; 16]);
        for uri in [
            LoginUri::Animated {
                origin: origin.clone(),
                request_id,
                elapsed: 17,
                mac: qr_mac(&secret(), &request_id, 17),
            },
            LoginUri::SameDevice {
                origin,
                request_id,
                launch_token: LaunchToken::from_bytes([4; 16]),
            },
        ] {
            assert_eq!(LoginUri::parse(&uri.to_uri()).unwrap(), uri);
        }
    }

    #[test]
    fn the_code_changes_every_second() {
        let id = LoginRequestId::from_bytes([3; 16]);
        assert_ne!(qr_mac(&secret(), &id, 1), qr_mac(&secret(), &id, 2));
        let other = LoginRequestId::from_bytes([4; 16]);
        assert_ne!(qr_mac(&secret(), &id, 1), qr_mac(&secret(), &other, 1));
    }

    #[test]
    fn a_code_is_accepted_only_for_a_few_seconds() {
        let id = LoginRequestId::from_bytes([3; 16]);
        let mac = qr_mac(&secret(), &id, 10);
        for now in 9..=15 {
            assert_eq!(
                check_qr_mac(&secret(), &id, 10, &mac, now),
                Ok(()),
                "now={now}"
            );
        }
        assert_eq!(
            check_qr_mac(&secret(), &id, 10, &mac, 16),
            Err(ErrorCode::LoginQrStale)
        );
        assert_eq!(
            check_qr_mac(&secret(), &id, 10, &mac, 8),
            Err(ErrorCode::LoginQrInvalid)
        );
        assert_eq!(
            check_qr_mac(&secret(), &id, 11, &mac, 11),
            Err(ErrorCode::LoginQrInvalid)
        );
        let forged = QrMac::from_bytes([0; 32]);
        assert_eq!(
            check_qr_mac(&secret(), &id, 10, &forged, 10),
            Err(ErrorCode::LoginQrInvalid)
        );
    }

    #[test]
    fn mixed_or_incomplete_links_are_refused() {
        let base = "civkey://login?v=1&s=https%3A%2F%2Fid.example.gov&r=AwMDAwMDAwMDAwMDAwMDAw";
        let mac = "CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk";
        let token = "BAQEBAQEBAQEBAQEBAQEBA";
        assert_eq!(LoginUri::parse(base), Err(Error::MissingParam("t")));
        assert_eq!(
            LoginUri::parse(&format!("{base}&t=1")),
            Err(Error::MissingParam("c"))
        );
        assert!(matches!(
            LoginUri::parse(&format!("{base}&t=1&c={mac}&l={token}")),
            Err(Error::Malformed(_))
        ));
        assert!(matches!(
            LoginUri::parse(&format!("{base}&t=01&c={mac}")),
            Err(Error::InvalidParam { param: "t", .. })
        ));
        assert!(LoginUri::parse(&format!("{base}&t=1&c={mac}")).is_ok());
    }

    #[test]
    fn open_request_is_tagged_and_strict() {
        let json = r#"{"via":"launch_token","launch_token":"BAQEBAQEBAQEBAQEBAQEBA"}"#;
        assert!(matches!(
            serde_json::from_str::<LoginOpenRequest>(json).unwrap(),
            LoginOpenRequest::LaunchToken { .. }
        ));
        let extra =
            r#"{"via":"qr","elapsed":1,"mac":"CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk","x":1}"#;
        assert!(serde_json::from_str::<LoginOpenRequest>(extra).is_err());
    }
}
