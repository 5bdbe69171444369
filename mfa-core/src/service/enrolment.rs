//! Adding a factor: start an enrolment, prove it, resend its code.

use super::*;

impl Mfa {
    /// Starts adding a factor. The factor is pending — never usable to sign in — until
    /// [`Mfa::finish_enrolment`] gets the proof the adapter asks for, and it expires after
    /// [`Settings::enrolment_ttl`].
    ///
    /// # Errors
    ///
    /// [`Error::ReauthRequired`] / [`Error::MfaRequired`] without fresh authentication (once
    /// the user has an active factor, recent MFA is needed too); [`Error::Unsupported`] for
    /// an unconfigured kind; [`Error::InvalidInput`] for a bad label or destination;
    /// [`Error::NotFound`] if `replaces` names no active factor of the same kind;
    /// [`Error::LimitReached`] if the user already holds
    /// [`StateLimits::pending_enrolments`](crate::limits::StateLimits) unfinished enrolments;
    /// [`Error::Delivery`] if a code could not be sent.
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
    /// // The host just re-checked Alice's password.
    /// let fresh = FreshAuth::primary(mfa.now());
    /// let request = EnrolmentRequest::new(FactorKind::TOTP).label("Phone").account_name("alice@example.com");
    /// let start = mfa.start_enrolment(&alice, &fresh, request).await?;
    ///
    /// // Show the QR code and the key to type in; the factor waits for its first code.
    /// let Prompt::SharedSecret(secret) = &start.prompt else { unreachable!("an app is shown a shared secret") };
    /// assert!(secret.qr_svg.is_some());
    /// assert_eq!(start.factor.label, "Phone");
    /// assert_eq!(start.factor.status, FactorStatus::Pending);
    ///
    /// // Until then it cannot sign in.
    /// assert!(matches!(mfa.start_challenge(&alice, None).await, Err(Error::NotFound)));
    /// // Kinds no adapter was registered for are refused.
    /// let sms = EnrolmentRequest::new(FactorKind::SMS).destination("+14155552671");
    /// assert!(matches!(mfa.start_enrolment(&alice, &fresh, sms).await, Err(Error::Unsupported)));
    /// # Ok(())
    /// # }
    /// ```
    #[cfg_attr(feature = "spans", tracing::instrument(level = "debug", skip_all, fields(%user, kind = %request.kind)))]
    pub async fn start_enrolment(
        &self,
        user: &UserId,
        fresh: &FreshAuth,
        request: EnrolmentRequest,
    ) -> Result<EnrolmentStart> {
        let inner = &self.inner;
        let now = self.now();
        let adapter = self.adapter(&request.kind)?;
        let label = request.label.as_deref().map(validate_label).transpose()?;
        let factors = inner.store.list_factors(user).await?;
        self.check_fresh(fresh, now, &factors)?;
        if let Some(old) = request.replaces {
            factors.iter().find(|f| f.id == old && f.is_active() && f.kind == request.kind).ok_or(Error::NotFound)?;
        }
        let pending = self.pending_enrolments(&factors, now);
        if pending.len() >= inner.settings.limits.pending_enrolments {
            let retry_after =
                pending.first().and_then(|f| f.expires_at).map_or(Duration::ZERO, |e| e.duration_since(now));
            return Err(self.limit_reached(Some(user), StateLimit::PendingEnrolments, retry_after, now).await);
        }
        let label = match label {
            Some(label) => label,
            None => default_label(&adapter.default_label(&request.kind), &factors),
        };

        let id = FactorId::random()?;
        let cid = CeremonyId::random()?;
        let gate = Gate { mfa: self, user, factor: id, proven: false, now };
        let ctx =
            FactorContext::new(user, &id, &request.kind, now, Some(&cid), &gate, &factors).with_locale(self.locale());
        let plan = match adapter.start_enrolment(&ctx, &request).await {
            Ok(plan) => plan,
            Err(e) => return Err(self.delivery_error(user, id, e, now).await),
        };
        let expires_at = now.saturating_add(inner.settings.enrolment_ttl);
        let mut record =
            FactorRecord::pending(id, user.clone(), request.kind.clone(), label, plan.assurance, now, expires_at);
        if let Some(secret) = &plan.secret {
            record.secret = Some(self.seal(user, &id, secret)?);
        }
        record.data = plan.data;
        record.masked_destination = plan.masked_destination;
        record.details = plan.details;
        record.replaces = request.replaces;
        if let Some(plan) = plan.ceremony {
            let of = CeremonyFor { id: cid, user: Some(user), factor: Some(id), kind: &request.kind };
            let ttl = inner.settings.enrolment_ttl;
            let ceremony = self.ceremony(of, CeremonyPurpose::Enrolment, Some(plan), ttl, Some(expires_at), now);
            inner.store.put_ceremony(&ceremony).await?;
            record.enrolment = Some(cid);
        }
        inner.store.insert_factor(&record).await?;
        // Racing starts may all have passed the check above: each looks again once its
        // enrolment is stored and removes every pending enrolment beyond the bound (the
        // newest), its own included. A record beyond the bound in any racer's view is
        // beyond it in the full picture too, so once the racers are done exactly the oldest
        // `pending_enrolments` remain.
        if !self.trim_pending_enrolments(user, &id, now).await? {
            let retry_after = self
                .pending_enrolments(&inner.store.list_factors(user).await?, now)
                .first()
                .and_then(|f| f.expires_at)
                .map_or(Duration::ZERO, |e| e.duration_since(now));
            return Err(self.limit_reached(Some(user), StateLimit::PendingEnrolments, retry_after, now).await);
        }
        self.emit(user, now, EventKind::EnrolmentStarted { factor: id, kind: request.kind }).await;
        Ok(EnrolmentStart { factor: record.summary(), prompt: plan.prompt, expires_at })
    }

