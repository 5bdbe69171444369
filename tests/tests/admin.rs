#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Help-desk operations: every one refused without the host's admin check and recorded with
//! its actor; reset, unlock, status, temporary access codes (single use under 64 racers,
//! bounded guesses, expiry), imports, coverage and erasure (nothing left, in the store or
//! in the service).

mod support;

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use mfa_core::adapter::FactorImport;
use mfa_core::admin::AdminOperation;
use mfa_core::context::{Actor, RequestContext};
use mfa_core::store::{CounterStore, StoreError, ThrottleScope};
use mfa_core::{
    Assurance, EnrolmentRequest, Error, Event, EventKind, EventSink, FactorKind, FactorStatus, Mfa, SecretBytes, UserId,
};
use mfa_store_memory::MemoryStore;
use support::world::{ADMIN, World, code, full_account, settings};
use support::{race, successes};

/// Keeps every event; forgets a user's on request (like an audit table would).
#[derive(Debug, Default)]
struct Audit(Mutex<Vec<Event>>);

#[async_trait]
impl EventSink for Audit {
    async fn record(&self, event: &Event) {
        self.0.lock().unwrap().push(event.clone());
    }

    async fn forget(&self, user: &UserId) -> Result<u64, StoreError> {
        let mut events = self.0.lock().unwrap();
        let before = events.len();
        events.retain(|e| e.user.as_ref() != Some(user));
        Ok((before - events.len()) as u64)
    }
}

impl Audit {
    fn kinds(&self) -> Vec<EventKind> {
        self.0.lock().unwrap().iter().map(|e| e.kind.clone()).collect()
    }

    fn last(&self, pick: impl Fn(&EventKind) -> bool) -> Event {
        self.0.lock().unwrap().iter().rev().find(|e| pick(&e.kind)).cloned().expect("such an event")
    }
}

fn world() -> (World, Arc<Audit>, MemoryStore) {
    let memory = MemoryStore::new();
    let audit = Arc::new(Audit::default());
    let w = World::with(Arc::new(memory.clone()), settings(), Some(audit.clone()));
    (w, audit, memory)
}

fn admin() -> UserId {
    UserId::new(ADMIN).unwrap()
}

fn user(name: &str) -> UserId {
    UserId::new(name).unwrap()
}

#[tokio::test]
async fn every_operation_is_refused_without_the_admin_check_and_audited() {
    let (w, audit, _) = world();
    let acct = full_account(&w, "alice", 1).await;
    let before = w.snapshot(&acct.user, &acct.challenges()).await;
    let mallory = user("mallory");
    // A non-administrator, and a service with no admin check at all.
    let unchecked = Mfa::builder()
        .shared_store(w.store.clone())
        .sealer(mfa_core::AeadSealer::ephemeral().unwrap())
        .events(support::world::SharedSink(audit.clone()))
        .build()
        .unwrap();
    for (mfa, who) in [(&w.mfa, &mallory), (&unchecked, &admin())] {
        let a = mfa.admin(who);
        let alice = &acct.user;
        let import = FactorImport::new(FactorKind::TOTP, SecretBytes::new(vec![7; 20]));
        let results = [
            (AdminOperation::Status, a.status(alice).await.err()),
            (AdminOperation::Reset, a.reset(alice).await.err()),
            (AdminOperation::Unlock, a.unlock(alice, None).await.err()),
            (AdminOperation::IssueTemporaryAccess, a.issue_temporary_access(alice, None).await.err()),
            (AdminOperation::RevokeTemporaryAccess, a.revoke_temporary_access(alice).await.err()),
            (AdminOperation::Import, a.import_factor(alice, import).await.err()),
            (AdminOperation::Coverage, a.coverage(3).await.err()),
            (AdminOperation::Erase, a.erase(alice).await.err()),
        ];
        for (operation, result) in results {
            assert!(matches!(result, Some(Error::Forbidden)), "{operation} by {who:?}: {result:?}");
            let refused = audit.last(|k| matches!(k, EventKind::AdminRefused { operation: o, .. } if *o == operation));
            assert!(matches!(&refused.kind, EventKind::AdminRefused { admin, .. } if admin == who));
        }
    }
    assert_eq!(w.snapshot(&acct.user, &acct.challenges()).await, before, "a refusal changes nothing");
}

