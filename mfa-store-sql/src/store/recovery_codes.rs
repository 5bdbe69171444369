//! Recovery codes: replacing a user's set, reading one, consuming one exactly once, and
//! counting what is left.

use mfa_core::UserId;
use mfa_core::store::{RecoveryCodeRecord, StoreResult};

use super::{Backend, commit, execute, fetch_one, fetch_optional};
use crate::codec::{Columns, code_from_row};
use crate::error::corrupt;
use crate::statements::{
    CONSUME_RECOVERY_CODE, COUNT_RECOVERY_CODES, DELETE_RECOVERY_CODES, SELECT_RECOVERY_CODE, UPSERT_RECOVERY_CODE,
};

/// Replaces every code of `user` in one transaction. A repeated lookup part keeps the last
/// code, as a map would.
pub(super) async fn replace(store: &Backend, user: &UserId, codes: &[RecoveryCodeRecord]) -> StoreResult<()> {
    let mut tx = store.begin_user(user).await?;
    execute(&mut *tx, sqlx::query(DELETE_RECOVERY_CODES).bind(user.as_str())).await?;
    for code in codes {
        let query = sqlx::query(UPSERT_RECOVERY_CODE)
            .bind(user.as_str())
            .bind(code.lookup.as_str())
            .bind(code.hash.as_str())
            .bind(code.created_at.unix_millis());
        execute(&mut *tx, query).await?;
    }
    commit(tx).await
}

pub(super) async fn get(store: &Backend, user: &UserId, lookup: &str) -> StoreResult<Option<RecoveryCodeRecord>> {
    let query = sqlx::query(SELECT_RECOVERY_CODE).bind(user.as_str()).bind(lookup);
    fetch_optional(&store.pool, query).await?.as_ref().map(code_from_row).transpose()
}

/// Deletes the code only if its hash matches: of concurrent callers, exactly one wins.
pub(super) async fn consume(store: &Backend, user: &UserId, lookup: &str, hash: &str) -> StoreResult<bool> {
    let query = sqlx::query(CONSUME_RECOVERY_CODE).bind(user.as_str()).bind(lookup).bind(hash);
    Ok(execute(&store.pool, query).await? == 1)
}

pub(super) async fn count(store: &Backend, user: &UserId) -> StoreResult<usize> {
    let row = fetch_one(&store.pool, sqlx::query(COUNT_RECOVERY_CODES).bind(user.as_str())).await?;
    usize::try_from(row.int("n")?).map_err(|_| corrupt("count"))
}
