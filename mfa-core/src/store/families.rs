//! The store's operations by record family: one small trait each, all of them required by
//! [`Store`](super::Store).
//!
//! Every method is scoped by user where a user is involved: another user's id behaves
//! exactly like a missing one. Methods marked **atomic** must be indivisible even across
//! processes sharing the backend; none has a default body.

use std::fmt;

use async_trait::async_trait;

use super::StoreResult;
use super::edit::FactorEdit;
use super::hot::{AcceptOutcome, Acceptance, FactorAttempt};
use super::records::{
    CeremonyRecord, CounterState, Coverage, DeviceTokenRecord, FactorRecord, FactorUpdate, RecordCounts,
    RecoveryCodeRecord, ThrottleScope, ThrottleState,
};
use crate::types::{CeremonyId, DeviceId, FactorId, FactorKind, Timestamp, UserId};

/// The plan of a [`FactorStore::edit_factors`]: given the user's factors as they are, the
/// change to make, or an error to make none.
pub type FactorPlan<'a> = dyn Fn(&[FactorRecord]) -> StoreResult<FactorEdit> + Send + Sync + 'a;

/// Factors: their records, the per-user atomic edit, and the TOTP replay marker.
///
/// # Examples
///
/// ```
/// use mfa_core::store::{FactorEdit, FactorStore, StoreError};
/// use mfa_core::UserId;
/// use mfa_store_memory::MemoryStore;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = MemoryStore::new();
/// let alice = UserId::new("alice")?;
/// assert!(store.list_factors(&alice).await?.is_empty());
///
/// // A plan that refuses changes nothing, and its error comes back.
/// let refused = store.edit_factors(&alice, &|_| Err(StoreError::NotFound)).await;
/// assert!(matches!(refused, Err(StoreError::NotFound)));
///
/// // An empty edit returns the user's factors as they are.
/// assert!(store.edit_factors(&alice, &|_| Ok(FactorEdit::default())).await?.is_empty());
/// # Ok(())
/// # }
/// ```
#[async_trait]
pub trait FactorStore: fmt::Debug + Send + Sync + 'static {
    /// Inserts a new factor.
    ///
    /// # Errors
    ///
    /// [`StoreError::AlreadyExists`](super::StoreError::AlreadyExists) if a factor with this id, or with this lookup key,
    /// exists (for any user).
    async fn insert_factor(&self, record: &FactorRecord) -> StoreResult<()>;

    /// The factor with this lookup key, whoever owns it (for sign-in without a username).
    async fn find_factor_by_lookup_key(&self, key: &str) -> StoreResult<Option<FactorRecord>>;

    /// The user's factor with this id, pending or active, expired or not.
    async fn get_factor(&self, user: &UserId, id: &FactorId) -> StoreResult<Option<FactorRecord>>;

    /// All of the user's factors (pending ones included), in no particular order.
    async fn list_factors(&self, user: &UserId) -> StoreResult<Vec<FactorRecord>>;

    /// **Atomic.** Applies `update` to the user's factor and returns the result.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`](super::StoreError::NotFound) if the user has no such factor;
    /// [`StoreError::AlreadyExists`](super::StoreError::AlreadyExists) if the update sets a lookup key another factor has
    /// (nothing is changed then).
    async fn update_factor(&self, user: &UserId, id: &FactorId, update: &FactorUpdate) -> StoreResult<FactorRecord>;

    /// **Atomic per-user edit.** Calls `plan` with all of the user's factors (pending ones
    /// included) and applies the [`FactorEdit`] it returns: no other edit or deletion of
    /// the user's factors happens between the read and the write, and the write is all or
    /// nothing. Deleting a factor deletes its failure counter and frees its lookup key.
    /// Returns the user's factors after the edit.
    ///
    /// The plan runs while the store holds the user's lock: it must decide from what it is
    /// given and must not call the store.
    ///
    /// The store applies the edit as it is given; the rules that decide it (which factor
    /// becomes preferred, which one a replacement removes) live in the plan, in
    /// [`StoreExt`](super::StoreExt) and in the service, never in a store.
    ///
    /// # Errors
    ///
    /// The plan's error, with nothing changed; [`StoreError::NotFound`](super::StoreError::NotFound) if the edit names a
    /// factor the plan was not given (nothing is changed then either).
    async fn edit_factors(&self, user: &UserId, plan: &FactorPlan<'_>) -> StoreResult<Vec<FactorRecord>>;

    /// **Atomic.** Deletes the user's factor, its failure counter and its lookup key;
    /// returns what was deleted.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`](super::StoreError::NotFound) if the user has no such factor.
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

    /// **Atomic.** The first half of a verification: the user's factor, pending or active,
    /// with its failure counter ([`ThrottleScope::Factor`]) as it was. If the factor is
    /// active, its kind is one of `kinds` and its counter is clear (the default), counts
    /// this attempt in the same step: the counter becomes one failure at `now` and
    /// [`FactorAttempt::counted`] is `true`. Otherwise changes nothing. `None` if the user
    /// has no such factor. Of many concurrent calls on a clear counter, exactly one counts.
    ///
    /// The caller names the kinds a proof may be checked against, so that a proof refused
    /// before it is evaluated (malformed, or for another kind of factor) is never counted.
    async fn begin_attempt(
        &self,
        user: &UserId,
        id: &FactorId,
        kinds: &[FactorKind],
        now: Timestamp,
    ) -> StoreResult<Option<FactorAttempt>>;

    /// **Atomic.** The second half of a verification that succeeded, in this order:
    ///
    /// 1. If [`Acceptance::ceremony`] is set, takes it as
    ///    [`CeremonyStore::take_ceremony`] does at [`Acceptance::used_at`]; if it is gone,
    ///    changes nothing and returns [`AcceptOutcome::CeremonyGone`].
    /// 2. If the user's factor is active and [`Acceptance::replay_marker`] (if set) is
    ///    greater than its marker: stores the marker, sets `last_used_at`, the secret, data
    ///    and details given, clears its failure counter if [`Acceptance::clear_throttle`],
    ///    and returns [`AcceptOutcome::Accepted`]. Otherwise returns
    ///    [`AcceptOutcome::Refused`], with the ceremony (if any) taken.
    ///
    /// Of many concurrent calls naming the same ceremony, or the same marker, exactly one
    /// returns [`AcceptOutcome::Accepted`].
    async fn accept_verification(
        &self,
        user: &UserId,
        id: &FactorId,
        acceptance: &Acceptance,
    ) -> StoreResult<AcceptOutcome>;
}

