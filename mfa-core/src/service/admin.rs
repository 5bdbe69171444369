//! Help-desk operations behind an [`Admin`] handle, and erasure.

use super::helpdesk::{FactorState, MfaStatus};
use super::*;
use crate::adapter::FactorImport;
use crate::events::AdminOperation;
use crate::store::{Coverage, RecordCounts};

/// A user may hold this many active factors; an import beyond it is refused.
pub(super) const MAX_ACTIVE_FACTORS: usize = 32;

/// The handle for administrative operations, from [`Mfa::admin`] (an administrator,
/// checked by the host's [`AdminCheck`] before each operation) or [`Mfa::system`] (the host
/// itself, unchecked). Every event an operation records names the actor; the request
/// context of the [`Mfa`] it came from (address, user agent) is kept.
///
/// See [the module documentation](crate::admin) for the table of operations.
///
/// # Examples
///
/// ```
/// use mfa_core::admin::Administrators;
/// use mfa_core::{AeadSealer, Error, Mfa, UserId};
/// use mfa_store_memory::MemoryStore;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let root = UserId::new("root")?;
/// let mfa = Mfa::builder()
///     .store(MemoryStore::new())
///     .sealer(AeadSealer::ephemeral()?)
///     .admin_check(Administrators::new([root.clone()]))
///     .build()?;
/// let alice = UserId::new("alice")?;
///
/// let status = mfa.admin(&root).status(&alice).await?;
/// assert!(!status.has_active_factor());
///
/// // Anyone else is refused, and the refusal is an audit event.
/// let refused = mfa.admin(&alice).reset(&alice).await;
/// assert!(matches!(refused, Err(Error::Forbidden)));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Admin {
    mfa: Mfa,
    /// The administrator; `None` for the host itself.
    admin: Option<UserId>,
}

impl Mfa {
    /// The administrative operations, performed by `admin`: each asks the host's
    /// [`AdminCheck`] first and is refused with [`Error::Forbidden`] (and an
    /// [`EventKind::AdminRefused`] event) if it says no or if none was configured.
    ///
    /// # Examples
    ///
    /// ```
    /// # use mfa_core::admin::Administrators;
    /// # use mfa_core::{AeadSealer, Mfa, UserId};
    /// # use mfa_store_memory::MemoryStore;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let root = UserId::new("root")?;
    /// # let mfa = Mfa::builder()
    /// #     .store(MemoryStore::new())
    /// #     .sealer(AeadSealer::ephemeral()?)
    /// #     .factor(mfa_otp::TotpFactor::new("Example")?)
    /// #     .admin_check(Administrators::new([root.clone()]))
    /// #     .build()?;
    /// # let alice = UserId::new("alice")?;
    /// let helpdesk = mfa.admin(&root);
    /// assert_eq!(helpdesk.actor(), Some(&root));
    /// assert!(helpdesk.status(&alice).await.is_ok());
    /// # Ok(())
    /// # }
    /// ```
    pub fn admin(&self, admin: &UserId) -> Admin {
        let mut context = self.context.as_deref().cloned().unwrap_or_default();
        context.actor = Actor::Admin(admin.clone());
        Admin { mfa: self.with_context(context), admin: Some(admin.clone()) }
    }

    /// The administrative operations, performed by the host itself (a migration, a
    /// scheduled erasure): nothing is asked, and events name the actor `system`. Never wire
    /// this to a request a user or an administrator makes; use [`Mfa::admin`] there.
    ///
    /// # Examples
    ///
    /// ```
    /// # use mfa_core::admin::Administrators;
    /// # use mfa_core::{AeadSealer, Mfa, UserId};
    /// # use mfa_store_memory::MemoryStore;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let root = UserId::new("root")?;
    /// # let mfa = Mfa::builder()
    /// #     .store(MemoryStore::new())
    /// #     .sealer(AeadSealer::ephemeral()?)
    /// #     .factor(mfa_otp::TotpFactor::new("Example")?)
    /// #     .admin_check(Administrators::new([root.clone()]))
    /// #     .build()?;
    /// # let alice = UserId::new("alice")?;
    /// let host = mfa.system();
    /// assert_eq!(host.actor(), None);
    /// assert_eq!(host.coverage(3).await?.users_with_factor, 0);
    /// # Ok(())
    /// # }
    /// ```
    pub fn system(&self) -> Admin {
        let mut context = self.context.as_deref().cloned().unwrap_or_default();
        context.actor = Actor::System;
        Admin { mfa: self.with_context(context), admin: None }
    }

