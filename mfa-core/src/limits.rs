//! Bounds on the state callers can make the service store (SECURITY.md S23).
//!
//! Every kind of stored state has a bound: pending enrolments and remembered devices per
//! user, sign-in challenges per user per window, and the ceremonies of passwordless
//! sign-in (started by callers nobody has authenticated) per window across the whole
//! deployment. Recovery codes are bounded by
//! [`RecoveryCodeSettings::count`](crate::recovery::RecoveryCodeSettings::count), failure counters by the factors they count for, and
//! delivery counters by the destinations the delivery caps admit.

use std::time::Duration;

pub use crate::caps::StateLimit;
use crate::store::CounterState;
use crate::types::Timestamp;

/// The bounds of [`Settings::limits`](crate::Settings::limits).
///
/// ```
/// use std::time::Duration;
/// use mfa_core::{Settings, settings::WindowCap};
///
/// let mut settings = Settings::default();
/// settings.limits.pending_enrolments = 3;
/// settings.limits.passwordless = WindowCap::new(Duration::from_secs(300), 1_000);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct StateLimits {
    /// Unexpired pending enrolments one user may hold; the next start is refused with
    /// [`Error::LimitReached`](crate::Error::LimitReached) until one is finished, removed
    /// or expires. Default 5.
    pub pending_enrolments: usize,
    /// Sign-in and step-up challenges one user may start per window (each stores a
    /// ceremony until it is used or expires). Default 30 per 5 minutes.
    pub challenges: WindowCap,
    /// Passwordless sign-ins that may be started per window across the deployment: the
    /// bound on what unauthenticated callers can make the store hold. With a window as long
    /// as [`Settings::challenge_ttl`](crate::Settings::challenge_ttl), at most `2 × max` of them
    /// are unexpired at any time. Default 10,000 per 5 minutes.
    pub passwordless: WindowCap,
    /// Unexpired remembered devices one user may hold; remembering one more forgets the
    /// oldest. Default 20.
    pub devices: usize,
}

impl Default for StateLimits {
    fn default() -> Self {
        Self {
            pending_enrolments: 5,
            challenges: WindowCap::new(Duration::from_secs(5 * 60), 30),
            passwordless: WindowCap::new(Duration::from_secs(5 * 60), 10_000),
            devices: 20,
        }
    }
}

impl StateLimits {
    /// `Err` with what is wrong if a bound is zero.
    pub(crate) fn check(&self) -> Result<(), &'static str> {
        if self.pending_enrolments == 0 || self.devices == 0 {
            return Err("state limits must be at least 1");
        }
        for cap in [self.challenges, self.passwordless] {
            if cap.max == 0 || cap.window.is_zero() {
                return Err("state limit windows must be positive and allow at least 1");
            }
        }
        Ok(())
    }
}

/// At most `max` units (messages, or cost units for a [`CostBudget`](crate::settings::CostBudget)) per fixed window.
/// The window starts with the first unit counted after the previous one ended.
///
/// ```
/// use std::time::Duration;
/// use mfa_core::settings::WindowCap;
/// use mfa_core::store::CounterState;
/// use mfa_core::Timestamp;
///
/// let cap = WindowCap::new(Duration::from_secs(3600), 10);
/// let t0 = Timestamp::from_unix_secs(1_700_000_000);
/// let state = cap.count(&CounterState::default(), t0, 7).unwrap();
/// // 7 + 4 > 10: refused until the hour is over.
/// assert_eq!(cap.count(&state, t0, 4), Err(Duration::from_secs(3600)));
/// assert!(cap.count(&state, t0, 3).is_ok());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct WindowCap {
    /// How long a window lasts.
    pub window: Duration,
    /// Units allowed per window.
    pub max: u32,
}

impl WindowCap {
    /// `max` units per `window`.
    pub fn new(window: Duration, max: u32) -> Self {
        Self { window, max }
    }

    /// Counts `amount` units against `state` at `now`: the new state, or how long until the
    /// current window ends (a later window may still refuse an amount larger than `max`).
    ///
    /// # Errors
    ///
    /// How long until the window ends, if counting `amount` would exceed `max`.
    pub fn count(&self, state: &CounterState, now: Timestamp, amount: u32) -> Result<CounterState, Duration> {
        let open = state.window_start.filter(|start| now < start.saturating_add(self.window));
        let (start, used) = match open {
            Some(start) => (start, state.count),
            None => (now, 0),
        };
        let end = start.saturating_add(self.window);
        let total = u64::from(used) + u64::from(amount);
        if total > u64::from(self.max) {
            return Err(end.duration_since(now));
        }
        // total <= max, so it fits in a u32.
        let total = u32::try_from(total).unwrap_or(u32::MAX);
        Ok(CounterState::new(total, Some(start), Some(now), Some(end)))
    }
}
