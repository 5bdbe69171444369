//! Online guessing: an attacker making 100,000 wrong guesses against a TOTP and an SMS
//! factor on a simulated clock, with the default throttle and with a guess budget; and
//! hundreds of parallel wrong guesses against every kind of counter, on every store.
//!
//! The brute-force figures are printed and appended to `target/abuse-report.txt`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers panic on purpose

mod support;

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use mfa_core::store::ThrottleScope;
use mfa_core::testing::RecordingEventSink;
use mfa_core::throttle::GuessBudget;
use mfa_core::{
    AeadSealer, CeremonyId, DeviceId, Error, EventKind, EventSink, FactorKind, FailureReason, Mfa, Settings, Timestamp,
    UserId, seal::KeyId, store::Store, throttle::ThrottleSettings,
};
use mfa_otp::{OobKey, SmsFactor};
use mfa_store_memory::MemoryStore;
use mfa_webauthn::WebauthnFactor;
use support::world::{self, World, code};

const GUESSES: u64 = 100_000;
const PHONE: &str = "+14155552671";
const DAY: Duration = Duration::from_secs(24 * 3600);

/// How fast the attacker guesses.
#[derive(Debug, Clone, Copy)]
enum Pace {
    /// One guess every this long, whatever the answers say.
    Every(Duration),
    /// The next guess at the earliest moment the service would evaluate it (waiting out
    /// every `retry_after`, guessing again at once after an evaluated failure).
    Earliest,
}

impl Pace {
    fn label(self) -> String {
        match self {
            Pace::Every(d) => format!("{:.0}/s", 1.0 / d.as_secs_f64()),
            Pace::Earliest => "earliest".into(),
        }
    }
}

/// What an attack achieved.
#[derive(Debug, Default)]
struct Tally {
    guesses: u64,
    evaluated: u64,
    refused: u64,
    /// When each evaluated guess was made.
    evaluated_at: Vec<Timestamp>,
    start: Option<Timestamp>,
    end: Option<Timestamp>,
}

impl Tally {
    fn span(&self) -> Duration {
        self.end.unwrap().duration_since(self.start.unwrap())
    }

    /// The most guesses evaluated within any 24 hours.
    fn busiest_day(&self) -> u64 {
        let times = &self.evaluated_at;
        let mut best = 0;
        let mut j = 0;
        for i in 0..times.len() {
            while j < times.len() && times[j] < times[i].saturating_add(DAY) {
                j += 1;
            }
            best = best.max(j - i);
        }
        best as u64
    }
}

/// Guesses a never-succeeding attacker gets evaluated within `span` of the first, trying
/// whenever `throttle` allows.
fn allowed_within(throttle: &ThrottleSettings, span: Duration) -> u64 {
    let mut at = Duration::ZERO;
    let mut attempts = 0u64;
    while at <= span {
        attempts += 1;
        at += throttle.delay_after(u32::try_from(attempts).unwrap()).unwrap_or(Duration::ZERO);
    }
    attempts
}

/// The n-th candidate wrong code: a deterministic walk over the 10^6 codes.
fn candidate(n: u64) -> String {
    format!("{:06}", (n.wrapping_mul(7_919).wrapping_add(104_729)) % 1_000_000)
}

fn policy_with(budget: Option<GuessBudget>) -> Settings {
    let mut settings = Settings::default();
    settings.recovery_codes = mfa_core::recovery::RecoveryCodeSettings::fast_insecure_for_tests();
    settings.guess_budget = budget;
    settings
}

