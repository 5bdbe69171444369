//! The service's policy: how fresh re-authentication must be, how long enrolments and
//! challenges live, the throttling schedule and the recovery-code settings.

use std::time::Duration;

use crate::recovery::RecoveryCodePolicy;
use crate::store::CounterState;
use crate::throttle::GuessBudget;
use crate::throttle::ThrottlePolicy;
use crate::types::Timestamp;

/// Settings for an [`Mfa`](crate::Mfa) service. Start from [`Policy::default`] and change
/// fields; the defaults are explained in [`crate::manual::defaults`].
///
/// ```
/// use std::time::Duration;
/// let mut policy = mfa_core::Policy::default();
/// policy.reauth_window = Duration::from_secs(120);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Policy {
    /// How recent the host's proof of primary authentication (and, once the user has a
    /// factor, of MFA) must be to add or remove factors, change the preferred one or
    /// regenerate recovery codes. Default 5 minutes.
    pub reauth_window: Duration,
    /// How long a pending enrolment may wait for its proof. Default 10 minutes.
    pub enrolment_ttl: Duration,
    /// How long a sign-in challenge lives. Default 5 minutes.
    pub challenge_ttl: Duration,
    /// Proofs that may be tried against one challenge. Default 5.
    pub challenge_attempts: u32,
    /// The failure-throttling schedule.
    pub throttle: ThrottlePolicy,
    /// Recovery-code settings.
    pub recovery_codes: RecoveryCodePolicy,
    /// Limits on sending codes (SMS, email).
    pub delivery: DeliveryPolicy,
    /// "Remember this device" tokens.
    pub devices: DevicePolicy,
    /// When set, each factor's throttle is derived from this budget and the factor's guess
    /// space (for adapters that report one) instead of [`Policy::throttle`].
    pub guess_budget: Option<GuessBudget>,
    /// How many opened factor secrets the service keeps in memory between verifications,
    /// for factors that verify without a challenge (authenticator apps); `0` turns the
    /// cache off. Default 10,000 (a few megabytes at most).
    ///
    /// Opening a sealed secret (XChaCha20-Poly1305) costs several times a whole TOTP check,
    /// so without the cache it dominates every verification. A cached secret is used only
    /// while the factor's sealed value in the store is exactly the one it was opened from
    /// (same user, factor, key id and ciphertext): a re-sealed or replaced secret is
    /// opened again. Throttling, replay protection and every store call are unchanged.
    ///
    /// # Security
    ///
    /// Cached seeds stay in process memory until evicted (those not used recently first,
    /// once the cache is full), replaced, or the service is dropped, and are zeroized then;
    /// they never appear in `Debug` output or logs. The sealing key in the same memory opens every sealed
    /// seed anyway; the cache adds the plaintext of recently used ones. Turn it off if
    /// that matters more than about 2 µs per verification, or if your
    /// [`SecretSealer`](crate::SecretSealer) can retire keys while the service runs (a
    /// cached secret sealed under a retired key keeps working until evicted).
    pub secret_cache: usize,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            reauth_window: Duration::from_secs(5 * 60),
            enrolment_ttl: Duration::from_secs(10 * 60),
            challenge_ttl: Duration::from_secs(5 * 60),
            challenge_attempts: 5,
            throttle: ThrottlePolicy::default(),
            recovery_codes: RecoveryCodePolicy::default(),
            delivery: DeliveryPolicy::default(),
            devices: DevicePolicy::default(),
            guess_budget: None,
            secret_cache: 10_000,
        }
    }
}

/// "Remember this device": how long a token lives and when all of a user's tokens are
/// revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct DevicePolicy {
    /// How long a remembered device counts (default 30 days).
    pub lifetime: Duration,
    /// Revoke every remembered device when a factor is removed (default yes).
    pub revoke_on_factor_removal: bool,
    /// Revoke every remembered device when recovery codes are regenerated (default yes).
    pub revoke_on_recovery_regeneration: bool,
}

impl Default for DevicePolicy {
    fn default() -> Self {
        Self {
            lifetime: Duration::from_secs(30 * 24 * 3600),
            revoke_on_factor_removal: true,
            revoke_on_recovery_regeneration: true,
        }
    }
}

