//! SQLite rows decoded by `mfa-store-sql` (a corrupted, foreign or tampered database): one
//! column of a valid factor, ceremony, device-token or recovery-code row is overwritten
//! with a fuzzed value (NULL, an integer, text or a blob) through the store's own pool,
//! then read back through the `Store` API and through `Mfa`.
//!
//! Input: byte 0 picks the column, byte 1 the value's type, the rest is the value.
//!
//! Checks: no panic; a row that does not decode is a `Backend` error (`StoreError::Backend`),
//! never a wrong record silently accepted as a proof.

#![no_main]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use mfa_core::store::prelude::*;
use mfa_core::store::{CeremonyPurpose, CeremonyRecord, DeviceTokenRecord, FactorRecord, RecoveryCodeRecord};
use mfa_core::{
    CeremonyId, DeviceId, FactorId, FactorKind, Mfa, Proof, UserId, seal::SealContext, seal::SecretSealer,
    store::Store, store::StoreError,
};
use mfa_fuzz::{T0, block_on, expect_error, sealer, totp_code};
use mfa_otp::TotpFactor;
use mfa_store_sql::SqliteStore;

const SECRET: &[u8; 20] = b"12345678901234567890";

/// (table, column) pairs a row can be corrupted in.
const COLUMNS: &[(&str, &str)] = &[
    ("mfa_factors", "id"),
    ("mfa_factors", "user_id"),
    ("mfa_factors", "kind"),
    ("mfa_factors", "label"),
    ("mfa_factors", "status"),
    ("mfa_factors", "assurance"),
    ("mfa_factors", "created_at"),
    ("mfa_factors", "last_used_at"),
    ("mfa_factors", "expires_at"),
    ("mfa_factors", "preferred"),
    ("mfa_factors", "masked_destination"),
    ("mfa_factors", "details"),
    ("mfa_factors", "secret_key_id"),
    ("mfa_factors", "secret_ciphertext"),
    ("mfa_factors", "data"),
    ("mfa_factors", "replay_marker"),
    ("mfa_factors", "enrolment"),
    ("mfa_factors", "replaces"),
    ("mfa_factors", "lookup_key"),
    ("mfa_ceremonies", "id"),
    ("mfa_ceremonies", "user_id"),
    ("mfa_ceremonies", "factor_id"),
    ("mfa_ceremonies", "kind"),
    ("mfa_ceremonies", "purpose"),
    ("mfa_ceremonies", "payload"),
    ("mfa_ceremonies", "attempts"),
    ("mfa_ceremonies", "max_attempts"),
    ("mfa_ceremonies", "bound_action"),
    ("mfa_ceremonies", "created_at"),
    ("mfa_ceremonies", "expires_at"),
    ("mfa_device_tokens", "id"),
    ("mfa_device_tokens", "user_id"),
    ("mfa_device_tokens", "label"),
    ("mfa_device_tokens", "secret_hash"),
    ("mfa_device_tokens", "created_at"),
    ("mfa_device_tokens", "last_seen_at"),
    ("mfa_device_tokens", "expires_at"),
    ("mfa_recovery_codes", "user_id"),
    ("mfa_recovery_codes", "lookup"),
    ("mfa_recovery_codes", "hash"),
    ("mfa_recovery_codes", "created_at"),
    ("mfa_throttles", "failures"),
    ("mfa_throttles", "last_attempt_at"),
    ("mfa_counters", "count"),
];

/// Whether the last input changed a row (the first input starts from an empty database).
static DIRTY: AtomicBool = AtomicBool::new(true);

struct World {
    store: SqliteStore,
    mfa: Mfa,
    user: UserId,
    factor: FactorRecord,
    ceremony: CeremonyRecord,
    device: DeviceTokenRecord,
    code: RecoveryCodeRecord,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        block_on(async {
            let store = SqliteStore::in_memory().await.unwrap();
            store.migrate().await.unwrap();
            let mfa =
                mfa_fuzz::builder(Arc::new(store.clone())).factor(TotpFactor::new("Fuzz").unwrap()).build().unwrap();
            let user = UserId::new("alice").unwrap();
            let id = FactorId::random().unwrap();
            let mut factor = mfa_fuzz::active_totp(id, &user, "App");
            factor.data = vec![1, 1, 6, 0, 0, 0, 30];
            factor.secret = Some(
                sealer().seal(&SealContext { user: &user, factor: &id, purpose: "factor-secret" }, SECRET).unwrap(),
            );
            factor.lookup_key = Some("key-1".into());
            factor.details = vec![("a".into(), "b".into())];
            let expires = T0.saturating_add(std::time::Duration::from_secs(300));
            let ceremony = CeremonyRecord::new(
                CeremonyId::random().unwrap(),
                Some(user.clone()),
                Some(id),
                FactorKind::TOTP,
                CeremonyPurpose::Challenge,
                vec![1, 2, 3],
                5,
                T0,
                expires,
            );
            let device = DeviceTokenRecord::new(
                DeviceId::random().unwrap(),
                user.clone(),
                "Laptop".into(),
                vec![0; 32],
                T0,
                expires,
            );
            let code =
                RecoveryCodeRecord::new("AAAA".into(), "$argon2id$v=19$m=256,t=1,p=1$c2FsdHNhbHQ$aGFzaA".into(), T0);
            World { store, mfa, user, factor, ceremony, device, code }
        })
    })
}

