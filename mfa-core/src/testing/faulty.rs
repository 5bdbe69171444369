//! A store wrapper that fails on purpose, to show that an operation interrupted half-way
//! leaves the state it started from.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;

use crate::store::{
    CeremonyRecord, CounterState, DeviceTokenRecord, FactorRecord, FactorUpdate, RecoveryCodeRecord, Store, StoreError,
    StoreResult, ThrottleScope, ThrottleState,
};
use crate::types::{ChallengeId, DeviceId, FactorId, Timestamp, UserId};

/// Wraps a store and makes its `n`th call from now fail with [`StoreError::Backend`], as a
/// lost connection or a crashed process would. Every call is recorded by name, so a test
/// can first count the calls an operation makes, then interrupt it at each one in turn.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use mfa_core::{Store, UserId};
/// use mfa_core::testing::FaultyStore;
/// use mfa_store_memory::MemoryStore;
///
/// let store = FaultyStore::new(MemoryStore::new());
/// let alice = UserId::new("alice").unwrap();
/// store.fail_call(2);
/// assert!(store.count_recovery_codes(&alice).await.is_ok());
/// assert!(store.count_recovery_codes(&alice).await.is_err());
/// assert!(store.count_recovery_codes(&alice).await.is_ok(), "only the armed call fails");
/// assert_eq!(store.calls().len(), 3);
/// # }
/// ```
#[derive(Debug)]
pub struct FaultyStore<S> {
    inner: S,
    /// Calls made since the last [`FaultyStore::fail_call`] or [`FaultyStore::reset`].
    made: AtomicU64,
    /// The call that fails (1-based), or 0 for none.
    fail_at: AtomicU64,
    names: Mutex<Vec<&'static str>>,
}

impl<S: Store> FaultyStore<S> {
    /// Wraps `inner`; no call fails until [`FaultyStore::fail_call`] is used.
    pub fn new(inner: S) -> Self {
        Self { inner, made: AtomicU64::new(0), fail_at: AtomicU64::new(0), names: Mutex::new(Vec::new()) }
    }

    /// Makes the `n`th call from now (1-based) fail; only that one. Clears the record of
    /// calls.
    pub fn fail_call(&self, n: u64) {
        self.reset();
        self.fail_at.store(n, Ordering::SeqCst);
    }

