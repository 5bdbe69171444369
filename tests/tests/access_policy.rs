//! Access policy and assurance: the evaluation table (each rule, grace periods, step-up freshness,
//! assurance and action binding, remembered devices), the strictest-wins merge, and the
//! service's remembered-device and step-up flows.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers panic on purpose

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use mfa_core::access::{
    AccessPolicy, ActionDigest, Decision, Enrolment, Evidence, Outcome, Reason, Requirement, SatisfiedBy, StepUp,
};
use mfa_core::testing::{FakeFactor, RecordingEventSink};
use mfa_core::{
    AeadSealer, Assurance, Clock, EnrolmentRequest, Error, EventKind, FactorId, FactorKind, FreshAuth, ManualClock,
    Mfa, Prompt, Proof, Settings, Timestamp, UserId, Verified, recovery::RecoveryCodeSettings, seal::KeyId,
    store::Store,
};
use mfa_store_memory::MemoryStore;

const T0: i64 = 1_700_000_000;
const HOUR: u64 = 3600;

struct World {
    store: Arc<dyn Store>,
    clock: ManualClock,
    events: RecordingEventSink,
    mfa: Mfa,
}

fn world_with(policy: Settings) -> World {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let clock = ManualClock::new(Timestamp::from_unix_secs(T0));
    let events = RecordingEventSink::new();
    let mfa = Mfa::builder()
        .shared_store(store.clone())
        .clock(clock.clone())
        .sealer(AeadSealer::new(KeyId(1), [9; 32]))
        .events(events.clone())
        .settings(policy)
        .factor(FakeFactor::with_kind(FactorKind::TOTP, Assurance::ReplayResistantOtp, "Authenticator app"))
        .factor(FakeFactor::with_kind(FactorKind::SMS, Assurance::RestrictedOutOfBand, "Phone"))
        .factor(FakeFactor::with_kind(FactorKind::EMAIL, Assurance::EmailOutOfBand, "Email"))
        .factor(FakeFactor::with_kind(FactorKind::PASSKEY, Assurance::PhishingResistantMultiFactor, "Passkey"))
        .build()
        .unwrap();
    World { store, clock, events, mfa }
}

fn world() -> World {
    let mut policy = Settings::default();
    policy.recovery_codes = RecoveryCodeSettings::fast_insecure_for_tests();
    world_with(policy)
}

fn alice() -> UserId {
    UserId::new("alice").unwrap()
}

impl World {
    fn now(&self) -> Timestamp {
        self.clock.now()
    }

    fn fresh(&self) -> FreshAuth {
        FreshAuth::primary(self.now()).with_mfa(self.now())
    }

    /// Enrols one factor of `kind`; returns its id and code.
    async fn enrol(&self, kind: FactorKind) -> (FactorId, String) {
        let start = self.mfa.start_enrolment(&alice(), &self.fresh(), EnrolmentRequest::new(kind)).await.unwrap();
        let Prompt::SharedSecret(s) = &start.prompt else { panic!() };
        let code = FakeFactor::code_for(s, None);
        self.mfa
            .finish_enrolment(&alice(), &self.fresh(), &start.factor.id, &Proof::code(&code).unwrap())
            .await
            .unwrap();
        (start.factor.id, code)
    }
}

// ----- the evaluation table --------------------------------------------------------------

/// What the session proved, in a case.
#[derive(Clone)]
enum Ev {
    Nothing,
    /// A verification with the enrolled factor of this kind, `ago` seconds ago, maybe bound
    /// to an action.
    Verified {
        kind: FactorKind,
        ago: u64,
        action: Option<&'static str>,
    },
    /// A recovery code, `ago` seconds ago.
    RecoveryCode {
        ago: u64,
    },
    /// A verification that belongs to another user.
    OtherUsersVerification,
    /// A remembered device checked now; evaluated `later` seconds later.
    Device {
        later: u64,
    },
    /// Another user's remembered device.
    OtherUsersDevice,
    /// A remembered device revoked before it is presented: the check refuses it, so the
    /// session has no device evidence.
    RevokedDevice,
}

/// What the decision should be.
#[derive(Debug, Clone, PartialEq)]
enum Want {
    ByVerification,
    ByDevice,
    NotRequired(Enrolment),
    Verify(Vec<FactorKind>),
    Enrol,
}

