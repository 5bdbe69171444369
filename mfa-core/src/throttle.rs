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
/// use mfa_core::throttle::ThrottleSettings;
/// let p = ThrottleSettings::default();
/// assert_eq!(p.delay_after(5), Some(Duration::from_secs(60)));
/// assert_eq!(p.delay_after(6), Some(Duration::from_secs(120)));
/// assert_eq!(p.delay_after(4), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ThrottleSettings {
    /// Consecutive failures allowed without delay (default 5).
    pub free_attempts: u32,
    /// The first delay once those are used (default 60 s).
    pub base_delay: Duration,
    /// The longest delay (default 1 hour).
    pub max_delay: Duration,
    /// Consecutive failures after which the counter stops evaluating attempts at all:
    /// every later attempt is refused with [`Error::Disabled`](crate::Error::Disabled)
    /// until the factor is replaced or removed (NIST SP 800-63B allows at most 100).
    /// Default `None`: delays grow to `max_delay` and stay there, so an attacker who knows
    /// the password cannot disable the owner's factor.
    pub max_failures: Option<u32>,
}

impl Default for ThrottleSettings {
    fn default() -> Self {
        Self {
            free_attempts: 5,
            base_delay: Duration::from_secs(60),
            max_delay: Duration::from_secs(3600),
            max_failures: None,
        }
    }
}

impl ThrottleSettings {
    /// A schedule from its parts.
    pub fn new(free_attempts: u32, base_delay: Duration, max_delay: Duration) -> Self {
        Self { free_attempts, base_delay, max_delay, max_failures: None }
    }

    /// This schedule with a hard stop after `failures` consecutive failures (see
    /// [`ThrottleSettings::max_failures`]).
    ///
    /// ```
    /// use mfa_core::throttle::ThrottleSettings;
    /// use mfa_core::store::ThrottleState;
    /// let p = ThrottleSettings::default().max_failures(100);
    /// assert!(!p.exhausted(&ThrottleState::new(99, None)));
    /// assert!(p.exhausted(&ThrottleState::new(100, None)));
    /// assert!(!ThrottleSettings::default().exhausted(&ThrottleState::new(u32::MAX, None)));
    /// ```
    #[must_use]
    pub fn max_failures(mut self, failures: u32) -> Self {
        self.max_failures = Some(failures);
        self
    }

    /// True once the counter has reached [`ThrottleSettings::max_failures`]: no attempt is
    /// evaluated any more.
    pub fn exhausted(&self, state: &ThrottleState) -> bool {
        self.max_failures.is_some_and(|max| state.failures >= max)
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
        let p = ThrottleSettings::new(3, Duration::from_secs(10), Duration::from_secs(35));
        assert_eq!(p.delay_after(2), None);
        assert_eq!(p.delay_after(3), Some(Duration::from_secs(10)));
        assert_eq!(p.delay_after(4), Some(Duration::from_secs(20)));
        assert_eq!(p.delay_after(5), Some(Duration::from_secs(35)));
        assert_eq!(p.delay_after(u32::MAX), Some(Duration::from_secs(35)));
    }

    #[test]
    fn wait_counts_from_the_last_attempt() {
        let p = ThrottleSettings::new(1, Duration::from_secs(10), Duration::from_secs(100));
        let t = Timestamp::from_unix_secs(100);
        let state = ThrottleState::new(1, Some(t));
        assert_eq!(p.wait(&state, t), Some(Duration::from_secs(10)));
        assert_eq!(p.wait(&state, Timestamp::from_unix_secs(104)), Some(Duration::from_secs(6)));
        assert_eq!(p.wait(&state, Timestamp::from_unix_secs(110)), None);
        assert_eq!(p.wait(&ThrottleState::default(), t), None);
    }
}

/// A target for online guessing: the highest chance an attacker may have per day of
/// guessing their way through one user's factors. With a budget configured
/// ([`Settings::guess_budget`](crate::Settings::guess_budget)), the throttle of every factor
/// whose adapter reports a guess probability is derived from it: a 6-digit TOTP with a ±1
/// window has 3 valid codes in 10^6 per try; an SMS code, 1 in 10^6.
///
/// ```
/// use mfa_core::throttle::GuessBudget;
/// let budget = GuessBudget::new(1e-4, 1);
/// let totp = 3e-6; // 6 digits, ±1 step
/// let throttle = budget.throttle_for(totp);
/// assert!(budget.success_per_day(&throttle, totp) <= 1e-4);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct GuessBudget {
    /// The target chance per day that an online attacker succeeds against one user.
    pub target_per_day: f64,
    /// How many guessable factors a user may have; the target is shared between them, since
    /// each has its own counter (N enrolled TOTPs multiply an attacker's chances by N).
    pub factors_per_user: u32,
}

impl GuessBudget {
    /// A budget from its parts.
    pub fn new(target_per_day: f64, factors_per_user: u32) -> Self {
        Self { target_per_day, factors_per_user: factors_per_user.max(1) }
    }

