//! A service with every factor kind (TOTP, SMS, email, passkeys, security keys, recovery
//! codes, remembered devices) on one store, clock and outbox, and a user who holds one of
//! everything: for the isolation, bad-input and logging tests.

use std::sync::Arc;
use std::time::Duration;

use mfa_core::admin::Administrators;
use mfa_core::recovery::RecoveryCodeSettings;
use mfa_core::store::{CeremonyRecord, CounterState, DeviceTokenRecord, FactorRecord, ThrottleScope, ThrottleState};
use mfa_core::{
    AeadSealer, CeremonyId, Clock, DeviceId, EnrolmentRequest, EventSink, FactorId, FactorKind, FreshAuth, ManualClock,
    Mfa, Prompt, Proof, Settings, SharedSecretPrompt, Timestamp, UserId, seal::KeyId, settings::DeliverySettings,
    settings::WindowCap, store::Store,
};
use mfa_otp::{EmailFactor, MemorySender, OobKey, SmsFactor, TotpFactor};
use mfa_store_memory::MemoryStore;
use mfa_webauthn::WebauthnFactor;
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_authenticator_rs::softtoken::SoftToken;
use webauthn_rs::prelude::{CreationChallengeResponse, RequestChallengeResponse, Url};
use webauthn_rs_proto::{AllowCredentials, ResidentKeyRequirement};

/// Inside a TOTP step, 10 s after its start.
pub(crate) const T0: i64 = 1_700_000_010;
pub(crate) const ORIGIN: &str = "http://localhost:8080";
/// The one administrator the world's admin check allows.
pub(crate) const ADMIN: &str = "helpdesk";
/// The sealing key: distinctive, so the logging tests can look for it.
pub(crate) const SEAL_KEY: [u8; 32] = *b"seal-key:do-not-log-0123456789ab";
/// The key of the SMS/email code hashes.
pub(crate) const OOB_KEY: [u8; 32] = *b"oob-key:do-not-log-0123456789abc";

/// The test settings: fast recovery-code hashing, generous delivery limits (so set-ups never
/// wait), everything else default unless the caller changes it.
pub(crate) fn settings() -> Settings {
    let mut settings = Settings::default();
    settings.recovery_codes = RecoveryCodeSettings::fast_insecure_for_tests();
    settings.delivery = DeliverySettings::new(Duration::ZERO, Duration::from_secs(15 * 60), 1000);
    // Tests here open many challenges for one user; the pumping caps have tests of their own.
    settings.delivery.per_user = None;
    settings.delivery.prefix = None;
    // Likewise the bound on challenges per user: the bounds have tests of their own.
    settings.limits.challenges = WindowCap::new(Duration::from_secs(300), 100_000);
    settings.limits.pending_enrolments = 1_000;
    settings
}

pub(crate) struct World {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) clock: ManualClock,
    pub(crate) outbox: MemorySender,
    pub(crate) totp: TotpFactor,
    pub(crate) mfa: Mfa,
}

impl World {
    /// A memory store, the test settings and the default (tracing) event sink.
    pub(crate) fn new() -> Self {
        Self::with(Arc::new(MemoryStore::new()), settings(), None)
    }

    pub(crate) fn with(store: Arc<dyn Store>, settings: Settings, events: Option<Arc<dyn EventSink>>) -> Self {
        let clock = ManualClock::new(Timestamp::from_unix_secs(T0));
        let outbox = MemorySender::new();
        let totp = TotpFactor::new("Example Corp").unwrap();
        let key = OobKey::new(&OOB_KEY).unwrap();
        let mut builder = Mfa::builder()
            .shared_store(store.clone())
            .clock(clock.clone())
            .sealer(AeadSealer::new(KeyId(1), SEAL_KEY))
            .settings(settings)
            .factor(totp.clone())
            .factor(SmsFactor::builder(outbox.clone(), key.clone()).app_name("Example").build().unwrap())
            .factor(EmailFactor::builder(outbox.clone(), key).app_name("Example").build().unwrap())
            .factor(WebauthnFactor::builder("localhost", "Example", ORIGIN).build().unwrap())
            .admin_check(Administrators::new([UserId::new(ADMIN).unwrap()]));
        if let Some(events) = events {
            builder = builder.events(SharedSink(events));
        }
        Self { store, clock, outbox, totp, mfa: builder.build().unwrap() }
    }

