//! [`SqliteStore`]: the store on SQLite.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use mfa_core::store::{AcceptOutcome, Acceptance, FactorAttempt, StoreResult, ThrottleScope, ThrottleState};
use mfa_core::{FactorId, FactorKind, Timestamp, UserId};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, Transaction};

use crate::codec::{factor_from_row, throttle_from_row};
use crate::error::db_err;
use crate::statements::{
    Migration, SQLITE_ACCEPT_FACTOR, SQLITE_BEGIN_IMMEDIATE, SQLITE_CLEAR_THROTTLE, SQLITE_COUNT_FIRST_ATTEMPT,
    SQLITE_FACTOR_WITH_THROTTLE, SQLITE_PURGE_PENDING_FACTOR_THROTTLES, SQLITE_TAKE_LIVE_CEREMONY,
};

/// The implementation of [`Store`](mfa_core::store::Store), `migrate` and `schema_version`
/// shared with PostgreSQL, compiled for SQLite with the four names below.
#[path = "store/mod.rs"]
#[allow(clippy::duplicate_mod, reason = "compiled once per backend, on purpose")]
mod store;

/// The store type `store` implements.
type Backend = SqliteStore;

/// The database `store` runs on.
type Db = Sqlite;

/// Deletes the failure counters of the pending factors a purge deletes.
const PURGE_PENDING_FACTOR_THROTTLES: &str = SQLITE_PURGE_PENDING_FACTOR_THROTTLES;

/// The embedded migrations, in order.
const MIGRATIONS: &[Migration] = &[
    Migration { version: 1, name: "initial", sql: include_str!("../migrations/sqlite/0001_initial.sql") },
    Migration {
        version: 2,
        name: "admin_and_audit",
        sql: include_str!("../migrations/sqlite/0002_admin_and_audit.sql"),
    },
];

/// How long a connection waits for another writer's lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// A [`Store`](mfa_core::store::Store) on SQLite: a database file shared by every process that
/// opens it, or an in-memory database private to this store.
///
/// Cheap to clone: clones share the connection pool. Call [`migrate`](Self::migrate) once
/// before use.
///
/// Writes that must read first (activating a factor, choosing the preferred one, deleting a
/// factor with its counter, replacing recovery codes) run in `BEGIN IMMEDIATE` transactions,
/// so they take SQLite's write lock before reading; everything else is one statement.
#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating it if missing) the database at `url`, e.g. `sqlite://mfa.db`,
    /// `sqlite:///var/lib/app/mfa.db` or `sqlite::memory:`.
    ///
    /// A file database is opened in WAL mode with `synchronous = NORMAL`, foreign keys on and a
    /// busy timeout of 10 s, so several connections and processes can share it. An in-memory
    /// database (`:memory:` or `mode=memory`) lives in one connection that is never closed,
    /// and disappears with the store.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`](mfa_core::store::StoreError::Backend) if the URL is malformed or the
    /// database cannot be opened.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let options = SqliteConnectOptions::from_str(url).map_err(db_err)?;
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        Self::connect_with(options, in_memory).await
    }

    /// Opens a new, private in-memory database (for tests and demos).
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`](mfa_core::store::StoreError::Backend) if SQLite fails.
    pub async fn in_memory() -> StoreResult<Self> {
        Self::connect("sqlite::memory:").await
    }

    /// Opens a database from explicit options. `in_memory` must say whether `options` name
    /// an in-memory database: it then gets a single connection that is never closed (the
    /// data lives only as long as a connection does). File databases get WAL mode,
    /// `synchronous = NORMAL`, foreign keys and a busy timeout, on top of `options`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`](mfa_core::store::StoreError::Backend) if the database cannot be
    /// opened.
    pub async fn connect_with(options: SqliteConnectOptions, in_memory: bool) -> StoreResult<Self> {
        let options = options.foreign_keys(true).busy_timeout(BUSY_TIMEOUT);
        let pool = if in_memory {
            SqlitePoolOptions::new()
                .min_connections(1)
                .max_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .connect_with(options)
                .await
        } else {
            let options = options
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal);
            SqlitePoolOptions::new().connect_with(options).await
        }
        .map_err(db_err)?;
        Ok(Self::from_pool(pool))
    }

    /// Uses an existing pool, configured by the caller. For a file database shared by
    /// several connections, configure WAL mode and a busy timeout (as
    /// [`connect`](Self::connect) does); for an in-memory one, a single connection that never
    /// closes.
    pub fn from_pool(pool: SqlitePool) -> Self {
        Self { pool }
    }

    /// The underlying pool.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// A write transaction that takes SQLite's write lock at once (`BEGIN IMMEDIATE`), so
    /// nothing it read can change before it commits.
    async fn begin_user(&self, _user: &UserId) -> StoreResult<Transaction<'static, Sqlite>> {
        self.pool.begin_with(SQLITE_BEGIN_IMMEDIATE).await.map_err(db_err)
    }

    /// A write transaction for migrating: the write lock excludes other migrators too.
    async fn begin_migration(&self) -> StoreResult<Transaction<'static, Sqlite>> {
        self.pool.begin_with(SQLITE_BEGIN_IMMEDIATE).await.map_err(db_err)
    }
}