struct Case {
    name: &'static str,
    policy: AccessPolicy,
    enrolled: Vec<FactorKind>,
    evidence: Ev,
    step_up: Option<StepUp>,
    want: Want,
}

fn action(name: &str) -> ActionDigest {
    ActionDigest::new("payment", &[("payee", name), ("amount", "100.00")])
}

async fn run(case: &Case) -> Decision {
    let w = world();
    let mut ids = Vec::new();
    for kind in &case.enrolled {
        w.clock.advance(Duration::from_secs(1));
        ids.push((kind.clone(), w.enrol(kind.clone()).await.0));
    }
    let id_of = |k: &FactorKind| ids.iter().find(|(kind, _)| kind == k).map(|(_, id)| *id);
    let assurance_of = |k: &FactorKind| match k.as_str() {
        "totp" => Assurance::ReplayResistantOtp,
        "sms" => Assurance::RestrictedOutOfBand,
        "email" => Assurance::EmailOutOfBand,
        _ => Assurance::PhishingResistantMultiFactor,
    };
    w.clock.advance(Duration::from_secs(24 * HOUR));
    let now = w.now();
    let mut eval_at = now;
    let evidence = match &case.evidence {
        Ev::Nothing => Evidence::default(),
        Ev::Verified { kind, ago, action: a } => {
            let at = now.saturating_sub(Duration::from_secs(*ago));
            let v = Verified::new(alice(), id_of(kind), Some(kind.clone()), assurance_of(kind), at)
                .with_action(a.map(action));
            Evidence::verified([v])
        }
        Ev::RecoveryCode { ago } => {
            let at = now.saturating_sub(Duration::from_secs(*ago));
            Evidence::verified([Verified::new(alice(), None, None, Assurance::RecoveryCode, at)])
        }
        Ev::OtherUsersVerification => {
            let bob = UserId::new("bob").unwrap();
            Evidence::verified([Verified::new(bob, None, Some(FactorKind::TOTP), Assurance::ReplayResistantOtp, now)])
        }
        Ev::Device { later } => {
            let v = Verified::new(alice(), None, None, Assurance::ReplayResistantOtp, now);
            let token = w.mfa.remember_device(&v, "Firefox").await.unwrap();
            let device = w.mfa.check_device(&alice(), token.token.expose()).await.unwrap();
            eval_at = now.saturating_add(Duration::from_secs(*later));
            Evidence::default().with_device(device)
        }
        Ev::RevokedDevice => {
            let v = Verified::new(alice(), None, None, Assurance::ReplayResistantOtp, now);
            let token = w.mfa.remember_device(&v, "Stolen laptop").await.unwrap();
            w.mfa.revoke_device(&alice(), &token.device.id).await.unwrap();
            let checked = w.mfa.check_device(&alice(), token.token.expose()).await;
            assert!(matches!(checked, Err(Error::InvalidCode)), "{checked:?}");
            Evidence::default()
        }
        Ev::OtherUsersDevice => {
            let bob = UserId::new("bob").unwrap();
            let v = Verified::new(bob.clone(), None, None, Assurance::ReplayResistantOtp, now);
            let token = w.mfa.remember_device(&v, "Bob's laptop").await.unwrap();
            Evidence::default().with_device(w.mfa.check_device(&bob, token.token.expose()).await.unwrap())
        }
    };
    let factors = w.mfa.list_factors(&alice()).await.unwrap();
    case.policy.evaluate(&alice(), &factors, &evidence, case.step_up.as_ref(), eval_at)
}

