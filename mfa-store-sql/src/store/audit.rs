//! The audit trail's statements on this backend: what [`SqlAuditSink`] runs, and the
//! store's constructor for it.

use mfa_core::store::StoreResult;
use mfa_core::{Timestamp, UserId};

use super::{Backend, execute, fetch_all};
use crate::audit::{AuditQuery, AuditRecord, AuditRow, SqlAuditSink};
use crate::codec::audit_from_row;
use crate::statements::{
    DELETE_AUDIT_EVENTS_BEFORE, DELETE_AUDIT_EVENTS_OF_USER, INSERT_AUDIT_EVENT, SELECT_AUDIT_EVENTS,
    SELECT_AUDIT_EVENTS_OF_USER,
};

impl Backend {
    /// An [`EventSink`](mfa_core::EventSink) writing every event to this store's
    /// `mfa_audit_events` table, on the same pool. See [`SqlAuditSink`].
    pub fn audit_sink(&self) -> SqlAuditSink {
        SqlAuditSink::from(self.clone())
    }

    /// Appends one event.
    pub(crate) async fn append_audit(&self, row: &AuditRow<'_>) -> StoreResult<()> {
        let query = sqlx::query(INSERT_AUDIT_EVENT)
            .bind(row.at)
            .bind(row.user)
            .bind(row.actor.as_str())
            .bind(row.ip.as_deref())
            .bind(row.user_agent)
            .bind(row.event.as_str())
            .bind(row.body.as_str());
        execute(&self.pool, query).await?;
        Ok(())
    }

    /// The events `q` selects, newest first.
    pub(crate) async fn query_audit(&self, q: &AuditQuery) -> StoreResult<Vec<AuditRecord>> {
        let (since, before) = (q.since.unix_millis(), q.before.unix_millis());
        let query = match &q.user {
            Some(user) => sqlx::query(SELECT_AUDIT_EVENTS_OF_USER).bind(user.as_str()).bind(since).bind(before),
            None => sqlx::query(SELECT_AUDIT_EVENTS).bind(since).bind(before),
        };
        let rows = fetch_all(&self.pool, query.bind(q.db_limit())).await?;
        rows.iter().map(audit_from_row).collect()
    }

    /// Deletes every event of `user`.
    pub(crate) async fn forget_audit(&self, user: &UserId) -> StoreResult<u64> {
        execute(&self.pool, sqlx::query(DELETE_AUDIT_EVENTS_OF_USER).bind(user.as_str())).await
    }

    /// Deletes every event before `at`.
    pub(crate) async fn purge_audit_before(&self, at: Timestamp) -> StoreResult<u64> {
        execute(&self.pool, sqlx::query(DELETE_AUDIT_EVENTS_BEFORE).bind(at.unix_millis())).await
    }
}
