//! Racing many copies of one operation through one or more service instances.

use std::future::Future;
use std::sync::Arc;

use crate::error::Error;
use crate::service::Mfa;

/// Runs `n` copies of `attempt` at once (released together by a barrier), alternating
/// between the service `instances` (two instances sharing one store stand for two
/// processes), and returns every result in the order the copies were made.
///
/// # Panics
///
/// If a copy panics, or `instances` is empty.
pub async fn race<T, F, Fut>(n: usize, instances: &[Mfa], attempt: F) -> Vec<T>
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

/// How many of `results` succeeded.
///
/// # Panics
///
/// On an error that `expected` does not allow: a race may only fail the expected way.
pub fn successes<T: std::fmt::Debug>(results: &[Result<T, Error>], expected: impl Fn(&Error) -> bool) -> usize {
    results
        .iter()
        .filter(|r| match r {
            Ok(_) => true,
            Err(e) if expected(e) => false,
            Err(e) => panic!("unexpected {e:?}"),
        })
        .count()
}
