//! Metrics through the [`metrics`] facade (feature `metrics`): an [`EventSink`] wrapper that
//! counts what the service reports, and a [`Store`] wrapper that times every store call.
//!
//! Both only call the facade: install a recorder (for example `metrics-exporter-prometheus`)
//! in the host, and wrap the sink and the store when building the service. Without an
//! installed recorder every call is a no-op; without the wrappers nothing is measured at all.
//!
//! ```
//! use mfa_core::metrics::{MeteredStore, MetricsSink};
//! use mfa_core::{AeadSealer, Mfa, TracingEventSink};
//! use mfa_store_memory::MemoryStore;
//!
//! # fn main() -> Result<(), mfa_core::Error> {
//! // metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder()? in the host
//! mfa_core::metrics::describe(); // HELP texts and units, for recorders that keep them
//! let mfa = Mfa::builder()
//!     .store(MeteredStore::new(MemoryStore::new()))
//!     .events(MetricsSink::new(TracingEventSink))
//!     .sealer(AeadSealer::ephemeral()?)
//!     .build()?;
//! # Ok(())
//! # }
//! ```
//!
//! # The metrics
//!
//! | name | type | labels | meaning |
//! |---|---|---|---|
//! | `mfa_events_total` | counter | `event` | Every audit event, by kind: the snake-case name of its [`EventKind`] variant, as in its JSON `event` field (`factor_added`, `mfa_reset`, `unlocked`, `temporary_access_issued`, `temporary_access_used`, `clone_warning`, ...). Aggregated events count once per report. |
//! | `mfa_verifications_total` | counter | `method`, `outcome` | Verifications evaluated: `method` is the factor kind (`totp`, `sms`, ...), `recovery_code`, `temporary_access` or `device_token`; `outcome` is `success`, `invalid_code`, `replayed`, `locked` or `disabled`. |
//! | `mfa_lockouts_total` | counter | `method` | Failures that reached the limit and locked a factor, the recovery codes or the device tokens; `method` as above, `unknown` where the failure before it was not seen. |
//! | `mfa_attempts_refused_total` | counter | `scope`, `reason` | Attempts refused unevaluated because of earlier failures: `scope` is `factor`, `recovery_codes`, `device_tokens` or `temporary_access`; `reason` is `locked` or `disabled`. Sums the counts of the aggregated reports. |
//! | `mfa_limit_reached_total` | counter | `limit` | Operations refused by a bound on stored state: `pending_enrolments`, `challenges` or `passwordless`. Sums the aggregated counts. |
//! | `mfa_delivery_limited_total` | counter | `cap` | Codes not sent because a delivery cap refused them: `factor`, `destination`, `prefix`, `user` or `cost_budget`. |
//! | `mfa_admin_operations_total` | counter | `operation`, `outcome` | Administrative operations: `operation` is `reset`, `unlock`, `issue_temporary_access`, `revoke_temporary_access`, `erase`, ...; `outcome` is `done`, or `refused` when the host's admin check said no (summing the aggregated counts). |
//! | `mfa_store_operations_total` | counter | `op`, `outcome` | Store calls through [`MeteredStore`]: `op` is the store method (`begin_attempt`, `list_factors`, ...); `outcome` is `ok`, `not_found`, `already_exists` or `backend`. |
//! | `mfa_store_operation_duration_seconds` | histogram | `op` | How long each store call took, in seconds. |
//!
//! # Security
//!
//! Label values come from small fixed sets (event kinds, outcomes, store methods) or from the
//! factor kinds the service was built with: never a user id, factor id, device id, address
//! or anything secret, so the number of series stays bounded however many users there are.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use ::metrics::{Unit, counter, describe_counter, describe_histogram, histogram};
use async_trait::async_trait;

use crate::caps::{DeliveryCap, StateLimit};
use crate::events::{Event, EventKind, EventSink, FailureReason};
use crate::store::{Store, StoreError, StoreResult, ThrottleScope};
use crate::types::{FactorId, UserId};

