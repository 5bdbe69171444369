//! Codecs between records and columns: how each value is stored, and how a result row
//! decodes into a record, for both backends.
//!
//! Ids are 16-byte blobs, user ids and kinds text, timestamps Unix milliseconds, factor
//! details JSON text, and TOTP replay markers (`u64`) a 64-bit integer offset by -2^63 so
//! that the database orders them like the original values. A value that does not decode
//! is reported as [`Corrupt`](crate::error::Corrupt) data, never skipped.

use mfa_core::seal::{KeyId, SealedSecret};
use mfa_core::store::{
    CeremonyPurpose, CeremonyRecord, CounterState, DeviceTokenRecord, FactorRecord, RecoveryCodeRecord, StoreError,
    StoreResult, ThrottleState,
};
use mfa_core::{Assurance, CeremonyId, DeviceId, FactorId, FactorKind, FactorStatus, Timestamp, UserId};
use sqlx::{ColumnIndex, Decode, Row, Type};

use crate::audit::AuditRecord;
use crate::error::corrupt;

/// Maps a `u64` replay marker onto `i64` preserving order: 0 becomes `i64::MIN`,
/// `u64::MAX` becomes `i64::MAX`.
pub(crate) fn marker_to_db(marker: u64) -> i64 {
    i64::from_ne_bytes((marker ^ (1 << 63)).to_ne_bytes())
}

/// The inverse of [`marker_to_db`].
pub(crate) fn marker_from_db(v: i64) -> u64 {
    u64::from_ne_bytes(v.to_ne_bytes()) ^ (1 << 63)
}

/// An optional timestamp as optional Unix milliseconds.
pub(crate) fn opt_millis(t: Option<Timestamp>) -> Option<i64> {
    t.map(Timestamp::unix_millis)
}

/// The current time in Unix milliseconds (for `applied_at`, which no record carries).
pub(crate) fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Factor details as a JSON array of pairs.
pub(crate) fn details_to_db(details: &[(String, String)]) -> StoreResult<String> {
    serde_json::to_string(details).map_err(StoreError::backend)
}

/// The inverse of [`details_to_db`].
pub(crate) fn details_from_db(s: &str) -> StoreResult<Vec<(String, String)>> {
    serde_json::from_str(s).map_err(StoreError::backend)
}

fn id16(bytes: Vec<u8>, what: &'static str) -> StoreResult<[u8; 16]> {
    bytes.try_into().map_err(|_| corrupt(what))
}

fn opt_id16(bytes: Option<Vec<u8>>, what: &'static str) -> StoreResult<Option<[u8; 16]>> {
    bytes.map(|b| id16(b, what)).transpose()
}

fn u32_from_db(v: i64, what: &'static str) -> StoreResult<u32> {
    u32::try_from(v).map_err(|_| corrupt(what))
}

fn ts(v: i64) -> Timestamp {
    Timestamp::from_unix_millis(v)
}

fn opt_ts(v: Option<i64>) -> Option<Timestamp> {
    v.map(Timestamp::from_unix_millis)
}

fn user_from_db(s: String) -> StoreResult<UserId> {
    UserId::new(s).map_err(|_| corrupt("user id"))
}

fn kind_from_db(s: String) -> StoreResult<FactorKind> {
    FactorKind::new(s).map_err(|_| corrupt("factor kind"))
}

fn status_from_db(s: &str) -> StoreResult<FactorStatus> {
    match s {
        "pending" => Ok(FactorStatus::Pending),
        "active" => Ok(FactorStatus::Active),
        _ => Err(corrupt("factor status")),
    }
}

fn purpose_from_db(s: &str) -> StoreResult<CeremonyPurpose> {
    match s {
        "enrolment" => Ok(CeremonyPurpose::Enrolment),
        "challenge" => Ok(CeremonyPurpose::Challenge),
        "temporary_access" => Ok(CeremonyPurpose::TemporaryAccess),
        _ => Err(corrupt("ceremony purpose")),
    }
}

