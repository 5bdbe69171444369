//! Factors: round trips, isolation, updates, activation, the preferred flag, lookup keys and replay markers.

use super::*;

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
    let cid = CeremonyId::random().unwrap();
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
    let stronger = FactorUpdate { assurance: Some(Assurance::HardwareBound), ..FactorUpdate::default() };
    let got = store.update_factor(&alice, &r.id, &stronger).await.unwrap();
    assert_eq!(got.assurance, Assurance::HardwareBound);
    assert_eq!((got.label.as_str(), got.details.clone()), ("Phone", details));
    assert_eq!(store.get_factor(&alice, &r.id).await.unwrap().unwrap().assurance, Assurance::HardwareBound);
    let missing = FactorId::random().unwrap();
    assert!(matches!(store.update_factor(&alice, &missing, &update).await, Err(StoreError::NotFound)));
}

/// An update keeps every field it does not name, whatever the record holds (an empty
/// update changes nothing at all).
pub async fn update_keeps_every_field_it_does_not_name<S: Store + ?Sized>(store: Arc<S>) {
    let alice = user("alice");
    let mut record = pending(&alice, T0);
    record.last_used_at = Some(T0);
    record.masked_destination = Some("****1234".into());
    record.details = vec![("k".into(), "v".into())];
    record.secret = Some(SealedSecret { key_id: KeyId(3), ciphertext: vec![7; 32] });
    record.data = vec![1, 2, 3];
    record.replay_marker = Some(41);
    record.enrolment = Some(CeremonyId::random().unwrap());
    record.replaces = Some(FactorId::random().unwrap());
    record.lookup_key = Some(format!("credential-{}", FactorId::random().unwrap()));
    store.insert_factor(&record).await.unwrap();
    let nothing = FactorUpdate::default();
    assert_eq!(store.update_factor(&alice, &record.id, &nothing).await.unwrap(), record);
    let rename = FactorUpdate { label: Some("Renamed".into()), ..FactorUpdate::default() };
    let got = store.update_factor(&alice, &record.id, &rename).await.unwrap();
    record.label = "Renamed".into();
    assert_eq!(got, record);
    assert_eq!(store.get_factor(&alice, &record.id).await.unwrap(), Some(record));
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

/// Of many concurrent deletions of one factor, exactly one returns it; the others find
/// nothing.
pub async fn delete_race_has_one_winner<S: Store + ?Sized>(store: Arc<S>) {
    let alice = user("alice");
    let r = active(&*store, &alice, T0).await;
    let user_ = alice.clone();
    let winners = race(&store, move |s| {
        let user = user_.clone();
        async move {
            match s.delete_factor(&user, &r.id).await {
                Ok(_) => true,
                Err(StoreError::NotFound) => false,
                Err(e) => panic!("{e}"),
            }
        }
    })
    .await;
    assert_eq!(winners, 1);
    assert!(store.list_factors(&alice).await.unwrap().is_empty());
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
