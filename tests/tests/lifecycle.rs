//! The lifecycle model: random sequences of every public operation, by the owner, an
//! attacker with only the password, callers nobody authenticated and another user, on two
//! service instances sharing one store, with the clock moving; after every step the
//! service's answer and state are compared with a reference model's, and the design's
//! invariants are checked. A failing sequence is shrunk to a minimal one and printed.
//!
//! - `cargo test -p mfa-tests --test lifecycle` runs a modest search on the memory store
//!   and SQLite; PostgreSQL too with `MFA_TEST_POSTGRES_URL` and `--include-ignored`
//!   (`bash tests/run-all.sh` starts a server).
//! - `MFA_MODEL_SECONDS=600 cargo test -p mfa-tests --test lifecycle -- --nocapture` searches
//!   for ten minutes per store (`.ci/run` gives it a bounded time of its own);
//!   `MFA_MODEL_CASES` sets a case count instead, `MFA_MODEL_SEED` (64 hex digits) replays a
//!   run, `MFA_MODEL_CHECK=invariants` checks only the invariants (no model answers),
//!   `MFA_MODEL_STEPS` bounds a sequence's length (60), `MFA_MODEL_STATS=1` prints how
//!   often each operation gave each answer and how many sequences reached the help desk's
//!   paths (a code issued then used, a reset followed by more steps), `MFA_MODEL_TRACE=1`
//!   prints every sequence.
//!
//! The operations include the help desk's (`mfa_core::admin`): an administrator, a user who
//! is none and an unknown id reset a user's MFA, unlock counters, issue and revoke
//! temporary access codes, and the user signs in with those codes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers panic on purpose

mod support;

#[path = "lifecycle/harness.rs"]
mod harness;
#[path = "lifecycle/model.rs"]
mod model;
#[path = "lifecycle/ops.rs"]
mod ops;
#[path = "lifecycle/regressions.rs"]
mod regressions;

use std::cell::Cell;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mfa_core::store::Store;
use mfa_store_memory::MemoryStore;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};

use harness::{Check, Harness};
use ops::Op;

/// Which store a run uses.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Backend {
    Memory,
    Sqlite,
    Postgres,
}

/// Runs `ops` from a new deployment; `Err` with the trace and what broke.
pub(crate) fn run(backend: Backend, check: Check, ops: &[Op]) -> Result<(), String> {
    let mut h = deployment(backend, check);
    for op in ops {
        if let Err(e) = h.step(op) {
            return Err(format!("{}\n{e}", h.trace));
        }
    }
    let audited = h.audit().map_err(|e| format!("{}\n{e}", h.trace));

    tally(&h.trace);
    if std::env::var_os("MFA_MODEL_TRACE").is_some() {
        eprintln!("----\n{}", h.trace);
    }
    audited
}

/// A new deployment on `backend`, ready for its first step.
pub(crate) fn deployment(backend: Backend, check: Check) -> Harness {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let stores: [Arc<dyn Store>; 2] = match backend {
        Backend::Memory => {
            let store = MemoryStore::new();
            [Arc::new(store.clone()), Arc::new(store)]
        }
        Backend::Sqlite => {
            let (one, two) = rt.block_on(support::sql::sqlite_pair());
            [Arc::new(one), Arc::new(two)]
        }
        Backend::Postgres => {
            let (one, two) = rt.block_on(support::sql::postgres_pair());
            [Arc::new(one), Arc::new(two)]
        }
    };
    Harness::new(rt, stores, check)
}

/// How often each operation gave each answer, over the run (`MFA_MODEL_STATS=1` prints it).
static TALLY: std::sync::Mutex<BTreeMap<String, u64>> = std::sync::Mutex::new(BTreeMap::new());

fn tally(trace: &str) {
    let mut tally = TALLY.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    // Whole sequences that reached the help desk's paths.
    let (mut issued, mut issued_then_used, mut reset, mut reset_then_more, mut reset_then_signed_in) =
        (false, false, false, false, false);
    for line in trace.lines() {
        let mut name = line.split([' ', '{']).next().unwrap_or_default();
        let raced = line.split("op: ").nth(1).and_then(|op| op.split([' ', '{']).next());
        let shown = match (name, raced) {
            ("Race", Some(raced)) => format!("Race of {raced}"),
            _ => name.to_owned(),
        };
        let mut answer = line.rsplit("-> ").next().unwrap_or_default();
        if name == "AdminReset" {
            // What a reset removed varies too much to count by.
            answer = answer.split(" (").next().unwrap_or_default();
        }
        *tally.entry(format!("{shown} -> {answer}")).or_default() += 1;
        let succeeded = answer.starts_with("Ok") || answer.contains("1 Ok");
        if name == "Race" {
            name = raced.unwrap_or_default();
        }
        let uses_access = name == "UseAccess";
        let signs_in = uses_access || matches!(name, "Verify" | "FinishChallenge" | "UseCode" | "FinishEnrolment");
        reset_then_more |= reset;
        reset_then_signed_in |= reset && signs_in && succeeded;
        issued_then_used |= issued && uses_access && succeeded;
        issued |= name == "IssueAccess" && succeeded;
        reset |= name == "AdminReset" && succeeded;
    }
    for (what, counted) in [
        ("sequences", true),
        ("sequences: a temporary access code issued", issued),
        ("sequences: a temporary access code issued, then one signed in", issued_then_used),
        ("sequences: a reset", reset),
        ("sequences: a reset, then more steps", reset_then_more),
        ("sequences: a reset, then a sign-in or enrolment succeeded", reset_then_signed_in),
    ] {
        *tally.entry(format!("({what})")).or_default() += u64::from(counted);
    }
}