/// One line per scenario in `target/abuse-report.txt`, and on stderr.
fn report(scenario: &str, tally: &Tally, per_guess: f64, budget: &str) {
    let achieved = tally.evaluated as f64 * per_guess;
    let line = format!(
        "{scenario}: guesses={} evaluated={} refused={} simulated={:.1} h ({:.2} days) busiest_day={} \
         achieved_probability={achieved:.3e} (per guess {per_guess:.0e}) budget={budget}",
        tally.guesses,
        tally.evaluated,
        tally.refused,
        tally.span().as_secs_f64() / 3600.0,
        tally.span().as_secs_f64() / 86_400.0,
        tally.busiest_day(),
    );
    eprintln!("{line}");
    let target = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).parent().unwrap().join("abuse-report.txt");
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(target).unwrap();
    writeln!(file, "{line}").unwrap();
}

/// Checks the figures against the schedule the attacker faced: never more evaluations
/// than it allows over the simulated time or in any one day, and exactly that many for an
/// attacker who guesses at the earliest moment.
fn assert_within_schedule(tally: &Tally, throttle: &ThrottleSettings, pace: Pace) {
    assert_eq!(tally.guesses, GUESSES);
    assert_eq!(tally.evaluated + tally.refused, tally.guesses, "every guess is evaluated or refused");
    let allowed = allowed_within(throttle, tally.span());
    assert!(tally.evaluated <= allowed, "{} evaluated, the schedule allows {allowed}", tally.evaluated);
    assert!(tally.busiest_day() <= throttle.attempts_per_day(), "{} in one day", tally.busiest_day());
    if let Pace::Earliest = pace {
        assert!(tally.evaluated + 1 >= allowed, "the attacker got every guess the schedule allows: {tally:?}");
    }
}

// ----- TOTP -------------------------------------------------------------------------------

/// Makes `GUESSES` wrong guesses against a TOTP factor at `pace`; a factor disabled for good
/// is tried again once an hour.
async fn guess_totp(w: &World, alice: &UserId, id: mfa_core::FactorId, key: &[u8], pace: Pace) -> Tally {
    let mut tally = Tally { start: Some(w.now()), ..Tally::default() };
    let mut n = 0u64;
    for _ in 0..GUESSES {
        // A wrong code: skip any of the three the service would accept right now.
        let t = w.now().unix_secs() as u64;
        let valid: Vec<String> = [t - 30, t, t + 30].iter().map(|s| w.totp.code_at(key, *s).unwrap()).collect();
        let guess = loop {
            n += 1;
            let c = candidate(n);
            if !valid.contains(&c) {
                break c;
            }
        };
        tally.guesses += 1;
        tally.end = Some(w.now());
        let wait = match w.mfa.verify(alice, &id, &code(&guess)).await {
            Err(Error::InvalidCode) => {
                tally.evaluated += 1;
                tally.evaluated_at.push(w.now());
                Duration::ZERO
            }
            Err(Error::Locked { retry_after }) => {
                tally.refused += 1;
                retry_after
            }
            Err(Error::Disabled) => {
                tally.refused += 1;
                Duration::from_secs(3600)
            }
            other => panic!("guess {guess}: {other:?}"),
        };
        w.clock.advance(match pace {
            Pace::Every(d) => d,
            Pace::Earliest => wait,
        });
    }
    tally
}

async fn brute_force_totp(budget: Option<GuessBudget>, pace: Pace) -> (Tally, ThrottleSettings, f64) {
    let w = World::with(Arc::new(MemoryStore::new()), policy_with(budget), None);
    let alice = UserId::new("alice").unwrap();
    let (id, key, _) = w.enrol_totp(&alice).await;
    let per_guess = 3.0 / 1e6;
    let throttle = budget.map_or(ThrottleSettings::default(), |b| b.throttle_for(per_guess));
    let tally = guess_totp(&w, &alice, id, &key, pace).await;

    // The attacker stops. While the lock lasts even the right code is refused; once it
    // has passed, the user signs in.
    let state = w.store.get_throttle(&alice, &ThrottleScope::Factor(id)).await.unwrap();
    if let Some(wait) = throttle.wait(&state, w.now()) {
        let right = code(&w.totp_code(&key));
        assert!(matches!(w.mfa.verify(&alice, &id, &right).await, Err(Error::Locked { .. })));
        w.clock.advance(wait);
    }
    w.mfa.verify(&alice, &id, &code(&w.totp_code(&key))).await.unwrap();
    (tally, throttle, per_guess)
}

