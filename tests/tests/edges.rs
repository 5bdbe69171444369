//! The edges an outside attack found (SECURITY.md S22–S25), one regression test per
//! finding, through the public API, on every store: the bootstrap period before a user's
//! first factor, callers nobody authenticated, canonical destination keys, bounds on stored
//! state, and refusals visible to audit.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers panic on purpose

mod support;

use std::sync::Arc;
use std::time::Duration;

use mfa_core::store::ThrottleScope;
use mfa_core::testing::RecordingEventSink;
use mfa_core::{
    AeadSealer, Clock, EnrolmentRequest, Error, EventKind, EventSink, FactorKind, FreshAuth, Mfa, Prompt, Settings,
    UserId, limits::StateLimit, seal::KeyId, settings::DeliverySettings, settings::WindowCap, store::Store,
    throttle::ThrottleSettings,
};
use mfa_otp::{EmailFactor, OobKey, SmsFactor};
use mfa_store_memory::MemoryStore;
use support::world::{self, World, code, create, get};
use webauthn_authenticator_rs::softpasskey::SoftPasskey;

/// A world on `store` whose events are recorded.
fn world_on(store: Arc<dyn Store>, settings: Settings) -> (World, RecordingEventSink) {
    let events = RecordingEventSink::new();
    let sink: Arc<dyn EventSink> = Arc::new(events.clone());
    (World::with(store, settings, Some(sink)), events)
}

fn user(name: &str) -> UserId {
    UserId::new(name).unwrap()
}

/// Only the password: what an attacker who phished it, or the user before MFA, holds.
fn password_only(w: &World) -> FreshAuth {
    FreshAuth::primary(w.now())
}

// ----- finding 1: recovery codes minted before MFA ---------------------------------------

async fn recovery_codes_minted_with_only_a_password_never_count(store: Arc<dyn Store>) {
    let (w, events) = world_on(store, world::settings());
    let alice = user("alice");
    // With only the password, before any factor: no codes.
    let minted = w.mfa.generate_recovery_codes(&alice, &password_only(&w)).await;
    assert!(matches!(minted, Err(Error::FactorRequired)), "{minted:?}");
    assert!(matches!(w.mfa.regenerate_recovery_codes(&alice, &password_only(&w)).await, Err(Error::FactorRequired)));
    assert_eq!(w.mfa.recovery_codes_remaining(&alice).await.unwrap(), 0);
    // The user turns MFA on: codes are now theirs to make, with MFA.
    let (totp, key, _) = w.enrol_totp(&alice).await;
    let set = w.mfa.generate_recovery_codes(&alice, &w.fresh()).await.unwrap();
    let codes: Vec<String> = set.codes().iter().map(|c| c.expose().to_owned()).collect();
    w.mfa.verify_recovery_code(&alice, &codes[0]).await.unwrap();

    // Codes left without a factor (the last factor removed behind the service's back, as a
    // race or an older version could leave them) do not sign in...
    w.store.delete_factor(&alice, &totp).await.unwrap();
    assert_eq!(w.mfa.recovery_codes_remaining(&alice).await.unwrap(), 9);
    assert!(matches!(w.mfa.verify_recovery_code(&alice, &codes[1]).await, Err(Error::InvalidCode)));
    // ...and are discarded when the next first factor becomes active.
    events.clear();
    w.advance(30);
    let _ = key;
    w.enrol_totp(&alice).await;
    assert_eq!(w.mfa.recovery_codes_remaining(&alice).await.unwrap(), 0);
    assert!(events.kinds().contains(&EventKind::RecoveryCodesDiscarded { count: 9 }));
    assert!(matches!(w.mfa.verify_recovery_code(&alice, &codes[2]).await, Err(Error::InvalidCode)));
}

