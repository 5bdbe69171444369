//! The service's settings: how fresh re-authentication must be, how long enrolments and
//! challenges live, the throttling schedule and the recovery-code settings.

use std::time::Duration;

use crate::adapter::DeliveryChannel;
pub use crate::caps::DeliveryCap;
use crate::limits::StateLimits;
pub use crate::limits::WindowCap;
use crate::recovery::RecoveryCodeSettings;
use crate::store::CounterState;
use crate::throttle::GuessBudget;
use crate::throttle::ThrottleSettings;
use crate::types::{Assurance, Timestamp};

/// Settings for an [`Mfa`](crate::Mfa) service. Start from [`Settings::default`] and change
/// fields; the defaults are explained in [`crate::manual::defaults`].
///
/// ```
/// use std::time::Duration;
/// let mut settings = mfa_core::Settings::default();
/// settings.reauth_window = Duration::from_secs(120);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Settings {
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
    pub throttle: ThrottleSettings,
    /// Recovery-code settings.
    pub recovery_codes: RecoveryCodeSettings,
    /// Limits on sending codes (SMS, email).
    pub delivery: DeliverySettings,
    /// "Remember this device" tokens.
    pub devices: DeviceSettings,
    /// Bounds on the state callers can make the service store (pending enrolments,
    /// challenges, passwordless sign-ins, remembered devices).
    pub limits: StateLimits,
    /// When set, each factor's throttle is derived from this budget and the factor's guess
    /// space (for adapters that report one) instead of [`Settings::throttle`].
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
    /// [`SecretSealer`](crate::seal::SecretSealer) can retire keys while the service runs (a
    /// cached secret sealed under a retired key keeps working until evicted).
    pub secret_cache: usize,
    /// Temporary access codes an administrator issues.
    pub temporary_access: TemporaryAccessSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            reauth_window: Duration::from_secs(5 * 60),
            enrolment_ttl: Duration::from_secs(10 * 60),
            challenge_ttl: Duration::from_secs(5 * 60),
            challenge_attempts: 5,
            throttle: ThrottleSettings::default(),
            recovery_codes: RecoveryCodeSettings::default(),
            delivery: DeliverySettings::default(),
            devices: DeviceSettings::default(),
            limits: StateLimits::default(),
            guess_budget: None,
            secret_cache: 10_000,
            temporary_access: TemporaryAccessSettings::default(),
        }
    }
}

/// Temporary access codes ([`Admin::issue_temporary_access`](crate::Admin::issue_temporary_access)):
/// how long they live, how many tries one allows, and what signing in with one proves.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use mfa_core::{settings::TemporaryAccessSettings, Assurance, Settings};
///
/// let mut settings = Settings::default();
/// settings.temporary_access = TemporaryAccessSettings::default()
///     .lifetime(Duration::from_secs(3600))
///     .assurance(Assurance::ReplayResistantOtp);
/// assert_eq!(settings.temporary_access.max_attempts, 5);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct TemporaryAccessSettings {
    /// The lifetime of a code when the administrator names none (default 1 hour).
    pub lifetime: Duration,
    /// The longest lifetime an administrator may give a code (default 7 days).
    pub max_lifetime: Duration,
    /// Wrong tries before a code is spent (default 5), on top of the throttle.
    pub max_attempts: u32,
    /// What signing in with a code proves (default [`Assurance::RecoveryCode`]: a
    /// single-use look-up secret, an AAL2 second factor but not phishing-resistant).
    pub assurance: Assurance,
}

impl TemporaryAccessSettings {
    /// Sets the default lifetime.
    pub fn lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = lifetime;
        self
    }

    /// Sets the longest lifetime.
    pub fn max_lifetime(mut self, lifetime: Duration) -> Self {
        self.max_lifetime = lifetime;
        self
    }

    /// Sets the wrong tries a code allows.
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts;
        self
    }

    /// Sets what signing in with a code proves.
    pub fn assurance(mut self, assurance: Assurance) -> Self {
        self.assurance = assurance;
        self
    }

    pub(crate) fn check(&self) -> Result<(), &'static str> {
        if self.lifetime.is_zero() || self.lifetime > self.max_lifetime {
            return Err("a temporary access code's lifetime must be positive and at most its maximum");
        }
        if !(1..=20).contains(&self.max_attempts) {
            return Err("a temporary access code allows 1-20 attempts");
        }
        Ok(())
    }
}