#[tokio::test]
async fn totp_brute_force_at_ten_guesses_a_second_is_held_to_the_default_schedule() {
    let pace = Pace::Every(Duration::from_millis(100));
    let (tally, throttle, p) = brute_force_totp(None, pace).await;
    report(&format!("totp default throttle, {}", pace.label()), &tally, p, "none (default schedule)");
    assert_within_schedule(&tally, &throttle, pace);
}

#[tokio::test]
async fn totp_brute_force_at_the_earliest_moments_is_held_to_the_default_schedule() {
    let (tally, throttle, p) = brute_force_totp(None, Pace::Earliest).await;
    report("totp default throttle, earliest", &tally, p, "none (default schedule)");
    assert_within_schedule(&tally, &throttle, Pace::Earliest);
    // The default schedule: 33 guesses a day, about 1e-4 a day against a 6-digit TOTP.
    assert_eq!(tally.busiest_day(), 33);
}

#[tokio::test]
async fn totp_brute_force_stays_within_the_guess_budget() {
    let budget = GuessBudget::new(1e-5, 1);
    let (tally, throttle, p) = brute_force_totp(Some(budget), Pace::Earliest).await;
    report("totp budget 1e-5/day, earliest", &tally, p, "1e-5 per day");
    assert_within_schedule(&tally, &throttle, Pace::Earliest);
    let per_day = 1.0 - (1.0 - p).powf(tally.busiest_day() as f64);
    assert!(per_day <= 1e-5, "{per_day:e} in the busiest day");
    let days = tally.span().as_secs_f64() / 86_400.0;
    assert!(tally.evaluated as f64 * p <= 1e-5 * days.ceil().max(1.0), "the budget holds over the whole attack");
}

#[tokio::test]
async fn totp_brute_force_against_a_hard_stop_ends_at_one_hundred_failures() {
    let mut settings = policy_with(None);
    settings.throttle = ThrottleSettings::default().max_failures(100);
    let w = World::with(Arc::new(MemoryStore::new()), settings, None);
    let alice = UserId::new("alice").unwrap();
    let (id, key, _) = w.enrol_totp(&alice).await;
    let per_guess = 3.0 / 1e6;
    let tally = guess_totp(&w, &alice, id, &key, Pace::Earliest).await;
    report("totp hard stop at 100, earliest", &tally, per_guess, "100 consecutive failures (NIST)");
    assert_eq!(tally.evaluated, 100, "no guess after the hundredth failure is evaluated");
    assert_eq!(tally.evaluated + tally.refused, GUESSES);
    // The owner's right code is refused too: the factor must be replaced.
    assert!(matches!(w.mfa.verify(&alice, &id, &code(&w.totp_code(&key))).await, Err(Error::Disabled)));
}

// ----- SMS --------------------------------------------------------------------------------

