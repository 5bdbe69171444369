//! Building the service.

use super::*;

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
