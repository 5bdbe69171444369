//! Signing in with a factor: challenge it, verify the answer.

use super::*;

impl Mfa {
    /// Starts a challenge with `factor`, or with the preferred factor when `None`. Sends a
    /// code where the factor does that. The result lists the alternatives the user may
    /// switch to and whether recovery codes remain.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] if the user has no such active factor (pending ones never
    /// count); [`Error::Locked`] while the factor is throttled ([`Error::Disabled`] after a
    /// hard stop); [`Error::LimitReached`] past
    /// [`StateLimits::challenges`](crate::limits::StateLimits); [`Error::Delivery`] if a code could
    /// not be sent.
    ///
    /// # Examples
    ///
    /// ```
    /// # use mfa_core::{AeadSealer, Assurance, EnrolmentRequest, Error, FactorKind, FactorStatus, FreshAuth, ManualClock, Mfa, Prompt, Proof, Timestamp, UserId};
    /// # use mfa_store_memory::MemoryStore;
    /// # use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let clock = ManualClock::new(Timestamp::from_unix_secs(1_700_000_010));
    /// # let totp = mfa_otp::TotpFactor::new("Example")?;
    /// # let mfa = Mfa::builder().store(MemoryStore::new()).sealer(AeadSealer::ephemeral()?).clock(clock.clone()).factor(totp.clone()).build()?;
    /// # let alice = UserId::new("alice")?;
    /// # let password_only = FreshAuth::primary(mfa.now());
    /// # let start = mfa.start_enrolment(&alice, &password_only, EnrolmentRequest::new(FactorKind::TOTP)).await?;
    /// # let Prompt::SharedSecret(secret) = &start.prompt else { unreachable!() };
    /// # let key = data_encoding::BASE32_NOPAD.decode(secret.secret_base32.expose().as_bytes())?;
    /// # let app_code = || totp.code_at(&key, mfa.now().unix_secs() as u64);
    /// # mfa.finish_enrolment(&alice, &password_only, &start.factor.id, &Proof::code(&app_code()?)?).await?;
    /// # let app = start.factor.id;
    /// # clock.advance(Duration::from_secs(30)); // the enrolment's code is used up
    /// // Alice typed her password; now the MFA step.
    /// let challenge = mfa.start_challenge(&alice, None).await?;
    /// assert_eq!(challenge.factor.id, app, "her preferred factor");
    /// assert!(challenge.alternatives.is_empty());
    /// assert_eq!(challenge.recovery_codes_remaining, 0);
    ///
    /// // Bob has no factor to challenge.
    /// let bob = UserId::new("bob")?;
    /// assert!(matches!(mfa.start_challenge(&bob, None).await, Err(Error::NotFound)));
    /// # Ok(())
    /// # }
    /// ```
    #[cfg_attr(feature = "spans", tracing::instrument(level = "debug", skip_all, fields(%user, ?factor)))]
    pub async fn start_challenge(&self, user: &UserId, factor: Option<&FactorId>) -> Result<Challenge> {
        self.start_challenge_for(user, factor, None).await
    }

    /// Starts a step-up challenge bound to one action: the [`Verified`] it yields carries
    /// `action`, so [`StepUp::for_action`](crate::access::StepUp::for_action) accepts it
    /// for that action and nothing else. Otherwise as [`Mfa::start_challenge`].
    ///
    /// # Errors
    ///
    /// As [`Mfa::start_challenge`].
    ///
    /// # Examples
    ///
    /// ```
    /// # use mfa_core::{AeadSealer, Assurance, EnrolmentRequest, Error, FactorKind, FactorStatus, FreshAuth, ManualClock, Mfa, Prompt, Proof, Timestamp, UserId};
    /// # use mfa_store_memory::MemoryStore;
    /// # use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let clock = ManualClock::new(Timestamp::from_unix_secs(1_700_000_010));
    /// # let totp = mfa_otp::TotpFactor::new("Example")?;
    /// # let mfa = Mfa::builder().store(MemoryStore::new()).sealer(AeadSealer::ephemeral()?).clock(clock.clone()).factor(totp.clone()).build()?;
    /// # let alice = UserId::new("alice")?;
    /// # let password_only = FreshAuth::primary(mfa.now());
    /// # let start = mfa.start_enrolment(&alice, &password_only, EnrolmentRequest::new(FactorKind::TOTP)).await?;
    /// # let Prompt::SharedSecret(secret) = &start.prompt else { unreachable!() };
    /// # let key = data_encoding::BASE32_NOPAD.decode(secret.secret_base32.expose().as_bytes())?;
    /// # let app_code = || totp.code_at(&key, mfa.now().unix_secs() as u64);
    /// # mfa.finish_enrolment(&alice, &password_only, &start.factor.id, &Proof::code(&app_code()?)?).await?;
    /// # let app = start.factor.id;
    /// # clock.advance(Duration::from_secs(30)); // the enrolment's code is used up
    /// use mfa_core::access::ActionDigest;
    ///
    /// // "Confirm this payment": the verification counts for this action only.
    /// let action = ActionDigest::new("payment", &[("amount", "1000.00 EUR"), ("payee", "ACME")]);
    /// let challenge = mfa.start_step_up(&alice, None, &action).await?;
    /// let verified = mfa.finish_challenge(&alice, &challenge.id, &Proof::code(&app_code()?)?).await?;
    /// assert_eq!(verified.action, Some(action));
    /// # Ok(())
    /// # }
    /// ```
    #[cfg_attr(feature = "spans", tracing::instrument(level = "debug", skip_all, fields(%user, ?factor)))]
    pub async fn start_step_up(
        &self,
        user: &UserId,
        factor: Option<&FactorId>,
        action: &ActionDigest,
    ) -> Result<Challenge> {
        self.start_challenge_for(user, factor, Some(action.as_str().to_owned())).await
    }

