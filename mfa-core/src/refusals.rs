//! Aggregated audit of refused attempts (SECURITY.md S25): every refusal is counted, and
//! reported without an event per attempt.
//!
//! A flood of refused guesses (200 parallel guesses against a locked factor, 10^5
//! passwordless sign-ins against the deployment-wide bound) must be visible to audit, but
//! must not become 10^5 events. Refusals are counted per key in memory; a report carries
//! the number refused since the previous report for that key. Reports go out at the 1st,
//! 2nd, 4th, 8th, ... refusal of a run, for the rest once [`REPORT_INTERVAL`] has passed
//! since the last report, when the key is settled (attempts are evaluated again), and at
//! [`Mfa::flush_audit`](crate::Mfa::flush_audit). Summing the counts of the reports gives
//! every refusal, and a run of `n` refusals costs about `log2(n)` reports plus one a
//! minute.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use crate::events::AdminOperation;
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
    /// A passwordless sign-in with this user's credential failed.
    Passwordless { user: UserId, factor: FactorId },
    /// A passwordless sign-in named a credential nobody has.
    UnknownCredential,
    /// A bound on stored state refused (`user` is `None` for the deployment-wide one).
    Limit { user: Option<UserId>, limit: StateLimit },
    /// The host's admin check refused an administrative operation.
    Admin { admin: UserId, operation: AdminOperation },
}

impl RefusalKey {
    /// True if the key names `user` (as the user refused, or as the administrator).
    fn names(&self, user: &UserId) -> bool {
        match self {
            RefusalKey::Throttle { user: u, .. } | RefusalKey::Passwordless { user: u, .. } => u == user,
            RefusalKey::Limit { user: u, .. } => u.as_ref() == Some(user),
            RefusalKey::Admin { admin, .. } => admin == user,
            RefusalKey::UnknownCredential => false,
        }
    }
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

#[derive(Debug, Default)]
struct Runs {
    by_key: HashMap<RefusalKey, Run>,
    /// When the runs were last swept for quiet ones (a full sweep that finds none is not
    /// repeated for a while, so a full map costs one walk, not one per refusal).
    swept_at: Option<Timestamp>,
}

/// The refusals counted but not yet reported, per key.
#[derive(Debug, Default)]
pub(crate) struct Refusals {
    runs: Mutex<Runs>,
    /// How many runs are open: lets the verification path skip the lock when none is.
    open: AtomicUsize,
}

impl Refusals {
    /// Counts one refusal of `key` at `now`; returns the reports due now (usually none or
    /// one: this key's, and those of runs that went quiet, when making room for it).
    pub(crate) fn refuse(&self, key: RefusalKey, now: Timestamp) -> Vec<(RefusalKey, u64)> {
        let mut guard = self.runs.lock().unwrap_or_else(PoisonError::into_inner);
        let Runs { by_key: runs, swept_at } = &mut *guard;
        let mut due = Vec::new();
        let sweep_due = swept_at.is_none_or(|at| now.duration_since(at) >= REPORT_INTERVAL / 4);
        if !runs.contains_key(&key) && runs.len() >= MAX_KEYS && sweep_due {
            *swept_at = Some(now);
            // Make room: runs that went quiet are reported and closed.
            let quiet: Vec<RefusalKey> = runs
                .iter()
                .filter(|(_, run)| now.duration_since(run.reported_at) >= REPORT_INTERVAL)
                .map(|(k, _)| k.clone())
                .collect();
            for k in quiet {
                if let Some(run) = runs.remove(&k)
                    && run.unreported > 0
                {
                    due.push((k, run.unreported));
                }
            }
        }
        if !runs.contains_key(&key) && runs.len() >= MAX_KEYS {
            self.open.store(runs.len(), Ordering::Relaxed);
            due.push((key, 1));
            return due;
        }
        let run = runs.entry(key.clone()).or_insert(Run { total: 0, unreported: 0, reported_at: now });
        run.total += 1;
        run.unreported += 1;
        if run.total.is_power_of_two() || now.duration_since(run.reported_at) >= REPORT_INTERVAL {
            run.reported_at = now;
            due.push((key, std::mem::take(&mut run.unreported)));
        }
        self.open.store(runs.len(), Ordering::Relaxed);
        due
    }

