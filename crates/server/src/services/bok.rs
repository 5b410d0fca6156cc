//! The BOK-pad: at an office counter a clerk starts a verification of a citizen's security personal
//! code (BOK); the citizen's devices with BOK-pad on see it, one of them answers with the BOK typed
//! on the phone, signed by its device key; the counter page learns verified / not verified live.
//!
//! The BOK is stored only as an Argon2id hash. A request is answered once and expires (2 minutes by
//! default). Consecutive wrong answers are counted per citizen; the one that reaches the limit
//! (5 by default) blocks the BOK until a clerk unblocks it, and every unblock is recorded. A right
//! answer clears the count.

use civkey_proto::bok::{
    BokAnswerRequest, BokAnswerResponse, BokCounterEvent, BokOutcome, BokRequest,
    BOK_MAX_WRONG_ANSWERS, BOK_REQUEST_TTL_SECS,
};
use civkey_proto::device::DEVICE_CALL_MAX_SKEW_SECS;
use civkey_proto::ids::{BokRequestId, Challenge, DeviceId};
use civkey_proto::rules::Bok;
use civkey_proto::sign::{BokAnswer, DevicePublicKey};
use civkey_proto::ErrorCode;
use zeroize::Zeroizing;

use super::secrets::{hash_secret, verify_secret};
use super::{verify_signature, ServiceError, Services};
use crate::domain::{BokStatus, CitizenId, ClerkId, UnblockId};
use crate::signal::Subscription;
use crate::store::{BokCitizen, BokRequestRecord, BokUnblock, ClerkSession, DeviceRecord, Store};

/// The operator's BOK settings (`bok_request_ttl_secs`, `bok_max_wrong_answers`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BokPolicy {
    /// How long a verification stays open, in seconds.
    pub request_ttl_secs: u64,
    /// Consecutive wrong answers that block the BOK.
    pub max_wrong_answers: u32,
}

impl Default for BokPolicy {
    fn default() -> Self {
        BokPolicy {
            request_ttl_secs: BOK_REQUEST_TTL_SECS,
            max_wrong_answers: BOK_MAX_WRONG_ANSWERS,
        }
    }
}

impl BokPolicy {
    /// The shortest lifetime a request may be given: the citizen needs time to take the phone.
    pub const MIN_TTL_SECS: u64 = 30;
    /// The longest: a request open for long invites an answer nobody at the counter expects.
    pub const MAX_TTL_SECS: u64 = 15 * 60;
    /// The most wrong answers that may be allowed before blocking.
    pub const MAX_WRONG_ANSWERS: u32 = 20;

    /// Settings within the bounds above, or why not.
    pub fn new(request_ttl_secs: u64, max_wrong_answers: u32) -> Result<Self, String> {
        if !(Self::MIN_TTL_SECS..=Self::MAX_TTL_SECS).contains(&request_ttl_secs) {
            return Err(format!(
                "bok_request_ttl_secs must be {} to {} seconds, not {request_ttl_secs}",
                Self::MIN_TTL_SECS,
                Self::MAX_TTL_SECS
            ));
        }
        if !(1..=Self::MAX_WRONG_ANSWERS).contains(&max_wrong_answers) {
            return Err(format!(
                "bok_max_wrong_answers must be 1 to {}, not {max_wrong_answers}",
                Self::MAX_WRONG_ANSWERS
            ));
        }
        Ok(BokPolicy {
            request_ttl_secs,
            max_wrong_answers,
        })
    }
}

/// Sets the BOK of the citizen `username` (`civkey-server citizen set-bok`): 4–10 digits, stored
/// only as an Argon2id hash. The wrong-answer count and a block stay: only a clerk unblocks.
pub async fn set_bok(store: &Store, username: &str, bok: &str) -> Result<(), ServiceError> {
    let bok = Bok::parse(bok)
        .map_err(|e| ServiceError::refused(ErrorCode::BokInvalidFormat, e.to_string()))?;
    let hash = hash_secret(bok.expose()).await?;
    if store.set_citizen_bok(username, &hash).await? {
        Ok(())
    } else {
        Err(no_citizen())
    }
}

