//! The caps against SMS pumping (toll fraud), through `Mfa` with real SMS and email factors
//! and a manual clock, on the memory store and on SQLite files (and PostgreSQL when one is
//! available): per destination across users, per number range across users, per user
//! across factors and channels, and the deployment's cost budget across users and service
//! instances. Every refusal is typed, sends nothing, counts nothing and is recorded.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers panic on purpose

mod support;

use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use mfa_core::store::CounterState;
use mfa_core::testing::RecordingEventSink;
use mfa_core::{
    AeadSealer, Clock, EnrolmentRequest, Error, EventKind, FactorId, FactorKind, FreshAuth, ManualClock, Mfa, Settings,
    Timestamp, UserId, seal::KeyId, settings::CostBudget, settings::DeliveryCap, settings::DeliverySettings,
    settings::PrefixCap, store::Store,
};
use mfa_otp::{EmailFactor, MemorySender, OobKey, SmsFactor};
use mfa_store_memory::MemoryStore;

struct World {
    /// Two handles on one database (the same store twice for the memory store), as two
    /// service instances would have.
    stores: (Arc<dyn Store>, Arc<dyn Store>),
    clock: ManualClock,
    outbox: MemorySender,
    events: RecordingEventSink,
}

impl World {
    fn new(stores: (Arc<dyn Store>, Arc<dyn Store>)) -> Self {
        Self {
            stores,
            clock: ManualClock::new(Timestamp::from_unix_secs(1_700_000_000)),
            outbox: MemorySender::new(),
            events: RecordingEventSink::new(),
        }
    }

    /// A service instance on the first store handle with `delivery` limits.
    fn mfa(&self, delivery: DeliverySettings) -> Mfa {
        self.instance(self.stores.0.clone(), delivery)
    }

    /// A second service instance, on the second store handle.
    fn other_mfa(&self, delivery: DeliverySettings) -> Mfa {
        self.instance(self.stores.1.clone(), delivery)
    }

    fn instance(&self, store: Arc<dyn Store>, delivery: DeliverySettings) -> Mfa {
        let key = OobKey::new(&[5; 32]).unwrap();
        let mut settings = Settings::default();
        settings.delivery = delivery;
        // Users here start many enrolments; the bound on pending ones has tests of its own.
        settings.limits.pending_enrolments = 1_000;
        Mfa::builder()
            .shared_store(store)
            .clock(self.clock.clone())
            .sealer(AeadSealer::new(KeyId(1), [3; 32]))
            .events(self.events.clone())
            .settings(settings)
            .factor(SmsFactor::builder(self.outbox.clone(), key.clone()).app_name("Example").build().unwrap())
            .factor(EmailFactor::builder(self.outbox.clone(), key).app_name("Example").build().unwrap())
            .build()
            .unwrap()
    }

    fn fresh(&self) -> FreshAuth {
        FreshAuth::primary(self.clock.now()).with_mfa(self.clock.now())
    }

    fn advance(&self, secs: u64) {
        self.clock.advance(Duration::from_secs(secs));
    }

    fn sent(&self) -> usize {
        self.outbox.messages().len()
    }

    fn refusals(&self) -> usize {
        self.events.kinds().iter().filter(|k| matches!(k, EventKind::DeliveryLimited { .. })).count()
    }

    /// Starts an enrolment of `kind` for `who` to `destination` (which sends a code).
    async fn start(&self, mfa: &Mfa, who: &UserId, kind: FactorKind, destination: &str) -> Result<FactorId, Error> {
        let req = EnrolmentRequest::new(kind).destination(destination);
        mfa.start_enrolment(who, &self.fresh(), req).await.map(|s| s.factor.id)
    }

    /// Enrols and confirms a factor; moves past the send cooldown.
    async fn add(&self, mfa: &Mfa, who: &UserId, kind: FactorKind, destination: &str) -> FactorId {
        let id = self.start(mfa, who, kind, destination).await.unwrap();
        let code = self.outbox.last_code_to(destination).expect("a code was sent");
        mfa.finish_enrolment(who, &self.fresh(), &id, &mfa_core::Proof::code(&code).unwrap()).await.unwrap();
        self.advance(30);
        id
    }

