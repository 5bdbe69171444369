//! Properties over generated input: code normalisation, label rules, the access-policy
//! evaluation, and the throttling schedule (also as the service applies it).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers panic on purpose

use std::sync::Arc;
use std::time::Duration;

use mfa_core::access::{AccessPolicy, Evidence, Outcome, Requirement, SatisfiedBy, StepUp};
use mfa_core::recovery::RecoveryCodeSettings;
use mfa_core::store::{ThrottleScope, ThrottleState};
use mfa_core::{
    AeadSealer, Assurance, Clock, EnrolmentRequest, Error, FactorKind, FreshAuth, ManualClock, Mfa, Proof, SecretBytes,
    Settings, Timestamp, UserId, Verified, seal::KeyId, store::Store, throttle::ThrottleSettings,
    types::validate_label,
};
use mfa_otp::TotpFactor;
use mfa_store_memory::MemoryStore;
use proptest::prelude::*;

const T0: i64 = 1_700_000_010;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

fn service(throttle: ThrottleSettings) -> (Mfa, ManualClock, Arc<dyn Store>) {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let clock = ManualClock::new(Timestamp::from_unix_secs(T0));
    let mut settings = Settings::default();
    settings.recovery_codes = RecoveryCodeSettings::fast_insecure_for_tests();
    settings.throttle = throttle;
    let mfa = Mfa::builder()
        .shared_store(store.clone())
        .clock(clock.clone())
        .sealer(AeadSealer::new(KeyId(1), [4; 32]))
        .settings(settings)
        .factor(TotpFactor::new("Example").unwrap())
        .build()
        .unwrap();
    (mfa, clock, store)
}

/// An active authenticator-app factor for `user` (recovery codes exist only alongside one),
/// and the fresh authentication that enrolled it.
async fn enrol_totp(mfa: &Mfa, clock: &ManualClock, user: &UserId) -> FreshAuth {
    let seed = [7u8; 20];
    let fresh = FreshAuth::primary(clock.now());
    let req = EnrolmentRequest::new(FactorKind::TOTP).import_secret(SecretBytes::new(seed.to_vec()));
    let start = mfa.start_enrolment(user, &fresh, req).await.unwrap();
    let code = TotpFactor::new("Example").unwrap().code_at(&seed, clock.now().unix_secs() as u64).unwrap();
    mfa.finish_enrolment(user, &fresh, &start.factor.id, &Proof::code(&code).unwrap()).await.unwrap();
    fresh.with_mfa(clock.now())
}

/// `code` with ASCII white space of the given kinds inserted before the given positions.
fn spaced(code: &str, gaps: &[(usize, u8)]) -> String {
    let ws = [" ", "\t", "\n", "\r", "\u{c}"];
    let mut out = String::new();
    for (i, c) in code.chars().enumerate() {
        for (at, kind) in gaps {
            if at % (code.len() + 1) == i {
                out.push_str(ws[usize::from(*kind) % ws.len()]);
            }
        }
        out.push(c);
    }
    for (at, kind) in gaps {
        if at % (code.len() + 1) == code.len() {
            out.push_str(ws[usize::from(*kind) % ws.len()]);
        }
    }
    out
}

fn assurance() -> impl Strategy<Value = Assurance> {
    prop_oneof![
        Just(Assurance::EmailOutOfBand),
        Just(Assurance::RestrictedOutOfBand),
        Just(Assurance::RecoveryCode),
        Just(Assurance::ReplayResistantOtp),
        Just(Assurance::PhishingResistant),
        Just(Assurance::PhishingResistantMultiFactor),
    ]
}

fn requirement() -> impl Strategy<Value = Requirement> {
    prop_oneof![Just(Requirement::Optional), Just(Requirement::Prompted), Just(Requirement::Required)]
}

fn verified(assurance: Assurance, age_secs: u64, now: Timestamp) -> Verified {
    let user = UserId::new("alice").unwrap();
    Verified::new(user, None, Some(FactorKind::TOTP), assurance, now.saturating_sub(Duration::from_secs(age_secs)))
}