    /// The run of `key` is over (attempts are evaluated again): the refusals not yet
    /// reported, if any. Without a lock or an allocation while no run is open.
    pub(crate) fn settle(&self, key: impl FnOnce() -> RefusalKey) -> Option<u64> {
        if self.open.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let mut runs = self.runs.lock().unwrap_or_else(PoisonError::into_inner);
        let run = runs.by_key.remove(&key());
        self.open.store(runs.by_key.len(), Ordering::Relaxed);
        run.map(|run| run.unreported).filter(|n| *n > 0)
    }

    /// Drops every run naming `user` unreported (an erasure: nothing may name them later).
    pub(crate) fn forget(&self, user: &UserId) {
        let mut runs = self.runs.lock().unwrap_or_else(PoisonError::into_inner);
        runs.by_key.retain(|key, _| !key.names(user));
        self.open.store(runs.by_key.len(), Ordering::Relaxed);
    }

    /// Ends every run: the refusals not yet reported, per key.
    pub(crate) fn drain(&self) -> Vec<(RefusalKey, u64)> {
        let mut runs = self.runs.lock().unwrap_or_else(PoisonError::into_inner);
        self.open.store(0, Ordering::Relaxed);
        runs.by_key.drain().filter(|(_, run)| run.unreported > 0).map(|(key, run)| (key, run.unreported)).collect()
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
        let reports: Vec<u64> = (0..1000).flat_map(|_| refusals.refuse(key(), now)).map(|(_, n)| n).collect();
        assert_eq!(reports.len(), 10, "at 1, 2, 4, ... 512");
        let rest = refusals.settle(key).unwrap();
        assert_eq!(reports.iter().sum::<u64>() + rest, 1000);
        assert_eq!(refusals.settle(key), None, "settled once");
    }

    #[test]
    fn a_long_run_is_reported_once_a_minute() {
        let refusals = Refusals::default();
        let t0 = Timestamp::from_unix_secs(1_700_000_000);
        let mut reports = 0;
        let mut total = 0;
        for s in 0..600u64 {
            for _ in 0..3 {
                for (_, n) in refusals.refuse(key(), t0.saturating_add(Duration::from_secs(s))) {
                    reports += 1;
                    total += n;
                }
            }
        }
        total += refusals.drain().into_iter().map(|(_, n)| n).sum::<u64>();
        assert_eq!(total, 1800);
        assert!(reports <= 11 + 10, "about one report a minute, not one per refusal: {reports}");
    }

    #[test]
    fn many_users_refused_at_once_stay_bounded_and_every_refusal_is_reported() {
        let refusals = Refusals::default();
        let t0 = Timestamp::from_unix_secs(1_700_000_000);
        let user = |i: usize| RefusalKey::Limit {
            user: Some(UserId::new(format!("u{i}")).unwrap()),
            limit: StateLimit::Challenges,
        };
        let mut reported = 0;
        // Two refusals each for 2 × MAX_KEYS users, the second half a minute later.
        for round in 0..2u64 {
            for i in 0..MAX_KEYS * 2 {
                let now = t0.saturating_add(Duration::from_secs(if i < MAX_KEYS { 0 } else { 61 } + round));
                reported += refusals.refuse(user(i), now).iter().map(|(_, n)| n).sum::<u64>();
            }
        }
        assert!(refusals.runs.lock().unwrap().by_key.len() <= MAX_KEYS);
        reported += refusals.drain().iter().map(|(_, n)| n).sum::<u64>();
        assert_eq!(reported, 2 * 2 * MAX_KEYS as u64);
    }
}