    pub(super) async fn start_challenge_for(
        &self,
        user: &UserId,
        factor: Option<&FactorId>,
        action: Option<String>,
    ) -> Result<Challenge> {
        let inner = &self.inner;
        let now = self.now();
        let factors = inner.store.list_factors(user).await?;
        let active = ranked_active(&factors);
        let chosen = match factor {
            Some(id) => active.iter().find(|f| f.id == *id),
            None => active.first(),
        }
        .copied()
        .ok_or(Error::NotFound)?;
        let alternatives = active.iter().filter(|f| f.id != chosen.id).map(|f| f.summary()).collect();
        self.challenge_factor(user, &factors, chosen, alternatives, now, action).await
    }

    /// Sends a new code for a challenge (SMS, email): the old code stops working, the
    /// failure count is kept, and delivery limits apply. Returns the new challenge.
    ///
    /// # Errors
    ///
    /// [`Error::Expired`] if the challenge is unknown, another user's, expired or used;
    /// [`Error::RateLimited`] if a code was sent too recently or too often (the old code
    /// then still works); [`Error::Unsupported`] for a factor that sends nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// # use mfa_core::{AeadSealer, Assurance, EnrolmentRequest, Error, FactorKind, FactorStatus, FreshAuth, ManualClock, Mfa, Prompt, Proof, Timestamp, UserId};
    /// # use mfa_store_memory::MemoryStore;
    /// # use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let clock = ManualClock::new(Timestamp::from_unix_secs(1_700_000_010));
    /// # let totp = mfa_otp::TotpFactor::new("Example")?;
    /// # let mfa = Mfa::builder().store(MemoryStore::new()).sealer(AeadSealer::ephemeral()?).clock(clock.clone()).factor(totp.clone()).build()?;
    /// # let alice = UserId::new("alice")?;
    /// # let password_only = FreshAuth::primary(mfa.now());
    /// # let start = mfa.start_enrolment(&alice, &password_only, EnrolmentRequest::new(FactorKind::TOTP)).await?;
    /// # let Prompt::SharedSecret(secret) = &start.prompt else { unreachable!() };
    /// # let key = data_encoding::BASE32_NOPAD.decode(secret.secret_base32.expose().as_bytes())?;
    /// # let app_code = || totp.code_at(&key, mfa.now().unix_secs() as u64);
    /// # mfa.finish_enrolment(&alice, &password_only, &start.factor.id, &Proof::code(&app_code()?)?).await?;
    /// # let app = start.factor.id;
    /// # clock.advance(Duration::from_secs(30)); // the enrolment's code is used up
    /// let challenge = mfa.start_challenge(&alice, None).await?;
    ///
    /// // "Send me a new code" is for factors that send one (SMS and email, from `mfa-otp`):
    /// // there it returns a new challenge. An authenticator app makes its own codes.
    /// let resent = mfa.resend_challenge(&alice, &challenge.id).await;
    /// assert!(matches!(resent, Err(Error::Unsupported)));
    ///
    /// // The challenge still stands.
    /// let verified = mfa.finish_challenge(&alice, &challenge.id, &Proof::code(&app_code()?)?).await?;
    /// assert_eq!(verified.factor, Some(app));
    /// # Ok(())
    /// # }
    /// ```
    #[cfg_attr(feature = "spans", tracing::instrument(level = "debug", skip_all, fields(%user)))]
    pub async fn resend_challenge(&self, user: &UserId, challenge: &CeremonyId) -> Result<Challenge> {
        let inner = &self.inner;
        let now = self.now();
        let old = inner.store.get_ceremony(Some(user), challenge, now).await?.ok_or(Error::Expired)?;
        if old.purpose != CeremonyPurpose::Challenge {
            return Err(Error::Expired);
        }
        let factor = old.factor.ok_or(Error::Expired)?;
        let factors = inner.store.list_factors(user).await?;
        let active = ranked_active(&factors);
        let chosen = active.iter().find(|f| f.id == factor).copied().ok_or(Error::NotFound)?;
        if !self.adapter(&chosen.kind)?.needs_challenge(&chosen.kind) {
            return Err(Error::Unsupported);
        }
        let alternatives = active.iter().filter(|f| f.id != chosen.id).map(|f| f.summary()).collect();
        let new = self.challenge_factor(user, &factors, chosen, alternatives, now, old.action.clone()).await?;
        inner.store.take_ceremony(Some(user), challenge, now).await?;
        Ok(new)
    }

