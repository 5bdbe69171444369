//! Audit and notification events, and where they go.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;

use crate::caps::{DeliveryCap, StateLimit};
use crate::context::Actor;
use crate::store::{RecordCounts, StoreError, ThrottleScope};
use crate::types::{Assurance, DeviceId, FactorId, FactorKind, Timestamp, UserId};

/// Something that happened to a user's factors. Never carries a code, secret or token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Event {
    /// When.
    pub at: Timestamp,
    /// To whom; `None` for what concerns no one user (passwordless sign-ins refused by
    /// the deployment-wide bound).
    pub user: Option<UserId>,
    /// What.
    pub kind: EventKind,
    /// Who did it: the user, an administrator, or the host itself.
    pub actor: Actor,
    /// The client's address, if the host passed one in a
    /// [`RequestContext`](crate::context::RequestContext).
    pub ip: Option<IpAddr>,
    /// The client's user agent, if the host passed one.
    pub user_agent: Option<String>,
}

/// Why a verification failed, as recorded in events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FailureReason {
    /// The proof did not verify.
    InvalidCode,
    /// The proof was a replay.
    Replayed,
    /// The attempt was refused because of earlier failures, for a while.
    Locked,
    /// The attempt was refused because of earlier failures, for good (a hard stop).
    Disabled,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventKind {
    /// An enrolment started (the factor is pending).
    EnrolmentStarted {
        /// The pending factor.
        factor: FactorId,
        /// Its kind.
        kind: FactorKind,
    },
    /// A factor was proven and is now active.
    FactorAdded {
        /// The factor.
        factor: FactorId,
        /// Its kind.
        kind: FactorKind,
    },
    /// A factor was removed (by the user, or replaced by a new one).
    FactorRemoved {
        /// The factor.
        factor: FactorId,
        /// Its kind.
        kind: FactorKind,
    },
    /// A factor was renamed.
    FactorRenamed {
        /// The factor.
        factor: FactorId,
    },
    /// The preferred factor changed.
    PreferredChanged {
        /// The new preferred factor, if any remains.
        factor: Option<FactorId>,
    },
    /// A factor or recovery code verified.
    VerificationSucceeded {
        /// The factor (`None` for a recovery code or a temporary access code).
        factor: Option<FactorId>,
        /// How: the factor's kind (`totp`, `sms`, ...), `recovery_code`,
        /// `temporary_access` or `device_token`.
        method: String,
        /// What it proved.
        assurance: Assurance,
    },
    /// A verification failed.
    VerificationFailed {
        /// The factor (`None` for a recovery code).
        factor: Option<FactorId>,
        /// How, as in [`EventKind::VerificationSucceeded`].
        method: String,
        /// Why.
        reason: FailureReason,
    },
    /// Failures reached the limit: attempts are refused for a while.
    LockedOut {
        /// The factor (`None` for recovery codes).
        factor: Option<FactorId>,
        /// How long until the next attempt is evaluated.
        retry_after: Duration,
    },
    /// Attempts were refused without being evaluated, because of earlier failures
    /// (SECURITY.md S25). Aggregated: the first refusal is reported at once, later ones in
    /// reports that each carry how many were refused since the previous report (at the
    /// 2nd, 4th, 8th, ... refusal, once a minute, when attempts are evaluated again, and at
    /// [`Mfa::flush_audit`](crate::Mfa::flush_audit)), so summing `count` gives every
    /// refusal without an event per attempt.
    AttemptsRefused {
        /// The counter that refused them: a factor, the recovery codes or the
        /// remembered-device tokens.
        scope: ThrottleScope,
        /// [`FailureReason::Locked`] or [`FailureReason::Disabled`].
        reason: FailureReason,
        /// Refusals since the previous report.
        count: u64,
    },
    /// A passwordless sign-in named this factor's credential and failed. Nobody was
    /// authenticated, so nothing was counted against the factor (SECURITY.md S23).
    /// Aggregated like [`EventKind::AttemptsRefused`].
    PasswordlessFailed {
        /// The factor the credential belongs to.
        factor: FactorId,
        /// Failures since the previous report.
        count: u64,
    },
    /// Passwordless sign-ins named a credential nobody has (a guess, or a credential
    /// removed since). `user` is `None`. Aggregated like [`EventKind::AttemptsRefused`].
    PasswordlessUnknownCredential {
        /// Failures since the previous report.
        count: u64,
    },
    /// An operation was refused by a bound on stored state
    /// ([`StateLimits`](crate::limits::StateLimits)); `user` is `None` for the
    /// deployment-wide bound on passwordless sign-ins. Aggregated like
    /// [`EventKind::AttemptsRefused`].
    LimitReached {
        /// Which bound.
        limit: StateLimit,
        /// Refusals since the previous report.
        count: u64,
    },
    /// Recovery codes were discarded because they could no longer count: the user's last
    /// active factor was removed, or codes were found when the first factor became active
    /// (SECURITY.md S22).
    RecoveryCodesDiscarded {
        /// How many.
        count: usize,
    },
    /// A code that was already used (or an older one) was presented again.
    ReplayRejected {
        /// The factor.
        factor: FactorId,
    },
    /// A WebAuthn signature counter did not increase: the credential may be cloned.
    CloneWarning {
        /// The factor.
        factor: FactorId,
    },
    /// The deployment's authenticator policy refused a security key or passkey, at
    /// registration or at sign-in (a model revoked since, or a policy tightened since).
    AuthenticatorRefused {
        /// The factor (pending, for a registration).
        factor: FactorId,
        /// Why: the [`Error::AuthenticatorRefused`](crate::Error::AuthenticatorRefused) reason.
        reason: &'static str,
    },
    /// A message was not sent because a delivery limit was reached (any of them: see
    /// [`DeliverySettings`](crate::settings::DeliverySettings)). Carries no destination and no code.
    DeliveryLimited {
        /// The factor.
        factor: FactorId,
        /// Which limit refused it.
        limit: DeliveryCap,
        /// How long until sending is allowed again.
        retry_after: Duration,
    },
    /// A device was remembered after MFA.
    DeviceRemembered {
        /// The device.
        device: DeviceId,
    },
    /// A remembered device was presented and accepted.
    DeviceUsed {
        /// The device.
        device: DeviceId,
    },
    /// A remembered device was revoked.
    DeviceRevoked {
        /// The device.
        device: DeviceId,
    },
    /// Every remembered device of the user was revoked.
    DevicesRevoked {
        /// How many.
        count: u64,
    },
    /// A code could not be delivered.
    DeliveryFailed {
        /// The factor.
        factor: FactorId,
    },
    /// A recovery code was used: notify the user.
    RecoveryCodeUsed {
        /// Codes left.
        remaining: usize,
    },
    /// A new set of recovery codes was generated, replacing any old one.
    RecoveryCodesGenerated {
        /// How many.
        count: usize,
    },
    /// Few recovery codes remain: prompt the user to regenerate.
    RecoveryCodesLow {
        /// Codes left.
        remaining: usize,
    },
    /// Administrative operations were refused: the host's admin check said no (or none
    /// is configured). Aggregated like other refusals: `count` refusals since the last
    /// report for this administrator and operation.
    AdminRefused {
        /// Who asked.
        admin: UserId,
        /// Which operation.
        operation: AdminOperation,
        /// Refusals reported by this event.
        count: u64,
    },
    /// An administrator reset the user's MFA: every factor, recovery code, ceremony,
    /// remembered device and failure counter is gone.
    MfaReset {
        /// What was removed.
        removed: RecordCounts,
    },
    /// An administrator cleared a failure counter (unlocked a factor, or recovery codes).
    Unlocked {
        /// Which counter.
        scope: ThrottleScope,
    },
    /// A temporary access code was issued.
    TemporaryAccessIssued {
        /// When it stops working.
        expires_at: Timestamp,
        /// What signing in with it proves.
        assurance: Assurance,
    },
    /// A temporary access code was used (it is gone now).
    TemporaryAccessUsed,
    /// An unused temporary access code was revoked.
    TemporaryAccessRevoked,
    /// Everything the library held for a user was erased. The event names no user: the
    /// subject is a SHA-256 digest of the id, so the audit trail proves the erasure without
    /// keeping who it was.
    UserErased {
        /// Lowercase hex SHA-256 of the user id.
        subject: String,
        /// What was removed.
        removed: RecordCounts,
    },
}

