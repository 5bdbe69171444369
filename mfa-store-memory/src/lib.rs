#![forbid(unsafe_code)]
#![deny(missing_docs)]
//! The embedded default store for [`mfa_core`]: everything in process memory.
//!
//! Use it for a single-process service, for development and for tests. State is lost when
//! the process exits, and it is not shared between processes: a service with several
//! instances needs `mfa-store-sql`, or an attacker could spread guesses across instances.
//!
//! ```
//! use mfa_core::{AeadSealer, Mfa};
//! use mfa_store_memory::MemoryStore;
//!
//! let mfa = Mfa::builder().store(MemoryStore::new()).sealer(AeadSealer::ephemeral()?).build()?;
//! # Ok::<(), mfa_core::Error>(())
//! ```
//!
//! # Design
//!
//! Users are spread over 64 shards, each behind its own mutex, by a keyed hash of the
//! user id; every operation on one user's factors, recovery codes and failure counters
//! happens under that one shard lock, which makes each [`Store`] method atomic. Ceremonies
//! are sharded by their (random) id, and a third sharded index keeps factor ids unique
//! across users. No operation holds two locks at once but a reset or an erasure, which
//! holds the user's shard while it sweeps the ceremony shards one by one (nothing takes
//! them in the other order), and no hot path grows with the
//! number of users: finding a user is a hash-map hit, and a user's few factors and failure
//! counters sit in small vectors (one allocation each, no per-user hash tables), searched
//! by id. Only [`Store::purge_expired`] walks everything, one shard at a time.

use std::collections::hash_map::{Entry, RandomState};
use std::collections::{HashMap, HashSet};
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use mfa_core::store::{
    AcceptOutcome, Acceptance, AccountStore, CeremonyRecord, CeremonyStore, CounterState, CounterStore, Coverage,
    DeviceStore, DeviceTokenRecord, FactorAttempt, FactorPlan, FactorRecord, FactorStore, FactorUpdate,
    RecoveryCodeRecord, RecoveryCodeStore, StoreError, StoreResult, ThrottleScope, ThrottleState,
};
use mfa_core::{CeremonyId, DeviceId, FactorId, FactorKind, FactorStatus, Timestamp, UserId, store::Store};

const SHARDS: usize = 64;

/// A map split over [`SHARDS`] mutexes.
type Sharded<K, V> = Box<[Mutex<HashMap<K, V>>]>;

/// An in-memory [`Store`]. Cheap to clone: clones share the same data.
#[derive(Clone, Default)]
pub struct MemoryStore {
    inner: Arc<Inner>,
}

struct Inner {
    hasher: RandomState,
    users: Sharded<UserId, UserData>,
    ceremonies: Sharded<CeremonyId, CeremonyRecord>,
    factor_ids: Box<[Mutex<HashSet<FactorId>>]>,
    counters: Sharded<String, CounterState>,
    lookup_keys: Sharded<String, (UserId, FactorId)>,
}

impl Default for Inner {
    fn default() -> Self {
        Self {
            hasher: RandomState::new(),
            users: (0..SHARDS).map(|_| Mutex::default()).collect(),
            ceremonies: (0..SHARDS).map(|_| Mutex::default()).collect(),
            factor_ids: (0..SHARDS).map(|_| Mutex::default()).collect(),
            counters: (0..SHARDS).map(|_| Mutex::default()).collect(),
            lookup_keys: (0..SHARDS).map(|_| Mutex::default()).collect(),
        }
    }
}

#[derive(Default)]
struct UserData {
    /// A user's factors: a handful, so a vector searched by id is smaller and faster than a
    /// hash table (whose smallest allocation holds four records).
    factors: Vec<FactorRecord>,
    recovery_codes: HashMap<String, RecoveryCodeRecord>,
    /// Failure counters that are not at their default (no failures); a success removes one.
    throttles: Vec<(ThrottleScope, ThrottleState)>,
    devices: HashMap<DeviceId, DeviceTokenRecord>,
}

impl UserData {
    fn factor(&self, id: &FactorId) -> Option<&FactorRecord> {
        self.factors.iter().find(|f| f.id == *id)
    }

