//! The [`Mfa`] service: every user-facing flow, built once and shared.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::access::{ActionDigest, RememberedDevice, Verified};

use crate::adapter::{
    CeremonyPlan, DeliveryChannel, DeliveryGate, EnrolmentRequest, FactorAdapter, FactorContext, PasswordlessContext,
    Prompt, Proof, ProofStep, VerifyInput,
};
use crate::clock::{Clock, SystemClock};
use crate::context::{Actor, RequestContext};
use crate::destination::canonical_destination;
use crate::error::{Error, Result};
use crate::events::{Event, EventKind, EventSink, FailureReason, TracingEventSink};
use crate::limits::StateLimit;
use crate::recovery::{self, DummyHash, RecoveryCodeSet};
use crate::refusals::{RefusalKey, Refusals};
use crate::seal::{OpenedSecrets, SealContext, SealedSecret, SecretSealer};
use crate::secret::SecretBytes;
use crate::secret::SecretString;
use crate::settings::{DeliveryCap, DeliverySettings, FreshAuth, Settings, WindowCap, is_fresh};
use crate::store::{
    AcceptOutcome, Acceptance, CeremonyPurpose, CeremonyRecord, CounterState, DeviceTokenRecord, FactorAttempt,
    FactorEdit, FactorRecord, FactorUpdate, RecoveryCodeRecord, Store, StoreError, StoreExt, ThrottleScope,
    ThrottleState,
};
use crate::throttle::ThrottleSettings;
mod admin;
mod builder;
mod challenge;
mod devices;
mod enrolment;
mod factors;
mod gate;
mod helpdesk;
mod passwordless;
mod recovery_codes;
mod temporary_access;
mod throttling;

pub use admin::Admin;
pub use builder::MfaBuilder;
pub use devices::DeviceToken;
use gate::{Gate, hashed_key};
pub use helpdesk::{AdminCheck, Administrators, FactorState, MfaStatus, TemporaryAccessCode};

use crate::types::{
    Assurance, CeremonyId, DeviceId, FactorId, FactorKind, FactorSummary, Timestamp, UserId, validate_label,
};

/// The purpose string bound into every sealed factor secret.
const FACTOR_SECRET: &str = "factor-secret";
/// Compare-and-set retries before a throttle update gives up (only reachable under
/// pathological contention).
const MAX_CAS_RETRIES: usize = 10_000;
/// The counter of passwordless sign-ins started, across the deployment.
const PASSWORDLESS_KEY: &str = "open:passwordless";
/// The `method` of events about recovery codes.
pub(crate) const METHOD_RECOVERY_CODE: &str = "recovery_code";
/// The `method` of events about remembered-device tokens.
pub(crate) const METHOD_DEVICE_TOKEN: &str = "device_token";
/// The `method` of events about temporary access codes.
pub(crate) const METHOD_TEMPORARY_ACCESS: &str = "temporary_access";

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
    /// A caller who holds the user's first factor: failures count, locks apply. The
    /// attempt is still to be counted, from the counter state given if it was just read.
    Throttled(Option<ThrottleState>),
    /// As `Throttled`, with the attempt already counted by the store: the counter is now
    /// this state.
    Counted(ThrottleState),
    /// Nobody is authenticated (passwordless sign-in): nothing counts against the factor.
    Unauthenticated,
}

impl Counting {
    /// How a verification continues after [`FactorStore::begin_attempt`](crate::store::FactorStore::begin_attempt).
    fn begun(attempt: &FactorAttempt, now: Timestamp) -> Self {
        match attempt.counted {
            true => Counting::Counted(ThrottleState::new(1, Some(now))),
            false => Counting::Throttled(Some(attempt.throttle)),
        }
    }
}

/// The multi-factor authentication service: the one object a host holds.
///
/// Cheap to clone (an `Arc` inside), `Send + Sync`. Build it with [`Mfa::builder`]. Every
/// method is scoped to one user: another user's factor or challenge id is "not found".
/// See the [crate documentation](crate) for a walk-through.
#[derive(Clone, Debug)]
pub struct Mfa {
    inner: Arc<Inner>,
    context: Option<Arc<RequestContext>>,
}

