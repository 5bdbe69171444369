//! Recovery codes: replacing a user's set, reading one, consuming one exactly once, and
//! counting what is left.

use async_trait::async_trait;
use mfa_core::UserId;
use mfa_core::store::{RecoveryCodeRecord, RecoveryCodeStore, StoreResult};

use super::{Backend, commit, execute, fetch_one, fetch_optional};
use crate::codec::{Columns, code_from_row};
use crate::error::corrupt;
use crate::statements::{
    CONSUME_RECOVERY_CODE, COUNT_RECOVERY_CODES, DELETE_RECOVERY_CODES, SELECT_RECOVERY_CODE, UPSERT_RECOVERY_CODE,
};

#[async_trait]
impl RecoveryCodeStore for Backend {
    /// Replaces every code of `user` in one transaction. A repeated lookup part keeps the last
    /// code, as a map would.
    async fn replace_recovery_codes(&self, user: &UserId, codes: &[RecoveryCodeRecord]) -> StoreResult<()> {
        let mut tx = self.begin_user(user).await?;
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

    async fn get_recovery_code(&self, user: &UserId, lookup: &str) -> StoreResult<Option<RecoveryCodeRecord>> {
        let query = sqlx::query(SELECT_RECOVERY_CODE).bind(user.as_str()).bind(lookup);
        fetch_optional(&self.pool, query).await?.as_ref().map(code_from_row).transpose()
    }

    /// Deletes the code only if its hash matches: of concurrent callers, exactly one wins.
    async fn consume_recovery_code(&self, user: &UserId, lookup: &str, hash: &str) -> StoreResult<bool> {
        let query = sqlx::query(CONSUME_RECOVERY_CODE).bind(user.as_str()).bind(lookup).bind(hash);
        Ok(execute(&self.pool, query).await? == 1)
    }

    async fn count_recovery_codes(&self, user: &UserId) -> StoreResult<usize> {
        let row = fetch_one(&self.pool, sqlx::query(COUNT_RECOVERY_CODES).bind(user.as_str())).await?;
        usize::try_from(row.int("n")?).map_err(|_| corrupt("count"))
    }
}
