#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! SQLite specifics beyond the conformance suite: migrations, durability, several pools
//! (as several processes would have) on one file, and the full `u64` replay-marker range.
#![cfg(feature = "sqlite")]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use mfa_core::store::prelude::*;
use mfa_core::store::{
    CeremonyPurpose, CeremonyRecord, CounterState, DeviceTokenRecord, FactorRecord, RecordCounts, RecoveryCodeRecord,
    ThrottleScope, ThrottleState,
};
use mfa_core::{Assurance, CeremonyId, DeviceId, FactorId, FactorKind, Timestamp, UserId, store::StoreError};
use mfa_store_sql::sqlx::{Executor, Row};
use mfa_store_sql::{AuditQuery, SCHEMA_VERSION, SqliteStore};

const T0: Timestamp = Timestamp::from_unix_millis(1_700_000_000_000);

fn db_path() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("mfa-store-sql-specifics");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(format!("{}.db", FactorId::random().unwrap()))
}

fn url(path: &std::path::Path) -> String {
    format!("sqlite://{}", path.display())
}

fn remove(path: &std::path::Path) {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

fn user() -> UserId {
    UserId::new(format!("user-{}", FactorId::random().unwrap())).unwrap()
}

fn pending(user: &UserId) -> FactorRecord {
    FactorRecord::pending(
        FactorId::random().unwrap(),
        user.clone(),
        FactorKind::TOTP,
        "Authenticator app".into(),
        Assurance::ReplayResistantOtp,
        T0,
        T0.saturating_add(Duration::from_secs(600)),
    )
}

#[tokio::test]
async fn migrate_is_versioned_and_idempotent() {
    let store = SqliteStore::in_memory().await.unwrap();
    // Hosts may spawn the migration.
    tokio::spawn({
        let store = store.clone();
        async move { store.schema_version().await.unwrap() }
    })
    .await
    .unwrap();
    fn assert_send<T: Send>(_: &T) {}
    assert_send(&store.migrate());
    assert_eq!(store.schema_version().await.unwrap(), 0);
    store.migrate().await.unwrap();
    assert_eq!(store.schema_version().await.unwrap(), SCHEMA_VERSION);
    store.migrate().await.unwrap();
    assert_eq!(store.schema_version().await.unwrap(), SCHEMA_VERSION);
}

#[tokio::test]
async fn a_newer_schema_is_refused() {
    let store = SqliteStore::in_memory().await.unwrap();
    store.migrate().await.unwrap();
    mfa_store_sql::sqlx::query("INSERT INTO mfa_schema_version (version, name, applied_at) VALUES (999, 'future', 0)")
        .execute(store.pool())
        .await
        .unwrap();
    let err = store.migrate().await.unwrap_err();
    assert!(matches!(err, StoreError::Backend(_)), "{err:?}");
}

#[tokio::test]
async fn state_survives_reopening_the_file() {
    let path = db_path();
    let alice = user();
    let record = pending(&alice);
    {
        let store = SqliteStore::connect(&url(&path)).await.unwrap();
        store.migrate().await.unwrap();
        store.insert_factor(&record).await.unwrap();
        store.activate_factor(&alice, &record.id, T0).await.unwrap();
        assert!(store.advance_replay_marker(&alice, &record.id, 7, T0).await.unwrap());
        store.pool().close().await;
    }
    let store = SqliteStore::connect(&url(&path)).await.unwrap();
    store.migrate().await.unwrap();
    let got = store.get_factor(&alice, &record.id).await.unwrap().unwrap();
    assert!(got.is_active() && got.preferred);
    assert_eq!(got.replay_marker, Some(7));
    assert!(!store.advance_replay_marker(&alice, &record.id, 7, T0).await.unwrap(), "replay after restart");
    store.pool().close().await;
    remove(&path);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn separate_pools_on_one_file_see_one_winner() {
    let path = db_path();
    let first = SqliteStore::connect(&url(&path)).await.unwrap();
    first.migrate().await.unwrap();
    let stores: Vec<Arc<SqliteStore>> = vec![
        Arc::new(first),
        Arc::new(SqliteStore::connect(&url(&path)).await.unwrap()),
        Arc::new(SqliteStore::connect(&url(&path)).await.unwrap()),
    ];
    for s in &stores[1..] {
        s.migrate().await.unwrap();
    }
    let alice = user();
    let key = format!("send:{}", FactorId::random().unwrap());
    let next = CounterState::new(1, Some(T0), Some(T0), Some(T0.saturating_add(Duration::from_secs(60))));
    let throttle = ThrottleState::new(1, Some(T0));
    let mut tasks = Vec::new();
    for i in 0..48 {
        let store = stores[i % stores.len()].clone();
        let (key, alice) = (key.clone(), alice.clone());
        tasks.push(tokio::spawn(async move {
            let c = store.compare_and_set_counter(&key, &CounterState::default(), &next, T0).await.unwrap();
            let t = store
                .compare_and_set_throttle(&alice, &ThrottleScope::RecoveryCodes, &ThrottleState::default(), &throttle)
                .await
                .unwrap();
            (c, t)
        }));
    }
    let (mut counters, mut throttles) = (0, 0);
    for t in tasks {
        let (c, th) = t.await.unwrap();
        counters += usize::from(c);
        throttles += usize::from(th);
    }
    assert_eq!((counters, throttles), (1, 1));
    for s in &stores {
        s.pool().close().await;
    }
    remove(&path);
}

#[tokio::test]
async fn replay_markers_cover_the_whole_u64_range() {
    let store = SqliteStore::in_memory().await.unwrap();
    store.migrate().await.unwrap();
    let alice = user();
    let r = pending(&alice);
    store.insert_factor(&r).await.unwrap();
    store.activate_factor(&alice, &r.id, T0).await.unwrap();
    let half = 1u64 << 63;
    assert!(store.advance_replay_marker(&alice, &r.id, half - 1, T0).await.unwrap());
    assert!(store.advance_replay_marker(&alice, &r.id, half, T0).await.unwrap());
    assert!(!store.advance_replay_marker(&alice, &r.id, half - 1, T0).await.unwrap());
    assert!(!store.advance_replay_marker(&alice, &r.id, 0, T0).await.unwrap());
    assert!(store.advance_replay_marker(&alice, &r.id, u64::MAX, T0).await.unwrap());
    assert_eq!(store.get_factor(&alice, &r.id).await.unwrap().unwrap().replay_marker, Some(u64::MAX));
}

#[tokio::test]
async fn debug_shows_no_connection_details() {
    let path = db_path();
    let store = SqliteStore::connect(&url(&path)).await.unwrap();
    let shown = format!("{store:?}");
    assert!(shown.starts_with("SqliteStore"), "{shown}");
    assert!(!shown.contains(&path.display().to_string()), "{shown}");
    store.pool().close().await;
    remove(&path);
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
async fn a_version_1_database_migrates_to_2_keeping_its_rows() {
    let store = SqliteStore::in_memory().await.unwrap();
    // The database as version 1 of this crate left it.
    store
        .pool()
        .execute(
            "CREATE TABLE mfa_schema_version (version BIGINT NOT NULL PRIMARY KEY, name TEXT NOT NULL, \
             applied_at BIGINT NOT NULL); INSERT INTO mfa_schema_version VALUES (1, 'initial', 0);",
        )
        .await
        .unwrap();
    store.pool().execute(include_str!("../migrations/sqlite/0001_initial.sql")).await.unwrap();
    assert_eq!(store.schema_version().await.unwrap(), 1);
    let alice = user();
    let factor = pending(&alice);
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
    // The rebuilt table kept its expiry index and gained one by user.
    let indexes: Vec<String> = mfa_store_sql::sqlx::query(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'mfa_ceremonies'",
    )
    .fetch_all(store.pool())
    .await
    .unwrap()
    .iter()
    .map(|r| r.get("name"))
    .collect();
    assert!(indexes.contains(&"mfa_ceremonies_expiry".to_owned()), "{indexes:?}");
    assert!(indexes.contains(&"mfa_ceremonies_user".to_owned()), "{indexes:?}");
    assert!(store.audit_sink().query(&AuditQuery::new()).await.unwrap().is_empty(), "the audit table exists");
}

#[tokio::test]
async fn a_reset_deletes_a_throttle_kept_at_the_default_without_counting_it() {
    let store = SqliteStore::in_memory().await.unwrap();
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
