//! The JSON the help-desk endpoints take and answer, made from the service's results. The
//! only secret is a new temporary access code, shown once (and never in `Debug`).

use mfa_core::Timestamp;
use mfa_core::admin::{Coverage, FactorState, MfaStatus, RecordCounts, TemporaryAccessCode};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::views::FactorView;

/// One factor as a help desk sees it: what the user sees, and its failure counter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[non_exhaustive]
pub struct FactorStateView {
    /// The factor (no secret).
    pub factor: FactorView,
    /// Consecutive failed attempts.
    pub failures: u32,
    /// Until when attempts are refused, if they are (Unix milliseconds).
    pub locked_until: Option<i64>,
    /// Attempts are refused for good until an administrator unlocks the factor.
    pub disabled: bool,
}

impl From<&FactorState> for FactorStateView {
    fn from(state: &FactorState) -> Self {
        Self {
            factor: FactorView::from(&state.factor),
            failures: state.failures,
            locked_until: state.locked_until.map(Timestamp::unix_millis),
            disabled: state.disabled,
        }
    }
}

/// A user's MFA as a help desk sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[non_exhaustive]
pub struct MfaStatusView {
    /// Whom it describes.
    pub user: String,
    /// Whether the user has an active factor (2-step verification is on).
    pub has_active_factor: bool,
    /// Every factor, pending ones included, preferred and strongest first.
    pub factors: Vec<FactorStateView>,
    /// Unused recovery codes.
    pub recovery_codes_remaining: usize,
    /// Until when recovery-code attempts are refused, if they are (Unix milliseconds).
    pub recovery_codes_locked_until: Option<i64>,
    /// Recovery codes are refused for good until an administrator unlocks them.
    pub recovery_codes_disabled: bool,
    /// Remembered devices.
    pub remembered_devices: usize,
    /// When the user's unused temporary access code expires, if they have one (Unix
    /// milliseconds).
    pub temporary_access_expires_at: Option<i64>,
}

impl From<&MfaStatus> for MfaStatusView {
    fn from(status: &MfaStatus) -> Self {
        Self {
            user: status.user.to_string(),
            has_active_factor: status.has_active_factor(),
            factors: status.factors.iter().map(FactorStateView::from).collect(),
            recovery_codes_remaining: status.recovery_codes_remaining,
            recovery_codes_locked_until: status.recovery_codes_locked_until.map(Timestamp::unix_millis),
            recovery_codes_disabled: status.recovery_codes_disabled,
            remembered_devices: status.remembered_devices,
            temporary_access_expires_at: status.temporary_access_expires_at.map(Timestamp::unix_millis),
        }
    }
}

/// What a reset removed, by family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[non_exhaustive]
pub struct RemovedView {
    /// Factors, pending ones included.
    pub factors: u64,
    /// Unused recovery codes.
    pub recovery_codes: u64,
    /// Enrolments and challenges in progress, and a temporary access code.
    pub ceremonies: u64,
    /// Remembered devices.
    pub devices: u64,
    /// Failure counters.
    pub throttles: u64,
    /// Sending caps and other counters of the user.
    pub counters: u64,
}

impl From<RecordCounts> for RemovedView {
    fn from(c: RecordCounts) -> Self {
        Self {
            factors: c.factors,
            recovery_codes: c.recovery_codes,
            ceremonies: c.ceremonies,
            devices: c.devices,
            throttles: c.throttles,
            counters: c.counters,
        }
    }
}

/// Which failure counters to clear: one factor's (`{"factor": id}`), one family's
/// (`{"scope": "recovery_codes" | "device_tokens" | "temporary_access"}`), or all of the
/// user's (`{}` or `{"scope": "all"}`).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnlockBody {
    /// A factor id: clear that factor's counter only.
    pub factor: Option<String>,
    /// `all` (the default), `factor` (with `factor`), `recovery_codes`, `device_tokens` or
    /// `temporary_access`.
    pub scope: Option<String>,
}