/// What the counter page shows about a citizen the clerk looked up.
#[derive(Debug, Clone)]
pub struct CounterCitizen {
    /// Login name.
    pub username: String,
    /// Full name.
    pub full_name: String,
    /// Whether a BOK is on record.
    pub bok_set: bool,
    /// Consecutive wrong answers.
    pub wrong_answers: u64,
    /// Whether the BOK is blocked.
    pub blocked: bool,
    /// Connected devices with BOK-pad on.
    pub bok_pad_devices: u64,
    /// The last unblock, if any.
    pub last_unblock: Option<BokUnblock>,
}

/// A verification just started.
#[derive(Debug, Clone)]
pub struct BokStarted {
    /// The request.
    pub id: BokRequestId,
    /// When it expires.
    pub expires_at: u64,
}

/// A verification as its counter page shows it.
#[derive(Debug, Clone)]
pub struct CounterBokRequest {
    /// The request id.
    pub id: BokRequestId,
    /// Whose BOK: login name.
    pub citizen_username: String,
    /// Whose BOK: full name.
    pub citizen_name: String,
    /// The office that asked.
    pub office_name: String,
    /// When it expires.
    pub expires_at: u64,
    /// Where it stands now.
    pub event: BokCounterEvent,
}

/// How long after its expiry an answer that won the request before the expiry may still be being
/// checked (the Argon2id work); after that a request stuck in `checking` reads as expired.
const CHECK_GRACE_SECS: u64 = 10;

/// The change-signal key of a request (its counter page waits on it).
fn key(request_id: &BokRequestId) -> String {
    format!("bok:{request_id}")
}

/// The change-signal key of a citizen's BOK requests (the devices' event streams wait on it).
pub fn citizen_key(citizen_id: &CitizenId) -> String {
    format!("bok-citizen:{citizen_id}")
}

/// Where a request stands at `now`.
fn event(record: &BokRequestRecord, now: u64) -> BokCounterEvent {
    match record.status {
        BokStatus::Verified => BokCounterEvent::Verified,
        BokStatus::NotVerified => BokCounterEvent::NotVerified {
            attempts_left: record
                .attempts_left
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or(0),
        },
        BokStatus::Blocked => BokCounterEvent::Blocked,
        BokStatus::Pending if now < record.expires_at => BokCounterEvent::Waiting,
        BokStatus::Checking if now < record.expires_at + CHECK_GRACE_SECS => {
            BokCounterEvent::Waiting
        }
        BokStatus::Pending | BokStatus::Checking => BokCounterEvent::Expired,
    }
}

fn no_citizen() -> ServiceError {
    ServiceError::refused(ErrorCode::NotFound, "no citizen with that username")
}

fn unknown() -> ServiceError {
    ServiceError::refused(ErrorCode::BokUnknown, "no such BOK request")
}

fn blocked() -> ServiceError {
    ServiceError::refused(
        ErrorCode::BokBlocked,
        "the BOK is blocked after too many wrong answers; an office must unblock it",
    )
}

/// The refusal for a request that can no longer be answered, by its stored state at `now`.
fn closed(record: &BokRequestRecord, now: u64) -> ServiceError {
    match record.status {
        BokStatus::Blocked => blocked(),
        BokStatus::Pending if now >= record.expires_at => {
            ServiceError::refused(ErrorCode::BokExpired, "the BOK request has expired")
        }
        _ => ServiceError::refused(
            ErrorCode::BokAnswered,
            "the BOK request was already answered",
        ),
    }
}

impl Services {
    /// The operator's BOK settings.
    pub fn bok_policy(&self) -> BokPolicy {
        self.bok
    }

