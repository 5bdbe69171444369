//! The storage trait every backend implements, and the records it keeps.
//!
//! Each method that carries an invariant is atomic: a store must perform it as one
//! indivisible step, also against other processes sharing the same database. The
//! conformance suite (`mfa_core::testing`, feature `testing`) checks every one of them,
//! including races between many tasks.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::seal::SealedSecret;
use crate::types::{
    Assurance, ChallengeId, DeviceId, FactorId, FactorKind, FactorStatus, FactorSummary, Timestamp, UserId,
};

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

/// One factor of one user, as stored. The secret is sealed; `data` is the adapter's own
/// non-secret state (a WebAuthn credential, a destination).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FactorRecord {
    /// The factor's id (unique across all users).
    pub id: FactorId,
    /// Its owner.
    pub user: UserId,
    /// Its kind.
    pub kind: FactorKind,
    /// The user-given name.
    pub label: String,
    /// Pending or active.
    pub status: FactorStatus,
    /// What a verification with it proves.
    pub assurance: Assurance,
    /// When enrolment started.
    pub created_at: Timestamp,
    /// When it was last used successfully.
    pub last_used_at: Option<Timestamp>,
    /// When a pending enrolment expires (`None` once active).
    pub expires_at: Option<Timestamp>,
    /// Whether it is the user's preferred factor.
    pub preferred: bool,
    /// The destination, masked, for display.
    pub masked_destination: Option<String>,
    /// Non-secret details to show in summaries.
    pub details: Vec<(String, String)>,
    /// The factor's secret, sealed, if it has one.
    pub secret: Option<SealedSecret>,
    /// The adapter's non-secret state.
    pub data: Vec<u8>,
    /// The last accepted replay marker (a TOTP time step), advanced only by
    /// [`Store::advance_replay_marker`].
    pub replay_marker: Option<u64>,
    /// The ceremony that must be completed to activate a pending factor.
    pub enrolment: Option<ChallengeId>,
    /// An active factor this one replaces once activated (a changed phone number).
    pub replaces: Option<FactorId>,
    /// A key unique across all users by which the factor is found without knowing its
    /// user (a WebAuthn credential id); stores refuse a second factor with the same key.
    pub lookup_key: Option<String>,
}

impl FactorRecord {
    /// A new pending factor with no secret, data or details.
    #[allow(clippy::too_many_arguments)]
    pub fn pending(
        id: FactorId,
        user: UserId,
        kind: FactorKind,
        label: String,
        assurance: Assurance,
        created_at: Timestamp,
        expires_at: Timestamp,
    ) -> Self {
        Self {
            id,
            user,
            kind,
            label,
            status: FactorStatus::Pending,
            assurance,
            created_at,
            last_used_at: None,
            expires_at: Some(expires_at),
            preferred: false,
            masked_destination: None,
            details: Vec::new(),
            secret: None,
            data: Vec::new(),
            replay_marker: None,
            enrolment: None,
            replaces: None,
            lookup_key: None,
        }
    }

    /// True if active (usable to sign in).
    pub fn is_active(&self) -> bool {
        self.status == FactorStatus::Active
    }

    /// True if this is a pending enrolment whose time ran out at `now`.
    pub fn is_expired(&self, now: Timestamp) -> bool {
        self.status == FactorStatus::Pending && self.expires_at.is_none_or(|e| e <= now)
    }

    /// The user-facing view of this record.
    pub fn summary(&self) -> FactorSummary {
        FactorSummary {
            id: self.id,
            kind: self.kind.clone(),
            label: self.label.clone(),
            status: self.status,
            assurance: self.assurance,
            created_at: self.created_at,
            last_used_at: self.last_used_at,
            expires_at: self.expires_at,
            preferred: self.preferred,
            masked_destination: self.masked_destination.clone(),
            details: self.details.clone(),
        }
    }
}

