//! Whole-user operations for administrators: a reset and an erasure, each one `begin_user`
//! transaction, and deployment-wide coverage, one aggregate statement.

use async_trait::async_trait;
use mfa_core::UserId;
use mfa_core::store::{AccountStore, Coverage, RecordCounts, StoreResult};
use sqlx::Transaction;

use super::{Backend, Db, commit, execute, fetch_all};
use crate::codec::Columns;
use crate::error::corrupt;
use crate::statements::{
    DELETE_CEREMONIES_OF_USER, DELETE_COUNTER, DELETE_DEVICE_TOKENS_OF_USER, DELETE_FACTORS_OF_USER,
    DELETE_RECOVERY_CODES, DELETE_THROTTLES_OF_USER, SELECT_COVERAGE,
};

/// Deletes the user's records of every family but keyed counters, inside `tx`.
async fn remove_user(tx: &mut Transaction<'static, Db>, user: &UserId) -> StoreResult<RecordCounts> {
    let of_user = |sql: &'static str| sqlx::query(sql).bind(user.as_str());
    let factors = execute(&mut **tx, of_user(DELETE_FACTORS_OF_USER)).await?;
    let recovery_codes = execute(&mut **tx, of_user(DELETE_RECOVERY_CODES)).await?;
    let ceremonies = execute(&mut **tx, of_user(DELETE_CEREMONIES_OF_USER)).await?;
    let devices = execute(&mut **tx, of_user(DELETE_DEVICE_TOKENS_OF_USER)).await?;
    let mut throttles = 0;
    for row in fetch_all(&mut **tx, of_user(DELETE_THROTTLES_OF_USER)).await? {
        throttles += u64::from(row.flag("held")?);
    }
    Ok(RecordCounts::new(factors, recovery_codes, ceremonies, devices, throttles, 0))
}

#[async_trait]
impl AccountStore for Backend {
    /// One transaction (the per-user one of the crate's `# Atomicity`): every family's rows
    /// of the user go, or none do.
    async fn reset_user(&self, user: &UserId) -> StoreResult<RecordCounts> {
        let mut tx = self.begin_user(user).await?;
        let counts = remove_user(&mut tx, user).await?;
        commit(tx).await?;
        Ok(counts)
    }

    /// One transaction, as for a reset: the reset's rows and the named counters go, or
    /// none do.
    async fn erase_user(&self, user: &UserId, counter_keys: &[String]) -> StoreResult<RecordCounts> {
        let mut tx = self.begin_user(user).await?;
        let mut counts = remove_user(&mut tx, user).await?;
        for key in counter_keys {
            counts.counters += execute(&mut *tx, sqlx::query(DELETE_COUNTER).bind(key.as_str())).await?;
        }
        commit(tx).await?;
        Ok(counts)
    }

    /// One aggregate statement, so every figure comes from one snapshot of the database.
    async fn coverage(&self, few_codes: usize) -> StoreResult<Coverage> {
        let threshold = i64::try_from(few_codes).unwrap_or(i64::MAX);
        let rows = fetch_all(&self.pool, sqlx::query(SELECT_COVERAGE).bind(threshold)).await?;
        let (mut with_factor, mut without, mut few, mut by_kind) = (0, 0, 0, Vec::new());
        for row in &rows {
            let n = u64::try_from(row.int("n")?).map_err(|_| corrupt("count"))?;
            match (row.text("metric")?.as_str(), row.opt_text("kind")?) {
                ("with_factor", None) => with_factor = n,
                ("without_active_factor", None) => without = n,
                ("few_codes", None) => few = n,
                ("kind", Some(kind)) => by_kind.push((kind, n)),
                _ => return Err(corrupt("coverage row")),
            }
        }
        Ok(Coverage::new(with_factor, without, by_kind, few))
    }
}
