//! A stolen copy of the database. The attacker copies the SQLite files of a running server (a
//! backup, a disk image, a misconfigured volume) — or, on PostgreSQL, takes a `pg_dump` backup and
//! restores it elsewhere — and reads it with plain SQL, without the server's key-encryption key. Before issue 16 the copy held the citizens' TOTP seeds, the
//! ID-token signing key and the pairwise-subject key in clear, and a BOK hash that fell to trying
//! every 4-digit BOK with Argon2id; now each is sealed under a key that is not in the database.

use argon2::{Argon2, PasswordHash, PasswordVerifier};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use civkey_server::services::bok;
use civkey_tests::{TempDir, TestServer};
use sqlx::{Connection, Row};

/// What the thief does with a BOK hash: try every 4-digit BOK, in order, until one verifies.
fn crack_four_digit_bok(stored: &str) -> Option<String> {
    let hash = PasswordHash::new(stored).ok()?;
    (0..10_000).map(|n| format!("{n:04}")).find(|bok| {
        Argon2::default()
            .verify_password(bok.as_bytes(), &hash)
            .is_ok()
    })
}

/// One text column of the copy, by plain SQL.
async fn read(db: &mut sqlx::AnyConnection, sql: &str) -> String {
    sqlx::query(sql)
        .fetch_one(db)
        .await
        .unwrap()
        .try_get::<String, _>(0)
        .unwrap()
}

#[tokio::test]
async fn a_stolen_database_copy_yields_no_totp_seed_no_signing_key_and_no_crackable_bok() {
    let server = TestServer::start().await;
    let citizen = server.add_citizen("jana").await;
    bok::set_bok(&server.store, "jana", "0042").await.unwrap();
    // The server publishes its signing key (and so makes it), and has its pairwise-subject key.
    let jwks = reqwest::get(format!("{}/oidc/jwks", server.base))
        .await
        .unwrap();
    assert_eq!(jwks.status(), 200);
    let pairwise = server
        .store
        .server_secret("pairwise_sub_key", "made-by-the-test")
        .await
        .unwrap();
    // What the server itself holds, to recognise in the copy.
    let seed = server
        .store
        .citizen_by_id(&citizen)
        .await
        .unwrap()
        .unwrap()
        .totp_secret
        .unwrap();
    let signing_key = server.state.services().active_signing_key().await.unwrap();

    // The theft: the database file and its write-ahead log, copied while the server runs; on
    // PostgreSQL a backup (`pg_dump`) restored into a database of the thief's.
    let thief = TempDir::new("civkey-thief");
    let copy = if civkey_tests::postgres::this_binary_runs_on_postgres() {
        civkey_tests::postgres::dump_and_restore(&server.database)
    } else {
        let source = server.mailbox.parent().unwrap();
        for file in ["civkey.db", "civkey.db-wal"] {
            if source.join(file).exists() {
                std::fs::copy(source.join(file), thief.0.join(file)).unwrap();
            }
        }
        format!("sqlite://{}/civkey.db?mode=ro", thief.0.display())
    };
    sqlx::any::install_default_drivers();
    let mut db = sqlx::AnyConnection::connect(&copy).await.unwrap();

    // Everything the thief gets, reported together.
    let mut found = Vec::new();
    let stolen_seed = read(
        &mut db,
        "SELECT totp_secret FROM citizens WHERE username = 'jana'",
    )
    .await;
    if stolen_seed.contains(&seed) {
        found.push(format!("the TOTP seed in clear: {stolen_seed}"));
    }

    let stolen_key = read(&mut db, "SELECT private_pkcs8 FROM signing_keys").await;
    let der = B64.decode(&stolen_key).unwrap_or_default();
    if stolen_key == signing_key.private_pkcs8
        || ring::signature::EcdsaKeyPair::from_pkcs8(
            &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &der,
            &ring::rand::SystemRandom::new(),
        )
        .is_ok()
    {
        found.push("the ID-token signing key, ready to sign".to_string());
    }

    let stolen_pairwise = read(
        &mut db,
        "SELECT value FROM server_secrets WHERE name = 'pairwise_sub_key'",
    )
    .await;
    if stolen_pairwise.contains(pairwise.as_str()) {
        found.push("the pairwise-subject key in clear".to_string());
    }

    let stolen_bok = read(
        &mut db,
        "SELECT bok_hash FROM citizens WHERE username = 'jana'",
    )
    .await;
    if let Some(bok) = crack_four_digit_bok(&stolen_bok) {
        found.push(format!("the BOK {bok}, by trying 4-digit BOKs in order"));
    }
    assert!(found.is_empty(), "the copy gave away: {found:#?}");
}
