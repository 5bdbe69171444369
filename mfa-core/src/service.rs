//! The [`Mfa`] service: every user-facing flow, built once and shared.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::access::{ActionDigest, RememberedDevice};

use crate::adapter::{
    DeliveryChannel, DeliveryGate, EnrolmentRequest, FactorAdapter, FactorContext, Prompt, Proof, ProofStep,
    UsernamelessContext, VerifyInput,
};
use crate::clock::{Clock, SystemClock};
use crate::destination::canonical_destination;
use crate::error::{Error, Result};
use crate::events::{Event, EventKind, EventSink, FailureReason, TracingEventSink};
use crate::limits::StateLimit;
use crate::policy::{DeliveryCap, DeliveryPolicy, FreshAuth, Policy, WindowCap, is_fresh};
use crate::recovery::{self, DummyHash, RecoveryCodeSet};
use crate::refusals::{RefusalKey, Refusals};
use crate::seal::{OpenedSecrets, SealContext, SealedSecret, SecretSealer};
use crate::secret::SecretBytes;
use crate::secret::SecretString;
use crate::store::{
    CeremonyPurpose, CeremonyRecord, CounterState, DeviceTokenRecord, FactorRecord, FactorUpdate, RecoveryCodeRecord,
    Store, StoreError, ThrottleScope, ThrottleState,
};
use crate::throttle::ThrottlePolicy;
use crate::types::{
    Assurance, ChallengeId, DeviceId, FactorId, FactorKind, FactorSummary, Timestamp, UserId, validate_label,
};

/// The purpose string bound into every sealed factor secret.
const FACTOR_SECRET: &str = "factor-secret";
/// Compare-and-set retries before a throttle update gives up (only reachable under
/// pathological contention).
const MAX_CAS_RETRIES: usize = 10_000;
/// The counter of usernameless sign-ins started, across the deployment.
const PASSWORDLESS_KEY: &str = "open:passwordless";

/// When [`Mfa::discard_recovery_codes`] discards.
#[derive(Debug, Clone, Copy)]
enum Discard {
    /// The user had no active factor before this one: whatever codes exist were not minted
    /// with MFA.
    Always,
    /// Only if the user has no active factor left.
    IfNoActiveFactor,
}

/// Whether a verification counts toward the factor's throttle.
#[derive(Debug, Clone, Copy)]
enum Counting {
    /// A caller who holds the user's first factor: failures count, locks apply.
    Throttled,
    /// Nobody is authenticated (usernameless sign-in): nothing counts against the factor.
    Unauthenticated,
}

/// The multi-factor authentication service: the one object a host holds.
///
/// Cheap to clone (an `Arc` inside), `Send + Sync`. Build it with [`Mfa::builder`]. Every
/// method is scoped to one user: another user's factor or challenge id is "not found".
/// See the [crate documentation](crate) for a walk-through.
#[derive(Clone, Debug)]
pub struct Mfa {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    sealer: Arc<dyn SecretSealer>,
    events: Arc<dyn EventSink>,
    policy: Policy,
    adapters: HashMap<FactorKind, Arc<dyn FactorAdapter>>,
    dummy_hash: DummyHash,
    /// Throttles derived from the guess budget, by guess probability.
    derived: std::sync::RwLock<HashMap<u64, ThrottlePolicy>>,
    /// Secrets opened for verification ([`Policy::secret_cache`]); `None` when off.
    opened: Option<OpenedSecrets>,
    /// Refused attempts counted for audit but not yet reported.
    refusals: Refusals,
}

/// Builds an [`Mfa`] service.
///
/// A store and a sealer are required; the clock defaults to [`SystemClock`], events to
/// [`TracingEventSink`], the policy to [`Policy::default`].
#[derive(Debug, Default)]
#[must_use]
pub struct MfaBuilder {
    store: Option<Arc<dyn Store>>,
    clock: Option<Arc<dyn Clock>>,
    sealer: Option<Arc<dyn SecretSealer>>,
    events: Option<Arc<dyn EventSink>>,
    policy: Option<Policy>,
    adapters: Vec<Arc<dyn FactorAdapter>>,
}

impl MfaBuilder {
    /// The store (required).
    pub fn store(mut self, store: impl Store) -> Self {
        self.store = Some(Arc::new(store));
        self
    }

    /// A store already shared as `Arc<dyn Store>`.
    pub fn shared_store(mut self, store: Arc<dyn Store>) -> Self {
        self.store = Some(store);
        self
    }

    /// The clock (default: [`SystemClock`]).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// The secret sealer (required).
    pub fn sealer(mut self, sealer: impl SecretSealer) -> Self {
        self.sealer = Some(Arc::new(sealer));
        self
    }

    /// A sealer already shared as `Arc<dyn SecretSealer>`.
    pub fn shared_sealer(mut self, sealer: Arc<dyn SecretSealer>) -> Self {
        self.sealer = Some(sealer);
        self
    }

    /// Where events go (default: [`TracingEventSink`]).
    pub fn events(mut self, sink: impl EventSink) -> Self {
        self.events = Some(Arc::new(sink));
        self
    }

    /// The policy (default: [`Policy::default`]).
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policy = Some(policy);
        self
    }

    /// Adds a factor adapter for the kinds it declares.
    pub fn factor(mut self, adapter: impl FactorAdapter) -> Self {
        self.adapters.push(Arc::new(adapter));
        self
    }

    /// Builds the service.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] without a store or sealer, when two adapters claim the same kind,
    /// or when the policy is unusable (zero attempts, zero lifetimes, fewer than one
    /// recovery code, a delivery cap with a zero window, a number prefix of no digits or a
    /// malformed cost prefix).
    pub fn build(self) -> Result<Mfa> {
        let store = self.store.ok_or(Error::Config("a store is required"))?;
        let sealer = self.sealer.ok_or(Error::Config("a secret sealer is required"))?;
        let policy = self.policy.unwrap_or_default();
        if policy.challenge_attempts == 0
            || policy.throttle.free_attempts == 0
            || policy.throttle.max_failures == Some(0)
        {
            return Err(Error::Config("attempt limits must be at least 1"));
        }
        if policy.enrolment_ttl.is_zero() || policy.challenge_ttl.is_zero() {
            return Err(Error::Config("lifetimes must be positive"));
        }
        if policy.recovery_codes.count == 0 || policy.recovery_codes.count > 100 {
            return Err(Error::Config("recovery code count must be 1-100"));
        }
        policy.delivery.check().map_err(Error::Config)?;
        policy.limits.check().map_err(Error::Config)?;
        let mut adapters = HashMap::new();
        for adapter in self.adapters {
            for kind in adapter.kinds() {
                if adapters.insert(kind, adapter.clone()).is_some() {
                    return Err(Error::Config("two adapters claim the same factor kind"));
                }
            }
        }
        let opened = OpenedSecrets::new(policy.secret_cache);
        Ok(Mfa {
            inner: Arc::new(Inner {
                store,
                clock: self.clock.unwrap_or_else(|| Arc::new(SystemClock)),
                sealer,
                events: self.events.unwrap_or_else(|| Arc::new(TracingEventSink)),
                policy,
                adapters,
                dummy_hash: DummyHash::default(),
                derived: std::sync::RwLock::default(),
                opened,
                refusals: Refusals::default(),
            }),
        })
    }
}

/// A started enrolment: show the prompt, then call [`Mfa::finish_enrolment`] with the proof.
#[derive(Debug)]
#[non_exhaustive]
pub struct EnrolmentStart {
    /// The pending factor.
    pub factor: FactorSummary,
    /// What to show the user (a QR code, "code sent to ...", WebAuthn options).
    pub prompt: Prompt,
    /// When the pending enrolment expires.
    pub expires_at: Timestamp,
}

/// A started sign-in challenge.
#[derive(Debug)]
#[non_exhaustive]
pub struct Challenge {
    /// Pass this to [`Mfa::finish_challenge`] with the proof (keep it in the session).
    pub id: ChallengeId,
    /// The factor being challenged (the preferred one unless another was asked for).
    pub factor: FactorSummary,
    /// What to show the user.
    pub prompt: Prompt,
    /// When the challenge expires.
    pub expires_at: Timestamp,
    /// The user's other active factors, best first, for "try another way".
    pub alternatives: Vec<FactorSummary>,
    /// Unused recovery codes the user holds (offer them when non-zero).
    pub recovery_codes_remaining: usize,
}

/// A started usernameless sign-in: hand the prompt (WebAuthn request options) to the
/// browser, then call [`Mfa::finish_passwordless`] with its answer.
#[derive(Debug)]
#[non_exhaustive]
pub struct PasswordlessChallenge {
    /// Keep it (in a cookie or the page) for [`Mfa::finish_passwordless`].
    pub id: ChallengeId,
    /// What to hand to the browser.
    pub prompt: Prompt,
    /// When it expires.
    pub expires_at: Timestamp,
}

/// What a successful verification proved. Keep it in the session (it serialises) and
/// hand it to [`AccessPolicy::evaluate`](crate::access::AccessPolicy::evaluate) and
/// [`FreshAuth::with_mfa`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct Verified {
    /// Who.
    pub user: UserId,
    /// With which factor (`None` for a recovery code).
    pub factor: Option<FactorId>,
    /// The factor's kind (`None` for a recovery code).
    pub kind: Option<FactorKind>,
    /// What it proves.
    pub assurance: Assurance,
    /// When. Pass it to [`FreshAuth::with_mfa`] for sensitive changes.
    pub at: Timestamp,
    /// The one action this verification proves, if the challenge was bound to one
    /// ([`Mfa::start_step_up`]).
    pub action: Option<ActionDigest>,
}

