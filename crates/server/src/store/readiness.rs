//! What an operator's health checks and metrics read of the database: whether it answers and its
//! schema is the one this build runs ([`Store::schema_state`]), and the connection pool's figures
//! ([`Store::pool_stats`]).

use sqlx::Row;

use super::{Store, StoreError, MIGRATIONS, SCHEMA_VERSION};

/// Where the database's schema stands against this build's migrations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaState {
    /// Every migration this build knows is applied, and none it does not know.
    Current,
    /// Migrations this build knows are not applied (another instance is migrating, or the
    /// schema table was changed by hand).
    Behind {
        /// The versions not applied.
        missing: Vec<i64>,
    },
    /// A newer civkey-server migrated the database (see [`StoreError::TooNew`]).
    TooNew {
        /// The database's highest version.
        found: i64,
    },
}

/// The connection pool now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    /// Connections open, in use or idle.
    pub size: u32,
    /// Connections open and idle.
    pub idle: u32,
    /// The most connections the pool opens.
    pub max: u32,
}

impl Store {
    /// Asks the database for the migrations applied (one query: the database answers if this
    /// returns) and compares them with this build's.
    pub async fn schema_state(&self) -> Result<SchemaState, StoreError> {
        let applied: Vec<i64> = sqlx::query("SELECT version FROM civkey_schema")
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(|row| row.try_get::<i64, _>("version"))
            .collect::<Result<_, _>>()?;
        if let Some(found) = applied
            .iter()
            .copied()
            .filter(|v| *v > SCHEMA_VERSION)
            .max()
        {
            return Ok(SchemaState::TooNew { found });
        }
        let missing: Vec<i64> = MIGRATIONS
            .iter()
            .map(|(v, _)| *v)
            .filter(|v| !applied.contains(v))
            .collect();
        Ok(if missing.is_empty() {
            SchemaState::Current
        } else {
            SchemaState::Behind { missing }
        })
    }

    /// Closes the database connections (at shutdown: PostgreSQL then sees each session end
    /// instead of a dropped connection); waits for connections in use to come back.
    pub async fn close(&self) {
        self.pool().close().await;
    }

    /// The connection pool's figures (no query).
    pub fn pool_stats(&self) -> PoolStats {
        let pool = self.pool();
        PoolStats {
            size: pool.size(),
            idle: u32::try_from(pool.num_idle()).unwrap_or(u32::MAX),
            max: pool.options().get_max_connections(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::temp_store;

    #[tokio::test]
    async fn the_schema_is_current_after_open_and_says_what_is_missing_or_too_new() {
        let (store, _dir) = temp_store().await;
        assert_eq!(store.schema_state().await.unwrap(), SchemaState::Current);
        let first = MIGRATIONS[0].0;
        sqlx::query("DELETE FROM civkey_schema WHERE version = $1")
            .bind(first)
            .execute(store.pool())
            .await
            .unwrap();
        assert_eq!(
            store.schema_state().await.unwrap(),
            SchemaState::Behind {
                missing: vec![first]
            }
        );
        sqlx::query("INSERT INTO civkey_schema (version, applied_at) VALUES ($1, 0)")
            .bind(SCHEMA_VERSION + 1)
            .execute(store.pool())
            .await
            .unwrap();
        assert_eq!(
            store.schema_state().await.unwrap(),
            SchemaState::TooNew {
                found: SCHEMA_VERSION + 1
            }
        );
        let pool = store.pool_stats();
        assert!(
            pool.size >= 1 && pool.idle <= pool.size && pool.max == 8,
            "{pool:?}"
        );
    }
}
