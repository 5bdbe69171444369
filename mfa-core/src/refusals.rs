//! Aggregated audit of refused attempts (SECURITY.md S25): every refusal is counted, and
//! reported without an event per attempt.
//!
//! A flood of refused guesses (200 parallel guesses against a locked factor, 10^5
//! usernameless sign-ins against the deployment-wide bound) must be visible to audit, but
//! must not become 10^5 events. Refusals are counted per key in memory; a report carries
//! the number refused since the previous report for that key. Reports go out at the 1st,
//! 2nd, 4th, 8th, ... refusal of a run, for the rest once [`REPORT_INTERVAL`] has passed
//! since the last report, when the key is settled (attempts are evaluated again), and at
//! [`Mfa::flush_audit`](crate::Mfa::flush_audit). Summing the counts of the reports gives
//! every refusal, and a run of `n` refusals costs about `log2(n)` reports plus one a
//! minute.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use crate::limits::StateLimit;
use crate::store::ThrottleScope;
use crate::types::{FactorId, Timestamp, UserId};

/// Refusals of one key are reported at least this often while they go on.
pub(crate) const REPORT_INTERVAL: Duration = Duration::from_secs(60);

/// Keys tracked at once; past that a refusal is reported on its own (a flood across that
/// many users at once is rare enough for an event each).
const MAX_KEYS: usize = 10_000;

/// What was refused, and for whom.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum RefusalKey {
    /// A throttle refused an attempt (locked or disabled).
    Throttle { user: UserId, scope: ThrottleScope, disabled: bool },
    /// A usernameless sign-in with this user's credential failed.
    Passwordless { user: UserId, factor: FactorId },
    /// A bound on stored state refused (`user` is `None` for the deployment-wide one).
    Limit { user: Option<UserId>, limit: StateLimit },
}

#[derive(Debug)]
struct Run {
    /// Refusals in this run.
    total: u64,
    /// Refusals not reported yet.
    unreported: u64,
    /// When the last report went out.
    reported_at: Timestamp,
}

/// The refusals counted but not yet reported, per key.
#[derive(Debug, Default)]
pub(crate) struct Refusals {
    runs: Mutex<HashMap<RefusalKey, Run>>,
}

impl Refusals {
    /// Counts one refusal of `key` at `now`; returns how many refusals to report now, if a
    /// report is due.
    pub(crate) fn refuse(&self, key: RefusalKey, now: Timestamp) -> Option<u64> {
        let mut runs = self.runs.lock().unwrap_or_else(PoisonError::into_inner);
        if !runs.contains_key(&key) && runs.len() >= MAX_KEYS {
            return Some(1);
        }
        let run = runs.entry(key).or_insert(Run { total: 0, unreported: 0, reported_at: now });
        run.total += 1;
        run.unreported += 1;
        let due = run.total.is_power_of_two() || now.duration_since(run.reported_at) >= REPORT_INTERVAL;
        if !due {
            return None;
        }
        run.reported_at = now;
        Some(std::mem::take(&mut run.unreported))
    }

    /// The run of `key` is over (attempts are evaluated again): the refusals not yet
    /// reported, if any.
    pub(crate) fn settle(&self, key: &RefusalKey) -> Option<u64> {
        let mut runs = self.runs.lock().unwrap_or_else(PoisonError::into_inner);
        if runs.is_empty() {
            return None;
        }
        runs.remove(key).map(|run| run.unreported).filter(|n| *n > 0)
    }

    /// Ends every run: the refusals not yet reported, per key.
    pub(crate) fn drain(&self) -> Vec<(RefusalKey, u64)> {
        let mut runs = self.runs.lock().unwrap_or_else(PoisonError::into_inner);
        runs.drain().filter(|(_, run)| run.unreported > 0).map(|(key, run)| (key, run.unreported)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> RefusalKey {
        RefusalKey::Limit { user: None, limit: StateLimit::Passwordless }
    }

    #[test]
    fn every_refusal_is_reported_once_in_logarithmically_many_reports() {
        let refusals = Refusals::default();
        let now = Timestamp::from_unix_secs(1_700_000_000);
        let reports: Vec<u64> = (0..1000).filter_map(|_| refusals.refuse(key(), now)).collect();
        assert_eq!(reports.len(), 10, "at 1, 2, 4, ... 512");
        let rest = refusals.settle(&key()).unwrap();
        assert_eq!(reports.iter().sum::<u64>() + rest, 1000);
        assert_eq!(refusals.settle(&key()), None, "settled once");
    }

    #[test]
    fn a_long_run_is_reported_once_a_minute() {
        let refusals = Refusals::default();
        let t0 = Timestamp::from_unix_secs(1_700_000_000);
        let mut reports = 0;
        let mut total = 0;
        for s in 0..600u64 {
            for _ in 0..3 {
                if let Some(n) = refusals.refuse(key(), t0.saturating_add(Duration::from_secs(s))) {
                    reports += 1;
                    total += n;
                }
            }
        }
        total += refusals.drain().into_iter().map(|(_, n)| n).sum::<u64>();
        assert_eq!(total, 1800);
        assert!(reports <= 11 + 10, "about one report a minute, not one per refusal: {reports}");
    }
}