async fn removing_the_last_factor_discards_the_recovery_codes(store: Arc<dyn Store>) {
    let (w, events) = world_on(store, world::settings());
    let alice = user("alice");
    let (totp, _, _) = w.enrol_totp(&alice).await;
    let sms = w.enrol_oob(&alice, FactorKind::SMS, "+14155552671").await;
    let set = w.mfa.generate_recovery_codes(&alice, &w.fresh()).await.unwrap();
    w.mfa.remove_factor(&alice, &w.fresh(), &totp).await.unwrap();
    assert_eq!(w.mfa.recovery_codes_remaining(&alice).await.unwrap(), 10, "a factor remains");
    events.clear();
    w.mfa.remove_factor(&alice, &w.fresh(), &sms).await.unwrap();
    assert_eq!(w.mfa.recovery_codes_remaining(&alice).await.unwrap(), 0, "MFA is off: no codes");
    assert!(events.kinds().contains(&EventKind::RecoveryCodesDiscarded { count: 10 }));
    let code = set.codes()[0].expose().to_owned();
    assert!(matches!(w.mfa.verify_recovery_code(&alice, &code).await, Err(Error::InvalidCode)));
}

// ----- finding 2: a pending enrolment started before MFA ----------------------------------

async fn an_enrolment_started_before_mfa_cannot_be_finished_after_it(store: Arc<dyn Store>) {
    let (w, _) = world_on(store, world::settings());
    let alice = user("alice");
    // The attacker, with only the password, starts an authenticator-app enrolment.
    let req = EnrolmentRequest::new(FactorKind::TOTP);
    let attack = w.mfa.start_enrolment(&alice, &password_only(&w), req).await.unwrap();
    let Prompt::SharedSecret(secret) = &attack.prompt else { panic!("a shared secret") };
    let attacker_key = data_encoding::BASE32_NOPAD.decode(secret.secret_base32.expose().as_bytes()).unwrap();
    // Alice turns MFA on with her own factor.
    let (mine, _, _) = w.enrol_totp(&alice).await;
    // Within the pending enrolment's lifetime, the attacker's finish is judged now: MFA is on.
    w.advance(30);
    let proof = code(&w.totp_code(&attacker_key));
    let finished = w.mfa.finish_enrolment(&alice, &password_only(&w), &attack.factor.id, &proof).await;
    assert!(matches!(finished, Err(Error::MfaRequired)), "{finished:?}");
    let active: Vec<_> = w
        .mfa
        .list_factors(&alice)
        .await
        .unwrap()
        .into_iter()
        .filter(|f| f.status == mfa_core::FactorStatus::Active)
        .collect();
    assert_eq!(active.iter().map(|f| f.id).collect::<Vec<_>>(), vec![mine], "only Alice's factor is active");
    // Nothing was counted or used up by the refusal: the attacker's code still cannot sign in.
    assert!(matches!(w.mfa.verify(&alice, &attack.factor.id, &proof).await, Err(Error::NotFound)));
}

async fn a_first_enrolment_started_and_finished_with_the_password_still_works(store: Arc<dyn Store>) {
    let (w, _) = world_on(store, world::settings());
    let alice = user("alice");
    let (id, key, _) = w.start_totp(&alice).await;
    let finished = w.mfa.finish_enrolment(&alice, &password_only(&w), &id, &code(&w.totp_code(&key))).await;
    assert_eq!(finished.unwrap().status, mfa_core::FactorStatus::Active, "the bootstrap itself is the host's to guard");
}

// ----- finding 3: unauthenticated passkey lockout -----------------------------------------

