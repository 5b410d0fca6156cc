//! What an operator's metrics read of the database, the connection pool's figures
//! ([`Store::pool_stats`]), and closing it at shutdown ([`Store::close`]). Whether the schema is
//! current, for the readiness check, is [`Store::schema_current`].

use super::Store;

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
    use crate::store::tests::temp_store;

    #[tokio::test]
    async fn the_pool_says_what_it_holds_and_closes() {
        let (store, _dir) = temp_store().await;
        store.schema_version().await.unwrap();
        let pool = store.pool_stats();
        assert!(
            pool.size >= 1 && pool.idle <= pool.size && pool.max == 8,
            "{pool:?}"
        );
        store.close().await;
        assert!(store.schema_version().await.is_err(), "closed");
    }
}