    /// The citizen `username` as the counter page shows them, or `None`.
    pub async fn counter_citizen(
        &self,
        username: &str,
    ) -> Result<Option<CounterCitizen>, ServiceError> {
        let Some(citizen) = self.store.bok_citizen_by_username(username).await? else {
            return Ok(None);
        };
        let bok_pad_devices = self.store.bok_pad_devices(&citizen.id).await?;
        let last_unblock = self
            .store
            .bok_unblocks(&citizen.id)
            .await?
            .into_iter()
            .next();
        Ok(Some(CounterCitizen {
            username: citizen.username,
            full_name: citizen.full_name,
            bok_set: citizen.bok_hash.is_some(),
            wrong_answers: citizen.wrong_answers,
            blocked: citizen.blocked_at.is_some(),
            bok_pad_devices,
            last_unblock,
        }))
    }

    /// A clerk starts verifying the BOK of the citizen `username`: refused when the citizen has no
    /// BOK, when it is blocked, or when no connected device of theirs has BOK-pad on.
    pub async fn start_bok_verification(
        &self,
        clerk: &ClerkSession,
        username: &str,
    ) -> Result<BokStarted, ServiceError> {
        let citizen = self
            .store
            .bok_citizen_by_username(username)
            .await?
            .ok_or_else(no_citizen)?;
        if citizen.bok_hash.is_none() {
            return Err(ServiceError::refused(
                ErrorCode::BokNotSet,
                "this citizen has no BOK on record",
            ));
        }
        if citizen.blocked_at.is_some() {
            return Err(blocked());
        }
        if self.store.bok_pad_devices(&citizen.id).await? == 0 {
            return Err(ServiceError::refused(
                ErrorCode::BokNoDevice,
                "this citizen has no mobile key with BOK-pad on",
            ));
        }
        let mut rng = rand::rngs::OsRng;
        let id = BokRequestId::generate(&mut rng);
        let challenge = Challenge::generate(&mut rng);
        let now = self.clock.now();
        let expires_at = now + self.bok.request_ttl_secs;
        self.store
            .insert_bok_request(&crate::store::NewBokRequest {
                id,
                citizen_id: citizen.id.clone(),
                clerk_id: clerk.clerk_id.clone(),
                office_name: clerk.office_name.clone(),
                challenge: challenge.to_text(),
                created_at: now,
                expires_at,
            })
            .await?;
        self.signal.notify(&citizen_key(&citizen.id));
        tracing::info!(request = %id.to_text(), clerk = %clerk.username, "BOK verification started");
        let request = BokRequest {
            id,
            office_name: clerk.office_name.clone(),
            challenge,
            created_at: now,
            expires_at,
        };
        self.notify_bok_request(&citizen.id, &request).await;
        Ok(BokStarted { id, expires_at })
    }

    /// The verification `request_id` as the counter page of the clerk who started it shows it;
    /// `None` for another clerk's or an unknown one.
    pub async fn counter_bok_request(
        &self,
        clerk_id: &ClerkId,
        request_id: &BokRequestId,
    ) -> Result<Option<CounterBokRequest>, ServiceError> {
        let Some(record) = self
            .store
            .bok_request(request_id)
            .await?
            .filter(|r| r.clerk_id == *clerk_id)
        else {
            return Ok(None);
        };
        let citizen = self
            .store
            .bok_citizen(&record.citizen_id)
            .await?
            .ok_or_else(unknown)?;
        Ok(Some(CounterBokRequest {
            event: event(&record, self.clock.now()),
            id: record.id,
            citizen_username: citizen.username,
            citizen_name: citizen.full_name,
            office_name: record.office_name,
            expires_at: record.expires_at,
        }))
    }

    /// Where the clerk's verification stands now (the counter page's event stream), with its
    /// expiry; `None` for another clerk's or an unknown one.
    pub async fn bok_counter_event(
        &self,
        clerk_id: &ClerkId,
        request_id: &BokRequestId,
    ) -> Result<Option<(BokCounterEvent, u64)>, ServiceError> {
        let Some(record) = self
            .store
            .bok_request(request_id)
            .await?
            .filter(|r| r.clerk_id == *clerk_id)
        else {
            return Ok(None);
        };
        Ok(Some((event(&record, self.clock.now()), record.expires_at)))
    }

