//! The factor-adapter trait: what a kind of factor does at enrolment, challenge and
//! verification time. `mfa-otp` and `mfa-webauthn` implement it; the [`Mfa`](crate::Mfa)
//! service does everything around it (throttling, replay markers, sealing, ceremony
//! state, events, preferred selection).

use std::any::Any;
use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;

use crate::error::{Error, Result};
use crate::secret::{SecretBytes, SecretString};
use crate::store::{CeremonyRecord, FactorRecord};
use crate::types::{Assurance, CeremonyId, FactorId, FactorKind, Timestamp, UserId, invalid};

/// Longest code accepted by [`Proof::code`], in bytes (after removing white space).
pub const MAX_CODE_LEN: usize = 128;
/// Longest credential response accepted by [`Proof::credential`], in bytes.
pub const MAX_CREDENTIAL_LEN: usize = 64 * 1024;

/// What the user presents to prove a factor.
#[derive(Clone)]
#[non_exhaustive]
pub enum Proof {
    /// A code the user typed (white space removed).
    Code(SecretString),
    /// A WebAuthn (or similar) response from the browser, as JSON.
    Credential(Credential),
}

/// A credential response (WebAuthn JSON) that is parsed at most once: the service checks
/// its shape before counting anything, finds the credential it names and verifies it, and
/// each step gets the same parsed value. Clones share it.
///
/// # Examples
///
/// ```
/// use mfa_core::Proof;
///
/// let proof = Proof::credential(r#"{"id": "AAEC"}"#)?;
/// let Proof::Credential(credential) = &proof else { unreachable!() };
/// let parse = |json: &str| serde_json::from_str::<serde_json::Value>(json).map_err(|_| mfa_core::Error::InvalidCode);
/// let first = credential.parsed(parse)?;
/// let again = credential.parsed(|_| -> mfa_core::Result<serde_json::Value> { unreachable!("parsed once") })?;
/// assert_eq!(first["id"], again["id"]);
/// # Ok::<(), mfa_core::Error>(())
/// ```
#[derive(Clone)]
pub struct Credential {
    json: String,
    parsed: Arc<OnceLock<Arc<dyn Any + Send + Sync>>>,
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Credential({} bytes)", self.json.len())
    }
}

impl Credential {
    /// The JSON as received.
    pub fn json(&self) -> &str {
        &self.json
    }

    /// The response parsed as `T` by `parse`, which runs only the first time (for the first
    /// type asked for; another type is parsed each time).
    ///
    /// # Errors
    ///
    /// `parse`'s error; a failed parse is not kept.
    pub fn parsed<T: Any + Send + Sync>(&self, parse: impl FnOnce(&str) -> Result<T>) -> Result<Arc<T>> {
        if let Some(done) = self.parsed.get() {
            if let Ok(value) = Arc::clone(done).downcast::<T>() {
                return Ok(value);
            }
            return parse(&self.json).map(Arc::new);
        }
        let value = Arc::new(parse(&self.json)?);
        // Another clone may have set it meanwhile; either value is the same parse.
        let _ = self.parsed.set(value.clone());
        Ok(value)
    }
}

impl Proof {
    /// A typed code: ASCII white space anywhere is removed; the rest must be 1–128 bytes of
    /// printable characters.
    ///
    /// ```
    /// use mfa_core::Proof;
    /// assert!(Proof::code(" 123 456 ").is_ok());
    /// assert!(Proof::code("").is_err());
    /// assert!(Proof::code(&"9".repeat(1 << 20)).is_err());
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for an empty, oversized or non-printable code. Nothing is
    /// counted against the user for it.
    pub fn code(input: &str) -> Result<Self> {
        if input.len() > MAX_CODE_LEN * 4 {
            return Err(invalid("code", "too long"));
        }
        let code: String = input.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        let code = SecretString::new(code);
        let text = code.expose();
        if text.is_empty() {
            return Err(invalid("code", "must not be empty"));
        }
        if text.len() > MAX_CODE_LEN {
            return Err(invalid("code", "too long"));
        }
        if text.chars().any(char::is_control) {
            return Err(invalid("code", "contains control characters"));
        }
        Ok(Proof::Code(code))
    }

