//! The store conformance suite: one `pub async fn` per invariant of [`Store`].
//!
//! Each case takes a fresh, empty store as `Arc<S>` (`S` may be `dyn Store`). Race cases
//! spawn many tasks on a multi-threaded runtime and assert exactly one winner (or exactly
//! the allowed number). Run them all with [`store_conformance_tests!`](crate::store_conformance_tests).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::{Clock, ManualClock};
use crate::seal::{KeyId, SealedSecret};
use crate::store::{
    CeremonyPurpose, CeremonyRecord, CounterState, DeviceTokenRecord, FactorRecord, FactorUpdate, RecoveryCodeRecord,
    Store, StoreError, ThrottleScope, ThrottleState,
};
use crate::types::{Assurance, ChallengeId, DeviceId, FactorId, FactorKind, FactorStatus, Timestamp, UserId};

/// Concurrent tasks in every race case.
pub const RACERS: usize = 64;

const T0: Timestamp = Timestamp::from_unix_millis(1_700_000_000_000);

fn clock() -> ManualClock {
    ManualClock::new(T0)
}

fn user(name: &str) -> UserId {
    UserId::new(format!("{name}-{}", FactorId::random().unwrap())).unwrap()
}

fn pending(user: &UserId, now: Timestamp) -> FactorRecord {
    let mut r = FactorRecord::pending(
        FactorId::random().unwrap(),
        user.clone(),
        FactorKind::TOTP,
        "Authenticator app".into(),
        Assurance::ReplayResistantOtp,
        now,
        now.saturating_add(Duration::from_secs(600)),
    );
    r.secret = Some(SealedSecret { key_id: KeyId(3), ciphertext: vec![1, 2, 3, 4] });
    r.data = vec![9, 8, 7];
    r.masked_destination = Some("+1 ••• ••• 1234".into());
    r.details = vec![("aaguid".into(), "00000000-0000-0000-0000-000000000000".into())];
    r
}

async fn active<S: Store + ?Sized>(store: &S, user: &UserId, now: Timestamp) -> FactorRecord {
    let r = pending(user, now);
    store.insert_factor(&r).await.unwrap();
    store.activate_factor(user, &r.id, now).await.unwrap()
}

fn ceremony(user: Option<&UserId>, now: Timestamp, ttl: Duration, max_attempts: u32) -> CeremonyRecord {
    CeremonyRecord::new(
        ChallengeId::random().unwrap(),
        user.cloned(),
        Some(FactorId::random().unwrap()),
        FactorKind::SMS,
        CeremonyPurpose::Challenge,
        b"opaque state".to_vec(),
        max_attempts,
        now,
        now.saturating_add(ttl),
    )
    .with_action(Some("5f1a9c0e-action-digest".into()))
}

fn device(user: &UserId, now: Timestamp) -> DeviceTokenRecord {
    let expires = now.saturating_add(Duration::from_secs(30 * 24 * 3600));
    DeviceTokenRecord::new(
        DeviceId::random().unwrap(),
        user.clone(),
        "Firefox on Linux".into(),
        vec![7; 32],
        now,
        expires,
    )
}

fn codes(prefix: char, n: usize, now: Timestamp) -> Vec<RecoveryCodeRecord> {
    (0..n)
        .map(|i| RecoveryCodeRecord::new(format!("{prefix}{i:03}"), format!("$argon2id$hash-{prefix}-{i}"), now))
        .collect()
}

/// Spawns `RACERS` copies of `f` at once and returns how many returned `true`.
async fn race<S, F, Fut>(store: &Arc<S>, f: F) -> usize
where
    S: Store + ?Sized,
    F: Fn(Arc<S>) -> Fut,
    Fut: std::future::Future<Output = bool> + Send + 'static,
{
    let barrier = Arc::new(tokio::sync::Barrier::new(RACERS));
    let mut tasks = Vec::with_capacity(RACERS);
    for _ in 0..RACERS {
        let fut = f(store.clone());
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            fut.await
        }));
    }
    let mut wins = 0;
    for t in tasks {
        if t.await.unwrap() {
            wins += 1;
        }
    }
    wins
}

// ----- factors -----------------------------------------------------------------------------

/// A factor reads back exactly as written.
pub async fn factor_round_trips<S: Store + ?Sized>(store: Arc<S>) {
    let alice = user("alice");
    let r = pending(&alice, T0);
    store.insert_factor(&r).await.unwrap();
    assert_eq!(store.get_factor(&alice, &r.id).await.unwrap(), Some(r.clone()));
    assert_eq!(store.list_factors(&alice).await.unwrap(), vec![r]);
}

/// Inserting a second factor with an existing id fails with `AlreadyExists`, whoever owns it.
pub async fn duplicate_factor_id_is_refused<S: Store + ?Sized>(store: Arc<S>) {
    let (alice, bob) = (user("alice"), user("bob"));
    let r = pending(&alice, T0);
    store.insert_factor(&r).await.unwrap();
    let mut copy = r.clone();
    assert!(matches!(store.insert_factor(&copy).await, Err(StoreError::AlreadyExists)));
    copy.user = bob.clone();
    assert!(matches!(store.insert_factor(&copy).await, Err(StoreError::AlreadyExists)));
    assert_eq!(store.get_factor(&bob, &r.id).await.unwrap(), None);
}

