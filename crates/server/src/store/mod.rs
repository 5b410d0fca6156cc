//! The store: the only place with SQL. One implementation for embedded SQLite (the default) and
//! PostgreSQL (several instances behind a load balancer), through sqlx's `Any` driver and SQL that
//! both accept (TEXT and BIGINT columns, `$n` placeholders, conditional `UPDATE … WHERE state = …`
//! for every state change, so two instances racing for one row cannot both win).

mod bok;
mod changes;
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
mod transport;

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
pub use readiness::PoolStats;
pub use sessions::{AttemptLimit, Means, Reservation, WebSession};
pub use transport::redacted_url;

use std::path::Path;
use std::sync::Arc;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Connection as _, Executor, Row};

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
    /// A migration applied to this database is not the one this build has (a released
    /// migration was edited): refused before anything is changed.
    #[error(
        "migration {version:04} as applied to this database differs from this server's copy \
         (SHA-256 {recorded} recorded, {expected} built in): a released migration was edited; \
         run a server whose migrations are the released ones (nothing was changed)"
    )]
    MigrationChanged {
        /// The migration's number (its file is `migrations/NNNN_….sql`).
        version: i64,
        /// The checksum recorded when it was applied.
        recorded: String,
        /// The checksum of this build's copy.
        expected: String,
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
    /// The certificate authority named by the database URL's `sslrootcert` cannot be read.
    #[error("cannot read the database's certificate authority (sslrootcert) {path}: {source}")]
    RootCertificate {
        /// The file.
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
    /// Wakes live updates: in-process on SQLite, across instances on PostgreSQL.
    signal: crate::signal::ChangeSignal,
    /// Whether the database is SQLite (else PostgreSQL).
    sqlite: bool,
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
            transport::check_root_certificate(url)?;
            transport::try_connect(url).await?;
            (url.to_string(), false)
        } else {
            return Err(StoreError::UnsupportedUrl(redacted_url(url)));
        };
        // sqlx pings a connection before every use by default: for SQLite (a file, no peer to
        // lose) that doubles every query's round trip to its worker thread for nothing, so it is
        // off; for PostgreSQL it is a round trip per query, so only a connection idle for a while
        // (one the database may have dropped) is pinged first.
        let options = AnyPoolOptions::new()
            .max_connections(if sqlite { 8 } else { 16 })
            .test_before_acquire(false);
        let options = if sqlite {
            options
        } else {
            options.before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= PING_AFTER_IDLE {
                        sqlx::Connection::ping(conn).await?;
                    }
                    Ok(true)
                })
            })
        };
        let pool = options
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
        let mut store = Store {
            pool,
            kek: Arc::new(kek),
            signal: crate::signal::ChangeSignal::default(),
            sqlite,
        };
        store.migrate().await?;
        if !sqlite {
            store.signal = changes::bridge(&url, store.pool.clone()).await?;
        }
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

    /// Brings the schema up to date, safely when several instances start at once: on
    /// PostgreSQL under a session advisory lock held on one connection (the others wait, then
    /// find nothing left to apply), on SQLite in one `BEGIN IMMEDIATE` transaction (the file's
    /// write lock; another process waits for it). Every applied migration's SHA-256 is recorded
    /// and compared at every start ([`StoreError::MigrationChanged`]).
    async fn migrate(&self) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await?;
        if self.sqlite {
            let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
            migrate_in(&mut tx, true).await?;
            tx.commit().await?;
            return Ok(());
        }
        sqlx::query("SELECT COUNT(*) AS locked FROM (SELECT pg_advisory_lock($1)) AS l")
            .bind(MIGRATION_LOCK)
            .execute(&mut *conn)
            .await?;
        // No early return while the lock is held: the connection must be closed below.
        let migrated = match conn.begin().await {
            Ok(mut tx) => match migrate_in(&mut tx, false).await {
                Ok(()) => tx.commit().await.map_err(StoreError::from),
                Err(e) => Err(e),
            },
            Err(e) => Err(e.into()),
        };
        // Closing the session releases its lock, whatever state the connection is in.
        conn.close().await?;
        migrated
    }

    /// Whether the database's schema is this build's: every migration it knows applied, none
    /// newer (what a readiness check asks).
    pub async fn schema_current(&self) -> Result<bool, StoreError> {
        let applied: Vec<i64> = sqlx::query("SELECT version FROM civkey_schema")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| row.try_get::<i64, _>("version"))
            .collect::<Result<_, _>>()?;
        Ok(MIGRATIONS.iter().all(|(v, _)| applied.contains(v))
            && applied.iter().all(|v| *v <= SCHEMA_VERSION))
    }

    /// The change signal of this database (see [`crate::signal`]): in-process on SQLite; on
    /// PostgreSQL also sent to and heard from the other instances (LISTEN/NOTIFY).
    pub fn change_signal(&self) -> crate::signal::ChangeSignal {
        self.signal.clone()
    }

    /// A transaction that reads and then writes: on SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`, waiting for another writer like any write), so that a write after its
    /// reads never fails because another connection wrote in between (`SQLITE_BUSY_SNAPSHOT`).
    pub(crate) async fn begin_writing(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Any>, StoreError> {
        Ok(if self.sqlite {
            self.pool.begin_with("BEGIN IMMEDIATE").await?
        } else {
            self.pool.begin().await?
        })
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The id of the key-encryption key this store seals under.
    pub fn key_id(&self) -> &str {
        self.kek.id()
    }
}

/// The PostgreSQL advisory lock key held while migrating ("civkey" and 1).
const MIGRATION_LOCK: i64 = 0x6369_766b_6579_0001;

/// A migration's checksum as recorded: the SHA-256 of its text, in hex.
fn checksum(sql: &str) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(sql.as_bytes()))
}

