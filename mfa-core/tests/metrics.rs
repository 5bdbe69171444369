//! The counters of `MetricsSink` and the store metrics of `MeteredStore` move for real
//! service calls, and no label names a user, a factor or anything secret. Each test records
//! into its own `DebuggingRecorder`, installed for the test's thread only.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers panic on purpose

use std::collections::BTreeMap;
use std::sync::Arc;

use metrics::LocalRecorderGuard;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use mfa_core::admin::Administrators;
use mfa_core::metrics::{MeteredStore, MetricsSink};
use mfa_core::store::prelude::*;
use mfa_core::store::{FactorRecord, StoreError};
use mfa_core::testing::{FAKE, FakeFactor, FaultyStore, RecordingEventSink};
use mfa_core::{
    AeadSealer, Assurance, EnrolmentRequest, Error, FactorId, FreshAuth, ManualClock, Mfa, Prompt, Proof, Settings,
    Timestamp, UserId, recovery::RecoveryCodeSettings,
};
use mfa_otp::{MemorySender, OobKey, SmsFactor};
use mfa_store_memory::MemoryStore;

/// A recorder for the current thread (the tests run on a current-thread runtime, so every
/// await of the test stays on it).
struct Recorded {
    snapshotter: Snapshotter,
    _guard: LocalRecorderGuard<'static>,
}

impl Recorded {
    fn install() -> Self {
        let recorder: &'static DebuggingRecorder = Box::leak(Box::new(DebuggingRecorder::new()));
        Self { snapshotter: recorder.snapshotter(), _guard: metrics::set_default_local_recorder(recorder) }
    }

    /// Counter values and histogram sample counts since the last read, keyed by
    /// `name{label=value,...}` with the labels in order.
    fn read(&self) -> BTreeMap<String, u64> {
        let mut read = BTreeMap::new();
        for (key, _, _, value) in self.snapshotter.snapshot().into_vec() {
            let key = key.key();
            let mut labels: Vec<String> = key.labels().map(|l| format!("{}={}", l.key(), l.value())).collect();
            labels.sort();
            let n = match value {
                DebugValue::Counter(n) => n,
                DebugValue::Histogram(samples) => samples.len() as u64,
                DebugValue::Gauge(_) => continue,
            };
            *read.entry(format!("{}{{{}}}", key.name(), labels.join(","))).or_default() += n;
        }
        read
    }
}

fn get(read: &BTreeMap<String, u64>, key: &str) -> u64 {
    read.get(key).copied().unwrap_or(0)
}

fn user(name: &str) -> UserId {
    UserId::new(name).unwrap()
}

fn settings() -> Settings {
    let mut settings = Settings::default();
    settings.recovery_codes = RecoveryCodeSettings::fast_insecure_for_tests();
    settings
}

fn service(store: impl Store, settings: Settings, sms: Option<MemorySender>) -> Mfa {
    let mut builder = Mfa::builder()
        .store(store)
        .clock(ManualClock::new(Timestamp::from_unix_secs(1_700_000_000)))
        .sealer(AeadSealer::ephemeral().unwrap())
        .events(MetricsSink::new(RecordingEventSink::new()))
        .settings(settings)
        .factor(FakeFactor::new());
    if let Some(outbox) = sms {
        builder = builder.factor(SmsFactor::builder(outbox, OobKey::ephemeral().unwrap()).build().unwrap());
    }
    builder.build().unwrap()
}

fn fresh(mfa: &Mfa) -> FreshAuth {
    FreshAuth::primary(mfa.now()).with_mfa(mfa.now())
}

/// Enrols a fake factor, with one wrong code first; returns it and its secret prompt.
async fn enrol(mfa: &Mfa, who: &UserId) -> (FactorId, mfa_core::SharedSecretPrompt) {
    let start = mfa.start_enrolment(who, &fresh(mfa), EnrolmentRequest::new(FAKE)).await.unwrap();
    let Prompt::SharedSecret(secret) = start.prompt else { panic!("a shared secret") };
    let wrong = mfa.finish_enrolment(who, &fresh(mfa), &start.factor.id, &Proof::code("wrong").unwrap()).await;
    assert!(matches!(wrong, Err(Error::InvalidCode)));
    let right = Proof::code(&FakeFactor::code_for(&secret, None)).unwrap();
    mfa.finish_enrolment(who, &fresh(mfa), &start.factor.id, &right).await.unwrap();
    (start.factor.id, secret)
}

