//! Failure counters and delivery counters: compare-and-set under racing, and scoping.

use super::*;

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