#[derive(Debug)]
struct Inner {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    sealer: Arc<dyn SecretSealer>,
    events: Arc<dyn EventSink>,
    settings: Settings,
    adapters: Vec<(FactorKind, Arc<dyn FactorAdapter>)>,
    dummy_hash: DummyHash,
    /// Throttles derived from the guess budget, by guess probability.
    derived: std::sync::RwLock<HashMap<u64, ThrottleSettings>>,
    /// Secrets opened for verification ([`Settings::secret_cache`]); `None` when off.
    opened: Option<OpenedSecrets>,
    /// Refused attempts counted for audit but not yet reported.
    refusals: Refusals,
    admin_check: Option<Arc<dyn AdminCheck>>,
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
    pub id: CeremonyId,
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

/// A started passwordless sign-in: hand the prompt (WebAuthn request options) to the
/// browser, then call [`Mfa::finish_passwordless`] with its answer.
#[derive(Debug)]
#[non_exhaustive]
pub struct PasswordlessChallenge {
    /// Keep it (in a cookie or the page) for [`Mfa::finish_passwordless`].
    pub id: CeremonyId,
    /// What to hand to the browser.
    pub prompt: Prompt,
    /// When it expires.
    pub expires_at: Timestamp,
}

impl Mfa {
    /// Starts building a service.
    ///
    /// # Examples
    ///
    /// ```
    /// use mfa_core::{AeadSealer, Error, Mfa};
    /// use mfa_store_memory::MemoryStore;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let mfa = Mfa::builder()
    ///     .store(MemoryStore::new())
    ///     .sealer(AeadSealer::ephemeral()?) // load a real key in production: see `seal`
    ///     .factor(mfa_otp::TotpFactor::new("Example")?)
    ///     .build()?;
    /// assert_eq!(mfa.settings().challenge_attempts, 5);
    ///
    /// // A store and a sealer are required.
    /// assert!(matches!(Mfa::builder().store(MemoryStore::new()).build(), Err(Error::Config(_))));
    /// # Ok(())
    /// # }
    /// ```
    pub fn builder() -> MfaBuilder {
        MfaBuilder::default()
    }

    /// A handle on the same service whose calls carry `context`: its actor, address and
    /// user agent go on every event they record, its locale picks the texts they send.
    /// Cheap (one allocation); make one per request.
    ///
    /// # Examples
    ///
    /// ```
    /// use mfa_core::{context::RequestContext, AeadSealer, Mfa};
    /// use mfa_store_memory::MemoryStore;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let mfa = Mfa::builder().store(MemoryStore::new()).sealer(AeadSealer::ephemeral()?).build()?;
    /// let request = mfa.with_context(RequestContext::new().user_agent("curl/8").locale("de")?);
    /// assert_eq!(request.context().and_then(RequestContext::locale_tag), Some("de"));
    /// assert!(mfa.context().is_none(), "the original handle is unchanged");
    /// # Ok(())
    /// # }
    /// ```
    pub fn with_context(&self, context: RequestContext) -> Mfa {
        Mfa { inner: self.inner.clone(), context: Some(Arc::new(context)) }
    }

    /// The request context this handle carries, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// use mfa_core::{context::{Actor, RequestContext}, AeadSealer, Mfa};
    /// use mfa_store_memory::MemoryStore;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let mfa = Mfa::builder().store(MemoryStore::new()).sealer(AeadSealer::ephemeral()?).build()?;
    /// assert!(mfa.context().is_none());
    /// let system = mfa.with_context(RequestContext::system());
    /// assert_eq!(system.context().map(|c| &c.actor), Some(&Actor::System));
    /// # Ok(())
    /// # }
    /// ```
    pub fn context(&self) -> Option<&RequestContext> {
        self.context.as_deref()
    }

    /// The current time on the service's clock. Hosts should stamp [`FreshAuth`] with it.
    ///
    /// # Examples
    ///
    /// ```
    /// use mfa_core::{AeadSealer, FreshAuth, ManualClock, Mfa, Timestamp};
    /// use mfa_store_memory::MemoryStore;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let clock = ManualClock::new(Timestamp::from_unix_secs(1_700_000_000));
    /// let mfa = Mfa::builder().store(MemoryStore::new()).sealer(AeadSealer::ephemeral()?).clock(clock).build()?;
    /// assert_eq!(mfa.now().unix_secs(), 1_700_000_000);
    ///
    /// // The host just re-checked the user's password:
    /// let fresh = FreshAuth::primary(mfa.now());
    /// assert_eq!(fresh.primary_at(), mfa.now());
    /// # Ok(())
    /// # }
    /// ```
    pub fn now(&self) -> Timestamp {
        self.inner.clock.now()
    }

    /// True if the service has an adapter for `kind`: what a host asks before offering it
    /// (an "add a passkey" prompt, a menu entry).
    ///
    /// # Examples
    ///
    /// ```
    /// use mfa_core::{AeadSealer, FactorKind, Mfa};
    /// use mfa_otp::TotpFactor;
    /// use mfa_store_memory::MemoryStore;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let mfa = Mfa::builder()
    ///     .store(MemoryStore::new())
    ///     .sealer(AeadSealer::ephemeral()?)
    ///     .factor(TotpFactor::new("Example")?)
    ///     .build()?;
    /// assert!(mfa.supports(&FactorKind::TOTP));
    /// assert!(!mfa.supports(&FactorKind::PASSKEY));
    /// # Ok(())
    /// # }
    /// ```
    pub fn supports(&self, kind: &FactorKind) -> bool {
        self.adapter(kind).is_ok()
    }