#[tokio::test]
async fn verifications_are_counted_by_method_and_outcome() {
    let recorded = Recorded::install();
    let mfa = service(MemoryStore::new(), settings(), None);
    let alice = user("alice");
    let (factor, secret) = enrol(&mfa, &alice).await;
    let read = recorded.read();
    assert_eq!(get(&read, "mfa_verifications_total{method=fake,outcome=invalid_code}"), 1);
    assert_eq!(get(&read, "mfa_events_total{event=enrolment_started}"), 1);
    assert_eq!(get(&read, "mfa_events_total{event=factor_added}"), 1);

    let proof = Proof::code(&FakeFactor::code_for(&secret, Some(7))).unwrap();
    mfa.verify(&alice, &factor, &proof).await.unwrap();
    assert!(matches!(mfa.verify(&alice, &factor, &proof).await, Err(Error::Replayed)));
    let read = recorded.read();
    assert_eq!(get(&read, "mfa_verifications_total{method=fake,outcome=success}"), 1);
    assert_eq!(get(&read, "mfa_verifications_total{method=fake,outcome=replayed}"), 1);
    assert_eq!(get(&read, "mfa_events_total{event=replay_rejected}"), 1);
}

#[tokio::test]
async fn lockouts_and_refused_attempts_are_counted_with_their_method_and_scope() {
    let recorded = Recorded::install();
    let mfa = service(MemoryStore::new(), settings(), None);
    let alice = user("alice");
    let (factor, _) = enrol(&mfa, &alice).await;
    let wrong = Proof::code("wrong").unwrap();
    // The fifth consecutive failure locks the factor; then three attempts are refused
    // unevaluated.
    for _ in 0..5 {
        assert!(matches!(mfa.verify(&alice, &factor, &wrong).await, Err(Error::InvalidCode)));
    }
    for _ in 0..3 {
        assert!(matches!(mfa.verify(&alice, &factor, &wrong).await, Err(Error::Locked { .. })));
    }
    mfa.flush_audit().await;
    let read = recorded.read();
    assert_eq!(get(&read, "mfa_verifications_total{method=fake,outcome=invalid_code}"), 6, "with the enrolment's");
    assert_eq!(get(&read, "mfa_lockouts_total{method=fake}"), 1);
    assert_eq!(
        get(&read, "mfa_attempts_refused_total{reason=locked,scope=factor}"),
        3,
        "the aggregated counts, summed"
    );
}

#[tokio::test]
async fn recovery_codes_are_counted_as_a_method_of_their_own() {
    let recorded = Recorded::install();
    let mfa = service(MemoryStore::new(), settings(), None);
    let alice = user("alice");
    enrol(&mfa, &alice).await;
    let set = mfa.generate_recovery_codes(&alice, &fresh(&mfa)).await.unwrap();
    mfa.verify_recovery_code(&alice, set.codes()[0].expose()).await.unwrap();
    assert!(matches!(mfa.verify_recovery_code(&alice, "AAAA-BBBB-CCCC-DDDD-EEEE").await, Err(Error::InvalidCode)));
    let read = recorded.read();
    assert_eq!(get(&read, "mfa_verifications_total{method=recovery_code,outcome=success}"), 1);
    assert_eq!(get(&read, "mfa_verifications_total{method=recovery_code,outcome=invalid_code}"), 1);
    assert_eq!(get(&read, "mfa_events_total{event=recovery_code_used}"), 1);
}

#[tokio::test]
async fn refusals_by_state_limits_and_delivery_caps_are_counted_by_which_refused() {
    let recorded = Recorded::install();
    let mut settings = settings();
    settings.limits.pending_enrolments = 1;
    let outbox = MemorySender::new();
    let mfa = service(MemoryStore::new(), settings, Some(outbox));
    let alice = user("alice");
    let sms = EnrolmentRequest::new(mfa_core::FactorKind::SMS).destination("+14155552671");
    let pending = mfa.start_enrolment(&alice, &fresh(&mfa), sms).await.unwrap();
    let again = mfa.start_enrolment(&alice, &fresh(&mfa), EnrolmentRequest::new(FAKE)).await;
    assert!(matches!(again, Err(Error::LimitReached { .. })), "{again:?}");
    let resent = mfa.resend_enrolment(&alice, &pending.factor.id).await;
    assert!(matches!(resent, Err(Error::RateLimited { .. })), "{resent:?}");
    mfa.flush_audit().await;
    let read = recorded.read();
    assert_eq!(get(&read, "mfa_limit_reached_total{limit=pending_enrolments}"), 1);
    assert_eq!(get(&read, "mfa_delivery_limited_total{cap=factor}"), 1);
}