impl Default for TemporaryAccessSettings {
    fn default() -> Self {
        Self {
            lifetime: Duration::from_secs(3600),
            max_lifetime: Duration::from_secs(7 * 24 * 3600),
            max_attempts: 5,
            assurance: Assurance::RecoveryCode,
        }
    }
}

/// "Remember this device": how long a token lives and when all of a user's tokens are
/// revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeviceSettings {
    /// How long a remembered device counts (default 30 days).
    pub lifetime: Duration,
    /// Revoke every remembered device when a factor is removed (default yes).
    pub revoke_on_factor_removal: bool,
    /// Revoke every remembered device when recovery codes are regenerated (default yes).
    pub revoke_on_recovery_regeneration: bool,
}

impl Default for DeviceSettings {
    fn default() -> Self {
        Self {
            lifetime: Duration::from_secs(30 * 24 * 3600),
            revoke_on_factor_removal: true,
            revoke_on_recovery_regeneration: true,
        }
    }
}

/// Limits on messages sent to users (one-time codes by SMS or email), so that neither an
/// attacker pumping SMS to numbers that pay them (toll fraud, see
/// [`crate::manual::sms_pumping`]) nor someone flooding one person's phone can use the
/// service as a free messaging gateway.
///
/// Every send is checked against every limit below and counted only if all allow it:
///
/// | limit | what it counts | default | a refusal is |
/// |---|---|---|---|
/// | per factor | sends for one factor | 30 s apart, 5 per 15 minutes | [`Error::RateLimited`](crate::Error::RateLimited) |
/// | per destination | sends to one number or address, whoever's factor it is | 30 s apart, 5 per 15 minutes | [`Error::RateLimited`](crate::Error::RateLimited) |
/// | [`prefix`](Self::prefix) | SMS to every number that shares its first 8 digits | 20 per hour | [`DeliveryCap::Prefix`] |
/// | [`per_user`](Self::per_user) | all of one user's sends, every factor, SMS and email | 10 per hour | [`DeliveryCap::User`] |
/// | [`cost_budget`](Self::cost_budget) | the cost of every send of the deployment | off | [`DeliveryCap::CostBudget`] |
///
/// The last three refuse with [`Error::DeliveryCapped`](crate::Error::DeliveryCapped).
/// Every refusal records an [`EventKind::DeliveryLimited`](crate::EventKind::DeliveryLimited)
/// naming the limit. Counters live in the store, so they add up across sessions and service
/// instances; their keys are hashes, never a number or an address. Resending never resets
/// the failure count of the factor.
///
/// ```
/// use std::time::Duration;
/// use mfa_core::settings::{CostBudget, DeliverySettings, WindowCap};
///
/// let mut delivery = DeliverySettings::default();
/// // A large deployment: more genuine sign-ins share each number range.
/// if let Some(prefix) = &mut delivery.prefix {
///     prefix.max = 200;
/// }
/// delivery.per_user = Some(WindowCap::new(Duration::from_secs(3600), 8));
/// // At most 200.00 (counted in cents) of messages an hour: an SMS costs 5 cents,
/// // 1 cent in North America, 40 cents to +882 numbers; email is free.
/// delivery.cost_budget =
///     Some(CostBudget::per_hour(20_000).sms_cost(5).prefix_cost("+1", 1).prefix_cost("+882", 40));
/// let mut settings = mfa_core::Settings::default();
/// settings.delivery = delivery;
/// ```
///
/// # Concurrency
///
/// A send first reads every counter it would count, and refuses if any limit is reached, so
/// a refused send counts nothing. Then it counts each counter with a compare-and-set that
/// checks the limit again, so no limit is ever exceeded, also when many instances send at
/// once. Two sends racing for the last place under one limit can both pass the first check;
/// the one that loses the compare-and-set is refused, but may already have been counted
/// under the limits counted before that one (the factor, the destination, ...). That errs
/// on the side of caution and only ever happens under such a race.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeliverySettings {
    /// Minimum time between two sends, per factor and per destination (default 30 s).
    ///
    /// While a factor is being enrolled its destination is not yet proven to be the user's,
    /// so its sends are counted under one counter per destination shared by every account:
    /// nobody floods a number or a mailbox by enrolling it in many accounts. Once the factor
    /// is active, its sends are counted per user and destination, apart from the enrolment's:
    /// another account cannot use up the owner's codes, and the code that proved the number
    /// does not hold up the first sign-in.
    pub cooldown: Duration,
    /// The window for `max_per_window` (default 15 minutes).
    pub window: Duration,
    /// Sends allowed per window, per factor and per destination (default 5).
    pub max_per_window: u32,
    /// SMS to numbers of one range (sharing their first digits) are capped together, across
    /// all users: an attacker cycling through many numbers of one premium-rate range is
    /// stopped after a few. Email is not capped by domain: mail costs nothing per message,
    /// and one domain (a large mail provider) holds most genuine users. Default
    /// [`PrefixCap::default`]: 20 per hour per 8-digit prefix; `None` turns it off.
    pub prefix: Option<PrefixCap>,
    /// All of one user's sends, every factor and channel, in one window. Default 10 per
    /// hour; `None` turns it off.
    pub per_user: Option<WindowCap>,
    /// A cost budget for the whole deployment (all users, all instances). Default `None`
    /// (off): what a message costs depends on your provider.
    pub cost_budget: Option<CostBudget>,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        Self {
            cooldown: Duration::from_secs(30),
            window: Duration::from_secs(15 * 60),
            max_per_window: 5,
            prefix: Some(PrefixCap::default()),
            per_user: Some(WindowCap::new(HOUR, 10)),
            cost_budget: None,
        }
    }
}

