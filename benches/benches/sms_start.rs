//! Starting an SMS challenge (`Mfa::start_challenge`, memory store) through the delivery
//! gate, with a sender that does nothing, beside the raw work the stored challenge needs: a
//! random challenge id and 6-digit code from `rand`'s thread RNG, and the HMAC-SHA-256 of the
//! code the library stores (domain tag, challenge id, user, factor id, code) under the same
//! key.
//!
//! The gate never refuses but counts every send in the store, in two shapes:
//! - `unlimited`: [`without_delivery_limits`], which leaves the per-factor and
//!   per-destination counters (each read, then compare-and-set);
//! - `default_caps`: the default limits — per factor, per destination, per user and per
//!   number range — with every cap raised out of reach and no cooldown, so each of the four
//!   counters is read and counted as under the defaults.
//!
//! Besides the gate, ours opens the sealed number, checks the factor's throttle, counts the
//! open challenges ([`without_state_limits`] lifts their bound, the counting stays), renders
//! the message, stores the ceremony and counts the recovery codes left. The library draws
//! its ids and codes from the OS CSPRNG (`getrandom`), not a user-space RNG; `raw_os_rng` is
//! the raw work with that source. Started challenges pile up in the store: after each batch
//! (untimed) the clock moves past their lifetime and the store purges them.

// Bench setup code: a failure to set up is a broken bench, reported by panicking.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use criterion::Criterion;
use hmac::{Hmac, KeyInit, Mac};
use mfa_benches::{
    Comparison, LastCodeSender, enrol_by_code, print_summary, record, without_delivery_limits, without_state_limits,
};
use mfa_core::settings::{PrefixCap, WindowCap};
use mfa_core::{Clock, FactorId, FactorKind, ManualClock, Mfa, Settings, UserId, store::Store};
use mfa_otp::{Message, OobKey, SendError, Sender, SmsFactor};
use mfa_store_memory::MemoryStore;
use rand::{Rng, RngExt};
use sha2::Sha256;

const GROUP: &str = "sms_start";
/// The code-hashing key, known here so the raw side can key the same HMAC.
const KEY: [u8; 32] = [5; 32];
const NUMBER: &str = "+14155552671";

/// A sender that sends nothing: only our path is measured, not a provider.
#[derive(Debug, Clone, Copy)]
struct NullSender;

#[async_trait]
impl Sender for NullSender {
    async fn send(&self, _message: &Message) -> Result<(), SendError> {
        Ok(())
    }
}

struct World {
    clock: ManualClock,
    store: Arc<dyn Store>,
    /// Delivery limits lifted.
    unlimited: Mfa,
    /// The default limits, caps raised out of reach.
    default_caps: Mfa,
    challenge_ttl: Duration,
    user: UserId,
    factor: FactorId,
}

/// The default delivery limits with every cap out of reach and no cooldown: each send is
/// still counted under all four counters the defaults count.
fn default_caps_raised(mut settings: Settings) -> Settings {
    let hour = Duration::from_secs(3600);
    let delivery = &mut settings.delivery;
    delivery.cooldown = Duration::ZERO;
    delivery.max_per_window = u32::MAX;
    delivery.prefix = delivery.prefix.map(|p| PrefixCap::new(p.digits, p.window, u32::MAX));
    delivery.per_user = Some(WindowCap::new(delivery.per_user.map_or(hour, |c| c.window), u32::MAX));
    assert!(delivery.prefix.is_some(), "the defaults cap number ranges");
    settings
}

fn world(rt: &tokio::runtime::Runtime) -> World {
    let clock = ManualClock::new(mfa_benches::START);
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let key = OobKey::new(&KEY).unwrap();
    let build = |settings: Settings, sender: &dyn Fn() -> SmsFactor| {
        Mfa::builder()
            .shared_store(store.clone())
            .shared_sealer(mfa_benches::sealer())
            .clock(clock.clone())
            .settings(without_state_limits(settings))
            .factor(sender())
            .build()
            .unwrap()
    };
    // Enrolment needs the code that was sent: enrol through a service whose sender keeps it.
    let sender = LastCodeSender::new();
    let keeps = || SmsFactor::builder(sender.clone(), key.clone()).app_name("Bench").build().unwrap();
    let null = || SmsFactor::builder(NullSender, key.clone()).app_name("Bench").build().unwrap();
    let enrolling = build(without_delivery_limits(Settings::default()), &keeps);
    let unlimited = build(without_delivery_limits(Settings::default()), &null);
    let default_caps = build(default_caps_raised(Settings::default()), &null);
    let user = UserId::new("alice").unwrap();
    let factor = rt.block_on(enrol_by_code(&enrolling, &sender, &clock, &user, FactorKind::SMS, NUMBER)).unwrap();
    let challenge_ttl = Settings::default().challenge_ttl;
    World { clock, store, unlimited, default_caps, challenge_ttl, user, factor }
}