/// The administrative operations, as named in events and refusals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AdminOperation {
    /// Reading a user's MFA status.
    Status,
    /// Resetting a user's MFA.
    Reset,
    /// Clearing a failure counter.
    Unlock,
    /// Issuing a temporary access code.
    IssueTemporaryAccess,
    /// Revoking a temporary access code.
    RevokeTemporaryAccess,
    /// Erasing a user.
    Erase,
    /// Importing factors.
    Import,
    /// Reading deployment-wide coverage.
    Coverage,
}

impl AdminOperation {
    /// The stable snake-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            AdminOperation::Status => "status",
            AdminOperation::Reset => "reset",
            AdminOperation::Unlock => "unlock",
            AdminOperation::IssueTemporaryAccess => "issue_temporary_access",
            AdminOperation::RevokeTemporaryAccess => "revoke_temporary_access",
            AdminOperation::Erase => "erase",
            AdminOperation::Import => "import",
            AdminOperation::Coverage => "coverage",
        }
    }
}

impl fmt::Display for AdminOperation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Receives events: write them to an audit log, notify the user, feed a SIEM.
///
/// Recording never fails the operation that caused it; a sink that can fail should log or
/// queue its own errors.
///
/// # Examples
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use mfa_core::{Event, EventSink};
///
/// /// Collects events (an audit log would write them somewhere).
/// #[derive(Debug, Clone, Default)]
/// struct Audit(Arc<Mutex<Vec<Event>>>);
///
/// #[async_trait::async_trait]
/// impl EventSink for Audit {
///     async fn record(&self, event: &Event) {
///         self.0.lock().unwrap().push(event.clone());
///     }
/// }
/// # use mfa_core::{AeadSealer, EnrolmentRequest, EventKind, FactorKind, FreshAuth, Mfa, Prompt, Proof, UserId};
/// # use mfa_store_memory::MemoryStore;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let audit = Audit::default();
/// let totp = mfa_otp::TotpFactor::new("Example")?;
/// let mfa = Mfa::builder()
///     .store(MemoryStore::new())
///     .sealer(AeadSealer::ephemeral()?)
///     .factor(totp.clone())
///     .events(audit.clone())
///     .build()?;
///
/// // Alice adds an authenticator app.
/// let alice = UserId::new("alice")?;
/// let fresh = FreshAuth::primary(mfa.now());
/// let start = mfa.start_enrolment(&alice, &fresh, EnrolmentRequest::new(FactorKind::TOTP)).await?;
/// # let Prompt::SharedSecret(secret) = &start.prompt else { unreachable!() };
/// # let key = data_encoding::BASE32_NOPAD.decode(secret.secret_base32.expose().as_bytes())?;
/// # let typed = totp.code_at(&key, mfa.now().unix_secs() as u64)?;
/// mfa.finish_enrolment(&alice, &fresh, &start.factor.id, &Proof::code(&typed)?).await?;
///
/// // The audit log has what happened, and to whom (never a code or secret).
/// let events = audit.0.lock().unwrap().clone();
/// assert!(matches!(events[0].kind, EventKind::EnrolmentStarted { .. }));
/// assert!(events.iter().any(|e| matches!(e.kind, EventKind::FactorAdded { .. })));
/// assert!(events.iter().all(|e| e.user.as_ref() == Some(&alice)));
/// # Ok(())
/// # }
/// ```
#[async_trait]
pub trait EventSink: fmt::Debug + Send + Sync + 'static {
    /// Records one event.
    async fn record(&self, event: &Event);

    /// Deletes what the sink keeps about `user`, for erasure
    /// ([`Admin::erase`](crate::Admin::erase)); returns how many records went. The
    /// default keeps nothing and deletes nothing.
    ///
    /// # Errors
    ///
    /// The sink's storage failed; the erasure reports it and can be retried.
    async fn forget(&self, user: &UserId) -> Result<u64, StoreError> {
        let _ = user;
        Ok(0)
    }
}

