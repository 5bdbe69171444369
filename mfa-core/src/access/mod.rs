//! Deciding whether a sign-in, or a sensitive action, has enough MFA.
//!
//! An [`AccessPolicy`] says how much MFA a user needs: [`Requirement`] Optional, Prompted or
//! Required (per organisation and per user, the strictest winning), which factor kinds
//! count, the minimum [`Assurance`], how long a verification counts, a grace period for
//! enrolment when Required is switched on, and whether remembered devices are trusted.
//! [`AccessPolicy::evaluate`] takes the user's factors and what this session has proven,
//! optionally a [`StepUp`] for a sensitive action, and returns a [`Decision`]: satisfied or
//! not, the factors that would satisfy it (best first), whether the user must, may or
//! need not enrol — and the reasons, ready to show or log.
//!
//! The evaluation is pure: no I/O, no clock but the `now` it is given.
//!
//! ```
//! use std::time::Duration;
//! use mfa_core::access::{AccessPolicy, Evidence, Outcome, Requirement};
//! use mfa_core::{Assurance, FactorKind, Timestamp, UserId};
//!
//! let org = AccessPolicy::new(Requirement::Required).deny_kind(FactorKind::SMS);
//! let user_override = AccessPolicy::new(Requirement::Optional).min_assurance(Assurance::PhishingResistant);
//! let policy = AccessPolicy::strictest([&AccessPolicy::default(), &org, &user_override]);
//! assert_eq!(policy.requirement, Requirement::Required);
//!
//! let alice = UserId::new("alice")?;
//! let now = Timestamp::from_unix_secs(1_700_000_000);
//! let decision = policy.evaluate(&alice, &[], &Evidence::default(), None, now);
//! assert_eq!(decision.outcome, Outcome::EnrolmentRequired);
//! println!("{}", decision.explain());
//! # Ok::<(), mfa_core::Error>(())
//! ```

use std::collections::BTreeSet;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::types::{Assurance, DeviceId, FactorId, FactorKind, FactorStatus, FactorSummary, Timestamp, UserId};

mod decision;

pub use decision::{Decision, Enrolment, Outcome, Reason, SatisfiedBy};

/// How much MFA a user needs (Casdoor's rules), weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Requirement {
    /// Users may enable MFA; once they have a factor, sign-in asks for it.
    #[default]
    Optional,
    /// Like Optional, but users without a factor are prompted to add one (and may skip).
    Prompted,
    /// Every user must verify a factor; users without one must enrol (after any grace
    /// period).
    Required,
}

/// A period after Required is switched on during which users without a factor may still
/// sign in (and are prompted to enrol).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrolmentGrace {
    /// When Required took effect.
    pub since: Timestamp,
    /// How long users have to enrol.
    pub period: Duration,
}

impl EnrolmentGrace {
    /// The moment enrolment becomes mandatory.
    pub fn deadline(&self) -> Timestamp {
        self.since.saturating_add(self.period)
    }
}

/// How much MFA is needed; see the [module documentation](self).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AccessPolicy {
    /// Optional, Prompted or Required.
    pub requirement: Requirement,
    /// Only these kinds count (`None`: every kind). Recovery codes always count unless the
    /// minimum assurance excludes them.
    pub allowed_kinds: Option<BTreeSet<FactorKind>>,
    /// These kinds never count (a policy can refuse SMS).
    pub denied_kinds: BTreeSet<FactorKind>,
    /// The weakest assurance that counts (`None`: any).
    pub min_assurance: Option<Assurance>,
    /// How long a verification keeps counting for the session (`None`: for the session).
    pub max_verification_age: Option<Duration>,
    /// A grace period for enrolment under Required.
    pub enrolment_grace: Option<EnrolmentGrace>,
    /// Whether a remembered device satisfies the policy (never a step-up).
    pub allow_remembered_devices: bool,
}

impl Default for AccessPolicy {
    fn default() -> Self {
        Self::new(Requirement::Optional)
    }
}

impl AccessPolicy {
    /// A policy with this requirement; every kind and assurance counts, remembered
    /// devices are trusted.
    pub fn new(requirement: Requirement) -> Self {
        Self {
            requirement,
            allowed_kinds: None,
            denied_kinds: BTreeSet::new(),
            min_assurance: None,
            max_verification_age: None,
            enrolment_grace: None,
            allow_remembered_devices: true,
        }
    }

