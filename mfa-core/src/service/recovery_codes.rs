//! Recovery codes: generate, regenerate, sign in with one.

use super::*;

impl Mfa {
    /// Generates the user's first set of recovery codes. Show them once; only hashes are
    /// kept. Recovery codes exist only alongside an active factor: generate them once the
    /// first factor is active (its enrolment proved it: a host may stamp
    /// [`FreshAuth::with_mfa`] with the time [`Mfa::finish_enrolment`] succeeded).
    ///
    /// # Errors
    ///
    /// [`Error::AlreadyExists`] if unused codes remain (use
    /// [`Mfa::regenerate_recovery_codes`]); [`Error::ReauthRequired`] /
    /// [`Error::MfaRequired`] without fresh authentication; [`Error::FactorRequired`] if the
    /// user has no active factor.
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
    /// // A password alone never mints codes.
    /// let password_only = FreshAuth::primary(mfa.now());
    /// assert!(matches!(mfa.generate_recovery_codes(&alice, &password_only).await, Err(Error::FactorRequired)));
    /// # let password_only = FreshAuth::primary(mfa.now());
    /// # let start = mfa.start_enrolment(&alice, &password_only, EnrolmentRequest::new(FactorKind::TOTP)).await?;
    /// # let Prompt::SharedSecret(secret) = &start.prompt else { unreachable!() };
    /// # let key = data_encoding::BASE32_NOPAD.decode(secret.secret_base32.expose().as_bytes())?;
    /// # let app_code = || totp.code_at(&key, mfa.now().unix_secs() as u64);
    /// # mfa.finish_enrolment(&alice, &password_only, &start.factor.id, &Proof::code(&app_code()?)?).await?;
    /// # let app = start.factor.id;
    /// # clock.advance(Duration::from_secs(30)); // the enrolment's code is used up
    /// // Alice just finished adding her app: that proved MFA.
    /// let fresh = FreshAuth::primary(mfa.now()).with_mfa(mfa.now());
    /// let codes = mfa.generate_recovery_codes(&alice, &fresh).await?;
    /// assert_eq!(codes.len(), 10);
    /// let sheet = codes.to_text("Example"); // show once, or offer as a download
    /// assert!(sheet.expose().contains(codes.codes()[0].expose()));
    /// assert_eq!(mfa.recovery_codes_remaining(&alice).await?, 10);
    ///
    /// // A new set replaces the old with `regenerate_recovery_codes`.
    /// assert!(matches!(mfa.generate_recovery_codes(&alice, &fresh).await, Err(Error::AlreadyExists)));
    /// # Ok(())
    /// # }
    /// ```
    #[cfg_attr(feature = "spans", tracing::instrument(level = "debug", skip_all, fields(%user)))]
    pub async fn generate_recovery_codes(&self, user: &UserId, fresh: &FreshAuth) -> Result<RecoveryCodeSet> {
        if self.inner.store.count_recovery_codes(user).await? > 0 {
            return Err(Error::AlreadyExists);
        }
        self.regenerate_recovery_codes(user, fresh).await
    }

    /// Replaces the user's recovery codes with a new set, all at once: every old code stops
    /// working.
    ///
    /// # Errors
    ///
    /// [`Error::ReauthRequired`] / [`Error::MfaRequired`] without fresh authentication;
    /// [`Error::FactorRequired`] if the user has no active factor. A password alone can
    /// never mint codes that count: without a factor there are none, and with one, recent
    /// MFA is needed. (Codes stored while the last factor is removed concurrently never
    /// count either: [`Mfa::verify_recovery_code`] needs an active factor, and the next
    /// first factor discards them.)
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
    /// let fresh = FreshAuth::primary(mfa.now()).with_mfa(mfa.now());
    /// let old = mfa.generate_recovery_codes(&alice, &fresh).await?;
    ///
    /// let new = mfa.regenerate_recovery_codes(&alice, &fresh).await?;
    /// assert_eq!(new.len(), 10);
    /// // Every old code stopped working.
    /// let old_code = old.codes()[0].expose();
    /// assert!(matches!(mfa.verify_recovery_code(&alice, old_code).await, Err(Error::InvalidCode)));
    ///
    /// // It takes recent MFA.
    /// let password_only = FreshAuth::primary(mfa.now());
    /// assert!(matches!(mfa.regenerate_recovery_codes(&alice, &password_only).await, Err(Error::MfaRequired)));
    /// # Ok(())
    /// # }
    /// ```
    #[cfg_attr(feature = "spans", tracing::instrument(level = "debug", skip_all, fields(%user)))]
    pub async fn regenerate_recovery_codes(&self, user: &UserId, fresh: &FreshAuth) -> Result<RecoveryCodeSet> {
        let inner = &self.inner;
        let now = self.now();
        let factors = inner.store.list_factors(user).await?;
        self.check_fresh(fresh, now, &factors)?;
        if !factors.iter().any(FactorRecord::is_active) {
            return Err(Error::FactorRequired);
        }
        let settings = inner.settings.recovery_codes;
        let codes = recovery::generate_codes(settings.count)?;
        let hashed = recovery::blocking(move || -> Result<(Vec<RecoveryCodeRecord>, RecoveryCodeSet)> {
            let mut records = Vec::with_capacity(codes.len());
            let mut shown = Vec::with_capacity(codes.len());
            for (lookup, code) in &codes {
                let parsed = recovery::parse_code(code.expose())?;
                let hash = recovery::hash_secret(&settings.hash_params, &parsed.secret)?;
                records.push(RecoveryCodeRecord::new(lookup.clone(), hash, now));
                shown.push(recovery::format_code(code));
            }
            Ok((records, RecoveryCodeSet::from_codes(shown)))
        })
        .await??;
        let (records, set) = hashed;
        // Remembered devices go first: if we are interrupted after that, the old codes
        // still work (and the devices are gone, the cautious side). Replacing the codes is
        // the one step that commits, and nothing after it can fail.
        if inner.settings.devices.revoke_on_recovery_regeneration {
            self.revoke_all_devices(user).await?;
        }
        inner.store.replace_recovery_codes(user, &records).await?;
        self.emit(user, now, EventKind::RecoveryCodesGenerated { count: records.len() }).await;
        Ok(set)
    }

