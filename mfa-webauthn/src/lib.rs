#![forbid(unsafe_code)]
#![deny(missing_docs)]
//! Security keys, passkeys and older U2F keys (WebAuthn / FIDO2) as a
//! [`FactorAdapter`] for [`mfa_core::Mfa`], on webauthn-rs.
//!
//! One [`WebauthnFactor`] serves three kinds, one per "Add security device" choice:
//!
//! | kind | registration | sign-in | assurance |
//! |---|---|---|---|
//! | [`FactorKind::PASSKEY`] | discoverable credential, user verification **required** | second factor, or passwordless without a password | [`Assurance::PhishingResistantMultiFactor`] |
//! | [`FactorKind::SECURITY_KEY`] | CTAP2 and U2F keys; user verification preferred, no credProtect | second factor only | [`Assurance::PhishingResistant`] |
//! | [`FactorKind::OLDER_DEVICE`] | U2F-era keys (`fido-u2f` attestation), user verification discouraged, no credProtect | second factor only, never passwordless | [`Assurance::PhishingResistant`] |
//!
//! ```no_run
//! use mfa_core::{AeadSealer, EnrolmentRequest, FactorKind, FreshAuth, Mfa, Prompt, Proof, UserId};
//! use mfa_store_memory::MemoryStore;
//! use mfa_webauthn::WebauthnFactor;
//!
//! # async fn demo(browser_answer: String) -> Result<(), mfa_core::Error> {
//! let webauthn = WebauthnFactor::builder("example.com", "Example", "https://example.com").build()?;
//! let mfa = Mfa::builder().store(MemoryStore::new()).sealer(AeadSealer::ephemeral()?).factor(webauthn).build()?;
//! let alice = UserId::new("alice")?;
//!
//! // "Add security device": send the options to the browser...
//! let fresh = FreshAuth::primary(mfa.now());
//! let request = EnrolmentRequest::new(FactorKind::PASSKEY).label("MacBook Touch ID");
//! let start = mfa.start_enrolment(&alice, &fresh, request).await?;
//! let Prompt::PublicKeyCredential { options_json } = &start.prompt else { unreachable!() };
//! // ...and finish with what `navigator.credentials.create()` returned (as JSON).
//! mfa.finish_enrolment(&alice, &fresh, &start.factor.id, &Proof::credential(browser_answer)?).await?;
//! # Ok(()) }
//! ```
//!
//! Passwordless sign-in: [`Mfa::start_passwordless`](mfa_core::Mfa::start_passwordless)
//! with [`FactorKind::PASSKEY`], then
//! [`Mfa::finish_passwordless`](mfa_core::Mfa::finish_passwordless); the result names the
//! user. Only passkeys that verified the user get in that way.
//!
//! # Which authenticators: the policy
//!
//! [`AuthenticatorPolicy`] (set with [`WebauthnFactorBuilder::policy`]) decides which
//! authenticators a deployment accepts. The default accepts any whose registration
//! verifies. A deployment can:
//!
//! - require attestation chaining to listed roots;
//! - allow or deny models by AAGUID;
//! - read the FIDO Metadata Service blob ([`Metadata`]), to name models in the device list
//!   and refuse revoked or compromised ones;
//! - refuse backup-eligible (synced) passkeys.
//!
//! A refusal is [`Error::AuthenticatorRefused`] with a reason, and an
//! [`EventKind::AuthenticatorRefused`](mfa_core::EventKind::AuthenticatorRefused) event.
//! Every sign-in repeats the checks that need no attestation statement, so a tightened
//! policy or a newer metadata blob applies to credentials already registered.
//!
//! Each factor's details (the device list) carry `aaguid`, `authenticator` (the model's
//! name, from the metadata), `attested`, `attestation_root`, `backup_eligible` and
//! `backup_state` (updated at every sign-in), `user_verified`, `transports` and
//! `attestation_format`. A passkey that verified the user, attested by a trusted root and
//! not backup-eligible proves [`Assurance::HardwareBound`], which access policies can
//! require.
//!
//! ```
//! use mfa_webauthn::{AuthenticatorPolicy, Metadata, WebauthnFactor};
//!
//! # fn demo(root_pem: &str, mds_blob: &str) -> Result<(), mfa_core::Error> {
//! let policy = AuthenticatorPolicy::any()
//!     .trust_ca_pem(root_pem)?            // e.g. your security keys' vendor root
//!     .metadata(Metadata::from_blob(mds_blob)?)
//!     .refuse_backup_eligible(true);
//! let factor = WebauthnFactor::builder("example.com", "Example", "https://example.com")
//!     .allow_origin("https://login.example.com")
//!     .policy(policy)
//!     .build()?;
//! # Ok(()) }
//! ```
//!
//! # Several origins
//!
//! One relying party (one RP id, so one set of credentials) can be served from several
//! origins: [`WebauthnFactorBuilder::allow_origin`] lists each (a login subdomain, a
//! second site under the same domain, a mobile app's `android:apk-key-hash:…` origin), or
//! [`WebauthnFactorBuilder::allow_subdomains`] accepts every subdomain. Any other origin —
//! another subdomain, port, scheme or app — is refused at registration and at sign-in.
//!
//! # In the browser
//!
//! The JSON in [`Prompt::PublicKeyCredential`] is the standard WebAuthn JSON (binary
//! fields base64url-encoded), and the service takes the standard JSON back. A host needs a
//! few lines of JavaScript:
//!
//! ```text
//! // Enrolment: `options` is the options JSON from the server.
//! const created = await navigator.credentials.create({
//!   publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(options.publicKey),
//! });
//! await fetch("/security/keys/finish", { method: "POST",
//!   headers: { "content-type": "application/json" }, body: JSON.stringify(created.toJSON()) });
//!
//! // Sign-in (second factor or passwordless): the same with `get`.
//! const asserted = await navigator.credentials.get({
//!   publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options.publicKey),
//! });
//! await fetch("/sign-in/key", { method: "POST",
//!   headers: { "content-type": "application/json" }, body: JSON.stringify(asserted.toJSON()) });
//! ```
//!
//! # Security
//!
//! - Verification — origin, RP id, challenge, type, flags, algorithm, signature — is
//!   webauthn-rs's, configured strictly: exact origins only, no `danger-*` loosening but one.
//! - **The one loosening:** webauthn-rs's `danger-allow-state-serialisation` feature, which
//!   lets ceremony state be serialised. We need it to keep that state in the store (so any
//!   service instance can finish a ceremony another started) instead of in one process's
//!   memory. The state never leaves the server: it is stored as ceremony state bound to the
//!   user, expires (300 s by default) and is taken exactly once — webauthn-rs would
//!   otherwise accept a second finish with the same state.
//! - Registration excludes the user's existing credentials, and the store refuses a
//!   credential id already bound to any user.
//! - After each assertion the stored credential is updated (counter, backup state, last
//!   used). A signature counter that does not increase, when either value is non-zero, is
//!   refused as [`Error::PossibleClone`] and recorded as a clone-warning event.
//! - The authenticator policy runs after webauthn-rs has verified the ceremony, so only
//!   the holder of a valid credential can reach it; its refusals are audited.
//! - No webauthn-rs type appears in this crate's public API.

