//! Building the service.

use super::*;

/// Builds an [`Mfa`] service.
///
/// A store and a sealer are required; the clock defaults to [`SystemClock`], events to
/// [`TracingEventSink`], the settings to [`Settings::default`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use mfa_core::{AeadSealer, seal::KeyId, Mfa, Settings, SystemClock, TracingEventSink};
/// use mfa_store_memory::MemoryStore;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let key_from_your_secret_store = [7u8; 32];
/// let mut settings = Settings::default();
/// settings.challenge_ttl = Duration::from_secs(3 * 60);
///
/// let mfa = Mfa::builder()
///     .store(MemoryStore::new())                                  // required
///     .sealer(AeadSealer::new(KeyId(1), key_from_your_secret_store)) // required
///     .clock(SystemClock)                                         // the default
///     .events(TracingEventSink)                                   // the default
///     .settings(settings)
///     .factor(mfa_otp::TotpFactor::new("Example Corp")?)
///     .build()?;
/// assert_eq!(mfa.settings().challenge_ttl, Duration::from_secs(180));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Default)]
#[must_use]
pub struct MfaBuilder {
    store: Option<Arc<dyn Store>>,
    clock: Option<Arc<dyn Clock>>,
    sealer: Option<Arc<dyn SecretSealer>>,
    events: Option<Arc<dyn EventSink>>,
    settings: Option<Settings>,
    adapters: Vec<Arc<dyn FactorAdapter>>,
    admin_check: Option<Arc<dyn AdminCheck>>,
}

impl MfaBuilder {
    /// The store (required).
    ///
    /// # Examples
    ///
    /// ```
    /// use mfa_core::{AeadSealer, Error, Mfa};
    /// use mfa_store_memory::MemoryStore;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let mfa = Mfa::builder().store(MemoryStore::new()).sealer(AeadSealer::ephemeral()?).build();
    /// assert!(mfa.is_ok());
    /// assert!(matches!(Mfa::builder().sealer(AeadSealer::ephemeral()?).build(), Err(Error::Config(_))));
    /// # Ok(())
    /// # }
    /// ```
    pub fn store(mut self, store: impl Store) -> Self {
        self.store = Some(Arc::new(store));
        self
    }

    /// A store already shared as `Arc<dyn Store>`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use mfa_core::{AeadSealer, Mfa, seal::SecretSealer, store::Store};
    /// use mfa_store_memory::MemoryStore;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// // One store, shared by two services (say, the web app and an admin tool).
    /// let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    /// let sealer: Arc<dyn SecretSealer> = Arc::new(AeadSealer::ephemeral()?);
    /// let web = Mfa::builder().shared_store(store.clone()).shared_sealer(sealer.clone()).build()?;
    /// let admin = Mfa::builder().shared_store(store.clone()).shared_sealer(sealer).build()?;
    /// assert!(Arc::ptr_eq(web.store(), admin.store()));
    /// # Ok(())
    /// # }
    /// ```
    pub fn shared_store(mut self, store: Arc<dyn Store>) -> Self {
        self.store = Some(store);
        self
    }

    /// The clock (default: [`SystemClock`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use mfa_core::{AeadSealer, ManualClock, Mfa, Timestamp};
    /// use mfa_store_memory::MemoryStore;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// // A clock tests can move, to check expiry and throttling without sleeping.
    /// let clock = ManualClock::new(Timestamp::from_unix_secs(1_700_000_000));
    /// let mfa = Mfa::builder().store(MemoryStore::new()).sealer(AeadSealer::ephemeral()?).clock(clock.clone()).build()?;
    /// clock.advance(Duration::from_secs(60));
    /// assert_eq!(mfa.now().unix_secs(), 1_700_000_060);
    /// # Ok(())
    /// # }
    /// ```
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// The secret sealer (required).
    ///
    /// # Examples
    ///
    /// ```
    /// use mfa_core::{AeadSealer, seal::KeyId, Mfa};
    /// use mfa_store_memory::MemoryStore;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let (current, previous) = ([7u8; 32], [9u8; 32]);
    /// // Load the keys from your secret store; keep rotated-out keys to open older secrets.
    /// let sealer = AeadSealer::new(KeyId(2), current).with_previous_key(KeyId(1), previous);
    /// let mfa = Mfa::builder().store(MemoryStore::new()).sealer(sealer).build();
    /// assert!(mfa.is_ok());
    /// # Ok(())
    /// # }
    /// ```
    pub fn sealer(mut self, sealer: impl SecretSealer) -> Self {
        self.sealer = Some(Arc::new(sealer));
        self
    }