/// `mfa_events_total`: every audit event, by kind (label `event`).
pub const EVENTS: &str = "mfa_events_total";
/// `mfa_verifications_total`: verifications, by `method` and `outcome`.
pub const VERIFICATIONS: &str = "mfa_verifications_total";
/// `mfa_lockouts_total`: lockouts, by `method`.
pub const LOCKOUTS: &str = "mfa_lockouts_total";
/// `mfa_attempts_refused_total`: attempts refused by a lock, by `scope` and `reason`.
pub const ATTEMPTS_REFUSED: &str = "mfa_attempts_refused_total";
/// `mfa_limit_reached_total`: operations refused by a bound on stored state, by `limit`.
pub const LIMIT_REACHED: &str = "mfa_limit_reached_total";
/// `mfa_delivery_limited_total`: sends refused by a delivery cap, by `cap`.
pub const DELIVERY_LIMITED: &str = "mfa_delivery_limited_total";
/// `mfa_admin_operations_total`: administrative operations, by `operation` and `outcome`.
pub const ADMIN_OPERATIONS: &str = "mfa_admin_operations_total";
/// `mfa_store_operations_total`: store calls, by `op` and `outcome`.
pub const STORE_OPERATIONS: &str = "mfa_store_operations_total";
/// `mfa_store_operation_duration_seconds`: store call latency, by `op`.
pub const STORE_DURATION: &str = "mfa_store_operation_duration_seconds";

/// How many recent failures [`MetricsSink`] keeps to name the method of the lockout that
/// follows one.
const RECENT_FAILURES: usize = 64;

/// Registers the description and unit of every metric above with the installed recorder
/// (the Prometheus exporter prints them as `# HELP`). Call it once, after installing the
/// recorder; recording works without it.
pub fn describe() {
    describe_counter!(EVENTS, "Audit events, by kind");
    describe_counter!(VERIFICATIONS, "Verifications evaluated, by method and outcome");
    describe_counter!(LOCKOUTS, "Failures that reached the limit, by method");
    describe_counter!(ATTEMPTS_REFUSED, "Attempts refused unevaluated because of earlier failures");
    describe_counter!(LIMIT_REACHED, "Operations refused by a bound on stored state");
    describe_counter!(DELIVERY_LIMITED, "Codes not sent because a delivery cap refused them");
    describe_counter!(ADMIN_OPERATIONS, "Administrative operations, done or refused");
    describe_counter!(STORE_OPERATIONS, "Store calls, by method and outcome");
    describe_histogram!(STORE_DURATION, Unit::Seconds, "Store call latency, by method");
}

/// An [`EventSink`] that counts every event it forwards to `inner` (see the
/// [table](self#the-metrics)). The events themselves go on unchanged.
///
/// # Examples
///
/// ```
/// use mfa_core::metrics::MetricsSink;
/// use mfa_core::{AeadSealer, Mfa, TracingEventSink};
/// use mfa_store_memory::MemoryStore;
///
/// # fn main() -> Result<(), mfa_core::Error> {
/// // Events still reach the audit log (here the default tracing sink), and are counted.
/// let mfa = Mfa::builder()
///     .store(MemoryStore::new())
///     .events(MetricsSink::new(TracingEventSink))
///     .sealer(AeadSealer::ephemeral()?)
///     .build()?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct MetricsSink<S> {
    inner: S,
    /// The last verification failures seen, to name the method of a lockout (its event
    /// carries none). Bounded; holds ids in memory only, never in a label.
    recent_failures: Mutex<VecDeque<Failure>>,
}

/// Whose verification failed, with which factor and how.
type Failure = (Option<UserId>, Option<FactorId>, String);

impl<S: EventSink> MetricsSink<S> {
    /// Counts the events recorded by `inner`.
    pub fn new(inner: S) -> Self {
        Self { inner, recent_failures: Mutex::new(VecDeque::with_capacity(RECENT_FAILURES)) }
    }

