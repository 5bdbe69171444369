//! Counters: keyed counters not tied to one user's factors (sends per destination or per
//! factor), changed only by compare-and-set.
//!
//! An absent row, an expired row and a row holding the default all read as the default
//! state.

use mfa_core::Timestamp;
use mfa_core::store::{CounterState, StoreResult};

use super::{Backend, execute, fetch_optional};
use crate::codec::{counter_from_row, opt_millis};
use crate::statements::{
    DELETE_COUNTER_IF_EQUAL, DELETE_COUNTER_READING_AS_DEFAULT, INSERT_COUNTER_OVER_DEFAULT, SELECT_LIVE_COUNTER,
    UPDATE_COUNTER_IF_EQUAL,
};

pub(super) async fn get(store: &Backend, key: &str, now: Timestamp) -> StoreResult<CounterState> {
    let query = sqlx::query(SELECT_LIVE_COUNTER).bind(key).bind(now.unix_millis());
    match fetch_optional(&store.pool, query).await? {
        Some(row) => counter_from_row(&row),
        None => Ok(CounterState::default()),
    }
}

/// Sets the counter to `new` if it reads as `expected` at `now`, in one statement.
pub(super) async fn compare_and_set(
    store: &Backend,
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
            execute(&store.pool, keyed(DELETE_COUNTER_READING_AS_DEFAULT)).await?;
            return Ok(is_default(&get(store, key, now).await?));
        }
        (true, false) => bind_state(keyed(INSERT_COUNTER_OVER_DEFAULT), new),
        (false, true) => bind_state(keyed(DELETE_COUNTER_IF_EQUAL), expected),
        (false, false) => bind_state(bind_state(keyed(UPDATE_COUNTER_IF_EQUAL), expected), new),
    };
    Ok(execute(&store.pool, query).await? == 1)
}

/// Binds the four fields of `state`, as the next four arguments.
fn bind_state<'q>(query: super::Query<'q>, state: &CounterState) -> super::Query<'q> {
    query
        .bind(i64::from(state.count))
        .bind(opt_millis(state.window_start))
        .bind(opt_millis(state.last_at))
        .bind(opt_millis(state.expires_at))
}
