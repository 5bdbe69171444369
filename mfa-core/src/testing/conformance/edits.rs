//! The per-user factor edit: all or nothing, scoped to one user, deleting with the failure
//! counter and lookup key, and atomic under racing.

use super::*;

/// A plan that refuses changes nothing, and its error comes back.
pub async fn refused_edit_changes_nothing<S: Store + ?Sized>(store: Arc<S>) {
    let alice = user("alice");
    let p = pending(&alice, T0);
    store.insert_factor(&p).await.unwrap();
    let before = store.list_factors(&alice).await.unwrap();
    let refused = store.edit_factors(&alice, &|_| Err(StoreError::AlreadyExists)).await;
    assert!(matches!(refused, Err(StoreError::AlreadyExists)));
    assert_eq!(store.list_factors(&alice).await.unwrap(), before);
}

/// An edit naming a factor the plan was not given (another user's, or none) fails with
/// `NotFound` and changes nothing, also the changes it names correctly.
pub async fn edit_naming_an_unknown_factor_changes_nothing<S: Store + ?Sized>(store: Arc<S>) {
    let (alice, bob) = (user("alice"), user("bob"));
    let mine = pending(&alice, T0);
    store.insert_factor(&mine).await.unwrap();
    let theirs = active(&*store, &bob, T0).await;
    let seen = std::sync::Mutex::new(Vec::new());
    let plan = |factors: &[FactorRecord]| {
        seen.lock().unwrap().extend(factors.iter().map(|f| f.id));
        Ok(FactorEdit::default().activate(mine.id).delete(theirs.id))
    };
    assert!(matches!(store.edit_factors(&alice, &plan).await, Err(StoreError::NotFound)));
    assert_eq!(*seen.lock().unwrap(), vec![mine.id], "the plan sees only the user's factors");
    assert_eq!(store.get_factor(&alice, &mine.id).await.unwrap(), Some(mine));
    assert_eq!(store.get_factor(&bob, &theirs.id).await.unwrap(), Some(theirs));
    let nobody = user("nobody");
    let plan = |_: &[FactorRecord]| Ok(FactorEdit::default().prefer(FactorId::random().unwrap(), true));
    assert!(matches!(store.edit_factors(&nobody, &plan).await, Err(StoreError::NotFound)));
}

/// Activating through an edit sets the status and clears what only a pending factor
/// carries; the preferred flag changes only where the edit says so; the edit returns the
/// user's factors as they are after it.
pub async fn edit_applies_exactly_its_changes<S: Store + ?Sized>(store: Arc<S>) {
    let alice = user("alice");
    let mut p = pending(&alice, T0);
    p.enrolment = Some(CeremonyId::random().unwrap());
    p.replaces = Some(FactorId::random().unwrap());
    store.insert_factor(&p).await.unwrap();
    let other = pending(&alice, T0);
    store.insert_factor(&other).await.unwrap();
    let after = store.edit_factors(&alice, &|_| Ok(FactorEdit::default().activate(p.id).prefer(p.id, true))).await;
    let after = after.unwrap();
    let mut expected = p.clone();
    expected.status = FactorStatus::Active;
    (expected.expires_at, expected.enrolment, expected.replaces, expected.preferred) = (None, None, None, true);
    assert_eq!(after.iter().find(|f| f.id == p.id), Some(&expected));
    assert_eq!(after.iter().find(|f| f.id == other.id), Some(&other), "untouched");
    let mut stored = store.list_factors(&alice).await.unwrap();
    let mut returned = after;
    stored.sort_by_key(|f| f.id);
    returned.sort_by_key(|f| f.id);
    assert_eq!(stored, returned, "the edit returns what the store holds");
}

/// Deleting through an edit removes the factor with its failure counter, and frees its
/// lookup key.
pub async fn edit_deletes_with_counter_and_lookup_key<S: Store + ?Sized>(store: Arc<S>) {
    let alice = user("alice");
    let mut r = pending(&alice, T0);
    let key = format!("credential-{}", FactorId::random().unwrap());
    r.lookup_key = Some(key.clone());
    store.insert_factor(&r).await.unwrap();
    let scope = ThrottleScope::Factor(r.id);
    store.set_throttle_for_test(&alice, &scope).await;
    let after = store.edit_factors(&alice, &|_| Ok(FactorEdit::default().delete(r.id))).await.unwrap();
    assert!(after.is_empty());
    assert_eq!(store.get_factor(&alice, &r.id).await.unwrap(), None);
    assert_eq!(store.get_throttle(&alice, &scope).await.unwrap(), ThrottleState::default());
    assert_eq!(store.find_factor_by_lookup_key(&key).await.unwrap(), None);
    let mut again = pending(&alice, T0);
    again.lookup_key = Some(key);
    store.insert_factor(&again).await.unwrap();
}

/// Of many concurrent edits that each activate the factor only if it is still pending,
/// exactly one succeeds: no edit reads a state another one is changing.
pub async fn edit_race_activates_once<S: Store + ?Sized>(store: Arc<S>) {
    let alice = user("alice");
    let p = pending(&alice, T0);
    store.insert_factor(&p).await.unwrap();
    let user_ = alice.clone();
    let winners = race(&store, move |s| {
        let user = user_.clone();
        async move {
            let plan = |factors: &[FactorRecord]| match factors.iter().find(|f| f.id == p.id) {
                Some(f) if f.status == FactorStatus::Pending => Ok(FactorEdit::default().activate(p.id)),
                _ => Err(StoreError::NotFound),
            };
            s.edit_factors(&user, &plan).await.is_ok()
        }
    })
    .await;
    assert_eq!(winners, 1);
    assert!(store.get_factor(&alice, &p.id).await.unwrap().unwrap().is_active());
}
