//! Wiring shared by the benches: services on a manual clock, enrolled users, TOTP codes
//! for successive time steps, a sender that keeps the last code, and a large population of
//! users for the memory-store benches.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use mfa_core::store::FactorRecord;
use mfa_core::{
    AeadSealer, Clock, EnrolmentRequest, FactorId, FactorKind, FreshAuth, ManualClock, Mfa, Prompt, Proof, Settings,
    Timestamp, UserId, seal::KeyId, seal::SealContext, seal::SecretSealer, settings::DeliverySettings,
    settings::WindowCap, store::Store, throttle::ThrottleSettings,
};
use mfa_otp::{Message, SendError, Sender, TotpFactor};

/// The error type of bench setup code.
pub type BenchError = Box<dyn std::error::Error + Send + Sync>;
/// `Result` with [`BenchError`].
pub type BenchResult<T> = Result<T, BenchError>;

/// Where every bench clock starts (10 s into a TOTP step).
pub const START: Timestamp = Timestamp::from_unix_secs(1_700_000_010);
/// The TOTP step length the benches use (the default).
pub const PERIOD: u64 = 30;
/// The purpose string the service binds factor secrets to (see [`SealContext`]).
pub const FACTOR_SECRET: &str = "factor-secret";

/// The sealer every bench service uses: a fixed key, so that records made directly in a
/// store open in the service.
pub fn sealer() -> Arc<dyn SecretSealer> {
    Arc::new(AeadSealer::new(KeyId(1), [3; 32]))
}

/// `settings` with a throttle that never delays an attempt, for benches that measure failed
/// verifications (the default locks a factor after 5 consecutive failures). Failures are
/// still counted in the store, exactly as with the default schedule; only the lockout is
/// never reached.
pub fn without_lockout(mut settings: Settings) -> Settings {
    settings.throttle = ThrottleSettings::new(u32::MAX, Duration::from_secs(60), Duration::from_secs(3600));
    settings
}

/// `settings` with no delivery limits, so that a bench can start thousands of SMS or email
/// challenges for one user at one instant. Limits apply when a code is sent, never when it
/// is verified, so the verification path is unchanged.
pub fn without_delivery_limits(mut settings: Settings) -> Settings {
    settings.delivery = DeliverySettings::unlimited();
    settings
}

/// `settings` without the bounds on stored state per user and for passwordless sign-in, so
/// that a bench can open thousands of challenges or ceremonies up front. The bounds are
/// counted when a challenge starts, never when it is verified, so the verification path is
/// unchanged.
pub fn without_state_limits(mut settings: Settings) -> Settings {
    let window = Duration::from_secs(300);
    settings.limits.challenges = WindowCap::new(window, u32::MAX);
    settings.limits.passwordless = WindowCap::new(window, u32::MAX);
    settings.limits.pending_enrolments = usize::MAX;
    settings
}

/// A current-thread Tokio runtime (what `#[tokio::main(flavor = "current_thread")]` gives).
///
/// # Errors
///
/// If the runtime cannot be built.
pub fn current_thread() -> BenchResult<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread().enable_all().build()?)
}

/// A multi-thread Tokio runtime with one worker per core (what `#[tokio::main]` gives).
///
/// # Errors
///
/// If the runtime cannot be built.
pub fn multi_thread() -> BenchResult<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

/// The number of cores the benches may use.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// A small, fast, deterministic generator (SplitMix64) for choosing users and filling
/// bench secrets. Not for anything secret outside benches.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number below `n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// Fills `buf` with random bytes.
    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
}

/// A user with an active TOTP factor, and the factor's key (to compute codes).
#[derive(Debug, Clone)]
pub struct TotpUser {
    /// The user.
    pub user: UserId,
    /// The TOTP factor.
    pub factor: FactorId,
    /// The shared secret.
    pub key: Vec<u8>,
}

/// Seconds since the epoch on `clock`.
pub fn unix_secs(clock: &ManualClock) -> u64 {
    u64::try_from(clock.now().unix_secs()).unwrap_or(0)
}

/// A fresh-authentication proof at the clock's time (password and MFA just checked).
pub fn fresh(clock: &ManualClock) -> FreshAuth {
    FreshAuth::primary(clock.now()).with_mfa(clock.now())
}

