//! Factors: inserting, reading, updating, editing and deleting them, and the TOTP replay
//! marker.
//!
//! Operations that read before writing or write several rows (the per-user edit, deleting
//! with the factor's throttle) run in one `begin_user` transaction; the others are one
//! statement each.

use async_trait::async_trait;
use mfa_core::store::{
    AcceptOutcome, Acceptance, FactorAttempt, FactorPlan, FactorRecord, FactorStore, FactorUpdate, StoreError,
    StoreResult, ThrottleScope,
};
use mfa_core::{Assurance, FactorId, FactorKind, Timestamp, UserId};

use super::{Backend, commit, execute, fetch_all, fetch_optional};
use crate::codec::{details_to_db, factor_from_row, marker_to_db, opt_millis};
use crate::statements::{
    ADVANCE_REPLAY_MARKER, DELETE_FACTOR, DELETE_THROTTLE, EDIT_FACTOR, INSERT_FACTOR, SELECT_FACTOR,
    SELECT_FACTOR_BY_LOOKUP_KEY, SELECT_FACTORS_OF_USER, UPDATE_FACTOR,
};

#[async_trait]
impl FactorStore for Backend {
    async fn insert_factor(&self, record: &FactorRecord) -> StoreResult<()> {
        let query = sqlx::query(INSERT_FACTOR)
            .bind(&record.id.as_bytes()[..])
            .bind(record.user.as_str())
            .bind(record.kind.as_str())
            .bind(record.label.as_str())
            .bind(record.status.as_str())
            .bind(record.assurance.as_str())
            .bind(record.created_at.unix_millis())
            .bind(opt_millis(record.last_used_at))
            .bind(opt_millis(record.expires_at))
            .bind(record.preferred)
            .bind(record.masked_destination.as_deref())
            .bind(details_to_db(&record.details)?)
            .bind(record.secret.as_ref().map(|s| i64::from(s.key_id.0)))
            .bind(record.secret.as_ref().map(|s| s.ciphertext.as_slice()))
            .bind(record.data.as_slice())
            .bind(record.replay_marker.map(marker_to_db))
            .bind(record.enrolment.as_ref().map(|c| &c.as_bytes()[..]))
            .bind(record.replaces.as_ref().map(|f| &f.as_bytes()[..]))
            .bind(record.lookup_key.as_deref());
        execute(&self.pool, query).await?;
        Ok(())
    }

    async fn find_factor_by_lookup_key(&self, key: &str) -> StoreResult<Option<FactorRecord>> {
        let row = fetch_optional(&self.pool, sqlx::query(SELECT_FACTOR_BY_LOOKUP_KEY).bind(key)).await?;
        row.as_ref().map(factor_from_row).transpose()
    }

    async fn get_factor(&self, user: &UserId, id: &FactorId) -> StoreResult<Option<FactorRecord>> {
        let query = sqlx::query(SELECT_FACTOR).bind(user.as_str()).bind(&id.as_bytes()[..]);
        fetch_optional(&self.pool, query).await?.as_ref().map(factor_from_row).transpose()
    }

    async fn list_factors(&self, user: &UserId) -> StoreResult<Vec<FactorRecord>> {
        let rows = fetch_all(&self.pool, sqlx::query(SELECT_FACTORS_OF_USER).bind(user.as_str())).await?;
        rows.iter().map(factor_from_row).collect()
    }