/// Ceremonies: the short-lived server state of an enrolment, a challenge or a sign-in
/// without a username, with its attempt count.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use mfa_core::store::{CeremonyPurpose, CeremonyRecord, CeremonyStore};
/// use mfa_core::{CeremonyId, FactorKind, Timestamp, UserId};
/// use mfa_store_memory::MemoryStore;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = MemoryStore::new();
/// let (alice, now) = (UserId::new("alice")?, Timestamp::from_unix_millis(1_700_000_000_000));
/// let id = CeremonyId::random()?;
/// let expires = now.saturating_add(Duration::from_secs(300));
/// let record = CeremonyRecord::new(id, Some(alice.clone()), None, FactorKind::TOTP, CeremonyPurpose::Challenge, vec![], 5, now, expires);
/// store.put_ceremony(&record).await?;
///
/// assert_eq!(store.attempt_ceremony(Some(&alice), &id, now).await?.map(|c| c.attempts), Some(1));
/// assert!(store.take_ceremony(Some(&alice), &id, now).await?.is_some());
/// assert!(store.take_ceremony(Some(&alice), &id, now).await?.is_none(), "single use");
/// # Ok(())
/// # }
/// ```
#[async_trait]
pub trait CeremonyStore: fmt::Debug + Send + Sync + 'static {
    /// Stores a new ceremony.
    ///
    /// # Errors
    ///
    /// [`StoreError::AlreadyExists`](super::StoreError::AlreadyExists) if a ceremony with this id exists.
    async fn put_ceremony(&self, record: &CeremonyRecord) -> StoreResult<()>;

    /// **Atomic.** If the ceremony exists, is bound to `user`, has not expired by `now` and
    /// has attempts left, counts one attempt and returns the record (with the new count).
    /// Otherwise returns `None` and changes nothing. Of many concurrent calls, at most
    /// `max_attempts - attempts` get a record.
    async fn attempt_ceremony(
        &self,
        user: Option<&UserId>,
        id: &CeremonyId,
        now: Timestamp,
    ) -> StoreResult<Option<CeremonyRecord>>;

    /// The ceremony, if it exists, is bound to `user` and has not expired by `now`; reading
    /// changes nothing.
    async fn get_ceremony(
        &self,
        user: Option<&UserId>,
        id: &CeremonyId,
        now: Timestamp,
    ) -> StoreResult<Option<CeremonyRecord>>;

    /// **Atomic single-use take.** If the ceremony exists, is bound to `user` and has not
    /// expired by `now`, deletes and returns it; otherwise returns `None` (a ceremony of
    /// another user is left in place). Of many concurrent takes, exactly one gets it.
    async fn take_ceremony(
        &self,
        user: Option<&UserId>,
        id: &CeremonyId,
        now: Timestamp,
    ) -> StoreResult<Option<CeremonyRecord>>;
}

