//! One-time codes sent out of band (SMS, email): one engine, two destination types.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use hmac::{Hmac, KeyInit, Mac};
use mfa_core::adapter::{
    CeremonyPlan, ChallengePlan, EnrolmentPlan, EnrolmentRequest, FactorAdapter, FactorContext, Prompt, Proof,
    ProofOutcome, ProofStep, VerifyInput, expect_code,
};
use mfa_core::secret::{constant_time_eq, fill_random};
use mfa_core::store::FactorRecord;
use mfa_core::{Assurance, DeliveryChannel, Error, FactorKind, Result, SecretBytes, SecretString};
use sha2::Sha256;

use crate::sender::{Message, Sender};
use crate::templates::Templates;

/// Longest code lifetime allowed (NIST SP 800-63B: out-of-band secrets live at most 10
/// minutes).
pub const MAX_CODE_LIFETIME: Duration = Duration::from_secs(10 * 60);

/// The server key codes are hashed with before storage (HMAC-SHA-256). Keep it outside
/// the database, like the sealing key; without it a stored hash is useless, and with it a
/// 6-digit code is still only one of a million guesses per throttled attempt.
#[derive(Clone)]
pub struct OobKey(Hmac<Sha256>);

impl OobKey {
    /// A key from at least 32 secret bytes.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for a shorter key.
    pub fn new(key: &[u8]) -> Result<Self> {
        if key.len() < 32 {
            return Err(Error::Config("the code-hashing key needs at least 32 bytes"));
        }
        Hmac::new_from_slice(key).map(Self).map_err(|_| Error::Config("invalid code-hashing key"))
    }

    /// A random key that dies with the process: for tests and demos only.
    ///
    /// # Errors
    ///
    /// [`Error::Crypto`] if the operating system cannot supply randomness.
    pub fn ephemeral() -> Result<Self> {
        let key = SecretBytes::random(32)?;
        Self::new(key.expose())
    }

    /// The stored form of `code` for this ceremony, user and factor.
    fn tag(&self, ctx: &FactorContext<'_>, challenge: &[u8; 16], code: &str) -> [u8; 32] {
        let user = ctx.user.as_str().as_bytes();
        let mut mac = self.0.clone();
        mac.update(b"mfa-rs/oob-code/v1\0");
        mac.update(challenge);
        mac.update(&u16::try_from(user.len()).unwrap_or(u16::MAX).to_be_bytes());
        mac.update(user);
        mac.update(ctx.factor.as_bytes());
        mac.update(code.as_bytes());
        mac.finalize().into_bytes().into()
    }
}

impl fmt::Debug for OobKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OobKey([redacted])")
    }
}

/// The text of a message. `{app}`, `{code}` and `{minutes}` are replaced; the subject is
/// used for email only.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MessageTemplate {
    /// The subject line (email).
    pub subject: String,
    /// The body. Must contain `{code}`.
    pub body: String,
}

impl MessageTemplate {
    /// A template from its parts.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] if the body has no `{code}`.
    pub fn new(subject: impl Into<String>, body: impl Into<String>) -> Result<Self> {
        let template = Self { subject: subject.into(), body: body.into() };
        if !template.body.contains("{code}") {
            return Err(Error::Config("a message template needs {code} in its body"));
        }
        Ok(template)
    }

    fn render(text: &str, app: &str, code: &str, minutes: u64) -> String {
        text.replace("{app}", app).replace("{minutes}", &minutes.to_string()).replace("{code}", code)
    }
}

/// What differs between SMS and email: the destination type, its masking, the template.
///
/// [`Sms`] and [`Email`] implement it; [`OobFactor`] is generic over it.
///
/// # Examples
///
/// ```
/// # #[cfg(feature = "email")] {
/// use mfa_core::{DeliveryChannel, FactorKind};
/// use mfa_otp::{Email, OobChannel};
///
/// assert_eq!(Email::CHANNEL, DeliveryChannel::Email);
/// assert_eq!(Email::KIND, FactorKind::EMAIL);
/// let address = Email.normalise("  alice@Example.COM ").unwrap();
/// assert_eq!(address, "alice@example.com");
/// assert_eq!(Email.mask(&address), "a•••@example.com");
/// assert!(Email.normalise("not an address").is_err());
/// # }
/// ```
pub trait OobChannel: fmt::Debug + Clone + Send + Sync + 'static {
    /// The factor kind.
    const KIND: FactorKind;
    /// What a verification proves.
    const ASSURANCE: Assurance;
    /// The default label.
    const LABEL: &'static str;
    /// How messages travel.
    const CHANNEL: DeliveryChannel;

    /// Validates and normalises a destination typed by a user.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] with field `"destination"`.
    fn normalise(&self, input: &str) -> Result<String>;

    /// The normalised destination, masked for display.
    fn mask(&self, normalised: &str) -> String;

    /// The default message, in English.
    fn default_template() -> MessageTemplate;
}