impl Verified {
    /// A verification from its parts, for hosts that keep sessions in their own format.
    /// Build it only from what the service returned.
    pub fn new(
        user: UserId,
        factor: Option<FactorId>,
        kind: Option<FactorKind>,
        assurance: Assurance,
        at: Timestamp,
    ) -> Self {
        Self { user, factor, kind, assurance, at, action: None }
    }

    /// Marks the verification as proving `action`.
    #[must_use]
    pub fn with_action(mut self, action: Option<ActionDigest>) -> Self {
        self.action = action;
        self
    }
}

impl Mfa {
    /// Starts building a service.
    pub fn builder() -> MfaBuilder {
        MfaBuilder::default()
    }

    /// The current time on the service's clock. Hosts should stamp [`FreshAuth`] with it.
    pub fn now(&self) -> Timestamp {
        self.inner.clock.now()
    }

    /// The policy in force.
    pub fn policy(&self) -> &Policy {
        &self.inner.policy
    }

    /// The store (for housekeeping such as [`Store::purge_expired`]).
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    // ----- enrolment ---------------------------------------------------------------------

    /// Starts adding a factor. The factor is pending — never usable to sign in — until
    /// [`Mfa::finish_enrolment`] gets the proof the adapter asks for, and it expires after
    /// [`Policy::enrolment_ttl`].
    ///
    /// # Errors
    ///
    /// [`Error::ReauthRequired`] / [`Error::MfaRequired`] without fresh authentication (once
    /// the user has an active factor, recent MFA is needed too); [`Error::Unsupported`] for
    /// an unconfigured kind; [`Error::InvalidInput`] for a bad label or destination;
    /// [`Error::NotFound`] if `replaces` names no active factor of the same kind;
    /// [`Error::LimitReached`] if the user already holds
    /// [`StateLimits::pending_enrolments`](crate::StateLimits) unfinished enrolments;
    /// [`Error::Delivery`] if a code could not be sent.
    pub async fn start_enrolment(
        &self,
        user: &UserId,
        fresh: &FreshAuth,
        request: EnrolmentRequest,
    ) -> Result<EnrolmentStart> {
        let inner = &self.inner;
        let now = self.now();
        let adapter = self.adapter(&request.kind)?;
        let label = request.label.as_deref().map(validate_label).transpose()?;
        let factors = inner.store.list_factors(user).await?;
        self.check_fresh(fresh, now, &factors)?;
        if let Some(old) = request.replaces {
            factors.iter().find(|f| f.id == old && f.is_active() && f.kind == request.kind).ok_or(Error::NotFound)?;
        }
        let pending = self.pending_enrolments(&factors, now);
        if pending.len() >= inner.policy.limits.pending_enrolments {
            let retry_after =
                pending.first().and_then(|f| f.expires_at).map_or(Duration::ZERO, |e| e.duration_since(now));
            return Err(self.limit_reached(Some(user), StateLimit::PendingEnrolments, retry_after, now).await);
        }
        let label = match label {
            Some(label) => label,
            None => default_label(&adapter.default_label(&request.kind), &factors),
        };

        let id = FactorId::random()?;
        let cid = ChallengeId::random()?;
        let gate = Gate { mfa: self, user, factor: id, now };
        let ctx = FactorContext::new(user, &id, &request.kind, now, Some(&cid), &gate, &factors);
        let plan = match adapter.start_enrolment(&ctx, &request).await {
            Ok(plan) => plan,
            Err(e) => return Err(self.delivery_error(user, id, e, now).await),
        };
        let expires_at = now.saturating_add(inner.policy.enrolment_ttl);
        let mut record =
            FactorRecord::pending(id, user.clone(), request.kind.clone(), label, plan.assurance, now, expires_at);
        if let Some(secret) = &plan.secret {
            record.secret = Some(self.seal(user, &id, secret)?);
        }
        record.data = plan.data;
        record.masked_destination = plan.masked_destination;
        record.details = plan.details;
        record.replaces = request.replaces;
        if let Some(ceremony) = plan.ceremony {
            let ttl = ceremony.ttl.unwrap_or(inner.policy.enrolment_ttl).min(inner.policy.enrolment_ttl);
            let ceremony = CeremonyRecord::new(
                cid,
                Some(user.clone()),
                Some(id),
                request.kind.clone(),
                CeremonyPurpose::Enrolment,
                ceremony.payload,
                ceremony.max_attempts.unwrap_or(inner.policy.challenge_attempts).max(1),
                now,
                now.saturating_add(ttl),
            );
            inner.store.put_ceremony(&ceremony).await?;
            record.enrolment = Some(cid);
        }
        inner.store.insert_factor(&record).await?;
        // Racing starts may all have passed the check above: each looks again once its
        // enrolment is stored and removes every pending enrolment beyond the bound (the
        // newest), its own included. A record beyond the bound in any racer's view is
        // beyond it in the full picture too, so once the racers are done exactly the oldest
        // `pending_enrolments` remain.
        if !self.trim_pending_enrolments(user, &id, now).await? {
            let retry_after = self
                .pending_enrolments(&inner.store.list_factors(user).await?, now)
                .first()
                .and_then(|f| f.expires_at)
                .map_or(Duration::ZERO, |e| e.duration_since(now));
            return Err(self.limit_reached(Some(user), StateLimit::PendingEnrolments, retry_after, now).await);
        }
        self.emit(user, now, EventKind::EnrolmentStarted { factor: id, kind: request.kind }).await;
        Ok(EnrolmentStart { factor: record.summary(), prompt: plan.prompt, expires_at })
    }

    /// Removes the user's pending enrolments beyond the bound, newest first; `false` if
    /// `ours` is no longer there afterwards.
    async fn trim_pending_enrolments(&self, user: &UserId, ours: &FactorId, now: Timestamp) -> Result<bool> {
        let store = &self.inner.store;
        let factors = store.list_factors(user).await?;
        let pending = self.pending_enrolments(&factors, now);
        for extra in pending.iter().skip(self.inner.policy.limits.pending_enrolments) {
            if let Some(cid) = &extra.enrolment {
                store.take_ceremony(Some(user), cid, now).await?;
            }
            match store.delete_factor(user, &extra.id).await {
                Ok(_) | Err(StoreError::NotFound) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(store.get_factor(user, ours).await?.is_some())
    }

    /// The user's unexpired pending enrolments, oldest first.
    fn pending_enrolments<'f>(&self, factors: &'f [FactorRecord], now: Timestamp) -> Vec<&'f FactorRecord> {
        let mut pending: Vec<&FactorRecord> = factors.iter().filter(|f| !f.is_active() && !f.is_expired(now)).collect();
        pending.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        pending
    }

    /// Completes an enrolment with its proof (a current code, the code that was sent, an
    /// attestation). On success the factor is active; the user's first active factor
    /// becomes preferred; a factor it `replaces` is removed in the same step, with the
    /// remembered devices removing it would revoke.
    ///
    /// Finishing needs the same authorisation as starting, judged in the state at finish
    /// time (SECURITY.md S22): an enrolment started with only a password, before the user
    /// had a factor, cannot be finished by a password-only session once a factor is active.
    /// When the first factor becomes active, recovery codes found then (which could only
    /// have been minted without MFA) are discarded.
    ///
    /// Failures count toward the factor's throttle.
    ///
    /// # Errors
    ///
    /// [`Error::ReauthRequired`] / [`Error::MfaRequired`] without fresh authentication as
    /// [`Mfa::start_enrolment`] needs it now; [`Error::NotFound`] for an unknown factor (or
    /// another user's); [`Error::Expired`] if the enrolment expired, was already finished,
    /// or its ceremony is used up; [`Error::InvalidCode`] for a wrong proof;
    /// [`Error::Locked`] after too many failures; [`Error::InvalidInput`] for a malformed
    /// proof (nothing counted).
    pub async fn finish_enrolment(
        &self,
        user: &UserId,
        fresh: &FreshAuth,
        factor: &FactorId,
        proof: &Proof,
    ) -> Result<FactorSummary> {
        let inner = &self.inner;
        let now = self.now();
        let factors = inner.store.list_factors(user).await?;
        let record = factors.iter().find(|f| f.id == *factor).cloned().ok_or(Error::NotFound)?;
        if record.is_active() || record.is_expired(now) {
            return Err(Error::Expired);
        }
        self.check_fresh(fresh, now, &factors)?;
        let had_active = factors.iter().any(FactorRecord::is_active);
        let adapter = self.adapter(&record.kind)?;
        adapter.check_proof(&record.kind, ProofStep::Enrolment, proof)?;
        let scope = ThrottleScope::Factor(record.id);
        let throttle = self.throttle_for(&record);
        let attempt = self.throttle_begin(user, &scope, now, &throttle).await?;
        let ceremony = match &record.enrolment {
            Some(cid) => Some(inner.store.attempt_ceremony(Some(user), cid, now).await?.ok_or(Error::Expired)?),
            None => None,
        };
        let secret = self.open(&record)?;
        let gate = Gate { mfa: self, user, factor: record.id, now };
        let ctx = FactorContext::new(user, &record.id, &record.kind, now, ceremony.as_ref().map(|c| &c.id), &gate, &[]);
        let input = VerifyInput { factor: &record, secret: secret.as_ref(), ceremony: ceremony.as_ref(), proof };
        let outcome = match adapter.finish_enrolment(&ctx, input).await {
            Ok(outcome) => outcome,
            Err(Error::InvalidCode) => {
                self.count_failure(user, Some(record.id), attempt, FailureReason::InvalidCode, now, &throttle).await;
                return Err(Error::InvalidCode);
            }
            Err(e) => return Err(e),
        };
        if let Some(cid) = &record.enrolment {
            inner.store.take_ceremony(Some(user), cid, now).await?.ok_or(Error::Expired)?;
        }
        let has_update = outcome.data.is_some()
            || outcome.details.is_some()
            || outcome.lookup_key.is_some()
            || outcome.replay_marker.is_some();
        if has_update {
            // A lookup key another factor holds (a credential registered twice) is refused.
            // The enrolment code's step is used up before activation, so it can never sign
            // in, whatever interrupts us afterwards.
            let update = FactorUpdate {
                data: outcome.data,
                details: outcome.details,
                lookup_key: outcome.lookup_key,
                replay_marker: outcome.replay_marker,
                last_used_at: outcome.replay_marker.map(|_| now),
                ..FactorUpdate::default()
            };
            inner.store.update_factor(user, &record.id, &update).await?;
        }
        let replaced = match record.replaces {
            Some(old) => inner.store.get_factor(user, &old).await?,
            None => None,
        };
        // A replaced factor is removed: its remembered devices go as they would with
        // `remove_factor`, and before it, so an interruption never leaves them behind.
        if replaced.as_ref().is_some_and(FactorRecord::is_active) && inner.policy.devices.revoke_on_factor_removal {
            self.revoke_all_devices(user).await?;
        }
        // The commit point: everything before it leaves the previous state in place, and
        // nothing after it can fail the enrolment.
        let active = inner.store.activate_factor(user, &record.id, now).await.map_err(|e| match e {
            StoreError::NotFound => Error::Expired,
            e => e.into(),
        })?;
        self.throttle_reset_after_commit(user, &scope, attempt).await;
        if !had_active {
            self.discard_recovery_codes(user, Discard::Always, now).await;
        }
        self.emit(user, now, EventKind::FactorAdded { factor: active.id, kind: active.kind.clone() }).await;
        if let Some(old) = replaced {
            self.emit(user, now, EventKind::FactorRemoved { factor: old.id, kind: old.kind }).await;
        }
        // A replacement inherits the preferred flag silently; a first factor announces it.
        if active.preferred && record.replaces.is_none() {
            self.emit(user, now, EventKind::PreferredChanged { factor: Some(active.id) }).await;
        }
        Ok(active.summary())
    }