    /// A credential response (WebAuthn JSON): 1 byte to 64 KiB.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for an empty or oversized response.
    pub fn credential(json: impl Into<String>) -> Result<Self> {
        let json = json.into();
        if json.trim().is_empty() {
            return Err(invalid("credential", "must not be empty"));
        }
        if json.len() > MAX_CREDENTIAL_LEN {
            return Err(invalid("credential", "too long"));
        }
        Ok(Proof::Credential(Credential { json, parsed: Arc::default() }))
    }

    /// The code, if this is one.
    pub fn as_code(&self) -> Option<&SecretString> {
        match self {
            Proof::Code(c) => Some(c),
            Proof::Credential(_) => None,
        }
    }
}

impl fmt::Debug for Proof {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Proof::Code(_) => f.write_str("Proof::Code([redacted])"),
            Proof::Credential(c) => write!(f, "Proof::Credential({} bytes)", c.json.len()),
        }
    }
}

/// What the host shows the user to go on with an enrolment or a challenge.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Prompt {
    /// "Enter the code from your app": nothing to show but the field.
    EnterCode,
    /// A code was sent; show where to and until when it works.
    CodeSent {
        /// The masked destination.
        masked_destination: String,
        /// When the code stops working.
        expires_at: Timestamp,
    },
    /// A shared secret to provision in an app (shown once, at enrolment).
    SharedSecret(SharedSecretPrompt),
    /// Options for `navigator.credentials.create()` / `.get()`, as JSON.
    PublicKeyCredential {
        /// The options JSON to hand to the browser.
        options_json: String,
    },
}

/// A shared secret to provision: the manual-entry key, the provisioning URI and QR images.
/// Everything here lets someone clone the factor, so all of it is secret.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SharedSecretPrompt {
    /// The secret in base32, for typing into an app.
    pub secret_base32: SecretString,
    /// The provisioning URI (`otpauth://...`).
    pub uri: SecretString,
    /// The URI as a QR code, PNG bytes.
    pub qr_png: Option<SecretBytes>,
    /// The URI as a QR code, an SVG document.
    pub qr_svg: Option<SecretString>,
}

impl SharedSecretPrompt {
    /// A prompt with the key and URI, without QR images.
    pub fn new(secret_base32: SecretString, uri: SecretString) -> Self {
        Self { secret_base32, uri, qr_png: None, qr_svg: None }
    }
}

/// What the host asks for when starting an enrolment.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct EnrolmentRequest {
    /// The kind of factor to add.
    pub kind: FactorKind,
    /// The user's name for it; a default like "Authenticator app" or "Security key 2" when
    /// absent.
    pub label: Option<String>,
    /// Where codes go (a phone number, an email address), for kinds that send codes.
    pub destination: Option<String>,
    /// An active factor of the same kind this one will replace once confirmed (a changed
    /// phone number: the old one keeps working until then).
    pub replaces: Option<FactorId>,
    /// How the account is named in the user's app (an authenticator shows "Issuer:
    /// account"); the user id when absent.
    pub account_name: Option<String>,
    /// An existing shared secret to import (when migrating from another system) instead of
    /// generating one. Adapters that cannot import refuse it.
    pub secret: Option<SecretBytes>,
}

impl EnrolmentRequest {
    /// A request for a factor of `kind` with the default label.
    pub fn new(kind: FactorKind) -> Self {
        Self { kind, label: None, destination: None, replaces: None, account_name: None, secret: None }
    }

    /// Sets the user's label.
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    /// Sets the destination.
    pub fn destination(mut self, destination: impl Into<String>) -> Self {
        self.destination = Some(destination.into());
        self
    }

    /// Marks this enrolment as replacing an existing factor.
    pub fn replaces(mut self, factor: FactorId) -> Self {
        self.replaces = Some(factor);
        self
    }

