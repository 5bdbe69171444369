//! Shared set-up for the fuzz targets: a single-threaded runtime, a fixed clock, a
//! permissive settings (no lockouts, so every input reaches the code under test), a sender
//! that drops messages, and checks that an error is one of the typed errors a caller may
//! see for that operation.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a panic is how a fuzz target reports

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use mfa_core::store::FactorRecord;
use mfa_core::throttle::ThrottleSettings;
use mfa_core::{
    AeadSealer, Assurance, Error, FactorId, FactorKind, FactorStatus, ManualClock, Mfa, MfaBuilder, Settings,
    Timestamp, UserId, recovery::RecoveryCodeSettings, seal::KeyId, settings::DeliverySettings, settings::WindowCap,
    store::Store,
};
use mfa_otp::{Message, SendError, Sender};

/// Fixtures captured from software authenticators by `examples/seeds.rs`.
pub mod fixtures;

/// The fixed "now" every target starts from.
pub const T0: Timestamp = Timestamp::from_unix_secs(1_700_000_000);

thread_local! {
    static RUNTIME: tokio::runtime::Runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a Tokio runtime");
}

/// Runs a future to completion on this thread's runtime (argon2 runs inline on it).
pub fn block_on<F: Future>(f: F) -> F::Output {
    RUNTIME.with(|rt| rt.block_on(f))
}

/// The default settings without lockouts or delivery limits (caps and budget included), and with cheap recovery-code
/// hashing: fuzzing must not be stopped by the throttle it would otherwise trip at once.
pub fn settings() -> Settings {
    let mut settings = Settings::default();
    settings.throttle = ThrottleSettings::new(u32::MAX, Duration::ZERO, Duration::ZERO);
    settings.recovery_codes = RecoveryCodeSettings::fast_insecure_for_tests();
    settings.delivery = DeliverySettings::unlimited();
    // One service lives through a whole fuzzing run on a stopped clock: the bounds on
    // challenges, pending enrolments and passwordless sign-ins would refuse later inputs
    // for reasons that are not theirs.
    settings.limits.challenges = WindowCap::new(Duration::from_secs(300), u32::MAX);
    settings.limits.passwordless = WindowCap::new(Duration::from_secs(300), u32::MAX);
    settings.limits.pending_enrolments = usize::MAX;
    settings
}

/// A fixed sealing key.
pub fn sealer() -> AeadSealer {
    AeadSealer::new(KeyId(1), [7; 32])
}

/// A clock standing at [`T0`].
pub fn clock() -> ManualClock {
    ManualClock::new(T0)
}

/// A service builder on `store` with the targets' clock, sealer and settings; add the factors
/// and build.
pub fn builder(store: Arc<dyn Store>) -> MfaBuilder {
    Mfa::builder().shared_store(store).clock(clock()).sealer(sealer()).settings(settings())
}

/// An active TOTP factor record (no parameters or secret yet), as if enrolled at [`T0`].
pub fn active_totp(id: FactorId, user: &UserId, label: &str) -> FactorRecord {
    let mut record =
        FactorRecord::pending(id, user.clone(), FactorKind::TOTP, label.into(), Assurance::ReplayResistantOtp, T0, T0);
    record.status = FactorStatus::Active;
    record.expires_at = None;
    record
}

/// A sender that accepts every message and keeps none.
#[derive(Debug, Clone, Copy, Default)]
pub struct NullSender;

#[async_trait]
impl Sender for NullSender {
    async fn send(&self, _message: &Message) -> Result<(), SendError> {
        Ok(())
    }
}

/// The variant name of an error, for the allow-lists below.
pub fn kind(e: &Error) -> &'static str {
    match e {
        Error::NotFound => "NotFound",
        Error::AlreadyExists => "AlreadyExists",
        Error::InvalidCode => "InvalidCode",
        Error::Expired => "Expired",
        Error::Locked { .. } => "Locked",
        Error::Replayed => "Replayed",
        Error::RateLimited { .. } => "RateLimited",
        Error::DeliveryCapped { .. } => "DeliveryCapped",
        Error::PossibleClone => "PossibleClone",
        Error::ReauthRequired => "ReauthRequired",
        Error::MfaRequired => "MfaRequired",
        Error::InvalidInput { .. } => "InvalidInput",
        Error::Unsupported => "Unsupported",
        Error::Delivery(_) => "Delivery",
        Error::Crypto(_) => "Crypto",
        Error::Config(_) => "Config",
        Error::Backend(_) => "Backend",
        _ => "unknown",
    }
}

/// Panics (a fuzzing failure) unless `e` is one of the `allowed` variants.
#[track_caller]
pub fn expect_error(what: &str, e: &Error, allowed: &[&str]) {
    let k = kind(e);
    assert!(allowed.contains(&k), "{what}: unexpected error {k}: {e:?} (allowed: {allowed:?})");
}

/// Panics unless `e` is `InvalidInput` for `field`.
#[track_caller]
pub fn expect_invalid_input(what: &str, e: &Error, field: &str) {
    match e {
        Error::InvalidInput { field: f, .. } if *f == field => {}
        other => panic!("{what}: expected InvalidInput for {field:?}, got {other:?}"),
    }
}

/// An RFC 6238 code (HMAC-SHA-1, 30-second period) for `secret` at `at`.
pub fn totp_code(secret: &[u8], at: Timestamp, digits: u32) -> String {
    use hmac::{Hmac, KeyInit, Mac};
    let step = u64::try_from(at.unix_secs() / 30).unwrap();
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(secret).unwrap();
    mac.update(&step.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest[digest.len() - 1] & 0x0f);
    let bin = u32::from_be_bytes([digest[offset] & 0x7f, digest[offset + 1], digest[offset + 2], digest[offset + 3]]);
    format!("{:0width$}", bin % 10u32.pow(digits), width = digits as usize)
}

/// The input as text, or `None` for bytes that are not UTF-8 (every public entry point
/// takes `&str`: the host's HTTP layer has already refused those).
pub fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

/// Whether a PHC string asks for an argon2 cost that makes one check take seconds (or more
/// memory than the fuzzer allows). Argon2 reads its cost from the stored hash; only a
/// floor is enforced, so such a row is a denial of service by whoever can write the store,
/// and the fuzzer would only report it as a timeout. Targets skip those inputs.
pub fn too_costly(phc: &str) -> bool {
    phc.split(['$', ',']).any(|part| {
        let Some((k, v)) = part.split_once('=') else { return false };
        let v: u64 = v.trim().parse().unwrap_or(0);
        matches!(k.trim(), "m" if v > 64 * 1024) || matches!(k.trim(), "t" if v > 4) || matches!(k.trim(), "p" if v > 4)
    })
}
