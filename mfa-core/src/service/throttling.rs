//! Throttling mechanics: counting attempts before they are evaluated, refusing locked
//! ones, and reporting refusals to audit (the schedule itself is [`crate::throttle`]).

use super::*;

impl Mfa {
    /// The throttle for a factor: derived from the guess budget when one is configured and
    /// the adapter reports the factor's guess probability, else the one in the settings.
    pub(super) fn throttle_for(&self, record: &FactorRecord) -> ThrottleSettings {
        let inner = &self.inner;
        let Some(budget) = inner.settings.guess_budget else {
            return inner.settings.throttle;
        };
        let Some(p) = self.adapter(&record.kind).ok().and_then(|a| a.guess_probability(record)) else {
            return inner.settings.throttle;
        };
        let key = p.to_bits();
        if let Some(t) = inner.derived.read().unwrap_or_else(std::sync::PoisonError::into_inner).get(&key) {
            return *t;
        }
        // The hard stop, if any, comes from the settings, whatever the budget derives.
        let derived = ThrottleSettings { max_failures: inner.settings.throttle.max_failures, ..budget.throttle_for(p) };
        inner.derived.write().unwrap_or_else(std::sync::PoisonError::into_inner).insert(key, derived);
        derived
    }

    /// Counts an attempt before evaluating it, so parallel guesses cannot exceed the limit.
    ///
    /// The first compare-and-set assumes the usual state, no failures (a counter with none
    /// never makes an attempt wait), which saves reading the counter first; if the counter
    /// holds anything else the set fails and the loop reads it as before.
    pub(super) async fn throttle_begin(
        &self,
        user: &UserId,
        scope: &ThrottleScope,
        now: Timestamp,
        throttle: &ThrottleSettings,
    ) -> Result<ThrottleState> {
        let store = &self.inner.store;
        let clear = ThrottleState::default();
        if throttle.wait(&clear, now).is_none() {
            let next = ThrottleState::new(1, Some(now));
            if store.compare_and_set_throttle(user, scope, &clear, &next).await? {
                self.settle_refusals(user, *scope, now).await;
                return Ok(next);
            }
        }
        let current = store.get_throttle(user, scope).await?;
        self.throttle_begin_from(user, scope, now, throttle, current).await
    }

    /// [`Mfa::throttle_begin`] from a counter state just read (by
    /// [`FactorStore::begin_attempt`](crate::store::FactorStore::begin_attempt)).
    pub(super) async fn throttle_begin_from(
        &self,
        user: &UserId,
        scope: &ThrottleScope,
        now: Timestamp,
        throttle: &ThrottleSettings,
        mut current: ThrottleState,
    ) -> Result<ThrottleState> {
        let store = &self.inner.store;
        for _ in 0..MAX_CAS_RETRIES {
            self.throttle_check(user, scope, throttle, &current, now).await?;
            let next = ThrottleState::new(current.failures.saturating_add(1), Some(now));
            if store.compare_and_set_throttle(user, scope, &current, &next).await? {
                self.settle_refusals(user, *scope, now).await;
                return Ok(next);
            }
            current = store.get_throttle(user, scope).await?;
        }
        Err(Error::Backend("throttle counter contention".into()))
    }

    /// Refuses (and reports, aggregated) an attempt the counter's state does not allow.
    pub(super) async fn throttle_check(
        &self,
        user: &UserId,
        scope: &ThrottleScope,
        throttle: &ThrottleSettings,
        state: &ThrottleState,
        now: Timestamp,
    ) -> Result<()> {
        if throttle.exhausted(state) {
            self.refused(user, *scope, true, now).await;
            return Err(Error::Disabled);
        }
        if let Some(retry_after) = throttle.wait(state, now) {
            self.refused(user, *scope, false, now).await;
            return Err(Error::Locked { retry_after });
        }
        Ok(())
    }

    /// Counts an attempt refused by a throttle for audit; reports it when a report is due.
    pub(super) async fn refused(&self, user: &UserId, scope: ThrottleScope, disabled: bool, now: Timestamp) {
        let key = RefusalKey::Throttle { user: user.clone(), scope, disabled };
        self.report_refusals(self.inner.refusals.refuse(key, now), now).await;
    }

    /// Attempts are evaluated again on `scope`: reports the refusals of the lock just
    /// over that were not reported yet.
    pub(super) async fn settle_refusals(&self, user: &UserId, scope: ThrottleScope, now: Timestamp) {
        let key = || RefusalKey::Throttle { user: user.clone(), scope, disabled: false };
        if let Some(count) = self.inner.refusals.settle(key) {
            let reason = FailureReason::Locked;
            self.emit(user, now, EventKind::AttemptsRefused { scope, reason, count }).await;
        }
    }

    /// Reports a refusal by a bound on stored state (aggregated) and returns its error.
    pub(super) async fn limit_reached(
        &self,
        user: Option<&UserId>,
        limit: StateLimit,
        retry_after: Duration,
        now: Timestamp,
    ) -> Error {
        let key = RefusalKey::Limit { user: user.cloned(), limit };
        self.report_refusals(self.inner.refusals.refuse(key, now), now).await;
        Error::LimitReached { limit, retry_after }
    }