/// Whether `ops` fails, and how (a panic counts as a failure).
fn fails(backend: Backend, check: Check, ops: &[Op]) -> Option<String> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(backend, check, ops))) {
        Ok(Ok(())) => None,
        Ok(Err(why)) => Some(why),
        Err(panic) => Some(
            panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default(),
        ),
    }
}

/// After proptest's shrinking (which, once it simplifies steps, no longer removes them),
/// drops every step the failure does not need; returns the sequence and its failure.
fn minimise(backend: Backend, check: Check, mut ops: Vec<Op>) -> (Vec<Op>, String) {
    let mut i = 0;
    while i < ops.len() {
        let mut fewer = ops.clone();
        fewer.remove(i);
        match fails(backend, check, &fewer) {
            Some(_) => ops = fewer,
            None => i += 1,
        }
    }
    let why = fails(backend, check, &ops).unwrap_or_else(|| "(passes when run again: order of racers)".to_owned());
    (ops, why)
}

fn env<T: std::str::FromStr>(name: &str) -> Option<T> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

fn seed() -> [u8; 32] {
    match std::env::var("MFA_MODEL_SEED").ok().and_then(|s| data_encoding::HEXLOWER.decode(s.as_bytes()).ok()) {
        Some(bytes) if bytes.len() == 32 => bytes.try_into().unwrap(),
        _ => {
            let mut seed = [0u8; 32];
            seed[..16].copy_from_slice(mfa_core::FactorId::random().unwrap().as_bytes());
            seed[16..].copy_from_slice(mfa_core::FactorId::random().unwrap().as_bytes());
            seed
        }
    }
}

/// The search: random sequences of up to `steps` operations until `cases` pass or the time
/// is up; the first failure is shrunk and reported.
fn search(backend: Backend, cases: u32) {
    let check = match std::env::var("MFA_MODEL_CHECK").as_deref() {
        Ok("invariants") => Check::Invariants,
        _ => Check::Full,
    };
    let cases = env("MFA_MODEL_CASES").unwrap_or(cases);
    let budget = env::<u64>("MFA_MODEL_SECONDS").map(Duration::from_secs);
    let steps = env("MFA_MODEL_STEPS").unwrap_or(60usize);
    let seed = seed();
    let started = Instant::now();
    let (explored, ops_run) = (Cell::new(0u64), Cell::new(0u64));
    // When the first failing sequence ran, and how many had run by then.
    let first_failure: Cell<Option<(f64, u64)>> = Cell::new(None);
    for round in 0u32.. {
        // Each round of a timed search draws from its own seed, derived from the run's.
        let mut round_seed = seed;
        for (b, r) in round_seed.iter_mut().rev().zip(round.to_le_bytes()) {
            *b ^= r;
        }
        let batch = if budget.is_some() { 16 } else { cases };
        let config = Config { cases: batch, failure_persistence: None, max_shrink_iters: 4096, ..Config::default() };
        let mut runner = TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &round_seed));
        let strategy = prop::collection::vec(ops::op(), 1..=steps);
        let result = runner.run(&strategy, |ops| {
            explored.set(explored.get() + 1);
            ops_run.set(ops_run.get() + ops.len() as u64);
            let result = run(backend, check, &ops);
            if result.is_err() && first_failure.get().is_none() {
                first_failure.set(Some((started.elapsed().as_secs_f64(), explored.get())));
            }
            result.map_err(TestCaseError::fail)
        });
        match result {
            Ok(()) => {}
            Err(TestError::Fail(_, ops)) => {
                let (found, sequences) = first_failure.get().unwrap_or_default();
                let (ops, why) = minimise(backend, check, ops);
                panic!(
                    "{backend:?}, {check:?} checks, seed {}: a sequence of {} steps fails (shrunk; found after {found:.1} s \
                     and {sequences} sequences):\n{}\n\nwith its trace:\n{why}",
                    data_encoding::HEXLOWER.encode(&seed),
                    ops.len(),
                    ops.iter().map(|op| format!("  {op:?}")).collect::<Vec<_>>().join("\n"),
                )
            }
            Err(e) => panic!("{e}"),
        }
        let done = match budget {
            Some(budget) => started.elapsed() >= budget,
            None => true,
        };
        if done {
            break;
        }
    }
    let line = format!(
        "lifecycle model, {backend:?}, {check:?} checks: {} sequences ({} steps, shrinking included) \
         passed in {:.1} s (seed {})",
        explored.get(),
        ops_run.get(),
        started.elapsed().as_secs_f64(),
        data_encoding::HEXLOWER.encode(&seed)
    );
    eprintln!("{line}");
    // Also appended to target/model-report.txt, which tests/run-all.sh prints.
    let report = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).parent().map(|t| t.join("model-report.txt"));
    if let Some(Ok(mut file)) = report.map(|r| std::fs::OpenOptions::new().create(true).append(true).open(r)) {
        let _ = std::io::Write::write_all(&mut file, format!("{line}\n").as_bytes());
    }
    if std::env::var_os("MFA_MODEL_STATS").is_some() {
        for (what, n) in TALLY.lock().unwrap_or_else(std::sync::PoisonError::into_inner).iter() {
            eprintln!("{n:>8}  {what}");
        }
    }
}

#[test]
fn the_lifecycle_holds_on_the_memory_store() {
    search(Backend::Memory, 512);
}

#[test]
fn the_lifecycle_holds_on_sqlite() {
    search(Backend::Sqlite, 64);
}

#[test]
#[ignore = "needs PostgreSQL: run `bash tests/run-all.sh`, or set MFA_TEST_POSTGRES_URL and pass --include-ignored"]
fn the_lifecycle_holds_on_postgres() {
    search(Backend::Postgres, 16);
}