    pub(crate) fn now(&self) -> Timestamp {
        self.clock.now()
    }

    pub(crate) fn fresh(&self) -> FreshAuth {
        FreshAuth::primary(self.now()).with_mfa(self.now())
    }

    pub(crate) fn advance(&self, secs: u64) {
        self.clock.advance(Duration::from_secs(secs));
    }

    /// The TOTP code for `key` now.
    pub(crate) fn totp_code(&self, key: &[u8]) -> String {
        self.totp.code_at(key, self.now().unix_secs() as u64).unwrap()
    }

    /// A well-formed TOTP code that is wrong for `key` now (none of the window's codes).
    pub(crate) fn wrong_totp_code(&self, key: &[u8]) -> String {
        let t = self.now().unix_secs() as u64;
        let valid: Vec<String> = [t - 30, t, t + 30].iter().map(|s| self.totp.code_at(key, *s).unwrap()).collect();
        (0..).map(|n: u32| format!("{:06}", (n * 7_919 + 123_457) % 1_000_000)).find(|c| !valid.contains(c)).unwrap()
    }

    /// The code in the last message sent to `to`.
    pub(crate) fn sent_code(&self, to: &str) -> String {
        self.outbox.last_code_to(to).expect("a code was sent")
    }

    pub(crate) async fn enrol_totp(&self, user: &UserId) -> (FactorId, Vec<u8>, SharedSecretPrompt) {
        let (id, key, prompt) = self.start_totp(user).await;
        self.mfa.finish_enrolment(user, &self.fresh(), &id, &code(&self.totp_code(&key))).await.unwrap();
        (id, key, prompt)
    }

    /// A pending TOTP enrolment.
    pub(crate) async fn start_totp(&self, user: &UserId) -> (FactorId, Vec<u8>, SharedSecretPrompt) {
        let req = EnrolmentRequest::new(FactorKind::TOTP).account_name(format!("{user}@example.com"));
        let start = self.mfa.start_enrolment(user, &self.fresh(), req).await.unwrap();
        let Prompt::SharedSecret(secret) = start.prompt else { panic!("expected a shared secret") };
        let key = data_encoding::BASE32_NOPAD.decode(secret.secret_base32.expose().as_bytes()).unwrap();
        (start.factor.id, key, secret)
    }

    /// An active SMS or email factor sending to `to` (already normalised).
    pub(crate) async fn enrol_oob(&self, user: &UserId, kind: FactorKind, to: &str) -> FactorId {
        let req = EnrolmentRequest::new(kind).destination(to);
        let start = self.mfa.start_enrolment(user, &self.fresh(), req).await.unwrap();
        self.mfa.finish_enrolment(user, &self.fresh(), &start.factor.id, &code(&self.sent_code(to))).await.unwrap();
        start.factor.id
    }

    /// An active WebAuthn factor of `kind` on the software authenticator `auth`.
    pub(crate) async fn enrol_webauthn(
        &self,
        user: &UserId,
        kind: FactorKind,
        auth: &mut impl WebauthnAuthenticator,
    ) -> FactorId {
        let start = self.mfa.start_enrolment(user, &self.fresh(), EnrolmentRequest::new(kind)).await.unwrap();
        let proof = create(auth, &start.prompt);
        self.mfa.finish_enrolment(user, &self.fresh(), &start.factor.id, &proof).await.unwrap().id
    }