const HOUR: Duration = Duration::from_secs(3600);

impl DeliverySettings {
    /// Delivery settings with this cooldown and cap per window (per factor and per destination), and
    /// the default [`prefix`](Self::prefix), [`per_user`](Self::per_user) and
    /// [`cost_budget`](Self::cost_budget) settings.
    pub fn new(cooldown: Duration, window: Duration, max_per_window: u32) -> Self {
        Self { cooldown, window, max_per_window, ..Self::default() }
    }

    /// No limit at all: no cooldown, no caps, no budget. For benchmarks and tests that send
    /// many codes; never for a service that sends real messages.
    pub fn unlimited() -> Self {
        Self {
            cooldown: Duration::ZERO,
            window: Duration::from_secs(1),
            max_per_window: u32::MAX,
            prefix: None,
            per_user: None,
            cost_budget: None,
        }
    }

    /// Counts one send against a per-factor or per-destination counter `state` at `now`:
    /// the new state, or how long to wait.
    ///
    /// # Errors
    ///
    /// How long until the send would be allowed, during the cooldown or once
    /// `max_per_window` sends were counted in the window.
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

    /// Checks the settings (the service builder calls this).
    pub(crate) fn check(&self) -> Result<(), &'static str> {
        if let Some(prefix) = &self.prefix {
            if !(1..=15).contains(&prefix.digits) {
                return Err("a number prefix has 1-15 digits");
            }
            if prefix.window.is_zero() {
                return Err("the prefix window must be positive");
            }
        }
        if self.per_user.is_some_and(|cap| cap.window.is_zero()) {
            return Err("the per-user window must be positive");
        }
        if let Some(budget) = &self.cost_budget {
            if budget.window.is_zero() {
                return Err("the cost budget window must be positive");
            }
            for (prefix, _) in &budget.prefix_costs {
                let digits = prefix.strip_prefix('+').unwrap_or(prefix);
                if digits.is_empty() || digits.len() > 15 || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return Err("a cost prefix is '+' and 1-15 digits");
                }
            }
        }
        Ok(())
    }
}