    /// Sends a new code for a pending enrolment (a new phone number or address): the old
    /// code stops working, the failure count is kept, and delivery limits apply.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] for an unknown factor; [`Error::Expired`] if the enrolment is
    /// finished or expired; [`Error::RateLimited`] if a code was sent too recently or too
    /// often (the old code then still works); [`Error::Unsupported`] for kinds that send
    /// nothing.
    pub async fn resend_enrolment(&self, user: &UserId, factor: &FactorId) -> Result<EnrolmentStart> {
        let inner = &self.inner;
        let now = self.now();
        let record = inner.store.get_factor(user, factor).await?.ok_or(Error::NotFound)?;
        if record.is_active() || record.is_expired(now) {
            return Err(Error::Expired);
        }
        let old = record.enrolment.ok_or(Error::Unsupported)?;
        let adapter = self.adapter(&record.kind)?;
        let secret = self.open(&record)?;
        let cid = ChallengeId::random()?;
        let gate = Gate { mfa: self, user, factor: record.id, now };
        let ctx = FactorContext::new(user, &record.id, &record.kind, now, Some(&cid), &gate, &[]);
        let plan = match adapter.start_challenge(&ctx, &record, secret.as_ref()).await {
            Ok(plan) => plan,
            Err(e) => return Err(self.delivery_error(user, record.id, e, now).await),
        };
        let ceremony = plan.ceremony.ok_or(Error::Unsupported)?;
        let expires_at = record.expires_at.unwrap_or(now);
        let ttl_end = now.saturating_add(ceremony.ttl.unwrap_or(inner.policy.enrolment_ttl)).min(expires_at);
        let new = CeremonyRecord::new(
            cid,
            Some(user.clone()),
            Some(record.id),
            record.kind.clone(),
            CeremonyPurpose::Enrolment,
            ceremony.payload,
            ceremony.max_attempts.unwrap_or(inner.policy.challenge_attempts).max(1),
            now,
            ttl_end,
        );
        inner.store.put_ceremony(&new).await?;
        let update = FactorUpdate { enrolment: Some(cid), ..FactorUpdate::default() };
        let record = inner.store.update_factor(user, &record.id, &update).await?;
        inner.store.take_ceremony(Some(user), &old, now).await?;
        Ok(EnrolmentStart { factor: record.summary(), prompt: plan.prompt, expires_at })
    }

    // ----- managing factors --------------------------------------------------------------

    /// The user's factors: active ones and pending enrolments that have not expired,
    /// oldest first.
    ///
    /// # Errors
    ///
    /// [`Error::Backend`] if the store fails.
    pub async fn list_factors(&self, user: &UserId) -> Result<Vec<FactorSummary>> {
        let now = self.now();
        let mut factors: Vec<FactorRecord> =
            self.inner.store.list_factors(user).await?.into_iter().filter(|f| !f.is_expired(now)).collect();
        factors.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        Ok(factors.iter().map(FactorRecord::summary).collect())
    }

    /// One of the user's factors.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] if the user has no such (unexpired) factor.
    pub async fn get_factor(&self, user: &UserId, factor: &FactorId) -> Result<FactorSummary> {
        let record = self.inner.store.get_factor(user, factor).await?.ok_or(Error::NotFound)?;
        if record.is_expired(self.now()) {
            return Err(Error::NotFound);
        }
        Ok(record.summary())
    }

    /// Renames a factor. Labels are trimmed, 1–64 characters, without control characters.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a bad label; [`Error::NotFound`] for an unknown factor.
    pub async fn rename_factor(&self, user: &UserId, factor: &FactorId, label: &str) -> Result<FactorSummary> {
        let label = validate_label(label)?;
        let now = self.now();
        let update = FactorUpdate { label: Some(label), ..FactorUpdate::default() };
        let record = self.inner.store.update_factor(user, factor, &update).await?;
        self.emit(user, now, EventKind::FactorRenamed { factor: *factor }).await;
        Ok(record.summary())
    }

    /// Makes an active factor the preferred one (the one challenges use by default).
    ///
    /// # Errors
    ///
    /// [`Error::ReauthRequired`] / [`Error::MfaRequired`] without fresh authentication;
    /// [`Error::NotFound`] for an unknown or pending factor.
    pub async fn set_preferred(&self, user: &UserId, fresh: &FreshAuth, factor: &FactorId) -> Result<()> {
        let now = self.now();
        let factors = self.inner.store.list_factors(user).await?;
        self.check_fresh(fresh, now, &factors)?;
        self.inner.store.set_preferred(user, factor).await?;
        self.emit(user, now, EventKind::PreferredChanged { factor: Some(*factor) }).await;
        Ok(())
    }

    /// Removes a factor (or cancels a pending enrolment). If it was preferred, the next
    /// factor is promoted: strongest assurance first, then most recently used. Removing the
    /// last active factor turns MFA off for the user and discards their recovery codes
    /// (they exist only alongside a factor, SECURITY.md S22).
    ///
    /// # Errors
    ///
    /// [`Error::ReauthRequired`] / [`Error::MfaRequired`] without fresh authentication;
    /// [`Error::NotFound`] for an unknown factor.
    pub async fn remove_factor(&self, user: &UserId, fresh: &FreshAuth, factor: &FactorId) -> Result<()> {
        let now = self.now();
        let factors = self.inner.store.list_factors(user).await?;
        self.check_fresh(fresh, now, &factors)?;
        let target = factors.iter().find(|f| f.id == *factor).ok_or(Error::NotFound)?;
        // Devices go before the factor, so an interruption never leaves a removed factor's
        // remembered devices behind.
        if target.is_active() && self.inner.policy.devices.revoke_on_factor_removal {
            self.revoke_all_devices(user).await?;
        }
        let removed = self.inner.store.delete_factor(user, factor).await?;
        if removed.is_active() {
            self.emit(user, now, EventKind::FactorRemoved { factor: removed.id, kind: removed.kind.clone() }).await;
            self.discard_recovery_codes(user, Discard::IfNoActiveFactor, now).await;
        }
        if removed.preferred {
            self.promote_preferred(user, now).await?;
        }
        Ok(())
    }

    /// Deletes the user's recovery codes, if any, with an event: they no longer count.
    /// Called after a commit, so a store failure is logged, not returned (the codes then
    /// stay, and still do not count: [`Mfa::verify_recovery_code`] needs an active factor).
    async fn discard_recovery_codes(&self, user: &UserId, when: Discard, now: Timestamp) {
        let store = &self.inner.store;
        let discarded = async {
            if let Discard::IfNoActiveFactor = when
                && store.list_factors(user).await?.iter().any(FactorRecord::is_active)
            {
                return Ok(0);
            }
            let count = store.count_recovery_codes(user).await?;
            if count > 0 {
                store.replace_recovery_codes(user, &[]).await?;
            }
            Ok::<_, StoreError>(count)
        };
        match discarded.await {
            Ok(0) => {}
            Ok(count) => self.emit(user, now, EventKind::RecoveryCodesDiscarded { count }).await,
            Err(e) => tracing::warn!(error = %e, "could not discard recovery codes that no longer count"),
        }
    }

