#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The whole store conformance suite on PostgreSQL, on the concrete type and through
//! `Arc<dyn Store>`. Every case runs in a fresh schema of the server named by
//! `MFA_TEST_POSTGRES_URL` (e.g. `postgres://postgres@127.0.0.1:5432/postgres`).
//!
//! These tests are ignored by default; run them with a server:
//! `MFA_TEST_POSTGRES_URL=... cargo test -p mfa-store-sql --all-features -- --include-ignored`,
//! or `bash mfa-store-sql/scripts/with-postgres.sh cargo test -p mfa-store-sql --all-features -- --include-ignored`.
#![cfg(feature = "postgres")]

use std::str::FromStr;
use std::sync::Arc;

use mfa_core::{FactorId, store::Store};
use mfa_store_sql::PostgresStore;
use mfa_store_sql::sqlx::postgres::{PgConnectOptions, PgConnection};
use mfa_store_sql::sqlx::{Connection, Executor};

/// The server to test against; panics with instructions when unset.
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

/// A fresh, migrated store in a new schema of its own.
async fn fresh_store() -> PostgresStore {
    let url = server_url();
    let schema = format!("mfa_test_{}", FactorId::random().unwrap());
    let mut admin = PgConnection::connect(&url).await.expect("connect to MFA_TEST_POSTGRES_URL");
    admin.execute(format!("CREATE SCHEMA {schema}").as_str()).await.unwrap();
    admin.close().await.unwrap();
    let options = PgConnectOptions::from_str(&url).unwrap().options([("search_path", schema.as_str())]);
    let store = PostgresStore::connect_with(options).await.unwrap();
    store.migrate().await.unwrap();
    store
}

mfa_core::store_conformance_tests!(
    #[ignore = "needs PostgreSQL: run `bash tests/run-all.sh`, or set MFA_TEST_POSTGRES_URL and pass --include-ignored"]
    concrete,
    async { Arc::new(super::fresh_store().await) }
);
mfa_core::store_conformance_tests!(
    #[ignore = "needs PostgreSQL: run `bash tests/run-all.sh`, or set MFA_TEST_POSTGRES_URL and pass --include-ignored"]
    dyn_store,
    async { Arc::new(super::fresh_store().await) as Arc<dyn Store> }
);
