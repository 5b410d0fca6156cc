//! The BOK-pad: the citizen's BOK hash and wrong-answer count, the verifications clerks start, and
//! the record of unblocks. Every state change is one conditional `UPDATE`, so two devices (or two
//! instances) answering one request cannot both win, and two wrong answers are both counted.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::{get_id, get_opt_id, get_opt_u64, get_stored, get_u64, to_db, Store, StoreError};
use crate::domain::{BokStatus, CitizenId, ClerkId, UnblockId};
use civkey_proto::ids::{BokRequestId, DeviceId};

/// A citizen as the BOK-pad sees them.
#[derive(Clone)]
pub struct BokCitizen {
    /// Citizen id.
    pub id: CitizenId,
    /// Login name.
    pub username: String,
    /// Full name.
    pub full_name: String,
    /// The BOK as an Argon2id PHC string, if one was set.
    pub bok_hash: Option<String>,
    /// Consecutive wrong answers since the last right one (or unblock).
    pub wrong_answers: u64,
    /// When the BOK was blocked; `None` while it is not.
    pub blocked_at: Option<u64>,
}

impl std::fmt::Debug for BokCitizen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BokCitizen")
            .field("id", &self.id)
            .field("bok_set", &self.bok_hash.is_some())
            .field("wrong_answers", &self.wrong_answers)
            .field("blocked_at", &self.blocked_at)
            .finish_non_exhaustive()
    }
}

/// A verification to create.
#[derive(Debug, Clone)]
pub struct NewBokRequest {
    /// Request id.
    pub id: BokRequestId,
    /// Whose BOK.
    pub citizen_id: CitizenId,
    /// The clerk who started it.
    pub clerk_id: ClerkId,
    /// The clerk's office, shown on the pad.
    pub office_name: String,
    /// The challenge signed into the answer (base64url).
    pub challenge: String,
    /// When started.
    pub created_at: u64,
    /// When it expires.
    pub expires_at: u64,
}

/// A verification as stored.
#[derive(Debug, Clone)]
pub struct BokRequestRecord {
    /// Request id.
    pub id: BokRequestId,
    /// Whose BOK.
    pub citizen_id: CitizenId,
    /// The clerk who started it.
    pub clerk_id: ClerkId,
    /// The office.
    pub office_name: String,
    /// The challenge (base64url).
    pub challenge: String,
    /// Where it stands (expiry is read from `expires_at`).
    pub status: BokStatus,
    /// When started.
    pub created_at: u64,
    /// When it expires.
    pub expires_at: u64,
    /// The device whose answer counted.
    pub device_id: Option<DeviceId>,
    /// When it answered.
    pub answered_at: Option<u64>,
    /// Wrong answers left after a wrong answer.
    pub attempts_left: Option<u64>,
}

/// The count after a wrong answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WrongAnswer {
    /// Consecutive wrong answers now.
    pub wrong_answers: u64,
    /// Whether the BOK is blocked now (by this answer or before it).
    pub blocked: bool,
}

/// One unblock, as recorded.
#[derive(Debug, Clone)]
pub struct BokUnblock {
    /// The clerk's login name.
    pub clerk_username: String,
    /// The clerk's office.
    pub office_name: String,
    /// How many wrong answers it cleared.
    pub wrong_answers: u64,
    /// When.
    pub at: u64,
}

const CITIZEN_COLUMNS: &str =
    "id, username, full_name, bok_hash, bok_wrong_answers, bok_blocked_at";

fn read_citizen(store: &Store, row: &AnyRow) -> Result<BokCitizen, StoreError> {
    let id: CitizenId = get_id(row, "id")?;
    Ok(BokCitizen {
        bok_hash: store.unseal_opt("citizens.bok_hash", id.as_str(), row.try_get("bok_hash")?)?,
        id,
        username: row.try_get("username")?,
        full_name: row.try_get("full_name")?,
        wrong_answers: get_u64(row, "bok_wrong_answers")?,
        blocked_at: get_opt_u64(row, "bok_blocked_at")?,
    })
}

const REQUEST_COLUMNS: &str = "id, citizen_id, clerk_id, office_name, challenge, status, \
    created_at, expires_at, device_id, answered_at, attempts_left";