/// One-time codes by SMS: phone numbers normalised to E.164.
#[cfg(feature = "sms")]
#[derive(Debug, Clone, Default)]
pub struct Sms {
    default_region: Option<phonenumber::country::Id>,
}

/// One-time codes by email.
#[cfg(feature = "email")]
#[derive(Debug, Clone, Copy, Default)]
pub struct Email;

#[cfg(feature = "sms")]
impl OobChannel for Sms {
    const KIND: FactorKind = FactorKind::SMS;
    const ASSURANCE: Assurance = Assurance::RestrictedOutOfBand;
    const LABEL: &'static str = "Phone";
    const CHANNEL: DeliveryChannel = DeliveryChannel::Sms;

    fn normalise(&self, input: &str) -> Result<String> {
        let bad = || Error::InvalidInput { field: "destination", reason: "not a valid phone number" };
        if input.len() > 64 || input.trim().is_empty() {
            return Err(bad());
        }
        let input = input.trim();
        // A number written with its country code (`+…`) means the same whatever the default
        // region: parsing it with one can drop a digit that the region takes for its national
        // prefix (a US region turned `+95 1…` into `+95 …`).
        let region = if input.starts_with('+') { None } else { self.default_region };
        let number = phonenumber::parse(region, input).map_err(|_| bad())?;
        if !number.is_valid() {
            return Err(bad());
        }
        let e164 = number.format().mode(phonenumber::Mode::E164).to_string();
        // The stored form must read back as itself, so a number never drifts to another
        // phone between enrolment and a later normalisation.
        let again = phonenumber::parse(None, &e164).map_err(|_| bad())?;
        if again.format().mode(phonenumber::Mode::E164).to_string() != e164 {
            return Err(bad());
        }
        Ok(e164)
    }

    fn mask(&self, normalised: &str) -> String {
        let country = phonenumber::parse(None, normalised).map(|n| n.code().value()).ok();
        let digits: Vec<char> = normalised.chars().filter(char::is_ascii_digit).collect();
        let last4: String = digits[digits.len().saturating_sub(4)..].iter().collect();
        match country {
            Some(cc) => format!("+{cc} ••• ••• {last4}"),
            None => format!("••• ••• {last4}"),
        }
    }

    fn default_template() -> MessageTemplate {
        MessageTemplate {
            subject: String::new(),
            body: "{code} is your {app} verification code. It expires in {minutes} minutes.".into(),
        }
    }
}

#[cfg(feature = "email")]
impl OobChannel for Email {
    const KIND: FactorKind = FactorKind::EMAIL;
    const ASSURANCE: Assurance = Assurance::EmailOutOfBand;
    const LABEL: &'static str = "Email";
    const CHANNEL: DeliveryChannel = DeliveryChannel::Email;

    fn normalise(&self, input: &str) -> Result<String> {
        let bad = || Error::InvalidInput { field: "destination", reason: "not a valid email address" };
        let input = input.trim();
        if input.len() > 254 {
            return Err(bad());
        }
        let options = email_address::Options::default().without_display_text().without_domain_literal();
        let address = email_address::EmailAddress::parse_with_options(input, options).map_err(|_| bad())?;
        Ok(format!("{}@{}", address.local_part(), address.domain().to_ascii_lowercase()))
    }

    fn mask(&self, normalised: &str) -> String {
        match normalised.split_once('@') {
            Some((local, domain)) => {
                let first: String = local.chars().take(1).collect();
                format!("{first}•••@{domain}")
            }
            None => "•••".into(),
        }
    }

    fn default_template() -> MessageTemplate {
        MessageTemplate {
            subject: "Your {app} verification code".into(),
            body: "Your {app} verification code is {code}.\n\nIt expires in {minutes} minutes. If you did not \
                   ask for it, someone may know your password: change it."
                .into(),
        }
    }
}