    /// The per-factor send counter (its key names only the factor id).
    async fn factor_counter(&self, factor: &FactorId) -> CounterState {
        self.stores.0.get_counter(&format!("send:factor:{factor}"), self.clock.now()).await.unwrap()
    }

    /// Checks that `result` was refused by `cap`: the typed error, nothing sent, exactly one
    /// more refusal event naming the limit for `who`, and the destination in none of them.
    /// Returns `retry_after`.
    fn assert_refused<T: Debug>(
        &self,
        result: Result<T, Error>,
        cap: DeliveryCap,
        who: &UserId,
        destination: &str,
        before: (usize, usize),
    ) -> Duration {
        let err = result.expect_err("the send is refused");
        let retry_after = match (&err, cap) {
            (Error::RateLimited { retry_after }, DeliveryCap::Factor | DeliveryCap::Destination) => *retry_after,
            (Error::DeliveryCapped { cap: got, retry_after }, _) if *got == cap => *retry_after,
            _ => panic!("expected a refusal by the {cap}, got {err:?}"),
        };
        assert_eq!(self.sent(), before.0, "nothing was sent");
        assert_eq!(self.refusals(), before.1 + 1, "one refusal event");
        let event = self
            .events
            .events()
            .into_iter()
            .rev()
            .find(|e| matches!(e.kind, EventKind::DeliveryLimited { .. }))
            .unwrap();
        assert_eq!(event.user.as_ref(), Some(who));
        let EventKind::DeliveryLimited { limit, retry_after: in_event, .. } = event.kind else { unreachable!() };
        assert_eq!((limit, in_event), (cap, retry_after), "the event names the limit");
        let text = format!("{err} {err:?} {:?}", self.events.events());
        let digits: String = destination.chars().filter(char::is_ascii_digit).collect();
        let tail = &digits[digits.len().saturating_sub(7)..];
        assert!(!text.contains(destination), "the destination leaked: {text}");
        assert!(tail.len() < 7 || !text.contains(tail), "the number leaked: {text}");
        retry_after
    }

    fn before(&self) -> (usize, usize) {
        (self.sent(), self.refusals())
    }
}

fn user(name: &str) -> UserId {
    UserId::new(name).unwrap()
}

// ----- the cases --------------------------------------------------------------------------

/// A number not yet proven (its enrolment pending) is capped across users: five accounts
/// enrolling one number get five codes in 15 minutes, the sixth is refused and counts
/// nothing. Once proven, each owner's sign-in codes are counted apart: enrolments by
/// others, and other owners of the number, cannot use them up, and the code that proved
/// the number does not hold up the first sign-in.
async fn an_unproven_destination_is_capped_across_users_a_proven_one_per_owner(w: World) {
    let mfa = w.mfa(DeliverySettings::default());
    let shared = "+14155552671";
    let (alice, bob) = (user("alice"), user("bob"));
    let alice_phone = w.add(&mfa, &alice, FactorKind::SMS, shared).await;
    for i in 0..4 {
        w.start(&mfa, &user(&format!("mallory{i}")), FactorKind::SMS, shared).await.unwrap();
        w.advance(30);
    }
    let mallory = user("mallory4");
    let before = w.before();
    let result = w.start(&mfa, &mallory, FactorKind::SMS, shared).await;
    let wait = w.assert_refused(result, DeliveryCap::Destination, &mallory, shared, before);
    assert_eq!(wait, Duration::from_secs(15 * 60 - 5 * 30), "until the enrolments' window ends");

    // Alice's own sign-in codes still go; bob, who shares the phone, proves it at once and
    // signs in straight after, with no wait on the enrolment's code nor on alice's.
    mfa.start_challenge(&alice, Some(&alice_phone)).await.unwrap();
    let bob_phone = w.start(&mfa, &bob, FactorKind::SMS, shared).await;
    assert!(matches!(bob_phone, Err(Error::RateLimited { .. })), "bob's enrolment is capped with mallory's");
    w.advance(15 * 60);
    let bob_phone = w.start(&mfa, &bob, FactorKind::SMS, shared).await.unwrap();
    let code = w.outbox.last_code_to(shared).unwrap();
    mfa.finish_enrolment(&bob, &w.fresh(), &bob_phone, &mfa_core::Proof::code(&code).unwrap()).await.unwrap();
    mfa.start_challenge(&bob, Some(&bob_phone)).await.unwrap();
    mfa.start_challenge(&alice, Some(&alice_phone)).await.unwrap();
    // Each owner's cooldown is still their own.
    let before = w.before();
    let wait = w.assert_refused(mfa.start_challenge(&bob, None).await, DeliveryCap::Factor, &bob, shared, before);
    assert_eq!(wait, Duration::from_secs(30));
    assert_eq!(w.outbox.messages().iter().filter(|m| m.to == shared).count(), 9);
}