/// Typed, named access to the columns of a result row of either backend.
pub(crate) trait Columns {
    /// A `TEXT` column.
    fn text(&self, col: &str) -> StoreResult<String>;
    /// A nullable `TEXT` column.
    fn opt_text(&self, col: &str) -> StoreResult<Option<String>>;
    /// A `BLOB`/`BYTEA` column.
    fn bytes(&self, col: &str) -> StoreResult<Vec<u8>>;
    /// A nullable `BLOB`/`BYTEA` column.
    fn opt_bytes(&self, col: &str) -> StoreResult<Option<Vec<u8>>>;
    /// An integer column.
    fn int(&self, col: &str) -> StoreResult<i64>;
    /// A nullable integer column.
    fn opt_int(&self, col: &str) -> StoreResult<Option<i64>>;
    /// A boolean column.
    fn flag(&self, col: &str) -> StoreResult<bool>;
}

impl<R> Columns for R
where
    R: Row,
    for<'a> &'a str: ColumnIndex<R>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> Vec<u8>: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> bool: Decode<'r, R::Database> + Type<R::Database>,
{
    fn text(&self, col: &str) -> StoreResult<String> {
        self.try_get(col).map_err(StoreError::backend)
    }

    fn opt_text(&self, col: &str) -> StoreResult<Option<String>> {
        self.try_get(col).map_err(StoreError::backend)
    }

    fn bytes(&self, col: &str) -> StoreResult<Vec<u8>> {
        self.try_get(col).map_err(StoreError::backend)
    }

    fn opt_bytes(&self, col: &str) -> StoreResult<Option<Vec<u8>>> {
        self.try_get(col).map_err(StoreError::backend)
    }

    fn int(&self, col: &str) -> StoreResult<i64> {
        self.try_get(col).map_err(StoreError::backend)
    }

    fn opt_int(&self, col: &str) -> StoreResult<Option<i64>> {
        self.try_get(col).map_err(StoreError::backend)
    }

    fn flag(&self, col: &str) -> StoreResult<bool> {
        self.try_get(col).map_err(StoreError::backend)
    }
}

/// A factor from a row holding every column of `mfa_factors`.
pub(crate) fn factor_from_row(row: &impl Columns) -> StoreResult<FactorRecord> {
    let id = FactorId::from_bytes(id16(row.bytes("id")?, "factor id")?);
    let user = user_from_db(row.text("user_id")?)?;
    let kind = kind_from_db(row.text("kind")?)?;
    let assurance = Assurance::parse(&row.text("assurance")?).map_err(|_| corrupt("assurance"))?;
    let created_at = ts(row.int("created_at")?);
    let expires_at = opt_ts(row.opt_int("expires_at")?);
    let mut r = FactorRecord::pending(
        id,
        user,
        kind,
        row.text("label")?,
        assurance,
        created_at,
        expires_at.unwrap_or(created_at),
    );
    r.expires_at = expires_at;
    r.status = status_from_db(&row.text("status")?)?;
    r.last_used_at = opt_ts(row.opt_int("last_used_at")?);
    r.preferred = row.flag("preferred")?;
    r.masked_destination = row.opt_text("masked_destination")?;
    r.details = details_from_db(&row.text("details")?)?;
    r.secret = match (row.opt_int("secret_key_id")?, row.opt_bytes("secret_ciphertext")?) {
        (Some(k), Some(ciphertext)) => {
            Some(SealedSecret { key_id: KeyId(u32_from_db(k, "secret key id")?), ciphertext })
        }
        (None, None) => None,
        _ => return Err(corrupt("sealed secret")),
    };
    r.data = row.bytes("data")?;
    r.replay_marker = row.opt_int("replay_marker")?.map(marker_from_db);
    r.enrolment = opt_id16(row.opt_bytes("enrolment")?, "enrolment id")?.map(CeremonyId::from_bytes);
    r.replaces = opt_id16(row.opt_bytes("replaces")?, "replaced factor id")?.map(FactorId::from_bytes);
    r.lookup_key = row.opt_text("lookup_key")?;
    Ok(r)
}