/// A factor that sends one-time codes (kinds [`FactorKind::SMS`] and
/// [`FactorKind::EMAIL`]); see [`SmsFactor`] and [`EmailFactor`].
///
/// - Codes are 6 digits (configurable up to 10) from the OS CSPRNG, live 5 minutes (at most
///   10), allow 5 attempts each, and are stored only as an HMAC-SHA-256 under the server's
///   [`OobKey`], bound to the user, the factor and the challenge; comparison is constant
///   time. Each code works once.
/// - The destination is validated and normalised, stored sealed (the service seals the
///   factor's secret), and shown masked.
/// - Every send first asks the service's delivery gate ([`mfa_core::settings::DeliverySettings`]): a
///   cooldown and a cap per window per factor and per destination, and the caps against
///   SMS pumping: per number range (SMS only), per user across all factors, and an
///   optional cost budget for the whole deployment. A refused send sends nothing.
/// - Enrolment sends a code; the factor is active only once it is entered. To change a
///   number or address, enrol a new factor that
///   [`replaces`](mfa_core::EnrolmentRequest::replaces) the old one: the old keeps working
///   until the new one is confirmed.
/// - SMS verifications report [`Assurance::RestrictedOutOfBand`]; email reports
///   [`Assurance::EmailOutOfBand`], which never counts as an AAL2 second factor.
#[derive(Debug, Clone)]
pub struct OobFactor<C: OobChannel> {
    channel: C,
    sender: Arc<dyn Sender>,
    key: OobKey,
    app_name: String,
    digits: u8,
    lifetime: Duration,
    max_attempts: u32,
    templates: Templates,
}

/// Codes by SMS.
#[cfg(feature = "sms")]
pub type SmsFactor = OobFactor<Sms>;
/// Codes by email.
#[cfg(feature = "email")]
pub type EmailFactor = OobFactor<Email>;

/// Configures an [`OobFactor`].
#[derive(Debug)]
#[must_use]
pub struct OobBuilder<C: OobChannel> {
    factor: OobFactor<C>,
}

impl<C: OobChannel + Default> OobFactor<C> {
    /// A factor with the defaults, sending through `sender`, hashing codes under `key`.
    pub fn new(sender: impl Sender, key: OobKey) -> Self {
        OobFactor {
            channel: C::default(),
            sender: Arc::new(sender),
            key,
            app_name: "your account".into(),
            digits: 6,
            lifetime: Duration::from_secs(5 * 60),
            max_attempts: 5,
            templates: Templates::new(C::default_template()),
        }
    }

    /// Starts configuring a factor.
    pub fn builder(sender: impl Sender, key: OobKey) -> OobBuilder<C> {
        OobBuilder { factor: Self::new(sender, key) }
    }
}

impl<C: OobChannel> OobBuilder<C> {
    /// The name messages use for your service ("{code} is your Example verification code").
    pub fn app_name(mut self, name: impl Into<String>) -> Self {
        self.factor.app_name = name.into();
        self
    }

    /// Code length, 6–10 digits.
    pub fn digits(mut self, digits: u8) -> Self {
        self.factor.digits = digits;
        self
    }

    /// How long a code works, at most [`MAX_CODE_LIFETIME`].
    pub fn code_lifetime(mut self, lifetime: Duration) -> Self {
        self.factor.lifetime = lifetime;
        self
    }

