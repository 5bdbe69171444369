//! Keeping the database in shape: migrating the schema, reading its version, and purging
//! expired rows.

use async_trait::async_trait;
use mfa_core::Timestamp;
use mfa_core::store::{Store, StoreError, StoreResult};

use super::{
    Backend, MIGRATIONS, PURGE_PENDING_FACTOR_THROTTLES, commit, execute, execute_script, fetch_one, fetch_optional,
};
use crate::codec::{Columns, now_millis};
use crate::error::{SchemaTooNew, db_err};
use crate::statements::{
    CREATE_SCHEMA_VERSION_TABLE, INSERT_SCHEMA_VERSION, PROBE_SCHEMA_VERSION_TABLE, PURGE_EXPIRED,
    SELECT_SCHEMA_VERSION,
};

impl Backend {
    /// Creates or upgrades the schema to [`SCHEMA_VERSION`](crate::SCHEMA_VERSION)
    /// by applying, in one transaction, every embedded migration the database has
    /// not seen. Idempotent, and safe to run from several processes at once.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] if the database fails, or if its schema is newer than
    /// this library supports.
    pub async fn migrate(&self) -> StoreResult<()> {
        let mut tx = self.begin_migration().await?;
        execute_script(&mut *tx, CREATE_SCHEMA_VERSION_TABLE).await?;
        let current = fetch_one(&mut *tx, sqlx::query(SELECT_SCHEMA_VERSION)).await?.int("v")?;
        if current > crate::SCHEMA_VERSION {
            return Err(StoreError::backend(SchemaTooNew { found: current }));
        }
        for m in MIGRATIONS.iter().filter(|m| m.version > current) {
            execute_script(&mut *tx, m.sql).await?;
            let query = sqlx::query(INSERT_SCHEMA_VERSION).bind(m.version).bind(m.name).bind(now_millis());
            execute(&mut *tx, query).await?;
        }
        commit(tx).await
    }

    /// The schema version the database is at (0 before the first
    /// [`migrate`](Self::migrate)).
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] if the database fails.
    pub async fn schema_version(&self) -> StoreResult<i64> {
        if fetch_optional(&self.pool, sqlx::query(PROBE_SCHEMA_VERSION_TABLE)).await.is_err() {
            return Ok(0);
        }
        fetch_one(&self.pool, sqlx::query(SELECT_SCHEMA_VERSION)).await?.int("v")
    }
}

#[async_trait]
impl Store for Backend {
    /// Deletes everything that expired at `now`, returning how many rows went.
    async fn purge_expired(&self, now: Timestamp) -> StoreResult<u64> {
        // One transaction, so the failure counters of the expired enrolments go with them
        // (nothing else would ever remove them).
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let [counters, ceremonies, devices, factors] = PURGE_EXPIRED;
        let mut removed = 0;
        for sql in [counters, ceremonies, devices, PURGE_PENDING_FACTOR_THROTTLES, factors] {
            removed += execute(&mut *tx, sqlx::query(sql).bind(now.unix_millis())).await?;
        }
        commit(tx).await?;
        Ok(removed)
    }
}