    fn factor_mut(&mut self, id: &FactorId) -> Option<&mut FactorRecord> {
        self.factors.iter_mut().find(|f| f.id == *id)
    }

    /// Adds a factor, or replaces the one with the same id.
    fn put_factor(&mut self, record: FactorRecord) {
        match self.factor_mut(&record.id) {
            Some(f) => *f = record,
            None => {
                // Grow by one: users hold few factors, and records are large.
                self.factors.reserve_exact(1);
                self.factors.push(record);
            }
        }
    }

    /// Removes a factor and its failure counter.
    fn remove_factor(&mut self, id: &FactorId) -> Option<FactorRecord> {
        let i = self.factors.iter().position(|f| f.id == *id)?;
        self.set_throttle(&ThrottleScope::Factor(*id), ThrottleState::default());
        Some(self.factors.remove(i))
    }

    fn throttle(&self, scope: &ThrottleScope) -> ThrottleState {
        self.throttles.iter().find(|(s, _)| s == scope).map(|(_, t)| *t).unwrap_or_default()
    }

    /// Stores a counter; the default (no failures) is stored as no entry.
    fn set_throttle(&mut self, scope: &ThrottleScope, state: ThrottleState) {
        let i = self.throttles.iter().position(|(s, _)| s == scope);
        match (i, state == ThrottleState::default()) {
            (Some(i), true) => {
                self.throttles.swap_remove(i);
            }
            (Some(i), false) => {
                if let Some(entry) = self.throttles.get_mut(i) {
                    entry.1 = state;
                }
            }
            (None, true) => {}
            (None, false) => self.throttles.push((*scope, state)),
        }
    }

    /// Sets the counter to `new` if it is `expected`.
    fn compare_and_set_throttle(
        &mut self,
        scope: &ThrottleScope,
        expected: &ThrottleState,
        new: &ThrottleState,
    ) -> bool {
        if self.throttle(scope) != *expected {
            return false;
        }
        self.set_throttle(scope, *new);
        true
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere while holding a lock cannot leave a half-applied operation: every
    // mutation below is a single map operation or is computed before it is applied.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Random ids shard by their first bytes; no hashing needed.
fn id_shard(bytes: &[u8; 16]) -> usize {
    usize::from(bytes[0]) % SHARDS
}

/// How many records of each family a [`MemoryStore`] holds, expired ones included (until
/// [`Store::purge_expired`] removes them): for capacity dashboards and for tests that prove
/// state stays bounded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecordCounts {
    /// Users with any record.
    pub users: usize,
    /// Factors, pending and active.
    pub factors: usize,
    /// Ceremonies (enrolment, challenge and passwordless sign-in state).
    pub ceremonies: usize,
    /// Unused recovery codes.
    pub recovery_codes: usize,
    /// Remembered devices.
    pub devices: usize,
    /// Failure counters not at their default.
    pub throttles: usize,
    /// Delivery and bound counters.
    pub counters: usize,
}

impl RecordCounts {
    /// Every record, of every family.
    pub fn total(&self) -> usize {
        self.factors + self.ceremonies + self.recovery_codes + self.devices + self.throttles + self.counters
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many records the store holds, by family. Walks every shard, one at a time.
    pub fn record_counts(&self) -> RecordCounts {
        let mut counts = RecordCounts::default();
        for shard in self.inner.users.iter() {
            for data in lock(shard).values() {
                counts.users += 1;
                counts.factors += data.factors.len();
                counts.recovery_codes += data.recovery_codes.len();
                counts.devices += data.devices.len();
                counts.throttles += data.throttles.len();
            }
        }
        counts.ceremonies = self.inner.ceremonies.iter().map(|s| lock(s).len()).sum();
        counts.counters = self.inner.counters.iter().map(|s| lock(s).len()).sum();
        counts
    }

    fn user_shard(&self, user: &UserId) -> MutexGuard<'_, HashMap<UserId, UserData>> {
        let i = (self.inner.hasher.hash_one(user) as usize) % SHARDS;
        lock(&self.inner.users[i])
    }

