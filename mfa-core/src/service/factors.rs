//! Managing factors: list, rename, choose the preferred one, remove.

use super::*;

impl Mfa {
    /// The user's factors: active ones and pending enrolments that have not expired,
    /// oldest first.
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
    /// assert!(mfa.list_factors(&alice).await?.is_empty());
    ///
    /// let fresh = FreshAuth::primary(mfa.now());
    /// mfa.start_enrolment(&alice, &fresh, EnrolmentRequest::new(FactorKind::TOTP)).await?;
    /// let factors = mfa.list_factors(&alice).await?;
    /// assert_eq!(factors.len(), 1);
    /// assert_eq!(factors[0].status, FactorStatus::Pending);
    ///
    /// // An abandoned enrolment leaves the list once it expires.
    /// clock.advance(mfa.settings().enrolment_ttl + Duration::from_secs(1));
    /// assert!(mfa.list_factors(&alice).await?.is_empty());
    /// # Ok(())
    /// # }
    /// ```
    #[cfg_attr(feature = "spans", tracing::instrument(level = "debug", skip_all, fields(%user)))]
    pub async fn list_factors(&self, user: &UserId) -> Result<Vec<FactorSummary>> {
        let now = self.now();
        let mut factors: Vec<FactorRecord> =
            self.inner.store.list_factors(user).await?.into_iter().filter(|f| !f.is_expired(now)).collect();
        factors.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        Ok(factors.iter().map(FactorRecord::summary).collect())
    }

    /// One of the user's factors.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] if the user has no such (unexpired) factor.
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
    /// let factor = mfa.get_factor(&alice, &app).await?;
    /// assert_eq!(factor.kind, FactorKind::TOTP);
    /// assert_eq!(factor.status, FactorStatus::Active);
    ///
    /// // Another user's factor id is not found.
    /// let bob = UserId::new("bob")?;
    /// assert!(matches!(mfa.get_factor(&bob, &app).await, Err(Error::NotFound)));
    /// # Ok(())
    /// # }
    /// ```
    #[cfg_attr(feature = "spans", tracing::instrument(level = "debug", skip_all, fields(%user, %factor)))]
    pub async fn get_factor(&self, user: &UserId, factor: &FactorId) -> Result<FactorSummary> {
        let record = self.inner.store.get_factor(user, factor).await?.ok_or(Error::NotFound)?;
        if record.is_expired(self.now()) {
            return Err(Error::NotFound);
        }
        Ok(record.summary())
    }

    /// Renames a factor. Labels are trimmed, 1–64 characters, without control characters.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a bad label; [`Error::NotFound`] for an unknown factor.
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
    /// let renamed = mfa.rename_factor(&alice, &app, "  Work phone ").await?;
    /// assert_eq!(renamed.label, "Work phone");
    /// assert!(matches!(mfa.rename_factor(&alice, &app, " ").await, Err(Error::InvalidInput { .. })));
    /// # Ok(())
    /// # }
    /// ```
    #[cfg_attr(feature = "spans", tracing::instrument(level = "debug", skip_all, fields(%user, %factor)))]
    pub async fn rename_factor(&self, user: &UserId, factor: &FactorId, label: &str) -> Result<FactorSummary> {
        let label = validate_label(label)?;
        let now = self.now();
        let update = FactorUpdate { label: Some(label), ..FactorUpdate::default() };
        let record = self.inner.store.update_factor(user, factor, &update).await?;
        self.emit(user, now, EventKind::FactorRenamed { factor: *factor }).await;
        Ok(record.summary())
    }

    /// Makes an active factor the preferred one (the one challenges use by default).
    ///
    /// # Errors
    ///
    /// [`Error::ReauthRequired`] / [`Error::MfaRequired`] without fresh authentication;
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
    /// // Alice adds a second app; her first one proved MFA just now.
    /// let fresh = FreshAuth::primary(mfa.now()).with_mfa(mfa.now());
    /// let tablet = mfa.start_enrolment(&alice, &fresh, EnrolmentRequest::new(FactorKind::TOTP).label("Tablet")).await?;
    /// # let Prompt::SharedSecret(secret) = &tablet.prompt else { unreachable!() };
    /// # let key = data_encoding::BASE32_NOPAD.decode(secret.secret_base32.expose().as_bytes())?;
    /// # let tablet_code = totp.code_at(&key, mfa.now().unix_secs() as u64)?;
    /// mfa.finish_enrolment(&alice, &fresh, &tablet.factor.id, &Proof::code(&tablet_code)?).await?;
    /// assert!(!mfa.get_factor(&alice, &tablet.factor.id).await?.preferred);
    ///
    /// mfa.set_preferred(&alice, &fresh, &tablet.factor.id).await?;
    /// assert!(mfa.get_factor(&alice, &tablet.factor.id).await?.preferred);
    /// assert!(!mfa.get_factor(&alice, &app).await?.preferred);
    ///
    /// // A password alone is not enough once Alice has a factor.
    /// let password_only = FreshAuth::primary(mfa.now());
    /// assert!(matches!(mfa.set_preferred(&alice, &password_only, &app).await, Err(Error::MfaRequired)));
    /// # Ok(())
    /// # }
    /// ```
    #[cfg_attr(feature = "spans", tracing::instrument(level = "debug", skip_all, fields(%user, %factor)))]
    pub async fn set_preferred(&self, user: &UserId, fresh: &FreshAuth, factor: &FactorId) -> Result<()> {
        let now = self.now();
        let factors = self.inner.store.list_factors(user).await?;
        self.check_fresh(fresh, now, &factors)?;
        self.inner.store.set_preferred(user, factor).await?;
        self.emit(user, now, EventKind::PreferredChanged { factor: Some(*factor) }).await;
        Ok(())
    }

