#![forbid(unsafe_code)]
#![deny(missing_docs)]
//! Durable stores for [`mfa_core`] on SQLite and PostgreSQL, built on [`sqlx`].
//!
//! [`SqliteStore`] and [`PostgresStore`] implement [`mfa_core::store::Store`] with exactly the
//! behaviour of the reference in-memory store (`mfa_store_memory::MemoryStore`) and pass the
//! same conformance suite. Unlike the memory store, their state survives restarts and is
//! shared between every process that uses the same database, so throttles, replay
//! markers and single-use ceremonies hold across all instances of a service.
//!
//! ```no_run
//! # #[cfg(feature = "sqlite")]
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use mfa_core::{AeadSealer, Mfa};
//! use mfa_store_sql::SqliteStore;
//!
//! // Creates the file if it does not exist; WAL mode and a busy timeout are set for you.
//! let store = SqliteStore::connect("sqlite://mfa.db").await?;
//! // Creates or upgrades the tables. Run it once at start-up (it is idempotent).
//! store.migrate().await?;
//! let mfa = Mfa::builder().store(store).sealer(AeadSealer::ephemeral()?).build()?;
//! # let _ = mfa;
//! # Ok(())
//! # }
//! ```
//!
//! With PostgreSQL (feature `postgres`) it is the same with
//! `PostgresStore::connect("postgres://user@host/db")`.
//!
//! # Features
//!
//! - `sqlite` (default): [`SqliteStore`], with a bundled SQLite.
//! - `postgres`: [`PostgresStore`] (plain TCP or Unix-socket connections; build your own
//!   pool with TLS through [`sqlx`] and pass it to `PostgresStore::from_pool` if needed).
//!
//! # Schema and migrations
//!
//! Tables are prefixed `mfa_` so they can share a database with the host application.
//! `migrate()` applies the embedded, versioned migrations (`migrations/sqlite/*.sql` and
//! `migrations/postgres/*.sql` in this crate) that the database has not seen yet, recording
//! each in `mfa_schema_version`, all in one transaction that also excludes concurrent
//! migrators. A database whose schema is newer than this library is refused.
//!
//! Ids are stored as 16-byte blobs, user ids as text, timestamps as Unix milliseconds,
//! factor details as JSON text, and TOTP replay markers (`u64`) as a 64-bit integer offset by
//! -2^63 so that the database orders them like the original values.
//!
//! | version | migration | what it does |
//! |---|---|---|
//! | 1 | `0001_initial` | factors, ceremonies, recovery codes, remembered devices, throttles, counters |
//! | 2 | `0002_admin_and_audit` | ceremonies may be `temporary_access` (SQLite rebuilds the table, keeping its rows; PostgreSQL replaces the `CHECK`); indexes on `mfa_ceremonies (user_id)` for resets and `mfa_factors (status, kind, user_id)` for coverage; the audit table below |
//!
//! Migration 2 builds its indexes inside the migration transaction: on a PostgreSQL
//! deployment with very large tables, run it at a quiet time (writes to the indexed tables
//! wait for it).
//!
//! # Audit trail
//!
//! [`SqlAuditSink`] (from [`SqliteStore::audit_sink`] or [`PostgresStore::audit_sink`]) is
//! an [`EventSink`](mfa_core::EventSink) appending every event to `mfa_audit_events`, in the
//! store's own database:
//!
//! | column | type | holds |
//! |---|---|---|
//! | `id` | integer, autoincrement / `BIGSERIAL` | the order events were stored in |
//! | `at` | integer | the event's time, Unix milliseconds |
//! | `user_id` | text, nullable | the user (`NULL` for events naming none, e.g. an erasure) |
//! | `actor` | text | `self`, `admin:<id>` or `system` |
//! | `ip` | text, nullable | the client's address |
//! | `user_agent` | text, nullable | the client's user agent |
//! | `event` | text | the event's tag, e.g. `verification_failed` |
//! | `body` | text | the whole event kind as JSON (its `event` field is the tag) |
//!
//! Indexed on `(user_id, at)` and `(at)`. [`SqlAuditSink::query`] reads one user's or every
//! event in a time range, newest first, at most [`MAX_AUDIT_LIMIT`] at a time;
//! [`forget`](mfa_core::EventSink::forget) deletes a user's rows for an erasure;
//! [`SqlAuditSink::purge_before`] applies a retention period. No event carries a code,
//! secret or token, but the table does hold personal data (user ids, addresses, user
//! agents): keep it as long as your retention policy says, and no longer.
//!
//! # Atomicity
//!
//! Every method the [`Store`](mfa_core::store::Store) trait marks atomic is a single SQL statement
//! (a conditional `UPDATE`/`DELETE ... RETURNING`, an `INSERT ... ON CONFLICT ... WHERE`,
//! each checked by its row count) or one transaction. On SQLite such transactions start with
//! `BEGIN IMMEDIATE`, taking the write lock before reading; on PostgreSQL they hold a
//! transaction-scoped advisory lock on the user. Both hold across processes. An
//! administrator's reset or erasure of a user
//! ([`AccountStore`](mfa_core::store::AccountStore)) is one such transaction: every record
//! of the user goes, or none does. Coverage is one aggregate statement, answered from
//! indexes.
//!
//! # Housekeeping
//!
//! Call [`Store::purge_expired`](mfa_core::store::Store::purge_expired) periodically: it deletes
//! expired ceremonies, pending factors (freeing their lookup keys), counters and remembered
//! devices. With the audit trail, also call [`SqlAuditSink::purge_before`] with the end of
//! your retention period.

// Layout: `sqlite` and `postgres` hold the two store types (connecting, transactions,
// migration lists); each compiles the one shared implementation in `store/` (one file per
// record family, plus `maintenance` for migrations and purging) against its own types.
// `statements` holds every SQL statement, `codec` every value and row conversion, `error`
// the error mapping, `audit` the audit sink (one type over both backends) and its query
// and record types.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod audit;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod codec;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod error;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "sqlite")]
mod sqlite;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod statements;

#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub use audit::{AuditQuery, AuditRecord, MAX_AUDIT_LIMIT, SqlAuditSink};
pub use mfa_core;
#[cfg(feature = "postgres")]
pub use postgres::PostgresStore;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;
pub use sqlx;

/// The schema version the embedded migrations bring a database to.
pub const SCHEMA_VERSION: i64 = 2;
