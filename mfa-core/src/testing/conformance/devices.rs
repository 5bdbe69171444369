//! Remembered devices: round trips, scoping and revoking them all at once.

use super::*;

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

/// Of many concurrent revocations of one device, exactly one reports it revoked.
pub async fn device_revoke_race_has_one_winner<S: Store + ?Sized>(store: Arc<S>) {
    let alice = user("alice");
    let d = device(&alice, T0);
    store.insert_device_token(&d).await.unwrap();
    let user_ = alice.clone();
    let winners = race(&store, move |s| {
        let user = user_.clone();
        async move { s.revoke_device_token(&user, &d.id).await.unwrap() }
    })
    .await;
    assert_eq!(winners, 1);
}
