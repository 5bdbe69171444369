#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The whole store conformance suite on PostgreSQL, on the concrete type and through
//! `Arc<dyn Store>`. Every case runs in a fresh schema of the server named by
//! `MFA_TEST_POSTGRES_URL` (e.g. `postgres://postgres@127.0.0.1:5432/postgres`).
//!
//! These tests are ignored by default; run them with a server:
//! `MFA_TEST_POSTGRES_URL=... cargo test -p mfa-store-sql --all-features -- --include-ignored`,
//! or `bash mfa-store-sql/scripts/with-postgres.sh cargo test -p mfa-store-sql --all-features -- --include-ignored`.
#![cfg(feature = "postgres")]

use std::str::FromStr;
use std::sync::Arc;

use mfa_core::{FactorId, Store};
use mfa_store_sql::PostgresStore;
use mfa_store_sql::sqlx::postgres::{PgConnectOptions, PgConnection};
use mfa_store_sql::sqlx::{Connection, Executor};

/// The server to test against; panics with instructions when unset.
fn server_url() -> String {
    match std::env::var("MFA_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "MFA_TEST_POSTGRES_URL is not set: these tests need PostgreSQL. Run `bash tests/run-all.sh`, \
             or `bash mfa-store-sql/scripts/with-postgres.sh cargo test -p mfa-store-sql --all-features -- \
             --include-ignored`, or set MFA_TEST_POSTGRES_URL=postgres://USER@HOST:PORT/DB and pass \
             --include-ignored"
        ),
    }
}

/// A fresh, migrated store in a new schema of its own.
async fn fresh_store() -> PostgresStore {
    let url = server_url();
    let schema = format!("mfa_test_{}", FactorId::random().unwrap());
    let mut admin = PgConnection::connect(&url).await.expect("connect to MFA_TEST_POSTGRES_URL");
    admin.execute(format!("CREATE SCHEMA {schema}").as_str()).await.unwrap();
    admin.close().await.unwrap();
    let options = PgConnectOptions::from_str(&url).unwrap().options([("search_path", schema.as_str())]);
    let store = PostgresStore::connect_with(options).await.unwrap();
    store.migrate().await.unwrap();
    store
}

macro_rules! postgres_conformance {
    ($module:ident, $make:expr; $($case:ident),* $(,)?) => {
        mod $module {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[test]
                #[ignore = "needs PostgreSQL: run `bash tests/run-all.sh`, or set MFA_TEST_POSTGRES_URL and pass --include-ignored"]
                fn $case() {
                    let runtime = tokio::runtime::Builder::new_multi_thread()
                        .worker_threads(4)
                        .enable_all()
                        .build()
                        .expect("tokio runtime");
                    runtime.block_on(async {
                        let store = $make.await;
                        mfa_core::testing::conformance::$case(store).await;
                    });
                }
            )*
        }
    };
}

macro_rules! postgres_conformance_all {
    ($module:ident, $make:expr) => {
        postgres_conformance!($module, $make;
            factor_round_trips,
            duplicate_factor_id_is_refused,
            factors_are_invisible_to_other_users,
            update_changes_only_named_fields,
            first_active_factor_becomes_preferred,
            only_unexpired_pending_factors_activate,
            activation_replaces_the_old_factor,
            set_preferred_is_exclusive,
            set_preferred_race_leaves_one_preferred,
            delete_removes_factor_and_counter,
            lookup_keys_are_unique_and_found_without_the_user,
            lookup_key_race_has_one_winner,
            replay_marker_only_moves_forward,
            replay_marker_needs_an_active_factor,
            replay_marker_race_has_one_winner,
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
            throttle_compare_and_set,
            throttle_race_has_one_winner,
            throttle_is_scoped_by_user_and_scope,
            counter_compare_and_set,
            counter_race_has_one_winner,
            purge_removes_only_expired_state,
        );
    };
}

postgres_conformance_all!(concrete, async { Arc::new(super::fresh_store().await) });
postgres_conformance_all!(dyn_store, async { Arc::new(super::fresh_store().await) as Arc<dyn Store> });
