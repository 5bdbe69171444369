//! Whole-user operations: reset, erasure and coverage.

use super::*;
use crate::store::RecordCounts;

/// Every kind of record a user can have, for `user`; returns the ceremony ids and counter
/// keys it created.
async fn populate<S: Store + ?Sized>(store: &S, user: &UserId, tag: &str) -> (Vec<CeremonyId>, Vec<String>) {
    let a = active(store, user, T0).await;
    store.insert_factor(&pending(user, T0)).await.unwrap();
    let mut keyed = pending(user, T0);
    keyed.lookup_key = Some(format!("credential-{tag}"));
    store.insert_factor(&keyed).await.unwrap();
    store.replace_recovery_codes(user, &codes('r', 3, T0)).await.unwrap();
    store.insert_device_token(&device(user, T0)).await.unwrap();
    store.set_throttle_for_test(user, &ThrottleScope::Factor(a.id)).await;
    store.set_throttle_for_test(user, &ThrottleScope::RecoveryCodes).await;
    let mut ceremonies = Vec::new();
    for purpose in [CeremonyPurpose::Challenge, CeremonyPurpose::Enrolment, CeremonyPurpose::TemporaryAccess] {
        let mut c = ceremony(Some(user), T0, Duration::from_secs(300), 5);
        c.purpose = purpose;
        store.put_ceremony(&c).await.unwrap();
        ceremonies.push(c.id);
    }
    let keys = vec![format!("send:user:{tag}"), format!("send:factor:{}", a.id)];
    let counted = CounterState::new(1, Some(T0), Some(T0), Some(T0.saturating_add(Duration::from_secs(900))));
    for key in &keys {
        assert!(store.compare_and_set_counter(key, &CounterState::default(), &counted, T0).await.unwrap());
    }
    (ceremonies, keys)
}

/// True if the store holds nothing for `user` among what `populate` created.
async fn holds_nothing<S: Store + ?Sized>(store: &S, user: &UserId, ceremonies: &[CeremonyId], tag: &str) -> bool {
    store.list_factors(user).await.unwrap().is_empty()
        && store.count_recovery_codes(user).await.unwrap() == 0
        && store.list_device_tokens(user).await.unwrap().is_empty()
        && store.get_throttle(user, &ThrottleScope::RecoveryCodes).await.unwrap() == ThrottleState::default()
        && store.find_factor_by_lookup_key(&format!("credential-{tag}")).await.unwrap().is_none()
        && {
            let mut none = true;
            for id in ceremonies {
                none &= store.get_ceremony(Some(user), id, T0).await.unwrap().is_none();
            }
            none
        }
}

/// A reset removes every factor (with its lookup key and counter), recovery code, ceremony,
/// device and failure counter of the user, reports how many, and leaves everyone else's.
pub async fn reset_removes_everything_of_the_user_only<S: Store + ?Sized>(store: Arc<S>) {
    let (alice, bob) = (user("alice"), user("bob"));
    let (alice_ceremonies, alice_keys) = populate(&*store, &alice, "alice").await;
    let (bob_ceremonies, _) = populate(&*store, &bob, "bob").await;
    let bob_before = store.list_factors(&bob).await.unwrap().len();

    let removed = store.reset_user(&alice).await.unwrap();
    assert_eq!(removed, RecordCounts::new(3, 3, 3, 1, 2, 0), "what the reset reports");
    assert!(holds_nothing(&*store, &alice, &alice_ceremonies, "alice").await);
    for key in &alice_keys {
        assert_ne!(store.get_counter(key, T0).await.unwrap(), CounterState::default(), "a reset keeps counters");
    }
    // The lookup key is free again.
    let mut reuse = pending(&alice, T0);
    reuse.lookup_key = Some("credential-alice".into());
    store.insert_factor(&reuse).await.unwrap();

    assert_eq!(store.list_factors(&bob).await.unwrap().len(), bob_before);
    assert_eq!(store.count_recovery_codes(&bob).await.unwrap(), 3);
    assert_eq!(store.list_device_tokens(&bob).await.unwrap().len(), 1);
    assert_ne!(store.get_throttle(&bob, &ThrottleScope::RecoveryCodes).await.unwrap(), ThrottleState::default());
    for id in &bob_ceremonies {
        assert!(store.get_ceremony(Some(&bob), id, T0).await.unwrap().is_some());
    }
    assert_eq!(store.reset_user(&user("nobody")).await.unwrap(), RecordCounts::default());
}

