//! `GET /metrics`: the service's metrics in the Prometheus text format, for a scraper that
//! holds the operator's token.
//!
//! Off unless the environment variable `MYACCOUNT_METRICS_TOKEN` is set (at least 16
//! characters; an environment variable rather than an option, so the token is not in the
//! process list). Without it nothing is recorded and `/metrics` answers 404. With it, a
//! request must carry `Authorization: Bearer <token>`; any other request gets 404 too, so
//! the endpoint does not show that it exists. Scrape it like this:
//!
//! ```text
//! MYACCOUNT_METRICS_TOKEN=$(openssl rand -hex 24) cargo run -p mfa-examples
//! curl -H "Authorization: Bearer $MYACCOUNT_METRICS_TOKEN" http://localhost:8080/metrics
//! ```
//!
//! and in Prometheus, `authorization: { credentials_file: <a file holding the token> }` in
//! the scrape config. The store, the event sink and the code senders are wrapped by the
//! metering wrappers of `mfa_core::metrics` and `mfa_otp::metrics`, whose module docs list
//! every metric; no label names a user, a factor or a destination.

use std::error::Error as StdError;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use mfa_core::SecretString;
pub(crate) use mfa_core::metrics::{MeteredStore, MetricsSink};
use mfa_core::secret::constant_time_eq;
pub(crate) use mfa_otp::MeteredSender;

/// The environment variable holding the scraper's bearer token.
const TOKEN_VAR: &str = "MYACCOUNT_METRICS_TOKEN";
/// The shortest token accepted.
const MIN_TOKEN: usize = 16;
/// Histogram buckets for latencies (seconds): from 100 µs to 10 s.
const BUCKETS: &[f64] = &[0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0];

/// The endpoint: the recorder's handle and the token, when the operator set one.
#[derive(Clone)]
pub(crate) struct Metrics(Option<Arc<Enabled>>);

struct Enabled {
    handle: PrometheusHandle,
    token: SecretString,
}

impl Metrics {
    /// Reads `MYACCOUNT_METRICS_TOKEN`; when it is set, installs the Prometheus recorder
    /// (once per process).
    pub(crate) fn from_env() -> Result<Self, Box<dyn StdError>> {
        let Some(token) = std::env::var(TOKEN_VAR).ok().filter(|t| !t.is_empty()) else {
            return Ok(Self(None));
        };
        if token.chars().count() < MIN_TOKEN {
            return Err(format!("{TOKEN_VAR} must be at least {MIN_TOKEN} characters").into());
        }
        let handle = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), BUCKETS)?
            .install_recorder()?;
        mfa_core::metrics::describe();
        mfa_otp::metrics::describe();
        // Samples wait in the recorder until a scrape or an upkeep folds them in: bound them
        // between scrapes.
        let upkeep = handle.clone();
        std::thread::spawn(move || {
            loop {
                std::thread::sleep(Duration::from_secs(5));
                upkeep.run_upkeep();
            }
        });
        Ok(Self(Some(Arc::new(Enabled { handle, token: SecretString::from(token) }))))
    }

    /// Whether `/metrics` serves anything.
    pub(crate) fn enabled(&self) -> bool {
        self.0.is_some()
    }

    /// `GET /metrics`, to merge into the app outside its session layer (a scraper has no
    /// session, and needs none).
    pub(crate) fn router(&self) -> Router {
        Router::new().route("/metrics", get(scrape)).with_state(self.clone())
    }
}

/// The metrics for the right bearer token; 404 for anything else, or when off.
async fn scrape(State(metrics): State<Metrics>, headers: HeaderMap) -> Response {
    let Some(enabled) = &metrics.0 else { return StatusCode::NOT_FOUND.into_response() };
    let given = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    match given {
        Some(given) if constant_time_eq(given.as_bytes(), enabled.token.expose().as_bytes()) => {
            ([(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], enabled.handle.render()).into_response()
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}