async fn unauthenticated_failures_never_lock_or_disable_a_passkey(store: Arc<dyn Store>) {
    let mut settings = world::settings();
    // A hard stop after 3: before the fix, 3 forged sign-ins disabled the passkey for good.
    settings.throttle = ThrottleSettings::default().max_failures(3);
    let (w, events) = world_on(store, settings);
    let alice = user("alice");
    let mut passkey = SoftPasskey::new(true);
    let key = w.enrol_passkey(&alice, &mut passkey).await;
    let id = key.factor;
    events.clear();
    for _ in 0..50 {
        let c = w.mfa.start_passwordless(&FactorKind::PASSKEY).await.unwrap();
        let forged = key.forged(&mut passkey, &c.prompt);
        let result = w.mfa.finish_passwordless(&c.id, &forged).await;
        assert!(matches!(result, Err(Error::InvalidCode)), "{result:?}");
    }
    let state = w.store.get_throttle(&alice, &ThrottleScope::Factor(id)).await.unwrap();
    assert_eq!(state.failures, 0, "nothing counted against Alice's factor");
    // Guessed credential ids are refused alike, and reported with no user.
    for _ in 0..20 {
        let c = w.mfa.start_passwordless(&FactorKind::PASSKEY).await.unwrap();
        let result = w.mfa.finish_passwordless(&c.id, &key.unknown(&mut passkey, &c.prompt)).await;
        assert!(matches!(result, Err(Error::InvalidCode)), "{result:?}");
    }
    // Every failure is visible to audit, aggregated, and none as a verification failure of hers.
    w.mfa.flush_audit().await;
    let unknown: u64 = events
        .events()
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::PasswordlessUnknownCredential { count } if e.user.is_none() => Some(count),
            _ => None,
        })
        .sum();
    assert_eq!(unknown, 20, "guessed credentials are audited");
    let kinds = events.kinds();
    let reported: u64 = kinds
        .iter()
        .filter_map(|k| match k {
            EventKind::PasswordlessFailed { factor, count } if *factor == id => Some(*count),
            _ => None,
        })
        .sum();
    assert_eq!(reported, 50);
    assert!(kinds.len() <= 20, "aggregated, not one event per attempt: {}", kinds.len());
    assert!(!kinds.iter().any(|k| matches!(k, EventKind::VerificationFailed { .. } | EventKind::LockedOut { .. })));
    // Alice signs in, without a username and as a second factor.
    let c = w.mfa.start_passwordless(&FactorKind::PASSKEY).await.unwrap();
    assert_eq!(w.mfa.finish_passwordless(&c.id, &key.get(&mut passkey, &c.prompt)).await.unwrap().user, alice);
    let c = w.mfa.start_challenge(&alice, Some(&id)).await.unwrap();
    w.mfa.finish_challenge(&alice, &c.id, &get(&mut passkey, &c.prompt)).await.unwrap();
}

// ----- finding 4: bounded state ------------------------------------------------------------

/// How many ceremonies the store holds (expired ones included).
async fn stored_ceremonies(store: &Backend) -> usize {
    match store {
        Backend::Memory(m) => m.record_counts().ceremonies,
        Backend::Sqlite(s) => {
            let n: i64 = mfa_store_sql::sqlx::query_scalar("SELECT COUNT(*) FROM mfa_ceremonies")
                .fetch_one(s.pool())
                .await
                .unwrap();
            usize::try_from(n).unwrap()
        }
        Backend::Postgres(p) => {
            let n: i64 = mfa_store_sql::sqlx::query_scalar("SELECT COUNT(*) FROM mfa_ceremonies")
                .fetch_one(p.pool())
                .await
                .unwrap();
            usize::try_from(n).unwrap()
        }
    }
}

/// A store whose records a test can count.
#[derive(Clone)]
enum Backend {
    Memory(MemoryStore),
    Sqlite(mfa_store_sql::SqliteStore),
    Postgres(mfa_store_sql::PostgresStore),
}

impl Backend {
    fn shared(&self) -> Arc<dyn Store> {
        match self {
            Backend::Memory(m) => Arc::new(m.clone()),
            Backend::Sqlite(s) => Arc::new(s.clone()),
            Backend::Postgres(p) => Arc::new(p.clone()),
        }
    }
}

const CALLS: usize = 100_000;

