//! Factors: inserting, reading, updating, activating, preferring and deleting them, and
//! the TOTP replay marker.
//!
//! Operations that read before writing (activating, preferring, deleting with the factor's
//! throttle) run in one `begin_user` transaction; the others are one statement each.

use mfa_core::store::{FactorRecord, FactorUpdate, StoreError, StoreResult, ThrottleScope};
use mfa_core::{FactorId, FactorStatus, Timestamp, UserId};

use super::{Backend, commit, execute, fetch_all, fetch_optional};
use crate::codec::{Columns, details_to_db, factor_from_row, marker_to_db, opt_millis};
use crate::statements::{
    ACTIVATE_FACTOR, ADVANCE_REPLAY_MARKER, DELETE_FACTOR, DELETE_REPLACED_FACTOR, DELETE_THROTTLE, INSERT_FACTOR,
    SELECT_FACTOR, SELECT_FACTOR_BY_LOOKUP_KEY, SELECT_FACTORS_OF_USER, SELECT_HAS_PREFERRED, SELECT_IS_ACTIVE,
    SET_PREFERRED, UPDATE_FACTOR,
};

pub(super) async fn insert(store: &Backend, record: &FactorRecord) -> StoreResult<()> {
    let query = sqlx::query(INSERT_FACTOR)
        .bind(&record.id.as_bytes()[..])
        .bind(record.user.as_str())
        .bind(record.kind.as_str())
        .bind(record.label.as_str())
        .bind(record.status.as_str())
        .bind(record.assurance.as_str())
        .bind(record.created_at.unix_millis())
        .bind(opt_millis(record.last_used_at))
        .bind(opt_millis(record.expires_at))
        .bind(record.preferred)
        .bind(record.masked_destination.as_deref())
        .bind(details_to_db(&record.details)?)
        .bind(record.secret.as_ref().map(|s| i64::from(s.key_id.0)))
        .bind(record.secret.as_ref().map(|s| s.ciphertext.as_slice()))
        .bind(record.data.as_slice())
        .bind(record.replay_marker.map(marker_to_db))
        .bind(record.enrolment.as_ref().map(|c| &c.as_bytes()[..]))
        .bind(record.replaces.as_ref().map(|f| &f.as_bytes()[..]))
        .bind(record.lookup_key.as_deref());
    execute(&store.pool, query).await?;
    Ok(())
}

pub(super) async fn find_by_lookup_key(store: &Backend, key: &str) -> StoreResult<Option<FactorRecord>> {
    let row = fetch_optional(&store.pool, sqlx::query(SELECT_FACTOR_BY_LOOKUP_KEY).bind(key)).await?;
    row.as_ref().map(factor_from_row).transpose()
}

pub(super) async fn get(store: &Backend, user: &UserId, id: &FactorId) -> StoreResult<Option<FactorRecord>> {
    let query = sqlx::query(SELECT_FACTOR).bind(user.as_str()).bind(&id.as_bytes()[..]);
    fetch_optional(&store.pool, query).await?.as_ref().map(factor_from_row).transpose()
}

pub(super) async fn list(store: &Backend, user: &UserId) -> StoreResult<Vec<FactorRecord>> {
    let rows = fetch_all(&store.pool, sqlx::query(SELECT_FACTORS_OF_USER).bind(user.as_str())).await?;
    rows.iter().map(factor_from_row).collect()
}

/// One conditional `UPDATE` whose NULL arguments leave their columns as they are: atomic,
/// and a lookup-key conflict fails the whole statement.
pub(super) async fn update(
    store: &Backend,
    user: &UserId,
    id: &FactorId,
    update: &FactorUpdate,
) -> StoreResult<FactorRecord> {
    let FactorUpdate { label, last_used_at, secret, data, details, enrolment, lookup_key, replay_marker, .. } = update;
    let changes_nothing = label.is_none()
        && last_used_at.is_none()
        && secret.is_none()
        && data.is_none()
        && details.is_none()
        && enrolment.is_none()
        && lookup_key.is_none()
        && replay_marker.is_none();
    if changes_nothing {
        return get(store, user, id).await?.ok_or(StoreError::NotFound);
    }
    let query = sqlx::query(UPDATE_FACTOR)
        .bind(label.as_deref())
        .bind(opt_millis(*last_used_at))
        .bind(secret.as_ref().map(|s| i64::from(s.key_id.0)))
        .bind(secret.as_ref().map(|s| s.ciphertext.as_slice()))
        .bind(data.as_deref())
        .bind(details.as_deref().map(details_to_db).transpose()?)
        .bind(enrolment.as_ref().map(|c| &c.as_bytes()[..]))
        .bind(lookup_key.as_deref())
        .bind(replay_marker.map(marker_to_db))
        .bind(user.as_str())
        .bind(&id.as_bytes()[..]);
    let rows = fetch_all(&store.pool, query).await?;
    rows.first().map(factor_from_row).transpose()?.ok_or(StoreError::NotFound)
}

