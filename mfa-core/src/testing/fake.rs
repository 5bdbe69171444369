use async_trait::async_trait;

use crate::adapter::{
    CeremonyPlan, ChallengePlan, DeliveryChannel, EnrolmentPlan, EnrolmentRequest, FactorAdapter, FactorContext,
    Prompt, Proof, ProofOutcome, ProofStep, SharedSecretPrompt, VerifyInput, expect_code,
};
use crate::error::{Error, Result};
use crate::secret::{SecretBytes, SecretString, constant_time_eq};
use crate::store::FactorRecord;
use crate::types::{Assurance, FactorKind};

/// The kind [`FakeFactor::new`] registers.
pub const FAKE: FactorKind = FactorKind::from_static("fake");

/// A factor adapter for tests of the service and of hosts.
///
/// Enrolment makes a random secret and shows it as [`Prompt::SharedSecret`]; its
/// `secret_base32` is the code. A proof is accepted when it is the secret, or
/// `secret:N` to report replay marker `N` (so replay protection can be exercised). In
/// challenge mode ([`FakeFactor::with_challenges`]) each challenge also stores a payload
/// the proof must carry as `secret@payload`, exercising ceremony state.
#[derive(Debug, Clone)]
pub struct FakeFactor {
    kind: FactorKind,
    assurance: Assurance,
    label: String,
    challenges: bool,
}

impl Default for FakeFactor {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeFactor {
    /// A fake of kind `fake` with replay-resistant-OTP assurance.
    pub fn new() -> Self {
        Self::with_kind(FAKE, Assurance::ReplayResistantOtp, "Fake factor")
    }

    /// A fake standing in for another kind (to test ranking across kinds).
    pub fn with_kind(kind: FactorKind, assurance: Assurance, default_label: &str) -> Self {
        Self { kind, assurance, label: default_label.to_owned(), challenges: false }
    }

    /// Requires a challenge (server-side state) for every verification.
    pub fn with_challenges(mut self) -> Self {
        self.challenges = true;
        self
    }

    /// The code the proof carries for `secret` (from the enrolment prompt) and, in
    /// challenge mode, the challenge's payload.
    pub fn code_for(secret: &SharedSecretPrompt, marker: Option<u64>) -> String {
        match marker {
            Some(m) => format!("{}:{m}", secret.secret_base32.expose()),
            None => secret.secret_base32.expose().to_owned(),
        }
    }

    fn check(&self, secret: Option<&SecretBytes>, proof: &Proof, payload: Option<&[u8]>) -> Result<ProofOutcome> {
        let code = expect_code(proof)?.expose();
        let secret = secret.ok_or(Error::InvalidCode)?;
        let code = match payload {
            Some(p) if !p.is_empty() => {
                let (c, got) = code.rsplit_once('@').ok_or(Error::InvalidCode)?;
                if !constant_time_eq(got.as_bytes(), p) {
                    return Err(Error::InvalidCode);
                }
                c
            }
            _ => code,
        };
        let (code, marker) = match code.split_once(':') {
            Some((c, m)) => (c, Some(m.parse::<u64>().map_err(|_| Error::InvalidCode)?)),
            None => (code, None),
        };
        if !constant_time_eq(code.as_bytes(), secret.expose()) {
            return Err(Error::InvalidCode);
        }
        Ok(ProofOutcome { replay_marker: marker, ..ProofOutcome::default() })
    }
}

#[async_trait]
impl FactorAdapter for FakeFactor {
    fn kinds(&self) -> Vec<FactorKind> {
        vec![self.kind.clone()]
    }

    fn default_label(&self, _kind: &FactorKind) -> String {
        self.label.clone()
    }

    fn needs_challenge(&self, _kind: &FactorKind) -> bool {
        self.challenges
    }

    fn check_proof(&self, _kind: &FactorKind, _step: ProofStep, proof: &Proof) -> Result<()> {
        expect_code(proof).map(|_| ())
    }

    async fn start_enrolment(&self, ctx: &FactorContext<'_>, request: &EnrolmentRequest) -> Result<EnrolmentPlan> {
        let raw = SecretBytes::random(10)?;
        let text = data_encoding::BASE32_NOPAD.encode(raw.expose());
        let secret = SecretBytes::new(text.clone().into_bytes());
        let uri = format!("fake://{}/{}", ctx.user, ctx.factor);
        let prompt = Prompt::SharedSecret(SharedSecretPrompt::new(SecretString::new(text), uri.into()));
        let mut plan = EnrolmentPlan::new(prompt, self.assurance);
        plan.secret = Some(secret);
        plan.details = vec![("fake".to_owned(), "yes".to_owned())];
        // In challenge mode the fake "sends" its challenges to this destination.
        plan.data = request.destination.clone().unwrap_or_else(|| format!("fake:{}", ctx.factor)).into_bytes();
        Ok(plan)
    }

    async fn finish_enrolment(&self, _ctx: &FactorContext<'_>, input: VerifyInput<'_>) -> Result<ProofOutcome> {
        self.check(input.secret, input.proof, None)
    }

    async fn start_challenge(
        &self,
        ctx: &FactorContext<'_>,
        factor: &FactorRecord,
        _secret: Option<&SecretBytes>,
    ) -> Result<ChallengePlan> {
        if !self.challenges {
            return Ok(ChallengePlan::new(Prompt::EnterCode));
        }
        // The fake "sends" to a phone number when its destination looks like one, else
        // by email.
        let destination = String::from_utf8_lossy(&factor.data);
        let channel = if destination.starts_with('+') { DeliveryChannel::Sms } else { DeliveryChannel::Email };
        ctx.delivery.permit(channel, &destination).await?;
        let nonce = data_encoding::HEXLOWER.encode(SecretBytes::random(4)?.expose());
        let prompt = Prompt::PublicKeyCredential { options_json: format!("{{\"challenge\":\"{nonce}\"}}") };
        Ok(ChallengePlan { prompt, ceremony: Some(CeremonyPlan::new(nonce.into_bytes())) })
    }

    async fn finish_challenge(&self, _ctx: &FactorContext<'_>, input: VerifyInput<'_>) -> Result<ProofOutcome> {
        let payload = input.ceremony.map(|c| c.payload.as_slice());
        self.check(input.secret, input.proof, payload)
    }
}
