//! The verification hot path: `begin_attempt` (read the factor, count the attempt) and
//! `accept_verification` (take the ceremony, advance the marker, record the use, clear the
//! counter), each one atomic step.

use super::*;
use crate::store::{AcceptOutcome, Acceptance};

fn scope(r: &FactorRecord) -> ThrottleScope {
    ThrottleScope::Factor(r.id)
}

fn totp() -> Vec<FactorKind> {
    vec![FactorKind::TOTP]
}

/// A clear counter is counted with the read; a counter already counting is returned as it
/// is, unchanged; a factor that is pending, or of a kind not named, is read but not counted;
/// another user's id, or an unknown one, is `None` and changes nothing.
pub async fn begin_attempt_reads_the_factor_and_counts_a_clear_counter<S: Store + ?Sized>(store: Arc<S>) {
    let (alice, mallory) = (user("alice"), user("mallory"));
    let r = active(&*store, &alice, T0).await;
    let first = store.begin_attempt(&alice, &r.id, &totp(), T0).await.unwrap().unwrap();
    assert_eq!(first.factor, r);
    assert_eq!((first.throttle, first.counted), (ThrottleState::default(), true));
    let counted = ThrottleState::new(1, Some(T0));
    assert_eq!(store.get_throttle(&alice, &scope(&r)).await.unwrap(), counted);

    let t1 = T0.saturating_add(Duration::from_secs(1));
    let second = store.begin_attempt(&alice, &r.id, &totp(), t1).await.unwrap().unwrap();
    assert_eq!((second.throttle, second.counted), (counted, false), "only a clear counter is counted here");
    assert_eq!(store.get_throttle(&alice, &scope(&r)).await.unwrap(), counted);

    let other = active(&*store, &alice, T0).await;
    let named = store.begin_attempt(&alice, &other.id, &[FactorKind::SMS], T0).await.unwrap().unwrap();
    assert!(!named.counted, "a kind not named is not counted");
    assert!(!store.begin_attempt(&alice, &other.id, &[], T0).await.unwrap().unwrap().counted);
    let p = pending(&alice, T0);
    store.insert_factor(&p).await.unwrap();
    let pending_one = store.begin_attempt(&alice, &p.id, &totp(), T0).await.unwrap().unwrap();
    assert_eq!((pending_one.factor.status, pending_one.counted), (FactorStatus::Pending, false));
    for id in [&other.id, &p.id] {
        assert_eq!(store.get_throttle(&alice, &ThrottleScope::Factor(*id)).await.unwrap(), ThrottleState::default());
    }

    assert_eq!(store.begin_attempt(&mallory, &other.id, &totp(), T0).await.unwrap(), None);
    assert_eq!(store.begin_attempt(&alice, &FactorId::random().unwrap(), &totp(), T0).await.unwrap(), None);
    assert_eq!(store.get_throttle(&mallory, &scope(&other)).await.unwrap(), ThrottleState::default());
    assert_eq!(store.get_throttle(&alice, &scope(&other)).await.unwrap(), ThrottleState::default());
}

/// Of many concurrent first attempts on a clear counter, exactly one is counted.
pub async fn begin_attempt_race_counts_once<S: Store + ?Sized>(store: Arc<S>) {
    let alice = user("alice");
    let r = active(&*store, &alice, T0).await;
    let (u, id) = (alice.clone(), r.id);
    let wins = race(&store, move |s| {
        let u = u.clone();
        async move { s.begin_attempt(&u, &id, &totp(), T0).await.unwrap().unwrap().counted }
    })
    .await;
    assert_eq!(wins, 1);
    assert_eq!(store.get_throttle(&alice, &scope(&r)).await.unwrap(), ThrottleState::new(1, Some(T0)));
}

