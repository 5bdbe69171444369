//! The one implementation of [`Store`](mfa_core::Store) for both backends.
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
//! - `MIGRATIONS`: its embedded migrations, in order.
//!
//! The code is written once against those names and compiled with concrete types, so it
//! needs no trait bounds over sqlx's generic interfaces. Statements come from
//! [`statements`](crate::statements), identical for both backends; values and rows go
//! through [`codec`](crate::codec). The trait's methods below only dispatch to one module
//! per record family.

mod ceremonies;
mod counters;
mod devices;
mod factors;
mod maintenance;
mod recovery_codes;
mod throttles;

use async_trait::async_trait;
use mfa_core::store::{
    CeremonyRecord, CounterState, DeviceTokenRecord, FactorRecord, FactorUpdate, RecoveryCodeRecord, StoreResult,
    ThrottleScope, ThrottleState,
};
use mfa_core::{ChallengeId, DeviceId, FactorId, Store, Timestamp, UserId};
use sqlx::{Executor, Transaction};

use super::{Backend, Db, MIGRATIONS};
use crate::error::db_err;

/// A statement of this backend, with its arguments bound.
type Query<'q> = sqlx::query::Query<'q, Db, <Db as sqlx::Database>::Arguments<'q>>;

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

#[async_trait]
impl Store for Backend {
    async fn insert_factor(&self, record: &FactorRecord) -> StoreResult<()> {
        factors::insert(self, record).await
    }

    async fn find_factor_by_lookup_key(&self, key: &str) -> StoreResult<Option<FactorRecord>> {
        factors::find_by_lookup_key(self, key).await
    }

    async fn get_factor(&self, user: &UserId, id: &FactorId) -> StoreResult<Option<FactorRecord>> {
        factors::get(self, user, id).await
    }

    async fn list_factors(&self, user: &UserId) -> StoreResult<Vec<FactorRecord>> {
        factors::list(self, user).await
    }

    async fn update_factor(&self, user: &UserId, id: &FactorId, update: &FactorUpdate) -> StoreResult<FactorRecord> {
        factors::update(self, user, id, update).await
    }

    async fn activate_factor(&self, user: &UserId, id: &FactorId, now: Timestamp) -> StoreResult<FactorRecord> {
        factors::activate(self, user, id, now).await
    }

    async fn set_preferred(&self, user: &UserId, id: &FactorId) -> StoreResult<()> {
        factors::set_preferred(self, user, id).await
    }

    async fn delete_factor(&self, user: &UserId, id: &FactorId) -> StoreResult<FactorRecord> {
        factors::delete(self, user, id).await
    }

    async fn advance_replay_marker(
        &self,
        user: &UserId,
        id: &FactorId,
        marker: u64,
        used_at: Timestamp,
    ) -> StoreResult<bool> {
        factors::advance_replay_marker(self, user, id, marker, used_at).await
    }

    async fn put_ceremony(&self, record: &CeremonyRecord) -> StoreResult<()> {
        ceremonies::put(self, record).await
    }

    async fn attempt_ceremony(
        &self,
        user: Option<&UserId>,
        id: &ChallengeId,
        now: Timestamp,
    ) -> StoreResult<Option<CeremonyRecord>> {
        ceremonies::attempt(self, user, id, now).await
    }

    async fn get_ceremony(
        &self,
        user: Option<&UserId>,
        id: &ChallengeId,
        now: Timestamp,
    ) -> StoreResult<Option<CeremonyRecord>> {
        ceremonies::get(self, user, id, now).await
    }

    async fn take_ceremony(
        &self,
        user: Option<&UserId>,
        id: &ChallengeId,
        now: Timestamp,
    ) -> StoreResult<Option<CeremonyRecord>> {
        ceremonies::take(self, user, id, now).await
    }

    async fn replace_recovery_codes(&self, user: &UserId, codes: &[RecoveryCodeRecord]) -> StoreResult<()> {
        recovery_codes::replace(self, user, codes).await
    }

    async fn get_recovery_code(&self, user: &UserId, lookup: &str) -> StoreResult<Option<RecoveryCodeRecord>> {
        recovery_codes::get(self, user, lookup).await
    }

    async fn consume_recovery_code(&self, user: &UserId, lookup: &str, hash: &str) -> StoreResult<bool> {
        recovery_codes::consume(self, user, lookup, hash).await
    }

    async fn count_recovery_codes(&self, user: &UserId) -> StoreResult<usize> {
        recovery_codes::count(self, user).await
    }

    async fn insert_device_token(&self, record: &DeviceTokenRecord) -> StoreResult<()> {
        devices::insert(self, record).await
    }

    async fn get_device_token(&self, user: &UserId, id: &DeviceId) -> StoreResult<Option<DeviceTokenRecord>> {
        devices::get(self, user, id).await
    }

    async fn list_device_tokens(&self, user: &UserId) -> StoreResult<Vec<DeviceTokenRecord>> {
        devices::list(self, user).await
    }

    async fn touch_device_token(&self, user: &UserId, id: &DeviceId, at: Timestamp) -> StoreResult<bool> {
        devices::touch(self, user, id, at).await
    }

    async fn revoke_device_token(&self, user: &UserId, id: &DeviceId) -> StoreResult<bool> {
        devices::revoke(self, user, id).await
    }

    async fn revoke_all_device_tokens(&self, user: &UserId) -> StoreResult<u64> {
        devices::revoke_all(self, user).await
    }

    async fn get_throttle(&self, user: &UserId, scope: &ThrottleScope) -> StoreResult<ThrottleState> {
        throttles::get(self, user, scope).await
    }

    async fn compare_and_set_throttle(
        &self,
        user: &UserId,
        scope: &ThrottleScope,
        expected: &ThrottleState,
        new: &ThrottleState,
    ) -> StoreResult<bool> {
        throttles::compare_and_set(self, user, scope, expected, new).await
    }

    async fn get_counter(&self, key: &str, now: Timestamp) -> StoreResult<CounterState> {
        counters::get(self, key, now).await
    }

    async fn compare_and_set_counter(
        &self,
        key: &str,
        expected: &CounterState,
        new: &CounterState,
        now: Timestamp,
    ) -> StoreResult<bool> {
        counters::compare_and_set(self, key, expected, new, now).await
    }

    async fn purge_expired(&self, now: Timestamp) -> StoreResult<u64> {
        maintenance::purge_expired(self, now).await
    }
}
