//! Service-level behaviour of `Mfa` with the fake adapter, the memory store and a manual
//! clock: enrolment, sign-in, re-authentication, isolation, preferred selection,
//! throttling across instances, and recovery codes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers panic on purpose

use std::sync::Arc;
use std::time::Duration;

use mfa_core::store::{FactorRecord, StoreExt, ThrottleScope};
use mfa_core::testing::{FAKE, FakeFactor, RecordingEventSink, race, successes};
use mfa_core::{
    AeadSealer, Assurance, Challenge, Clock, EnrolmentRequest, Error, EventKind, FactorId, FactorKind, FactorStatus,
    FailureReason, FreshAuth, ManualClock, Mfa, Prompt, Proof, Settings, SharedSecretPrompt, Timestamp, UserId,
    recovery::RecoveryCodeSettings, seal::KeyId, store::Store, throttle::ThrottleSettings,
};
use mfa_store_memory::MemoryStore;

const KEY: [u8; 32] = [7; 32];
const STRONG: FactorKind = FactorKind::from_static("strong");
const CHALLENGED: FactorKind = FactorKind::from_static("challenged");

struct World {
    store: Arc<dyn Store>,
    clock: ManualClock,
    events: RecordingEventSink,
}

impl World {
    fn new() -> Self {
        Self {
            store: Arc::new(MemoryStore::new()),
            clock: ManualClock::new(Timestamp::from_unix_secs(1_700_000_000)),
            events: RecordingEventSink::new(),
        }
    }

    fn settings() -> Settings {
        let mut settings = Settings::default();
        settings.recovery_codes = RecoveryCodeSettings::fast_insecure_for_tests();
        settings
    }

    /// A service instance on the shared store, clock and event log.
    fn mfa(&self) -> Mfa {
        self.mfa_with(AeadSealer::new(KeyId(1), KEY), Self::settings())
    }

    fn mfa_with(&self, sealer: AeadSealer, settings: Settings) -> Mfa {
        Mfa::builder()
            .shared_store(self.store.clone())
            .clock(self.clock.clone())
            .sealer(sealer)
            .events(self.events.clone())
            .settings(settings)
            .factor(FakeFactor::new())
            .factor(FakeFactor::with_kind(STRONG, Assurance::PhishingResistant, "Security key"))
            .factor(FakeFactor::with_kind(CHALLENGED, Assurance::RestrictedOutOfBand, "Phone").with_challenges())
            .build()
            .unwrap()
    }

    fn fresh(&self) -> FreshAuth {
        let now = self.clock.now();
        FreshAuth::primary(now).with_mfa(now)
    }

    fn advance(&self, secs: u64) {
        self.clock.advance(Duration::from_secs(secs));
    }
}

fn user(name: &str) -> UserId {
    UserId::new(name).unwrap()
}

fn code(s: &str) -> Proof {
    Proof::code(s).unwrap()
}

fn secret_of(prompt: &Prompt) -> SharedSecretPrompt {
    match prompt {
        Prompt::SharedSecret(s) => s.clone(),
        other => panic!("expected a shared secret, got {other:?}"),
    }
}

/// Enrols and activates a factor of `kind`; returns its id and the secret prompt.
async fn enrol(w: &World, mfa: &Mfa, who: &UserId, kind: FactorKind) -> (FactorId, SharedSecretPrompt) {
    let start = mfa.start_enrolment(who, &w.fresh(), EnrolmentRequest::new(kind)).await.unwrap();
    let secret = secret_of(&start.prompt);
    mfa.finish_enrolment(who, &w.fresh(), &start.factor.id, &code(&FakeFactor::code_for(&secret, None))).await.unwrap();
    (start.factor.id, secret)
}

// ----- enrolment -------------------------------------------------------------------------

#[tokio::test]
async fn an_enrolment_stays_pending_until_proven() {
    let w = World::new();
    let mfa = w.mfa();
    let alice = user("alice");
    let start = mfa.start_enrolment(&alice, &w.fresh(), EnrolmentRequest::new(FAKE)).await.unwrap();
    assert_eq!(start.factor.status, FactorStatus::Pending);
    assert_eq!(start.expires_at, w.clock.now().saturating_add(Duration::from_secs(600)));
    let listed = mfa.list_factors(&alice).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].status, FactorStatus::Pending);
    assert!(!listed[0].preferred);

    let err = mfa.finish_enrolment(&alice, &w.fresh(), &start.factor.id, &code("not-the-secret")).await.unwrap_err();
    assert!(matches!(err, Error::InvalidCode));
    assert_eq!(mfa.get_factor(&alice, &start.factor.id).await.unwrap().status, FactorStatus::Pending);

    let secret = secret_of(&start.prompt);
    let active = mfa
        .finish_enrolment(&alice, &w.fresh(), &start.factor.id, &code(&FakeFactor::code_for(&secret, None)))
        .await
        .unwrap();
    assert_eq!(active.status, FactorStatus::Active);
    assert!(active.preferred, "the first active factor becomes preferred");
    assert_eq!(active.expires_at, None);
}

#[tokio::test]
async fn a_pending_enrolment_cannot_sign_in() {
    let w = World::new();
    let mfa = w.mfa();
    let alice = user("alice");
    let start = mfa.start_enrolment(&alice, &w.fresh(), EnrolmentRequest::new(FAKE)).await.unwrap();
    let proof = code(&FakeFactor::code_for(&secret_of(&start.prompt), None));
    assert!(matches!(mfa.verify(&alice, &start.factor.id, &proof).await, Err(Error::NotFound)));
    assert!(matches!(mfa.start_challenge(&alice, Some(&start.factor.id)).await, Err(Error::NotFound)));
    assert!(matches!(mfa.start_challenge(&alice, None).await, Err(Error::NotFound)));
}

