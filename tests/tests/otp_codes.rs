//! One-time codes by SMS and email through `Mfa` with the memory store and a manual clock:
//! enrolment, sign-in, expiry, attempts, binding, resends, changing a number, delivery
//! failures, templates and assurance.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers panic on purpose

mod support;

use std::sync::Arc;
use std::time::Duration;

use mfa_core::testing::RecordingEventSink;
use mfa_core::{
    AeadSealer, Assurance, Clock, EnrolmentRequest, Error, EventKind, FactorId, FactorKind, FactorStatus, FreshAuth,
    ManualClock, Mfa, Prompt, Proof, Timestamp, UserId, seal::KeyId, store::Store,
};
use mfa_otp::{EmailFactor, MemorySender, MessageTemplate, OobKey, SmsFactor};
use mfa_store_memory::MemoryStore;

const PHONE: &str = "+14155552671";

struct World {
    store: Arc<dyn Store>,
    clock: ManualClock,
    outbox: MemorySender,
    events: RecordingEventSink,
    key: OobKey,
}

impl World {
    fn new() -> Self {
        Self {
            store: Arc::new(MemoryStore::new()),
            clock: ManualClock::new(Timestamp::from_unix_secs(1_700_000_000)),
            outbox: MemorySender::new(),
            events: RecordingEventSink::new(),
            key: OobKey::new(&[5; 32]).unwrap(),
        }
    }

    fn sms(&self) -> SmsFactor {
        SmsFactor::builder(self.outbox.clone(), self.key.clone()).app_name("Example").build().unwrap()
    }

    fn email(&self) -> EmailFactor {
        EmailFactor::builder(self.outbox.clone(), self.key.clone()).app_name("Example").build().unwrap()
    }

    fn mfa(&self) -> Mfa {
        self.mfa_with(self.sms(), self.email())
    }

    fn mfa_with(&self, sms: SmsFactor, email: EmailFactor) -> Mfa {
        Mfa::builder()
            .shared_store(self.store.clone())
            .clock(self.clock.clone())
            .sealer(AeadSealer::new(KeyId(1), [3; 32]))
            .events(self.events.clone())
            .factor(sms)
            .factor(email)
            .build()
            .unwrap()
    }

    fn fresh(&self) -> FreshAuth {
        FreshAuth::primary(self.clock.now()).with_mfa(self.clock.now())
    }

    fn code_to(&self, to: &str) -> Proof {
        Proof::code(&self.outbox.last_code_to(to).expect("a code was sent")).unwrap()
    }

    fn advance(&self, secs: u64) {
        self.clock.advance(Duration::from_secs(secs));
    }
}

fn user(name: &str) -> UserId {
    UserId::new(name).unwrap()
}

async fn add_phone(w: &World, mfa: &Mfa, who: &UserId, number: &str) -> FactorId {
    let req = EnrolmentRequest::new(FactorKind::SMS).destination(number);
    let start = mfa.start_enrolment(who, &w.fresh(), req).await.unwrap();
    let normalised = w.sms().normalise(number).unwrap();
    mfa.finish_enrolment(who, &w.fresh(), &start.factor.id, &w.code_to(&normalised)).await.unwrap();
    w.advance(30); // past the send cooldown
    start.factor.id
}

// ----- enrolment -------------------------------------------------------------------------

#[tokio::test]
async fn adding_a_phone_sends_a_code_and_activates_only_when_confirmed() {
    let w = World::new();
    let mfa = w.mfa();
    let alice = user("alice");
    let req = EnrolmentRequest::new(FactorKind::SMS).destination("+1 (415) 555-2671");
    let start = mfa.start_enrolment(&alice, &w.fresh(), req).await.unwrap();
    let Prompt::CodeSent { masked_destination, expires_at } = &start.prompt else { panic!("{:?}", start.prompt) };
    assert_eq!(masked_destination, "+1 ••• ••• 2671");
    assert_eq!(*expires_at, w.clock.now().saturating_add(Duration::from_secs(300)));
    assert_eq!(start.factor.status, FactorStatus::Pending);
    assert_eq!(start.factor.label, "Phone");
    assert_eq!(start.factor.masked_destination.as_deref(), Some("+1 ••• ••• 2671"));

    let message = w.outbox.last_to(PHONE).unwrap();
    let code = w.outbox.last_code_to(PHONE).unwrap();
    assert_eq!(code.len(), 6);
    assert!(message.body.expose().contains("Example") && message.body.expose().contains("5 minutes"));
    assert!(!format!("{message:?}").contains(&code), "Debug never shows the code");

    assert!(matches!(mfa.start_challenge(&alice, None).await, Err(Error::NotFound)), "pending cannot sign in");
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let err =
        mfa.finish_enrolment(&alice, &w.fresh(), &start.factor.id, &Proof::code(wrong).unwrap()).await.unwrap_err();
    assert!(matches!(err, Error::InvalidCode));
    let active = mfa.finish_enrolment(&alice, &w.fresh(), &start.factor.id, &w.code_to(PHONE)).await.unwrap();
    assert_eq!(active.status, FactorStatus::Active);
    assert_eq!(active.assurance, Assurance::RestrictedOutOfBand);
}

