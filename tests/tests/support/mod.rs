//! Helpers shared by the integration tests. Each test file uses some of them.
#![allow(dead_code)]

pub(crate) mod flagged;
pub(crate) mod sql;
pub(crate) mod u2f;
pub(crate) mod world;

#[allow(unused_imports)] // not every test file races
pub(crate) use mfa_core::testing::{race, successes};