mod metadata;
mod policy;

pub use metadata::{Metadata, MetadataEntry};
pub use policy::{Admission, AuthenticatorPolicy};

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use mfa_core::adapter::{
    CeremonyPlan, ChallengePlan, EnrolmentPlan, EnrolmentRequest, FactorAdapter, FactorContext, PasswordlessContext,
    Prompt, Proof, ProofOutcome, ProofStep, VerifyInput,
};
use mfa_core::store::FactorRecord;
use mfa_core::{Assurance, Error, FactorKind, Result, SecretBytes, Timestamp, UserId};
use serde::{Deserialize, Serialize};
use webauthn_rs::prelude::{
    AuthenticationResult, DiscoverableAuthentication, Passkey, PasskeyAuthentication, PasskeyRegistration,
    PublicKeyCredential, RegisterPublicKeyCredential, SecurityKey, SecurityKeyAuthentication, SecurityKeyRegistration,
    Url, Uuid, Webauthn, WebauthnBuilder, WebauthnError,
};
use webauthn_rs_proto::{AttestationConveyancePreference, ResidentKeyRequirement, UserVerificationPolicy};

/// Default lifetime of a ceremony (the browser's timeout too).
pub const DEFAULT_CEREMONY_TIMEOUT: Duration = Duration::from_secs(300);

