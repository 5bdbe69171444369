//! Temporary access codes: issued by an administrator for a user who lost every factor,
//! single use, hashed, throttled, expiring.
//!
//! A user holds at most one code, stored as a ceremony under an id derived from the user
//! ([`temporary_access_id`]), with the code's argon2id hash and the assurance it grants as
//! payload. Its attempt count bounds the guesses against it; taking the ceremony is the
//! single use.

use super::admin::Admin;
use super::admin::temporary_access_id;
use super::helpdesk::TemporaryAccessCode;
use super::*;
use crate::events::AdminOperation;

/// Tries to store a new code while racing issuers replace each other's.
const ISSUE_RETRIES: usize = 8;

/// The ceremony kind of a temporary access code (no adapter has it).
const KIND: FactorKind = FactorKind::from_static("temporary-access");

impl Admin {
    /// Issues a temporary access code for the user, replacing an unused one: single use,
    /// valid for `lifetime` (the configured default if `None`), allowing the configured
    /// number of wrong tries, and proving the configured assurance when the user signs in
    /// with it ([`Mfa::verify_temporary_access`]). Show the code once; only its hash is
    /// kept.
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`] if the check refuses; [`Error::InvalidInput`] for a lifetime
    /// of zero or beyond the configured maximum; [`Error::Backend`] if the store fails.
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
    /// let issued = mfa.admin(&root).issue_temporary_access(&alice, None).await?;
    /// let verified = mfa.verify_temporary_access(&alice, issued.code.expose()).await?;
    /// assert_eq!(verified.assurance, issued.assurance);
    ///
    /// // Single use.
    /// let again = mfa.verify_temporary_access(&alice, issued.code.expose()).await;
    /// assert!(matches!(again, Err(Error::InvalidCode)));
    /// # Ok(())
    /// # }
    /// ```
    #[cfg_attr(feature = "spans", tracing::instrument(level = "debug", skip_all, fields(%user, admin = ?self.actor())))]
    pub async fn issue_temporary_access(
        &self,
        user: &UserId,
        lifetime: Option<Duration>,
    ) -> Result<TemporaryAccessCode> {
        self.authorise(AdminOperation::IssueTemporaryAccess, Some(user)).await?;
        let mfa = self.service();
        let inner = &mfa.inner;
        let settings = inner.settings.temporary_access;
        let lifetime = lifetime.unwrap_or(settings.lifetime);
        if lifetime.is_zero() || lifetime > settings.max_lifetime {
            return Err(Error::InvalidInput { field: "lifetime", reason: "zero or beyond the maximum" });
        }
        let params = inner.settings.recovery_codes.hash_params;
        let (code, hash) = recovery::blocking(move || -> Result<(SecretString, String)> {
            let (_, code) =
                recovery::generate_codes(1)?.pop().ok_or(Error::Crypto(crate::error::CryptoError::Random))?;
            let hash = recovery::hash_secret(&params, &code)?;
            Ok((code, hash))
        })
        .await??;
        let now = mfa.now();
        let expires_at = now.saturating_add(lifetime);
        let payload = encode(settings.assurance, &hash);
        let id = temporary_access_id(user);
        let record = CeremonyRecord::new(
            id,
            Some(user.clone()),
            None,
            KIND,
            CeremonyPurpose::TemporaryAccess,
            payload,
            settings.max_attempts,
            now,
            expires_at,
        );
        let mut stored = false;
        for _ in 0..ISSUE_RETRIES {
            inner.store.take_ceremony(Some(user), &id, now).await?;
            match inner.store.put_ceremony(&record).await {
                Ok(()) => {
                    stored = true;
                    break;
                }
                Err(StoreError::AlreadyExists) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        if !stored {
            return Err(Error::Backend("temporary access code contention".into()));
        }
        let assurance = settings.assurance;
        mfa.emit(user, now, EventKind::TemporaryAccessIssued { expires_at, assurance }).await;
        Ok(TemporaryAccessCode {
            code: recovery::format_code(&code),
            expires_at,
            assurance,
            max_attempts: settings.max_attempts,
        })
    }

    /// Revokes the user's unused temporary access code; `false` if there was none.
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
    /// let issued = mfa.admin(&root).issue_temporary_access(&alice, None).await?;
    /// assert!(mfa.admin(&root).revoke_temporary_access(&alice).await?);
    /// assert!(mfa.verify_temporary_access(&alice, issued.code.expose()).await.is_err());
    /// assert!(!mfa.admin(&root).revoke_temporary_access(&alice).await?, "none left");
    /// # Ok(())
    /// # }
    /// ```
    #[cfg_attr(feature = "spans", tracing::instrument(level = "debug", skip_all, fields(%user, admin = ?self.actor())))]
    pub async fn revoke_temporary_access(&self, user: &UserId) -> Result<bool> {
        self.authorise(AdminOperation::RevokeTemporaryAccess, Some(user)).await?;
        let mfa = self.service();
        let now = mfa.now();
        let taken = mfa.inner.store.take_ceremony(Some(user), &temporary_access_id(user), now).await?;
        let revoked = taken.is_some_and(|c| c.purpose == CeremonyPurpose::TemporaryAccess);
        if revoked {
            mfa.emit(user, now, EventKind::TemporaryAccessRevoked).await;
        }
        Ok(revoked)
    }
}

impl Mfa {
    /// Signs the user in with a temporary access code an administrator issued
    /// ([`Admin::issue_temporary_access`]): the code works once, before it expires, within
    /// its allowed wrong tries, and under the user's own throttle
    /// ([`ThrottleScope::TemporaryAccess`]). Returns what it proves (the configured
    /// assurance, no factor), to record like any verification, e.g. so the user can enrol a
    /// new factor.
    ///
    /// Whether the user has a code or not, a wrong code costs the same (one argon2id
    /// verification) and gets the same answer.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a malformed code (nothing counted);
    /// [`Error::InvalidCode`] for a wrong, used, revoked or expired code;
    /// [`Error::Locked`] / [`Error::Disabled`] while throttled.
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
    /// use mfa_core::Error;
    ///
    /// let issued = mfa.admin(&root).issue_temporary_access(&alice, None).await?;
    /// // Typed as the user reads it out: case, spaces and hyphens do not matter.
    /// let typed = issued.code.expose().to_lowercase().replace('-', " ");
    /// let verified = mfa.verify_temporary_access(&alice, &typed).await?;
    /// assert_eq!((verified.factor, verified.assurance), (None, issued.assurance));
    /// let again = mfa.verify_temporary_access(&alice, &typed).await;
    /// assert!(matches!(again, Err(Error::InvalidCode)), "single use");
    /// # Ok(())
    /// # }
    /// ```
    #[cfg_attr(feature = "spans", tracing::instrument(level = "debug", skip_all, fields(%user)))]
    pub async fn verify_temporary_access(&self, user: &UserId, code: &str) -> Result<Verified> {
        let inner = &self.inner;
        let now = self.now();
        let parsed = recovery::parse_code(code).map_err(|_| Error::InvalidInput {
            field: "temporary access code",
            reason: "must be 20 letters and digits",
        })?;
        let whole = SecretString::new(format!("{}{}", parsed.lookup, parsed.secret.expose()));
        let scope = ThrottleScope::TemporaryAccess;
        let throttle = inner.settings.throttle;
        let attempt = self.throttle_begin(user, &scope, now, &throttle).await?;
        let id = temporary_access_id(user);
        let ceremony = inner
            .store
            .attempt_ceremony(Some(user), &id, now)
            .await?
            .filter(|c| c.purpose == CeremonyPurpose::TemporaryAccess)
            .and_then(|c| decode(&c.payload).map(|(assurance, hash)| (assurance, hash.to_owned(), c.payload.clone())));
        let hash_params = inner.settings.recovery_codes.hash_params;
        let (hash, known) = match &ceremony {
            Some((_, hash, _)) => (Arc::new(hash.clone()), true),
            None => (inner.dummy_hash.get(&hash_params)?, false),
        };
        let floor = inner.settings.recovery_codes.hash_floor;
        let matches = recovery::blocking(move || recovery::verify_secret(&floor, &hash, &whole)).await??;
        let taken = match (&ceremony, known && matches) {
            (Some((_, _, payload)), true) => {
                inner.store.take_ceremony(Some(user), &id, now).await?.is_some_and(|c| c.payload == *payload)
            }
            _ => false,
        };
        let Some((assurance, _, _)) = ceremony.filter(|_| taken) else {
            self.count_failure(
                user,
                (None, METHOD_TEMPORARY_ACCESS),
                attempt,
                FailureReason::InvalidCode,
                now,
                &throttle,
            )
            .await;
            return Err(Error::InvalidCode);
        };
        self.throttle_reset_after_commit(user, &scope, attempt).await;
        let method = METHOD_TEMPORARY_ACCESS.to_owned();
        self.emit(user, now, EventKind::VerificationSucceeded { factor: None, method, assurance }).await;
        self.emit(user, now, EventKind::TemporaryAccessUsed).await;
        Ok(Verified::new(user.clone(), None, None, assurance, now))
    }
}

/// `v1 <assurance> <argon2id PHC string>`, space-separated (neither part has a space).
fn encode(assurance: Assurance, hash: &str) -> Vec<u8> {
    format!("v1 {} {hash}", assurance.as_str()).into_bytes()
}

fn decode(payload: &[u8]) -> Option<(Assurance, &str)> {
    let text = std::str::from_utf8(payload).ok()?;
    let mut parts = text.splitn(3, ' ');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("v1"), Some(assurance), Some(hash)) => Some((Assurance::parse(assurance).ok()?, hash)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip_and_refuse_garbage() {
        let payload = encode(Assurance::ReplayResistantOtp, "$argon2id$v=19$m=8,t=1,p=1$c2FsdA$aGFzaA");
        assert_eq!(decode(&payload), Some((Assurance::ReplayResistantOtp, "$argon2id$v=19$m=8,t=1,p=1$c2FsdA$aGFzaA")));
        for bad in [&b""[..], b"v2 recovery_code x", b"v1 nonsense x", b"v1 recovery_code", b"\xff"] {
            assert_eq!(decode(bad), None);
        }
    }
}