/// Recovery codes: one replace-all set per user, each code consumed once.
///
/// # Examples
///
/// ```
/// use mfa_core::store::{RecoveryCodeRecord, RecoveryCodeStore};
/// use mfa_core::{Timestamp, UserId};
/// use mfa_store_memory::MemoryStore;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = MemoryStore::new();
/// let (alice, now) = (UserId::new("alice")?, Timestamp::from_unix_millis(1_700_000_000_000));
/// let code = RecoveryCodeRecord::new("lookup".into(), "$argon2id$…".into(), now);
/// store.replace_recovery_codes(&alice, &[code]).await?;
///
/// assert!(store.consume_recovery_code(&alice, "lookup", "$argon2id$…").await?);
/// assert!(!store.consume_recovery_code(&alice, "lookup", "$argon2id$…").await?, "single use");
/// assert_eq!(store.count_recovery_codes(&alice).await?, 0);
/// # Ok(())
/// # }
/// ```
#[async_trait]
pub trait RecoveryCodeStore: fmt::Debug + Send + Sync + 'static {
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
}

/// Remembered devices: per-device tokens (stored hashed), expiring and revocable.
///
/// # Examples
///
/// ```
/// use mfa_core::store::DeviceStore;
/// use mfa_core::UserId;
/// use mfa_store_memory::MemoryStore;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = MemoryStore::new();
/// let alice = UserId::new("alice")?;
/// assert!(store.list_device_tokens(&alice).await?.is_empty());
/// assert_eq!(store.revoke_all_device_tokens(&alice).await?, 0);
/// # Ok(())
/// # }
/// ```
#[async_trait]
pub trait DeviceStore: fmt::Debug + Send + Sync + 'static {
    /// Stores a new remembered device.
    ///
    /// # Errors
    ///
    /// [`StoreError::AlreadyExists`](super::StoreError::AlreadyExists) if a device with this id exists.
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
}

/// Counters: per-user failure counters (throttles) and keyed counters (delivery caps and
/// state bounds), each changed only by compare-and-set.
///
/// # Examples
///
/// ```
/// use mfa_core::store::{CounterStore, ThrottleScope, ThrottleState};
/// use mfa_core::{Timestamp, UserId};
/// use mfa_store_memory::MemoryStore;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = MemoryStore::new();
/// let (alice, now) = (UserId::new("alice")?, Timestamp::from_unix_millis(1_700_000_000_000));
/// let scope = ThrottleScope::RecoveryCodes;
/// let before = store.get_throttle(&alice, &scope).await?;
/// let after = ThrottleState::new(before.failures + 1, Some(now));
/// assert!(store.compare_and_set_throttle(&alice, &scope, &before, &after).await?);
/// assert!(!store.compare_and_set_throttle(&alice, &scope, &before, &after).await?, "the state moved on");
/// # Ok(())
/// # }
/// ```
#[async_trait]
pub trait CounterStore: fmt::Debug + Send + Sync + 'static {
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
}

/// Whole-user operations for administrators: reset, erasure, and deployment-wide coverage.
///
/// # Examples
///
/// ```
/// use mfa_core::store::{AccountStore, RecoveryCodeRecord, RecoveryCodeStore};
/// use mfa_core::{Timestamp, UserId};
/// use mfa_store_memory::MemoryStore;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = MemoryStore::new();
/// let (alice, now) = (UserId::new("alice")?, Timestamp::from_unix_millis(1_700_000_000_000));
/// store.replace_recovery_codes(&alice, &[RecoveryCodeRecord::new("l".into(), "h".into(), now)]).await?;
///
/// let removed = store.reset_user(&alice).await?;
/// assert_eq!(removed.recovery_codes, 1);
/// assert_eq!(store.count_recovery_codes(&alice).await?, 0);
/// assert_eq!(store.coverage(3).await?.users_with_factor, 0);
/// # Ok(())
/// # }
/// ```
#[async_trait]
pub trait AccountStore: fmt::Debug + Send + Sync + 'static {
    /// **Atomic.** Deletes every factor (pending ones included, with their lookup keys),
    /// recovery code, ceremony bound to the user, remembered device and failure counter of
    /// the user, all at once or not at all; returns what was removed. Another user's records
    /// are untouched.
    async fn reset_user(&self, user: &UserId) -> StoreResult<RecordCounts>;

    /// **Atomic.** Erasure: what [`reset_user`](Self::reset_user) deletes, and the keyed
    /// counters under `counter_keys` (the service derives the keys it used for the user);
    /// returns what was removed. Afterwards the store holds nothing for the user.
    async fn erase_user(&self, user: &UserId, counter_keys: &[String]) -> StoreResult<RecordCounts>;

    /// Deployment-wide coverage; `few_codes` is the threshold below which a user with an
    /// active factor counts as having few recovery codes left.
    async fn coverage(&self, few_codes: usize) -> StoreResult<Coverage>;
}
