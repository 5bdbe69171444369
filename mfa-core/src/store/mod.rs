//! The storage trait every backend implements, and the records it keeps.
//!
//! Each method that carries an invariant is atomic: a store must perform it as one
//! indivisible step, also against other processes sharing the same database. The
//! conformance suite (`mfa_core::testing`, feature `testing`) checks every one of them,
//! including races between many tasks.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use crate::error::Error;
use crate::types::{ChallengeId, DeviceId, FactorId, Timestamp, UserId};

/// A store failure. Stores map their own errors into these; the source is kept.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// No such record for this user.
    #[error("not found")]
    NotFound,
    /// A record with this key already exists.
    #[error("already exists")]
    AlreadyExists,
    /// The backend failed (connection, I/O, corruption).
    #[error("store backend failure")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    /// Wraps a backend error, keeping it as the source.
    pub fn backend(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        StoreError::Backend(Box::new(e))
    }
}

/// `Result` with [`StoreError`].
pub type StoreResult<T> = Result<T, StoreError>;

mod records;

pub use records::{
    CeremonyPurpose, CeremonyRecord, CounterState, DeviceTokenRecord, FactorRecord, FactorUpdate, RecoveryCodeRecord,
    ThrottleScope, ThrottleState,
};

/// Where factors, ceremony state, replay markers, recovery codes and failure counters live.
///
/// Async and dyn-compatible: hosts keep an `Arc<dyn Store>`. Every method is scoped by
/// user where a user is involved: another user's id behaves exactly like a missing one.
/// Methods marked **atomic** must be indivisible even across processes sharing the
/// backend; none has a default body.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use mfa_core::{AeadSealer, Mfa, Store, UserId};
/// use mfa_store_memory::MemoryStore;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
/// let mfa = Mfa::builder().shared_store(store.clone()).sealer(AeadSealer::ephemeral()?).build()?;
///
/// let alice = UserId::new("alice")?;
/// assert!(store.list_factors(&alice).await?.is_empty());
/// assert_eq!(store.count_recovery_codes(&alice).await?, 0);
///
/// // Housekeeping, from a periodic task.
/// let removed = store.purge_expired(mfa.now()).await?;
/// assert_eq!(removed, 0);
/// # Ok(())
/// # }
/// ```
#[async_trait]
pub trait Store: fmt::Debug + Send + Sync + 'static {
    /// Inserts a new factor.
    ///
    /// # Errors
    ///
    /// [`StoreError::AlreadyExists`] if a factor with this id, or with this lookup key,
    /// exists (for any user).
    async fn insert_factor(&self, record: &FactorRecord) -> StoreResult<()>;

    /// The factor with this lookup key, whoever owns it (for usernameless sign-in).
    async fn find_factor_by_lookup_key(&self, key: &str) -> StoreResult<Option<FactorRecord>>;

    /// The user's factor with this id, pending or active, expired or not.
    async fn get_factor(&self, user: &UserId, id: &FactorId) -> StoreResult<Option<FactorRecord>>;

    /// All of the user's factors (pending ones included), in no particular order.
    async fn list_factors(&self, user: &UserId) -> StoreResult<Vec<FactorRecord>>;

    /// **Atomic.** Applies `update` to the user's factor and returns the result.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] if the user has no such factor;
    /// [`StoreError::AlreadyExists`] if the update sets a lookup key another factor has
    /// (nothing is changed then).
    async fn update_factor(&self, user: &UserId, id: &FactorId, update: &FactorUpdate) -> StoreResult<FactorRecord>;

    /// **Atomic.** Turns the user's pending, unexpired factor active: clears `expires_at`
    /// and `enrolment`; if the record `replaces` another of the user's factors, deletes
    /// that one (with its failure counter) and inherits its preferred flag; and makes it
    /// preferred if the user then has no preferred factor. Returns the active record.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] if there is no such pending factor, or it expired by `now`.
    async fn activate_factor(&self, user: &UserId, id: &FactorId, now: Timestamp) -> StoreResult<FactorRecord>;

    /// **Atomic.** Makes this active factor the user's only preferred one.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] if the user has no such active factor.
    async fn set_preferred(&self, user: &UserId, id: &FactorId) -> StoreResult<()>;

    /// **Atomic.** Deletes the user's factor, its failure counter and its lookup key;
    /// returns what was deleted.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] if the user has no such factor.
    async fn delete_factor(&self, user: &UserId, id: &FactorId) -> StoreResult<FactorRecord>;

    /// **Atomic compare-and-advance.** If the user's factor is active and `marker` is
    /// greater than its replay marker (or it has none), stores `marker`, sets
    /// `last_used_at = used_at` and returns `true`. Otherwise changes nothing and returns
    /// `false` (also for a missing or pending factor). Of many concurrent calls with the
    /// same marker, exactly one returns `true`.
    async fn advance_replay_marker(
        &self,
        user: &UserId,
        id: &FactorId,
        marker: u64,
        used_at: Timestamp,
    ) -> StoreResult<bool>;

    /// Stores a new ceremony.
    ///
    /// # Errors
    ///
    /// [`StoreError::AlreadyExists`] if a ceremony with this id exists.
    async fn put_ceremony(&self, record: &CeremonyRecord) -> StoreResult<()>;

    /// **Atomic.** If the ceremony exists, is bound to `user`, has not expired by `now` and
    /// has attempts left, counts one attempt and returns the record (with the new count).
    /// Otherwise returns `None` and changes nothing. Of many concurrent calls, at most
    /// `max_attempts - attempts` get a record.
    async fn attempt_ceremony(
        &self,
        user: Option<&UserId>,
        id: &ChallengeId,
        now: Timestamp,
    ) -> StoreResult<Option<CeremonyRecord>>;

    /// The ceremony, if it exists, is bound to `user` and has not expired by `now`; reading
    /// changes nothing.
    async fn get_ceremony(
        &self,
        user: Option<&UserId>,
        id: &ChallengeId,
        now: Timestamp,
    ) -> StoreResult<Option<CeremonyRecord>>;

    /// **Atomic single-use take.** If the ceremony exists, is bound to `user` and has not
    /// expired by `now`, deletes and returns it; otherwise returns `None` (a ceremony of
    /// another user is left in place). Of many concurrent takes, exactly one gets it.
    async fn take_ceremony(
        &self,
        user: Option<&UserId>,
        id: &ChallengeId,
        now: Timestamp,
    ) -> StoreResult<Option<CeremonyRecord>>;

    /// **Atomic replace-all.** Replaces the user's whole recovery-code set with `codes`
    /// (an empty slice deletes it). Readers see the old set or the new one, never a mix.
    async fn replace_recovery_codes(&self, user: &UserId, codes: &[RecoveryCodeRecord]) -> StoreResult<()>;

    /// The user's unused recovery code with this lookup part.
    async fn get_recovery_code(&self, user: &UserId, lookup: &str) -> StoreResult<Option<RecoveryCodeRecord>>;

    /// **Atomic single-use consume.** Deletes the user's code with this lookup part if its
    /// hash is still `hash` (not regenerated since it was read) and returns `true`; else
    /// returns `false`. Of many concurrent calls, exactly one returns `true`.
    async fn consume_recovery_code(&self, user: &UserId, lookup: &str, hash: &str) -> StoreResult<bool>;

    /// How many unused recovery codes the user has.
    async fn count_recovery_codes(&self, user: &UserId) -> StoreResult<usize>;

    /// Stores a new remembered device.
    ///
    /// # Errors
    ///
    /// [`StoreError::AlreadyExists`] if a device with this id exists.
    async fn insert_device_token(&self, record: &DeviceTokenRecord) -> StoreResult<()>;

    /// The user's remembered device with this id (expired ones included).
    async fn get_device_token(&self, user: &UserId, id: &DeviceId) -> StoreResult<Option<DeviceTokenRecord>>;

    /// The user's remembered devices, in no particular order.
    async fn list_device_tokens(&self, user: &UserId) -> StoreResult<Vec<DeviceTokenRecord>>;

    /// Records that the user's device was presented at `at`; `false` if there is no such
    /// device.
    async fn touch_device_token(&self, user: &UserId, id: &DeviceId, at: Timestamp) -> StoreResult<bool>;

    /// **Atomic.** Revokes (deletes) one of the user's devices; `false` if there was none.
    async fn revoke_device_token(&self, user: &UserId, id: &DeviceId) -> StoreResult<bool>;

    /// **Atomic.** Revokes every device of the user at once; returns how many there were.
    async fn revoke_all_device_tokens(&self, user: &UserId) -> StoreResult<u64>;

    /// The user's failure counter for `scope` (the default if there is none).
    async fn get_throttle(&self, user: &UserId, scope: &ThrottleScope) -> StoreResult<ThrottleState>;

    /// **Atomic compare-and-set.** If the counter equals `expected` (an absent counter
    /// equals the default), sets it to `new` and returns `true`; otherwise returns `false`.
    /// Of many concurrent calls with the same `expected`, exactly one returns `true`.
    async fn compare_and_set_throttle(
        &self,
        user: &UserId,
        scope: &ThrottleScope,
        expected: &ThrottleState,
        new: &ThrottleState,
    ) -> StoreResult<bool>;

    /// The counter under `key` (the default if there is none or it expired by `now`).
    async fn get_counter(&self, key: &str, now: Timestamp) -> StoreResult<CounterState>;

    /// **Atomic compare-and-set.** If the counter under `key` equals `expected` (an absent
    /// or expired counter equals the default), sets it to `new` and returns `true`;
    /// otherwise returns `false`. Of many concurrent calls with the same `expected`,
    /// exactly one returns `true`.
    async fn compare_and_set_counter(
        &self,
        key: &str,
        expected: &CounterState,
        new: &CounterState,
        now: Timestamp,
    ) -> StoreResult<bool>;

    /// Deletes ceremonies, pending factors, counters and remembered devices that expired by
    /// `now`; returns how many records were removed.
    async fn purge_expired(&self, now: Timestamp) -> StoreResult<u64>;
}