    /// An active passkey on `auth` that can also sign in without a username: the factor,
    /// its credential id (base64url) and the WebAuthn user handle.
    pub(crate) async fn enrol_passkey(&self, user: &UserId, auth: &mut SoftPasskey) -> Discoverable {
        let req = EnrolmentRequest::new(FactorKind::PASSKEY);
        let start = self.mfa.start_enrolment(user, &self.fresh(), req).await.unwrap();
        let options: CreationChallengeResponse = serde_json::from_str(options_json(&start.prompt)).unwrap();
        let handle = options.public_key.user.id.to_vec();
        let proof = create(auth, &start.prompt);
        let id = self.mfa.finish_enrolment(user, &self.fresh(), &start.factor.id, &proof).await.unwrap().id;
        let credential = self.store.get_factor(user, &id).await.unwrap().unwrap().lookup_key.unwrap();
        Discoverable { factor: id, credential, handle }
    }

    /// Everything the store holds about `user` that an operation could change, plus the
    /// state of the given ceremonies.
    pub(crate) async fn snapshot(&self, user: &UserId, ceremonies: &[CeremonyId]) -> Snapshot {
        let now = self.now();
        let mut factors = self.store.list_factors(user).await.unwrap();
        factors.sort_by_key(|f| f.id);
        let mut throttles = Vec::new();
        for scope in factors
            .iter()
            .map(|f| ThrottleScope::Factor(f.id))
            .chain([ThrottleScope::RecoveryCodes, ThrottleScope::DeviceTokens])
        {
            throttles.push((scope, self.store.get_throttle(user, &scope).await.unwrap()));
        }
        let mut send_counters = Vec::new();
        for f in &factors {
            let key = format!("send:factor:{}", f.id);
            send_counters.push((key.clone(), self.store.get_counter(&key, now).await.unwrap()));
        }
        let mut ids: Vec<CeremonyId> = ceremonies.to_vec();
        ids.extend(factors.iter().filter_map(|f| f.enrolment));
        let mut open = Vec::new();
        for id in ids {
            open.push((id, self.store.get_ceremony(Some(user), &id, now).await.unwrap()));
        }
        let mut devices = self.store.list_device_tokens(user).await.unwrap();
        devices.sort_by_key(|d| d.id);
        Snapshot {
            factors,
            throttles,
            send_counters,
            ceremonies: open,
            recovery_codes: self.store.count_recovery_codes(user).await.unwrap(),
            devices,
            messages_sent: self.outbox.messages().len(),
        }
    }
}

/// What [`World::snapshot`] reads.
#[derive(Debug, PartialEq)]
pub(crate) struct Snapshot {
    pub(crate) factors: Vec<FactorRecord>,
    pub(crate) throttles: Vec<(ThrottleScope, ThrottleState)>,
    pub(crate) send_counters: Vec<(String, CounterState)>,
    pub(crate) ceremonies: Vec<(CeremonyId, Option<CeremonyRecord>)>,
    pub(crate) recovery_codes: usize,
    pub(crate) devices: Vec<DeviceTokenRecord>,
    pub(crate) messages_sent: usize,
}

/// One user holding one of everything.
pub(crate) struct Account {
    pub(crate) user: UserId,
    pub(crate) phone: String,
    pub(crate) email: String,
    pub(crate) totp: FactorId,
    pub(crate) totp_key: Vec<u8>,
    pub(crate) totp_prompt: SharedSecretPrompt,
    pub(crate) sms: FactorId,
    pub(crate) email_factor: FactorId,
    pub(crate) passkey: FactorId,
    pub(crate) passkey_auth: SoftPasskey,
    /// The passkey as a passwordless sign-in names it.
    pub(crate) passkey_discoverable: Discoverable,
    pub(crate) security_key: FactorId,
    pub(crate) security_key_auth: SoftToken,
    pub(crate) recovery_codes: Vec<String>,
    pub(crate) device: DeviceId,
    pub(crate) device_token: String,
    pub(crate) pending: FactorId,
    pub(crate) pending_key: Vec<u8>,
    /// An open SMS challenge and the code sent for it.
    pub(crate) sms_challenge: CeremonyId,
    pub(crate) sms_code: String,
    /// An open security-key challenge and its options.
    pub(crate) key_challenge: CeremonyId,
    pub(crate) key_prompt: Prompt,
}

