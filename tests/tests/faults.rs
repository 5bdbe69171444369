//! Interrupted operations leave the state they started from. A [`FaultyStore`] makes the
//! N-th store call fail, as a lost connection or a crashed instance would; each operation
//! is interrupted at every one of its store calls in turn, on the memory store and on a
//! SQLite file, and afterwards the previous state must be intact and usable (or, once the
//! operation's commit point has passed, the operation must have succeeded as a whole).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers panic on purpose

mod support;

use std::sync::Arc;
use std::time::Duration;

use mfa_core::recovery::RecoveryCodeSettings;
use mfa_core::testing::FaultyStore;
use mfa_core::{
    AeadSealer, Clock, EnrolmentRequest, Error, FactorId, FactorKind, FactorStatus, FreshAuth, ManualClock, Mfa,
    Prompt, Proof, Settings, Timestamp, UserId, seal::KeyId, store::Store,
};
use mfa_otp::TotpFactor;
use mfa_store_memory::MemoryStore;

const T: i64 = 1_700_000_010;

/// More store calls than any operation here makes; reaching it means a loop never ended.
const MAX_CALLS: u64 = 64;

struct World<S: Store> {
    store: Arc<FaultyStore<S>>,
    mfa: Mfa,
    clock: ManualClock,
    totp: TotpFactor,
}

impl<S: Store> World<S> {
    fn new(inner: S) -> Self {
        let store = Arc::new(FaultyStore::new(inner));
        let clock = ManualClock::new(Timestamp::from_unix_secs(T));
        let totp = TotpFactor::new("Example Corp").unwrap();
        let mut settings = Settings::default();
        settings.recovery_codes = RecoveryCodeSettings::fast_insecure_for_tests();
        settings.devices.revoke_on_recovery_regeneration = true;
        // Every interrupted attempt below leaves a pending enrolment behind.
        settings.limits.pending_enrolments = 1_000;
        let mfa = Mfa::builder()
            .shared_store(store.clone() as Arc<dyn Store>)
            .clock(clock.clone())
            .settings(settings)
            .sealer(AeadSealer::new(KeyId(1), [9; 32]))
            .factor(totp.clone())
            .build()
            .unwrap();
        Self { store, mfa, clock, totp }
    }

    fn fresh(&self) -> FreshAuth {
        FreshAuth::primary(self.clock.now()).with_mfa(self.clock.now())
    }

    /// The current code, moving the clock one step on so it has not been used.
    fn next_code(&self, key: &[u8]) -> Proof {
        self.clock.advance(Duration::from_secs(30));
        Proof::code(&self.totp.code_at(key, self.clock.now().unix_secs() as u64).unwrap()).unwrap()
    }

    async fn start_totp(&self, user: &UserId, replaces: Option<FactorId>) -> (FactorId, Vec<u8>) {
        let mut req = EnrolmentRequest::new(FactorKind::TOTP).account_name("alice@example.com");
        if let Some(old) = replaces {
            req = req.replaces(old);
        }
        let start = self.mfa.start_enrolment(user, &self.fresh(), req).await.unwrap();
        let Prompt::SharedSecret(secret) = start.prompt else { panic!("expected a shared secret") };
        (start.factor.id, data_encoding::BASE32_NOPAD.decode(secret.secret_base32.expose().as_bytes()).unwrap())
    }

    async fn status(&self, user: &UserId, id: &FactorId) -> Option<(FactorStatus, bool)> {
        self.store.inner().get_factor(user, id).await.unwrap().map(|f| (f.status, f.preferred))
    }
}

fn is_injected(e: &Error) -> bool {
    matches!(e, Error::Backend(_))
}

/// Regenerating recovery codes, interrupted at each store call: the old codes keep working
/// until a regeneration succeeds, and then only the new ones do.
async fn interrupted_regeneration_keeps_the_old_codes<S: Store>(w: World<S>) {
    let alice = UserId::new("alice").unwrap();
    let (totp, key) = w.start_totp(&alice, None).await;
    w.mfa.finish_enrolment(&alice, &w.fresh(), &totp, &w.next_code(&key)).await.unwrap();
    let old = w.mfa.generate_recovery_codes(&alice, &w.fresh()).await.unwrap();
    let mut interrupted = 0;
    for n in 1..=MAX_CALLS {
        w.store.fail_call(n);
        match w.mfa.regenerate_recovery_codes(&alice, &w.fresh()).await {
            Err(e) => {
                assert!(is_injected(&e), "call {n}: {e:?}");
                w.store.reset();
                interrupted += 1;
                // Every old code not used yet still works; use one to prove it.
                assert_eq!(w.mfa.recovery_codes_remaining(&alice).await.unwrap(), 11 - n as usize);
                w.mfa.verify_recovery_code(&alice, old.codes()[n as usize - 1].expose()).await.unwrap();
            }
            Ok(new) => {
                assert!(n > w.store.calls().len() as u64, "the armed call {n} was made, yet it succeeded");
                w.store.reset();
                // The old codes nobody used are dead (four of them: a fifth failure would lock).
                for code in old.codes()[n as usize - 1..].iter().take(4) {
                    assert!(matches!(w.mfa.verify_recovery_code(&alice, code.expose()).await, Err(Error::InvalidCode)));
                }
                assert_eq!(w.mfa.recovery_codes_remaining(&alice).await.unwrap(), 10);
                w.mfa.verify_recovery_code(&alice, new.codes()[0].expose()).await.unwrap();
                assert!(interrupted >= 2, "regeneration makes several store calls: {interrupted}");
                return;
            }
        }
    }
    panic!("regeneration never succeeded");
}