#[tokio::test]
async fn administrative_operations_are_counted_done_or_refused() {
    let recorded = Recorded::install();
    let mfa = Mfa::builder()
        .store(MemoryStore::new())
        .sealer(AeadSealer::ephemeral().unwrap())
        .events(MetricsSink::new(RecordingEventSink::new()))
        .settings(settings())
        .factor(FakeFactor::new())
        .admin_check(Administrators::new([user("root")]))
        .build()
        .unwrap();
    let alice = user("alice");
    enrol(&mfa, &alice).await;
    assert!(matches!(mfa.admin(&user("mallory")).reset(&alice).await, Err(Error::Forbidden)));
    mfa.admin(&user("root")).reset(&alice).await.unwrap();
    mfa.flush_audit().await;
    let read = recorded.read();
    assert_eq!(get(&read, "mfa_admin_operations_total{operation=reset,outcome=refused}"), 1);
    assert_eq!(get(&read, "mfa_admin_operations_total{operation=reset,outcome=done}"), 1);
    assert_eq!(get(&read, "mfa_events_total{event=mfa_reset}"), 1);
}

#[tokio::test]
async fn store_calls_are_timed_and_counted_by_method_and_outcome() {
    let recorded = Recorded::install();
    let store = MeteredStore::new(FaultyStore::new(MemoryStore::new()));
    let alice = user("alice");
    let now = Timestamp::from_unix_secs(1_700_000_000);
    let id = FactorId::random().unwrap();
    let expires = Timestamp::from_unix_secs(1_700_000_600);
    let record =
        FactorRecord::pending(id, alice.clone(), FAKE, "Fake".into(), Assurance::ReplayResistantOtp, now, expires);
    store.insert_factor(&record).await.unwrap();
    assert!(matches!(store.insert_factor(&record).await, Err(StoreError::AlreadyExists)));
    let missing = FactorId::random().unwrap();
    assert!(matches!(store.delete_factor(&alice, &missing).await, Err(StoreError::NotFound)));
    store.inner().fail_call(1);
    assert!(matches!(store.list_factors(&alice).await, Err(StoreError::Backend(_))));
    assert_eq!(store.list_factors(&alice).await.unwrap().len(), 1);
    let read = recorded.read();
    assert_eq!(get(&read, "mfa_store_operations_total{op=insert_factor,outcome=ok}"), 1);
    assert_eq!(get(&read, "mfa_store_operations_total{op=insert_factor,outcome=already_exists}"), 1);
    assert_eq!(get(&read, "mfa_store_operations_total{op=delete_factor,outcome=not_found}"), 1);
    assert_eq!(get(&read, "mfa_store_operations_total{op=list_factors,outcome=backend}"), 1);
    assert_eq!(get(&read, "mfa_store_operations_total{op=list_factors,outcome=ok}"), 1);
    assert_eq!(get(&read, "mfa_store_operation_duration_seconds{op=list_factors}"), 2, "failures are timed too");
    assert_eq!(get(&read, "mfa_store_operation_duration_seconds{op=insert_factor}"), 2);
}

#[tokio::test]
async fn a_service_on_a_metered_store_records_every_store_call_it_makes() {
    let recorded = Recorded::install();
    let store = Arc::new(MemoryStore::new());
    let mfa = service(MeteredStore::new(store), settings(), None);
    let alice = user("alice");
    let (factor, secret) = enrol(&mfa, &alice).await;
    assert_eq!(mfa.list_factors(&alice).await.unwrap().len(), 1);
    mfa.verify(&alice, &factor, &Proof::code(&FakeFactor::code_for(&secret, Some(1))).unwrap()).await.unwrap();
    let read = recorded.read();
    assert!(get(&read, "mfa_store_operations_total{op=list_factors,outcome=ok}") >= 1);
    assert!(get(&read, "mfa_store_operations_total{op=begin_attempt,outcome=ok}") >= 1, "{read:#?}");
    let calls: u64 = read.iter().filter(|(k, _)| k.starts_with("mfa_store_operations_total{")).map(|(_, n)| n).sum();
    let timed: u64 =
        read.iter().filter(|(k, _)| k.starts_with("mfa_store_operation_duration_seconds{")).map(|(_, n)| n).sum();
    assert_eq!(calls, timed, "every call is counted and timed");
}

#[tokio::test]
async fn no_label_names_a_user_a_factor_or_a_secret() {
    let recorded = Recorded::install();
    let mfa = service(MeteredStore::new(MemoryStore::new()), settings(), None);
    let alice = user("alice-label-check");
    let (factor, secret) = enrol(&mfa, &alice).await;
    let proof = Proof::code(&FakeFactor::code_for(&secret, Some(3))).unwrap();
    mfa.verify(&alice, &factor, &proof).await.unwrap();
    for _ in 0..6 {
        let _ = mfa.verify(&alice, &factor, &Proof::code("wrong").unwrap()).await;
    }
    mfa.flush_audit().await;
    let keys: Vec<String> = recorded.read().into_keys().collect();
    assert!(keys.len() >= 10, "{keys:#?}");
    let text = keys.join("\n");
    for needle in [alice.as_str(), &factor.to_string(), secret.secret_base32.expose()] {
        assert!(!text.contains(needle), "{needle} in a label:\n{text}");
    }
}
