//! Remembered devices: the tokens that let a device skip the second factor until they
//! expire or are revoked. Each operation is one statement.

use async_trait::async_trait;
use mfa_core::store::{DeviceStore, DeviceTokenRecord, StoreResult};
use mfa_core::{DeviceId, Timestamp, UserId};

use super::{Backend, execute, fetch_all, fetch_optional};
use crate::codec::{device_from_row, opt_millis};
use crate::statements::{
    DELETE_DEVICE_TOKEN, DELETE_DEVICE_TOKENS_OF_USER, INSERT_DEVICE_TOKEN, SELECT_DEVICE_TOKEN,
    SELECT_DEVICE_TOKENS_OF_USER, TOUCH_DEVICE_TOKEN,
};

#[async_trait]
impl DeviceStore for Backend {
    async fn insert_device_token(&self, record: &DeviceTokenRecord) -> StoreResult<()> {
        let query = sqlx::query(INSERT_DEVICE_TOKEN)
            .bind(&record.id.as_bytes()[..])
            .bind(record.user.as_str())
            .bind(record.label.as_str())
            .bind(record.secret_hash.as_slice())
            .bind(record.created_at.unix_millis())
            .bind(opt_millis(record.last_seen_at))
            .bind(record.expires_at.unix_millis());
        execute(&self.pool, query).await?;
        Ok(())
    }

    async fn get_device_token(&self, user: &UserId, id: &DeviceId) -> StoreResult<Option<DeviceTokenRecord>> {
        let query = sqlx::query(SELECT_DEVICE_TOKEN).bind(user.as_str()).bind(&id.as_bytes()[..]);
        fetch_optional(&self.pool, query).await?.as_ref().map(device_from_row).transpose()
    }

    async fn list_device_tokens(&self, user: &UserId) -> StoreResult<Vec<DeviceTokenRecord>> {
        let rows = fetch_all(&self.pool, sqlx::query(SELECT_DEVICE_TOKENS_OF_USER).bind(user.as_str())).await?;
        rows.iter().map(device_from_row).collect()
    }

    async fn touch_device_token(&self, user: &UserId, id: &DeviceId, at: Timestamp) -> StoreResult<bool> {
        let query = sqlx::query(TOUCH_DEVICE_TOKEN).bind(at.unix_millis()).bind(user.as_str()).bind(&id.as_bytes()[..]);
        Ok(execute(&self.pool, query).await? == 1)
    }

    async fn revoke_device_token(&self, user: &UserId, id: &DeviceId) -> StoreResult<bool> {
        let query = sqlx::query(DELETE_DEVICE_TOKEN).bind(user.as_str()).bind(&id.as_bytes()[..]);
        Ok(execute(&self.pool, query).await? == 1)
    }

    async fn revoke_all_device_tokens(&self, user: &UserId) -> StoreResult<u64> {
        execute(&self.pool, sqlx::query(DELETE_DEVICE_TOKENS_OF_USER).bind(user.as_str())).await
    }
}