impl Account {
    /// Every factor id the user holds, pending included.
    pub(crate) fn factors(&self) -> Vec<(&'static str, FactorId)> {
        vec![
            ("totp", self.totp),
            ("sms", self.sms),
            ("email", self.email_factor),
            ("passkey", self.passkey),
            ("security key", self.security_key),
            ("pending totp", self.pending),
        ]
    }

    pub(crate) fn challenges(&self) -> Vec<CeremonyId> {
        vec![self.sms_challenge, self.key_challenge]
    }
}

/// Enrols `name` with every factor kind, recovery codes, a remembered device, a pending
/// enrolment and two open challenges. `n` picks distinct phone numbers and addresses.
pub(crate) async fn full_account(w: &World, name: &str, n: u32) -> Account {
    let user = UserId::new(name).unwrap();
    let phone = format!("+1415555{:04}", 2600 + n);
    let email = format!("{name}@example.com");
    let (totp, totp_key, totp_prompt) = w.enrol_totp(&user).await;
    let sms = w.enrol_oob(&user, FactorKind::SMS, &phone).await;
    let email_factor = w.enrol_oob(&user, FactorKind::EMAIL, &email).await;
    let mut passkey_auth = SoftPasskey::new(true);
    let passkey_discoverable = w.enrol_passkey(&user, &mut passkey_auth).await;
    let passkey = passkey_discoverable.factor;
    let (mut security_key_auth, _ca) = SoftToken::new(false).unwrap();
    let security_key = w.enrol_webauthn(&user, FactorKind::SECURITY_KEY, &mut security_key_auth).await;
    let set = w.mfa.generate_recovery_codes(&user, &w.fresh()).await.unwrap();
    let recovery_codes = set.codes().iter().map(|c| c.expose().to_owned()).collect();
    let c = w.mfa.start_challenge(&user, Some(&sms)).await.unwrap();
    let verified = w.mfa.finish_challenge(&user, &c.id, &code(&w.sent_code(&phone))).await.unwrap();
    let remembered = w.mfa.remember_device(&verified, "Laptop").await.unwrap();
    let (pending, pending_key, _) = w.start_totp(&user).await;
    let c = w.mfa.start_challenge(&user, Some(&sms)).await.unwrap();
    let sms_code = w.sent_code(&phone);
    let k = w.mfa.start_challenge(&user, Some(&security_key)).await.unwrap();
    Account {
        user,
        phone,
        email,
        totp,
        totp_key,
        totp_prompt,
        sms,
        email_factor,
        passkey,
        passkey_auth,
        passkey_discoverable,
        security_key,
        security_key_auth,
        recovery_codes,
        device: remembered.device.id,
        device_token: remembered.token.expose().to_owned(),
        pending,
        pending_key,
        sms_challenge: c.id,
        sms_code,
        key_challenge: k.id,
        key_prompt: k.prompt,
    }
}

pub(crate) fn code(s: &str) -> Proof {
    Proof::code(s).unwrap()
}

fn origin() -> Url {
    Url::parse(ORIGIN).unwrap()
}

pub(crate) fn options_json(prompt: &Prompt) -> &str {
    match prompt {
        Prompt::PublicKeyCredential { options_json } => options_json,
        other => panic!("expected WebAuthn options, got {other:?}"),
    }
}

/// `navigator.credentials.create()` on a software authenticator (which keeps no resident
/// keys, so that requirement is lifted client-side).
pub(crate) fn create(auth: &mut impl WebauthnAuthenticator, prompt: &Prompt) -> Proof {
    Proof::credential(create_json(auth, prompt)).unwrap()
}

pub(crate) fn create_json(auth: &mut impl WebauthnAuthenticator, prompt: &Prompt) -> String {
    let mut options: CreationChallengeResponse = serde_json::from_str(options_json(prompt)).unwrap();
    if let Some(sel) = options.public_key.authenticator_selection.as_mut() {
        sel.resident_key = Some(ResidentKeyRequirement::Discouraged);
        sel.require_resident_key = false;
    }
    serde_json::to_string(&auth.do_registration(origin(), options).unwrap()).unwrap()
}