    /// The counter keys the service derives for `user` (delivery caps of the user, of their
    /// factors and of their destinations; the open-challenge bound), for erasure.
    async fn user_counter_keys(&self, user: &UserId, factors: &[FactorRecord]) -> Vec<String> {
        let mut destinations = Vec::new();
        for f in factors {
            let is_oob =
                self.adapter(&f.kind).is_ok_and(|a| a.needs_challenge(&f.kind) && !a.verify_needs_secret(&f.kind));
            if is_oob && let Ok(Some(secret)) = self.open(f) {
                destinations.extend(String::from_utf8(secret.expose().to_vec()).ok());
            }
        }
        let ids: Vec<FactorId> = factors.iter().map(|f| f.id).collect();
        gate::user_counter_keys(user, &ids, &destinations)
    }
}

impl Admin {
    /// Asks the host whether this operation may go ahead.
    pub(super) async fn authorise(&self, operation: AdminOperation, subject: Option<&UserId>) -> Result<()> {
        let Some(admin) = &self.admin else { return Ok(()) };
        let inner = &self.mfa.inner;
        let allowed = match &inner.admin_check {
            Some(check) => check.may(admin, operation, subject).await,
            None => false,
        };
        if allowed {
            return Ok(());
        }
        let now = self.mfa.now();
        let key = RefusalKey::Admin { admin: admin.clone(), operation };
        self.mfa.report_refusals(inner.refusals.refuse(key, now), now).await;
        Err(Error::Forbidden)
    }

    /// The user's MFA as a help desk needs it: every factor with its failure counter, the
    /// recovery codes left, remembered devices, and an unused temporary access code.
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`] if the check refuses; [`Error::Backend`] if the store fails.
    ///
    /// # Examples
    ///
    /// ```
    /// # use mfa_core::admin::Administrators;
    /// # use mfa_core::{AeadSealer, Mfa, UserId};
    /// # use mfa_store_memory::MemoryStore;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let root = UserId::new("root")?;
    /// # let mfa = Mfa::builder()
    /// #     .store(MemoryStore::new())
    /// #     .sealer(AeadSealer::ephemeral()?)
    /// #     .factor(mfa_otp::TotpFactor::new("Example")?)
    /// #     .admin_check(Administrators::new([root.clone()]))
    /// #     .build()?;
    /// # let alice = UserId::new("alice")?;
    /// # use mfa_core::{admin::FactorImport, FactorKind, SecretBytes};
    /// # let app = FactorImport::new(FactorKind::TOTP, SecretBytes::new(b"12345678901234567890".to_vec()));
    /// # mfa.system().import_factor(&alice, app).await?;
    /// let status = mfa.admin(&root).status(&alice).await?;
    /// assert_eq!(status.factors.len(), 1);
    /// assert_eq!(status.factors[0].failures, 0);
    /// assert_eq!(status.recovery_codes_remaining, 0);
    /// # Ok(())
    /// # }
    /// ```
    #[cfg_attr(feature = "spans", tracing::instrument(level = "debug", skip_all, fields(%user, admin = ?self.admin)))]
    pub async fn status(&self, user: &UserId) -> Result<MfaStatus> {
        self.authorise(AdminOperation::Status, Some(user)).await?;
        let mfa = &self.mfa;
        let store = &mfa.inner.store;
        let now = mfa.now();
        let records = store.list_factors(user).await?;
        let mut ranked: Vec<&FactorRecord> = ranked_active(&records);
        ranked.extend(records.iter().filter(|f| !f.is_active()));
        let mut factors = Vec::with_capacity(ranked.len());
        for record in ranked {
            let state = store.get_throttle(user, &ThrottleScope::Factor(record.id)).await?;
            let throttle = mfa.throttle_for(record);
            factors.push(FactorState {
                factor: record.summary(),
                failures: state.failures,
                locked_until: throttle.wait(&state, now).map(|d| now.saturating_add(d)),
                disabled: throttle.exhausted(&state),
            });
        }
        let codes = store.get_throttle(user, &ThrottleScope::RecoveryCodes).await?;
        let throttle = mfa.inner.settings.throttle;
        let temporary = store.get_ceremony(Some(user), &temporary_access_id(user), now).await?;
        Ok(MfaStatus {
            user: user.clone(),
            factors,
            recovery_codes_remaining: store.count_recovery_codes(user).await?,
            recovery_codes_locked_until: throttle.wait(&codes, now).map(|d| now.saturating_add(d)),
            recovery_codes_disabled: throttle.exhausted(&codes),
            remembered_devices: store.list_device_tokens(user).await?.len(),
            temporary_access_expires_at: temporary
                .filter(|c| c.purpose == CeremonyPurpose::TemporaryAccess && c.attempts < c.max_attempts)
                .map(|c| c.expires_at),
        })
    }