/// Every factor operation with another user's factor id behaves as "not found".
pub async fn factors_are_invisible_to_other_users<S: Store + ?Sized>(store: Arc<S>) {
    let (alice, mallory) = (user("alice"), user("mallory"));
    let pending_one = pending(&alice, T0);
    store.insert_factor(&pending_one).await.unwrap();
    let r = active(&*store, &alice, T0).await;
    assert_eq!(store.get_factor(&mallory, &r.id).await.unwrap(), None);
    assert!(store.list_factors(&mallory).await.unwrap().is_empty());
    let update = FactorUpdate { label: Some("mine now".into()), ..FactorUpdate::default() };
    assert!(matches!(store.update_factor(&mallory, &r.id, &update).await, Err(StoreError::NotFound)));
    assert!(matches!(store.activate_factor(&mallory, &pending_one.id, T0).await, Err(StoreError::NotFound)));
    assert!(matches!(store.set_preferred(&mallory, &r.id).await, Err(StoreError::NotFound)));
    assert!(!store.advance_replay_marker(&mallory, &r.id, 7, T0).await.unwrap());
    assert!(matches!(store.delete_factor(&mallory, &r.id).await, Err(StoreError::NotFound)));
    let unchanged = store.get_factor(&alice, &r.id).await.unwrap().unwrap();
    assert_eq!(unchanged, r);
    assert_eq!(store.get_factor(&alice, &pending_one.id).await.unwrap().unwrap().status, FactorStatus::Pending);
}

/// An update changes exactly the fields it names.
pub async fn update_changes_only_named_fields<S: Store + ?Sized>(store: Arc<S>) {
    let alice = user("alice");
    let r = active(&*store, &alice, T0).await;
    let later = T0.saturating_add(Duration::from_secs(5));
    let update = FactorUpdate {
        label: Some("Phone".into()),
        last_used_at: Some(later),
        data: Some(vec![1]),
        ..FactorUpdate::default()
    };
    let got = store.update_factor(&alice, &r.id, &update).await.unwrap();
    let mut expected = r.clone();
    expected.label = "Phone".into();
    expected.last_used_at = Some(later);
    expected.data = vec![1];
    assert_eq!(got, expected);
    assert_eq!(store.get_factor(&alice, &r.id).await.unwrap(), Some(expected.clone()));
    let sealed = SealedSecret { key_id: KeyId(4), ciphertext: vec![5; 40] };
    let cid = ChallengeId::random().unwrap();
    let details = vec![("k".to_owned(), "v".to_owned())];
    let update = FactorUpdate {
        secret: Some(sealed.clone()),
        details: Some(details.clone()),
        enrolment: Some(cid),
        ..FactorUpdate::default()
    };
    let got = store.update_factor(&alice, &r.id, &update).await.unwrap();
    assert_eq!(got.secret, Some(sealed));
    assert_eq!(got.details, details);
    assert_eq!(got.enrolment, Some(cid));
    assert_eq!(got.label, "Phone");
    let missing = FactorId::random().unwrap();
    assert!(matches!(store.update_factor(&alice, &missing, &update).await, Err(StoreError::NotFound)));
}

/// The first factor activated becomes preferred; later ones do not.
pub async fn first_active_factor_becomes_preferred<S: Store + ?Sized>(store: Arc<S>) {
    let alice = user("alice");
    let first = active(&*store, &alice, T0).await;
    assert!(first.preferred);
    assert_eq!(first.status, FactorStatus::Active);
    assert_eq!(first.expires_at, None);
    let second = active(&*store, &alice, T0).await;
    assert!(!second.preferred);
    let preferred: Vec<_> = store.list_factors(&alice).await.unwrap().into_iter().filter(|f| f.preferred).collect();
    assert_eq!(preferred.len(), 1);
    assert_eq!(preferred[0].id, first.id);
}

/// A pending factor past its expiry cannot be activated, and an active one cannot be
/// activated again.
pub async fn only_unexpired_pending_factors_activate<S: Store + ?Sized>(store: Arc<S>) {
    let clock = clock();
    let alice = user("alice");
    let r = pending(&alice, clock.now());
    store.insert_factor(&r).await.unwrap();
    clock.advance(Duration::from_secs(600));
    assert!(matches!(store.activate_factor(&alice, &r.id, clock.now()).await, Err(StoreError::NotFound)));
    assert_eq!(store.get_factor(&alice, &r.id).await.unwrap().unwrap().status, FactorStatus::Pending);
    let a = active(&*store, &alice, clock.now()).await;
    assert!(matches!(store.activate_factor(&alice, &a.id, clock.now()).await, Err(StoreError::NotFound)));
}

/// Activating a replacement deletes the factor it replaces and inherits its preferred flag,
/// in one step.
pub async fn activation_replaces_the_old_factor<S: Store + ?Sized>(store: Arc<S>) {
    let alice = user("alice");
    let old = active(&*store, &alice, T0).await;
    let other = active(&*store, &alice, T0).await;
    store.set_throttle_for_test(&alice, &ThrottleScope::Factor(old.id)).await;
    let mut new = pending(&alice, T0);
    new.replaces = Some(old.id);
    store.insert_factor(&new).await.unwrap();
    let got = store.activate_factor(&alice, &new.id, T0).await.unwrap();
    assert!(got.preferred, "inherits the preferred flag");
    assert_eq!(store.get_factor(&alice, &old.id).await.unwrap(), None);
    assert_eq!(store.get_throttle(&alice, &ThrottleScope::Factor(old.id)).await.unwrap(), ThrottleState::default());
    let ids: HashSet<_> = store.list_factors(&alice).await.unwrap().into_iter().map(|f| f.id).collect();
    assert_eq!(ids, HashSet::from([other.id, new.id]));
    let preferred = store.list_factors(&alice).await.unwrap().into_iter().filter(|f| f.preferred).count();
    assert_eq!(preferred, 1);
}

/// `set_preferred` leaves exactly one preferred factor, and only an active one.
pub async fn set_preferred_is_exclusive<S: Store + ?Sized>(store: Arc<S>) {
    let alice = user("alice");
    let a = active(&*store, &alice, T0).await;
    let b = active(&*store, &alice, T0).await;
    store.set_preferred(&alice, &b.id).await.unwrap();
    let list = store.list_factors(&alice).await.unwrap();
    assert!(list.iter().find(|f| f.id == b.id).unwrap().preferred);
    assert!(!list.iter().find(|f| f.id == a.id).unwrap().preferred);
    let p = pending(&alice, T0);
    store.insert_factor(&p).await.unwrap();
    assert!(matches!(store.set_preferred(&alice, &p.id).await, Err(StoreError::NotFound)));
    assert_eq!(store.list_factors(&alice).await.unwrap().iter().filter(|f| f.preferred).count(), 1);
}