    /// Makes the best remaining active factor preferred if none is.
    async fn promote_preferred(&self, user: &UserId, now: Timestamp) -> Result<()> {
        for _ in 0..8 {
            let factors = self.inner.store.list_factors(user).await?;
            if factors.iter().any(|f| f.is_active() && f.preferred) {
                return Ok(());
            }
            let Some(best) = factors.iter().filter(|f| f.is_active()).max_by_key(|f| rank(f)) else {
                self.emit(user, now, EventKind::PreferredChanged { factor: None }).await;
                return Ok(());
            };
            match self.inner.store.set_preferred(user, &best.id).await {
                Ok(()) => {
                    self.emit(user, now, EventKind::PreferredChanged { factor: Some(best.id) }).await;
                    return Ok(());
                }
                // Removed concurrently: look again.
                Err(StoreError::NotFound) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    // ----- sign-in -----------------------------------------------------------------------

    /// Starts a challenge with `factor`, or with the preferred factor when `None`. Sends a
    /// code where the factor does that. The result lists the alternatives the user may
    /// switch to and whether recovery codes remain.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] if the user has no such active factor (pending ones never
    /// count); [`Error::Locked`] while the factor is throttled ([`Error::Disabled`] after a
    /// hard stop); [`Error::LimitReached`] past
    /// [`StateLimits::challenges`](crate::StateLimits); [`Error::Delivery`] if a code could
    /// not be sent.
    pub async fn start_challenge(&self, user: &UserId, factor: Option<&FactorId>) -> Result<Challenge> {
        self.start_challenge_for(user, factor, None).await
    }

    /// Starts a step-up challenge bound to one action: the [`Verified`] it yields carries
    /// `action`, so [`StepUp::for_action`](crate::access::StepUp::for_action) accepts it
    /// for that action and nothing else. Otherwise as [`Mfa::start_challenge`].
    ///
    /// # Errors
    ///
    /// As [`Mfa::start_challenge`].
    pub async fn start_step_up(
        &self,
        user: &UserId,
        factor: Option<&FactorId>,
        action: &ActionDigest,
    ) -> Result<Challenge> {
        self.start_challenge_for(user, factor, Some(action.as_str().to_owned())).await
    }

    async fn start_challenge_for(
        &self,
        user: &UserId,
        factor: Option<&FactorId>,
        action: Option<String>,
    ) -> Result<Challenge> {
        let inner = &self.inner;
        let now = self.now();
        let factors = inner.store.list_factors(user).await?;
        let mut active: Vec<&FactorRecord> = factors.iter().filter(|f| f.is_active()).collect();
        active.sort_by(|a, b| b.preferred.cmp(&a.preferred).then_with(|| rank(b).cmp(&rank(a))));
        let chosen = match factor {
            Some(id) => active.iter().find(|f| f.id == *id),
            None => active.first(),
        }
        .copied()
        .ok_or(Error::NotFound)?;
        let alternatives = active.iter().filter(|f| f.id != chosen.id).map(|f| f.summary()).collect();
        self.challenge_factor(user, &factors, chosen, alternatives, now, action).await
    }

    /// Sends a new code for a challenge (SMS, email): the old code stops working, the
    /// failure count is kept, and delivery limits apply. Returns the new challenge.
    ///
    /// # Errors
    ///
    /// [`Error::Expired`] if the challenge is unknown, another user's, expired or used;
    /// [`Error::RateLimited`] if a code was sent too recently or too often (the old code
    /// then still works); [`Error::Unsupported`] for a factor that sends nothing.
    pub async fn resend_challenge(&self, user: &UserId, challenge: &ChallengeId) -> Result<Challenge> {
        let inner = &self.inner;
        let now = self.now();
        let old = inner.store.get_ceremony(Some(user), challenge, now).await?.ok_or(Error::Expired)?;
        if old.purpose != CeremonyPurpose::Challenge {
            return Err(Error::Expired);
        }
        let factor = old.factor.ok_or(Error::Expired)?;
        let factors = inner.store.list_factors(user).await?;
        let mut active: Vec<&FactorRecord> = factors.iter().filter(|f| f.is_active()).collect();
        active.sort_by(|a, b| b.preferred.cmp(&a.preferred).then_with(|| rank(b).cmp(&rank(a))));
        let chosen = active.iter().find(|f| f.id == factor).copied().ok_or(Error::NotFound)?;
        if !self.adapter(&chosen.kind)?.needs_challenge(&chosen.kind) {
            return Err(Error::Unsupported);
        }
        let alternatives = active.iter().filter(|f| f.id != chosen.id).map(|f| f.summary()).collect();
        let new = self.challenge_factor(user, &factors, chosen, alternatives, now, old.action.clone()).await?;
        inner.store.take_ceremony(Some(user), challenge, now).await?;
        Ok(new)
    }

    /// Challenges one active factor: throttle check, adapter, ceremony.
    async fn challenge_factor(
        &self,
        user: &UserId,
        factors: &[FactorRecord],
        chosen: &FactorRecord,
        alternatives: Vec<FactorSummary>,
        now: Timestamp,
        action: Option<String>,
    ) -> Result<Challenge> {
        let inner = &self.inner;
        let adapter = self.adapter(&chosen.kind)?;
        let scope = ThrottleScope::Factor(chosen.id);
        let state = inner.store.get_throttle(user, &scope).await?;
        self.throttle_check(user, &scope, &self.throttle_for(chosen), &state, now).await?;
        let challenges = hashed_key("open:challenges", "challenges-per-user", user.as_str());
        if let Err(retry_after) = self.count_in_window(&challenges, inner.policy.limits.challenges, now).await? {
            return Err(self.limit_reached(Some(user), StateLimit::Challenges, retry_after, now).await);
        }
        let secret = self.open(chosen)?;
        let id = ChallengeId::random()?;
        let gate = Gate { mfa: self, user, factor: chosen.id, now };
        let ctx = FactorContext::new(user, &chosen.id, &chosen.kind, now, Some(&id), &gate, factors);
        let plan = match adapter.start_challenge(&ctx, chosen, secret.as_ref()).await {
            Ok(plan) => plan,
            Err(e) => return Err(self.delivery_error(user, chosen.id, e, now).await),
        };
        let (payload, ttl, attempts) = match plan.ceremony {
            Some(c) => (c.payload, c.ttl, c.max_attempts),
            None => (Vec::new(), None, None),
        };
        let ttl = ttl.unwrap_or(inner.policy.challenge_ttl);
        let expires_at = now.saturating_add(ttl);
        let ceremony = CeremonyRecord::new(
            id,
            Some(user.clone()),
            Some(chosen.id),
            chosen.kind.clone(),
            CeremonyPurpose::Challenge,
            payload,
            attempts.unwrap_or(inner.policy.challenge_attempts).max(1),
            now,
            expires_at,
        )
        .with_action(action);
        inner.store.put_ceremony(&ceremony).await?;
        let recovery_codes_remaining = inner.store.count_recovery_codes(user).await?;
        Ok(Challenge {
            id,
            factor: chosen.summary(),
            prompt: plan.prompt,
            expires_at,
            alternatives,
            recovery_codes_remaining,
        })
    }

    /// Completes a challenge with the user's proof. Each challenge is single-use and allows
    /// [`Policy::challenge_attempts`] tries; failures also count toward the factor's
    /// throttle, across every challenge and service instance.
    ///
    /// # Errors
    ///
    /// [`Error::Expired`] if the challenge is unknown, another user's, expired or used up;
    /// [`Error::InvalidCode`] for a wrong proof; [`Error::Replayed`] for a reused code;
    /// [`Error::Locked`] after too many failures; [`Error::InvalidInput`] for a malformed
    /// proof (nothing counted).
    pub async fn finish_challenge(&self, user: &UserId, challenge: &ChallengeId, proof: &Proof) -> Result<Verified> {
        let inner = &self.inner;
        let now = self.now();
        // Malformed input is refused before anything is counted.
        let peek = inner.store.get_ceremony(Some(user), challenge, now).await?.ok_or(Error::Expired)?;
        if peek.purpose != CeremonyPurpose::Challenge {
            return Err(Error::Expired);
        }
        self.adapter(&peek.kind)?.check_proof(&peek.kind, ProofStep::SignIn, proof)?;
        let ceremony = inner.store.attempt_ceremony(Some(user), challenge, now).await?.ok_or(Error::Expired)?;
        if ceremony.purpose != CeremonyPurpose::Challenge {
            return Err(Error::Expired);
        }
        let factor = ceremony.factor.ok_or(Error::Expired)?;
        let mut record =
            inner.store.get_factor(user, &factor).await?.filter(FactorRecord::is_active).ok_or(Error::NotFound)?;
        // The user may answer with another of their credentials of the same adapter (any of
        // their security keys): verify against the one the proof names.
        let adapter = self.adapter(&record.kind)?;
        if let Some(key) = adapter.identify(&record.kind, proof)?
            && record.lookup_key.as_deref() != Some(key.as_str())
            && let Some(other) = inner.store.find_factor_by_lookup_key(&key).await?
            && other.user == *user
            && other.is_active()
            && self.adapter(&other.kind).is_ok_and(|a| Arc::ptr_eq(a, adapter))
        {
            record = other;
        }
        self.verify_record(user, &record, Some(&ceremony), proof, now, None, Counting::Throttled).await
    }

    /// Starts a usernameless sign-in: the browser offers the user's passkeys for this site
    /// and the one chosen names the account. Nothing about any user is needed or revealed.
    ///
    /// The endpoint that calls this is reachable before sign-in: rate-limit it by client
    /// address like any other unauthenticated endpoint. Each call stores a ceremony until
    /// it is used or expires; across the deployment at most
    /// [`StateLimits::passwordless`](crate::StateLimits) are started per window, so
    /// unauthenticated callers can make the store hold at most twice that many unexpired
    /// ceremonies (and [`Store::purge_expired`] removes the expired ones).
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] if no adapter for `kind` supports usernameless sign-in;
    /// [`Error::LimitReached`] past the deployment-wide bound.
    pub async fn start_passwordless(&self, kind: &FactorKind) -> Result<PasswordlessChallenge> {
        let inner = &self.inner;
        let now = self.now();
        let adapter = self.adapter(kind)?;
        if let Err(retry_after) = self.count_in_window(PASSWORDLESS_KEY, inner.policy.limits.passwordless, now).await? {
            return Err(self.limit_reached(None, StateLimit::Passwordless, retry_after, now).await);
        }
        let id = ChallengeId::random()?;
        let plan = adapter.start_usernameless(&UsernamelessContext::new(kind, now, &id)).await?;
        let (payload, ttl, attempts) = match plan.ceremony {
            Some(c) => (c.payload, c.ttl, c.max_attempts),
            None => (Vec::new(), None, None),
        };
        let expires_at = now.saturating_add(ttl.unwrap_or(inner.policy.challenge_ttl));
        let ceremony = CeremonyRecord::new(
            id,
            None,
            None,
            kind.clone(),
            CeremonyPurpose::Challenge,
            payload,
            attempts.unwrap_or(inner.policy.challenge_attempts).max(1),
            now,
            expires_at,
        );
        inner.store.put_ceremony(&ceremony).await?;
        Ok(PasswordlessChallenge { id, prompt: plan.prompt, expires_at })
    }

    /// Completes a usernameless sign-in. The proof names its credential; only a credential
    /// of the kind the ceremony was started for (a passkey, never an older device) that
    /// verifies the user signs in. The result names the user.
    ///
    /// Nobody is authenticated here: the credential id a caller sends is not secret (it is
    /// in every `allowCredentials` list), and a bad signature proves nothing about its
    /// owner. So a failure costs the caller its ceremony and is reported to audit
    /// ([`EventKind::PasswordlessFailed`]), but never counts against, locks or disables
    /// the user's factor (SECURITY.md S23). A factor disabled by a hard stop stays
    /// disabled here too.
    ///
    /// # Errors
    ///
    /// [`Error::Expired`] for an unknown, expired or used ceremony; [`Error::InvalidCode`]
    /// for an unknown credential, one that may not sign in without a password, or a proof
    /// that does not verify; [`Error::Disabled`] for a factor disabled by a hard stop.
    pub async fn finish_passwordless(&self, challenge: &ChallengeId, proof: &Proof) -> Result<Verified> {
        let inner = &self.inner;
        let now = self.now();
        // Malformed input is refused before anything is counted.
        let peek = inner.store.get_ceremony(None, challenge, now).await?.ok_or(Error::Expired)?;
        let adapter = self.adapter(&peek.kind)?;
        adapter.check_proof(&peek.kind, ProofStep::SignIn, proof)?;
        let key = adapter
            .identify(&peek.kind, proof)?
            .ok_or(Error::InvalidInput { field: "credential", reason: "names no credential" })?;
        let ceremony = inner.store.attempt_ceremony(None, challenge, now).await?.ok_or(Error::Expired)?;
        if ceremony.purpose != CeremonyPurpose::Challenge || ceremony.factor.is_some() {
            return Err(Error::Expired);
        }
        let record = inner.store.find_factor_by_lookup_key(&key).await?.ok_or(Error::InvalidCode)?;
        if !record.is_active() || record.kind != ceremony.kind {
            self.passwordless_failed(&record, now).await;
            return Err(Error::InvalidCode);
        }
        let user = record.user.clone();
        let required = Some(Assurance::PhishingResistantMultiFactor);
        self.verify_record(&user, &record, Some(&ceremony), proof, now, required, Counting::Unauthenticated).await
    }

    /// Reports a failed usernameless sign-in against `record`'s owner, aggregated.
    async fn passwordless_failed(&self, record: &FactorRecord, now: Timestamp) {
        let key = RefusalKey::Passwordless { user: record.user.clone(), factor: record.id };
        self.report_refusals(self.inner.refusals.refuse(key, now), now).await;
    }

    /// Verifies a proof for a factor that needs no challenge state (an authenticator app):
    /// the direct path for "check this code for this user".
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] if the factor's kind needs a challenge (use
    /// [`Mfa::start_challenge`]); otherwise as [`Mfa::finish_challenge`], with
    /// [`Error::NotFound`] for an unknown or pending factor.
    pub async fn verify(&self, user: &UserId, factor: &FactorId, proof: &Proof) -> Result<Verified> {
        let now = self.now();
        let record =
            self.inner.store.get_factor(user, factor).await?.filter(FactorRecord::is_active).ok_or(Error::NotFound)?;
        if self.adapter(&record.kind)?.needs_challenge(&record.kind) {
            return Err(Error::Unsupported);
        }
        self.verify_record(user, &record, None, proof, now, None, Counting::Throttled).await
    }

    #[allow(clippy::too_many_arguments)]
    async fn verify_record(
        &self,
        user: &UserId,
        record: &FactorRecord,
        ceremony: Option<&CeremonyRecord>,
        proof: &Proof,
        now: Timestamp,
        required: Option<Assurance>,
        counting: Counting,
    ) -> Result<Verified> {
        let inner = &self.inner;
        let adapter = self.adapter(&record.kind)?;
        adapter.check_proof(&record.kind, ProofStep::SignIn, proof)?;
        let scope = ThrottleScope::Factor(record.id);
        let throttle = self.throttle_for(record);
        let attempt = match counting {
            Counting::Throttled => Some(self.throttle_begin(user, &scope, now, &throttle).await?),
            Counting::Unauthenticated => {
                // Read only: a hard stop holds, but nothing is counted or waited for.
                let state = inner.store.get_throttle(user, &scope).await?;
                if throttle.exhausted(&state) {
                    self.refused(user, scope, true, now).await;
                    return Err(Error::Disabled);
                }
                None
            }
        };
        let failed = |error: Error| async move {
            match attempt {
                Some(attempt) => {
                    self.count_failure(user, Some(record.id), attempt, FailureReason::InvalidCode, now, &throttle)
                        .await;
                }
                None => self.passwordless_failed(record, now).await,
            }
            Err(error)
        };
        let secret = self.open_to_verify(adapter.as_ref(), record)?;
        let gate = Gate { mfa: self, user, factor: record.id, now };
        let ctx = FactorContext::new(user, &record.id, &record.kind, now, ceremony.map(|c| &c.id), &gate, &[]);
        let input = VerifyInput { factor: record, secret: secret.as_deref(), ceremony, proof };
        let outcome = match adapter.verify(&ctx, input).await {
            Ok(outcome) => outcome,
            Err(Error::InvalidCode) => return failed(Error::InvalidCode).await,
            Err(Error::PossibleClone) => {
                self.emit(user, now, EventKind::CloneWarning { factor: record.id }).await;
                return failed(Error::PossibleClone).await;
            }
            Err(e) => return Err(e),
        };
        let assurance = outcome.assurance.unwrap_or(record.assurance);
        if required.is_some_and(|min| assurance < min) {
            return failed(Error::InvalidCode).await;
        }
        if let Some(c) = ceremony {
            // Single use: of concurrent correct proofs, only the one that takes it wins.
            inner.store.take_ceremony(c.user.as_ref(), &c.id, now).await?.ok_or(Error::Expired)?;
        }
        if let Some(marker) = outcome.replay_marker
            && !inner.store.advance_replay_marker(user, &record.id, marker, now).await?
        {
            self.emit(user, now, EventKind::ReplayRejected { factor: record.id }).await;
            if let Some(attempt) = attempt {
                self.count_failure(user, Some(record.id), attempt, FailureReason::Replayed, now, &throttle).await;
            }
            return Err(Error::Replayed);
        }
        let mut update = FactorUpdate {
            last_used_at: outcome.replay_marker.is_none().then_some(now),
            data: outcome.data,
            details: outcome.details,
            ..FactorUpdate::default()
        };
        if let (Some(sealed), Some(secret)) = (&record.secret, &secret)
            && sealed.key_id != inner.sealer.current_key()
        {
            update.secret = Some(self.seal(user, &record.id, secret)?);
        }
        if update != FactorUpdate::default() {
            inner.store.update_factor(user, &record.id, &update).await?;
        }
        if let Some(attempt) = attempt {
            self.throttle_reset(user, &scope, attempt).await?;
        }
        self.emit(user, now, EventKind::VerificationSucceeded { factor: Some(record.id), assurance }).await;
        let action = ceremony.and_then(|c| c.action.clone()).map(ActionDigest::from_stored);
        Ok(Verified::new(user.clone(), Some(record.id), Some(record.kind.clone()), assurance, now).with_action(action))
    }

    // ----- recovery codes ----------------------------------------------------------------

    /// Generates the user's first set of recovery codes. Show them once; only hashes are
    /// kept. Recovery codes exist only alongside an active factor: generate them once the
    /// first factor is active (its enrolment proved it: a host may stamp
    /// [`FreshAuth::with_mfa`] with the time [`Mfa::finish_enrolment`] succeeded).
    ///
    /// # Errors
    ///
    /// [`Error::AlreadyExists`] if unused codes remain (use
    /// [`Mfa::regenerate_recovery_codes`]); [`Error::ReauthRequired`] /
    /// [`Error::MfaRequired`] without fresh authentication; [`Error::FactorRequired`] if the
    /// user has no active factor.
    pub async fn generate_recovery_codes(&self, user: &UserId, fresh: &FreshAuth) -> Result<RecoveryCodeSet> {
        if self.inner.store.count_recovery_codes(user).await? > 0 {
            return Err(Error::AlreadyExists);
        }
        self.regenerate_recovery_codes(user, fresh).await
    }

    /// Replaces the user's recovery codes with a new set, all at once: every old code stops
    /// working.
    ///
    /// # Errors
    ///
    /// [`Error::ReauthRequired`] / [`Error::MfaRequired`] without fresh authentication;
    /// [`Error::FactorRequired`] if the user has no active factor. A password alone can
    /// never mint codes that count: without a factor there are none, and with one, recent
    /// MFA is needed. (Codes stored while the last factor is removed concurrently never
    /// count either: [`Mfa::verify_recovery_code`] needs an active factor, and the next
    /// first factor discards them.)
    pub async fn regenerate_recovery_codes(&self, user: &UserId, fresh: &FreshAuth) -> Result<RecoveryCodeSet> {
        let inner = &self.inner;
        let now = self.now();
        let factors = inner.store.list_factors(user).await?;
        self.check_fresh(fresh, now, &factors)?;
        if !factors.iter().any(FactorRecord::is_active) {
            return Err(Error::FactorRequired);
        }
        let settings = inner.policy.recovery_codes;
        let codes = recovery::generate_codes(settings.count)?;
        let hashed = recovery::blocking(move || -> Result<(Vec<RecoveryCodeRecord>, RecoveryCodeSet)> {
            let mut records = Vec::with_capacity(codes.len());
            let mut shown = Vec::with_capacity(codes.len());
            for (lookup, code) in &codes {
                let parsed = recovery::parse_code(code.expose())?;
                let hash = recovery::hash_secret(&settings.hash_params, &parsed.secret)?;
                records.push(RecoveryCodeRecord::new(lookup.clone(), hash, now));
                shown.push(recovery::format_code(code));
            }
            Ok((records, RecoveryCodeSet::from_codes(shown)))
        })
        .await??;
        let (records, set) = hashed;
        // Remembered devices go first: if we are interrupted after that, the old codes
        // still work (and the devices are gone, the cautious side). Replacing the codes is
        // the one step that commits, and nothing after it can fail.
        if inner.policy.devices.revoke_on_recovery_regeneration {
            self.revoke_all_devices(user).await?;
        }
        inner.store.replace_recovery_codes(user, &records).await?;
        self.emit(user, now, EventKind::RecoveryCodesGenerated { count: records.len() }).await;
        Ok(set)
    }

    /// Signs in with a recovery code, using it up. Costs one argon2 verification whatever
    /// the number of codes held (and the same for an unknown code). Failures are throttled.
    /// Codes count only while the user has an active factor: without one, every code is
    /// refused like a wrong one.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for malformed input (nothing counted);
    /// [`Error::InvalidCode`] for a wrong or already used code; [`Error::Locked`] after
    /// too many failures.
    pub async fn verify_recovery_code(&self, user: &UserId, code: &str) -> Result<Verified> {
        let inner = &self.inner;
        let now = self.now();
        let parsed = recovery::parse_code(code)?;
        let scope = ThrottleScope::RecoveryCodes;
        let throttle = inner.policy.throttle;
        let attempt = self.throttle_begin(user, &scope, now, &throttle).await?;
        let stored = inner.store.get_recovery_code(user, &parsed.lookup).await?;
        let has_factor = stored.is_some() && inner.store.list_factors(user).await?.iter().any(FactorRecord::is_active);
        let settings = inner.policy.recovery_codes;
        let (hash, known) = match &stored {
            Some(record) => (Arc::new(record.hash.clone()), has_factor),
            None => (inner.dummy_hash.get(&settings.hash_params)?, false),
        };
        let secret = parsed.secret.clone();
        let hash_for_check = hash.clone();
        let matches =
            recovery::blocking(move || recovery::verify_secret(&settings.hash_floor, &hash_for_check, &secret))
                .await??;
        let consumed = known && matches && inner.store.consume_recovery_code(user, &parsed.lookup, &hash).await?;
        if !consumed {
            self.count_failure(user, None, attempt, FailureReason::InvalidCode, now, &throttle).await;
            return Err(Error::InvalidCode);
        }
        self.throttle_reset(user, &scope, attempt).await?;
        let remaining = inner.store.count_recovery_codes(user).await?;
        let assurance = Assurance::RecoveryCode;
        self.emit(user, now, EventKind::VerificationSucceeded { factor: None, assurance }).await;
        self.emit(user, now, EventKind::RecoveryCodeUsed { remaining }).await;
        if remaining <= settings.low_watermark {
            self.emit(user, now, EventKind::RecoveryCodesLow { remaining }).await;
        }
        Ok(Verified::new(user.clone(), None, None, assurance, now))
    }

    /// How many unused recovery codes the user holds.
    ///
    /// # Errors
    ///
    /// [`Error::Backend`] if the store fails.
    pub async fn recovery_codes_remaining(&self, user: &UserId) -> Result<usize> {
        Ok(self.inner.store.count_recovery_codes(user).await?)
    }

    // ----- remembered devices ------------------------------------------------------------

    /// "Remember this device" after a successful MFA: returns a token for the host to keep
    /// in a long-lived, HttpOnly, Secure cookie. Presenting it later
    /// ([`Mfa::check_device`]) satisfies an [`AccessPolicy`](crate::access::AccessPolicy)
    /// that trusts remembered devices, never a step-up. Only a hash of its secret is
    /// stored; it expires after [`DevicePolicy::lifetime`](crate::policy::DevicePolicy).
    ///
    /// # Errors
    ///
    /// [`Error::MfaRequired`] unless `verified` is no older than the re-authentication
    /// window; [`Error::InvalidInput`] for a bad label.
    pub async fn remember_device(&self, verified: &Verified, label: &str) -> Result<DeviceToken> {
        let now = self.now();
        if !is_fresh(verified.at, now, self.inner.policy.reauth_window) {
            return Err(Error::MfaRequired);
        }
        let label = validate_label(label)?;
        let id = DeviceId::random()?;
        let secret = SecretBytes::random(32)?;
        let token = SecretString::new(format!(
            "{DEVICE_TOKEN_PREFIX}{id}.{}",
            data_encoding::BASE64URL_NOPAD.encode(secret.expose())
        ));
        let expires_at = now.saturating_add(self.inner.policy.devices.lifetime);
        let user = verified.user.clone();
        let record =
            DeviceTokenRecord::new(id, user.clone(), label, device_hash(&id, secret.expose()), now, expires_at);
        self.inner.store.insert_device_token(&record).await?;
        self.emit(&user, now, EventKind::DeviceRemembered { device: id }).await;
        self.forget_oldest_devices(&user, now).await?;
        Ok(DeviceToken { device: remembered(record), token })
    }

    /// Checks a remembered-device token for `user` (the host knows the user after the
    /// password). Attempts are throttled like any verification.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a malformed token (nothing counted);
    /// [`Error::InvalidCode`] for an unknown, revoked or another user's token;
    /// [`Error::Expired`] for an expired one; [`Error::Locked`] after too many failures.
    pub async fn check_device(&self, user: &UserId, token: &str) -> Result<RememberedDevice> {
        let inner = &self.inner;
        let now = self.now();
        let (id, secret) = parse_device_token(token)?;
        let scope = ThrottleScope::DeviceTokens;
        let throttle = inner.policy.throttle;
        let attempt = self.throttle_begin(user, &scope, now, &throttle).await?;
        let record = inner.store.get_device_token(user, &id).await?;
        let matches = record
            .as_ref()
            .is_some_and(|r| crate::secret::constant_time_eq(&r.secret_hash, &device_hash(&id, secret.expose())));
        let Some(record) = record.filter(|_| matches) else {
            self.count_failure(user, None, attempt, FailureReason::InvalidCode, now, &throttle).await;
            return Err(Error::InvalidCode);
        };
        self.throttle_reset(user, &scope, attempt).await?;
        if record.expires_at <= now {
            return Err(Error::Expired);
        }
        inner.store.touch_device_token(user, &id, now).await?;
        self.emit(user, now, EventKind::DeviceUsed { device: id }).await;
        let mut device = remembered(record);
        device.last_seen_at = Some(now);
        Ok(device)
    }

    /// Keeps the user's unexpired devices within [`StateLimits::devices`](crate::StateLimits)
    /// by forgetting the oldest (and every expired one). Racing calls each trim what they
    /// see, so the bound holds once they are done.
    async fn forget_oldest_devices(&self, user: &UserId, now: Timestamp) -> Result<()> {
        let store = &self.inner.store;
        let mut devices = store.list_device_tokens(user).await?;
        devices.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
        let max = self.inner.policy.limits.devices;
        let mut kept = 0;
        for device in devices {
            if device.expires_at > now && kept < max {
                kept += 1;
                continue;
            }
            if store.revoke_device_token(user, &device.id).await? {
                self.emit(user, now, EventKind::DeviceRevoked { device: device.id }).await;
            }
        }
        Ok(())
    }

    /// The user's remembered devices that have not expired, oldest first.
    ///
    /// # Errors
    ///
    /// [`Error::Backend`] if the store fails.
    pub async fn list_devices(&self, user: &UserId) -> Result<Vec<RememberedDevice>> {
        let now = self.now();
        let mut devices: Vec<RememberedDevice> = self
            .inner
            .store
            .list_device_tokens(user)
            .await?
            .into_iter()
            .filter(|d| now < d.expires_at)
            .map(remembered)
            .collect();
        devices.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        Ok(devices)
    }

    /// Forgets one remembered device.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] if the user has no such device.
    pub async fn revoke_device(&self, user: &UserId, device: &DeviceId) -> Result<()> {
        if !self.inner.store.revoke_device_token(user, device).await? {
            return Err(Error::NotFound);
        }
        self.emit(user, self.now(), EventKind::DeviceRevoked { device: *device }).await;
        Ok(())
    }

    /// Forgets every remembered device of the user at once; returns how many there were.
    ///
    /// # Errors
    ///
    /// [`Error::Backend`] if the store fails.
    pub async fn revoke_all_devices(&self, user: &UserId) -> Result<u64> {
        let count = self.inner.store.revoke_all_device_tokens(user).await?;
        if count > 0 {
            self.emit(user, self.now(), EventKind::DevicesRevoked { count }).await;
        }
        Ok(count)
    }

    // ----- internals ---------------------------------------------------------------------

    fn adapter(&self, kind: &FactorKind) -> Result<&Arc<dyn FactorAdapter>> {
        self.inner.adapters.get(kind).ok_or(Error::Unsupported)
    }

    /// S17: a recent primary authentication, and recent MFA once the user has an active
    /// factor.
    fn check_fresh(&self, fresh: &FreshAuth, now: Timestamp, factors: &[FactorRecord]) -> Result<()> {
        let window = self.inner.policy.reauth_window;
        if !is_fresh(fresh.primary_at(), now, window) {
            return Err(Error::ReauthRequired);
        }
        if factors.iter().any(FactorRecord::is_active) && !fresh.mfa_at().is_some_and(|at| is_fresh(at, now, window)) {
            return Err(Error::MfaRequired);
        }
        Ok(())
    }

    fn seal(&self, user: &UserId, factor: &FactorId, secret: &SecretBytes) -> Result<SealedSecret> {
        let ctx = SealContext { user, factor, purpose: FACTOR_SECRET };
        Ok(self.inner.sealer.seal(&ctx, secret.expose())?)
    }

    fn open(&self, record: &FactorRecord) -> Result<Option<SecretBytes>> {
        let Some(sealed) = &record.secret else { return Ok(None) };
        let ctx = SealContext { user: &record.user, factor: &record.id, purpose: FACTOR_SECRET };
        Ok(Some(self.inner.sealer.open(&ctx, sealed)?))
    }

    /// The secret a sign-in proof is verified against. Factors that verify without a
    /// challenge (authenticator apps) go through the cache of opened secrets when the policy
    /// keeps one, so their sealed secret is decrypted once, not at every verification;
    /// everything else is opened as it comes.
    fn open_to_verify(&self, adapter: &dyn FactorAdapter, record: &FactorRecord) -> Result<Option<Arc<SecretBytes>>> {
        let Some(sealed) = &record.secret else { return Ok(None) };
        let ctx = SealContext { user: &record.user, factor: &record.id, purpose: FACTOR_SECRET };
        let sealer = self.inner.sealer.as_ref();
        Ok(Some(match &self.inner.opened {
            Some(cache) if !adapter.needs_challenge(&record.kind) => cache.open(sealer, &ctx, sealed)?,
            _ => Arc::new(sealer.open(&ctx, sealed)?),
        }))
    }

    /// The throttle for a factor: derived from the guess budget when one is configured and
    /// the adapter reports the factor's guess probability, else the policy's.
    fn throttle_for(&self, record: &FactorRecord) -> ThrottlePolicy {
        let inner = &self.inner;
        let (Some(budget), Some(p)) =
            (inner.policy.guess_budget, self.adapter(&record.kind).ok().and_then(|a| a.guess_probability(record)))
        else {
            return inner.policy.throttle;
        };
        let key = p.to_bits();
        if let Some(t) = inner.derived.read().unwrap_or_else(std::sync::PoisonError::into_inner).get(&key) {
            return *t;
        }
        // The hard stop, if any, is the policy's whatever the budget derives.
        let derived = ThrottlePolicy { max_failures: inner.policy.throttle.max_failures, ..budget.throttle_for(p) };
        inner.derived.write().unwrap_or_else(std::sync::PoisonError::into_inner).insert(key, derived);
        derived
    }

    /// Counts an attempt before evaluating it, so parallel guesses cannot exceed the limit.
    ///
    /// The first compare-and-set assumes the usual state, no failures (a counter with none
    /// never makes an attempt wait), which saves reading the counter first; if the counter
    /// holds anything else the set fails and the loop reads it as before.
    async fn throttle_begin(
        &self,
        user: &UserId,
        scope: &ThrottleScope,
        now: Timestamp,
        throttle: &ThrottlePolicy,
    ) -> Result<ThrottleState> {
        let store = &self.inner.store;
        let clear = ThrottleState::default();
        if throttle.wait(&clear, now).is_none() {
            let next = ThrottleState::new(1, Some(now));
            if store.compare_and_set_throttle(user, scope, &clear, &next).await? {
                self.settle_refusals(user, *scope, now).await;
                return Ok(next);
            }
        }
        for _ in 0..MAX_CAS_RETRIES {
            let current = store.get_throttle(user, scope).await?;
            self.throttle_check(user, scope, throttle, &current, now).await?;
            let next = ThrottleState::new(current.failures.saturating_add(1), Some(now));
            if store.compare_and_set_throttle(user, scope, &current, &next).await? {
                self.settle_refusals(user, *scope, now).await;
                return Ok(next);
            }
        }
        Err(Error::Backend("throttle counter contention".into()))
    }

    /// Refuses (and reports, aggregated) an attempt the counter's state does not allow.
    async fn throttle_check(
        &self,
        user: &UserId,
        scope: &ThrottleScope,
        throttle: &ThrottlePolicy,
        state: &ThrottleState,
        now: Timestamp,
    ) -> Result<()> {
        if throttle.exhausted(state) {
            self.refused(user, *scope, true, now).await;
            return Err(Error::Disabled);
        }
        if let Some(retry_after) = throttle.wait(state, now) {
            self.refused(user, *scope, false, now).await;
            return Err(Error::Locked { retry_after });
        }
        Ok(())
    }

    /// Counts an attempt refused by a throttle for audit; reports it when a report is due.
    async fn refused(&self, user: &UserId, scope: ThrottleScope, disabled: bool, now: Timestamp) {
        let key = RefusalKey::Throttle { user: user.clone(), scope, disabled };
        self.report_refusals(self.inner.refusals.refuse(key, now), now).await;
    }

    /// Attempts are evaluated again on `scope`: reports the refusals of the lock just
    /// over that were not reported yet.
    async fn settle_refusals(&self, user: &UserId, scope: ThrottleScope, now: Timestamp) {
        let key = || RefusalKey::Throttle { user: user.clone(), scope, disabled: false };
        if let Some(count) = self.inner.refusals.settle(key) {
            let reason = FailureReason::Locked;
            self.emit(user, now, EventKind::AttemptsRefused { scope, reason, count }).await;
        }
    }

    /// Reports a refusal by a bound on stored state (aggregated) and returns its error.
    async fn limit_reached(
        &self,
        user: Option<&UserId>,
        limit: StateLimit,
        retry_after: Duration,
        now: Timestamp,
    ) -> Error {
        let key = RefusalKey::Limit { user: user.cloned(), limit };
        self.report_refusals(self.inner.refusals.refuse(key, now), now).await;
        Error::LimitReached { limit, retry_after }
    }

    /// Counts one unit under `key` against `cap`; `Ok(Err(wait))` if the cap refuses.
    async fn count_in_window(&self, key: &str, cap: WindowCap, now: Timestamp) -> Result<Result<(), Duration>> {
        let store = &self.inner.store;
        let mut current = store.get_counter(key, now).await?;
        for _ in 0..MAX_CAS_RETRIES {
            let next = match cap.count(&current, now, 1) {
                Ok(next) => next,
                Err(wait) => return Ok(Err(wait)),
            };
            if store.compare_and_set_counter(key, &current, &next, now).await? {
                return Ok(Ok(()));
            }
            current = store.get_counter(key, now).await?;
        }
        Err(Error::Backend("counter contention".into()))
    }

    /// Reports every refusal counted for audit but not reported yet (SECURITY.md S25).
    ///
    /// Refused attempts are reported aggregated ([`EventKind::AttemptsRefused`],
    /// [`EventKind::PasswordlessFailed`], [`EventKind::LimitReached`]): at once for the
    /// first, then in reports that each carry a count. Call this before the service is
    /// dropped (at shutdown) so the last counts reach the [`EventSink`] too.
    pub async fn flush_audit(&self) {
        self.report_refusals(self.inner.refusals.drain(), self.now()).await;
    }

    /// Emits one aggregated report per key.
    async fn report_refusals(&self, reports: Vec<(RefusalKey, u64)>, now: Timestamp) {
        for (key, count) in reports {
            let (user, kind) = match key {
                RefusalKey::Throttle { user, scope, disabled } => {
                    let reason = if disabled { FailureReason::Disabled } else { FailureReason::Locked };
                    (Some(user), EventKind::AttemptsRefused { scope, reason, count })
                }
                RefusalKey::Passwordless { user, factor } => {
                    (Some(user), EventKind::PasswordlessFailed { factor, count })
                }
                RefusalKey::Limit { user, limit } => (user, EventKind::LimitReached { limit, count }),
            };
            self.emit_to(user, now, kind).await;
        }
    }

    /// A success clears the counter.
    async fn throttle_reset(&self, user: &UserId, scope: &ThrottleScope, mut expected: ThrottleState) -> Result<()> {
        let store = &self.inner.store;
        let cleared = ThrottleState::default();
        for _ in 0..MAX_CAS_RETRIES {
            if expected == cleared || store.compare_and_set_throttle(user, scope, &expected, &cleared).await? {
                return Ok(());
            }
            expected = store.get_throttle(user, scope).await?;
        }
        Err(Error::Backend("throttle counter contention".into()))
    }

    /// [`Mfa::throttle_reset`] once an operation has committed: the operation has happened,
    /// so a store failure here must not report it as failed. The counter then keeps this
    /// attempt, which only errs on the side of caution.
    async fn throttle_reset_after_commit(&self, user: &UserId, scope: &ThrottleScope, expected: ThrottleState) {
        if let Err(e) = self.throttle_reset(user, scope, expected).await {
            tracing::warn!(error = %e, "could not reset a throttle counter after a committed operation");
        }
    }

    /// The attempt failed: it stays counted; emit the failure and, once attempts are
    /// delayed, the lockout.
    async fn count_failure(
        &self,
        user: &UserId,
        factor: Option<FactorId>,
        attempt: ThrottleState,
        reason: FailureReason,
        now: Timestamp,
        throttle: &ThrottlePolicy,
    ) {
        self.emit(user, now, EventKind::VerificationFailed { factor, reason }).await;
        if let Some(retry_after) = throttle.delay_after(attempt.failures) {
            self.emit(user, now, EventKind::LockedOut { factor, retry_after }).await;
        }
    }

    /// Records delivery failures as events; passes the error through. (Refusals by the
    /// delivery limits are recorded by the `Gate` that refuses them.)
    async fn delivery_error(&self, user: &UserId, factor: FactorId, e: Error, now: Timestamp) -> Error {
        if let Error::Delivery(_) = &e {
            self.emit(user, now, EventKind::DeliveryFailed { factor }).await;
        }
        e
    }

    async fn emit(&self, user: &UserId, at: Timestamp, kind: EventKind) {
        self.emit_to(Some(user.clone()), at, kind).await;
    }

    async fn emit_to(&self, user: Option<UserId>, at: Timestamp, kind: EventKind) {
        self.inner.events.record(&Event { at, user, kind }).await;
    }
}

/// The service's answer to an adapter asking to send: every limit of the
/// [`DeliveryPolicy`], counted in the store.
struct Gate<'a> {
    mfa: &'a Mfa,
    user: &'a UserId,
    factor: FactorId,
    now: Timestamp,
}