#[tokio::test]
async fn invalid_destinations_are_refused_and_nothing_is_sent_or_stored() {
    let w = World::new();
    let mfa = w.mfa();
    let alice = user("alice");
    for (kind, bad) in [(FactorKind::SMS, "12"), (FactorKind::SMS, "not a number"), (FactorKind::EMAIL, "jane@")] {
        let req = EnrolmentRequest::new(kind).destination(bad);
        let err = mfa.start_enrolment(&alice, &w.fresh(), req).await.unwrap_err();
        assert!(matches!(err, Error::InvalidInput { field: "destination", .. }), "{bad}: {err:?}");
    }
    let err = mfa.start_enrolment(&alice, &w.fresh(), EnrolmentRequest::new(FactorKind::SMS)).await.unwrap_err();
    assert!(matches!(err, Error::InvalidInput { .. }));
    assert!(w.outbox.messages().is_empty());
    assert!(mfa.list_factors(&alice).await.unwrap().is_empty());
}

#[tokio::test]
async fn email_codes_work_but_never_count_as_an_aal2_second_factor() {
    let w = World::new();
    let mfa = w.mfa();
    let alice = user("alice");
    let req = EnrolmentRequest::new(FactorKind::EMAIL).destination(" Jane@Example.COM ");
    let start = mfa.start_enrolment(&alice, &w.fresh(), req).await.unwrap();
    assert_eq!(start.factor.masked_destination.as_deref(), Some("J•••@example.com"), "the local part keeps its case");
    let message = w.outbox.last_to("Jane@example.com").unwrap();
    assert_eq!(message.subject.as_deref(), Some("Your Example verification code"));
    let code = Proof::code(&w.outbox.last_code_to("Jane@example.com").unwrap()).unwrap();
    mfa.finish_enrolment(&alice, &w.fresh(), &start.factor.id, &code).await.unwrap();
    w.advance(30);
    let challenge = mfa.start_challenge(&alice, None).await.unwrap();
    let code = Proof::code(&w.outbox.last_code_to("Jane@example.com").unwrap()).unwrap();
    let verified = mfa.finish_challenge(&alice, &challenge.id, &code).await.unwrap();
    assert_eq!(verified.assurance, Assurance::EmailOutOfBand);
    assert!(!verified.assurance.is_aal2_second_factor());
}

// ----- codes -----------------------------------------------------------------------------

#[tokio::test]
async fn a_code_expires_after_five_minutes() {
    let w = World::new();
    let mfa = w.mfa();
    let alice = user("alice");
    add_phone(&w, &mfa, &alice, PHONE).await;
    let c = mfa.start_challenge(&alice, None).await.unwrap();
    assert_eq!(c.expires_at, w.clock.now().saturating_add(Duration::from_secs(300)));
    w.advance(300);
    assert!(matches!(mfa.finish_challenge(&alice, &c.id, &w.code_to(PHONE)).await, Err(Error::Expired)));
}

#[tokio::test]
async fn a_code_allows_five_attempts_and_works_once() {
    let w = World::new();
    let mfa = w.mfa();
    let alice = user("alice");
    add_phone(&w, &mfa, &alice, PHONE).await;
    let c = mfa.start_challenge(&alice, None).await.unwrap();
    let right = w.code_to(PHONE);
    let wrong = wrong_code(&w, PHONE);
    for attempt in 1..=4 {
        let result = mfa.finish_challenge(&alice, &c.id, &wrong).await;
        assert!(matches!(result, Err(Error::InvalidCode)), "wrong attempt {attempt}: {result:?}");
    }
    mfa.finish_challenge(&alice, &c.id, &right).await.unwrap();
    assert!(matches!(mfa.finish_challenge(&alice, &c.id, &right).await, Err(Error::Expired)), "used once");

    w.advance(30);
    let c = mfa.start_challenge(&alice, None).await.unwrap();
    let right = w.code_to(PHONE);
    let wrong = wrong_code(&w, PHONE);
    for attempt in 1..=5 {
        let result = mfa.finish_challenge(&alice, &c.id, &wrong).await;
        assert!(matches!(result, Err(Error::InvalidCode)), "wrong attempt {attempt}: {result:?}");
    }
    assert!(matches!(mfa.finish_challenge(&alice, &c.id, &right).await, Err(Error::Expired)), "attempts used up");
}