    /// How many guesses one factor may see per day under this budget, for a factor whose
    /// single guess succeeds with probability `per_guess`.
    pub fn guesses_per_day(&self, per_guess: f64) -> u64 {
        let target = (self.target_per_day / f64::from(self.factors_per_user)).clamp(0.0, 1.0);
        if per_guess <= 0.0 || target >= 1.0 {
            return u64::MAX;
        }
        // 1 - (1 - p)^g <= target  <=>  g <= ln(1 - target) / ln(1 - p)
        let g = (1.0 - target).ln() / (1.0 - per_guess.min(1.0 - f64::EPSILON)).ln();
        // A hair of tolerance so that exact ratios (2.0) are not floored to 1.999...
        if g.is_finite() { (g + 1e-9).floor().max(0.0) as u64 } else { u64::MAX }
    }

    /// The gentlest schedule that keeps a factor within the budget: the default schedule
    /// if it fits; otherwise up to 5 free attempts, then delays doubling from the smallest
    /// base that fits, capped at a day. At least one attempt a day always remains (the user
    /// must be able to sign in), so a budget below one guess a day is met as closely as that
    /// allows.
    pub fn throttle_for(&self, per_guess: f64) -> ThrottleSettings {
        let allowed = self.guesses_per_day(per_guess);
        let default = ThrottleSettings::default();
        if default.attempts_per_day() <= allowed {
            return default;
        }
        let free = u32::try_from(allowed.clamp(1, 5)).unwrap_or(5);
        let day = Duration::from_secs(24 * 3600);
        let within =
            |base: u64| ThrottleSettings::new(free, Duration::from_secs(base), day).attempts_per_day() <= allowed;
        // Longer bases allow fewer attempts: search the shortest that fits.
        let (mut lo, mut hi) = (60u64, day.as_secs());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if within(mid) {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        ThrottleSettings::new(free, Duration::from_secs(hi), day)
    }

    /// The chance that an attacker making every attempt `throttle` allows in a day guesses
    /// one factor of this user, summed over `factors_per_user` factors.
    pub fn success_per_day(&self, throttle: &ThrottleSettings, per_guess: f64) -> f64 {
        let guesses = throttle.attempts_per_day() as f64 * f64::from(self.factors_per_user);
        1.0 - (1.0 - per_guess).powf(guesses)
    }
}

impl ThrottleSettings {
    /// Attempts an attacker gets in a day against one counter, trying whenever allowed and
    /// never succeeding (so the count never resets).
    pub fn attempts_per_day(&self) -> u64 {
        let day = Duration::from_secs(24 * 3600);
        let mut elapsed = Duration::ZERO;
        let mut attempts = 0u64;
        while elapsed < day && attempts < 1_000_000 {
            attempts += 1;
            let failures = u32::try_from(attempts).unwrap_or(u32::MAX);
            elapsed += self.delay_after(failures).unwrap_or(Duration::ZERO);
        }
        attempts
    }
}

#[cfg(test)]
mod budget_tests {
    use super::*;

    #[test]
    fn the_default_schedule_allows_33_guesses_a_day() {
        // 5 free, 6 more after 1, 2, 4, 8, 16 and 32 minutes, then 22 hourly.
        assert_eq!(ThrottleSettings::default().attempts_per_day(), 33);
        let budget = GuessBudget::new(1.0, 1);
        let p = budget.success_per_day(&ThrottleSettings::default(), 3e-6);
        assert!((p - 9.9e-5).abs() < 1e-6, "{p}");
    }

    #[test]
    fn an_impossible_budget_leaves_one_attempt_a_day() {
        let t = GuessBudget::new(1e-6, 1).throttle_for(1e-4);
        assert_eq!(t.attempts_per_day(), 1);
    }

    #[test]
    fn derived_schedules_meet_their_budget() {
        for (target, per_guess, factors) in
            [(1e-4, 3e-6, 1), (1e-4, 3e-6, 3), (1e-5, 1e-6, 1), (1e-3, 3e-8, 2), (6e-6, 3e-6, 1)]
        {
            let budget = GuessBudget::new(target, factors);
            let throttle = budget.throttle_for(per_guess);
            let achieved = budget.success_per_day(&throttle, per_guess);
            assert!(achieved <= target * 1.0001, "{target} {per_guess} {factors}: {achieved} with {throttle:?}");
        }
        // A generous budget keeps the default schedule.
        assert_eq!(GuessBudget::new(1e-2, 1).throttle_for(3e-6), ThrottleSettings::default());
    }
}

#[cfg(test)]
mod manual_numbers {
    use super::*;

    #[test]
    fn the_manuals_worked_example() {
        let budget = GuessBudget::new(1e-4, 3);
        assert_eq!(budget.guesses_per_day(3e-6), 11);
        let t = budget.throttle_for(3e-6);
        assert_eq!((t.free_attempts, t.base_delay.as_secs(), t.max_delay.as_secs()), (5, 681, 86_400));
        assert_eq!(t.attempts_per_day(), 11);
    }
}
