//! One browser session's sign-in, as the host keeps it: who signed in with a password and
//! when, what the service has verified since, the challenge in progress and a remembered
//! device. [`FreshAuth`] and the access policy's [`Evidence`] derive from it.
//!
//! It serialises, so a session layer (tower-sessions, or the host's own) can keep it.
//! Keep it **server-side**: it says what a user has proven, so a client must not be able to
//! write it (a signed cookie would let a stolen copy outlive a sign-out).

use serde::{Deserialize, Serialize};

use crate::access::{ActionDigest, Evidence, RememberedDevice, Verified};
use crate::error::{Error, Result};
use crate::settings::FreshAuth;
use crate::types::{Assurance, CeremonyId, FactorId, FactorKind, Timestamp, UserId};

/// How many verifications a [`SignIn`] keeps (the most recent); older ones no longer
/// matter to freshness, and the session stays small.
pub const MAX_VERIFICATIONS: usize = 8;

/// A sign-in in progress or done, for one user in one session.
///
/// # Examples
///
/// ```
/// use mfa_core::signin::SignIn;
/// use mfa_core::{Assurance, FactorKind, Timestamp, UserId, Verified};
///
/// # fn main() -> Result<(), mfa_core::Error> {
/// let alice = UserId::new("alice")?;
/// let t0 = Timestamp::from_unix_millis(1_700_000_000_000);
///
/// // The host checked Alice's password.
/// let mut sign_in = SignIn::new(alice.clone(), t0);
/// assert!(!sign_in.has_mfa());
/// assert_eq!(sign_in.fresh().mfa_at(), None);
///
/// // The service verified her authenticator app a minute later.
/// let t1 = Timestamp::from_unix_millis(1_700_000_060_000);
/// let verified = Verified::new(alice, None, Some(FactorKind::TOTP), Assurance::ReplayResistantOtp, t1);
/// sign_in.record(verified)?;
/// assert!(sign_in.has_mfa());
/// assert_eq!(sign_in.fresh().mfa_at(), Some(t1));
/// assert_eq!(sign_in.evidence().verifications.len(), 1);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SignIn {
    /// Who signed in.
    pub user: UserId,
    /// When the host last checked the password (sign-in or re-authentication).
    pub primary_at: Timestamp,
    /// What the service verified in this session, oldest first, at most
    /// [`MAX_VERIFICATIONS`].
    pub verifications: Vec<Verified>,
    /// The challenge the user is answering, if any.
    pub challenge: Option<OpenChallenge>,
    /// A remembered device the service checked for this session.
    pub device: Option<RememberedDevice>,
}

/// The challenge a session is answering: enough to finish it, resend its code and show the
/// page again after an error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct OpenChallenge {
    /// The challenge to finish.
    pub id: CeremonyId,
    /// The factor challenged.
    pub factor: FactorId,
    /// Its kind.
    pub kind: FactorKind,
    /// The one action it approves, for a step-up.
    pub action: Option<ActionDigest>,
    /// When it expires.
    pub expires_at: Timestamp,
}

impl OpenChallenge {
    /// A challenge from its parts, as the service returned them.
    pub fn new(
        id: CeremonyId,
        factor: FactorId,
        kind: FactorKind,
        action: Option<ActionDigest>,
        expires_at: Timestamp,
    ) -> Self {
        Self { id, factor, kind, action, expires_at }
    }
}

impl SignIn {
    /// A sign-in whose password the host checked at `primary_at`.
    pub fn new(user: UserId, primary_at: Timestamp) -> Self {
        Self { user, primary_at, verifications: Vec::new(), challenge: None, device: None }
    }

    /// The host checked the password again (re-authentication before a sensitive change).
    pub fn reauthenticated(&mut self, at: Timestamp) {
        self.primary_at = self.primary_at.max(at);
    }

    /// Records a verification the service returned, and closes the challenge it answered.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] if the verification is another user's; nothing changes.
    pub fn record(&mut self, verified: Verified) -> Result<()> {
        if verified.user != self.user {
            return Err(Error::InvalidInput { field: "verification", reason: "of another user" });
        }
        if self.challenge.as_ref().is_some_and(|c| Some(c.factor) == verified.factor) {
            self.challenge = None;
        }
        self.verifications.push(verified);
        let excess = self.verifications.len().saturating_sub(MAX_VERIFICATIONS);
        self.verifications.drain(..excess);
        Ok(())
    }

