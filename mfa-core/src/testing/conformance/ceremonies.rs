//! Ceremonies: single-use takes, attempts, expiry and binding to one user.

use super::*;

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
/// passwordless ceremony is taken only without a user.
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
