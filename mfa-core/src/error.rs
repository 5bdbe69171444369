//! The error type every fallible operation returns.

use std::time::Duration;

use crate::caps::{DeliveryCap, StateLimit};

/// What went wrong. Match on the variants a caller acts on; treat the rest as opaque.
///
/// # Security
///
/// No variant carries a code, secret or token, and no message prints one. Variants that
/// describe a failed verification ([`Error::InvalidCode`], [`Error::Expired`],
/// [`Error::NotFound`]) deliberately say no more than a user may learn.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The factor, challenge or enrolment does not exist for this user (another user's id
    /// behaves exactly like a missing one).
    #[error("not found")]
    NotFound,
    /// Something with this identity already exists (a recovery-code set, a credential).
    #[error("already exists")]
    AlreadyExists,
    /// The code, signature or other proof did not verify.
    #[error("the code is not valid")]
    InvalidCode,
    /// The challenge or pending enrolment is expired, used up or was never issued.
    #[error("expired or already used")]
    Expired,
    /// Too many consecutive failures: no attempt is evaluated before `retry_after` has passed.
    #[error("too many failed attempts; retry in {} s", retry_after.as_secs().max(1))]
    Locked {
        /// How long until the next attempt will be evaluated.
        retry_after: Duration,
    },
    /// Too many consecutive failures under settings with a hard stop
    /// ([`ThrottleSettings::max_failures`](crate::throttle::ThrottleSettings::max_failures)): this factor
    /// (or the recovery codes) no longer verifies at all. The user signs in another way and
    /// replaces it, or the host removes it.
    #[error("too many failed attempts; this method is disabled")]
    Disabled,
    /// This proof was accepted before (or a later one was): it cannot be used again.
    #[error("this code was already used")]
    Replayed,
    /// Too many messages were sent to this factor or destination recently: nothing was
    /// sent. Retry after `retry_after`. The caps against SMS pumping refuse with
    /// [`Error::DeliveryCapped`] instead.
    #[error("too many codes sent; retry in {} s", retry_after.as_secs().max(1))]
    RateLimited {
        /// How long until a message may be sent again.
        retry_after: Duration,
    },
    /// A cap against abuse of sending was reached (SMS pumping, see
    /// [`crate::manual::sms_pumping`]): too many messages to numbers of this range, from
    /// this user, or over the deployment's cost budget. Nothing was sent and nothing was
    /// counted. Retry after `retry_after`. The message never names the destination.
    #[error("{cap} reached: no code was sent; retry in {} s", retry_after.as_secs().max(1))]
    DeliveryCapped {
        /// Which cap: [`DeliveryCap::Prefix`], [`DeliveryCap::User`] or
        /// [`DeliveryCap::CostBudget`].
        cap: DeliveryCap,
        /// How long until the cap's window ends.
        retry_after: Duration,
    },
    /// A WebAuthn signature counter did not increase: the credential may have been cloned.
    /// The assertion is refused and a clone-warning event is recorded.
    #[error("the security key's signature counter went backwards; it may have been cloned")]
    PossibleClone,
    /// The deployment's authenticator policy does not accept this security key or passkey:
    /// its attestation is missing or untrusted, its model is not allowed or was revoked, or
    /// it is a synced passkey where only device-bound ones are accepted. Nothing was stored;
    /// the refusal is an [`EventKind::AuthenticatorRefused`](crate::EventKind::AuthenticatorRefused) event.
    #[error("this authenticator is not accepted here ({reason})")]
    AuthenticatorRefused {
        /// Why, as a stable snake_case word: `attestation_missing`, `attestation_untrusted`,
        /// `aaguid_not_allowed`, `aaguid_denied`, `authenticator_revoked`,
        /// `backup_eligible`.
        reason: &'static str,
    },
    /// A bound on stored state was reached ([`StateLimits`](crate::limits::StateLimits)):
    /// too many unfinished enrolments, sign-in challenges or passwordless sign-ins. Nothing
    /// was stored. Retry after `retry_after` (or finish or remove a pending enrolment).
    #[error("{limit}; retry in {} s", retry_after.as_secs().max(1))]
    LimitReached {
        /// Which bound.
        limit: StateLimit,
        /// How long until the bound frees up.
        retry_after: Duration,
    },
    /// The operation needs an active factor first: recovery codes exist only alongside
    /// one (SECURITY.md S22).
    #[error("an active factor is required first")]
    FactorRequired,
    /// The operation needs a fresh primary authentication (the user re-enters the password).
    #[error("recent re-authentication required")]
    ReauthRequired,
    /// The operation needs a recent multi-factor verification as well as a fresh primary
    /// authentication (adding a factor once the user has one).
    #[error("recent multi-factor verification required")]
    MfaRequired,
    /// Input was malformed: empty, too long, wrong characters or wrong shape. Nothing changed.
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// Which input (`"label"`, `"code"`, `"user id"`, ...).
        field: &'static str,
        /// Why it was refused.
        reason: &'static str,
    },
    /// The caller may not do this: the host's admin check refused an administrative
    /// operation (the refusal is an [`EventKind::AdminRefused`](crate::EventKind::AdminRefused) event).
    #[error("not permitted")]
    Forbidden,
    /// No adapter for this factor kind is configured, or it cannot do what was asked.
    #[error("factor kind not supported here")]
    Unsupported,
    /// Sending a code to the user's phone or mailbox failed. Nothing became usable.
    #[error("delivery failed")]
    Delivery(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Sealing, opening or generating secret material failed.
    #[error("cryptographic failure: {0}")]
    Crypto(#[from] CryptoError),
    /// The service was configured inconsistently.
    #[error("configuration: {0}")]
    Config(&'static str),
    /// The store or another backend failed; the source is kept.
    #[error("backend failure")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl Error {
    /// A stable machine code for this error, the same in every language and release: what
    /// an HTTP layer sends as `code`, what a translation is keyed by, what dashboards count.
    /// Codes never change meaning; new variants get new codes.
    ///
    /// | code | variant |
    /// |---|---|
    /// | `not_found` | [`Error::NotFound`] |
    /// | `already_exists` | [`Error::AlreadyExists`] |
    /// | `code_invalid` | [`Error::InvalidCode`] |
    /// | `expired` | [`Error::Expired`] |
    /// | `locked` | [`Error::Locked`] |
    /// | `disabled` | [`Error::Disabled`] |
    /// | `code_replayed` | [`Error::Replayed`] |
    /// | `rate_limited` | [`Error::RateLimited`] |
    /// | `delivery_capped` | [`Error::DeliveryCapped`] |
    /// | `possible_clone` | [`Error::PossibleClone`] |
    /// | `authenticator_refused` | [`Error::AuthenticatorRefused`] |
    /// | `limit_reached` | [`Error::LimitReached`] |
    /// | `factor_required` | [`Error::FactorRequired`] |
    /// | `reauth_required` | [`Error::ReauthRequired`] |
    /// | `mfa_required` | [`Error::MfaRequired`] |
    /// | `invalid_input` | [`Error::InvalidInput`] |
    /// | `forbidden` | [`Error::Forbidden`] |
    /// | `unsupported` | [`Error::Unsupported`] |
    /// | `delivery_failed` | [`Error::Delivery`] |
    /// | `internal` | [`Error::Crypto`], [`Error::Config`] |
    /// | `backend_unavailable` | [`Error::Backend`] |
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use mfa_core::Error;
    ///
    /// let locked = Error::Locked { retry_after: Duration::from_secs(30) };
    /// assert_eq!(locked.code(), "locked");
    /// assert_eq!(locked.retry_after(), Some(Duration::from_secs(30)));
    /// assert_eq!(Error::InvalidCode.code(), "code_invalid");
    /// ```
    pub fn code(&self) -> &'static str {
        match self {
            Error::NotFound => "not_found",
            Error::AlreadyExists => "already_exists",
            Error::InvalidCode => "code_invalid",
            Error::Expired => "expired",
            Error::Locked { .. } => "locked",
            Error::Disabled => "disabled",
            Error::Replayed => "code_replayed",
            Error::RateLimited { .. } => "rate_limited",
            Error::DeliveryCapped { .. } => "delivery_capped",
            Error::PossibleClone => "possible_clone",
            Error::AuthenticatorRefused { .. } => "authenticator_refused",
            Error::LimitReached { .. } => "limit_reached",
            Error::FactorRequired => "factor_required",
            Error::ReauthRequired => "reauth_required",
            Error::MfaRequired => "mfa_required",
            Error::InvalidInput { .. } => "invalid_input",
            Error::Forbidden => "forbidden",
            Error::Unsupported => "unsupported",
            Error::Delivery(_) => "delivery_failed",
            Error::Crypto(_) | Error::Config(_) => "internal",
            Error::Backend(_) => "backend_unavailable",
        }
    }

    /// Every code [`Error::code`] can answer, for documentation and for checking that a
    /// translation covers them all.
    pub const CODES: &'static [&'static str] = &[
        "not_found",
        "already_exists",
        "code_invalid",
        "expired",
        "locked",
        "disabled",
        "code_replayed",
        "rate_limited",
        "delivery_capped",
        "possible_clone",
        "authenticator_refused",
        "limit_reached",
        "factor_required",
        "reauth_required",
        "mfa_required",
        "invalid_input",
        "forbidden",
        "unsupported",
        "delivery_failed",
        "internal",
        "backend_unavailable",
    ];

    /// How long until trying again can succeed, for the errors that say
    /// ([`Error::Locked`], [`Error::RateLimited`], [`Error::DeliveryCapped`],
    /// [`Error::LimitReached`]).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::Locked { retry_after }
            | Error::RateLimited { retry_after }
            | Error::DeliveryCapped { retry_after, .. }
            | Error::LimitReached { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }
}