/// WebAuthn factors: security keys, passkeys and older U2F keys. Cheap to clone.
///
/// ```
/// use mfa_webauthn::WebauthnFactor;
/// let factor = WebauthnFactor::builder("localhost", "Example", "http://localhost:8080")
///     .allow_origin("http://localhost:3000")
///     .build()?;
/// assert!(WebauthnFactor::builder("127.0.0.1", "Example", "http://127.0.0.1").build().is_err());
/// # Ok::<(), mfa_core::Error>(())
/// ```
#[derive(Clone)]
pub struct WebauthnFactor {
    webauthn: Arc<Webauthn>,
    rp_id: String,
    timeout: Duration,
    policy: Arc<AuthenticatorPolicy>,
}

impl fmt::Debug for WebauthnFactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebauthnFactor")
            .field("rp_id", &self.rp_id)
            .field("origins", &self.webauthn.get_allowed_origins().iter().map(Url::as_str).collect::<Vec<_>>())
            .field("timeout", &self.timeout)
            .field("policy", &self.policy)
            .finish()
    }
}

/// Configures a [`WebauthnFactor`].
#[derive(Debug, Clone)]
#[must_use]
pub struct WebauthnFactorBuilder {
    rp_id: String,
    rp_name: String,
    origin: String,
    extra_origins: Vec<String>,
    allow_subdomains: bool,
    timeout: Duration,
    policy: AuthenticatorPolicy,
}

impl WebauthnFactor {
    /// Starts configuring a factor for relying party `rp_id` (a domain: `example.com`, or
    /// `localhost` in development), shown to users as `rp_name`, used from `origin`
    /// (`https://example.com`; `http://localhost:PORT` is allowed in development).
    pub fn builder(rp_id: &str, rp_name: &str, origin: &str) -> WebauthnFactorBuilder {
        WebauthnFactorBuilder {
            rp_id: rp_id.to_owned(),
            rp_name: rp_name.to_owned(),
            origin: origin.to_owned(),
            extra_origins: Vec::new(),
            allow_subdomains: false,
            timeout: DEFAULT_CEREMONY_TIMEOUT,
            policy: AuthenticatorPolicy::any(),
        }
    }

    /// The opaque WebAuthn user handle for `user`: a hash of the RP id and user id, stable
    /// for the user, revealing neither.
    fn user_handle(&self, user: &UserId) -> Uuid {
        use sha2::{Digest, Sha256};
        let digest = Sha256::new()
            .chain_update(b"mfa-rs/webauthn/user-handle/v1\0")
            .chain_update(self.rp_id.as_bytes())
            .chain_update([0])
            .chain_update(user.as_str().as_bytes())
            .finalize();
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        Uuid::from_bytes(bytes)
    }

    /// Asks for `direct` attestation when the policy reads it: otherwise browsers strip the
    /// statement (and some the model). Only the request changes; the state is webauthn-rs's.
    fn ask_attestation(&self, options: &mut webauthn_rs_proto::PublicKeyCredentialCreationOptions) {
        if self.policy.wants_attestation() {
            options.attestation = Some(AttestationConveyancePreference::Direct);
        }
    }

    fn ceremony(&self, state: &State) -> Result<CeremonyPlan> {
        let payload = serde_json::to_vec(state).map_err(|e| Error::Backend(Box::new(e)))?;
        Ok(CeremonyPlan::new(payload).ttl(self.timeout).max_attempts(1))
    }
}

impl WebauthnFactorBuilder {
    /// Allows another exact origin (scheme, host and port must match): a login subdomain
    /// (`https://login.example.com`), a second port in development, or a mobile app's
    /// origin (`android:apk-key-hash:<base64url SHA-256 of the signing certificate>`). Every
    /// other origin is refused. One relying party (one RP id) serves them all: a passkey
    /// registered on one origin signs in on the others.
    pub fn allow_origin(mut self, origin: &str) -> Self {
        self.extra_origins.push(origin.to_owned());
        self
    }

    /// Also accepts every subdomain of the listed origins' hosts (same scheme and port).
    /// Default off: list each origin instead, unless subdomains are created dynamically
    /// (one per tenant) and all of them are yours.
    pub fn allow_subdomains(mut self, on: bool) -> Self {
        self.allow_subdomains = on;
        self
    }

