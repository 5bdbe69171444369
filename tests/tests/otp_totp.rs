//! Authenticator apps (TOTP) through `Mfa` with the memory store and a manual clock:
//! provisioning, the window, replay protection across instances, secrets at rest.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers panic on purpose

mod support;

use std::sync::Arc;

use mfa_core::{
    AeadSealer, Assurance, Clock, EnrolmentRequest, Error, FactorId, FactorKind, FactorStatus, FreshAuth, ManualClock,
    Mfa, Prompt, Proof, SecretBytes, SharedSecretPrompt, Timestamp, UserId, seal::KeyId, store::Store,
};
use mfa_otp::{Algorithm, TotpFactor};
use mfa_store_memory::MemoryStore;

/// Inside step 56_666_667, 10 s after its start.
const T: i64 = 1_700_000_010;

struct World {
    store: Arc<dyn Store>,
    clock: ManualClock,
}

impl World {
    fn new() -> Self {
        Self { store: Arc::new(MemoryStore::new()), clock: ManualClock::new(Timestamp::from_unix_secs(T)) }
    }

    fn mfa(&self, totp: TotpFactor) -> Mfa {
        Mfa::builder()
            .shared_store(self.store.clone())
            .clock(self.clock.clone())
            .sealer(AeadSealer::new(KeyId(1), [3; 32]))
            .factor(totp)
            .build()
            .unwrap()
    }

    fn fresh(&self) -> FreshAuth {
        FreshAuth::primary(self.clock.now()).with_mfa(self.clock.now())
    }

    fn secs(&self) -> u64 {
        self.clock.now().unix_secs() as u64
    }
}

fn totp() -> TotpFactor {
    TotpFactor::new("Example Corp").unwrap()
}

fn proof(code: &str) -> Proof {
    Proof::code(code).unwrap()
}

fn key_of(secret: &SharedSecretPrompt) -> Vec<u8> {
    data_encoding::BASE32_NOPAD.decode(secret.secret_base32.expose().as_bytes()).unwrap()
}

async fn start(w: &World, mfa: &Mfa, user: &UserId) -> (FactorId, Vec<u8>, SharedSecretPrompt) {
    let req = EnrolmentRequest::new(FactorKind::TOTP).account_name("alice@example.com");
    let start = mfa.start_enrolment(user, &w.fresh(), req).await.unwrap();
    let Prompt::SharedSecret(secret) = start.prompt else { panic!("expected a shared secret") };
    (start.factor.id, key_of(&secret), secret)
}

/// Enrols a factor confirmed with the code of step `T/30 - 3`, so later steps are free.
async fn enrolled(w: &World, mfa: &Mfa, f: &TotpFactor, user: &UserId) -> (FactorId, Vec<u8>) {
    let (id, key, _) = start(w, mfa, user).await;
    w.clock.set(Timestamp::from_unix_secs(T - 90));
    mfa.finish_enrolment(user, &w.fresh(), &id, &proof(&f.code_at(&key, w.secs()).unwrap())).await.unwrap();
    w.clock.set(Timestamp::from_unix_secs(T));
    (id, key)
}

#[tokio::test]
async fn enrolment_shows_the_key_an_otpauth_uri_and_qr_codes() {
    let w = World::new();
    let mfa = w.mfa(totp());
    let alice = UserId::new("alice").unwrap();
    let (id, key, secret) = start(&w, &mfa, &alice).await;
    assert_eq!(key.len(), 20, "SHA-1 secrets are 20 bytes");
    let uri = secret.uri.expose();
    assert!(uri.starts_with("otpauth://totp/Example%20Corp:alice%40example.com?"), "{uri}");
    for part in [format!("secret={}", secret.secret_base32.expose()), "issuer=Example%20Corp".into()] {
        assert!(uri.contains(&part), "{uri} lacks {part}");
    }
    let png = secret.qr_png.as_ref().unwrap();
    assert_eq!(&png.expose()[..8], b"\x89PNG\r\n\x1a\n");
    let svg = secret.qr_svg.as_ref().unwrap();
    assert!(svg.expose().starts_with("<svg") && svg.expose().ends_with("</svg>"));
    assert!(!format!("{secret:?}").contains(secret.secret_base32.expose()), "Debug redacts the key");

    let summary = mfa.get_factor(&alice, &id).await.unwrap();
    assert_eq!(summary.status, FactorStatus::Pending);
    assert_eq!(summary.label, "Authenticator app");
    assert!(matches!(mfa.finish_enrolment(&alice, &w.fresh(), &id, &proof("000000")).await, Err(Error::InvalidCode)));
    let code = totp().code_at(&key, w.secs()).unwrap();
    let active = mfa.finish_enrolment(&alice, &w.fresh(), &id, &proof(&code)).await.unwrap();
    assert_eq!(active.status, FactorStatus::Active);
    assert_eq!(active.assurance, Assurance::ReplayResistantOtp);
}