/// One counter a send is counted under, and the limit on it.
struct Limit {
    cap: DeliveryCap,
    key: String,
    rule: Rule,
}

enum Rule {
    /// The cooldown and cap per window of [`DeliveryPolicy`] (per factor, per destination).
    CooldownAndWindow,
    /// `amount` units under a fixed-window cap.
    Cap(WindowCap, u32),
}

impl Limit {
    fn next(&self, policy: &DeliveryPolicy, state: &CounterState, now: Timestamp) -> Result<CounterState, Duration> {
        match &self.rule {
            Rule::CooldownAndWindow => policy.count(state, now),
            Rule::Cap(cap, amount) => cap.count(state, now, *amount),
        }
    }
}

impl Gate<'_> {
    /// The counters a send on `channel` to `destination` is counted under, in the order
    /// they are counted.
    fn limits(&self, channel: DeliveryChannel, destination: &str) -> Vec<Limit> {
        let policy = &self.mfa.inner.policy.delivery;
        let mut limits = vec![
            Limit {
                cap: DeliveryCap::Factor,
                key: format!("send:factor:{}", self.factor),
                rule: Rule::CooldownAndWindow,
            },
            Limit {
                cap: DeliveryCap::Destination,
                key: hashed_key("send:dest", "destination", &canonical_destination(channel, destination)),
                rule: Rule::CooldownAndWindow,
            },
        ];
        if let Some(cap) = policy.per_user {
            let key = hashed_key("send:user", "send-user", self.user.as_str());
            limits.push(Limit { cap: DeliveryCap::User, key, rule: Rule::Cap(cap, 1) });
        }
        if let (Some(prefix), DeliveryChannel::Sms) = (&policy.prefix, channel) {
            let key = hashed_key("send:prefix", "number-prefix", &prefix.prefix_of(destination));
            limits.push(Limit { cap: DeliveryCap::Prefix, key, rule: Rule::Cap(prefix.cap(), 1) });
        }
        if let Some(budget) = &policy.cost_budget {
            let cost = budget.cost_of(channel, destination);
            // A free message cannot exceed the budget: it need not touch the shared counter.
            if cost > 0 {
                let key = "send:cost".to_owned();
                limits.push(Limit { cap: DeliveryCap::CostBudget, key, rule: Rule::Cap(budget.cap(), cost) });
            }
        }
        limits
    }

    /// Checks every limit, then counts every one; `Ok(Err(..))` is a refusal.
    async fn check_and_count(
        &self,
        channel: DeliveryChannel,
        destination: &str,
    ) -> Result<Result<(), (DeliveryCap, Duration)>> {
        let store = &self.mfa.inner.store;
        let policy = &self.mfa.inner.policy.delivery;
        let now = self.now;
        let limits = self.limits(channel, destination);
        // Check every limit before counting any, so a refusal counts nothing. When several
        // refuse, report the one that lasts longest: nothing can be sent before it ends.
        let mut read = Vec::with_capacity(limits.len());
        let mut refusal: Option<(DeliveryCap, Duration)> = None;
        for limit in &limits {
            let current = store.get_counter(&limit.key, now).await?;
            if let Err(wait) = limit.next(policy, &current, now)
                && refusal.is_none_or(|(_, longest)| wait > longest)
            {
                refusal = Some((limit.cap, wait));
            }
            read.push(current);
        }
        if let Some(refusal) = refusal {
            return Ok(Err(refusal));
        }
        // Count each with a compare-and-set that checks its limit again, starting from the
        // state just read, so no limit is exceeded however many sends race.
        for (limit, mut current) in limits.iter().zip(read) {
            let mut counted = false;
            for _ in 0..MAX_CAS_RETRIES {
                let next = match limit.next(policy, &current, now) {
                    Ok(next) => next,
                    Err(wait) => return Ok(Err((limit.cap, wait))),
                };
                if store.compare_and_set_counter(&limit.key, &current, &next, now).await? {
                    counted = true;
                    break;
                }
                current = store.get_counter(&limit.key, now).await?;
            }
            if !counted {
                return Err(Error::Backend("delivery counter contention".into()));
            }
        }
        Ok(Ok(()))
    }
}