    /// Attempts per code (1–10).
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.factor.max_attempts = n;
        self
    }

    /// The message text, for every locale without a template of its own (default: the
    /// channel's English text).
    pub fn template(mut self, template: MessageTemplate) -> Self {
        self.factor.templates.set_default(template);
        self
    }

    /// The message text for users whose locale is `locale` (a language tag such as `de` or
    /// `pt-BR`, as in [`RequestContext::locale`](mfa_core::context::RequestContext::locale));
    /// registering a tag again replaces its template. At most
    /// [`MAX_TEMPLATE_LOCALES`](crate::MAX_TEMPLATE_LOCALES) locales.
    ///
    /// Each send picks by the locale of the call's request context
    /// ([`Mfa::with_context`](mfa_core::Mfa::with_context)): the template registered for
    /// that tag (ASCII case-insensitively); else for the tag with its last subtag dropped,
    /// down to the primary language (`de-CH` → `de`, `zh-Hant-TW` → `zh-Hant` → `zh`); else
    /// the default ([`OobBuilder::template`]). A call without a locale gets the default.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(feature = "sms")] {
    /// use mfa_otp::{DevConsoleSender, MessageTemplate, OobKey, SmsFactor};
    ///
    /// let sms = SmsFactor::builder(DevConsoleSender::new(), OobKey::ephemeral()?)
    ///     .app_name("Example")
    ///     .template_for("de", MessageTemplate::new("", "{code} ist Ihr {app}-Bestätigungscode.")?)
    ///     .template_for("fr", MessageTemplate::new("", "{code} est votre code {app}.")?)
    ///     .build()?;
    /// # let _ = sms;
    /// # }
    /// # Ok::<(), mfa_core::Error>(())
    /// ```
    pub fn template_for(mut self, locale: &str, template: MessageTemplate) -> Self {
        self.factor.templates.insert(locale, template);
        self
    }

    /// Checks the settings.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for digits outside 6–10, a lifetime of zero or over 10 minutes,
    /// attempts outside 1–10, an empty app name, a template locale that is not a language
    /// tag, more than [`MAX_TEMPLATE_LOCALES`](crate::MAX_TEMPLATE_LOCALES) of them, or a
    /// template body without `{code}`.
    pub fn build(self) -> Result<OobFactor<C>> {
        let f = self.factor;
        if !(6..=10).contains(&f.digits) {
            return Err(Error::Config("codes have 6-10 digits"));
        }
        if f.lifetime.is_zero() || f.lifetime > MAX_CODE_LIFETIME {
            return Err(Error::Config("codes live at most 10 minutes"));
        }
        if !(1..=10).contains(&f.max_attempts) {
            return Err(Error::Config("1-10 attempts per code"));
        }
        if f.app_name.trim().is_empty() {
            return Err(Error::Config("the app name must not be empty"));
        }
        f.templates.check()?;
        Ok(f)
    }
}

#[cfg(feature = "sms")]
impl OobBuilder<Sms> {
    /// The region assumed for numbers typed without a `+` country code (an ISO 3166 code
    /// such as `"US"`); without one, numbers must start with `+`.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for an unknown region.
    pub fn default_region(mut self, region: &str) -> Result<Self> {
        let id = region.parse().map_err(|_| Error::Config("unknown region code"))?;
        self.factor.channel.default_region = Some(id);
        Ok(self)
    }
}

impl<C: OobChannel> OobFactor<C> {
    /// Validates and normalises a destination as enrolment would (E.164, or a checked
    /// address).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for an invalid destination.
    pub fn normalise(&self, destination: &str) -> Result<String> {
        self.channel.normalise(destination)
    }

    /// A new code from the CSPRNG, uniformly distributed.
    fn new_code(&self) -> Result<SecretString> {
        let modulus = 10u64.pow(u32::from(self.digits));
        let limit = u64::MAX - (u64::MAX % modulus);
        loop {
            let mut raw = [0u8; 8];
            fill_random(&mut raw)?;
            let n = u64::from_be_bytes(raw);
            if n < limit {
                return Ok(SecretString::new(format!("{:0width$}", n % modulus, width = usize::from(self.digits))));
            }
        }
    }

    /// Makes a code, asks the gate, sends it, and returns the ceremony plan.
    async fn send_code(&self, ctx: &FactorContext<'_>, destination: &str) -> Result<(Prompt, CeremonyPlan)> {
        let challenge = ctx.challenge.ok_or(Error::Config("a code needs a ceremony id"))?;
        let code = self.new_code()?;
        let minutes = self.lifetime.as_secs().div_ceil(60);
        let t = self.templates.pick(ctx.locale);
        let subject = (C::CHANNEL == DeliveryChannel::Email)
            .then(|| MessageTemplate::render(&t.subject, &self.app_name, "", minutes));
        let body = SecretString::new(MessageTemplate::render(&t.body, &self.app_name, code.expose(), minutes));
        ctx.delivery.permit(C::CHANNEL, destination).await?;
        let message = Message::new(C::CHANNEL, destination.to_owned(), subject, body);
        self.sender.send(&message).await.map_err(|e| Error::Delivery(Box::new(e)))?;
        let tag = self.key.tag(ctx, challenge.as_bytes(), code.expose());
        let prompt = Prompt::CodeSent {
            masked_destination: self.channel.mask(destination),
            expires_at: ctx.now.saturating_add(self.lifetime),
        };
        let plan = CeremonyPlan::new(tag.to_vec()).ttl(self.lifetime).max_attempts(self.max_attempts);
        Ok((prompt, plan))
    }