/// A cap on SMS to every phone number of one range: numbers whose first
/// [`digits`](Self::digits) digits (of the E.164 form, without the `+`) are the same share
/// one counter, across all users.
///
/// Premium-rate and toll-fraud ranges are allocated in blocks, so an attacker pumping SMS
/// cycles through numbers that share a long prefix. With 8 digits, `+44 7700 9` is one
/// range (1 000 numbers for the 12-digit UK mobiles), `+1 415 555 2` another. Fewer digits
/// catch wider ranges but make more genuine users share a cap.
///
/// ```
/// use mfa_core::settings::PrefixCap;
///
/// let cap = PrefixCap::default();
/// assert_eq!(cap.prefix_of("+14155552671"), "14155552");
/// assert_eq!(cap.prefix_of("+4930123"), "4930123"); // shorter numbers: the whole number
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct PrefixCap {
    /// How many leading digits (after the `+`) make a range, 1–15. Default 8.
    pub digits: u8,
    /// How long a window lasts. Default 1 hour.
    pub window: Duration,
    /// SMS allowed per range per window. Default 20.
    pub max: u32,
}

impl Default for PrefixCap {
    fn default() -> Self {
        Self { digits: 8, window: HOUR, max: 20 }
    }
}

impl PrefixCap {
    /// `max` SMS per `window` to numbers sharing their first `digits` digits.
    pub fn new(digits: u8, window: Duration, max: u32) -> Self {
        Self { digits, window, max }
    }

    /// The range `number` belongs to: its first [`digits`](Self::digits) digits, ignoring
    /// the `+` and anything else that is not a digit; the whole number if it is shorter.
    pub fn prefix_of(&self, number: &str) -> String {
        number.chars().filter(char::is_ascii_digit).take(usize::from(self.digits)).collect()
    }

    /// The cap on one range's counter.
    pub fn cap(&self) -> WindowCap {
        WindowCap::new(self.window, self.max)
    }
}

/// A budget for what sending messages costs, for the whole deployment: one counter in the
/// store (so all users and all service instances share it) counts cost units, not
/// messages. A send whose cost would take the window's total over
/// [`budget`](Self::budget) is refused.
///
/// Units are yours to choose (cents, tenths of a cent): set [`sms_cost`](Self::sms_cost),
/// and [`prefix_cost`](Self::prefix_cost) for ranges that cost more or less; the longest
/// matching prefix wins. Email costs [`email_cost`](Self::email_cost), 0 by default, so an
/// exhausted budget does not stop email codes. A message costing more than the whole
/// budget is always refused.
///
/// ```
/// use mfa_core::DeliveryChannel;
/// use mfa_core::settings::CostBudget;
///
/// let budget = CostBudget::per_hour(1_000).sms_cost(8).prefix_cost("+1", 1).prefix_cost("+1649", 30);
/// assert_eq!(budget.cost_of(DeliveryChannel::Sms, "+14155552671"), 1);
/// assert_eq!(budget.cost_of(DeliveryChannel::Sms, "+16495551234"), 30); // longest prefix
/// assert_eq!(budget.cost_of(DeliveryChannel::Sms, "+442079460958"), 8); // no prefix: sms_cost
/// assert_eq!(budget.cost_of(DeliveryChannel::Email, "jane@example.com"), 0);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CostBudget {
    /// Cost units allowed per window, for the whole deployment.
    pub budget: u32,
    /// How long a window lasts. Default 1 hour.
    pub window: Duration,
    /// What an SMS costs when its number matches none of
    /// [`prefix_costs`](Self::prefix_costs). Default 1.
    pub sms_cost: u32,
    /// What an email costs. Default 0.
    pub email_cost: u32,
    /// What an SMS to numbers starting with a prefix (`"+44"`, `"+1649"`: a `+` and 1–15
    /// digits) costs. The longest matching prefix wins.
    pub prefix_costs: Vec<(String, u32)>,
}

