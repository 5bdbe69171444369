//! What the benches measured, kept beside criterion's own output so that every binary can end
//! with a table of our figure, the raw figure and their ratio.
//!
//! Every bench times its batches itself (criterion's `iter_custom`) and hands each batch to
//! [`record`] under the same id criterion prints. The figure per operation is the
//! least-squares slope through the origin of batch time against batch size — the slope
//! criterion reports — over every batch criterion asked for.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Duration;

type Batches = HashMap<String, Vec<(u64, Duration)>>;
type Latencies = HashMap<String, Vec<Duration>>;

fn batches() -> &'static Mutex<Batches> {
    static BATCHES: OnceLock<Mutex<Batches>> = OnceLock::new();
    BATCHES.get_or_init(Mutex::default)
}

fn latencies() -> &'static Mutex<Latencies> {
    static LATENCIES: OnceLock<Mutex<Latencies>> = OnceLock::new();
    LATENCIES.get_or_init(Mutex::default)
}

/// Records one timed batch of `iters` operations under `id` (`group/function`).
pub fn record(id: &str, iters: u64, elapsed: Duration) {
    let mut all = batches().lock().unwrap_or_else(PoisonError::into_inner);
    all.entry(id.to_owned()).or_default().push((iters, elapsed));
}

/// Records the latencies of single operations under `id` (for percentiles under load).
pub fn record_latencies(id: &str, samples: impl IntoIterator<Item = Duration>) {
    let mut all = latencies().lock().unwrap_or_else(PoisonError::into_inner);
    all.entry(id.to_owned()).or_default().extend(samples);
}

/// Nanoseconds per operation recorded under `id`: the slope through the origin of batch
/// time against batch size. `None` if nothing was recorded (the bench was filtered out).
pub fn per_op_ns(id: &str) -> Option<f64> {
    let all = batches().lock().unwrap_or_else(PoisonError::into_inner);
    let runs = all.get(id)?;
    let (mut xy, mut xx) = (0.0f64, 0.0f64);
    for (iters, elapsed) in runs {
        let x = *iters as f64;
        xy += x * elapsed.as_nanos() as f64;
        xx += x * x;
    }
    (xx > 0.0).then(|| xy / xx)
}

/// Latency percentiles recorded under `id`.
#[derive(Debug, Clone, Copy)]
pub struct Percentiles {
    /// Operations measured.
    pub count: usize,
    /// The median.
    pub p50: Duration,
    /// The 90th percentile.
    pub p90: Duration,
    /// The 99th percentile.
    pub p99: Duration,
}

/// The percentiles of the single-operation latencies recorded under `id`.
pub fn percentiles(id: &str) -> Option<Percentiles> {
    let all = latencies().lock().unwrap_or_else(PoisonError::into_inner);
    let mut samples = all.get(id)?.clone();
    if samples.is_empty() {
        return None;
    }
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    Some(Percentiles { count: samples.len(), p50: at(0.50), p90: at(0.90), p99: at(0.99) })
}

/// Formats nanoseconds with a unit that keeps three significant figures.
pub fn format_ns(ns: f64) -> String {
    if ns < 1_000.0 {
        format!("{ns:.0} ns")
    } else if ns < 1_000_000.0 {
        format!("{:.2} µs", ns / 1_000.0)
    } else if ns < 1_000_000_000.0 {
        format!("{:.2} ms", ns / 1_000_000.0)
    } else {
        format!("{:.2} s", ns / 1_000_000_000.0)
    }
}

/// Formats a duration like [`format_ns`].
pub fn format_duration(d: Duration) -> String {
    format_ns(d.as_nanos() as f64)
}

/// One line of a summary: our path beside the raw primitive, and the budget for their ratio.
#[derive(Debug, Clone)]
pub struct Comparison {
    /// What is compared.
    pub what: String,
    /// The id our path was recorded under.
    pub ours: String,
    /// The id the raw primitive (or the reference case) was recorded under.
    pub raw: String,
    /// The highest acceptable ratio ours / raw, if there is a budget.
    pub budget: Option<f64>,
}

impl Comparison {
    /// A comparison of `ours` against `raw`, with an optional budget on the ratio.
    pub fn new(what: impl Into<String>, ours: impl Into<String>, raw: impl Into<String>, budget: Option<f64>) -> Self {
        Self { what: what.into(), ours: ours.into(), raw: raw.into(), budget }
    }
}

/// Prints a summary table: for each comparison our figure, the raw figure, the ratio, the
/// budget and the verdict. Throughput columns are the inverse of the time per operation.
pub fn print_summary(title: &str, rows: &[Comparison]) {
    let mut out = format!("\n=== summary: {title} (per operation; ratio = ours / raw) ===\n");
    for row in rows {
        let (ours, raw) = (per_op_ns(&row.ours), per_op_ns(&row.raw));
        let show = |v: Option<f64>| v.map_or_else(|| "not run".to_owned(), format_ns);
        let ratio = ours.zip(raw).map(|(o, r)| o / r);
        let budget = row.budget.map_or_else(|| "reported".to_owned(), |b| format!("<= {b:.2}x"));
        let verdict = match (ratio, row.budget) {
            (None, _) => "not run",
            (Some(_), None) => "reported",
            (Some(r), Some(b)) if r <= b => "within budget",
            (Some(_), Some(_)) => "OVER BUDGET",
        };
        let ratio = ratio.map_or_else(|| "-".to_owned(), |r| format!("{r:.2}x"));
        let ops = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |ns| format!("{:.0}/s", 1e9 / ns));
        let _ = writeln!(
            out,
            "{:<48} ours {:>10} ({:>9})  raw {:>10} ({:>9})  ratio {:>7}  budget {:>9}  {verdict}",
            row.what,
            show(ours),
            ops(ours),
            show(raw),
            ops(raw),
            ratio,
            budget,
        );
    }
    println!("{out}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_figure_per_operation_is_the_slope_of_batch_time_against_batch_size() {
        record("test/slope", 10, Duration::from_nanos(1_000));
        record("test/slope", 30, Duration::from_nanos(3_000));
        assert_eq!(per_op_ns("test/slope"), Some(100.0));
        assert_eq!(per_op_ns("test/never-run"), None);
    }

    #[test]
    fn percentiles_come_from_single_operations() {
        record_latencies("test/latency", (1..=100).map(Duration::from_micros));
        let p = percentiles("test/latency").unwrap();
        assert_eq!((p.count, p.p50, p.p99), (100, Duration::from_micros(51), Duration::from_micros(99)));
    }
}
