//! TOTP verification through `Mfa` and the memory store with 10^3, 10^5 and 10^6 enrolled
//! users, each verification for a user drawn at random from all of them (so the store is
//! exercised across its whole size, not on one hot record); beside the raw primitive at the
//! same sizes: a `HashMap` from user id to a totp-rs `Totp`, looked up for the same random
//! users, and `check`. The raw side shows what the memory hierarchy alone costs as the
//! working set outgrows the caches.

// Bench setup code: a failure to set up is a broken bench, reported by panicking.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion};
use mfa_benches::{Comparison, Population, Rng, Steps, print_summary, record};
use mfa_core::{ManualClock, Mfa, Proof, UserId, store::Store};
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
    let mfa = Mfa::builder()
        .shared_store(store.clone())
        .shared_sealer(sealer.clone())
        .clock(clock.clone())
        .factor(totp.clone())
        .build()
        .unwrap();
    let mut population = rt.block_on(Population::new(&mfa, store, sealer, &totp, &clock)).unwrap();
    // Every verification is at a new time step, so any user may be drawn any number of times.
    let mut steps = Steps::after(&clock);
    let mut rng = Rng::new(42);
    let mut raw_map: HashMap<UserId, totp_rs::Totp> = HashMap::new();

    let mut c = Criterion::default().configure_from_args();
    let mut group = c.benchmark_group(GROUP);
    group.warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3)).sample_size(20);
    for size in SIZES {
        let fill = Instant::now();
        rt.block_on(population.grow_to(size)).unwrap();
        println!("{GROUP}: {size} users enrolled (filled in {:.1?})", fill.elapsed());
        let members = &population.members;
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
        group.bench_function(BenchmarkId::new("ours", size), |b| {
            b.to_async(&rt).iter_custom(|iters| {
                // Before the timer: a random user and that user's code for a new step, per verification.
                let mut cases = Vec::with_capacity(usize::try_from(iters).unwrap());
                for _ in 0..iters {
                    let member = &members[rng.below(members.len())];
                    let case = steps.valid(&totp, &member.key, 1).unwrap().pop().unwrap();
                    cases.push((member, case));
                }
                let (mfa, clock) = (&mfa, &clock);
                async move {
                    let start = Instant::now();
                    for (member, case) in &cases {
                        clock.set(case.at);
                        let proof = Proof::code(&case.code).unwrap();
                        black_box(mfa.verify(&member.user, &member.factor, &proof).await).unwrap();
                    }
                    let elapsed = start.elapsed();
                    record(&format!("{GROUP}/ours/{size}"), iters, elapsed);
                    elapsed
                }
            });
        });
    }
    group.finish();
    c.final_summary();
    let mut rows = Vec::new();
    for size in SIZES {
        rows.push(Comparison::new(
            format!("{size} users: ours vs raw"),
            format!("{GROUP}/ours/{size}"),
            format!("{GROUP}/raw/{size}"),
            None,
        ));
    }
    for size in &SIZES[1..] {
        for side in ["ours", "raw"] {
            rows.push(Comparison::new(
                format!("{side}: {size} users vs 1000"),
                format!("{GROUP}/{side}/{size}"),
                format!("{GROUP}/{side}/{}", SIZES[0]),
                (side == "ours").then_some(1.25),
            ));
        }
    }
    print_summary(
        "memory store, TOTP verify of random users (budget: flat, taken as <= 1.25x of the 10^3 figure)",
        &rows,
    );
}