    /// Challenges one active factor: throttle check, adapter, ceremony.
    pub(super) async fn challenge_factor(
        &self,
        user: &UserId,
        factors: &[FactorRecord],
        chosen: &FactorRecord,
        alternatives: Vec<FactorSummary>,
        now: Timestamp,
        action: Option<String>,
    ) -> Result<Challenge> {
        let inner = &self.inner;
        let adapter = self.adapter(&chosen.kind)?;
        let scope = ThrottleScope::Factor(chosen.id);
        let state = inner.store.get_throttle(user, &scope).await?;
        self.throttle_check(user, &scope, &self.throttle_for(chosen), &state, now).await?;
        let challenges = hashed_key("open:challenges", "challenges-per-user", user.as_str());
        if let Err(retry_after) = self.count_in_window(&challenges, inner.settings.limits.challenges, now).await? {
            return Err(self.limit_reached(Some(user), StateLimit::Challenges, retry_after, now).await);
        }
        let secret = self.open(chosen)?;
        let id = CeremonyId::random()?;
        let gate = Gate { mfa: self, user, factor: chosen.id, proven: chosen.is_active(), now };
        let ctx = FactorContext::new(user, &chosen.id, &chosen.kind, now, Some(&id), &gate, factors)
            .with_locale(self.locale());
        let plan = match adapter.start_challenge(&ctx, chosen, secret.as_ref()).await {
            Ok(plan) => plan,
            Err(e) => return Err(self.delivery_error(user, chosen.id, e, now).await),
        };
        // A factor that verifies without its secret has it re-sealed under the current key
        // here, where it is opened. The code is on its way: a failure here must not lose
        // the challenge (the secret stays under the old key, which still opens it).
        if let (Some(sealed), Some(secret)) = (&chosen.secret, &secret)
            && sealed.key_id != inner.sealer.current_key()
            && !adapter.verify_needs_secret(&chosen.kind)
            && let Err(e) = self.reseal(user, &chosen.id, secret).await
        {
            tracing::warn!(error = %e, "could not re-seal a factor's secret under the current key");
        }
        let of = CeremonyFor { id, user: Some(user), factor: Some(chosen.id), kind: &chosen.kind };
        let ceremony = self
            .ceremony(of, CeremonyPurpose::Challenge, plan.ceremony, inner.settings.challenge_ttl, None, now)
            .with_action(action);
        let expires_at = ceremony.expires_at;
        inner.store.put_ceremony(&ceremony).await?;
        let recovery_codes_remaining = inner.store.count_recovery_codes(user).await?;
        Ok(Challenge {
            id,
            factor: chosen.summary(),
            prompt: plan.prompt,
            expires_at,
            alternatives,
            recovery_codes_remaining,
        })
    }

    /// Stores `secret` sealed under the current key.
    async fn reseal(&self, user: &UserId, factor: &FactorId, secret: &SecretBytes) -> Result<()> {
        let update = FactorUpdate { secret: Some(self.seal(user, factor, secret)?), ..FactorUpdate::default() };
        self.inner.store.update_factor(user, factor, &update).await?;
        Ok(())
    }