async fn passwordless_sign_ins_leave_the_store_bounded(backend: Backend, cap: u32) {
    let ttl = Duration::from_secs(300);
    let mut settings = world::settings();
    settings.challenge_ttl = ttl;
    settings.limits.passwordless = WindowCap::new(ttl, cap);
    let (w, events) = world_on(backend.shared(), settings);
    let alice = user("alice");
    let mut passkey = SoftPasskey::new(true);
    let key = w.enrol_passkey(&alice, &mut passkey).await;
    w.mfa.store().purge_expired(w.now()).await.unwrap();
    let baseline = stored_ceremonies(&backend).await;
    // 10^5 starts by callers nobody authenticated, spread over a little more than three
    // windows (one every 10 ms).
    let (mut started, mut refused) = (0usize, 0usize);
    for _ in 0..CALLS {
        match w.mfa.start_passwordless(&FactorKind::PASSKEY).await {
            Ok(_) => started += 1,
            Err(Error::LimitReached { limit: StateLimit::Passwordless, .. }) => refused += 1,
            Err(e) => panic!("{e:?}"),
        }
        w.clock.advance(Duration::from_millis(10));
    }
    let windows = (CALLS as u64 * 10).div_ceil(ttl.as_millis() as u64) as usize; // 4
    assert_eq!(started + refused, CALLS);
    assert!(started <= windows * cap as usize, "at most {cap} per window: {started}");
    let stored = stored_ceremonies(&backend).await - baseline;
    assert_eq!(stored, started, "every ceremony started is stored until purged, nothing else");
    eprintln!(
        "{CALLS} passwordless starts: {started} admitted, {refused} refused, {stored} ceremonies stored \
         (bound {} per window)",
        cap
    );
    // The unexpired ones are at most two windows' worth; purging removes the rest.
    w.mfa.store().purge_expired(w.now()).await.unwrap();
    let live = stored_ceremonies(&backend).await - baseline;
    assert!(live <= 2 * cap as usize, "unexpired: {live}");
    // Once they expire, the store is back to its size.
    w.clock.advance(ttl);
    w.mfa.store().purge_expired(w.now()).await.unwrap();
    assert_eq!(stored_ceremonies(&backend).await, baseline);
    // The refusals were visible to audit, in few events, with no user named.
    w.mfa.flush_audit().await;
    let limited: Vec<_> = events
        .events()
        .into_iter()
        .filter(|e| matches!(e.kind, EventKind::LimitReached { limit: StateLimit::Passwordless, .. }))
        .collect();
    let counted: u64 =
        limited.iter().map(|e| if let EventKind::LimitReached { count, .. } = e.kind { count } else { 0 }).sum();
    assert_eq!(counted as usize, refused);
    assert!(limited.iter().all(|e| e.user.is_none()));
    assert!(limited.len() < 100, "aggregated: {} reports", limited.len());
    // A real user still gets in once the window frees up.
    w.clock.advance(ttl);
    let c = w.mfa.start_passwordless(&FactorKind::PASSKEY).await.unwrap();
    assert_eq!(w.mfa.finish_passwordless(&c.id, &key.get(&mut passkey, &c.prompt)).await.unwrap().user, alice);
}

async fn pending_enrolments_per_user_are_bounded_also_under_racing(store: Arc<dyn Store>) {
    let mut settings = world::settings();
    let max = Settings::default().limits.pending_enrolments;
    settings.limits.pending_enrolments = max;
    let (w, events) = world_on(store, settings);
    let alice = user("alice");
    let mut refused = 0;
    for _ in 0..300 {
        let req = EnrolmentRequest::new(FactorKind::TOTP);
        match w.mfa.start_enrolment(&alice, &password_only(&w), req).await {
            Ok(_) => {}
            Err(Error::LimitReached { limit: StateLimit::PendingEnrolments, retry_after }) => {
                assert_eq!(retry_after, w.mfa.settings().enrolment_ttl, "until the oldest expires");
                refused += 1;
            }
            Err(e) => panic!("{e:?}"),
        }
    }
    assert_eq!(refused, 300 - max);
    assert_eq!(w.store.list_factors(&alice).await.unwrap().len(), max);
    assert!(events.kinds().iter().any(|k| matches!(k, EventKind::LimitReached { .. })), "refusals are audited");
    // 64 racers for another user: exactly the bound succeeds.
    let bob = user("bob");
    let fresh = password_only(&w);
    let results = support::race(64, std::slice::from_ref(&w.mfa), |mfa| {
        let bob = bob.clone();
        async move { mfa.start_enrolment(&bob, &fresh, EnrolmentRequest::new(FactorKind::TOTP)).await }
    })
    .await;
    let won = support::successes(&results, |e| matches!(e, Error::LimitReached { .. }));
    assert!(won >= max, "{won}");
    // Exactly the bound is stored once the racers are done. (A racer told "started" whose
    // enrolment a later racer then removed finds it expired when it finishes.)
    assert_eq!(w.store.list_factors(&bob).await.unwrap().len(), max, "the losers left nothing behind");
    // Removing one frees a place.
    let first = w.mfa.list_factors(&alice).await.unwrap()[0].id;
    w.mfa.remove_factor(&alice, &password_only(&w), &first).await.unwrap();
    w.mfa.start_enrolment(&alice, &password_only(&w), EnrolmentRequest::new(FactorKind::TOTP)).await.unwrap();
}