#[tokio::test]
async fn a_flood_of_refusals_is_counted_without_an_event_each() {
    let (w, audit, _) = world();
    let mallory = user("mallory");
    for _ in 0..1000 {
        assert!(matches!(w.mfa.admin(&mallory).reset(&user("alice")).await, Err(Error::Forbidden)));
    }
    w.mfa.flush_audit().await;
    let counts: Vec<u64> = audit
        .kinds()
        .iter()
        .filter_map(|k| match k {
            EventKind::AdminRefused { count, .. } => Some(*count),
            _ => None,
        })
        .collect();
    assert_eq!(counts.iter().sum::<u64>(), 1000, "every refusal is counted");
    assert!(counts.len() <= 12, "{} events for 1000 refusals", counts.len());
}

#[tokio::test]
async fn status_shows_factors_locks_codes_devices_and_a_temporary_code() {
    let (w, _, _) = world();
    let acct = full_account(&w, "alice", 1).await;
    let helpdesk = w.mfa.admin(&admin());
    let status = helpdesk.status(&acct.user).await.unwrap();
    assert_eq!(status.factors.len(), 6);
    assert!(status.factors[0].factor.preferred, "the preferred factor comes first");
    assert_eq!(status.factors.iter().filter(|f| f.factor.status == FactorStatus::Pending).count(), 1);
    assert_eq!(status.recovery_codes_remaining, 10);
    assert_eq!(status.remembered_devices, 1);
    assert_eq!(status.temporary_access_expires_at, None);
    assert!(status.factors.iter().all(|f| f.failures == 0 && f.locked_until.is_none() && !f.disabled));

    // Wrong codes until the throttle refuses.
    let mut failures = 0;
    while !matches!(
        w.mfa.verify(&acct.user, &acct.totp, &code(&w.wrong_totp_code(&acct.totp_key))).await,
        Err(Error::Locked { .. })
    ) {
        failures += 1;
        assert!(failures < 20, "the throttle never locked");
    }
    let issued = helpdesk.issue_temporary_access(&acct.user, Some(Duration::from_secs(600))).await.unwrap();
    let status = helpdesk.status(&acct.user).await.unwrap();
    let totp = status.factors.iter().find(|f| f.factor.id == acct.totp).unwrap();
    assert_eq!(totp.failures, failures);
    assert!(totp.locked_until.is_some_and(|t| t > w.now()));
    assert_eq!(status.temporary_access_expires_at, Some(issued.expires_at));
    assert!(!format!("{status:?}").contains(issued.code.expose()), "the status never shows the code");
}

#[tokio::test]
async fn reset_removes_everything_and_no_old_proof_works_afterwards() {
    let (w, audit, _) = world();
    let acct = full_account(&w, "alice", 1).await;
    let bob = full_account(&w, "bob", 2).await;
    let bob_before = w.snapshot(&bob.user, &bob.challenges()).await;
    let ctx = RequestContext::new().ip("198.51.100.7".parse().unwrap()).user_agent("HelpDesk/1.0");
    let removed = w.mfa.with_context(ctx).admin(&admin()).reset(&acct.user).await.unwrap();
    assert_eq!((removed.factors, removed.recovery_codes, removed.devices), (6, 10, 1));
    assert!(removed.ceremonies >= 2, "the open challenges and the pending enrolment's ceremony");

    let event = audit.last(|k| matches!(k, EventKind::MfaReset { .. }));
    assert_eq!(event.actor, Actor::Admin(admin()));
    assert_eq!(event.user.as_ref(), Some(&acct.user));
    assert_eq!(event.ip, Some("198.51.100.7".parse::<IpAddr>().unwrap()));
    assert_eq!(event.user_agent.as_deref(), Some("HelpDesk/1.0"));

    let alice = &acct.user;
    assert!(w.mfa.list_factors(alice).await.unwrap().is_empty());
    let totp = w.mfa.verify(alice, &acct.totp, &code(&w.totp_code(&acct.totp_key))).await;
    assert!(matches!(totp, Err(Error::NotFound)), "{totp:?}");
    let sms = w.mfa.finish_challenge(alice, &acct.sms_challenge, &code(&acct.sms_code)).await;
    assert!(matches!(sms, Err(Error::Expired)), "{sms:?}");
    let recovery = w.mfa.verify_recovery_code(alice, &acct.recovery_codes[0]).await;
    assert!(matches!(recovery, Err(Error::InvalidCode)), "{recovery:?}");
    let device = w.mfa.check_device(alice, &acct.device_token).await;
    assert!(device.is_err(), "the remembered device is gone: {device:?}");
    let pending =
        w.mfa.finish_enrolment(alice, &w.fresh(), &acct.pending, &code(&w.totp_code(&acct.pending_key))).await;
    assert!(matches!(pending, Err(Error::NotFound)), "{pending:?}");
    assert_eq!(w.snapshot(&bob.user, &bob.challenges()).await, bob_before, "bob is untouched");

    // Alice starts over with the password alone, as a user without MFA.
    let password_only = mfa_core::FreshAuth::primary(w.now());
    let fresh_start = w.mfa.start_enrolment(alice, &password_only, EnrolmentRequest::new(FactorKind::TOTP)).await;
    assert!(fresh_start.is_ok(), "{fresh_start:?}");
}