    /// A sealer already shared as `Arc<dyn SecretSealer>`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use mfa_core::{AeadSealer, seal::KeyId, Mfa, seal::SecretSealer};
    /// use mfa_store_memory::MemoryStore;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let sealer: Arc<dyn SecretSealer> = Arc::new(AeadSealer::new(KeyId(1), [7u8; 32]));
    /// let mfa = Mfa::builder().store(MemoryStore::new()).shared_sealer(sealer.clone()).build();
    /// assert!(mfa.is_ok());
    /// assert_eq!(sealer.current_key(), KeyId(1));
    /// # Ok(())
    /// # }
    /// ```
    pub fn shared_sealer(mut self, sealer: Arc<dyn SecretSealer>) -> Self {
        self.sealer = Some(sealer);
        self
    }

    /// Where events go (default: [`TracingEventSink`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use mfa_core::{Event, EventSink};
    ///
    /// /// Collects events (an audit log would write them somewhere).
    /// #[derive(Debug, Clone, Default)]
    /// struct Audit(Arc<Mutex<Vec<Event>>>);
    ///
    /// #[async_trait::async_trait]
    /// impl EventSink for Audit {
    ///     async fn record(&self, event: &Event) {
    ///         self.0.lock().unwrap().push(event.clone());
    ///     }
    /// }
    /// # use mfa_core::{AeadSealer, EnrolmentRequest, EventKind, FactorKind, FreshAuth, Mfa, UserId};
    /// # use mfa_store_memory::MemoryStore;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let audit = Audit::default();
    /// let mfa = Mfa::builder()
    ///     .store(MemoryStore::new())
    ///     .sealer(AeadSealer::ephemeral()?)
    ///     .factor(mfa_otp::TotpFactor::new("Example")?)
    ///     .events(audit.clone())
    ///     .build()?;
    ///
    /// let alice = UserId::new("alice")?;
    /// let fresh = FreshAuth::primary(mfa.now());
    /// mfa.start_enrolment(&alice, &fresh, EnrolmentRequest::new(FactorKind::TOTP)).await?;
    /// let events = audit.0.lock().unwrap().clone();
    /// assert_eq!(events.len(), 1);
    /// assert!(matches!(events[0].kind, EventKind::EnrolmentStarted { .. }));
    /// # Ok(())
    /// # }
    /// ```
    pub fn events(mut self, sink: impl EventSink) -> Self {
        self.events = Some(Arc::new(sink));
        self
    }