    /// Sets the account name shown in the user's app (default: the user id). Authenticator
    /// apps take at most 256 bytes, with no control characters.
    pub fn account_name(mut self, name: impl Into<String>) -> Self {
        self.account_name = Some(name.into());
        self
    }

    /// Imports an existing shared secret instead of generating one.
    pub fn import_secret(mut self, secret: SecretBytes) -> Self {
        self.secret = Some(secret);
        self
    }
}

/// How a message travels. The delivery gate applies the number-range cap and per-prefix
/// costs to SMS only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DeliveryChannel {
    /// A text message to a phone number (E.164).
    Sms,
    /// An email to an address.
    Email,
}

/// Permission to send a message, granted by the service under its
/// [`DeliverySettings`](crate::settings::DeliverySettings). Adapters that send codes call
/// [`DeliveryGate::permit`] immediately before sending, and send nothing if it refuses.
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use std::time::Duration;
/// use async_trait::async_trait;
/// use mfa_core::{DeliveryChannel, DeliveryGate, Error, adapter::FactorContext, FactorId, FactorKind, Timestamp, UserId};
///
/// /// An adapter sends a code only once the gate permits it.
/// async fn send_code(ctx: &FactorContext<'_>, to: &str) -> mfa_core::Result<()> {
///     ctx.delivery.permit(DeliveryChannel::Sms, to).await?;
///     // ... hand the message to the SMS provider ...
///     Ok(())
/// }
///
/// /// In an adapter's unit tests, a gate that permits one message.
/// #[derive(Default)]
/// struct OneMessage(AtomicBool);
///
/// #[async_trait]
/// impl DeliveryGate for OneMessage {
///     async fn permit(&self, _channel: DeliveryChannel, _destination: &str) -> mfa_core::Result<()> {
///         if self.0.swap(true, Ordering::SeqCst) {
///             return Err(Error::RateLimited { retry_after: Duration::from_secs(30) });
///         }
///         Ok(())
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let gate = OneMessage::default();
/// let (user, factor, kind) = (UserId::new("alice")?, FactorId::random()?, FactorKind::SMS);
/// let ctx = FactorContext::new(&user, &factor, &kind, Timestamp::from_unix_secs(0), None, &gate, &[]);
/// send_code(&ctx, "+14155552671").await?;
/// assert!(matches!(send_code(&ctx, "+14155552671").await, Err(Error::RateLimited { .. })));
/// # Ok(())
/// # }
/// ```
#[async_trait]
pub trait DeliveryGate: Send + Sync {
    /// Counts one message on `channel` to `destination` (normalised: E.164 such as
    /// `+14155552671` for SMS, the checked address for email) for this factor and user. A
    /// send that then fails still counts: a provider may have billed it, and an attacker
    /// must not get free retries by provoking failures.
    ///
    /// The per-destination limit is counted under the destination's canonical form
    /// ([`canonical_destination`](crate::destination::canonical_destination)), so every
    /// spelling of one mailbox or number shares it.
    ///
    /// Every limit is checked before any is counted, so a refused send counts nothing. The
    /// service records each refusal as an
    /// [`EventKind::DeliveryLimited`](crate::EventKind::DeliveryLimited) event.
    ///
    /// # Errors
    ///
    /// [`Error::RateLimited`] when the factor or the destination is over its cooldown or
    /// cap per window; [`Error::DeliveryCapped`] when the number's range, the user or the
    /// deployment's cost budget is.
    async fn permit(&self, channel: DeliveryChannel, destination: &str) -> Result<()>;
}

impl fmt::Debug for dyn DeliveryGate + '_ {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DeliveryGate")
    }
}