async fn brute_force_sms(budget: Option<GuessBudget>, pace: Pace) -> (Tally, ThrottleSettings, f64, u64) {
    let mut settings = policy_with(budget);
    settings.delivery = mfa_core::settings::DeliverySettings::default(); // the real delivery limits
    let w = World::with(Arc::new(MemoryStore::new()), settings, None);
    let alice = UserId::new("alice").unwrap();
    let id = w.enrol_oob(&alice, FactorKind::SMS, PHONE).await;
    w.advance(30);
    let per_guess = 1e-6;
    let throttle = budget.map_or(ThrottleSettings::default(), |b| b.throttle_for(per_guess));
    let mut tally = Tally { start: Some(w.now()), ..Tally::default() };
    let mut challenge: Option<CeremonyId> = None;
    let mut sends = 0u64;
    let mut n = 0u64;
    for _ in 0..GUESSES {
        tally.guesses += 1;
        tally.end = Some(w.now());
        let mut wait = Duration::ZERO;
        // A new code whenever the last one is used up or expired, within the limits.
        let current = match challenge {
            Some(c) => Some(c),
            None => match w.mfa.start_challenge(&alice, Some(&id)).await {
                Ok(c) => {
                    sends += 1;
                    challenge = Some(c.id);
                    Some(c.id)
                }
                Err(Error::RateLimited { retry_after } | Error::Locked { retry_after }) => {
                    tally.refused += 1;
                    wait = retry_after;
                    None
                }
                Err(e) => panic!("{e:?}"),
            },
        };
        if let Some(c) = current {
            let real = w.sent_code(PHONE);
            let guess = loop {
                n += 1;
                let g = candidate(n);
                if g != real {
                    break g;
                }
            };
            match w.mfa.finish_challenge(&alice, &c, &code(&guess)).await {
                Err(Error::InvalidCode) => {
                    tally.evaluated += 1;
                    tally.evaluated_at.push(w.now());
                }
                Err(Error::Locked { retry_after }) => {
                    tally.refused += 1;
                    wait = retry_after;
                }
                Err(Error::Expired) => {
                    tally.refused += 1;
                    challenge = None;
                }
                other => panic!("guess {guess}: {other:?}"),
            }
        }
        w.clock.advance(match pace {
            Pace::Every(d) => d,
            Pace::Earliest => wait,
        });
    }

    // The attacker stops; once the lock and the delivery window have passed, the user's
    // own code works.
    let state = w.store.get_throttle(&alice, &ThrottleScope::Factor(id)).await.unwrap();
    let wait = throttle.wait(&state, w.now()).unwrap_or_default();
    w.clock.advance(wait.max(Duration::from_secs(15 * 60)));
    let c = w.mfa.start_challenge(&alice, Some(&id)).await.unwrap();
    w.mfa.finish_challenge(&alice, &c.id, &code(&w.sent_code(PHONE))).await.unwrap();
    (tally, throttle, per_guess, sends)
}

#[tokio::test]
async fn sms_brute_force_at_ten_guesses_a_second_is_held_to_the_default_schedule() {
    let pace = Pace::Every(Duration::from_millis(100));
    let (tally, throttle, p, sends) = brute_force_sms(None, pace).await;
    report(&format!("sms default throttle, {} ({sends} codes sent)", pace.label()), &tally, p, "none");
    assert_within_schedule(&tally, &throttle, pace);
    // 5 sends per 15 minutes at most.
    let windows = (tally.span().as_secs() / (15 * 60)) + 1;
    assert!(sends <= 5 * windows, "{sends} sends in {windows} windows");
}

#[tokio::test]
async fn sms_brute_force_at_the_earliest_moments_is_held_to_the_default_schedule() {
    let (tally, throttle, p, sends) = brute_force_sms(None, Pace::Earliest).await;
    report(&format!("sms default throttle, earliest ({sends} codes sent)"), &tally, p, "none");
    assert_within_schedule(&tally, &throttle, Pace::Earliest);
}

#[tokio::test]
async fn sms_brute_force_stays_within_the_guess_budget() {
    let budget = GuessBudget::new(1e-5, 1);
    let (tally, throttle, p, sends) = brute_force_sms(Some(budget), Pace::Earliest).await;
    report(&format!("sms budget 1e-5/day, earliest ({sends} codes sent)"), &tally, p, "1e-5 per day");
    assert_within_schedule(&tally, &throttle, Pace::Earliest);
    let per_day = 1.0 - (1.0 - p).powf(tally.busiest_day() as f64);
    assert!(per_day <= 1e-5, "{per_day:e} in the busiest day");
}

// ----- parallel guesses -------------------------------------------------------------------

