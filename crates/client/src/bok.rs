//! The BOK-pad: an office's clerk asks the server to verify the citizen's security personal code
//! (BOK); this device lists the request ([`pending`]), the citizen types the code, and the device
//! answers it signed with its key ([`answer`]). The counter sees verified or not verified.
//!
//! The BOK is a [`Bok`]: zeroized when dropped, hidden from `Debug`, never logged. It is checked
//! locally (4–10 digits) before anything is sent: [`read_bok`].
//!
//! Waiting for a request ([`wait_for_request`]) listens to the event stream ([`crate::events`]),
//! and polls `GET /api/v1/bok/pending` instead when the server has no stream.

use std::time::Duration;

use civkey_i18n::{tr_args, tr_count, Locale};
use civkey_proto::bok::{BokAnswerRequest, BokAnswerResponse, BokOutcome, BokRequest};
use civkey_proto::events::EventKind;
use civkey_proto::paths;
use civkey_proto::rules::Bok;
use civkey_proto::sign::BokAnswer;

use crate::events::{EventStream, StreamError};
use crate::profile::{Identity, Profile};
use crate::server_api::{Signer, StoredKey};
use crate::ClientError;

/// How often the pending list is asked for when the server has no event stream (and, as a safety
/// net, between events when it has one).
pub const POLL_EVERY: Duration = Duration::from_secs(2);

/// The requests waiting for this device's answer (`GET /api/v1/bok/pending`), oldest first.
/// Errors: `bok_pad_off` when this device is not a BOK-pad.
pub async fn pending(
    profile: &Profile,
    identity: &Identity,
) -> Result<Vec<BokRequest>, ClientError> {
    profile
        .device_call(
            identity,
            reqwest::Method::GET,
            paths::BOK_PENDING,
            None::<&()>,
        )
        .await
}

/// Answers `request` with `bok`, signed with `identity`'s device key over the server, the
/// request, its challenge, the device, the BOK and the time.
///
/// `Ok` is the outcome (verified; not verified, with the attempts left; blocked). Refusals keep
/// the server's code: `bok_expired` (also for a request the server no longer knows),
/// `bok_answered`, `bok_blocked`, `bok_pad_off`, `bok_invalid_format`.
pub async fn answer(
    profile: &Profile,
    identity: &Identity,
    request: &BokRequest,
    bok: &Bok,
) -> Result<BokAnswerResponse, ClientError> {
    let time = profile.clock().now();
    let signed = zeroize::Zeroizing::new(
        BokAnswer {
            origin: &identity.origin,
            request_id: &request.id,
            challenge: &request.challenge,
            device_id: &identity.device_id,
            bok,
            time,
        }
        .signed_bytes(),
    );
    let key = StoredKey {
        store: profile.store(),
        key: &identity.key,
        public_key: identity.public_key.clone(),
    };
    let body = BokAnswerRequest {
        bok: bok.clone(),
        time,
        signature: key.sign(&signed)?,
    };
    let path = paths::fill(paths::BOK_ANSWER, &[("request_id", &request.id.to_text())]);
    profile
        .device_call(identity, reqwest::Method::POST, &path, Some(&body))
        .await
}

/// Checks what the citizen typed: 4–10 digits, nothing else (surrounding white space, as a line
/// read from a terminal or stdin has, is dropped). The error never holds the digits.
pub fn read_bok(text: &str) -> Result<Bok, ClientError> {
    Bok::parse(text.trim()).map_err(ClientError::BokFormat)
}

/// The outcome of an answer in one line for people, in `locale`.
pub fn describe_outcome(answered: &BokAnswerResponse, locale: Locale) -> String {
    match answered.outcome {
        BokOutcome::Verified => tr_args(locale, "cli.bok.verified", &[]),
        BokOutcome::NotVerified => tr_count(
            locale,
            "cli.bok.not_verified",
            u64::from(answered.attempts_left),
            &[],
        ),
        BokOutcome::Blocked => tr_args(locale, "cli.bok.blocked", &[]),
    }
}