/// Who and what an adapter call is about.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct FactorContext<'a> {
    /// The user.
    pub user: &'a UserId,
    /// The factor.
    pub factor: &'a FactorId,
    /// The kind requested.
    pub kind: &'a FactorKind,
    /// The current time, from the service's clock.
    pub now: Timestamp,
    /// The ceremony's id: at `start_*`, the id state will be stored under if the adapter
    /// asks for any (bind it into that state, e.g. a keyed hash of a one-time code); at
    /// `finish_*`/`verify`, the id of the ceremony being completed, if there is one.
    pub challenge: Option<&'a CeremonyId>,
    /// Where to ask before sending anything.
    pub delivery: &'a dyn DeliveryGate,
    /// The user's factors (all kinds, pending included) at `start_*`, for exclude and
    /// allow lists; empty at `finish_*` and `verify`.
    pub factors: &'a [FactorRecord],
    /// The user's locale, from the call's
    /// [`RequestContext`](crate::context::RequestContext): pick the language of what is
    /// sent by it.
    pub locale: Option<&'a str>,
}

impl<'a> FactorContext<'a> {
    /// A context from its parts.
    pub fn new(
        user: &'a UserId,
        factor: &'a FactorId,
        kind: &'a FactorKind,
        now: Timestamp,
        challenge: Option<&'a CeremonyId>,
        delivery: &'a dyn DeliveryGate,
        factors: &'a [FactorRecord],
    ) -> Self {
        Self { user, factor, kind, now, challenge, delivery, factors, locale: None }
    }

    /// The same context with the user's locale.
    pub fn with_locale(mut self, locale: Option<&'a str>) -> Self {
        self.locale = locale;
        self
    }
}

/// What a passwordless ceremony knows: no user yet, only the kind and the ceremony.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct PasswordlessContext<'a> {
    /// The kind asked for (a passkey).
    pub kind: &'a FactorKind,
    /// The current time.
    pub now: Timestamp,
    /// The id the ceremony will be stored under.
    pub challenge: &'a CeremonyId,
}

impl<'a> PasswordlessContext<'a> {
    /// A context from its parts.
    pub fn new(kind: &'a FactorKind, now: Timestamp, challenge: &'a CeremonyId) -> Self {
        Self { kind, now, challenge }
    }
}

/// Server-side state an adapter wants kept until the proof arrives.
#[derive(Clone)]
#[non_exhaustive]
pub struct CeremonyPlan {
    /// The adapter's opaque state (never a code in clear).
    pub payload: Vec<u8>,
    /// How long it lives; `None` uses the default in the settings.
    pub ttl: Option<Duration>,
    /// How many proofs may be tried against it; `None` uses the default in the settings.
    pub max_attempts: Option<u32>,
}

impl CeremonyPlan {
    /// State with the default in the settings lifetime and attempts.
    pub fn new(payload: Vec<u8>) -> Self {
        Self { payload, ttl: None, max_attempts: None }
    }

    /// Sets the lifetime.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// Sets the attempts allowed.
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = Some(n);
        self
    }
}

impl fmt::Debug for CeremonyPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CeremonyPlan")
            .field("payload_len", &self.payload.len())
            .field("ttl", &self.ttl)
            .field("max_attempts", &self.max_attempts)
            .finish()
    }
}

/// A factor exported by another system, to be imported already active
/// ([`Admin::import_factor`](crate::Admin::import_factor)): the secret, the
/// adapter-specific parameters, and the last time step used, so codes already seen there
/// are not accepted here.
///
/// # Examples
///
/// ```
/// use mfa_core::adapter::FactorImport;
/// use mfa_core::{FactorKind, SecretBytes};
///
/// let import = FactorImport::new(FactorKind::TOTP, SecretBytes::new(b"12345678901234567890".to_vec()))
///     .parameter("digits", "6")
///     .parameter("period", "30")
///     .parameter("algorithm", "SHA1")
///     .last_used_step(56_666_666)
///     .label("Phone");
/// assert_eq!(import.parameter_value("digits"), Some("6"));
/// assert!(!format!("{import:?}").contains("1234"), "the secret is redacted");
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub struct FactorImport {
    /// The kind of factor.
    pub kind: FactorKind,
    /// The label; the adapter's default if `None`.
    pub label: Option<String>,
    /// The shared secret, raw bytes (zeroized on drop, redacted in `Debug`).
    pub secret: SecretBytes,
    /// Adapter parameters by name (TOTP: `digits`, `period`, `algorithm`).
    pub parameters: Vec<(String, String)>,
    /// The last time step (TOTP counter) the exporting system accepted, if known.
    pub last_used_step: Option<u64>,
}