/// A well-formed code that is not the one last sent to `to`.
fn wrong_code(w: &World, to: &str) -> Proof {
    let sent = w.outbox.last_code_to(to).unwrap();
    let wrong = (0..).map(|n: u32| format!("{:06}", (n * 7_919 + 123_457) % 1_000_000)).find(|c| *c != sent).unwrap();
    Proof::code(&wrong).unwrap()
}

#[tokio::test]
async fn codes_are_stored_only_as_keyed_hashes() {
    let w = World::new();
    let mfa = w.mfa();
    let alice = user("alice");
    add_phone(&w, &mfa, &alice, PHONE).await;
    let c = mfa.start_challenge(&alice, None).await.unwrap();
    let code = w.outbox.last_code_to(PHONE).unwrap();
    let stored = w.store.get_ceremony(Some(&alice), &c.id, w.clock.now()).await.unwrap().unwrap();
    assert_eq!(stored.payload.len(), 32, "an HMAC-SHA-256 tag");
    assert!(!stored.payload.windows(code.len()).any(|win| win == code.as_bytes()));
    // Another server key cannot check it: the hash is keyed.
    let other = Mfa::builder()
        .shared_store(w.store.clone())
        .clock(w.clock.clone())
        .sealer(AeadSealer::new(KeyId(1), [3; 32]))
        .factor(SmsFactor::new(w.outbox.clone(), OobKey::new(&[6; 32]).unwrap()))
        .build()
        .unwrap();
    let proof = Proof::code(&code).unwrap();
    assert!(matches!(other.finish_challenge(&alice, &c.id, &proof).await, Err(Error::InvalidCode)));
    mfa.finish_challenge(&alice, &c.id, &proof).await.unwrap();
}

#[tokio::test]
async fn a_code_is_bound_to_its_user_factor_and_challenge() {
    let w = World::new();
    let mfa = w.mfa();
    let (alice, bob) = (user("alice"), user("bob"));
    add_phone(&w, &mfa, &alice, PHONE).await;
    add_phone(&w, &mfa, &bob, "+14155552672").await;
    let first = mfa.start_challenge(&alice, None).await.unwrap();
    let first_code = w.code_to(PHONE);
    let bobs = mfa.start_challenge(&bob, None).await.unwrap();
    assert!(matches!(mfa.finish_challenge(&bob, &bobs.id, &first_code).await, Err(Error::InvalidCode)));
    assert!(matches!(mfa.finish_challenge(&bob, &first.id, &first_code).await, Err(Error::Expired)));
    w.advance(30);
    let second = mfa.start_challenge(&alice, None).await.unwrap();
    assert!(matches!(mfa.finish_challenge(&alice, &second.id, &first_code).await, Err(Error::InvalidCode)));
    mfa.finish_challenge(&alice, &first.id, &first_code).await.unwrap();
}

// ----- resends ---------------------------------------------------------------------------

#[tokio::test]
async fn resending_replaces_the_code_keeps_failures_and_is_limited() {
    let w = World::new();
    let mfa = w.mfa();
    let alice = user("alice");
    let phone = add_phone(&w, &mfa, &alice, PHONE).await;
    let first = mfa.start_challenge(&alice, None).await.unwrap();
    let old_code = w.code_to(PHONE);
    for _ in 0..2 {
        let _ = mfa.finish_challenge(&alice, &first.id, &Proof::code("999999").unwrap()).await;
    }
    match mfa.resend_challenge(&alice, &first.id).await {
        Err(Error::RateLimited { retry_after }) => assert_eq!(retry_after, Duration::from_secs(30)),
        other => panic!("expected the cooldown, got {other:?}"),
    }
    w.advance(30);
    let second = mfa.resend_challenge(&alice, &first.id).await.unwrap();
    assert!(matches!(mfa.finish_challenge(&alice, &first.id, &old_code).await, Err(Error::Expired)));
    assert!(matches!(mfa.finish_challenge(&alice, &second.id, &old_code).await, Err(Error::InvalidCode)));
    let scope = mfa_core::store::ThrottleScope::Factor(phone);
    assert_eq!(w.store.get_throttle(&alice, &scope).await.unwrap().failures, 3, "resending reset nothing");

    // 5 sign-in sends per 15 minutes per factor (the enrolment's code is counted apart).
    let mut current = second;
    let mut sent = 2; // first, second
    loop {
        w.advance(30);
        match mfa.resend_challenge(&alice, &current.id).await {
            Ok(next) => {
                current = next;
                sent += 1;
            }
            Err(Error::RateLimited { .. }) => break,
            Err(e) => panic!("{e:?}"),
        }
    }
    assert_eq!(sent, 5);
    assert!(w.events.kinds().iter().any(|k| matches!(k, EventKind::DeliveryLimited { .. })));
    mfa.finish_challenge(&alice, &current.id, &w.code_to(PHONE)).await.unwrap();
}

