//! Counters: per-user failure counters (throttles) and keyed counters not tied to one
//! user's factors (sends per destination or per factor, state bounds), each changed only by
//! compare-and-set.
//!
//! An absent row reads as the default state (no failures), and so does a row holding the
//! default: a compare-and-set back to the default deletes the row, while a verification's
//! success (`accept_verification`) keeps its factor's row at the default, to be updated in
//! place by the next attempt; it goes with its factor. A keyed counter also reads as the default once it
//! expired.

use async_trait::async_trait;
use mfa_core::store::{CounterState, CounterStore, StoreResult, ThrottleScope, ThrottleState};
use mfa_core::{Timestamp, UserId};

use super::{Backend, execute, fetch_optional};
use crate::codec::{counter_from_row, opt_millis, throttle_from_row};
use crate::statements::{
    DELETE_COUNTER_IF_EQUAL, DELETE_COUNTER_READING_AS_DEFAULT, DELETE_THROTTLE_IF_EQUAL, INSERT_COUNTER_OVER_DEFAULT,
    INSERT_THROTTLE_OVER_DEFAULT, SELECT_LIVE_COUNTER, SELECT_THROTTLE, UPDATE_COUNTER_IF_EQUAL,
    UPDATE_THROTTLE_IF_EQUAL,
};

#[async_trait]
impl CounterStore for Backend {
    async fn get_throttle(&self, user: &UserId, scope: &ThrottleScope) -> StoreResult<ThrottleState> {
        let query = sqlx::query(SELECT_THROTTLE).bind(user.as_str()).bind(scope.key());
        match fetch_optional(&self.pool, query).await? {
            Some(row) => throttle_from_row(&row),
            None => Ok(ThrottleState::default()),
        }
    }

    /// Sets the throttle to `new` if it is `expected`, in one statement.
    async fn compare_and_set_throttle(
        &self,
        user: &UserId,
        scope: &ThrottleScope,
        expected: &ThrottleState,
        new: &ThrottleState,
    ) -> StoreResult<bool> {
        let is_default = |s: &ThrottleState| *s == ThrottleState::default();
        let key = scope.key();
        let (exp_failures, exp_at) = (i64::from(expected.failures), opt_millis(expected.last_attempt_at));
        let (new_failures, new_at) = (i64::from(new.failures), opt_millis(new.last_attempt_at));
        let query = match (is_default(expected), is_default(new)) {
            // Absent (or a stored default) stays absent: nothing to write, so the answer is one
            // read.
            (true, true) => return Ok(is_default(&self.get_throttle(user, scope).await?)),
            // Insert when absent; overwrite only a stored default.
            (true, false) => {
                sqlx::query(INSERT_THROTTLE_OVER_DEFAULT).bind(user.as_str()).bind(key).bind(new_failures).bind(new_at)
            }
            // Back to the default: delete the expected row.
            (false, true) => {
                sqlx::query(DELETE_THROTTLE_IF_EQUAL).bind(user.as_str()).bind(key).bind(exp_failures).bind(exp_at)
            }
            (false, false) => sqlx::query(UPDATE_THROTTLE_IF_EQUAL)
                .bind(new_failures)
                .bind(new_at)
                .bind(user.as_str())
                .bind(key)
                .bind(exp_failures)
                .bind(exp_at),
        };
        Ok(execute(&self.pool, query).await? == 1)
    }

    async fn get_counter(&self, key: &str, now: Timestamp) -> StoreResult<CounterState> {
        let query = sqlx::query(SELECT_LIVE_COUNTER).bind(key).bind(now.unix_millis());
        match fetch_optional(&self.pool, query).await? {
            Some(row) => counter_from_row(&row),
            None => Ok(CounterState::default()),
        }
    }

    /// Sets the counter to `new` if it reads as `expected` at `now`, in one statement.
    async fn compare_and_set_counter(
        &self,
        key: &str,
        expected: &CounterState,
        new: &CounterState,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let is_default = |s: &CounterState| *s == CounterState::default();
        // Each statement below takes the time as `$1` and the key as `$2`.
        let keyed = |sql: &'static str| sqlx::query(sql).bind(now.unix_millis()).bind(key);
        let query = match (is_default(expected), is_default(new)) {
            (true, true) => {
                // Drop a row that reads as the default (as the memory store does), then the
                // answer is whether the counter reads as the default.
                execute(&self.pool, keyed(DELETE_COUNTER_READING_AS_DEFAULT)).await?;
                return Ok(is_default(&self.get_counter(key, now).await?));
            }
            (true, false) => bind_state(keyed(INSERT_COUNTER_OVER_DEFAULT), new),
            (false, true) => bind_state(keyed(DELETE_COUNTER_IF_EQUAL), expected),
            (false, false) => bind_state(bind_state(keyed(UPDATE_COUNTER_IF_EQUAL), expected), new),
        };
        Ok(execute(&self.pool, query).await? == 1)
    }
}

/// Binds the four fields of `state`, as the next four arguments.
fn bind_state<'q>(query: super::Query<'q>, state: &CounterState) -> super::Query<'q> {
    query
        .bind(i64::from(state.count))
        .bind(opt_millis(state.window_start))
        .bind(opt_millis(state.last_at))
        .bind(opt_millis(state.expires_at))
}
