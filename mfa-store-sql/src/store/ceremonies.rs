//! Ceremonies: the server state of an enrolment or a challenge, each one statement.
//!
//! A ceremony is found only by its id together with its user (or the absence of one, for
//! ceremonies started before the user is known).

use async_trait::async_trait;
use mfa_core::store::{CeremonyRecord, CeremonyStore, StoreResult};
use mfa_core::{CeremonyId, Timestamp, UserId};

use super::{Backend, execute, fetch_all, fetch_optional};
use crate::codec::ceremony_from_row;
use crate::statements::{ATTEMPT_CEREMONY, INSERT_CEREMONY, SELECT_CEREMONY, TAKE_CEREMONY};

#[async_trait]
impl CeremonyStore for Backend {
    async fn put_ceremony(&self, record: &CeremonyRecord) -> StoreResult<()> {
        let query = sqlx::query(INSERT_CEREMONY)
            .bind(&record.id.as_bytes()[..])
            .bind(record.user.as_ref().map(UserId::as_str))
            .bind(record.factor.as_ref().map(|f| &f.as_bytes()[..]))
            .bind(record.kind.as_str())
            .bind(record.purpose.as_str())
            .bind(record.payload.as_slice())
            .bind(i64::from(record.attempts))
            .bind(i64::from(record.max_attempts))
            .bind(record.action.as_deref())
            .bind(record.created_at.unix_millis())
            .bind(record.expires_at.unix_millis());
        execute(&self.pool, query).await?;
        Ok(())
    }

    /// Counts one attempt, atomically, on an unexpired ceremony with attempts left.
    async fn attempt_ceremony(
        &self,
        user: Option<&UserId>,
        id: &CeremonyId,
        now: Timestamp,
    ) -> StoreResult<Option<CeremonyRecord>> {
        let query = sqlx::query(ATTEMPT_CEREMONY)
            .bind(&id.as_bytes()[..])
            .bind(user.map(UserId::as_str))
            .bind(now.unix_millis());
        fetch_all(&self.pool, query).await?.first().map(ceremony_from_row).transpose()
    }

    async fn get_ceremony(
        &self,
        user: Option<&UserId>,
        id: &CeremonyId,
        now: Timestamp,
    ) -> StoreResult<Option<CeremonyRecord>> {
        let query = sqlx::query(SELECT_CEREMONY)
            .bind(&id.as_bytes()[..])
            .bind(user.map(UserId::as_str))
            .bind(now.unix_millis());
        fetch_optional(&self.pool, query).await?.as_ref().map(ceremony_from_row).transpose()
    }

    /// Like the memory store: a ceremony bound to this caller is removed even if it expired,
    /// but only an unexpired one is returned.
    async fn take_ceremony(
        &self,
        user: Option<&UserId>,
        id: &CeremonyId,
        now: Timestamp,
    ) -> StoreResult<Option<CeremonyRecord>> {
        let query = sqlx::query(TAKE_CEREMONY).bind(&id.as_bytes()[..]).bind(user.map(UserId::as_str));
        let rows = fetch_all(&self.pool, query).await?;
        Ok(rows.first().map(ceremony_from_row).transpose()?.filter(|c| now < c.expires_at))
    }
}