/// The reasons say why the outcome is what it is: the requirement in force; what satisfied
/// the policy, or how many factors would, or why none would; and, when the evidence given
/// did not satisfy the policy, what was wrong with it. The one-line explanation says each.
fn explains(case: &Case, d: &Decision) -> Result<(), String> {
    let has = |want: &dyn Fn(&Reason) -> bool| d.reasons.iter().any(want);
    if !has(&|r| *r == Reason::Requirement(case.policy.requirement)) {
        return Err("does not name the requirement".into());
    }
    match &d.outcome {
        // Not required: the requirement (Optional, Prompted) or the grace period says why.
        Outcome::Satisfied(SatisfiedBy::NotRequired)
            if case.policy.requirement == Requirement::Required && !has(&|r| matches!(r, Reason::Grace { .. })) =>
        {
            return Err("does not say why MFA is not needed".into());
        }
        Outcome::Satisfied(by @ (SatisfiedBy::Verification { .. } | SatisfiedBy::RememberedDevice { .. }))
            if !has(&|r| *r == Reason::Proven(by.clone())) =>
        {
            return Err("does not say what satisfied the policy".into());
        }
        Outcome::VerificationRequired if !has(&|r| *r == Reason::VerifyOneOf(d.candidates.len())) => {
            return Err("does not say how many factors would do".into());
        }
        Outcome::EnrolmentRequired
            if !has(&|r| matches!(r, Reason::NoSuitableFactor | Reason::FactorsDoNotCount | Reason::Grace { .. })) =>
        {
            return Err("does not say why enrolling is needed".into());
        }
        _ => {}
    }
    // (A revoked device never reaches the policy: `check_device` refuses it.)
    let evidence_refused = !matches!(case.evidence, Ev::Nothing | Ev::RevokedDevice)
        && !matches!(
            d.outcome,
            Outcome::Satisfied(SatisfiedBy::Verification { .. } | SatisfiedBy::RememberedDevice { .. })
        );
    let rejection = |r: &Reason| {
        matches!(
            r,
            Reason::OtherUser
                | Reason::KindNotAllowed { .. }
                | Reason::TooWeak { .. }
                | Reason::TooOld { .. }
                | Reason::OtherAction
                | Reason::DeviceNotForStepUp
                | Reason::DevicesNotTrusted
                | Reason::DeviceInvalid
        )
    };
    if evidence_refused && !matches!(d.outcome, Outcome::Satisfied(SatisfiedBy::NotRequired)) && !has(&rejection) {
        return Err("does not say why the evidence given did not count".into());
    }
    let line = d.explain();
    if let Some(missing) =
        d.reasons.iter().map(ToString::to_string).find(|r| r.is_empty() || !line.contains(r.as_str()))
    {
        return Err(format!("leaves out {missing:?}"));
    }
    Ok(())
}

fn got(d: &Decision) -> Want {
    match &d.outcome {
        Outcome::Satisfied(SatisfiedBy::Verification { .. }) => Want::ByVerification,
        Outcome::Satisfied(SatisfiedBy::RememberedDevice { .. }) => Want::ByDevice,
        Outcome::Satisfied(SatisfiedBy::NotRequired) => Want::NotRequired(d.enrolment),
        Outcome::VerificationRequired => Want::Verify(d.candidates.iter().map(|f| f.kind.clone()).collect()),
        Outcome::EnrolmentRequired => Want::Enrol,
        other => panic!("unexpected outcome {other:?}"),
    }
}

