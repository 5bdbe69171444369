//! Help-desk operations: a user's MFA status, reset, unlock, temporary access codes,
//! imports, coverage and erasure, each authorised by a check the host supplies and each
//! recorded as an event naming the administrator.
//!
//! Get an [`Admin`] handle with [`Mfa::admin`](crate::Mfa::admin) for an administrator
//! acting through the host's UI (every operation asks the [`AdminCheck`] given to
//! [`MfaBuilder::admin_check`](crate::MfaBuilder::admin_check); without one every operation
//! is refused), or with [`Mfa::system`](crate::Mfa::system) for the host's own tasks (a
//! migration, a scheduled erasure), which asks no one.
//!
//! | operation | method | event |
//! |---|---|---|
//! | status of a user | [`Admin::status`] | none (a read) |
//! | reset a user's MFA | [`Admin::reset`] | [`EventKind::MfaReset`](crate::EventKind::MfaReset) |
//! | clear failure counters | [`Admin::unlock`] | [`EventKind::Unlocked`](crate::EventKind::Unlocked) per counter |
//! | issue a temporary access code | [`Admin::issue_temporary_access`] | [`EventKind::TemporaryAccessIssued`](crate::EventKind::TemporaryAccessIssued) |
//! | revoke it | [`Admin::revoke_temporary_access`] | [`EventKind::TemporaryAccessRevoked`](crate::EventKind::TemporaryAccessRevoked) |
//! | import an active factor | [`Admin::import_factor`] | [`EventKind::FactorAdded`](crate::EventKind::FactorAdded) |
//! | coverage | [`Admin::coverage`] | none (a read) |
//! | erase a user | [`Admin::erase`] | [`EventKind::UserErased`](crate::EventKind::UserErased) |
//! | any of them, refused | | [`EventKind::AdminRefused`](crate::EventKind::AdminRefused) (aggregated) |
//!
//! The user signs in with a temporary access code through
//! [`Mfa::verify_temporary_access`](crate::Mfa::verify_temporary_access).

pub use crate::adapter::{FactorImport, ImportPlan};
pub use crate::events::AdminOperation;
pub use crate::service::{Admin, AdminCheck, Administrators, FactorState, MfaStatus, TemporaryAccessCode};
pub use crate::store::{Coverage, RecordCounts};