/// Concurrent `set_preferred` calls leave exactly one preferred factor.
pub async fn set_preferred_race_leaves_one_preferred<S: Store + ?Sized>(store: Arc<S>) {
    let alice = user("alice");
    let mut ids = Vec::new();
    for _ in 0..4 {
        ids.push(active(&*store, &alice, T0).await.id);
    }
    let ids = Arc::new(ids);
    let counter = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let user_ = alice.clone();
    race(&store, move |s| {
        let (ids, counter, user) = (ids.clone(), counter.clone(), user_.clone());
        async move {
            let i = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst) % ids.len();
            s.set_preferred(&user, &ids[i]).await.is_ok()
        }
    })
    .await;
    assert_eq!(store.list_factors(&alice).await.unwrap().iter().filter(|f| f.preferred).count(), 1);
}

/// Deleting a factor returns it and removes it with its failure counter.
pub async fn delete_removes_factor_and_counter<S: Store + ?Sized>(store: Arc<S>) {
    let alice = user("alice");
    let r = active(&*store, &alice, T0).await;
    let scope = ThrottleScope::Factor(r.id);
    store.set_throttle_for_test(&alice, &scope).await;
    let deleted = store.delete_factor(&alice, &r.id).await.unwrap();
    assert_eq!(deleted.id, r.id);
    assert_eq!(store.get_factor(&alice, &r.id).await.unwrap(), None);
    assert_eq!(store.get_throttle(&alice, &scope).await.unwrap(), ThrottleState::default());
    assert!(matches!(store.delete_factor(&alice, &r.id).await, Err(StoreError::NotFound)));
}

/// Lookup keys are unique across users, found without the user, and freed with the
/// factor.
pub async fn lookup_keys_are_unique_and_found_without_the_user<S: Store + ?Sized>(store: Arc<S>) {
    let (alice, bob) = (user("alice"), user("bob"));
    let key = format!("cred-{}", FactorId::random().unwrap());
    let mut a = pending(&alice, T0);
    a.lookup_key = Some(key.clone());
    store.insert_factor(&a).await.unwrap();
    assert_eq!(store.find_factor_by_lookup_key(&key).await.unwrap().map(|f| f.id), Some(a.id));
    assert_eq!(store.find_factor_by_lookup_key("no-such-key").await.unwrap(), None);
    let mut b = pending(&bob, T0);
    b.lookup_key = Some(key.clone());
    assert!(matches!(store.insert_factor(&b).await, Err(StoreError::AlreadyExists)));
    assert_eq!(store.get_factor(&bob, &b.id).await.unwrap(), None, "a refused insert stores nothing");
    b.lookup_key = None;
    store.insert_factor(&b).await.unwrap();
    let claim = FactorUpdate { lookup_key: Some(key.clone()), ..FactorUpdate::default() };
    assert!(matches!(store.update_factor(&bob, &b.id, &claim).await, Err(StoreError::AlreadyExists)));
    assert_eq!(
        store.get_factor(&bob, &b.id).await.unwrap().unwrap().lookup_key,
        None,
        "a refused update changes nothing"
    );
    // Another user naming Alice's factor id cannot touch her key.
    assert!(store.update_factor(&bob, &a.id, &claim).await.is_err());
    assert_eq!(store.find_factor_by_lookup_key(&key).await.unwrap().map(|f| f.id), Some(a.id));
    // Deleting the factor frees the key.
    store.delete_factor(&alice, &a.id).await.unwrap();
    assert_eq!(store.find_factor_by_lookup_key(&key).await.unwrap(), None);
    let got = store.update_factor(&bob, &b.id, &claim).await.unwrap();
    assert_eq!(got.lookup_key, Some(key.clone()));
    assert_eq!(store.find_factor_by_lookup_key(&key).await.unwrap().map(|f| f.user), Some(bob.clone()));
}

/// Of many concurrent claims of one lookup key by different factors, exactly one wins.
pub async fn lookup_key_race_has_one_winner<S: Store + ?Sized>(store: Arc<S>) {
    let key = Arc::new(format!("cred-{}", FactorId::random().unwrap()));
    let wins = race(&store, move |s| {
        let key = key.clone();
        async move {
            let owner = user("racer");
            let f = pending(&owner, T0);
            s.insert_factor(&f).await.unwrap();
            let claim = FactorUpdate { lookup_key: Some((*key).clone()), ..FactorUpdate::default() };
            s.update_factor(&owner, &f.id, &claim).await.is_ok()
        }
    })
    .await;
    assert_eq!(wins, 1);
}

// ----- replay markers ----------------------------------------------------------------------

/// The replay marker only moves forward, and a successful advance stamps `last_used_at`.
pub async fn replay_marker_only_moves_forward<S: Store + ?Sized>(store: Arc<S>) {
    let alice = user("alice");
    let r = active(&*store, &alice, T0).await;
    let t1 = T0.saturating_add(Duration::from_secs(1));
    assert!(store.advance_replay_marker(&alice, &r.id, 5, t1).await.unwrap());
    let got = store.get_factor(&alice, &r.id).await.unwrap().unwrap();
    assert_eq!(got.replay_marker, Some(5));
    assert_eq!(got.last_used_at, Some(t1));
    assert!(!store.advance_replay_marker(&alice, &r.id, 5, T0).await.unwrap(), "same marker is a replay");
    assert!(!store.advance_replay_marker(&alice, &r.id, 4, T0).await.unwrap(), "older marker is a replay");
    assert!(store.advance_replay_marker(&alice, &r.id, 6, t1).await.unwrap());
    assert!(store.advance_replay_marker(&alice, &r.id, u64::MAX, t1).await.unwrap());
    assert!(!store.advance_replay_marker(&alice, &r.id, u64::MAX, t1).await.unwrap());
    assert_eq!(store.get_factor(&alice, &r.id).await.unwrap().unwrap().replay_marker, Some(u64::MAX));
}

