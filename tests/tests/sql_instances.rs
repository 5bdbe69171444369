//! Two `Mfa` instances, each with its own connection pool, on one database: a SQLite file
//! and PostgreSQL. What one instance uses up, the other sees used up; what one counts, the
//! other counts too. (Without a PostgreSQL server its cases are listed as ignored, with the
//! command that runs them.)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers panic on purpose

mod support;

use std::sync::Arc;

use mfa_core::recovery::RecoveryCodeSettings;
use mfa_core::{
    AeadSealer, Clock, EnrolmentRequest, Error, FactorId, FactorKind, FreshAuth, ManualClock, Mfa, Prompt, Proof,
    Settings, Timestamp, UserId, seal::KeyId, store::Store,
};
use mfa_otp::TotpFactor;

/// Inside a time step, 10 s after its start.
const T: i64 = 1_700_000_010;

struct Pair {
    one: Mfa,
    two: Mfa,
    clock: ManualClock,
    totp: TotpFactor,
}

impl Pair {
    fn new((a, b): (Arc<dyn Store>, Arc<dyn Store>)) -> Self {
        let clock = ManualClock::new(Timestamp::from_unix_secs(T));
        let totp = TotpFactor::new("Example Corp").unwrap();
        let mut settings = Settings::default();
        settings.recovery_codes = RecoveryCodeSettings::fast_insecure_for_tests();
        let build = |store: Arc<dyn Store>| {
            Mfa::builder()
                .shared_store(store)
                .clock(clock.clone())
                .settings(settings.clone())
                .sealer(AeadSealer::new(KeyId(1), [7; 32]))
                .factor(totp.clone())
                .build()
                .unwrap()
        };
        Self { one: build(a), two: build(b), clock: clock.clone(), totp }
    }

    fn fresh(&self) -> FreshAuth {
        FreshAuth::primary(self.clock.now()).with_mfa(self.clock.now())
    }

    fn code_text(&self, key: &[u8]) -> String {
        self.totp.code_at(key, self.clock.now().unix_secs() as u64).unwrap()
    }

    fn code(&self, key: &[u8]) -> Proof {
        Proof::code(&self.code_text(key)).unwrap()
    }

    /// A TOTP factor enrolled through instance one, confirmed three steps before `T`.
    async fn enrolled(&self, user: &UserId) -> (FactorId, Vec<u8>) {
        let req = EnrolmentRequest::new(FactorKind::TOTP).account_name("alice@example.com");
        let start = self.one.start_enrolment(user, &self.fresh(), req).await.unwrap();
        let Prompt::SharedSecret(secret) = start.prompt else { panic!("expected a shared secret") };
        let key = data_encoding::BASE32_NOPAD.decode(secret.secret_base32.expose().as_bytes()).unwrap();
        self.clock.set(Timestamp::from_unix_secs(T - 90));
        self.one.finish_enrolment(user, &self.fresh(), &start.factor.id, &self.code(&key)).await.unwrap();
        self.clock.set(Timestamp::from_unix_secs(T));
        (start.factor.id, key)
    }
}

async fn a_totp_code_accepted_on_one_instance_is_replayed_on_the_other(pair: Pair) {
    let alice = UserId::new("alice").unwrap();
    let (id, key) = pair.enrolled(&alice).await;
    pair.one.verify(&alice, &id, &pair.code(&key)).await.unwrap();
    assert!(matches!(pair.two.verify(&alice, &id, &pair.code(&key)).await, Err(Error::Replayed)));
    assert!(matches!(pair.one.verify(&alice, &id, &pair.code(&key)).await, Err(Error::Replayed)));
    // The next step's code, raced 50 times across both instances, signs in once.
    pair.clock.advance(std::time::Duration::from_secs(30));
    let next = pair.code(&key);
    let results = support::race(50, &[pair.one.clone(), pair.two.clone()], |mfa| {
        let (alice, next) = (alice.clone(), next.clone());
        async move { mfa.verify(&alice, &id, &next).await }
    })
    .await;
    assert_eq!(support::successes(&results, |e| matches!(e, Error::Replayed | Error::Locked { .. })), 1);
}

async fn one_recovery_code_used_fifty_times_across_both_succeeds_once(pair: Pair) {
    let alice = UserId::new("alice").unwrap();
    pair.enrolled(&alice).await; // recovery codes exist only alongside a factor
    let set = pair.one.generate_recovery_codes(&alice, &pair.fresh()).await.unwrap();
    let the_code = set.codes()[0].expose().to_owned();
    let results = support::race(50, &[pair.one.clone(), pair.two.clone()], |mfa| {
        let (alice, the_code) = (alice.clone(), the_code.clone());
        async move { mfa.verify_recovery_code(&alice, &the_code).await }
    })
    .await;
    // Failures are throttled as they count: after five, the rest are locked out.
    assert_eq!(support::successes(&results, |e| matches!(e, Error::InvalidCode | Error::Locked { .. })), 1);
    assert_eq!(pair.one.recovery_codes_remaining(&alice).await.unwrap(), 9);
    assert_eq!(pair.two.recovery_codes_remaining(&alice).await.unwrap(), 9);
}

async fn failures_add_up_across_both(pair: Pair) {
    let alice = UserId::new("alice").unwrap();
    let (id, key) = pair.enrolled(&alice).await;
    let wrong = Proof::code(if pair.code_text(&key) == "000000" { "111111" } else { "000000" }).unwrap();
    for i in 0..5 {
        let mfa = if i % 2 == 0 { &pair.one } else { &pair.two };
        assert!(matches!(mfa.verify(&alice, &id, &wrong).await, Err(Error::InvalidCode)), "failure {i}");
    }
    // Five failures, split 3 + 2, lock the factor on both instances, even for the right code.
    for mfa in [&pair.one, &pair.two] {
        assert!(matches!(mfa.verify(&alice, &id, &pair.code(&key)).await, Err(Error::Locked { .. })));
    }
    pair.clock.advance(std::time::Duration::from_secs(60));
    pair.two.verify(&alice, &id, &pair.code(&key)).await.unwrap();
}

macro_rules! on_backend {
    ($(#[$attr:meta])* $module:ident, $pair:expr) => {
        mod $module {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            $(#[$attr])*
            async fn a_totp_code_accepted_on_one_instance_is_replayed_on_the_other() {
                super::a_totp_code_accepted_on_one_instance_is_replayed_on_the_other(Pair::new($pair.await)).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            $(#[$attr])*
            async fn one_recovery_code_used_fifty_times_across_both_succeeds_once() {
                super::one_recovery_code_used_fifty_times_across_both_succeeds_once(Pair::new($pair.await)).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            $(#[$attr])*
            async fn failures_add_up_across_both() {
                super::failures_add_up_across_both(Pair::new($pair.await)).await;
            }
        }
    };
}

on_backend!(sqlite_file, support::sql::sqlite_dyn_pair());
on_backend!(
    #[ignore = "needs PostgreSQL: run `bash tests/run-all.sh`, or set MFA_TEST_POSTGRES_URL and pass --include-ignored"]
    postgres,
    support::sql::postgres_dyn_pair()
);