#[tokio::test]
async fn unlock_reopens_a_locked_and_a_hard_stopped_factor() {
    let mut s = settings();
    s.throttle = s.throttle.max_failures(6);
    let audit = Arc::new(Audit::default());
    let w = World::with(Arc::new(MemoryStore::new()), s, Some(audit.clone()));
    let acct = full_account(&w, "alice", 1).await;
    let alice = &acct.user;
    for _ in 0..6 {
        let _ = w.mfa.verify(alice, &acct.totp, &code(&w.wrong_totp_code(&acct.totp_key))).await;
        w.advance(3600);
    }
    let refused = w.mfa.verify(alice, &acct.totp, &code(&w.totp_code(&acct.totp_key))).await;
    assert!(matches!(refused, Err(Error::Disabled)), "{refused:?}");
    let helpdesk = w.mfa.admin(&admin());
    assert!(helpdesk.status(alice).await.unwrap().factors.iter().any(|f| f.factor.id == acct.totp && f.disabled));

    // Another user's factor id is not found, and changes nothing.
    let bob = user("bob");
    let other = helpdesk.unlock(&bob, Some(ThrottleScope::Factor(acct.totp))).await;
    assert!(matches!(other, Err(Error::NotFound)), "{other:?}");

    assert_eq!(helpdesk.unlock(alice, Some(ThrottleScope::Factor(acct.totp))).await.unwrap(), 1);
    let unlocked = audit.last(|k| matches!(k, EventKind::Unlocked { .. }));
    assert_eq!(unlocked.kind, EventKind::Unlocked { scope: ThrottleScope::Factor(acct.totp) });
    assert_eq!(unlocked.actor, Actor::Admin(admin()));
    w.advance(30);
    w.mfa.verify(alice, &acct.totp, &code(&w.totp_code(&acct.totp_key))).await.unwrap();
    assert_eq!(helpdesk.unlock(alice, None).await.unwrap(), 0, "nothing left to unlock");
}

#[tokio::test]
async fn a_temporary_access_code_signs_in_once_and_is_recorded() {
    let (w, audit, _) = world();
    let alice = user("alice");
    let helpdesk = w.mfa.admin(&admin());
    let issued = helpdesk.issue_temporary_access(&alice, None).await.unwrap();
    assert_eq!(issued.assurance, Assurance::RecoveryCode);
    assert_eq!(issued.expires_at, w.now().saturating_add(Duration::from_secs(3600)));
    assert!(!format!("{issued:?}").contains(issued.code.expose()));
    let issued_event = audit.last(|k| matches!(k, EventKind::TemporaryAccessIssued { .. }));
    assert_eq!(issued_event.actor, Actor::Admin(admin()));
    assert!(!format!("{:?}", audit.kinds()).contains(issued.code.expose()), "no event holds the code");

    // Typed in lower case with spaces, it still works, once.
    let typed = issued.code.expose().to_lowercase().replace('-', " ");
    let verified = w.mfa.verify_temporary_access(&alice, &typed).await.unwrap();
    assert_eq!((verified.assurance, verified.factor), (Assurance::RecoveryCode, None));
    let used = audit.last(|k| matches!(k, EventKind::VerificationSucceeded { .. }));
    assert_eq!(used.actor, Actor::User);
    assert!(matches!(used.kind, EventKind::VerificationSucceeded { ref method, .. } if method == "temporary_access"));
    assert!(audit.kinds().contains(&EventKind::TemporaryAccessUsed));
    let again = w.mfa.verify_temporary_access(&alice, issued.code.expose()).await;
    assert!(matches!(again, Err(Error::InvalidCode)), "{again:?}");

    // Another user cannot use it; a malformed code is refused before anything is counted.
    let issued = helpdesk.issue_temporary_access(&alice, None).await.unwrap();
    let bob = w.mfa.verify_temporary_access(&user("bob"), issued.code.expose()).await;
    assert!(matches!(bob, Err(Error::InvalidCode)), "{bob:?}");
    let counted = w.store.get_throttle(&alice, &ThrottleScope::TemporaryAccess).await.unwrap();
    assert_eq!(counted.failures, 1, "the second use of the spent code");
    let malformed = w.mfa.verify_temporary_access(&alice, "not-a-code").await;
    assert!(matches!(malformed, Err(Error::InvalidInput { .. })), "{malformed:?}");
    assert_eq!(w.store.get_throttle(&alice, &ThrottleScope::TemporaryAccess).await.unwrap(), counted);
    w.mfa.verify_temporary_access(&alice, issued.code.expose()).await.unwrap();
}