/// Marker 0 is a valid first marker; pending and missing factors never advance.
pub async fn replay_marker_needs_an_active_factor<S: Store + ?Sized>(store: Arc<S>) {
    let alice = user("alice");
    let r = active(&*store, &alice, T0).await;
    assert!(store.advance_replay_marker(&alice, &r.id, 0, T0).await.unwrap());
    let p = pending(&alice, T0);
    store.insert_factor(&p).await.unwrap();
    assert!(!store.advance_replay_marker(&alice, &p.id, 1, T0).await.unwrap());
    assert!(!store.advance_replay_marker(&alice, &FactorId::random().unwrap(), 1, T0).await.unwrap());
}

/// An update raises the replay marker of a pending factor, which keeps it once activated;
/// an update never moves a marker back (the marker is stored in order up to `u64::MAX`).
pub async fn update_raises_the_replay_marker_only<S: Store + ?Sized>(store: Arc<S>) {
    let alice = user("alice");
    let p = pending(&alice, T0);
    store.insert_factor(&p).await.unwrap();
    let raise = |m| FactorUpdate { replay_marker: Some(m), ..FactorUpdate::default() };
    assert_eq!(store.update_factor(&alice, &p.id, &raise(7)).await.unwrap().replay_marker, Some(7));
    assert_eq!(store.update_factor(&alice, &p.id, &raise(3)).await.unwrap().replay_marker, Some(7), "never back");
    let activated = store.activate_factor(&alice, &p.id, T0).await.unwrap();
    assert_eq!(activated.replay_marker, Some(7));
    assert!(!store.advance_replay_marker(&alice, &p.id, 7, T0).await.unwrap(), "the recorded step is used up");
    assert!(store.advance_replay_marker(&alice, &p.id, 8, T0).await.unwrap());
    let top = store.update_factor(&alice, &p.id, &raise(u64::MAX)).await.unwrap();
    assert_eq!(top.replay_marker, Some(u64::MAX));
    assert_eq!(store.update_factor(&alice, &p.id, &raise(0)).await.unwrap().replay_marker, Some(u64::MAX));
    assert_eq!(store.get_factor(&alice, &p.id).await.unwrap().unwrap().replay_marker, Some(u64::MAX));
}

/// Of many concurrent advances to the same marker, exactly one succeeds.
pub async fn replay_marker_race_has_one_winner<S: Store + ?Sized>(store: Arc<S>) {
    let alice = user("alice");
    let r = active(&*store, &alice, T0).await;
    let (u, id) = (alice.clone(), r.id);
    let wins = race(&store, move |s| {
        let u = u.clone();
        async move { s.advance_replay_marker(&u, &id, 1000, T0).await.unwrap() }
    })
    .await;
    assert_eq!(wins, 1);
}

// ----- ceremonies --------------------------------------------------------------------------

/// A ceremony can be taken once, and reads back exactly as written.
pub async fn ceremony_take_is_single_use<S: Store + ?Sized>(store: Arc<S>) {
    let alice = user("alice");
    let c = ceremony(Some(&alice), T0, Duration::from_secs(300), 1);
    store.put_ceremony(&c).await.unwrap();
    assert_eq!(store.take_ceremony(Some(&alice), &c.id, T0).await.unwrap(), Some(c.clone()));
    assert_eq!(store.take_ceremony(Some(&alice), &c.id, T0).await.unwrap(), None);
    assert_eq!(store.attempt_ceremony(Some(&alice), &c.id, T0).await.unwrap(), None);
}

/// A second ceremony with an existing id is refused.
pub async fn duplicate_ceremony_id_is_refused<S: Store + ?Sized>(store: Arc<S>) {
    let alice = user("alice");
    let c = ceremony(Some(&alice), T0, Duration::from_secs(300), 1);
    store.put_ceremony(&c).await.unwrap();
    assert!(matches!(store.put_ceremony(&c).await, Err(StoreError::AlreadyExists)));
}

/// Of many concurrent takes of one ceremony, exactly one gets it.
pub async fn ceremony_take_race_has_one_winner<S: Store + ?Sized>(store: Arc<S>) {
    let alice = user("alice");
    let c = ceremony(Some(&alice), T0, Duration::from_secs(300), 1);
    store.put_ceremony(&c).await.unwrap();
    let (u, id) = (alice.clone(), c.id);
    let wins = race(&store, move |s| {
        let u = u.clone();
        async move { s.take_ceremony(Some(&u), &id, T0).await.unwrap().is_some() }
    })
    .await;
    assert_eq!(wins, 1);
}

/// An expired ceremony can be neither taken nor attempted.
pub async fn expired_ceremony_is_unusable<S: Store + ?Sized>(store: Arc<S>) {
    let clock = clock();
    let alice = user("alice");
    let c = ceremony(Some(&alice), clock.now(), Duration::from_secs(300), 3);
    store.put_ceremony(&c).await.unwrap();
    clock.advance(Duration::from_secs(299));
    assert!(store.attempt_ceremony(Some(&alice), &c.id, clock.now()).await.unwrap().is_some());
    clock.advance(Duration::from_secs(1));
    assert_eq!(store.attempt_ceremony(Some(&alice), &c.id, clock.now()).await.unwrap(), None);
    assert_eq!(store.take_ceremony(Some(&alice), &c.id, clock.now()).await.unwrap(), None);
}

/// Another user cannot attempt or take a ceremony, and trying leaves it in place; a
/// usernameless ceremony is taken only without a user.
pub async fn ceremony_is_bound_to_its_user<S: Store + ?Sized>(store: Arc<S>) {
    let (alice, mallory) = (user("alice"), user("mallory"));
    let c = ceremony(Some(&alice), T0, Duration::from_secs(300), 2);
    store.put_ceremony(&c).await.unwrap();
    assert_eq!(store.attempt_ceremony(Some(&mallory), &c.id, T0).await.unwrap(), None);
    assert_eq!(store.take_ceremony(Some(&mallory), &c.id, T0).await.unwrap(), None);
    assert_eq!(store.take_ceremony(None, &c.id, T0).await.unwrap(), None);
    let taken = store.take_ceremony(Some(&alice), &c.id, T0).await.unwrap().unwrap();
    assert_eq!(taken.attempts, 0, "foreign attempts were not counted");
    let anon = ceremony(None, T0, Duration::from_secs(300), 1);
    store.put_ceremony(&anon).await.unwrap();
    assert_eq!(store.take_ceremony(Some(&alice), &anon.id, T0).await.unwrap(), None);
    assert!(store.take_ceremony(None, &anon.id, T0).await.unwrap().is_some());
}

