//! "Remember this device": tokens that stand in for MFA on a known browser.

use super::*;

impl Mfa {
    /// "Remember this device" after a successful MFA: returns a token for the host to keep
    /// in a long-lived, HttpOnly, Secure cookie. Presenting it later
    /// ([`Mfa::check_device`]) satisfies an [`AccessPolicy`](crate::access::AccessPolicy)
    /// that trusts remembered devices, never a step-up. Only a hash of its secret is
    /// stored; it expires after [`DeviceSettings::lifetime`](crate::settings::DeviceSettings).
    ///
    /// # Errors
    ///
    /// [`Error::MfaRequired`] unless `verified` is no older than the re-authentication
    /// window; [`Error::InvalidInput`] for a bad label.
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
    /// // Alice passed MFA and ticked "remember this device".
    /// let verified = mfa.verify(&alice, &app, &Proof::code(&app_code()?)?).await?;
    /// let remembered = mfa.remember_device(&verified, "Firefox on Linux").await?;
    /// // Keep remembered.token.expose() in a long-lived, HttpOnly, Secure cookie.
    /// assert_eq!(remembered.device.label, "Firefox on Linux");
    /// assert_eq!(mfa.list_devices(&alice).await?.len(), 1);
    ///
    /// // Only a recent verification can remember a device.
    /// clock.advance(mfa.settings().reauth_window + Duration::from_secs(1));
    /// assert!(matches!(mfa.remember_device(&verified, "Chrome").await, Err(Error::MfaRequired)));
    /// # Ok(())
    /// # }
    /// ```
    #[cfg_attr(feature = "spans", tracing::instrument(level = "debug", skip_all, fields(user = %verified.user)))]
    pub async fn remember_device(&self, verified: &Verified, label: &str) -> Result<DeviceToken> {
        let now = self.now();
        if !is_fresh(verified.at, now, self.inner.settings.reauth_window) {
            return Err(Error::MfaRequired);
        }
        let label = validate_label(label)?;
        let id = DeviceId::random()?;
        let secret = SecretBytes::random(32)?;
        let token = SecretString::new(format!(
            "{DEVICE_TOKEN_PREFIX}{id}.{}",
            data_encoding::BASE64URL_NOPAD.encode(secret.expose())
        ));
        let expires_at = now.saturating_add(self.inner.settings.devices.lifetime);
        let user = verified.user.clone();
        let record =
            DeviceTokenRecord::new(id, user.clone(), label, device_hash(&id, secret.expose()), now, expires_at);
        self.inner.store.insert_device_token(&record).await?;
        self.emit(&user, now, EventKind::DeviceRemembered { device: id }).await;
        self.forget_oldest_devices(&user, now).await?;
        Ok(DeviceToken { device: remembered(record), token })
    }

    /// Checks a remembered-device token for `user` (the host knows the user after the
    /// password). Attempts are throttled like any verification.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a malformed token (nothing counted);
    /// [`Error::InvalidCode`] for an unknown, revoked or another user's token;
    /// [`Error::Expired`] for an expired one; [`Error::Locked`] after too many failures.
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
    /// # let verified = mfa.verify(&alice, &app, &Proof::code(&app_code()?)?).await?;
    /// # let remembered = mfa.remember_device(&verified, "Firefox on Linux").await?;
    /// // Alice comes back with the cookie set by `remember_device`.
    /// let cookie = remembered.token.expose();
    /// let device = mfa.check_device(&alice, cookie).await?;
    /// assert_eq!(device.id, remembered.device.id);
    ///
    /// // The token is Alice's alone.
    /// let bob = UserId::new("bob")?;
    /// assert!(matches!(mfa.check_device(&bob, cookie).await, Err(Error::InvalidCode)));
    /// assert!(matches!(mfa.check_device(&alice, "not a token").await, Err(Error::InvalidInput { .. })));
    /// # Ok(())
    /// # }
    /// ```
    #[cfg_attr(feature = "spans", tracing::instrument(level = "debug", skip_all, fields(%user)))]
    pub async fn check_device(&self, user: &UserId, token: &str) -> Result<RememberedDevice> {
        let inner = &self.inner;
        let now = self.now();
        let (id, secret) = parse_device_token(token)?;
        let scope = ThrottleScope::DeviceTokens;
        let throttle = inner.settings.throttle;
        let attempt = self.throttle_begin(user, &scope, now, &throttle).await?;
        let record = inner.store.get_device_token(user, &id).await?;
        let matches = record
            .as_ref()
            .is_some_and(|r| crate::secret::constant_time_eq(&r.secret_hash, &device_hash(&id, secret.expose())));
        let Some(record) = record.filter(|_| matches) else {
            self.count_failure(user, (None, METHOD_DEVICE_TOKEN), attempt, FailureReason::InvalidCode, now, &throttle)
                .await;
            return Err(Error::InvalidCode);
        };
        self.throttle_reset(user, &scope, attempt).await?;
        if record.expires_at <= now {
            return Err(Error::Expired);
        }
        inner.store.touch_device_token(user, &id, now).await?;
        self.emit(user, now, EventKind::DeviceUsed { device: id }).await;
        let mut device = remembered(record);
        device.last_seen_at = Some(now);
        Ok(device)
    }