/// Waits for an office's BOK request for `identity`: one already pending, else the next one the
/// event stream brings (the pending list is asked again every [`POLL_EVERY`] × 15 meanwhile, in
/// case an event was missed). A server without the stream (404) is polled every [`POLL_EVERY`].
/// Expired requests are skipped. Never returns without a request; the caller bounds the wait.
pub async fn wait_for_request(
    profile: &Profile,
    identity: &Identity,
) -> Result<BokRequest, ClientError> {
    let mut stream = EventStream::new(profile.clone(), identity.clone());
    // Open the stream before asking for the list, so a request made in between is not missed.
    let mut streaming = match stream.connect().await {
        Ok(()) => true,
        Err(StreamError::Unsupported) => false,
        Err(StreamError::Fatal(e)) => return Err(e),
        // Retried with back-off by `next`.
        Err(StreamError::Transient(_)) => true,
    };
    loop {
        let now = profile.clock().now();
        if let Some(request) = pending(profile, identity)
            .await?
            .into_iter()
            .find(|r| r.expires_at > now)
        {
            return Ok(request);
        }
        if !streaming {
            tokio::time::sleep(POLL_EVERY).await;
            continue;
        }
        let deadline = tokio::time::Instant::now() + POLL_EVERY * 15;
        loop {
            match tokio::time::timeout_at(deadline, stream.next()).await {
                // Ask the list again.
                Err(_elapsed) => break,
                Ok(Ok(event)) => match event.kind {
                    EventKind::BokRequest { request }
                        if request.expires_at > profile.clock().now() =>
                    {
                        return Ok(request)
                    }
                    EventKind::DeviceDisconnected { device_id }
                        if device_id == identity.device_id =>
                    {
                        return Err(ClientError::Api(crate::server_api::ApiFailure::Refused(
                            civkey_proto::ApiError {
                                code: civkey_proto::ErrorCode::DeviceDisconnected,
                                message: "this device was disconnected".into(),
                            },
                        )));
                    }
                    _ => {}
                },
                Ok(Err(StreamError::Unsupported)) => {
                    streaming = false;
                    break;
                }
                Ok(Err(StreamError::Fatal(e))) => return Err(e),
                Ok(Err(StreamError::Transient(_))) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bok_is_checked_before_sending_and_the_reason_holds_no_digits() {
        assert_eq!(read_bok(" 482913\n").unwrap().expose(), "482913");
        for bad in ["12a4", "123", "12345678901", "", "12 34", "１２３４"] {
            let err = read_bok(bad).unwrap_err();
            assert_eq!(err.code(), "bok_invalid_format", "{bad}");
            for locale in Locale::ALL {
                let text = err.describe(locale);
                assert!(!text.contains("12"), "{text}");
                assert!(!text.starts_with("cli."), "{text}");
            }
        }
    }

    #[test]
    fn every_outcome_is_said_in_every_language() {
        for locale in Locale::ALL {
            for (outcome, left) in [
                (BokOutcome::Verified, 5),
                (BokOutcome::NotVerified, 3),
                (BokOutcome::Blocked, 0),
            ] {
                let text = describe_outcome(
                    &BokAnswerResponse {
                        outcome,
                        attempts_left: left,
                    },
                    locale,
                );
                assert!(!text.starts_with("cli."), "{locale:?} {text}");
                if outcome == BokOutcome::NotVerified {
                    assert!(text.contains('3'), "{text}");
                }
            }
        }
    }

    #[test]
    fn the_servers_bok_refusals_are_described_plainly() {
        use civkey_proto::{ApiError, ErrorCode};
        for code in [
            ErrorCode::BokInvalidFormat,
            ErrorCode::BokExpired,
            ErrorCode::BokUnknown,
            ErrorCode::BokAnswered,
            ErrorCode::BokBlocked,
            ErrorCode::BokPadOff,
            ErrorCode::BokNotSet,
        ] {
            let err = ClientError::Api(crate::server_api::ApiFailure::Refused(ApiError {
                code,
                message: "internal words".into(),
            }));
            assert_eq!(err.code(), code.as_str());
            for locale in Locale::ALL {
                let text = err.describe(locale);
                assert!(!text.contains("internal words"), "{code:?}: {text}");
                assert!(!text.starts_with("cli."), "{code:?}: {text}");
            }
        }
    }
}
