//! The store: the only place with SQL. One implementation for embedded SQLite (the default) and
//! PostgreSQL (several instances behind a load balancer), through sqlx's `Any` driver and SQL that
//! both accept (TEXT and BIGINT columns, `$n` placeholders, conditional `UPDATE … WHERE state = …`
//! for every state change, so two instances racing for one row cannot both win).

mod bok;
mod citizens;
mod clerks;
mod devices;
mod housekeeping;
mod kek;
mod logins;
mod notify;
mod oidc;
mod onboarding;
mod outbox;
mod pairing;
mod readiness;
mod sealed;
mod sessions;

pub use bok::{BokCitizen, BokRequestRecord, BokUnblock, NewBokRequest, WrongAnswer};
pub use citizens::{CitizenRecord, NewCitizen};
pub use clerks::{ClerkRecord, ClerkSession, NewClerk};
pub use devices::{DeviceRecord, NewDevice};
pub use housekeeping::{Cutoffs, Pruned};
pub use kek::{Kek, KekError};
pub use logins::{
    AccessToken, Approval, LoginHistoryEntry, LoginHolder, LoginRecord, NewLoginRequest,
};
pub use notify::{ContactFlags, DeviceSetting, NewEvent, PushRows, StoredEvent};
pub use oidc::{ClientRecord, SigningKeyRecord};
pub use onboarding::{NewOnboarding, OnboardedCitizen, OnboardingRecord};
pub use outbox::{ChannelSummary, DeliveryError, OutboxMessage, OutboxStatus};
pub use pairing::{Claim, PairingRecord};
pub use readiness::{PoolStats, SchemaState};
pub use sessions::{AttemptLimit, Means, Reservation, WebSession};

use std::path::Path;
use std::sync::Arc;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Executor, Row};

use crate::clock::{Clock, SystemClock};
use crate::domain::{StoredId, StoredText, UnknownValue};

/// Numbered migrations, applied in order at start-up. Append only; never edit a released one.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../../migrations/0001_init.sql")),
    (
        2,
        include_str!("../../migrations/0002_oidc_clients_and_keys.sql"),
    ),
    (3, include_str!("../../migrations/0003_login_requests.sql")),
    (4, include_str!("../../migrations/0004_login_means.sql")),
    (5, include_str!("../../migrations/0005_clerks_and_bok.sql")),
    (6, include_str!("../../migrations/0006_notifications.sql")),
    (7, include_str!("../../migrations/0007_onboarding.sql")),
    (8, include_str!("../../migrations/0008_push_encryption.sql")),
    (9, include_str!("../../migrations/0009_outbox_claims.sql")),
    (
        10,
        include_str!("../../migrations/0010_login_browser_binding.sql"),
    ),
    (
        11,
        include_str!("../../migrations/0011_pairing_server_nonce.sql"),
    ),
    (12, include_str!("../../migrations/0012_attempt_limits.sql")),
    (13, include_str!("../../migrations/0013_clerk_totp.sql")),
];

/// Set on every SQLite connection: write-ahead log (readers never block the writer), foreign keys,
/// and waiting up to 5 s for a lock instead of failing.
const SQLITE_PRAGMAS: &[&str] = &[
    // First, so that the journal-mode switch below waits for a lock instead of failing.
    "PRAGMA busy_timeout = 5000",
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = NORMAL",
    "PRAGMA foreign_keys = ON",
];

/// The newest schema this build knows: the highest migration's number (changes developed side by
/// side each add their own migration; none has to edit this).
pub const SCHEMA_VERSION: i64 = {
    let mut newest = 0;
    let mut i = 0;
    while i < MIGRATIONS.len() {
        if MIGRATIONS[i].0 > newest {
            newest = MIGRATIONS[i].0;
        }
        i += 1;
    }
    newest
};

