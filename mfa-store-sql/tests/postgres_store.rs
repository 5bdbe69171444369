#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! PostgreSQL specifics beyond the conformance suite (ignored without a server; see
//! `postgres_conformance.rs`).
#![cfg(feature = "postgres")]

use std::str::FromStr;
use std::time::Duration;

use mfa_core::store::prelude::*;
use mfa_core::store::{
    CeremonyPurpose, CeremonyRecord, DeviceTokenRecord, FactorRecord, RecordCounts, RecoveryCodeRecord, ThrottleScope,
    ThrottleState,
};
use mfa_core::{Assurance, CeremonyId, DeviceId, FactorId, FactorKind, Timestamp, UserId, store::StoreError};
use mfa_store_sql::sqlx::postgres::{PgConnectOptions, PgConnection};
use mfa_store_sql::sqlx::{Connection, Executor};
use mfa_store_sql::{AuditQuery, PostgresStore, SCHEMA_VERSION};

const T0: Timestamp = Timestamp::from_unix_millis(1_700_000_000_000);

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
    assert_eq!(row.0, SCHEMA_VERSION, "each migration recorded once");
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

fn user() -> UserId {
    UserId::new(format!("user-{}", FactorId::random().unwrap())).unwrap()
}

fn ceremony(user: &UserId, purpose: CeremonyPurpose) -> CeremonyRecord {
    let expires = T0.saturating_add(Duration::from_secs(300));
    CeremonyRecord::new(
        CeremonyId::random().unwrap(),
        Some(user.clone()),
        None,
        FactorKind::TOTP,
        purpose,
        vec![7; 8],
        5,
        T0,
        expires,
    )
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run `bash tests/run-all.sh`, or set MFA_TEST_POSTGRES_URL and pass --include-ignored"]
async fn a_version_1_database_migrates_to_2_keeping_its_rows() {
    let store = empty_schema_store().await;
    // The database as version 1 of this crate left it.
    store
        .pool()
        .execute(
            "CREATE TABLE mfa_schema_version (version BIGINT NOT NULL PRIMARY KEY, name TEXT NOT NULL, \
             applied_at BIGINT NOT NULL); INSERT INTO mfa_schema_version VALUES (1, 'initial', 0);",
        )
        .await
        .unwrap();
    store.pool().execute(include_str!("../migrations/postgres/0001_initial.sql")).await.unwrap();
    assert_eq!(store.schema_version().await.unwrap(), 1);
    let alice = user();
    let factor = FactorRecord::pending(
        FactorId::random().unwrap(),
        alice.clone(),
        FactorKind::TOTP,
        "Authenticator app".into(),
        Assurance::ReplayResistantOtp,
        T0,
        T0.saturating_add(Duration::from_secs(600)),
    );
    store.insert_factor(&factor).await.unwrap();
    let challenge = ceremony(&alice, CeremonyPurpose::Challenge);
    store.put_ceremony(&challenge).await.unwrap();
    store.replace_recovery_codes(&alice, &[RecoveryCodeRecord::new("l".into(), "h".into(), T0)]).await.unwrap();
    let device =
        DeviceTokenRecord::new(DeviceId::random().unwrap(), alice.clone(), "Laptop".into(), vec![1; 32], T0, T0);
    store.insert_device_token(&device).await.unwrap();
    let temporary = ceremony(&alice, CeremonyPurpose::TemporaryAccess);
    assert!(store.put_ceremony(&temporary).await.is_err(), "version 1 refuses the new purpose");

    store.migrate().await.unwrap();
    assert_eq!(store.schema_version().await.unwrap(), SCHEMA_VERSION);
    assert_eq!(store.get_factor(&alice, &factor.id).await.unwrap(), Some(factor));
    assert_eq!(store.get_ceremony(Some(&alice), &challenge.id, T0).await.unwrap(), Some(challenge));
    assert_eq!(store.count_recovery_codes(&alice).await.unwrap(), 1);
    assert_eq!(store.list_device_tokens(&alice).await.unwrap().len(), 1);
    store.put_ceremony(&temporary).await.unwrap();
    let got = store.get_ceremony(Some(&alice), &temporary.id, T0).await.unwrap().unwrap();
    assert_eq!(got.purpose, CeremonyPurpose::TemporaryAccess);
    let indexes: Vec<String> = mfa_store_sql::sqlx::query_scalar(
        "SELECT indexname::TEXT FROM pg_indexes WHERE schemaname = current_schema() AND tablename = 'mfa_ceremonies'",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    assert!(indexes.contains(&"mfa_ceremonies_user".to_owned()), "{indexes:?}");
    assert!(store.audit_sink().query(&AuditQuery::new()).await.unwrap().is_empty(), "the audit table exists");
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run `bash tests/run-all.sh`, or set MFA_TEST_POSTGRES_URL and pass --include-ignored"]
async fn a_reset_deletes_a_throttle_kept_at_the_default_without_counting_it() {
    let store = empty_schema_store().await;
    store.migrate().await.unwrap();
    let alice = user();
    // A success keeps its factor's throttle row at the default, which reads as no counter.
    mfa_store_sql::sqlx::query(
        "INSERT INTO mfa_throttles (user_id, scope, failures, last_attempt_at) VALUES ($1, 'factor:x', 0, NULL)",
    )
    .bind(alice.as_str())
    .execute(store.pool())
    .await
    .unwrap();
    let held = ThrottleState::new(2, Some(T0));
    store
        .compare_and_set_throttle(&alice, &ThrottleScope::RecoveryCodes, &ThrottleState::default(), &held)
        .await
        .unwrap();

    assert_eq!(store.reset_user(&alice).await.unwrap(), RecordCounts::new(0, 0, 0, 0, 1, 0));
    let left: i64 = mfa_store_sql::sqlx::query_scalar("SELECT COUNT(*) FROM mfa_throttles WHERE user_id = $1")
        .bind(alice.as_str())
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(left, 0, "both rows are gone");
}