/// An acceptance takes the ceremony, moves the marker, records the use, the new secret,
/// data and details, and clears the counter; nothing else about the factor changes.
pub async fn accept_applies_everything_at_once<S: Store + ?Sized>(store: Arc<S>) {
    let alice = user("alice");
    let r = active(&*store, &alice, T0).await;
    store.set_throttle_for_test(&alice, &scope(&r)).await;
    let c = ceremony(Some(&alice), T0, Duration::from_secs(300), 5);
    store.put_ceremony(&c).await.unwrap();
    let t1 = T0.saturating_add(Duration::from_secs(30));
    let mut accept = Acceptance::new(t1);
    accept.ceremony = Some((Some(alice.clone()), c.id));
    accept.replay_marker = Some(u64::MAX - 1);
    accept.secret = Some(SealedSecret { key_id: KeyId(4), ciphertext: vec![5, 6, 7] });
    accept.data = Some(vec![1, 1, 2, 3]);
    accept.details = Some(vec![("backup_state".into(), "true".into())]);
    accept.clear_throttle = true;
    assert_eq!(store.accept_verification(&alice, &r.id, &accept).await.unwrap(), AcceptOutcome::Accepted);

    let mut expected = r.clone();
    expected.last_used_at = Some(t1);
    expected.replay_marker = accept.replay_marker;
    expected.secret.clone_from(&accept.secret);
    expected.data = vec![1, 1, 2, 3];
    expected.details = vec![("backup_state".into(), "true".into())];
    assert_eq!(store.get_factor(&alice, &r.id).await.unwrap(), Some(expected.clone()));
    assert_eq!(store.get_ceremony(Some(&alice), &c.id, T0).await.unwrap(), None, "taken");
    assert_eq!(store.get_throttle(&alice, &scope(&r)).await.unwrap(), ThrottleState::default());

    // Only the use: nothing else moves, and the counter is left alone when not asked.
    store.set_throttle_for_test(&alice, &scope(&r)).await;
    let t2 = t1.saturating_add(Duration::from_secs(30));
    assert_eq!(store.accept_verification(&alice, &r.id, &Acceptance::new(t2)).await.unwrap(), AcceptOutcome::Accepted);
    expected.last_used_at = Some(t2);
    assert_eq!(store.get_factor(&alice, &r.id).await.unwrap(), Some(expected));
    assert_eq!(store.get_throttle(&alice, &scope(&r)).await.unwrap(), ThrottleState::new(3, Some(T0)));
}

