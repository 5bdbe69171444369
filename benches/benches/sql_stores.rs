//! TOTP verification through `Mfa` on the SQL stores, at concurrency 1, 8 and 32, beside the
//! SQL floor on the same server: SQLite (a WAL database file in a temporary directory)
//! always; PostgreSQL when a server is given in `MFA_BENCH_POSTGRES_URL` or
//! `MFA_TEST_POSTGRES_URL` (as `mfa-store-sql/scripts/with-postgres.sh` sets it), in a schema
//! of its own that is dropped afterwards. Criterion's time per element is the wall time per
//! verification under that load (its inverse is the throughput); the latency of each single
//! verification is recorded too and printed as percentiles.
//!
//! The floor is the cheapest verification-shaped work on the same database: one atomic
//! `UPDATE floor SET counter = counter + 1, last = $now WHERE user_id = $1 RETURNING counter`
//! per verification, on a table with one row per user of our bench (32), spread over the same
//! number of tasks, each on its own row as each of our users is. It runs through a pool made
//! from the store's own: the same connection options (for SQLite the same file, WAL journal,
//! `synchronous = NORMAL`, busy timeout, foreign keys; for PostgreSQL the same server and
//! schema) and the same pool size. The budget: our throughput at least half the floor's
//! (time ratio <= 2x), as one verification may take two round trips.

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
use mfa_store_sql::sqlx::pool::{Pool, PoolOptions};
use mfa_store_sql::sqlx::postgres::{PgConnectOptions, PgConnection, PgPool};
use mfa_store_sql::sqlx::sqlite::SqlitePool;
use mfa_store_sql::sqlx::{Connection, Database, Executor};
use mfa_store_sql::{PostgresStore, SqliteStore};

const CONCURRENCY: [usize; 3] = [1, 8, 32];
const RAW: &str = "sql_verify_raw/totp_rs_check";
const GROUPS: [(&str, &str); 2] = [("sqlite_verify", "sqlite_floor"), ("postgres_verify", "postgres_floor")];

const FLOOR_TABLE: &str =
    "CREATE TABLE floor (user_id TEXT PRIMARY KEY, counter BIGINT NOT NULL, last BIGINT NOT NULL)";
const FLOOR_ROW: &str = "INSERT INTO floor (user_id, counter, last) VALUES ($1, 0, 0)";
const FLOOR_UPDATE: &str = "UPDATE floor SET counter = counter + 1, last = $2 WHERE user_id = $1 RETURNING counter";

/// The floor's pool, on the store's database.
#[derive(Clone)]
enum Floor {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl Floor {
    /// A pool with the connection options and size of `store`'s pool, and the floor table
    /// with one row per user.
    async fn beside<DB: Database>(store: &Pool<DB>, wrap: fn(Pool<DB>) -> Self) -> (Self, Vec<String>) {
        let size = store.options().get_max_connections();
        let options = (*store.connect_options()).clone();
        let pool = PoolOptions::<DB>::new().max_connections(size).connect_with(options).await.unwrap();
        let floor = wrap(pool);
        let max = CONCURRENCY.iter().copied().max().unwrap_or(1);
        let users: Vec<String> = (0..max).map(|i| format!("floor-{i:03}")).collect();
        floor.setup(&users).await;
        (floor, users)
    }

    async fn setup(&self, users: &[String]) {
        match self {
            Floor::Sqlite(p) => {
                p.execute(FLOOR_TABLE).await.unwrap();
                for user in users {
                    mfa_store_sql::sqlx::query(FLOOR_ROW).bind(user).execute(p).await.unwrap();
                }
            }
            Floor::Postgres(p) => {
                p.execute(FLOOR_TABLE).await.unwrap();
                for user in users {
                    mfa_store_sql::sqlx::query(FLOOR_ROW).bind(user).execute(p).await.unwrap();
                }
            }
        }
    }

    /// One verification's worth of the floor: the atomic update of `user`'s row.
    async fn bump(&self, user: &str, now: i64) -> i64 {
        use mfa_store_sql::sqlx::query_scalar;
        match self {
            Floor::Sqlite(p) => query_scalar(FLOOR_UPDATE).bind(user).bind(now).fetch_one(p).await.unwrap(),
            Floor::Postgres(p) => query_scalar(FLOOR_UPDATE).bind(user).bind(now).fetch_one(p).await.unwrap(),
        }
    }