/// An erasure removes what a reset removes and the counters named, and nothing else.
pub async fn erasure_leaves_nothing_of_the_user<S: Store + ?Sized>(store: Arc<S>) {
    let (alice, bob) = (user("alice"), user("bob"));
    let (alice_ceremonies, alice_keys) = populate(&*store, &alice, "alice").await;
    let (_, bob_keys) = populate(&*store, &bob, "bob").await;

    let mut named = alice_keys.clone();
    named.push("send:never-counted".into());
    let removed = store.erase_user(&alice, &named).await.unwrap();
    assert_eq!(removed, RecordCounts::new(3, 3, 3, 1, 2, 2));
    assert_eq!(removed.total(), 14);
    assert!(holds_nothing(&*store, &alice, &alice_ceremonies, "alice").await);
    for key in &alice_keys {
        assert_eq!(store.get_counter(key, T0).await.unwrap(), CounterState::default(), "{key} outlived the erasure");
    }
    for key in &bob_keys {
        assert_ne!(store.get_counter(key, T0).await.unwrap(), CounterState::default());
    }
    assert_eq!(store.list_factors(&bob).await.unwrap().len(), 3);
    assert_eq!(store.erase_user(&alice, &named).await.unwrap(), RecordCounts::default(), "erasure is idempotent");
}

/// A reset racing with edits of the same user leaves either everything or nothing: once
/// it has returned, no factor of the user remains.
pub async fn reset_is_atomic_against_readers<S: Store + ?Sized>(store: Arc<S>) {
    let alice = user("alice");
    for _ in 0..5 {
        active(&*store, &alice, T0).await;
    }
    store.replace_recovery_codes(&alice, &codes('r', 4, T0)).await.unwrap();
    let (s, a) = (store.clone(), alice.clone());
    let reset = tokio::spawn(async move { s.reset_user(&a).await.unwrap() });
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let (s, a) = (store.clone(), alice.clone());
            tokio::spawn(async move {
                let n = s.list_factors(&a).await.unwrap().len();
                assert!(n == 5 || n == 0, "a reader saw {n} factors");
            })
        })
        .collect();
    assert_eq!(reset.await.unwrap().factors, 5);
    for r in readers {
        r.await.unwrap();
    }
    assert!(store.list_factors(&alice).await.unwrap().is_empty());
    assert_eq!(store.count_recovery_codes(&alice).await.unwrap(), 0);
}

/// Coverage counts users by active factor kind, users holding state but no active
/// factor, and users with few recovery codes left.
pub async fn coverage_counts_users<S: Store + ?Sized>(store: Arc<S>) {
    assert_eq!(store.coverage(3).await.unwrap(), crate::store::Coverage::default());
    // Two users with a TOTP factor, one of them with an SMS factor too and 5 codes.
    let (alice, bob, carol, dave) = (user("alice"), user("bob"), user("carol"), user("dave"));
    active(&*store, &alice, T0).await;
    let mut sms = pending(&alice, T0);
    sms.kind = FactorKind::SMS;
    store.insert_factor(&sms).await.unwrap();
    store.activate_factor(&alice, &sms.id, T0).await.unwrap();
    store.replace_recovery_codes(&alice, &codes('a', 5, T0)).await.unwrap();
    active(&*store, &bob, T0).await;
    active(&*store, &bob, T0).await;
    store.replace_recovery_codes(&bob, &codes('b', 1, T0)).await.unwrap();
    // Carol only started an enrolment; Dave holds only recovery codes.
    store.insert_factor(&pending(&carol, T0)).await.unwrap();
    store.replace_recovery_codes(&dave, &codes('d', 2, T0)).await.unwrap();

    let coverage = store.coverage(3).await.unwrap();
    assert_eq!(coverage.users_with_factor, 2);
    assert_eq!(coverage.users_without_active_factor, 2);
    assert_eq!(coverage.users_with_kind("totp"), 2, "bob's two TOTP factors count once");
    assert_eq!(coverage.users_with_kind("sms"), 1);
    assert_eq!(coverage.users_with_kind("passkey"), 0);
    assert_eq!(coverage.users_with_few_codes, 1, "bob has 1 code; alice has 5");
    assert_eq!(store.coverage(6).await.unwrap().users_with_few_codes, 2);
    assert_eq!(store.coverage(0).await.unwrap().users_with_few_codes, 0);

    store.reset_user(&alice).await.unwrap();
    let after = store.coverage(3).await.unwrap();
    assert_eq!((after.users_with_factor, after.users_with_kind("sms")), (1, 0));
}