    /// Which authenticators to accept (default [`AuthenticatorPolicy::any`]).
    pub fn policy(mut self, policy: AuthenticatorPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// How long a ceremony may take (default 300 s, at most 10 minutes).
    pub fn ceremony_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Builds the factor.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for an origin that is not a URL, a first origin whose host is not
    /// the RP id or under it, an IP-literal RP id, or a timeout outside 1 s–10 minutes.
    pub fn build(self) -> Result<WebauthnFactor> {
        let bad_origin = |_| Error::Config("invalid WebAuthn origin URL");
        let origin = Url::parse(&self.origin).map_err(bad_origin)?;
        if self.timeout < Duration::from_secs(1) || self.timeout > Duration::from_secs(600) {
            return Err(Error::Config("the WebAuthn ceremony timeout must be 1 s to 10 minutes"));
        }
        let mut builder = WebauthnBuilder::new(&self.rp_id, &origin)
            .map_err(|_| Error::Config("the WebAuthn origin does not match the RP id"))?
            .rp_name(&self.rp_name)
            .allow_subdomains(self.allow_subdomains)
            .timeout(self.timeout);
        for extra in &self.extra_origins {
            builder = builder.append_allowed_origin(&Url::parse(extra).map_err(bad_origin)?);
        }
        let webauthn = builder.build().map_err(|_| Error::Config("invalid WebAuthn configuration"))?;
        Ok(WebauthnFactor {
            webauthn: Arc::new(webauthn),
            rp_id: self.rp_id,
            timeout: self.timeout,
            policy: Arc::new(self.policy),
        })
    }
}

/// Ceremony state, as kept in the store.
#[derive(Serialize, Deserialize)]
#[serde(tag = "state", content = "data")]
enum State {
    PasskeyRegistration(PasskeyRegistration),
    SecurityKeyRegistration(SecurityKeyRegistration),
    PasskeyAuthentication(PasskeyAuthentication),
    SecurityKeyAuthentication(SecurityKeyAuthentication),
    Discoverable(DiscoverableAuthentication),
}

fn is_passkey(kind: &FactorKind) -> bool {
    *kind == FactorKind::PASSKEY
}

fn is_webauthn(kind: &FactorKind) -> bool {
    [FactorKind::PASSKEY, FactorKind::SECURITY_KEY, FactorKind::OLDER_DEVICE].contains(kind)
}

fn b64(bytes: &[u8]) -> String {
    data_encoding::BASE64URL_NOPAD.encode(bytes)
}

fn corrupt(e: serde_json::Error) -> Error {
    Error::Backend(Box::new(e))
}

/// A failed WebAuthn check: a clone warning for a counter regression, otherwise just an
/// invalid proof (the reason goes to the debug log, never to the caller).
fn refused(e: WebauthnError) -> Error {
    match e {
        WebauthnError::CredentialPossibleCompromise => Error::PossibleClone,
        other => {
            tracing::debug!(target: "mfa::webauthn", error = ?other, "WebAuthn verification failed");
            Error::InvalidCode
        }
    }
}

/// The proof's credential response, parsed as `T` once however often it is asked for.
fn parse<T: serde::de::DeserializeOwned + Send + Sync + 'static>(proof: &Proof) -> Result<Arc<T>> {
    let Proof::Credential(credential) = proof else {
        return Err(Error::InvalidInput { field: "credential", reason: "expected a WebAuthn response" });
    };
    credential.parsed(|json| {
        serde_json::from_str(json)
            .map_err(|_| Error::InvalidInput { field: "credential", reason: "not a WebAuthn response" })
    })
}

/// The AAGUID in a registration's authenticator data, unless it is all zeros (U2F keys,
/// and passkeys that hide their model).
pub(crate) fn aaguid_uuid(reg: &RegisterPublicKeyCredential) -> Option<Uuid> {
    use std::collections::BTreeMap;
    let object: BTreeMap<String, serde_cbor_2::Value> =
        serde_cbor_2::from_slice(&reg.response.attestation_object).ok()?;
    let Some(serde_cbor_2::Value::Bytes(auth_data)) = object.get("authData") else { return None };
    Uuid::from_slice(auth_data.get(37..53)?).ok().filter(|u| !u.is_nil())
}

/// The service clock's time, for certificate validity.
fn system_time(now: Timestamp) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_millis(u64::try_from(now.unix_millis()).unwrap_or(0))
}

/// The parts of a stored credential (webauthn-rs's JSON) that summaries and the clone check
/// read, parsed without building the rest: every other field is skipped.
#[derive(Deserialize, Default)]
struct StoredParts {
    #[serde(default)]
    cred: CredentialParts,
}

