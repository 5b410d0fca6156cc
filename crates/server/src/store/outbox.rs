//! The outbox: messages waiting for delivery, retried with backoff until delivered. Writing the
//! message and the state change that caused it happen in the store, so a channel that is down loses
//! nothing.

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::{get_opt_id, get_opt_u64, get_stored, get_u64, to_db, Store, StoreError};
use crate::domain::{Channel, CitizenId, OutboxState};
use civkey_proto::ids::DeviceId;

/// A message to deliver.
#[derive(Debug, Clone)]
pub struct OutboxMessage {
    /// Random id.
    pub id: String,
    /// How it goes out.
    pub channel: Channel,
    /// E-mail address, phone number, or push endpoint URL.
    pub recipient: String,
    /// Subject (e-mail), the event name (push); empty for SMS.
    pub subject: String,
    /// Plain-text body (e-mail, SMS); the event as JSON (push).
    pub body: String,
    /// Delivery attempts so far.
    pub attempts: u64,
    /// The device a push row is for.
    pub device_id: Option<DeviceId>,
    /// After this time the message is given up instead of tried (a BOK request's expiry).
    pub expires_at: Option<u64>,
}

impl OutboxMessage {
    /// A message `id` on `channel` to `recipient`, with no subject or body yet, never attempted,
    /// for no device, without expiry.
    pub fn new(id: String, channel: Channel, recipient: String) -> Self {
        Self {
            id,
            channel,
            recipient,
            subject: String::new(),
            body: String::new(),
            attempts: 0,
            device_id: None,
            expires_at: None,
        }
    }
}

/// What became of a message: for tests, the operator, and the record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxStatus {
    /// Its id.
    pub id: String,
    /// Its channel.
    pub channel: Channel,
    /// Its body.
    pub body: String,
    /// Attempts so far.
    pub attempts: u64,
    /// The last attempt's error.
    pub last_error: Option<String>,
    /// When it was delivered.
    pub delivered_at: Option<u64>,
    /// When it was given up (expired, or the endpoint is gone).
    pub gave_up_at: Option<u64>,
    /// When the next attempt is due.
    pub next_attempt_at: u64,
}

impl OutboxStatus {
    /// Where it stands: waiting, failing, delivered or given up.
    pub fn state(&self) -> OutboxState {
        OutboxState::of(self.attempts, self.delivered_at, self.gave_up_at)
    }
}

/// What [`read_message`] reads.
const MESSAGE_COLUMNS: &str =
    "id, channel, recipient, subject, body, attempts, device_id, expires_at";

/// A message due at `$1`: neither delivered nor given up, its next attempt come, and no worker
/// holding it. The one condition for claiming and for looking.
const DUE_AT_1: &str = "delivered_at IS NULL AND gave_up_at IS NULL AND next_attempt_at <= $1 \
     AND (claimed_until IS NULL OR claimed_until <= $1)";

/// One channel's messages, as the operator sees them (`civkey-server outbox status`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChannelSummary {
    /// The channel.
    pub channel: Channel,
    /// Neither delivered nor given up.
    pub waiting: u64,
    /// Of those, the ones that have failed at least once (waiting for their retry).
    pub failing: u64,
    /// When the oldest waiting one was queued (Unix seconds).
    pub oldest_waiting_since: Option<u64>,
    /// Delivered in the last day.
    pub delivered_last_day: u64,
    /// Given up in the last day (expired, or the endpoint was gone).
    pub given_up_last_day: u64,
}

/// An error the waiting messages (or those given up in the last day) last failed with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeliveryError {
    /// The error as recorded: never a message's text or a push endpoint's URL, but an SMTP
    /// server's own reply may quote the address it refused.
    pub error: String,
    /// How many messages it was the last error of.
    pub messages: u64,
}