/// 21 users add 21 numbers of one range (their first 8 digits): the default cap of 20 per
/// hour refuses the 21st, while numbers of another range and another country still go.
async fn numbers_of_one_range_are_capped_together_across_users(w: World) {
    let mfa = w.mfa(DeliverySettings::default());
    let number = |i: usize| format!("+4420794609{i:02}");
    for i in 0..20 {
        w.start(&mfa, &user(&format!("pumper{i}")), FactorKind::SMS, &number(i)).await.unwrap();
    }
    let last = user("pumper20");
    let before = w.before();
    let result = w.start(&mfa, &last, FactorKind::SMS, &number(20)).await;
    let wait = w.assert_refused(result, DeliveryCap::Prefix, &last, &number(20), before);
    assert_eq!(wait, Duration::from_secs(3600), "until the range's hour ends");
    assert!(mfa.list_factors(&last).await.unwrap().is_empty(), "the refused enrolment left nothing");

    // Another country, and another range of the same country, are not affected.
    w.start(&mfa, &user("american"), FactorKind::SMS, "+14155552671").await.unwrap();
    w.start(&mfa, &user("londoner"), FactorKind::SMS, "+442079470958").await.unwrap();
    // Email has no ranges.
    w.start(&mfa, &last, FactorKind::EMAIL, "pumper20@example.com").await.unwrap();

    // The refusal counted nothing for the refused user: all 10 of the hour's sends are left
    // (the email above was the first).
    for i in 0..9 {
        w.start(&mfa, &last, FactorKind::EMAIL, &format!("box{i}@example.com")).await.unwrap();
    }
    let before = w.before();
    let result = w.start(&mfa, &last, FactorKind::EMAIL, "box9@example.com").await;
    w.assert_refused(result, DeliveryCap::User, &last, "box9@example.com", before);

    // The range opens again after the hour.
    w.advance(3600);
    w.start(&mfa, &user("pumper21"), FactorKind::SMS, &number(21)).await.unwrap();
    assert_eq!(w.sent(), 20 + 2 + 10 + 1);
}