    async fn close(&self) {
        match self {
            Floor::Sqlite(p) => p.close().await,
            Floor::Postgres(p) => p.close().await,
        }
    }
}

/// Runs `ops` floor updates spread over the first `concurrency` users, each user in its own
/// Tokio task, as [`verify_concurrently`] spreads verifications. Returns the wall time of the
/// whole run and the latency of every update.
async fn floor_concurrently(
    floor: &Floor,
    users: &[String],
    concurrency: usize,
    ops: u64,
) -> (Duration, Vec<Duration>) {
    let concurrency = concurrency.min(users.len()).max(1);
    let per_task = ops / concurrency as u64;
    let start = Instant::now();
    let tasks: Vec<_> = users[..concurrency]
        .iter()
        .enumerate()
        .map(|(i, user)| {
            let n = per_task + u64::from((i as u64) < ops % concurrency as u64);
            let (floor, user) = (floor.clone(), user.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(usize::try_from(n).unwrap_or(0));
                for k in 0..n {
                    let t = Instant::now();
                    black_box(floor.bump(&user, 1_700_000_000 + i64::try_from(k).unwrap()).await);
                    latencies.push(t.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    (start.elapsed(), latencies)
}

/// One group of `run` at each concurrency: wall time per operation, and single latencies.
fn bench_load(
    c: &mut Criterion,
    rt: &tokio::runtime::Runtime,
    group_name: &str,
    run: impl AsyncFn(usize, u64) -> (Duration, Vec<Duration>),
) {
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
                let (run, id) = (&run, &id);
                async move {
                    let (elapsed, latencies) = run(concurrency, iters).await;
                    record(id, iters, elapsed);
                    record_latencies(id, latencies);
                    elapsed
                }
            });
        });
    }
    group.finish();
}

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
    let instances = RefCell::new(rt.block_on(fleet(store, totp, max, group_name)).unwrap());
    bench_load(c, rt, group_name, async |concurrency, iters| {
        let mut fleet: Vec<Instance> = std::mem::take(&mut *instances.borrow_mut());
        let outcome = verify_concurrently(&mut fleet, totp, concurrency, iters).await.unwrap();
        *instances.borrow_mut() = fleet;
        outcome
    });
}

/// The floor beside a store: its pool made from `store`'s, its table filled, then the same
/// loads.
fn bench_floor<DB: Database>(
    c: &mut Criterion,
    rt: &tokio::runtime::Runtime,
    group_name: &str,
    store: &Pool<DB>,
    wrap: fn(Pool<DB>) -> Floor,
) {
    let (floor, users) = rt.block_on(Floor::beside(store, wrap));
    bench_load(c, rt, group_name, async |concurrency, iters| {
        floor_concurrently(&floor, &users, concurrency, iters).await
    });
    rt.block_on(floor.close());
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
    bench_floor(&mut c, &rt, "sqlite_floor", sqlite.pool(), Floor::Sqlite);
    rt.block_on(sqlite.pool().close());
    let _ = std::fs::remove_dir_all(&dir);

    let postgres_ran = match postgres_url() {
        Some(url) => {
            let (store, schema) = rt.block_on(postgres_store(&url));
            bench_store(&mut c, &rt, "postgres_verify", Arc::new(store.clone()), &totp);
            bench_floor(&mut c, &rt, "postgres_floor", store.pool(), Floor::Postgres);
            rt.block_on(store.pool().close());
            rt.block_on(drop_schema(&url, &schema));
            true
        }
        None => false,
    };
    c.final_summary();

    let (mut floor_rows, mut raw_rows) = (Vec::new(), Vec::new());
    for (ours, floor) in GROUPS {
        for n in CONCURRENCY {
            let (ours_id, floor_id) = (format!("{ours}/concurrency_{n}"), format!("{floor}/concurrency_{n}"));
            let what = format!("{}, concurrency {n}: ours vs floor", ours.trim_end_matches("_verify"));
            floor_rows.push(Comparison::new(what, &ours_id, floor_id, Some(2.0)));
            raw_rows.push(Comparison::new(format!("{ours}, concurrency {n}"), ours_id, RAW, None));
        }
    }
    print_summary(
        "SQL stores, TOTP verify under load vs the SQL floor (one UPDATE ... RETURNING per verification); \
         budget: throughput >= 0.5x the floor's",
        &floor_rows,
    );
    print_summary("SQL stores, TOTP verify: wall time per verification under load vs raw totp-rs check", &raw_rows);
    println!("latency of single operations (every batch, warm-up included):");
    for group in GROUPS.iter().flat_map(|(ours, floor)| [*ours, *floor]) {
        for n in CONCURRENCY {
            if let Some(p) = percentiles(&format!("{group}/concurrency_{n}")) {
                println!(
                    "{group:<16} concurrency {n:>2}: p50 {:>10}  p90 {:>10}  p99 {:>10}  ({} operations)",
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
