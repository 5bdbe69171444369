//! Test support (feature `testing`): the store conformance suite, a fake factor adapter, a
//! fault-injecting store wrapper, a recording event sink, and racing many copies of one
//! operation across service instances.
//!
//! Every store runs the whole suite, on its concrete type and through `Arc<dyn Store>`:
//!
//! ```text
//! // tests/conformance.rs of a store crate (needs tokio with "macros" and "rt-multi-thread")
//! mfa_core::store_conformance_tests!(concrete, async { std::sync::Arc::new(MyStore::new()) });
//! mfa_core::store_conformance_tests!(dyn_store, async {
//!     std::sync::Arc::new(MyStore::new()) as std::sync::Arc<dyn mfa_core::store::Store>
//! });
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod conformance;
mod fake;
mod faulty;
mod race;
mod sink;

pub use fake::{FAKE, FakeFactor};
pub use faulty::FaultyStore;
pub use race::{race, successes};
pub use sink::RecordingEventSink;