    /// No call fails any more; the record of calls is cleared.
    pub fn reset(&self) {
        self.fail_at.store(0, Ordering::SeqCst);
        self.made.store(0, Ordering::SeqCst);
        self.names.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// The names of the store methods called since the last reset, in order.
    pub fn calls(&self) -> Vec<&'static str> {
        self.names.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The wrapped store, to inspect state without counting calls.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    fn tick(&self, name: &'static str) -> StoreResult<()> {
        self.names.lock().unwrap_or_else(|e| e.into_inner()).push(name);
        let n = self.made.fetch_add(1, Ordering::SeqCst) + 1;
        if n == self.fail_at.load(Ordering::SeqCst) {
            return Err(StoreError::backend(std::io::Error::other(format!("injected fault in call {n} ({name})"))));
        }
        Ok(())
    }
}

#[async_trait]
impl<S: Store> Store for FaultyStore<S> {
    async fn insert_factor(&self, record: &FactorRecord) -> StoreResult<()> {
        self.tick("insert_factor")?;
        self.inner.insert_factor(record).await
    }
    async fn find_factor_by_lookup_key(&self, key: &str) -> StoreResult<Option<FactorRecord>> {
        self.tick("find_factor_by_lookup_key")?;
        self.inner.find_factor_by_lookup_key(key).await
    }
    async fn get_factor(&self, user: &UserId, id: &FactorId) -> StoreResult<Option<FactorRecord>> {
        self.tick("get_factor")?;
        self.inner.get_factor(user, id).await
    }
    async fn list_factors(&self, user: &UserId) -> StoreResult<Vec<FactorRecord>> {
        self.tick("list_factors")?;
        self.inner.list_factors(user).await
    }
    async fn update_factor(&self, user: &UserId, id: &FactorId, update: &FactorUpdate) -> StoreResult<FactorRecord> {
        self.tick("update_factor")?;
        self.inner.update_factor(user, id, update).await
    }
    async fn activate_factor(&self, user: &UserId, id: &FactorId, now: Timestamp) -> StoreResult<FactorRecord> {
        self.tick("activate_factor")?;
        self.inner.activate_factor(user, id, now).await
    }
    async fn set_preferred(&self, user: &UserId, id: &FactorId) -> StoreResult<()> {
        self.tick("set_preferred")?;
        self.inner.set_preferred(user, id).await
    }
    async fn delete_factor(&self, user: &UserId, id: &FactorId) -> StoreResult<FactorRecord> {
        self.tick("delete_factor")?;
        self.inner.delete_factor(user, id).await
    }
    async fn advance_replay_marker(
        &self,
        user: &UserId,
        id: &FactorId,
        marker: u64,
        used_at: Timestamp,
    ) -> StoreResult<bool> {
        self.tick("advance_replay_marker")?;
        self.inner.advance_replay_marker(user, id, marker, used_at).await
    }
    async fn put_ceremony(&self, record: &CeremonyRecord) -> StoreResult<()> {
        self.tick("put_ceremony")?;
        self.inner.put_ceremony(record).await
    }
    async fn attempt_ceremony(
        &self,
        user: Option<&UserId>,
        id: &ChallengeId,
        now: Timestamp,
    ) -> StoreResult<Option<CeremonyRecord>> {
        self.tick("attempt_ceremony")?;
        self.inner.attempt_ceremony(user, id, now).await
    }
    async fn take_ceremony(
        &self,
        user: Option<&UserId>,
        id: &ChallengeId,
        now: Timestamp,
    ) -> StoreResult<Option<CeremonyRecord>> {
        self.tick("take_ceremony")?;
        self.inner.take_ceremony(user, id, now).await
    }
    async fn get_ceremony(
        &self,
        user: Option<&UserId>,
        id: &ChallengeId,
        now: Timestamp,
    ) -> StoreResult<Option<CeremonyRecord>> {
        self.tick("get_ceremony")?;
        self.inner.get_ceremony(user, id, now).await
    }
    async fn replace_recovery_codes(&self, user: &UserId, codes: &[RecoveryCodeRecord]) -> StoreResult<()> {
        self.tick("replace_recovery_codes")?;
        self.inner.replace_recovery_codes(user, codes).await
    }
    async fn get_recovery_code(&self, user: &UserId, lookup: &str) -> StoreResult<Option<RecoveryCodeRecord>> {
        self.tick("get_recovery_code")?;
        self.inner.get_recovery_code(user, lookup).await
    }
    async fn consume_recovery_code(&self, user: &UserId, lookup: &str, hash: &str) -> StoreResult<bool> {
        self.tick("consume_recovery_code")?;
        self.inner.consume_recovery_code(user, lookup, hash).await
    }
    async fn count_recovery_codes(&self, user: &UserId) -> StoreResult<usize> {
        self.tick("count_recovery_codes")?;
        self.inner.count_recovery_codes(user).await
    }
    async fn insert_device_token(&self, record: &DeviceTokenRecord) -> StoreResult<()> {
        self.tick("insert_device_token")?;
        self.inner.insert_device_token(record).await
    }
    async fn get_device_token(&self, user: &UserId, id: &DeviceId) -> StoreResult<Option<DeviceTokenRecord>> {
        self.tick("get_device_token")?;
        self.inner.get_device_token(user, id).await
    }
    async fn list_device_tokens(&self, user: &UserId) -> StoreResult<Vec<DeviceTokenRecord>> {
        self.tick("list_device_tokens")?;
        self.inner.list_device_tokens(user).await
    }
    async fn touch_device_token(&self, user: &UserId, id: &DeviceId, at: Timestamp) -> StoreResult<bool> {
        self.tick("touch_device_token")?;
        self.inner.touch_device_token(user, id, at).await
    }
    async fn revoke_device_token(&self, user: &UserId, id: &DeviceId) -> StoreResult<bool> {
        self.tick("revoke_device_token")?;
        self.inner.revoke_device_token(user, id).await
    }
    async fn revoke_all_device_tokens(&self, user: &UserId) -> StoreResult<u64> {
        self.tick("revoke_all_device_tokens")?;
        self.inner.revoke_all_device_tokens(user).await
    }
    async fn get_throttle(&self, user: &UserId, scope: &ThrottleScope) -> StoreResult<ThrottleState> {
        self.tick("get_throttle")?;
        self.inner.get_throttle(user, scope).await
    }
    async fn compare_and_set_throttle(
        &self,
        user: &UserId,
        scope: &ThrottleScope,
        expected: &ThrottleState,
        new: &ThrottleState,
    ) -> StoreResult<bool> {
        self.tick("compare_and_set_throttle")?;
        self.inner.compare_and_set_throttle(user, scope, expected, new).await
    }
    async fn get_counter(&self, key: &str, now: Timestamp) -> StoreResult<CounterState> {
        self.tick("get_counter")?;
        self.inner.get_counter(key, now).await
    }
    async fn compare_and_set_counter(
        &self,
        key: &str,
        expected: &CounterState,
        new: &CounterState,
        now: Timestamp,
    ) -> StoreResult<bool> {
        self.tick("compare_and_set_counter")?;
        self.inner.compare_and_set_counter(key, expected, new, now).await
    }
    async fn purge_expired(&self, now: Timestamp) -> StoreResult<u64> {
        self.tick("purge_expired")?;
        self.inner.purge_expired(now).await
    }
}
