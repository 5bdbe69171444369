//! The storage traits every backend implements, and the records it keeps.
//!
//! Each method that carries an invariant is atomic: a store must perform it as one
//! indivisible step, also against other processes sharing the same database. The
//! conformance suite (`mfa_core::testing`, feature `testing`) checks every one of them,
//! including races between many tasks.

use std::sync::Arc;

use async_trait::async_trait;

use crate::error::Error;
use crate::types::Timestamp;

/// A store failure. Stores map their own errors into these; the source is kept.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// No such record for this user.
    #[error("not found")]
    NotFound,
    /// A record with this key already exists.
    #[error("already exists")]
    AlreadyExists,
    /// The backend failed (connection, I/O, corruption).
    #[error("store backend failure")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    /// Wraps a backend error, keeping it as the source.
    pub fn backend(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        StoreError::Backend(Box::new(e))
    }
}

/// `Result` with [`StoreError`].
pub type StoreResult<T> = Result<T, StoreError>;

mod edit;
mod families;
mod forward;
mod hot;
mod records;

pub use edit::{FactorChange, FactorEdit, StoreExt};
pub use families::{
    AccountStore, CeremonyStore, CounterStore, DeviceStore, FactorPlan, FactorStore, RecoveryCodeStore,
};
pub use hot::{AcceptOutcome, Acceptance, FactorAttempt};
pub use records::{
    CeremonyPurpose, CeremonyRecord, CounterState, Coverage, DeviceTokenRecord, FactorRecord, FactorUpdate,
    RecordCounts, RecoveryCodeRecord, ThrottleScope, ThrottleState,
};

/// Where factors, ceremony state, replay markers, recovery codes and failure counters live:
/// one small trait per record family ([`FactorStore`], [`CeremonyStore`],
/// [`RecoveryCodeStore`], [`DeviceStore`], [`CounterStore`], [`AccountStore`]), and housekeeping.
///
/// Async and dyn-compatible: hosts keep an `Arc<dyn Store>`. A type implements every family
/// trait and this one; a wrapper (a cache, a metrics decorator) forwards them all with one
/// [`forward_store!`](crate::forward_store) invocation. Bring the family traits into scope
/// with `use mfa_core::store::prelude::*;`.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use mfa_core::store::prelude::*;
/// use mfa_core::{AeadSealer, Mfa, store::Store, UserId};
/// use mfa_store_memory::MemoryStore;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
/// let mfa = Mfa::builder().shared_store(store.clone()).sealer(AeadSealer::ephemeral()?).build()?;
///
/// let alice = UserId::new("alice")?;
/// assert!(store.list_factors(&alice).await?.is_empty());
/// assert_eq!(store.count_recovery_codes(&alice).await?, 0);
///
/// // Housekeeping, from a periodic task.
/// let removed = store.purge_expired(mfa.now()).await?;
/// assert_eq!(removed, 0);
/// # Ok(())
/// # }
/// ```
#[async_trait]
pub trait Store: FactorStore + CeremonyStore + RecoveryCodeStore + DeviceStore + CounterStore + AccountStore {
    /// Deletes ceremonies, pending factors, counters and remembered devices that expired by
    /// `now`; returns how many records were removed.
    async fn purge_expired(&self, now: Timestamp) -> StoreResult<u64>;
}

/// The store traits, to bring their methods into scope: `use mfa_core::store::prelude::*;`.
pub mod prelude {
    pub use super::{
        AccountStore, CeremonyStore, CounterStore, DeviceStore, FactorStore, RecoveryCodeStore, Store, StoreExt,
    };
}

crate::forward_store!(impl[S: Store + ?Sized] for Arc<S>, |this, _call| &**this);
crate::forward_store!(impl[S: Store + ?Sized] for Box<S>, |this, _call| &**this);

fn _assert_dyn_compatible(_: &dyn Store) {}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Error::NotFound,
            StoreError::AlreadyExists => Error::AlreadyExists,
            StoreError::Backend(source) => Error::Backend(source),
        }
    }
}