    /// The settings in force.
    ///
    /// # Examples
    ///
    /// ```
    /// use mfa_core::{AeadSealer, Mfa, Settings};
    /// use mfa_store_memory::MemoryStore;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let mut settings = Settings::default();
    /// settings.challenge_attempts = 3;
    /// let mfa = Mfa::builder().store(MemoryStore::new()).sealer(AeadSealer::ephemeral()?).settings(settings).build()?;
    /// assert_eq!(mfa.settings().challenge_attempts, 3);
    /// # Ok(())
    /// # }
    /// ```
    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// The store (for housekeeping such as [`Store::purge_expired`]).
    ///
    /// # Examples
    ///
    /// ```
    /// # use mfa_core::{AeadSealer, Assurance, EnrolmentRequest, Error, FactorKind, FactorStatus, FreshAuth, ManualClock, Mfa, Prompt, Proof, Timestamp, UserId};
    /// # use mfa_store_memory::MemoryStore;
    /// # use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let clock = ManualClock::new(Timestamp::from_unix_secs(1_700_000_010));
    /// # let totp = mfa_otp::TotpFactor::new("Example")?;
    /// # let mfa = Mfa::builder().store(MemoryStore::new()).sealer(AeadSealer::ephemeral()?).clock(clock.clone()).factor(totp.clone()).build()?;
    /// # let alice = UserId::new("alice")?;
    /// // Alice starts adding an authenticator app, then walks away.
    /// let fresh = FreshAuth::primary(mfa.now());
    /// mfa.start_enrolment(&alice, &fresh, EnrolmentRequest::new(FactorKind::TOTP)).await?;
    ///
    /// // Housekeeping, from a periodic task: expired state is removed from the store.
    /// clock.advance(mfa.settings().enrolment_ttl + Duration::from_secs(1));
    /// let removed = mfa.store().purge_expired(mfa.now()).await?;
    /// assert!(removed >= 1);
    /// assert!(mfa.list_factors(&alice).await?.is_empty());
    /// # Ok(())
    /// # }
    /// ```
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// The ceremony an adapter's plan asks for (an empty one when it asks for none): the
    /// plan's lifetime or `ttl`, never past `until`; the plan's attempts or those in the settings.
    fn ceremony(
        &self,
        of: CeremonyFor<'_>,
        purpose: CeremonyPurpose,
        plan: Option<CeremonyPlan>,
        ttl: Duration,
        until: Option<Timestamp>,
        now: Timestamp,
    ) -> CeremonyRecord {
        let (payload, own_ttl, attempts) = match plan {
            Some(c) => (c.payload, c.ttl, c.max_attempts),
            None => (Vec::new(), None, None),
        };
        let end = now.saturating_add(own_ttl.unwrap_or(ttl));
        let expires_at = until.map_or(end, |until| end.min(until));
        let attempts = attempts.unwrap_or(self.inner.settings.challenge_attempts).max(1);
        CeremonyRecord::new(
            of.id,
            of.user.cloned(),
            of.factor,
            of.kind.clone(),
            purpose,
            payload,
            attempts,
            now,
            expires_at,
        )
    }

    fn adapter(&self, kind: &FactorKind) -> Result<&Arc<dyn FactorAdapter>> {
        self.inner.adapters.iter().find(|(k, _)| k == kind).map(|(_, a)| a).ok_or(Error::Unsupported)
    }

    /// The kinds whose adapter takes `proof` at sign-in without a challenge: the factors
    /// [`Mfa::verify`] may count an attempt on.
    fn kinds_verifying(&self, proof: &Proof) -> Vec<FactorKind> {
        let takes = |(kind, adapter): &&(FactorKind, Arc<dyn FactorAdapter>)| {
            !adapter.needs_challenge(kind) && adapter.check_proof(kind, ProofStep::SignIn, proof).is_ok()
        };
        self.inner.adapters.iter().filter(takes).map(|(kind, _)| kind.clone()).collect()
    }

    /// S17: a recent primary authentication, and recent MFA once the user has an active
    /// factor.
    fn check_fresh(&self, fresh: &FreshAuth, now: Timestamp, factors: &[FactorRecord]) -> Result<()> {
        let window = self.inner.settings.reauth_window;
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
    /// challenge (authenticator apps) go through the cache of opened secrets when the settings
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
        let actor = self.context.as_ref().map(|c| c.actor.clone()).unwrap_or_default();
        self.emit_as(user, at, kind, actor).await;
    }

    async fn emit_as(&self, user: Option<UserId>, at: Timestamp, kind: EventKind, actor: Actor) {
        let (ip, user_agent) = match &self.context {
            Some(c) => (c.ip, c.user_agent.clone()),
            None => (None, None),
        };
        self.inner.events.record(&Event { at, user, kind, actor, ip, user_agent }).await;
    }

    /// The locale of the attached [`RequestContext`], for texts sent out of band.
    fn locale(&self) -> Option<&str> {
        self.context.as_deref().and_then(RequestContext::locale_tag)
    }
}

/// The user's active factors, the preferred first, then in promotion order.
fn ranked_active(factors: &[FactorRecord]) -> Vec<&FactorRecord> {
    let mut active: Vec<&FactorRecord> = factors.iter().filter(|f| f.is_active()).collect();
    active.sort_by(|a, b| b.preferred.cmp(&a.preferred).then_with(|| rank(b).cmp(&rank(a))));
    active
}

/// Whom a ceremony belongs to.
struct CeremonyFor<'a> {
    id: CeremonyId,
    user: Option<&'a UserId>,
    factor: Option<FactorId>,
    kind: &'a FactorKind,
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