/// One user's sends are capped together (10 per hour by default), whatever the factor or
/// channel, while the per-factor limits alone would allow more.
async fn one_user_is_capped_across_sms_and_email(w: World) {
    let mfa = w.mfa(DeliverySettings::default());
    let alice = user("alice");
    let (number, address) = ("+14155552671", "alice@example.com");
    let phone = w.add(&mfa, &alice, FactorKind::SMS, number).await;
    for _ in 0..4 {
        mfa.start_challenge(&alice, Some(&phone)).await.unwrap();
        w.advance(30);
    }
    // The phone's 15 minutes are up: the factor would allow more, but not the user.
    w.advance(15 * 60);
    let mailbox = w.add(&mfa, &alice, FactorKind::EMAIL, address).await;
    for _ in 0..4 {
        mfa.start_challenge(&alice, Some(&mailbox)).await.unwrap();
        w.advance(30);
    }
    assert_eq!(w.sent(), 10);
    let elapsed = 5 * 30 + 15 * 60 + 5 * 30;

    let counted = w.factor_counter(&phone).await;
    let before = w.before();
    let wait =
        w.assert_refused(mfa.start_challenge(&alice, Some(&phone)).await, DeliveryCap::User, &alice, number, before);
    assert_eq!(wait, Duration::from_secs(3600 - elapsed), "until the user's hour ends");
    assert_eq!(w.factor_counter(&phone).await, counted, "the refusal counted nothing for the factor");
    let before = w.before();
    let result = mfa.start_challenge(&alice, Some(&mailbox)).await;
    w.assert_refused(result, DeliveryCap::User, &alice, address, before);
    // Adding a factor does not get around it.
    let before = w.before();
    let result = w.start(&mfa, &alice, FactorKind::SMS, "+14155559876").await;
    w.assert_refused(result, DeliveryCap::User, &alice, "+14155559876", before);

    // Other users are not affected; alice can send again once her hour is over.
    w.add(&mfa, &user("bob"), FactorKind::SMS, "+14155551234").await;
    w.advance(wait.as_secs());
    mfa.start_challenge(&alice, Some(&phone)).await.unwrap();
}

/// One budget for the deployment, shared by users and service instances and counted in
/// cost units: numbers of a dear range use it up sooner, a refused send spends nothing,
/// email (free by default) still goes, and the budget is whole again after the hour.
async fn the_cost_budget_is_shared_and_resets_after_the_hour(w: World) {
    let mut delivery = DeliverySettings::default();
    delivery.cost_budget = Some(CostBudget::per_hour(10).sms_cost(3).prefix_cost("+1", 1).prefix_cost("+44", 5));
    let instances = [w.mfa(delivery.clone()), w.other_mfa(delivery)];
    let us = |i: usize| format!("+141555526{i:02}");
    let uk = |i: usize| format!("+4420794609{i:02}");
    let mut n = 0;
    let mut next_user = || {
        n += 1;
        user(&format!("user{n}"))
    };

    // Six US sends (1 unit each) from six users, alternating instances: 6 of 10 spent.
    for i in 0..6 {
        w.start(&instances[i % 2], &next_user(), FactorKind::SMS, &us(i)).await.unwrap();
    }
    // A UK send costs 5: 11 > 10, refused on either instance.
    let (brit, start) = (next_user(), w.clock.now());
    for mfa in &instances {
        let before = w.before();
        let result = w.start(mfa, &brit, FactorKind::SMS, &uk(0)).await;
        let wait = w.assert_refused(result, DeliveryCap::CostBudget, &brit, &uk(0), before);
        assert_eq!(wait, Duration::from_secs(3600), "until the budget's hour ends");
    }
    // It spent nothing: exactly four more US units fit.
    for i in 6..10 {
        w.start(&instances[i % 2], &next_user(), FactorKind::SMS, &us(i)).await.unwrap();
    }
    let late = next_user();
    let before = w.before();
    let result = w.start(&instances[1], &late, FactorKind::SMS, &us(10)).await;
    w.assert_refused(result, DeliveryCap::CostBudget, &late, &us(10), before);
    // Email costs nothing by default and still goes.
    w.start(&instances[0], &late, FactorKind::EMAIL, "late@example.com").await.unwrap();
    assert_eq!(w.sent(), 11);

    // After the hour the budget is whole again, and the dear range spends it in two sends.
    w.advance(3600);
    assert_eq!(w.clock.now().duration_since(start), Duration::from_secs(3600));
    w.start(&instances[0], &brit, FactorKind::SMS, &uk(0)).await.unwrap();
    w.start(&instances[1], &next_user(), FactorKind::SMS, &uk(1)).await.unwrap();
    let third = next_user();
    let before = w.before();
    let result = w.start(&instances[0], &third, FactorKind::SMS, &uk(2)).await;
    w.assert_refused(result, DeliveryCap::CostBudget, &third, &uk(2), before);
    let before = w.before();
    let result = w.start(&instances[1], &third, FactorKind::SMS, &us(11)).await;
    w.assert_refused(result, DeliveryCap::CostBudget, &third, &us(11), before);
    assert_eq!(w.sent(), 13);
}

