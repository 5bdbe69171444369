#![forbid(unsafe_code)]
#![deny(missing_docs)]
//! Authenticator apps (TOTP) and one-time codes sent by SMS and email, as
//! [`FactorAdapter`](mfa_core::adapter::FactorAdapter)s for [`mfa_core::Mfa`].
//!
//! # Authenticator app
//!
//! ```
//! use mfa_core::{AeadSealer, EnrolmentRequest, FactorKind, FreshAuth, Mfa, Prompt, Proof, UserId};
//! use mfa_otp::TotpFactor;
//! use mfa_store_memory::MemoryStore;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let totp = TotpFactor::new("Example Corp")?;
//! let mfa = Mfa::builder()
//!     .store(MemoryStore::new())
//!     .sealer(AeadSealer::ephemeral()?)
//!     .factor(totp.clone())
//!     .build()?;
//! let alice = UserId::new("alice")?;
//!
//! // "Add an authenticator app": show the QR code (PNG or SVG) and the manual key.
//! let fresh = FreshAuth::primary(mfa.now());
//! let request = EnrolmentRequest::new(FactorKind::TOTP).account_name("alice@example.com");
//! let start = mfa.start_enrolment(&alice, &fresh, request).await?;
//! let Prompt::SharedSecret(secret) = &start.prompt else { unreachable!() };
//! assert!(secret.uri.expose().starts_with("otpauth://totp/Example%20Corp:alice%40example.com?"));
//! assert!(secret.qr_svg.is_some() && secret.qr_png.is_some());
//!
//! // The user types the code their app shows; the factor becomes active.
//! let key = data_encoding::BASE32_NOPAD.decode(secret.secret_base32.expose().as_bytes())?;
//! let now = mfa.now().unix_secs() as u64;
//! let code = totp.code_at(&key, now)?;
//! mfa.finish_enrolment(&alice, &fresh, &start.factor.id, &Proof::code(&code)?).await?;
//!
//! // Sign-in: the same code is now used up (RFC 6238 §5.2); the next step's code works.
//! assert!(mfa.verify(&alice, &start.factor.id, &Proof::code(&code)?).await.is_err());
//! let next = totp.code_at(&key, now + 30)?;
//! let verified = mfa.verify(&alice, &start.factor.id, &Proof::code(&next)?).await?;
//! assert_eq!(verified.assurance, mfa_core::Assurance::ReplayResistantOtp);
//! # Ok(())
//! # }
//! ```
//!
//! # Codes by SMS
//!
//! ```
//! # #[cfg(all(feature = "sms", feature = "testing"))]
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use mfa_core::{AeadSealer, Clock, EnrolmentRequest, FactorKind, FreshAuth, ManualClock, Mfa, Proof, SystemClock, UserId};
//! use mfa_otp::{MemorySender, OobKey, SmsFactor};
//! use mfa_store_memory::MemoryStore;
//!
//! let outbox = MemorySender::new(); // in production: HttpSmsSender, or your own Sender
//! let sms = SmsFactor::builder(outbox.clone(), OobKey::ephemeral()?).app_name("Example").build()?;
//! let clock = ManualClock::new(SystemClock.now()); // a test clock, to skip waiting below
//! let mfa = Mfa::builder()
//!     .store(MemoryStore::new())
//!     .sealer(AeadSealer::ephemeral()?)
//!     .clock(clock.clone())
//!     .factor(sms)
//!     .build()?;
//! let alice = UserId::new("alice")?;
//!
//! // "Add a phone number": a code is sent; the number is active once it is entered.
//! let fresh = FreshAuth::primary(mfa.now());
//! let request = EnrolmentRequest::new(FactorKind::SMS).destination("+1 415 555 2671");
//! let start = mfa.start_enrolment(&alice, &fresh, request).await?;
//! assert_eq!(start.factor.masked_destination.as_deref(), Some("+1 ••• ••• 2671"));
//! let code = outbox.last_code_to("+14155552671").unwrap();
//! mfa.finish_enrolment(&alice, &fresh, &start.factor.id, &Proof::code(&code)?).await?;
//!
//! // Sign-in: a new code is sent for each challenge. Sends to one factor or number are at
//! // least 30 s apart and at most 5 per 15 minutes, and further capped against SMS
//! // pumping (`Settings::delivery`, see "SMS pumping" below).
//! clock.advance(Duration::from_secs(30));
//! let challenge = mfa.start_challenge(&alice, None).await?;
//! let code = outbox.last_code_to("+14155552671").unwrap();
//! let verified = mfa.finish_challenge(&alice, &challenge.id, &Proof::code(&code)?).await?;
//! assert_eq!(verified.assurance, mfa_core::Assurance::RestrictedOutOfBand);
//! # Ok(())
//! # }
//! # #[cfg(not(all(feature = "sms", feature = "testing")))]
//! # fn main() {}
//! ```
//!
//! # Languages
//!
//! Codes go out in English unless the host registers texts per locale
//! ([`OobBuilder::template_for`]); each send picks one by the locale of the call's
//! [`RequestContext`](mfa_core::context::RequestContext) (`de-CH` gets `de`'s text, a
//! locale without one gets the default).
//!
//! # SMS pumping
//!
//! A form that sends SMS codes can be abused to make you pay for messages to numbers that
//! share in the revenue (toll fraud). Every send asks the service first, and
//! [`DeliverySettings`](mfa_core::settings::DeliverySettings) caps sends per destination, per number
//! range (numbers sharing their first 8 digits, across all users), per user across all
//! factors, and optionally against a cost budget for the whole deployment with per-prefix
//! prices. A refused send sends nothing, returns
//! [`Error::RateLimited`](mfa_core::Error::RateLimited) or
//! [`Error::DeliveryCapped`](mfa_core::Error::DeliveryCapped), and records an event. See
//! [`mfa_core::manual::sms_pumping`].
//!
//! # Features
//!
//! | feature | gives |
//! |---|---|
//! | `totp` (default) | [`TotpFactor`]: SHA-1/256/512, 6 or 8 digits, any period, bounded window, QR codes |
//! | `sms` | [`SmsFactor`]: codes by SMS, numbers normalised to E.164 |
//! | `email` | [`EmailFactor`]: codes by email |
//! | `smtp` | [`SmtpSender`]: email over SMTP (lettre, rustls) |
//! | `sms-http` | [`HttpSmsSender`]: SMS through an HTTP gateway, with a Twilio-style preset |
//! | `testing` | [`MemorySender`]: records messages instead of sending them |
//! | `metrics` | [`MeteredSender`]: sends counted and timed through the `metrics` facade ([table](crate::metrics)) |
//!
//! [`DevConsoleSender`] prints messages to the terminal, for development only.
//!
//! # Security
//!
//! TOTP secrets and destinations are sealed by the service before storage; one-time codes
//! are stored only as keyed hashes ([`OobKey`]). Codes never appear in `Debug`, errors or
//! logs — only in the message handed to the [`Sender`].