    /// The wrapped sink.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// Counts one event.
    fn count(&self, event: &Event) {
        counter!(EVENTS, "event" => event_name(&event.kind)).increment(1);
        match &event.kind {
            EventKind::VerificationSucceeded { method, .. } => {
                counter!(VERIFICATIONS, "method" => method.clone(), "outcome" => "success").increment(1);
            }
            EventKind::VerificationFailed { factor, method, reason, .. } => {
                counter!(VERIFICATIONS, "method" => method.clone(), "outcome" => reason_name(*reason)).increment(1);
                let mut recent = self.recent_failures.lock().unwrap_or_else(PoisonError::into_inner);
                if recent.len() == RECENT_FAILURES {
                    recent.pop_front();
                }
                recent.push_back((event.user.clone(), *factor, method.clone()));
            }
            EventKind::LockedOut { factor, .. } => {
                let mut recent = self.recent_failures.lock().unwrap_or_else(PoisonError::into_inner);
                let seen = recent.iter().rposition(|(user, f, _)| *user == event.user && f == factor);
                let method = seen.and_then(|i| recent.remove(i)).map_or_else(|| "unknown".to_owned(), |(.., m)| m);
                drop(recent);
                counter!(LOCKOUTS, "method" => method).increment(1);
            }
            EventKind::AttemptsRefused { scope, reason, count, .. } => {
                counter!(ATTEMPTS_REFUSED, "scope" => scope_name(scope), "reason" => reason_name(*reason))
                    .increment(*count);
            }
            EventKind::LimitReached { limit, count, .. } => {
                counter!(LIMIT_REACHED, "limit" => limit_name(*limit)).increment(*count);
            }
            EventKind::DeliveryLimited { limit, .. } => {
                counter!(DELIVERY_LIMITED, "cap" => cap_name(*limit)).increment(1);
            }
            EventKind::AdminRefused { operation, count, .. } => {
                counter!(ADMIN_OPERATIONS, "operation" => operation.as_str(), "outcome" => "refused").increment(*count);
            }
            kind => {
                if let Some(operation) = admin_operation(kind) {
                    counter!(ADMIN_OPERATIONS, "operation" => operation, "outcome" => "done").increment(1);
                }
            }
        }
    }
}

#[async_trait]
impl<S: EventSink> EventSink for MetricsSink<S> {
    async fn record(&self, event: &Event) {
        self.count(event);
        self.inner.record(event).await;
    }

    async fn forget(&self, user: &UserId) -> Result<u64, StoreError> {
        self.recent_failures.lock().unwrap_or_else(PoisonError::into_inner).retain(|(u, ..)| u.as_ref() != Some(user));
        self.inner.forget(user).await
    }
}

/// A [`Store`] that records, for every call it forwards to `inner`, its latency and its
/// outcome (see the [table](self#the-metrics)), labelled with the method's name.
///
/// # Examples
///
/// ```
/// use mfa_core::metrics::MeteredStore;
/// use mfa_core::store::prelude::*;
/// use mfa_core::UserId;
/// use mfa_store_memory::MemoryStore;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = MeteredStore::new(MemoryStore::new()); // records `op="count_recovery_codes"`
/// assert_eq!(store.count_recovery_codes(&UserId::new("alice")?).await?, 0);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct MeteredStore<S> {
    inner: S,
}

impl<S: Store> MeteredStore<S> {
    /// Measures the calls to `inner`.
    pub fn new(inner: S) -> Self {
        Self { inner }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// The wrapped store, unwrapped.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

crate::forward_store!(impl[S: Store] for MeteredStore<S>, |this, call| &this.inner, around |fut| {
    metered(call, fut).await
});

/// Runs one store call, recording its latency and outcome under `op`.
async fn metered<T>(op: &'static str, call: impl Future<Output = StoreResult<T>>) -> StoreResult<T> {
    let started = Instant::now();
    let result = call.await;
    histogram!(STORE_DURATION, "op" => op).record(started.elapsed());
    let outcome = match &result {
        Ok(_) => "ok",
        Err(StoreError::NotFound) => "not_found",
        Err(StoreError::AlreadyExists) => "already_exists",
        Err(StoreError::Backend(_)) => "backend",
    };
    counter!(STORE_OPERATIONS, "op" => op, "outcome" => outcome).increment(1);
    result
}

fn reason_name(reason: FailureReason) -> &'static str {
    match reason {
        FailureReason::InvalidCode => "invalid_code",
        FailureReason::Replayed => "replayed",
        FailureReason::Locked => "locked",
        FailureReason::Disabled => "disabled",
    }
}

fn scope_name(scope: &ThrottleScope) -> &'static str {
    match scope {
        ThrottleScope::Factor(_) => "factor",
        ThrottleScope::RecoveryCodes => "recovery_codes",
        ThrottleScope::DeviceTokens => "device_tokens",
        ThrottleScope::TemporaryAccess => "temporary_access",
    }
}