/// Puts the valid rows back (after removing whatever the last input left).
async fn reset(w: &World) {
    for table in
        ["mfa_factors", "mfa_ceremonies", "mfa_device_tokens", "mfa_recovery_codes", "mfa_throttles", "mfa_counters"]
    {
        sqlx::query(&format!("DELETE FROM {table}")).execute(w.store.pool()).await.unwrap();
    }
    w.store.insert_factor(&w.factor).await.unwrap();
    w.store.put_ceremony(&w.ceremony).await.unwrap();
    w.store.insert_device_token(&w.device).await.unwrap();
    w.store.replace_recovery_codes(&w.user, std::slice::from_ref(&w.code)).await.unwrap();
    // A throttle row and a counter row, through the API.
    let scope = mfa_core::store::ThrottleScope::RecoveryCodes;
    let clear = mfa_core::store::ThrottleState::default();
    w.store
        .compare_and_set_throttle(&w.user, &scope, &clear, &mfa_core::store::ThrottleState::new(1, Some(T0)))
        .await
        .unwrap();
    let zero = w.store.get_counter("send:x", T0).await.unwrap();
    let one = mfa_core::store::CounterState::new(
        1,
        Some(T0),
        Some(T0),
        Some(T0.saturating_add(std::time::Duration::from_secs(60))),
    );
    w.store.compare_and_set_counter("send:x", &zero, &one, T0).await.unwrap();
}

#[track_caller]
fn backend_only<T: std::fmt::Debug>(what: &str, r: Result<T, StoreError>) -> Option<T> {
    match r {
        Ok(v) => Some(v),
        Err(StoreError::Backend(_)) => None,
        Err(e) => panic!("{what}: a corrupt row gave {e:?}, expected a backend error"),
    }
}

fuzz_target!(|data: &[u8]| {
    let [col, ty, value @ ..] = data else { return };
    let (table, column) = COLUMNS[usize::from(*col) % COLUMNS.len()];
    let w = world();
    block_on(async {
        // Rows are put back only after an input managed to change one.
        if DIRTY.swap(false, Ordering::Relaxed) {
            reset(w).await;
        }
        let sql = format!("UPDATE {table} SET {column} = ?");
        let q = sqlx::query(&sql);
        let q = match ty % 4 {
            0 => q.bind(None::<i64>),
            1 => {
                let mut b = [0u8; 8];
                let n = value.len().min(8);
                b[..n].copy_from_slice(&value[..n]);
                q.bind(i64::from_le_bytes(b))
            }
            2 => q.bind(String::from_utf8_lossy(value).into_owned()),
            _ => q.bind(value.to_vec()),
        };
        // STRICT tables and CHECK constraints refuse some values outright: nothing to read then.
        match q.execute(w.store.pool()).await {
            Ok(done) if done.rows_affected() > 0 => DIRTY.store(true, Ordering::Relaxed),
            _ => return,
        }
        let s = &w.store;
        let u = &w.user;
        let f = &w.factor;
        backend_only("get_factor", s.get_factor(u, &f.id).await);
        backend_only("list_factors", s.list_factors(u).await);
        backend_only("find_factor_by_lookup_key", s.find_factor_by_lookup_key("key-1").await);
        backend_only("get_ceremony", s.get_ceremony(Some(u), &w.ceremony.id, T0).await);
        backend_only("get_device_token", s.get_device_token(u, &w.device.id).await);
        backend_only("list_device_tokens", s.list_device_tokens(u).await);
        backend_only("get_recovery_code", s.get_recovery_code(u, "AAAA").await);
        backend_only("count_recovery_codes", s.count_recovery_codes(u).await);
        backend_only("get_throttle", s.get_throttle(u, &mfa_core::store::ThrottleScope::RecoveryCodes).await);
        backend_only("get_counter", s.get_counter("send:x", T0).await);
        backend_only("purge_expired", s.purge_expired(T0).await);

        // Through the service: a corrupt factor row never verifies a wrong code.
        if let Err(e) = w.mfa.list_factors(u).await {
            expect_error("Mfa::list_factors", &e, &["Backend"]);
        }
        if let Err(e) = w.mfa.verify(u, &f.id, &Proof::code("00000000").unwrap()).await {
            expect_error(
                "Mfa::verify(wrong)",
                &e,
                &["Backend", "NotFound", "InvalidCode", "Config", "Crypto", "Unsupported", "Locked"],
            );
        } else {
            panic!("a wrong code verified against a corrupted row ({table}.{column})");
        }
        let code = totp_code(SECRET, T0, 6);
        if let Err(e) = w.mfa.verify(u, &f.id, &Proof::code(&code).unwrap()).await {
            expect_error(
                "Mfa::verify(right)",
                &e,
                &["Backend", "NotFound", "InvalidCode", "Replayed", "Config", "Crypto", "Unsupported", "Locked"],
            );
        }
        if column == "hash" && mfa_fuzz::too_costly(&String::from_utf8_lossy(value)) {
            return;
        }
        if let Err(e) = w.mfa.verify_recovery_code(u, "AAAA-BBBB-CCCC-DDDD-EEEE").await {
            expect_error("verify_recovery_code", &e, &["Backend", "InvalidCode", "Crypto", "Locked"]);
        }
    });
});
