#![forbid(unsafe_code)]
#![deny(missing_docs)]
//! Security keys, passkeys and older U2F keys (WebAuthn / FIDO2) as a
//! [`mfa_core::FactorAdapter`].
//!
//! **Status:** not yet implemented. This crate will provide `WebauthnFactor` (on
//! webauthn-rs) for the kinds [`mfa_core::FactorKind::SECURITY_KEY`],
//! [`mfa_core::FactorKind::PASSKEY`] and [`mfa_core::FactorKind::OLDER_DEVICE`]; until then
//! the service answers [`mfa_core::Error::Unsupported`] for them.

pub use mfa_core;