/// A ceremony that is gone (taken, expired, bound to another user) changes nothing; a
/// marker not ahead, a pending factor or another user's id is refused with only the
/// ceremony taken.
pub async fn accept_refusals_change_nothing_but_the_take<S: Store + ?Sized>(store: Arc<S>) {
    let (alice, mallory) = (user("alice"), user("mallory"));
    let r = active(&*store, &alice, T0).await;
    assert!(store.advance_replay_marker(&alice, &r.id, 10, T0).await.unwrap());
    let r = store.get_factor(&alice, &r.id).await.unwrap().unwrap();
    store.set_throttle_for_test(&alice, &scope(&r)).await;
    let counter = store.get_throttle(&alice, &scope(&r)).await.unwrap();
    let t1 = T0.saturating_add(Duration::from_secs(30));
    let with = |ceremony: Option<&CeremonyRecord>, marker: Option<u64>| {
        let mut a = Acceptance::new(t1);
        a.ceremony = ceremony.map(|c| (c.user.clone(), c.id));
        a.replay_marker = marker;
        a.data = Some(vec![0xEE]);
        a.clear_throttle = true;
        a
    };
    let unchanged = || async {
        assert_eq!(store.get_factor(&alice, &r.id).await.unwrap().as_ref(), Some(&r));
        assert_eq!(store.get_throttle(&alice, &scope(&r)).await.unwrap(), counter);
    };

    // Gone: taken, expired by the time of use, or bound to someone else.
    let taken = ceremony(Some(&alice), T0, Duration::from_secs(300), 5);
    store.put_ceremony(&taken).await.unwrap();
    assert!(store.take_ceremony(Some(&alice), &taken.id, T0).await.unwrap().is_some());
    let expired = ceremony(Some(&alice), T0, Duration::from_secs(10), 5);
    let mallorys = ceremony(Some(&mallory), T0, Duration::from_secs(300), 5);
    for c in [&expired, &mallorys] {
        store.put_ceremony(c).await.unwrap();
    }
    for c in [&taken, &expired] {
        assert_eq!(
            store.accept_verification(&alice, &r.id, &with(Some(c), Some(11))).await.unwrap(),
            AcceptOutcome::CeremonyGone
        );
    }
    let mut foreign = with(Some(&mallorys), Some(11));
    foreign.ceremony = Some((Some(alice.clone()), mallorys.id));
    assert_eq!(store.accept_verification(&alice, &r.id, &foreign).await.unwrap(), AcceptOutcome::CeremonyGone);
    assert!(store.get_ceremony(Some(&mallory), &mallorys.id, T0).await.unwrap().is_some(), "left in place");
    unchanged().await;

    // Refused: the marker is not ahead (the ceremony is used up all the same).
    for marker in [10, 3] {
        let c = ceremony(Some(&alice), T0, Duration::from_secs(300), 5);
        store.put_ceremony(&c).await.unwrap();
        assert_eq!(
            store.accept_verification(&alice, &r.id, &with(Some(&c), Some(marker))).await.unwrap(),
            AcceptOutcome::Refused
        );
        assert_eq!(store.get_ceremony(Some(&alice), &c.id, T0).await.unwrap(), None);
    }
    unchanged().await;

    // Refused: another user's id, an unknown one, a pending factor.
    assert_eq!(store.accept_verification(&mallory, &r.id, &with(None, None)).await.unwrap(), AcceptOutcome::Refused);
    let unknown = FactorId::random().unwrap();
    assert_eq!(store.accept_verification(&alice, &unknown, &with(None, None)).await.unwrap(), AcceptOutcome::Refused);
    let p = pending(&alice, T0);
    store.insert_factor(&p).await.unwrap();
    assert_eq!(store.accept_verification(&alice, &p.id, &with(None, Some(1))).await.unwrap(), AcceptOutcome::Refused);
    assert_eq!(store.get_factor(&alice, &p.id).await.unwrap(), Some(p));
    unchanged().await;
}

/// Of many concurrent acceptances naming one ceremony, exactly one is accepted.
pub async fn accept_race_on_a_ceremony_has_one_winner<S: Store + ?Sized>(store: Arc<S>) {
    let alice = user("alice");
    let r = active(&*store, &alice, T0).await;
    let c = ceremony(Some(&alice), T0, Duration::from_secs(300), 5);
    store.put_ceremony(&c).await.unwrap();
    let (u, id, cid) = (alice.clone(), r.id, c.id);
    let wins = race(&store, move |s| {
        let u = u.clone();
        async move {
            let mut accept = Acceptance::new(T0);
            accept.ceremony = Some((Some(u.clone()), cid));
            accept.clear_throttle = true;
            s.accept_verification(&u, &id, &accept).await.unwrap() == AcceptOutcome::Accepted
        }
    })
    .await;
    assert_eq!(wins, 1);
}

/// Of many concurrent acceptances with one replay marker, exactly one is accepted.
pub async fn accept_race_on_a_marker_has_one_winner<S: Store + ?Sized>(store: Arc<S>) {
    let alice = user("alice");
    let r = active(&*store, &alice, T0).await;
    let (u, id) = (alice.clone(), r.id);
    let wins = race(&store, move |s| {
        let u = u.clone();
        async move {
            let mut accept = Acceptance::new(T0);
            accept.replay_marker = Some(56_666_667);
            s.accept_verification(&u, &id, &accept).await.unwrap() == AcceptOutcome::Accepted
        }
    })
    .await;
    assert_eq!(wins, 1);
    assert_eq!(store.get_factor(&alice, &r.id).await.unwrap().unwrap().replay_marker, Some(56_666_667));
}