#[tokio::test]
async fn an_enrolment_code_can_be_resent() {
    let w = World::new();
    let mfa = w.mfa();
    let alice = user("alice");
    let req = EnrolmentRequest::new(FactorKind::SMS).destination(PHONE);
    let start = mfa.start_enrolment(&alice, &w.fresh(), req).await.unwrap();
    let old = w.code_to(PHONE);
    assert!(matches!(mfa.resend_enrolment(&alice, &start.factor.id).await, Err(Error::RateLimited { .. })));
    w.advance(30);
    let again = mfa.resend_enrolment(&alice, &start.factor.id).await.unwrap();
    assert_eq!(again.factor.id, start.factor.id);
    assert!(matches!(again.prompt, Prompt::CodeSent { .. }));
    let new = w.code_to(PHONE);
    if old.as_code().unwrap().expose() != new.as_code().unwrap().expose() {
        let err = mfa.finish_enrolment(&alice, &w.fresh(), &start.factor.id, &old).await.unwrap_err();
        assert!(matches!(err, Error::InvalidCode), "the old code stopped working: {err:?}");
    }
    mfa.finish_enrolment(&alice, &w.fresh(), &start.factor.id, &new).await.unwrap();
}

#[tokio::test]
async fn the_destination_cap_holds_across_accounts() {
    let w = World::new();
    let mfa = w.mfa();
    // Six accounts point at one number: the sixth send within 15 minutes is refused.
    let mut refused = None;
    for i in 0..6 {
        let who = user(&format!("user{i}"));
        let req = EnrolmentRequest::new(FactorKind::SMS).destination(PHONE);
        match mfa.start_enrolment(&who, &w.fresh(), req).await {
            Ok(_) => w.advance(30),
            Err(e) => refused = Some((i, e)),
        }
    }
    let (i, err) = refused.expect("a send was refused");
    assert_eq!(i, 5);
    assert!(matches!(err, Error::RateLimited { .. }));
    assert_eq!(w.outbox.messages().len(), 5);
}

// ----- changing a number -----------------------------------------------------------------

#[tokio::test]
async fn a_new_number_replaces_the_old_one_only_once_confirmed() {
    let w = World::new();
    let mfa = w.mfa();
    let alice = user("alice");
    let old = add_phone(&w, &mfa, &alice, PHONE).await;
    let new_number = "+442079460958";
    let req = EnrolmentRequest::new(FactorKind::SMS).destination(new_number).replaces(old);
    let start = mfa.start_enrolment(&alice, &w.fresh(), req).await.unwrap();
    // The old number still signs in.
    w.advance(30);
    let c = mfa.start_challenge(&alice, Some(&old)).await.unwrap();
    mfa.finish_challenge(&alice, &c.id, &w.code_to(PHONE)).await.unwrap();
    // Confirming the new one replaces it.
    let active = mfa.finish_enrolment(&alice, &w.fresh(), &start.factor.id, &w.code_to(new_number)).await.unwrap();
    assert!(active.preferred);
    assert_eq!(active.masked_destination.as_deref(), Some("+44 ••• ••• 0958"));
    let factors = mfa.list_factors(&alice).await.unwrap();
    assert_eq!(factors.iter().map(|f| f.id).collect::<Vec<_>>(), vec![start.factor.id]);
    assert!(w.events.kinds().contains(&EventKind::FactorRemoved { factor: old, kind: FactorKind::SMS }));
    w.advance(30);
    let c = mfa.start_challenge(&alice, None).await.unwrap();
    assert_eq!(w.outbox.last_to(new_number).unwrap().to, new_number);
    mfa.finish_challenge(&alice, &c.id, &w.code_to(new_number)).await.unwrap();
}

