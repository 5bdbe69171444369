//! The records of the verification hot path: what [`FactorStore::begin_attempt`] finds and
//! what [`FactorStore::accept_verification`] applies, so that a verification is two store
//! calls (on SQL, two round trips).
//!
//! [`FactorStore::begin_attempt`]: super::FactorStore::begin_attempt
//! [`FactorStore::accept_verification`]: super::FactorStore::accept_verification

use super::records::{FactorRecord, ThrottleState};
use crate::seal::SealedSecret;
use crate::types::{CeremonyId, Timestamp, UserId};

/// A factor read for a verification, with its failure counter: what
/// [`FactorStore::begin_attempt`](super::FactorStore::begin_attempt) returns.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FactorAttempt {
    /// The factor, pending or active.
    pub factor: FactorRecord,
    /// Its failure counter as it was before this call.
    pub throttle: ThrottleState,
    /// Whether the store counted this attempt: the factor was active, of a kind the caller
    /// named, and its counter clear, and the counter is now one failure at the call's time.
    pub counted: bool,
}

impl FactorAttempt {
    /// An attempt from its parts.
    pub fn new(factor: FactorRecord, throttle: ThrottleState, counted: bool) -> Self {
        Self { factor, throttle, counted }
    }
}

/// A verification's success, applied at once by
/// [`FactorStore::accept_verification`](super::FactorStore::accept_verification): take the
/// ceremony the proof answered, move the replay marker forward, record the use and any new
/// adapter state, and clear the failure counter.
///
/// # Examples
///
/// ```
/// use mfa_core::store::Acceptance;
/// use mfa_core::Timestamp;
///
/// let mut accept = Acceptance::new(Timestamp::from_unix_secs(1_700_000_000));
/// accept.replay_marker = Some(56_666_666);
/// accept.clear_throttle = true;
/// assert!(accept.ceremony.is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Acceptance {
    /// The factor's new last use.
    pub used_at: Timestamp,
    /// The ceremony the proof answered, with the user it is bound to (`None` for a sign-in
    /// without a username): taken, so it is used once.
    pub ceremony: Option<(Option<UserId>, CeremonyId)>,
    /// The proof's replay marker: it must be greater than the factor's, and becomes it.
    pub replay_marker: Option<u64>,
    /// The secret sealed anew (under the current key).
    pub secret: Option<SealedSecret>,
    /// New adapter state.
    pub data: Option<Vec<u8>>,
    /// New details for summaries.
    pub details: Option<Vec<(String, String)>>,
    /// Whether to clear the factor's failure counter (the attempt was counted).
    pub clear_throttle: bool,
}

impl Acceptance {
    /// An acceptance that only records the use at `used_at`.
    pub fn new(used_at: Timestamp) -> Self {
        Self {
            used_at,
            ceremony: None,
            replay_marker: None,
            secret: None,
            data: None,
            details: None,
            clear_throttle: false,
        }
    }
}

/// What [`FactorStore::accept_verification`](super::FactorStore::accept_verification) did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AcceptOutcome {
    /// Everything was applied.
    Accepted,
    /// The ceremony was gone (taken by another proof, expired, or another user's): nothing
    /// was changed.
    CeremonyGone,
    /// The factor is gone or not active, or its replay marker is not behind the proof's:
    /// only the ceremony was taken.
    Refused,
}