#[tokio::test]
async fn a_new_code_replaces_the_old_and_revoking_or_expiry_ends_it() {
    let (w, audit, _) = world();
    let alice = user("alice");
    let helpdesk = w.mfa.admin(&admin());
    let first = helpdesk.issue_temporary_access(&alice, None).await.unwrap();
    let second = helpdesk.issue_temporary_access(&alice, None).await.unwrap();
    assert!(matches!(w.mfa.verify_temporary_access(&alice, first.code.expose()).await, Err(Error::InvalidCode)));
    assert!(helpdesk.revoke_temporary_access(&alice).await.unwrap());
    assert!(audit.kinds().contains(&EventKind::TemporaryAccessRevoked));
    assert!(!helpdesk.revoke_temporary_access(&alice).await.unwrap());
    assert!(matches!(w.mfa.verify_temporary_access(&alice, second.code.expose()).await, Err(Error::InvalidCode)));

    let short = helpdesk.issue_temporary_access(&alice, Some(Duration::from_secs(60))).await.unwrap();
    w.advance(61);
    assert!(matches!(w.mfa.verify_temporary_access(&alice, short.code.expose()).await, Err(Error::InvalidCode)));
    for bad in [Duration::ZERO, Duration::from_secs(8 * 24 * 3600)] {
        let refused = helpdesk.issue_temporary_access(&alice, Some(bad)).await;
        assert!(matches!(refused, Err(Error::InvalidInput { field: "lifetime", .. })), "{refused:?}");
    }
}

