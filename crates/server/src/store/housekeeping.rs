//! Housekeeping: forgetting rows nobody will read again — expired sessions, codes, tokens and
//! flow state, old rate-limit windows, delivered notifications and old events. What is kept for
//! the record (login history, BOK verifications and unblocks, onboarding records) is not touched.

use super::{to_db, Store, StoreError};

/// The cut-off times for one round of housekeeping.
#[derive(Debug, Clone, Copy)]
pub struct Cutoffs {
    /// Sessions, e-mail codes and access tokens that expired before this are deleted.
    pub expired: u64,
    /// Pairing sessions and login requests that expired before this are deleted (kept a while
    /// after expiry so a late visitor still reads "expired", not "unknown").
    pub flows: u64,
    /// Rate-limit windows that started before this, and attempt counts whose last attempt was
    /// before this, are deleted.
    pub rate_limits: u64,
    /// Outbox rows delivered or given up before this, and events that happened before this, are
    /// deleted.
    pub notifications: u64,
}

/// How many rows one round deleted, per table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Portal and counter sessions.
    pub sessions: u64,
    /// E-mail codes.
    pub email_codes: u64,
    /// Access tokens.
    pub access_tokens: u64,
    /// Pairing sessions.
    pub pairing_sessions: u64,
    /// Login requests.
    pub login_requests: u64,
    /// Rate-limit windows.
    pub rate_limits: u64,
    /// Attempt counts.
    pub attempt_limits: u64,
    /// Known browsers whose time is over.
    pub known_browsers: u64,
    /// Delivered or given-up outbox rows.
    pub outbox: u64,
    /// Events.
    pub events: u64,
}

impl Pruned {
    /// All rows deleted.
    pub fn total(&self) -> u64 {
        self.sessions
            + self.email_codes
            + self.access_tokens
            + self.pairing_sessions
            + self.login_requests
            + self.rate_limits
            + self.attempt_limits
            + self.known_browsers
            + self.outbox
            + self.events
    }
}

impl Store {
    /// Deletes what [`Cutoffs`] names, table by table (each statement on its own: a failure leaves
    /// the rest for the next round).
    pub async fn prune(&self, cut: &Cutoffs) -> Result<Pruned, StoreError> {
        let delete = |sql: &'static str, before: u64| async move {
            let done = sqlx::query(sql)
                .bind(to_db(before))
                .execute(self.pool())
                .await?;
            Ok::<u64, StoreError>(done.rows_affected())
        };
        Ok(Pruned {
            sessions: delete(
                "DELETE FROM web_sessions WHERE expires_at < $1",
                cut.expired,
            )
            .await?
                + delete(
                    "DELETE FROM clerk_sessions WHERE expires_at < $1",
                    cut.expired,
                )
                .await?,
            email_codes: delete("DELETE FROM email_codes WHERE expires_at < $1", cut.expired)
                .await?,
            access_tokens: delete(
                "DELETE FROM access_tokens WHERE expires_at < $1",
                cut.expired,
            )
            .await?,
            pairing_sessions: delete(
                "DELETE FROM pairing_sessions WHERE expires_at < $1",
                cut.flows,
            )
            .await?,
            login_requests: delete(
                "DELETE FROM login_requests WHERE expires_at < $1 \
                 AND (code_expires_at IS NULL OR code_expires_at < $1)",
                cut.flows,
            )
            .await?,
            rate_limits: delete(
                "DELETE FROM rate_limits WHERE window_start < $1",
                cut.rate_limits,
            )
            .await?,
            attempt_limits: delete(
                "DELETE FROM attempt_limits WHERE last_at < $1",
                cut.rate_limits,
            )
            .await?,
            known_browsers: delete(
                "DELETE FROM known_browsers WHERE expires_at < $1",
                cut.expired,
            )
            .await?,
            outbox: delete(
                "DELETE FROM outbox WHERE (delivered_at IS NOT NULL AND delivered_at < $1) \
                 OR (gave_up_at IS NOT NULL AND gave_up_at < $1)",
                cut.notifications,
            )
            .await?,
            events: delete("DELETE FROM events WHERE at < $1", cut.notifications).await?,
        })
    }
}
