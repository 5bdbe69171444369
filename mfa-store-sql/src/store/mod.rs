//! The one implementation of [`Store`](mfa_core::store::Store) for both backends.
//!
//! This module is compiled once per backend: `sqlite.rs` and `postgres.rs` each include it
//! with `#[path = "store/mod.rs"] mod store;` and define, next to that declaration, the
//! names it is written against:
//!
//! - `Backend`: the store type, with a `pool` field and two methods returning a
//!   transaction: `begin_user(&self, user)`, a write transaction excluding every other such
//!   transaction of the same user (on SQLite, every writer), and `begin_migration(&self)`,
//!   one excluding concurrent migrations;
//! - `Db`: its [`sqlx::Database`];
//! - `MIGRATIONS`: its embedded migrations, in order;
//! - `PURGE_PENDING_FACTOR_THROTTLES`: its statement deleting the failure counters of the
//!   pending factors a purge deletes.
//!
//! The code is written once against those names and compiled with concrete types, so it
//! needs no trait bounds over sqlx's generic interfaces. Statements come from
//! [`statements`](crate::statements), identical for both backends; values and rows go
//! through [`codec`](crate::codec). Each record family's store trait is implemented in its
//! own module; `accounts` holds the whole-user operations, `audit` the statements of
//! [`SqlAuditSink`](crate::SqlAuditSink), and `maintenance` migrating and purging.

mod accounts;
mod audit;
mod ceremonies;
mod counters;
mod devices;
mod factors;
mod maintenance;
mod recovery_codes;

use mfa_core::store::{Acceptance, StoreResult};
use mfa_core::{FactorId, UserId};
use sqlx::{Executor, Transaction};

use super::{Backend, Db, MIGRATIONS, PURGE_PENDING_FACTOR_THROTTLES};
use crate::codec::{details_to_db, marker_to_db};
use crate::error::db_err;

/// A statement of this backend, with its arguments bound.
pub(super) type Query<'q> = sqlx::query::Query<'q, Db, <Db as sqlx::Database>::Arguments<'q>>;

/// Binds `$1`..`$8` of an acceptance's factor update (`accept_factor!` in the statements):
/// the replay marker, the time of use, the sealed secret (key id, ciphertext), data,
/// details, the user and the factor. Each backend's `accept_verification` uses it.
pub(super) fn bind_acceptance<'q>(
    query: Query<'q>,
    user: &'q UserId,
    id: &'q FactorId,
    acceptance: &'q Acceptance,
) -> StoreResult<Query<'q>> {
    let secret = acceptance.secret.as_ref();
    Ok(query
        .bind(acceptance.replay_marker.map(marker_to_db))
        .bind(acceptance.used_at.unix_millis())
        .bind(secret.map(|s| i64::from(s.key_id.0)))
        .bind(secret.map(|s| s.ciphertext.as_slice()))
        .bind(acceptance.data.as_deref())
        .bind(acceptance.details.as_deref().map(details_to_db).transpose()?)
        .bind(user.as_str())
        .bind(&id.as_bytes()[..]))
}

/// A result row of this backend.
type DbRow = <Db as sqlx::Database>::Row;

/// Runs `query`, returning how many rows it changed.
async fn execute<'c>(db: impl Executor<'c, Database = Db>, query: Query<'_>) -> StoreResult<u64> {
    Ok(query.execute(db).await.map_err(db_err)?.rows_affected())
}

/// Runs `sql`, which takes no arguments and may hold several statements.
async fn execute_script<'c>(db: impl Executor<'c, Database = Db>, sql: &str) -> StoreResult<()> {
    // `Executor::execute` with a `&str` (no arguments) runs several statements;
    // `sqlx::raw_sql` would too, but makes the caller's future unprovably `Send`.
    db.execute(sql).await.map_err(db_err)?;
    Ok(())
}

/// Runs `query`, returning its one row (an error if there is none).
async fn fetch_one<'c>(db: impl Executor<'c, Database = Db>, query: Query<'_>) -> StoreResult<DbRow> {
    query.fetch_one(db).await.map_err(db_err)
}

/// Runs `query`, returning its first row if any. For a `SELECT` only: a statement that
/// writes with `RETURNING` goes through [`fetch_all`], which runs it to completion (on
/// SQLite, one stopped after its first row has not finished its write yet).
async fn fetch_optional<'c>(db: impl Executor<'c, Database = Db>, query: Query<'_>) -> StoreResult<Option<DbRow>> {
    query.fetch_optional(db).await.map_err(db_err)
}

/// Runs `query`, returning every row.
async fn fetch_all<'c>(db: impl Executor<'c, Database = Db>, query: Query<'_>) -> StoreResult<Vec<DbRow>> {
    query.fetch_all(db).await.map_err(db_err)
}

/// Commits `tx`.
async fn commit(tx: Transaction<'_, Db>) -> StoreResult<()> {
    tx.commit().await.map_err(db_err)
}