    /// Subscribes to changes of a verification (for the counter page's event stream).
    pub fn watch_bok(&self, request_id: &BokRequestId) -> Subscription {
        self.signal.subscribe(&key(request_id))
    }

    /// A clerk lifts the block of the citizen's BOK; recorded with the clerk and office. False when
    /// it was not blocked.
    pub async fn unblock_bok(
        &self,
        clerk: &ClerkSession,
        username: &str,
    ) -> Result<bool, ServiceError> {
        let citizen = self
            .store
            .bok_citizen_by_username(username)
            .await?
            .ok_or_else(no_citizen)?;
        let Some(blocked_at) = citizen.blocked_at else {
            return Ok(false);
        };
        let now = self.clock.now();
        let done = self
            .store
            .unblock_bok(&citizen, blocked_at, &UnblockId::new_random(), clerk, now)
            .await?;
        if done {
            let what = super::notify::Informative::BokUnblocked {
                office_name: clerk.office_name.clone(),
            };
            self.notify_informative(&citizen.id, &what).await;
            tracing::info!(
                citizen = %citizen.id,
                clerk = %clerk.username,
                office = %clerk.office_name,
                wrong_answers = citizen.wrong_answers,
                "BOK unblocked"
            );
        }
        Ok(done)
    }

    /// Switches BOK-pad on or off for a device of the citizen.
    pub async fn set_bok_pad(
        &self,
        citizen_id: &CitizenId,
        device_id: &DeviceId,
        on: bool,
    ) -> Result<(), ServiceError> {
        if self.store.set_bok_pad(citizen_id, device_id, on).await? {
            Ok(())
        } else {
            Err(ServiceError::refused(
                ErrorCode::NotFound,
                "no such connected device",
            ))
        }
    }

    /// The open verifications of the calling device's citizen (`GET /api/v1/bok/pending`).
    pub async fn pending_bok_requests(
        &self,
        device: &DeviceRecord,
    ) -> Result<Vec<BokRequest>, ServiceError> {
        require_bok_pad(device)?;
        let records = self
            .store
            .pending_bok_requests(&device.citizen_id, self.clock.now())
            .await?;
        Ok(records.iter().filter_map(wire_request).collect())
    }

    /// A device answers a verification with the BOK the citizen typed, signed by its key. Checked
    /// in this order: BOK-pad on; the request is the citizen's; still open; the time and the
    /// signature; the BOK not blocked. Then the answer takes the request (once, whichever device
    /// is first), is compared with the Argon2id hash, and counted.
    pub async fn answer_bok(
        &self,
        device: &DeviceRecord,
        request_id: &BokRequestId,
        answer: &BokAnswerRequest,
    ) -> Result<BokAnswerResponse, ServiceError> {
        require_bok_pad(device)?;
        let id = *request_id;
        let record = self
            .store
            .bok_request(&id)
            .await?
            .filter(|r| r.citizen_id == device.citizen_id)
            .ok_or_else(unknown)?;
        let now = self.clock.now();
        if record.status != BokStatus::Pending || now >= record.expires_at {
            return Err(closed(&record, now));
        }
        if now.abs_diff(answer.time) > DEVICE_CALL_MAX_SKEW_SECS {
            return Err(ServiceError::refused(
                ErrorCode::Replayed,
                "the answer's time is too far from the server's; check the device's clock",
            ));
        }
        let corrupt = |what: &str| {
            ServiceError::Internal(format!("stored {what} of BOK request {id} is corrupt"))
        };
        let challenge = Challenge::parse(&record.challenge).map_err(|_| corrupt("challenge"))?;
        let device_id = device.id;
        let public_key =
            DevicePublicKey::parse(&device.public_key).map_err(|_| corrupt("device key"))?;
        let signed = Zeroizing::new(
            BokAnswer {
                origin: &self.origin,
                request_id,
                challenge: &challenge,
                device_id: &device_id,
                bok: &answer.bok,
                time: answer.time,
            }
            .signed_bytes(),
        );
        verify_signature(&public_key, &signed, &answer.signature)?;

        let citizen = self
            .store
            .bok_citizen(&record.citizen_id)
            .await?
            .ok_or_else(unknown)?;
        if citizen.blocked_at.is_some() {
            self.store.block_bok_request(&id).await?;
            self.signal.notify(&key(&id));
            return Err(blocked());
        }
        let Some(hash) = citizen.bok_hash.clone() else {
            return Err(ServiceError::refused(
                ErrorCode::BokNotSet,
                "this citizen has no BOK on record",
            ));
        };
        if !self.store.take_bok_request(&id, &device.id, now).await? {
            let record = self.store.bok_request(&id).await?.ok_or_else(unknown)?;
            return Err(closed(&record, self.clock.now()));
        }
        self.signal.notify(&key(&id));
        // Should this fail, the request stays `checking` and reads as expired soon after its
        // expiry: the counter never shows an outcome nobody decided.
        let response = self.judge(&citizen, &hash, &answer.bok).await?;
        let status = match response.outcome {
            BokOutcome::Verified => BokStatus::Verified,
            BokOutcome::NotVerified => BokStatus::NotVerified,
            BokOutcome::Blocked => BokStatus::Blocked,
        };
        self.store
            .finish_bok_request(&id, status, u64::from(response.attempts_left))
            .await?;
        self.signal.notify(&key(&id));
        tracing::info!(request = %id, device = %device.id, outcome = %status, "BOK answered");
        Ok(response)
    }