/// What the store can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database was written by a newer civkey-server.
    #[error(
        "the database has schema version {found}, newer than this server's {supported}: \
         run the newer civkey-server (or restore a backup)"
    )]
    TooNew {
        /// The database's version.
        found: i64,
        /// This build's version.
        supported: i64,
    },
    /// The database URL names an engine civkey does not support.
    #[error("unsupported database URL {0:?}: use sqlite://PATH or postgres://…")]
    UnsupportedUrl(String),
    /// A value read back is not what was written (a corrupted or hand-edited row).
    #[error("corrupt value in column {0}")]
    Corrupt(&'static str),
    /// A stored state or channel names no value this server knows.
    #[error(transparent)]
    Unknown(#[from] UnknownValue),
    /// A unique constraint (username, public key) was violated.
    #[error("already exists: {0}")]
    Duplicate(&'static str),
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The database's secrets are sealed under another key-encryption key.
    #[error(
        "the database's secrets are sealed under the key with id {found}, not under the key given \
         (id {given}): start with the key this database was sealed with (nothing was changed)"
    )]
    WrongKey {
        /// The id of the key the database is sealed under.
        found: String,
        /// The id of the key given.
        given: String,
    },
    /// Sealing failed.
    #[error(transparent)]
    Key(#[from] KekError),
    /// The database's folder could not be created.
    #[error("cannot create the database folder {path}: {source}")]
    Folder {
        /// The folder.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

/// A handle to the database and the key its secrets are sealed under; cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    kek: Arc<Kek>,
}

impl Store {
    /// Opens (creating it if needed) the database at `url`, brings its schema up to date and
    /// seals under `kek` the secrets still stored in clear ([`StoreError::WrongKey`], changing
    /// no row, when the database is sealed under another key).
    ///
    /// `sqlite://PATH` (the folder is created; WAL journal, foreign keys on) or `postgres://…`.
    pub async fn open(url: &str, kek: Kek) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let (url, sqlite) = if let Some(path) = url.strip_prefix("sqlite://") {
            let file = path.split('?').next().unwrap_or_default();
            if file != ":memory:" {
                if let Some(folder) = Path::new(file)
                    .parent()
                    .filter(|p| !p.as_os_str().is_empty())
                {
                    std::fs::create_dir_all(folder).map_err(|source| StoreError::Folder {
                        path: folder.display().to_string(),
                        source,
                    })?;
                }
            }
            let url = if path.contains('?') {
                url.to_string()
            } else {
                format!("{url}?mode=rwc")
            };
            (url, true)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (url.to_string(), false)
        } else {
            return Err(StoreError::UnsupportedUrl(url.to_string()));
        };
        let pool = AnyPoolOptions::new()
            .max_connections(if sqlite { 8 } else { 16 })
            // sqlx pings a connection before every use by default: for SQLite (a file, no peer to
            // lose) that doubles every query's round trip to its worker thread for nothing.
            .test_before_acquire(!sqlite)
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if sqlite {
                        for pragma in SQLITE_PRAGMAS {
                            conn.execute(*pragma).await?;
                        }
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await?;
        let store = Store {
            pool,
            kek: Arc::new(kek),
        };
        store.migrate().await?;
        let sealed = store.seal_rows_in_clear().await?;
        if sealed > 0 {
            tracing::info!(
                sealed,
                "sealed secrets stored in clear under the key-encryption key"
            );
        }
        Ok(store)
    }

    /// The schema version the database is at.
    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT MAX(version) AS version FROM civkey_schema")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get::<Option<i64>, _>("version")?.unwrap_or(0))
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::raw_sql(
            "CREATE TABLE IF NOT EXISTS civkey_schema (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
        )
        .execute(&self.pool)
        .await?;
        let current = self.schema_version().await?;
        if current > SCHEMA_VERSION {
            return Err(StoreError::TooNew {
                found: current,
                supported: SCHEMA_VERSION,
            });
        }
        // Every migration not yet applied, not only those above the highest applied one: changes
        // developed side by side may land out of order (version 7 before 6), and each migration
        // depends only on those numbered below it that it names.
        let applied: Vec<i64> = sqlx::query("SELECT version FROM civkey_schema")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| row.try_get::<i64, _>("version"))
            .collect::<Result<_, _>>()?;
        for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| !applied.contains(v)) {
            let mut tx = self.pool.begin().await?;
            sqlx::raw_sql(sql).execute(&mut *tx).await?;
            sqlx::query("INSERT INTO civkey_schema (version, applied_at) VALUES ($1, $2)")
                .bind(*version)
                .bind(to_db(SystemClock.now()))
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            tracing::info!(version, "applied database migration");
        }
        Ok(())
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The id of the key-encryption key this store seals under.
    pub fn key_id(&self) -> &str {
        self.kek.id()
    }
}

/// Unix seconds as stored (BIGINT). Times beyond i64 do not occur; they saturate.
pub(crate) fn to_db(t: u64) -> i64 {
    i64::try_from(t).unwrap_or(i64::MAX)
}

/// A stored BIGINT time back as Unix seconds; negative values are corrupt.
pub(crate) fn from_db(t: i64, column: &'static str) -> Result<u64, StoreError> {
    u64::try_from(t).map_err(|_| StoreError::Corrupt(column))
}

pub(crate) fn get_u64(row: &AnyRow, column: &'static str) -> Result<u64, StoreError> {
    from_db(row.try_get::<i64, _>(column)?, column)
}

pub(crate) fn get_opt_u64(row: &AnyRow, column: &'static str) -> Result<Option<u64>, StoreError> {
    row.try_get::<Option<i64>, _>(column)?
        .map(|t| from_db(t, column))
        .transpose()
}

/// A stored state or channel, read as its enum; text the server does not know is
/// [`StoreError::Unknown`], never a default.
pub(crate) fn get_stored<T: StoredText>(
    row: &AnyRow,
    column: &'static str,
) -> Result<T, StoreError> {
    Ok(T::parse_stored(&row.try_get::<String, _>(column)?)?)
}