/// How many failure counters were cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct UnlockedView {
    /// Counters that were not clear and now are.
    pub cleared: u32,
}

/// A temporary access code to issue.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueTemporaryAccessBody {
    /// How long it works, in seconds (the configured default when absent; at most the
    /// configured maximum).
    pub lifetime_secs: Option<u64>,
}

/// A new temporary access code, shown once: hand it to the user over a channel you trust.
/// (Named in full so it is never taken for the `code` of a refusal.) `Debug` never prints
/// it.
#[derive(Clone, Serialize, ToSchema)]
#[non_exhaustive]
pub struct TemporaryAccessView {
    /// The code, `XXXX-XXXX-XXXX-XXXX-XXXX`; it works once.
    pub temporary_access_code: String,
    /// When it stops working (Unix milliseconds).
    pub expires_at: i64,
    /// What signing in with it proves (`recovery_code`, ...).
    pub assurance: String,
    /// Wrong tries it allows before it is spent.
    pub max_attempts: u32,
}

impl From<&TemporaryAccessCode> for TemporaryAccessView {
    fn from(issued: &TemporaryAccessCode) -> Self {
        Self {
            temporary_access_code: issued.code.expose().to_owned(),
            expires_at: issued.expires_at.unix_millis(),
            assurance: issued.assurance.as_str().to_owned(),
            max_attempts: issued.max_attempts,
        }
    }
}

impl std::fmt::Debug for TemporaryAccessView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TemporaryAccessView")
            .field("temporary_access_code", &"[redacted]")
            .field("expires_at", &self.expires_at)
            .field("assurance", &self.assurance)
            .field("max_attempts", &self.max_attempts)
            .finish()
    }
}

/// Whether an unused temporary access code was revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct TemporaryAccessRevokedView {
    /// `false` if the user had none.
    pub revoked: bool,
}

/// Users with an active factor of one kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct KindCountView {
    /// The factor kind (`totp`, `sms`, ...).
    pub kind: String,
    /// Users with at least one active factor of it.
    pub users: u64,
}

/// Deployment-wide coverage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[non_exhaustive]
pub struct CoverageView {
    /// Users with at least one active factor.
    pub users_with_factor: u64,
    /// Users with some MFA state (a pending enrolment, codes) but no active factor.
    pub users_without_active_factor: u64,
    /// Users per factor kind, by kind name.
    pub users_by_kind: Vec<KindCountView>,
    /// Users with an active factor and fewer than `few_codes` unused recovery codes.
    pub users_with_few_codes: u64,
    /// The threshold asked for.
    pub few_codes: usize,
}

impl CoverageView {
    pub(crate) fn of(coverage: &Coverage, few_codes: usize) -> Self {
        Self {
            users_with_factor: coverage.users_with_factor,
            users_without_active_factor: coverage.users_without_active_factor,
            users_by_kind: coverage
                .users_by_kind
                .iter()
                .map(|(kind, users)| KindCountView { kind: kind.clone(), users: *users })
                .collect(),
            users_with_few_codes: coverage.users_with_few_codes,
            few_codes,
        }
    }
}

/// What to search the host's users for.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct FindQuery {
    /// A user id, or whatever the host's directory searches by (a name, an address).
    pub(crate) query: String,
}

/// The coverage threshold.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct CoverageQuery {
    /// Count users with fewer unused recovery codes than this (default 3).
    pub(crate) few_codes: Option<usize>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_temporary_access_code_never_prints() {
        let view = TemporaryAccessView {
            temporary_access_code: "ABCD-EFGH-JKLM-NPQR-STUV".into(),
            expires_at: 0,
            assurance: "recovery_code".into(),
            max_attempts: 5,
        };
        let printed = format!("{view:?}");
        assert!(!printed.contains("ABCD"), "{printed}");
    }
}