#[derive(Deserialize, Default)]
struct CredentialParts {
    #[serde(default)]
    counter: u64,
    #[serde(default)]
    transports: Option<Vec<serde_json::Value>>,
    backup_eligible: Option<bool>,
    backup_state: Option<bool>,
    user_verified: Option<bool>,
    attestation_format: Option<serde_json::Value>,
}

fn stored_parts(credential: &[u8]) -> CredentialParts {
    serde_json::from_slice::<StoredParts>(credential).map(|s| s.cred).unwrap_or_default()
}

/// What the policy established at registration, kept in the factor's details: the model,
/// its name, and the trusted root its attestation chains to.
#[derive(Default)]
struct Provenance {
    aaguid: Option<String>,
    name: Option<String>,
    root: Option<String>,
}

impl Provenance {
    fn of(record: &FactorRecord) -> Provenance {
        let get = |key: &str| record.details.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
        Provenance { aaguid: get("aaguid"), name: get("authenticator"), root: get("attestation_root") }
    }
}

/// Summary details from a stored credential (its JSON) and what the policy established.
fn details(cred: &CredentialParts, provenance: &Provenance) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(aaguid) = &provenance.aaguid {
        out.push(("aaguid".to_owned(), aaguid.clone()));
    }
    if let Some(name) = &provenance.name {
        out.push(("authenticator".to_owned(), name.clone()));
    }
    out.push(("attested".to_owned(), provenance.root.is_some().to_string()));
    if let Some(root) = &provenance.root {
        out.push(("attestation_root".to_owned(), root.clone()));
    }
    let transports: Vec<&str> = cred.transports.iter().flatten().filter_map(serde_json::Value::as_str).collect();
    if !transports.is_empty() {
        out.push(("transports".to_owned(), transports.join(",")));
    }
    let flags = [
        ("backup_eligible", cred.backup_eligible),
        ("backup_state", cred.backup_state),
        ("user_verified", cred.user_verified),
    ];
    for (field, value) in flags {
        if let Some(v) = value {
            out.push((field.to_owned(), v.to_string()));
        }
    }
    if let Some(format) = cred.attestation_format.as_ref().and_then(serde_json::Value::as_str) {
        out.push(("attestation_format".to_owned(), format.to_owned()));
    }
    out
}

fn decode<T: serde::de::DeserializeOwned>(data: &[u8]) -> Result<T> {
    serde_json::from_slice(data).map_err(corrupt)
}

/// The user's active credentials of one family, decoded from their records.
fn credentials<T: serde::de::DeserializeOwned>(factors: &[FactorRecord], kinds: &[FactorKind]) -> Vec<T> {
    factors
        .iter()
        .filter(|f| f.is_active() && kinds.contains(&f.kind))
        .filter_map(|f| serde_json::from_slice(&f.data).ok())
        .collect()
}

fn options_prompt<T: Serialize>(options: &T) -> Result<Prompt> {
    let options_json = serde_json::to_string(options).map_err(corrupt)?;
    Ok(Prompt::PublicKeyCredential { options_json })
}

impl WebauthnFactor {
    /// Checks the counter, updates the credential, and reports what was proven.
    fn outcome<C: Serialize>(
        &self,
        record: &FactorRecord,
        result: &AuthenticationResult,
        mut credential: C,
        update: impl FnOnce(&mut C, &AuthenticationResult),
    ) -> Result<ProofOutcome> {
        let mut parts = stored_parts(&record.data);
        let now = u64::from(result.counter());
        if (parts.counter > 0 || now > 0) && now <= parts.counter {
            return Err(Error::PossibleClone);
        }
        update(&mut credential, result);
        let data = serde_json::to_vec(&credential).map_err(corrupt)?;
        // What the update changed, without reading the new JSON again: webauthn-rs takes
        // the backup state as reported, and backup eligibility once reported.
        let backup_eligible = parts.backup_eligible.unwrap_or(false) || result.backup_eligible();
        parts.backup_eligible = Some(backup_eligible);
        parts.backup_state = Some(result.backup_state());
        // The policy again, on what the authenticator reports now (backup eligibility may
        // have appeared) and on what registration established.
        let mut provenance = Provenance::of(record);
        self.policy.check_sign_in(provenance.aaguid.as_deref(), backup_eligible, provenance.root.as_deref())?;
        if let Some(name) = self.policy.name_of(provenance.aaguid.as_deref()) {
            provenance.name = Some(name);
        }
        let assurance = match (is_passkey(&record.kind) && result.user_verified(), provenance.root.is_some()) {
            (true, true) if !backup_eligible => Assurance::HardwareBound,
            (true, _) => Assurance::PhishingResistantMultiFactor,
            (false, _) => Assurance::PhishingResistant,
        };
        let mut outcome = ProofOutcome::default();
        outcome.details = Some(details(&parts, &provenance));
        outcome.data = Some(data);
        outcome.assurance = Some(assurance);
        Ok(outcome)
    }
}