#[tokio::test]
async fn secrets_have_the_algorithms_length_and_stronger_settings_work_end_to_end() {
    for (algorithm, len) in [(Algorithm::Sha1, 20), (Algorithm::Sha256, 32), (Algorithm::Sha512, 64)] {
        let w = World::new();
        let f = TotpFactor::builder("Example").algorithm(algorithm).digits(8).period(60).build().unwrap();
        let mfa = w.mfa(f.clone());
        let alice = UserId::new("alice").unwrap();
        let (id, key, secret) = start(&w, &mfa, &alice).await;
        assert_eq!(key.len(), len, "{algorithm:?}");
        let uri = secret.uri.expose();
        assert!(uri.contains("digits=8") && uri.contains("period=60"), "{uri}");
        let code = f.code_at(&key, w.secs()).unwrap();
        assert_eq!(code.len(), 8);
        mfa.finish_enrolment(&alice, &w.fresh(), &id, &proof(&code)).await.unwrap();
    }
}

#[tokio::test]
async fn a_factor_keeps_its_settings_when_the_adapter_changes() {
    let w = World::new();
    let eight = TotpFactor::builder("Example").digits(8).build().unwrap();
    let mfa = w.mfa(eight.clone());
    let alice = UserId::new("alice").unwrap();
    let (id, key) = enrolled(&w, &mfa, &eight, &alice).await;
    let six = w.mfa(totp());
    let code = eight.code_at(&key, w.secs()).unwrap();
    six.verify(&alice, &id, &proof(&code)).await.unwrap();
}

#[tokio::test]
async fn imported_secrets_need_at_least_16_bytes() {
    let w = World::new();
    let mfa = w.mfa(totp());
    let alice = UserId::new("alice").unwrap();
    let short = EnrolmentRequest::new(FactorKind::TOTP).import_secret(SecretBytes::new(vec![1; 15]));
    let err = mfa.start_enrolment(&alice, &w.fresh(), short).await.unwrap_err();
    assert!(matches!(err, Error::InvalidInput { field: "secret", .. }), "{err:?}");
    assert!(mfa.list_factors(&alice).await.unwrap().is_empty());
    let imported = SecretBytes::new(b"0123456789abcdef".to_vec());
    let ok = EnrolmentRequest::new(FactorKind::TOTP).import_secret(imported.clone());
    let start = mfa.start_enrolment(&alice, &w.fresh(), ok).await.unwrap();
    let code = totp().code_at(imported.expose(), w.secs()).unwrap();
    mfa.finish_enrolment(&alice, &w.fresh(), &start.factor.id, &proof(&code)).await.unwrap();
}

#[tokio::test]
async fn the_window_is_one_step_either_side() {
    let f = totp();
    for (offset, accepted) in [(-2i64, false), (-1, true), (0, true), (1, true), (2, false)] {
        let w = World::new();
        let mfa = w.mfa(f.clone());
        let alice = UserId::new("alice").unwrap();
        let (id, key) = enrolled(&w, &mfa, &f, &alice).await;
        let code = f.code_at(&key, (T + offset * 30) as u64).unwrap();
        let result = mfa.verify(&alice, &id, &proof(&code)).await;
        assert_eq!(result.is_ok(), accepted, "step offset {offset}: {result:?}");
        if !accepted {
            assert!(matches!(result, Err(Error::InvalidCode)));
        }
    }
}

#[tokio::test]
async fn step_edges_follow_the_clock() {
    let f = TotpFactor::builder("Example").window(0).build().unwrap();
    let w = World::new();
    let mfa = w.mfa(f.clone());
    let alice = UserId::new("alice").unwrap();
    let (id, key) = enrolled(&w, &mfa, &f, &alice).await;
    let step_start = T - T % 30;
    let code = f.code_at(&key, step_start as u64).unwrap();
    w.clock.set(Timestamp::from_unix_secs(step_start + 30));
    assert!(
        matches!(mfa.verify(&alice, &id, &proof(&code)).await, Err(Error::InvalidCode)),
        "second 30 is the next step"
    );
    w.clock.set(Timestamp::from_unix_secs(step_start + 29));
    mfa.verify(&alice, &id, &proof(&code)).await.unwrap();
}

#[tokio::test]
async fn a_code_is_accepted_once_and_earlier_steps_never_again() {
    let f = totp();
    let w = World::new();
    let mfa = w.mfa(f.clone());
    let alice = UserId::new("alice").unwrap();
    let (id, key) = enrolled(&w, &mfa, &f, &alice).await;
    let current = f.code_at(&key, T as u64).unwrap();
    mfa.verify(&alice, &id, &proof(&current)).await.unwrap();
    assert!(matches!(mfa.verify(&alice, &id, &proof(&current)).await, Err(Error::Replayed)));
    // After step T+1 was used, a still-valid code for T is rejected too.
    let w2 = World::new();
    let mfa2 = w2.mfa(f.clone());
    let (id2, key2) = enrolled(&w2, &mfa2, &f, &alice).await;
    let next = f.code_at(&key2, (T + 30) as u64).unwrap();
    mfa2.verify(&alice, &id2, &proof(&next)).await.unwrap();
    let now = f.code_at(&key2, T as u64).unwrap();
    assert!(matches!(mfa2.verify(&alice, &id2, &proof(&now)).await, Err(Error::Replayed)));
}