    fn ceremony_shard(&self, id: &CeremonyId) -> MutexGuard<'_, HashMap<CeremonyId, CeremonyRecord>> {
        lock(&self.inner.ceremonies[id_shard(id.as_bytes())])
    }

    fn counter_shard(&self, key: &str) -> MutexGuard<'_, HashMap<String, CounterState>> {
        let i = (self.inner.hasher.hash_one(key) as usize) % SHARDS;
        lock(&self.inner.counters[i])
    }

    fn lookup_keys(&self, key: &str) -> MutexGuard<'_, HashMap<String, (UserId, FactorId)>> {
        let i = (self.inner.hasher.hash_one(key) as usize) % SHARDS;
        lock(&self.inner.lookup_keys[i])
    }

    /// Claims `key` for the user's factor: `Some(true)` if newly claimed, `Some(false)` if
    /// it already held it, `None` if another factor holds it.
    fn claim_key(&self, key: &str, user: &UserId, id: &FactorId) -> Option<bool> {
        match self.lookup_keys(key).entry(key.to_owned()) {
            Entry::Occupied(e) => (e.get().0 == *user && e.get().1 == *id).then_some(false),
            Entry::Vacant(v) => {
                v.insert((user.clone(), *id));
                Some(true)
            }
        }
    }

    /// Releases `key` if `id` holds it.
    fn release_key(&self, key: &str, id: &FactorId) {
        let mut keys = self.lookup_keys(key);
        if keys.get(key).is_some_and(|(_, holder)| holder == id) {
            keys.remove(key);
        }
    }

    /// Forgets a removed factor's id and lookup key.
    fn forget(&self, record: &FactorRecord) {
        if let Some(key) = &record.lookup_key {
            self.release_key(key, &record.id);
        }
        self.factor_ids(&record.id).remove(&record.id);
    }

    fn factor_ids(&self, id: &FactorId) -> MutexGuard<'_, HashSet<FactorId>> {
        lock(&self.inner.factor_ids[id_shard(id.as_bytes())])
    }

    /// Applies `f` to the user's data, if the user has any.
    fn with_user<T>(&self, user: &UserId, f: impl FnOnce(&mut UserData) -> T) -> Option<T> {
        self.user_shard(user).get_mut(user).map(f)
    }
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore").field("shards", &SHARDS).finish_non_exhaustive()
    }
}

/// A counter counts until its expiry.
fn live(counter: &CounterState, now: Timestamp) -> bool {
    counter.expires_at.is_none_or(|e| now < e)
}

fn bound_to(ceremony: &CeremonyRecord, user: Option<&UserId>) -> bool {
    ceremony.user.as_ref() == user
}

#[async_trait]
impl FactorStore for MemoryStore {
    async fn insert_factor(&self, record: &FactorRecord) -> StoreResult<()> {
        if !self.factor_ids(&record.id).insert(record.id) {
            return Err(StoreError::AlreadyExists);
        }
        if let Some(key) = &record.lookup_key
            && self.claim_key(key, &record.user, &record.id) != Some(true)
        {
            self.factor_ids(&record.id).remove(&record.id);
            return Err(StoreError::AlreadyExists);
        }
        self.user_shard(&record.user).entry(record.user.clone()).or_default().put_factor(record.clone());
        Ok(())
    }

    async fn find_factor_by_lookup_key(&self, key: &str) -> StoreResult<Option<FactorRecord>> {
        let holder = self.lookup_keys(key).get(key).cloned();
        match holder {
            Some((user, id)) => self.get_factor(&user, &id).await,
            None => Ok(None),
        }
    }

    async fn get_factor(&self, user: &UserId, id: &FactorId) -> StoreResult<Option<FactorRecord>> {
        Ok(self.with_user(user, |u| u.factor(id).cloned()).flatten())
    }

    async fn list_factors(&self, user: &UserId) -> StoreResult<Vec<FactorRecord>> {
        Ok(self.with_user(user, |u| u.factors.clone()).unwrap_or_default())
    }

