//! [`PostgresStore`]: the store on PostgreSQL.

use std::fmt;
use std::str::FromStr;

use mfa_core::UserId;
use mfa_core::store::StoreResult;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Postgres, Transaction};

use crate::error::db_err;
use crate::statements::{Migration, POSTGRES_LOCK_MIGRATION, POSTGRES_LOCK_USER};

/// The implementation of [`Store`](mfa_core::store::Store), `migrate` and `schema_version`
/// shared with SQLite, compiled for PostgreSQL with the three names below.
#[path = "store/mod.rs"]
#[allow(clippy::duplicate_mod, reason = "compiled once per backend, on purpose")]
mod store;

/// The store type `store` implements.
type Backend = PostgresStore;

/// The database `store` runs on.
type Db = Postgres;

/// The embedded migrations, in order.
const MIGRATIONS: &[Migration] =
    &[Migration { version: 1, name: "initial", sql: include_str!("../migrations/postgres/0001_initial.sql") }];

/// A [`Store`](mfa_core::store::Store) on PostgreSQL, shared by every process connected to the
/// same database (and schema).
///
/// Cheap to clone: clones share the connection pool. Call [`migrate`](Self::migrate) once
/// before use. Tables live in the connection's `search_path` schema (normally `public`);
/// choose another with `PgConnectOptions::options([("search_path", "mfa")])` and
/// [`connect_with`](Self::connect_with).
///
/// Single-statement operations rely on PostgreSQL's row locking under `READ COMMITTED`
/// (a conditional `UPDATE` or `DELETE` re-checks its condition on the newest row version).
/// Operations that read before writing (activating a factor, choosing the preferred one,
/// deleting a factor with its counter, replacing recovery codes) run in one transaction
/// holding a transaction-scoped advisory lock on the user.
#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Connects to `url`, e.g. `postgres://mfa:secret@db.internal/app`, with a pool of up to
    /// 10 connections.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`](mfa_core::store::StoreError::Backend) if the URL is malformed or the
    /// server cannot be reached.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        Self::connect_with(PgConnectOptions::from_str(url).map_err(db_err)?).await
    }

    /// Connects with explicit options (a schema through `search_path`, TLS settings,
    /// credentials from elsewhere).
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`](mfa_core::store::StoreError::Backend) if the server cannot be reached.
    pub async fn connect_with(options: PgConnectOptions) -> StoreResult<Self> {
        let pool = PgPoolOptions::new().max_connections(10).connect_with(options).await.map_err(db_err)?;
        Ok(Self::from_pool(pool))
    }

    /// Uses an existing pool, configured by the caller.
    pub fn from_pool(pool: PgPool) -> Self {
        Self { pool }
    }

    /// The underlying pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// A transaction holding an advisory lock on `user` until it ends, so that the
    /// read-then-write operations of one user run one at a time.
    async fn begin_user(&self, user: &UserId) -> StoreResult<Transaction<'static, Postgres>> {
        self.begin_locked(sqlx::query(POSTGRES_LOCK_USER).bind(user.as_str())).await.map_err(db_err)
    }

    /// A transaction holding an advisory lock on migrating this schema.
    async fn begin_migration(&self) -> StoreResult<Transaction<'static, Postgres>> {
        self.begin_locked(sqlx::query(POSTGRES_LOCK_MIGRATION)).await.map_err(db_err)
    }

    /// A transaction that has run `lock` (an advisory lock held until it ends).
    async fn begin_locked(
        &self,
        lock: sqlx::query::Query<'_, Postgres, sqlx::postgres::PgArguments>,
    ) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        lock.execute(&mut *tx).await?;
        Ok(tx)
    }
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
            .field("connections", &self.pool.size())
            .field("idle", &self.pool.num_idle())
            .finish_non_exhaustive()
    }
}
