//! TOTP verification through `Mfa` and the memory store, valid and invalid codes, beside
//! totp-rs 6 `check` of the same codes at the same times with the same ±1 window.

// Bench setup code: a failure to set up is a broken bench, reported by panicking.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::cell::RefCell;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion};
use mfa_benches::{Comparison, Steps, TotpUser, enrol_totp, print_summary, record, without_lockout};
use mfa_core::store::{AcceptOutcome, Acceptance};
use mfa_core::{
    Clock, Error, FactorKind, ManualClock, Mfa, Proof, Settings, UserId, seal::SealContext, seal::SecretSealer,
    store::Store,
};
use mfa_otp::TotpFactor;
use mfa_store_memory::MemoryStore;

const GROUP: &str = "totp_verify";

struct World {
    clock: ManualClock,
    totp: TotpFactor,
    /// The default settings.
    mfa: Mfa,
    /// The same service without lockout, for wrong codes.
    lenient: Mfa,
    valid: TotpUser,
    invalid: TotpUser,
    /// A third user, for the breakdown.
    parts: TotpUser,
    store: Arc<dyn Store>,
    sealer: Arc<dyn SecretSealer>,
    raw: totp_rs::Totp,
}

fn world(rt: &tokio::runtime::Runtime) -> World {
    let clock = ManualClock::new(mfa_benches::START);
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let totp = TotpFactor::new("Bench").unwrap();
    let sealer = mfa_benches::sealer();
    let build = |settings: Settings| {
        Mfa::builder()
            .shared_store(store.clone())
            .shared_sealer(sealer.clone())
            .clock(clock.clone())
            .settings(settings)
            .factor(totp.clone())
            .build()
            .unwrap()
    };
    let mfa = build(Settings::default());
    let lenient = build(without_lockout(Settings::default()));
    let (valid, invalid, parts) = rt.block_on(async {
        let valid = enrol_totp(&mfa, &totp, &clock, &UserId::new("valid").unwrap()).await.unwrap();
        let invalid = enrol_totp(&mfa, &totp, &clock, &UserId::new("invalid").unwrap()).await.unwrap();
        let parts = enrol_totp(&mfa, &totp, &clock, &UserId::new("parts").unwrap()).await.unwrap();
        (valid, invalid, parts)
    });
    // The raw primitive with the same parameters: SHA-1, 6 digits, 30 s, ±1 step.
    let raw = totp_rs::Builder::new()
        .with_algorithm(totp_rs::Algorithm::SHA1)
        .with_digits(6)
        .with_step_duration(mfa_benches::PERIOD)
        .with_skew(1)
        .with_secret(valid.key.clone())
        .build()
        .unwrap();
    World { clock, totp, mfa, lenient, valid, invalid, parts, store, sealer, raw }
}

fn bench(c: &mut Criterion, rt: &tokio::runtime::Runtime, w: &World) {
    let mut group = c.benchmark_group(GROUP);
    group.warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3)).sample_size(30);
    let steps = RefCell::new(Steps::after(&w.clock));

    group.bench_function("valid/ours", |b| {
        b.to_async(rt).iter_custom(|iters| {
            let cases = steps.borrow_mut().valid(&w.totp, &w.valid.key, iters).unwrap();
            async move {
                let start = Instant::now();
                for case in &cases {
                    w.clock.set(case.at);
                    let proof = Proof::code(&case.code).unwrap();
                    black_box(w.mfa.verify(&w.valid.user, &w.valid.factor, &proof).await).unwrap();
                }
                let elapsed = start.elapsed();
                record(&format!("{GROUP}/valid/ours"), iters, elapsed);
                elapsed
            }
        });
    });

    group.bench_function("valid/raw", |b| {
        b.iter_custom(|iters| {
            let cases = steps.borrow_mut().valid(&w.totp, &w.valid.key, iters).unwrap();
            let start = Instant::now();
            for case in &cases {
                black_box(w.raw.check(black_box(&case.code), case.unix)).unwrap();
            }
            let elapsed = start.elapsed();
            record(&format!("{GROUP}/valid/raw"), iters, elapsed);
            elapsed
        });
    });

    group.bench_function("invalid/ours", |b| {
        b.to_async(rt).iter_custom(|iters| {
            let cases = steps.borrow_mut().invalid(&w.totp, &w.invalid.key, iters).unwrap();
            async move {
                let start = Instant::now();
                for case in &cases {
                    w.clock.set(case.at);
                    let proof = Proof::code(&case.code).unwrap();
                    let outcome = w.lenient.verify(&w.invalid.user, &w.invalid.factor, &proof).await;
                    assert!(matches!(black_box(outcome), Err(Error::InvalidCode)));
                }
                let elapsed = start.elapsed();
                record(&format!("{GROUP}/invalid/ours"), iters, elapsed);
                elapsed
            }
        });
    });

    group.bench_function("invalid/raw", |b| {
        b.iter_custom(|iters| {
            let cases = steps.borrow_mut().invalid(&w.totp, &w.valid.key, iters).unwrap();
            let start = Instant::now();
            for case in &cases {
                assert!(black_box(w.raw.check(black_box(&case.code), case.unix)).is_none());
            }
            let elapsed = start.elapsed();
            record(&format!("{GROUP}/invalid/raw"), iters, elapsed);
            elapsed
        });
    });
    breakdown(&mut group, rt, w, &steps);
    group.finish();
}