/// Enrols an authenticator app for `user` through the service, confirming it with the
/// code of the clock's current step (which is then used up).
///
/// # Errors
///
/// If enrolment fails.
pub async fn enrol_totp(mfa: &Mfa, totp: &TotpFactor, clock: &ManualClock, user: &UserId) -> BenchResult<TotpUser> {
    let start = mfa.start_enrolment(user, &fresh(clock), EnrolmentRequest::new(FactorKind::TOTP)).await?;
    let Prompt::SharedSecret(secret) = &start.prompt else { return Err("expected a shared secret".into()) };
    let key = data_encoding::BASE32_NOPAD.decode(secret.secret_base32.expose().as_bytes())?;
    let code = totp.code_at(&key, unix_secs(clock))?;
    mfa.finish_enrolment(user, &fresh(clock), &start.factor.id, &Proof::code(&code)?).await?;
    Ok(TotpUser { user: user.clone(), factor: start.factor.id, key })
}

/// Enrols a factor that sends codes (SMS, email) for `user` through the service, to
/// `destination`, confirming it with the code `sender` received (the service's factor must
/// send through `sender`).
///
/// # Errors
///
/// If enrolment fails or nothing was sent.
pub async fn enrol_by_code(
    mfa: &Mfa,
    sender: &LastCodeSender,
    clock: &ManualClock,
    user: &UserId,
    kind: FactorKind,
    destination: &str,
) -> BenchResult<FactorId> {
    let request = EnrolmentRequest::new(kind).destination(destination);
    let start = mfa.start_enrolment(user, &fresh(clock), request).await?;
    let code = sender.take_code()?;
    mfa.finish_enrolment(user, &fresh(clock), &start.factor.id, &Proof::code(&code)?).await?;
    Ok(start.factor.id)
}

/// One TOTP verification to make: the time to set the clock to and the code typed.
#[derive(Debug, Clone)]
pub struct TotpCase {
    /// When (10 s into the step).
    pub at: Timestamp,
    /// The same time in seconds, for totp-rs.
    pub unix: u64,
    /// The code.
    pub code: String,
}

/// Hands out successive TOTP time steps, so that every valid code a bench verifies is for a
/// step after the last one accepted (a valid code is accepted once).
#[derive(Debug, Clone)]
pub struct Steps {
    next: u64,
}

impl Steps {
    /// Steps after the clock's current one.
    pub fn after(clock: &ManualClock) -> Self {
        Self { next: unix_secs(clock) / PERIOD + 1 }
    }

    /// `n` cases of valid codes for `key`, one per new step, each at 10 s into its step.
    ///
    /// # Errors
    ///
    /// If the key is unusable.
    pub fn valid(&mut self, totp: &TotpFactor, key: &[u8], n: u64) -> BenchResult<Vec<TotpCase>> {
        self.cases(totp, key, n, false)
    }

    /// `n` cases of wrong codes (matching no step in the ±1 window), one per new step.
    ///
    /// # Errors
    ///
    /// If the key is unusable.
    pub fn invalid(&mut self, totp: &TotpFactor, key: &[u8], n: u64) -> BenchResult<Vec<TotpCase>> {
        self.cases(totp, key, n, true)
    }

    fn cases(&mut self, totp: &TotpFactor, key: &[u8], n: u64, wrong: bool) -> BenchResult<Vec<TotpCase>> {
        let mut out = Vec::with_capacity(usize::try_from(n)?);
        for _ in 0..n {
            let unix = self.next * PERIOD + 10;
            self.next += 1;
            let mut code = totp.code_at(key, unix)?;
            if wrong {
                let mut value: u32 = code.parse()?;
                while totp.check(key, &code, unix).is_some() {
                    value = (value + 1) % 1_000_000;
                    code = format!("{value:06}");
                }
            }
            out.push(TotpCase { at: Timestamp::from_unix_secs(i64::try_from(unix)?), unix, code });
        }
        Ok(out)
    }
}

/// A [`Sender`] that keeps only the code of the last message, so that a bench can read it
/// back without an outbox growing with every challenge.
#[derive(Debug, Clone, Default)]
pub struct LastCodeSender {
    last: Arc<Mutex<Option<String>>>,
}

