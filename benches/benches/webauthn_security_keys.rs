//! Security-key sign-in as a second factor: `Mfa::finish_challenge` (memory store) of
//! assertions from two software keys, beside webauthn-rs 0.6
//! `finish_securitykey_authentication` of the same assertions with the
//! `SecurityKeyAuthentication` state the service stored:
//!
//! - `ctap2`: a CTAP2 key (webauthn-authenticator-rs `SoftToken`, `packed` attestation)
//!   registered as a security key ([`FactorKind::SECURITY_KEY`]);
//! - `u2f`: a U2F-era key registered with a `fido-u2f` attestation as an older device
//!   ([`FactorKind::OLDER_DEVICE`]). webauthn-authenticator-rs cannot make U2F
//!   registrations itself (its soft authenticators attest `packed`): the key is the
//!   integration tests' `SoftToken` wrapper ([`U2fSoftKey`]), whose registrations are
//!   rewritten into `fido-u2f` and whose assertions are the `SoftToken`'s, shaped as a U2F
//!   key's (user presence, no user verification).
//!
//! Both kinds sign in through the same webauthn-rs call; the stored credential differs
//! (its attestation format and AAGUID), and so does what the service keeps of it.

// Bench setup code: a failure to set up is a broken bench, reported by panicking.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::cell::RefCell;
use std::collections::VecDeque;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::Criterion;
use mfa_benches::authenticators::{ORIGIN, RP_ID, assert_with, ceremony_state, origin, register};
use mfa_benches::u2f::U2fSoftKey;
use mfa_benches::{Comparison, print_summary, record};
use mfa_core::{CeremonyId, Clock, FactorId, FactorKind, ManualClock, Mfa, Proof, UserId, store::Store};
use mfa_store_memory::MemoryStore;
use mfa_webauthn::WebauthnFactor;
use webauthn_authenticator_rs::AuthenticatorBackend;
use webauthn_authenticator_rs::softtoken::SoftToken;
use webauthn_rs::prelude::{PublicKeyCredential, SecurityKeyAuthentication, Webauthn, WebauthnBuilder};

const GROUP: &str = "webauthn_security_key";
/// Assertions the raw side cycles over, per key (they are then finished by our side first).
const POOL: usize = 256;

/// A challenge started through the service and the key's answer to it: as the JSON the
/// browser posts (our input), and parsed with the state the service stored (the raw input).
struct Assertion {
    id: CeremonyId,
    json: String,
    credential: PublicKeyCredential,
    state: SecurityKeyAuthentication,
}

/// One key, its own user, and the assertions made with it and not yet finished by us.
struct Key {
    name: &'static str,
    user: UserId,
    factor: FactorId,
    authenticator: RefCell<Box<dyn AuthenticatorBackend>>,
    pending: RefCell<VecDeque<Assertion>>,
}

struct World {
    clock: ManualClock,
    store: Arc<dyn Store>,
    mfa: Mfa,
    raw: Webauthn,
    keys: Vec<Key>,
}

impl World {
    /// Makes `n` more assertions with `key`, each for a new challenge, in order (their
    /// signature counters increase, so our side must finish them in that order).
    async fn make(&self, key: &Key, n: usize) {
        for _ in 0..n {
            let challenge = self.mfa.start_challenge(&key.user, Some(&key.factor)).await.unwrap();
            let (credential, json) = assert_with(&mut **key.authenticator.borrow_mut(), &challenge.prompt).unwrap();
            let state = ceremony_state(&*self.store, Some(&key.user), &challenge.id, self.clock.now()).await.unwrap();
            key.pending.borrow_mut().push_back(Assertion { id: challenge.id, json, credential, state });
        }
    }