#[tokio::test]
async fn wrong_guesses_spend_a_temporary_code() {
    let (w, _, _) = world();
    let alice = user("alice");
    let issued = w.mfa.admin(&admin()).issue_temporary_access(&alice, None).await.unwrap();
    let wrong = "AAAA-AAAA-AAAA-AAAA-AAAA";
    for _ in 0..5 {
        let r = w.mfa.verify_temporary_access(&alice, wrong).await;
        assert!(matches!(r, Err(Error::InvalidCode) | Err(Error::Locked { .. })), "{r:?}");
        w.advance(3600);
    }
    // Five tries are all a code allows: the right one no longer works.
    let late = w.mfa.verify_temporary_access(&alice, issued.code.expose()).await;
    assert!(matches!(late, Err(Error::InvalidCode)), "{late:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_64_racers_with_the_right_code_exactly_one_signs_in() {
    let (w, _, _) = world();
    let alice = user("alice");
    let issued = w.mfa.admin(&admin()).issue_temporary_access(&alice, None).await.unwrap();
    let code = issued.code.expose().to_owned();
    let results = race(64, std::slice::from_ref(&w.mfa), |mfa| {
        let (alice, code) = (alice.clone(), code.clone());
        async move { mfa.verify_temporary_access(&alice, &code).await }
    })
    .await;
    assert_eq!(successes(&results, |e| matches!(e, Error::InvalidCode | Error::Locked { .. })), 1);
}

#[tokio::test]
async fn an_imported_authenticator_works_at_once_and_refuses_its_last_code() {
    let (w, audit, _) = world();
    let alice = user("alice");
    let secret = b"12345678901234567890".to_vec();
    let step = w.now().unix_secs() as u64 / 30;
    let import = FactorImport::new(FactorKind::TOTP, SecretBytes::new(secret.clone()))
        .parameter("digits", "6")
        .parameter("period", "30")
        .parameter("algorithm", "SHA1")
        .last_used_step(step)
        .label("Old phone");
    let factor = w.mfa.system().import_factor(&alice, import).await.unwrap();
    assert_eq!((factor.status, factor.preferred, factor.label.as_str()), (FactorStatus::Active, true, "Old phone"));
    let added = audit.last(|k| matches!(k, EventKind::FactorAdded { .. }));
    assert_eq!(added.actor, Actor::System);
    let record = w.store.get_factor(&alice, &factor.id).await.unwrap().unwrap();
    assert!(record.secret.as_ref().is_some_and(|s| !s.ciphertext.windows(20).any(|win| win == secret)), "sealed");

    // The code of the step the old system last accepted is a replay; the next one works.
    let now_code = w.totp_code(&secret);
    let replay = w.mfa.verify(&alice, &factor.id, &code(&now_code)).await;
    assert!(matches!(replay, Err(Error::Replayed)), "{replay:?}");
    w.advance(30);
    w.mfa.verify(&alice, &factor.id, &code(&w.totp_code(&secret))).await.unwrap();

    // Bad imports change nothing.
    let helpdesk = w.mfa.admin(&admin());
    let bad = [
        FactorImport::new(FactorKind::TOTP, SecretBytes::new(vec![1; 10])),
        FactorImport::new(FactorKind::TOTP, SecretBytes::new(vec![1; 20])).parameter("digits", "7"),
        FactorImport::new(FactorKind::TOTP, SecretBytes::new(vec![1; 20])).parameter("period", "0"),
        FactorImport::new(FactorKind::TOTP, SecretBytes::new(vec![1; 20])).parameter("algorithm", "MD5"),
        FactorImport::new(FactorKind::TOTP, SecretBytes::new(vec![1; 20])).parameter("colour", "blue"),
        FactorImport::new(FactorKind::TOTP, SecretBytes::new(vec![1; 20])).label(""),
    ];
    for import in bad {
        let r = helpdesk.import_factor(&alice, import).await;
        assert!(matches!(r, Err(Error::InvalidInput { .. })), "{r:?}");
    }
    let sms = helpdesk.import_factor(&alice, FactorImport::new(FactorKind::SMS, SecretBytes::new(vec![1; 20]))).await;
    assert!(matches!(sms, Err(Error::Unsupported)), "{sms:?}");
    assert_eq!(w.mfa.list_factors(&alice).await.unwrap().len(), 1);
}

#[tokio::test]
async fn coverage_through_the_admin_api() {
    let (w, _, _) = world();
    full_account(&w, "alice", 1).await;
    w.enrol_totp(&user("bob")).await;
    let coverage = w.mfa.admin(&admin()).coverage(3).await.unwrap();
    assert_eq!(coverage.users_with_factor, 2);
    assert_eq!(coverage.users_with_kind("totp"), 2);
    assert_eq!(coverage.users_with_kind("passkey"), 1);
    assert_eq!(coverage.users_with_few_codes, 1, "bob has no recovery codes");
}

#[tokio::test]
async fn erasure_leaves_nothing_of_the_user_anywhere() {
    let (w, audit, memory) = world();
    let acct = full_account(&w, "alice", 1).await;
    let alice = &acct.user;
    // Failures, a temporary code, and sends of every kind leave counters behind.
    let _ = w.mfa.verify(alice, &acct.totp, &code(&w.wrong_totp_code(&acct.totp_key))).await;
    let _ = w.mfa.verify_recovery_code(alice, "AAAA-AAAA-AAAA-AAAA-AAAA").await;
    w.mfa.admin(&admin()).issue_temporary_access(alice, None).await.unwrap();
    assert!(memory.record_counts().counters > 0);
    assert!(audit.0.lock().unwrap().iter().any(|e| e.user.as_ref() == Some(alice)));

    let removed = w.mfa.admin(&admin()).erase(alice).await.unwrap();
    assert!(removed.counters > 0 && removed.factors == 6, "{removed:?}");
    let left = memory.record_counts();
    assert_eq!(left.total(), 0, "the store still holds {left:?}");
    assert!(audit.0.lock().unwrap().iter().all(|e| e.user.as_ref() != Some(alice)), "the sink forgot alice");
    let erased = audit.last(|k| matches!(k, EventKind::UserErased { .. }));
    assert_eq!(erased.user, None);
    assert!(!format!("{erased:?}").contains("alice"), "the erasure event names no one: {erased:?}");
    assert!(w.mfa.admin(&admin()).status(alice).await.unwrap().factors.is_empty());
}

#[tokio::test]
async fn events_carry_the_request_context() {
    let (w, audit, _) = world();
    let alice = user("alice");
    let ctx = RequestContext::new().ip("2001:db8::1".parse().unwrap()).user_agent("Firefox/140");
    let (id, key, _) = w.start_totp(&alice).await;
    let mfa = w.mfa.with_context(ctx);
    mfa.finish_enrolment(&alice, &w.fresh(), &id, &code(&w.totp_code(&key))).await.unwrap();
    let added = audit.last(|k| matches!(k, EventKind::FactorAdded { .. }));
    assert_eq!(added.actor, Actor::User);
    assert_eq!(added.ip, Some("2001:db8::1".parse::<IpAddr>().unwrap()));
    assert_eq!(added.user_agent.as_deref(), Some("Firefox/140"));
    let started = audit.last(|k| matches!(k, EventKind::EnrolmentStarted { .. }));
    assert_eq!((started.ip, started.user_agent), (None, None), "the plain handle carries no context");
}