/// Attempts are counted and stop at the limit.
pub async fn ceremony_attempts_are_bounded<S: Store + ?Sized>(store: Arc<S>) {
    let alice = user("alice");
    let c = ceremony(Some(&alice), T0, Duration::from_secs(300), 3);
    store.put_ceremony(&c).await.unwrap();
    for n in 1..=3 {
        let got = store.attempt_ceremony(Some(&alice), &c.id, T0).await.unwrap().unwrap();
        assert_eq!(got.attempts, n);
        assert_eq!(got.payload, c.payload);
    }
    assert_eq!(store.attempt_ceremony(Some(&alice), &c.id, T0).await.unwrap(), None);
    let taken = store.take_ceremony(Some(&alice), &c.id, T0).await.unwrap();
    assert_eq!(taken.map(|t| t.attempts), Some(3), "a used-up ceremony can still be taken once");
}

/// Of many concurrent attempts against a limit of 5, exactly 5 get the ceremony.
pub async fn ceremony_attempt_race_respects_the_limit<S: Store + ?Sized>(store: Arc<S>) {
    let alice = user("alice");
    let c = ceremony(Some(&alice), T0, Duration::from_secs(300), 5);
    store.put_ceremony(&c).await.unwrap();
    let (u, id) = (alice.clone(), c.id);
    let wins = race(&store, move |s| {
        let u = u.clone();
        async move { s.attempt_ceremony(Some(&u), &id, T0).await.unwrap().is_some() }
    })
    .await;
    assert_eq!(wins, 5);
}

/// Reading a ceremony changes nothing, respects its user binding and expiry.
pub async fn ceremony_get_reads_without_consuming<S: Store + ?Sized>(store: Arc<S>) {
    let (alice, mallory) = (user("alice"), user("mallory"));
    let c = ceremony(Some(&alice), T0, Duration::from_secs(300), 2);
    store.put_ceremony(&c).await.unwrap();
    for _ in 0..3 {
        assert_eq!(store.get_ceremony(Some(&alice), &c.id, T0).await.unwrap(), Some(c.clone()));
    }
    assert_eq!(store.get_ceremony(Some(&mallory), &c.id, T0).await.unwrap(), None);
    assert_eq!(store.get_ceremony(None, &c.id, T0).await.unwrap(), None);
    let late = T0.saturating_add(Duration::from_secs(300));
    assert_eq!(store.get_ceremony(Some(&alice), &c.id, late).await.unwrap(), None);
    assert_eq!(store.attempt_ceremony(Some(&alice), &c.id, T0).await.unwrap().map(|c| c.attempts), Some(1));
}

// ----- recovery codes ----------------------------------------------------------------------

/// Replacing the set swaps every code at once; an empty set deletes it.
pub async fn recovery_codes_are_replaced_as_a_whole<S: Store + ?Sized>(store: Arc<S>) {
    let alice = user("alice");
    assert_eq!(store.count_recovery_codes(&alice).await.unwrap(), 0);
    let old = codes('A', 10, T0);
    store.replace_recovery_codes(&alice, &old).await.unwrap();
    assert_eq!(store.count_recovery_codes(&alice).await.unwrap(), 10);
    assert_eq!(store.get_recovery_code(&alice, "A003").await.unwrap(), Some(old[3].clone()));
    let new = codes('B', 8, T0);
    store.replace_recovery_codes(&alice, &new).await.unwrap();
    assert_eq!(store.count_recovery_codes(&alice).await.unwrap(), 8);
    assert_eq!(store.get_recovery_code(&alice, "A003").await.unwrap(), None);
    assert_eq!(store.get_recovery_code(&alice, "B007").await.unwrap(), Some(new[7].clone()));
    store.replace_recovery_codes(&alice, &[]).await.unwrap();
    assert_eq!(store.count_recovery_codes(&alice).await.unwrap(), 0);
}

/// A code is consumed once, and only while its hash is the one that was verified.
pub async fn recovery_code_is_consumed_once<S: Store + ?Sized>(store: Arc<S>) {
    let alice = user("alice");
    let set = codes('A', 3, T0);
    store.replace_recovery_codes(&alice, &set).await.unwrap();
    assert!(!store.consume_recovery_code(&alice, "A001", "$argon2id$other").await.unwrap());
    assert!(store.consume_recovery_code(&alice, "A001", &set[1].hash).await.unwrap());
    assert!(!store.consume_recovery_code(&alice, "A001", &set[1].hash).await.unwrap());
    assert_eq!(store.get_recovery_code(&alice, "A001").await.unwrap(), None);
    assert_eq!(store.count_recovery_codes(&alice).await.unwrap(), 2);
}

/// Of many concurrent consumptions of one code, exactly one succeeds.
pub async fn recovery_code_race_has_one_winner<S: Store + ?Sized>(store: Arc<S>) {
    let alice = user("alice");
    let set = codes('A', 10, T0);
    store.replace_recovery_codes(&alice, &set).await.unwrap();
    let (u, hash) = (alice.clone(), set[4].hash.clone());
    let wins = race(&store, move |s| {
        let (u, hash) = (u.clone(), hash.clone());
        async move { s.consume_recovery_code(&u, "A004", &hash).await.unwrap() }
    })
    .await;
    assert_eq!(wins, 1);
    assert_eq!(store.count_recovery_codes(&alice).await.unwrap(), 9);
}

