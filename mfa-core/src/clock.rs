//! Injectable time, so expiry, throttling and TOTP windows are tested without sleeping.

use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::types::Timestamp;

/// A source of the current time. Synchronous: reading a clock does no I/O.
///
/// # Examples
///
/// ```
/// use mfa_core::{AeadSealer, Clock, Mfa, Timestamp};
/// use mfa_store_memory::MemoryStore;
///
/// /// Time from elsewhere (here: a fixed instant, as a test harness might).
/// #[derive(Debug)]
/// struct Frozen(Timestamp);
///
/// impl Clock for Frozen {
///     fn now(&self) -> Timestamp {
///         self.0
///     }
/// }
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let at = Timestamp::from_unix_secs(1_700_000_000);
/// let mfa = Mfa::builder().store(MemoryStore::new()).sealer(AeadSealer::ephemeral()?).clock(Frozen(at)).build()?;
/// assert_eq!(mfa.now(), at);
/// # Ok(())
/// # }
/// ```
pub trait Clock: Debug + Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> Timestamp;
}

/// The operating system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        Timestamp::from_unix_millis(ms)
    }
}

/// A clock that only moves when told to. Clones share the same time.
///
/// ```
/// use std::time::Duration;
/// use mfa_core::{Clock, ManualClock, Timestamp};
///
/// let clock = ManualClock::new(Timestamp::from_unix_secs(1_000));
/// clock.advance(Duration::from_secs(30));
/// assert_eq!(clock.now().unix_secs(), 1_030);
/// ```
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    /// A clock stopped at `at`.
    pub fn new(at: Timestamp) -> Self {
        Self(Arc::new(AtomicI64::new(at.unix_millis())))
    }

    /// Moves the clock to `at` (backwards too).
    pub fn set(&self, at: Timestamp) {
        self.0.store(at.unix_millis(), Ordering::SeqCst);
    }

    /// Moves the clock forward by `d`.
    pub fn advance(&self, d: Duration) {
        let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_unix_millis(self.0.load(Ordering::SeqCst))
    }
}