mod sender;
pub use mfa_core::DeliveryChannel;
pub use sender::{DevConsoleSender, Message, SendError, Sender};

#[cfg(feature = "testing")]
pub use sender::MemorySender;

#[cfg(feature = "metrics")]
pub mod metrics;
#[cfg(feature = "metrics")]
pub use crate::metrics::MeteredSender;

#[cfg(feature = "totp")]
mod totp;
#[cfg(feature = "totp")]
pub use totp::{Algorithm, MAX_WINDOW, MIN_IMPORTED_SECRET, TotpBuilder, TotpFactor};

#[cfg(feature = "oob")]
mod oob;
#[cfg(feature = "email")]
pub use oob::{Email, EmailFactor};
#[cfg(feature = "oob")]
pub use oob::{MAX_CODE_LIFETIME, MessageTemplate, OobBuilder, OobChannel, OobFactor, OobKey};
#[cfg(feature = "sms")]
pub use oob::{Sms, SmsFactor};
#[cfg(feature = "oob")]
mod templates;
#[cfg(feature = "oob")]
pub use templates::MAX_TEMPLATE_LOCALES;

#[cfg(feature = "smtp")]
mod smtp;
#[cfg(feature = "smtp")]
pub use smtp::{SmtpSender, SmtpTls};

#[cfg(feature = "sms-http")]
mod sms_http;
#[cfg(feature = "sms-http")]
pub use sms_http::{HttpSmsSender, SmsBody};