    /// Records a remembered device the service checked for this user.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] if the device is another user's; nothing changes.
    pub fn remember(&mut self, device: RememberedDevice) -> Result<()> {
        if device.user != self.user {
            return Err(Error::InvalidInput { field: "device", reason: "of another user" });
        }
        self.device = Some(device);
        Ok(())
    }

    /// Whether any verification in this session was a second factor (not bound to one
    /// action).
    pub fn has_mfa(&self) -> bool {
        self.latest_mfa().is_some()
    }

    /// The strongest assurance verified in this session (not bound to one action).
    pub fn assurance(&self) -> Option<Assurance> {
        self.general().map(|v| v.assurance).max()
    }

    /// The authentication to show for sensitive changes: the password check, and the latest
    /// verification not bound to one action (a step-up approving a payment does not also
    /// approve adding a factor).
    pub fn fresh(&self) -> FreshAuth {
        let fresh = FreshAuth::primary(self.primary_at);
        match self.latest_mfa() {
            Some(at) => fresh.with_mfa(at),
            None => fresh,
        }
    }

    /// What the session has proven, for [`AccessPolicy::evaluate`](crate::AccessPolicy::evaluate).
    pub fn evidence(&self) -> Evidence {
        let evidence = Evidence::verified(self.verifications.iter().cloned());
        match &self.device {
            Some(device) => evidence.with_device(device.clone()),
            None => evidence,
        }
    }

    fn general(&self) -> impl Iterator<Item = &Verified> {
        self.verifications.iter().filter(|v| v.action.is_none())
    }

    fn latest_mfa(&self) -> Option<Timestamp> {
        self.general().map(|v| v.at).max()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: i64) -> Timestamp {
        Timestamp::from_unix_millis(1_700_000_000_000 + secs * 1000)
    }

    fn verified(user: &UserId, at: Timestamp) -> Verified {
        Verified::new(user.clone(), None, Some(FactorKind::TOTP), Assurance::ReplayResistantOtp, at)
    }

    #[test]
    fn another_users_verification_changes_nothing() {
        let (alice, bob) = (UserId::new("alice").unwrap(), UserId::new("bob").unwrap());
        let mut sign_in = SignIn::new(alice, t(0));
        let before = sign_in.clone();
        assert!(sign_in.record(verified(&bob, t(1))).is_err());
        assert_eq!(sign_in, before);
    }

    #[test]
    fn a_step_up_for_one_action_does_not_refresh_general_mfa() {
        let alice = UserId::new("alice").unwrap();
        let mut sign_in = SignIn::new(alice.clone(), t(0));
        sign_in.record(verified(&alice, t(10))).unwrap();
        let payment = ActionDigest::new("payment", &[("amount", "10")]);
        sign_in.record(verified(&alice, t(100)).with_action(Some(payment))).unwrap();
        assert_eq!(sign_in.fresh().mfa_at(), Some(t(10)));
        assert_eq!(sign_in.evidence().verifications.len(), 2, "the policy still sees it");
    }

    #[test]
    fn verifications_are_bounded_and_keep_the_latest() {
        let alice = UserId::new("alice").unwrap();
        let mut sign_in = SignIn::new(alice.clone(), t(0));
        for i in 0..20 {
            sign_in.record(verified(&alice, t(i))).unwrap();
        }
        assert_eq!(sign_in.verifications.len(), MAX_VERIFICATIONS);
        assert_eq!(sign_in.fresh().mfa_at(), Some(t(19)));
    }

    #[test]
    fn it_round_trips_through_json() {
        let alice = UserId::new("alice").unwrap();
        let mut sign_in = SignIn::new(alice.clone(), t(0));
        sign_in.record(verified(&alice, t(5))).unwrap();
        let json = serde_json::to_string(&sign_in).unwrap();
        assert_eq!(serde_json::from_str::<SignIn>(&json).unwrap(), sign_in);
    }
}
