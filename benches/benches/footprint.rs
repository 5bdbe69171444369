//! Bytes per user held by the memory store: users with three factors (an authenticator
//! app, a phone for SMS codes and a passkey) enrolled through `Mfa`, and users with one TOTP
//! factor as in the `memory_store` population. Not timed: counted with an allocator that
//! records every allocation, so this target has a binary of its own.

// Bench setup code: a failure to set up is a broken bench, reported by panicking.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::alloc::System;
use std::sync::Arc;
use std::time::Duration;

use mfa_benches::{LastCodeSender, Population, enrol_totp, fresh};
use mfa_core::{Clock, EnrolmentRequest, FactorKind, ManualClock, Mfa, Prompt, Proof, Settings, UserId, store::Store};
use mfa_otp::{OobKey, SmsFactor, TotpFactor};
use mfa_store_memory::MemoryStore;
use mfa_webauthn::WebauthnFactor;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, Stats, StatsAlloc};
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_rs::prelude::{CreationChallengeResponse, Url};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const ORIGIN: &str = "http://localhost:8080";
/// Users enrolled before counting starts (first-use allocations, lazily built tables).
const WARM_UP: usize = 20;
/// Users with three factors counted.
const USERS: usize = 1_000;
/// Users with one TOTP factor counted.
const TOTP_USERS: usize = 100_000;

/// Live bytes (as requested from the allocator) and live allocations.
fn live(stats: &Stats) -> (i64, i64) {
    let bytes = stats.bytes_allocated as i64 - stats.bytes_deallocated as i64;
    let allocations = stats.allocations as i64 - stats.deallocations as i64;
    (bytes, allocations)
}

/// Resident set size in bytes, from `/proc/self/status` (0 where there is none).
fn rss() -> i64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<i64>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn report(what: &str, users: usize, stats: &Stats, rss_delta: i64) {
    let (bytes, allocations) = live(stats);
    let n = users as f64;
    println!(
        "{what:<58} {:>7.0} B/user requested  {:>5.1} allocations/user  {:>7.0} B/user resident (RSS)",
        bytes as f64 / n,
        allocations as f64 / n,
        rss_delta as f64 / n,
    );
}

struct World {
    clock: ManualClock,
    mfa: Mfa,
    totp: TotpFactor,
    sender: LastCodeSender,
}

/// Enrols user `i` with an authenticator app, a phone and a passkey, through the service.
async fn enrol_three(w: &World, i: usize) {
    let user = UserId::new(format!("user-{i:07}")).unwrap();
    enrol_totp(&w.mfa, &w.totp, &w.clock, &user).await.unwrap();

    let phone = format!("+1415555{:04}", i % 10_000);
    let request = EnrolmentRequest::new(FactorKind::SMS).destination(phone);
    let start = w.mfa.start_enrolment(&user, &fresh(&w.clock), request).await.unwrap();
    let code = w.sender.take_code().unwrap();
    w.mfa.finish_enrolment(&user, &fresh(&w.clock), &start.factor.id, &Proof::code(&code).unwrap()).await.unwrap();

    let start =
        w.mfa.start_enrolment(&user, &fresh(&w.clock), EnrolmentRequest::new(FactorKind::PASSKEY)).await.unwrap();
    let Prompt::PublicKeyCredential { options_json } = &start.prompt else { unreachable!("WebAuthn options") };
    let mut options: serde_json::Value = serde_json::from_str(options_json).unwrap();
    // A software authenticator keeps no resident keys: lift that requirement client-side.
    options["publicKey"]["authenticatorSelection"]["residentKey"] = "discouraged".into();
    options["publicKey"]["authenticatorSelection"]["requireResidentKey"] = false.into();
    let options: CreationChallengeResponse = serde_json::from_value(options).unwrap();
    let created = SoftPasskey::new(true).do_registration(Url::parse(ORIGIN).unwrap(), options).unwrap();
    let proof = Proof::credential(serde_json::to_string(&created).unwrap()).unwrap();
    w.mfa.finish_enrolment(&user, &fresh(&w.clock), &start.factor.id, &proof).await.unwrap();
}

fn three_factors(rt: &tokio::runtime::Runtime) {
    let clock = ManualClock::new(mfa_benches::START);
    let store = MemoryStore::new();
    let sender = LastCodeSender::new();
    let totp = TotpFactor::new("Bench").unwrap();
    let sms = SmsFactor::builder(sender.clone(), OobKey::new(&[5; 32]).unwrap()).app_name("Bench").build().unwrap();
    let webauthn = WebauthnFactor::builder("localhost", "Bench", ORIGIN).build().unwrap();
    // Thousands of enrolments at one instant share ten number ranges: lift the range cap.
    // Its counters are still kept, so their memory is measured too.
    let mut settings = Settings::default();
    if let Some(prefix) = &mut settings.delivery.prefix {
        prefix.max = u32::MAX;
    }
    let mfa = Mfa::builder()
        .settings(settings)
        .store(store.clone())
        .shared_sealer(mfa_benches::sealer())
        .clock(clock.clone())
        .factor(totp.clone())
        .factor(sms)
        .factor(webauthn)
        .build()
        .unwrap();
    let w = World { clock, mfa, totp, sender };
    rt.block_on(async {
        for i in 0..WARM_UP {
            enrol_three(&w, i).await;
        }
        let (region, rss_before) = (Region::new(GLOBAL), rss());
        for i in WARM_UP..WARM_UP + USERS {
            enrol_three(&w, i).await;
        }
        report("3 factors (TOTP, SMS, passkey), just after enrolment", USERS, &region.change(), rss() - rss_before);
        // Send counters and finished ceremonies expire; a periodic purge removes them.
        w.clock.advance(Duration::from_secs(24 * 3600));
        store.purge_expired(w.clock.now()).await.unwrap();
        report("3 factors (TOTP, SMS, passkey), after purge_expired", USERS, &region.change(), rss() - rss_before);
    });
}

fn totp_only(rt: &tokio::runtime::Runtime) {
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
    rt.block_on(async {
        let mut population = Population::new(&mfa, store, sealer, &totp, &clock).await.unwrap();
        population.grow_to(1_000).await.unwrap();
        // The population also keeps each member's user id and key for the benches (the
        // list is reserved before counting; each id is one allocation): not the store's.
        population.members.reserve(TOTP_USERS);
        let (region, rss_before) = (Region::new(GLOBAL), rss());
        population.grow_to(1_000 + TOTP_USERS).await.unwrap();
        let mut stats = region.change();
        stats.bytes_deallocated += "member-0000000".len() * TOTP_USERS;
        stats.deallocations += TOTP_USERS;
        report("1 TOTP factor (the memory_store population)", TOTP_USERS, &stats, rss() - rss_before);
    });
}

fn main() {
    // `cargo bench -- FILTER` runs only the benches matching FILTER.
    let filters: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    if !filters.is_empty() && !filters.iter().any(|f| "footprint".contains(f.as_str())) {
        return;
    }
    let rt = mfa_benches::current_thread().unwrap();
    println!("\n=== summary: memory store footprint ===");
    println!(
        "(a factor record is {} B inline before its heap parts; user ids are 12-14 characters)",
        std::mem::size_of::<mfa_core::store::FactorRecord>()
    );
    three_factors(&rt);
    totp_only(&rt);
    println!();
}