    /// Compares the typed BOK with the stored hash and counts the answer.
    async fn judge(
        &self,
        citizen: &BokCitizen,
        hash: &str,
        bok: &Bok,
    ) -> Result<BokAnswerResponse, ServiceError> {
        let max = self.bok.max_wrong_answers;
        if verify_secret(bok.expose(), hash).await? {
            if self.store.clear_wrong_bok(&citizen.id).await? {
                return Ok(BokAnswerResponse {
                    outcome: BokOutcome::Verified,
                    attempts_left: max,
                });
            }
            // A wrong answer racing this one blocked the BOK: blocked wins.
            return Ok(BokAnswerResponse {
                outcome: BokOutcome::Blocked,
                attempts_left: 0,
            });
        }
        let counted = self
            .store
            .record_wrong_bok(&citizen.id, u64::from(max), self.clock.now())
            .await?;
        if counted.blocked {
            tracing::warn!(citizen = %citizen.id, wrong_answers = counted.wrong_answers, "BOK blocked");
            // Requests still open for this citizen end too: the pads stop asking, the counters
            // that started them see the block.
            for id in self.store.block_pending_bok_requests(&citizen.id).await? {
                self.signal.notify(&key(&id));
            }
            self.signal.notify(&citizen_key(&citizen.id));
            self.notify_informative(&citizen.id, &super::notify::Informative::BokBlocked)
                .await;
            return Ok(BokAnswerResponse {
                outcome: BokOutcome::Blocked,
                attempts_left: 0,
            });
        }
        let left = u64::from(max).saturating_sub(counted.wrong_answers);
        Ok(BokAnswerResponse {
            outcome: BokOutcome::NotVerified,
            attempts_left: u32::try_from(left).unwrap_or(0),
        })
    }
}

fn require_bok_pad(device: &DeviceRecord) -> Result<(), ServiceError> {
    if device.bok_pad {
        Ok(())
    } else {
        Err(ServiceError::refused(
            ErrorCode::BokPadOff,
            "this mobile key is not used as a BOK-pad; switch BOK-pad on for it first",
        ))
    }
}

/// A stored request as the wire type; rows that no longer parse are left out (and logged).
fn wire_request(r: &BokRequestRecord) -> Option<BokRequest> {
    match Challenge::parse(&r.challenge) {
        Ok(challenge) => Some(BokRequest {
            id: r.id,
            office_name: r.office_name.clone(),
            challenge,
            created_at: r.created_at,
            expires_at: r.expires_at,
        }),
        Err(_) => {
            tracing::error!(request = %r.id, "stored BOK request's challenge does not parse; left out");
            None
        }
    }
}

#[cfg(test)]
mod tests;