// ----- delivery failures and templates ---------------------------------------------------

#[tokio::test]
async fn a_delivery_failure_is_typed_leaves_nothing_usable_and_is_an_event() {
    let w = World::new();
    let mfa = w.mfa();
    let alice = user("alice");
    w.outbox.set_failing(true);
    let req = EnrolmentRequest::new(FactorKind::SMS).destination(PHONE);
    let err = mfa.start_enrolment(&alice, &w.fresh(), req).await.unwrap_err();
    assert!(matches!(err, Error::Delivery(_)), "{err:?}");
    assert!(mfa.list_factors(&alice).await.unwrap().is_empty());
    assert!(w.events.kinds().iter().any(|k| matches!(k, EventKind::DeliveryFailed { .. })));

    // A failed send still counts toward the delivery limits (a provider may have billed it).
    w.outbox.set_failing(false);
    assert!(matches!(
        mfa.start_enrolment(&alice, &w.fresh(), EnrolmentRequest::new(FactorKind::SMS).destination(PHONE)).await,
        Err(Error::RateLimited { .. })
    ));
    w.advance(30);
    add_phone(&w, &mfa, &alice, PHONE).await;
    w.outbox.set_failing(true);
    assert!(matches!(mfa.start_challenge(&alice, None).await, Err(Error::Delivery(_))));
}

#[tokio::test]
async fn hosts_can_change_the_message_text() {
    let w = World::new();
    let template = MessageTemplate::new("Code for {app}", "{app}: use {code} within {minutes} min.").unwrap();
    let sms = SmsFactor::builder(w.outbox.clone(), w.key.clone())
        .app_name("Acme")
        .template(template)
        .code_lifetime(Duration::from_secs(120))
        .digits(8)
        .build()
        .unwrap();
    let mfa = w.mfa_with(sms, w.email());
    let req = EnrolmentRequest::new(FactorKind::SMS).destination(PHONE);
    mfa.start_enrolment(&user("alice"), &w.fresh(), req).await.unwrap();
    let body = w.outbox.last_to(PHONE).unwrap().body.expose().to_owned();
    let code = w.outbox.last_code_to(PHONE).unwrap();
    assert_eq!(code.len(), 8);
    assert_eq!(body, format!("Acme: use {code} within 2 min."));
    assert!(
        SmsFactor::builder(w.outbox.clone(), w.key.clone()).code_lifetime(Duration::from_secs(601)).build().is_err()
    );
    assert!(SmsFactor::builder(w.outbox.clone(), w.key.clone()).digits(5).build().is_err());
}

// ----- races -----------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_sms_code_raced_through_two_instances_is_accepted_once() {
    let w = World::new();
    let (one, two) = (w.mfa(), w.mfa());
    let alice = user("alice");
    add_phone(&w, &one, &alice, PHONE).await;
    let c = one.start_challenge(&alice, None).await.unwrap();
    let code = w.code_to(PHONE);
    let results = support::race(50, &[one, two], |mfa| {
        let (alice, code, id) = (alice.clone(), code.clone(), c.id);
        async move { mfa.finish_challenge(&alice, &id, &code).await }
    })
    .await;
    assert_eq!(support::successes(&results, |e| matches!(e, Error::Expired | Error::Locked { .. })), 1);
}

// ----- the sealed destination ------------------------------------------------------------

/// A sealer that counts how often it opens, over the real one.
#[derive(Debug)]
struct CountingSealer {
    inner: AeadSealer,
    opened: Arc<std::sync::atomic::AtomicUsize>,
}

impl mfa_core::seal::SecretSealer for CountingSealer {
    fn seal(
        &self,
        ctx: &mfa_core::seal::SealContext<'_>,
        plaintext: &[u8],
    ) -> Result<mfa_core::seal::SealedSecret, mfa_core::error::CryptoError> {
        self.inner.seal(ctx, plaintext)
    }

    fn open(
        &self,
        ctx: &mfa_core::seal::SealContext<'_>,
        sealed: &mfa_core::seal::SealedSecret,
    ) -> Result<mfa_core::secret::SecretBytes, mfa_core::error::CryptoError> {
        self.opened.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.open(ctx, sealed)
    }

    fn current_key(&self) -> KeyId {
        self.inner.current_key()
    }
}

