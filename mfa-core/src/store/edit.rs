//! The per-user atomic edit of factors ([`FactorStore::edit_factors`]) and the rules built
//! on it ([`StoreExt`]): activating a factor, choosing the preferred one.
//!
//! A store only applies an edit; what the edit is comes from a plan run on the user's
//! current factors under the store's per-user lock. The rules are written once, here, so
//! no store implements them.

use async_trait::async_trait;

use super::families::FactorStore;
use super::records::FactorRecord;
use super::{StoreError, StoreResult};
use crate::types::{FactorId, FactorStatus, Timestamp, UserId};

/// What an edit changes in one factor.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FactorChange {
    /// Makes the factor active: its status becomes [`FactorStatus::Active`] and the fields
    /// only a pending factor carries (`expires_at`, `enrolment`, `replaces`) are cleared.
    pub activate: bool,
    /// Sets (`Some(true)`) or clears (`Some(false)`) the preferred flag.
    pub preferred: Option<bool>,
}

/// A change to one user's factors that [`FactorStore::edit_factors`] applies all at once.
///
/// # Examples
///
/// ```
/// use mfa_core::store::FactorEdit;
/// use mfa_core::FactorId;
///
/// let (old, new) = (FactorId::random()?, FactorId::random()?);
/// let edit = FactorEdit::default().activate(new).prefer(new, true).delete(old);
/// assert!(!edit.is_empty());
/// # Ok::<(), mfa_core::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FactorEdit {
    /// Factors to delete, each with its failure counter and lookup key.
    pub delete: Vec<FactorId>,
    /// Factors to change, with what changes (several entries for one factor add up).
    pub change: Vec<(FactorId, FactorChange)>,
}

impl FactorEdit {
    /// Whether the edit changes nothing.
    pub fn is_empty(&self) -> bool {
        self.delete.is_empty() && self.change.is_empty()
    }

    /// Adds the deletion of a factor.
    #[must_use]
    pub fn delete(mut self, id: FactorId) -> Self {
        self.delete.push(id);
        self
    }

    /// Adds the activation of a pending factor.
    #[must_use]
    pub fn activate(mut self, id: FactorId) -> Self {
        self.change.push((id, FactorChange { activate: true, preferred: None }));
        self
    }

    /// Adds setting or clearing a factor's preferred flag.
    #[must_use]
    pub fn prefer(mut self, id: FactorId, preferred: bool) -> Self {
        self.change.push((id, FactorChange { activate: false, preferred: Some(preferred) }));
        self
    }

    /// Applies the edit to `records` (one user's factors), all or nothing, and returns the
    /// deleted records. For stores: the memory store edits its records with it, and the
    /// SQL stores compute the records they return.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] if the edit names a factor `records` lacks; `records` is
    /// then unchanged.
    pub fn apply(&self, records: &mut Vec<FactorRecord>) -> StoreResult<Vec<FactorRecord>> {
        let named = self.delete.iter().chain(self.change.iter().map(|(id, _)| id));
        if named.clone().any(|id| !records.iter().any(|r| r.id == *id)) {
            return Err(StoreError::NotFound);
        }
        for (id, change) in &self.change {
            if let Some(r) = records.iter_mut().find(|r| r.id == *id) {
                change.apply(r);
            }
        }
        let (deleted, kept) = std::mem::take(records).into_iter().partition(|r| self.delete.contains(&r.id));
        *records = kept;
        Ok(deleted)
    }
}

impl FactorChange {
    /// Applies the change to one record.
    pub fn apply(&self, record: &mut FactorRecord) {
        if self.activate {
            record.status = FactorStatus::Active;
            record.expires_at = None;
            record.enrolment = None;
            record.replaces = None;
        }
        if let Some(preferred) = self.preferred {
            record.preferred = preferred;
        }
    }
}

/// Factor operations derived from [`FactorStore::edit_factors`], for every store.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use mfa_core::store::{FactorRecord, FactorStore, StoreExt};
/// use mfa_core::{Assurance, FactorId, FactorKind, Timestamp, UserId};
/// use mfa_store_memory::MemoryStore;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = MemoryStore::new();
/// let (alice, now) = (UserId::new("alice")?, Timestamp::from_unix_millis(1_700_000_000_000));
/// let expires = now.saturating_add(Duration::from_secs(600));
/// let pending = FactorRecord::pending(FactorId::random()?, alice.clone(), FactorKind::TOTP, "Phone".into(), Assurance::ReplayResistantOtp, now, expires);
/// store.insert_factor(&pending).await?;
///
/// let active = store.activate_factor(&alice, &pending.id, now).await?;
/// assert!(active.is_active() && active.preferred, "a first factor becomes preferred");
/// # Ok(())
/// # }
/// ```
#[async_trait]
pub trait StoreExt: FactorStore {
    /// **Atomic.** Turns the user's pending, unexpired factor active. If it `replaces`
    /// another of the user's factors, that one is deleted (with its failure counter) and
    /// passes on its preferred flag; otherwise the factor becomes preferred if the user has
    /// no preferred active factor. Returns the active record.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] if there is no such pending factor, or it expired by `now`.
    async fn activate_factor(&self, user: &UserId, id: &FactorId, now: Timestamp) -> StoreResult<FactorRecord> {
        let plan = |factors: &[FactorRecord]| {
            let factor = factors.iter().find(|f| f.id == *id).ok_or(StoreError::NotFound)?;
            if factor.status != FactorStatus::Pending || factor.is_expired(now) {
                return Err(StoreError::NotFound);
            }
            let replaced = factor.replaces.filter(|old| old != id).and_then(|old| factors.iter().find(|f| f.id == old));
            let preferred = match replaced {
                Some(old) => old.preferred,
                None => !factors.iter().any(|f| f.is_active() && f.preferred),
            };
            let edit = FactorEdit::default().activate(*id).prefer(*id, preferred);
            Ok(match replaced {
                Some(old) => edit.delete(old.id),
                None => edit,
            })
        };
        let factors = self.edit_factors(user, &plan).await?;
        factors.into_iter().find(|f| f.id == *id).ok_or(StoreError::NotFound)
    }

    /// **Atomic.** Makes this active factor the user's only preferred one.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] if the user has no such active factor.
    async fn set_preferred(&self, user: &UserId, id: &FactorId) -> StoreResult<()> {
        let plan = |factors: &[FactorRecord]| {
            if !factors.iter().any(|f| f.id == *id && f.is_active()) {
                return Err(StoreError::NotFound);
            }
            Ok(factors
                .iter()
                .filter(|f| f.preferred != (f.id == *id))
                .fold(FactorEdit::default(), |edit, f| edit.prefer(f.id, f.id == *id)))
        };
        self.edit_factors(user, &plan).await.map(drop)
    }
}

impl<S: FactorStore + ?Sized> StoreExt for S {}
