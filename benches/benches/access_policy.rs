//! Access-policy evaluation (`AccessPolicy::evaluate`, pure: no I/O) for a typical policy —
//! an organisation requiring MFA of at least SMS strength, a verification counting for
//! 12 hours, merged with the default — and a user with an authenticator app (preferred), a
//! phone and an email address, all enrolled through the service:
//!
//! - `verified`: the session holds the app verification of 5 minutes ago, so the policy is
//!   satisfied by it;
//! - `to_verify`: the session holds nothing yet, so the answer is "verify one of" the app
//!   and the phone (email is too weak), best first.
//!
//! The raw side is a hand-written check of the same conditions on plain values (user ids
//! and kinds as strings, times as Unix seconds, assurances as the enum): for `verified`,
//! same user, kind not denied, assurance at least the minimum, age within the maximum; for
//! `to_verify`, the active factors of an allowed kind and enough assurance, sorted
//! preferred first, then by assurance, then most recently used, returning their ids. It
//! builds no reasons and clones no summaries: what ours adds is the answer a host shows or
//! logs (a `Decision` with its candidates and reasons).

// Bench setup code: a failure to set up is a broken bench, reported by panicking.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::Criterion;
use mfa_benches::{Comparison, LastCodeSender, Steps, enrol_by_code, enrol_totp, print_summary, record};
use mfa_core::access::{AccessPolicy, Evidence, Outcome, Requirement, Verified};
use mfa_core::{
    Assurance, FactorId, FactorKind, FactorStatus, FactorSummary, ManualClock, Mfa, Proof, Timestamp, UserId,
    store::Store,
};
use mfa_otp::{EmailFactor, OobKey, SmsFactor, TotpFactor};
use mfa_store_memory::MemoryStore;

const GROUP: &str = "access_policy";
const MAX_AGE: Duration = Duration::from_secs(12 * 3600);

struct World {
    policy: AccessPolicy,
    user: UserId,
    factors: Vec<FactorSummary>,
    verified: Verified,
    now: Timestamp,
    plain: PlainWorld,
}

/// The same policy, user, factors and verification as plain values.
struct PlainWorld {
    required: bool,
    denied: Vec<String>,
    min: Assurance,
    max_age: u64,
    user: String,
    factors: Vec<PlainFactor>,
    verification: PlainVerification,
    now: u64,
}

struct PlainFactor {
    id: FactorId,
    kind: String,
    active: bool,
    assurance: Assurance,
    preferred: bool,
    last_used: u64,
}

struct PlainVerification {
    user: String,
    kind: String,
    assurance: Assurance,
    at: u64,
}

fn secs(t: Timestamp) -> u64 {
    u64::try_from(t.unix_secs()).unwrap()
}

fn world(rt: &tokio::runtime::Runtime) -> World {
    let clock = ManualClock::new(mfa_benches::START);
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let totp = TotpFactor::new("Bench").unwrap();
    let sender = LastCodeSender::new();
    let key = OobKey::new(&[5; 32]).unwrap();
    let mfa = Mfa::builder()
        .shared_store(store)
        .shared_sealer(mfa_benches::sealer())
        .clock(clock.clone())
        .factor(totp.clone())
        .factor(SmsFactor::builder(sender.clone(), key.clone()).build().unwrap())
        .factor(EmailFactor::builder(sender.clone(), key).build().unwrap())
        .build()
        .unwrap();
    let user = UserId::new("alice").unwrap();
    let (factors, verified) = rt.block_on(async {
        let app = enrol_totp(&mfa, &totp, &clock, &user).await.unwrap();
        enrol_by_code(&mfa, &sender, &clock, &user, FactorKind::SMS, "+14155552671").await.unwrap();
        enrol_by_code(&mfa, &sender, &clock, &user, FactorKind::EMAIL, "alice@example.com").await.unwrap();
        let case = Steps::after(&clock).valid(&totp, &app.key, 1).unwrap().remove(0);
        clock.set(case.at);
        let verified = mfa.verify(&user, &app.factor, &Proof::code(&case.code).unwrap()).await.unwrap();
        (mfa.list_factors(&user).await.unwrap(), verified)
    });
    let org = AccessPolicy::new(Requirement::Required)
        .min_assurance(Assurance::RestrictedOutOfBand)
        .max_verification_age(MAX_AGE);
    let policy = AccessPolicy::strictest([&AccessPolicy::default(), &org]);
    let now = verified.at.saturating_add(Duration::from_secs(300));
    let plain = PlainWorld {
        required: policy.requirement == Requirement::Required,
        denied: policy.denied_kinds.iter().map(|k| k.as_str().to_owned()).collect(),
        min: policy.min_assurance.unwrap(),
        max_age: MAX_AGE.as_secs(),
        user: user.as_str().to_owned(),
        factors: factors
            .iter()
            .map(|f| PlainFactor {
                id: f.id,
                kind: f.kind.as_str().to_owned(),
                active: f.status == FactorStatus::Active,
                assurance: f.assurance,
                preferred: f.preferred,
                last_used: f.last_used_at.map_or(0, secs),
            })
            .collect(),
        verification: PlainVerification {
            user: verified.user.as_str().to_owned(),
            kind: verified.kind.as_ref().unwrap().as_str().to_owned(),
            assurance: verified.assurance,
            at: secs(verified.at),
        },
        now: secs(now),
    };
    World { policy, user, factors, verified, now, plain }
}