    fn check(&self, ctx: &FactorContext<'_>, input: &VerifyInput<'_>) -> Result<ProofOutcome> {
        let ceremony = input.ceremony.ok_or(Error::Expired)?;
        let code: String = expect_code(input.proof)?.expose().chars().filter(|c| *c != '-').collect();
        let code = SecretString::new(code);
        let expected = self.key.tag(ctx, ceremony.id.as_bytes(), code.expose());
        if constant_time_eq(&expected, &ceremony.payload) {
            Ok(ProofOutcome::default())
        } else {
            Err(Error::InvalidCode)
        }
    }
}

#[async_trait]
impl<C: OobChannel> FactorAdapter for OobFactor<C> {
    fn kinds(&self) -> Vec<FactorKind> {
        vec![C::KIND]
    }

    fn default_label(&self, _kind: &FactorKind) -> String {
        C::LABEL.to_owned()
    }

    fn needs_challenge(&self, _kind: &FactorKind) -> bool {
        true
    }

    /// The code is checked against the challenge's ceremony; the destination (the factor's
    /// secret) is needed only to send.
    fn verify_needs_secret(&self, _kind: &FactorKind) -> bool {
        false
    }

    /// A new code can be sent for a pending enrolment.
    fn resends_enrolment(&self, _kind: &FactorKind) -> bool {
        true
    }