impl LastCodeSender {
    /// A sender with nothing sent yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes the code of the last message sent (its first run of six or more digits).
    ///
    /// # Errors
    ///
    /// If nothing was sent since the last call.
    pub fn take_code(&self) -> BenchResult<String> {
        self.last.lock().unwrap_or_else(PoisonError::into_inner).take().ok_or_else(|| "no code was sent".into())
    }
}

#[async_trait]
impl Sender for LastCodeSender {
    async fn send(&self, message: &Message) -> Result<(), SendError> {
        let code = message.body.expose().split(|c: char| !c.is_ascii_digit()).find(|run| run.len() >= 6);
        *self.last.lock().unwrap_or_else(PoisonError::into_inner) = code.map(str::to_owned);
        Ok(())
    }
}

/// A user of a [`Population`]: a TOTP factor inserted directly into the store.
#[derive(Debug, Clone)]
pub struct Member {
    /// The user.
    pub user: UserId,
    /// The factor.
    pub factor: FactorId,
    /// The factor's 20-byte key.
    pub key: [u8; 20],
}

/// Many users, each with one active TOTP factor, in one store, for measuring how the store
/// behaves as it fills.
///
/// Enrolling through the service draws a QR code per user (milliseconds each), which would
/// make a million users take most of an hour; so one user is enrolled through the service
/// and every other one is a copy of that factor record with its own user id, factor id and
/// random key, sealed with the service's sealer for that user and factor and inserted with
/// [`FactorStore::insert_factor`](mfa_core::store::FactorStore::insert_factor). Every member verifies through the service like an enrolled
/// user.
#[derive(Debug)]
pub struct Population {
    store: Arc<dyn Store>,
    sealer: Arc<dyn SecretSealer>,
    template: FactorRecord,
    rng: Rng,
    /// Every member, the enrolled one first.
    pub members: Vec<Member>,
}

impl Population {
    /// A population of one user, enrolled through `mfa` (which must use `store`, `sealer`
    /// and `totp`).
    ///
    /// # Errors
    ///
    /// If enrolment or the store fails.
    pub async fn new(
        mfa: &Mfa,
        store: Arc<dyn Store>,
        sealer: Arc<dyn SecretSealer>,
        totp: &TotpFactor,
        clock: &ManualClock,
    ) -> BenchResult<Self> {
        let first = enrol_totp(mfa, totp, clock, &UserId::new("member-0000000")?).await?;
        let template = store.get_factor(&first.user, &first.factor).await?.ok_or("the enrolled factor is missing")?;
        let key: [u8; 20] = first.key.as_slice().try_into()?;
        let members = vec![Member { user: first.user, factor: first.factor, key }];
        Ok(Self { store, sealer, template, rng: Rng::new(0x5eed), members })
    }

    /// Adds members until there are `n`.
    ///
    /// # Errors
    ///
    /// If sealing or the store fails.
    pub async fn grow_to(&mut self, n: usize) -> BenchResult<()> {
        self.members.reserve(n.saturating_sub(self.members.len()));
        while self.members.len() < n {
            let user = UserId::new(format!("member-{:07}", self.members.len()))?;
            let mut id = [0u8; 16];
            self.rng.fill(&mut id);
            let factor = FactorId::from_bytes(id);
            let mut key = [0u8; 20];
            self.rng.fill(&mut key);
            let ctx = SealContext { user: &user, factor: &factor, purpose: FACTOR_SECRET };
            let mut record = self.template.clone();
            record.id = factor;
            record.user = user.clone();
            record.secret = Some(self.sealer.seal(&ctx, &key)?);
            self.store.insert_factor(&record).await?;
            self.members.push(Member { user, factor, key });
        }
        Ok(())
    }
}

/// One service instance with its own clock and its own user: a fleet of them shares one
/// store, as the instances of a deployed service do, so that each can move its clock to a
/// new TOTP step for every verification without disturbing the others.
#[derive(Debug)]
pub struct Instance {
    /// The service.
    pub mfa: Mfa,
    /// Its clock.
    pub clock: ManualClock,
    /// Its user.
    pub user: TotpUser,
    /// The steps its next codes are for.
    pub steps: Steps,
}

