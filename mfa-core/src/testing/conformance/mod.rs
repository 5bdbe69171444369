//! The store conformance suite: one `pub async fn` per invariant of [`Store`].
//!
//! Each case takes a fresh, empty store as `Arc<S>` (`S` may be `dyn Store`). Race cases
//! spawn many tasks on a multi-threaded runtime and assert exactly one winner (or exactly
//! the allowed number). Run them all with [`store_conformance_tests!`](crate::store_conformance_tests).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::{Clock, ManualClock};
use crate::seal::{KeyId, SealedSecret};
use crate::store::{
    CeremonyPurpose, CeremonyRecord, CounterState, DeviceTokenRecord, FactorEdit, FactorRecord, FactorUpdate,
    RecoveryCodeRecord, Store, StoreError, StoreExt, ThrottleScope, ThrottleState,
};
use crate::types::{Assurance, CeremonyId, DeviceId, FactorId, FactorKind, FactorStatus, Timestamp, UserId};

/// Concurrent tasks in every race case.
pub const RACERS: usize = 64;

const T0: Timestamp = Timestamp::from_unix_millis(1_700_000_000_000);

fn clock() -> ManualClock {
    ManualClock::new(T0)
}

fn user(name: &str) -> UserId {
    UserId::new(format!("{name}-{}", FactorId::random().unwrap())).unwrap()
}

fn pending(user: &UserId, now: Timestamp) -> FactorRecord {
    let mut r = FactorRecord::pending(
        FactorId::random().unwrap(),
        user.clone(),
        FactorKind::TOTP,
        "Authenticator app".into(),
        Assurance::ReplayResistantOtp,
        now,
        now.saturating_add(Duration::from_secs(600)),
    );
    r.secret = Some(SealedSecret { key_id: KeyId(3), ciphertext: vec![1, 2, 3, 4] });
    r.data = vec![9, 8, 7];
    r.masked_destination = Some("+1 ••• ••• 1234".into());
    r.details = vec![("aaguid".into(), "00000000-0000-0000-0000-000000000000".into())];
    r
}

async fn active<S: Store + ?Sized>(store: &S, user: &UserId, now: Timestamp) -> FactorRecord {
    let r = pending(user, now);
    store.insert_factor(&r).await.unwrap();
    store.activate_factor(user, &r.id, now).await.unwrap()
}

fn ceremony(user: Option<&UserId>, now: Timestamp, ttl: Duration, max_attempts: u32) -> CeremonyRecord {
    CeremonyRecord::new(
        CeremonyId::random().unwrap(),
        user.cloned(),
        Some(FactorId::random().unwrap()),
        FactorKind::SMS,
        CeremonyPurpose::Challenge,
        b"opaque state".to_vec(),
        max_attempts,
        now,
        now.saturating_add(ttl),
    )
    .with_action(Some("5f1a9c0e-action-digest".into()))
}

fn device(user: &UserId, now: Timestamp) -> DeviceTokenRecord {
    let expires = now.saturating_add(Duration::from_secs(30 * 24 * 3600));
    DeviceTokenRecord::new(
        DeviceId::random().unwrap(),
        user.clone(),
        "Firefox on Linux".into(),
        vec![7; 32],
        now,
        expires,
    )
}

fn codes(prefix: char, n: usize, now: Timestamp) -> Vec<RecoveryCodeRecord> {
    (0..n)
        .map(|i| RecoveryCodeRecord::new(format!("{prefix}{i:03}"), format!("$argon2id$hash-{prefix}-{i}"), now))
        .collect()
}

/// Spawns `RACERS` copies of `f` at once and returns how many returned `true`.
async fn race<S, F, Fut>(store: &Arc<S>, f: F) -> usize
where
    S: Store + ?Sized,
    F: Fn(Arc<S>) -> Fut,
    Fut: std::future::Future<Output = bool> + Send + 'static,
{
    let barrier = Arc::new(tokio::sync::Barrier::new(RACERS));
    let mut tasks = Vec::with_capacity(RACERS);
    for _ in 0..RACERS {
        let fut = f(store.clone());
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            fut.await
        }));
    }
    let mut wins = 0;
    for t in tasks {
        if t.await.unwrap() {
            wins += 1;
        }
    }
    wins
}

/// Gives a counter some failures, checking it took.
trait SetThrottle {
    async fn set_throttle_for_test(&self, user: &UserId, scope: &ThrottleScope);
}

impl<S: Store + ?Sized> SetThrottle for S {
    async fn set_throttle_for_test(&self, user: &UserId, scope: &ThrottleScope) {
        let state = ThrottleState::new(3, Some(T0));
        assert!(self.compare_and_set_throttle(user, scope, &ThrottleState::default(), &state).await.unwrap());
        assert_eq!(self.get_throttle(user, scope).await.unwrap(), state);
    }
}