fn read_request(row: &AnyRow) -> Result<BokRequestRecord, StoreError> {
    Ok(BokRequestRecord {
        id: get_id(row, "id")?,
        citizen_id: get_id(row, "citizen_id")?,
        clerk_id: get_id(row, "clerk_id")?,
        office_name: row.try_get("office_name")?,
        challenge: row.try_get("challenge")?,
        status: get_stored(row, "status")?,
        created_at: get_u64(row, "created_at")?,
        expires_at: get_u64(row, "expires_at")?,
        device_id: get_opt_id(row, "device_id")?,
        answered_at: get_opt_u64(row, "answered_at")?,
        attempts_left: get_opt_u64(row, "attempts_left")?,
    })
}

impl Store {
    /// Stores the BOK hash of the citizen `username`. False when there is no such citizen. The
    /// count of wrong answers and a block stay as they are: only a clerk lifts a block.
    pub async fn set_citizen_bok(
        &self,
        username: &str,
        bok_hash: &str,
    ) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT id FROM citizens WHERE username = $1")
            .bind(username)
            .fetch_optional(self.pool())
            .await?;
        let Some(row) = row else {
            return Ok(false);
        };
        // Sealed for the citizen's row: the hash cannot be tried (or copied to another citizen)
        // without the key-encryption key.
        let id: String = row.try_get("id")?;
        let done = sqlx::query("UPDATE citizens SET bok_hash = $2 WHERE id = $1")
            .bind(&id)
            .bind(self.seal("citizens.bok_hash", &id, bok_hash)?)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The citizen `id` as the BOK-pad sees them.
    pub async fn bok_citizen(&self, id: &CitizenId) -> Result<Option<BokCitizen>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {CITIZEN_COLUMNS} FROM citizens WHERE id = $1"
        ))
        .bind(id.as_str())
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(|row| read_citizen(self, row)).transpose()
    }

    /// The citizen `username` as the BOK-pad sees them.
    pub async fn bok_citizen_by_username(
        &self,
        username: &str,
    ) -> Result<Option<BokCitizen>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {CITIZEN_COLUMNS} FROM citizens WHERE username = $1"
        ))
        .bind(username)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(|row| read_citizen(self, row)).transpose()
    }

    /// How many connected devices of the citizen have BOK-pad on.
    pub async fn bok_pad_devices(&self, citizen_id: &CitizenId) -> Result<u64, StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM devices \
             WHERE citizen_id = $1 AND disconnected_at IS NULL AND bok_pad = 1",
        )
        .bind(citizen_id.as_str())
        .fetch_one(self.pool())
        .await?;
        get_u64(&row, "n")
    }

    /// Opens a verification.
    pub async fn insert_bok_request(&self, r: &NewBokRequest) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO bok_requests (id, citizen_id, clerk_id, office_name, challenge, status, \
             created_at, expires_at) VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7)",
        )
        .bind(r.id.to_text())
        .bind(r.citizen_id.as_str())
        .bind(r.clerk_id.as_str())
        .bind(&r.office_name)
        .bind(&r.challenge)
        .bind(to_db(r.created_at))
        .bind(to_db(r.expires_at))
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The verification `id`.
    pub async fn bok_request(
        &self,
        id: &BokRequestId,
    ) -> Result<Option<BokRequestRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {REQUEST_COLUMNS} FROM bok_requests WHERE id = $1"
        ))
        .bind(id.to_text())
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(read_request).transpose()
    }

    /// The citizen's verifications that are still open at `now`, oldest first.
    pub async fn pending_bok_requests(
        &self,
        citizen_id: &CitizenId,
        now: u64,
    ) -> Result<Vec<BokRequestRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {REQUEST_COLUMNS} FROM bok_requests \
             WHERE citizen_id = $1 AND status = 'pending' AND expires_at > $2 \
             ORDER BY created_at, id"
        ))
        .bind(citizen_id.as_str())
        .bind(to_db(now))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(read_request).collect()
    }

    /// Takes an open verification for `device_id`'s answer. False when it is no longer open
    /// (answered by another device, or expired): a request is answered once.
    pub async fn take_bok_request(
        &self,
        id: &BokRequestId,
        device_id: &DeviceId,
        now: u64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE bok_requests SET status = 'checking', device_id = $2, answered_at = $3 \
             WHERE id = $1 AND status = 'pending' AND expires_at > $3",
        )
        .bind(id.to_text())
        .bind(device_id.to_text())
        .bind(to_db(now))
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records the outcome of a taken verification (verified, not verified or blocked).
    pub async fn finish_bok_request(
        &self,
        id: &BokRequestId,
        status: BokStatus,
        attempts_left: u64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE bok_requests SET status = $2, attempts_left = $3 \
             WHERE id = $1 AND status = 'checking'",
        )
        .bind(id.to_text())
        .bind(status.as_str())
        .bind(to_db(attempts_left))
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Ends an open verification as `blocked` (the BOK was blocked while it waited).
    pub async fn block_bok_request(&self, id: &BokRequestId) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE bok_requests SET status = 'blocked', attempts_left = 0 \
             WHERE id = $1 AND status = 'pending'",
        )
        .bind(id.to_text())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Ends every open verification of the citizen as `blocked` (their BOK was just blocked);
    /// returns their ids.
    pub async fn block_pending_bok_requests(
        &self,
        citizen_id: &CitizenId,
    ) -> Result<Vec<BokRequestId>, StoreError> {
        let rows = sqlx::query(
            "UPDATE bok_requests SET status = 'blocked', attempts_left = 0 \
             WHERE citizen_id = $1 AND status = 'pending' RETURNING id",
        )
        .bind(citizen_id.as_str())
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(|r| get_id(r, "id")).collect()
    }

    /// Counts a wrong answer; the answer that reaches `max` blocks the BOK. One statement, so
    /// answers racing each other are all counted.
    pub async fn record_wrong_bok(
        &self,
        citizen_id: &CitizenId,
        max: u64,
        now: u64,
    ) -> Result<WrongAnswer, StoreError> {
        let row = sqlx::query(
            "UPDATE citizens SET bok_wrong_answers = bok_wrong_answers + 1, \
             bok_blocked_at = CASE WHEN bok_blocked_at IS NULL AND bok_wrong_answers + 1 >= $2 \
             THEN $3 ELSE bok_blocked_at END \
             WHERE id = $1 RETURNING bok_wrong_answers, bok_blocked_at",
        )
        .bind(citizen_id.as_str())
        .bind(to_db(max))
        .bind(to_db(now))
        .fetch_one(self.pool())
        .await?;
        Ok(WrongAnswer {
            wrong_answers: get_u64(&row, "bok_wrong_answers")?,
            blocked: get_opt_u64(&row, "bok_blocked_at")?.is_some(),
        })
    }

    /// A right answer clears the count. False when the BOK is blocked (a wrong answer racing this
    /// one blocked it): then the right answer does not count.
    pub async fn clear_wrong_bok(&self, citizen_id: &CitizenId) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE citizens SET bok_wrong_answers = 0 WHERE id = $1 AND bok_blocked_at IS NULL",
        )
        .bind(citizen_id.as_str())
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Lifts the block of `citizen`, if it is still the one read (blocked at `blocked_at`), and
    /// records who lifted it. False when it is not blocked (any more).
    pub async fn unblock_bok(
        &self,
        citizen: &BokCitizen,
        blocked_at: u64,
        record_id: &UnblockId,
        clerk: &super::ClerkSession,
        now: u64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool().begin().await?;
        let done = sqlx::query(
            "UPDATE citizens SET bok_wrong_answers = 0, bok_blocked_at = NULL \
             WHERE id = $1 AND bok_blocked_at = $2",
        )
        .bind(citizen.id.as_str())
        .bind(to_db(blocked_at))
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO bok_unblocks (id, citizen_id, clerk_id, clerk_username, office_name, \
             wrong_answers, at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(record_id.as_str())
        .bind(citizen.id.as_str())
        .bind(clerk.clerk_id.as_str())
        .bind(&clerk.username)
        .bind(&clerk.office_name)
        .bind(to_db(citizen.wrong_answers))
        .bind(to_db(now))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The citizen's recorded unblocks, newest first.
    pub async fn bok_unblocks(
        &self,
        citizen_id: &CitizenId,
    ) -> Result<Vec<BokUnblock>, StoreError> {
        let rows = sqlx::query(
            "SELECT clerk_username, office_name, wrong_answers, at FROM bok_unblocks \
             WHERE citizen_id = $1 ORDER BY at DESC, id",
        )
        .bind(citizen_id.as_str())
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(BokUnblock {
                    clerk_username: r.try_get("clerk_username")?,
                    office_name: r.try_get("office_name")?,
                    wrong_answers: get_u64(r, "wrong_answers")?,
                    at: get_u64(r, "at")?,
                })
            })
            .collect()
    }

    /// Switches BOK-pad on or off for a connected device of the citizen. False when there is none.
    pub async fn set_bok_pad(
        &self,
        citizen_id: &CitizenId,
        device_id: &DeviceId,
        on: bool,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE devices SET bok_pad = $3 \
             WHERE id = $2 AND citizen_id = $1 AND disconnected_at IS NULL",
        )
        .bind(citizen_id.as_str())
        .bind(device_id.to_text())
        .bind(i64::from(on))
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
