//! Helpers shared by the integration tests. Each test file uses some of them.
#![allow(dead_code)]

pub(crate) mod sql;
pub(crate) mod u2f;
pub(crate) mod world;

use std::future::Future;
use std::sync::Arc;

use mfa_core::{Error, Mfa};

/// Runs `n` copies of `attempt` at once (released together by a barrier), alternating
/// between the service `instances`, and returns every result.
pub(crate) async fn race<T, F, Fut>(n: usize, instances: &[Mfa], attempt: F) -> Vec<T>
where
    F: Fn(Mfa) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let barrier = Arc::new(tokio::sync::Barrier::new(n));
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let attempt = attempt(instances[i % instances.len()].clone());
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                attempt.await
            })
        })
        .collect();
    let mut results = Vec::with_capacity(n);
    for task in tasks {
        results.push(task.await.expect("a racing task panicked"));
    }
    results
}

/// How many results succeeded; panics on an error that `expected` does not allow.
pub(crate) fn successes<T: std::fmt::Debug>(results: &[Result<T, Error>], expected: impl Fn(&Error) -> bool) -> usize {
    results
        .iter()
        .filter(|r| match r {
            Ok(_) => true,
            Err(e) if expected(e) => false,
            Err(e) => panic!("unexpected {e:?}"),
        })
        .count()
}