mod accounts;
mod ceremonies;
mod counters;
mod devices;
mod edits;
mod factors;
mod hot_path;
mod housekeeping;
mod recovery_codes;

pub use accounts::*;
pub use ceremonies::*;
pub use counters::*;
pub use devices::*;
pub use edits::*;
pub use factors::*;
pub use hot_path::*;
pub use housekeeping::*;
pub use recovery_codes::*;

/// Expands the whole conformance suite into one `#[test]` per case inside module
/// `$module`. `$make` is a future that yields a fresh store as `Arc<S>`.
///
/// Attributes written before the module name are put on every generated test, so a
/// suite that needs a server can be ignored, with the reason, when none is configured:
///
/// ```text
/// mfa_core::store_conformance_tests!(memory, async { std::sync::Arc::new(MemoryStore::new()) });
/// mfa_core::store_conformance_tests!(
///     #[ignore = "needs PostgreSQL: run `bash tests/run-all.sh`"]
///     postgres, async { std::sync::Arc::new(fresh_postgres_store().await) }
/// );
/// ```
#[macro_export]
macro_rules! store_conformance_tests {
    ($(#[$attr:meta])* $module:ident, $make:expr) => {
        mod $module {
            #[allow(unused_imports)]
            use super::*;
            $crate::__store_conformance_cases!($make; [$(#[$attr])*];
                factor_round_trips,
                duplicate_factor_id_is_refused,
                factors_are_invisible_to_other_users,
                update_changes_only_named_fields,
                update_keeps_every_field_it_does_not_name,
                first_active_factor_becomes_preferred,
                only_unexpired_pending_factors_activate,
                activation_replaces_the_old_factor,
                set_preferred_is_exclusive,
                set_preferred_race_leaves_one_preferred,
                delete_removes_factor_and_counter,
                delete_race_has_one_winner,
                refused_edit_changes_nothing,
                edit_naming_an_unknown_factor_changes_nothing,
                edit_applies_exactly_its_changes,
                edit_deletes_with_counter_and_lookup_key,
                edit_race_activates_once,
                lookup_keys_are_unique_and_found_without_the_user,
                lookup_key_race_has_one_winner,
                replay_marker_only_moves_forward,
                replay_marker_needs_an_active_factor,
                update_raises_the_replay_marker_only,
                replay_marker_race_has_one_winner,
                begin_attempt_reads_the_factor_and_counts_a_clear_counter,
                begin_attempt_race_counts_once,
                accept_applies_everything_at_once,
                accept_refusals_change_nothing_but_the_take,
                accept_race_on_a_ceremony_has_one_winner,
                accept_race_on_a_marker_has_one_winner,
                ceremony_take_is_single_use,
                duplicate_ceremony_id_is_refused,
                ceremony_take_race_has_one_winner,
                expired_ceremony_is_unusable,
                ceremony_is_bound_to_its_user,
                ceremony_attempts_are_bounded,
                ceremony_attempt_race_respects_the_limit,
                ceremony_get_reads_without_consuming,
                recovery_codes_are_replaced_as_a_whole,
                recovery_code_is_consumed_once,
                recovery_code_race_has_one_winner,
                recovery_codes_are_isolated_between_users,
                recovery_code_replacement_is_atomic,
                device_tokens_round_trip,
                device_tokens_are_scoped_to_their_user,
                revoke_all_device_tokens_is_atomic,
                device_revoke_race_has_one_winner,
                throttle_compare_and_set,
                throttle_race_has_one_winner,
                throttle_is_scoped_by_user_and_scope,
                counter_compare_and_set,
                counter_race_has_one_winner,
                purge_removes_only_expired_state,
                reset_removes_everything_of_the_user_only,
                erasure_leaves_nothing_of_the_user,
                reset_is_atomic_against_readers,
                coverage_counts_users,
            );
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __store_conformance_cases {
    ($make:expr; [$($attr:tt)*]; $(,)?) => {};
    ($make:expr; [$($attr:tt)*]; $case:ident $(, $rest:ident)* $(,)?) => {
        #[test]
        $($attr)*
        fn $case() {
            let runtime = $crate::__private::tokio::runtime::Builder::new_multi_thread()
                .worker_threads(4)
                .enable_all()
                .build()
                .expect("tokio runtime");
            runtime.block_on(async {
                let store = $make.await;
                $crate::testing::conformance::$case(store).await;
            });
        }
        $crate::__store_conformance_cases!($make; [$($attr)*]; $($rest),*);
    };
}