    /// Resets the user's MFA: every factor (pending ones included), recovery code,
    /// ceremony (enrolments, challenges, a temporary access code), remembered device and
    /// failure counter goes, atomically. The user signs in with the password alone
    /// afterwards (or is prompted to enrol, as the host's policy says); issue a temporary
    /// access code if the policy requires a second factor. Returns what was removed.
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`] if the check refuses; [`Error::Backend`] if the store fails
    /// (nothing was removed then).
    ///
    /// # Examples
    ///
    /// ```
    /// # use mfa_core::admin::Administrators;
    /// # use mfa_core::{AeadSealer, Mfa, UserId};
    /// # use mfa_store_memory::MemoryStore;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let root = UserId::new("root")?;
    /// # let mfa = Mfa::builder()
    /// #     .store(MemoryStore::new())
    /// #     .sealer(AeadSealer::ephemeral()?)
    /// #     .factor(mfa_otp::TotpFactor::new("Example")?)
    /// #     .admin_check(Administrators::new([root.clone()]))
    /// #     .build()?;
    /// # let alice = UserId::new("alice")?;
    /// # use mfa_core::{admin::FactorImport, FactorKind, SecretBytes};
    /// # let app = FactorImport::new(FactorKind::TOTP, SecretBytes::new(b"12345678901234567890".to_vec()));
    /// # mfa.system().import_factor(&alice, app).await?;
    /// let removed = mfa.admin(&root).reset(&alice).await?;
    /// assert_eq!(removed.factors, 1);
    /// assert!(mfa.list_factors(&alice).await?.is_empty());
    /// # Ok(())
    /// # }
    /// ```
    #[cfg_attr(feature = "spans", tracing::instrument(level = "debug", skip_all, fields(%user, admin = ?self.admin)))]
    pub async fn reset(&self, user: &UserId) -> Result<RecordCounts> {
        self.authorise(AdminOperation::Reset, Some(user)).await?;
        let mfa = &self.mfa;
        let before = mfa.inner.store.list_factors(user).await?;
        let removed = mfa.inner.store.reset_user(user).await?;
        mfa.evict_secrets(&before);
        mfa.emit(user, mfa.now(), EventKind::MfaReset { removed }).await;
        Ok(removed)
    }

