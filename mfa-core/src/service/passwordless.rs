//! Passwordless sign-in with a passkey, for callers nobody has authenticated yet.

use super::*;

impl Mfa {
    /// Starts a passwordless sign-in: the browser offers the user's passkeys for this site
    /// and the one chosen names the account. Nothing about any user is needed or revealed.
    ///
    /// The endpoint that calls this is reachable before sign-in: rate-limit it by client
    /// address like any other unauthenticated endpoint. Each call stores a ceremony until
    /// it is used or expires; across the deployment at most
    /// [`StateLimits::passwordless`](crate::limits::StateLimits) are started per window, so
    /// unauthenticated callers can make the store hold at most twice that many unexpired
    /// ceremonies (and [`Store::purge_expired`] removes the expired ones).
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] if no adapter for `kind` supports passwordless sign-in;
    /// [`Error::LimitReached`] past the deployment-wide bound.
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
    /// // Passwordless sign-in needs an adapter that supports it: passkeys, from
    /// // `mfa-webauthn` (`.factor(WebAuthnFactor::..)` on the builder). There, this returns
    /// // the WebAuthn request options to hand to the browser. Without one:
    /// let started = mfa.start_passwordless(&FactorKind::PASSKEY).await;
    /// assert!(matches!(started, Err(Error::Unsupported)));
    /// // An authenticator app cannot name the account on its own either.
    /// assert!(matches!(mfa.start_passwordless(&FactorKind::TOTP).await, Err(Error::Unsupported)));
    /// # Ok(())
    /// # }
    /// ```
    #[cfg_attr(feature = "spans", tracing::instrument(level = "debug", skip_all, fields(%kind)))]
    pub async fn start_passwordless(&self, kind: &FactorKind) -> Result<PasswordlessChallenge> {
        let inner = &self.inner;
        let now = self.now();
        let adapter = self.adapter(kind)?;
        if let Err(retry_after) =
            self.count_in_window(PASSWORDLESS_KEY, inner.settings.limits.passwordless, now).await?
        {
            return Err(self.limit_reached(None, StateLimit::Passwordless, retry_after, now).await);
        }
        let id = CeremonyId::random()?;
        let plan = adapter.start_passwordless(&PasswordlessContext::new(kind, now, &id)).await?;
        let of = CeremonyFor { id, user: None, factor: None, kind };
        let ceremony =
            self.ceremony(of, CeremonyPurpose::Challenge, plan.ceremony, inner.settings.challenge_ttl, None, now);
        inner.store.put_ceremony(&ceremony).await?;
        Ok(PasswordlessChallenge { id, prompt: plan.prompt, expires_at: ceremony.expires_at })
    }

    /// Completes a passwordless sign-in. The proof names its credential; only a credential
    /// of the kind the ceremony was started for (a passkey, never an older device) that
    /// verifies the user signs in. The result names the user.
    ///
    /// Nobody is authenticated here: the credential id a caller sends is not secret (it is
    /// in every `allowCredentials` list), and a bad signature proves nothing about its
    /// owner. So a failure costs the caller its ceremony and is reported to audit
    /// ([`EventKind::PasswordlessFailed`]), but never counts against, locks or disables
    /// the user's factor (SECURITY.md S23). A factor disabled by a hard stop stays
    /// disabled here too.
    ///
    /// # Errors
    ///
    /// [`Error::Expired`] for an unknown, expired or used ceremony; [`Error::InvalidCode`]
    /// for an unknown credential, one that may not sign in without a password, or a proof
    /// that does not verify; [`Error::Disabled`] for a factor disabled by a hard stop.
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
    /// use mfa_core::CeremonyId;
    ///
    /// // The browser's answer, posted back with the id `start_passwordless` returned. With a
    /// // passkey adapter (`mfa-webauthn`), a valid answer yields a `Verified` naming the user.
    /// let answer = Proof::credential(r#"{"id":"AAAA","type":"public-key"}"#)?;
    ///
    /// // A ceremony that is unknown, expired or used signs nobody in.
    /// let unknown = CeremonyId::random()?;
    /// assert!(matches!(mfa.finish_passwordless(&unknown, &answer).await, Err(Error::Expired)));
    /// # Ok(())
    /// # }
    /// ```
    #[cfg_attr(feature = "spans", tracing::instrument(level = "debug", skip_all))]
    pub async fn finish_passwordless(&self, challenge: &CeremonyId, proof: &Proof) -> Result<Verified> {
        let inner = &self.inner;
        let now = self.now();
        // Malformed input is refused before anything is counted.
        let peek = inner.store.get_ceremony(None, challenge, now).await?.ok_or(Error::Expired)?;
        let adapter = self.adapter(&peek.kind)?;
        adapter.check_proof(&peek.kind, ProofStep::SignIn, proof)?;
        let key = adapter
            .identify(&peek.kind, proof)?
            .ok_or(Error::InvalidInput { field: "credential", reason: "names no credential" })?;
        let ceremony = inner.store.attempt_ceremony(None, challenge, now).await?.ok_or(Error::Expired)?;
        if ceremony.purpose != CeremonyPurpose::Challenge || ceremony.factor.is_some() {
            return Err(Error::Expired);
        }
        let Some(record) = inner.store.find_factor_by_lookup_key(&key).await? else {
            self.report_refusals(self.inner.refusals.refuse(RefusalKey::UnknownCredential, now), now).await;
            return Err(Error::InvalidCode);
        };
        if !record.is_active() || record.kind != ceremony.kind {
            self.passwordless_failed(&record, now).await;
            return Err(Error::InvalidCode);
        }
        let user = record.user.clone();
        let required = Some(Assurance::PhishingResistantMultiFactor);
        self.verify_record(&user, &record, Some(&ceremony), proof, now, required, Counting::Unauthenticated).await
    }

    /// Reports a failed passwordless sign-in against `record`'s owner, aggregated.
    pub(super) async fn passwordless_failed(&self, record: &FactorRecord, now: Timestamp) {
        let key = RefusalKey::Passwordless { user: record.user.clone(), factor: record.id };
        self.report_refusals(self.inner.refusals.refuse(key, now), now).await;
    }
}