/// Two service instances on one backend, recording events, with the real delivery limits
/// lifted (the parallel SMS case needs many open challenges).
struct Pair {
    one: World,
    two: Mfa,
    events: RecordingEventSink,
}

fn pair((a, b): (Arc<dyn Store>, Arc<dyn Store>)) -> Pair {
    let events = RecordingEventSink::new();
    let sink: Arc<dyn EventSink> = Arc::new(events.clone());
    let one = World::with(a, world::settings(), Some(sink));
    // The second instance shares the clock, the outbox and the keys.
    let two = Mfa::builder()
        .shared_store(b)
        .clock(one.clock.clone())
        .sealer(AeadSealer::new(KeyId(1), world::SEAL_KEY))
        .settings(world::settings())
        .events(events.clone())
        .factor(one.totp.clone())
        .factor(SmsFactor::builder(one.outbox.clone(), OobKey::new(&world::OOB_KEY).unwrap()).build().unwrap())
        .factor(WebauthnFactor::builder("localhost", "Example", world::ORIGIN).build().unwrap())
        .build()
        .unwrap();
    Pair { one, two, events }
}

fn memory_pair() -> (Arc<dyn Store>, Arc<dyn Store>) {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    (store.clone(), store)
}

/// Counts results: (evaluated, refused); panics on a success or an unexpected error.
fn evaluated_and_refused<T: std::fmt::Debug>(results: &[Result<T, Error>]) -> (usize, usize) {
    let mut evaluated = 0;
    let mut refused = 0;
    for r in results {
        match r {
            Err(Error::InvalidCode) => evaluated += 1,
            Err(Error::Locked { .. } | Error::Expired) => refused += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    (evaluated, refused)
}

/// Once both instances have reported what they held back: the refusals reported for
/// audit (summed over reports), and how many reports carried them.
async fn refusals_reported(p: &Pair) -> (usize, usize) {
    p.one.mfa.flush_audit().await;
    p.two.flush_audit().await;
    let counts: Vec<u64> = p
        .events
        .kinds()
        .iter()
        .filter_map(|k| match k {
            EventKind::AttemptsRefused { count, .. } => Some(*count),
            _ => None,
        })
        .collect();
    (counts.iter().sum::<u64>() as usize, counts.len())
}

/// Every refused attempt reached audit, in far fewer events than attempts (S25): a run of
/// `n` refusals is reported at its 1st, 2nd, 4th, ... refusal and once more at the end, so
/// each instance reports each kind of refusal (locked, or refused while the last free
/// attempts are still being evaluated) at most `log2(n) + 2` times. How the racers split
/// between the two instances and the two kinds depends on timing; the bound does not.
async fn assert_refusals_reported(p: &Pair, refused: usize) {
    let (reported, reports) = refusals_reported(p).await;
    assert_eq!(reported, refused, "every refused attempt is visible to audit");
    let per_run = refused.max(1).ilog2() as usize + 2;
    let bound = 2 * 2 * per_run;
    assert!(reports <= bound, "aggregated: {reports} reports for {refused} refusals (at most {bound})");
    assert!(reports * 4 <= refused.max(4), "far fewer reports ({reports}) than refusals ({refused})");
}

fn failures_recorded(events: &RecordingEventSink) -> usize {
    events
        .kinds()
        .iter()
        .filter(|k| matches!(k, EventKind::VerificationFailed { reason: FailureReason::InvalidCode, .. }))
        .count()
}

async fn parallel_totp_guesses_are_evaluated_at_most_five_times(p: Pair) {
    let w = &p.one;
    let alice = UserId::new("alice").unwrap();
    let (id, key, _) = w.enrol_totp(&alice).await;
    w.advance(30);
    let wrong = w.wrong_totp_code(&key);
    p.events.clear();
    let results = support::race(200, &[w.mfa.clone(), p.two.clone()], |mfa| {
        let (alice, wrong) = (alice.clone(), wrong.clone());
        async move { mfa.verify(&alice, &id, &code(&wrong)).await }
    })
    .await;
    let (evaluated, refused) = evaluated_and_refused(&results);
    assert_eq!(evaluated, 5, "only the free attempts were evaluated");
    assert_eq!(refused, 195);
    assert_eq!(failures_recorded(&p.events), evaluated);
    assert_refusals_reported(&p, refused).await;
    // At the limit the right code is refused too, without being evaluated.
    let right = code(&w.totp_code(&key));
    assert!(matches!(p.two.verify(&alice, &id, &right).await, Err(Error::Locked { .. })));
}

async fn parallel_sms_guesses_over_many_challenges_are_evaluated_at_most_five_times(p: Pair) {
    let w = &p.one;
    let alice = UserId::new("alice").unwrap();
    let id = w.enrol_oob(&alice, FactorKind::SMS, PHONE).await;
    // 40 open challenges of 5 attempts each: their attempts add up to 200, the factor's
    // throttle to 5.
    let mut challenges = Vec::new();
    for _ in 0..40 {
        let c = w.mfa.start_challenge(&alice, Some(&id)).await.unwrap();
        let real = w.sent_code(PHONE);
        let wrong = (0..).map(candidate).find(|g| *g != real).unwrap();
        challenges.push((c.id, wrong));
    }
    p.events.clear();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let results = support::race(200, &[w.mfa.clone(), p.two.clone()], |mfa| {
        let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let (alice, (challenge, wrong)) = (alice.clone(), challenges[i / 5].clone());
        async move { mfa.finish_challenge(&alice, &challenge, &code(&wrong)).await }
    })
    .await;
    let (evaluated, refused) = evaluated_and_refused(&results);
    assert_eq!(evaluated, 5, "the factor's throttle holds across its challenges");
    assert_eq!(refused, 195);
    assert_eq!(failures_recorded(&p.events), evaluated);
    assert_refusals_reported(&p, refused).await;
    let failures = w.store.get_throttle(&alice, &ThrottleScope::Factor(id)).await.unwrap().failures;
    assert_eq!(failures, 5, "refused guesses are not counted as evaluated failures");
}

async fn parallel_sms_guesses_at_one_challenge_are_evaluated_at_most_five_times(p: Pair) {
    let w = &p.one;
    let alice = UserId::new("alice").unwrap();
    let id = w.enrol_oob(&alice, FactorKind::SMS, PHONE).await;
    let c = w.mfa.start_challenge(&alice, Some(&id)).await.unwrap();
    let real = w.sent_code(PHONE);
    let wrong = (0..).map(candidate).find(|g| *g != real).unwrap();
    p.events.clear();
    let results = support::race(200, &[w.mfa.clone(), p.two.clone()], |mfa| {
        let (alice, wrong) = (alice.clone(), wrong.clone());
        async move { mfa.finish_challenge(&alice, &c.id, &code(&wrong)).await }
    })
    .await;
    let (evaluated, _) = evaluated_and_refused(&results);
    assert!((1..=5).contains(&evaluated), "{evaluated} evaluated");
    assert_eq!(failures_recorded(&p.events), evaluated);
    // The challenge is used up: not even the real code gets through.
    assert!(matches!(w.mfa.finish_challenge(&alice, &c.id, &code(&real)).await, Err(Error::Expired)));
}

async fn parallel_recovery_code_guesses_are_evaluated_at_most_five_times(p: Pair) {
    let w = &p.one;
    let alice = UserId::new("alice").unwrap();
    w.enrol_totp(&alice).await; // recovery codes exist only alongside a factor
    let set = w.mfa.generate_recovery_codes(&alice, &w.fresh()).await.unwrap();
    let real: Vec<String> = set.codes().iter().map(|c| c.expose().to_owned()).collect();
    // Half the guesses name a real code's lookup part with a wrong secret, half an unknown
    // lookup part: both kinds are counted before being evaluated.
    let normalised: Vec<String> = real.iter().map(|c| c.replace('-', "")).collect();
    let guesses: Vec<String> = (0..200)
        .map(|i| {
            let lookup = if i % 2 == 0 { normalised[i % normalised.len()][..4].to_owned() } else { "ZZZZ".into() };
            let tail: String =
                [i / 32 % 32, i % 32].iter().map(|d| char::from(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"[*d])).collect();
            format!("{lookup}AAAABBBBCCCCDD{tail}")
        })
        .inspect(|g| assert!(!normalised.contains(g), "the guesses are wrong"))
        .collect();
    p.events.clear();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let results = support::race(200, &[w.mfa.clone(), p.two.clone()], |mfa| {
        let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let (alice, guess) = (alice.clone(), guesses[i].clone());
        async move { mfa.verify_recovery_code(&alice, &guess).await }
    })
    .await;
    let (evaluated, refused) = evaluated_and_refused(&results);
    assert_eq!(evaluated, 5);
    assert_eq!(refused, 195);
    assert_eq!(failures_recorded(&p.events), evaluated);
    assert_refusals_reported(&p, refused).await;
    assert_eq!(w.mfa.recovery_codes_remaining(&alice).await.unwrap(), 10, "no code was used up");
    assert!(matches!(w.mfa.verify_recovery_code(&alice, &real[0]).await, Err(Error::Locked { .. })));
}

async fn parallel_device_token_guesses_are_evaluated_at_most_five_times(p: Pair) {
    let w = &p.one;
    let alice = UserId::new("alice").unwrap();
    w.enrol_totp(&alice).await; // recovery codes exist only alongside a factor
    let set = w.mfa.generate_recovery_codes(&alice, &w.fresh()).await.unwrap();
    let verified = w.mfa.verify_recovery_code(&alice, set.codes()[0].expose()).await.unwrap();
    let device = w.mfa.remember_device(&verified, "Laptop").await.unwrap();
    let real = device.token.expose().to_owned();
    let (prefix, _) = real.rsplit_once('.').unwrap();
    // Guesses for the real device id with wrong secrets, and for unknown devices.
    let guesses: Vec<String> = (0..200)
        .map(|i| {
            // 43 base64url characters; the last one carries no stray bits.
            let secret = format!("{:A>42}A", format!("guess{i}"));
            if i % 2 == 0 {
                format!("{prefix}.{secret}")
            } else {
                format!("mfa-device.{}.{secret}", DeviceId::random().unwrap())
            }
        })
        .collect();
    p.events.clear();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let results = support::race(200, &[w.mfa.clone(), p.two.clone()], |mfa| {
        let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let (alice, guess) = (alice.clone(), guesses[i].clone());
        async move { mfa.check_device(&alice, &guess).await }
    })
    .await;
    let (evaluated, refused) = evaluated_and_refused(&results);
    assert_eq!(evaluated, 5);
    assert_eq!(refused, 195);
    assert_eq!(failures_recorded(&p.events), evaluated);
    assert_refusals_reported(&p, refused).await;
    assert!(matches!(w.mfa.check_device(&alice, &real).await, Err(Error::Locked { .. })));
    w.advance(60);
    assert_eq!(w.mfa.check_device(&alice, &real).await.unwrap().id, device.device.id);
}

/// Callers nobody authenticated (SECURITY.md S23): 200 parallel passwordless sign-ins,
/// each on its own ceremony, naming Alice's passkey with a spoilt signature, through two
/// instances. None is evaluated against her factor's throttle: it stays clear, and she
/// signs in at once, without a username and as a second factor.
async fn parallel_unauthenticated_passkey_failures_never_lock_the_factor(p: Pair) {
    let w = &p.one;
    let alice = UserId::new("alice").unwrap();
    let mut passkey = webauthn_authenticator_rs::softpasskey::SoftPasskey::new(true);
    let key = w.enrol_passkey(&alice, &mut passkey).await;
    let id = key.factor;
    let mut forged = Vec::new();
    for i in 0..200 {
        let mfa = if i % 2 == 0 { &w.mfa } else { &p.two };
        let c = mfa.start_passwordless(&FactorKind::PASSKEY).await.unwrap();
        forged.push((c.id, key.forged(&mut passkey, &c.prompt)));
    }
    p.events.clear();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let results = support::race(200, &[w.mfa.clone(), p.two.clone()], |mfa| {
        let (challenge, proof) = forged[next.fetch_add(1, std::sync::atomic::Ordering::SeqCst)].clone();
        async move { mfa.finish_passwordless(&challenge, &proof).await }
    })
    .await;
    assert!(results.iter().all(|r| matches!(r, Err(Error::InvalidCode))), "each one fails on its own");
    let state = w.store.get_throttle(&alice, &ThrottleScope::Factor(id)).await.unwrap();
    assert_eq!(state.failures, 0, "nothing counted against Alice's factor");
    assert_eq!(failures_recorded(&p.events), 0);
    w.mfa.flush_audit().await;
    p.two.flush_audit().await;
    let reported: u64 = p
        .events
        .kinds()
        .iter()
        .filter_map(|k| match k {
            EventKind::PasswordlessFailed { factor, count } if *factor == id => Some(*count),
            _ => None,
        })
        .sum();
    assert_eq!(reported, 200, "every failure is visible to audit");
    let c = p.two.start_passwordless(&FactorKind::PASSKEY).await.unwrap();
    assert_eq!(p.two.finish_passwordless(&c.id, &key.get(&mut passkey, &c.prompt)).await.unwrap().user, alice);
    let c = w.mfa.start_challenge(&alice, Some(&id)).await.unwrap();
    w.mfa.finish_challenge(&alice, &c.id, &world::get(&mut passkey, &c.prompt)).await.unwrap();
}

macro_rules! on_backend {
    ($(#[$attr:meta])* $module:ident, $pair:expr) => {
        mod $module {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            $(#[$attr])*
            async fn parallel_totp_guesses_are_evaluated_at_most_five_times() {
                super::parallel_totp_guesses_are_evaluated_at_most_five_times(pair($pair)).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            $(#[$attr])*
            async fn parallel_sms_guesses_over_many_challenges_are_evaluated_at_most_five_times() {
                super::parallel_sms_guesses_over_many_challenges_are_evaluated_at_most_five_times(pair($pair)).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            $(#[$attr])*
            async fn parallel_sms_guesses_at_one_challenge_are_evaluated_at_most_five_times() {
                super::parallel_sms_guesses_at_one_challenge_are_evaluated_at_most_five_times(pair($pair)).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            $(#[$attr])*
            async fn parallel_recovery_code_guesses_are_evaluated_at_most_five_times() {
                super::parallel_recovery_code_guesses_are_evaluated_at_most_five_times(pair($pair)).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            $(#[$attr])*
            async fn parallel_unauthenticated_passkey_failures_never_lock_the_factor() {
                super::parallel_unauthenticated_passkey_failures_never_lock_the_factor(pair($pair)).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            $(#[$attr])*
            async fn parallel_device_token_guesses_are_evaluated_at_most_five_times() {
                super::parallel_device_token_guesses_are_evaluated_at_most_five_times(pair($pair)).await;
            }
        }
    };
}

on_backend!(memory, memory_pair());
on_backend!(sqlite_file, support::sql::sqlite_dyn_pair().await);
on_backend!(
    #[ignore = "needs PostgreSQL: run `bash tests/run-all.sh`, or set MFA_TEST_POSTGRES_URL and pass --include-ignored"]
    postgres,
    support::sql::postgres_dyn_pair().await
);
