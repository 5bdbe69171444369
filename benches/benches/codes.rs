//! SMS and email code verification (`Mfa::finish_challenge` with the memory store) beside
//! the raw keyed-hash compare: HMAC-SHA-256 of the same inputs under the same key, then a
//! constant-time compare with the stored tag.

// Bench setup code: a failure to set up is a broken bench, reported by panicking.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::cell::RefCell;
use std::collections::VecDeque;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::Criterion;
use hmac::{Hmac, KeyInit, Mac};
use mfa_benches::{
    Comparison, LastCodeSender, enrol_by_code, print_summary, record, without_delivery_limits, without_state_limits,
};
use mfa_core::{CeremonyId, Clock, FactorId, FactorKind, ManualClock, Mfa, Proof, Settings, UserId, store::Store};
use mfa_otp::{EmailFactor, OobKey, SmsFactor};
use mfa_store_memory::MemoryStore;
use sha2::Sha256;
use subtle::ConstantTimeEq;

const GROUP: &str = "code_verify";
/// The code-hashing key, known here so the raw side can key the same HMAC.
const KEY: [u8; 32] = [5; 32];
/// Challenges the raw side cycles over (they are then finished by our side first).
const POOL: usize = 512;

/// A started challenge: its id, the code that was sent, and the tag the store holds.
struct Sent {
    id: CeremonyId,
    code: String,
    tag: Vec<u8>,
}

struct Channel {
    name: &'static str,
    user: UserId,
    factor: FactorId,
    pending: RefCell<VecDeque<Sent>>,
}

struct World {
    clock: ManualClock,
    store: Arc<dyn Store>,
    sender: LastCodeSender,
    mfa: Mfa,
    sms: Channel,
    email: Channel,
}

impl World {
    /// Starts `n` more challenges for `ch`, before any timer runs.
    async fn start(&self, ch: &Channel, n: usize) {
        for _ in 0..n {
            let challenge = self.mfa.start_challenge(&ch.user, Some(&ch.factor)).await.unwrap();
            let code = self.sender.take_code().unwrap();
            let stored = self.store.get_ceremony(Some(&ch.user), &challenge.id, self.clock.now()).await.unwrap();
            let tag = stored.unwrap().payload;
            ch.pending.borrow_mut().push_back(Sent { id: challenge.id, code, tag });
        }
    }

    /// The next `n` started challenges, starting more if needed.
    async fn take(&self, ch: &Channel, n: usize) -> Vec<Sent> {
        let missing = n.saturating_sub(ch.pending.borrow().len());
        self.start(ch, missing).await;
        ch.pending.borrow_mut().drain(..n).collect()
    }
}

async fn enrol(
    mfa: &Mfa,
    sender: &LastCodeSender,
    clock: &ManualClock,
    name: &'static str,
    kind: FactorKind,
    to: &str,
) -> Channel {
    let user = UserId::new(format!("{name}-user")).unwrap();
    let factor = enrol_by_code(mfa, sender, clock, &user, kind, to).await.unwrap();
    Channel { name, user, factor, pending: RefCell::default() }
}

fn world(rt: &tokio::runtime::Runtime) -> World {
    let clock = ManualClock::new(mfa_benches::START);
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let sender = LastCodeSender::new();
    let key = OobKey::new(&KEY).unwrap();
    let sms = SmsFactor::builder(sender.clone(), key.clone()).app_name("Bench").build().unwrap();
    let email = EmailFactor::builder(sender.clone(), key).app_name("Bench").build().unwrap();
    let mfa = Mfa::builder()
        .shared_store(store.clone())
        .shared_sealer(mfa_benches::sealer())
        .clock(clock.clone())
        .settings(without_state_limits(without_delivery_limits(Settings::default())))
        .factor(sms)
        .factor(email)
        .build()
        .unwrap();
    let (sms, email) = rt.block_on(async {
        let sms = enrol(&mfa, &sender, &clock, "sms", FactorKind::SMS, "+14155552671").await;
        let email = enrol(&mfa, &sender, &clock, "email", FactorKind::EMAIL, "user@example.com").await;
        (sms, email)
    });
    World { clock, store, sender, mfa, sms, email }
}

/// The raw primitive: the same HMAC-SHA-256 our code hashing computes (domain tag,
/// challenge id, user, factor id, code), from a pre-keyed state, and a constant-time compare.
fn raw_check(keyed: &Hmac<Sha256>, user: &UserId, factor: &FactorId, sent: &Sent) -> bool {
    let user = user.as_str().as_bytes();
    let mut mac = keyed.clone();
    mac.update(b"mfa-rs/oob-code/v1\0");
    mac.update(sent.id.as_bytes());
    mac.update(&u16::try_from(user.len()).unwrap_or(u16::MAX).to_be_bytes());
    mac.update(user);
    mac.update(factor.as_bytes());
    mac.update(sent.code.as_bytes());
    bool::from(mac.finalize().into_bytes().as_slice().ct_eq(&sent.tag))
}

fn bench(c: &mut Criterion, rt: &tokio::runtime::Runtime, w: &World) {
    let mut group = c.benchmark_group(GROUP);
    group.warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3)).sample_size(20);
    let keyed = <Hmac<Sha256> as KeyInit>::new_from_slice(&KEY).unwrap();

    for ch in [&w.sms, &w.email] {
        rt.block_on(w.start(ch, POOL));
        let raw_id = format!("{}/raw", ch.name);
        group.bench_function(&raw_id, |b| {
            b.iter_custom(|iters| {
                let pending = ch.pending.borrow();
                let pool: Vec<&Sent> = pending.iter().take(POOL).collect();
                let start = Instant::now();
                for i in 0..iters {
                    let sent = pool[(i % pool.len() as u64) as usize];
                    assert!(raw_check(&keyed, black_box(&ch.user), &ch.factor, black_box(sent)));
                }
                let elapsed = start.elapsed();
                record(&format!("{GROUP}/{raw_id}"), iters, elapsed);
                elapsed
            });
        });

        let ours_id = format!("{}/ours", ch.name);
        group.bench_function(&ours_id, |b| {
            b.to_async(rt).iter_custom(|iters| {
                let ours_id = &ours_id;
                async move {
                    let batch = w.take(ch, usize::try_from(iters).unwrap()).await;
                    let start = Instant::now();
                    for sent in batch {
                        let proof = Proof::code(&sent.code).unwrap();
                        black_box(w.mfa.finish_challenge(&ch.user, &sent.id, &proof).await).unwrap();
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
    print_summary(
        "SMS and email code verify, memory store (reported)",
        &[
            Comparison::new("SMS code", format!("{GROUP}/sms/ours"), format!("{GROUP}/sms/raw"), None),
            Comparison::new("email code", format!("{GROUP}/email/ours"), format!("{GROUP}/email/raw"), None),
        ],
    );
}