impl fmt::Debug for FactorRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FactorRecord")
            .field("id", &self.id)
            .field("user", &self.user)
            .field("kind", &self.kind)
            .field("status", &self.status)
            .field("preferred", &self.preferred)
            .field("secret", &self.secret)
            .field("data_len", &self.data.len())
            .finish_non_exhaustive()
    }
}

/// Changes to apply to a factor in one atomic step; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FactorUpdate {
    /// A new label.
    pub label: Option<String>,
    /// A new last-used time.
    pub last_used_at: Option<Timestamp>,
    /// A re-sealed or replaced secret.
    pub secret: Option<SealedSecret>,
    /// New adapter state.
    pub data: Option<Vec<u8>>,
    /// New details for summaries.
    pub details: Option<Vec<(String, String)>>,
    /// A new enrolment ceremony for a pending factor (a resent code).
    pub enrolment: Option<ChallengeId>,
    /// The factor's unique lookup key (set once, when a credential is registered).
    pub lookup_key: Option<String>,
    /// Raises the replay marker to at least this value; it never moves back. Finishing an
    /// enrolment records the enrolment code's marker this way *before* activating the
    /// factor, so no interruption can leave an active factor whose enrolment code could
    /// still sign in.
    pub replay_marker: Option<u64>,
}

/// Whether a ceremony belongs to an enrolment or a sign-in challenge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CeremonyPurpose {
    /// Proving a new factor.
    Enrolment,
    /// Signing in (or stepping up) with an active factor.
    Challenge,
}

impl CeremonyPurpose {
    /// The lowercase name used in storage.
    pub fn as_str(self) -> &'static str {
        match self {
            CeremonyPurpose::Enrolment => "enrolment",
            CeremonyPurpose::Challenge => "challenge",
        }
    }
}

/// Server-side state of a ceremony awaiting its proof: bound to one user (or to nobody,
/// for usernameless passkey sign-in) and one factor, expiring, with bounded attempts.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CeremonyRecord {
    /// Its id.
    pub id: ChallengeId,
    /// The user it is bound to (`None` only for usernameless sign-in).
    pub user: Option<UserId>,
    /// The factor it is bound to, if one.
    pub factor: Option<FactorId>,
    /// The factor kind whose adapter owns the payload.
    pub kind: FactorKind,
    /// Enrolment or challenge.
    pub purpose: CeremonyPurpose,
    /// The adapter's opaque state (a keyed code hash, WebAuthn state).
    pub payload: Vec<u8>,
    /// Attempts made so far.
    pub attempts: u32,
    /// Attempts allowed before the ceremony is used up.
    pub max_attempts: u32,
    /// The digest of the one action a verification with this ceremony proves (step-up),
    /// if it is bound to one.
    pub action: Option<String>,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it expires.
    pub expires_at: Timestamp,
}

impl CeremonyRecord {
    /// A new ceremony with no attempts made.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: ChallengeId,
        user: Option<UserId>,
        factor: Option<FactorId>,
        kind: FactorKind,
        purpose: CeremonyPurpose,
        payload: Vec<u8>,
        max_attempts: u32,
        created_at: Timestamp,
        expires_at: Timestamp,
    ) -> Self {
        Self {
            id,
            user,
            factor,
            kind,
            purpose,
            payload,
            attempts: 0,
            max_attempts,
            action: None,
            created_at,
            expires_at,
        }
    }

    /// Binds the ceremony to one action's digest.
    pub fn with_action(mut self, action: Option<String>) -> Self {
        self.action = action;
        self
    }
}

impl fmt::Debug for CeremonyRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CeremonyRecord")
            .field("id", &self.id)
            .field("user", &self.user)
            .field("factor", &self.factor)
            .field("purpose", &self.purpose)
            .field("attempts", &self.attempts)
            .field("max_attempts", &self.max_attempts)
            .field("payload_len", &self.payload.len())
            .finish_non_exhaustive()
    }
}

/// One stored recovery code: a public lookup part and the argon2id hash (PHC string) of the
/// secret part.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RecoveryCodeRecord {
    /// The code's lookup part, unique within the user's set.
    pub lookup: String,
    /// The argon2id hash of the secret part, as a PHC string.
    pub hash: String,
    /// When the set was generated.
    pub created_at: Timestamp,
}