    /// One conditional `UPDATE` whose NULL arguments leave their columns as they are: atomic,
    /// and a lookup-key conflict fails the whole statement.
    async fn update_factor(&self, user: &UserId, id: &FactorId, update: &FactorUpdate) -> StoreResult<FactorRecord> {
        let FactorUpdate {
            label,
            last_used_at,
            secret,
            data,
            details,
            enrolment,
            lookup_key,
            replay_marker,
            assurance,
            ..
        } = update;
        let changes_nothing = label.is_none()
            && last_used_at.is_none()
            && secret.is_none()
            && data.is_none()
            && details.is_none()
            && enrolment.is_none()
            && lookup_key.is_none()
            && replay_marker.is_none()
            && assurance.is_none();
        if changes_nothing {
            return self.get_factor(user, id).await?.ok_or(StoreError::NotFound);
        }
        let query = sqlx::query(UPDATE_FACTOR)
            .bind(label.as_deref())
            .bind(opt_millis(*last_used_at))
            .bind(secret.as_ref().map(|s| i64::from(s.key_id.0)))
            .bind(secret.as_ref().map(|s| s.ciphertext.as_slice()))
            .bind(data.as_deref())
            .bind(details.as_deref().map(details_to_db).transpose()?)
            .bind(enrolment.as_ref().map(|c| &c.as_bytes()[..]))
            .bind(lookup_key.as_deref())
            .bind(replay_marker.map(marker_to_db))
            .bind(assurance.map(Assurance::as_str))
            .bind(user.as_str())
            .bind(&id.as_bytes()[..]);
        let rows = fetch_all(&self.pool, query).await?;
        rows.first().map(factor_from_row).transpose()?.ok_or(StoreError::NotFound)
    }

    /// Applies the plan's edit in one `begin_user` transaction: the user's factors are read
    /// under the per-user lock, and each change and deletion is one statement.
    async fn edit_factors(&self, user: &UserId, plan: &FactorPlan<'_>) -> StoreResult<Vec<FactorRecord>> {
        let mut tx = self.begin_user(user).await?;
        let rows = fetch_all(&mut *tx, sqlx::query(SELECT_FACTORS_OF_USER).bind(user.as_str())).await?;
        let mut factors = rows.iter().map(factor_from_row).collect::<StoreResult<Vec<_>>>()?;
        let edit = plan(&factors)?;
        if edit.is_empty() {
            return Ok(factors);
        }
        edit.apply(&mut factors)?;
        for (id, change) in &edit.change {
            let query = sqlx::query(EDIT_FACTOR).bind(change.activate).bind(change.preferred);
            execute(&mut *tx, query.bind(user.as_str()).bind(&id.as_bytes()[..])).await?;
        }
        for id in &edit.delete {
            execute(&mut *tx, sqlx::query(DELETE_FACTOR).bind(user.as_str()).bind(&id.as_bytes()[..])).await?;
            let query = sqlx::query(DELETE_THROTTLE).bind(user.as_str()).bind(ThrottleScope::Factor(*id).key());
            execute(&mut *tx, query).await?;
        }
        commit(tx).await?;
        Ok(factors)
    }

    /// Deletes a factor and its throttle in one transaction.
    async fn delete_factor(&self, user: &UserId, id: &FactorId) -> StoreResult<FactorRecord> {
        let mut tx = self.begin_user(user).await?;
        let rows = fetch_all(&mut *tx, sqlx::query(DELETE_FACTOR).bind(user.as_str()).bind(&id.as_bytes()[..])).await?;
        let record = rows.first().map(factor_from_row).transpose()?.ok_or(StoreError::NotFound)?;
        execute(&mut *tx, sqlx::query(DELETE_THROTTLE).bind(user.as_str()).bind(ThrottleScope::Factor(*id).key()))
            .await?;
        commit(tx).await?;
        Ok(record)
    }

    async fn advance_replay_marker(
        &self,
        user: &UserId,
        id: &FactorId,
        marker: u64,
        used_at: Timestamp,
    ) -> StoreResult<bool> {
        let query = sqlx::query(ADVANCE_REPLAY_MARKER)
            .bind(marker_to_db(marker))
            .bind(used_at.unix_millis())
            .bind(user.as_str())
            .bind(&id.as_bytes()[..]);
        Ok(execute(&self.pool, query).await? == 1)
    }

    /// One statement on PostgreSQL; on SQLite the count, then the read.
    async fn begin_attempt(
        &self,
        user: &UserId,
        id: &FactorId,
        kinds: &[FactorKind],
        now: Timestamp,
    ) -> StoreResult<Option<FactorAttempt>> {
        self.begin_attempt_db(user, id, kinds, now).await
    }

    /// One statement on PostgreSQL; one transaction on SQLite.
    async fn accept_verification(
        &self,
        user: &UserId,
        id: &FactorId,
        acceptance: &Acceptance,
    ) -> StoreResult<AcceptOutcome> {
        self.accept_verification_db(user, id, acceptance).await
    }
}
