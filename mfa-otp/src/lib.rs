#![forbid(unsafe_code)]
#![deny(missing_docs)]
//! Authenticator apps (TOTP) and one-time codes sent by SMS and email, as
//! [`mfa_core::FactorAdapter`]s.
//!
//! **Status:** not yet implemented. This crate will provide `TotpFactor` (on totp-rs, with
//! QR codes), `SmsFactor` and `EmailFactor` on one out-of-band code engine, and senders
//! (SMTP via lettre, an HTTP SMS gateway, a development sender). Until then the factor
//! kinds [`mfa_core::FactorKind::TOTP`], [`mfa_core::FactorKind::SMS`] and
//! [`mfa_core::FactorKind::EMAIL`] have no adapter, and the service answers
//! [`mfa_core::Error::Unsupported`] for them.

pub use mfa_core;
