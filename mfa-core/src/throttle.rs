//! The throttling schedule: how many consecutive failures are free, and how the delay
//! grows after that.

use std::time::Duration;

use crate::store::ThrottleState;
use crate::types::Timestamp;

/// Consecutive failures per user and factor (and for recovery codes), counted in the store
/// so they add up across sessions and service instances.
///
/// The first `free_attempts` attempts are evaluated at once. After that each attempt must
/// wait `base_delay × 2^(failures − free_attempts)` (capped at `max_delay`) after the
/// previous one; until then attempts are refused with `Locked { retry_after }` without being
/// evaluated, so even a correct code fails. A success resets the count.
///
/// Attempts are counted *before* they are evaluated, so N parallel guesses against a
/// counter with `free_attempts = 5` evaluate at most 5.
///
/// ```
/// use std::time::Duration;
/// use mfa_core::ThrottlePolicy;
/// let p = ThrottlePolicy::default();
/// assert_eq!(p.delay_after(5), Some(Duration::from_secs(60)));
/// assert_eq!(p.delay_after(6), Some(Duration::from_secs(120)));
/// assert_eq!(p.delay_after(4), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ThrottlePolicy {
    /// Consecutive failures allowed without delay (default 5).
    pub free_attempts: u32,
    /// The first delay once those are used (default 60 s).
    pub base_delay: Duration,
    /// The longest delay (default 1 hour).
    pub max_delay: Duration,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        Self { free_attempts: 5, base_delay: Duration::from_secs(60), max_delay: Duration::from_secs(3600) }
    }
}

impl ThrottlePolicy {
    /// A policy from its parts.
    pub fn new(free_attempts: u32, base_delay: Duration, max_delay: Duration) -> Self {
        Self { free_attempts, base_delay, max_delay }
    }

    /// The wait required after `failures` consecutive failures, or `None` if the next
    /// attempt may go at once.
    pub fn delay_after(&self, failures: u32) -> Option<Duration> {
        let over = failures.checked_sub(self.free_attempts)?;
        let factor = 1u32.checked_shl(over.min(31)).unwrap_or(u32::MAX);
        Some(self.base_delay.saturating_mul(factor).min(self.max_delay))
    }

    /// How long to wait before an attempt is evaluated, given the counter and the time;
    /// `None` if it may go now.
    pub fn wait(&self, state: &ThrottleState, now: Timestamp) -> Option<Duration> {
        let delay = self.delay_after(state.failures)?;
        let last = state.last_attempt_at?;
        let next = last.saturating_add(delay);
        (now < next).then(|| next.duration_since(now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_and_are_capped() {
        let p = ThrottlePolicy::new(3, Duration::from_secs(10), Duration::from_secs(35));
        assert_eq!(p.delay_after(2), None);
        assert_eq!(p.delay_after(3), Some(Duration::from_secs(10)));
        assert_eq!(p.delay_after(4), Some(Duration::from_secs(20)));
        assert_eq!(p.delay_after(5), Some(Duration::from_secs(35)));
        assert_eq!(p.delay_after(u32::MAX), Some(Duration::from_secs(35)));
    }

    #[test]
    fn wait_counts_from_the_last_attempt() {
        let p = ThrottlePolicy::new(1, Duration::from_secs(10), Duration::from_secs(100));
        let t = Timestamp::from_unix_secs(100);
        let state = ThrottleState::new(1, Some(t));
        assert_eq!(p.wait(&state, t), Some(Duration::from_secs(10)));
        assert_eq!(p.wait(&state, Timestamp::from_unix_secs(104)), Some(Duration::from_secs(6)));
        assert_eq!(p.wait(&state, Timestamp::from_unix_secs(110)), None);
        assert_eq!(p.wait(&ThrottleState::default(), t), None);
    }
}