async fn challenges_and_remembered_devices_per_user_are_bounded(store: Arc<dyn Store>) {
    let mut settings = world::settings();
    settings.limits = Settings::default().limits;
    let (w, _) = world_on(store, settings);
    let alice = user("alice");
    let (totp, key, _) = w.enrol_totp(&alice).await;
    let cap = w.mfa.settings().limits.challenges.max as usize;
    let started = {
        let mut n = 0;
        for _ in 0..100 {
            match w.mfa.start_challenge(&alice, Some(&totp)).await {
                Ok(_) => n += 1,
                Err(Error::LimitReached { limit: StateLimit::Challenges, .. }) => {}
                Err(e) => panic!("{e:?}"),
            }
        }
        n
    };
    assert_eq!(started, cap);
    w.advance(300);
    w.mfa.start_challenge(&alice, Some(&totp)).await.unwrap();
    // Remembered devices: the oldest are forgotten past the bound.
    let max = w.mfa.settings().limits.devices;
    let mut tokens = Vec::new();
    for i in 0..max + 10 {
        w.advance(30);
        let verified = w.mfa.verify(&alice, &totp, &code(&w.totp_code(&key))).await.unwrap();
        tokens.push(w.mfa.remember_device(&verified, &format!("Device {i}")).await.unwrap().token);
    }
    assert_eq!(w.mfa.list_devices(&alice).await.unwrap().len(), max);
    assert!(matches!(w.mfa.check_device(&alice, tokens[0].expose()).await, Err(Error::InvalidCode)), "oldest gone");
    w.mfa.check_device(&alice, tokens[max + 9].expose()).await.unwrap();
}

// ----- finding 5: canonical destination keys ----------------------------------------------

async fn every_spelling_of_one_mailbox_shares_one_delivery_cap(store: Arc<dyn Store>) {
    let mut settings = world::settings();
    // One code per 30 s per destination, as by default.
    settings.delivery = DeliverySettings::new(Duration::from_secs(30), Duration::from_secs(900), 5);
    settings.delivery.per_user = None;
    settings.delivery.prefix = None;
    let (w, _) = world_on(store, settings);
    let spellings = [
        "victim@example.com",
        "Victim@example.com",
        "VICTIM@EXAMPLE.COM",
        "\"victim\"@example.com",
        "victim+1@example.com",
        "Victim+promo@Example.com",
        "\"VICTIM\"@example.com",
        "victim+x@EXAMPLE.com",
    ];
    let mut sent = 0;
    for (i, to) in spellings.iter().enumerate() {
        let req = EnrolmentRequest::new(FactorKind::EMAIL).destination(*to);
        match w.mfa.start_enrolment(&user(&format!("account{i}")), &password_only(&w), req).await {
            Ok(_) => sent += 1,
            Err(Error::RateLimited { .. }) => {}
            Err(e) => panic!("{to}: {e:?}"),
        }
    }
    assert_eq!(sent, 1, "8 accounts, one mailbox, one code in 30 s");
    assert_eq!(w.outbox.messages().len(), 1);
    assert_eq!(w.outbox.messages()[0].to, "victim@example.com", "delivered to the address as typed");
    // A distinct mailbox is not held up.
    let req = EnrolmentRequest::new(FactorKind::EMAIL).destination("victim@example.org");
    w.mfa.start_enrolment(&user("other"), &password_only(&w), req).await.unwrap();
    // The address is kept as typed for delivery.
    w.advance(31);
    let req = EnrolmentRequest::new(FactorKind::EMAIL).destination("Victim+promo@Example.com");
    w.mfa.start_enrolment(&user("account5"), &password_only(&w), req).await.unwrap();
    assert_eq!(w.outbox.messages().last().unwrap().to, "Victim+promo@example.com");
}