#[tokio::test]
async fn an_expired_enrolment_can_neither_finish_nor_sign_in() {
    let w = World::new();
    let mfa = w.mfa();
    let alice = user("alice");
    let start = mfa.start_enrolment(&alice, &w.fresh(), EnrolmentRequest::new(FAKE)).await.unwrap();
    let proof = code(&FakeFactor::code_for(&secret_of(&start.prompt), None));
    w.advance(600);
    assert!(matches!(mfa.finish_enrolment(&alice, &w.fresh(), &start.factor.id, &proof).await, Err(Error::Expired)));
    assert!(matches!(mfa.verify(&alice, &start.factor.id, &proof).await, Err(Error::NotFound)));
    assert!(mfa.list_factors(&alice).await.unwrap().is_empty(), "expired enrolments are not listed");
    assert_eq!(w.store.purge_expired(w.clock.now()).await.unwrap(), 1);
}

#[tokio::test]
async fn an_enrolment_finishes_once() {
    let w = World::new();
    let mfa = w.mfa();
    let alice = user("alice");
    let start = mfa.start_enrolment(&alice, &w.fresh(), EnrolmentRequest::new(FAKE)).await.unwrap();
    let proof = code(&FakeFactor::code_for(&secret_of(&start.prompt), None));
    mfa.finish_enrolment(&alice, &w.fresh(), &start.factor.id, &proof).await.unwrap();
    assert!(matches!(mfa.finish_enrolment(&alice, &w.fresh(), &start.factor.id, &proof).await, Err(Error::Expired)));
}

#[tokio::test]
async fn the_enrolment_code_cannot_be_replayed_to_sign_in() {
    let w = World::new();
    let mfa = w.mfa();
    let alice = user("alice");
    let start = mfa.start_enrolment(&alice, &w.fresh(), EnrolmentRequest::new(FAKE)).await.unwrap();
    let proof = code(&FakeFactor::code_for(&secret_of(&start.prompt), Some(10)));
    mfa.finish_enrolment(&alice, &w.fresh(), &start.factor.id, &proof).await.unwrap();
    assert!(matches!(mfa.verify(&alice, &start.factor.id, &proof).await, Err(Error::Replayed)));
}

#[tokio::test]
async fn labels_are_validated_and_defaults_are_numbered() {
    let w = World::new();
    let mfa = w.mfa();
    let alice = user("alice");
    for bad in ["", "   ", "tab\there", &"x".repeat(65)] {
        let req = EnrolmentRequest::new(STRONG).label(bad);
        let err = mfa.start_enrolment(&alice, &w.fresh(), req).await.unwrap_err();
        assert!(matches!(err, Error::InvalidInput { field: "label", .. }), "{bad:?}: {err:?}");
    }
    assert!(mfa.list_factors(&alice).await.unwrap().is_empty(), "refused labels changed nothing");

    let (first, _) = enrol(&w, &mfa, &alice, STRONG).await;
    let (second, _) = enrol(&w, &mfa, &alice, STRONG).await;
    assert_eq!(mfa.get_factor(&alice, &first).await.unwrap().label, "Security key");
    assert_eq!(mfa.get_factor(&alice, &second).await.unwrap().label, "Security key 2");

    let req = EnrolmentRequest::new(FAKE).label("  Work phone ");
    let start = mfa.start_enrolment(&alice, &w.fresh(), req).await.unwrap();
    assert_eq!(start.factor.label, "Work phone");

    let renamed = mfa.rename_factor(&alice, &first, " YubiKey 5 ").await.unwrap();
    assert_eq!(renamed.label, "YubiKey 5");
    assert!(matches!(mfa.rename_factor(&alice, &first, "\u{7}").await, Err(Error::InvalidInput { .. })));
    assert_eq!(mfa.get_factor(&alice, &first).await.unwrap().label, "YubiKey 5");
}

#[tokio::test]
async fn an_unconfigured_kind_is_unsupported() {
    let w = World::new();
    let mfa = w.mfa();
    let req = EnrolmentRequest::new(FactorKind::PASSKEY);
    assert!(matches!(mfa.start_enrolment(&user("alice"), &w.fresh(), req).await, Err(Error::Unsupported)));
}

// ----- fresh re-authentication -------------------------------------------------------------

#[tokio::test]
async fn changes_require_a_recent_primary_authentication() {
    let w = World::new();
    let mfa = w.mfa();
    let alice = user("alice");
    let stale = FreshAuth::primary(w.clock.now());
    w.advance(301);
    let req = EnrolmentRequest::new(FAKE);
    assert!(matches!(mfa.start_enrolment(&alice, &stale, req).await, Err(Error::ReauthRequired)));
    assert!(matches!(mfa.generate_recovery_codes(&alice, &stale).await, Err(Error::ReauthRequired)));
    let future = FreshAuth::primary(w.clock.now().saturating_add(Duration::from_secs(60)));
    let req = EnrolmentRequest::new(FAKE);
    assert!(matches!(mfa.start_enrolment(&alice, &future, req).await, Err(Error::ReauthRequired)));

    let (factor, _) = enrol(&w, &mfa, &alice, FAKE).await;
    let (other, _) = enrol(&w, &mfa, &alice, FAKE).await;
    w.advance(301);
    let stale = FreshAuth::primary(w.clock.now().saturating_sub(Duration::from_secs(301))).with_mfa(w.clock.now());
    assert!(matches!(mfa.remove_factor(&alice, &stale, &factor).await, Err(Error::ReauthRequired)));
    assert!(matches!(mfa.set_preferred(&alice, &stale, &other).await, Err(Error::ReauthRequired)));
    assert!(matches!(mfa.regenerate_recovery_codes(&alice, &stale).await, Err(Error::ReauthRequired)));
    assert_eq!(mfa.list_factors(&alice).await.unwrap().len(), 2, "nothing was removed");
    assert!(mfa.get_factor(&alice, &factor).await.unwrap().preferred, "preferred unchanged");
}