#[async_trait]
impl FactorAdapter for WebauthnFactor {
    fn kinds(&self) -> Vec<FactorKind> {
        vec![FactorKind::PASSKEY, FactorKind::SECURITY_KEY, FactorKind::OLDER_DEVICE]
    }

    fn default_label(&self, kind: &FactorKind) -> String {
        match kind.as_str() {
            "passkey" => "Passkey",
            "older-device" => "Older security key",
            _ => "Security key",
        }
        .to_owned()
    }

    fn needs_challenge(&self, _kind: &FactorKind) -> bool {
        true
    }

    fn check_proof(&self, _kind: &FactorKind, step: ProofStep, proof: &Proof) -> Result<()> {
        // A registration response completes an enrolment and an assertion response signs
        // in, as the browser's `toJSON()` makes them; the other shape is refused here,
        // before the ceremony's attempt or the failure counter is touched.
        let fits = match step {
            ProofStep::Enrolment => parse::<RegisterPublicKeyCredential>(proof).map(drop),
            _ => parse::<PublicKeyCredential>(proof).map(drop),
        };
        fits.map_err(|e| match e {
            Error::InvalidInput { reason: "expected a WebAuthn response", .. } => e,
            _ => Error::InvalidInput { field: "credential", reason: "not a WebAuthn response for this step" },
        })
    }

    fn identify(&self, _kind: &FactorKind, proof: &Proof) -> Result<Option<String>> {
        let credential = parse::<PublicKeyCredential>(proof)?;
        Ok(Some(b64(credential.get_credential_id())))
    }

    async fn start_enrolment(&self, ctx: &FactorContext<'_>, request: &EnrolmentRequest) -> Result<EnrolmentPlan> {
        if request.secret.is_some() || request.destination.is_some() {
            return Err(Error::InvalidInput {
                field: "request",
                reason: "security keys take no secret or destination",
            });
        }
        let handle = self.user_handle(ctx.user);
        let name = request.account_name.as_deref().unwrap_or(ctx.user.as_str());
        // Registration excludes every credential the user already has.
        let exclude: Vec<_> = ctx
            .factors
            .iter()
            .filter(|f| is_webauthn(&f.kind))
            .filter_map(|f| f.lookup_key.as_deref())
            .filter_map(|k| data_encoding::BASE64URL_NOPAD.decode(k.as_bytes()).ok())
            .collect();
        let (prompt, state, assurance) = if is_passkey(ctx.kind) {
            let (mut options, state) = self
                .webauthn
                .start_passkey_registration(handle, name, name, Some(exclude))
                .map_err(|_| Error::Config("cannot start a passkey registration"))?;
            // A passkey is a discoverable credential: ask for a resident key.
            if let Some(selection) = options.public_key.authenticator_selection.as_mut() {
                selection.resident_key = Some(ResidentKeyRequirement::Required);
                selection.require_resident_key = true;
            }
            self.ask_attestation(&mut options.public_key);
            (options_prompt(&options)?, State::PasskeyRegistration(state), Assurance::PhishingResistantMultiFactor)
        } else {
            let (mut options, state) = self
                .webauthn
                .start_securitykey_registration(handle, name, name, Some(exclude), None, None)
                .map_err(|_| Error::Config("cannot start a security key registration"))?;
            // A security key is a second factor (possession; the password is the other
            // factor), so it must work without a PIN. webauthn-rs asks for credProtect
            // `userVerificationRequired` (not enforced) with `userVerification: preferred`;
            // current Chromium refuses that combination before any key is involved
            // ("Requested protection policy is inconsistent or incongruent with other
            // requested parameters"), for CTAP2 and U2F keys alike. We ask for no
            // credProtect at all: the credential is not discoverable, so it is usable only
            // with its credential id (all credProtect level 2 would add), and nothing here
            // relies on the key enforcing user verification. `preferred` stays, matching
            // what webauthn-rs asks at sign-in: a key with a PIN verifies the user both
            // times (and webauthn-rs then requires it at every sign-in), one without still
            // registers. Only the request sent to the browser changes: the challenge, origin,
            // RP id, algorithm, flags and attestation statement are still verified by
            // `finish_securitykey_registration` from the server-side state. Its attestation
            // preference is "none" (no CA list): every format these keys produce (packed,
            // fido-u2f, or none once the browser strips it) is accepted, and a statement
            // that is present is still checked. The stored credential records credProtect
            // as "ignored" (the state remembers webauthn-rs's request); nothing reads it.
            if let Some(extensions) = options.public_key.extensions.as_mut() {
                extensions.cred_protect = None;
            }
            self.ask_attestation(&mut options.public_key);
            if *ctx.kind == FactorKind::OLDER_DEVICE {
                // U2F-era keys cannot verify the user: do not ask them to.
                if let Some(selection) = options.public_key.authenticator_selection.as_mut() {
                    selection.user_verification = UserVerificationPolicy::Discouraged_DO_NOT_USE;
                }
            }
            (options_prompt(&options)?, State::SecurityKeyRegistration(state), Assurance::PhishingResistant)
        };
        let mut plan = EnrolmentPlan::new(prompt, assurance);
        plan.ceremony = Some(self.ceremony(&state)?);
        Ok(plan)
    }

