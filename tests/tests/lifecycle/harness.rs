//! Drives the real service through a sequence of operations: two `Mfa` instances on one
//! store, one clock, real TOTP apps and soft passkeys. After every step it compares the
//! answer and the observable state with the model's, and checks the design's invariants
//! from what it saw the real service do (so they hold even where the model is silent).
//!
//! Of the help desk's operations it checks, from the service's answers alone: a refused
//! operation changes nothing and reaches audit (every `AdminRefused` count); a reset leaves
//! nothing of the user in the store and nothing of the other user changed, and no proof
//! made before it (factor, challenge, enrolment, recovery code, remembered device,
//! temporary code) works after it; an unlock leaves the counters clear; a temporary access
//! code signs in only its user, once, before it expires, within its tries.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use mfa_core::access::ActionDigest;
use mfa_core::admin::Administrators;
use mfa_core::store::{Store, ThrottleScope, ThrottleState};
use mfa_core::testing::RecordingEventSink;
use mfa_core::{
    AeadSealer, CeremonyId, Clock, DeviceId, EnrolmentRequest, Error, EventKind, EventSink, FactorId, FactorKind,
    FactorStatus, FreshAuth, ManualClock, Mfa, Prompt, Proof, Settings, Timestamp, UserId, Verified, seal::KeyId,
};
use mfa_otp::{MemorySender, OobKey, SmsFactor, TotpFactor};
use mfa_webauthn::WebauthnFactor;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_rs::prelude::CreationChallengeResponse;

use super::model::{ACCESS_SHORT, Facts, Model, Outcome, Scope, Status, resolve, resolve_factor};
use super::ops::{Actor, Answer, By, Counter, Kind, Lifetime, Op, Pick, U};
use crate::support::world::{
    self, Discoverable, ORIGIN, SEAL_KEY, T0, code, create, create_json, get_json, options_json,
};

/// What the run checks after each step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Check {
    /// The model's answers and state, and the invariants.
    Full,
    /// Only the invariants, from what the real service did: shows the exploit itself
    /// rather than the first step where the service departs from the model.
    Invariants,
}

/// The deployment's settings: small bounds, short locks, a hard stop, so that short
/// sequences reach every edge.
pub(crate) fn settings() -> Settings {
    let mut s = world::settings();
    s.reauth_window = Duration::from_secs(300);
    s.enrolment_ttl = Duration::from_secs(600);
    s.challenge_ttl = Duration::from_secs(300);
    s.challenge_attempts = 3;
    s.throttle =
        mfa_core::throttle::ThrottleSettings::new(3, Duration::from_secs(60), Duration::from_secs(240)).max_failures(6);
    s.recovery_codes.count = 4;
    s.limits.pending_enrolments = 2;
    s.limits.challenges = mfa_core::settings::WindowCap::new(Duration::from_secs(300), 3);
    s.limits.passwordless = mfa_core::settings::WindowCap::new(Duration::from_secs(300), 3);
    s.limits.devices = 2;
    // Send limits have suites of their own (delivery_caps.rs); here every code goes out.
    s.delivery = mfa_core::settings::DeliverySettings::unlimited();
    s.devices.lifetime = Duration::from_secs(2 * 3600);
    // Two tries per temporary access code, under the throttle's three free failures: a
    // wrong try and the right one, or two wrong ones and the code is spent.
    s.temporary_access = mfa_core::settings::TemporaryAccessSettings::default()
        .lifetime(Duration::from_secs(3600))
        .max_lifetime(Duration::from_secs(2 * 3600))
        .max_attempts(2);
    s
}

/// The real side of one factor, by model index.
#[derive(Default)]
struct Real {
    id: Option<FactorId>,
    kind: Option<Kind>,
    totp_key: Option<Vec<u8>>,
    passkey: Option<SoftPasskey>,
    prompt: Option<Prompt>,
    handle: Vec<u8>,
    discoverable: Option<Discoverable>,
    last_code: Option<(String, u64)>,
    /// The code of its pending SMS enrolment.
    sms_code: Option<String>,
}

/// An open challenge, as the service answered it.
#[derive(Clone)]
struct Open {
    id: CeremonyId,
    prompt: Prompt,
    factor: usize,
    expires_at: Timestamp,
    /// The code sent, for an SMS challenge.
    code: Option<String>,
}

/// A temporary access code as issued, and what the harness saw happen to it.
struct Issued {
    user: U,
    text: String,
    expires_at: Timestamp,
    /// Answers the service evaluated while it was the user's code.
    tries: u32,
    /// Used, replaced, revoked or reset.
    spent: bool,
}

/// How many things of each sort existed when a user's MFA was reset: none of that user's
/// made before may work after.
#[derive(Debug, Clone, Copy)]
struct Marks {
    factors: usize,
    challenges: usize,
    codes: usize,
    devices: usize,
}

/// Each user's phone number.
fn phone(u: U) -> &'static str {
    match u {
        U::Alice => "+14155550101",
        U::Bob => "+14155550102",
    }
}

/// A code that is not `right`.
fn not(right: Option<&str>) -> String {
    if right == Some("000000") { "000001" } else { "000000" }.to_owned()
}

pub(crate) struct Harness {
    rt: tokio::runtime::Runtime,
    store: Arc<dyn Store>,
    mfa: [Mfa; 2],
    clock: ManualClock,
    events: RecordingEventSink,
    totp: TotpFactor,
    pub(crate) model: Model,
    check: Check,
    factors: Vec<Real>,
    /// Whose each factor is, by model index.
    factor_users: Vec<U>,
    /// The code text of the last TOTP proof made.
    code_text: Option<String>,
    challenges: Vec<Open>,
    outbox: MemorySender,
    passwordless: Vec<(CeremonyId, Prompt, Timestamp)>,
    codes: Vec<(String, Actor, U)>,
    devices: Vec<(DeviceId, String)>,
    verifications: Vec<Verified>,
    registered: Vec<usize>,
    activated: Vec<usize>,
    stranger: (SoftPasskey, Discoverable),
    /// Refusals by a throttle or a bound seen, and failures that must each be audited.
    refusals: u64,
    failures: u64,
    passwordless_failures: u64,
    /// Administrative operations refused, by who asked.
    admin_refusals: BTreeMap<&'static str, u64>,
    /// Every temporary access code issued, in order.
    access: Vec<Issued>,
    /// Each user's last reset.
    resets: BTreeMap<U, Marks>,
    /// The enrolment ceremonies of the user the last reset was for, as they were before it.
    enrolments: Vec<CeremonyId>,
    /// What the last operation answered besides its outcome (see `Model::detail`).
    detail: Option<String>,
    /// A readable trace of the run so far.
    pub(crate) trace: String,
}

fn user(u: U) -> UserId {
    UserId::new(u.name()).unwrap_or_else(|_| unreachable!())
}

fn outcome<T>(r: &Result<T, Error>) -> Outcome {
    match r {
        Ok(_) => Outcome::Ok,
        Err(Error::NotFound) => Outcome::NotFound,
        Err(Error::Expired) => Outcome::Expired,
        Err(Error::InvalidCode) => Outcome::InvalidCode,
        Err(Error::Replayed) => Outcome::Replayed,
        Err(Error::Locked { .. }) => Outcome::Locked,
        Err(Error::Disabled) => Outcome::Disabled,
        Err(Error::LimitReached { limit, .. }) => Outcome::Limit(*limit),
        Err(Error::MfaRequired) => Outcome::MfaRequired,
        Err(Error::ReauthRequired) => Outcome::ReauthRequired,
        Err(Error::FactorRequired) => Outcome::FactorRequired,
        Err(Error::AlreadyExists) => Outcome::AlreadyExists,
        Err(Error::InvalidInput { .. }) => Outcome::InvalidInput,
        Err(Error::Unsupported) => Outcome::Unsupported,
        Err(Error::Forbidden) => Outcome::Forbidden,
        Err(e) => panic!("an answer the model does not know: {e:?}"),
    }
}

/// A code proof that fits no TOTP step in the window around `t`.
fn wrong_code(totp: &TotpFactor, key: &[u8], t: u64) -> String {
    let valid: Vec<String> = [t - 30, t, t + 30].iter().map(|s| totp.code_at(key, *s).unwrap_or_default()).collect();
    (0..)
        .map(|n: u32| format!("{:06}", (n * 7_919 + 123_457) % 1_000_000))
        .find(|c| !valid.contains(c))
        .unwrap_or_default()
}