/// One user's codes are invisible to another, even with the same lookup part.
pub async fn recovery_codes_are_isolated_between_users<S: Store + ?Sized>(store: Arc<S>) {
    let (alice, mallory) = (user("alice"), user("mallory"));
    let set = codes('A', 3, T0);
    store.replace_recovery_codes(&alice, &set).await.unwrap();
    assert_eq!(store.get_recovery_code(&mallory, "A000").await.unwrap(), None);
    assert!(!store.consume_recovery_code(&mallory, "A000", &set[0].hash).await.unwrap());
    assert_eq!(store.count_recovery_codes(&mallory).await.unwrap(), 0);
    store.replace_recovery_codes(&mallory, &codes('A', 2, T0)).await.unwrap();
    assert_eq!(store.count_recovery_codes(&alice).await.unwrap(), 3);
    assert_eq!(store.get_recovery_code(&alice, "A000").await.unwrap(), Some(set[0].clone()));
}

/// While sets are replaced concurrently, readers always see one whole set.
pub async fn recovery_code_replacement_is_atomic<S: Store + ?Sized>(store: Arc<S>) {
    let alice = user("alice");
    let (a, b) = (codes('A', 10, T0), codes('B', 10, T0));
    store.replace_recovery_codes(&alice, &a).await.unwrap();
    let writer = {
        let (store, alice, a, b) = (store.clone(), alice.clone(), a.clone(), b.clone());
        tokio::spawn(async move {
            for i in 0..100 {
                let set = if i % 2 == 0 { &b } else { &a };
                store.replace_recovery_codes(&alice, set).await.unwrap();
            }
        })
    };
    let mut readers = Vec::new();
    for _ in 0..4 {
        let (store, alice) = (store.clone(), alice.clone());
        readers.push(tokio::spawn(async move {
            for _ in 0..200 {
                assert_eq!(store.count_recovery_codes(&alice).await.unwrap(), 10, "a reader saw a partial set");
            }
        }));
    }
    writer.await.unwrap();
    for r in readers {
        r.await.unwrap();
    }
    let has_a = store.get_recovery_code(&alice, "A000").await.unwrap().is_some();
    for i in 0..10 {
        assert_eq!(store.get_recovery_code(&alice, &format!("A{i:03}")).await.unwrap().is_some(), has_a);
        assert_eq!(store.get_recovery_code(&alice, &format!("B{i:03}")).await.unwrap().is_some(), !has_a);
    }
}

// ----- throttling --------------------------------------------------------------------------

/// An absent counter reads as the default; compare-and-set succeeds only from the
/// expected state.
pub async fn throttle_compare_and_set<S: Store + ?Sized>(store: Arc<S>) {
    let alice = user("alice");
    let scope = ThrottleScope::RecoveryCodes;
    let zero = ThrottleState::default();
    assert_eq!(store.get_throttle(&alice, &scope).await.unwrap(), zero);
    let one = ThrottleState::new(1, Some(T0));
    let two = ThrottleState::new(2, Some(T0.saturating_add(Duration::from_secs(1))));
    assert!(!store.compare_and_set_throttle(&alice, &scope, &one, &two).await.unwrap());
    assert!(store.compare_and_set_throttle(&alice, &scope, &zero, &one).await.unwrap());
    assert!(!store.compare_and_set_throttle(&alice, &scope, &zero, &one).await.unwrap());
    assert_eq!(store.get_throttle(&alice, &scope).await.unwrap(), one);
    assert!(store.compare_and_set_throttle(&alice, &scope, &one, &two).await.unwrap());
    assert_eq!(store.get_throttle(&alice, &scope).await.unwrap(), two);
    assert!(store.compare_and_set_throttle(&alice, &scope, &two, &zero).await.unwrap());
    assert_eq!(store.get_throttle(&alice, &scope).await.unwrap(), zero);
}

/// Of many concurrent compare-and-sets from the same state, exactly one succeeds.
pub async fn throttle_race_has_one_winner<S: Store + ?Sized>(store: Arc<S>) {
    let alice = user("alice");
    let scope = ThrottleScope::Factor(FactorId::random().unwrap());
    let u = alice.clone();
    let wins = race(&store, move |s| {
        let u = u.clone();
        async move {
            let next = ThrottleState::new(1, Some(T0));
            s.compare_and_set_throttle(&u, &scope, &ThrottleState::default(), &next).await.unwrap()
        }
    })
    .await;
    assert_eq!(wins, 1);
}

/// Counters are separate per user and per scope.
pub async fn throttle_is_scoped_by_user_and_scope<S: Store + ?Sized>(store: Arc<S>) {
    let (alice, bob) = (user("alice"), user("bob"));
    let f = ThrottleScope::Factor(FactorId::random().unwrap());
    store.set_throttle_for_test(&alice, &f).await;
    assert_eq!(store.get_throttle(&bob, &f).await.unwrap(), ThrottleState::default());
    assert_eq!(store.get_throttle(&alice, &ThrottleScope::RecoveryCodes).await.unwrap(), ThrottleState::default());
    let other = ThrottleScope::Factor(FactorId::random().unwrap());
    assert_eq!(store.get_throttle(&alice, &other).await.unwrap(), ThrottleState::default());
}

// ----- remembered devices ------------------------------------------------------------------

/// A remembered device reads back as written, is listed, touched and revoked.
pub async fn device_tokens_round_trip<S: Store + ?Sized>(store: Arc<S>) {
    let alice = user("alice");
    let d = device(&alice, T0);
    store.insert_device_token(&d).await.unwrap();
    assert!(matches!(store.insert_device_token(&d).await, Err(StoreError::AlreadyExists)));
    assert_eq!(store.get_device_token(&alice, &d.id).await.unwrap(), Some(d.clone()));
    assert_eq!(store.list_device_tokens(&alice).await.unwrap(), vec![d.clone()]);
    let later = T0.saturating_add(Duration::from_secs(60));
    assert!(store.touch_device_token(&alice, &d.id, later).await.unwrap());
    assert_eq!(store.get_device_token(&alice, &d.id).await.unwrap().unwrap().last_seen_at, Some(later));
    assert!(store.revoke_device_token(&alice, &d.id).await.unwrap());
    assert!(!store.revoke_device_token(&alice, &d.id).await.unwrap());
    assert_eq!(store.get_device_token(&alice, &d.id).await.unwrap(), None);
    assert!(!store.touch_device_token(&alice, &d.id, later).await.unwrap());
}

