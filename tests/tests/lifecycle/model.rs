//! The reference model: one deployment's MFA state as plain data, and what each operation
//! should answer and change, written from the design's rules and nothing else.
//!
//! It knows no ids, keys or hashes: things are numbered in the order they were created
//! (the numbers [`Pick`]s resolve to), and the few facts only the real world knows (which
//! time step a TOTP code matches) are handed in by the harness. Schedules (how long a lock
//! lasts, when a window cap refuses) come from the library's own pure functions, tested on
//! their own; the model owns everything about who may do what, when, and what it changes.
//!
//! The help desk's operations follow `mfa_core::admin`: only the administrator the
//! deployment's check allows may act (anyone else is refused and changes nothing); a reset
//! removes every factor, recovery code, ceremony (challenges, enrolments, the temporary
//! access code), remembered device and failure counter of the user, and nothing else (not
//! the window caps, not the other user's state, not the verifications the host holds); a
//! temporary access code is the user's only one (a new one replaces it), works once, before
//! it expires, within its tries (a try is spent by every answer evaluated while it is live,
//! right or wrong), under the user's own `TemporaryAccess` throttle.

use std::collections::BTreeMap;
use std::time::Duration;

use mfa_core::limits::StateLimit;
use mfa_core::store::{CounterState, ThrottleState};
use mfa_core::{Settings, Timestamp};

use super::ops::{Actor, Answer, By, Counter, Kind, Lifetime, Op, Pick, U};

/// What a call answered, as the model compares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Ok,
    /// The step had nothing to act on (no verification to remember a device with).
    Skipped,
    NotFound,
    Expired,
    InvalidCode,
    Replayed,
    Locked,
    Disabled,
    Limit(StateLimit),
    MfaRequired,
    ReauthRequired,
    FactorRequired,
    AlreadyExists,
    InvalidInput,
    Unsupported,
    /// The admin check said no.
    Forbidden,
}

impl Outcome {
    /// A refusal by a throttle or a bound: each must reach audit (invariant 12).
    pub(crate) fn is_refusal(self) -> bool {
        matches!(self, Outcome::Locked | Outcome::Disabled | Outcome::Limit(_))
    }
}

/// Facts about the real world the model cannot know: the time step a TOTP proof's code
/// matches within the verification window (`None`: none).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Facts {
    pub(crate) code_step: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    Pending {
        expires_at: i64,
    },
    Active,
    /// Removed, replaced, or purged once expired.
    Gone,
}

#[derive(Debug, Clone)]
pub(crate) struct Factor {
    pub(crate) user: U,
    pub(crate) kind: Kind,
    pub(crate) status: Status,
    /// The last TOTP step accepted (the replay marker).
    pub(crate) last_step: Option<u64>,
    pub(crate) replaces: Option<usize>,
    /// The passkey enrolment's ceremony (single attempt).
    pub(crate) ceremony: Option<Ceremony>,
}

#[derive(Debug, Clone)]
pub(crate) struct Ceremony {
    pub(crate) user: Option<U>,
    pub(crate) factor: Option<usize>,
    pub(crate) expires_at: i64,
    pub(crate) attempts: u32,
    pub(crate) max: u32,
    pub(crate) gone: bool,
}