    async fn finish_enrolment(&self, ctx: &FactorContext<'_>, input: VerifyInput<'_>) -> Result<ProofOutcome> {
        let registration = parse::<RegisterPublicKeyCredential>(input.proof)?;
        let ceremony = input.ceremony.ok_or(Error::Expired)?;
        let state: State = serde_json::from_slice(&ceremony.payload).map_err(corrupt)?;
        let kind = &input.factor.kind;
        let (data, credential_id) = match state {
            State::PasskeyRegistration(state) if is_passkey(kind) => {
                let passkey = self.webauthn.finish_passkey_registration(&registration, &state).map_err(refused)?;
                (serde_json::to_vec(&passkey).map_err(corrupt)?, passkey.cred_id().to_vec())
            }
            State::SecurityKeyRegistration(state) if !is_passkey(kind) => {
                let key = self.webauthn.finish_securitykey_registration(&registration, &state).map_err(refused)?;
                (serde_json::to_vec(&key).map_err(corrupt)?, key.cred_id().to_vec())
            }
            _ => return Err(Error::Expired),
        };
        // The deployment's policy, on the verified credential.
        let stored: policy::Stored = serde_json::from_slice(&data).map_err(corrupt)?;
        let admission = self.policy.admit(aaguid_uuid(&registration), &stored.cred, system_time(ctx.now))?;
        let device_bound = admission.device_bound();
        let provenance = Provenance { aaguid: admission.aaguid, name: admission.name, root: admission.root };
        let mut outcome = ProofOutcome::default();
        outcome.details = Some(details(&stored_parts(&data), &provenance));
        outcome.data = Some(data);
        outcome.lookup_key = Some(b64(&credential_id));
        if is_passkey(kind) && stored.cred.user_verified && device_bound {
            outcome.assurance = Some(Assurance::HardwareBound);
        }
        Ok(outcome)
    }

    async fn start_challenge(
        &self,
        ctx: &FactorContext<'_>,
        factor: &FactorRecord,
        _secret: Option<&SecretBytes>,
    ) -> Result<ChallengePlan> {
        // Any of the user's credentials of the same family may answer.
        let (prompt, state) = if is_passkey(&factor.kind) {
            let passkeys: Vec<Passkey> = credentials(ctx.factors, &[FactorKind::PASSKEY]);
            let (options, state) = self
                .webauthn
                .start_passkey_authentication(&passkeys)
                .map_err(|_| Error::Config("cannot start a passkey authentication"))?;
            (options_prompt(&options)?, State::PasskeyAuthentication(state))
        } else {
            let keys: Vec<SecurityKey> =
                credentials(ctx.factors, &[FactorKind::SECURITY_KEY, FactorKind::OLDER_DEVICE]);
            let (options, state) = self
                .webauthn
                .start_securitykey_authentication(&keys)
                .map_err(|_| Error::Config("cannot start a security key authentication"))?;
            (options_prompt(&options)?, State::SecurityKeyAuthentication(state))
        };
        Ok(ChallengePlan::with_ceremony(prompt, self.ceremony(&state)?))
    }

