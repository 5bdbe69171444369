//! TOTP verification through `Mfa` and the memory store with 10^3, 10^5 and 10^6 enrolled
//! users, each verification for a user drawn at random from all of them (so the store is
//! exercised across its whole size, not on one hot record); beside the raw primitive at the
//! same sizes: a `HashMap` from user id to a totp-rs `Totp`, looked up for the same random
//! users, and `check`. The raw side shows what the memory hierarchy alone costs as the
//! working set outgrows the caches.
//!
//! Ours runs twice over the same store: with the opened-secret cache sized for the working
//! set (every user's seed stays opened), and with it off (every verification opens the
//! sealed seed). The budget: ours at 10^6 vs 10^3 users no worse than the raw map's own
//! ratio, in both configurations.

// Bench setup code: a failure to set up is a broken bench, reported by panicking.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion};
use mfa_benches::{Comparison, Population, Rng, Steps, print_summary, record};
use mfa_core::{ManualClock, Mfa, Proof, Settings, UserId, store::Store};
use mfa_otp::TotpFactor;
use mfa_store_memory::MemoryStore;

const GROUP: &str = "memory_store_verify";
const SIZES: [usize; 3] = [1_000, 100_000, 1_000_000];

fn main() {
    let rt = mfa_benches::current_thread().unwrap();
    let clock = ManualClock::new(mfa_benches::START);
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let sealer = mfa_benches::sealer();
    let totp = TotpFactor::new("Bench").unwrap();
    let service = |secret_cache: usize| {
        let mut settings = Settings::default();
        settings.secret_cache = secret_cache;
        Mfa::builder()
            .shared_store(store.clone())
            .shared_sealer(sealer.clone())
            .clock(clock.clone())
            .factor(totp.clone())
            .settings(settings)
            .build()
            .unwrap()
    };
    // The cache sized for the working set (the largest population, with room), and off.
    let variants = [("cached", service(SIZES[2] + SIZES[2] / 8)), ("uncached", service(0))];
    let mut population =
        rt.block_on(Population::new(&variants[0].1, store.clone(), sealer.clone(), &totp, &clock)).unwrap();
    // Every verification is at a new time step, so any user may be drawn any number of times.
    let mut steps = Steps::after(&clock);
    let mut rng = Rng::new(42);
    let mut raw_map: HashMap<UserId, totp_rs::Totp> = HashMap::new();
    let mut warmed = 0;

    let mut c = Criterion::default().configure_from_args();
    let mut group = c.benchmark_group(GROUP);
    group.warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3)).sample_size(20);
    for size in SIZES {
        let fill = Instant::now();
        rt.block_on(population.grow_to(size)).unwrap();
        println!("{GROUP}: {size} users enrolled (filled in {:.1?})", fill.elapsed());
        let members = &population.members;
        // The cache holds the working set: every user verifies once, untimed, before the
        // timed runs draw from them (the uncached service opens the secret every time).
        let warm = Instant::now();
        for member in &members[warmed..] {
            let case = steps.valid(&totp, &member.key, 1).unwrap().pop().unwrap();
            clock.set(case.at);
            rt.block_on(variants[0].1.verify(&member.user, &member.factor, &Proof::code(&case.code).unwrap())).unwrap();
        }
        warmed = members.len();
        println!("{GROUP}: cache warmed with every user (in {:.1?})", warm.elapsed());
        raw_map.reserve(size - raw_map.len());
        for member in &members[raw_map.len()..] {
            let totp = totp_rs::Builder::new().with_secret(member.key.to_vec()).with_skew(1).build().unwrap();
            raw_map.insert(member.user.clone(), totp);
        }
        let raw_map = &raw_map;
        group.bench_function(BenchmarkId::new("raw", size), |b| {
            b.iter_custom(|iters| {
                let mut cases = Vec::with_capacity(usize::try_from(iters).unwrap());
                for _ in 0..iters {
                    let member = &members[rng.below(members.len())];
                    let case = steps.valid(&totp, &member.key, 1).unwrap().pop().unwrap();
                    cases.push((member, case));
                }
                let start = Instant::now();
                for (member, case) in &cases {
                    let raw = raw_map.get(black_box(&member.user)).unwrap();
                    black_box(raw.check(black_box(&case.code), case.unix)).unwrap();
                }
                let elapsed = start.elapsed();
                record(&format!("{GROUP}/raw/{size}"), iters, elapsed);
                elapsed
            });
        });
        for (variant, mfa) in &variants {
            group.bench_function(BenchmarkId::new(format!("ours_{variant}"), size), |b| {
                b.to_async(&rt).iter_custom(|iters| {
                    // Before the timer: a random user and that user's code for a new step, per verification.
                    let mut cases = Vec::with_capacity(usize::try_from(iters).unwrap());
                    for _ in 0..iters {
                        let member = &members[rng.below(members.len())];
                        let case = steps.valid(&totp, &member.key, 1).unwrap().pop().unwrap();
                        cases.push((member, case));
                    }
                    let clock = &clock;
                    async move {
                        let start = Instant::now();
                        for (member, case) in &cases {
                            clock.set(case.at);
                            let proof = Proof::code(&case.code).unwrap();
                            black_box(mfa.verify(&member.user, &member.factor, &proof).await).unwrap();
                        }
                        let elapsed = start.elapsed();
                        record(&format!("{GROUP}/ours_{variant}/{size}"), iters, elapsed);
                        elapsed
                    }
                });
            });
        }
    }
    group.finish();
    c.final_summary();
    let mut rows = Vec::new();
    for size in SIZES {
        for (variant, _) in &variants {
            rows.push(Comparison::new(
                format!("{size} users, {variant}: ours vs raw"),
                format!("{GROUP}/ours_{variant}/{size}"),
                format!("{GROUP}/raw/{size}"),
                None,
            ));
        }
    }
    // The budget of each "ours" row: the raw map's own ratio for the same sizes, this run.
    let raw_ratio = |size: usize| {
        let (big, small) = (
            mfa_benches::per_op_ns(&format!("{GROUP}/raw/{size}")),
            mfa_benches::per_op_ns(&format!("{GROUP}/raw/{}", SIZES[0])),
        );
        big.zip(small).map(|(big, small)| big / small)
    };
    for size in &SIZES[1..] {
        rows.push(Comparison::new(
            format!("raw: {size} users vs 1000"),
            format!("{GROUP}/raw/{size}"),
            format!("{GROUP}/raw/{}", SIZES[0]),
            None,
        ));
        for (variant, _) in &variants {
            rows.push(Comparison::new(
                format!("ours {variant}: {size} users vs 1000 (budget: the raw ratio)"),
                format!("{GROUP}/ours_{variant}/{size}"),
                format!("{GROUP}/ours_{variant}/{}", SIZES[0]),
                raw_ratio(*size),
            ));
        }
    }
    print_summary("memory store, TOTP verify of random users (budget: growing no more than the raw map does)", &rows);
}