    /// Clears failure counters: of one factor, of recovery codes, of temporary access or
    /// device tokens (`Some(scope)`), or all of the user's (`None`). A locked or hard-stopped
    /// factor works again at once. Returns how many counters were cleared (were not clear).
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`] if the check refuses; [`Error::NotFound`] for a factor the user
    /// does not have; [`Error::Backend`] if the store fails.
    ///
    /// # Examples
    ///
    /// ```
    /// # use mfa_core::admin::Administrators;
    /// # use mfa_core::{AeadSealer, Mfa, UserId};
    /// # use mfa_store_memory::MemoryStore;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let root = UserId::new("root")?;
    /// # let mfa = Mfa::builder()
    /// #     .store(MemoryStore::new())
    /// #     .sealer(AeadSealer::ephemeral()?)
    /// #     .factor(mfa_otp::TotpFactor::new("Example")?)
    /// #     .admin_check(Administrators::new([root.clone()]))
    /// #     .build()?;
    /// # let alice = UserId::new("alice")?;
    /// use mfa_core::store::ThrottleScope;
    /// // A wrong temporary access code counts a failure in its own scope.
    /// let _ = mfa.verify_temporary_access(&alice, "AAAA-AAAA-AAAA-AAAA-AAAA").await;
    /// let cleared = mfa.admin(&root).unlock(&alice, Some(ThrottleScope::TemporaryAccess)).await?;
    /// assert_eq!(cleared, 1);
    /// assert_eq!(mfa.admin(&root).unlock(&alice, None).await?, 0, "nothing left to clear");
    /// # Ok(())
    /// # }
    /// ```
    #[cfg_attr(feature = "spans", tracing::instrument(level = "debug", skip_all, fields(%user, admin = ?self.admin)))]
    pub async fn unlock(&self, user: &UserId, scope: Option<ThrottleScope>) -> Result<u32> {
        self.authorise(AdminOperation::Unlock, Some(user)).await?;
        let mfa = &self.mfa;
        let store = &mfa.inner.store;
        let scopes = match scope {
            Some(ThrottleScope::Factor(id)) => {
                store.get_factor(user, &id).await?.ok_or(Error::NotFound)?;
                vec![ThrottleScope::Factor(id)]
            }
            Some(scope) => vec![scope],
            None => {
                let mut all =
                    vec![ThrottleScope::RecoveryCodes, ThrottleScope::DeviceTokens, ThrottleScope::TemporaryAccess];
                all.extend(store.list_factors(user).await?.iter().map(|f| ThrottleScope::Factor(f.id)));
                all
            }
        };
        let now = mfa.now();
        let mut cleared = 0;
        for scope in scopes {
            let state = store.get_throttle(user, &scope).await?;
            if state == ThrottleState::default() {
                continue;
            }
            mfa.throttle_reset(user, &scope, state).await?;
            mfa.settle_refusals(user, scope, now).await;
            mfa.emit(user, now, EventKind::Unlocked { scope }).await;
            cleared += 1;
        }
        Ok(cleared)
    }