/// The migration steps, in the one transaction (under the lock) of [`Store::migrate`].
async fn migrate_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    sqlite: bool,
) -> Result<(), StoreError> {
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS civkey_schema (version BIGINT PRIMARY KEY, \
         applied_at BIGINT NOT NULL, checksum TEXT)",
    )
    .execute(&mut **tx)
    .await?;
    // Databases from before checksums: add the column (their checksums are filled in below).
    let has_checksum = if sqlite {
        "SELECT COUNT(*) AS n FROM pragma_table_info('civkey_schema') WHERE name = 'checksum'"
    } else {
        "SELECT COUNT(*) AS n FROM information_schema.columns WHERE table_schema = \
         current_schema() AND table_name = 'civkey_schema' AND column_name = 'checksum'"
    };
    let n: i64 = sqlx::query(has_checksum)
        .fetch_one(&mut **tx)
        .await?
        .try_get("n")?;
    if n == 0 {
        sqlx::raw_sql("ALTER TABLE civkey_schema ADD COLUMN checksum TEXT")
            .execute(&mut **tx)
            .await?;
    }
    let applied: Vec<(i64, Option<String>)> =
        sqlx::query("SELECT version, checksum FROM civkey_schema")
            .fetch_all(&mut **tx)
            .await?
            .iter()
            .map(|row| Ok((row.try_get("version")?, row.try_get("checksum")?)))
            .collect::<Result<_, sqlx::Error>>()?;
    if let Some(found) = applied.iter().map(|(v, _)| *v).max() {
        if found > SCHEMA_VERSION {
            return Err(StoreError::TooNew {
                found,
                supported: SCHEMA_VERSION,
            });
        }
    }
    // Decided before any await: references into the list held across one make the future
    // not `Send` (a compiler limitation with higher-ranked lifetimes).
    let mut fill = Vec::new();
    for (version, recorded) in &applied {
        let Some(sql) = MIGRATIONS.iter().find(|m| m.0 == *version).map(|m| m.1) else {
            continue;
        };
        let expected = checksum(sql);
        match recorded {
            Some(recorded) if *recorded == expected => {}
            Some(recorded) => {
                return Err(StoreError::MigrationChanged {
                    version: *version,
                    recorded: recorded.clone(),
                    expected,
                })
            }
            None => fill.push((*version, expected)),
        }
    }
    for (version, expected) in fill {
        sqlx::query("UPDATE civkey_schema SET checksum = $1 WHERE version = $2")
            .bind(expected)
            .bind(version)
            .execute(&mut **tx)
            .await?;
    }
    // Every migration not yet applied, not only those above the highest applied one: changes
    // developed side by side may land out of order (version 7 before 6), and each migration
    // depends only on those numbered below it that it names.
    let pending: Vec<(i64, &'static str)> = MIGRATIONS
        .iter()
        .copied()
        .filter(|(v, _)| !applied.iter().any(|(a, _)| a == v))
        .collect();
    for (version, sql) in pending {
        sqlx::raw_sql(sql).execute(&mut **tx).await?;
        sqlx::query(
            "INSERT INTO civkey_schema (version, applied_at, checksum) VALUES ($1, $2, $3)",
        )
        .bind(version)
        .bind(to_db(SystemClock.now()))
        .bind(checksum(sql))
        .execute(&mut **tx)
        .await?;
        tracing::info!(version, "applied database migration");
    }
    Ok(())
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

/// A pooled PostgreSQL connection idle this long is pinged before use (one the database or a
/// network device may have dropped); busier ones are used at once (a ping is a round trip).
const PING_AFTER_IDLE: std::time::Duration = std::time::Duration::from_secs(1);

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
        let store = reopen(&dir).await.unwrap();
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

    /// Opens the database of `dir` (made by [`temp_store`]) again.
    async fn reopen(dir: &TempDir) -> Result<Store, StoreError> {
        Store::open(
            &format!("sqlite://{}/civkey.db", dir.0.display()),
            test_kek(),
        )
        .await
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
        let again = reopen(&dir).await.unwrap();
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
        let again = reopen(&dir).await.unwrap();
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
        let err = reopen(&dir).await.unwrap_err();
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

    #[tokio::test]
    async fn stores_opening_one_new_sqlite_file_at_once_apply_each_migration_once() {
        for _ in 0..5 {
            let dir = TempDir::new();
            let url = format!("sqlite://{}/civkey.db", dir.0.display());
            let opens = (0..10).map(|_| Store::open(&url, test_kek()));
            let stores: Vec<Store> = futures_util::future::join_all(opens)
                .await
                .into_iter()
                .collect::<Result<_, _>>()
                .unwrap();
            let rows = sqlx::query("SELECT version, checksum FROM civkey_schema")
                .fetch_all(stores[0].pool())
                .await
                .unwrap();
            assert_eq!(rows.len(), MIGRATIONS.len());
            for row in rows {
                let version: i64 = row.try_get("version").unwrap();
                let sql = MIGRATIONS.iter().find(|(v, _)| *v == version).unwrap().1;
                let recorded: String = row.try_get("checksum").unwrap();
                assert_eq!(recorded, checksum(sql));
            }
        }
    }

    #[tokio::test]
    async fn a_changed_applied_migration_is_refused_by_number() {
        let (store, dir) = temp_store().await;
        sqlx::query("UPDATE civkey_schema SET checksum = $1 WHERE version = 7")
            .bind(checksum("-- edited after release"))
            .execute(store.pool())
            .await
            .unwrap();
        drop(store);
        let err = reopen(&dir).await.unwrap_err();
        assert!(
            matches!(err, StoreError::MigrationChanged { version: 7, .. }),
            "{err}"
        );
        assert!(err.to_string().starts_with("migration 0007 "), "{err}");
    }

    #[tokio::test]
    async fn a_database_from_before_checksums_gets_them_filled_in() {
        let (store, dir) = temp_store().await;
        sqlx::raw_sql("ALTER TABLE civkey_schema DROP COLUMN checksum")
            .execute(store.pool())
            .await
            .unwrap();
        drop(store);
        let again = reopen(&dir).await.unwrap();
        let unfilled: i64 =
            sqlx::query("SELECT COUNT(*) AS n FROM civkey_schema WHERE checksum IS NULL")
                .fetch_one(again.pool())
                .await
                .unwrap()
                .try_get("n")
                .unwrap();
        assert_eq!(unfilled, 0);
        assert!(again.schema_current().await.unwrap());
        let first: String = sqlx::query("SELECT checksum FROM civkey_schema WHERE version = 1")
            .fetch_one(again.pool())
            .await
            .unwrap()
            .try_get("checksum")
            .unwrap();
        assert_eq!(first, checksum(MIGRATIONS[0].1));
    }

    #[tokio::test]
    async fn schema_current_says_whether_every_migration_is_applied() {
        let (store, _dir) = temp_store().await;
        assert!(store.schema_current().await.unwrap());
        sqlx::query("DELETE FROM civkey_schema WHERE version = 13")
            .execute(store.pool())
            .await
            .unwrap();
        assert!(!store.schema_current().await.unwrap());
    }
}
