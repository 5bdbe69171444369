//! [`forward_store!`](crate::forward_store): one definition of every store method's
//! forwarding, for wrappers.

/// Implements every store trait for a wrapper by forwarding each call to an inner store.
///
/// `impl[generics] for Type, |this, call| target` expands to impls of [`FactorStore`],
/// [`CeremonyStore`], [`RecoveryCodeStore`], [`DeviceStore`], [`CounterStore`] and
/// [`Store`] for `Type`. In each method, `this` is `&self`, `call` the method's name (a
/// `&'static str`) and `target` an expression giving the `&impl Store` to call; it may
/// use `?` with a [`StoreError`] to refuse the call before it reaches the inner store.
///
/// `impl[generics] for Type, |this, call| target, around |fut| expr` does the same, but
/// instead of awaiting the inner call it binds its future to `fut` and returns `expr`
/// (which awaits it), to act on the outcome: time the call, map its error.
/// `mfa_core::metrics::MeteredStore` (feature `metrics`) is written this way.
///
/// [`FactorStore`]: crate::store::FactorStore
/// [`CeremonyStore`]: crate::store::CeremonyStore
/// [`RecoveryCodeStore`]: crate::store::RecoveryCodeStore
/// [`DeviceStore`]: crate::store::DeviceStore
/// [`CounterStore`]: crate::store::CounterStore
/// [`Store`]: crate::store::Store
/// [`StoreError`]: crate::store::StoreError
///
/// # Examples
///
/// A store that counts the calls it forwards:
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use mfa_core::store::prelude::*;
/// use mfa_core::UserId;
/// use mfa_store_memory::MemoryStore;
///
/// #[derive(Debug)]
/// struct Counting<S> {
///     inner: S,
///     calls: AtomicU64,
/// }
///
/// mfa_core::forward_store!(impl[S: Store] for Counting<S>, |this, _call| {
///     this.calls.fetch_add(1, Ordering::Relaxed);
///     &this.inner
/// });
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = Counting { inner: MemoryStore::new(), calls: AtomicU64::new(0) };
/// store.count_recovery_codes(&UserId::new("alice")?).await?;
/// assert_eq!(store.calls.load(Ordering::Relaxed), 1);
/// # Ok(())
/// # }
/// ```
#[macro_export]
macro_rules! forward_store {
    (impl[$($g:tt)*] for $ty:ty, |$this:ident, $call:ident| $target:expr) => {
        $crate::forward_store!(impl[$($g)*] for $ty, |$this, $call| $target, around |fut| fut.await);
    };
    (impl[$($g:tt)*] for $ty:ty, |$this:ident, $call:ident| $target:expr, around |$fut:ident| $around:expr) => {
        $crate::forward_store!(@family [$($g)*] $ty, |$this, $call| $target, |$fut| $around, FactorStore {
            insert_factor(record: &$crate::store::FactorRecord) -> ();
            find_factor_by_lookup_key(key: &str) -> Option<$crate::store::FactorRecord>;
            get_factor(user: &$crate::UserId, id: &$crate::FactorId) -> Option<$crate::store::FactorRecord>;
            list_factors(user: &$crate::UserId) -> Vec<$crate::store::FactorRecord>;
            update_factor(user: &$crate::UserId, id: &$crate::FactorId, update: &$crate::store::FactorUpdate)
                -> $crate::store::FactorRecord;
            edit_factors(user: &$crate::UserId, plan: &$crate::store::FactorPlan<'_>)
                -> Vec<$crate::store::FactorRecord>;
            delete_factor(user: &$crate::UserId, id: &$crate::FactorId) -> $crate::store::FactorRecord;
            advance_replay_marker(user: &$crate::UserId, id: &$crate::FactorId, marker: u64, used_at: $crate::Timestamp)
                -> bool;
            begin_attempt(
                user: &$crate::UserId,
                id: &$crate::FactorId,
                kinds: &[$crate::FactorKind],
                now: $crate::Timestamp
            ) -> Option<$crate::store::FactorAttempt>;
            accept_verification(user: &$crate::UserId, id: &$crate::FactorId, acceptance: &$crate::store::Acceptance)
                -> $crate::store::AcceptOutcome;
        });
        $crate::forward_store!(@family [$($g)*] $ty, |$this, $call| $target, |$fut| $around, CeremonyStore {
            put_ceremony(record: &$crate::store::CeremonyRecord) -> ();
            attempt_ceremony(user: Option<&$crate::UserId>, id: &$crate::CeremonyId, now: $crate::Timestamp)
                -> Option<$crate::store::CeremonyRecord>;
            get_ceremony(user: Option<&$crate::UserId>, id: &$crate::CeremonyId, now: $crate::Timestamp)
                -> Option<$crate::store::CeremonyRecord>;
            take_ceremony(user: Option<&$crate::UserId>, id: &$crate::CeremonyId, now: $crate::Timestamp)
                -> Option<$crate::store::CeremonyRecord>;
        });
        $crate::forward_store!(@family [$($g)*] $ty, |$this, $call| $target, |$fut| $around, RecoveryCodeStore {
            replace_recovery_codes(user: &$crate::UserId, codes: &[$crate::store::RecoveryCodeRecord]) -> ();
            get_recovery_code(user: &$crate::UserId, lookup: &str) -> Option<$crate::store::RecoveryCodeRecord>;
            consume_recovery_code(user: &$crate::UserId, lookup: &str, hash: &str) -> bool;
            count_recovery_codes(user: &$crate::UserId) -> usize;
        });
        $crate::forward_store!(@family [$($g)*] $ty, |$this, $call| $target, |$fut| $around, DeviceStore {
            insert_device_token(record: &$crate::store::DeviceTokenRecord) -> ();
            get_device_token(user: &$crate::UserId, id: &$crate::DeviceId) -> Option<$crate::store::DeviceTokenRecord>;
            list_device_tokens(user: &$crate::UserId) -> Vec<$crate::store::DeviceTokenRecord>;
            touch_device_token(user: &$crate::UserId, id: &$crate::DeviceId, at: $crate::Timestamp) -> bool;
            revoke_device_token(user: &$crate::UserId, id: &$crate::DeviceId) -> bool;
            revoke_all_device_tokens(user: &$crate::UserId) -> u64;
        });
        $crate::forward_store!(@family [$($g)*] $ty, |$this, $call| $target, |$fut| $around, CounterStore {
            get_throttle(user: &$crate::UserId, scope: &$crate::store::ThrottleScope) -> $crate::store::ThrottleState;
            compare_and_set_throttle(
                user: &$crate::UserId,
                scope: &$crate::store::ThrottleScope,
                expected: &$crate::store::ThrottleState,
                new: &$crate::store::ThrottleState
            ) -> bool;
            get_counter(key: &str, now: $crate::Timestamp) -> $crate::store::CounterState;
            compare_and_set_counter(
                key: &str,
                expected: &$crate::store::CounterState,
                new: &$crate::store::CounterState,
                now: $crate::Timestamp
            ) -> bool;
        });
        $crate::forward_store!(@family [$($g)*] $ty, |$this, $call| $target, |$fut| $around, AccountStore {
            reset_user(user: &$crate::UserId) -> $crate::store::RecordCounts;
            erase_user(user: &$crate::UserId, counter_keys: &[String]) -> $crate::store::RecordCounts;
            coverage(few_codes: usize) -> $crate::store::Coverage;
        });
        $crate::forward_store!(@family [$($g)*] $ty, |$this, $call| $target, |$fut| $around, Store {
            purge_expired(now: $crate::Timestamp) -> u64;
        });
    };
    (@family [$($g:tt)*] $ty:ty, |$this:ident, $call:ident| $target:expr, |$fut:ident| $around:expr, $family:ident {
        $( $name:ident ( $($arg:ident : $argty:ty),* ) -> $ret:ty; )*
    }) => {
        #[$crate::__private::async_trait]
        impl<$($g)*> $crate::store::$family for $ty {
            $(
                async fn $name(&self, $($arg: $argty),*) -> $crate::store::StoreResult<$ret> {
                    let $this = self;
                    let $call: &'static str = stringify!($name);
                    let $fut = $crate::store::$family::$name($target, $($arg),*);
                    $around
                }
            )*
        }
    };
}
