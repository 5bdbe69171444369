#![forbid(unsafe_code)]
#![deny(missing_docs)]
//! Multi-factor authentication for Rust services: the core.
//!
//! Your service owns users, passwords, sessions and HTML. This crate owns every second
//! factor: enrolment, challenge, verification, the preferred method, recovery codes,
//! throttling, replay protection and audit events. Factor kinds plug in as adapters
//! (`mfa-otp` for authenticator apps, SMS and email codes; `mfa-webauthn` for security keys
//! and passkeys); state lives in a [`Store`](crate::store::Store) (`mfa-store-memory`, `mfa-store-sql`).
//!
//! You hold one [`Mfa`], built once and cloned freely:
//!
//! ```
//! use mfa_core::{AeadSealer, Error, FreshAuth, Mfa, UserId};
//! use mfa_store_memory::MemoryStore;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Error> {
//! let mfa = Mfa::builder()
//!     .store(MemoryStore::new())
//!     .sealer(AeadSealer::ephemeral()?) // load a real key in production: see `seal`
//!     // .factor(mfa_otp::TotpFactor::new(..)) and the other adapters you want
//!     .build()?;
//!
//! let alice = UserId::new("alice")?;
//! // The host just re-checked Alice's password: that is the fresh authentication
//! // sensitive changes need.
//! let fresh = FreshAuth::primary(mfa.now());
//!
//! // Before her first factor a password is all there is, and nothing it produces may
//! // count as a second factor later: recovery codes exist only alongside a factor.
//! assert!(matches!(mfa.generate_recovery_codes(&alice, &fresh).await, Err(Error::FactorRequired)));
//! assert_eq!(mfa.recovery_codes_remaining(&alice).await?, 0);
//! assert!(mfa.list_factors(&alice).await?.is_empty());
//! # Ok(())
//! # }
//! ```
//!
//! # The flows
//!
//! Every factor kind follows the same two-step ceremonies, mirroring the "My Account"
//! pages users know:
//!
//! ```no_run
//! use mfa_core::{EnrolmentRequest, Error, FactorKind, FreshAuth, Mfa, Prompt, Proof, UserId, Verified};
//!
//! /// "Add an authenticator app": show the QR code, then confirm with the first code.
//! async fn add_app(mfa: &Mfa, user: &UserId, fresh: FreshAuth, code_typed: &str) -> Result<(), Error> {
//!     let start = mfa.start_enrolment(user, &fresh, EnrolmentRequest::new(FactorKind::TOTP)).await?;
//!     if let Prompt::SharedSecret(secret) = &start.prompt {
//!         // put secret.qr_svg / secret.secret_base32 in the page
//!     }
//!     mfa.finish_enrolment(user, &fresh, &start.factor.id, &Proof::code(code_typed)?).await?;
//!     Ok(())
//! }
//!
//! /// The MFA step of sign-in: challenge the preferred factor, verify the answer.
//! async fn second_step(mfa: &Mfa, user: &UserId, code_typed: &str) -> Result<Verified, Error> {
//!     let challenge = mfa.start_challenge(user, None).await?;
//!     // show challenge.prompt; offer challenge.alternatives ("try another way")
//!     mfa.finish_challenge(user, &challenge.id, &Proof::code(code_typed)?).await
//! }
//! ```
//!
//! # What the service guarantees
//!
//! - A factor is pending until proven; pending factors never sign in, and expire.
//! - Adding, removing, changing the preferred factor and regenerating recovery codes need
//!   a [`FreshAuth`]; once the user has a factor, recent MFA too.
//! - Failures are counted in the store per user and factor before they are evaluated, so
//!   they add up across instances and parallel guesses cannot exceed the limit
//!   ([`ThrottleSettings`](crate::throttle::ThrottleSettings)); errors carry `retry_after`.
//! - A TOTP code is accepted once; single-use state (challenges, recovery codes) is
//!   consumed atomically in the store.
//! - Nothing a password alone produced counts as a second factor later: recovery codes
//!   exist only while a factor is active, and an enrolment is finished only with the
//!   authorisation starting it would need at that moment.
//! - Callers nobody authenticated (passwordless sign-in) never count against, lock or
//!   disable a user's factor; every kind of stored state is bounded ([`StateLimits`](crate::limits::StateLimits)).
//! - Every attempt refused by a throttle or a bound reaches the [`EventSink`], aggregated.
//! - Reusable secrets are sealed with AEAD bound to user and factor ([`AeadSealer`]).
//! - Secrets never appear in `Debug`, errors, events or logs.
//!
//! Whether a sign-in, or a sensitive action, has enough MFA is decided by
//! [`access::AccessPolicy::evaluate`]: Optional / Prompted / Required rules, allowed kinds,
//! minimum assurance, step-up and remembered devices, with the reasons spelled out.
//!
//! The [`manual`] has the threat model, the defaults and why, how to wire a service, and
//! the policy model.
//!
//! # Features
//!
//! - `testing`: [`testing`] — the store conformance suite every store runs, a fake factor
//!   adapter and a recording event sink.
//! - `metrics`: `metrics` — counters and latency histograms through the `metrics` facade:
//!   an event sink that counts what happens, a store that times its calls.
//! - `spans`: a `tracing` span at DEBUG around every public call of [`Mfa`], named after the
//!   method (target `mfa_core::service::*`), with the user id and factor id as fields and
//!   never a code, proof, secret or token. Off by default: even unused, wrapping a call costs
//!   the fastest verification paths a few percent.

pub mod access;
pub mod adapter;
pub mod admin;
pub mod caps;
pub mod clock;
pub mod context;
pub mod destination;
pub mod error;
pub mod events;
pub mod limits;
pub mod manual;
#[cfg(feature = "metrics")]
pub mod metrics;
pub mod recovery;
mod refusals;
pub mod seal;
pub mod secret;
mod service;
pub mod settings;
pub mod signin;
pub mod store;
pub mod throttle;
pub mod types;

#[cfg(feature = "testing")]
pub mod testing;

pub use access::{AccessPolicy, Verified};
pub use adapter::{Credential, DeliveryChannel, DeliveryGate, EnrolmentRequest, Prompt, Proof, SharedSecretPrompt};
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{Error, Result};
pub use events::{Event, EventKind, EventSink, FailureReason, TracingEventSink};
pub use recovery::RecoveryCodeSet;
pub use seal::AeadSealer;
pub use secret::{SecretBytes, SecretString};
pub use service::{Admin, Challenge, DeviceToken, EnrolmentStart, Mfa, MfaBuilder, PasswordlessChallenge};
pub use settings::{FreshAuth, Settings};
pub use types::{
    Assurance, CeremonyId, DeviceId, FactorId, FactorKind, FactorStatus, FactorSummary, Timestamp, UserId,
};

#[doc(hidden)]
pub mod __private {
    pub use async_trait::async_trait;
    #[cfg(feature = "testing")]
    pub use tokio;
}