    /// Removes the user's pending enrolments beyond the bound, newest first; `false` if
    /// `ours` is no longer there afterwards.
    pub(super) async fn trim_pending_enrolments(&self, user: &UserId, ours: &FactorId, now: Timestamp) -> Result<bool> {
        let store = &self.inner.store;
        let factors = store.list_factors(user).await?;
        let pending = self.pending_enrolments(&factors, now);
        for extra in pending.iter().skip(self.inner.settings.limits.pending_enrolments) {
            if let Some(cid) = &extra.enrolment {
                store.take_ceremony(Some(user), cid, now).await?;
            }
            match store.delete_factor(user, &extra.id).await {
                Ok(_) | Err(StoreError::NotFound) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(store.get_factor(user, ours).await?.is_some())
    }

    /// The user's unexpired pending enrolments, oldest first.
    pub(super) fn pending_enrolments<'f>(&self, factors: &'f [FactorRecord], now: Timestamp) -> Vec<&'f FactorRecord> {
        let mut pending: Vec<&FactorRecord> = factors.iter().filter(|f| !f.is_active() && !f.is_expired(now)).collect();
        pending.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        pending
    }

    /// Completes an enrolment with its proof (a current code, the code that was sent, an
    /// attestation). On success the factor is active; the user's first active factor
    /// becomes preferred; a factor it `replaces` is removed in the same step, with the
    /// remembered devices removing it would revoke.
    ///
    /// Finishing needs the same authorisation as starting, judged in the state at finish
    /// time (SECURITY.md S22): an enrolment started with only a password, before the user
    /// had a factor, cannot be finished by a password-only session once a factor is active.
    /// When the first factor becomes active, recovery codes found then (which could only
    /// have been minted without MFA) are discarded.
    ///
    /// Failures count toward the factor's throttle.
    ///
    /// # Errors
    ///
    /// [`Error::ReauthRequired`] / [`Error::MfaRequired`] without fresh authentication as
    /// [`Mfa::start_enrolment`] needs it now; [`Error::NotFound`] for an unknown factor (or
    /// another user's); [`Error::Expired`] if the enrolment expired, was already finished,
    /// or its ceremony is used up; [`Error::InvalidCode`] for a wrong proof;
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
    /// let fresh = FreshAuth::primary(mfa.now());
    /// let start = mfa.start_enrolment(&alice, &fresh, EnrolmentRequest::new(FactorKind::TOTP)).await?;
    /// # let Prompt::SharedSecret(secret) = &start.prompt else { unreachable!() };
    /// # let key = data_encoding::BASE32_NOPAD.decode(secret.secret_base32.expose().as_bytes())?;
    /// # let app_code = || totp.code_at(&key, mfa.now().unix_secs() as u64);
    ///
    /// // Alice scans the QR code and types the code her app shows.
    /// let typed = app_code()?;
    /// let factor = mfa.finish_enrolment(&alice, &fresh, &start.factor.id, &Proof::code(&typed)?).await?;
    /// assert_eq!(factor.status, FactorStatus::Active);
    /// assert!(factor.preferred, "the first factor becomes preferred");
    ///
    /// // From now on, adding a factor takes recent MFA as well as the password.
    /// let another = mfa.start_enrolment(&alice, &fresh, EnrolmentRequest::new(FactorKind::TOTP)).await;
    /// assert!(matches!(another, Err(Error::MfaRequired)));
    /// # Ok(())
    /// # }
    /// ```
    #[cfg_attr(feature = "spans", tracing::instrument(level = "debug", skip_all, fields(%user, %factor)))]
    pub async fn finish_enrolment(
        &self,
        user: &UserId,
        fresh: &FreshAuth,
        factor: &FactorId,
        proof: &Proof,
    ) -> Result<FactorSummary> {
        let inner = &self.inner;
        let now = self.now();
        let factors = inner.store.list_factors(user).await?;
        let record = factors.iter().find(|f| f.id == *factor).cloned().ok_or(Error::NotFound)?;
        if record.is_active() || record.is_expired(now) {
            return Err(Error::Expired);
        }
        self.check_fresh(fresh, now, &factors)?;
        let had_active = factors.iter().any(FactorRecord::is_active);
        let adapter = self.adapter(&record.kind)?;
        adapter.check_proof(&record.kind, ProofStep::Enrolment, proof)?;
        let scope = ThrottleScope::Factor(record.id);
        let throttle = self.throttle_for(&record);
        let attempt = self.throttle_begin(user, &scope, now, &throttle).await?;
        let ceremony = match &record.enrolment {
            Some(cid) => Some(inner.store.attempt_ceremony(Some(user), cid, now).await?.ok_or(Error::Expired)?),
            None => None,
        };
        let secret = self.open(&record)?;
        let gate = Gate { mfa: self, user, factor: record.id, proven: false, now };
        let ctx = FactorContext::new(user, &record.id, &record.kind, now, ceremony.as_ref().map(|c| &c.id), &gate, &[])
            .with_locale(self.locale());
        let input = VerifyInput { factor: &record, secret: secret.as_ref(), ceremony: ceremony.as_ref(), proof };
        let outcome = match adapter.finish_enrolment(&ctx, input).await {
            Ok(outcome) => outcome,
            Err(Error::InvalidCode) => {
                self.count_failure(
                    user,
                    (Some(record.id), record.kind.as_str()),
                    attempt,
                    FailureReason::InvalidCode,
                    now,
                    &throttle,
                )
                .await;
                return Err(Error::InvalidCode);
            }
            Err(Error::AuthenticatorRefused { reason }) => {
                // The ceremony's one attempt is spent: the browser must start again.
                self.emit(user, now, EventKind::AuthenticatorRefused { factor: record.id, reason }).await;
                return Err(Error::AuthenticatorRefused { reason });
            }
            Err(e) => return Err(e),
        };
        if let Some(cid) = &record.enrolment {
            inner.store.take_ceremony(Some(user), cid, now).await?.ok_or(Error::Expired)?;
        }
        // The adapter may report a different assurance than it planned (a passkey whose
        // attestation shows it is device-bound): the record keeps what was proven.
        let assurance = outcome.assurance.filter(|a| *a != record.assurance);
        let has_update = outcome.data.is_some()
            || outcome.details.is_some()
            || outcome.lookup_key.is_some()
            || outcome.replay_marker.is_some()
            || assurance.is_some();
        if has_update {
            // A lookup key another factor holds (a credential registered twice) is refused.
            // The enrolment code's step is used up before activation, so it can never sign
            // in, whatever interrupts us afterwards.
            let update = FactorUpdate {
                data: outcome.data,
                details: outcome.details,
                lookup_key: outcome.lookup_key,
                replay_marker: outcome.replay_marker,
                last_used_at: outcome.replay_marker.map(|_| now),
                assurance,
                ..FactorUpdate::default()
            };
            inner.store.update_factor(user, &record.id, &update).await?;
        }
        let replaced = match record.replaces {
            Some(old) => inner.store.get_factor(user, &old).await?,
            None => None,
        };
        // A replaced factor is removed: its remembered devices go as they would with
        // `remove_factor`, and before it, so an interruption never leaves them behind.
        if replaced.as_ref().is_some_and(FactorRecord::is_active) && inner.settings.devices.revoke_on_factor_removal {
            self.revoke_all_devices(user).await?;
        }
        // The commit point: everything before it leaves the previous state in place, and
        // nothing after it can fail the enrolment.
        let active = inner.store.activate_factor(user, &record.id, now).await.map_err(|e| match e {
            StoreError::NotFound => Error::Expired,
            e => e.into(),
        })?;
        self.throttle_reset_after_commit(user, &scope, attempt).await;
        if !had_active {
            self.discard_recovery_codes(user, Discard::Always, now).await;
        }
        self.emit(user, now, EventKind::FactorAdded { factor: active.id, kind: active.kind.clone() }).await;
        if let Some(old) = replaced {
            self.emit(user, now, EventKind::FactorRemoved { factor: old.id, kind: old.kind }).await;
        }
        // A replacement inherits the preferred flag silently; a first factor announces it.
        if active.preferred && record.replaces.is_none() {
            self.emit(user, now, EventKind::PreferredChanged { factor: Some(active.id) }).await;
        }
        Ok(active.summary())
    }