#[tokio::test]
async fn a_password_only_session_cannot_add_a_second_factor() {
    let w = World::new();
    let mfa = w.mfa();
    let alice = user("alice");
    let password_only = FreshAuth::primary(w.clock.now());
    // The very first factor needs only the password...
    let start = mfa.start_enrolment(&alice, &password_only, EnrolmentRequest::new(FAKE)).await.unwrap();
    let secret = secret_of(&start.prompt);
    mfa.finish_enrolment(&alice, &password_only, &start.factor.id, &code(&FakeFactor::code_for(&secret, None)))
        .await
        .unwrap();
    // ...but once a factor is active, every change also needs recent MFA.
    let req = EnrolmentRequest::new(FAKE);
    assert!(matches!(mfa.start_enrolment(&alice, &password_only, req).await, Err(Error::MfaRequired)));
    assert!(matches!(mfa.remove_factor(&alice, &password_only, &start.factor.id).await, Err(Error::MfaRequired)));
    assert!(matches!(mfa.generate_recovery_codes(&alice, &password_only).await, Err(Error::MfaRequired)));
    let old_mfa = password_only.with_mfa(w.clock.now().saturating_sub(Duration::from_secs(301)));
    let req = EnrolmentRequest::new(FAKE);
    assert!(matches!(mfa.start_enrolment(&alice, &old_mfa, req).await, Err(Error::MfaRequired)));

    let verified = mfa.verify(&alice, &start.factor.id, &code(&FakeFactor::code_for(&secret, None))).await.unwrap();
    let with_mfa = password_only.with_mfa(verified.at);
    mfa.start_enrolment(&alice, &with_mfa, EnrolmentRequest::new(FAKE)).await.unwrap();
}

// ----- isolation -------------------------------------------------------------------------

#[tokio::test]
async fn another_users_factor_is_not_found_for_every_operation() {
    let w = World::new();
    let mfa = w.mfa();
    let (alice, mallory) = (user("alice"), user("mallory"));
    let (factor, secret) = enrol(&w, &mfa, &alice, FAKE).await;
    let pending = mfa.start_enrolment(&alice, &w.fresh(), EnrolmentRequest::new(FAKE)).await.unwrap();
    let proof = code(&FakeFactor::code_for(&secret, None));
    let fresh = w.fresh();

    assert!(matches!(mfa.get_factor(&mallory, &factor).await, Err(Error::NotFound)));
    assert!(matches!(mfa.rename_factor(&mallory, &factor, "mine").await, Err(Error::NotFound)));
    assert!(matches!(mfa.set_preferred(&mallory, &fresh, &factor).await, Err(Error::NotFound)));
    assert!(matches!(mfa.remove_factor(&mallory, &fresh, &factor).await, Err(Error::NotFound)));
    assert!(matches!(mfa.verify(&mallory, &factor, &proof).await, Err(Error::NotFound)));
    assert!(matches!(mfa.start_challenge(&mallory, Some(&factor)).await, Err(Error::NotFound)));
    let pending_proof = code(&FakeFactor::code_for(&secret_of(&pending.prompt), None));
    assert!(matches!(
        mfa.finish_enrolment(&mallory, &w.fresh(), &pending.factor.id, &pending_proof).await,
        Err(Error::NotFound)
    ));
    let replace = EnrolmentRequest::new(FAKE).replaces(factor);
    assert!(matches!(mfa.start_enrolment(&mallory, &fresh, replace).await, Err(Error::NotFound)));
    assert!(mfa.list_factors(&mallory).await.unwrap().is_empty());

    // Alice's challenge is expired/unknown to Mallory, and Mallory's attempts use nothing up.
    let challenge = mfa.start_challenge(&alice, Some(&factor)).await.unwrap();
    for _ in 0..10 {
        assert!(matches!(mfa.finish_challenge(&mallory, &challenge.id, &proof).await, Err(Error::Expired)));
    }
    mfa.finish_challenge(&alice, &challenge.id, &proof).await.unwrap();

    // Nothing of Alice's changed.
    let summary = mfa.get_factor(&alice, &factor).await.unwrap();
    assert_eq!(summary.label, "Fake factor");
    assert!(summary.preferred);
    assert_eq!(mfa.get_factor(&alice, &pending.factor.id).await.unwrap().status, FactorStatus::Pending);
}

#[tokio::test]
async fn a_sealed_secret_copied_to_another_user_does_not_open() {
    let w = World::new();
    let mfa = w.mfa();
    let (alice, mallory) = (user("alice"), user("mallory"));
    let (alice_factor, secret) = enrol(&w, &mfa, &alice, FAKE).await;
    let (mallory_factor, _) = enrol(&w, &mfa, &mallory, FAKE).await;
    // Mallory gets write access to the store and copies Alice's sealed seed onto her factor.
    let stolen = w.store.get_factor(&alice, &alice_factor).await.unwrap().unwrap().secret;
    let mut forged: FactorRecord = w.store.get_factor(&mallory, &mallory_factor).await.unwrap().unwrap();
    forged.secret = stolen;
    w.store.delete_factor(&mallory, &mallory_factor).await.unwrap();
    w.store.insert_factor(&forged).await.unwrap();
    w.store.activate_factor(&mallory, &mallory_factor, w.clock.now()).await.ok();
    let err = mfa.verify(&mallory, &mallory_factor, &code(&FakeFactor::code_for(&secret, None))).await.unwrap_err();
    assert!(matches!(err, Error::Crypto(mfa_core::error::CryptoError::Open)), "{err:?}");
}

// ----- sign-in and preferred factor ------------------------------------------------------

