//! Two stores with separate connection pools on one database, as two service instances
//! would have: a SQLite file, or a fresh schema of the PostgreSQL server named by
//! `MFA_TEST_POSTGRES_URL`.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::{Arc, OnceLock};

use mfa_core::{FactorId, store::Store};
use mfa_store_sql::sqlx::postgres::{PgConnectOptions, PgConnection};
use mfa_store_sql::sqlx::{Connection, Executor};
use mfa_store_sql::{PostgresStore, SqliteStore};

/// Why PostgreSQL tests are skipped without a server, and how to run them.
pub(crate) const NEEDS_POSTGRES: &str =
    "needs PostgreSQL: run `bash tests/run-all.sh`, or set MFA_TEST_POSTGRES_URL and pass --include-ignored";

/// A directory for this run's database files; the previous run's files are removed first.
fn db_dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("mfa-tests-sql-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    })
}

/// A new, migrated SQLite database file.
pub(crate) async fn sqlite_file() -> SqliteStore {
    sqlite_pair().await.0
}

/// Two stores, each with its own pool, on one new, migrated SQLite file.
pub(crate) async fn sqlite_pair() -> (SqliteStore, SqliteStore) {
    let url = format!("sqlite://{}", db_dir().join(format!("{}.db", FactorId::random().unwrap())).display());
    let one = SqliteStore::connect(&url).await.unwrap();
    one.migrate().await.unwrap();
    let two = SqliteStore::connect(&url).await.unwrap();
    (one, two)
}

/// The server to test against; panics with instructions when unset.
fn postgres_url() -> String {
    match std::env::var("MFA_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => panic!("MFA_TEST_POSTGRES_URL is not set: this test {NEEDS_POSTGRES}"),
    }
}

/// Two stores, each with its own pool, on a new, migrated schema of the test server.
pub(crate) async fn postgres_pair() -> (PostgresStore, PostgresStore) {
    let url = postgres_url();
    let schema = format!("mfa_test_{}", FactorId::random().unwrap());
    let mut admin = PgConnection::connect(&url).await.expect("connect to MFA_TEST_POSTGRES_URL");
    admin.execute(format!("CREATE SCHEMA {schema}").as_str()).await.unwrap();
    admin.close().await.unwrap();
    let options = PgConnectOptions::from_str(&url).unwrap().options([("search_path", schema.as_str())]);
    let one = PostgresStore::connect_with(options.clone()).await.unwrap();
    one.migrate().await.unwrap();
    let two = PostgresStore::connect_with(options).await.unwrap();
    (one, two)
}

/// [`sqlite_pair`] as `Arc<dyn Store>`s.
pub(crate) async fn sqlite_dyn_pair() -> (Arc<dyn Store>, Arc<dyn Store>) {
    let (one, two) = sqlite_pair().await;
    (Arc::new(one), Arc::new(two))
}

/// [`postgres_pair`] as `Arc<dyn Store>`s.
pub(crate) async fn postgres_dyn_pair() -> (Arc<dyn Store>, Arc<dyn Store>) {
    let (one, two) = postgres_pair().await;
    (Arc::new(one), Arc::new(two))
}
