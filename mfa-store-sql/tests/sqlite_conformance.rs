#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The whole store conformance suite on SQLite: a database file (WAL, a pool of
//! connections) and an in-memory database, each on the concrete type and through
//! `Arc<dyn Store>`. Every case gets a fresh, migrated database.
#![cfg(feature = "sqlite")]

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use mfa_core::{FactorId, store::Store};
use mfa_store_sql::SqliteStore;

/// A directory for this run's database files; the previous run's files are removed first.
fn db_dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("mfa-store-sql-conformance");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    })
}

async fn file_store() -> SqliteStore {
    let path = db_dir().join(format!("{}.db", FactorId::random().unwrap()));
    let store = SqliteStore::connect(&format!("sqlite://{}", path.display())).await.unwrap();
    store.migrate().await.unwrap();
    store
}

async fn memory_store() -> SqliteStore {
    let store = SqliteStore::in_memory().await.unwrap();
    store.migrate().await.unwrap();
    store
}

mfa_core::store_conformance_tests!(file_concrete, async { Arc::new(super::file_store().await) });
mfa_core::store_conformance_tests!(file_dyn, async { Arc::new(super::file_store().await) as Arc<dyn Store> });
mfa_core::store_conformance_tests!(memory_concrete, async { Arc::new(super::memory_store().await) });
mfa_core::store_conformance_tests!(memory_dyn, async { Arc::new(super::memory_store().await) as Arc<dyn Store> });
