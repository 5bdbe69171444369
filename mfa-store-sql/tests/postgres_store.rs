#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! PostgreSQL specifics beyond the conformance suite (ignored without a server; see
//! `postgres_conformance.rs`).
#![cfg(feature = "postgres")]

use std::str::FromStr;

use mfa_core::{FactorId, store::StoreError};
use mfa_store_sql::sqlx::postgres::{PgConnectOptions, PgConnection};
use mfa_store_sql::sqlx::{Connection, Executor};
use mfa_store_sql::{PostgresStore, SCHEMA_VERSION};

fn server_url() -> String {
    match std::env::var("MFA_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "MFA_TEST_POSTGRES_URL is not set: these tests need PostgreSQL. Run `bash tests/run-all.sh`, \
             or `bash mfa-store-sql/scripts/with-postgres.sh cargo test -p mfa-store-sql --all-features -- \
             --include-ignored`, or set MFA_TEST_POSTGRES_URL=postgres://USER@HOST:PORT/DB and pass \
             --include-ignored"
        ),
    }
}

/// An unmigrated store in a new, empty schema.
async fn empty_schema_store() -> PostgresStore {
    let url = server_url();
    let schema = format!("mfa_test_{}", FactorId::random().unwrap());
    let mut admin = PgConnection::connect(&url).await.unwrap();
    admin.execute(format!("CREATE SCHEMA {schema}").as_str()).await.unwrap();
    admin.close().await.unwrap();
    let options = PgConnectOptions::from_str(&url).unwrap().options([("search_path", schema.as_str())]);
    PostgresStore::connect_with(options).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL: run `bash tests/run-all.sh`, or set MFA_TEST_POSTGRES_URL and pass --include-ignored"]
async fn concurrent_migrations_apply_once() {
    let store = empty_schema_store().await;
    assert_eq!(store.schema_version().await.unwrap(), 0);
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.migrate().await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(store.schema_version().await.unwrap(), SCHEMA_VERSION);
    store.migrate().await.unwrap();
    let row: (i64,) =
        mfa_store_sql::sqlx::query_as("SELECT COUNT(*) FROM mfa_schema_version").fetch_one(store.pool()).await.unwrap();
    assert_eq!(row.0, 1);
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run `bash tests/run-all.sh`, or set MFA_TEST_POSTGRES_URL and pass --include-ignored"]
async fn a_newer_schema_is_refused() {
    let store = empty_schema_store().await;
    store.migrate().await.unwrap();
    mfa_store_sql::sqlx::query("INSERT INTO mfa_schema_version (version, name, applied_at) VALUES (999, 'future', 0)")
        .execute(store.pool())
        .await
        .unwrap();
    assert!(matches!(store.migrate().await, Err(StoreError::Backend(_))));
}