    /// Only these kinds count.
    #[must_use]
    pub fn allow_kinds(mut self, kinds: impl IntoIterator<Item = FactorKind>) -> Self {
        self.allowed_kinds = Some(kinds.into_iter().collect());
        self
    }

    /// This kind never counts.
    #[must_use]
    pub fn deny_kind(mut self, kind: FactorKind) -> Self {
        self.denied_kinds.insert(kind);
        self
    }

    /// The weakest assurance that counts. [`Assurance::RestrictedOutOfBand`] asks for an
    /// AAL2-strength second factor (email never counts); [`Assurance::PhishingResistant`]
    /// asks for WebAuthn.
    #[must_use]
    pub fn min_assurance(mut self, assurance: Assurance) -> Self {
        self.min_assurance = Some(assurance);
        self
    }

    /// How long a verification keeps counting.
    #[must_use]
    pub fn max_verification_age(mut self, age: Duration) -> Self {
        self.max_verification_age = Some(age);
        self
    }

    /// A grace period for enrolment from `since`.
    #[must_use]
    pub fn enrolment_grace(mut self, since: Timestamp, period: Duration) -> Self {
        self.enrolment_grace = Some(EnrolmentGrace { since, period });
        self
    }

    /// Whether remembered devices satisfy the policy.
    #[must_use]
    pub fn remembered_devices(mut self, allowed: bool) -> Self {
        self.allow_remembered_devices = allowed;
        self
    }

