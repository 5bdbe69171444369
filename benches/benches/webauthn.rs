//! Passkey sign-in: `Mfa::finish_challenge` (memory store) beside webauthn-rs 0.6
//! `finish_passkey_authentication` on the same pre-made assertions from a software passkey.

// Bench setup code: a failure to set up is a broken bench, reported by panicking.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::cell::RefCell;
use std::collections::VecDeque;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::Criterion;
use mfa_benches::authenticators::{ORIGIN, RP_ID, assert_with, ceremony_state, origin, register};
use mfa_benches::{Comparison, print_summary, record};
use mfa_core::{CeremonyId, Clock, FactorId, FactorKind, ManualClock, Mfa, Proof, UserId, store::Store};
use mfa_store_memory::MemoryStore;
use mfa_webauthn::WebauthnFactor;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_rs::prelude::{PasskeyAuthentication, PublicKeyCredential, Webauthn, WebauthnBuilder};

const GROUP: &str = "webauthn_finish";
/// Assertions the raw side cycles over (they are then finished by our side first).
const POOL: usize = 256;

/// A challenge started through the service and the software passkey's answer to it: as the
/// JSON the browser posts (our input), and parsed with the ceremony state the service
/// stored (the raw input).
struct Assertion {
    id: CeremonyId,
    json: String,
    credential: PublicKeyCredential,
    state: PasskeyAuthentication,
}

struct World {
    clock: ManualClock,
    store: Arc<dyn Store>,
    mfa: Mfa,
    raw: Webauthn,
    user: UserId,
    factor: FactorId,
    passkey: RefCell<SoftPasskey>,
    pending: RefCell<VecDeque<Assertion>>,
}

impl World {
    /// Makes `n` more assertions, each for a new challenge, in order (their signature
    /// counters increase, so they must be finished in that order).
    async fn make(&self, n: usize) {
        for _ in 0..n {
            let challenge = self.mfa.start_challenge(&self.user, Some(&self.factor)).await.unwrap();
            let (credential, json) = assert_with(&mut *self.passkey.borrow_mut(), &challenge.prompt).unwrap();
            let state = ceremony_state(&*self.store, Some(&self.user), &challenge.id, self.clock.now()).await.unwrap();
            self.pending.borrow_mut().push_back(Assertion { id: challenge.id, json, credential, state });
        }
    }

    /// The next `n` assertions, making more if needed.
    async fn take(&self, n: usize) -> Vec<Assertion> {
        let missing = n.saturating_sub(self.pending.borrow().len());
        self.make(missing).await;
        self.pending.borrow_mut().drain(..n).collect()
    }
}

fn world(rt: &tokio::runtime::Runtime) -> World {
    let clock = ManualClock::new(mfa_benches::START);
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let factor = WebauthnFactor::builder(RP_ID, "Bench", ORIGIN).build().unwrap();
    let mfa = Mfa::builder()
        .shared_store(store.clone())
        .shared_sealer(mfa_benches::sealer())
        .clock(clock.clone())
        .settings(mfa_benches::without_state_limits(mfa_core::Settings::default()))
        .factor(factor)
        .build()
        .unwrap();
    // The raw primitive, configured as our adapter configures it.
    let raw = WebauthnBuilder::new(RP_ID, &origin().unwrap()).unwrap().rp_name("Bench").build().unwrap();
    let user = UserId::new("alice").unwrap();
    let mut passkey = SoftPasskey::new(true);
    // A software authenticator keeps no resident keys: `register` lifts that requirement
    // client-side.
    let factor = rt.block_on(register(&mfa, &clock, &user, FactorKind::PASSKEY, &mut passkey)).unwrap().factor;
    World { clock, store, mfa, raw, user, factor, passkey: RefCell::new(passkey), pending: RefCell::default() }
}

fn bench(c: &mut Criterion, rt: &tokio::runtime::Runtime, w: &World) {
    let mut group = c.benchmark_group(GROUP);
    group.warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(4)).sample_size(20);
    rt.block_on(w.make(POOL));

    // Raw: the parsed assertion and the state in memory, as webauthn-rs takes them.
    group.bench_function("raw", |b| {
        b.iter_custom(|iters| {
            let pending = w.pending.borrow();
            let pool: Vec<&Assertion> = pending.iter().take(POOL).collect();
            let start = Instant::now();
            for i in 0..iters {
                let a = pool[(i % pool.len() as u64) as usize];
                black_box(w.raw.finish_passkey_authentication(black_box(&a.credential), &a.state)).unwrap();
            }
            let elapsed = start.elapsed();
            record(&format!("{GROUP}/raw"), iters, elapsed);
            elapsed
        });
    });

    // Raw including parsing the posted JSON, which a host of webauthn-rs also has to do.
    group.bench_function("raw_with_json", |b| {
        b.iter_custom(|iters| {
            let pending = w.pending.borrow();
            let pool: Vec<&Assertion> = pending.iter().take(POOL).collect();
            let start = Instant::now();
            for i in 0..iters {
                let a = pool[(i % pool.len() as u64) as usize];
                let credential: PublicKeyCredential = serde_json::from_str(black_box(&a.json)).unwrap();
                black_box(w.raw.finish_passkey_authentication(&credential, &a.state)).unwrap();
            }
            let elapsed = start.elapsed();
            record(&format!("{GROUP}/raw_with_json"), iters, elapsed);
            elapsed
        });
    });

    // Ours: the posted JSON, through the service; each challenge is single-use, so each
    // batch takes assertions made before the timer started (the raw pool's first).
    group.bench_function("ours", |b| {
        b.to_async(rt).iter_custom(|iters| async move {
            let batch = w.take(usize::try_from(iters).unwrap()).await;
            let start = Instant::now();
            for a in batch {
                let proof = Proof::credential(a.json).unwrap();
                black_box(w.mfa.finish_challenge(&w.user, &a.id, &proof).await).unwrap();
            }
            let elapsed = start.elapsed();
            record(&format!("{GROUP}/ours"), iters, elapsed);
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
        "WebAuthn finish-authentication, passkey, memory store (budget 1.05x)",
        &[
            Comparison::new("passkey assertion", format!("{GROUP}/ours"), format!("{GROUP}/raw"), Some(1.05)),
            Comparison::new(
                "passkey assertion, raw incl. JSON parse",
                format!("{GROUP}/ours"),
                format!("{GROUP}/raw_with_json"),
                Some(1.05),
            ),
        ],
    );
}