impl FactorImport {
    /// An import of `kind` with `secret`, no parameters.
    pub fn new(kind: FactorKind, secret: SecretBytes) -> Self {
        Self { kind, label: None, secret, parameters: Vec::new(), last_used_step: None }
    }

    /// Sets the label.
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    /// Adds a parameter.
    pub fn parameter(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.parameters.push((name.into(), value.into()));
        self
    }

    /// Sets the last time step used.
    pub fn last_used_step(mut self, step: u64) -> Self {
        self.last_used_step = Some(step);
        self
    }

    /// The value of a parameter, by case-insensitive name.
    pub fn parameter_value(&self, name: &str) -> Option<&str> {
        self.parameters.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// An adapter's answer to an import: the state of the new, active factor.
#[derive(Debug)]
#[non_exhaustive]
pub struct ImportPlan {
    /// The factor's secret to seal (usually the imported one).
    pub secret: SecretBytes,
    /// The adapter's non-secret state.
    pub data: Vec<u8>,
    /// Non-secret details for summaries.
    pub details: Vec<(String, String)>,
    /// What verifications with this factor prove.
    pub assurance: Assurance,
    /// The replay marker to start from: proofs at or below it are refused.
    pub replay_marker: Option<u64>,
}

impl ImportPlan {
    /// A plan from the secret and the assurance; no data, details or marker.
    pub fn new(secret: SecretBytes, assurance: Assurance) -> Self {
        Self { secret, data: Vec::new(), details: Vec::new(), assurance, replay_marker: None }
    }
}

/// An adapter's answer to a new enrolment.
#[derive(Debug)]
#[non_exhaustive]
pub struct EnrolmentPlan {
    /// What to show the user.
    pub prompt: Prompt,
    /// The factor's secret; the service seals it before it reaches the store.
    pub secret: Option<SecretBytes>,
    /// The adapter's non-secret state to keep with the factor.
    pub data: Vec<u8>,
    /// The destination, masked, for summaries.
    pub masked_destination: Option<String>,
    /// Non-secret details for summaries.
    pub details: Vec<(String, String)>,
    /// What verifications with this factor prove.
    pub assurance: Assurance,
    /// State to check the enrolment proof against.
    pub ceremony: Option<CeremonyPlan>,
}

impl EnrolmentPlan {
    /// A plan with the prompt and assurance; everything else empty.
    pub fn new(prompt: Prompt, assurance: Assurance) -> Self {
        Self {
            prompt,
            secret: None,
            data: Vec::new(),
            masked_destination: None,
            details: Vec::new(),
            assurance,
            ceremony: None,
        }
    }
}

/// An adapter's answer to a new challenge.
#[derive(Debug)]
#[non_exhaustive]
pub struct ChallengePlan {
    /// What to show the user.
    pub prompt: Prompt,
    /// State to check the proof against; `None` if the proof stands on its own (TOTP).
    pub ceremony: Option<CeremonyPlan>,
}

impl ChallengePlan {
    /// A plan with only a prompt.
    pub fn new(prompt: Prompt) -> Self {
        Self { prompt, ceremony: None }
    }

    /// A plan with a prompt and ceremony state.
    pub fn with_ceremony(prompt: Prompt, ceremony: CeremonyPlan) -> Self {
        Self { prompt, ceremony: Some(ceremony) }
    }
}

/// What a verified proof established, beyond "it verified".
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ProofOutcome {
    /// A marker the store must advance (the TOTP time step matched); the proof is a replay
    /// unless it moves forward.
    pub replay_marker: Option<u64>,
    /// The assurance this verification gives, if different from the factor's.
    pub assurance: Option<Assurance>,
    /// New adapter state to persist (a WebAuthn counter).
    pub data: Option<Vec<u8>>,
    /// New details for summaries.
    pub details: Option<Vec<(String, String)>>,
    /// The factor's unique lookup key, learnt from the enrolment proof (a WebAuthn
    /// credential id). The store refuses it if another factor has it.
    pub lookup_key: Option<String>,
}

impl ProofOutcome {
    /// An outcome whose replay marker the store must advance.
    pub fn with_replay_marker(marker: u64) -> Self {
        Self { replay_marker: Some(marker), ..Self::default() }
    }
}

/// The secret and record an adapter verifies against.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct VerifyInput<'a> {
    /// The factor being proven.
    pub factor: &'a FactorRecord,
    /// Its secret, opened.
    pub secret: Option<&'a SecretBytes>,
    /// The ceremony state, if the adapter asked for one.
    pub ceremony: Option<&'a CeremonyRecord>,
    /// What the user presented.
    pub proof: &'a Proof,
}

/// Which step a proof completes, for [`FactorAdapter::check_proof`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProofStep {
    /// It completes an enrolment ([`Mfa::finish_enrolment`](crate::Mfa::finish_enrolment)).
    Enrolment,
    /// It signs in: a challenge, a direct verification or a passwordless sign-in.
    SignIn,
}