async fn every_spelling_of_one_number_shares_one_delivery_cap(store: Arc<dyn Store>) {
    let clock = mfa_core::ManualClock::new(mfa_core::Timestamp::from_unix_secs(world::T0));
    let outbox = mfa_otp::MemorySender::new();
    let mut settings = world::settings();
    settings.delivery = DeliverySettings::new(Duration::from_secs(30), Duration::from_secs(900), 5);
    settings.delivery.per_user = None;
    settings.delivery.prefix = None;
    let key = OobKey::new(&world::OOB_KEY).unwrap();
    let mfa = Mfa::builder()
        .shared_store(store)
        .clock(clock.clone())
        .sealer(AeadSealer::new(KeyId(1), world::SEAL_KEY))
        .settings(settings)
        .factor(SmsFactor::builder(outbox.clone(), key.clone()).default_region("US").unwrap().build().unwrap())
        .factor(EmailFactor::new(outbox.clone(), key))
        .build()
        .unwrap();
    let spellings =
        ["+1 415 555 2671", "(415) 555-2671", "415.555.2671", "+1-415-555-2671", "4155552671", "+14155552671"];
    let mut sent = 0;
    for (i, to) in spellings.iter().enumerate() {
        let req = EnrolmentRequest::new(FactorKind::SMS).destination(*to);
        let fresh = FreshAuth::primary(clock.now());
        match mfa.start_enrolment(&user(&format!("account{i}")), &fresh, req).await {
            Ok(_) => sent += 1,
            Err(Error::RateLimited { .. }) => {}
            Err(e) => panic!("{to}: {e:?}"),
        }
    }
    assert_eq!(sent, 1, "6 accounts, one phone, one code in 30 s");
    assert_eq!(outbox.messages().len(), 1);
}

// ----- finding 6: replacing a factor keeps remembered devices ------------------------------

async fn replacing_a_factor_revokes_remembered_devices_as_removing_it_does(store: Arc<dyn Store>) {
    let (w, _) = world_on(store, world::settings());
    let alice = user("alice");
    let old = w.enrol_oob(&alice, FactorKind::SMS, "+14155552671").await;
    let c = w.mfa.start_challenge(&alice, Some(&old)).await.unwrap();
    let verified = w.mfa.finish_challenge(&alice, &c.id, &code(&w.sent_code("+14155552671"))).await.unwrap();
    let device = w.mfa.remember_device(&verified, "Laptop").await.unwrap();
    w.mfa.check_device(&alice, device.token.expose()).await.unwrap();
    // A new phone number replaces the old one.
    w.advance(60);
    let req = EnrolmentRequest::new(FactorKind::SMS).destination("+14155550123").replaces(old);
    let start = w.mfa.start_enrolment(&alice, &w.fresh(), req).await.unwrap();
    w.mfa.finish_enrolment(&alice, &w.fresh(), &start.factor.id, &code(&w.sent_code("+14155550123"))).await.unwrap();
    assert!(w.mfa.list_devices(&alice).await.unwrap().is_empty(), "the replaced factor's devices are gone");
    assert!(matches!(w.mfa.check_device(&alice, device.token.expose()).await, Err(Error::InvalidCode)));
}

// ----- finding 7: refused attempts visible to audit ----------------------------------------
// (The 200-guess races of abuse.rs assert it for every kind of counter on every store.)

async fn attempts_refused_by_a_lock_are_reported_in_aggregate(store: Arc<dyn Store>) {
    let (w, events) = world_on(store, world::settings());
    let alice = user("alice");
    let (id, key, _) = w.enrol_totp(&alice).await;
    w.advance(30);
    let wrong = w.wrong_totp_code(&key);
    let mut refused = 0u64;
    for _ in 0..1000 {
        match w.mfa.verify(&alice, &id, &code(&wrong)).await {
            Err(Error::InvalidCode) => {}
            Err(Error::Locked { .. }) => refused += 1,
            other => panic!("{other:?}"),
        }
    }
    let report = |kinds: &[EventKind]| -> (u64, usize) {
        let counts: Vec<u64> = kinds
            .iter()
            .filter_map(|k| match k {
                EventKind::AttemptsRefused { scope: ThrottleScope::Factor(f), count, .. } if *f == id => Some(*count),
                _ => None,
            })
            .collect();
        (counts.iter().sum(), counts.len())
    };
    let (so_far, reports) = report(&events.kinds());
    assert!(so_far >= 512 && reports <= 10, "reported as it goes, in few events: {so_far} in {reports}");
    // Once the lock is over and an attempt is evaluated again, the rest is reported.
    w.advance(3600);
    let _ = w.mfa.verify(&alice, &id, &code(&w.totp_code(&key))).await.unwrap();
    let (total, reports) = report(&events.kinds());
    assert_eq!(total, refused, "every refusal counted once");
    assert!(reports <= 11);
}