/// Anything that derefs to a store is a store: `Arc<MemoryStore>` and `Arc<dyn Store>`
/// work wherever a `Store` is expected.
#[async_trait]
impl<S: Store + ?Sized> Store for Arc<S> {
    async fn insert_factor(&self, record: &FactorRecord) -> StoreResult<()> {
        (**self).insert_factor(record).await
    }
    async fn find_factor_by_lookup_key(&self, key: &str) -> StoreResult<Option<FactorRecord>> {
        (**self).find_factor_by_lookup_key(key).await
    }
    async fn get_factor(&self, user: &UserId, id: &FactorId) -> StoreResult<Option<FactorRecord>> {
        (**self).get_factor(user, id).await
    }
    async fn list_factors(&self, user: &UserId) -> StoreResult<Vec<FactorRecord>> {
        (**self).list_factors(user).await
    }
    async fn update_factor(&self, user: &UserId, id: &FactorId, update: &FactorUpdate) -> StoreResult<FactorRecord> {
        (**self).update_factor(user, id, update).await
    }
    async fn activate_factor(&self, user: &UserId, id: &FactorId, now: Timestamp) -> StoreResult<FactorRecord> {
        (**self).activate_factor(user, id, now).await
    }
    async fn set_preferred(&self, user: &UserId, id: &FactorId) -> StoreResult<()> {
        (**self).set_preferred(user, id).await
    }
    async fn delete_factor(&self, user: &UserId, id: &FactorId) -> StoreResult<FactorRecord> {
        (**self).delete_factor(user, id).await
    }
    async fn advance_replay_marker(
        &self,
        user: &UserId,
        id: &FactorId,
        marker: u64,
        used_at: Timestamp,
    ) -> StoreResult<bool> {
        (**self).advance_replay_marker(user, id, marker, used_at).await
    }
    async fn put_ceremony(&self, record: &CeremonyRecord) -> StoreResult<()> {
        (**self).put_ceremony(record).await
    }
    async fn attempt_ceremony(
        &self,
        user: Option<&UserId>,
        id: &ChallengeId,
        now: Timestamp,
    ) -> StoreResult<Option<CeremonyRecord>> {
        (**self).attempt_ceremony(user, id, now).await
    }
    async fn take_ceremony(
        &self,
        user: Option<&UserId>,
        id: &ChallengeId,
        now: Timestamp,
    ) -> StoreResult<Option<CeremonyRecord>> {
        (**self).take_ceremony(user, id, now).await
    }
    async fn get_ceremony(
        &self,
        user: Option<&UserId>,
        id: &ChallengeId,
        now: Timestamp,
    ) -> StoreResult<Option<CeremonyRecord>> {
        (**self).get_ceremony(user, id, now).await
    }
    async fn replace_recovery_codes(&self, user: &UserId, codes: &[RecoveryCodeRecord]) -> StoreResult<()> {
        (**self).replace_recovery_codes(user, codes).await
    }
    async fn get_recovery_code(&self, user: &UserId, lookup: &str) -> StoreResult<Option<RecoveryCodeRecord>> {
        (**self).get_recovery_code(user, lookup).await
    }
    async fn consume_recovery_code(&self, user: &UserId, lookup: &str, hash: &str) -> StoreResult<bool> {
        (**self).consume_recovery_code(user, lookup, hash).await
    }
    async fn count_recovery_codes(&self, user: &UserId) -> StoreResult<usize> {
        (**self).count_recovery_codes(user).await
    }
    async fn insert_device_token(&self, record: &DeviceTokenRecord) -> StoreResult<()> {
        (**self).insert_device_token(record).await
    }
    async fn get_device_token(&self, user: &UserId, id: &DeviceId) -> StoreResult<Option<DeviceTokenRecord>> {
        (**self).get_device_token(user, id).await
    }
    async fn list_device_tokens(&self, user: &UserId) -> StoreResult<Vec<DeviceTokenRecord>> {
        (**self).list_device_tokens(user).await
    }
    async fn touch_device_token(&self, user: &UserId, id: &DeviceId, at: Timestamp) -> StoreResult<bool> {
        (**self).touch_device_token(user, id, at).await
    }
    async fn revoke_device_token(&self, user: &UserId, id: &DeviceId) -> StoreResult<bool> {
        (**self).revoke_device_token(user, id).await
    }
    async fn revoke_all_device_tokens(&self, user: &UserId) -> StoreResult<u64> {
        (**self).revoke_all_device_tokens(user).await
    }
    async fn get_throttle(&self, user: &UserId, scope: &ThrottleScope) -> StoreResult<ThrottleState> {
        (**self).get_throttle(user, scope).await
    }
    async fn compare_and_set_throttle(
        &self,
        user: &UserId,
        scope: &ThrottleScope,
        expected: &ThrottleState,
        new: &ThrottleState,
    ) -> StoreResult<bool> {
        (**self).compare_and_set_throttle(user, scope, expected, new).await
    }
    async fn get_counter(&self, key: &str, now: Timestamp) -> StoreResult<CounterState> {
        (**self).get_counter(key, now).await
    }
    async fn compare_and_set_counter(
        &self,
        key: &str,
        expected: &CounterState,
        new: &CounterState,
        now: Timestamp,
    ) -> StoreResult<bool> {
        (**self).compare_and_set_counter(key, expected, new, now).await
    }
    async fn purge_expired(&self, now: Timestamp) -> StoreResult<u64> {
        (**self).purge_expired(now).await
    }
}

#[allow(dead_code)]
fn _assert_dyn_compatible(_: &dyn Store) {}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Error::NotFound,
            StoreError::AlreadyExists => Error::AlreadyExists,
            StoreError::Backend(source) => Error::Backend(source),
        }
    }
}
