//! A store wrapper that fails on purpose, to show that an operation interrupted half-way
//! leaves the state it started from.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::store::{Store, StoreError, StoreResult};

/// Wraps a store and makes its `n`th call from now fail with [`StoreError::Backend`], as a
/// lost connection or a crashed process would. Every call is recorded by name, so a test
/// can first count the calls an operation makes, then interrupt it at each one in turn.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use mfa_core::store::prelude::*;
/// use mfa_core::UserId;
/// use mfa_core::testing::FaultyStore;
/// use mfa_store_memory::MemoryStore;
///
/// let store = FaultyStore::new(MemoryStore::new());
/// let alice = UserId::new("alice").unwrap();
/// store.fail_call(2);
/// assert!(store.count_recovery_codes(&alice).await.is_ok());
/// assert!(store.count_recovery_codes(&alice).await.is_err());
/// assert!(store.count_recovery_codes(&alice).await.is_ok(), "only the armed call fails");
/// assert_eq!(store.calls().len(), 3);
/// # }
/// ```
#[derive(Debug)]
pub struct FaultyStore<S> {
    inner: S,
    /// Calls made since the last [`FaultyStore::fail_call`] or [`FaultyStore::reset`].
    made: AtomicU64,
    /// The call that fails (1-based), or 0 for none.
    fail_at: AtomicU64,
    names: Mutex<Vec<&'static str>>,
}

impl<S: Store> FaultyStore<S> {
    /// Wraps `inner`; no call fails until [`FaultyStore::fail_call`] is used.
    pub fn new(inner: S) -> Self {
        Self { inner, made: AtomicU64::new(0), fail_at: AtomicU64::new(0), names: Mutex::new(Vec::new()) }
    }

    /// Makes the `n`th call from now (1-based) fail; only that one. Clears the record of
    /// calls.
    pub fn fail_call(&self, n: u64) {
        self.reset();
        self.fail_at.store(n, Ordering::SeqCst);
    }

    /// No call fails any more; the record of calls is cleared.
    pub fn reset(&self) {
        self.fail_at.store(0, Ordering::SeqCst);
        self.made.store(0, Ordering::SeqCst);
        self.names.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// The names of the store methods called since the last reset, in order.
    pub fn calls(&self) -> Vec<&'static str> {
        self.names.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The wrapped store, to inspect state without counting calls.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    fn tick(&self, name: &'static str) -> StoreResult<()> {
        self.names.lock().unwrap_or_else(|e| e.into_inner()).push(name);
        let n = self.made.fetch_add(1, Ordering::SeqCst) + 1;
        if n == self.fail_at.load(Ordering::SeqCst) {
            return Err(StoreError::backend(std::io::Error::other(format!("injected fault in call {n} ({name})"))));
        }
        Ok(())
    }
}

crate::forward_store!(impl[S: Store] for FaultyStore<S>, |this, call| {
    this.tick(call)?;
    &this.inner
});