fn cases() -> Vec<Case> {
    use FactorKind as K;
    let optional = AccessPolicy::new(Requirement::Optional);
    let prompted = AccessPolicy::new(Requirement::Prompted);
    let required = AccessPolicy::new(Requirement::Required);
    let aal2 = required.clone().min_assurance(Assurance::RestrictedOutOfBand);
    let since = Timestamp::from_unix_secs(T0);
    let v = |kind: FactorKind, ago: u64| Ev::Verified { kind, ago, action: None };
    let case = |name, policy: &AccessPolicy, enrolled: Vec<K>, evidence, step_up, want| Case {
        name,
        policy: policy.clone(),
        enrolled,
        evidence,
        step_up,
        want,
    };
    vec![
        // The three rules, for users without a factor.
        case(
            "optional, no factor: nothing needed",
            &optional,
            vec![],
            Ev::Nothing,
            None,
            Want::NotRequired(Enrolment::NotNeeded),
        ),
        case(
            "prompted, no factor: suggest enrolling",
            &prompted,
            vec![],
            Ev::Nothing,
            None,
            Want::NotRequired(Enrolment::Suggested),
        ),
        case("required, no factor: must enrol", &required, vec![], Ev::Nothing, None, Want::Enrol),
        // Grace periods (evaluation happens a day after Required was switched on).
        case(
            "required within grace: may skip",
            &required.clone().enrolment_grace(since, Duration::from_secs(48 * HOUR)),
            vec![],
            Ev::Nothing,
            None,
            Want::NotRequired(Enrolment::Grace { until: since.saturating_add(Duration::from_secs(48 * HOUR)) }),
        ),
        case(
            "required after grace: must enrol",
            &required.clone().enrolment_grace(since, Duration::from_secs(HOUR)),
            vec![],
            Ev::Nothing,
            None,
            Want::Enrol,
        ),
        // With a factor, every rule asks for it; a verification satisfies it.
        case(
            "optional with a factor: verify it",
            &optional,
            vec![K::TOTP],
            Ev::Nothing,
            None,
            Want::Verify(vec![K::TOTP]),
        ),
        case("required, verified: satisfied", &required, vec![K::TOTP], v(K::TOTP, 60), None, Want::ByVerification),
        case(
            "a recovery code satisfies sign-in",
            &required,
            vec![K::TOTP],
            Ev::RecoveryCode { ago: 60 },
            None,
            Want::ByVerification,
        ),
        case(
            "another user's verification does not count",
            &required,
            vec![K::TOTP],
            Ev::OtherUsersVerification,
            None,
            Want::Verify(vec![K::TOTP]),
        ),
        case(
            "a verification older than the policy allows",
            &required.clone().max_verification_age(Duration::from_secs(HOUR)),
            vec![K::TOTP],
            v(K::TOTP, 2 * HOUR),
            None,
            Want::Verify(vec![K::TOTP]),
        ),
        // Assurance: email never satisfies AAL2; SMS can be refused.
        case(
            "email never satisfies an AAL2 policy",
            &aal2,
            vec![K::EMAIL, K::TOTP],
            v(K::EMAIL, 60),
            None,
            Want::Verify(vec![K::TOTP]),
        ),
        case("an email-only user must enrol under AAL2", &aal2, vec![K::EMAIL], v(K::EMAIL, 60), None, Want::Enrol),
        case("SMS satisfies AAL2", &aal2, vec![K::SMS], v(K::SMS, 60), None, Want::ByVerification),
        case(
            "a policy can refuse SMS",
            &required.clone().deny_kind(K::SMS),
            vec![K::SMS, K::TOTP],
            v(K::SMS, 60),
            None,
            Want::Verify(vec![K::TOTP]),
        ),
        case(
            "allowed kinds only",
            &required.clone().allow_kinds([K::PASSKEY]),
            vec![K::TOTP],
            v(K::TOTP, 60),
            None,
            Want::Enrol,
        ),
        case(
            "MFA stays on: a user whose only factor stops counting must add one that does",
            &AccessPolicy::strictest([
                &AccessPolicy::default(),
                &AccessPolicy::new(Requirement::Optional).deny_kind(K::SMS),
            ]),
            vec![K::SMS],
            Ev::Nothing,
            None,
            Want::Enrol,
        ),
        case(
            "MFA stays on under Prompted too, when the factor is too weak",
            &AccessPolicy::new(Requirement::Prompted).min_assurance(Assurance::PhishingResistant),
            vec![K::TOTP],
            v(K::TOTP, 60),
            None,
            Want::Enrol,
        ),
        case(
            "phishing-resistant only",
            &required.clone().min_assurance(Assurance::PhishingResistant),
            vec![K::TOTP, K::PASSKEY],
            v(K::TOTP, 60),
            None,
            Want::Verify(vec![K::PASSKEY]),
        ),
        // Candidates: the preferred first, then by assurance.
        case(
            "candidates: preferred first, then strongest",
            &required,
            vec![K::SMS, K::EMAIL, K::PASSKEY, K::TOTP],
            Ev::Nothing,
            None,
            Want::Verify(vec![K::SMS, K::PASSKEY, K::TOTP, K::EMAIL]),
        ),
        // Step-up: freshness, assurance, action.
        case(
            "step-up: a fresh verification",
            &optional,
            vec![K::TOTP],
            v(K::TOTP, 60),
            Some(StepUp::within(Duration::from_secs(300))),
            Want::ByVerification,
        ),
        case(
            "step-up: too old",
            &optional,
            vec![K::TOTP],
            v(K::TOTP, 600),
            Some(StepUp::within(Duration::from_secs(300))),
            Want::Verify(vec![K::TOTP]),
        ),
        case(
            "step-up: too weak",
            &optional,
            vec![K::TOTP, K::PASSKEY],
            v(K::TOTP, 60),
            Some(StepUp::within(Duration::from_secs(300)).min_assurance(Assurance::PhishingResistant)),
            Want::Verify(vec![K::PASSKEY]),
        ),
        case(
            "step-up: no suitable factor means enrol",
            &optional,
            vec![K::TOTP],
            v(K::TOTP, 60),
            Some(StepUp::within(Duration::from_secs(300)).min_assurance(Assurance::PhishingResistant)),
            Want::Enrol,
        ),
        case(
            "step-up: bound to this action",
            &optional,
            vec![K::TOTP],
            Ev::Verified { kind: K::TOTP, ago: 60, action: Some("ACME") },
            Some(StepUp::within(Duration::from_secs(300)).for_action(action("ACME"))),
            Want::ByVerification,
        ),
        case(
            "step-up: bound to another action",
            &optional,
            vec![K::TOTP],
            Ev::Verified { kind: K::TOTP, ago: 60, action: Some("EVIL") },
            Some(StepUp::within(Duration::from_secs(300)).for_action(action("ACME"))),
            Want::Verify(vec![K::TOTP]),
        ),
        case(
            "step-up: not bound to any action",
            &optional,
            vec![K::TOTP],
            v(K::TOTP, 60),
            Some(StepUp::within(Duration::from_secs(300)).for_action(action("ACME"))),
            Want::Verify(vec![K::TOTP]),
        ),
        // Remembered devices.
        case(
            "a remembered device satisfies sign-in",
            &required,
            vec![K::TOTP],
            Ev::Device { later: 0 },
            None,
            Want::ByDevice,
        ),
        case(
            "an expired remembered device does not",
            &required,
            vec![K::TOTP],
            Ev::Device { later: 31 * 24 * HOUR },
            None,
            Want::Verify(vec![K::TOTP]),
        ),
        case(
            "a revoked remembered device does not",
            &required,
            vec![K::TOTP],
            Ev::RevokedDevice,
            None,
            Want::Verify(vec![K::TOTP]),
        ),
        case(
            "another user's remembered device does not",
            &required,
            vec![K::TOTP],
            Ev::OtherUsersDevice,
            None,
            Want::Verify(vec![K::TOTP]),
        ),
        case(
            "a remembered device never satisfies a step-up",
            &required,
            vec![K::TOTP],
            Ev::Device { later: 0 },
            Some(StepUp::within(Duration::from_secs(300))),
            Want::Verify(vec![K::TOTP]),
        ),
        case(
            "a policy can distrust remembered devices",
            &required.clone().remembered_devices(false),
            vec![K::TOTP],
            Ev::Device { later: 0 },
            None,
            Want::Verify(vec![K::TOTP]),
        ),
    ]
}