#[tokio::test]
async fn a_challenge_uses_the_preferred_factor_and_lists_alternatives() {
    let w = World::new();
    let mfa = w.mfa();
    let alice = user("alice");
    let (fake, secret) = enrol(&w, &mfa, &alice, FAKE).await;
    let (strong, _) = enrol(&w, &mfa, &alice, STRONG).await;
    let (phone, _) = enrol(&w, &mfa, &alice, CHALLENGED).await;

    let challenge = mfa.start_challenge(&alice, None).await.unwrap();
    assert_eq!(challenge.factor.id, fake, "the first factor is preferred");
    let alternatives: Vec<_> = challenge.alternatives.iter().map(|f| f.id).collect();
    assert_eq!(alternatives, vec![strong, phone], "strongest first");
    assert_eq!(challenge.recovery_codes_remaining, 0);
    let verified = mfa.finish_challenge(&alice, &challenge.id, &code(&FakeFactor::code_for(&secret, None))).await;
    let verified = verified.unwrap();
    assert_eq!(verified.factor, Some(fake));
    assert_eq!(verified.assurance, Assurance::ReplayResistantOtp);

    mfa.set_preferred(&alice, &w.fresh(), &phone).await.unwrap();
    let challenge = mfa.start_challenge(&alice, None).await.unwrap();
    assert_eq!(challenge.factor.id, phone);
    let preferred: Vec<_> =
        mfa.list_factors(&alice).await.unwrap().into_iter().filter(|f| f.preferred).map(|f| f.id).collect();
    assert_eq!(preferred, vec![phone]);

    let switched = mfa.start_challenge(&alice, Some(&strong)).await.unwrap();
    assert_eq!(switched.factor.id, strong);
}

#[tokio::test]
async fn removing_the_preferred_factor_promotes_the_strongest_then_most_recent() {
    let w = World::new();
    let mfa = w.mfa();
    let alice = user("alice");
    let (first, _) = enrol(&w, &mfa, &alice, FAKE).await;
    let (older_fake, older_secret) = enrol(&w, &mfa, &alice, FAKE).await;
    let (newer_fake, _) = enrol(&w, &mfa, &alice, FAKE).await;
    let (strong, _) = enrol(&w, &mfa, &alice, STRONG).await;
    w.advance(10);
    mfa.verify(&alice, &older_fake, &code(&FakeFactor::code_for(&older_secret, None))).await.unwrap();

    mfa.remove_factor(&alice, &w.fresh(), &first).await.unwrap();
    assert!(mfa.get_factor(&alice, &strong).await.unwrap().preferred, "strongest assurance first");
    mfa.remove_factor(&alice, &w.fresh(), &strong).await.unwrap();
    assert!(mfa.get_factor(&alice, &older_fake).await.unwrap().preferred, "then most recently used");
    assert!(!mfa.get_factor(&alice, &newer_fake).await.unwrap().preferred);
    mfa.remove_factor(&alice, &w.fresh(), &older_fake).await.unwrap();
    mfa.remove_factor(&alice, &w.fresh(), &newer_fake).await.unwrap();
    assert!(mfa.list_factors(&alice).await.unwrap().is_empty());
    let kinds = w.events.kinds();
    assert!(kinds.contains(&EventKind::PreferredChanged { factor: None }));
    assert!(kinds.contains(&EventKind::FactorRemoved { factor: first, kind: FAKE }));
}

#[tokio::test]
async fn a_removed_factor_no_longer_verifies() {
    let w = World::new();
    let mfa = w.mfa();
    let alice = user("alice");
    let (factor, secret) = enrol(&w, &mfa, &alice, FAKE).await;
    let challenge = mfa.start_challenge(&alice, None).await.unwrap();
    mfa.remove_factor(&alice, &w.fresh(), &factor).await.unwrap();
    let proof = code(&FakeFactor::code_for(&secret, None));
    assert!(matches!(mfa.verify(&alice, &factor, &proof).await, Err(Error::NotFound)));
    assert!(matches!(mfa.finish_challenge(&alice, &challenge.id, &proof).await, Err(Error::NotFound)));
}