/// The step (of the window around `t`, in the order the service tries them) whose code is
/// `code`.
fn matching_step(totp: &TotpFactor, key: &[u8], code: &str, t: u64) -> Option<u64> {
    let current = t / 30;
    [current, current - 1, current + 1].into_iter().find(|s| totp.code_at(key, s * 30).is_ok_and(|c| c == code))
}

/// A credential proof that is no code (what an app factor refuses as bad input).
fn a_credential() -> Proof {
    Proof::credential(r#"{"id":"AAAA","rawId":"AAAA","type":"public-key","response":{}}"#)
        .unwrap_or_else(|_| unreachable!())
}

/// One racer's call.
#[derive(Clone)]
enum Call {
    Verify(UserId, FactorId, Proof),
    FinishChallenge(UserId, CeremonyId, Proof),
    UseCode(UserId, String),
    FinishPasswordless(CeremonyId, Proof),
    UseAccess(UserId, String),
}

impl Call {
    async fn run(&self, mfa: &Mfa) -> Result<Option<Verified>, Error> {
        match self {
            Call::Verify(u, f, p) => mfa.verify(u, f, p).await.map(Some),
            Call::FinishChallenge(u, c, p) => mfa.finish_challenge(u, c, p).await.map(Some),
            Call::UseCode(u, code) => mfa.verify_recovery_code(u, code).await.map(Some),
            Call::FinishPasswordless(c, p) => mfa.finish_passwordless(c, p).await.map(Some),
            Call::UseAccess(u, code) => mfa.verify_temporary_access(u, code).await.map(Some),
        }
    }
}

/// An SMS answer: the code sent, another code, or a credential.
fn sms_proof(right: Option<&str>, answer: Answer) -> Proof {
    match (answer, right) {
        (Answer::Right, Some(right)) => code(right),
        (Answer::Malformed, _) => a_credential(),
        _ => code(&not(right)),
    }
}

fn random_code() -> String {
    let mut bytes = FactorId::random().unwrap_or_else(|_| unreachable!()).as_bytes().to_vec();
    bytes.extend(FactorId::random().unwrap_or_else(|_| unreachable!()).as_bytes());
    bytes.iter().take(20).map(|b| char::from(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"[usize::from(b & 31)])).collect()
}

fn random_token() -> String {
    format!(
        "mfa-device.{}.{}",
        DeviceId::random().unwrap_or_else(|_| unreachable!()),
        data_encoding::BASE64URL_NOPAD.encode(&[9u8; 32])
    )
}

fn build(
    store: Arc<dyn Store>,
    clock: &ManualClock,
    events: &RecordingEventSink,
    totp: &TotpFactor,
    outbox: &MemorySender,
) -> Mfa {
    let sink: Arc<dyn EventSink> = Arc::new(events.clone());
    let key = OobKey::new(&world::OOB_KEY).unwrap_or_else(|_| unreachable!());
    let sms = SmsFactor::builder(outbox.clone(), key).app_name("Example").build().unwrap_or_else(|_| unreachable!());
    Mfa::builder()
        .shared_store(store)
        .clock(clock.clone())
        .sealer(AeadSealer::new(KeyId(1), SEAL_KEY))
        .settings(settings())
        .factor(totp.clone())
        .factor(sms)
        .factor(WebauthnFactor::builder("localhost", "Example", ORIGIN).build().unwrap_or_else(|_| unreachable!()))
        .events(world::SharedSink(sink))
        .admin_check(Administrators::new([UserId::new(world::ADMIN).unwrap_or_else(|_| unreachable!())]))
        .build()
        .unwrap_or_else(|e| panic!("{e:?}"))
}

/// The other user's view of what the service holds, to see that an operation left it alone:
/// factors, failure counters, recovery codes, remembered devices, and when a working
/// temporary access code expires.
type Snapshot = (Vec<(FactorId, FactorStatus)>, Vec<(String, ThrottleState)>, usize, usize, Option<Timestamp>);

impl Harness {
    /// A deployment on `stores` (one per instance; they share one database).
    pub(crate) fn new(rt: tokio::runtime::Runtime, stores: [Arc<dyn Store>; 2], check: Check) -> Self {
        let clock = ManualClock::new(Timestamp::from_unix_secs(T0));
        let events = RecordingEventSink::new();
        let totp = TotpFactor::new("Example Corp").unwrap_or_else(|_| unreachable!());
        let [a, b] = stores;
        let outbox = MemorySender::new();
        let mfa = [build(a.clone(), &clock, &events, &totp, &outbox), build(b, &clock, &events, &totp, &outbox)];
        let stranger = rt.block_on(stranger());
        Self {
            rt,
            store: a,
            mfa,
            clock,
            events,
            totp,
            model: Model::new(settings(), T0),
            check,
            factors: Vec::new(),
            factor_users: Vec::new(),
            code_text: None,
            challenges: Vec::new(),
            outbox,
            passwordless: Vec::new(),
            codes: Vec::new(),
            devices: Vec::new(),
            verifications: Vec::new(),
            registered: Vec::new(),
            activated: Vec::new(),
            stranger,
            refusals: 0,
            failures: 0,
            passwordless_failures: 0,
            admin_refusals: BTreeMap::new(),
            access: Vec::new(),
            resets: BTreeMap::new(),
            enrolments: Vec::new(),
            detail: None,
            trace: String::new(),
        }
    }

    fn now(&self) -> Timestamp {
        self.clock.now()
    }

    fn fresh(&self, actor: Actor) -> FreshAuth {
        let now = self.now();
        match actor {
            Actor::Owner => FreshAuth::primary(now).with_mfa(now),
            Actor::PasswordOnly => FreshAuth::primary(now),
            Actor::Stale => FreshAuth::primary(Timestamp::from_unix_secs(now.unix_secs() - 3600)),
        }
    }

    fn factor_id(&self, i: Option<usize>) -> FactorId {
        i.and_then(|i| self.factors[i].id).unwrap_or_else(|| FactorId::random().unwrap_or_else(|_| unreachable!()))
    }

    /// Whose factor `i` is, by what the service answered when it was made.
    fn owner_of(&self, i: Option<usize>) -> Option<U> {
        i.map(|i| self.model_user(i))
    }

    fn model_user(&self, i: usize) -> U {
        self.factor_users[i]
    }

    /// A TOTP proof for factor `i` and the step it matches.
    fn totp_proof(&mut self, i: Option<usize>, answer: Answer) -> (Proof, Facts) {
        let t = u64::try_from(self.now().unix_secs()).unwrap_or(0);
        let Some(key) = i.and_then(|i| self.factors[i].totp_key.clone()) else {
            return match answer {
                Answer::Malformed => (a_credential(), Facts::default()),
                _ => (code("000000"), Facts::default()),
            };
        };
        let text = match answer {
            Answer::Right => self.totp.code_at(&key, t).unwrap_or_default(),
            Answer::Wrong => wrong_code(&self.totp, &key, t),
            Answer::Replay => match i.and_then(|i| self.factors[i].last_code.clone()) {
                Some((c, _)) => c,
                None => wrong_code(&self.totp, &key, t),
            },
            Answer::Malformed => return (a_credential(), Facts::default()),
        };
        let step = matching_step(&self.totp, &key, &text, t);
        let proof = code(&text);
        self.code_text = Some(text);
        (proof, Facts { code_step: step })
    }

    /// Runs one step; `Err` with what went wrong if the service and the model disagree or
    /// an invariant breaks.
    pub(crate) fn step(&mut self, op: &Op) -> Result<(), String> {
        if let Op::Race { racers, op: raced } = *op {
            return self.race(u32::from(racers), raced.op(0));
        }
        let before_active: BTreeMap<U, bool> =
            [U::Alice, U::Bob].into_iter().map(|u| (u, self.real_has_active(u))).collect();
        let snapshots: BTreeMap<U, Snapshot> = [U::Alice, U::Bob].into_iter().map(|u| (u, self.snapshot(u))).collect();
        self.detail = None;
        let (real, facts, touched) = self.run(op);
        match &self.detail {
            Some(detail) => writeln!(self.trace, "{op:?} -> {real:?} ({detail})"),
            None => writeln!(self.trace, "{op:?} -> {real:?}"),
        }
        .unwrap_or_default();
        if real.is_refusal() {
            self.refusals += 1;
        }
        if self.check == Check::Full {
            let expected = self.model.apply(op, facts);
            if expected != real {
                return Err(format!("{op:?}: the service answered {real:?}, the model {expected:?}"));
            }
            if self.model.detail != self.detail {
                return Err(format!(
                    "{op:?}: the service answered {:?}, the model {:?}",
                    self.detail, self.model.detail
                ));
            }
            self.compare_state()?;
        }
        self.track_access(op, &[real])?;
        self.invariants(op, real, &before_active, &snapshots, touched)
    }

    /// `racers` copies of `op`'s right answer at once, half on each instance: of those that
    /// would succeed alone, exactly one does; the rest change nothing but the counters the
    /// design lets them count.
    fn race(&mut self, racers: u32, op: Op) -> Result<(), String> {
        let snapshots: BTreeMap<U, Snapshot> = [U::Alice, U::Bob].into_iter().map(|u| (u, self.snapshot(u))).collect();
        let before_active: BTreeMap<U, bool> =
            [U::Alice, U::Bob].into_iter().map(|u| (u, self.real_has_active(u))).collect();
        let scope = self.model.scope_of(&op);
        let before = scope.map(|(u, scope)| self.model.throttle(u, scope));
        let (call, facts, touched) = self.prepare(&op);
        let tasks: Vec<_> = (0..racers)
            .map(|n| {
                let mfa = self.mfa[(n % 2) as usize].clone();
                let call = call.clone();
                self.rt.spawn(async move { call.run(&mfa).await })
            })
            .collect();
        let results: Vec<Result<Option<Verified>, Error>> = self.rt.block_on(async {
            let mut results = Vec::new();
            for task in tasks {
                results.push(task.await.unwrap_or_else(|e| panic!("a racer panicked: {e}")));
            }
            results
        });
        let outcomes: Vec<Outcome> = results.iter().map(outcome).collect();
        let wins = outcomes.iter().filter(|o| **o == Outcome::Ok).count();
        let real = if wins > 0 { Outcome::Ok } else { outcomes.first().copied().unwrap_or(Outcome::Skipped) };
        let mut tally: BTreeMap<String, usize> = BTreeMap::new();
        for o in &outcomes {
            *tally.entry(format!("{o:?}")).or_default() += 1;
        }
        let tally: Vec<String> = tally.iter().map(|(o, n)| format!("{n} {o}")).collect();
        let _ = writeln!(self.trace, "Race {{ racers: {racers}, op: {op:?} }} -> {}", tally.join(", "));
        for (o, r) in outcomes.iter().zip(&results) {
            if o.is_refusal() {
                self.refusals += 1;
            }
            match (o, &op) {
                (Outcome::InvalidCode, Op::FinishPasswordless { .. }) => self.passwordless_failures += 1,
                _ => self.count_failure(r),
            }
        }
        if wins > 1 {
            return Err(format!("invariants 4/5: {wins} of {racers} racers succeeded with one answer: {op:?}"));
        }
        if let Some(Ok(Some(v))) = results.iter().find(|r| matches!(r, Ok(Some(_)))) {
            self.verifications.push(v.clone());
            if let Some(i) = self.raced_factor(&op) {
                self.remember_code(i, facts);
            }
        }
        if self.check == Check::Full {
            // One racer at least answers as a lone caller would; with one winner at most.
            let expected = self.model.apply(&op, facts);
            let real = match real {
                Outcome::Ok => Outcome::Ok,
                _ if outcomes.contains(&expected) => expected,
                other => other,
            };
            if expected != real {
                return Err(format!(
                    "race of {racers} {op:?}: the service answered {outcomes:?}, the model {expected:?}"
                ));
            }
            let counted = match scope {
                Some((u, s)) => {
                    let real_scope = match s {
                        Scope::Factor(i) => ThrottleScope::Factor(self.factor_id(Some(i))),
                        Scope::Codes => ThrottleScope::RecoveryCodes,
                        Scope::Access => ThrottleScope::TemporaryAccess,
                        Scope::Devices => ThrottleScope::DeviceTokens,
                    };
                    let state = self.rt.block_on(self.store.get_throttle(&user(u), &real_scope)).unwrap_or_default();
                    Some((u, s, state))
                }
                None => None,
            };
            let evaluated = outcomes.iter().filter(|o| matches!(o, Outcome::Ok | Outcome::InvalidCode)).count();
            self.model.after_race(&op, racers, u32::try_from(evaluated).unwrap_or(u32::MAX), counted, before)?;
            self.compare_state()?;
        }
        self.track_access(&op, &outcomes)?;
        self.invariants(&op, real, &before_active, &snapshots, touched)
    }

    /// The factor a raced answer verifies, if it is a TOTP code.
    fn raced_factor(&self, op: &Op) -> Option<usize> {
        match *op {
            Op::Verify { factor, .. } => resolve_factor(factor, self.factors.len(), &self.activated),
            Op::FinishChallenge { challenge, .. } => {
                resolve(challenge, self.challenges.len()).map(|c| self.challenges[c].factor)
            }
            _ => None,
        }
    }

    /// The call a racer makes, with the facts about its proof and whose thing it names.
    fn prepare(&mut self, op: &Op) -> (Call, Facts, Option<U>) {
        let mut facts = Facts::default();
        let mut touched = None;
        let call = match *op {
            Op::Verify { user: u, factor, answer, .. } => {
                let i = resolve_factor(factor, self.factors.len(), &self.activated);
                touched = self.owner_of(i);
                let (proof, f) = match i.and_then(|i| self.factors[i].kind) {
                    Some(Kind::Passkey | Kind::Sms) => (code("000000"), Facts::default()),
                    _ => self.totp_proof(i, answer),
                };
                facts = f;
                Call::Verify(user(u), self.factor_id(i), proof)
            }
            Op::FinishChallenge { user: u, challenge, answer, .. } => match resolve(challenge, self.challenges.len()) {
                None => Call::FinishChallenge(
                    user(u),
                    CeremonyId::random().unwrap_or_else(|_| unreachable!()),
                    code("000000"),
                ),
                Some(c) => {
                    let Open { id, prompt, factor: i, code: sent, .. } = self.challenges[c].clone();
                    touched = Some(self.model_user(i));
                    let proof = match (self.factors[i].kind, self.factors[i].passkey.as_mut()) {
                        (_, Some(auth)) => {
                            Proof::credential(get_json(auth, &prompt)).unwrap_or_else(|_| unreachable!())
                        }
                        (Some(Kind::Sms), _) => sms_proof(sent.as_deref(), answer),
                        _ => {
                            let (p, f) = self.totp_proof(Some(i), answer);
                            facts = f;
                            p
                        }
                    };
                    Call::FinishChallenge(user(u), id, proof)
                }
            },
            Op::UseCode { user: u, code: pick, .. } => {
                let k = resolve(pick, self.codes.len());
                Call::UseCode(user(u), k.map_or_else(random_code, |k| self.codes[k].0.clone()))
            }
            Op::FinishPasswordless { ceremony, passkey, answer, .. } => {
                let (id, proof) = self.passwordless_proof(ceremony, passkey, answer);
                Call::FinishPasswordless(id, proof)
            }
            Op::UseAccess { user: u, code, answer, .. } => {
                touched = self.access_owner(code, answer);
                Call::UseAccess(user(u), self.access_text(code, answer))
            }
            _ => unreachable!("not raced: {op:?}"),
        };
        (call, facts, touched)
    }

    /// The whose-state an operation acted on, if it named another user's thing.
    fn run(&mut self, op: &Op) -> (Outcome, Facts, Option<U>) {
        let mut facts = Facts::default();
        let mut touched = None;
        let result = match *op {
            Op::Advance { secs } => {
                self.clock.advance(Duration::from_secs(secs));
                Outcome::Ok
            }
            Op::StartEnrolment { on, user: u, actor, kind, replaces } => {
                let mut req = match kind {
                    Kind::Totp => EnrolmentRequest::new(FactorKind::TOTP),
                    Kind::Passkey => EnrolmentRequest::new(FactorKind::PASSKEY),
                    Kind::Sms => EnrolmentRequest::new(FactorKind::SMS).destination(phone(u)),
                };
                let old = replaces.map(|p| resolve_factor(p, self.factors.len(), &self.activated));
                if let Some(old) = old {
                    req = req.replaces(self.factor_id(old));
                    touched = self.owner_of(old);
                }
                let fresh = self.fresh(actor);
                let r = self.rt.block_on(self.mfa[usize::from(on)].start_enrolment(&user(u), &fresh, req));
                if let Ok(start) = &r {
                    let mut real = Real { id: Some(start.factor.id), kind: Some(kind), ..Real::default() };
                    match &start.prompt {
                        Prompt::CodeSent { .. } => real.sms_code = self.outbox.last_code_to(phone(u)),
                        Prompt::SharedSecret(secret) => {
                            real.totp_key =
                                data_encoding::BASE32_NOPAD.decode(secret.secret_base32.expose().as_bytes()).ok();
                        }
                        prompt => {
                            let options: Option<CreationChallengeResponse> =
                                serde_json::from_str(options_json(prompt)).ok();
                            real.handle = options.map(|o| o.public_key.user.id.to_vec()).unwrap_or_default();
                            real.passkey = Some(SoftPasskey::new(true));
                            real.prompt = Some(prompt.clone());
                        }
                    }
                    self.factors.push(real);
                    self.factor_users.push(u);
                }
                outcome(&r)
            }
            Op::FinishEnrolment { on, user: u, actor, factor, answer } => {
                let i = resolve(factor, self.factors.len());
                touched = self.owner_of(i);
                let id = self.factor_id(i);
                let proof = match i.and_then(|i| self.factors[i].kind) {
                    Some(Kind::Passkey) => self.passkey_registration(i, answer),
                    Some(Kind::Sms) => {
                        let right = i.and_then(|i| self.factors[i].sms_code.clone());
                        sms_proof(right.as_deref(), answer)
                    }
                    _ => {
                        let (p, f) = self.totp_proof(i, answer);
                        facts = f;
                        p
                    }
                };
                let fresh = self.fresh(actor);
                let r = self.rt.block_on(self.mfa[usize::from(on)].finish_enrolment(&user(u), &fresh, &id, &proof));
                if let (Ok(_), Some(i)) = (&r, i) {
                    self.activated.push(i);
                    self.remember_code(i, facts);
                    if self.factors[i].passkey.is_some() {
                        let lookup = self
                            .rt
                            .block_on(self.store.get_factor(&user(u), &id))
                            .ok()
                            .flatten()
                            .and_then(|f| f.lookup_key)
                            .unwrap_or_default();
                        let handle = self.factors[i].handle.clone();
                        self.factors[i].discoverable = Some(Discoverable { factor: id, credential: lookup, handle });
                        self.registered.push(i);
                    }
                }
                self.count_failure(&r);
                outcome(&r)
            }
            Op::Verify { on, user: u, factor, answer } => {
                let i = resolve_factor(factor, self.factors.len(), &self.activated);
                touched = self.owner_of(i);
                let id = self.factor_id(i);
                let (proof, f) = match i.and_then(|i| self.factors[i].kind) {
                    Some(Kind::Passkey | Kind::Sms) => (code("000000"), Facts::default()),
                    _ => self.totp_proof(i, answer),
                };
                facts = f;
                let r = self.rt.block_on(self.mfa[usize::from(on)].verify(&user(u), &id, &proof));
                if let (Ok(v), Some(i)) = (&r, i) {
                    self.remember_code(i, facts);
                    self.verifications.push(v.clone());
                }
                self.count_failure(&r);
                outcome(&r)
            }
            Op::StartChallenge { on, user: u, factor, step_up } => {
                let i = resolve_factor(factor, self.factors.len(), &self.activated);
                touched = self.owner_of(i);
                let id = self.factor_id(i);
                let mfa = &self.mfa[usize::from(on)];
                let r = self.rt.block_on(async {
                    match step_up {
                        true => {
                            let action = ActionDigest::new("payment", &[("amount", "100.00 EUR")]);
                            mfa.start_step_up(&user(u), Some(&id), &action).await
                        }
                        false => mfa.start_challenge(&user(u), Some(&id)).await,
                    }
                });
                if let (Ok(c), Some(i)) = (&r, i) {
                    self.opened(c, i);
                }
                outcome(&r)
            }
            Op::FinishChallenge { on, user: u, challenge, answer } => {
                let c = resolve(challenge, self.challenges.len());
                let (id, proof) = match c {
                    None => (CeremonyId::random().unwrap_or_else(|_| unreachable!()), code("000000")),
                    Some(c) => {
                        let Open { id, prompt, factor: i, code: sent, .. } = self.challenges[c].clone();
                        touched = Some(self.model_user(i));
                        let proof = match (self.factors[i].kind, self.factors[i].passkey.as_mut()) {
                            (_, Some(auth)) => match answer {
                                Answer::Right => {
                                    Proof::credential(get_json(auth, &prompt)).unwrap_or_else(|_| unreachable!())
                                }
                                Answer::Malformed => code("000000"),
                                _ => world::spoil_signature(&get_json(auth, &prompt)),
                            },
                            (Some(Kind::Sms), _) => sms_proof(sent.as_deref(), answer),
                            _ => {
                                let (p, f) = self.totp_proof(Some(i), answer);
                                facts = f;
                                p
                            }
                        };
                        (id, proof)
                    }
                };
                let r = self.rt.block_on(self.mfa[usize::from(on)].finish_challenge(&user(u), &id, &proof));
                if let Ok(v) = &r {
                    if let Some(c) = c {
                        let i = self.challenges[c].factor;
                        self.remember_code(i, facts);
                    }
                    self.verifications.push(v.clone());
                }
                self.count_failure(&r);
                outcome(&r)
            }
            Op::StartPasswordless { on } => {
                let r = self.rt.block_on(self.mfa[usize::from(on)].start_passwordless(&FactorKind::PASSKEY));
                if let Ok(c) = &r {
                    self.passwordless.push((c.id, c.prompt.clone(), c.expires_at));
                }
                outcome(&r)
            }
            Op::FinishPasswordless { on, ceremony, passkey, answer } => {
                let (id, proof) = self.passwordless_proof(ceremony, passkey, answer);
                let r = self.rt.block_on(self.mfa[usize::from(on)].finish_passwordless(&id, &proof));
                match &r {
                    Ok(v) => self.verifications.push(v.clone()),
                    Err(Error::InvalidCode) => self.passwordless_failures += 1,
                    Err(_) => {}
                }
                outcome(&r)
            }
            Op::GenerateCodes { on, user: u, actor, again } => {
                let fresh = self.fresh(actor);
                let mfa = &self.mfa[usize::from(on)];
                let r = self.rt.block_on(async {
                    match again {
                        true => mfa.regenerate_recovery_codes(&user(u), &fresh).await,
                        false => mfa.generate_recovery_codes(&user(u), &fresh).await,
                    }
                });
                if let Ok(set) = &r {
                    self.codes.extend(set.codes().iter().map(|c| (c.expose().to_owned(), actor, u)));
                }
                outcome(&r)
            }
            Op::UseCode { on, user: u, code: pick } => {
                let k = resolve(pick, self.codes.len());
                let text = k.map_or_else(random_code, |k| self.codes[k].0.clone());
                let r = self.rt.block_on(self.mfa[usize::from(on)].verify_recovery_code(&user(u), &text));
                if let Ok(v) = &r {
                    self.verifications.push(v.clone());
                }
                self.count_failure(&r);
                outcome(&r)
            }
            Op::RememberDevice { on, verification } => match resolve(verification, self.verifications.len()) {
                None => Outcome::Skipped,
                Some(v) => {
                    self.clock.advance(Duration::from_secs(1));
                    let verified = self.verifications[v].clone();
                    let r = self.rt.block_on(self.mfa[usize::from(on)].remember_device(&verified, "Laptop"));
                    if let Ok(t) = &r {
                        self.devices.push((t.device.id, t.token.expose().to_owned()));
                    }
                    outcome(&r)
                }
            },
            Op::CheckDevice { on, user: u, token } => {
                let d = resolve(token, self.devices.len());
                let text = d.map_or_else(random_token, |d| self.devices[d].1.clone());
                let r = self.rt.block_on(self.mfa[usize::from(on)].check_device(&user(u), &text));
                self.count_failure(&r);
                outcome(&r)
            }
            Op::RevokeDevice { on, user: u, device } => {
                let d = resolve(device, self.devices.len());
                let id = d.map_or_else(|| DeviceId::random().unwrap_or_else(|_| unreachable!()), |d| self.devices[d].0);
                let r = self.rt.block_on(self.mfa[usize::from(on)].revoke_device(&user(u), &id));
                outcome(&r)
            }
            Op::RevokeAllDevices { on, user: u } => {
                let r = self.rt.block_on(self.mfa[usize::from(on)].revoke_all_devices(&user(u)));
                outcome(&r)
            }
            Op::RemoveFactor { on, user: u, actor, factor } => {
                let i = resolve(factor, self.factors.len());
                touched = self.owner_of(i);
                let id = self.factor_id(i);
                let fresh = self.fresh(actor);
                let r = self.rt.block_on(self.mfa[usize::from(on)].remove_factor(&user(u), &fresh, &id));
                outcome(&r)
            }
            Op::SetPreferred { on, user: u, actor, factor } => {
                let i = resolve(factor, self.factors.len());
                touched = self.owner_of(i);
                let id = self.factor_id(i);
                let fresh = self.fresh(actor);
                let r = self.rt.block_on(self.mfa[usize::from(on)].set_preferred(&user(u), &fresh, &id));
                outcome(&r)
            }
            Op::Rename { on, user: u, factor } => {
                let i = resolve(factor, self.factors.len());
                touched = self.owner_of(i);
                let id = self.factor_id(i);
                let r = self.rt.block_on(self.mfa[usize::from(on)].rename_factor(&user(u), &id, "Renamed"));
                outcome(&r)
            }
            Op::ResendEnrolment { on, user: u, factor } => {
                let i = resolve(factor, self.factors.len());
                touched = self.owner_of(i);
                let id = self.factor_id(i);
                let r = self.rt.block_on(self.mfa[usize::from(on)].resend_enrolment(&user(u), &id));
                if let (Ok(_), Some(i)) = (&r, i) {
                    self.factors[i].sms_code = self.outbox.last_code_to(phone(u));
                }
                outcome(&r)
            }
            Op::ResendChallenge { on, user: u, challenge } => {
                let c = resolve(challenge, self.challenges.len());
                let id = match c {
                    Some(c) => {
                        touched = Some(self.model_user(self.challenges[c].factor));
                        self.challenges[c].id
                    }
                    None => CeremonyId::random().unwrap_or_else(|_| unreachable!()),
                };
                let r = self.rt.block_on(self.mfa[usize::from(on)].resend_challenge(&user(u), &id));
                if let (Ok(new), Some(c)) = (&r, c) {
                    let i = self.challenges[c].factor;
                    self.opened(new, i);
                }
                outcome(&r)
            }
            Op::GetFactor { on, user: u, factor } => {
                let i = resolve(factor, self.factors.len());
                touched = self.owner_of(i);
                let id = self.factor_id(i);
                let r = self.rt.block_on(self.mfa[usize::from(on)].get_factor(&user(u), &id));
                outcome(&r)
            }
            Op::AdminReset { on, user: u, by } => {
                let who = user(u);
                let enrolments: Vec<CeremonyId> = self
                    .rt
                    .block_on(self.store.list_factors(&who))
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|f| f.enrolment)
                    .collect();
                let admin = self.mfa[usize::from(on)].admin(&UserId::new(by.name()).unwrap_or_else(|_| unreachable!()));
                let r = self.rt.block_on(admin.reset(&who));
                if let Ok(removed) = &r {
                    self.detail = Some(format!(
                        "removed {} factors, {} codes, {} devices",
                        removed.factors, removed.recovery_codes, removed.devices
                    ));
                    let marks = Marks {
                        factors: self.factors.len(),
                        challenges: self.challenges.len(),
                        codes: self.codes.len(),
                        devices: self.devices.len(),
                    };
                    self.resets.insert(u, marks);
                    for a in self.access.iter_mut().filter(|a| a.user == u) {
                        a.spent = true;
                    }
                }
                self.enrolments = enrolments;
                outcome(&r)
            }
            Op::AdminUnlock { on, user: u, by, scope } => {
                let i = match scope {
                    Some(Counter::Factor(pick)) => resolve(pick, self.factors.len()),
                    _ => None,
                };
                if let Some(Counter::Factor(_)) = scope {
                    touched = self.owner_of(i);
                }
                let scope = scope.map(|s| match s {
                    Counter::Factor(_) => ThrottleScope::Factor(self.factor_id(i)),
                    Counter::Codes => ThrottleScope::RecoveryCodes,
                    Counter::Access => ThrottleScope::TemporaryAccess,
                    Counter::Devices => ThrottleScope::DeviceTokens,
                });
                let admin = self.mfa[usize::from(on)].admin(&UserId::new(by.name()).unwrap_or_else(|_| unreachable!()));
                let r = self.rt.block_on(admin.unlock(&user(u), scope));
                if let Ok(cleared) = &r {
                    self.detail = Some(format!("cleared {cleared}"));
                }
                outcome(&r)
            }
            Op::IssueAccess { on, user: u, by, lifetime } => {
                let max = self.model.settings.temporary_access.max_lifetime;
                let lifetime = match lifetime {
                    Lifetime::Short => Some(Duration::from_secs(ACCESS_SHORT.unsigned_abs())),
                    Lifetime::Default => None,
                    Lifetime::TooLong => Some(max + Duration::from_secs(1)),
                };
                let admin = self.mfa[usize::from(on)].admin(&UserId::new(by.name()).unwrap_or_else(|_| unreachable!()));
                let r = self.rt.block_on(admin.issue_temporary_access(&user(u), lifetime));
                if let Ok(issued) = &r {
                    for a in self.access.iter_mut().filter(|a| a.user == u) {
                        a.spent = true;
                    }
                    self.access.push(Issued {
                        user: u,
                        text: issued.code.expose().to_owned(),
                        expires_at: issued.expires_at,
                        tries: 0,
                        spent: false,
                    });
                }
                outcome(&r)
            }
            Op::RevokeAccess { on, user: u, by } => {
                let admin = self.mfa[usize::from(on)].admin(&UserId::new(by.name()).unwrap_or_else(|_| unreachable!()));
                let r = self.rt.block_on(admin.revoke_temporary_access(&user(u)));
                if let Ok(revoked) = &r {
                    self.detail = Some(if *revoked { "revoked" } else { "none" }.to_owned());
                    for a in self.access.iter_mut().filter(|a| a.user == u) {
                        a.spent = true;
                    }
                }
                outcome(&r)
            }
            Op::UseAccess { on, user: u, code, answer } => {
                touched = self.access_owner(code, answer);
                let text = self.access_text(code, answer);
                let r = self.rt.block_on(self.mfa[usize::from(on)].verify_temporary_access(&user(u), &text));
                if let Ok(v) = &r {
                    self.verifications.push(v.clone());
                }
                self.count_failure(&r);
                outcome(&r)
            }
            Op::Race { .. } => unreachable!("races are run by Harness::race"),
            Op::Purge => {
                let now = self.now();
                let r = self.rt.block_on(self.store.purge_expired(now));
                if let Err(e) = r {
                    panic!("purge: {e:?}");
                }
                Outcome::Ok
            }
        };
        (result, facts, touched)
    }

    /// A passkey registration for pending factor `i`: the right one, or one for a
    /// tampered challenge.
    fn passkey_registration(&mut self, i: Option<usize>, answer: Answer) -> Proof {
        let Some(real) = i.map(|i| &mut self.factors[i]) else { return code("000000") };
        let (Some(auth), Some(prompt)) = (real.passkey.as_mut(), real.prompt.clone()) else {
            return code("000000");
        };
        match answer {
            Answer::Right => create(auth, &prompt),
            Answer::Malformed => code("000000"),
            _ => {
                let mut options: serde_json::Value = serde_json::from_str(options_json(&prompt)).unwrap_or_default();
                options["publicKey"]["challenge"] = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into();
                let tampered = Prompt::PublicKeyCredential { options_json: options.to_string() };
                Proof::credential(create_json(auth, &tampered)).unwrap_or_else(|_| unreachable!())
            }
        }
    }

    /// The ceremony a passwordless answer names, and the answer: by a registered passkey
    /// (right, or its signature spoilt), by a credential nobody holds (`Replay`), or a code.
    fn passwordless_proof(&mut self, ceremony: Pick, passkey: Pick, answer: Answer) -> (CeremonyId, Proof) {
        let c = resolve(ceremony, self.passwordless.len());
        let (id, prompt) = match c {
            Some(c) => (self.passwordless[c].0, Some(self.passwordless[c].1.clone())),
            None => (CeremonyId::random().unwrap_or_else(|_| unreachable!()), None),
        };
        let k = resolve(passkey, self.registered.len()).map(|k| self.registered[k]);
        let proof = match (prompt, answer) {
            (_, Answer::Malformed) | (None, _) => code("000000"),
            (Some(prompt), _) => {
                let named = k.filter(|_| answer != Answer::Replay).and_then(|i| {
                    let real = &mut self.factors[i];
                    Some((real.passkey.as_mut()?, real.discoverable.clone()?))
                });
                let (auth, key) = match named {
                    Some((auth, key)) => (auth, key),
                    None => (&mut self.stranger.0, self.stranger.1.clone()),
                };
                match answer {
                    Answer::Right | Answer::Replay => key.get(auth, &prompt),
                    _ => key.forged(auth, &prompt),
                }
            }
        };
        (id, proof)
    }

    /// Records a challenge the service opened on factor `i`, with the code it sent.
    fn opened(&mut self, c: &mfa_core::Challenge, i: usize) {
        let code = match c.prompt {
            Prompt::CodeSent { .. } => self.outbox.last_code_to(phone(self.model_user(i))),
            _ => None,
        };
        self.challenges.push(Open { id: c.id, prompt: c.prompt.clone(), factor: i, expires_at: c.expires_at, code });
    }

    fn remember_code(&mut self, i: usize, facts: Facts) {
        if let (Some(text), Some(step)) = (self.code_text.take(), facts.code_step) {
            self.factors[i].last_code = Some((text, step));
        }
    }

    /// An evaluated attempt that failed must reach audit as a failed verification.
    fn count_failure<T>(&mut self, r: &Result<T, Error>) {
        if matches!(r, Err(Error::InvalidCode | Error::Replayed)) {
            self.failures += 1;
        }
    }

    fn real_has_active(&self, u: U) -> bool {
        let factors = self.rt.block_on(self.store.list_factors(&user(u))).unwrap_or_default();
        factors.iter().any(|f| f.is_active())
    }

    /// What the service holds for `u` that another caller could change.
    fn snapshot(&self, u: U) -> Snapshot {
        let who = user(u);
        let mut factors: Vec<_> = self
            .rt
            .block_on(self.store.list_factors(&who))
            .unwrap_or_default()
            .into_iter()
            .map(|f| (f.id, f.status))
            .collect();
        factors.sort_by_key(|(id, _)| *id);
        let mut throttles = Vec::new();
        for scope in factors.iter().map(|(id, _)| ThrottleScope::Factor(*id)).chain([
            ThrottleScope::RecoveryCodes,
            ThrottleScope::DeviceTokens,
            ThrottleScope::TemporaryAccess,
        ]) {
            let state = self.rt.block_on(self.store.get_throttle(&who, &scope)).unwrap_or_default();
            throttles.push((format!("{scope:?}"), state));
        }
        let codes = self.rt.block_on(self.store.count_recovery_codes(&who)).unwrap_or_default();
        let devices = self.rt.block_on(self.store.list_device_tokens(&who)).unwrap_or_default().len();
        (factors, throttles, codes, devices, self.access_status(u))
    }

    /// When the user's working temporary access code expires, as the help desk sees it.
    fn access_status(&self, u: U) -> Option<Timestamp> {
        let status = self.rt.block_on(self.mfa[0].system().status(&user(u)));
        status.unwrap_or_else(|e| panic!("status: {e:?}")).temporary_access_expires_at
    }

    /// The text a temporary access answer sends: the code picked, a well-formed code nobody
    /// was given, or no code at all.
    fn access_text(&self, code: Pick, answer: Answer) -> String {
        match answer {
            Answer::Malformed => "not-a-code".to_owned(),
            Answer::Right => resolve(code, self.access.len()).map_or_else(random_code, |k| self.access[k].text.clone()),
            _ => random_code(),
        }
    }

    /// Whose temporary access code an answer sends, if it sends one.
    fn access_owner(&self, code: Pick, answer: Answer) -> Option<U> {
        (answer == Answer::Right).then(|| resolve(code, self.access.len()).map(|k| self.access[k].user)).flatten()
    }

    /// The service's observable state against the model's.
    fn compare_state(&self) -> Result<(), String> {
        let now = self.now();
        for u in [U::Alice, U::Bob] {
            let who = user(u);
            let index: BTreeMap<FactorId, usize> =
                self.factors.iter().enumerate().filter_map(|(i, r)| Some((r.id?, i))).collect();
            let real: BTreeSet<(usize, bool)> = self
                .rt
                .block_on(self.mfa[0].list_factors(&who))
                .map_err(|e| format!("list_factors: {e:?}"))?
                .iter()
                .map(|f| (index.get(&f.id).copied().unwrap_or(usize::MAX), f.status == FactorStatus::Active))
                .collect();
            let model: BTreeSet<(usize, bool)> = self
                .model
                .factors
                .iter()
                .enumerate()
                .filter(|(_, f)| f.user == u)
                .filter_map(|(i, f)| match f.status {
                    Status::Active => Some((i, true)),
                    Status::Pending { expires_at } if expires_at > now.unix_secs() => Some((i, false)),
                    _ => None,
                })
                .collect();
            if real != model {
                return Err(format!("{u:?}'s factors (index, active): service {real:?}, model {model:?}"));
            }
            let codes = self.rt.block_on(self.mfa[0].recovery_codes_remaining(&who)).unwrap_or(usize::MAX);
            if codes != self.model.codes_left(u) {
                return Err(format!("{u:?}'s recovery codes: service {codes}, model {}", self.model.codes_left(u)));
            }
            let devices: BTreeSet<usize> = self
                .rt
                .block_on(self.mfa[0].list_devices(&who))
                .unwrap_or_default()
                .iter()
                .map(|d| self.devices.iter().position(|(id, _)| *id == d.id).unwrap_or(usize::MAX))
                .collect();
            let expected: BTreeSet<usize> = (0..self.model.devices.len())
                .filter(|&d| {
                    let m = &self.model.devices[d];
                    m.user == u && !m.gone && m.expires_at > now.unix_secs()
                })
                .collect();
            if devices != expected {
                return Err(format!("{u:?}'s remembered devices: service {devices:?}, model {expected:?}"));
            }
            let access = self.access_status(u).map(Timestamp::unix_secs);
            if access != self.model.access_expiry(u) {
                return Err(format!(
                    "{u:?}'s temporary access code expiring: service {access:?}, model {:?}",
                    self.model.access_expiry(u)
                ));
            }
            let mut scopes = vec![
                (Scope::Codes, ThrottleScope::RecoveryCodes),
                (Scope::Devices, ThrottleScope::DeviceTokens),
                (Scope::Access, ThrottleScope::TemporaryAccess),
            ];
            for (i, f) in self.model.factors.iter().enumerate() {
                if f.user == u && f.status != Status::Gone {
                    scopes.push((Scope::Factor(i), ThrottleScope::Factor(self.factor_id(Some(i)))));
                }
            }
            for (scope, real_scope) in scopes {
                let real = self.rt.block_on(self.store.get_throttle(&who, &real_scope)).unwrap_or_default();
                let model = self.model.throttle(u, scope);
                if real != model {
                    return Err(format!("{u:?}'s throttle {scope:?}: service {real:?}, model {model:?}"));
                }
            }
        }
        Ok(())
    }

    /// The design's invariants, from what the service did.
    fn invariants(
        &mut self,
        op: &Op,
        real: Outcome,
        before_active: &BTreeMap<U, bool>,
        snapshots: &BTreeMap<U, Snapshot>,
        touched: Option<U>,
    ) -> Result<(), String> {
        let ok = real == Outcome::Ok;
        self.help_desk(op, real, snapshots)?;
        self.after_reset(op, ok)?;
        // 11: a purge leaves no failure counter of a factor the store no longer holds.
        if *op == Op::Purge {
            for u in [U::Alice, U::Bob] {
                let orphaned = self.orphaned_counters(u);
                if !orphaned.is_empty() {
                    return Err(format!("invariant 11: the purge left counters of {u:?}'s gone factors: {orphaned:?}"));
                }
            }
        }
        // 10: nothing a password alone produced counts as a second factor.
        let fresh_op = match *op {
            Op::StartEnrolment { user, actor, .. }
            | Op::FinishEnrolment { user, actor, .. }
            | Op::GenerateCodes { user, actor, .. }
            | Op::RemoveFactor { user, actor, .. }
            | Op::SetPreferred { user, actor, .. } => Some((user, actor)),
            _ => None,
        };
        if let Some((u, actor)) = fresh_op
            && ok
            && actor != Actor::Owner
            && before_active[&u]
        {
            return Err(format!("invariant 2/10: {op:?} succeeded with only a password while {u:?} had MFA on"));
        }
        if let Op::UseCode { code, .. } = *op
            && ok
            && let Some(k) = resolve(code, self.codes.len())
            && self.codes[k].1 != Actor::Owner
        {
            return Err(format!("invariant 10: a recovery code minted by {:?} signed in", self.codes[k].1));
        }
        if let Op::FinishEnrolment { user: u, actor, .. } = *op
            && ok
            && actor != Actor::Owner
            && before_active[&u]
        {
            return Err(format!("invariant 10: an enrolment finished with only the password while {u:?} had MFA on"));
        }
        // A removed or replaced factor takes the remembered devices with it.
        if let Op::RemoveFactor { user: u, .. } | Op::FinishEnrolment { user: u, .. } = *op
            && ok
            && {
                let (after, ..) = self.snapshot(u);
                snapshots[&u].0.iter().any(|(id, s)| *s == FactorStatus::Active && !after.iter().any(|(a, _)| a == id))
            }
        {
            let devices = self.rt.block_on(self.mfa[0].list_devices(&user(u))).unwrap_or_default();
            if !devices.is_empty() {
                return Err(format!(
                    "remembered devices outlived a removed factor: {} left after {op:?}",
                    devices.len()
                ));
            }
        }
        // 11: a caller nobody authenticated changes nobody's state but the ceremonies.
        if matches!(op, Op::StartPasswordless { .. } | Op::FinishPasswordless { .. }) {
            for u in [U::Alice, U::Bob] {
                let after = self.snapshot(u);
                if after != snapshots[&u] {
                    return Err(format!(
                        "invariant 11: {op:?} changed {u:?}'s state: {}",
                        changes(&snapshots[&u], &after)
                    ));
                }
            }
        }
        // 7: another user's thing is not found, and stays as it was.
        if let Some(owner) = touched {
            let acting = match *op {
                Op::StartEnrolment { user, .. }
                | Op::FinishEnrolment { user, .. }
                | Op::Verify { user, .. }
                | Op::StartChallenge { user, .. }
                | Op::FinishChallenge { user, .. }
                | Op::RemoveFactor { user, .. }
                | Op::SetPreferred { user, .. }
                | Op::Rename { user, .. }
                | Op::GetFactor { user, .. }
                | Op::ResendEnrolment { user, .. }
                | Op::ResendChallenge { user, .. }
                | Op::AdminUnlock { user, .. }
                | Op::UseAccess { user, .. } => Some(user),
                _ => None,
            };
            if let Some(acting) = acting
                && acting != owner
            {
                if ok {
                    return Err(format!("invariant 7: {acting:?} acted on {owner:?}'s factor: {op:?}"));
                }
                let after = self.snapshot(owner);
                if after != snapshots[&owner] {
                    let changed = changes(&snapshots[&owner], &after);
                    return Err(format!("invariant 7: {acting:?}'s call changed {owner:?}'s state: {op:?}: {changed}"));
                }
            }
        }
        // 11: every kind of stored state is bounded.
        let limits = &self.model.settings.limits;
        let now = self.now();
        for u in [U::Alice, U::Bob] {
            let factors = self.rt.block_on(self.store.list_factors(&user(u))).unwrap_or_default();
            let pending = factors.iter().filter(|f| !f.is_active() && !f.is_expired(now)).count();
            if pending > limits.pending_enrolments {
                return Err(format!("invariant 11: {u:?} has {pending} pending enrolments"));
            }
            let devices = self.rt.block_on(self.store.list_device_tokens(&user(u))).unwrap_or_default().len();
            if devices > limits.devices {
                return Err(format!("invariant 11: {u:?} has {devices} remembered devices"));
            }
            let live =
                self.challenges.iter().filter(|c| self.factor_users[c.factor] == u && c.expires_at > now).count();
            if live > 2 * limits.challenges.max as usize {
                return Err(format!("invariant 11: {u:?} has {live} open challenges"));
            }
        }
        let live = self.passwordless.iter().filter(|c| c.2 > now).count();
        if live > 2 * limits.passwordless.max as usize {
            return Err(format!("invariant 11: {live} open passwordless ceremonies"));
        }
        Ok(())
    }

    /// The help desk's rules, from what the service did: only the administrator acts, and a
    /// refusal changes nothing; a reset leaves nothing of the user and changes nothing of
    /// the other; an unlock leaves the counters it names clear; a revoked code is gone.
    fn help_desk(&mut self, op: &Op, real: Outcome, snapshots: &BTreeMap<U, Snapshot>) -> Result<(), String> {
        let (u, by) = match *op {
            Op::AdminReset { user, by, .. }
            | Op::AdminUnlock { user, by, .. }
            | Op::IssueAccess { user, by, .. }
            | Op::RevokeAccess { user, by, .. } => (user, by),
            _ => return Ok(()),
        };
        if real == Outcome::Forbidden {
            *self.admin_refusals.entry(by.name()).or_default() += 1;
        }
        if by != By::Helpdesk {
            if real != Outcome::Forbidden {
                return Err(format!("the admin check let {} do {op:?}: {real:?}", by.name()));
            }
            for v in [U::Alice, U::Bob] {
                let after = self.snapshot(v);
                if after != snapshots[&v] {
                    return Err(format!("a refused {op:?} changed {v:?}'s state: {}", changes(&snapshots[&v], &after)));
                }
            }
            return Ok(());
        }
        if real != Outcome::Ok {
            return Ok(());
        }
        let other = if u == U::Alice { U::Bob } else { U::Alice };
        let after = self.snapshot(other);
        if after != snapshots[&other] {
            return Err(format!("{op:?} changed {other:?}'s state: {}", changes(&snapshots[&other], &after)));
        }
        match *op {
            Op::AdminReset { .. } => self.reset_left_nothing(u),
            Op::AdminUnlock { scope, .. } => {
                let who = user(u);
                let scopes = match scope {
                    Some(Counter::Factor(pick)) => {
                        vec![ThrottleScope::Factor(self.factor_id(resolve(pick, self.factors.len())))]
                    }
                    Some(Counter::Codes) => vec![ThrottleScope::RecoveryCodes],
                    Some(Counter::Access) => vec![ThrottleScope::TemporaryAccess],
                    Some(Counter::Devices) => vec![ThrottleScope::DeviceTokens],
                    // Every counter of the user's: of the factors they hold (a factor purged
                    // or removed is none of theirs any more), codes, tokens.
                    None => {
                        let factors = self.rt.block_on(self.store.list_factors(&who)).unwrap_or_default();
                        let mut scopes = vec![
                            ThrottleScope::RecoveryCodes,
                            ThrottleScope::DeviceTokens,
                            ThrottleScope::TemporaryAccess,
                        ];
                        scopes.extend(factors.iter().map(|f| ThrottleScope::Factor(f.id)));
                        scopes
                    }
                };
                for scope in scopes {
                    let state = self.rt.block_on(self.store.get_throttle(&who, &scope)).unwrap_or_default();
                    if state != ThrottleState::default() {
                        return Err(format!("{op:?} left {scope:?} at {} failures", state.failures));
                    }
                }
                Ok(())
            }
            Op::RevokeAccess { .. } if self.access_status(u).is_some() => {
                Err(format!("{op:?}: a temporary access code still works after it was revoked"))
            }
            _ => Ok(()),
        }
    }

    /// Failure counters left of factors of `u` the store no longer holds (removed, replaced
    /// or purged): state nothing bounds.
    pub(crate) fn orphaned_counters(&self, u: U) -> Vec<(FactorId, ThrottleState)> {
        let who = user(u);
        let held: BTreeSet<FactorId> =
            self.rt.block_on(self.store.list_factors(&who)).unwrap_or_default().iter().map(|f| f.id).collect();
        let gone = self.factors.iter().zip(&self.factor_users).filter(|(_, w)| **w == u).filter_map(|(r, _)| r.id);
        gone.filter(|id| !held.contains(id))
            .map(|id| {
                (id, self.rt.block_on(self.store.get_throttle(&who, &ThrottleScope::Factor(id))).unwrap_or_default())
            })
            .filter(|(_, state)| *state != ThrottleState::default())
            .collect()
    }

    /// Every failure counter the harness knows `u` may have.
    fn scopes_of(&self, u: U) -> Vec<ThrottleScope> {
        let mut scopes =
            vec![ThrottleScope::RecoveryCodes, ThrottleScope::DeviceTokens, ThrottleScope::TemporaryAccess];
        scopes.extend(
            self.factors
                .iter()
                .zip(&self.factor_users)
                .filter(|(_, w)| **w == u)
                .filter_map(|(r, _)| r.id)
                .map(ThrottleScope::Factor),
        );
        scopes
    }

    /// Right after a reset of `u`: the store holds no factor, recovery code, remembered
    /// device, open challenge or enrolment ceremony, working temporary code or failure
    /// count of `u`.
    fn reset_left_nothing(&self, u: U) -> Result<(), String> {
        let who = user(u);
        let now = self.now();
        let store = &self.store;
        let mut left = Vec::new();
        let factors = self.rt.block_on(store.list_factors(&who)).unwrap_or_default().len();
        if factors > 0 {
            left.push(format!("{factors} factors"));
        }
        let codes = self.rt.block_on(store.count_recovery_codes(&who)).unwrap_or_default();
        if codes > 0 {
            left.push(format!("{codes} recovery codes"));
        }
        let devices = self.rt.block_on(store.list_device_tokens(&who)).unwrap_or_default().len();
        if devices > 0 {
            left.push(format!("{devices} remembered devices"));
        }
        let challenges: Vec<CeremonyId> =
            self.challenges.iter().filter(|c| self.factor_users[c.factor] == u).map(|c| c.id).collect();
        let open = challenges
            .iter()
            .chain(&self.enrolments)
            .filter(|id| self.rt.block_on(store.get_ceremony(Some(&who), id, now)).ok().flatten().is_some())
            .count();
        if open > 0 {
            left.push(format!("{open} challenges or enrolment ceremonies"));
        }
        if let Some(expires_at) = self.access_status(u) {
            left.push(format!("a temporary access code expiring at {}", expires_at.unix_secs()));
        }
        for scope in self.scopes_of(u) {
            let state = self.rt.block_on(store.get_throttle(&who, &scope)).unwrap_or_default();
            if state != ThrottleState::default() {
                left.push(format!("{scope:?} at {} failures", state.failures));
            }
        }
        match left.is_empty() {
            true => Ok(()),
            false => Err(format!("a reset of {u:?} left {}", left.join(", "))),
        }
    }

    /// After a reset of a user, nothing of theirs made before it signs in or enrols.
    fn after_reset(&self, op: &Op, ok: bool) -> Result<(), String> {
        if !ok {
            return Ok(());
        }
        // Whose thing the step used, which, and how many of that sort existed at the reset.
        let (u, what, index) = match *op {
            Op::Verify { user, factor, .. } => {
                (user, "factor", resolve_factor(factor, self.factors.len(), &self.activated))
            }
            Op::FinishEnrolment { user, factor, .. } => {
                (user, "pending enrolment", resolve(factor, self.factors.len()))
            }
            Op::FinishChallenge { user, challenge, .. } => {
                (user, "challenge", resolve(challenge, self.challenges.len()))
            }
            Op::UseCode { user, code, .. } => (user, "recovery code", resolve(code, self.codes.len())),
            Op::CheckDevice { user, token, .. } => (user, "remembered device", resolve(token, self.devices.len())),
            Op::FinishPasswordless { passkey, .. } => {
                let i = resolve(passkey, self.registered.len()).map(|k| self.registered[k]);
                let Some(i) = i else { return Ok(()) };
                (self.model_user(i), "passkey", Some(i))
            }
            _ => return Ok(()),
        };
        let Some(marks) = self.resets.get(&u) else { return Ok(()) };
        let made_before = match what {
            "challenge" => marks.challenges,
            "recovery code" => marks.codes,
            "remembered device" => marks.devices,
            _ => marks.factors,
        };
        match index {
            Some(k) if k < made_before => {
                Err(format!("a {what} of {u:?}'s from before the reset of their MFA worked after it: {op:?}"))
            }
            _ => Ok(()),
        }
    }

    /// A temporary access code signs in only its user, once, before it expires, within its
    /// tries; every answer evaluated while the user has a code spends one of its tries.
    fn track_access(&mut self, op: &Op, outcomes: &[Outcome]) -> Result<(), String> {
        let Op::UseAccess { user: u, code, answer, .. } = *op else { return Ok(()) };
        let now = self.now();
        let max = self.model.settings.temporary_access.max_attempts;
        let current = self
            .access
            .iter()
            .rposition(|a| a.user == u)
            .filter(|&k| !self.access[k].spent && now < self.access[k].expires_at);
        let wins = outcomes.iter().filter(|o| **o == Outcome::Ok).count();
        let evaluated = outcomes.iter().filter(|o| matches!(o, Outcome::Ok | Outcome::InvalidCode)).count();
        if wins == 0 {
            if let Some(k) = current {
                let a = &mut self.access[k];
                a.tries = a.tries.saturating_add(u32::try_from(evaluated).unwrap_or(u32::MAX)).min(max);
            }
            return Ok(());
        }
        let typed = (answer == Answer::Right).then(|| resolve(code, self.access.len())).flatten();
        let Some(k) = typed else {
            return Err(format!("a temporary access code nobody was given signed {u:?} in: {op:?}"));
        };
        let a = &self.access[k];
        let why = if a.user != u {
            Some(format!("{:?}'s code signed {u:?} in", a.user))
        } else if a.spent {
            Some("a code already used, replaced, revoked or reset signed in".to_owned())
        } else if now >= a.expires_at {
            Some("an expired code signed in".to_owned())
        } else if a.tries >= max {
            Some(format!("a code signed in after its {max} tries were spent"))
        } else {
            None
        };
        if let Some(why) = why {
            return Err(format!("temporary access: {why}: {op:?}"));
        }
        self.access[k].spent = true;
        Ok(())
    }

    /// Invariant 12, at the end of a sequence: every refusal and every failed attempt
    /// reached audit, in few events.
    pub(crate) fn audit(&mut self) -> Result<(), String> {
        for mfa in &self.mfa {
            self.rt.block_on(mfa.flush_audit());
        }
        let (mut refused, mut failed, mut passwordless) = (0u64, 0u64, 0u64);
        let mut admin: BTreeMap<&'static str, u64> = BTreeMap::new();
        for kind in self.events.kinds() {
            match kind {
                EventKind::AdminRefused { admin: who, count, .. } => {
                    let by = [By::Helpdesk, By::Bob, By::Mallory].into_iter().find(|b| b.name() == who.as_str());
                    *admin.entry(by.map_or("someone else", By::name)).or_default() += count;
                }
                EventKind::AttemptsRefused { count, .. } | EventKind::LimitReached { count, .. } => refused += count,
                EventKind::VerificationFailed { .. } => failed += 1,
                EventKind::PasswordlessFailed { count, .. } | EventKind::PasswordlessUnknownCredential { count } => {
                    passwordless += count;
                }
                _ => {}
            }
        }
        if refused != self.refusals {
            return Err(format!("invariant 12: {} refusals, {refused} reported to audit", self.refusals));
        }
        if failed != self.failures {
            return Err(format!("invariant 12: {} failed attempts, {failed} reported to audit", self.failures));
        }
        if admin != self.admin_refusals {
            return Err(format!(
                "every refusal by the admin check is audited: {:?} refused, {admin:?} reported",
                self.admin_refusals
            ));
        }
        if passwordless != self.passwordless_failures {
            return Err(format!(
                "invariant 12: {} failed passwordless sign-ins, {passwordless} reported",
                self.passwordless_failures
            ));
        }
        Ok(())
    }
}

/// What differs between two snapshots of a user's state, briefly.
fn changes(before: &Snapshot, after: &Snapshot) -> String {
    let mut out = Vec::new();
    if before.0 != after.0 {
        out.push(format!("factors {:?} -> {:?}", before.0, after.0));
    }
    for (scope, state) in &after.1 {
        let old = before.1.iter().find(|(s, _)| s == scope).map(|(_, s)| *s).unwrap_or_default();
        if old != *state {
            out.push(format!("{scope} failures {} -> {}", old.failures, state.failures));
        }
    }
    if before.2 != after.2 {
        out.push(format!("recovery codes {} -> {}", before.2, after.2));
    }
    if before.3 != after.3 {
        out.push(format!("remembered devices {} -> {}", before.3, after.3));
    }
    if before.4 != after.4 {
        out.push(format!("temporary access code expiring {:?} -> {:?}", before.4, after.4));
    }
    out.join("; ")
}

/// A passkey registered with another deployment: a credential this one never saw.
async fn stranger() -> (SoftPasskey, Discoverable) {
    let w = world::World::new();
    let mut auth = SoftPasskey::new(true);
    let key = w.enrol_passkey(&UserId::new("carol").unwrap_or_else(|_| unreachable!()), &mut auth).await;
    (auth, key)
}
