#![forbid(unsafe_code)]
#![deny(missing_docs)]
//! Criterion benches of the verification hot paths, each beside its raw primitive in the
//! same run, and the support code they share. The figures and how to read them are in
//! `BENCHMARKS.md` at the repository root; the budget they are checked against is the
//! "Performance budget" of the design notes.
//!
//! ```text
//! cargo bench -p mfa-benches                      # every group (a few minutes)
//! cargo bench -p mfa-benches --bench totp         # one group
//! bash mfa-store-sql/scripts/with-postgres.sh cargo bench -p mfa-benches --bench sql_stores
//! ```
//!
//! # The groups (one bench target each)
//!
//! | target | what it measures | against |
//! |---|---|---|
//! | `totp` | `Mfa::verify` of a TOTP code with the memory store, valid and invalid | totp-rs 6 `check` of the same codes at the same times, ±1 step |
//! | `codes` | `Mfa::finish_challenge` of an SMS and an email code | HMAC-SHA-256 of the same inputs under the same key and a constant-time compare |
//! | `sms_start` | `Mfa::start_challenge` of an SMS factor through the delivery gate (limits lifted; the default limits with their caps raised), with a sender that does nothing | a challenge id and 6-digit code from `rand` and the HMAC-SHA-256 stored for them (also with the OS CSPRNG the library draws from) |
//! | `recovery` | `Mfa::verify_recovery_code` with 1 and with 10 codes held (and a wrong code) | one argon2id verification with the same parameters |
//! | `check_device` | `Mfa::check_device` of a remembered-device token, valid and with a wrong secret | parsing the token, SHA-256 of its secret as the library hashes it and a constant-time compare with the stored hash |
//! | `access_policy` | `AccessPolicy::evaluate` of a typical policy: a session verified 5 minutes ago, and one with nothing proven yet | a hand-written check of the same conditions on plain values (strings, Unix seconds) |
//! | `webauthn` | `Mfa::finish_challenge` of a passkey assertion | webauthn-rs `finish_passkey_authentication` of the same assertions |
//! | `webauthn_passwordless` | `Mfa::finish_passwordless` of a passkey assertion (`Mfa::start_passwordless` untimed) | webauthn-rs `identify_discoverable_authentication` and `finish_discoverable_authentication_v2` of the same assertions and stored state |
//! | `webauthn_security_keys` | `Mfa::finish_challenge` of a CTAP2 security key (`packed`) and of a U2F key (`fido-u2f`, older device) | webauthn-rs `finish_securitykey_authentication` of the same assertions |
//! | `memory_store` | TOTP verify of random users among 10^3, 10^5 and 10^6, with the opened-secret cache sized for them and with it off | a `HashMap` of totp-rs `Totp`s of the same size, same users; our growth from 10^3 is budgeted at the map's own growth |
//! | `footprint` | bytes per user held by the memory store with three factors (no timing) | — |
//! | `sql_stores` | TOTP verify on SQLite and PostgreSQL at concurrency 1, 8 and 32 | the SQL floor: one atomic `UPDATE … RETURNING` per verification on the same database, through a pool like the store's, at the same concurrency; and totp-rs `check` |
//! | `throughput` | TOTP verifications per second on every core | totp-rs `check` on every core |
//!
//! Each target ends with a summary table (our figure, the raw figure, the ratio, the
//! budget); the SQL target also prints latency percentiles.
//!
//! # How state is kept from skewing the figures
//!
//! - A valid TOTP code is accepted once, so every verification moves the service's
//!   [`ManualClock`](mfa_core::ManualClock) to a new time step and uses that step's code
//!   ([`Steps`]).
//! - Failed verifications would lock the factor after five; the invalid-code benches use a
//!   throttle without lockout ([`without_lockout`]): failures are still counted in the store.
//! - SMS, email and WebAuthn challenges are single-use: they are started before the timer
//!   runs, and only finishing them is timed. Delivery limits are lifted for that
//!   ([`without_delivery_limits`]); they apply when sending, not when verifying.
//! - Recovery codes are used up: the user's set is put back (one store call, untimed)
//!   before each timed verification.
//! - Passwordless sign-ins are single-use like challenges: started before the timer runs,
//!   only finishing them is timed. WebAuthn assertions are made in order and finished in
//!   that order (signature counters must increase).
//! - Started SMS challenges pile up in the store: after each timed batch the clock moves
//!   past their lifetime and the store purges them, untimed.
//! - A remembered-device token is checked as often as its browser comes back: the same
//!   token is checked again and again (wrong ones on a service without lockout).

pub mod authenticators;
pub mod record;
pub mod setup;
pub mod u2f;

pub use record::{
    Comparison, Percentiles, format_duration, format_ns, per_op_ns, percentiles, print_summary, record,
    record_latencies,
};
pub use setup::{
    BenchError, BenchResult, FACTOR_SECRET, Instance, LastCodeSender, Member, PERIOD, Population, Rng, START, Steps,
    TotpCase, TotpUser, cores, current_thread, enrol_by_code, enrol_totp, fleet, fresh, multi_thread, sealer,
    unix_secs, verify_concurrently, without_delivery_limits, without_lockout, without_state_limits,
};
