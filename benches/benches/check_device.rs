//! Remembered-device token check (`Mfa::check_device`, memory store), for a valid token and
//! for one with a wrong secret, beside the raw primitive on the same tokens: parsing the
//! token (`mfa-device.<32 hex id>.<43 base64url secret>`), SHA-256 of the secret as the
//! library hashes device tokens (domain tag, device id, secret) and a constant-time compare
//! (`subtle`) with the stored hash.
//!
//! A token is checked as often as its browser comes back, so the same token is checked
//! again and again. Wrong tokens are counted as failures in the store; they are checked on
//! a service without lockout ([`without_lockout`]) so that they never lock the user.

// Bench setup code: a failure to set up is a broken bench, reported by panicking.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::Criterion;
use mfa_benches::{Comparison, Steps, enrol_totp, print_summary, record, without_lockout};
use mfa_core::{Error, ManualClock, Mfa, Proof, Settings, UserId, store::Store};
use mfa_otp::TotpFactor;
use mfa_store_memory::MemoryStore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

const GROUP: &str = "check_device";
const PREFIX: &str = "mfa-device.";
/// The domain tag the library hashes device-token secrets under.
const DOMAIN: &[u8] = b"mfa-rs/device-token/v1\0";

struct World {
    /// The default settings.
    mfa: Mfa,
    /// The same service without lockout, for wrong tokens.
    lenient: Mfa,
    user: UserId,
    /// The token `remember_device` returned.
    token: String,
    /// The same device id with another secret.
    wrong: String,
    /// The hash the store holds for the device.
    stored: Vec<u8>,
}

fn world(rt: &tokio::runtime::Runtime) -> World {
    let clock = ManualClock::new(mfa_benches::START);
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let totp = TotpFactor::new("Bench").unwrap();
    let build = |settings: Settings| {
        Mfa::builder()
            .shared_store(store.clone())
            .shared_sealer(mfa_benches::sealer())
            .clock(clock.clone())
            .settings(settings)
            .factor(totp.clone())
            .build()
            .unwrap()
    };
    let (mfa, lenient) = (build(Settings::default()), build(without_lockout(Settings::default())));
    let user = UserId::new("alice").unwrap();
    let (token, device) = rt.block_on(async {
        let app = enrol_totp(&mfa, &totp, &clock, &user).await.unwrap();
        let case = Steps::after(&clock).valid(&totp, &app.key, 1).unwrap().remove(0);
        clock.set(case.at);
        let verified = mfa.verify(&user, &app.factor, &Proof::code(&case.code).unwrap()).await.unwrap();
        let remembered = mfa.remember_device(&verified, "Firefox on Linux").await.unwrap();
        (remembered.token.expose().to_owned(), remembered.device.id)
    });
    let stored = rt.block_on(store.get_device_token(&user, &device)).unwrap().unwrap().secret_hash;
    let (id, _) = token.strip_prefix(PREFIX).unwrap().split_once('.').unwrap();
    let wrong = format!("{PREFIX}{id}.{}", data_encoding::BASE64URL_NOPAD.encode(&[7u8; 32]));
    assert_eq!(raw_check(&token, &stored), Some(true), "the raw check hashes as the library does");
    World { mfa, lenient, user, token, wrong, stored }
}

/// The raw primitive: parse the token into its 16-byte id and 32-byte secret, hash them as
/// the library does, compare with the stored hash in constant time. `None` for a malformed
/// token.
fn raw_check(token: &str, stored: &[u8]) -> Option<bool> {
    let (id, secret) = token.trim().strip_prefix(PREFIX)?.split_once('.')?;
    let (mut id_bytes, mut secret_bytes) = ([0u8; 16], [0u8; 32]);
    if id.len() != 32 || secret.len() != 43 {
        return None;
    }
    data_encoding::HEXLOWER_PERMISSIVE.decode_mut(id.as_bytes(), &mut id_bytes).ok()?;
    data_encoding::BASE64URL_NOPAD.decode_mut(secret.as_bytes(), &mut secret_bytes).ok()?;
    let hash = Sha256::new().chain_update(DOMAIN).chain_update(id_bytes).chain_update(secret_bytes).finalize();
    Some(bool::from(hash.as_slice().ct_eq(stored)))
}

fn bench(c: &mut Criterion, rt: &tokio::runtime::Runtime, w: &World) {
    let mut group = c.benchmark_group(GROUP);
    group.warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3)).sample_size(30);

    group.bench_function("valid/ours", |b| {
        b.to_async(rt).iter_custom(|iters| async move {
            let start = Instant::now();
            for _ in 0..iters {
                black_box(w.mfa.check_device(&w.user, black_box(&w.token)).await).unwrap();
            }
            let elapsed = start.elapsed();
            record(&format!("{GROUP}/valid/ours"), iters, elapsed);
            elapsed
        });
    });

    group.bench_function("valid/raw", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                assert_eq!(raw_check(black_box(&w.token), &w.stored), Some(true));
            }
            let elapsed = start.elapsed();
            record(&format!("{GROUP}/valid/raw"), iters, elapsed);
            elapsed
        });
    });

    group.bench_function("wrong_secret/ours", |b| {
        b.to_async(rt).iter_custom(|iters| async move {
            let start = Instant::now();
            for _ in 0..iters {
                let outcome = w.lenient.check_device(&w.user, black_box(&w.wrong)).await;
                assert!(matches!(black_box(outcome), Err(Error::InvalidCode)));
            }
            let elapsed = start.elapsed();
            record(&format!("{GROUP}/wrong_secret/ours"), iters, elapsed);
            elapsed
        });
    });

    group.bench_function("wrong_secret/raw", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                assert_eq!(raw_check(black_box(&w.wrong), &w.stored), Some(false));
            }
            let elapsed = start.elapsed();
            record(&format!("{GROUP}/wrong_secret/raw"), iters, elapsed);
            elapsed
        });
    });
    group.finish();
}

fn main() {
    let rt = mfa_benches::current_thread().unwrap();
    let w = world(&rt);
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c, &rt, &w);
    c.final_summary();
    print_summary(
        "remembered-device check, memory store (reported)",
        &[
            Comparison::new("valid token", format!("{GROUP}/valid/ours"), format!("{GROUP}/valid/raw"), None),
            Comparison::new(
                "wrong secret (failure counted, no lockout)",
                format!("{GROUP}/wrong_secret/ours"),
                format!("{GROUP}/wrong_secret/raw"),
                None,
            ),
        ],
    );
}