    async fn update_factor(&self, user: &UserId, id: &FactorId, update: &FactorUpdate) -> StoreResult<FactorRecord> {
        // Claim a new lookup key first (never holding two locks); undo if the factor is
        // not there.
        let newly_claimed = match &update.lookup_key {
            Some(key) => self.claim_key(key, user, id).ok_or(StoreError::AlreadyExists)?,
            None => false,
        };
        let mut released = None;
        let result = self
            .with_user(user, |u| {
                let f = u.factor_mut(id)?;
                if let Some(key) = &update.lookup_key
                    && f.lookup_key.as_ref() != Some(key)
                {
                    released = f.lookup_key.replace(key.clone());
                }
                if let Some(label) = &update.label {
                    f.label.clone_from(label);
                }
                if let Some(at) = update.last_used_at {
                    f.last_used_at = Some(at);
                }
                if let Some(secret) = &update.secret {
                    f.secret = Some(secret.clone());
                }
                if let Some(data) = &update.data {
                    f.data.clone_from(data);
                }
                if let Some(details) = &update.details {
                    f.details.clone_from(details);
                }
                if let Some(enrolment) = update.enrolment {
                    f.enrolment = Some(enrolment);
                }
                if let Some(marker) = update.replay_marker {
                    f.replay_marker = Some(f.replay_marker.map_or(marker, |m| m.max(marker)));
                }
                if let Some(assurance) = update.assurance {
                    f.assurance = assurance;
                }
                Some(f.clone())
            })
            .flatten();
        match (&result, &update.lookup_key) {
            (None, Some(key)) if newly_claimed => self.release_key(key, id),
            (Some(_), _) => {
                if let Some(old) = released {
                    self.release_key(&old, id);
                }
            }
            _ => {}
        }
        result.ok_or(StoreError::NotFound)
    }

    async fn edit_factors(&self, user: &UserId, plan: &FactorPlan<'_>) -> StoreResult<Vec<FactorRecord>> {
        let (factors, deleted) = {
            let mut shard = self.user_shard(user);
            let Some(u) = shard.get_mut(user) else {
                // No records: the plan decides on none, and an edit can only name none.
                let edit = plan(&[])?;
                return if edit.is_empty() { Ok(Vec::new()) } else { Err(StoreError::NotFound) };
            };
            let edit = plan(&u.factors)?;
            let deleted = edit.apply(&mut u.factors)?;
            for record in &deleted {
                u.set_throttle(&ThrottleScope::Factor(record.id), ThrottleState::default());
            }
            (u.factors.clone(), deleted)
        };
        for record in &deleted {
            self.forget(record);
        }
        Ok(factors)
    }

    async fn delete_factor(&self, user: &UserId, id: &FactorId) -> StoreResult<FactorRecord> {
        let record = self.with_user(user, |u| u.remove_factor(id)).flatten().ok_or(StoreError::NotFound)?;
        self.forget(&record);
        Ok(record)
    }

    async fn advance_replay_marker(
        &self,
        user: &UserId,
        id: &FactorId,
        marker: u64,
        used_at: Timestamp,
    ) -> StoreResult<bool> {
        Ok(self
            .with_user(user, |u| match u.factor_mut(id) {
                Some(f) if f.status == FactorStatus::Active && f.replay_marker.is_none_or(|m| marker > m) => {
                    f.replay_marker = Some(marker);
                    f.last_used_at = Some(used_at);
                    true
                }
                _ => false,
            })
            .unwrap_or(false))
    }

    async fn begin_attempt(
        &self,
        user: &UserId,
        id: &FactorId,
        kinds: &[FactorKind],
        now: Timestamp,
    ) -> StoreResult<Option<FactorAttempt>> {
        Ok(self
            .with_user(user, |u| {
                let scope = ThrottleScope::Factor(*id);
                let throttle = u.throttle(&scope);
                let factor = u.factor(id)?.clone();
                let counted = factor.status == FactorStatus::Active
                    && kinds.contains(&factor.kind)
                    && throttle == ThrottleState::default();
                if counted {
                    u.set_throttle(&scope, ThrottleState::new(1, Some(now)));
                }
                Some(FactorAttempt::new(factor, throttle, counted))
            })
            .flatten())
    }