    /// Keeps the user's unexpired devices within [`StateLimits::devices`](crate::limits::StateLimits)
    /// by forgetting the oldest (and every expired one). Racing calls each trim what they
    /// see, so the bound holds once they are done.
    pub(super) async fn forget_oldest_devices(&self, user: &UserId, now: Timestamp) -> Result<()> {
        let store = &self.inner.store;
        let mut devices = store.list_device_tokens(user).await?;
        devices.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
        let max = self.inner.settings.limits.devices;
        let mut kept = 0;
        for device in devices {
            if device.expires_at > now && kept < max {
                kept += 1;
                continue;
            }
            if store.revoke_device_token(user, &device.id).await? {
                self.emit(user, now, EventKind::DeviceRevoked { device: device.id }).await;
            }
        }
        Ok(())
    }

    /// The user's remembered devices that have not expired, oldest first.
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
    /// # let verified = mfa.verify(&alice, &app, &Proof::code(&app_code()?)?).await?;
    /// # let remembered = mfa.remember_device(&verified, "Firefox on Linux").await?;
    /// let devices = mfa.list_devices(&alice).await?;
    /// assert_eq!(devices.len(), 1);
    /// assert_eq!(devices[0].label, "Firefox on Linux");
    ///
    /// // Expired devices are not listed.
    /// clock.advance(mfa.settings().devices.lifetime);
    /// assert!(mfa.list_devices(&alice).await?.is_empty());
    /// # Ok(())
    /// # }
    /// ```
    #[cfg_attr(feature = "spans", tracing::instrument(level = "debug", skip_all, fields(%user)))]
    pub async fn list_devices(&self, user: &UserId) -> Result<Vec<RememberedDevice>> {
        let now = self.now();
        let mut devices: Vec<RememberedDevice> = self
            .inner
            .store
            .list_device_tokens(user)
            .await?
            .into_iter()
            .filter(|d| now < d.expires_at)
            .map(remembered)
            .collect();
        devices.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        Ok(devices)
    }

    /// Forgets one remembered device.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] if the user has no such device.
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
    /// # let verified = mfa.verify(&alice, &app, &Proof::code(&app_code()?)?).await?;
    /// # let remembered = mfa.remember_device(&verified, "Firefox on Linux").await?;
    /// // "Forget this device" on Alice's security page.
    /// mfa.revoke_device(&alice, &remembered.device.id).await?;
    /// assert!(mfa.list_devices(&alice).await?.is_empty());
    /// assert!(matches!(mfa.check_device(&alice, remembered.token.expose()).await, Err(Error::InvalidCode)));
    /// assert!(matches!(mfa.revoke_device(&alice, &remembered.device.id).await, Err(Error::NotFound)));
    /// # Ok(())
    /// # }
    /// ```
    #[cfg_attr(feature = "spans", tracing::instrument(level = "debug", skip_all, fields(%user)))]
    pub async fn revoke_device(&self, user: &UserId, device: &DeviceId) -> Result<()> {
        if !self.inner.store.revoke_device_token(user, device).await? {
            return Err(Error::NotFound);
        }
        self.emit(user, self.now(), EventKind::DeviceRevoked { device: *device }).await;
        Ok(())
    }

    /// Forgets every remembered device of the user at once; returns how many there were.
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
    /// # let verified = mfa.verify(&alice, &app, &Proof::code(&app_code()?)?).await?;
    /// # let remembered = mfa.remember_device(&verified, "Firefox on Linux").await?;
    /// // "Sign out everywhere".
    /// assert_eq!(mfa.revoke_all_devices(&alice).await?, 1);
    /// assert!(mfa.list_devices(&alice).await?.is_empty());
    /// assert_eq!(mfa.revoke_all_devices(&alice).await?, 0);
    /// # Ok(())
    /// # }
    /// ```
    #[cfg_attr(feature = "spans", tracing::instrument(level = "debug", skip_all, fields(%user)))]
    pub async fn revoke_all_devices(&self, user: &UserId) -> Result<u64> {
        let count = self.inner.store.revoke_all_device_tokens(user).await?;
        if count > 0 {
            self.emit(user, self.now(), EventKind::DevicesRevoked { count }).await;
        }
        Ok(count)
    }
}

/// A newly remembered device and its token, shown to the host once.
#[derive(Debug)]
#[non_exhaustive]
pub struct DeviceToken {
    /// The device.
    pub device: RememberedDevice,
    /// The token to keep in the browser (secret).
    pub token: SecretString,
}

const DEVICE_TOKEN_PREFIX: &str = "mfa-device.";

fn device_hash(id: &DeviceId, secret: &[u8]) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    Sha256::new()
        .chain_update(b"mfa-rs/device-token/v1\0")
        .chain_update(id.as_bytes())
        .chain_update(secret)
        .finalize()
        .to_vec()
}

/// `mfa-device.<32 hex>.<43 base64url>` into its id and secret.
fn parse_device_token(token: &str) -> Result<(DeviceId, SecretBytes)> {
    let bad = || Error::InvalidInput { field: "device token", reason: "malformed" };
    let rest = token.trim().strip_prefix(DEVICE_TOKEN_PREFIX).ok_or_else(bad)?;
    let (id, secret) = rest.split_once('.').ok_or_else(bad)?;
    let id = DeviceId::parse(id).map_err(|_| bad())?;
    if secret.len() != 43 {
        return Err(bad());
    }
    let secret = data_encoding::BASE64URL_NOPAD.decode(secret.as_bytes()).map_err(|_| bad())?;
    Ok((id, SecretBytes::new(secret)))
}

fn remembered(r: DeviceTokenRecord) -> RememberedDevice {
    RememberedDevice {
        id: r.id,
        user: r.user,
        label: r.label,
        created_at: r.created_at,
        last_seen_at: r.last_seen_at,
        expires_at: r.expires_at,
    }
}
