//! The whole store conformance suite, on the concrete type and through `Arc<dyn Store>`.

use std::sync::Arc;

use mfa_core::store::Store;
use mfa_store_memory::MemoryStore;

mfa_core::store_conformance_tests!(concrete, async { Arc::new(MemoryStore::new()) });
mfa_core::store_conformance_tests!(dyn_store, async { Arc::new(MemoryStore::new()) as Arc<dyn Store> });