    async fn finish_challenge(&self, ctx: &FactorContext<'_>, input: VerifyInput<'_>) -> Result<ProofOutcome> {
        let credential = parse::<PublicKeyCredential>(input.proof)?;
        let record = input.factor;
        if record.lookup_key.as_deref() != Some(b64(credential.get_credential_id()).as_str()) {
            return Err(Error::InvalidCode);
        }
        let ceremony = input.ceremony.ok_or(Error::Expired)?;
        let state: State = serde_json::from_slice(&ceremony.payload).map_err(corrupt)?;
        let update_passkey = |p: &mut Passkey, r: &AuthenticationResult| {
            p.update_credential(r);
        };
        match state {
            State::PasskeyAuthentication(state) if is_passkey(&record.kind) => {
                let result = self.webauthn.finish_passkey_authentication(&credential, &state).map_err(refused)?;
                self.outcome(record, &result, decode::<Passkey>(&record.data)?, update_passkey)
            }
            State::SecurityKeyAuthentication(state) if !is_passkey(&record.kind) => {
                let result = self.webauthn.finish_securitykey_authentication(&credential, &state).map_err(refused)?;
                self.outcome(record, &result, decode::<SecurityKey>(&record.data)?, |k, r| {
                    k.update_credential(r);
                })
            }
            State::Discoverable(state) if is_passkey(&record.kind) => {
                // The user handle the authenticator returned must be this user's.
                let expected = self.user_handle(ctx.user);
                if credential.get_user_unique_id() != Some(expected.as_bytes().as_slice()) {
                    return Err(Error::InvalidCode);
                }
                let passkey: Passkey = decode(&record.data)?;
                let result = self
                    .webauthn
                    .finish_discoverable_authentication_v2(&credential, state, &passkey)
                    .map_err(refused)?;
                self.outcome(record, &result, passkey, update_passkey)
            }
            _ => Err(Error::InvalidCode),
        }
    }

    async fn start_passwordless(&self, ctx: &PasswordlessContext<'_>) -> Result<ChallengePlan> {
        if !is_passkey(ctx.kind) {
            return Err(Error::Unsupported);
        }
        let (options, state) = self
            .webauthn
            .start_discoverable_authentication()
            .map_err(|_| Error::Config("cannot start a discoverable authentication"))?;
        Ok(ChallengePlan::with_ceremony(options_prompt(&options)?, self.ceremony(&State::Discoverable(state))?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configuration_is_strict() {
        assert!(WebauthnFactor::builder("localhost", "X", "http://localhost:8080").build().is_ok());
        assert!(WebauthnFactor::builder("example.com", "X", "http://localhost:8080").build().is_err());
        assert!(WebauthnFactor::builder("127.0.0.1", "X", "http://127.0.0.1:8080").build().is_err());
        assert!(WebauthnFactor::builder("localhost", "X", "not a url").build().is_err());
        let slow =
            WebauthnFactor::builder("localhost", "X", "http://localhost").ceremony_timeout(Duration::from_secs(601));
        assert!(slow.build().is_err());
    }

    #[test]
    fn user_handles_are_stable_per_user_and_rp() {
        let a = WebauthnFactor::builder("localhost", "X", "http://localhost").build().unwrap();
        let b = WebauthnFactor::builder("example.com", "X", "https://example.com").build().unwrap();
        let alice = UserId::new("alice").unwrap();
        assert_eq!(a.user_handle(&alice), a.user_handle(&alice));
        assert_ne!(a.user_handle(&alice), a.user_handle(&UserId::new("bob").unwrap()));
        assert_ne!(a.user_handle(&alice), b.user_handle(&alice));
    }

    #[test]
    fn proofs_must_be_json_objects() {
        let f = WebauthnFactor::builder("localhost", "X", "http://localhost").build().unwrap();
        let kind = FactorKind::PASSKEY;
        assert!(f.check_proof(&kind, ProofStep::SignIn, &Proof::credential("{}").unwrap()).is_err());
        assert!(f.check_proof(&kind, ProofStep::SignIn, &Proof::credential("[1]").unwrap()).is_err());
        assert!(f.check_proof(&kind, ProofStep::SignIn, &Proof::credential("{").unwrap()).is_err());
        assert!(f.check_proof(&kind, ProofStep::SignIn, &Proof::code("123456").unwrap()).is_err());
        assert!(f.identify(&kind, &Proof::credential("{}").unwrap()).is_err());
    }
}