fn limit_name(limit: StateLimit) -> &'static str {
    match limit {
        StateLimit::PendingEnrolments => "pending_enrolments",
        StateLimit::Challenges => "challenges",
        StateLimit::Passwordless => "passwordless",
    }
}

fn cap_name(cap: DeliveryCap) -> &'static str {
    match cap {
        DeliveryCap::Factor => "factor",
        DeliveryCap::Destination => "destination",
        DeliveryCap::Prefix => "prefix",
        DeliveryCap::User => "user",
        DeliveryCap::CostBudget => "cost_budget",
    }
}

/// The administrative operation an event reports as done, if it reports one.
fn admin_operation(kind: &EventKind) -> Option<&'static str> {
    match kind {
        EventKind::MfaReset { .. } => Some("reset"),
        EventKind::Unlocked { .. } => Some("unlock"),
        EventKind::TemporaryAccessIssued { .. } => Some("issue_temporary_access"),
        EventKind::TemporaryAccessRevoked => Some("revoke_temporary_access"),
        EventKind::UserErased { .. } => Some("erase"),
        _ => None,
    }
}

/// The snake-case name of an event's kind, as in its JSON `event` field.
fn event_name(kind: &EventKind) -> &'static str {
    match kind {
        EventKind::EnrolmentStarted { .. } => "enrolment_started",
        EventKind::FactorAdded { .. } => "factor_added",
        EventKind::FactorRemoved { .. } => "factor_removed",
        EventKind::FactorRenamed { .. } => "factor_renamed",
        EventKind::PreferredChanged { .. } => "preferred_changed",
        EventKind::VerificationSucceeded { .. } => "verification_succeeded",
        EventKind::VerificationFailed { .. } => "verification_failed",
        EventKind::LockedOut { .. } => "locked_out",
        EventKind::AttemptsRefused { .. } => "attempts_refused",
        EventKind::PasswordlessFailed { .. } => "passwordless_failed",
        EventKind::PasswordlessUnknownCredential { .. } => "passwordless_unknown_credential",
        EventKind::LimitReached { .. } => "limit_reached",
        EventKind::RecoveryCodesDiscarded { .. } => "recovery_codes_discarded",
        EventKind::ReplayRejected { .. } => "replay_rejected",
        EventKind::CloneWarning { .. } => "clone_warning",
        EventKind::AuthenticatorRefused { .. } => "authenticator_refused",
        EventKind::DeliveryLimited { .. } => "delivery_limited",
        EventKind::DeviceRemembered { .. } => "device_remembered",
        EventKind::DeviceUsed { .. } => "device_used",
        EventKind::DeviceRevoked { .. } => "device_revoked",
        EventKind::DevicesRevoked { .. } => "devices_revoked",
        EventKind::DeliveryFailed { .. } => "delivery_failed",
        EventKind::RecoveryCodeUsed { .. } => "recovery_code_used",
        EventKind::RecoveryCodesGenerated { .. } => "recovery_codes_generated",
        EventKind::RecoveryCodesLow { .. } => "recovery_codes_low",
        EventKind::AdminRefused { .. } => "admin_refused",
        EventKind::MfaReset { .. } => "mfa_reset",
        EventKind::Unlocked { .. } => "unlocked",
        EventKind::TemporaryAccessIssued { .. } => "temporary_access_issued",
        EventKind::TemporaryAccessUsed => "temporary_access_used",
        EventKind::TemporaryAccessRevoked => "temporary_access_revoked",
        EventKind::UserErased { .. } => "user_erased",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The label value of every kind matches its serialised `event` tag.
    #[test]
    fn event_names_are_the_serialised_tags() {
        let kinds = [
            EventKind::TemporaryAccessUsed,
            EventKind::RecoveryCodesLow { remaining: 1 },
            EventKind::PasswordlessUnknownCredential { count: 2 },
            EventKind::LimitReached { limit: StateLimit::Challenges, count: 1 },
        ];
        for kind in kinds {
            let json = serde_json::to_value(&kind).unwrap_or_default();
            assert_eq!(json["event"], event_name(&kind), "{kind:?}");
        }
    }
}