/// Another user's device id behaves exactly like a missing one.
pub async fn device_tokens_are_scoped_to_their_user<S: Store + ?Sized>(store: Arc<S>) {
    let (alice, mallory) = (user("alice"), user("mallory"));
    let d = device(&alice, T0);
    store.insert_device_token(&d).await.unwrap();
    assert_eq!(store.get_device_token(&mallory, &d.id).await.unwrap(), None);
    assert!(store.list_device_tokens(&mallory).await.unwrap().is_empty());
    assert!(!store.touch_device_token(&mallory, &d.id, T0).await.unwrap());
    assert!(!store.revoke_device_token(&mallory, &d.id).await.unwrap());
    assert_eq!(store.revoke_all_device_tokens(&mallory).await.unwrap(), 0);
    assert_eq!(store.get_device_token(&alice, &d.id).await.unwrap(), Some(d));
}

/// Revoking all devices removes every one of the user's, and no one else's, at once.
pub async fn revoke_all_device_tokens_is_atomic<S: Store + ?Sized>(store: Arc<S>) {
    let (alice, bob) = (user("alice"), user("bob"));
    for _ in 0..5 {
        store.insert_device_token(&device(&alice, T0)).await.unwrap();
    }
    let bobs = device(&bob, T0);
    store.insert_device_token(&bobs).await.unwrap();
    let (s, a) = (store.clone(), alice.clone());
    let revoker = tokio::spawn(async move { s.revoke_all_device_tokens(&a).await.unwrap() });
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let (s, a) = (store.clone(), alice.clone());
            tokio::spawn(async move {
                let n = s.list_device_tokens(&a).await.unwrap().len();
                assert!(n == 5 || n == 0, "a reader saw {n} devices");
            })
        })
        .collect();
    assert_eq!(revoker.await.unwrap(), 5);
    for r in readers {
        r.await.unwrap();
    }
    assert!(store.list_device_tokens(&alice).await.unwrap().is_empty());
    assert_eq!(store.list_device_tokens(&bob).await.unwrap(), vec![bobs]);
    assert_eq!(store.revoke_all_device_tokens(&alice).await.unwrap(), 0);
}

// ----- counters ----------------------------------------------------------------------------

/// An absent or expired counter reads as the default; compare-and-set succeeds only from
/// the expected state.
pub async fn counter_compare_and_set<S: Store + ?Sized>(store: Arc<S>) {
    let key = format!("send:dest:{}", FactorId::random().unwrap());
    let zero = CounterState::default();
    assert_eq!(store.get_counter(&key, T0).await.unwrap(), zero);
    let until = T0.saturating_add(Duration::from_secs(900));
    let one = CounterState::new(1, Some(T0), Some(T0), Some(until));
    let two = CounterState::new(2, Some(T0), Some(T0.saturating_add(Duration::from_secs(30))), Some(until));
    assert!(!store.compare_and_set_counter(&key, &one, &two, T0).await.unwrap());
    assert!(store.compare_and_set_counter(&key, &zero, &one, T0).await.unwrap());
    assert!(!store.compare_and_set_counter(&key, &zero, &one, T0).await.unwrap());
    assert!(store.compare_and_set_counter(&key, &one, &two, T0).await.unwrap());
    assert_eq!(store.get_counter(&key, T0).await.unwrap(), two);
    // Past its expiry the counter reads as the default, and counting starts again.
    assert_eq!(store.get_counter(&key, until).await.unwrap(), zero);
    assert!(!store.compare_and_set_counter(&key, &two, &one, until).await.unwrap());
    assert!(store.compare_and_set_counter(&key, &zero, &one, until).await.unwrap());
    let other = format!("send:dest:{}", FactorId::random().unwrap());
    assert_eq!(store.get_counter(&other, T0).await.unwrap(), zero);
}

/// Of many concurrent compare-and-sets of one counter from the same state, exactly one
/// succeeds.
pub async fn counter_race_has_one_winner<S: Store + ?Sized>(store: Arc<S>) {
    let key = Arc::new(format!("send:factor:{}", FactorId::random().unwrap()));
    let wins = race(&store, move |s| {
        let key = key.clone();
        async move {
            let next = CounterState::new(1, Some(T0), Some(T0), Some(T0.saturating_add(Duration::from_secs(60))));
            s.compare_and_set_counter(&key, &CounterState::default(), &next, T0).await.unwrap()
        }
    })
    .await;
    assert_eq!(wins, 1);
}

// ----- housekeeping ------------------------------------------------------------------------