    /// Merges policies from several sources (a default, the organisation, the user): the
    /// strictest of each rule wins. Allowed kinds intersect, denied kinds add up, the
    /// highest minimum assurance and the shortest verification age win, remembered
    /// devices count only if every source allows them, and a grace period survives only
    /// if every source that requires MFA grants one (the earliest deadline wins).
    pub fn strictest<'a>(sources: impl IntoIterator<Item = &'a AccessPolicy>) -> AccessPolicy {
        let sources: Vec<&AccessPolicy> = sources.into_iter().collect();
        let mut merged = AccessPolicy::default();
        let mut graces: Vec<Option<EnrolmentGrace>> = Vec::new();
        for p in &sources {
            merged.requirement = merged.requirement.max(p.requirement);
            merged.allowed_kinds = match (merged.allowed_kinds.take(), &p.allowed_kinds) {
                (None, other) => other.clone(),
                (Some(mine), None) => Some(mine),
                (Some(mine), Some(other)) => Some(mine.intersection(other).cloned().collect()),
            };
            merged.denied_kinds.extend(p.denied_kinds.iter().cloned());
            merged.min_assurance = merged.min_assurance.max(p.min_assurance);
            merged.max_verification_age = match (merged.max_verification_age, p.max_verification_age) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            merged.allow_remembered_devices &= p.allow_remembered_devices;
            if p.requirement == Requirement::Required {
                graces.push(p.enrolment_grace);
            }
        }
        merged.enrolment_grace = if graces.is_empty() || graces.iter().any(Option::is_none) {
            None
        } else {
            graces.into_iter().flatten().min_by_key(EnrolmentGrace::deadline)
        };
        merged
    }

    /// True if `kind` counts under this policy.
    pub fn allows_kind(&self, kind: &FactorKind) -> bool {
        !self.denied_kinds.contains(kind) && self.allowed_kinds.as_ref().is_none_or(|a| a.contains(kind))
    }

    /// Decides whether `user` has enough MFA for the session (or, with `step_up`, for one
    /// sensitive action). `factors` are the user's factors ([`Mfa::list_factors`](crate::Mfa::list_factors));
    /// `evidence` is what this session proved.
    pub fn evaluate(
        &self,
        user: &UserId,
        factors: &[FactorSummary],
        evidence: &Evidence,
        step_up: Option<&StepUp>,
        now: Timestamp,
    ) -> Decision {
        let mut reasons = vec![Reason::Requirement(self.requirement)];
        let min = self.min_assurance.max(step_up.and_then(|s| s.min_assurance));
        let max_age = match (self.max_verification_age, step_up.map(|s| s.max_age)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };

        // 1. Does something this session proved count?
        for v in &evidence.verifications {
            if &v.user != user {
                reasons.push(Reason::OtherUser);
                continue;
            }
            if let Some(kind) = &v.kind
                && !self.allows_kind(kind)
            {
                reasons.push(Reason::KindNotAllowed { kind: kind.clone() });
                continue;
            }
            if let Some(min) = min
                && v.assurance < min
            {
                reasons.push(Reason::TooWeak { assurance: v.assurance, required: min });
                continue;
            }
            let age = now.duration_since(v.at);
            if max_age.is_some_and(|max| age > max) || v.at > now {
                reasons.push(Reason::TooOld { age, max: max_age.unwrap_or_default() });
                continue;
            }
            if let Some(action) = step_up.and_then(|s| s.action.as_ref())
                && v.action.as_ref() != Some(action)
            {
                reasons.push(Reason::OtherAction);
                continue;
            }
            let by = SatisfiedBy::Verification { factor: v.factor, assurance: v.assurance, at: v.at };
            reasons.push(Reason::Proven(by.clone()));
            return Decision::new(Outcome::Satisfied(by), Vec::new(), Enrolment::NotNeeded, reasons);
        }

        // 2. A remembered device, for sign-in only.
        if let Some(device) = &evidence.remembered_device {
            if step_up.is_some() {
                reasons.push(Reason::DeviceNotForStepUp);
            } else if !self.allow_remembered_devices {
                reasons.push(Reason::DevicesNotTrusted);
            } else if &device.user != user || device.expires_at <= now {
                reasons.push(Reason::DeviceInvalid);
            } else {
                let by = SatisfiedBy::RememberedDevice { device: device.id };
                reasons.push(Reason::Proven(by.clone()));
                return Decision::new(Outcome::Satisfied(by), Vec::new(), Enrolment::NotNeeded, reasons);
            }
        }

        // 3. Factors that would satisfy it, best first.
        let mut candidates: Vec<FactorSummary> = factors
            .iter()
            .filter(|f| f.status == FactorStatus::Active && self.allows_kind(&f.kind))
            .filter(|f| min.is_none_or(|min| f.assurance >= min))
            .cloned()
            .collect();
        candidates.sort_by(|a, b| {
            b.preferred.cmp(&a.preferred).then(b.assurance.cmp(&a.assurance)).then(b.last_used_at.cmp(&a.last_used_at))
        });
        if !candidates.is_empty() {
            reasons.push(Reason::VerifyOneOf(candidates.len()));
            return Decision::new(Outcome::VerificationRequired, candidates, Enrolment::NotNeeded, reasons);
        }

        // 4. Nothing suitable enrolled.
        reasons.push(Reason::NoSuitableFactor);
        if step_up.is_some() {
            return Decision::new(Outcome::EnrolmentRequired, Vec::new(), Enrolment::Required, reasons);
        }
        // A user who turned MFA on keeps it on: if none of their factors counts here (a
        // kind this policy denies, or too weak), they must add one that does rather than
        // sign in with no second factor at all. Required MFA says the same below.
        if self.requirement < Requirement::Required && factors.iter().any(|f| f.status == FactorStatus::Active) {
            reasons.push(Reason::FactorsDoNotCount);
            return Decision::new(Outcome::EnrolmentRequired, Vec::new(), Enrolment::Required, reasons);
        }
        match self.requirement {
            Requirement::Optional => {
                Decision::new(Outcome::Satisfied(SatisfiedBy::NotRequired), Vec::new(), Enrolment::NotNeeded, reasons)
            }
            Requirement::Prompted => {
                Decision::new(Outcome::Satisfied(SatisfiedBy::NotRequired), Vec::new(), Enrolment::Suggested, reasons)
            }
            Requirement::Required => match self.enrolment_grace.map(|g| g.deadline()) {
                Some(until) if now < until => {
                    reasons.push(Reason::Grace { until });
                    let outcome = Outcome::Satisfied(SatisfiedBy::NotRequired);
                    Decision::new(outcome, Vec::new(), Enrolment::Grace { until }, reasons)
                }
                _ => Decision::new(Outcome::EnrolmentRequired, Vec::new(), Enrolment::Required, reasons),
            },
        }
    }
}

/// A sensitive action's demands: a minimum assurance, a maximum age of the verification,
/// and optionally the one action the verification must have been bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StepUp {
    /// The weakest assurance that counts for this action.
    pub min_assurance: Option<Assurance>,
    /// How recent the verification must be.
    pub max_age: Duration,
    /// The action the verification must prove (see [`Mfa::start_step_up`](crate::Mfa::start_step_up)).
    pub action: Option<ActionDigest>,
}

impl StepUp {
    /// A step-up asking for a verification no older than `max_age`.
    pub fn within(max_age: Duration) -> Self {
        Self { min_assurance: None, max_age, action: None }
    }