#[tokio::test]
async fn the_enrolment_code_cannot_sign_in() {
    let f = totp();
    let w = World::new();
    let mfa = w.mfa(f.clone());
    let alice = UserId::new("alice").unwrap();
    let (id, key, _) = start(&w, &mfa, &alice).await;
    let code = f.code_at(&key, w.secs()).unwrap();
    mfa.finish_enrolment(&alice, &w.fresh(), &id, &proof(&code)).await.unwrap();
    assert!(matches!(mfa.verify(&alice, &id, &proof(&code)).await, Err(Error::Replayed)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_code_raced_through_two_instances_is_accepted_once() {
    let f = totp();
    let w = World::new();
    let (one, two) = (w.mfa(f.clone()), w.mfa(f.clone()));
    let alice = UserId::new("alice").unwrap();
    let (id, key) = enrolled(&w, &one, &f, &alice).await;
    let code = f.code_at(&key, T as u64).unwrap();
    let results = support::race(50, &[one, two], |mfa| {
        let (alice, code) = (alice.clone(), code.clone());
        async move { mfa.verify(&alice, &id, &proof(&code)).await }
    })
    .await;
    assert_eq!(support::successes(&results, |e| matches!(e, Error::Replayed | Error::Locked { .. })), 1);
}

#[tokio::test]
async fn the_seed_is_sealed_at_rest_and_bound_to_its_owner() {
    let f = totp();
    let w = World::new();
    let mfa = w.mfa(f.clone());
    let alice = UserId::new("alice").unwrap();
    let (id, key) = enrolled(&w, &mfa, &f, &alice).await;
    let record = w.store.get_factor(&alice, &id).await.unwrap().unwrap();
    let sealed = record.secret.unwrap();
    assert_eq!(sealed.key_id, KeyId(1));
    assert!(!sealed.ciphertext.windows(key.len()).any(|w| w == key.as_slice()), "no seed in clear");
    assert!(!format!("{:?}", w.store.list_factors(&alice).await.unwrap()).contains(&format!("{key:?}")));
}

#[tokio::test]
async fn malformed_codes_are_refused_without_counting() {
    let f = totp();
    let w = World::new();
    let mfa = w.mfa(f.clone());
    let alice = UserId::new("alice").unwrap();
    let (id, _) = enrolled(&w, &mfa, &f, &alice).await;
    for bad in ["12a456", "１２３４５６", "12345678901", "abcdef"] {
        let result = mfa.verify(&alice, &id, &proof(bad)).await;
        assert!(matches!(result, Err(Error::InvalidInput { .. })), "{bad}: {result:?}");
    }
    for _ in 0..4 {
        assert!(matches!(mfa.verify(&alice, &id, &proof("000000")).await, Err(Error::InvalidCode)));
    }
    // Four counted failures: one more free attempt, then the lock.
    assert!(matches!(mfa.verify(&alice, &id, &proof("000000")).await, Err(Error::InvalidCode)));
    assert!(matches!(mfa.verify(&alice, &id, &proof("000000")).await, Err(Error::Locked { .. })));
}

#[tokio::test]
async fn a_guess_budget_derives_the_factors_throttle() {
    let f = totp();
    let w = World::new();
    let mut settings = mfa_core::Settings::default();
    settings.guess_budget = Some(mfa_core::throttle::GuessBudget::new(6e-6, 1));
    let mfa = Mfa::builder()
        .shared_store(w.store.clone())
        .clock(w.clock.clone())
        .sealer(AeadSealer::new(KeyId(1), [3; 32]))
        .settings(settings)
        .factor(f.clone())
        .build()
        .unwrap();
    let alice = UserId::new("alice").unwrap();
    let (id, _) = enrolled(&w, &mfa, &f, &alice).await;
    // 6e-6 a day at 3e-6 a guess leaves 2 guesses: 2 free attempts, then a lock.
    for _ in 0..2 {
        let r = mfa.verify(&alice, &id, &proof("000000")).await;
        assert!(matches!(r, Err(Error::InvalidCode)), "{r:?}");
    }
    assert!(matches!(mfa.verify(&alice, &id, &proof("000000")).await, Err(Error::Locked { .. })));
    let budget = mfa_core::throttle::GuessBudget::new(6e-6, 1);
    let throttle = budget.throttle_for(3e-6);
    assert!(budget.success_per_day(&throttle, 3e-6) <= 6e-6);
}
