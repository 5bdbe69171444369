//! What can refuse an operation: the delivery caps and the bounds on stored state, named in
//! errors and events. A leaf module: it depends on nothing else in the crate.

use std::fmt;

use serde::Serialize;

/// Which delivery limit refused a send, in [`Error::DeliveryCapped`](crate::Error) and in
/// [`EventKind::DeliveryLimited`](crate::EventKind::DeliveryLimited). Never names the
/// destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DeliveryCap {
    /// The factor's cooldown or cap per window ([`Error::RateLimited`](crate::Error)).
    Factor,
    /// The destination's cooldown or cap per window, across users
    /// ([`Error::RateLimited`](crate::Error)).
    Destination,
    /// The cap on the number's range ([`DeliverySettings::prefix`](crate::settings::DeliverySettings::prefix)).
    Prefix,
    /// The cap on all of the user's sends ([`DeliverySettings::per_user`](crate::settings::DeliverySettings::per_user)).
    User,
    /// The deployment's cost budget ([`DeliverySettings::cost_budget`](crate::settings::DeliverySettings::cost_budget)).
    CostBudget,
}

impl fmt::Display for DeliveryCap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DeliveryCap::Factor => "per-factor limit",
            DeliveryCap::Destination => "per-destination limit",
            DeliveryCap::Prefix => "number-range limit",
            DeliveryCap::User => "per-user limit",
            DeliveryCap::CostBudget => "message budget",
        })
    }
}

/// Which bound of [`StateLimits`](crate::limits::StateLimits) refused an operation, in
/// [`Error::LimitReached`](crate::Error::LimitReached) and
/// [`EventKind::LimitReached`](crate::EventKind::LimitReached).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum StateLimit {
    /// [`StateLimits::pending_enrolments`](crate::limits::StateLimits::pending_enrolments).
    PendingEnrolments,
    /// [`StateLimits::challenges`](crate::limits::StateLimits::challenges).
    Challenges,
    /// [`StateLimits::passwordless`](crate::limits::StateLimits::passwordless).
    Passwordless,
}

impl fmt::Display for StateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StateLimit::PendingEnrolments => "too many unfinished enrolments",
            StateLimit::Challenges => "too many sign-in challenges started",
            StateLimit::Passwordless => "too many passwordless sign-ins started",
        })
    }
}