#[async_trait]
impl DeliveryGate for Gate<'_> {
    async fn permit(&self, channel: DeliveryChannel, destination: &str) -> Result<()> {
        let Err((limit, retry_after)) = self.check_and_count(channel, destination).await? else {
            return Ok(());
        };
        let factor = self.factor;
        self.mfa.emit(self.user, self.now, EventKind::DeliveryLimited { factor, limit, retry_after }).await;
        Err(match limit {
            DeliveryCap::Factor | DeliveryCap::Destination => Error::RateLimited { retry_after },
            cap => Error::DeliveryCapped { cap, retry_after },
        })
    }
}

/// A counter key that holds a hash of `value` (a destination, a number's range, a user id),
/// so counters hold no phone numbers or addresses: `{prefix}:{32 hex digits}`.
///
/// The hash is not keyed: it keeps values out of keys and logs, but a short value (a number
/// range above all) can be found again by trying every candidate.
fn hashed_key(prefix: &str, domain: &str, value: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::new()
        .chain_update(b"mfa-rs/")
        .chain_update(domain.as_bytes())
        .chain_update(b"/v1\0")
        .chain_update(value.as_bytes())
        .finalize();
    format!("{prefix}:{}", data_encoding::HEXLOWER.encode(&digest[..16]))
}