/// A ceremony from a row holding every column of `mfa_ceremonies`.
pub(crate) fn ceremony_from_row(row: &impl Columns) -> StoreResult<CeremonyRecord> {
    let mut c = CeremonyRecord::new(
        CeremonyId::from_bytes(id16(row.bytes("id")?, "ceremony id")?),
        row.opt_text("user_id")?.map(user_from_db).transpose()?,
        opt_id16(row.opt_bytes("factor_id")?, "ceremony factor id")?.map(FactorId::from_bytes),
        kind_from_db(row.text("kind")?)?,
        purpose_from_db(&row.text("purpose")?)?,
        row.bytes("payload")?,
        u32_from_db(row.int("max_attempts")?, "max attempts")?,
        ts(row.int("created_at")?),
        ts(row.int("expires_at")?),
    )
    .with_action(row.opt_text("bound_action")?);
    c.attempts = u32_from_db(row.int("attempts")?, "attempts")?;
    Ok(c)
}

/// A recovery code from a row holding `lookup`, `hash` and `created_at`.
pub(crate) fn code_from_row(row: &impl Columns) -> StoreResult<RecoveryCodeRecord> {
    Ok(RecoveryCodeRecord::new(row.text("lookup")?, row.text("hash")?, ts(row.int("created_at")?)))
}

/// A remembered device from a row holding every column of `mfa_device_tokens`.
pub(crate) fn device_from_row(row: &impl Columns) -> StoreResult<DeviceTokenRecord> {
    let mut d = DeviceTokenRecord::new(
        DeviceId::from_bytes(id16(row.bytes("id")?, "device id")?),
        user_from_db(row.text("user_id")?)?,
        row.text("label")?,
        row.bytes("secret_hash")?,
        ts(row.int("created_at")?),
        ts(row.int("expires_at")?),
    );
    d.last_seen_at = opt_ts(row.opt_int("last_seen_at")?);
    Ok(d)
}

/// A throttle from a row holding `failures` and `last_attempt_at`.
pub(crate) fn throttle_from_row(row: &impl Columns) -> StoreResult<ThrottleState> {
    Ok(ThrottleState::new(u32_from_db(row.int("failures")?, "failures")?, opt_ts(row.opt_int("last_attempt_at")?)))
}

/// A counter from a row holding `count`, `window_start`, `last_at` and `expires_at`.
pub(crate) fn counter_from_row(row: &impl Columns) -> StoreResult<CounterState> {
    Ok(CounterState::new(
        u32_from_db(row.int("count")?, "count")?,
        opt_ts(row.opt_int("window_start")?),
        opt_ts(row.opt_int("last_at")?),
        opt_ts(row.opt_int("expires_at")?),
    ))
}

/// An audit event from a row holding `id` and every column of `mfa_audit_events`.
pub(crate) fn audit_from_row(row: &impl Columns) -> StoreResult<AuditRecord> {
    let ip = row.opt_text("ip")?.map(|ip| ip.parse().map_err(|_| corrupt("audit ip"))).transpose()?;
    let body = serde_json::from_str(&row.text("body")?).map_err(|_| corrupt("audit body"))?;
    Ok(AuditRecord {
        id: row.int("id")?,
        at: ts(row.int("at")?),
        user: row.opt_text("user_id")?.map(user_from_db).transpose()?,
        actor: row.text("actor")?,
        ip,
        user_agent: row.opt_text("user_agent")?,
        event: row.text("event")?,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_markers_keep_their_order_in_the_database() {
        let markers = [0, 1, 41, (1 << 63) - 1, 1 << 63, (1 << 63) + 1, u64::MAX - 1, u64::MAX];
        for pair in markers.windows(2) {
            assert!(marker_to_db(pair[0]) < marker_to_db(pair[1]), "{pair:?}");
        }
        for m in markers {
            assert_eq!(marker_from_db(marker_to_db(m)), m);
        }
        assert_eq!(marker_to_db(0), i64::MIN);
        assert_eq!(marker_to_db(u64::MAX), i64::MAX);
    }

    #[test]
    fn details_round_trip_as_json() {
        let details = vec![("aaguid".to_owned(), "x".to_owned()), ("k".to_owned(), "\"quoted\"".to_owned())];
        assert_eq!(details_from_db(&details_to_db(&details).unwrap_or_default()).ok(), Some(details));
    }
}