    /// Imports a factor another system already proved (a migration): active at once,
    /// sealed like any other, replay-protected from the last step the other system used.
    /// The first active factor becomes preferred.
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`] if the check refuses; [`Error::Unsupported`] for a kind
    /// without an adapter or one that cannot import; [`Error::InvalidInput`] for a secret,
    /// parameter or label the adapter refuses, or a user who already has
    /// 32 active factors.
    ///
    /// # Examples
    ///
    /// ```
    /// # use mfa_core::admin::Administrators;
    /// # use mfa_core::{AeadSealer, Mfa, UserId};
    /// # use mfa_store_memory::MemoryStore;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let root = UserId::new("root")?;
    /// # let mfa = Mfa::builder()
    /// #     .store(MemoryStore::new())
    /// #     .sealer(AeadSealer::ephemeral()?)
    /// #     .factor(mfa_otp::TotpFactor::new("Example")?)
    /// #     .admin_check(Administrators::new([root.clone()]))
    /// #     .build()?;
    /// # let alice = UserId::new("alice")?;
    /// use mfa_core::{admin::FactorImport, FactorKind, FactorStatus, SecretBytes};
    ///
    /// let app = FactorImport::new(FactorKind::TOTP, SecretBytes::new(b"12345678901234567890".to_vec()))
    ///     .parameter("digits", "6")
    ///     .parameter("period", "30")
    ///     .parameter("algorithm", "SHA1")
    ///     .last_used_step(56_666_666);
    /// let factor = mfa.admin(&root).import_factor(&alice, app).await?;
    /// assert_eq!((factor.status, factor.preferred), (FactorStatus::Active, true));
    /// # Ok(())
    /// # }
    /// ```
    #[cfg_attr(feature = "spans", tracing::instrument(level = "debug", skip_all, fields(%user, admin = ?self.admin)))]
    pub async fn import_factor(&self, user: &UserId, import: FactorImport) -> Result<FactorSummary> {
        self.authorise(AdminOperation::Import, Some(user)).await?;
        let mfa = &self.mfa;
        let inner = &mfa.inner;
        let now = mfa.now();
        let adapter = mfa.adapter(&import.kind)?;
        let label = import.label.as_deref().map(validate_label).transpose()?;
        let plan = adapter.import_factor(&import.kind, &import)?;
        let factors = inner.store.list_factors(user).await?;
        if factors.iter().filter(|f| f.is_active()).count() >= MAX_ACTIVE_FACTORS {
            return Err(Error::InvalidInput { field: "user", reason: "has too many factors to import another" });
        }
        let label = match label {
            Some(label) => label,
            None => default_label(&adapter.default_label(&import.kind), &factors),
        };
        let id = FactorId::random()?;
        let expires = now.saturating_add(inner.settings.enrolment_ttl);
        let mut record =
            FactorRecord::pending(id, user.clone(), import.kind.clone(), label, plan.assurance, now, expires);
        record.secret = Some(mfa.seal(user, &id, &plan.secret)?);
        record.data = plan.data;
        record.details = plan.details;
        record.replay_marker = plan.replay_marker;
        inner.store.insert_factor(&record).await?;
        let active = inner.store.activate_factor(user, &id, now).await?;
        mfa.emit(user, now, EventKind::FactorAdded { factor: id, kind: import.kind }).await;
        Ok(active.summary())
    }

    /// Deployment-wide coverage: users per factor kind, users holding state but no active
    /// factor, users with fewer than `few_codes` recovery codes left.
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`] if the check refuses; [`Error::Backend`] if the store fails.
    ///
    /// # Examples
    ///
    /// ```
    /// # use mfa_core::admin::Administrators;
    /// # use mfa_core::{AeadSealer, Mfa, UserId};
    /// # use mfa_store_memory::MemoryStore;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let root = UserId::new("root")?;
    /// # let mfa = Mfa::builder()
    /// #     .store(MemoryStore::new())
    /// #     .sealer(AeadSealer::ephemeral()?)
    /// #     .factor(mfa_otp::TotpFactor::new("Example")?)
    /// #     .admin_check(Administrators::new([root.clone()]))
    /// #     .build()?;
    /// # let alice = UserId::new("alice")?;
    /// # use mfa_core::{admin::FactorImport, FactorKind, SecretBytes};
    /// # let app = FactorImport::new(FactorKind::TOTP, SecretBytes::new(b"12345678901234567890".to_vec()));
    /// # mfa.system().import_factor(&alice, app).await?;
    /// let coverage = mfa.admin(&root).coverage(3).await?;
    /// assert_eq!(coverage.users_with_kind("totp"), 1);
    /// assert_eq!(coverage.users_with_few_codes, 1, "alice has no recovery codes");
    /// # Ok(())
    /// # }
    /// ```
    #[cfg_attr(feature = "spans", tracing::instrument(level = "debug", skip_all, fields(admin = ?self.admin)))]
    pub async fn coverage(&self, few_codes: usize) -> Result<Coverage> {
        self.authorise(AdminOperation::Coverage, None).await?;
        Ok(self.mfa.inner.store.coverage(few_codes).await?)
    }