    /// Takes the ceremony under its shard's lock, then applies the rest under the user's:
    /// never two locks at once. The ceremony stays taken if the rest is refused, as the
    /// trait says.
    async fn accept_verification(
        &self,
        user: &UserId,
        id: &FactorId,
        acceptance: &Acceptance,
    ) -> StoreResult<AcceptOutcome> {
        if let Some((bound, ceremony)) = &acceptance.ceremony
            && self.take_ceremony(bound.as_ref(), ceremony, acceptance.used_at).await?.is_none()
        {
            return Ok(AcceptOutcome::CeremonyGone);
        }
        let applied = self.with_user(user, |u| {
            let f = u.factor_mut(id).filter(|f| f.status == FactorStatus::Active)?;
            if let Some(marker) = acceptance.replay_marker {
                if f.replay_marker.is_some_and(|m| marker <= m) {
                    return None;
                }
                f.replay_marker = Some(marker);
            }
            f.last_used_at = Some(acceptance.used_at);
            if let Some(secret) = &acceptance.secret {
                f.secret = Some(secret.clone());
            }
            if let Some(data) = &acceptance.data {
                f.data.clone_from(data);
            }
            if let Some(details) = &acceptance.details {
                f.details.clone_from(details);
            }
            if acceptance.clear_throttle {
                u.set_throttle(&ThrottleScope::Factor(*id), ThrottleState::default());
            }
            Some(())
        });
        Ok(match applied.flatten() {
            Some(()) => AcceptOutcome::Accepted,
            None => AcceptOutcome::Refused,
        })
    }
}

#[async_trait]
impl CeremonyStore for MemoryStore {
    async fn put_ceremony(&self, record: &CeremonyRecord) -> StoreResult<()> {
        match self.ceremony_shard(&record.id).entry(record.id) {
            Entry::Occupied(_) => Err(StoreError::AlreadyExists),
            Entry::Vacant(v) => {
                v.insert(record.clone());
                Ok(())
            }
        }
    }

    async fn attempt_ceremony(
        &self,
        user: Option<&UserId>,
        id: &CeremonyId,
        now: Timestamp,
    ) -> StoreResult<Option<CeremonyRecord>> {
        let mut shard = self.ceremony_shard(id);
        Ok(match shard.get_mut(id) {
            Some(c) if bound_to(c, user) && now < c.expires_at && c.attempts < c.max_attempts => {
                c.attempts += 1;
                Some(c.clone())
            }
            _ => None,
        })
    }

    async fn get_ceremony(
        &self,
        user: Option<&UserId>,
        id: &CeremonyId,
        now: Timestamp,
    ) -> StoreResult<Option<CeremonyRecord>> {
        let shard = self.ceremony_shard(id);
        Ok(shard.get(id).filter(|c| bound_to(c, user) && now < c.expires_at).cloned())
    }

    async fn take_ceremony(
        &self,
        user: Option<&UserId>,
        id: &CeremonyId,
        now: Timestamp,
    ) -> StoreResult<Option<CeremonyRecord>> {
        let mut shard = self.ceremony_shard(id);
        match shard.get(id) {
            Some(c) if bound_to(c, user) => {
                let c = shard.remove(id);
                Ok(c.filter(|c| now < c.expires_at))
            }
            _ => Ok(None),
        }
    }
}

#[async_trait]
impl RecoveryCodeStore for MemoryStore {
    async fn replace_recovery_codes(&self, user: &UserId, codes: &[RecoveryCodeRecord]) -> StoreResult<()> {
        let new: HashMap<String, RecoveryCodeRecord> = codes.iter().map(|c| (c.lookup.clone(), c.clone())).collect();
        self.user_shard(user).entry(user.clone()).or_default().recovery_codes = new;
        Ok(())
    }

    async fn get_recovery_code(&self, user: &UserId, lookup: &str) -> StoreResult<Option<RecoveryCodeRecord>> {
        Ok(self.with_user(user, |u| u.recovery_codes.get(lookup).cloned()).flatten())
    }