    /// Counts one unit under `key` against `cap`; `Ok(Err(wait))` if the cap refuses.
    pub(super) async fn count_in_window(
        &self,
        key: &str,
        cap: WindowCap,
        now: Timestamp,
    ) -> Result<Result<(), Duration>> {
        let store = &self.inner.store;
        let mut current = store.get_counter(key, now).await?;
        for _ in 0..MAX_CAS_RETRIES {
            let next = match cap.count(&current, now, 1) {
                Ok(next) => next,
                Err(wait) => return Ok(Err(wait)),
            };
            if store.compare_and_set_counter(key, &current, &next, now).await? {
                return Ok(Ok(()));
            }
            current = store.get_counter(key, now).await?;
        }
        Err(Error::Backend("counter contention".into()))
    }

    /// Reports every refusal counted for audit but not reported yet (SECURITY.md S25).
    ///
    /// Refused attempts are reported aggregated ([`EventKind::AttemptsRefused`],
    /// [`EventKind::PasswordlessFailed`], [`EventKind::LimitReached`]): at once for the
    /// first, then in reports that each carry a count. Call this before the service is
    /// dropped (at shutdown) so the last counts reach the [`EventSink`] too.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use mfa_core::{AeadSealer, Error, Event, EventKind, EventSink, Mfa, UserId};
    /// use mfa_store_memory::MemoryStore;
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
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let audit = Audit::default();
    /// let mfa = Mfa::builder().store(MemoryStore::new()).sealer(AeadSealer::ephemeral()?).events(audit.clone()).build()?;
    /// let alice = UserId::new("alice")?;
    ///
    /// // Someone guesses remembered-device tokens for Alice until the throttle locks them out,
    /// // and keeps trying.
    /// let guess = format!("mfa-device.{}.{}", "0".repeat(32), "A".repeat(43));
    /// let mut refused = 0;
    /// for _ in 0..20 {
    ///     if let Err(Error::Locked { .. }) = mfa.check_device(&alice, &guess).await {
    ///         refused += 1;
    ///     }
    /// }
    /// assert!(refused > 0);
    ///
    /// // At shutdown: the refusals not yet reported reach the sink.
    /// mfa.flush_audit().await;
    /// let reported: u64 = audit.0.lock().unwrap().iter().map(|e| match e.kind {
    ///     EventKind::AttemptsRefused { count, .. } => count,
    ///     _ => 0,
    /// }).sum();
    /// assert_eq!(reported, refused);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn flush_audit(&self) {
        self.report_refusals(self.inner.refusals.drain(), self.now()).await;
    }

    /// Emits one aggregated report per key.
    pub(super) async fn report_refusals(&self, reports: Vec<(RefusalKey, u64)>, now: Timestamp) {
        for (key, count) in reports {
            let (user, kind) = match key {
                RefusalKey::Throttle { user, scope, disabled } => {
                    let reason = if disabled { FailureReason::Disabled } else { FailureReason::Locked };
                    (Some(user), EventKind::AttemptsRefused { scope, reason, count })
                }
                RefusalKey::Passwordless { user, factor } => {
                    (Some(user), EventKind::PasswordlessFailed { factor, count })
                }
                RefusalKey::Limit { user, limit } => (user, EventKind::LimitReached { limit, count }),
                RefusalKey::UnknownCredential => (None, EventKind::PasswordlessUnknownCredential { count }),
                RefusalKey::Admin { admin, operation } => (None, EventKind::AdminRefused { admin, operation, count }),
            };
            self.emit_to(user, now, kind).await;
        }
    }

    /// A success clears the counter.
    pub(super) async fn throttle_reset(
        &self,
        user: &UserId,
        scope: &ThrottleScope,
        mut expected: ThrottleState,
    ) -> Result<()> {
        let store = &self.inner.store;
        let cleared = ThrottleState::default();
        for _ in 0..MAX_CAS_RETRIES {
            if expected == cleared || store.compare_and_set_throttle(user, scope, &expected, &cleared).await? {
                return Ok(());
            }
            expected = store.get_throttle(user, scope).await?;
        }
        Err(Error::Backend("throttle counter contention".into()))
    }

    /// [`Mfa::throttle_reset`] once an operation has committed: the operation has happened,
    /// so a store failure here must not report it as failed. The counter then keeps this
    /// attempt, which only errs on the side of caution.
    pub(super) async fn throttle_reset_after_commit(
        &self,
        user: &UserId,
        scope: &ThrottleScope,
        expected: ThrottleState,
    ) {
        if let Err(e) = self.throttle_reset(user, scope, expected).await {
            tracing::warn!(error = %e, "could not reset a throttle counter after a committed operation");
        }
    }

    /// The attempt failed: it stays counted; emit the failure and, once attempts are
    /// delayed, the lockout.
    pub(super) async fn count_failure(
        &self,
        user: &UserId,
        (factor, method): (Option<FactorId>, &str),
        attempt: ThrottleState,
        reason: FailureReason,
        now: Timestamp,
        throttle: &ThrottleSettings,
    ) {
        let method = method.to_owned();
        self.emit(user, now, EventKind::VerificationFailed { factor, method, reason }).await;
        if let Some(retry_after) = throttle.delay_after(attempt.failures) {
            self.emit(user, now, EventKind::LockedOut { factor, retry_after }).await;
        }
    }
}
