//! How the server's connections reach the database: on PostgreSQL, whether they are encrypted
//! (`sslmode=require` / `verify-full` in the database URL; sqlx over rustls).

use sqlx::Row;

use super::{Store, StoreError};

impl Store {
    /// The TLS version of a pooled connection to the database (`"TLSv1.3"`), as PostgreSQL itself
    /// reports it for that connection (`pg_stat_ssl`); `None` when it is not encrypted, and
    /// always for SQLite (a file, no connection to encrypt).
    pub async fn database_tls_version(&self) -> Result<Option<String>, StoreError> {
        if self.sqlite {
            return Ok(None);
        }
        // One statement, so pg_backend_pid() is the connection the pool lent it.
        let row =
            sqlx::query("SELECT version FROM pg_stat_ssl WHERE pid = pg_backend_pid() AND ssl")
                .fetch_optional(self.pool())
                .await?;
        Ok(row
            .map(|row| row.try_get::<Option<String>, _>("version"))
            .transpose()?
            .flatten())
    }
}

/// `url` as it may be shown or logged: a password in it — before the host or as the `password`
/// parameter, both of which the PostgreSQL driver takes — replaced by `***`
/// (`postgres://civkey:***@db/civkey`); text that is no URL is shown as it is.
pub fn redacted_url(url: &str) -> String {
    let Ok(mut parsed) = url::Url::parse(url) else {
        return url.to_string();
    };
    if parsed.password().is_some() && parsed.set_password(Some("***")).is_err() {
        return "(a database URL with a password)".to_string();
    }
    if parsed.query_pairs().any(|(name, _)| name == "password") {
        let pairs: Vec<(String, String)> = parsed
            .query_pairs()
            .map(|(name, value)| {
                let value = if name == "password" {
                    "***".into()
                } else {
                    value
                };
                (name.into_owned(), value.into_owned())
            })
            .collect();
        parsed.query_pairs_mut().clear().extend_pairs(pairs);
    }
    parsed.to_string()
}

/// The file a PostgreSQL URL's `sslrootcert` names can be read: sqlx alone would say only "No
/// such file or directory", without the file's name.
pub(super) fn check_root_certificate(url: &str) -> Result<(), StoreError> {
    let Ok(parsed) = url::Url::parse(url) else {
        return Ok(()); // sqlx says what is wrong with it
    };
    for (name, path) in parsed.query_pairs() {
        // The names the PostgreSQL driver takes for it.
        if ["sslrootcert", "ssl-root-cert", "ssl-ca"].contains(&name.as_ref()) {
            std::fs::File::open(path.as_ref()).map_err(|source| StoreError::RootCertificate {
                path: path.to_string(),
                source,
            })?;
        }
    }
    Ok(())
}

/// Opens one connection to the PostgreSQL database at `url` and closes it: what is wrong (the
/// server refuses connections, the certificate, the password, no such database) comes back at
/// once as it is. Through the pool, sqlx retries for 30 s and then says only that it timed out.
pub(super) async fn try_connect(url: &str) -> Result<(), StoreError> {
    use sqlx::Connection as _;
    sqlx::AnyConnection::connect(url).await?.close().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::redacted_url;

    #[test]
    fn a_password_in_a_database_url_is_redacted_and_the_rest_kept() {
        assert_eq!(
            redacted_url("postgres://civkey:pa%40ss@db:5432/civkey?sslmode=verify-full"),
            "postgres://civkey:***@db:5432/civkey?sslmode=verify-full"
        );
        assert_eq!(
            redacted_url("postgres://civkey@db/civkey"),
            "postgres://civkey@db/civkey"
        );
        assert_eq!(
            redacted_url("postgres://db/civkey?user=civkey&password=pa%26ss&sslmode=require"),
            "postgres://db/civkey?user=civkey&password=***&sslmode=require"
        );
        assert_eq!(
            redacted_url("sqlite://civkey-data/civkey.db"),
            "sqlite://civkey-data/civkey.db"
        );
    }
}