fn satisfied_by_verification(o: &Outcome) -> bool {
    matches!(o, Outcome::Satisfied(SatisfiedBy::Verification { .. }))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A typed code loses its white space and nothing else; anything it refuses is a typed
    /// `InvalidInput` for the field "code".
    #[test]
    fn typed_codes_lose_white_space_and_are_otherwise_kept_or_refused(
        digits in "[0-9]{6,8}",
        gaps in prop::collection::vec((0usize..16, 0u8..5), 0..6),
        junk in "\\PC{0,40}|[\\x00-\\x1f\\x7f]{1,4}",
    ) {
        let canonical = Proof::code(&digits).unwrap();
        let variant = Proof::code(&spaced(&digits, &gaps)).unwrap();
        prop_assert_eq!(variant.as_code().unwrap().expose(), canonical.as_code().unwrap().expose());
        match Proof::code(&junk) {
            Ok(p) => {
                let kept: String = junk.chars().filter(|c| !c.is_ascii_whitespace()).collect();
                prop_assert_eq!(p.as_code().unwrap().expose(), kept.as_str());
                prop_assert!(!kept.is_empty() && kept.len() <= 128 && !kept.chars().any(char::is_control));
            }
            Err(e) => prop_assert!(matches!(e, Error::InvalidInput { field: "code", .. }), "{:?}", e),
        }
    }

    /// Labels are trimmed and 1–64 characters without control characters or characters
    /// that disguise them; everything else is `InvalidInput` for "label". Never a panic.
    #[test]
    fn labels_are_trimmed_bounded_and_otherwise_refused(label in "\\s{0,3}\\PC{0,70}\\s{0,3}|[\\x00-\\x1f]{0,3}\\PC{0,5}") {
        let trimmed = label.trim();
        let valid = !trimmed.is_empty()
            && trimmed.chars().count() <= 64
            && !trimmed.chars().any(|c| c.is_control() || mfa_core::types::is_disguising(c));
        match validate_label(&label) {
            Ok(l) => {
                prop_assert!(valid);
                prop_assert_eq!(l.as_str(), trimmed);
            }
            Err(e) => {
                prop_assert!(!valid, "{:?} refused", label);
                prop_assert!(matches!(e, Error::InvalidInput { field: "label", .. }), "{:?}", e);
            }
        }
    }

    /// The delay never shrinks as failures grow, never exceeds the cap, is zero below the
    /// free attempts, and a wait is measured from the last attempt.
    #[test]
    fn the_throttle_schedule_is_monotone_bounded_and_free_at_first(
        free in 1u32..20,
        base in 1u64..3_600,
        cap_extra in 0u64..86_400,
        failures in 0u32..200,
        elapsed in 0u64..200_000,
    ) {
        let p = ThrottleSettings::new(free, Duration::from_secs(base), Duration::from_secs(base + cap_extra));
        let cap = Duration::from_secs(base + cap_extra);
        let delay = p.delay_after(failures);
        prop_assert_eq!(delay.is_none(), failures < free);
        if let Some(d) = delay {
            prop_assert!(d <= cap && d >= Duration::from_secs(base).min(cap));
            prop_assert!(p.delay_after(failures + 1).unwrap() >= d, "monotone");
        }
        let last = Timestamp::from_unix_secs(T0);
        let now = last.saturating_add(Duration::from_secs(elapsed));
        let wait = p.wait(&ThrottleState::new(failures, Some(last)), now);
        match delay {
            None => prop_assert_eq!(wait, None),
            Some(d) if Duration::from_secs(elapsed) >= d => prop_assert_eq!(wait, None),
            Some(d) => prop_assert_eq!(wait, Some(d - Duration::from_secs(elapsed))),
        }
        prop_assert_eq!(p.wait(&ThrottleState::default(), now), None, "a clear counter never waits");
    }

    /// More assurance and a fresher verification never turn a satisfied policy (or step-up)
    /// into an unsatisfied one, and a weaker requirement is satisfied whenever a stronger
    /// one is.
    #[test]
    fn policy_decisions_are_monotone_in_assurance_freshness_and_requirement(
        req in requirement(),
        min in prop::option::of(assurance()),
        max_age in prop::option::of(1u64..100_000),
        step in prop::option::of((prop::option::of(assurance()), 1u64..100_000)),
        a in assurance(),
        stronger in assurance(),
        age in 0u64..200_000,
        fresher in 0u64..200_000,
    ) {
        let now = Timestamp::from_unix_secs(T0);
        let mut policy = AccessPolicy::new(req);
        if let Some(min) = min {
            policy = policy.min_assurance(min);
        }
        if let Some(max) = max_age {
            policy = policy.max_verification_age(Duration::from_secs(max));
        }
        let step_up = step.map(|(min, max)| {
            let s = StepUp::within(Duration::from_secs(max));
            match min { Some(m) => s.min_assurance(m), None => s }
        });
        let alice = UserId::new("alice").unwrap();
        let decide = |assurance: Assurance, age: u64, p: &AccessPolicy| {
            p.evaluate(&alice, &[], &Evidence::verified([verified(assurance, age, now)]), step_up.as_ref(), now).outcome
        };
        if satisfied_by_verification(&decide(a, age, &policy)) {
            let better = a.max(stronger);
            let newer = age.min(fresher);
            prop_assert!(satisfied_by_verification(&decide(better, newer, &policy)),
                "{:?} at {}s satisfied, {:?} at {}s not", a, age, better, newer);
            for weaker in [Requirement::Optional, Requirement::Prompted, Requirement::Required] {
                let mut p = policy.clone();
                p.requirement = weaker.min(req);
                prop_assert!(satisfied_by_verification(&decide(a, age, &p)));
            }
            // Merged with a lax policy, it still accepts; a lax policy accepts it too.
            let merged = AccessPolicy::strictest([&AccessPolicy::default(), &policy]);
            prop_assert!(satisfied_by_verification(&decide(a, age, &merged)));
        }
        // The merged policy is never satisfied by a verification one of its sources refuses.
        let other = AccessPolicy::new(Requirement::Optional).min_assurance(stronger);
        let merged = AccessPolicy::strictest([&policy, &other]);
        if satisfied_by_verification(&decide(a, age, &merged)) {
            prop_assert!(satisfied_by_verification(&decide(a, age, &policy)));
            prop_assert!(satisfied_by_verification(&decide(a, age, &other)));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// A TOTP code with white space typed anywhere verifies like the code itself; with a
    /// dash or a letter it is refused as malformed, without counting.
    #[test]
    fn totp_codes_verify_the_same_with_white_space_and_malformed_ones_count_nothing(
        seed in prop::collection::vec(any::<u8>(), 20..=32),
        offset in 0u64..100_000,
        gaps in prop::collection::vec((0usize..8, 0u8..5), 1..4),
        bad_at in 0usize..6,
        bad in prop_oneof![Just('-'), Just('a'), Just('O'), Just('\u{ff11}')],
    ) {
        runtime().block_on(async {
            let (mfa, clock, store) = service(ThrottleSettings::default());
            let alice = UserId::new("alice").unwrap();
            let f = TotpFactor::new("Example").unwrap();
            let fresh = FreshAuth::primary(clock.now());
            let req = EnrolmentRequest::new(FactorKind::TOTP).import_secret(SecretBytes::new(seed.clone()));
            let start = mfa.start_enrolment(&alice, &fresh, req).await.unwrap();
            let enrol = f.code_at(&seed, clock.now().unix_secs() as u64).unwrap();
            mfa.finish_enrolment(&alice, &fresh, &start.factor.id, &Proof::code(&enrol).unwrap()).await.unwrap();
            clock.advance(Duration::from_secs(60 + offset));
            let right = f.code_at(&seed, clock.now().unix_secs() as u64).unwrap();
            let mut malformed = right.clone();
            malformed.insert(bad_at, bad);
            let e = mfa.verify(&alice, &start.factor.id, &Proof::code(&malformed).unwrap()).await.unwrap_err();
            prop_assert!(matches!(e, Error::InvalidInput { field: "code", .. }), "{:?}", e);
            let state = store.get_throttle(&alice, &ThrottleScope::Factor(start.factor.id)).await.unwrap();
            prop_assert_eq!(state, ThrottleState::default(), "nothing counted");
            let typed = Proof::code(&spaced(&right, &gaps)).unwrap();
            prop_assert!(mfa.verify(&alice, &start.factor.id, &typed).await.is_ok());
            Ok(())
        })?;
    }

    /// A recovery code typed in lower case, with spaces or dashes anywhere, or with 0/1/8
    /// for O/I/B, is the same code; input that is not 20 base32 characters is refused as
    /// malformed, without counting.
    #[test]
    fn recovery_codes_are_read_leniently_and_malformed_ones_count_nothing(
        pick in 0usize..10,
        lower in prop::collection::vec(any::<bool>(), 20),
        seps in prop::collection::vec((0usize..21, prop_oneof![Just(' '), Just('-'), Just('\t')]), 0..6),
        junk in "[A-Za-z2-7 -]{0,19}|[A-Za-z2-7]{21,30}|[A-Z]{4}[9!@#]{16}",
    ) {
        runtime().block_on(async {
            let (mfa, clock, store) = service(ThrottleSettings::default());
            let alice = UserId::new("alice").unwrap();
            let fresh = enrol_totp(&mfa, &clock, &alice).await;
            let set = mfa.generate_recovery_codes(&alice, &fresh).await.unwrap();
            let canonical: Vec<char> = set.codes()[pick].expose().chars().filter(|c| *c != '-').collect();
            let mut typed = String::new();
            for (i, c) in canonical.iter().enumerate() {
                for (at, sep) in &seps {
                    if *at == i {
                        typed.push(*sep);
                    }
                }
                let c = match c { 'O' if lower[i] => '0', 'I' if lower[i] => '1', 'B' if lower[i] => '8', c => *c };
                typed.push(if lower[i] { c.to_ascii_lowercase() } else { c });
            }
            // Every junk input is malformed: too short, too long, or outside the alphabet.
            let e = mfa.verify_recovery_code(&alice, &junk).await.unwrap_err();
            prop_assert!(matches!(e, Error::InvalidInput { field: "recovery code", .. }), "{:?}: {:?}", junk, e);
            let state = store.get_throttle(&alice, &ThrottleScope::RecoveryCodes).await.unwrap();
            prop_assert_eq!(state, ThrottleState::default(), "nothing counted");
            prop_assert!(mfa.verify_recovery_code(&alice, &typed).await.is_ok(), "{:?}", typed);
            prop_assert_eq!(mfa.recovery_codes_remaining(&alice).await.unwrap(), 9);
            Ok(())
        })?;
    }

    /// The service's `retry_after` is the schedule's wait, at every step of a lockout.
    #[test]
    fn the_services_retry_after_follows_the_schedule(
        free in 1u32..6,
        base in 1u64..600,
        cap_extra in 0u64..4_000,
        steps in 1usize..8,
        early in 0u64..100,
    ) {
        let throttle = ThrottleSettings::new(free, Duration::from_secs(base), Duration::from_secs(base + cap_extra));
        runtime().block_on(async {
            let (mfa, clock, store) = service(throttle);
            let alice = UserId::new("alice").unwrap();
            let f = TotpFactor::new("Example").unwrap();
            let seed = vec![9u8; 20];
            let req = EnrolmentRequest::new(FactorKind::TOTP).import_secret(SecretBytes::new(seed.clone()));
            let start = mfa.start_enrolment(&alice, &FreshAuth::primary(clock.now()), req).await.unwrap();
            let enrol = f.code_at(&seed, clock.now().unix_secs() as u64).unwrap();
            mfa.finish_enrolment(&alice, &FreshAuth::primary(clock.now()), &start.factor.id, &Proof::code(&enrol).unwrap()).await.unwrap();
            let id = start.factor.id;
            let mut evaluated = 0u32;
            let mut locks = 0;
            while locks < steps {
                let t = clock.now().unix_secs() as u64;
                let valid: Vec<String> = [t - 30, t, t + 30].iter().map(|s| f.code_at(&seed, *s).unwrap()).collect();
                let wrong = ["000000", "111111", "222222", "333333"].into_iter().find(|c| !valid.iter().any(|v| v == c)).unwrap();
                match mfa.verify(&alice, &id, &Proof::code(wrong).unwrap()).await {
                    Err(Error::InvalidCode) => evaluated += 1,
                    Err(Error::Locked { retry_after }) => {
                        let state = store.get_throttle(&alice, &ThrottleScope::Factor(id)).await.unwrap();
                        prop_assert_eq!(state.failures, evaluated);
                        prop_assert!(evaluated >= free);
                        prop_assert_eq!(Some(retry_after), throttle.wait(&state, clock.now()));
                        // Waiting less than that is still refused, with the rest to wait.
                        let short = Duration::from_secs(early.min(retry_after.as_secs().saturating_sub(1)));
                        clock.advance(short);
                        match mfa.verify(&alice, &id, &Proof::code(wrong).unwrap()).await {
                            Err(Error::Locked { retry_after: rest }) => prop_assert_eq!(rest, retry_after - short),
                            other => prop_assert!(false, "{:?}", other),
                        }
                        clock.advance(retry_after - short);
                        locks += 1;
                    }
                    other => prop_assert!(false, "{:?}", other),
                }
            }
            Ok(())
        })?;
    }
}