/// `navigator.credentials.get()`: the JSON the browser would post.
pub(crate) fn get_json(auth: &mut impl WebauthnAuthenticator, prompt: &Prompt) -> String {
    let options: RequestChallengeResponse = serde_json::from_str(options_json(prompt)).unwrap();
    serde_json::to_string(&auth.do_authentication(origin(), options).unwrap()).unwrap()
}

/// A passkey that can answer a passwordless sign-in (see [`World::enrol_passkey`]).
#[derive(Debug, Clone)]
pub(crate) struct Discoverable {
    pub(crate) factor: FactorId,
    pub(crate) credential: String,
    pub(crate) handle: Vec<u8>,
}

impl Discoverable {
    /// A passwordless assertion: the authenticator picks this credential and returns the
    /// user handle it stored at registration (not covered by the signature, so a soft
    /// authenticator can be given it).
    pub(crate) fn get_json(&self, auth: &mut impl WebauthnAuthenticator, prompt: &Prompt) -> String {
        let mut options: RequestChallengeResponse = serde_json::from_str(options_json(prompt)).unwrap();
        let id = data_encoding::BASE64URL_NOPAD.decode(self.credential.as_bytes()).unwrap();
        options.public_key.allow_credentials =
            vec![AllowCredentials { type_: "public-key".into(), id, transports: None }];
        let mut asserted = auth.do_authentication(origin(), options).unwrap();
        asserted.response.user_handle = Some(self.handle.clone());
        serde_json::to_string(&asserted).unwrap()
    }

    pub(crate) fn get(&self, auth: &mut impl WebauthnAuthenticator, prompt: &Prompt) -> Proof {
        Proof::credential(self.get_json(auth, prompt)).unwrap()
    }

    /// [`Discoverable::get`] with the signature spoilt: it names this credential, and
    /// proves nothing (what a caller who knows a credential id can send).
    pub(crate) fn forged(&self, auth: &mut impl WebauthnAuthenticator, prompt: &Prompt) -> Proof {
        spoil_signature(&self.get_json(auth, prompt))
    }

    /// [`Discoverable::get`] naming a credential id nobody has.
    pub(crate) fn unknown(&self, auth: &mut impl WebauthnAuthenticator, prompt: &Prompt) -> Proof {
        let mut json: serde_json::Value = serde_json::from_str(&self.get_json(auth, prompt)).unwrap();
        let unknown = data_encoding::BASE64URL_NOPAD.encode(FactorId::random().unwrap().as_bytes());
        json["id"] = unknown.clone().into();
        json["rawId"] = unknown.into();
        Proof::credential(json.to_string()).unwrap()
    }
}

pub(crate) fn spoil_signature(assertion: &str) -> Proof {
    let mut json: serde_json::Value = serde_json::from_str(assertion).unwrap();
    let signature = json["response"]["signature"].as_str().unwrap().to_owned();
    let mut bytes = data_encoding::BASE64URL_NOPAD.decode(signature.trim_end_matches('=').as_bytes()).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x55;
    json["response"]["signature"] = data_encoding::BASE64URL_NOPAD.encode(&bytes).into();
    Proof::credential(json.to_string()).unwrap()
}

pub(crate) fn get(auth: &mut impl WebauthnAuthenticator, prompt: &Prompt) -> Proof {
    Proof::credential(get_json(auth, prompt)).unwrap()
}

/// An `Arc<dyn EventSink>` as a sink the builder takes.
#[derive(Debug)]
pub(crate) struct SharedSink(pub(crate) Arc<dyn EventSink>);

impl EventSink for SharedSink {
    fn record<'a, 'b, 'c>(
        &'a self,
        event: &'b mfa_core::Event,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'c>>
    where
        'a: 'c,
        'b: 'c,
        Self: 'c,
    {
        self.0.record(event)
    }

    fn forget<'a, 'b, 'c>(
        &'a self,
        user: &'b UserId,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<u64, mfa_core::store::StoreError>> + Send + 'c>>
    where
        'a: 'c,
        'b: 'c,
        Self: 'c,
    {
        self.0.forget(user)
    }
}
