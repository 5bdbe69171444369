//! What [`AccessPolicy::evaluate`](super::AccessPolicy::evaluate) answers: the outcome, the
//! candidates, the enrolment advice and the reasons, step by step.

use std::fmt;
use std::time::Duration;

use serde::Serialize;

use super::Requirement;
use crate::types::{Assurance, DeviceId, FactorId, FactorKind, FactorSummary, Timestamp};

/// What satisfied a policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub enum SatisfiedBy {
    /// A verification in this session.
    Verification {
        /// The factor (`None` for a recovery code).
        factor: Option<FactorId>,
        /// Its assurance.
        assurance: Assurance,
        /// When.
        at: Timestamp,
    },
    /// A remembered device.
    RememberedDevice {
        /// Which.
        device: DeviceId,
    },
    /// Nothing was needed (no suitable factor, and the policy does not require one yet).
    NotRequired,
}

/// Whether the policy is met.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub enum Outcome {
    /// Met.
    Satisfied(SatisfiedBy),
    /// The user must verify one of [`Decision::candidates`].
    VerificationRequired,
    /// The user has no factor that would do and must enrol one first.
    EnrolmentRequired,
}

/// What to tell the user about enrolling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub enum Enrolment {
    /// Nothing.
    NotNeeded,
    /// Suggest adding a factor; they may skip (Prompted).
    Suggested,
    /// They may skip until `until`, then it is required.
    Grace {
        /// The deadline.
        until: Timestamp,
    },
    /// They must add a suitable factor now.
    Required,
}

/// One step of the reasoning, in words a host can show or log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub enum Reason {
    /// The requirement in force.
    Requirement(Requirement),
    /// A verification belonged to another user.
    OtherUser,
    /// A verification's kind does not count.
    KindNotAllowed {
        /// The kind.
        kind: FactorKind,
    },
    /// A verification was too weak.
    TooWeak {
        /// What it gave.
        assurance: Assurance,
        /// What was needed.
        required: Assurance,
    },
    /// A verification was too old.
    TooOld {
        /// Its age.
        age: Duration,
        /// The limit.
        max: Duration,
    },
    /// A verification proved another action (or none).
    OtherAction,
    /// Remembered devices never satisfy a step-up.
    DeviceNotForStepUp,
    /// The policy does not trust remembered devices.
    DevicesNotTrusted,
    /// The remembered device is another user's or expired.
    DeviceInvalid,
    /// Something satisfied the policy.
    Proven(SatisfiedBy),
    /// This many enrolled factors would satisfy it.
    VerifyOneOf(usize),
    /// No enrolled factor would satisfy it.
    NoSuitableFactor,
    /// The user has active factors, but none counts under this policy: MFA stays on, so
    /// they must add one that does.
    FactorsDoNotCount,
    /// Enrolment is required from this moment.
    Grace {
        /// The deadline.
        until: Timestamp,
    },
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Requirement(r) => write!(f, "MFA is {r:?} for this account"),
            Reason::OtherUser => f.write_str("a verification belonged to another account"),
            Reason::KindNotAllowed { kind } => write!(f, "{kind} verifications do not count here"),
            Reason::TooWeak { assurance, required } => {
                write!(f, "a {} verification is weaker than the required {}", assurance.as_str(), required.as_str())
            }
            Reason::TooOld { age, max } => {
                write!(f, "a verification is {} s old; at most {} s counts", age.as_secs(), max.as_secs())
            }
            Reason::OtherAction => f.write_str("a verification was not for this action"),
            Reason::DeviceNotForStepUp => f.write_str("a remembered device does not count for this action"),
            Reason::DevicesNotTrusted => f.write_str("remembered devices do not count here"),
            Reason::DeviceInvalid => f.write_str("the remembered device is expired or not this account's"),
            Reason::Proven(SatisfiedBy::Verification { assurance, .. }) => {
                write!(f, "satisfied by a {} verification", assurance.as_str())
            }
            Reason::Proven(SatisfiedBy::RememberedDevice { .. }) => f.write_str("satisfied by a remembered device"),
            Reason::Proven(SatisfiedBy::NotRequired) => f.write_str("no verification needed"),
            Reason::VerifyOneOf(n) => write!(f, "verify one of {n} enrolled factor(s)"),
            Reason::NoSuitableFactor => f.write_str("no enrolled factor would satisfy the policy"),
            Reason::FactorsDoNotCount => f.write_str(
                "the user has turned MFA on, but none of their factors counts here: they must add one that does",
            ),
            Reason::Grace { until } => {
                write!(f, "enrolment becomes mandatory at {} (Unix seconds)", until.unix_secs())
            }
        }
    }
}

/// The answer of [`AccessPolicy::evaluate`](super::AccessPolicy::evaluate).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Decision {
    /// Met, verify, or enrol.
    pub outcome: Outcome,
    /// When verification is required: the factors that would satisfy it, the preferred
    /// first, then by assurance, then most recently used.
    pub candidates: Vec<FactorSummary>,
    /// What to tell the user about enrolling.
    pub enrolment: Enrolment,
    /// Why, step by step.
    pub reasons: Vec<Reason>,
}

impl Decision {
    pub(super) fn new(
        outcome: Outcome,
        candidates: Vec<FactorSummary>,
        enrolment: Enrolment,
        reasons: Vec<Reason>,
    ) -> Self {
        Self { outcome, candidates, enrolment, reasons }
    }

    /// True if the policy is met.
    pub fn is_satisfied(&self) -> bool {
        matches!(self.outcome, Outcome::Satisfied(_))
    }

    /// The reasons as one line, for a log or a support page.
    pub fn explain(&self) -> String {
        self.reasons.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
    }
}
