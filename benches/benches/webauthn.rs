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
use mfa_benches::{Comparison, fresh, print_summary, record};
use mfa_core::{
    CeremonyId, Clock, EnrolmentRequest, FactorId, FactorKind, ManualClock, Mfa, Prompt, Proof, UserId, store::Store,
};
use mfa_store_memory::MemoryStore;
use mfa_webauthn::WebauthnFactor;
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_rs::prelude::{
    CreationChallengeResponse, PasskeyAuthentication, PublicKeyCredential, RequestChallengeResponse, Url, Webauthn,
    WebauthnBuilder,
};

const GROUP: &str = "webauthn_finish";
const RP_ID: &str = "localhost";
const ORIGIN: &str = "http://localhost:8080";
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

fn options_json(prompt: &Prompt) -> &str {
    match prompt {
        Prompt::PublicKeyCredential { options_json } => options_json,
        _ => unreachable!("a WebAuthn prompt"),
    }
}

impl World {
    /// Makes `n` more assertions, each for a new challenge, in order (their signature
    /// counters increase, so they must be finished in that order).
    async fn make(&self, n: usize) {
        for _ in 0..n {
            let challenge = self.mfa.start_challenge(&self.user, Some(&self.factor)).await.unwrap();
            let options: RequestChallengeResponse = serde_json::from_str(options_json(&challenge.prompt)).unwrap();
            let credential = self.passkey.borrow_mut().do_authentication(Url::parse(ORIGIN).unwrap(), options).unwrap();
            let json = serde_json::to_string(&credential).unwrap();
            let stored = self.store.get_ceremony(Some(&self.user), &challenge.id, self.clock.now()).await.unwrap();
            let payload: serde_json::Value = serde_json::from_slice(&stored.unwrap().payload).unwrap();
            let state: PasskeyAuthentication = serde_json::from_value(payload["data"].clone()).unwrap();
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
    let raw = WebauthnBuilder::new(RP_ID, &Url::parse(ORIGIN).unwrap()).unwrap().rp_name("Bench").build().unwrap();
    let user = UserId::new("alice").unwrap();
    let mut passkey = SoftPasskey::new(true);
    let factor = rt.block_on(async {
        let start =
            mfa.start_enrolment(&user, &fresh(&clock), EnrolmentRequest::new(FactorKind::PASSKEY)).await.unwrap();
        // A software authenticator keeps no resident keys: lift that requirement client-side.
        let mut options: serde_json::Value = serde_json::from_str(options_json(&start.prompt)).unwrap();
        options["publicKey"]["authenticatorSelection"]["residentKey"] = "discouraged".into();
        options["publicKey"]["authenticatorSelection"]["requireResidentKey"] = false.into();
        let options: CreationChallengeResponse = serde_json::from_value(options).unwrap();
        let created = passkey.do_registration(Url::parse(ORIGIN).unwrap(), options).unwrap();
        let proof = Proof::credential(serde_json::to_string(&created).unwrap()).unwrap();
        mfa.finish_enrolment(&user, &fresh(&clock), &start.factor.id, &proof).await.unwrap().id
    });
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
        "WebAuthn finish-authentication, passkey, memory store (budget 1.1x)",
        &[
            Comparison::new("passkey assertion", format!("{GROUP}/ours"), format!("{GROUP}/raw"), Some(1.1)),
            Comparison::new(
                "passkey assertion, raw incl. JSON parse",
                format!("{GROUP}/ours"),
                format!("{GROUP}/raw_with_json"),
                Some(1.1),
            ),
        ],
    );
}