impl CostBudget {
    /// `budget` cost units per hour; each SMS costs 1 and each email 0 until you say
    /// otherwise.
    pub fn per_hour(budget: u32) -> Self {
        Self { budget, window: HOUR, sms_cost: 1, email_cost: 0, prefix_costs: Vec::new() }
    }

    /// Sets the window (one hour by default).
    #[must_use]
    pub fn window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// Sets the cost of an SMS to a number no prefix matches.
    #[must_use]
    pub fn sms_cost(mut self, cost: u32) -> Self {
        self.sms_cost = cost;
        self
    }

    /// Sets the cost of an email.
    #[must_use]
    pub fn email_cost(mut self, cost: u32) -> Self {
        self.email_cost = cost;
        self
    }

    /// Sets the cost of an SMS to numbers starting with `prefix` (`"+44"`); replaces an
    /// earlier cost for the same prefix.
    #[must_use]
    pub fn prefix_cost(mut self, prefix: impl Into<String>, cost: u32) -> Self {
        let prefix = prefix.into();
        self.prefix_costs.retain(|(p, _)| *p != prefix);
        self.prefix_costs.push((prefix, cost));
        self
    }

    /// What one message on `channel` to `destination` costs: for SMS the cost of the
    /// longest prefix in [`prefix_costs`](Self::prefix_costs) the number starts with, else
    /// [`sms_cost`](Self::sms_cost).
    pub fn cost_of(&self, channel: DeliveryChannel, destination: &str) -> u32 {
        match channel {
            DeliveryChannel::Email => self.email_cost,
            DeliveryChannel::Sms => {
                let number: String = destination.chars().filter(char::is_ascii_digit).collect();
                self.prefix_costs
                    .iter()
                    .map(|(prefix, cost)| (prefix.strip_prefix('+').unwrap_or(prefix), *cost))
                    .filter(|(prefix, _)| !prefix.is_empty() && number.starts_with(prefix))
                    .max_by_key(|(prefix, _)| prefix.len())
                    .map_or(self.sms_cost, |(_, cost)| cost)
            }
        }
    }