    fn check_proof(&self, _kind: &FactorKind, _step: ProofStep, proof: &Proof) -> Result<()> {
        let code = expect_code(proof)?.expose();
        if code.len() > 16 || !code.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
            return Err(Error::InvalidInput { field: "code", reason: "must be digits" });
        }
        Ok(())
    }

    fn guess_probability(&self, _factor: &FactorRecord) -> Option<f64> {
        Some(1.0 / 10f64.powi(i32::from(self.digits)))
    }

    fn normalise_destination(&self, _kind: &FactorKind, input: &str) -> Result<Option<String>> {
        self.channel.normalise(input).map(Some)
    }

    async fn start_enrolment(&self, ctx: &FactorContext<'_>, request: &EnrolmentRequest) -> Result<EnrolmentPlan> {
        if request.secret.is_some() {
            return Err(Error::InvalidInput { field: "secret", reason: "codes sent by message have no shared secret" });
        }
        let input = request.destination.as_deref().ok_or(Error::InvalidInput {
            field: "destination",
            reason: "a phone number or email address is required",
        })?;
        let destination = self.channel.normalise(input)?;
        let (prompt, ceremony) = self.send_code(ctx, &destination).await?;
        let mut plan = EnrolmentPlan::new(prompt, C::ASSURANCE);
        plan.masked_destination = Some(self.channel.mask(&destination));
        plan.secret = Some(SecretBytes::new(destination.into_bytes()));
        plan.ceremony = Some(ceremony);
        Ok(plan)
    }

    async fn finish_enrolment(&self, ctx: &FactorContext<'_>, input: VerifyInput<'_>) -> Result<ProofOutcome> {
        self.check(ctx, &input)
    }

    async fn start_challenge(
        &self,
        ctx: &FactorContext<'_>,
        _factor: &FactorRecord,
        secret: Option<&SecretBytes>,
    ) -> Result<ChallengePlan> {
        let secret = secret.ok_or(Error::Config("a code factor without a destination"))?;
        let destination = std::str::from_utf8(secret.expose()).map_err(|_| Error::Config("corrupt destination"))?;
        let (prompt, ceremony) = self.send_code(ctx, destination).await?;
        Ok(ChallengePlan::with_ceremony(prompt, ceremony))
    }

    async fn finish_challenge(&self, ctx: &FactorContext<'_>, input: VerifyInput<'_>) -> Result<ProofOutcome> {
        self.check(ctx, &input)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "sms")]
    #[test]
    fn phone_numbers_are_normalised_to_e164_and_masked() {
        let sms = Sms::default();
        assert_eq!(sms.normalise("+1 (415) 555-2671").unwrap(), "+14155552671");
        assert_eq!(sms.normalise(" +44 20 7946 0958 ").unwrap(), "+442079460958");
        assert!(sms.normalise("415 555 2671").is_err(), "no region, no country code");
        assert!(sms.normalise("+1 555").is_err());
        assert!(sms.normalise("call me").is_err());
        assert!(sms.normalise(&"9".repeat(100)).is_err());
        assert_eq!(sms.mask("+14155552671"), "+1 ••• ••• 2671");
        let us = Sms { default_region: Some("US".parse().unwrap()) };
        assert_eq!(us.normalise("(415) 555-2671").unwrap(), "+14155552671");
    }

    #[cfg(feature = "sms")]
    #[test]
    fn a_number_with_its_country_code_does_not_depend_on_the_default_region() {
        // Found by fuzzing: a US default region once dropped the digit after `+95`, so the
        // stored number normalised again to another phone.
        let plain = Sms::default();
        let us = Sms { default_region: Some("US".parse().unwrap()) };
        for input in ["+9 -511126 b191", "+9 -51/-267105", "+95 1 234 567"] {
            let (a, b) = (plain.normalise(input).ok(), us.normalise(input).ok());
            assert_eq!(a, b, "{input}");
            if let Some(n) = a {
                assert_eq!(us.normalise(&n).unwrap(), n, "{input} is stable");
                assert_eq!(plain.normalise(&n).unwrap(), n, "{input} is stable");
            }
        }
    }

    #[cfg(feature = "email")]
    #[test]
    fn email_addresses_are_checked_and_masked() {
        let email = Email;
        assert_eq!(email.normalise(" Jane.Doe@Example.COM ").unwrap(), "Jane.Doe@example.com");
        for bad in ["", "jane", "jane@", "@example.com", "Jane <jane@example.com>", "a@[127.0.0.1]", "a b@c.d"] {
            assert!(email.normalise(bad).is_err(), "{bad}");
        }
        assert!(email.normalise(&format!("{}@example.com", "a".repeat(300))).is_err());
        assert_eq!(email.mask("jane@example.com"), "j•••@example.com");
    }

    #[test]
    fn templates_need_a_code_and_render_every_placeholder() {
        assert!(MessageTemplate::new("s", "no placeholder").is_err());
        let t = MessageTemplate::new("{app}", "{code} for {app}, {minutes} min").unwrap();
        assert_eq!(MessageTemplate::render(&t.body, "Example", "123456", 5), "123456 for Example, 5 min");
    }

    #[cfg(all(feature = "email", feature = "testing"))]
    #[tokio::test]
    async fn the_message_is_in_the_request_locale_and_holds_the_code_that_verifies() {
        use mfa_core::context::RequestContext;
        use mfa_core::{AeadSealer, EnrolmentRequest, FreshAuth, Mfa, UserId};

        let outbox = crate::MemorySender::new();
        let german = MessageTemplate::new("Ihr {app}-Code", "Ihr Code: {code} ({minutes} Minuten)").unwrap();
        let email = EmailFactor::builder(outbox.clone(), OobKey::ephemeral().unwrap())
            .app_name("Example")
            .template_for("de", german)
            .build()
            .unwrap();
        let mfa = Mfa::builder()
            .store(mfa_store_memory::MemoryStore::new())
            .sealer(AeadSealer::ephemeral().unwrap())
            .factor(email)
            .build()
            .unwrap();
        let request = mfa.with_context(RequestContext::new().locale("de-AT").unwrap());
        let alice = UserId::new("alice").unwrap();
        let fresh = FreshAuth::primary(mfa.now());
        let start = request
            .start_enrolment(&alice, &fresh, EnrolmentRequest::new(FactorKind::EMAIL).destination("a@example.com"))
            .await
            .unwrap();

        let sent = outbox.last_to("a@example.com").unwrap();
        assert_eq!(sent.subject.as_deref(), Some("Ihr Example-Code"));
        let code = outbox.last_code_to("a@example.com").unwrap();
        assert_eq!(sent.body.expose(), format!("Ihr Code: {code} (5 Minuten)"));
        let proof = mfa_core::Proof::code(&code).unwrap();
        assert!(mfa.finish_enrolment(&alice, &fresh, &start.factor.id, &proof).await.is_ok());
    }

    #[cfg(feature = "email")]
    #[test]
    fn a_factor_with_a_bad_template_locale_is_not_built() {
        let template = || MessageTemplate::new("", "{code}").unwrap();
        let build = |tag: &str| {
            EmailFactor::builder(crate::DevConsoleSender::new(), OobKey::new(&[1; 32]).unwrap())
                .template_for(tag, template())
                .build()
        };
        assert!(build("de-CH").is_ok());
        assert!(matches!(build("de_CH"), Err(Error::Config(_))));
        assert!(matches!(build(""), Err(Error::Config(_))));
    }

    #[test]
    fn keys_are_at_least_32_bytes() {
        assert!(OobKey::new(&[1; 31]).is_err());
        assert!(OobKey::new(&[1; 32]).is_ok());
        assert!(!format!("{:?}", OobKey::new(&[7; 32]).unwrap()).contains('7'));
    }
}