    /// Erases everything the library holds for the user: what [`Admin::reset`] removes,
    /// the counters keyed by the user, their factors and their destinations, what the
    /// event sink keeps ([`EventSink::forget`]) and what the service caches in memory. The
    /// [`EventKind::UserErased`] event names no user, only a digest of the id.
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`] if the check refuses; [`Error::Backend`] if the store or the
    /// sink fails (the erasure can be repeated).
    ///
    /// # Examples
    ///
    /// ```
    /// # use mfa_core::admin::Administrators;
    /// # use mfa_core::{AeadSealer, Mfa, UserId};
    /// # use mfa_store_memory::MemoryStore;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let root = UserId::new("root")?;
    /// # let mfa = Mfa::builder()
    /// #     .store(MemoryStore::new())
    /// #     .sealer(AeadSealer::ephemeral()?)
    /// #     .factor(mfa_otp::TotpFactor::new("Example")?)
    /// #     .admin_check(Administrators::new([root.clone()]))
    /// #     .build()?;
    /// # let alice = UserId::new("alice")?;
    /// # use mfa_core::{admin::FactorImport, FactorKind, SecretBytes};
    /// # let app = FactorImport::new(FactorKind::TOTP, SecretBytes::new(b"12345678901234567890".to_vec()));
    /// # mfa.system().import_factor(&alice, app).await?;
    /// let removed = mfa.admin(&root).erase(&alice).await?;
    /// assert_eq!(removed.factors, 1);
    /// assert!(mfa.admin(&root).status(&alice).await?.factors.is_empty());
    /// # Ok(())
    /// # }
    /// ```
    #[cfg_attr(feature = "spans", tracing::instrument(level = "debug", skip_all, fields(%user, admin = ?self.admin)))]
    pub async fn erase(&self, user: &UserId) -> Result<RecordCounts> {
        self.authorise(AdminOperation::Erase, Some(user)).await?;
        let mfa = &self.mfa;
        let inner = &mfa.inner;
        let factors = inner.store.list_factors(user).await?;
        let keys = mfa.user_counter_keys(user, &factors).await;
        let removed = inner.store.erase_user(user, &keys).await?;
        mfa.evict_secrets(&factors);
        inner.refusals.forget(user);
        inner.events.forget(user).await?;
        let subject = user_digest(user);
        mfa.emit_to(None, mfa.now(), EventKind::UserErased { subject, removed }).await;
        Ok(removed)
    }

    /// Whom this handle acts as: the administrator, or `None` for the host itself.
    ///
    /// # Examples
    ///
    /// ```
    /// # use mfa_core::admin::Administrators;
    /// # use mfa_core::{AeadSealer, Mfa, UserId};
    /// # use mfa_store_memory::MemoryStore;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let root = UserId::new("root")?;
    /// # let mfa = Mfa::builder()
    /// #     .store(MemoryStore::new())
    /// #     .sealer(AeadSealer::ephemeral()?)
    /// #     .factor(mfa_otp::TotpFactor::new("Example")?)
    /// #     .admin_check(Administrators::new([root.clone()]))
    /// #     .build()?;
    /// # let alice = UserId::new("alice")?;
    /// assert_eq!(mfa.admin(&root).actor(), Some(&root));
    /// assert_eq!(mfa.system().actor(), None);
    /// # Ok(())
    /// # }
    /// ```
    pub fn actor(&self) -> Option<&UserId> {
        self.admin.as_ref()
    }

    /// The service handle operations run through (carrying the admin's context).
    pub(super) fn service(&self) -> &Mfa {
        &self.mfa
    }
}

impl Mfa {
    /// Forgets opened secrets of removed factors.
    fn evict_secrets(&self, removed: &[FactorRecord]) {
        if let Some(cache) = &self.inner.opened {
            for f in removed {
                cache.evict(&f.id);
            }
        }
    }
}

/// The id of the user's one temporary access ceremony: derived from the user id, so a
/// store needs no index to find it and a new code replaces the old.
pub(super) fn temporary_access_id(user: &UserId) -> CeremonyId {
    use sha2::{Digest, Sha256};
    let digest = Sha256::new().chain_update(b"mfa-rs/temporary-access/v1\0").chain_update(user.as_str()).finalize();
    let mut id = [0u8; 16];
    id.copy_from_slice(&digest[..16]);
    CeremonyId::from_bytes(id)
}

/// Lowercase hex SHA-256 of the user id, for the erasure event.
fn user_digest(user: &UserId) -> String {
    use sha2::{Digest, Sha256};
    data_encoding::HEXLOWER.encode(&Sha256::digest(user.as_str().as_bytes()))
}
