//! Passwordless sign-in with a passkey: `Mfa::start_passwordless` (untimed), then
//! `Mfa::finish_passwordless` (timed, memory store), beside webauthn-rs 0.6 discoverable
//! authentication of the same assertions from the `DiscoverableAuthentication` state the
//! service stored (what `start_discoverable_authentication` made):
//! `identify_discoverable_authentication` (the user handle and credential id the assertion
//! names), then `finish_discoverable_authentication_v2` with the user's passkey — the
//! non-deprecated form of `finish_discoverable_authentication`, and the one our adapter
//! calls.
//!
//! A software passkey keeps no resident keys, so it is given the credential id the browser
//! would find on its own, and its answer carries the user handle a resident key returns
//! (not covered by the signature, as in the integration tests).

// Bench setup code: a failure to set up is a broken bench, reported by panicking.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::cell::RefCell;
use std::collections::VecDeque;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::Criterion;
use mfa_benches::authenticators::{ORIGIN, RP_ID, Registered, ceremony_state, options_json, origin, register};
use mfa_benches::{Comparison, print_summary, record};
use mfa_core::{CeremonyId, Clock, FactorKind, ManualClock, Mfa, Proof, UserId, store::Store};
use mfa_store_memory::MemoryStore;
use mfa_webauthn::WebauthnFactor;
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_rs::prelude::{
    DiscoverableAuthentication, Passkey, PublicKeyCredential, RequestChallengeResponse, Webauthn, WebauthnBuilder,
};
use webauthn_rs_proto::AllowCredentials;

const GROUP: &str = "webauthn_passwordless";
/// Assertions the raw side cycles over (they are then finished by our side first).
const POOL: usize = 256;

/// A passwordless sign-in started through the service and the passkey's answer to it: as
/// the JSON the browser posts (our input), and parsed with the state the service stored
/// (the raw input).
struct Assertion {
    id: CeremonyId,
    json: String,
    credential: PublicKeyCredential,
    state: DiscoverableAuthentication,
}

struct World {
    clock: ManualClock,
    store: Arc<dyn Store>,
    mfa: Mfa,
    raw: Webauthn,
    user: UserId,
    registered: Registered,
    /// The passkey as registered, as a host of webauthn-rs would hold it.
    raw_passkey: Passkey,
    authenticator: RefCell<SoftPasskey>,
    pending: RefCell<VecDeque<Assertion>>,
}

impl World {
    /// Makes `n` more assertions, each for a new passwordless sign-in, in order (their
    /// signature counters increase, so our side must finish them in that order).
    async fn make(&self, n: usize) {
        for _ in 0..n {
            let start = self.mfa.start_passwordless(&FactorKind::PASSKEY).await.unwrap();
            let mut options: RequestChallengeResponse =
                serde_json::from_str(options_json(&start.prompt).unwrap()).unwrap();
            assert!(options.public_key.allow_credentials.is_empty(), "passwordless: no allow list");
            let id = self.registered.credential_id.clone();
            options.public_key.allow_credentials =
                vec![AllowCredentials { type_: "public-key".into(), id, transports: None }];
            let mut credential = self.authenticator.borrow_mut().do_authentication(origin().unwrap(), options).unwrap();
            credential.response.user_handle = Some(self.registered.user_handle.clone());
            let json = serde_json::to_string(&credential).unwrap();
            let state = ceremony_state(&*self.store, None, &start.id, self.clock.now()).await.unwrap();
            self.pending.borrow_mut().push_back(Assertion { id: start.id, json, credential, state });
        }
    }

    /// The next `n` assertions, making more if needed.
    async fn take(&self, n: usize) -> Vec<Assertion> {
        let missing = n.saturating_sub(self.pending.borrow().len());
        self.make(missing).await;
        self.pending.borrow_mut().drain(..n).collect()
    }

    /// The raw side: what the assertion names, then webauthn-rs's verification.
    fn raw_finish(&self, credential: &PublicKeyCredential, state: DiscoverableAuthentication) {
        let (handle, credential_id) = self.raw.identify_discoverable_authentication(credential).unwrap();
        // The host finds the user and passkey these name.
        assert!(handle.as_bytes() == self.registered.user_handle.as_slice());
        assert!(credential_id == self.raw_passkey.cred_id().as_slice());
        black_box(self.raw.finish_discoverable_authentication_v2(credential, state, &self.raw_passkey)).unwrap();
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
    let mut authenticator = SoftPasskey::new(true);
    let (registered, raw_passkey) = rt.block_on(async {
        let registered = register(&mfa, &clock, &user, FactorKind::PASSKEY, &mut authenticator).await.unwrap();
        let record = store.get_factor(&user, &registered.factor).await.unwrap().unwrap();
        (registered, serde_json::from_slice(&record.data).unwrap())
    });
    World {
        clock,
        store,
        mfa,
        raw,
        user,
        registered,
        raw_passkey,
        authenticator: RefCell::new(authenticator),
        pending: RefCell::default(),
    }
}

/// States for a batch of `iters` over `pool`: webauthn-rs takes the state by value, so the
/// clones are made before the timer starts.
fn states(pool: &[&Assertion], iters: u64) -> Vec<DiscoverableAuthentication> {
    (0..iters).map(|i| pool[(i % pool.len() as u64) as usize].state.clone()).collect()
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
            let states = states(&pool, iters);
            let start = Instant::now();
            for (i, state) in states.into_iter().enumerate() {
                w.raw_finish(black_box(&pool[i % pool.len()].credential), state);
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
            let states = states(&pool, iters);
            let start = Instant::now();
            for (i, state) in states.into_iter().enumerate() {
                let credential: PublicKeyCredential =
                    serde_json::from_str(black_box(&pool[i % pool.len()].json)).unwrap();
                w.raw_finish(&credential, state);
            }
            let elapsed = start.elapsed();
            record(&format!("{GROUP}/raw_with_json"), iters, elapsed);
            elapsed
        });
    });

    // Ours: the posted JSON, through the service; each sign-in is single-use, so each batch
    // takes assertions made before the timer started (the raw pool's first).
    group.bench_function("ours", |b| {
        b.to_async(rt).iter_custom(|iters| async move {
            let batch = w.take(usize::try_from(iters).unwrap()).await;
            let start = Instant::now();
            for a in batch {
                let proof = Proof::credential(a.json).unwrap();
                let verified = black_box(w.mfa.finish_passwordless(&a.id, &proof).await).unwrap();
                assert!(verified.user == w.user);
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
        "WebAuthn passwordless sign-in, passkey, memory store (budget 1.05x)",
        &[
            Comparison::new("passwordless finish", format!("{GROUP}/ours"), format!("{GROUP}/raw"), Some(1.05)),
            Comparison::new(
                "passwordless finish, raw incl. JSON parse",
                format!("{GROUP}/ours"),
                format!("{GROUP}/raw_with_json"),
                Some(1.05),
            ),
        ],
    );
}