    /// Completes a challenge with the user's proof. Each challenge is single-use and allows
    /// [`Settings::challenge_attempts`] tries; failures also count toward the factor's
    /// throttle, across every challenge and service instance.
    ///
    /// # Errors
    ///
    /// [`Error::Expired`] if the challenge is unknown, another user's, expired or used up;
    /// [`Error::InvalidCode`] for a wrong proof; [`Error::Replayed`] for a reused code;
    /// [`Error::Locked`] after too many failures; [`Error::InvalidInput`] for a malformed
    /// proof (nothing counted).
    ///
    /// # Examples
    ///
    /// ```
    /// # use mfa_core::{AeadSealer, Assurance, EnrolmentRequest, Error, FactorKind, FactorStatus, FreshAuth, ManualClock, Mfa, Prompt, Proof, Timestamp, UserId};
    /// # use mfa_store_memory::MemoryStore;
    /// # use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let clock = ManualClock::new(Timestamp::from_unix_secs(1_700_000_010));
    /// # let totp = mfa_otp::TotpFactor::new("Example")?;
    /// # let mfa = Mfa::builder().store(MemoryStore::new()).sealer(AeadSealer::ephemeral()?).clock(clock.clone()).factor(totp.clone()).build()?;
    /// # let alice = UserId::new("alice")?;
    /// # let password_only = FreshAuth::primary(mfa.now());
    /// # let start = mfa.start_enrolment(&alice, &password_only, EnrolmentRequest::new(FactorKind::TOTP)).await?;
    /// # let Prompt::SharedSecret(secret) = &start.prompt else { unreachable!() };
    /// # let key = data_encoding::BASE32_NOPAD.decode(secret.secret_base32.expose().as_bytes())?;
    /// # let app_code = || totp.code_at(&key, mfa.now().unix_secs() as u64);
    /// # mfa.finish_enrolment(&alice, &password_only, &start.factor.id, &Proof::code(&app_code()?)?).await?;
    /// # let app = start.factor.id;
    /// # clock.advance(Duration::from_secs(30)); // the enrolment's code is used up
    /// let challenge = mfa.start_challenge(&alice, None).await?;
    /// let typed = app_code()?; // what Alice types
    /// let verified = mfa.finish_challenge(&alice, &challenge.id, &Proof::code(&typed)?).await?;
    /// assert_eq!(verified.user, alice);
    /// assert_eq!(verified.assurance, Assurance::ReplayResistantOtp);
    ///
    /// // A challenge is used once...
    /// let again = mfa.finish_challenge(&alice, &challenge.id, &Proof::code(&typed)?).await;
    /// assert!(matches!(again, Err(Error::Expired)));
    /// // ...and so is a code, whatever the challenge.
    /// let next = mfa.start_challenge(&alice, None).await?;
    /// let replayed = mfa.finish_challenge(&alice, &next.id, &Proof::code(&typed)?).await;
    /// assert!(matches!(replayed, Err(Error::Replayed)));
    /// # Ok(())
    /// # }
    /// ```
    #[cfg_attr(feature = "spans", tracing::instrument(level = "debug", skip_all, fields(%user)))]
    pub async fn finish_challenge(&self, user: &UserId, challenge: &CeremonyId, proof: &Proof) -> Result<Verified> {
        let inner = &self.inner;
        let now = self.now();
        // Malformed input is refused before anything is counted.
        let peek = inner.store.get_ceremony(Some(user), challenge, now).await?.ok_or(Error::Expired)?;
        if peek.purpose != CeremonyPurpose::Challenge {
            return Err(Error::Expired);
        }
        self.adapter(&peek.kind)?.check_proof(&peek.kind, ProofStep::SignIn, proof)?;
        let ceremony = inner.store.attempt_ceremony(Some(user), challenge, now).await?.ok_or(Error::Expired)?;
        if ceremony.purpose != CeremonyPurpose::Challenge {
            return Err(Error::Expired);
        }
        let factor = ceremony.factor.ok_or(Error::Expired)?;
        // The proof was checked for the ceremony's kind above: the attempt may be counted.
        let kinds = std::slice::from_ref(&ceremony.kind);
        let attempt = inner
            .store
            .begin_attempt(user, &factor, kinds, now)
            .await?
            .filter(|a| a.factor.is_active())
            .ok_or(Error::NotFound)?;
        let mut counting = Counting::begun(&attempt, now);
        let mut record = attempt.factor;
        // The user may answer with another of their credentials of the same adapter (any of
        // their security keys): verify against the one the proof names.
        let adapter = self.adapter(&record.kind)?;
        if let Some(key) = adapter.identify(&record.kind, proof)?
            && record.lookup_key.as_deref() != Some(key.as_str())
            && let Some(other) = inner.store.find_factor_by_lookup_key(&key).await?
            && other.user == *user
            && other.is_active()
            && self.adapter(&other.kind).is_ok_and(|a| Arc::ptr_eq(a, adapter))
        {
            // The attempt counts against the credential used, not the one challenged.
            if let Counting::Counted(state) = counting {
                self.throttle_reset_after_commit(user, &ThrottleScope::Factor(record.id), state).await;
            }
            (record, counting) = (other, Counting::Throttled(None));
        }
        self.verify_record(user, &record, Some(&ceremony), proof, now, None, counting).await
    }