impl World {
    fn mfa_sealed_by(&self, sealer: impl mfa_core::seal::SecretSealer) -> Mfa {
        self.mfa_on(self.store.clone(), sealer)
    }

    /// A service on `store`, sealing with `sealer`, with SMS and email and no event sink.
    fn mfa_on(&self, store: Arc<dyn Store>, sealer: impl mfa_core::seal::SecretSealer) -> Mfa {
        Mfa::builder()
            .shared_store(store)
            .clock(self.clock.clone())
            .sealer(sealer)
            .factor(self.sms())
            .factor(self.email())
            .build()
            .unwrap()
    }
}

#[tokio::test]
async fn a_code_is_checked_without_opening_the_sealed_destination() {
    let w = World::new();
    let opened = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mfa = w.mfa_sealed_by(CountingSealer { inner: AeadSealer::new(KeyId(1), [3; 32]), opened: opened.clone() });
    let alice = user("alice");
    add_phone(&w, &mfa, &alice, PHONE).await;
    let count = || opened.load(std::sync::atomic::Ordering::SeqCst);
    let before = count();
    let challenge = mfa.start_challenge(&alice, None).await.unwrap();
    assert_eq!(count(), before + 1, "opened to send the code");
    assert!(matches!(
        mfa.finish_challenge(&alice, &challenge.id, &Proof::code("000000").unwrap()).await,
        Err(Error::InvalidCode)
    ));
    mfa.finish_challenge(&alice, &challenge.id, &w.code_to(PHONE)).await.unwrap();
    assert_eq!(count(), before + 1, "not opened to check the codes");
}

#[tokio::test]
async fn a_destination_under_an_old_key_is_resealed_when_a_code_is_sent() {
    let w = World::new();
    let old = w.mfa_sealed_by(AeadSealer::new(KeyId(1), [3; 32]));
    let alice = user("alice");
    let phone = add_phone(&w, &old, &alice, PHONE).await;
    let rotated = w.mfa_sealed_by(AeadSealer::new(KeyId(2), [9; 32]).with_previous_key(KeyId(1), [3; 32]));
    let challenge = rotated.start_challenge(&alice, None).await.unwrap();
    rotated.finish_challenge(&alice, &challenge.id, &w.code_to(PHONE)).await.unwrap();
    let record = w.store.get_factor(&alice, &phone).await.unwrap().unwrap();
    assert_eq!(record.secret.unwrap().key_id, KeyId(2), "re-sealed under the current key");
    // The old key can go: the number still opens, and codes still go to it.
    w.advance(30);
    let new_only = w.mfa_sealed_by(AeadSealer::new(KeyId(2), [9; 32]));
    let challenge = new_only.start_challenge(&alice, None).await.unwrap();
    new_only.finish_challenge(&alice, &challenge.id, &w.code_to(PHONE)).await.unwrap();
}

#[tokio::test]
async fn a_failed_re_seal_does_not_lose_the_code_on_its_way() {
    let w = World::new();
    let faulty = Arc::new(mfa_core::testing::FaultyStore::new(MemoryStore::new()));
    let with = |sealer: AeadSealer| w.mfa_on(faulty.clone(), sealer);
    let old = with(AeadSealer::new(KeyId(1), [3; 32]));
    let (alice, bob) = (user("alice"), user("bob"));
    add_phone(&w, &old, &alice, PHONE).await;
    add_phone(&w, &old, &bob, "+14155559876").await;
    let rotated = with(AeadSealer::new(KeyId(2), [9; 32]).with_previous_key(KeyId(1), [3; 32]));
    // Which call re-seals: alice's challenge shows it.
    faulty.reset();
    rotated.start_challenge(&alice, None).await.unwrap();
    let reseal = faulty.calls().iter().position(|c| *c == "update_factor").expect("a re-seal") as u64 + 1;
    // Bob's re-seal fails: his code still goes out and still works, under the old key.
    faulty.fail_call(reseal);
    let challenge = rotated.start_challenge(&bob, None).await.unwrap();
    assert_eq!(faulty.calls()[reseal as usize - 1], "update_factor", "the failed call was the re-seal");
    rotated.finish_challenge(&bob, &challenge.id, &w.code_to("+14155559876")).await.unwrap();
    let phone = mfa_core::store::FactorStore::list_factors(faulty.inner(), &bob).await.unwrap().remove(0);
    assert_eq!(phone.secret.unwrap().key_id, KeyId(1), "left under the old key, which still opens it");
}
