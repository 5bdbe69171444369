//! The records a store keeps: factors, ceremonies, recovery codes, remembered devices,
//! failure counters and delivery counters.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::seal::SealedSecret;
use crate::types::{
    Assurance, CeremonyId, DeviceId, FactorId, FactorKind, FactorStatus, FactorSummary, Timestamp, UserId,
};

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
    /// [`FactorStore::advance_replay_marker`](super::FactorStore::advance_replay_marker).
    pub replay_marker: Option<u64>,
    /// The ceremony that must be completed to activate a pending factor.
    pub enrolment: Option<CeremonyId>,
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
    pub enrolment: Option<CeremonyId>,
    /// The factor's unique lookup key (set once, when a credential is registered).
    pub lookup_key: Option<String>,
    /// Raises the replay marker to at least this value; it never moves back. Finishing an
    /// enrolment records the enrolment code's marker this way *before* activating the
    /// factor, so no interruption can leave an active factor whose enrolment code could
    /// still sign in.
    pub replay_marker: Option<u64>,
    /// A new assurance, set when an enrolment finishes: what the registered credential
    /// turned out to prove (a passkey attested as device-bound is
    /// [`Assurance::HardwareBound`](crate::Assurance::HardwareBound)).
    pub assurance: Option<Assurance>,
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
    /// A temporary access code an administrator issued (one per user, single use).
    TemporaryAccess,
}

impl CeremonyPurpose {
    /// The lowercase name used in storage.
    pub fn as_str(self) -> &'static str {
        match self {
            CeremonyPurpose::Enrolment => "enrolment",
            CeremonyPurpose::Challenge => "challenge",
            CeremonyPurpose::TemporaryAccess => "temporary_access",
        }
    }
}

/// Server-side state of a ceremony awaiting its proof: bound to one user (or to nobody,
/// for passwordless passkey sign-in) and one factor, expiring, with bounded attempts.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CeremonyRecord {
    /// Its id.
    pub id: CeremonyId,
    /// The user it is bound to (`None` only for passwordless sign-in).
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
        id: CeremonyId,
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
    /// Attempts with a temporary access code.
    TemporaryAccess,
}

impl ThrottleScope {
    /// A stable text key for storage (`factor:<id>` or `recovery-codes`).
    pub fn key(&self) -> String {
        match self {
            ThrottleScope::Factor(id) => format!("factor:{id}"),
            ThrottleScope::RecoveryCodes => "recovery-codes".to_owned(),
            ThrottleScope::DeviceTokens => "device-tokens".to_owned(),
            ThrottleScope::TemporaryAccess => "temporary-access".to_owned(),
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

/// How many records of each family an administrative reset or an erasure removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RecordCounts {
    /// Factors, pending ones included.
    pub factors: u64,
    /// Unused recovery codes.
    pub recovery_codes: u64,
    /// Ceremonies bound to the user (enrolments, challenges, a temporary access code).
    pub ceremonies: u64,
    /// Remembered devices.
    pub devices: u64,
    /// Failure counters.
    pub throttles: u64,
    /// Keyed counters (delivery caps and state bounds of the user).
    pub counters: u64,
}

impl RecordCounts {
    /// Counts from their parts.
    pub fn new(
        factors: u64,
        recovery_codes: u64,
        ceremonies: u64,
        devices: u64,
        throttles: u64,
        counters: u64,
    ) -> Self {
        Self { factors, recovery_codes, ceremonies, devices, throttles, counters }
    }

    /// The sum of every family.
    pub fn total(&self) -> u64 {
        self.factors + self.recovery_codes + self.ceremonies + self.devices + self.throttles + self.counters
    }
}

/// Deployment-wide MFA coverage, for an administrator's dashboard: a store answers it from
/// its factor and recovery-code records (indexed on SQL).
///
/// Users the store holds nothing for are not counted: "users with no factor" is the host's
/// user count minus [`users_with_factor`](Self::users_with_factor).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Coverage {
    /// Users with at least one active factor.
    pub users_with_factor: u64,
    /// Users the store holds records for (a pending enrolment, codes) but no active factor.
    pub users_without_active_factor: u64,
    /// For each kind, the users with at least one active factor of it, by kind name.
    pub users_by_kind: Vec<(String, u64)>,
    /// Users with an active factor and fewer unused recovery codes than the threshold asked
    /// for (none counts).
    pub users_with_few_codes: u64,
}

impl Coverage {
    /// Coverage from its parts; `users_by_kind` is sorted by kind name.
    pub fn new(
        users_with_factor: u64,
        users_without_active_factor: u64,
        mut users_by_kind: Vec<(String, u64)>,
        users_with_few_codes: u64,
    ) -> Self {
        users_by_kind.sort();
        Self { users_with_factor, users_without_active_factor, users_by_kind, users_with_few_codes }
    }

    /// Users with an active factor of `kind`.
    pub fn users_with_kind(&self, kind: &str) -> u64 {
        self.users_by_kind.iter().find(|(k, _)| k == kind).map_or(0, |(_, n)| *n)
    }
}