impl World {
    /// Moves past the lifetime of every challenge started so far and purges them (untimed).
    async fn purge(&self) {
        self.clock.advance(self.challenge_ttl + Duration::from_secs(1));
        self.store.purge_expired(self.clock.now()).await.unwrap();
    }
}

/// The tag the library stores for `code` of challenge `id`: HMAC-SHA-256 from a pre-keyed
/// state over the domain tag, the challenge id, the user, the factor id and the code.
fn raw_tag(keyed: &Hmac<Sha256>, user: &UserId, factor: &FactorId, id: &[u8; 16], code: &str) -> [u8; 32] {
    let user = user.as_str().as_bytes();
    let mut mac = keyed.clone();
    mac.update(b"mfa-rs/oob-code/v1\0");
    mac.update(id);
    mac.update(&u16::try_from(user.len()).unwrap_or(u16::MAX).to_be_bytes());
    mac.update(user);
    mac.update(factor.as_bytes());
    mac.update(code.as_bytes());
    mac.finalize().into_bytes().into()
}

/// A uniform 6-digit number from the OS CSPRNG, as the library draws its codes.
fn os_code() -> u32 {
    let limit = u64::MAX - (u64::MAX % 1_000_000);
    loop {
        let mut raw = [0u8; 8];
        mfa_core::secret::fill_random(&mut raw).unwrap();
        let n = u64::from_be_bytes(raw);
        if n < limit {
            return u32::try_from(n % 1_000_000).unwrap();
        }
    }
}

fn bench(c: &mut Criterion, rt: &tokio::runtime::Runtime, w: &World) {
    let mut group = c.benchmark_group(GROUP);
    group.warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3)).sample_size(30);
    let keyed = <Hmac<Sha256> as KeyInit>::new_from_slice(&KEY).unwrap();

    for (name, mfa) in [("unlimited", &w.unlimited), ("default_caps", &w.default_caps)] {
        let id = format!("{GROUP}/{name}/ours");
        group.bench_function(format!("{name}/ours"), |b| {
            b.to_async(rt).iter_custom(|iters| {
                let id = &id;
                async move {
                    let start = Instant::now();
                    for _ in 0..iters {
                        black_box(mfa.start_challenge(&w.user, Some(&w.factor)).await).unwrap();
                    }
                    let elapsed = start.elapsed();
                    w.purge().await;
                    record(id, iters, elapsed);
                    elapsed
                }
            });
        });
    }

    group.bench_function("raw", |b| {
        b.iter_custom(|iters| {
            let mut rng = rand::rng();
            let start = Instant::now();
            for _ in 0..iters {
                let mut id = [0u8; 16];
                rng.fill_bytes(&mut id);
                let code = format!("{:06}", rng.random_range(0..1_000_000u32));
                black_box(raw_tag(&keyed, black_box(&w.user), &w.factor, &id, &code));
            }
            let elapsed = start.elapsed();
            record(&format!("{GROUP}/raw"), iters, elapsed);
            elapsed
        });
    });

    group.bench_function("raw_os_rng", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                let mut id = [0u8; 16];
                mfa_core::secret::fill_random(&mut id).unwrap();
                let code = format!("{:06}", os_code());
                black_box(raw_tag(&keyed, black_box(&w.user), &w.factor, &id, &code));
            }
            let elapsed = start.elapsed();
            record(&format!("{GROUP}/raw_os_rng"), iters, elapsed);
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
        "SMS challenge start through the delivery gate, memory store (reported)",
        &[
            Comparison::new(
                "limits lifted (2 counters counted)",
                format!("{GROUP}/unlimited/ours"),
                format!("{GROUP}/raw"),
                None,
            ),
            Comparison::new(
                "default limits, caps raised (4 counters)",
                format!("{GROUP}/default_caps/ours"),
                format!("{GROUP}/raw"),
                None,
            ),
            Comparison::new(
                "raw with the OS CSPRNG, as the library draws",
                format!("{GROUP}/raw_os_rng"),
                format!("{GROUP}/raw"),
                None,
            ),
        ],
    );
}