    async fn consume_recovery_code(&self, user: &UserId, lookup: &str, hash: &str) -> StoreResult<bool> {
        Ok(self
            .with_user(user, |u| match u.recovery_codes.get(lookup) {
                Some(c) if c.hash == hash => u.recovery_codes.remove(lookup).is_some(),
                _ => false,
            })
            .unwrap_or(false))
    }

    async fn count_recovery_codes(&self, user: &UserId) -> StoreResult<usize> {
        Ok(self.with_user(user, |u| u.recovery_codes.len()).unwrap_or(0))
    }
}

#[async_trait]
impl DeviceStore for MemoryStore {
    async fn insert_device_token(&self, record: &DeviceTokenRecord) -> StoreResult<()> {
        let mut shard = self.user_shard(&record.user);
        let data = shard.entry(record.user.clone()).or_default();
        match data.devices.entry(record.id) {
            Entry::Occupied(_) => Err(StoreError::AlreadyExists),
            Entry::Vacant(v) => {
                v.insert(record.clone());
                Ok(())
            }
        }
    }

    async fn get_device_token(&self, user: &UserId, id: &DeviceId) -> StoreResult<Option<DeviceTokenRecord>> {
        Ok(self.with_user(user, |u| u.devices.get(id).cloned()).flatten())
    }

    async fn list_device_tokens(&self, user: &UserId) -> StoreResult<Vec<DeviceTokenRecord>> {
        Ok(self.with_user(user, |u| u.devices.values().cloned().collect()).unwrap_or_default())
    }

    async fn touch_device_token(&self, user: &UserId, id: &DeviceId, at: Timestamp) -> StoreResult<bool> {
        Ok(self
            .with_user(user, |u| match u.devices.get_mut(id) {
                Some(d) => {
                    d.last_seen_at = Some(at);
                    true
                }
                None => false,
            })
            .unwrap_or(false))
    }

    async fn revoke_device_token(&self, user: &UserId, id: &DeviceId) -> StoreResult<bool> {
        Ok(self.with_user(user, |u| u.devices.remove(id).is_some()).unwrap_or(false))
    }

    async fn revoke_all_device_tokens(&self, user: &UserId) -> StoreResult<u64> {
        Ok(self.with_user(user, |u| std::mem::take(&mut u.devices).len() as u64).unwrap_or(0))
    }
}

#[async_trait]
impl CounterStore for MemoryStore {
    async fn get_throttle(&self, user: &UserId, scope: &ThrottleScope) -> StoreResult<ThrottleState> {
        Ok(self.with_user(user, |u| u.throttle(scope)).unwrap_or_default())
    }

    async fn compare_and_set_throttle(
        &self,
        user: &UserId,
        scope: &ThrottleScope,
        expected: &ThrottleState,
        new: &ThrottleState,
    ) -> StoreResult<bool> {
        let mut shard = self.user_shard(user);
        if let Some(data) = shard.get_mut(user) {
            return Ok(data.compare_and_set_throttle(scope, expected, new));
        }
        // A user with no data has only default counters: nothing to store unless `new`
        // is something else.
        let mut data = UserData::default();
        let done = data.compare_and_set_throttle(scope, expected, new);
        if !data.throttles.is_empty() {
            shard.insert(user.clone(), data);
        }
        Ok(done)
    }

    async fn get_counter(&self, key: &str, now: Timestamp) -> StoreResult<CounterState> {
        Ok(self.counter_shard(key).get(key).filter(|c| live(c, now)).copied().unwrap_or_default())
    }

    async fn compare_and_set_counter(
        &self,
        key: &str,
        expected: &CounterState,
        new: &CounterState,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let mut shard = self.counter_shard(key);
        let current = shard.get(key).filter(|c| live(c, now)).copied().unwrap_or_default();
        if current != *expected {
            return Ok(false);
        }
        if *new == CounterState::default() {
            shard.remove(key);
        } else {
            shard.insert(key.to_owned(), *new);
        }
        Ok(true)
    }
}