    /// The host's check of administrators ([`Mfa::admin`]): without one, every
    /// administrative operation is refused.
    ///
    /// # Examples
    ///
    /// ```
    /// use mfa_core::admin::Administrators;
    /// use mfa_core::{AeadSealer, Mfa, UserId};
    /// use mfa_store_memory::MemoryStore;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let mfa = Mfa::builder()
    ///     .store(MemoryStore::new())
    ///     .sealer(AeadSealer::ephemeral()?)
    ///     .admin_check(Administrators::new([UserId::new("helpdesk")?]))
    ///     .build()?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn admin_check(mut self, check: impl AdminCheck) -> Self {
        self.admin_check = Some(Arc::new(check));
        self
    }

    /// The settings (default: [`Settings::default`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use mfa_core::{AeadSealer, Error, Mfa, Settings};
    /// use mfa_store_memory::MemoryStore;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let mut settings = Settings::default();
    /// settings.reauth_window = Duration::from_secs(10 * 60);
    /// let mfa = Mfa::builder().store(MemoryStore::new()).sealer(AeadSealer::ephemeral()?).settings(settings).build()?;
    /// assert_eq!(mfa.settings().reauth_window, Duration::from_secs(600));
    ///
    /// // An unusable settings is refused when the service is built.
    /// let mut zero = Settings::default();
    /// zero.challenge_attempts = 0;
    /// let built = Mfa::builder().store(MemoryStore::new()).sealer(AeadSealer::ephemeral()?).settings(zero).build();
    /// assert!(matches!(built, Err(Error::Config(_))));
    /// # Ok(())
    /// # }
    /// ```
    pub fn settings(mut self, settings: Settings) -> Self {
        self.settings = Some(settings);
        self
    }

    /// Adds a factor adapter for the kinds it declares.
    ///
    /// # Examples
    ///
    /// ```
    /// use mfa_core::{AeadSealer, Error, Mfa};
    /// use mfa_store_memory::MemoryStore;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let totp = mfa_otp::TotpFactor::new("Example")?;
    /// let mfa = Mfa::builder().store(MemoryStore::new()).sealer(AeadSealer::ephemeral()?).factor(totp.clone()).build();
    /// assert!(mfa.is_ok());
    ///
    /// // Each kind has one adapter.
    /// let twice = Mfa::builder().store(MemoryStore::new()).sealer(AeadSealer::ephemeral()?).factor(totp.clone()).factor(totp);
    /// assert!(matches!(twice.build(), Err(Error::Config(_))));
    /// # Ok(())
    /// # }
    /// ```
    pub fn factor(mut self, adapter: impl FactorAdapter) -> Self {
        self.adapters.push(Arc::new(adapter));
        self
    }

    /// Builds the service.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] without a store or sealer, when two adapters claim the same kind,
    /// or when the settings is unusable (zero attempts, zero lifetimes, fewer than one
    /// recovery code, a delivery cap with a zero window, a number prefix of no digits or a
    /// malformed cost prefix).
    ///
    /// # Examples
    ///
    /// ```
    /// use mfa_core::{AeadSealer, Error, Mfa};
    /// use mfa_store_memory::MemoryStore;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let mfa = Mfa::builder().store(MemoryStore::new()).sealer(AeadSealer::ephemeral()?).build()?;
    /// assert_eq!(mfa.settings().challenge_attempts, 5, "the default settings");
    ///
    /// assert!(matches!(Mfa::builder().store(MemoryStore::new()).build(), Err(Error::Config(_))));
    /// # Ok(())
    /// # }
    /// ```
    pub fn build(self) -> Result<Mfa> {
        let store = self.store.ok_or(Error::Config("a store is required"))?;
        let sealer = self.sealer.ok_or(Error::Config("a secret sealer is required"))?;
        let settings = self.settings.unwrap_or_default();
        if settings.challenge_attempts == 0
            || settings.throttle.free_attempts == 0
            || settings.throttle.max_failures == Some(0)
        {
            return Err(Error::Config("attempt limits must be at least 1"));
        }
        if settings.enrolment_ttl.is_zero() || settings.challenge_ttl.is_zero() {
            return Err(Error::Config("lifetimes must be positive"));
        }
        if settings.recovery_codes.count == 0 || settings.recovery_codes.count > 100 {
            return Err(Error::Config("recovery code count must be 1-100"));
        }
        settings.delivery.check().map_err(Error::Config)?;
        settings.limits.check().map_err(Error::Config)?;
        settings.temporary_access.check().map_err(Error::Config)?;
        // A handful of kinds: a vector searched in order is faster than hashing the kind.
        let mut adapters: Vec<(FactorKind, Arc<dyn FactorAdapter>)> = Vec::new();
        for adapter in self.adapters {
            for kind in adapter.kinds() {
                if adapters.iter().any(|(k, _)| *k == kind) {
                    return Err(Error::Config("two adapters claim the same factor kind"));
                }
                adapters.push((kind, adapter.clone()));
            }
        }
        let opened = OpenedSecrets::new(settings.secret_cache);
        Ok(Mfa {
            inner: Arc::new(Inner {
                store,
                clock: self.clock.unwrap_or_else(|| Arc::new(SystemClock)),
                sealer,
                events: self.events.unwrap_or_else(|| Arc::new(TracingEventSink)),
                settings,
                adapters,
                dummy_hash: DummyHash::default(),
                derived: std::sync::RwLock::default(),
                opened,
                refusals: Refusals::default(),
                admin_check: self.admin_check,
            }),
            context: None,
        })
    }
}