// ----- finding 8: a user id with ':' ------------------------------------------------------

async fn a_user_id_with_a_colon_enrols_totp_with_the_default_account_name(store: Arc<dyn Store>) {
    let (w, _) = world_on(store, world::settings());
    for name in ["tenant:42", "urn:example:user:7", " padded:id "] {
        let who = user(name);
        let start = w.mfa.start_enrolment(&who, &password_only(&w), EnrolmentRequest::new(FactorKind::TOTP)).await;
        let start = start.unwrap_or_else(|e| panic!("{name}: {e:?}"));
        let Prompt::SharedSecret(secret) = &start.prompt else { panic!("a shared secret") };
        let expected = name.trim().replace(':', "_");
        assert!(secret.uri.expose().contains(&format!("Example%20Corp:{expected}")), "{}", secret.uri.expose());
        let key = data_encoding::BASE32_NOPAD.decode(secret.secret_base32.expose().as_bytes()).unwrap();
        let proof = code(&w.totp_code(&key));
        w.mfa.finish_enrolment(&who, &password_only(&w), &start.factor.id, &proof).await.unwrap();
    }
}

// ----- finding 9: the smaller ones ----------------------------------------------------------

async fn labels_that_disguise_a_device_are_refused(store: Arc<dyn Store>) {
    let (w, _) = world_on(store, world::settings());
    let alice = user("alice");
    let (id, _, _) = w.enrol_totp(&alice).await;
    for label in ["Phone\u{202E}enohp", "\u{200B}Authenticator app", "Yubi\u{200D}Key", "Key\u{2067}1\u{2069}"] {
        let renamed = w.mfa.rename_factor(&alice, &id, label).await;
        assert!(matches!(renamed, Err(Error::InvalidInput { field: "label", .. })), "{label:?}: {renamed:?}");
        let req = EnrolmentRequest::new(FactorKind::TOTP).label(label);
        let started = w.mfa.start_enrolment(&alice, &w.fresh(), req).await;
        assert!(matches!(started, Err(Error::InvalidInput { field: "label", .. })), "{label:?}");
    }
    assert_eq!(w.mfa.get_factor(&alice, &id).await.unwrap().label, "Authenticator app");
}

async fn a_recovery_code_pasted_with_a_line_break_works(store: Arc<dyn Store>) {
    let (w, _) = world_on(store, world::settings());
    let alice = user("alice");
    w.enrol_totp(&alice).await;
    let set = w.mfa.generate_recovery_codes(&alice, &w.fresh()).await.unwrap();
    let pasted = format!("{}\n", set.codes()[0].expose());
    w.mfa.verify_recovery_code(&alice, &pasted).await.unwrap();
    let pasted = format!("  {}\r\n", set.codes()[1].expose());
    w.mfa.verify_recovery_code(&alice, &pasted).await.unwrap();
}

async fn default_labels_ignore_abandoned_enrolments(store: Arc<dyn Store>) {
    let (w, _) = world_on(store, world::settings());
    let alice = user("alice");
    let mut passkey = SoftPasskey::new(true);
    // One abandoned attempt, then one that is finished.
    let abandoned = w.mfa.start_enrolment(&alice, &w.fresh(), EnrolmentRequest::new(FactorKind::PASSKEY)).await;
    assert_eq!(abandoned.unwrap().factor.label, "Passkey");
    let start = w.mfa.start_enrolment(&alice, &w.fresh(), EnrolmentRequest::new(FactorKind::PASSKEY)).await.unwrap();
    assert_eq!(start.factor.label, "Passkey", "not \"Passkey 2\" after an abandoned attempt");
    let proof = create(&mut passkey, &start.prompt);
    assert_eq!(w.mfa.finish_enrolment(&alice, &w.fresh(), &start.factor.id, &proof).await.unwrap().label, "Passkey");
    // A second real one is numbered.
    let second = w.mfa.start_enrolment(&alice, &w.fresh(), EnrolmentRequest::new(FactorKind::PASSKEY)).await;
    assert_eq!(second.unwrap().factor.label, "Passkey 2");
}