impl MemoryStore {
    /// Removes the user's data and every ceremony bound to the user, holding the user's
    /// shard throughout so that no edit of the user interleaves.
    fn remove_user(&self, user: &UserId) -> mfa_core::store::RecordCounts {
        let mut counts = mfa_core::store::RecordCounts::default();
        let data = {
            let mut shard = self.user_shard(user);
            let data = shard.remove(user);
            for ceremonies in self.inner.ceremonies.iter() {
                lock(ceremonies).retain(|_, c| {
                    let mine = c.user.as_ref() == Some(user);
                    counts.ceremonies += u64::from(mine);
                    !mine
                });
            }
            data
        };
        if let Some(data) = data {
            counts.factors = data.factors.len() as u64;
            counts.recovery_codes = data.recovery_codes.len() as u64;
            counts.devices = data.devices.len() as u64;
            counts.throttles = data.throttles.len() as u64;
            for record in &data.factors {
                self.forget(record);
            }
        }
        counts
    }
}

#[async_trait]
impl AccountStore for MemoryStore {
    async fn reset_user(&self, user: &UserId) -> StoreResult<mfa_core::store::RecordCounts> {
        Ok(self.remove_user(user))
    }

    async fn erase_user(&self, user: &UserId, counter_keys: &[String]) -> StoreResult<mfa_core::store::RecordCounts> {
        let mut counts = self.remove_user(user);
        for key in counter_keys {
            counts.counters += u64::from(self.counter_shard(key).remove(key).is_some());
        }
        Ok(counts)
    }

    async fn coverage(&self, few_codes: usize) -> StoreResult<Coverage> {
        let (mut with_factor, mut without, mut few) = (0u64, 0u64, 0u64);
        let mut by_kind: HashMap<String, u64> = HashMap::new();
        for shard in self.inner.users.iter() {
            for data in lock(shard).values() {
                let mut kinds: Vec<&str> =
                    data.factors.iter().filter(|f| f.is_active()).map(|f| f.kind.as_str()).collect();
                if kinds.is_empty() {
                    let holds_any =
                        !data.factors.is_empty() || !data.recovery_codes.is_empty() || !data.devices.is_empty();
                    without += u64::from(holds_any);
                    continue;
                }
                with_factor += 1;
                few += u64::from(data.recovery_codes.len() < few_codes);
                kinds.sort_unstable();
                kinds.dedup();
                for kind in kinds {
                    *by_kind.entry(kind.to_owned()).or_default() += 1;
                }
            }
        }
        Ok(Coverage::new(with_factor, without, by_kind.into_iter().collect(), few))
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn purge_expired(&self, now: Timestamp) -> StoreResult<u64> {
        let mut removed = 0u64;
        for shard in self.inner.counters.iter() {
            let mut shard = lock(shard);
            let before = shard.len();
            shard.retain(|_, c| live(c, now));
            removed += (before - shard.len()) as u64;
        }
        for shard in self.inner.ceremonies.iter() {
            let mut shard = lock(shard);
            let before = shard.len();
            shard.retain(|_, c| now < c.expires_at);
            removed += (before - shard.len()) as u64;
        }
        for shard in self.inner.users.iter() {
            let mut gone = Vec::new();
            {
                let mut shard = lock(shard);
                for data in shard.values_mut() {
                    let before = data.devices.len();
                    data.devices.retain(|_, d| now < d.expires_at);
                    removed += (before - data.devices.len()) as u64;
                    let before = gone.len();
                    data.factors.retain(|f| {
                        let keep = !f.is_expired(now);
                        if !keep {
                            gone.push(f.clone());
                        }
                        keep
                    });
                    // The failure counters of the expired enrolments go with them.
                    for record in &gone[before..] {
                        let scope = ThrottleScope::Factor(record.id);
                        if data.throttle(&scope) != ThrottleState::default() {
                            data.set_throttle(&scope, ThrottleState::default());
                            removed += 1;
                        }
                    }
                }
            }
            removed += gone.len() as u64;
            for record in &gone {
                self.forget(record);
            }
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_store_is_send_sync_and_cheap_to_clone() {
        fn check<T: Send + Sync + Clone + 'static>() {}
        check::<MemoryStore>();
    }
}
