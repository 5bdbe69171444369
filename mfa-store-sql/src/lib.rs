#![forbid(unsafe_code)]
#![deny(missing_docs)]
//! Durable stores for [`mfa_core`] on SQLite and PostgreSQL.
//!
//! **Status:** not yet implemented. This crate will provide `SqliteStore` and
//! `PostgresStore` (on sqlx) passing the same conformance suite as
//! `mfa_store_memory::MemoryStore`. Until then use the in-memory store.

pub use mfa_core;
