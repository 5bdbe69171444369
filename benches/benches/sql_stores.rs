//! TOTP verification through `Mfa` on the SQL stores, at concurrency 1, 2, 8 and 32:
//! SQLite (a WAL database file in a temporary directory) always; PostgreSQL when a server is
//! given in `MFA_BENCH_POSTGRES_URL` or `MFA_TEST_POSTGRES_URL` (as
//! `mfa-store-sql/scripts/with-postgres.sh` sets it), in a schema of its own that is dropped
//! afterwards. Criterion's time per element is the wall time per verification under that
//! load (its inverse is the throughput); the latency of each single verification is
//! recorded too and printed as percentiles.

// Bench setup code: a failure to set up is a broken bench, reported by panicking.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::cell::RefCell;
use std::hint::black_box;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use mfa_benches::{
    Comparison, Instance, Steps, fleet, format_duration, percentiles, print_summary, record, record_latencies,
    verify_concurrently,
};
use mfa_core::store::Store;
use mfa_otp::TotpFactor;
use mfa_store_sql::sqlx::postgres::{PgConnectOptions, PgConnection};
use mfa_store_sql::sqlx::{Connection, Executor};
use mfa_store_sql::{PostgresStore, SqliteStore};

const CONCURRENCY: [usize; 4] = [1, 2, 8, 32];
const RAW: &str = "sql_verify_raw/totp_rs_check";

fn postgres_url() -> Option<String> {
    ["MFA_BENCH_POSTGRES_URL", "MFA_TEST_POSTGRES_URL"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|u| !u.is_empty()))
}

fn bench_store(
    c: &mut Criterion,
    rt: &tokio::runtime::Runtime,
    group_name: &str,
    store: Arc<dyn Store>,
    totp: &TotpFactor,
) {
    let max = CONCURRENCY.iter().copied().max().unwrap_or(1);
    let instances = rt.block_on(fleet(store, totp, max, group_name)).unwrap();
    let instances = RefCell::new(instances);
    let mut group = c.benchmark_group(group_name);
    group
        .sampling_mode(SamplingMode::Flat)
        .throughput(Throughput::Elements(1))
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(10);
    for concurrency in CONCURRENCY {
        let id = format!("{group_name}/concurrency_{concurrency}");
        group.bench_function(BenchmarkId::new("concurrency", concurrency), |b| {
            b.to_async(rt).iter_custom(|iters| {
                let (instances, id) = (&instances, &id);
                async move {
                    let mut fleet: Vec<Instance> = std::mem::take(&mut *instances.borrow_mut());
                    let (elapsed, latencies) = verify_concurrently(&mut fleet, totp, concurrency, iters).await.unwrap();
                    *instances.borrow_mut() = fleet;
                    record(id, iters, elapsed);
                    record_latencies(id, latencies);
                    elapsed
                }
            });
        });
    }
    group.finish();
}

/// The raw primitive, for scale: totp-rs `check` of a valid code, one core.
fn bench_raw(c: &mut Criterion, totp: &TotpFactor) {
    let key = [7u8; 20];
    let raw = totp_rs::Builder::new().with_secret(key.to_vec()).with_skew(1).build().unwrap();
    let clock = mfa_core::ManualClock::new(mfa_benches::START);
    let mut steps = Steps::after(&clock);
    let mut group = c.benchmark_group("sql_verify_raw");
    group.warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(1)).sample_size(10);
    group.bench_function("totp_rs_check", |b| {
        b.iter_custom(|iters| {
            let cases = steps.valid(totp, &key, iters).unwrap();
            let start = Instant::now();
            for case in &cases {
                black_box(raw.check(black_box(&case.code), case.unix)).unwrap();
            }
            let elapsed = start.elapsed();
            record(RAW, iters, elapsed);
            elapsed
        });
    });
    group.finish();
}

async fn postgres_store(url: &str) -> (PostgresStore, String) {
    let schema = format!("mfa_bench_{}", mfa_core::FactorId::random().unwrap());
    let mut admin = PgConnection::connect(url).await.unwrap();
    admin.execute(format!("CREATE SCHEMA {schema}").as_str()).await.unwrap();
    admin.close().await.unwrap();
    let options = PgConnectOptions::from_str(url).unwrap().options([("search_path", schema.as_str())]);
    let store = PostgresStore::connect_with(options).await.unwrap();
    store.migrate().await.unwrap();
    (store, schema)
}

async fn drop_schema(url: &str, schema: &str) {
    if let Ok(mut admin) = PgConnection::connect(url).await {
        let _ = admin.execute(format!("DROP SCHEMA {schema} CASCADE").as_str()).await;
        let _ = admin.close().await;
    }
}

fn main() {
    let rt = mfa_benches::multi_thread().unwrap();
    let totp = TotpFactor::new("Bench").unwrap();
    let mut c = Criterion::default().configure_from_args();
    bench_raw(&mut c, &totp);

    let dir = std::env::temp_dir().join(format!("mfa-bench-sqlite-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}", dir.join("mfa.db").display());
    let sqlite = rt.block_on(async {
        let store = SqliteStore::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        store
    });
    bench_store(&mut c, &rt, "sqlite_verify", Arc::new(sqlite.clone()), &totp);
    rt.block_on(sqlite.pool().close());
    let _ = std::fs::remove_dir_all(&dir);

    let postgres_ran = match postgres_url() {
        Some(url) => {
            let (store, schema) = rt.block_on(postgres_store(&url));
            bench_store(&mut c, &rt, "postgres_verify", Arc::new(store.clone()), &totp);
            rt.block_on(store.pool().close());
            rt.block_on(drop_schema(&url, &schema));
            true
        }
        None => false,
    };
    c.final_summary();

    let mut rows = Vec::new();
    for group in ["sqlite_verify", "postgres_verify"] {
        for n in CONCURRENCY {
            rows.push(Comparison::new(
                format!("{group}, concurrency {n}"),
                format!("{group}/concurrency_{n}"),
                RAW,
                None,
            ));
        }
    }
    print_summary("SQL stores, TOTP verify: wall time per verification under load vs raw totp-rs check", &rows);
    println!("latency of single verifications (every batch, warm-up included):");
    for group in ["sqlite_verify", "postgres_verify"] {
        for n in CONCURRENCY {
            if let Some(p) = percentiles(&format!("{group}/concurrency_{n}")) {
                println!(
                    "{group:<16} concurrency {n:>2}: p50 {:>10}  p90 {:>10}  p99 {:>10}  ({} verifications)",
                    format_duration(p.p50),
                    format_duration(p.p90),
                    format_duration(p.p99),
                    p.count
                );
            }
        }
    }
    if !postgres_ran {
        println!(
            "PostgreSQL: not run (set MFA_BENCH_POSTGRES_URL=postgres://USER@HOST:PORT/DB, or run through \
             `bash mfa-store-sql/scripts/with-postgres.sh cargo bench -p mfa-benches`)"
        );
    }
    println!();
}