/// The parts of a valid verification, each timed alone: our code check, opening the sealed
/// secret, and the two store calls the service makes. What they leave of "valid/ours" is
/// the service itself (records, events, allocation).
fn breakdown(
    group: &mut BenchmarkGroup<'_, WallTime>,
    rt: &tokio::runtime::Runtime,
    w: &World,
    steps: &RefCell<Steps>,
) {
    group.bench_function("parts/code_check", |b| {
        b.iter_custom(|iters| {
            let cases = steps.borrow_mut().valid(&w.totp, &w.parts.key, iters).unwrap();
            let start = Instant::now();
            for case in &cases {
                black_box(w.totp.check(&w.parts.key, black_box(&case.code), case.unix)).unwrap();
            }
            let elapsed = start.elapsed();
            record(&format!("{GROUP}/parts/code_check"), iters, elapsed);
            elapsed
        });
    });

    let record_now = rt.block_on(w.store.get_factor(&w.parts.user, &w.parts.factor)).unwrap().unwrap();
    let sealed = record_now.secret.clone().unwrap();
    group.bench_function("parts/open_secret", |b| {
        b.iter_custom(|iters| {
            let ctx = SealContext {
                user: &w.parts.user,
                factor: &w.parts.factor,
                purpose: mfa_benches::setup::FACTOR_SECRET,
            };
            let start = Instant::now();
            for _ in 0..iters {
                black_box(w.sealer.open(&ctx, black_box(&sealed))).unwrap();
            }
            let elapsed = start.elapsed();
            record(&format!("{GROUP}/parts/open_secret"), iters, elapsed);
            elapsed
        });
    });

    group.bench_function("parts/store_calls", |b| {
        b.to_async(rt).iter_custom(|iters| {
            let markers: Vec<u64> = steps
                .borrow_mut()
                .valid(&w.totp, &w.parts.key, iters)
                .unwrap()
                .iter()
                .map(|case| case.unix / mfa_benches::PERIOD)
                .collect();
            async move {
                let (user, factor) = (&w.parts.user, &w.parts.factor);
                let kinds = [FactorKind::TOTP];
                let now = w.clock.now();
                let start = Instant::now();
                for marker in markers {
                    let attempt = w.store.begin_attempt(user, factor, &kinds, now).await.unwrap().unwrap();
                    assert!(black_box(attempt).counted);
                    let mut accept = Acceptance::new(now);
                    accept.replay_marker = Some(marker);
                    accept.clear_throttle = true;
                    assert_eq!(
                        w.store.accept_verification(user, factor, &accept).await.unwrap(),
                        AcceptOutcome::Accepted
                    );
                }
                let elapsed = start.elapsed();
                record(&format!("{GROUP}/parts/store_calls"), iters, elapsed);
                elapsed
            }
        });
    });
}

fn main() {
    let rt = mfa_benches::current_thread().unwrap();
    let w = world(&rt);
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c, &rt, &w);
    c.final_summary();
    print_summary(
        "TOTP verify, memory store (budget 1.5x, stretch 1.0x)",
        &[
            Comparison::new("valid code", format!("{GROUP}/valid/ours"), format!("{GROUP}/valid/raw"), Some(1.5)),
            Comparison::new("invalid code", format!("{GROUP}/invalid/ours"), format!("{GROUP}/invalid/raw"), Some(1.5)),
            Comparison::new(
                "part: our code check",
                format!("{GROUP}/parts/code_check"),
                format!("{GROUP}/valid/raw"),
                None,
            ),
            Comparison::new(
                "part: open sealed secret",
                format!("{GROUP}/parts/open_secret"),
                format!("{GROUP}/valid/raw"),
                None,
            ),
            Comparison::new(
                "part: the 2 memory-store calls",
                format!("{GROUP}/parts/store_calls"),
                format!("{GROUP}/valid/raw"),
                None,
            ),
        ],
    );
}