/// A kind (or a few kinds) of factor. Dyn-compatible: the service holds
/// `Arc<dyn FactorAdapter>`.
///
/// Adapters verify proofs and describe what to show; they never touch the store, the
/// throttle or the sealer. A failed proof is [`Error::InvalidCode`]; malformed input that
/// [`FactorAdapter::check_proof`] can spot before anything is counted is
/// [`Error::InvalidInput`].
///
/// # Examples
///
/// ```
/// use async_trait::async_trait;
/// use mfa_core::adapter::expect_code;
/// use mfa_core::secret::constant_time_eq;
/// use mfa_core::store::FactorRecord;
/// use mfa_core::{
///     AeadSealer, Assurance, adapter::ChallengePlan, adapter::EnrolmentPlan, EnrolmentRequest, Error, adapter::FactorAdapter, adapter::FactorContext,
///     FactorKind, FreshAuth, Mfa, Prompt, Proof, adapter::ProofOutcome, adapter::ProofStep, SecretBytes, SharedSecretPrompt, UserId,
///     adapter::VerifyInput,
/// };
/// use mfa_store_memory::MemoryStore;
///
/// const CARD: FactorKind = FactorKind::from_static("code-card");
///
/// /// A printed card with one long code, shown once at enrolment: a look-up secret. (A toy:
/// /// its code never changes, so it is no match for `mfa_otp::TotpFactor`.)
/// #[derive(Debug)]
/// struct CodeCard;
///
/// #[async_trait]
/// impl FactorAdapter for CodeCard {
///     fn kinds(&self) -> Vec<FactorKind> {
///         vec![CARD]
///     }
///
///     fn default_label(&self, _kind: &FactorKind) -> String {
///         "Code card".to_owned()
///     }
///
///     fn needs_challenge(&self, _kind: &FactorKind) -> bool {
///         false
///     }
///
///     fn check_proof(&self, _kind: &FactorKind, _step: ProofStep, proof: &Proof) -> mfa_core::Result<()> {
///         expect_code(proof).map(|_| ())
///     }
///
///     async fn start_enrolment(&self, _ctx: &FactorContext<'_>, _request: &EnrolmentRequest) -> mfa_core::Result<EnrolmentPlan> {
///         let code = data_encoding::BASE32_NOPAD.encode(SecretBytes::random(10)?.expose());
///         let card = SharedSecretPrompt::new(code.clone().into(), format!("card:{code}").into());
///         let mut plan = EnrolmentPlan::new(Prompt::SharedSecret(card), Assurance::RecoveryCode);
///         plan.secret = Some(SecretBytes::new(code.into_bytes())); // sealed by the service
///         Ok(plan)
///     }
///
///     async fn finish_enrolment(&self, ctx: &FactorContext<'_>, input: VerifyInput<'_>) -> mfa_core::Result<ProofOutcome> {
///         self.finish_challenge(ctx, input).await
///     }
///
///     async fn start_challenge(
///         &self,
///         _ctx: &FactorContext<'_>,
///         _factor: &FactorRecord,
///         _secret: Option<&SecretBytes>,
///     ) -> mfa_core::Result<ChallengePlan> {
///         Ok(ChallengePlan::new(Prompt::EnterCode))
///     }
///
///     async fn finish_challenge(&self, _ctx: &FactorContext<'_>, input: VerifyInput<'_>) -> mfa_core::Result<ProofOutcome> {
///         let typed = expect_code(input.proof)?.expose();
///         let secret = input.secret.ok_or(Error::InvalidCode)?;
///         if !constant_time_eq(typed.as_bytes(), secret.expose()) {
///             return Err(Error::InvalidCode);
///         }
///         Ok(ProofOutcome::default())
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mfa = Mfa::builder().store(MemoryStore::new()).sealer(AeadSealer::ephemeral()?).factor(CodeCard).build()?;
/// let alice = UserId::new("alice")?;
///
/// let fresh = FreshAuth::primary(mfa.now());
/// let start = mfa.start_enrolment(&alice, &fresh, EnrolmentRequest::new(CARD)).await?;
/// let Prompt::SharedSecret(card) = &start.prompt else { unreachable!() };
/// let code = card.secret_base32.expose().to_owned();
/// let factor = mfa.finish_enrolment(&alice, &fresh, &start.factor.id, &Proof::code(&code)?).await?;
/// assert_eq!(factor.label, "Code card");
///
/// assert_eq!(mfa.verify(&alice, &factor.id, &Proof::code(&code)?).await?.user, alice);
/// assert!(matches!(mfa.verify(&alice, &factor.id, &Proof::code("WRONG")?).await, Err(Error::InvalidCode)));
/// # Ok(())
/// # }
/// ```
#[async_trait]
pub trait FactorAdapter: fmt::Debug + Send + Sync + 'static {
    /// The kinds this adapter handles.
    fn kinds(&self) -> Vec<FactorKind>;

    /// The label a new factor of `kind` gets when the user gives none ("Authenticator
    /// app"); the service appends " 2", " 3", ... when the user already has one.
    fn default_label(&self, kind: &FactorKind) -> String;

    /// Whether a proof for this kind needs server-side state from
    /// [`FactorAdapter::start_challenge`]. Factors that do not (TOTP) can also be checked
    /// with [`Mfa::verify`](crate::Mfa::verify).
    fn needs_challenge(&self, kind: &FactorKind) -> bool;

    /// Whether [`FactorAdapter::finish_challenge`] needs the factor's secret. An adapter
    /// that checks a proof against the challenge's own state alone (a code sent by message
    /// is checked against the ceremony) answers `false`, and the service then leaves the
    /// sealed secret closed on the sign-in path: no decryption for nothing, and the secret
    /// is exposed in memory only where it is used. By default `true`.
    fn verify_needs_secret(&self, kind: &FactorKind) -> bool {
        let _ = kind;
        true
    }

    /// Whether a pending enrolment of this kind can be sent again
    /// ([`Mfa::resend_enrolment`](crate::Mfa::resend_enrolment)): true for a code sent by
    /// message. An enrolment whose ceremony runs in the browser (a passkey) is begun afresh
    /// with a new enrolment instead, and a resend is refused with
    /// [`Error::Unsupported`], leaving it as it was. By default
    /// `false`.
    fn resends_enrolment(&self, kind: &FactorKind) -> bool {
        let _ = kind;
        false
    }

    /// Rejects proofs that are malformed for this kind and `step` before anything is
    /// counted: a proof of the wrong shape for the step (a sign-in response given to an
    /// enrolment, say) is malformed too. Wrong but well-formed proofs pass here and fail
    /// in verification.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`].
    fn check_proof(&self, kind: &FactorKind, step: ProofStep, proof: &Proof) -> Result<()>;

    /// Begins an enrolment: create the secret, send a code, or build creation options.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a bad destination, [`Error::Delivery`] if a code could not
    /// be sent, or any other failure; the service stores nothing then.
    async fn start_enrolment(&self, ctx: &FactorContext<'_>, request: &EnrolmentRequest) -> Result<EnrolmentPlan>;

    /// Checks the proof that completes an enrolment.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidCode`] if it does not verify.
    async fn finish_enrolment(&self, ctx: &FactorContext<'_>, input: VerifyInput<'_>) -> Result<ProofOutcome>;

    /// Begins a sign-in challenge with an active factor.
    ///
    /// # Errors
    ///
    /// [`Error::Delivery`] if a code could not be sent, or any other failure.
    async fn start_challenge(
        &self,
        ctx: &FactorContext<'_>,
        factor: &FactorRecord,
        secret: Option<&SecretBytes>,
    ) -> Result<ChallengePlan>;

    /// Checks a sign-in proof.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidCode`] if it does not verify; [`Error::PossibleClone`] if it verifies
    /// but the authenticator's counter went backwards.
    async fn finish_challenge(&self, ctx: &FactorContext<'_>, input: VerifyInput<'_>) -> Result<ProofOutcome>;

    /// The lookup key of the factor a proof was made with, when the proof names one (a
    /// WebAuthn assertion names its credential). The service then verifies against that
    /// factor — for passwordless sign-in, or when the user answered a challenge with
    /// another of their keys. `Ok(None)` for proofs that name nothing (codes).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a malformed proof.
    fn identify(&self, kind: &FactorKind, proof: &Proof) -> Result<Option<String>> {
        let _ = (kind, proof);
        Ok(None)
    }

    /// The destination as this adapter stores it (an E.164 number, a checked address), for
    /// kinds that send codes; `Ok(None)` for kinds without one (the default).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a destination the adapter refuses.
    fn normalise_destination(&self, kind: &FactorKind, input: &str) -> Result<Option<String>> {
        let _ = (kind, input);
        Ok(None)
    }

    /// The chance that one guess at this factor's proof succeeds (a 6-digit TOTP with a ±1
    /// window: 3 in 10^6), for deriving its throttle from a
    /// [`GuessBudget`](crate::throttle::GuessBudget). `None` for proofs that cannot be
    /// guessed (signatures).
    fn guess_probability(&self, factor: &FactorRecord) -> Option<f64> {
        let _ = factor;
        None
    }

    /// Builds an already-active factor from what another system exported (a migration):
    /// checks the secret and parameters and returns the factor's state. Adapters that
    /// cannot import keep the default, which answers [`Error::Unsupported`].
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a secret or parameter the adapter refuses;
    /// [`Error::Unsupported`] by default.
    fn import_factor(&self, kind: &FactorKind, import: &FactorImport) -> Result<ImportPlan> {
        let _ = (kind, import);
        Err(Error::Unsupported)
    }

    /// Begins a passwordless sign-in (a passkey chooses the account). Adapters that cannot
    /// do this keep the default, which answers [`Error::Unsupported`].
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] unless the adapter supports it for `ctx.kind`.
    async fn start_passwordless(&self, ctx: &PasswordlessContext<'_>) -> Result<ChallengePlan> {
        let _ = ctx;
        Err(Error::Unsupported)
    }
}

#[allow(dead_code)]
fn _assert_dyn_compatible(_: &dyn FactorAdapter) {}

/// Rejects a proof that is not a code (for adapters that only take codes).
///
/// # Errors
///
/// [`Error::InvalidInput`] for a credential response.
pub fn expect_code(proof: &Proof) -> Result<&SecretString> {
    proof.as_code().ok_or(Error::InvalidInput { field: "code", reason: "expected a code" })
}