/// A stored id, read as its type; text that is no such id is [`StoreError::Corrupt`].
pub(crate) fn get_id<T: StoredId>(row: &AnyRow, column: &'static str) -> Result<T, StoreError> {
    T::from_stored_text(row.try_get(column)?).ok_or(StoreError::Corrupt(column))
}

/// A stored id that may be absent, read as its type.
pub(crate) fn get_opt_id<T: StoredId>(
    row: &AnyRow,
    column: &'static str,
) -> Result<Option<T>, StoreError> {
    row.try_get::<Option<String>, _>(column)?
        .map(|text| T::from_stored_text(text).ok_or(StoreError::Corrupt(column)))
        .transpose()
}

/// Maps a unique-constraint violation to [`StoreError::Duplicate`].
pub(crate) fn unique(what: &'static str) -> impl Fn(sqlx::Error) -> StoreError {
    move |e| match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Duplicate(what),
        _ => StoreError::Database(e),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The key-encryption key of the tests' stores (one, so that a test can reopen a store).
    pub(crate) fn test_kek() -> Kek {
        Kek::from_bytes(&[0x42; 32])
    }

    /// A fresh SQLite database in its own temporary folder (kept alive by the returned guard).
    pub(crate) async fn temp_store() -> (Store, TempDir) {
        let dir = TempDir::new();
        let store = Store::open(
            &format!("sqlite://{}/civkey.db", dir.0.display()),
            test_kek(),
        )
        .await
        .unwrap();
        (store, dir)
    }

    /// A `tempfile` folder, removed when dropped, with its path at hand as `.0` (the tests
    /// spelled it so before they used `tempfile`).
    pub(crate) struct TempDir(
        pub std::path::PathBuf,
        #[allow(dead_code)] // held for its `Drop`, which removes the folder
        tempfile::TempDir,
    );

    impl TempDir {
        pub(crate) fn new() -> Self {
            let dir = tempfile::Builder::new()
                .prefix("civkey-test-")
                .tempdir()
                .unwrap();
            TempDir(dir.path().to_path_buf(), dir)
        }
    }

    #[tokio::test]
    async fn a_new_database_gets_the_current_schema_in_wal_mode() {
        let (store, _dir) = temp_store().await;
        assert_eq!(store.schema_version().await.unwrap(), SCHEMA_VERSION);
        let mode: String = sqlx::query("PRAGMA journal_mode")
            .fetch_one(store.pool())
            .await
            .unwrap()
            .try_get(0)
            .unwrap();
        assert_eq!(mode.to_lowercase(), "wal");
    }

    #[tokio::test]
    async fn reopening_applies_nothing_twice() {
        let (store, dir) = temp_store().await;
        drop(store);
        let again = Store::open(
            &format!("sqlite://{}/civkey.db", dir.0.display()),
            test_kek(),
        )
        .await
        .unwrap();
        assert_eq!(again.schema_version().await.unwrap(), SCHEMA_VERSION);
    }

    #[tokio::test]
    async fn a_migration_that_landed_out_of_order_is_still_applied() {
        let (store, dir) = temp_store().await;
        // As if this database had been made before migration 5 existed, by a build with 7 (and
        // so without 13, which adds to 5's clerks table).
        sqlx::query("DELETE FROM civkey_schema WHERE version IN (5, 13)")
            .execute(store.pool())
            .await
            .unwrap();
        sqlx::raw_sql(
            "DROP TABLE bok_unblocks; DROP TABLE bok_requests; DROP TABLE clerk_sessions; \
             DROP TABLE clerks; ALTER TABLE citizens DROP COLUMN bok_hash; \
             ALTER TABLE citizens DROP COLUMN bok_wrong_answers; \
             ALTER TABLE citizens DROP COLUMN bok_blocked_at;",
        )
        .execute(store.pool())
        .await
        .unwrap();
        drop(store);
        let again = Store::open(
            &format!("sqlite://{}/civkey.db", dir.0.display()),
            test_kek(),
        )
        .await
        .unwrap();
        assert!(again.list_clerks().await.unwrap().is_empty());
        assert_eq!(again.schema_version().await.unwrap(), SCHEMA_VERSION);
    }

    #[tokio::test]
    async fn a_database_from_a_newer_server_is_refused() {
        let (store, dir) = temp_store().await;
        sqlx::query("INSERT INTO civkey_schema (version, applied_at) VALUES ($1, 0)")
            .bind(SCHEMA_VERSION + 1)
            .execute(store.pool())
            .await
            .unwrap();
        drop(store);
        let err = Store::open(
            &format!("sqlite://{}/civkey.db", dir.0.display()),
            test_kek(),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(err, StoreError::TooNew { found, .. } if found == SCHEMA_VERSION + 1),
            "{err}"
        );
    }

    #[tokio::test]
    async fn other_database_urls_are_refused_with_the_reason() {
        let err = Store::open("mysql://x", test_kek()).await.unwrap_err();
        assert!(
            err.to_string().contains("use sqlite://PATH or postgres://"),
            "{err}"
        );
    }
}