impl Store {
    /// Per channel: what waits, what fails, and what was delivered or given up since `since`.
    pub async fn outbox_summary(&self, since: u64) -> Result<Vec<ChannelSummary>, StoreError> {
        let rows = sqlx::query(
            "SELECT channel, \
             SUM(CASE WHEN delivered_at IS NULL AND gave_up_at IS NULL THEN 1 ELSE 0 END) AS waiting, \
             SUM(CASE WHEN delivered_at IS NULL AND gave_up_at IS NULL AND attempts > 0 \
                 THEN 1 ELSE 0 END) AS failing, \
             MIN(CASE WHEN delivered_at IS NULL AND gave_up_at IS NULL THEN created_at END) AS oldest, \
             SUM(CASE WHEN delivered_at >= $1 THEN 1 ELSE 0 END) AS delivered, \
             SUM(CASE WHEN gave_up_at >= $1 THEN 1 ELSE 0 END) AS given_up \
             FROM outbox GROUP BY channel ORDER BY channel",
        )
        .bind(to_db(since))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ChannelSummary {
                    channel: get_stored(r, "channel")?,
                    waiting: get_u64(r, "waiting")?,
                    failing: get_u64(r, "failing")?,
                    oldest_waiting_since: get_opt_u64(r, "oldest")?,
                    delivered_last_day: get_u64(r, "delivered")?,
                    given_up_last_day: get_u64(r, "given_up")?,
                })
            })
            .collect()
    }

    /// The most frequent last errors of the waiting messages and of those given up since
    /// `since`, most frequent first, at most `limit`.
    pub async fn delivery_errors(
        &self,
        since: u64,
        limit: i64,
    ) -> Result<Vec<DeliveryError>, StoreError> {
        let rows = sqlx::query(
            "SELECT last_error, COUNT(*) AS n FROM outbox \
             WHERE last_error IS NOT NULL AND delivered_at IS NULL \
             AND (gave_up_at IS NULL OR gave_up_at >= $1) \
             GROUP BY last_error ORDER BY n DESC, last_error LIMIT $2",
        )
        .bind(to_db(since))
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(DeliveryError {
                    error: r.try_get("last_error")?,
                    messages: get_u64(r, "n")?,
                })
            })
            .collect()
    }

    /// Makes every waiting message that has failed due at `now` instead of after its backoff
    /// (the operator, once a channel is back); returns how many. A message a worker holds is left
    /// to it.
    pub async fn retry_failed_now(&self, now: u64) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE outbox SET next_attempt_at = $1 WHERE delivered_at IS NULL \
             AND gave_up_at IS NULL AND attempts > 0 AND next_attempt_at > $1 \
             AND (claimed_until IS NULL OR claimed_until <= $1)",
        )
        .bind(to_db(now))
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected())
    }

    /// How many messages on `channel` to `recipient` were queued since `since`.
    pub async fn queued_since(
        &self,
        channel: Channel,
        recipient: &str,
        since: u64,
    ) -> Result<u64, StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM outbox \
             WHERE channel = $1 AND recipient = $2 AND created_at >= $3",
        )
        .bind(channel.as_str())
        .bind(recipient)
        .bind(to_db(since))
        .fetch_one(self.pool())
        .await?;
        get_u64(&row, "n")
    }

    /// Queues a message for delivery now.
    pub async fn enqueue(&self, m: &OutboxMessage, now: u64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO outbox (id, channel, recipient, subject, body, created_at, attempts, \
             next_attempt_at, device_id, expires_at) VALUES ($1, $2, $3, $4, $5, $6, 0, $6, $7, $8)",
        )
        .bind(&m.id)
        .bind(m.channel.as_str())
        .bind(&m.recipient)
        .bind(&m.subject)
        .bind(&m.body)
        .bind(to_db(now))
        .bind(m.device_id.as_ref().map(DeviceId::to_text))
        .bind(m.expires_at.map(to_db))
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Every message to `recipient`, oldest first, with what became of it.
    pub async fn outbox_to(&self, recipient: &str) -> Result<Vec<OutboxStatus>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, channel, body, attempts, last_error, delivered_at, gave_up_at, \
             next_attempt_at FROM outbox WHERE recipient = $1 ORDER BY created_at, id",
        )
        .bind(recipient)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(OutboxStatus {
                    id: r.try_get("id")?,
                    channel: get_stored(r, "channel")?,
                    body: r.try_get("body")?,
                    attempts: get_u64(r, "attempts")?,
                    last_error: r.try_get("last_error")?,
                    delivered_at: get_opt_u64(r, "delivered_at")?,
                    gave_up_at: get_opt_u64(r, "gave_up_at")?,
                    next_attempt_at: get_u64(r, "next_attempt_at")?,
                })
            })
            .collect()
    }

    /// Records a last attempt that was made and failed for good (the push endpoint is gone), in
    /// one statement: counted, given up and let go of at once, so no other worker takes it in
    /// between.
    pub async fn mark_gone(&self, id: &str, error: &str, now: u64) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE outbox SET attempts = attempts + 1, gave_up_at = $3, last_error = $2, \
             claimed_until = NULL WHERE id = $1 AND delivered_at IS NULL",
        )
        .bind(id)
        .bind(error)
        .bind(to_db(now))
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Records that the message is not tried (expired, or its device or endpoint changed).
    pub async fn mark_given_up(&self, id: &str, error: &str, now: u64) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE outbox SET gave_up_at = $3, last_error = $2, claimed_until = NULL \
             WHERE id = $1 AND delivered_at IS NULL",
        )
        .bind(id)
        .bind(error)
        .bind(to_db(now))
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Claims up to `limit` undelivered messages whose next attempt is due (the oldest) and that
    /// no worker holds: they are held until `lease_until`, so another delivery worker on the same
    /// database (another server instance) does not send them too. Each attempt's outcome then
    /// records the next attempt, or the message as delivered or given up, and lets go of it; a
    /// worker that stops mid-attempt leaves its messages to be tried again when the lease is over.
    /// A message is claimed by one worker only: the condition is checked again on the row the
    /// update locks (PostgreSQL), and SQLite runs one writer at a time.
    pub async fn claim_due_messages(
        &self,
        now: u64,
        lease_until: u64,
        limit: i64,
    ) -> Result<Vec<OutboxMessage>, StoreError> {
        let rows = sqlx::query(&format!(
            "UPDATE outbox SET claimed_until = $2 WHERE {DUE_AT_1} AND id IN \
                 (SELECT id FROM outbox WHERE {DUE_AT_1} ORDER BY created_at, id LIMIT $3) \
                 RETURNING {MESSAGE_COLUMNS}"
        ))
        .bind(to_db(now))
        .bind(to_db(lease_until))
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(read_message).collect()
    }

    /// [`Store::claim_due_messages`] for the messages on `channels` only, leaving out pushes to
    /// the devices in `skip_devices` (each has a push in flight already): what one delivery lane
    /// claims for its free slots.
    pub async fn claim_due_on(
        &self,
        channels: &[Channel],
        skip_devices: &[DeviceId],
        now: u64,
        lease_until: u64,
        limit: i64,
    ) -> Result<Vec<OutboxMessage>, StoreError> {
        // $1 now, $2 the lease, $3 the limit; then the channels, then the devices.
        let placeholders = |from: usize, count: usize| {
            (from..from + count)
                .map(|i| format!("${i}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let channels_in = placeholders(4, channels.len());
        let skip = if skip_devices.is_empty() {
            String::new()
        } else {
            format!(
                " AND (device_id IS NULL OR device_id NOT IN ({}))",
                placeholders(4 + channels.len(), skip_devices.len())
            )
        };
        let sql = format!(
            "UPDATE outbox SET claimed_until = $2 WHERE {DUE_AT_1} AND id IN \
                 (SELECT id FROM outbox WHERE {DUE_AT_1} AND channel IN ({channels_in}){skip} \
                  ORDER BY created_at, id LIMIT $3) \
                 RETURNING {MESSAGE_COLUMNS}"
        );
        let mut query = sqlx::query(&sql)
            .bind(to_db(now))
            .bind(to_db(lease_until))
            .bind(limit);
        for channel in channels {
            query = query.bind(channel.as_str());
        }
        for device in skip_devices {
            query = query.bind(device.to_text());
        }
        let rows = query.fetch_all(self.pool()).await?;
        rows.iter().map(read_message).collect()
    }

    /// Lets go of a claimed message without attempting it: it is due again at once (its device
    /// had a push in flight, or no slot was free after all).
    pub async fn release_claim(&self, id: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE outbox SET claimed_until = NULL WHERE id = $1 AND delivered_at IS NULL",
        )
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Undelivered messages whose next attempt is due and that no worker holds, oldest first (a
    /// look, claiming nothing).
    pub async fn due_messages(
        &self,
        now: u64,
        limit: i64,
    ) -> Result<Vec<OutboxMessage>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM outbox WHERE {DUE_AT_1} \
                 ORDER BY created_at, id LIMIT $2"
        ))
        .bind(to_db(now))
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(read_message).collect()
    }

    /// Records a delivery.
    pub async fn mark_delivered(&self, id: &str, now: u64) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE outbox SET delivered_at = $2, attempts = attempts + 1, last_error = NULL, \
             claimed_until = NULL WHERE id = $1",
        )
        .bind(id)
        .bind(to_db(now))
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Records a failed attempt and when to try again.
    pub async fn mark_failed(
        &self,
        id: &str,
        error: &str,
        next_attempt_at: u64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE outbox SET attempts = attempts + 1, last_error = $2, next_attempt_at = $3, \
             claimed_until = NULL WHERE id = $1",
        )
        .bind(id)
        .bind(error)
        .bind(to_db(next_attempt_at))
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Stores the citizen's one outstanding e-mail code (replacing an older one).
    pub async fn set_email_code(
        &self,
        citizen_id: &CitizenId,
        code_hash: &str,
        expires_at: u64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO email_codes (citizen_id, code_hash, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (citizen_id) DO UPDATE SET code_hash = $2, expires_at = $3",
        )
        .bind(citizen_id.as_str())
        .bind(code_hash)
        .bind(to_db(expires_at))
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Uses the citizen's e-mail code if it matches and has not expired: true once, then gone.
    pub async fn take_email_code(
        &self,
        citizen_id: &CitizenId,
        code_hash: &str,
        now: u64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "DELETE FROM email_codes WHERE citizen_id = $1 AND code_hash = $2 AND expires_at > $3",
        )
        .bind(citizen_id.as_str())
        .bind(code_hash)
        .bind(to_db(now))
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }
}

fn read_message(r: &AnyRow) -> Result<OutboxMessage, StoreError> {
    Ok(OutboxMessage {
        id: r.try_get("id")?,
        channel: get_stored(r, "channel")?,
        recipient: r.try_get("recipient")?,
        subject: r.try_get("subject")?,
        body: r.try_get("body")?,
        attempts: get_u64(r, "attempts")?,
        device_id: get_opt_id(r, "device_id")?,
        expires_at: get_opt_u64(r, "expires_at")?,
    })
}