// ----- every store ----------------------------------------------------------------------------

macro_rules! on_backend {
    ($(#[$attr:meta])* $module:ident, $backend:expr, $cap:expr) => {
        mod $module {
            use super::*;

            async fn store() -> Arc<dyn Store> {
                $backend.shared()
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            $(#[$attr])*
            async fn recovery_codes_minted_with_only_a_password_never_count() {
                super::recovery_codes_minted_with_only_a_password_never_count(store().await).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            $(#[$attr])*
            async fn removing_the_last_factor_discards_the_recovery_codes() {
                super::removing_the_last_factor_discards_the_recovery_codes(store().await).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            $(#[$attr])*
            async fn an_enrolment_started_before_mfa_cannot_be_finished_after_it() {
                super::an_enrolment_started_before_mfa_cannot_be_finished_after_it(store().await).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            $(#[$attr])*
            async fn a_first_enrolment_started_and_finished_with_the_password_still_works() {
                super::a_first_enrolment_started_and_finished_with_the_password_still_works(store().await).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            $(#[$attr])*
            async fn unauthenticated_failures_never_lock_or_disable_a_passkey() {
                super::unauthenticated_failures_never_lock_or_disable_a_passkey(store().await).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            $(#[$attr])*
            async fn passwordless_sign_ins_leave_the_store_bounded() {
                super::passwordless_sign_ins_leave_the_store_bounded($backend, $cap).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            $(#[$attr])*
            async fn pending_enrolments_per_user_are_bounded_also_under_racing() {
                super::pending_enrolments_per_user_are_bounded_also_under_racing(store().await).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            $(#[$attr])*
            async fn challenges_and_remembered_devices_per_user_are_bounded() {
                super::challenges_and_remembered_devices_per_user_are_bounded(store().await).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            $(#[$attr])*
            async fn every_spelling_of_one_mailbox_shares_one_delivery_cap() {
                super::every_spelling_of_one_mailbox_shares_one_delivery_cap(store().await).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            $(#[$attr])*
            async fn every_spelling_of_one_number_shares_one_delivery_cap() {
                super::every_spelling_of_one_number_shares_one_delivery_cap(store().await).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            $(#[$attr])*
            async fn replacing_a_factor_revokes_remembered_devices_as_removing_it_does() {
                super::replacing_a_factor_revokes_remembered_devices_as_removing_it_does(store().await).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            $(#[$attr])*
            async fn attempts_refused_by_a_lock_are_reported_in_aggregate() {
                super::attempts_refused_by_a_lock_are_reported_in_aggregate(store().await).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            $(#[$attr])*
            async fn a_user_id_with_a_colon_enrols_totp_with_the_default_account_name() {
                super::a_user_id_with_a_colon_enrols_totp_with_the_default_account_name(store().await).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            $(#[$attr])*
            async fn labels_that_disguise_a_device_are_refused() {
                super::labels_that_disguise_a_device_are_refused(store().await).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            $(#[$attr])*
            async fn a_recovery_code_pasted_with_a_line_break_works() {
                super::a_recovery_code_pasted_with_a_line_break_works(store().await).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            $(#[$attr])*
            async fn default_labels_ignore_abandoned_enrolments() {
                super::default_labels_ignore_abandoned_enrolments(store().await).await;
            }
        }
    };
}

on_backend!(memory, Backend::Memory(MemoryStore::new()), 10_000);
on_backend!(sqlite_file, Backend::Sqlite(support::sql::sqlite_file().await), 1_000);
on_backend!(
    #[ignore = "needs PostgreSQL: run `bash tests/run-all.sh`, or set MFA_TEST_POSTGRES_URL and pass --include-ignored"]
    postgres,
    Backend::Postgres(support::sql::postgres_pair().await.0),
    1_000
);