impl Ceremony {
    fn live(&self, user: Option<U>, now: i64) -> bool {
        !self.gone && self.user == user && now < self.expires_at
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Code {
    pub(crate) user: U,
    pub(crate) set: usize,
    pub(crate) used: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Device {
    pub(crate) user: U,
    pub(crate) created_at: i64,
    pub(crate) expires_at: i64,
    /// Revoked, forgotten past the bound, or purged.
    pub(crate) gone: bool,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Verification {
    pub(crate) user: U,
    pub(crate) at: i64,
}

/// A temporary access code an administrator issued.
#[derive(Debug, Clone)]
pub(crate) struct Access {
    pub(crate) user: U,
    pub(crate) expires_at: i64,
    /// Answers evaluated against it.
    pub(crate) attempts: u32,
    /// Used, replaced, revoked, reset, or purged once expired.
    pub(crate) gone: bool,
}

/// What a throttle counts: one factor's attempts, a user's recovery codes, a user's
/// temporary access codes, a user's remembered-device tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Scope {
    Factor(usize),
    Codes,
    Access,
    Devices,
}

/// The state of one deployment.
#[derive(Debug, Clone)]
pub(crate) struct Model {
    pub(crate) settings: Settings,
    /// Seconds since the epoch.
    pub(crate) now: i64,
    pub(crate) factors: Vec<Factor>,
    pub(crate) challenges: Vec<Ceremony>,
    pub(crate) passwordless: Vec<Ceremony>,
    pub(crate) codes: Vec<Code>,
    /// Each user's current set of recovery codes (a set number).
    pub(crate) code_set: BTreeMap<U, usize>,
    pub(crate) sets: usize,
    pub(crate) devices: Vec<Device>,
    pub(crate) verifications: Vec<Verification>,
    /// Passkey factors whose credential was registered, in order (what `FinishPasswordless`
    /// picks from).
    pub(crate) registered: Vec<usize>,
    /// Factors that were ever activated, in order (what verifications pick from).
    pub(crate) activated: Vec<usize>,
    pub(crate) throttles: BTreeMap<(U, Scope), ThrottleState>,
    pub(crate) challenge_caps: BTreeMap<U, CounterState>,
    pub(crate) passwordless_cap: CounterState,
    /// Every temporary access code issued, in order (what `UseAccess` picks from).
    pub(crate) access: Vec<Access>,
    /// What the last operation answered besides its outcome (how many counters an unlock
    /// cleared, whether a revocation found a code, what a reset removed), as the harness
    /// prints the service's.
    pub(crate) detail: Option<String>,
}

/// Resolves a pick of a factor to verify: `#0`–`#5` among the factors that were ever
/// activated (`activated`), `#6` and `#7` among all factors (pending ones included).
pub(crate) fn resolve_factor(pick: Pick, all: usize, activated: &[usize]) -> Option<usize> {
    match pick.0 {
        6 | 7 => resolve(Pick(pick.0 - 6), all),
        _ => resolve(pick, activated.len()).map(|k| activated[k]),
    }
}

/// Resolves a pick against a list of `len` things, counting from the newest (`#0`), round
/// the list if it is shorter: `None` for a guess.
pub(crate) fn resolve(pick: Pick, len: usize) -> Option<usize> {
    (pick.0 != u8::MAX && len > 0).then(|| len - 1 - usize::from(pick.0) % len)
}

/// The short lifetime an administrator gives a temporary access code (`Lifetime::Short`).
pub(crate) const ACCESS_SHORT: i64 = 120;

/// How long a code sent by SMS lives, and how many answers it takes.
const SMS_CODE_LIFETIME: i64 = 300;
const SMS_ATTEMPTS: u32 = 5;

fn ts(secs: i64) -> Timestamp {
    Timestamp::from_unix_secs(secs)
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

impl Model {
    pub(crate) fn new(settings: Settings, now: i64) -> Self {
        Self {
            settings,
            now,
            factors: Vec::new(),
            challenges: Vec::new(),
            passwordless: Vec::new(),
            codes: Vec::new(),
            code_set: BTreeMap::new(),
            sets: 0,
            devices: Vec::new(),
            verifications: Vec::new(),
            registered: Vec::new(),
            activated: Vec::new(),
            throttles: BTreeMap::new(),
            challenge_caps: BTreeMap::new(),
            passwordless_cap: CounterState::default(),
            access: Vec::new(),
            detail: None,
        }
    }

    pub(crate) fn has_active(&self, user: U) -> bool {
        self.factors.iter().any(|f| f.user == user && f.status == Status::Active)
    }

    /// The user's factor `i`, if it is stored (pending, expired or active).
    fn stored(&self, user: U, i: Option<usize>) -> Option<usize> {
        i.filter(|&i| self.factors[i].user == user && self.factors[i].status != Status::Gone)
    }

    fn active(&self, user: U, i: Option<usize>) -> Option<usize> {
        i.filter(|&i| self.factors[i].user == user && self.factors[i].status == Status::Active)
    }

    pub(crate) fn pending(&self, user: U) -> usize {
        self.factors
            .iter()
            .filter(|f| f.user == user && matches!(f.status, Status::Pending { expires_at } if expires_at > self.now))
            .count()
    }

    pub(crate) fn codes_left(&self, user: U) -> usize {
        match self.code_set.get(&user) {
            Some(set) => self.codes.iter().filter(|c| c.user == user && c.set == *set && !c.used).count(),
            None => 0,
        }
    }

    /// The user's temporary access code, if one is stored and unexpired (used up or not).
    fn access_code(&self, user: U) -> Option<usize> {
        self.access
            .iter()
            .rposition(|a| a.user == user)
            .filter(|&k| !self.access[k].gone && self.now < self.access[k].expires_at)
    }

    /// When the user's temporary access code expires, if they hold one that still works
    /// (what the help desk's status shows).
    pub(crate) fn access_expiry(&self, user: U) -> Option<i64> {
        let k = self.access_code(user)?;
        (self.access[k].attempts < self.settings.temporary_access.max_attempts).then_some(self.access[k].expires_at)
    }

    /// The admin check: only the help desk.
    fn authorise(by: By) -> Result<(), Outcome> {
        match by {
            By::Helpdesk => Ok(()),
            By::Bob | By::Mallory => Err(Outcome::Forbidden),
        }
    }

    pub(crate) fn throttle(&self, user: U, scope: Scope) -> ThrottleState {
        self.throttles.get(&(user, scope)).copied().unwrap_or_default()
    }

    /// Invariant 2 and the bootstrap rule: a fresh password, and a fresh second factor once
    /// the user has one.
    fn check_fresh(&self, user: U, actor: Actor) -> Result<(), Outcome> {
        match actor {
            Actor::Stale => Err(Outcome::ReauthRequired),
            Actor::PasswordOnly if self.has_active(user) => Err(Outcome::MfaRequired),
            _ => Ok(()),
        }
    }

    /// Counts an attempt before it is evaluated, unless a lock or the hard stop refuses it.
    fn begin(&mut self, user: U, scope: Scope) -> Result<(), Outcome> {
        self.check_throttle(user, scope)?;
        let state = self.throttle(user, scope);
        self.throttles.insert((user, scope), ThrottleState::new(state.failures.saturating_add(1), Some(ts(self.now))));
        Ok(())
    }

    fn check_throttle(&self, user: U, scope: Scope) -> Result<(), Outcome> {
        let state = self.throttle(user, scope);
        let schedule = &self.settings.throttle;
        if schedule.exhausted(&state) {
            return Err(Outcome::Disabled);
        }
        if schedule.wait(&state, ts(self.now)).is_some() {
            return Err(Outcome::Locked);
        }
        Ok(())
    }

    fn reset(&mut self, user: U, scope: Scope) {
        self.throttles.remove(&(user, scope));
    }

    /// A window cap: counts one, or refuses.
    fn count(state: &mut CounterState, cap: mfa_core::settings::WindowCap, now: i64) -> bool {
        if state.expires_at.is_some_and(|e| e <= ts(now)) {
            *state = CounterState::default();
        }
        match cap.count(state, ts(now), 1) {
            Ok(next) => {
                *state = next;
                true
            }
            Err(_) => false,
        }
    }

    fn revoke_devices(&mut self, user: U) {
        for d in self.devices.iter_mut().filter(|d| d.user == user) {
            d.gone = true;
        }
    }

    fn discard_codes(&mut self, user: U) {
        self.code_set.remove(&user);
    }

    fn verified(&mut self, user: U) {
        self.verifications.push(Verification { user, at: self.now });
    }

    /// A TOTP proof for factor `i`: the code's step must be newer than the last accepted.
    fn totp(&mut self, i: usize, facts: Facts) -> Result<(), Outcome> {
        let step = facts.code_step.ok_or(Outcome::InvalidCode)?;
        if self.factors[i].last_step.is_some_and(|last| step <= last) {
            return Err(Outcome::Replayed);
        }
        self.factors[i].last_step = Some(step);
        Ok(())
    }

    /// After a race of `racers` copies of `op`: each racer that got past the first check
    /// used an attempt of the challenge it answered (those past its limit were refused),
    /// and the counter of the throttle it counted against is what the store says
    /// (`counted`), which depends on the order the racers reached it. The model checks that
    /// this is no more than one count per racer.
    /// A temporary access code's racers: each one evaluated (refused as a wrong code, or the
    /// winner) spent a try of the user's code while it was stored (`evaluated`).
    pub(crate) fn after_race(
        &mut self,
        op: &Op,
        racers: u32,
        evaluated: u32,
        counted: Option<(U, Scope, ThrottleState)>,
        before: Option<ThrottleState>,
    ) -> Result<(), String> {
        if let Op::UseAccess { user, .. } = *op
            && let Some(k) = self.access_code(user)
            && evaluated > 1
        {
            let max = self.settings.temporary_access.max_attempts;
            let a = &mut self.access[k];
            a.attempts = (a.attempts + evaluated - 1).min(max);
        }
        if let Op::FinishChallenge { user, challenge, answer: Answer::Right, .. } = *op
            && let Some(c) = resolve(challenge, self.challenges.len())
            && self.challenges[c].live(Some(user), self.now)
        {
            let c = &mut self.challenges[c];
            c.attempts = (c.attempts + racers - 1).min(c.max);
        }
        if let (Some((user, scope, state)), Some(before)) = (counted, before) {
            if state.failures > before.failures.saturating_add(racers) {
                return Err(format!(
                    "{racers} racers left {} failures counted from {}",
                    state.failures, before.failures
                ));
            }
            self.throttles.insert((user, scope), state);
            if state == ThrottleState::default() {
                self.throttles.remove(&(user, scope));
            }
        }
        Ok(())
    }

    /// The throttle `op` counts against, if it names a factor, code or device of `user`.
    pub(crate) fn scope_of(&self, op: &Op) -> Option<(U, Scope)> {
        match *op {
            Op::Verify { user, factor, .. } => {
                let i = resolve_factor(factor, self.factors.len(), &self.activated);
                self.active(user, i).map(|i| (user, Scope::Factor(i)))
            }
            Op::FinishChallenge { user, challenge, .. } => {
                let c = resolve(challenge, self.challenges.len())?;
                self.active(user, self.challenges[c].factor).map(|i| (user, Scope::Factor(i)))
            }
            Op::UseCode { user, .. } => Some((user, Scope::Codes)),
            Op::UseAccess { user, .. } => Some((user, Scope::Access)),
            _ => None,
        }
    }

    /// A kind's own ceremony: its lifetime and how many answers it takes (`None`: the
    /// kind's enrolment has none).
    fn ceremony_for(&self, kind: Kind) -> Option<(i64, u32)> {
        match kind {
            Kind::Totp => None,
            Kind::Passkey => Some((secs(mfa_webauthn::DEFAULT_CEREMONY_TIMEOUT), 1)),
            Kind::Sms => Some((SMS_CODE_LIFETIME, SMS_ATTEMPTS)),
        }
    }

    /// Opens a challenge of factor `i`.
    fn open_challenge(&mut self, user: U, i: usize) {
        let (ttl, max) = self
            .ceremony_for(self.factors[i].kind)
            .unwrap_or((secs(self.settings.challenge_ttl), self.settings.challenge_attempts));
        self.challenges.push(Ceremony {
            user: Some(user),
            factor: Some(i),
            expires_at: self.now + ttl,
            attempts: 0,
            max,
            gone: false,
        });
    }

    /// Applies `op` and returns what the service should answer.
    pub(crate) fn apply(&mut self, op: &Op, facts: Facts) -> Outcome {
        self.detail = None;
        match self.apply_inner(op, facts) {
            Ok(()) => Outcome::Ok,
            Err(outcome) => outcome,
        }
    }

    fn apply_inner(&mut self, op: &Op, facts: Facts) -> Result<(), Outcome> {
        let s = self.settings.clone();
        let now = self.now;
        match *op {
            Op::Advance { secs } => {
                self.now += i64::try_from(secs).unwrap_or(0);
                Ok(())
            }
            Op::StartEnrolment { user, actor, kind, replaces, .. } => {
                self.check_fresh(user, actor)?;
                let replaced = replaces.map(|p| resolve_factor(p, self.factors.len(), &self.activated));
                if let Some(old) = replaced {
                    let old = self.active(user, old).ok_or(Outcome::NotFound)?;
                    if self.factors[old].kind != kind {
                        return Err(Outcome::NotFound);
                    }
                }
                if self.pending(user) >= s.limits.pending_enrolments {
                    return Err(Outcome::Limit(StateLimit::PendingEnrolments));
                }
                let expires_at = now + secs(s.enrolment_ttl);
                let ceremony = self.ceremony_for(kind).map(|(ttl, max)| Ceremony {
                    user: Some(user),
                    factor: Some(self.factors.len()),
                    expires_at: (now + ttl).min(expires_at),
                    attempts: 0,
                    max,
                    gone: false,
                });
                self.factors.push(Factor {
                    user,
                    kind,
                    status: Status::Pending { expires_at },
                    last_step: None,
                    replaces: replaced.flatten(),
                    ceremony,
                });
                Ok(())
            }
            Op::FinishEnrolment { user, actor, factor, answer, .. } => {
                let i = self.stored(user, resolve(factor, self.factors.len())).ok_or(Outcome::NotFound)?;
                match self.factors[i].status {
                    Status::Pending { expires_at } if expires_at > now => {}
                    _ => return Err(Outcome::Expired),
                }
                self.check_fresh(user, actor)?;
                if answer == Answer::Malformed {
                    return Err(Outcome::InvalidInput);
                }
                let had_active = self.has_active(user);
                self.begin(user, Scope::Factor(i))?;
                if let Some(c) = &mut self.factors[i].ceremony {
                    if !c.live(Some(user), now) || c.attempts >= c.max {
                        return Err(Outcome::Expired);
                    }
                    c.attempts += 1;
                }
                match self.factors[i].kind {
                    Kind::Totp => self.totp(i, facts)?,
                    _ if answer == Answer::Right => {}
                    _ => return Err(Outcome::InvalidCode),
                }
                if let Some(c) = &mut self.factors[i].ceremony {
                    c.gone = true;
                }
                let replaced = self.factors[i].replaces.filter(|&old| self.factors[old].status != Status::Gone);
                if replaced.is_some_and(|old| self.factors[old].status == Status::Active)
                    && s.devices.revoke_on_factor_removal
                {
                    self.revoke_devices(user);
                }
                self.factors[i].status = Status::Active;
                if let Some(old) = replaced {
                    self.factors[old].status = Status::Gone;
                }
                self.reset(user, Scope::Factor(i));
                if !had_active {
                    self.discard_codes(user);
                }
                if self.factors[i].kind == Kind::Passkey {
                    self.registered.push(i);
                }
                self.activated.push(i);
                Ok(())
            }
            Op::Verify { user, factor, answer, .. } => {
                let i = resolve_factor(factor, self.factors.len(), &self.activated);
                let i = self.active(user, i).ok_or(Outcome::NotFound)?;
                if self.factors[i].kind != Kind::Totp {
                    return Err(Outcome::Unsupported);
                }
                if answer == Answer::Malformed {
                    return Err(Outcome::InvalidInput);
                }
                self.begin(user, Scope::Factor(i))?;
                self.totp(i, facts)?;
                self.reset(user, Scope::Factor(i));
                self.verified(user);
                Ok(())
            }
            Op::StartChallenge { user, factor, .. } => {
                let i = resolve_factor(factor, self.factors.len(), &self.activated);
                let i = self.active(user, i).ok_or(Outcome::NotFound)?;
                self.check_throttle(user, Scope::Factor(i))?;
                let cap = self.challenge_caps.entry(user).or_default();
                if !Self::count(cap, s.limits.challenges, now) {
                    return Err(Outcome::Limit(StateLimit::Challenges));
                }
                self.open_challenge(user, i);
                Ok(())
            }
            Op::FinishChallenge { user, challenge, answer, .. } => {
                let c = resolve(challenge, self.challenges.len()).ok_or(Outcome::Expired)?;
                if !self.challenges[c].live(Some(user), now) {
                    return Err(Outcome::Expired);
                }
                if answer == Answer::Malformed {
                    return Err(Outcome::InvalidInput);
                }
                if self.challenges[c].attempts >= self.challenges[c].max {
                    return Err(Outcome::Expired);
                }
                self.challenges[c].attempts += 1;
                let i = self.active(user, self.challenges[c].factor).ok_or(Outcome::NotFound)?;
                self.begin(user, Scope::Factor(i))?;
                match self.factors[i].kind {
                    // A proof refused as a replay uses up its ceremony (it reached the
                    // store's acceptance, which takes the ceremony first).
                    Kind::Totp => self.totp(i, facts).inspect_err(|e| {
                        if *e == Outcome::Replayed {
                            self.challenges[c].gone = true;
                        }
                    })?,
                    _ if answer == Answer::Right => {}
                    _ => return Err(Outcome::InvalidCode),
                }
                self.challenges[c].gone = true;
                self.reset(user, Scope::Factor(i));
                self.verified(user);
                Ok(())
            }
            Op::StartPasswordless { .. } => {
                if !Self::count(&mut self.passwordless_cap, s.limits.passwordless, now) {
                    return Err(Outcome::Limit(StateLimit::Passwordless));
                }
                self.passwordless.push(Ceremony {
                    user: None,
                    factor: None,
                    expires_at: now + secs(mfa_webauthn::DEFAULT_CEREMONY_TIMEOUT.min(s.challenge_ttl)),
                    attempts: 0,
                    max: 1,
                    gone: false,
                });
                Ok(())
            }
            Op::FinishPasswordless { ceremony, passkey, answer, .. } => {
                let c = resolve(ceremony, self.passwordless.len()).ok_or(Outcome::Expired)?;
                if !self.passwordless[c].live(None, now) {
                    return Err(Outcome::Expired);
                }
                if answer == Answer::Malformed {
                    return Err(Outcome::InvalidInput);
                }
                if self.passwordless[c].attempts >= self.passwordless[c].max {
                    return Err(Outcome::Expired);
                }
                self.passwordless[c].attempts += 1;
                // `Replay` stands for a credential id nobody holds.
                let named = resolve(passkey, self.registered.len()).map(|k| self.registered[k]);
                let i = named
                    .filter(|_| answer != Answer::Replay)
                    .filter(|&i| self.factors[i].status == Status::Active)
                    .ok_or(Outcome::InvalidCode)?;
                let user = self.factors[i].user;
                // Nothing is counted for a caller nobody authenticated; a hard stop holds.
                if self.settings.throttle.exhausted(&self.throttle(user, Scope::Factor(i))) {
                    return Err(Outcome::Disabled);
                }
                if answer != Answer::Right {
                    return Err(Outcome::InvalidCode);
                }
                self.passwordless[c].gone = true;
                self.verified(user);
                Ok(())
            }
            Op::GenerateCodes { user, actor, again, .. } => {
                if !again && self.codes_left(user) > 0 {
                    return Err(Outcome::AlreadyExists);
                }
                self.check_fresh(user, actor)?;
                if !self.has_active(user) {
                    return Err(Outcome::FactorRequired);
                }
                if s.devices.revoke_on_recovery_regeneration {
                    self.revoke_devices(user);
                }
                let set = self.sets;
                self.sets += 1;
                self.code_set.insert(user, set);
                for _ in 0..s.recovery_codes.count {
                    self.codes.push(Code { user, set, used: false });
                }
                Ok(())
            }
            Op::UseCode { user, code, .. } => {
                self.begin(user, Scope::Codes)?;
                let k = resolve(code, self.codes.len());
                let good = k.filter(|&k| {
                    let c = &self.codes[k];
                    c.user == user && self.code_set.get(&user) == Some(&c.set) && !c.used && self.has_active(user)
                });
                let k = good.ok_or(Outcome::InvalidCode)?;
                self.codes[k].used = true;
                self.reset(user, Scope::Codes);
                self.verified(user);
                Ok(())
            }
            Op::RememberDevice { verification, .. } => {
                let v = resolve(verification, self.verifications.len()).ok_or(Outcome::Skipped)?;
                // The harness moves the clock one second first, so devices never share a
                // creation time (the service breaks such ties by random id).
                self.now += 1;
                let now = self.now;
                let Verification { user, at } = self.verifications[v];
                if at > now + 1 || now - at > secs(s.reauth_window) {
                    return Err(Outcome::MfaRequired);
                }
                self.devices.push(Device {
                    user,
                    created_at: now,
                    expires_at: now + secs(s.devices.lifetime),
                    gone: false,
                });
                // Beyond the bound, the oldest are forgotten (and expired ones with them).
                let mut mine: Vec<usize> = (0..self.devices.len())
                    .filter(|&d| self.devices[d].user == user && !self.devices[d].gone)
                    .collect();
                mine.sort_by_key(|&d| std::cmp::Reverse(self.devices[d].created_at));
                let mut kept = 0;
                for d in mine {
                    if self.devices[d].expires_at > now && kept < s.limits.devices {
                        kept += 1;
                    } else {
                        self.devices[d].gone = true;
                    }
                }
                Ok(())
            }
            Op::CheckDevice { user, token, .. } => {
                self.begin(user, Scope::Devices)?;
                let d = resolve(token, self.devices.len())
                    .filter(|&d| self.devices[d].user == user && !self.devices[d].gone)
                    .ok_or(Outcome::InvalidCode)?;
                self.reset(user, Scope::Devices);
                if self.devices[d].expires_at <= now {
                    return Err(Outcome::Expired);
                }
                Ok(())
            }
            Op::RevokeDevice { user, device, .. } => {
                let d = resolve(device, self.devices.len())
                    .filter(|&d| self.devices[d].user == user && !self.devices[d].gone)
                    .ok_or(Outcome::NotFound)?;
                self.devices[d].gone = true;
                Ok(())
            }
            Op::RevokeAllDevices { user, .. } => {
                self.revoke_devices(user);
                Ok(())
            }
            Op::RemoveFactor { user, actor, factor, .. } => {
                self.check_fresh(user, actor)?;
                let i = self.stored(user, resolve(factor, self.factors.len())).ok_or(Outcome::NotFound)?;
                let was_active = self.factors[i].status == Status::Active;
                if was_active && s.devices.revoke_on_factor_removal {
                    self.revoke_devices(user);
                }
                self.factors[i].status = Status::Gone;
                if was_active && !self.has_active(user) {
                    self.discard_codes(user);
                }
                Ok(())
            }
            Op::SetPreferred { user, actor, factor, .. } => {
                self.check_fresh(user, actor)?;
                self.active(user, resolve(factor, self.factors.len())).ok_or(Outcome::NotFound)?;
                Ok(())
            }
            Op::Rename { user, factor, .. } => {
                self.stored(user, resolve(factor, self.factors.len())).ok_or(Outcome::NotFound)?;
                Ok(())
            }
            Op::GetFactor { user, factor, .. } => {
                let i = self.stored(user, resolve(factor, self.factors.len())).ok_or(Outcome::NotFound)?;
                match self.factors[i].status {
                    Status::Pending { expires_at } if expires_at <= now => Err(Outcome::NotFound),
                    _ => Ok(()),
                }
            }
            Op::ResendEnrolment { user, factor, .. } => {
                let i = self.stored(user, resolve(factor, self.factors.len())).ok_or(Outcome::NotFound)?;
                let Status::Pending { expires_at } = self.factors[i].status else { return Err(Outcome::Expired) };
                if expires_at <= now {
                    return Err(Outcome::Expired);
                }
                // Only a code sent by message can be sent again; a passkey's ceremony is
                // started afresh with a new enrolment.
                if self.factors[i].kind != Kind::Sms {
                    return Err(Outcome::Unsupported);
                }
                self.factors[i].ceremony = Some(Ceremony {
                    user: Some(user),
                    factor: Some(i),
                    expires_at: (now + SMS_CODE_LIFETIME).min(expires_at),
                    attempts: 0,
                    max: SMS_ATTEMPTS,
                    gone: false,
                });
                Ok(())
            }
            Op::ResendChallenge { user, challenge, .. } => {
                let c = resolve(challenge, self.challenges.len()).ok_or(Outcome::Expired)?;
                if !self.challenges[c].live(Some(user), now) {
                    return Err(Outcome::Expired);
                }
                let i = self.active(user, self.challenges[c].factor).ok_or(Outcome::NotFound)?;
                if self.factors[i].kind == Kind::Totp {
                    return Err(Outcome::Unsupported);
                }
                self.check_throttle(user, Scope::Factor(i))?;
                let cap = self.challenge_caps.entry(user).or_default();
                if !Self::count(cap, s.limits.challenges, now) {
                    return Err(Outcome::Limit(StateLimit::Challenges));
                }
                self.open_challenge(user, i);
                self.challenges[c].gone = true;
                Ok(())
            }
            // The harness applies a race's one answer and then what the racers did.
            Op::Race { .. } => Ok(()),
            Op::AdminReset { user, by, .. } => {
                Self::authorise(by)?;
                let factors = self.factors.iter().filter(|f| f.user == user && f.status != Status::Gone).count();
                let devices = self.devices.iter().filter(|d| d.user == user && !d.gone).count();
                self.detail =
                    Some(format!("removed {factors} factors, {} codes, {devices} devices", self.codes_left(user)));
                for f in self.factors.iter_mut().filter(|f| f.user == user) {
                    f.status = Status::Gone;
                }
                for c in self.challenges.iter_mut().filter(|c| c.user == Some(user)) {
                    c.gone = true;
                }
                for a in self.access.iter_mut().filter(|a| a.user == user) {
                    a.gone = true;
                }
                self.discard_codes(user);
                self.revoke_devices(user);
                self.throttles.retain(|(u, _), _| *u != user);
                Ok(())
            }
            Op::AdminUnlock { user, by, scope, .. } => {
                Self::authorise(by)?;
                let scopes = match scope {
                    Some(Counter::Factor(pick)) => {
                        vec![Scope::Factor(
                            self.stored(user, resolve(pick, self.factors.len())).ok_or(Outcome::NotFound)?,
                        )]
                    }
                    Some(Counter::Codes) => vec![Scope::Codes],
                    Some(Counter::Access) => vec![Scope::Access],
                    Some(Counter::Devices) => vec![Scope::Devices],
                    None => {
                        let mut all = vec![Scope::Codes, Scope::Devices, Scope::Access];
                        all.extend(
                            (0..self.factors.len())
                                .filter(|&i| self.stored(user, Some(i)).is_some())
                                .map(Scope::Factor),
                        );
                        all
                    }
                };
                let cleared = scopes.iter().filter(|&&scope| self.throttles.remove(&(user, scope)).is_some()).count();
                self.detail = Some(format!("cleared {cleared}"));
                Ok(())
            }
            Op::IssueAccess { user, by, lifetime, .. } => {
                Self::authorise(by)?;
                let t = s.temporary_access;
                let lifetime = match lifetime {
                    Lifetime::Short => ACCESS_SHORT,
                    Lifetime::Default => secs(t.lifetime),
                    Lifetime::TooLong => return Err(Outcome::InvalidInput),
                };
                for a in self.access.iter_mut().filter(|a| a.user == user) {
                    a.gone = true;
                }
                self.access.push(Access { user, expires_at: now + lifetime, attempts: 0, gone: false });
                Ok(())
            }
            Op::RevokeAccess { user, by, .. } => {
                Self::authorise(by)?;
                let taken = self.access_code(user);
                if let Some(k) = taken {
                    self.access[k].gone = true;
                }
                self.detail = Some(if taken.is_some() { "revoked" } else { "none" }.to_owned());
                Ok(())
            }
            Op::UseAccess { user, code, answer, .. } => {
                if answer == Answer::Malformed {
                    return Err(Outcome::InvalidInput);
                }
                self.begin(user, Scope::Access)?;
                // The user's code takes the try whatever was typed, if it has one left.
                let max = s.temporary_access.max_attempts;
                let live = self.access_code(user).filter(|&k| self.access[k].attempts < max);
                if let Some(k) = live {
                    self.access[k].attempts += 1;
                }
                let typed = resolve(code, self.access.len()).filter(|_| answer == Answer::Right);
                if live.is_none() || typed != live {
                    return Err(Outcome::InvalidCode);
                }
                if let Some(k) = live {
                    self.access[k].gone = true;
                }
                self.reset(user, Scope::Access);
                self.verified(user);
                Ok(())
            }
            Op::Purge => {
                for a in &mut self.access {
                    if a.expires_at <= now {
                        a.gone = true;
                    }
                }
                for f in &mut self.factors {
                    if matches!(f.status, Status::Pending { expires_at } if expires_at <= now) {
                        f.status = Status::Gone;
                    }
                }
                for d in &mut self.devices {
                    if d.expires_at <= now {
                        d.gone = true;
                    }
                }
                for c in self.challenges.iter_mut().chain(self.passwordless.iter_mut()) {
                    if c.expires_at <= now {
                        c.gone = true;
                    }
                }
                Ok(())
            }
        }
    }
}