/// A newly remembered device and its token, shown to the host once.
#[derive(Debug)]
#[non_exhaustive]
pub struct DeviceToken {
    /// The device.
    pub device: RememberedDevice,
    /// The token to keep in the browser (secret).
    pub token: SecretString,
}

const DEVICE_TOKEN_PREFIX: &str = "mfa-device.";

fn device_hash(id: &DeviceId, secret: &[u8]) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    Sha256::new()
        .chain_update(b"mfa-rs/device-token/v1\0")
        .chain_update(id.as_bytes())
        .chain_update(secret)
        .finalize()
        .to_vec()
}

/// `mfa-device.<32 hex>.<43 base64url>` into its id and secret.
fn parse_device_token(token: &str) -> Result<(DeviceId, SecretBytes)> {
    let bad = || Error::InvalidInput { field: "device token", reason: "malformed" };
    let rest = token.trim().strip_prefix(DEVICE_TOKEN_PREFIX).ok_or_else(bad)?;
    let (id, secret) = rest.split_once('.').ok_or_else(bad)?;
    let id = DeviceId::parse(id).map_err(|_| bad())?;
    if secret.len() != 43 {
        return Err(bad());
    }
    let secret = data_encoding::BASE64URL_NOPAD.decode(secret.as_bytes()).map_err(|_| bad())?;
    Ok((id, SecretBytes::new(secret)))
}

fn remembered(r: DeviceTokenRecord) -> RememberedDevice {
    RememberedDevice {
        id: r.id,
        user: r.user,
        label: r.label,
        created_at: r.created_at,
        last_seen_at: r.last_seen_at,
        expires_at: r.expires_at,
    }
}

/// Promotion order: strongest assurance, then most recently used, then newest, then id.
fn rank(f: &FactorRecord) -> (Assurance, Option<Timestamp>, Timestamp, FactorId) {
    (f.assurance, f.last_used_at, f.created_at, f.id)
}

/// `base`, or `base 2`, `base 3`, ... — the first no active factor of the user has (an
/// abandoned enrolment does not take a name).
fn default_label(base: &str, factors: &[FactorRecord]) -> String {
    let taken = |label: &str| factors.iter().any(|f| f.is_active() && f.label == label);
    if !taken(base) {
        return base.to_owned();
    }
    (2..).map(|n| format!("{base} {n}")).find(|l| !taken(l)).unwrap_or_else(|| base.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mfa_is_cheap_to_clone_and_thread_safe() {
        fn assert_send_sync_clone<T: Send + Sync + Clone + 'static>() {}
        assert_send_sync_clone::<Mfa>();
    }
}
