//! [`PostgresStore`]: the store on PostgreSQL.

use std::fmt;
use std::str::FromStr;

use mfa_core::store::{AcceptOutcome, Acceptance, FactorAttempt, StoreResult, ThrottleScope};
use mfa_core::{FactorId, FactorKind, Timestamp, UserId};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Postgres, Row, Transaction};

use crate::codec::{factor_from_row, throttle_from_row};
use crate::error::db_err;
use crate::statements::{
    Migration, POSTGRES_ACCEPT, POSTGRES_BEGIN_ATTEMPT, POSTGRES_LOCK_MIGRATION, POSTGRES_LOCK_USER,
    POSTGRES_PURGE_PENDING_FACTOR_THROTTLES,
};

/// The implementation of [`Store`](mfa_core::store::Store), `migrate` and `schema_version`
/// shared with SQLite, compiled for PostgreSQL with the four names below.
#[path = "store/mod.rs"]
#[allow(clippy::duplicate_mod, reason = "compiled once per backend, on purpose")]
mod store;

/// The store type `store` implements.
type Backend = PostgresStore;

/// The database `store` runs on.
type Db = Postgres;

/// Deletes the failure counters of the pending factors a purge deletes.
const PURGE_PENDING_FACTOR_THROTTLES: &str = POSTGRES_PURGE_PENDING_FACTOR_THROTTLES;

/// The embedded migrations, in order.
const MIGRATIONS: &[Migration] = &[
    Migration { version: 1, name: "initial", sql: include_str!("../migrations/postgres/0001_initial.sql") },
    Migration {
        version: 2,
        name: "admin_and_audit",
        sql: include_str!("../migrations/postgres/0002_admin_and_audit.sql"),
    },
];

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

/// The verification hot path on PostgreSQL: one statement (one round trip) each.
impl PostgresStore {
    /// `begin_attempt`: [`POSTGRES_BEGIN_ATTEMPT`].
    async fn begin_attempt_db(
        &self,
        user: &UserId,
        id: &FactorId,
        kinds: &[FactorKind],
        now: Timestamp,
    ) -> StoreResult<Option<FactorAttempt>> {
        let query = sqlx::query(POSTGRES_BEGIN_ATTEMPT)
            .bind(user.as_str())
            .bind(&id.as_bytes()[..])
            .bind(ThrottleScope::Factor(*id).key())
            .bind(now.unix_millis())
            .bind(kinds.iter().map(FactorKind::as_str).collect::<Vec<_>>());
        let Some(row) = query.fetch_optional(&self.pool).await.map_err(db_err)? else {
            return Ok(None);
        };
        let counted: bool = row.try_get("counted").map_err(db_err)?;
        Ok(Some(FactorAttempt::new(factor_from_row(&row)?, throttle_from_row(&row)?, counted)))
    }

    /// `accept_verification`: [`POSTGRES_ACCEPT`].
    async fn accept_verification_db(
        &self,
        user: &UserId,
        id: &FactorId,
        acceptance: &Acceptance,
    ) -> StoreResult<AcceptOutcome> {
        let (bound, ceremony) = match &acceptance.ceremony {
            Some((bound, ceremony)) => (bound.as_ref().map(UserId::as_str), Some(&ceremony.as_bytes()[..])),
            None => (None, None),
        };
        let query = store::bind_acceptance(sqlx::query(POSTGRES_ACCEPT), user, id, acceptance)?
            .bind(ceremony)
            .bind(bound)
            .bind(acceptance.clear_throttle)
            .bind(ThrottleScope::Factor(*id).key());
        let row = query.fetch_one(&self.pool).await.map_err(db_err)?;
        let took: bool = row.try_get("took").map_err(db_err)?;
        let accepted: bool = row.try_get("accepted").map_err(db_err)?;
        Ok(match (acceptance.ceremony.is_some() && !took, accepted) {
            (true, _) => AcceptOutcome::CeremonyGone,
            (false, true) => AcceptOutcome::Accepted,
            (false, false) => AcceptOutcome::Refused,
        })
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