/// With the range cap off, only the per-factor, per-destination and per-user limits (and
/// no cost budget, the default) apply: many numbers of one range all go. A cap on fewer
/// digits covers a wider range.
async fn the_range_cap_can_be_turned_off_or_widened(w: World) {
    let mut delivery = DeliverySettings::default();
    delivery.prefix = None;
    let mfa = w.mfa(delivery);
    for i in 0..30 {
        w.start(&mfa, &user(&format!("u{i}")), FactorKind::SMS, &format!("+4420794609{i:02}")).await.unwrap();
    }
    assert_eq!(w.sent(), 30);
    // A tighter range cap with fewer digits catches the whole country.
    let mut delivery = DeliverySettings::default();
    delivery.prefix = Some(PrefixCap::new(2, Duration::from_secs(600), 2));
    let mfa = w.other_mfa(delivery);
    w.start(&mfa, &user("v1"), FactorKind::SMS, "+442079470001").await.unwrap();
    w.start(&mfa, &user("v2"), FactorKind::SMS, "+441614960000").await.unwrap();
    let v3 = user("v3");
    let before = w.before();
    let result = w.start(&mfa, &v3, FactorKind::SMS, "+442079460999").await;
    assert_eq!(w.assert_refused(result, DeliveryCap::Prefix, &v3, "+442079460999", before), Duration::from_secs(600));
}

macro_rules! on_backend {
    ($(#[$attr:meta])* $module:ident, $stores:expr) => {
        mod $module {
            use super::*;

            #[tokio::test]
            $(#[$attr])*
            async fn an_unproven_destination_is_capped_across_users_a_proven_one_per_owner() {
                super::an_unproven_destination_is_capped_across_users_a_proven_one_per_owner(World::new($stores)).await;
            }

            #[tokio::test]
            $(#[$attr])*
            async fn numbers_of_one_range_are_capped_together_across_users() {
                super::numbers_of_one_range_are_capped_together_across_users(World::new($stores)).await;
            }

            #[tokio::test]
            $(#[$attr])*
            async fn one_user_is_capped_across_sms_and_email() {
                super::one_user_is_capped_across_sms_and_email(World::new($stores)).await;
            }

            #[tokio::test]
            $(#[$attr])*
            async fn the_cost_budget_is_shared_and_resets_after_the_hour() {
                super::the_cost_budget_is_shared_and_resets_after_the_hour(World::new($stores)).await;
            }

            #[tokio::test]
            $(#[$attr])*
            async fn the_range_cap_can_be_turned_off_or_widened() {
                super::the_range_cap_can_be_turned_off_or_widened(World::new($stores)).await;
            }
        }
    };
}

fn memory_pair() -> (Arc<dyn Store>, Arc<dyn Store>) {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    (store.clone(), store)
}

on_backend!(memory, memory_pair());
on_backend!(sqlite_file, support::sql::sqlite_dyn_pair().await);
on_backend!(
    #[ignore = "needs PostgreSQL: run `bash tests/run-all.sh`, or set MFA_TEST_POSTGRES_URL and pass --include-ignored"]
    postgres,
    support::sql::postgres_dyn_pair().await
);

// ----- configuration ----------------------------------------------------------------------

#[test]
fn unusable_caps_are_refused_when_the_service_is_built() {
    let mut settings = Settings::default();
    settings.delivery.cost_budget = Some(CostBudget::per_hour(10).prefix_cost("+44x", 2));
    let built =
        Mfa::builder().store(MemoryStore::new()).sealer(AeadSealer::new(KeyId(1), [3; 32])).settings(settings).build();
    assert!(matches!(built, Err(Error::Config(_))), "{built:?}");
}