#[tokio::test]
async fn the_evaluation_table() {
    let mut failures = Vec::new();
    for case in cases() {
        let decision = run(&case).await;
        let result = got(&decision);
        if let Err(why) = explains(&case, &decision) {
            failures.push(format!("{}: the explanation {:?} {why}", case.name, decision.explain()));
        }
        if result != case.want {
            failures.push(format!("{}: wanted {:?}, got {:?} ({})", case.name, case.want, result, decision.explain()));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn the_strictest_policy_wins() {
    use FactorKind as K;
    let t = |s| Timestamp::from_unix_secs(s);
    let org = AccessPolicy::new(Requirement::Prompted)
        .allow_kinds([K::TOTP, K::PASSKEY, K::SMS])
        .max_verification_age(Duration::from_secs(8 * HOUR));
    let user = AccessPolicy::new(Requirement::Required)
        .allow_kinds([K::PASSKEY, K::SMS, K::EMAIL])
        .deny_kind(K::SMS)
        .min_assurance(Assurance::ReplayResistantOtp)
        .max_verification_age(Duration::from_secs(HOUR))
        .enrolment_grace(t(100), Duration::from_secs(50))
        .remembered_devices(false);
    let merged = AccessPolicy::strictest([&AccessPolicy::default(), &org, &user]);
    assert_eq!(merged.requirement, Requirement::Required);
    assert_eq!(merged.allowed_kinds, Some(BTreeSet::from([K::PASSKEY, K::SMS])));
    assert!(!merged.allows_kind(&K::SMS) && merged.allows_kind(&K::PASSKEY) && !merged.allows_kind(&K::TOTP));
    assert_eq!(merged.min_assurance, Some(Assurance::ReplayResistantOtp));
    assert_eq!(merged.max_verification_age, Some(Duration::from_secs(HOUR)));
    assert!(!merged.allow_remembered_devices);
    assert_eq!(merged.enrolment_grace.map(|g| g.deadline()), Some(t(150)));

    // A grace survives only if every source requiring MFA grants one; the earliest wins.
    let strict_org = AccessPolicy::new(Requirement::Required);
    assert_eq!(AccessPolicy::strictest([&strict_org, &user]).enrolment_grace, None);
    let other = AccessPolicy::new(Requirement::Required).enrolment_grace(t(0), Duration::from_secs(500));
    assert_eq!(AccessPolicy::strictest([&other, &user]).enrolment_grace.map(|g| g.deadline()), Some(t(150)));
    // The order of sources does not matter.
    assert_eq!(AccessPolicy::strictest([&user, &org]), AccessPolicy::strictest([&org, &user]));
}

// ----- the service: step-up bound to an action -------------------------------------------

#[tokio::test]
async fn a_step_up_verification_proves_its_action_and_nothing_else() {
    let w = world();
    let (factor, code) = w.enrol(FactorKind::TOTP).await;
    let pay_acme = action("ACME");
    let challenge = w.mfa.start_step_up(&alice(), Some(&factor), &pay_acme).await.unwrap();
    let verified = w.mfa.finish_challenge(&alice(), &challenge.id, &Proof::code(&code).unwrap()).await.unwrap();
    assert_eq!(verified.action.as_ref(), Some(&pay_acme));
    let factors = w.mfa.list_factors(&alice()).await.unwrap();
    let evidence = Evidence::verified([verified.clone()]);
    let policy = AccessPolicy::default();
    let for_acme = StepUp::within(Duration::from_secs(300)).for_action(pay_acme);
    assert!(policy.evaluate(&alice(), &factors, &evidence, Some(&for_acme), w.now()).is_satisfied());
    let for_evil = StepUp::within(Duration::from_secs(300)).for_action(action("EVIL"));
    assert!(!policy.evaluate(&alice(), &factors, &evidence, Some(&for_evil), w.now()).is_satisfied());
    // An ordinary challenge proves no action.
    let plain = w.mfa.start_challenge(&alice(), None).await.unwrap();
    let verified = w.mfa.finish_challenge(&alice(), &plain.id, &Proof::code(&code).unwrap()).await.unwrap();
    assert_eq!(verified.action, None);
    // It serialises for the host's session.
    let json = serde_json::to_string(&verified).unwrap();
    assert_eq!(serde_json::from_str::<Verified>(&json).unwrap(), verified);
}

// ----- the service: remembered devices ---------------------------------------------------

#[tokio::test]
async fn devices_are_remembered_listed_used_and_revoked() {
    let w = world();
    let (factor, code) = w.enrol(FactorKind::TOTP).await;
    let verified = w.mfa.verify(&alice(), &factor, &Proof::code(&code).unwrap()).await.unwrap();
    let laptop = w.mfa.remember_device(&verified, "Firefox on Linux").await.unwrap();
    let phone = w.mfa.remember_device(&verified, "Safari on iPhone").await.unwrap();
    assert!(laptop.token.expose().starts_with("mfa-device."));
    assert_eq!(laptop.device.expires_at, w.now().saturating_add(Duration::from_secs(30 * 24 * HOUR)));
    let stored = w.store.get_device_token(&alice(), &laptop.device.id).await.unwrap().unwrap();
    let secret = laptop.token.expose().rsplit('.').next().unwrap();
    assert!(!String::from_utf8_lossy(&stored.secret_hash).contains(secret), "only a hash is stored");

    w.clock.advance(Duration::from_secs(60));
    let checked = w.mfa.check_device(&alice(), laptop.token.expose()).await.unwrap();
    assert_eq!(checked.last_seen_at, Some(w.now()));
    let listed: Vec<_> = w.mfa.list_devices(&alice()).await.unwrap().into_iter().map(|d| d.label).collect();
    assert_eq!(listed.len(), 2);

    w.mfa.revoke_device(&alice(), &laptop.device.id).await.unwrap();
    assert!(matches!(w.mfa.check_device(&alice(), laptop.token.expose()).await, Err(Error::InvalidCode)), "revoked");
    assert!(matches!(w.mfa.revoke_device(&alice(), &laptop.device.id).await, Err(Error::NotFound)));
    assert_eq!(w.mfa.revoke_all_devices(&alice()).await.unwrap(), 1);
    assert!(matches!(w.mfa.check_device(&alice(), phone.token.expose()).await, Err(Error::InvalidCode)));
    let kinds = w.events.kinds();
    for expected in [
        EventKind::DeviceRemembered { device: laptop.device.id },
        EventKind::DeviceUsed { device: laptop.device.id },
        EventKind::DeviceRevoked { device: laptop.device.id },
        EventKind::DevicesRevoked { count: 1 },
    ] {
        assert!(kinds.contains(&expected), "missing {expected:?}");
    }
}

#[tokio::test]
async fn a_device_token_works_only_for_its_user_until_it_expires() {
    let w = world();
    let (factor, code) = w.enrol(FactorKind::TOTP).await;
    let verified = w.mfa.verify(&alice(), &factor, &Proof::code(&code).unwrap()).await.unwrap();
    let token = w.mfa.remember_device(&verified, "Laptop").await.unwrap();
    let bob = UserId::new("bob").unwrap();
    assert!(matches!(w.mfa.check_device(&bob, token.token.expose()).await, Err(Error::InvalidCode)));
    assert!(matches!(w.mfa.revoke_device(&bob, &token.device.id).await, Err(Error::NotFound)));
    for bad in ["", "mfa-device.", "mfa-device.zz.zz", &format!("{}x", token.token.expose())] {
        assert!(matches!(w.mfa.check_device(&alice(), bad).await, Err(Error::InvalidInput { .. })), "{bad}");
    }
    // A forged secret for a real id fails.
    let forged = format!("{}AAAA", &token.token.expose()[..token.token.expose().len() - 4]);
    assert!(matches!(w.mfa.check_device(&alice(), &forged).await, Err(Error::InvalidCode)));
    w.clock.advance(Duration::from_secs(30 * 24 * HOUR));
    assert!(matches!(w.mfa.check_device(&alice(), token.token.expose()).await, Err(Error::Expired)));
    assert!(w.mfa.list_devices(&alice()).await.unwrap().is_empty());
}

#[tokio::test]
async fn device_checks_are_throttled() {
    let w = world();
    let (factor, code) = w.enrol(FactorKind::TOTP).await;
    let verified = w.mfa.verify(&alice(), &factor, &Proof::code(&code).unwrap()).await.unwrap();
    let token = w.mfa.remember_device(&verified, "Laptop").await.unwrap();
    let wrong = format!("mfa-device.{}.{}", token.device.id, "A".repeat(43));
    for _ in 0..5 {
        assert!(matches!(w.mfa.check_device(&alice(), &wrong).await, Err(Error::InvalidCode)));
    }
    assert!(matches!(w.mfa.check_device(&alice(), token.token.expose()).await, Err(Error::Locked { .. })));
}

#[tokio::test]
async fn remembering_needs_a_recent_verification() {
    let w = world();
    let (factor, code) = w.enrol(FactorKind::TOTP).await;
    let verified = w.mfa.verify(&alice(), &factor, &Proof::code(&code).unwrap()).await.unwrap();
    w.clock.advance(Duration::from_secs(301));
    assert!(matches!(w.mfa.remember_device(&verified, "Laptop").await, Err(Error::MfaRequired)));
    assert!(w.mfa.list_devices(&alice()).await.unwrap().is_empty());
}

#[tokio::test]
async fn removing_a_factor_or_regenerating_codes_revokes_devices_when_configured() {
    for (revoke, expected_left) in [(true, 0usize), (false, 2)] {
        let mut policy = Settings::default();
        policy.recovery_codes = RecoveryCodeSettings::fast_insecure_for_tests();
        policy.devices.revoke_on_factor_removal = revoke;
        policy.devices.revoke_on_recovery_regeneration = revoke;
        let w = world_with(policy);
        let (factor, code) = w.enrol(FactorKind::TOTP).await;
        let (other, _) = w.enrol(FactorKind::SMS).await;
        let verified = w.mfa.verify(&alice(), &factor, &Proof::code(&code).unwrap()).await.unwrap();
        w.mfa.remember_device(&verified, "One").await.unwrap();
        w.mfa.remember_device(&verified, "Two").await.unwrap();
        w.mfa.remove_factor(&alice(), &w.fresh(), &other).await.unwrap();
        assert_eq!(w.mfa.list_devices(&alice()).await.unwrap().len(), expected_left, "after removing a factor");
        w.mfa.remember_device(&verified, "Three").await.unwrap();
        w.mfa.generate_recovery_codes(&alice(), &w.fresh()).await.unwrap();
        assert_eq!(
            w.mfa.list_devices(&alice()).await.unwrap().len(),
            expected_left + usize::from(!revoke),
            "after codes"
        );
    }
}
