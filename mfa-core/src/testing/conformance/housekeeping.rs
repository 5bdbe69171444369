//! Housekeeping: purging what expired, and nothing else.

use super::*;

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
    // Failure counters: the expired enrolment's goes with it (nothing else would remove it),
    // the live ones stay.
    store.set_throttle_for_test(&alice, &ThrottleScope::Factor(old_pending.id)).await;
    store.set_throttle_for_test(&alice, &ThrottleScope::Factor(fresh_pending.id)).await;
    store.set_throttle_for_test(&alice, &ThrottleScope::Factor(keep_active.id)).await;
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
    let [old, fresh, kept] = [old_pending.id, fresh_pending.id, keep_active.id].map(ThrottleScope::Factor);
    assert_eq!(store.get_throttle(&alice, &old).await.unwrap(), ThrottleState::default(), "the expired enrolment's");
    assert_eq!(store.get_throttle(&alice, &fresh).await.unwrap().failures, 3);
    assert_eq!(store.get_throttle(&alice, &kept).await.unwrap().failures, 3);
    assert!(store.take_ceremony(Some(&alice), &fresh_ceremony.id, clock.now()).await.unwrap().is_some());
    // The expired ceremony is gone even for a caller with an old clock.
    assert_eq!(store.take_ceremony(Some(&alice), &old_ceremony.id, T0).await.unwrap(), None);
}
