//! TOTP verifications per second on every core: `Mfa::verify` with the memory store, one
//! service instance and user per core sharing one store, on a multi-thread runtime with one
//! worker per core; beside totp-rs `check` on one thread per core.

// Bench setup code: a failure to set up is a broken bench, reported by panicking.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::cell::RefCell;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput};
use mfa_benches::{Comparison, Instance, Steps, cores, fleet, print_summary, record, verify_concurrently};
use mfa_core::store::Store;
use mfa_otp::TotpFactor;
use mfa_store_memory::MemoryStore;

const GROUP: &str = "totp_throughput";

fn main() {
    let rt = mfa_benches::multi_thread().unwrap();
    let cores = cores();
    let totp = TotpFactor::new("Bench").unwrap();
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let instances = RefCell::new(rt.block_on(fleet(store, &totp, cores, "core")).unwrap());
    let raws: Vec<(totp_rs::Totp, Vec<u8>)> = instances
        .borrow()
        .iter()
        .map(|i| {
            let raw = totp_rs::Builder::new().with_secret(i.user.key.clone()).with_skew(1).build().unwrap();
            (raw, i.user.key.clone())
        })
        .collect();
    let mut raw_steps: Vec<Steps> = instances.borrow().iter().map(|i| i.steps.clone()).collect();

    let mut c = Criterion::default().configure_from_args();
    let mut group = c.benchmark_group(GROUP);
    group
        .sampling_mode(SamplingMode::Flat)
        .throughput(Throughput::Elements(1))
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(4))
        .sample_size(15);

    let ours = format!("{GROUP}/ours_{cores}_cores");
    group.bench_function(format!("ours_{cores}_cores"), |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let (instances, totp, ours) = (&instances, &totp, &ours);
            async move {
                let mut fleet: Vec<Instance> = std::mem::take(&mut *instances.borrow_mut());
                let (elapsed, _) = verify_concurrently(&mut fleet, totp, cores, iters).await.unwrap();
                *instances.borrow_mut() = fleet;
                record(ours, iters, elapsed);
                elapsed
            }
        });
    });

    let raw = format!("{GROUP}/raw_{cores}_cores");
    group.bench_function(format!("raw_{cores}_cores"), |b| {
        b.iter_custom(|iters| {
            let per_thread = iters / cores as u64;
            let work: Vec<_> = raws
                .iter()
                .zip(raw_steps.iter_mut())
                .enumerate()
                .map(|(i, ((totp_rs, key), steps))| {
                    let n = per_thread + u64::from((i as u64) < iters % cores as u64);
                    (totp_rs, steps.valid(&totp, key, n).unwrap())
                })
                .collect();
            let start = Instant::now();
            std::thread::scope(|s| {
                for (totp_rs, cases) in &work {
                    s.spawn(move || {
                        for case in cases {
                            black_box(totp_rs.check(black_box(&case.code), case.unix)).unwrap();
                        }
                    });
                }
            });
            let elapsed = start.elapsed();
            record(&raw, iters, elapsed);
            elapsed
        });
    });
    group.finish();
    c.final_summary();
    print_summary(
        &format!("TOTP verify throughput on {cores} cores (reported)"),
        &[Comparison::new(format!("verifications on {cores} cores"), ours.clone(), raw.clone(), None)],
    );
}