impl RecoveryCodeRecord {
    /// A record from its parts.
    pub fn new(lookup: String, hash: String, created_at: Timestamp) -> Self {
        Self { lookup, hash, created_at }
    }
}

impl fmt::Debug for RecoveryCodeRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecoveryCodeRecord")
            .field("lookup", &self.lookup)
            .field("hash", &"[redacted]")
            .finish_non_exhaustive()
    }
}

/// A remembered device: a "remember this device" token's stored half. The token's secret
/// is kept only as a SHA-256 hash.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DeviceTokenRecord {
    /// Its id (the public part of the token).
    pub id: DeviceId,
    /// The user it belongs to.
    pub user: UserId,
    /// A name for it ("Firefox on Linux").
    pub label: String,
    /// SHA-256 of the token's secret part.
    pub secret_hash: Vec<u8>,
    /// When it was issued.
    pub created_at: Timestamp,
    /// When it was last presented.
    pub last_seen_at: Option<Timestamp>,
    /// When it stops working.
    pub expires_at: Timestamp,
}

impl DeviceTokenRecord {
    /// A record from its parts.
    pub fn new(
        id: DeviceId,
        user: UserId,
        label: String,
        secret_hash: Vec<u8>,
        created_at: Timestamp,
        expires_at: Timestamp,
    ) -> Self {
        Self { id, user, label, secret_hash, created_at, last_seen_at: None, expires_at }
    }
}

impl fmt::Debug for DeviceTokenRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceTokenRecord")
            .field("id", &self.id)
            .field("user", &self.user)
            .field("label", &self.label)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// What a failure counter counts: one factor, or the user's recovery codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ThrottleScope {
    /// Attempts against one factor.
    Factor(FactorId),
    /// Attempts with recovery codes.
    RecoveryCodes,
    /// Attempts with remembered-device tokens.
    DeviceTokens,
}

impl ThrottleScope {
    /// A stable text key for storage (`factor:<id>` or `recovery-codes`).
    pub fn key(&self) -> String {
        match self {
            ThrottleScope::Factor(id) => format!("factor:{id}"),
            ThrottleScope::RecoveryCodes => "recovery-codes".to_owned(),
            ThrottleScope::DeviceTokens => "device-tokens".to_owned(),
        }
    }
}

/// A failure counter. An absent counter reads as the default (no failures).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ThrottleState {
    /// Consecutive attempts not (yet) followed by a success.
    pub failures: u32,
    /// When the last of them started.
    pub last_attempt_at: Option<Timestamp>,
}

impl ThrottleState {
    /// A state from its parts.
    pub fn new(failures: u32, last_attempt_at: Option<Timestamp>) -> Self {
        Self { failures, last_attempt_at }
    }
}

/// A counter not tied to one user's factors: sends per destination or per factor, and
/// later budgets. An absent counter reads as the default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CounterState {
    /// Events counted in the current window.
    pub count: u32,
    /// When the current window started.
    pub window_start: Option<Timestamp>,
    /// When the last event was counted.
    pub last_at: Option<Timestamp>,
    /// When the counter no longer matters and may be purged.
    pub expires_at: Option<Timestamp>,
}

impl CounterState {
    /// A state from its parts.
    pub fn new(
        count: u32,
        window_start: Option<Timestamp>,
        last_at: Option<Timestamp>,
        expires_at: Option<Timestamp>,
    ) -> Self {
        Self { count, window_start, last_at, expires_at }
    }
}

/// Where factors, ceremony state, replay markers, recovery codes and failure counters live.
///
/// Async and dyn-compatible: hosts keep an `Arc<dyn Store>`. Every method is scoped by
/// user where a user is involved: another user's id behaves exactly like a missing one.
/// Methods marked **atomic** must be indivisible even across processes sharing the
/// backend; none has a default body.
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