    /// Removes a factor (or cancels a pending enrolment). If it was preferred, the next
    /// factor is promoted: strongest assurance first, then most recently used. Removing the
    /// last active factor turns MFA off for the user and discards their recovery codes
    /// (they exist only alongside a factor, SECURITY.md S22).
    ///
    /// # Errors
    ///
    /// [`Error::ReauthRequired`] / [`Error::MfaRequired`] without fresh authentication;
    /// [`Error::NotFound`] for an unknown factor.
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
    /// mfa.generate_recovery_codes(&alice, &fresh).await?;
    ///
    /// mfa.remove_factor(&alice, &fresh, &app).await?;
    /// assert!(mfa.list_factors(&alice).await?.is_empty());
    /// // MFA is off for Alice, and her recovery codes went with her last factor.
    /// assert_eq!(mfa.recovery_codes_remaining(&alice).await?, 0);
    /// # Ok(())
    /// # }
    /// ```
    #[cfg_attr(feature = "spans", tracing::instrument(level = "debug", skip_all, fields(%user, %factor)))]
    pub async fn remove_factor(&self, user: &UserId, fresh: &FreshAuth, factor: &FactorId) -> Result<()> {
        let now = self.now();
        let factors = self.inner.store.list_factors(user).await?;
        self.check_fresh(fresh, now, &factors)?;
        let target = factors.iter().find(|f| f.id == *factor).ok_or(Error::NotFound)?;
        // Devices go before the factor, so an interruption never leaves a removed factor's
        // remembered devices behind.
        if target.is_active() && self.inner.settings.devices.revoke_on_factor_removal {
            self.revoke_all_devices(user).await?;
        }
        let removed = self.inner.store.delete_factor(user, factor).await?;
        if removed.is_active() {
            self.emit(user, now, EventKind::FactorRemoved { factor: removed.id, kind: removed.kind.clone() }).await;
            self.discard_recovery_codes(user, Discard::IfNoActiveFactor, now).await;
        }
        if removed.preferred {
            self.promote_preferred(user, now).await?;
        }
        Ok(())
    }

    /// Deletes the user's recovery codes, if any, with an event: they no longer count.
    /// Called after a commit, so a store failure is logged, not returned (the codes then
    /// stay, and still do not count: [`Mfa::verify_recovery_code`] needs an active factor).
    pub(super) async fn discard_recovery_codes(&self, user: &UserId, when: Discard, now: Timestamp) {
        let store = &self.inner.store;
        let discarded = async {
            if let Discard::IfNoActiveFactor = when
                && store.list_factors(user).await?.iter().any(FactorRecord::is_active)
            {
                return Ok(0);
            }
            let count = store.count_recovery_codes(user).await?;
            if count > 0 {
                store.replace_recovery_codes(user, &[]).await?;
            }
            Ok::<_, StoreError>(count)
        };
        match discarded.await {
            Ok(0) => {}
            Ok(count) => self.emit(user, now, EventKind::RecoveryCodesDiscarded { count }).await,
            Err(e) => tracing::warn!(error = %e, "could not discard recovery codes that no longer count"),
        }
    }

    /// Makes the best remaining active factor preferred if none is, in one atomic edit.
    pub(super) async fn promote_preferred(&self, user: &UserId, now: Timestamp) -> Result<()> {
        let plan = |factors: &[FactorRecord]| {
            let active = || factors.iter().filter(|f| f.is_active());
            Ok(match active().any(|f| f.preferred) {
                true => FactorEdit::default(),
                false => active()
                    .max_by_key(|f| rank(f))
                    .map_or_else(FactorEdit::default, |best| FactorEdit::default().prefer(best.id, true)),
            })
        };
        let before = self.inner.store.list_factors(user).await?;
        if before.iter().any(|f| f.is_active() && f.preferred) {
            return Ok(());
        }
        let after = self.inner.store.edit_factors(user, &plan).await?;
        let preferred = after.iter().find(|f| f.is_active() && f.preferred).map(|f| f.id);
        if !before.iter().any(|f| Some(f.id) == preferred && f.preferred) {
            self.emit(user, now, EventKind::PreferredChanged { factor: preferred }).await;
        }
        Ok(())
    }
}