/// Limits on messages sent to users (one-time codes by SMS or email), applied both per
/// factor and per destination, so neither re-enrolling nor spreading over accounts gets
/// around them. Resending never resets the failure count of the factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeliveryPolicy {
    /// Minimum time between two sends (default 30 s).
    pub cooldown: Duration,
    /// The window for `max_per_window` (default 15 minutes).
    pub window: Duration,
    /// Sends allowed per window (default 5).
    pub max_per_window: u32,
}

impl Default for DeliveryPolicy {
    fn default() -> Self {
        Self { cooldown: Duration::from_secs(30), window: Duration::from_secs(15 * 60), max_per_window: 5 }
    }
}

impl DeliveryPolicy {
    /// A policy from its parts.
    pub fn new(cooldown: Duration, window: Duration, max_per_window: u32) -> Self {
        Self { cooldown, window, max_per_window }
    }

    /// Counts one send against `state` at `now`: the new state, or how long to wait.
    pub fn count(&self, state: &CounterState, now: Timestamp) -> Result<CounterState, Duration> {
        let window_open = state.window_start.filter(|start| now < start.saturating_add(self.window));
        let (start, count) = match window_open {
            Some(start) => (start, state.count),
            None => (now, 0),
        };
        if let Some(last) = state.last_at {
            let ready = last.saturating_add(self.cooldown);
            if now < ready {
                return Err(ready.duration_since(now));
            }
        }
        let window_end = start.saturating_add(self.window);
        if count >= self.max_per_window {
            return Err(window_end.duration_since(now));
        }
        let expires = window_end.max(now.saturating_add(self.cooldown));
        Ok(CounterState::new(count + 1, Some(start), Some(now), Some(expires)))
    }
}

/// The host's proof that the user authenticated recently: when the password (or other
/// primary factor) was last checked, and when MFA last succeeded in this session.
///
/// Sensitive changes need it (SECURITY.md S17): the host re-asks for the password and
/// passes the time it checked it. Once a user has an active factor, adding another also
/// needs a recent MFA verification, so a password-only session cannot add a "second"
/// factor.
///
/// ```
/// use mfa_core::{FreshAuth, Timestamp};
/// let now = Timestamp::from_unix_secs(1_700_000_000);
/// let fresh = FreshAuth::primary(now).with_mfa(now);
/// assert_eq!(fresh.mfa_at(), Some(now));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FreshAuth {
    primary_at: Timestamp,
    mfa_at: Option<Timestamp>,
}

impl FreshAuth {
    /// The primary authentication (password) happened at `at`.
    pub fn primary(at: Timestamp) -> Self {
        Self { primary_at: at, mfa_at: None }
    }

    /// An MFA verification also happened at `at` (use [`Verified::at`](crate::Verified)).
    pub fn with_mfa(mut self, at: Timestamp) -> Self {
        self.mfa_at = Some(at);
        self
    }

    /// When the primary authentication happened.
    pub fn primary_at(&self) -> Timestamp {
        self.primary_at
    }

    /// When MFA last succeeded, if it did.
    pub fn mfa_at(&self) -> Option<Timestamp> {
        self.mfa_at
    }
}

/// True if `at` lies within `window` before `now` (and not after it by more than a second
/// of clock skew).
pub(crate) fn is_fresh(at: Timestamp, now: Timestamp, window: Duration) -> bool {
    at <= now.saturating_add(Duration::from_secs(1)) && now.duration_since(at) <= window
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deliveries_have_a_cooldown_and_a_cap_per_window() {
        let p = DeliveryPolicy::new(Duration::from_secs(30), Duration::from_secs(900), 3);
        let t = |s| Timestamp::from_unix_secs(s);
        let mut state = CounterState::default();
        state = p.count(&state, t(0)).unwrap();
        assert_eq!(p.count(&state, t(10)), Err(Duration::from_secs(20)), "cooldown");
        state = p.count(&state, t(30)).unwrap();
        state = p.count(&state, t(60)).unwrap();
        assert_eq!(p.count(&state, t(100)), Err(Duration::from_secs(800)), "cap per window");
        let state = p.count(&state, t(900)).unwrap();
        assert_eq!(state.count, 1, "a new window starts");
        assert_eq!(state.expires_at, Some(t(1800)));
    }
}
