//! Cross-crate integration tests of the mfa-rs toolkit; see `tests/`.