/// Activates a pending, unexpired factor in one transaction: the factor it replaces (if
/// any) is deleted with its throttle and passes on its preferred flag; otherwise the factor
/// becomes preferred if the user has no preferred active factor.
pub(super) async fn activate(
    store: &Backend,
    user: &UserId,
    id: &FactorId,
    now: Timestamp,
) -> StoreResult<FactorRecord> {
    let mut tx = store.begin_user(user).await?;
    let query = sqlx::query(SELECT_FACTOR).bind(user.as_str()).bind(&id.as_bytes()[..]);
    let row = fetch_optional(&mut *tx, query).await?;
    let factor = row.as_ref().map(factor_from_row).transpose()?.ok_or(StoreError::NotFound)?;
    if factor.status != FactorStatus::Pending || factor.is_expired(now) {
        return Err(StoreError::NotFound);
    }
    let mut inherit = false;
    if let Some(old) = factor.replaces.filter(|old| old != id) {
        let query = sqlx::query(DELETE_REPLACED_FACTOR).bind(user.as_str()).bind(&old.as_bytes()[..]);
        if let Some(row) = fetch_all(&mut *tx, query).await?.first() {
            inherit = row.flag("preferred")?;
            let query = sqlx::query(DELETE_THROTTLE).bind(user.as_str()).bind(ThrottleScope::Factor(old).key());
            execute(&mut *tx, query).await?;
        }
    }
    let has_preferred =
        fetch_optional(&mut *tx, sqlx::query(SELECT_HAS_PREFERRED).bind(user.as_str())).await?.is_some();
    let query =
        sqlx::query(ACTIVATE_FACTOR).bind(inherit || !has_preferred).bind(user.as_str()).bind(&id.as_bytes()[..]);
    let rows = fetch_all(&mut *tx, query).await?;
    let record = rows.first().map(factor_from_row).transpose()?.ok_or(StoreError::NotFound)?;
    commit(tx).await?;
    Ok(record)
}

pub(super) async fn set_preferred(store: &Backend, user: &UserId, id: &FactorId) -> StoreResult<()> {
    let mut tx = store.begin_user(user).await?;
    let query = sqlx::query(SELECT_IS_ACTIVE).bind(user.as_str()).bind(&id.as_bytes()[..]);
    if fetch_optional(&mut *tx, query).await?.is_none() {
        return Err(StoreError::NotFound);
    }
    execute(&mut *tx, sqlx::query(SET_PREFERRED).bind(&id.as_bytes()[..]).bind(user.as_str())).await?;
    commit(tx).await
}

/// Deletes a factor and its throttle in one transaction.
pub(super) async fn delete(store: &Backend, user: &UserId, id: &FactorId) -> StoreResult<FactorRecord> {
    let mut tx = store.begin_user(user).await?;
    let rows = fetch_all(&mut *tx, sqlx::query(DELETE_FACTOR).bind(user.as_str()).bind(&id.as_bytes()[..])).await?;
    let record = rows.first().map(factor_from_row).transpose()?.ok_or(StoreError::NotFound)?;
    execute(&mut *tx, sqlx::query(DELETE_THROTTLE).bind(user.as_str()).bind(ThrottleScope::Factor(*id).key())).await?;
    commit(tx).await?;
    Ok(record)
}

pub(super) async fn advance_replay_marker(
    store: &Backend,
    user: &UserId,
    id: &FactorId,
    marker: u64,
    used_at: Timestamp,
) -> StoreResult<bool> {
    let query = sqlx::query(ADVANCE_REPLAY_MARKER)
        .bind(marker_to_db(marker))
        .bind(used_at.unix_millis())
        .bind(user.as_str())
        .bind(&id.as_bytes()[..]);
    Ok(execute(&store.pool, query).await? == 1)
}