    /// Signs in with a recovery code, using it up. Costs one argon2 verification whatever
    /// the number of codes held (and the same for an unknown code). Failures are throttled.
    /// Codes count only while the user has an active factor: without one, every code is
    /// refused like a wrong one.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for malformed input (nothing counted);
    /// [`Error::InvalidCode`] for a wrong or already used code; [`Error::Locked`] after
    /// too many failures.
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
    /// # let fresh = FreshAuth::primary(mfa.now()).with_mfa(mfa.now());
    /// # let codes = mfa.generate_recovery_codes(&alice, &fresh).await?;
    /// # let saved = codes.codes()[0].expose();
    /// // Alice lost her phone; she types one of the codes she saved.
    /// let verified = mfa.verify_recovery_code(&alice, saved).await?;
    /// assert_eq!(verified.assurance, Assurance::RecoveryCode);
    /// assert_eq!(mfa.recovery_codes_remaining(&alice).await?, 9);
    ///
    /// // Each code works once.
    /// assert!(matches!(mfa.verify_recovery_code(&alice, saved).await, Err(Error::InvalidCode)));
    /// # Ok(())
    /// # }
    /// ```
    #[cfg_attr(feature = "spans", tracing::instrument(level = "debug", skip_all, fields(%user)))]
    pub async fn verify_recovery_code(&self, user: &UserId, code: &str) -> Result<Verified> {
        let inner = &self.inner;
        let now = self.now();
        let parsed = recovery::parse_code(code)?;
        let scope = ThrottleScope::RecoveryCodes;
        let throttle = inner.settings.throttle;
        let attempt = self.throttle_begin(user, &scope, now, &throttle).await?;
        let stored = inner.store.get_recovery_code(user, &parsed.lookup).await?;
        let has_factor = stored.is_some() && inner.store.list_factors(user).await?.iter().any(FactorRecord::is_active);
        let settings = inner.settings.recovery_codes;
        let (hash, known) = match &stored {
            Some(record) => (Arc::new(record.hash.clone()), has_factor),
            None => (inner.dummy_hash.get(&settings.hash_params)?, false),
        };
        let secret = parsed.secret.clone();
        let hash_for_check = hash.clone();
        let matches =
            recovery::blocking(move || recovery::verify_secret(&settings.hash_floor, &hash_for_check, &secret))
                .await??;
        let consumed = known && matches && inner.store.consume_recovery_code(user, &parsed.lookup, &hash).await?;
        if !consumed {
            self.count_failure(user, (None, METHOD_RECOVERY_CODE), attempt, FailureReason::InvalidCode, now, &throttle)
                .await;
            return Err(Error::InvalidCode);
        }
        self.throttle_reset(user, &scope, attempt).await?;
        let remaining = inner.store.count_recovery_codes(user).await?;
        let assurance = Assurance::RecoveryCode;
        self.emit(
            user,
            now,
            EventKind::VerificationSucceeded { factor: None, method: METHOD_RECOVERY_CODE.to_owned(), assurance },
        )
        .await;
        self.emit(user, now, EventKind::RecoveryCodeUsed { remaining }).await;
        if remaining <= settings.low_watermark {
            self.emit(user, now, EventKind::RecoveryCodesLow { remaining }).await;
        }
        Ok(Verified::new(user.clone(), None, None, assurance, now))
    }

    /// How many unused recovery codes the user holds.
    ///
    /// # Errors
    ///
    /// [`Error::Backend`] if the store fails.
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
    /// assert_eq!(mfa.recovery_codes_remaining(&alice).await?, 0);
    /// let fresh = FreshAuth::primary(mfa.now()).with_mfa(mfa.now());
    /// let codes = mfa.generate_recovery_codes(&alice, &fresh).await?;
    /// assert_eq!(mfa.recovery_codes_remaining(&alice).await?, 10);
    ///
    /// mfa.verify_recovery_code(&alice, codes.codes()[0].expose()).await?;
    /// assert_eq!(mfa.recovery_codes_remaining(&alice).await?, 9);
    /// # Ok(())
    /// # }
    /// ```
    #[cfg_attr(feature = "spans", tracing::instrument(level = "debug", skip_all, fields(%user)))]
    pub async fn recovery_codes_remaining(&self, user: &UserId) -> Result<usize> {
        Ok(self.inner.store.count_recovery_codes(user).await?)
    }
}
