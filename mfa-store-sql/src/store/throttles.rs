//! Throttles: per-user failure counters, changed only by compare-and-set.
//!
//! An absent row reads as the default state (no failures), and the default is never kept:
//! going back to it deletes the row.

use mfa_core::UserId;
use mfa_core::store::{StoreResult, ThrottleScope, ThrottleState};

use super::{Backend, execute, fetch_optional};
use crate::codec::{opt_millis, throttle_from_row};
use crate::statements::{
    DELETE_THROTTLE_IF_EQUAL, INSERT_THROTTLE_OVER_DEFAULT, SELECT_THROTTLE, UPDATE_THROTTLE_IF_EQUAL,
};

pub(super) async fn get(store: &Backend, user: &UserId, scope: &ThrottleScope) -> StoreResult<ThrottleState> {
    let query = sqlx::query(SELECT_THROTTLE).bind(user.as_str()).bind(scope.key());
    match fetch_optional(&store.pool, query).await? {
        Some(row) => throttle_from_row(&row),
        None => Ok(ThrottleState::default()),
    }
}

/// Sets the throttle to `new` if it is `expected`, in one statement.
pub(super) async fn compare_and_set(
    store: &Backend,
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
        (true, true) => return Ok(is_default(&get(store, user, scope).await?)),
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
    Ok(execute(&store.pool, query).await? == 1)
}