/// Purging removes expired ceremonies and pending factors and nothing else.
pub async fn purge_removes_only_expired_state<S: Store + ?Sized>(store: Arc<S>) {
    let clock = clock();
    let alice = user("alice");
    let keep_active = active(&*store, &alice, clock.now()).await;
    let mut old_pending = pending(&alice, clock.now());
    old_pending.lookup_key = Some(format!("cred-{}", old_pending.id));
    store.insert_factor(&old_pending).await.unwrap();
    let old_ceremony = ceremony(Some(&alice), clock.now(), Duration::from_secs(60), 1);
    store.put_ceremony(&old_ceremony).await.unwrap();
    clock.advance(Duration::from_secs(3600));
    let fresh_pending = pending(&alice, clock.now());
    store.insert_factor(&fresh_pending).await.unwrap();
    let fresh_ceremony = ceremony(Some(&alice), clock.now(), Duration::from_secs(60), 1);
    store.put_ceremony(&fresh_ceremony).await.unwrap();
    let (old_key, fresh_key) = (format!("old:{}", old_pending.id), format!("fresh:{}", old_pending.id));
    let old_counter = CounterState::new(1, Some(T0), Some(T0), Some(T0.saturating_add(Duration::from_secs(60))));
    let later = clock.now().saturating_add(Duration::from_secs(60));
    let fresh_counter = CounterState::new(1, Some(clock.now()), Some(clock.now()), Some(later));
    assert!(store.compare_and_set_counter(&old_key, &CounterState::default(), &old_counter, T0).await.unwrap());
    let now = clock.now();
    assert!(store.compare_and_set_counter(&fresh_key, &CounterState::default(), &fresh_counter, now).await.unwrap());
    let old_device = device(&alice, T0);
    let mut fresh_device = device(&alice, clock.now());
    fresh_device.label = "fresh".into();
    let mut expired_device = old_device.clone();
    expired_device.expires_at = T0.saturating_add(Duration::from_secs(60));
    store.insert_device_token(&expired_device).await.unwrap();
    store.insert_device_token(&fresh_device).await.unwrap();
    let removed = store.purge_expired(clock.now()).await.unwrap();
    assert!(removed >= 4, "removed {removed}");
    assert_eq!(store.get_device_token(&alice, &expired_device.id).await.unwrap(), None, "expired device purged");
    assert!(store.get_device_token(&alice, &fresh_device.id).await.unwrap().is_some());
    assert_eq!(store.get_counter(&old_key, T0).await.unwrap(), CounterState::default(), "purged");
    assert_eq!(store.get_counter(&fresh_key, clock.now()).await.unwrap(), fresh_counter);
    assert_eq!(store.get_factor(&alice, &old_pending.id).await.unwrap(), None);
    let freed = old_pending.lookup_key.as_deref().unwrap();
    assert_eq!(store.find_factor_by_lookup_key(freed).await.unwrap(), None, "its lookup key is freed");
    assert!(store.get_factor(&alice, &keep_active.id).await.unwrap().is_some());
    assert!(store.get_factor(&alice, &fresh_pending.id).await.unwrap().is_some());
    assert!(store.take_ceremony(Some(&alice), &fresh_ceremony.id, clock.now()).await.unwrap().is_some());
    // The expired ceremony is gone even for a caller with an old clock.
    assert_eq!(store.take_ceremony(Some(&alice), &old_ceremony.id, T0).await.unwrap(), None);
}

trait SetThrottle {
    async fn set_throttle_for_test(&self, user: &UserId, scope: &ThrottleScope);
}

impl<S: Store + ?Sized> SetThrottle for S {
    async fn set_throttle_for_test(&self, user: &UserId, scope: &ThrottleScope) {
        let state = ThrottleState::new(3, Some(T0));
        assert!(self.compare_and_set_throttle(user, scope, &ThrottleState::default(), &state).await.unwrap());
        assert_eq!(self.get_throttle(user, scope).await.unwrap(), state);
    }
}

/// Expands the whole conformance suite into one `#[test]` per case inside module
/// `$module`. `$make` is a future that yields a fresh store as `Arc<S>`.
///
/// Attributes written before the module name are put on every generated test, so a
/// suite that needs a server can be ignored, with the reason, when none is configured:
///
/// ```text
/// mfa_core::store_conformance_tests!(memory, async { std::sync::Arc::new(MemoryStore::new()) });
/// mfa_core::store_conformance_tests!(
///     #[ignore = "needs PostgreSQL: run `bash tests/run-all.sh`"]
///     postgres, async { std::sync::Arc::new(fresh_postgres_store().await) }
/// );
/// ```
#[macro_export]
macro_rules! store_conformance_tests {
    ($(#[$attr:meta])* $module:ident, $make:expr) => {
        mod $module {
            #[allow(unused_imports)]
            use super::*;
            $crate::__store_conformance_cases!($make; [$(#[$attr])*];
                factor_round_trips,
                duplicate_factor_id_is_refused,
                factors_are_invisible_to_other_users,
                update_changes_only_named_fields,
                first_active_factor_becomes_preferred,
                only_unexpired_pending_factors_activate,
                activation_replaces_the_old_factor,
                set_preferred_is_exclusive,
                set_preferred_race_leaves_one_preferred,
                delete_removes_factor_and_counter,
                lookup_keys_are_unique_and_found_without_the_user,
                lookup_key_race_has_one_winner,
                replay_marker_only_moves_forward,
                replay_marker_needs_an_active_factor,
                update_raises_the_replay_marker_only,
                replay_marker_race_has_one_winner,
                ceremony_take_is_single_use,
                duplicate_ceremony_id_is_refused,
                ceremony_take_race_has_one_winner,
                expired_ceremony_is_unusable,
                ceremony_is_bound_to_its_user,
                ceremony_attempts_are_bounded,
                ceremony_attempt_race_respects_the_limit,
                ceremony_get_reads_without_consuming,
                recovery_codes_are_replaced_as_a_whole,
                recovery_code_is_consumed_once,
                recovery_code_race_has_one_winner,
                recovery_codes_are_isolated_between_users,
                recovery_code_replacement_is_atomic,
                device_tokens_round_trip,
                device_tokens_are_scoped_to_their_user,
                revoke_all_device_tokens_is_atomic,
                throttle_compare_and_set,
                throttle_race_has_one_winner,
                throttle_is_scoped_by_user_and_scope,
                counter_compare_and_set,
                counter_race_has_one_winner,
                purge_removes_only_expired_state,
            );
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __store_conformance_cases {
    ($make:expr; [$($attr:tt)*]; $(,)?) => {};
    ($make:expr; [$($attr:tt)*]; $case:ident $(, $rest:ident)* $(,)?) => {
        #[test]
        $($attr)*
        fn $case() {
            let runtime = $crate::__private::tokio::runtime::Builder::new_multi_thread()
                .worker_threads(4)
                .enable_all()
                .build()
                .expect("tokio runtime");
            runtime.block_on(async {
                let store = $make.await;
                $crate::testing::conformance::$case(store).await;
            });
        }
        $crate::__store_conformance_cases!($make; [$($attr)*]; $($rest),*);
    };
}