impl PlainWorld {
    fn counts(&self, kind: &str, assurance: Assurance) -> bool {
        !self.denied.iter().any(|d| d == kind) && assurance >= self.min
    }

    /// Does the session's verification satisfy the policy?
    fn verified(&self, v: &PlainVerification) -> bool {
        v.user == self.user && self.counts(&v.kind, v.assurance) && v.at <= self.now && self.now - v.at <= self.max_age
    }

    /// The factors that would satisfy the policy, best first (`None`: the user must enrol).
    fn to_verify(&self) -> Option<Vec<FactorId>> {
        let mut candidates: Vec<&PlainFactor> =
            self.factors.iter().filter(|f| f.active && self.counts(&f.kind, f.assurance)).collect();
        candidates.sort_by(|a, b| {
            b.preferred.cmp(&a.preferred).then(b.assurance.cmp(&a.assurance)).then(b.last_used.cmp(&a.last_used))
        });
        (!candidates.is_empty() || !self.required).then(|| candidates.iter().map(|f| f.id).collect())
    }
}

fn bench(c: &mut Criterion, w: &World) {
    let mut group = c.benchmark_group(GROUP);
    group.warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3)).sample_size(30);
    let session = Evidence::verified([w.verified.clone()]);
    let nothing = Evidence::default();
    let expected_candidates = w.plain.to_verify().unwrap();
    assert_eq!(expected_candidates.len(), 2, "the app and the phone");

    group.bench_function("verified/ours", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                let decision = w.policy.evaluate(&w.user, &w.factors, black_box(&session), None, w.now);
                assert!(black_box(decision).is_satisfied());
            }
            let elapsed = start.elapsed();
            record(&format!("{GROUP}/verified/ours"), iters, elapsed);
            elapsed
        });
    });

    group.bench_function("verified/raw", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                assert!(black_box(&w.plain).verified(black_box(&w.plain.verification)));
            }
            let elapsed = start.elapsed();
            record(&format!("{GROUP}/verified/raw"), iters, elapsed);
            elapsed
        });
    });

    group.bench_function("to_verify/ours", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                let decision = w.policy.evaluate(&w.user, black_box(&w.factors), &nothing, None, w.now);
                assert!(decision.outcome == Outcome::VerificationRequired && decision.candidates.len() == 2);
                black_box(decision);
            }
            let elapsed = start.elapsed();
            record(&format!("{GROUP}/to_verify/ours"), iters, elapsed);
            elapsed
        });
    });

    group.bench_function("to_verify/raw", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                let candidates = black_box(&w.plain).to_verify();
                assert_eq!(black_box(candidates).map(|c| c.len()), Some(2));
            }
            let elapsed = start.elapsed();
            record(&format!("{GROUP}/to_verify/raw"), iters, elapsed);
            elapsed
        });
    });
    group.finish();
}

fn main() {
    let rt = mfa_benches::current_thread().unwrap();
    let w = world(&rt);
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c, &w);
    c.final_summary();
    print_summary(
        "AccessPolicy::evaluate, typical policy (reported; ours is also the absolute cost)",
        &[
            Comparison::new(
                "session verified 5 min ago: satisfied",
                format!("{GROUP}/verified/ours"),
                format!("{GROUP}/verified/raw"),
                None,
            ),
            Comparison::new(
                "nothing proven yet: verify one of 2",
                format!("{GROUP}/to_verify/ours"),
                format!("{GROUP}/to_verify/raw"),
                None,
            ),
        ],
    );
}