/// Confirming a replacement authenticator, interrupted at each store call: the old factor
/// stays active, preferred and usable, and the new one never signs in, until a
/// confirmation succeeds; then the new one has taken over and its enrolment code is used up.
async fn interrupted_enrolment_keeps_the_previous_factor<S: Store>(w: World<S>) {
    let alice = UserId::new("alice").unwrap();
    let (old, old_key) = w.start_totp(&alice, None).await;
    w.mfa.finish_enrolment(&alice, &w.fresh(), &old, &w.next_code(&old_key)).await.unwrap();
    let mut interrupted = 0;
    for n in 1..=MAX_CALLS {
        let (new, new_key) = w.start_totp(&alice, Some(old)).await;
        let enrolment_code = w.next_code(&new_key);
        w.store.fail_call(n);
        let result = w.mfa.finish_enrolment(&alice, &w.fresh(), &new, &enrolment_code).await;
        w.store.reset();
        match result {
            Err(e) => {
                assert!(is_injected(&e), "call {n}: {e:?}");
                interrupted += 1;
                assert_eq!(w.status(&alice, &old).await, Some((FactorStatus::Active, true)), "call {n}");
                assert_ne!(w.status(&alice, &new).await.map(|s| s.0), Some(FactorStatus::Active), "call {n}");
                w.mfa.verify(&alice, &old, &w.next_code(&old_key)).await.unwrap();
                assert!(matches!(w.mfa.verify(&alice, &new, &w.next_code(&new_key)).await, Err(Error::NotFound)));
            }
            Ok(summary) => {
                assert_eq!(summary.status, FactorStatus::Active);
                assert_eq!(w.status(&alice, &old).await, None, "the replaced factor is gone");
                assert_eq!(w.status(&alice, &new).await, Some((FactorStatus::Active, true)));
                assert!(matches!(w.mfa.verify(&alice, &new, &enrolment_code).await, Err(Error::Replayed)));
                w.mfa.verify(&alice, &new, &w.next_code(&new_key)).await.unwrap();
                assert!(interrupted >= 4, "confirmation makes several store calls: {interrupted}");
                return;
            }
        }
    }
    panic!("the enrolment never finished");
}

/// A first enrolment interrupted at each store call leaves the user with no active factor
/// (so nothing changes for sign-in), until one succeeds.
async fn interrupted_first_enrolment_leaves_no_factor<S: Store>(w: World<S>) {
    let alice = UserId::new("alice").unwrap();
    for n in 1..=MAX_CALLS {
        let (id, key) = w.start_totp(&alice, None).await;
        let code = w.next_code(&key);
        w.store.fail_call(n);
        let result = w.mfa.finish_enrolment(&alice, &w.fresh(), &id, &code).await;
        w.store.reset();
        let active = w.store.inner().list_factors(&alice).await.unwrap().into_iter().filter(|f| f.is_active()).count();
        match result {
            Err(e) => {
                assert!(is_injected(&e), "call {n}: {e:?}");
                assert_eq!(active, 0, "call {n}");
            }
            Ok(_) => {
                assert_eq!(active, 1);
                return;
            }
        }
    }
    panic!("the enrolment never finished");
}

/// A TOTP verification is two store calls: `begin_attempt` (the factor read and the attempt
/// counted) and `accept_verification` (the code used up, the counter cleared). Interrupted
/// at either, the code is not used up: before the count nothing changed; after it, the
/// attempt stays counted (erring on the side of caution) and the same code still verifies.
async fn interrupted_verification_leaves_the_code_usable<S: Store>(w: World<S>) {
    let alice = UserId::new("alice").unwrap();
    let (id, key) = w.start_totp(&alice, None).await;
    w.mfa.finish_enrolment(&alice, &w.fresh(), &id, &w.next_code(&key)).await.unwrap();
    let code = w.next_code(&key);
    w.store.reset();
    w.mfa.verify(&alice, &id, &code).await.unwrap();
    assert_eq!(w.store.calls(), ["begin_attempt", "accept_verification"], "the hot path is two calls");
    let scope = mfa_core::store::ThrottleScope::Factor(id);
    for n in 1..=2 {
        let code = w.next_code(&key);
        w.store.fail_call(n);
        assert!(matches!(w.mfa.verify(&alice, &id, &code).await, Err(e) if is_injected(&e)), "call {n}");
        w.store.reset();
        let counted = w.store.inner().get_throttle(&alice, &scope).await.unwrap().failures;
        assert_eq!(counted, u32::try_from(n - 1).unwrap(), "call {n}: counted only once the count is made");
        w.mfa.verify(&alice, &id, &code).await.unwrap();
        assert_eq!(w.store.inner().get_throttle(&alice, &scope).await.unwrap().failures, 0, "a success clears it");
    }
}

macro_rules! on_backend {
    ($module:ident, $make:expr) => {
        mod $module {
            use super::*;

            #[tokio::test]
            async fn interrupted_regeneration_keeps_the_old_codes() {
                super::interrupted_regeneration_keeps_the_old_codes(World::new($make)).await;
            }

            #[tokio::test]
            async fn interrupted_enrolment_keeps_the_previous_factor() {
                super::interrupted_enrolment_keeps_the_previous_factor(World::new($make)).await;
            }

            #[tokio::test]
            async fn interrupted_verification_leaves_the_code_usable() {
                super::interrupted_verification_leaves_the_code_usable(World::new($make)).await;
            }

            #[tokio::test]
            async fn interrupted_first_enrolment_leaves_no_factor() {
                super::interrupted_first_enrolment_leaves_no_factor(World::new($make)).await;
            }
        }
    };
}

on_backend!(memory, MemoryStore::new());
on_backend!(sqlite_file, support::sql::sqlite_file().await);
