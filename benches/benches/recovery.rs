//! Recovery-code verification through `Mfa` (memory store, default settings: argon2id with
//! OWASP's parameters) with 1 and with 10 codes held, and with a wrong code, beside one raw
//! argon2 verification with the same parameters.

// Bench setup code: a failure to set up is a broken bench, reported by panicking.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordVerifier, Version};
use criterion::{Criterion, SamplingMode};
use mfa_benches::{Comparison, fresh, print_summary, record, without_lockout};
use mfa_core::store::RecoveryCodeRecord;
use mfa_core::{Error, ManualClock, Mfa, Settings, UserId, store::Store};
use mfa_otp::TotpFactor;
use mfa_store_memory::MemoryStore;

const GROUP: &str = "recovery_verify";

/// A user's set of codes as shown, and as stored (to put back after each use).
struct Held {
    user: UserId,
    codes: Vec<String>,
    stored: Vec<RecoveryCodeRecord>,
}

struct World {
    store: Arc<dyn Store>,
    /// Sets of 10 codes (the default settings).
    ten: Mfa,
    /// Sets of 1 code, otherwise the default settings.
    one: Mfa,
    /// The default settings without lockout, for wrong codes.
    lenient: Mfa,
    held_ten: Held,
    held_one: Held,
    /// Ten codes of a user who only ever types wrong ones.
    held_wrong: Held,
}

async fn generate(mfa: &Mfa, store: &Arc<dyn Store>, clock: &ManualClock, name: &str) -> Held {
    let user = UserId::new(name).unwrap();
    // Recovery codes exist only alongside a factor.
    let totp = TotpFactor::new("Bench").unwrap();
    mfa_benches::enrol_totp(mfa, &totp, clock, &user).await.unwrap();
    let set = mfa.generate_recovery_codes(&user, &fresh(clock)).await.unwrap();
    let codes: Vec<String> = set.codes().iter().map(|c| c.expose().to_owned()).collect();
    let mut stored = Vec::new();
    for code in &codes {
        let lookup: String = code.chars().filter(|c| *c != '-').take(4).collect();
        stored.push(store.get_recovery_code(&user, &lookup).await.unwrap().unwrap());
    }
    Held { user, codes, stored }
}

fn world(rt: &tokio::runtime::Runtime) -> World {
    let clock = ManualClock::new(mfa_benches::START);
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let build = |settings: Settings| {
        Mfa::builder()
            .shared_store(store.clone())
            .shared_sealer(mfa_benches::sealer())
            .clock(clock.clone())
            .settings(settings)
            .factor(TotpFactor::new("Bench").unwrap())
            .build()
            .unwrap()
    };
    let ten = build(Settings::default());
    let mut single = Settings::default();
    single.recovery_codes.count = 1;
    let one = build(single);
    let lenient = build(without_lockout(Settings::default()));
    let (held_ten, held_one, held_wrong) = rt.block_on(async {
        (
            generate(&ten, &store, &clock, "ten").await,
            generate(&one, &store, &clock, "one").await,
            generate(&lenient, &store, &clock, "wrong").await,
        )
    });
    World { store, ten, one, lenient, held_ten, held_one, held_wrong }
}

fn bench(c: &mut Criterion, rt: &tokio::runtime::Runtime, w: &World) {
    let mut group = c.benchmark_group(GROUP);
    // Each verification costs tens of milliseconds: ten samples of equal size.
    group
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(4))
        .sample_size(10);

    // Our path: the user's set is put back (untimed) before each timed verification, so
    // every attempt finds exactly `held` codes.
    for (name, mfa, held) in [("ours_1_code", &w.one, &w.held_one), ("ours_10_codes", &w.ten, &w.held_ten)] {
        group.bench_function(name, |b| {
            b.to_async(rt).iter_custom(|iters| async move {
                let mut total = Duration::ZERO;
                for i in 0..iters {
                    w.store.replace_recovery_codes(&held.user, &held.stored).await.unwrap();
                    let code = &held.codes[(i % held.codes.len() as u64) as usize];
                    let start = Instant::now();
                    black_box(mfa.verify_recovery_code(&held.user, black_box(code)).await).unwrap();
                    total += start.elapsed();
                }
                record(&format!("{GROUP}/{name}"), iters, total);
                total
            });
        });
    }

    // A wrong code whose lookup part is held: still exactly one verification.
    group.bench_function("ours_10_codes_wrong", |b| {
        let held = &w.held_wrong;
        let code = held.codes[0].clone();
        let wrong = format!("{}{}", &code[..code.len() - 1], if code.ends_with('A') { 'B' } else { 'A' });
        let wrong = &wrong;
        b.to_async(rt).iter_custom(|iters| async move {
            let start = Instant::now();
            for _ in 0..iters {
                let outcome = w.lenient.verify_recovery_code(&held.user, black_box(wrong)).await;
                assert!(matches!(black_box(outcome), Err(Error::InvalidCode)));
            }
            let elapsed = start.elapsed();
            record(&format!("{GROUP}/ours_10_codes_wrong"), iters, elapsed);
            elapsed
        });
    });

    // Raw: one argon2id verification of a code's secret part against the hash our service
    // stored, with the settings' parameters.
    group.bench_function("raw_argon2", |b| {
        let params = w.ten.settings().recovery_codes.hash_params;
        let argon2 = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(params.m_cost_kib, params.t_cost, params.p_cost, Some(32)).unwrap(),
        );
        let phc = w.held_ten.stored[0].hash.clone();
        let secret: String = w.held_ten.codes[0].chars().filter(|c| *c != '-').skip(4).collect();
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                let hash = PasswordHash::new(black_box(&phc)).unwrap();
                argon2.verify_password(black_box(secret.as_bytes()), &hash).unwrap();
            }
            let elapsed = start.elapsed();
            record(&format!("{GROUP}/raw_argon2"), iters, elapsed);
            elapsed
        });
    });
    group.finish();
}

fn main() {
    // Our service moves argon2 off the executor with `spawn_blocking` on a multi-thread
    // runtime, as a host's `#[tokio::main]` would have it.
    let rt = mfa_benches::multi_thread().unwrap();
    let w = world(&rt);
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c, &rt, &w);
    c.final_summary();
    let raw = format!("{GROUP}/raw_argon2");
    print_summary(
        "recovery-code verify (budget: one argon2 verification, whatever the codes held)",
        &[
            Comparison::new("1 code held", format!("{GROUP}/ours_1_code"), raw.clone(), Some(1.5)),
            Comparison::new("10 codes held", format!("{GROUP}/ours_10_codes"), raw.clone(), Some(1.5)),
            Comparison::new("10 held, wrong code", format!("{GROUP}/ours_10_codes_wrong"), raw, Some(1.5)),
            Comparison::new(
                "10 codes vs 1 code",
                format!("{GROUP}/ours_10_codes"),
                format!("{GROUP}/ours_1_code"),
                Some(1.5),
            ),
        ],
    );
}