#[allow(dead_code)]
fn _assert_dyn_compatible(_: &dyn EventSink) {}

/// The default sink: one `tracing` event per audit event at INFO (WARN for lockouts,
/// replays, clone warnings, and sends refused by the number-range cap or the cost budget),
/// target `mfa::audit`. Events carry ids, never secrets.
#[derive(Debug, Clone, Copy, Default)]
pub struct TracingEventSink;

#[async_trait]
impl EventSink for TracingEventSink {
    async fn record(&self, event: &Event) {
        let user = event.user.as_ref().map_or("", UserId::as_str);
        let at = event.at.unix_millis();
        let actor = &event.actor;
        match &event.kind {
            EventKind::LockedOut { .. }
            | EventKind::AttemptsRefused { .. }
            | EventKind::PasswordlessFailed { .. }
            | EventKind::PasswordlessUnknownCredential { .. }
            | EventKind::LimitReached { .. }
            | EventKind::ReplayRejected { .. }
            | EventKind::CloneWarning { .. }
            | EventKind::AuthenticatorRefused { .. }
            | EventKind::AdminRefused { .. }
            | EventKind::DeliveryLimited { limit: DeliveryCap::Prefix | DeliveryCap::CostBudget, .. } => {
                tracing::warn!(target: "mfa::audit", user, at, %actor, event = ?event.kind);
            }
            kind => tracing::info!(target: "mfa::audit", user, at, %actor, event = ?kind),
        }
    }
}