    /// Also asks for at least this assurance.
    #[must_use]
    pub fn min_assurance(mut self, assurance: Assurance) -> Self {
        self.min_assurance = Some(assurance);
        self
    }

    /// Also asks that the verification was bound to this action.
    #[must_use]
    pub fn for_action(mut self, action: ActionDigest) -> Self {
        self.action = Some(action);
        self
    }
}

/// A digest of one action (a payment: amount, payee; a scope grant), so that a
/// verification can prove that action and nothing else.
///
/// ```
/// use mfa_core::access::ActionDigest;
/// let a = ActionDigest::new("payment", &[("amount", "100.00 EUR"), ("payee", "ACME")]);
/// let b = ActionDigest::new("payment", &[("payee", "ACME"), ("amount", "100.00 EUR")]);
/// assert_eq!(a, b, "field order does not matter");
/// assert_ne!(a, ActionDigest::new("payment", &[("amount", "1000.00 EUR"), ("payee", "ACME")]));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ActionDigest(String);

impl ActionDigest {
    /// SHA-256 over the action name and its fields (sorted by name, length-prefixed).
    pub fn new(action: &str, fields: &[(&str, &str)]) -> Self {
        use sha2::{Digest, Sha256};
        let mut fields = fields.to_vec();
        fields.sort_unstable();
        let mut h = Sha256::new();
        h.update(b"mfa-rs/action/v1\0");
        for part in std::iter::once(action).chain(fields.iter().flat_map(|(k, v)| [*k, *v])) {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part.as_bytes());
        }
        Self(data_encoding::HEXLOWER.encode(&h.finalize()))
    }

    /// The digest as stored (64 hex characters).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub(crate) fn from_stored(s: String) -> Self {
        Self(s)
    }
}

/// What this session has proven, as the host keeps it: the verifications the service
/// returned, and a remembered device it checked.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Evidence {
    /// Successful verifications in this session.
    pub verifications: Vec<Verified>,
    /// A remembered device presented and checked ([`Mfa::check_device`](crate::Mfa::check_device)).
    pub remembered_device: Option<RememberedDevice>,
}

impl Evidence {
    /// Evidence from verifications.
    pub fn verified(verifications: impl IntoIterator<Item = Verified>) -> Self {
        Self { verifications: verifications.into_iter().collect(), remembered_device: None }
    }

    /// Adds a checked remembered device.
    #[must_use]
    pub fn with_device(mut self, device: RememberedDevice) -> Self {
        self.remembered_device = Some(device);
        self
    }
}

/// A remembered device, as [`Mfa::check_device`](crate::Mfa::check_device) or
/// [`Mfa::list_devices`](crate::Mfa::list_devices) reports it. No secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RememberedDevice {
    /// Its id.
    pub id: DeviceId,
    /// Its owner.
    pub user: UserId,
    /// Its name.
    pub label: String,
    /// When it was remembered.
    pub created_at: Timestamp,
    /// When it was last presented.
    pub last_seen_at: Option<Timestamp>,
    /// When it stops counting.
    pub expires_at: Timestamp,
}

/// What a successful verification proved. Keep it in the session (it serialises) and
/// hand it to [`AccessPolicy::evaluate`] and
/// [`FreshAuth::with_mfa`](crate::FreshAuth::with_mfa).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct Verified {
    /// Who.
    pub user: UserId,
    /// With which factor (`None` for a recovery code).
    pub factor: Option<FactorId>,
    /// The factor's kind (`None` for a recovery code).
    pub kind: Option<FactorKind>,
    /// What it proves.
    pub assurance: Assurance,
    /// When. Pass it to [`FreshAuth::with_mfa`](crate::FreshAuth::with_mfa) for sensitive changes.
    pub at: Timestamp,
    /// The one action this verification proves, if the challenge was bound to one
    /// ([`Mfa::start_step_up`](crate::Mfa::start_step_up)).
    pub action: Option<ActionDigest>,
}

impl Verified {
    /// A verification from its parts, for hosts that keep sessions in their own format.
    /// Build it only from what the service returned.
    pub fn new(
        user: UserId,
        factor: Option<FactorId>,
        kind: Option<FactorKind>,
        assurance: Assurance,
        at: Timestamp,
    ) -> Self {
        Self { user, factor, kind, assurance, at, action: None }
    }

    /// Marks the verification as proving `action`.
    #[must_use]
    pub fn with_action(mut self, action: Option<ActionDigest>) -> Self {
        self.action = action;
        self
    }
}
