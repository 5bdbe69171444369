//! The service's policy: how fresh re-authentication must be, how long enrolments and
//! challenges live, the throttling schedule and the recovery-code settings.

use std::time::Duration;

use crate::recovery::RecoveryCodePolicy;
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
#[derive(Debug, Clone, PartialEq, Eq)]
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
        }
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