    /// The next `n` assertions of `key`, making more if needed.
    async fn take(&self, key: &Key, n: usize) -> Vec<Assertion> {
        let missing = n.saturating_sub(key.pending.borrow().len());
        self.make(key, missing).await;
        key.pending.borrow_mut().drain(..n).collect()
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
    let (ctap2, _ca) = SoftToken::new(false).unwrap();
    let u2f = U2fSoftKey::new().unwrap();
    let keys: [(&'static str, FactorKind, &'static str, Box<dyn AuthenticatorBackend>); 2] = [
        ("ctap2", FactorKind::SECURITY_KEY, "packed", Box::new(ctap2)),
        ("u2f", FactorKind::OLDER_DEVICE, "fido-u2f", Box::new(u2f)),
    ];
    let keys = rt.block_on(async {
        let mut out = Vec::new();
        for (name, kind, format, mut authenticator) in keys {
            let user = UserId::new(format!("{name}-user")).unwrap();
            let registered = register(&mfa, &clock, &user, kind, &mut *authenticator).await.unwrap();
            let summary = mfa.get_factor(&user, &registered.factor).await.unwrap();
            let attested = summary.details.iter().find(|(k, _)| k == "attestation_format").map(|(_, v)| v.as_str());
            assert_eq!(attested, Some(format), "{name}: registered with a {format} attestation");
            out.push(Key {
                name,
                user,
                factor: registered.factor,
                authenticator: RefCell::new(authenticator),
                pending: RefCell::default(),
            });
        }
        out
    });
    World { clock, store, mfa, raw, keys }
}

fn bench(c: &mut Criterion, rt: &tokio::runtime::Runtime, w: &World) {
    let mut group = c.benchmark_group(GROUP);
    group.warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(4)).sample_size(20);

    for key in &w.keys {
        rt.block_on(w.make(key, POOL));
        // Raw: the parsed assertion and the state in memory, as webauthn-rs takes them.
        let raw_id = format!("{}/raw", key.name);
        group.bench_function(&raw_id, |b| {
            b.iter_custom(|iters| {
                let pending = key.pending.borrow();
                let pool: Vec<&Assertion> = pending.iter().take(POOL).collect();
                let start = Instant::now();
                for i in 0..iters {
                    let a = pool[(i % pool.len() as u64) as usize];
                    black_box(w.raw.finish_securitykey_authentication(black_box(&a.credential), &a.state)).unwrap();
                }
                let elapsed = start.elapsed();
                record(&format!("{GROUP}/{raw_id}"), iters, elapsed);
                elapsed
            });
        });

        // Raw including parsing the posted JSON, which a host of webauthn-rs also has to do.
        let json_id = format!("{}/raw_with_json", key.name);
        group.bench_function(&json_id, |b| {
            b.iter_custom(|iters| {
                let pending = key.pending.borrow();
                let pool: Vec<&Assertion> = pending.iter().take(POOL).collect();
                let start = Instant::now();
                for i in 0..iters {
                    let a = pool[(i % pool.len() as u64) as usize];
                    let credential: PublicKeyCredential = serde_json::from_str(black_box(&a.json)).unwrap();
                    black_box(w.raw.finish_securitykey_authentication(&credential, &a.state)).unwrap();
                }
                let elapsed = start.elapsed();
                record(&format!("{GROUP}/{json_id}"), iters, elapsed);
                elapsed
            });
        });

        // Ours: the posted JSON, through the service; each challenge is single-use, so each
        // batch takes assertions made before the timer started (the raw pool's first).
        let ours_id = format!("{}/ours", key.name);
        group.bench_function(&ours_id, |b| {
            b.to_async(rt).iter_custom(|iters| {
                let ours_id = &ours_id;
                async move {
                    let batch = w.take(key, usize::try_from(iters).unwrap()).await;
                    let start = Instant::now();
                    for a in batch {
                        let proof = Proof::credential(a.json).unwrap();
                        black_box(w.mfa.finish_challenge(&key.user, &a.id, &proof).await).unwrap();
                    }
                    let elapsed = start.elapsed();
                    record(&format!("{GROUP}/{ours_id}"), iters, elapsed);
                    elapsed
                }
            });
        });
    }
    group.finish();
}

fn main() {
    let rt = mfa_benches::current_thread().unwrap();
    let w = world(&rt);
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c, &rt, &w);
    c.final_summary();
    let mut rows = Vec::new();
    for (name, what) in [("ctap2", "CTAP2 key (packed)"), ("u2f", "U2F key (fido-u2f)")] {
        let ours = format!("{GROUP}/{name}/ours");
        rows.push(Comparison::new(what, &ours, format!("{GROUP}/{name}/raw"), Some(1.05)));
        rows.push(Comparison::new(
            format!("{what}, raw incl. JSON parse"),
            ours,
            format!("{GROUP}/{name}/raw_with_json"),
            Some(1.05),
        ));
    }
    print_summary("WebAuthn second factor, security keys, memory store (budget 1.05x)", &rows);
}
