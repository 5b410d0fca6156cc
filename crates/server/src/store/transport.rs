//! How the server's connections reach the database: on PostgreSQL, whether they are encrypted
//! (`sslmode=require` / `verify-full` in the database URL; sqlx over rustls).

use sqlx::{Acquire as _, Row};

use super::{Store, StoreError};

impl Store {
    /// The TLS version of a pooled connection to the database (`"TLSv1.3"`), as PostgreSQL itself
    /// reports it for that connection (`pg_stat_ssl`); `None` when it is not encrypted, and
    /// always for SQLite (a file, no connection to encrypt).
    pub async fn database_tls_version(&self) -> Result<Option<String>, StoreError> {
        let mut pooled = self.pool().acquire().await?;
        let conn = pooled.acquire().await?;
        if conn.backend_name() != "PostgreSQL" {
            return Ok(None);
        }
        let row =
            sqlx::query("SELECT version FROM pg_stat_ssl WHERE pid = pg_backend_pid() AND ssl")
                .fetch_optional(&mut *conn)
                .await?;
        Ok(row
            .map(|row| row.try_get::<Option<String>, _>("version"))
            .transpose()?
            .flatten())
    }
}