/// The verification hot path on SQLite, where one statement cannot write two tables.
impl SqliteStore {
    /// `begin_attempt`: counts first, in one statement that checks the factor and the
    /// throttle itself, then reads the factor and its throttle.
    async fn begin_attempt_db(
        &self,
        user: &UserId,
        id: &FactorId,
        kinds: &[FactorKind],
        now: Timestamp,
    ) -> StoreResult<Option<FactorAttempt>> {
        let scope = ThrottleScope::Factor(*id).key();
        let kinds = serde_json::to_string(&kinds.iter().map(FactorKind::as_str).collect::<Vec<_>>())
            .map_err(mfa_core::store::StoreError::backend)?;
        let count = sqlx::query(SQLITE_COUNT_FIRST_ATTEMPT)
            .bind(user.as_str())
            .bind(&id.as_bytes()[..])
            .bind(&scope)
            .bind(now.unix_millis())
            .bind(kinds);
        let counted = count.execute(&self.pool).await.map_err(db_err)?.rows_affected() == 1;
        let read = sqlx::query(SQLITE_FACTOR_WITH_THROTTLE).bind(user.as_str()).bind(&id.as_bytes()[..]).bind(&scope);
        let Some(row) = read.fetch_optional(&self.pool).await.map_err(db_err)? else {
            return Ok(None);
        };
        // Counted: the throttle was clear before this call.
        let throttle = if counted { ThrottleState::default() } else { throttle_from_row(&row)? };
        Ok(Some(FactorAttempt::new(factor_from_row(&row)?, throttle, counted)))
    }

    /// `accept_verification`: one `BEGIN IMMEDIATE` transaction (one commit), rolled back
    /// if the ceremony is gone.
    async fn accept_verification_db(
        &self,
        user: &UserId,
        id: &FactorId,
        acceptance: &Acceptance,
    ) -> StoreResult<AcceptOutcome> {
        let mut tx = self.begin_user(user).await?;
        if let Some((bound, ceremony)) = &acceptance.ceremony {
            let take = sqlx::query(SQLITE_TAKE_LIVE_CEREMONY)
                .bind(&ceremony.as_bytes()[..])
                .bind(bound.as_ref().map(UserId::as_str))
                .bind(acceptance.used_at.unix_millis());
            if take.execute(&mut *tx).await.map_err(db_err)?.rows_affected() != 1 {
                return Ok(AcceptOutcome::CeremonyGone);
            }
        }
        let accept = store::bind_acceptance(sqlx::query(SQLITE_ACCEPT_FACTOR), user, id, acceptance)?;
        let accepted = accept.execute(&mut *tx).await.map_err(db_err)?.rows_affected() == 1;
        if accepted && acceptance.clear_throttle {
            let clear = sqlx::query(SQLITE_CLEAR_THROTTLE).bind(user.as_str()).bind(ThrottleScope::Factor(*id).key());
            clear.execute(&mut *tx).await.map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)?;
        Ok(if accepted { AcceptOutcome::Accepted } else { AcceptOutcome::Refused })
    }
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("connections", &self.pool.size())
            .field("idle", &self.pool.num_idle())
            .finish_non_exhaustive()
    }
}