/// A failure of sealing, opening or generating secrets. Carries no key or plaintext.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// The operating system's random number generator failed.
    #[error("random number generator unavailable")]
    Random,
    /// Encryption failed.
    #[error("sealing failed")]
    Seal,
    /// The ciphertext does not open with this key and associated data: tampered, or bound
    /// to another user or factor.
    #[error("sealed secret does not open in this context")]
    Open,
    /// The sealed secret names a key the sealer does not hold.
    #[error("unknown sealing key {0}")]
    UnknownKey(u32),
    /// Hashing a recovery code failed, or a stored hash is malformed or too cheap.
    #[error("hashing failed")]
    Hash,
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_has_a_distinct_listed_code() {
        let second = Duration::from_secs(1);
        let all = [
            Error::NotFound,
            Error::AlreadyExists,
            Error::InvalidCode,
            Error::Expired,
            Error::Locked { retry_after: second },
            Error::Disabled,
            Error::Replayed,
            Error::RateLimited { retry_after: second },
            Error::DeliveryCapped { cap: DeliveryCap::User, retry_after: second },
            Error::PossibleClone,
            Error::AuthenticatorRefused { reason: "backup_eligible" },
            Error::LimitReached { limit: StateLimit::Challenges, retry_after: second },
            Error::FactorRequired,
            Error::ReauthRequired,
            Error::MfaRequired,
            Error::InvalidInput { field: "code", reason: "empty" },
            Error::Forbidden,
            Error::Unsupported,
            Error::Delivery(Box::new(std::io::Error::other("down"))),
            Error::Crypto(CryptoError::Random),
            Error::Config("zero attempts"),
            Error::Backend(Box::new(std::io::Error::other("down"))),
        ];
        let codes: std::collections::BTreeSet<_> = all.iter().map(Error::code).collect();
        assert_eq!(codes.len(), Error::CODES.len(), "one code per variant, `internal` shared by two");
        assert!(codes.iter().all(|c| Error::CODES.contains(c)));
        assert!(all.iter().filter(|e| e.retry_after().is_some()).all(|e| e.to_string().contains("retry in")));
    }
}