    /// Verifies a proof for a factor that needs no challenge state (an authenticator app):
    /// the direct path for "check this code for this user".
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] if the factor's kind needs a challenge (use
    /// [`Mfa::start_challenge`]); otherwise as [`Mfa::finish_challenge`], with
    /// [`Error::NotFound`] for an unknown or pending factor.
    ///
    /// # Examples
    ///
    /// ```
    /// # use mfa_core::{AeadSealer, Assurance, EnrolmentRequest, Error, FactorKind, FactorStatus, FreshAuth, ManualClock, Mfa, Prompt, Proof, Timestamp, UserId};
    /// # use mfa_store_memory::MemoryStore;
    /// # use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let clock = ManualClock::new(Timestamp::from_unix_secs(1_700_000_010));
    /// # let totp = mfa_otp::TotpFactor::new("Example")?;
    /// # let mfa = Mfa::builder().store(MemoryStore::new()).sealer(AeadSealer::ephemeral()?).clock(clock.clone()).factor(totp.clone()).build()?;
    /// # let alice = UserId::new("alice")?;
    /// # let password_only = FreshAuth::primary(mfa.now());
    /// # let start = mfa.start_enrolment(&alice, &password_only, EnrolmentRequest::new(FactorKind::TOTP)).await?;
    /// # let Prompt::SharedSecret(secret) = &start.prompt else { unreachable!() };
    /// # let key = data_encoding::BASE32_NOPAD.decode(secret.secret_base32.expose().as_bytes())?;
    /// # let app_code = || totp.code_at(&key, mfa.now().unix_secs() as u64);
    /// # mfa.finish_enrolment(&alice, &password_only, &start.factor.id, &Proof::code(&app_code()?)?).await?;
    /// # let app = start.factor.id;
    /// # clock.advance(Duration::from_secs(30)); // the enrolment's code is used up
    /// let typed = app_code()?;
    /// let verified = mfa.verify(&alice, &app, &Proof::code(&typed)?).await?;
    /// assert_eq!(verified.factor, Some(app));
    ///
    /// // The same code again is a replay (RFC 6238 §5.2); the app's next one works.
    /// assert!(matches!(mfa.verify(&alice, &app, &Proof::code(&typed)?).await, Err(Error::Replayed)));
    /// clock.advance(Duration::from_secs(30));
    /// mfa.verify(&alice, &app, &Proof::code(&app_code()?)?).await?;
    /// # Ok(())
    /// # }
    /// ```
    #[cfg_attr(feature = "spans", tracing::instrument(level = "debug", skip_all, fields(%user, %factor)))]
    pub async fn verify(&self, user: &UserId, factor: &FactorId, proof: &Proof) -> Result<Verified> {
        let now = self.now();
        // Read the factor and count the attempt in one store call; a proof this factor's
        // kind would refuse before evaluating it is not counted.
        let kinds = self.kinds_verifying(proof);
        let attempt = self
            .inner
            .store
            .begin_attempt(user, factor, &kinds, now)
            .await?
            .filter(|a| a.factor.is_active())
            .ok_or(Error::NotFound)?;
        if self.adapter(&attempt.factor.kind)?.needs_challenge(&attempt.factor.kind) {
            return Err(Error::Unsupported);
        }
        let counting = Counting::begun(&attempt, now);
        self.verify_record(user, &attempt.factor, None, proof, now, None, counting).await
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) async fn verify_record(
        &self,
        user: &UserId,
        record: &FactorRecord,
        ceremony: Option<&CeremonyRecord>,
        proof: &Proof,
        now: Timestamp,
        required: Option<Assurance>,
        counting: Counting,
    ) -> Result<Verified> {
        let inner = &self.inner;
        let adapter = self.adapter(&record.kind)?;
        adapter.check_proof(&record.kind, ProofStep::SignIn, proof)?;
        let scope = ThrottleScope::Factor(record.id);
        let throttle = self.throttle_for(record);
        let attempt = match counting {
            Counting::Counted(state) => {
                self.settle_refusals(user, scope, now).await;
                Some(state)
            }
            Counting::Throttled(None) => Some(self.throttle_begin(user, &scope, now, &throttle).await?),
            Counting::Throttled(Some(state)) => {
                Some(self.throttle_begin_from(user, &scope, now, &throttle, state).await?)
            }
            Counting::Unauthenticated => {
                // Read only: a hard stop holds, but nothing is counted or waited for.
                let state = inner.store.get_throttle(user, &scope).await?;
                if throttle.exhausted(&state) {
                    self.refused(user, scope, true, now).await;
                    return Err(Error::Disabled);
                }
                None
            }
        };
        let failed = |error: Error| async move {
            match attempt {
                Some(attempt) => {
                    self.count_failure(
                        user,
                        (Some(record.id), record.kind.as_str()),
                        attempt,
                        FailureReason::InvalidCode,
                        now,
                        &throttle,
                    )
                    .await;
                }
                None => self.passwordless_failed(record, now).await,
            }
            Err(error)
        };
        let secret = match adapter.verify_needs_secret(&record.kind) {
            true => self.open_to_verify(adapter.as_ref(), record)?,
            false => None,
        };
        let gate = Gate { mfa: self, user, factor: record.id, proven: record.is_active(), now };
        let ctx = FactorContext::new(user, &record.id, &record.kind, now, ceremony.map(|c| &c.id), &gate, &[])
            .with_locale(self.locale());
        let input = VerifyInput { factor: record, secret: secret.as_deref(), ceremony, proof };
        let outcome = match adapter.finish_challenge(&ctx, input).await {
            Ok(outcome) => outcome,
            Err(Error::InvalidCode) => return failed(Error::InvalidCode).await,
            Err(Error::PossibleClone) => {
                self.emit(user, now, EventKind::CloneWarning { factor: record.id }).await;
                return failed(Error::PossibleClone).await;
            }
            Err(Error::AuthenticatorRefused { reason }) => {
                self.emit(user, now, EventKind::AuthenticatorRefused { factor: record.id, reason }).await;
                return Err(Error::AuthenticatorRefused { reason });
            }
            Err(e) => return Err(e),
        };
        let assurance = outcome.assurance.unwrap_or(record.assurance);
        if required.is_some_and(|min| assurance < min) {
            return failed(Error::InvalidCode).await;
        }
        // One store call: take the ceremony (single use: of concurrent correct proofs, only
        // the one that takes it wins), move the replay marker forward, record the use and
        // clear the counter.
        let mut acceptance = Acceptance::new(now);
        acceptance.ceremony = ceremony.map(|c| (c.user.clone(), c.id));
        acceptance.replay_marker = outcome.replay_marker;
        acceptance.data = outcome.data;
        acceptance.details = outcome.details;
        acceptance.clear_throttle = attempt.is_some();
        if let (Some(sealed), Some(secret)) = (&record.secret, &secret)
            && sealed.key_id != inner.sealer.current_key()
        {
            acceptance.secret = Some(self.seal(user, &record.id, secret)?);
        }
        match inner.store.accept_verification(user, &record.id, &acceptance).await? {
            AcceptOutcome::Accepted => {}
            AcceptOutcome::CeremonyGone => return Err(Error::Expired),
            AcceptOutcome::Refused if outcome.replay_marker.is_some() => {
                self.emit(user, now, EventKind::ReplayRejected { factor: record.id }).await;
                if let Some(attempt) = attempt {
                    self.count_failure(
                        user,
                        (Some(record.id), record.kind.as_str()),
                        attempt,
                        FailureReason::Replayed,
                        now,
                        &throttle,
                    )
                    .await;
                }
                return Err(Error::Replayed);
            }
            // Removed (or replaced) while it was being verified.
            AcceptOutcome::Refused => return Err(Error::NotFound),
        }
        self.emit(
            user,
            now,
            EventKind::VerificationSucceeded {
                factor: Some(record.id),
                method: record.kind.as_str().to_owned(),
                assurance,
            },
        )
        .await;
        let action = ceremony.and_then(|c| c.action.clone()).map(ActionDigest::from_stored);
        Ok(Verified::new(user.clone(), Some(record.id), Some(record.kind.clone()), assurance, now).with_action(action))
    }
}
