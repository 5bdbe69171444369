//! Cross-crate integration tests of the mfa-rs toolkit; see `tests/`. The project README is
//! included below so that its code compiles as a doctest.
#![doc = include_str!("../../README.md")]