/// `n` instances over `store`, each with a user enrolled through it.
///
/// # Errors
///
/// If building a service or enrolling fails.
pub async fn fleet(store: Arc<dyn Store>, totp: &TotpFactor, n: usize, prefix: &str) -> BenchResult<Vec<Instance>> {
    let sealer = sealer();
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let clock = ManualClock::new(START);
        let mfa = Mfa::builder()
            .shared_store(store.clone())
            .shared_sealer(sealer.clone())
            .clock(clock.clone())
            .factor(totp.clone())
            .build()?;
        let user = enrol_totp(&mfa, totp, &clock, &UserId::new(format!("{prefix}-{i:03}"))?).await?;
        let steps = Steps::after(&clock);
        out.push(Instance { mfa, clock, user, steps });
    }
    Ok(out)
}

/// Runs `ops` valid TOTP verifications spread over the first `concurrency` instances of
/// `fleet`, each instance in its own Tokio task. Codes are computed before the timer
/// starts. Returns the wall time of the whole run and the latency of every verification.
///
/// # Errors
///
/// If a verification fails or a task panics.
pub async fn verify_concurrently(
    fleet: &mut Vec<Instance>,
    totp: &TotpFactor,
    concurrency: usize,
    ops: u64,
) -> BenchResult<(Duration, Vec<Duration>)> {
    let concurrency = concurrency.min(fleet.len()).max(1);
    let per_task = ops / concurrency as u64;
    let mut work = Vec::with_capacity(concurrency);
    for (i, mut instance) in fleet.drain(..concurrency).enumerate() {
        let n = per_task + u64::from((i as u64) < ops % concurrency as u64);
        let cases = instance.steps.valid(totp, &instance.user.key, n)?;
        work.push((instance, cases));
    }
    let start = std::time::Instant::now();
    let tasks: Vec<_> = work
        .into_iter()
        .map(|(instance, cases)| {
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(cases.len());
                for case in &cases {
                    instance.clock.set(case.at);
                    let proof = Proof::code(&case.code)?;
                    let t = std::time::Instant::now();
                    instance.mfa.verify(&instance.user.user, &instance.user.factor, &proof).await?;
                    latencies.push(t.elapsed());
                }
                Ok::<_, mfa_core::Error>((instance, latencies))
            })
        })
        .collect();
    let mut latencies = Vec::new();
    let mut done = Vec::with_capacity(concurrency);
    let mut failure = None;
    for task in tasks {
        match task.await? {
            Ok((instance, l)) => {
                done.push(instance);
                latencies.extend(l);
            }
            Err(e) => failure = Some(e),
        }
    }
    let elapsed = start.elapsed();
    fleet.splice(0..0, done);
    match failure {
        Some(e) => Err(e.into()),
        None => Ok((elapsed, latencies)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cases_are_for_new_steps_and_invalid_codes_match_no_step_of_the_window() {
        let totp = TotpFactor::new("Test").unwrap();
        let key = [9u8; 20];
        let clock = ManualClock::new(START);
        let mut steps = Steps::after(&clock);
        let valid = steps.valid(&totp, &key, 50).unwrap();
        let invalid = steps.invalid(&totp, &key, 50).unwrap();
        let mut last = unix_secs(&clock) / PERIOD;
        for case in valid.iter().chain(&invalid) {
            assert!(case.unix / PERIOD > last, "every case is for a later step");
            last = case.unix / PERIOD;
            assert_eq!(case.at.unix_secs(), i64::try_from(case.unix).unwrap());
        }
        assert!(valid.iter().all(|c| totp.check(&key, &c.code, c.unix) == Some(c.unix / PERIOD)));
        assert!(invalid.iter().all(|c| totp.check(&key, &c.code, c.unix).is_none()));
    }

    #[test]
    fn the_sender_keeps_only_the_last_code() {
        let sender = LastCodeSender::new();
        let rt = current_thread().unwrap();
        for body in ["111111 is your code", "Your code is 222222."] {
            let message = Message::new(
                mfa_otp::DeliveryChannel::Sms,
                "+14155552671".into(),
                None,
                mfa_core::SecretString::new(body.into()),
            );
            rt.block_on(sender.send(&message)).unwrap();
        }
        assert_eq!(sender.take_code().unwrap(), "222222");
        assert!(sender.take_code().is_err(), "taken once");
    }
}
