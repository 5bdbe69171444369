//! Recovery codes: replaced as a whole, consumed once, isolated between users.

use super::*;

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