#[tokio::test]
async fn a_replacement_takes_over_only_once_confirmed() {
    let w = World::new();
    let mfa = w.mfa();
    let alice = user("alice");
    let (old, old_secret) = enrol(&w, &mfa, &alice, FAKE).await;
    let start = mfa.start_enrolment(&alice, &w.fresh(), EnrolmentRequest::new(FAKE).replaces(old)).await.unwrap();
    // The old factor keeps working until the new one is confirmed.
    mfa.verify(&alice, &old, &code(&FakeFactor::code_for(&old_secret, None))).await.unwrap();
    let new_secret = secret_of(&start.prompt);
    let new = mfa
        .finish_enrolment(&alice, &w.fresh(), &start.factor.id, &code(&FakeFactor::code_for(&new_secret, None)))
        .await;
    let new = new.unwrap();
    assert!(new.preferred, "inherits the preferred flag");
    assert!(matches!(mfa.get_factor(&alice, &old).await, Err(Error::NotFound)));
    assert_eq!(mfa.list_factors(&alice).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_challenge_is_single_use_bounded_and_expires() {
    let w = World::new();
    let mfa = w.mfa();
    let alice = user("alice");
    let (phone, secret) = enrol(&w, &mfa, &alice, CHALLENGED).await;
    assert!(matches!(mfa.verify(&alice, &phone, &code("x")).await, Err(Error::Unsupported)));

    // Single use.
    let c = mfa.start_challenge(&alice, None).await.unwrap();
    let proof = |c: &mfa_core::Challenge| {
        let Prompt::PublicKeyCredential { options_json } = &c.prompt else { panic!("prompt") };
        let nonce = options_json.split('"').nth(3).unwrap().to_owned();
        code(&format!("{}@{nonce}", FakeFactor::code_for(&secret, None)))
    };
    mfa.finish_challenge(&alice, &c.id, &proof(&c)).await.unwrap();
    assert!(matches!(mfa.finish_challenge(&alice, &c.id, &proof(&c)).await, Err(Error::Expired)));

    // Bounded attempts (5 by default), counted per challenge.
    w.advance(30); // the delivery cooldown
    let c = mfa.start_challenge(&alice, None).await.unwrap();
    for _ in 0..4 {
        assert!(matches!(mfa.finish_challenge(&alice, &c.id, &code("wrong")).await, Err(Error::InvalidCode)));
    }
    mfa.finish_challenge(&alice, &c.id, &proof(&c)).await.unwrap();
    w.advance(30);
    let c = mfa.start_challenge(&alice, None).await.unwrap();
    for _ in 0..5 {
        assert!(mfa.finish_challenge(&alice, &c.id, &code("wrong")).await.is_err());
    }
    // The challenge is used up: even the right proof is refused, before any throttle check.
    assert!(matches!(mfa.finish_challenge(&alice, &c.id, &proof(&c)).await, Err(Error::Expired)));
    w.advance(3600); // let the factor's throttle pass

    // Expiry.
    let c = mfa.start_challenge(&alice, None).await.unwrap();
    w.advance(300);
    assert!(matches!(mfa.finish_challenge(&alice, &c.id, &proof(&c)).await, Err(Error::Expired)));
}

#[tokio::test]
async fn malformed_proofs_are_refused_without_counting() {
    let w = World::new();
    let mfa = w.mfa();
    let alice = user("alice");
    let (factor, _) = enrol(&w, &mfa, &alice, FAKE).await;
    assert!(matches!(Proof::code(""), Err(Error::InvalidInput { .. })));
    assert!(matches!(Proof::code(&"1".repeat(1 << 20)), Err(Error::InvalidInput { .. })));
    let json = Proof::credential("{}").unwrap();
    for _ in 0..20 {
        assert!(matches!(mfa.verify(&alice, &factor, &json).await, Err(Error::InvalidInput { .. })));
    }
    let state = w.store.get_throttle(&alice, &ThrottleScope::Factor(factor)).await.unwrap();
    assert_eq!(state.failures, 0, "malformed input counted nothing");
}

// ----- throttling and replay across instances --------------------------------------------

#[tokio::test]
async fn failures_add_up_across_two_instances_sharing_a_store() {
    let w = World::new();
    let (one, two) = (w.mfa(), w.mfa());
    let alice = user("alice");
    let (factor, secret) = enrol(&w, &one, &alice, FAKE).await;
    for i in 0..5 {
        let mfa = if i % 2 == 0 { &one } else { &two };
        assert!(matches!(mfa.verify(&alice, &factor, &code("wrong")).await, Err(Error::InvalidCode)));
    }
    let right = code(&FakeFactor::code_for(&secret, None));
    for mfa in [&one, &two] {
        match mfa.verify(&alice, &factor, &right).await {
            Err(Error::Locked { retry_after }) => assert_eq!(retry_after, Duration::from_secs(60)),
            other => panic!("expected a lockout even for the right code, got {other:?}"),
        }
    }
    assert!(w.events.kinds().iter().any(|k| matches!(k, EventKind::LockedOut { .. })));
    w.advance(30);
    match two.verify(&alice, &factor, &right).await {
        Err(Error::Locked { retry_after }) => assert_eq!(retry_after, Duration::from_secs(30)),
        other => panic!("still locked, got {other:?}"),
    }
    w.advance(30);
    two.verify(&alice, &factor, &right).await.unwrap();
    // A success resets the count: five fresh failures are allowed again.
    for _ in 0..5 {
        assert!(matches!(one.verify(&alice, &factor, &code("wrong")).await, Err(Error::InvalidCode)));
    }
}

#[tokio::test]
async fn lockout_delays_grow_with_consecutive_failures() {
    let w = World::new();
    let mfa = w.mfa();
    let alice = user("alice");
    let (factor, _) = enrol(&w, &mfa, &alice, FAKE).await;
    for _ in 0..5 {
        mfa.verify(&alice, &factor, &code("wrong")).await.unwrap_err();
    }
    for expected in [60, 120, 240, 480] {
        match mfa.verify(&alice, &factor, &code("wrong")).await {
            Err(Error::Locked { retry_after }) => assert_eq!(retry_after.as_secs(), expected),
            other => panic!("expected lock, got {other:?}"),
        }
        w.advance(expected);
        assert!(matches!(mfa.verify(&alice, &factor, &code("wrong")).await, Err(Error::InvalidCode)));
    }
}

#[tokio::test]
async fn a_hard_stop_disables_a_factor_after_its_consecutive_failures_until_it_is_replaced() {
    let w = World::new();
    let mut settings = World::settings();
    settings.throttle = ThrottleSettings::default().max_failures(7);
    let mfa = w.mfa_with(AeadSealer::new(KeyId(1), KEY), settings);
    let alice = user("alice");
    let (factor, secret) = enrol(&w, &mfa, &alice, FAKE).await;
    let (other, _) = enrol(&w, &mfa, &alice, STRONG).await;
    // 5 free failures, then one after each delay: the 7th is the last one evaluated.
    for _ in 0..5 {
        assert!(matches!(mfa.verify(&alice, &factor, &code("wrong")).await, Err(Error::InvalidCode)));
    }
    for delay in [60, 120] {
        w.advance(delay);
        assert!(matches!(mfa.verify(&alice, &factor, &code("wrong")).await, Err(Error::InvalidCode)));
    }
    // From now on nothing is evaluated, however long the wait: not even the right code.
    let right = code(&FakeFactor::code_for(&secret, None));
    for _ in 0..3 {
        w.advance(30 * 24 * 3600);
        assert!(matches!(mfa.verify(&alice, &factor, &right).await, Err(Error::Disabled)));
        assert!(matches!(mfa.start_challenge(&alice, Some(&factor)).await, Err(Error::Disabled)));
    }
    let failures = w.store.get_throttle(&alice, &ThrottleScope::Factor(factor)).await.unwrap().failures;
    assert_eq!(failures, 7, "refused attempts are not counted");
    // Other factors and other users are unaffected; a replacement starts afresh.
    assert!(matches!(mfa.verify(&alice, &other, &code("wrong")).await, Err(Error::InvalidCode)));
    let request = EnrolmentRequest::new(FAKE).replaces(factor);
    let start = mfa.start_enrolment(&alice, &w.fresh(), request).await.unwrap();
    let new_secret = secret_of(&start.prompt);
    mfa.finish_enrolment(&alice, &w.fresh(), &start.factor.id, &code(&FakeFactor::code_for(&new_secret, None)))
        .await
        .unwrap();
    let proof = code(&FakeFactor::code_for(&new_secret, None));
    assert!(mfa.verify(&alice, &start.factor.id, &proof).await.is_ok());
    // A hard stop of zero would disable every factor at once: refused.
    let mut zero = World::settings();
    zero.throttle = ThrottleSettings::default().max_failures(0);
    let built = Mfa::builder()
        .shared_store(w.store.clone())
        .sealer(AeadSealer::new(KeyId(1), KEY))
        .settings(zero)
        .factor(FakeFactor::new())
        .build();
    assert!(matches!(built, Err(Error::Config(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_wrong_guesses_are_evaluated_at_most_the_limit() {
    let w = World::new();
    let (one, two) = (w.mfa(), w.mfa());
    let alice = user("alice");
    let (factor, _) = enrol(&w, &one, &alice, FAKE).await;
    w.events.clear();
    let results = race(200, &[one, two], |mfa| {
        let alice = alice.clone();
        async move { mfa.verify(&alice, &factor, &code("wrong")).await }
    })
    .await;
    assert_eq!(successes(&results, |e| matches!(e, Error::Locked { .. } | Error::InvalidCode)), 0);
    let locked = results.iter().filter(|r| matches!(r, Err(Error::Locked { .. }))).count();
    let evaluated = w
        .events
        .kinds()
        .iter()
        .filter(|k| matches!(k, EventKind::VerificationFailed { reason: FailureReason::InvalidCode, .. }))
        .count();
    assert_eq!(evaluated, 5, "only the free attempts were evaluated");
    assert_eq!(locked, 195);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_code_raced_through_two_instances_is_accepted_once() {
    let w = World::new();
    let (one, two) = (w.mfa(), w.mfa());
    let alice = user("alice");
    let (factor, secret) = enrol(&w, &one, &alice, FAKE).await;
    let proof = code(&FakeFactor::code_for(&secret, Some(42)));
    let results = race(50, &[one.clone(), two], |mfa| {
        let (alice, proof) = (alice.clone(), proof.clone());
        async move { mfa.verify(&alice, &factor, &proof).await }
    })
    .await;
    assert_eq!(successes(&results, |e| matches!(e, Error::Replayed | Error::Locked { .. })), 1);
    // An older marker is a replay too.
    w.advance(3600);
    let older = code(&FakeFactor::code_for(&secret, Some(41)));
    assert!(matches!(one.verify(&alice, &factor, &older).await, Err(Error::Replayed)));
}

// ----- recovery codes --------------------------------------------------------------------

#[tokio::test]
async fn recovery_codes_are_shown_once_and_work_once() {
    let w = World::new();
    let mfa = w.mfa();
    let alice = user("alice");
    enrol(&w, &mfa, &alice, FAKE).await; // recovery codes exist only alongside a factor
    let set = mfa.generate_recovery_codes(&alice, &w.fresh()).await.unwrap();
    assert_eq!(set.len(), 10);
    assert!(!format!("{set:?}").contains(set.codes()[0].expose()));
    assert!(matches!(mfa.generate_recovery_codes(&alice, &w.fresh()).await, Err(Error::AlreadyExists)));
    // Typed loosely: lower case, spaces instead of hyphens.
    let typed = set.codes()[3].expose().to_lowercase().replace('-', " ");
    let verified = mfa.verify_recovery_code(&alice, &typed).await.unwrap();
    assert_eq!(verified.assurance, Assurance::RecoveryCode);
    assert_eq!(verified.factor, None);
    assert!(matches!(mfa.verify_recovery_code(&alice, &typed).await, Err(Error::InvalidCode)));
    assert_eq!(mfa.recovery_codes_remaining(&alice).await.unwrap(), 9);
    assert!(w.events.kinds().contains(&EventKind::RecoveryCodeUsed { remaining: 9 }));
    // Another user cannot use Alice's codes.
    let bob = user("bob");
    assert!(matches!(mfa.verify_recovery_code(&bob, set.codes()[4].expose()).await, Err(Error::InvalidCode)));
    assert_eq!(mfa.recovery_codes_remaining(&alice).await.unwrap(), 9);
}

#[tokio::test]
async fn regenerated_codes_invalidate_the_old_set() {
    let w = World::new();
    let mfa = w.mfa();
    let alice = user("alice");
    enrol(&w, &mfa, &alice, FAKE).await; // recovery codes exist only alongside a factor
    let old = mfa.generate_recovery_codes(&alice, &w.fresh()).await.unwrap();
    let new = mfa.regenerate_recovery_codes(&alice, &w.fresh()).await.unwrap();
    for c in old.codes() {
        let still_valid = new.codes().iter().any(|n| n.expose() == c.expose());
        if !still_valid {
            assert!(matches!(mfa.verify_recovery_code(&alice, c.expose()).await, Err(Error::InvalidCode)));
            w.advance(3600);
        }
    }
    mfa.verify_recovery_code(&alice, new.codes()[0].expose()).await.unwrap();
    assert_eq!(mfa.recovery_codes_remaining(&alice).await.unwrap(), 9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_recovery_code_used_fifty_times_at_once_succeeds_once() {
    let w = World::new();
    let mut settings = World::settings();
    settings.throttle.free_attempts = 100; // so the race, not the throttle, decides
    let (one, two) = (
        w.mfa_with(AeadSealer::new(KeyId(1), KEY), settings.clone()),
        w.mfa_with(AeadSealer::new(KeyId(1), KEY), settings),
    );
    let alice = user("alice");
    enrol(&w, &one, &alice, FAKE).await; // recovery codes exist only alongside a factor
    let set = one.generate_recovery_codes(&alice, &w.fresh()).await.unwrap();
    let the_code = set.codes()[0].expose().to_owned();
    let results = race(50, &[one.clone(), two], |mfa| {
        let (alice, the_code) = (alice.clone(), the_code.clone());
        async move { mfa.verify_recovery_code(&alice, &the_code).await }
    })
    .await;
    assert_eq!(successes(&results, |e| matches!(e, Error::InvalidCode)), 1);
    assert_eq!(one.recovery_codes_remaining(&alice).await.unwrap(), 9);
}

#[tokio::test]
async fn recovery_code_failures_are_throttled_and_malformed_input_changes_nothing() {
    let w = World::new();
    let mfa = w.mfa();
    let alice = user("alice");
    enrol(&w, &mfa, &alice, FAKE).await; // recovery codes exist only alongside a factor
    let set = mfa.generate_recovery_codes(&alice, &w.fresh()).await.unwrap();
    for bad in ["", "short", "ÄÄÄÄ-AAAA-AAAA-AAAA-AAAA", "AAAA-AAAA-AAAA-AAAA-AAA9"] {
        assert!(matches!(mfa.verify_recovery_code(&alice, bad).await, Err(Error::InvalidInput { .. })), "{bad}");
    }
    assert_eq!(w.store.get_throttle(&alice, &ThrottleScope::RecoveryCodes).await.unwrap().failures, 0);
    for _ in 0..5 {
        let wrong = "AAAA-AAAA-AAAA-AAAA-AAAA";
        assert!(matches!(mfa.verify_recovery_code(&alice, wrong).await, Err(Error::InvalidCode)));
    }
    let right = set.codes()[0].expose();
    assert!(matches!(mfa.verify_recovery_code(&alice, right).await, Err(Error::Locked { .. })));
    assert_eq!(mfa.recovery_codes_remaining(&alice).await.unwrap(), 10, "a locked attempt uses nothing up");
}

#[tokio::test]
async fn few_remaining_recovery_codes_raise_an_event() {
    let w = World::new();
    let mfa = w.mfa();
    let alice = user("alice");
    enrol(&w, &mfa, &alice, FAKE).await; // recovery codes exist only alongside a factor
    let set = mfa.generate_recovery_codes(&alice, &w.fresh()).await.unwrap();
    for c in &set.codes()[..6] {
        mfa.verify_recovery_code(&alice, c.expose()).await.unwrap();
    }
    assert!(!w.events.kinds().iter().any(|k| matches!(k, EventKind::RecoveryCodesLow { .. })));
    mfa.verify_recovery_code(&alice, set.codes()[6].expose()).await.unwrap();
    assert!(w.events.kinds().contains(&EventKind::RecoveryCodesLow { remaining: 3 }));
}

// ----- sealing keys and events -----------------------------------------------------------

#[tokio::test]
async fn a_secret_under_an_old_key_is_resealed_on_use() {
    let w = World::new();
    let old = w.mfa_with(AeadSealer::new(KeyId(1), KEY), World::settings());
    let alice = user("alice");
    let (factor, secret) = enrol(&w, &old, &alice, FAKE).await;
    let rotated = w.mfa_with(AeadSealer::new(KeyId(2), [9; 32]).with_previous_key(KeyId(1), KEY), World::settings());
    rotated.verify(&alice, &factor, &code(&FakeFactor::code_for(&secret, None))).await.unwrap();
    let record = w.store.get_factor(&alice, &factor).await.unwrap().unwrap();
    assert_eq!(record.secret.unwrap().key_id, KeyId(2));
    let new_only = w.mfa_with(AeadSealer::new(KeyId(2), [9; 32]), World::settings());
    new_only.verify(&alice, &factor, &code(&FakeFactor::code_for(&secret, None))).await.unwrap();
}

#[tokio::test]
async fn every_change_is_an_event_and_no_event_or_error_shows_a_secret() {
    let w = World::new();
    let mfa = w.mfa();
    let alice = user("alice");
    let (factor, secret) = enrol(&w, &mfa, &alice, FAKE).await;
    mfa.rename_factor(&alice, &factor, "Renamed").await.unwrap();
    let err = mfa.verify(&alice, &factor, &code("wrong")).await.unwrap_err();
    let set = mfa.generate_recovery_codes(&alice, &w.fresh()).await.unwrap();
    mfa.verify_recovery_code(&alice, set.codes()[0].expose()).await.unwrap();
    mfa.remove_factor(&alice, &w.fresh(), &factor).await.unwrap();

    let kinds = w.events.kinds();
    for expected in [
        EventKind::EnrolmentStarted { factor, kind: FAKE },
        EventKind::FactorAdded { factor, kind: FAKE },
        EventKind::PreferredChanged { factor: Some(factor) },
        EventKind::FactorRenamed { factor },
        EventKind::VerificationFailed {
            factor: Some(factor),
            method: FAKE.as_str().to_owned(),
            reason: FailureReason::InvalidCode,
        },
        EventKind::RecoveryCodesGenerated { count: 10 },
        EventKind::RecoveryCodeUsed { remaining: 9 },
        EventKind::FactorRemoved { factor, kind: FAKE },
    ] {
        assert!(kinds.contains(&expected), "missing {expected:?}");
    }
    let everything = format!("{:?} {err} {err:?} {secret:?}", w.events.events());
    assert!(!everything.contains(secret.secret_base32.expose()));
    for c in set.codes() {
        assert!(!everything.contains(c.expose()));
    }
}

// ----- sending codes ---------------------------------------------------------------------

/// The code a challenge of the "sending" fake expects.
fn sent_code(c: &Challenge, secret: &SharedSecretPrompt) -> Proof {
    let Prompt::PublicKeyCredential { options_json } = &c.prompt else { panic!("prompt") };
    let nonce = options_json.split('"').nth(3).unwrap().to_owned();
    code(&format!("{}@{nonce}", FakeFactor::code_for(secret, None)))
}

#[tokio::test]
async fn sends_have_a_cooldown_and_a_cap_per_window() {
    let w = World::new();
    let mfa = w.mfa();
    let alice = user("alice");
    let (_phone, _) = enrol(&w, &mfa, &alice, CHALLENGED).await;
    mfa.start_challenge(&alice, None).await.unwrap();
    match mfa.start_challenge(&alice, None).await {
        Err(Error::RateLimited { retry_after }) => assert_eq!(retry_after, Duration::from_secs(30)),
        other => panic!("expected the cooldown, got {other:?}"),
    }
    for _ in 0..4 {
        w.advance(30);
        mfa.start_challenge(&alice, None).await.unwrap();
    }
    w.advance(30);
    match mfa.start_challenge(&alice, None).await {
        Err(Error::RateLimited { retry_after }) => assert_eq!(retry_after, Duration::from_secs(15 * 60 - 150)),
        other => panic!("expected the cap of 5 per 15 minutes, got {other:?}"),
    }
    assert!(w.events.kinds().iter().any(|k| matches!(k, EventKind::DeliveryLimited { .. })));
    w.advance(15 * 60);
    mfa.start_challenge(&alice, None).await.unwrap();
}

#[tokio::test]
async fn a_proven_destination_is_limited_across_its_owners_factors_not_across_owners() {
    let w = World::new();
    let mfa = w.mfa();
    let shared = "+15555550100";
    let mut owners = Vec::new();
    for name in ["a", "b", "c", "d", "e", "f"] {
        let who = user(name);
        let mut factors = Vec::new();
        for _ in 0..2 {
            let req = EnrolmentRequest::new(CHALLENGED).destination(shared);
            let start = mfa.start_enrolment(&who, &w.fresh(), req).await.unwrap();
            let secret = secret_of(&start.prompt);
            let proof = code(&FakeFactor::code_for(&secret, None));
            mfa.finish_enrolment(&who, &w.fresh(), &start.factor.id, &proof).await.unwrap();
            factors.push(start.factor.id);
        }
        owners.push((who, factors));
    }
    // Six owners of one number each get a code at once: nobody uses up another's.
    for (who, factors) in &owners {
        mfa.start_challenge(who, Some(&factors[0])).await.unwrap();
    }
    // One owner's second factor on the same number waits out the number's cooldown.
    let (a, factors) = &owners[0];
    match mfa.start_challenge(a, Some(&factors[1])).await {
        Err(Error::RateLimited { retry_after }) => assert_eq!(retry_after, Duration::from_secs(30)),
        other => panic!("expected the destination's cooldown, got {other:?}"),
    }
    w.advance(30);
    mfa.start_challenge(a, Some(&factors[1])).await.unwrap();
}

#[tokio::test]
async fn a_resent_code_replaces_the_old_one_and_keeps_the_failure_count() {
    let w = World::new();
    let mfa = w.mfa();
    let alice = user("alice");
    let (phone, secret) = enrol(&w, &mfa, &alice, CHALLENGED).await;
    let first = mfa.start_challenge(&alice, None).await.unwrap();
    for _ in 0..2 {
        assert!(matches!(mfa.finish_challenge(&alice, &first.id, &code("wrong")).await, Err(Error::InvalidCode)));
    }
    // Too soon: refused, and the old code still works afterwards.
    assert!(matches!(mfa.resend_challenge(&alice, &first.id).await, Err(Error::RateLimited { .. })));
    w.advance(30);
    let second = mfa.resend_challenge(&alice, &first.id).await.unwrap();
    assert_ne!(second.id, first.id);
    assert_eq!(second.factor.id, phone);
    assert!(matches!(mfa.finish_challenge(&alice, &first.id, &sent_code(&first, &secret)).await, Err(Error::Expired)));
    let failures = w.store.get_throttle(&alice, &ThrottleScope::Factor(phone)).await.unwrap().failures;
    assert_eq!(failures, 2, "resending kept the failure count");
    mfa.finish_challenge(&alice, &second.id, &sent_code(&second, &secret)).await.unwrap();
    assert!(matches!(mfa.resend_challenge(&alice, &second.id).await, Err(Error::Expired)));
    assert!(matches!(mfa.resend_challenge(&user("mallory"), &second.id).await, Err(Error::Expired)));
}

#[tokio::test]
async fn factors_that_send_nothing_cannot_resend() {
    let w = World::new();
    let mfa = w.mfa();
    let alice = user("alice");
    enrol(&w, &mfa, &alice, FAKE).await;
    let c = mfa.start_challenge(&alice, None).await.unwrap();
    assert!(matches!(mfa.resend_challenge(&alice, &c.id).await, Err(Error::Unsupported)));
    let pending = mfa.start_enrolment(&alice, &w.fresh(), EnrolmentRequest::new(FAKE)).await.unwrap();
    assert!(matches!(mfa.resend_enrolment(&alice, &pending.factor.id).await, Err(Error::Unsupported)));
}
