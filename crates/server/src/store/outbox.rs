//! The outbox: messages waiting for delivery, retried with backoff until delivered. Writing the
//! message and the state change that caused it happen in the store, so a channel that is down loses
//! nothing.

use sqlx::Row;

use super::{get_u64, to_db, Store, StoreError};

/// A message to deliver.
#[derive(Debug, Clone)]
pub struct OutboxMessage {
    /// Random id.
    pub id: String,
    /// `email` (SMS and push join later).
    pub channel: String,
    /// Address.
    pub recipient: String,
    /// Subject.
    pub subject: String,
    /// Plain-text body.
    pub body: String,
    /// Delivery attempts so far.
    pub attempts: u64,
}

impl Store {
    /// Queues a message for delivery now.
    pub async fn enqueue(&self, m: &OutboxMessage, now: u64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO outbox (id, channel, recipient, subject, body, created_at, attempts, \
             next_attempt_at) VALUES ($1, $2, $3, $4, $5, $6, 0, $6)",
        )
        .bind(&m.id)
        .bind(&m.channel)
        .bind(&m.recipient)
        .bind(&m.subject)
        .bind(&m.body)
        .bind(to_db(now))
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Undelivered messages whose next attempt is due, oldest first.
    pub async fn due_messages(
        &self,
        now: u64,
        limit: i64,
    ) -> Result<Vec<OutboxMessage>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, channel, recipient, subject, body, attempts FROM outbox \
             WHERE delivered_at IS NULL AND next_attempt_at <= $1 ORDER BY created_at, id LIMIT $2",
        )
        .bind(to_db(now))
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(OutboxMessage {
                    id: r.try_get("id")?,
                    channel: r.try_get("channel")?,
                    recipient: r.try_get("recipient")?,
                    subject: r.try_get("subject")?,
                    body: r.try_get("body")?,
                    attempts: get_u64(r, "attempts")?,
                })
            })
            .collect()
    }

    /// Records a delivery.
    pub async fn mark_delivered(&self, id: &str, now: u64) -> Result<(), StoreError> {
        sqlx::query("UPDATE outbox SET delivered_at = $2, attempts = attempts + 1, last_error = NULL WHERE id = $1")
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
        sqlx::query("UPDATE outbox SET attempts = attempts + 1, last_error = $2, next_attempt_at = $3 WHERE id = $1")
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
        citizen_id: &str,
        code_hash: &str,
        expires_at: u64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO email_codes (citizen_id, code_hash, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (citizen_id) DO UPDATE SET code_hash = $2, expires_at = $3",
        )
        .bind(citizen_id)
        .bind(code_hash)
        .bind(to_db(expires_at))
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Uses the citizen's e-mail code if it matches and has not expired: true once, then gone.
    pub async fn take_email_code(
        &self,
        citizen_id: &str,
        code_hash: &str,
        now: u64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "DELETE FROM email_codes WHERE citizen_id = $1 AND code_hash = $2 AND expires_at > $3",
        )
        .bind(citizen_id)
        .bind(code_hash)
        .bind(to_db(now))
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