    /// The cap on the budget's counter.
    pub fn cap(&self) -> WindowCap {
        WindowCap::new(self.window, self.budget)
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
        let p = DeliverySettings::new(Duration::from_secs(30), Duration::from_secs(900), 3);
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

    fn t(s: i64) -> Timestamp {
        Timestamp::from_unix_secs(s)
    }

    #[test]
    fn a_window_cap_counts_amounts_and_refuses_until_the_window_ends() {
        let cap = WindowCap::new(Duration::from_secs(3600), 10);
        let mut state = CounterState::default();
        state = cap.count(&state, t(100), 4).unwrap();
        assert_eq!((state.count, state.window_start, state.expires_at), (4, Some(t(100)), Some(t(3700))));
        state = cap.count(&state, t(200), 6).unwrap();
        assert_eq!(state.count, 10, "exactly the cap is allowed");
        assert_eq!(cap.count(&state, t(1000), 1), Err(Duration::from_secs(2700)), "over the cap: wait for the end");
        assert!(cap.count(&state, t(1000), 0).is_ok(), "nothing more is always allowed");
        let state = cap.count(&state, t(3700), 3).unwrap();
        assert_eq!((state.count, state.window_start), (3, Some(t(3700))), "a new window starts empty");
    }

    #[test]
    fn an_amount_over_the_whole_cap_is_always_refused() {
        let cap = WindowCap::new(Duration::from_secs(60), 5);
        assert_eq!(cap.count(&CounterState::default(), t(0), 6), Err(Duration::from_secs(60)));
        assert_eq!(cap.count(&CounterState::default(), t(0), u32::MAX), Err(Duration::from_secs(60)));
    }

    #[test]
    fn a_number_range_is_its_first_digits() {
        let eight = PrefixCap::default();
        assert_eq!(eight.digits, 8);
        assert_eq!(eight.prefix_of("+14155552671"), "14155552");
        assert_eq!(eight.prefix_of("+14155552999"), "14155552", "same range");
        assert_ne!(eight.prefix_of("+14155553000"), eight.prefix_of("+14155552671"));
        assert_eq!(eight.prefix_of("+6834002"), "6834002", "a short number is its own range");
        assert_eq!(eight.prefix_of("+1 (415) 555-2671"), "14155552", "formatting is ignored");
        let three = PrefixCap::new(3, Duration::from_secs(60), 1);
        assert_eq!(three.prefix_of("+442079460958"), "442");
    }

    #[test]
    fn the_longest_matching_prefix_sets_the_cost() {
        let budget = CostBudget::per_hour(100)
            .sms_cost(5)
            .prefix_cost("+1", 1)
            .prefix_cost("+1649", 30)
            .prefix_cost("+16", 3)
            .prefix_cost("44", 2)
            .email_cost(0);
        assert_eq!(budget.cost_of(DeliveryChannel::Sms, "+14155552671"), 1);
        assert_eq!(budget.cost_of(DeliveryChannel::Sms, "+16175550100"), 3);
        assert_eq!(budget.cost_of(DeliveryChannel::Sms, "+16495550100"), 30);
        assert_eq!(budget.cost_of(DeliveryChannel::Sms, "+442079460958"), 2, "a prefix without '+' matches too");
        assert_eq!(budget.cost_of(DeliveryChannel::Sms, "+33612345678"), 5, "no prefix: the default");
        assert_eq!(budget.cost_of(DeliveryChannel::Email, "+1649@example.com"), 0, "email never matches prefixes");
        let budget = budget.prefix_cost("+1", 7);
        assert_eq!(budget.prefix_costs.iter().filter(|(p, _)| p == "+1").count(), 1, "a prefix is set once");
        assert_eq!(budget.cost_of(DeliveryChannel::Sms, "+14155552671"), 7);
    }

    #[test]
    fn the_defaults_cap_ranges_and_users_and_leave_the_budget_off() {
        let p = DeliverySettings::default();
        assert_eq!(p.prefix, Some(PrefixCap::new(8, Duration::from_secs(3600), 20)));
        assert_eq!(p.per_user, Some(WindowCap::new(Duration::from_secs(3600), 10)));
        assert_eq!(p.cost_budget, None);
        assert_eq!(p.check(), Ok(()));
        let unlimited = DeliverySettings::unlimited();
        assert_eq!((unlimited.prefix, unlimited.per_user, unlimited.cost_budget), (None, None, None));
    }

    #[test]
    fn unusable_delivery_settings_are_refused() {
        let mut p =
            DeliverySettings { prefix: Some(PrefixCap::new(0, Duration::from_secs(60), 1)), ..Default::default() };
        assert!(p.check().is_err());
        p.prefix = Some(PrefixCap::new(16, Duration::from_secs(60), 1));
        assert!(p.check().is_err());
        p.prefix = Some(PrefixCap::new(8, Duration::ZERO, 1));
        assert!(p.check().is_err());
        p.prefix = None;
        p.per_user = Some(WindowCap::new(Duration::ZERO, 1));
        assert!(p.check().is_err());
        p.per_user = None;
        for bad in ["", "+", "+1a", "++1", "+1234567890123456"] {
            p.cost_budget = Some(CostBudget::per_hour(10).prefix_cost(bad, 1));
            assert!(p.check().is_err(), "{bad:?}");
        }
        p.cost_budget = Some(CostBudget::per_hour(10).window(Duration::ZERO));
        assert!(p.check().is_err());
        p.cost_budget = Some(CostBudget::per_hour(10).prefix_cost("+882", 4).prefix_cost("1", 1));
        assert_eq!(p.check(), Ok(()));
    }
}