    /// The destination as the factor kind would store it (an E.164 number, a checked
    /// address): what the user will be asked to confirm, and what a host keeps in its
    /// profile. `None` for kinds that send nothing.
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] for an unconfigured kind; [`Error::InvalidInput`] for a
    /// destination the kind refuses.
    ///
    /// # Examples
    ///
    /// ```
    /// use mfa_core::{AeadSealer, Error, FactorKind, Mfa};
    /// use mfa_otp::{MemorySender, OobKey, SmsFactor, TotpFactor};
    /// use mfa_store_memory::MemoryStore;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let sms = SmsFactor::builder(MemorySender::new(), OobKey::ephemeral()?).build()?;
    /// let mfa = Mfa::builder().store(MemoryStore::new()).sealer(AeadSealer::ephemeral()?)
    ///     .factor(sms).factor(TotpFactor::new("Example")?).build()?;
    ///
    /// let number = mfa.normalise_destination(&FactorKind::SMS, "+1 (415) 555-2671")?;
    /// assert_eq!(number.as_deref(), Some("+14155552671"));
    /// assert_eq!(mfa.normalise_destination(&FactorKind::TOTP, "anything")?, None);
    /// assert!(matches!(mfa.normalise_destination(&FactorKind::SMS, "not a number"), Err(Error::InvalidInput { .. })));
    /// # Ok(())
    /// # }
    /// ```
    pub fn normalise_destination(&self, kind: &FactorKind, input: &str) -> Result<Option<String>> {
        self.adapter(kind)?.normalise_destination(kind, input)
    }

    /// Sends a new code for a pending enrolment (a new phone number or address): the old
    /// code stops working, the failure count is kept, and delivery limits apply.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] for an unknown factor; [`Error::Expired`] if the enrolment is
    /// finished or expired; [`Error::RateLimited`] if a code was sent too recently or too
    /// often (the old code then still works); [`Error::Unsupported`] for kinds that send
    /// nothing.
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
    /// let fresh = FreshAuth::primary(mfa.now());
    /// let start = mfa.start_enrolment(&alice, &fresh, EnrolmentRequest::new(FactorKind::TOTP)).await?;
    ///
    /// // "Send me a new code" is for factors that send one (SMS and email, from `mfa-otp`):
    /// // there it returns the new prompt. An authenticator app makes its own codes.
    /// match mfa.resend_enrolment(&alice, &start.factor.id).await {
    ///     Ok(again) => println!("{:?}", again.prompt),
    ///     Err(Error::RateLimited { .. }) => println!("please wait before asking again"),
    ///     Err(Error::Unsupported) => println!("enter the code your app shows"),
    ///     Err(e) => return Err(e.into()),
    /// }
    /// assert!(matches!(mfa.resend_enrolment(&alice, &start.factor.id).await, Err(Error::Unsupported)));
    /// # Ok(())
    /// # }
    /// ```
    #[cfg_attr(feature = "spans", tracing::instrument(level = "debug", skip_all, fields(%user, %factor)))]
    pub async fn resend_enrolment(&self, user: &UserId, factor: &FactorId) -> Result<EnrolmentStart> {
        let inner = &self.inner;
        let now = self.now();
        let record = inner.store.get_factor(user, factor).await?.ok_or(Error::NotFound)?;
        if record.is_active() || record.is_expired(now) {
            return Err(Error::Expired);
        }
        let old = record.enrolment.ok_or(Error::Unsupported)?;
        let adapter = self.adapter(&record.kind)?;
        if !adapter.resends_enrolment(&record.kind) {
            return Err(Error::Unsupported);
        }
        let secret = self.open(&record)?;
        let cid = CeremonyId::random()?;
        let gate = Gate { mfa: self, user, factor: record.id, proven: false, now };
        let ctx =
            FactorContext::new(user, &record.id, &record.kind, now, Some(&cid), &gate, &[]).with_locale(self.locale());
        let plan = match adapter.start_challenge(&ctx, &record, secret.as_ref()).await {
            Ok(plan) => plan,
            Err(e) => return Err(self.delivery_error(user, record.id, e, now).await),
        };
        let ceremony = plan.ceremony.ok_or(Error::Unsupported)?;
        let expires_at = record.expires_at.unwrap_or(now);
        let of = CeremonyFor { id: cid, user: Some(user), factor: Some(record.id), kind: &record.kind };
        let ttl = inner.settings.enrolment_ttl;
        let new = self.ceremony(of, CeremonyPurpose::Enrolment, Some(ceremony), ttl, Some(expires_at), now);
        inner.store.put_ceremony(&new).await?;
        let update = FactorUpdate { enrolment: Some(cid), ..FactorUpdate::default() };
        let record = inner.store.update_factor(user, &record.id, &update).await?;
        inner.store.take_ceremony(Some(user), &old, now).await?;
        Ok(EnrolmentStart { factor: record.summary(), prompt: plan.prompt, expires_at })
    }
}
