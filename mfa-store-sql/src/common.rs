//! What both backends share: value codecs, error mapping, migrations and the one
//! implementation of [`Store`](mfa_core::Store), written once as a macro over the backend.
//!
//! Every statement uses `$n` placeholders and `IS NOT DISTINCT FROM`, which SQLite (3.39+,
//! bundled) and PostgreSQL both understand.

use std::fmt;

use mfa_core::store::{CeremonyPurpose, StoreError, StoreResult};
use mfa_core::{FactorStatus, Timestamp};

/// A row that does not decode into a record (a corrupted or foreign database).
#[derive(Debug)]
pub(crate) struct Corrupt(pub(crate) &'static str);

impl fmt::Display for Corrupt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "stored value does not decode: {}", self.0)
    }
}

impl std::error::Error for Corrupt {}

/// The database's schema is newer than this library knows.
#[derive(Debug)]
pub(crate) struct SchemaTooNew {
    pub(crate) found: i64,
}

impl fmt::Display for SchemaTooNew {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "database schema version {} is newer than this mfa-store-sql supports ({})",
            self.found,
            crate::SCHEMA_VERSION
        )
    }
}

impl std::error::Error for SchemaTooNew {}

/// Maps a sqlx error: unique violations become [`StoreError::AlreadyExists`], the rest
/// [`StoreError::Backend`] with the error kept as source.
pub(crate) fn db_err(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::AlreadyExists,
        _ => StoreError::backend(e),
    }
}

pub(crate) fn corrupt(what: &'static str) -> StoreError {
    StoreError::backend(Corrupt(what))
}

/// One embedded migration.
pub(crate) struct Migration {
    pub(crate) version: i64,
    pub(crate) name: &'static str,
    pub(crate) sql: &'static str,
}

pub(crate) fn id16(bytes: Vec<u8>, what: &'static str) -> StoreResult<[u8; 16]> {
    bytes.try_into().map_err(|_| corrupt(what))
}

pub(crate) fn opt_id16(bytes: Option<Vec<u8>>, what: &'static str) -> StoreResult<Option<[u8; 16]>> {
    bytes.map(|b| id16(b, what)).transpose()
}

/// Maps a `u64` replay marker onto `i64` preserving order: 0 becomes `i64::MIN`,
/// `u64::MAX` becomes `i64::MAX`.
pub(crate) fn marker_to_db(marker: u64) -> i64 {
    i64::from_ne_bytes((marker ^ (1 << 63)).to_ne_bytes())
}

/// The inverse of [`marker_to_db`].
pub(crate) fn marker_from_db(v: i64) -> u64 {
    u64::from_ne_bytes(v.to_ne_bytes()) ^ (1 << 63)
}

pub(crate) fn u32_from_db(v: i64, what: &'static str) -> StoreResult<u32> {
    u32::try_from(v).map_err(|_| corrupt(what))
}

pub(crate) fn ts(v: i64) -> Timestamp {
    Timestamp::from_unix_millis(v)
}

pub(crate) fn opt_ts(v: Option<i64>) -> Option<Timestamp> {
    v.map(Timestamp::from_unix_millis)
}

pub(crate) fn opt_millis(t: Option<Timestamp>) -> Option<i64> {
    t.map(Timestamp::unix_millis)
}

pub(crate) fn details_to_db(details: &[(String, String)]) -> StoreResult<String> {
    serde_json::to_string(details).map_err(StoreError::backend)
}

pub(crate) fn details_from_db(s: &str) -> StoreResult<Vec<(String, String)>> {
    serde_json::from_str(s).map_err(StoreError::backend)
}

pub(crate) fn status_from_db(s: &str) -> StoreResult<FactorStatus> {
    match s {
        "pending" => Ok(FactorStatus::Pending),
        "active" => Ok(FactorStatus::Active),
        _ => Err(corrupt("factor status")),
    }
}

pub(crate) fn purpose_from_db(s: &str) -> StoreResult<CeremonyPurpose> {
    match s {
        "enrolment" => Ok(CeremonyPurpose::Enrolment),
        "challenge" => Ok(CeremonyPurpose::Challenge),
        _ => Err(corrupt("ceremony purpose")),
    }
}

pub(crate) fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

pub(crate) const FACTOR_COLS: &str = "id, user_id, kind, label, status, assurance, created_at, last_used_at, \
     expires_at, preferred, masked_destination, details, secret_key_id, secret_ciphertext, data, replay_marker, \
     enrolment, replaces, lookup_key";

pub(crate) const CEREMONY_COLS: &str =
    "id, user_id, factor_id, kind, purpose, payload, attempts, max_attempts, bound_action, created_at, expires_at";

pub(crate) const DEVICE_COLS: &str = "id, user_id, label, secret_hash, created_at, last_seen_at, expires_at";

/// Implements [`Store`](mfa_core::Store) for `$store`, a struct with a `pool: Pool<$db>` and
/// two methods returning a transaction of `$db`:
/// - `begin_user(&self, user: &UserId)`: a write transaction that excludes every other
///   such transaction of the same user (and, on SQLite, every writer);
/// - `begin_migration(&self)`: a write transaction that excludes concurrent migrations.
macro_rules! impl_sql_store {
    ($store:ty, $db:ty) => {
        mod store_impl {
            use async_trait::async_trait;
            use mfa_core::seal::{KeyId, SealedSecret};
            use mfa_core::store::{
                CeremonyRecord, CounterState, DeviceTokenRecord, FactorRecord, FactorUpdate, RecoveryCodeRecord,
                StoreError, StoreResult, ThrottleScope, ThrottleState,
            };
            use mfa_core::{
                Assurance, ChallengeId, DeviceId, FactorId, FactorKind, FactorStatus, Store, Timestamp, UserId,
            };
            use sqlx::Row;

            use super::MIGRATIONS;
            use $crate::common::{
                CEREMONY_COLS, DEVICE_COLS, FACTOR_COLS, SchemaTooNew, corrupt, db_err, details_from_db,
                details_to_db, id16, marker_from_db, marker_to_db, now_millis, opt_id16, opt_millis, opt_ts,
                purpose_from_db, status_from_db, ts, u32_from_db,
            };

            type DbRow = <$db as sqlx::Database>::Row;

            fn get<'r, T>(row: &'r DbRow, col: &str) -> StoreResult<T>
            where
                T: sqlx::Decode<'r, $db> + sqlx::Type<$db>,
            {
                row.try_get::<T, _>(col).map_err(StoreError::backend)
            }

            fn user_from_db(s: String) -> StoreResult<UserId> {
                UserId::new(s).map_err(|_| corrupt("user id"))
            }

            fn factor_from_row(row: &DbRow) -> StoreResult<FactorRecord> {
                let id = FactorId::from_bytes(id16(get(row, "id")?, "factor id")?);
                let user = user_from_db(get(row, "user_id")?)?;
                let kind = FactorKind::new(get::<String>(row, "kind")?).map_err(|_| corrupt("factor kind"))?;
                let assurance =
                    Assurance::parse(&get::<String>(row, "assurance")?).map_err(|_| corrupt("assurance"))?;
                let created_at = ts(get(row, "created_at")?);
                let expires_at = opt_ts(get(row, "expires_at")?);
                let mut r = FactorRecord::pending(
                    id,
                    user,
                    kind,
                    get(row, "label")?,
                    assurance,
                    created_at,
                    expires_at.unwrap_or(created_at),
                );
                r.expires_at = expires_at;
                r.status = status_from_db(&get::<String>(row, "status")?)?;
                r.last_used_at = opt_ts(get(row, "last_used_at")?);
                r.preferred = get(row, "preferred")?;
                r.masked_destination = get(row, "masked_destination")?;
                r.details = details_from_db(&get::<String>(row, "details")?)?;
                let key_id: Option<i64> = get(row, "secret_key_id")?;
                let ciphertext: Option<Vec<u8>> = get(row, "secret_ciphertext")?;
                r.secret = match (key_id, ciphertext) {
                    (Some(k), Some(ciphertext)) => {
                        Some(SealedSecret { key_id: KeyId(u32_from_db(k, "secret key id")?), ciphertext })
                    }
                    (None, None) => None,
                    _ => return Err(corrupt("sealed secret")),
                };
                r.data = get(row, "data")?;
                r.replay_marker = get::<Option<i64>>(row, "replay_marker")?.map(marker_from_db);
                r.enrolment = opt_id16(get(row, "enrolment")?, "enrolment id")?.map(ChallengeId::from_bytes);
                r.replaces = opt_id16(get(row, "replaces")?, "replaced factor id")?.map(FactorId::from_bytes);
                r.lookup_key = get(row, "lookup_key")?;
                Ok(r)
            }

            fn ceremony_from_row(row: &DbRow) -> StoreResult<CeremonyRecord> {
                let user = get::<Option<String>>(row, "user_id")?.map(user_from_db).transpose()?;
                let mut c = CeremonyRecord::new(
                    ChallengeId::from_bytes(id16(get(row, "id")?, "ceremony id")?),
                    user,
                    opt_id16(get(row, "factor_id")?, "ceremony factor id")?.map(FactorId::from_bytes),
                    FactorKind::new(get::<String>(row, "kind")?).map_err(|_| corrupt("factor kind"))?,
                    purpose_from_db(&get::<String>(row, "purpose")?)?,
                    get(row, "payload")?,
                    u32_from_db(get(row, "max_attempts")?, "max attempts")?,
                    ts(get(row, "created_at")?),
                    ts(get(row, "expires_at")?),
                )
                .with_action(get(row, "bound_action")?);
                c.attempts = u32_from_db(get(row, "attempts")?, "attempts")?;
                Ok(c)
            }

            fn device_from_row(row: &DbRow) -> StoreResult<DeviceTokenRecord> {
                let mut d = DeviceTokenRecord::new(
                    DeviceId::from_bytes(id16(get(row, "id")?, "device id")?),
                    user_from_db(get(row, "user_id")?)?,
                    get(row, "label")?,
                    get(row, "secret_hash")?,
                    ts(get(row, "created_at")?),
                    ts(get(row, "expires_at")?),
                );
                d.last_seen_at = opt_ts(get(row, "last_seen_at")?);
                Ok(d)
            }

            fn code_from_row(row: &DbRow) -> StoreResult<RecoveryCodeRecord> {
                Ok(RecoveryCodeRecord::new(get(row, "lookup")?, get(row, "hash")?, ts(get(row, "created_at")?)))
            }

            fn is_default_throttle(s: &ThrottleState) -> bool {
                *s == ThrottleState::default()
            }

            fn is_default_counter(s: &CounterState) -> bool {
                *s == CounterState::default()
            }

            impl $store {
                /// Creates or upgrades the schema to [`SCHEMA_VERSION`](crate::SCHEMA_VERSION)
                /// by applying, in one transaction, every embedded migration the database has
                /// not seen. Idempotent, and safe to run from several processes at once.
                ///
                /// # Errors
                ///
                /// [`StoreError::Backend`] if the database fails, or if its schema is newer than
                /// this library supports.
                pub async fn migrate(&self) -> StoreResult<()> {
                    let mut tx = self.begin_migration().await.map_err(db_err)?;
                    sqlx::Executor::execute(
                        &mut *tx,
                        "CREATE TABLE IF NOT EXISTS mfa_schema_version (\
                         version BIGINT NOT NULL PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
                    )
                    .await
                    .map_err(db_err)?;
                    let current: i64 = sqlx::query("SELECT COALESCE(MAX(version), 0) AS v FROM mfa_schema_version")
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(db_err)
                        .and_then(|row| get(&row, "v"))?;
                    if current > $crate::SCHEMA_VERSION {
                        return Err(StoreError::backend(SchemaTooNew { found: current }));
                    }
                    // `Executor::execute` with a `&str` (no arguments) runs several statements;
                    // `sqlx::raw_sql` would too, but makes this future unprovably `Send`.
                    for m in MIGRATIONS {
                        if m.version <= current {
                            continue;
                        }
                        sqlx::Executor::execute(&mut *tx, m.sql).await.map_err(db_err)?;
                        sqlx::query("INSERT INTO mfa_schema_version (version, name, applied_at) VALUES ($1, $2, $3)")
                            .bind(m.version)
                            .bind(m.name)
                            .bind(now_millis())
                            .execute(&mut *tx)
                            .await
                            .map_err(db_err)?;
                    }
                    tx.commit().await.map_err(db_err)
                }

                /// The schema version the database is at (0 before the first
                /// [`migrate`](Self::migrate)).
                ///
                /// # Errors
                ///
                /// [`StoreError::Backend`] if the database fails.
                pub async fn schema_version(&self) -> StoreResult<i64> {
                    let exists = sqlx::query("SELECT 1 AS one FROM mfa_schema_version LIMIT 1")
                        .fetch_optional(&self.pool)
                        .await;
                    if exists.is_err() {
                        return Ok(0);
                    }
                    sqlx::query("SELECT COALESCE(MAX(version), 0) AS v FROM mfa_schema_version")
                        .fetch_one(&self.pool)
                        .await
                        .map_err(db_err)
                        .and_then(|row| get(&row, "v"))
                }
            }

            #[async_trait]
            impl Store for $store {
                async fn insert_factor(&self, record: &FactorRecord) -> StoreResult<()> {
                    let sql = format!(
                        "INSERT INTO mfa_factors ({FACTOR_COLS}) VALUES \
                         ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)"
                    );
                    sqlx::query(&sql)
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
                        .bind(record.lookup_key.as_deref())
                        .execute(&self.pool)
                        .await
                        .map_err(db_err)?;
                    Ok(())
                }

                async fn find_factor_by_lookup_key(&self, key: &str) -> StoreResult<Option<FactorRecord>> {
                    let sql = format!("SELECT {FACTOR_COLS} FROM mfa_factors WHERE lookup_key = $1");
                    let row = sqlx::query(&sql).bind(key).fetch_optional(&self.pool).await.map_err(db_err)?;
                    row.as_ref().map(factor_from_row).transpose()
                }

                async fn get_factor(&self, user: &UserId, id: &FactorId) -> StoreResult<Option<FactorRecord>> {
                    let sql = format!("SELECT {FACTOR_COLS} FROM mfa_factors WHERE user_id = $1 AND id = $2");
                    let row = sqlx::query(&sql)
                        .bind(user.as_str())
                        .bind(&id.as_bytes()[..])
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(db_err)?;
                    row.as_ref().map(factor_from_row).transpose()
                }

                async fn list_factors(&self, user: &UserId) -> StoreResult<Vec<FactorRecord>> {
                    let sql = format!("SELECT {FACTOR_COLS} FROM mfa_factors WHERE user_id = $1");
                    let rows = sqlx::query(&sql).bind(user.as_str()).fetch_all(&self.pool).await.map_err(db_err)?;
                    rows.iter().map(factor_from_row).collect()
                }

                async fn update_factor(
                    &self,
                    user: &UserId,
                    id: &FactorId,
                    update: &FactorUpdate,
                ) -> StoreResult<FactorRecord> {
                    // One conditional UPDATE naming only the fields to change: atomic, and a
                    // lookup-key conflict fails the whole statement.
                    let mut sets: Vec<String> = Vec::new();
                    let mut n = 0usize;
                    let mut set = |col: &str| {
                        n += 1;
                        sets.push(format!("{col} = ${n}"));
                    };
                    if update.label.is_some() {
                        set("label");
                    }
                    if update.last_used_at.is_some() {
                        set("last_used_at");
                    }
                    if update.secret.is_some() {
                        set("secret_key_id");
                        set("secret_ciphertext");
                    }
                    if update.data.is_some() {
                        set("data");
                    }
                    if update.details.is_some() {
                        set("details");
                    }
                    if update.enrolment.is_some() {
                        set("enrolment");
                    }
                    if update.lookup_key.is_some() {
                        set("lookup_key");
                    }
                    if update.replay_marker.is_some() {
                        // Only ever forward, in the same statement.
                        n += 1;
                        sets.push(format!(
                            "replay_marker = CASE WHEN replay_marker IS NULL OR replay_marker < ${n} \
                             THEN ${n} ELSE replay_marker END"
                        ));
                    }
                    if sets.is_empty() {
                        return self.get_factor(user, id).await?.ok_or(StoreError::NotFound);
                    }
                    let sql = format!(
                        "UPDATE mfa_factors SET {} WHERE user_id = ${} AND id = ${} RETURNING {FACTOR_COLS}",
                        sets.join(", "),
                        sets.len() + 1,
                        sets.len() + 2
                    );
                    let details = update.details.as_deref().map(details_to_db).transpose()?;
                    let mut q = sqlx::query(&sql);
                    if let Some(label) = &update.label {
                        q = q.bind(label.as_str());
                    }
                    if let Some(at) = update.last_used_at {
                        q = q.bind(at.unix_millis());
                    }
                    if let Some(secret) = &update.secret {
                        q = q.bind(i64::from(secret.key_id.0)).bind(secret.ciphertext.as_slice());
                    }
                    if let Some(data) = &update.data {
                        q = q.bind(data.as_slice());
                    }
                    if let Some(details) = details {
                        q = q.bind(details);
                    }
                    if let Some(enrolment) = &update.enrolment {
                        q = q.bind(&enrolment.as_bytes()[..]);
                    }
                    if let Some(key) = &update.lookup_key {
                        q = q.bind(key.as_str());
                    }
                    if let Some(marker) = update.replay_marker {
                        q = q.bind(marker_to_db(marker));
                    }
                    let rows =
                        q.bind(user.as_str()).bind(&id.as_bytes()[..]).fetch_all(&self.pool).await.map_err(db_err)?;
                    rows.first().map(factor_from_row).transpose()?.ok_or(StoreError::NotFound)
                }

                async fn activate_factor(
                    &self,
                    user: &UserId,
                    id: &FactorId,
                    now: Timestamp,
                ) -> StoreResult<FactorRecord> {
                    let mut tx = self.begin_user(user).await.map_err(db_err)?;
                    let sql = format!("SELECT {FACTOR_COLS} FROM mfa_factors WHERE user_id = $1 AND id = $2");
                    let row = sqlx::query(&sql)
                        .bind(user.as_str())
                        .bind(&id.as_bytes()[..])
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(db_err)?;
                    let f = row.as_ref().map(factor_from_row).transpose()?.ok_or(StoreError::NotFound)?;
                    if f.status != FactorStatus::Pending || f.is_expired(now) {
                        return Err(StoreError::NotFound);
                    }
                    let mut inherit = false;
                    if let Some(old) = f.replaces.filter(|old| old != id) {
                        let rows = sqlx::query(
                            "DELETE FROM mfa_factors WHERE user_id = $1 AND id = $2 RETURNING preferred",
                        )
                        .bind(user.as_str())
                        .bind(&old.as_bytes()[..])
                        .fetch_all(&mut *tx)
                        .await
                        .map_err(db_err)?;
                        if let Some(row) = rows.first() {
                            inherit = get(row, "preferred")?;
                            sqlx::query("DELETE FROM mfa_throttles WHERE user_id = $1 AND scope = $2")
                                .bind(user.as_str())
                                .bind(ThrottleScope::Factor(old).key())
                                .execute(&mut *tx)
                                .await
                                .map_err(db_err)?;
                        }
                    }
                    let has_preferred = sqlx::query(
                        "SELECT 1 AS one FROM mfa_factors \
                         WHERE user_id = $1 AND preferred = TRUE AND status = 'active' LIMIT 1",
                    )
                    .bind(user.as_str())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db_err)?
                    .is_some();
                    let sql = format!(
                        "UPDATE mfa_factors SET status = 'active', expires_at = NULL, enrolment = NULL, \
                         replaces = NULL, preferred = $1 WHERE user_id = $2 AND id = $3 RETURNING {FACTOR_COLS}"
                    );
                    let rows = sqlx::query(&sql)
                        .bind(inherit || !has_preferred)
                        .bind(user.as_str())
                        .bind(&id.as_bytes()[..])
                        .fetch_all(&mut *tx)
                        .await
                        .map_err(db_err)?;
                    let record = rows.first().map(factor_from_row).transpose()?.ok_or(StoreError::NotFound)?;
                    tx.commit().await.map_err(db_err)?;
                    Ok(record)
                }

                async fn set_preferred(&self, user: &UserId, id: &FactorId) -> StoreResult<()> {
                    let mut tx = self.begin_user(user).await.map_err(db_err)?;
                    let active = sqlx::query(
                        "SELECT 1 AS one FROM mfa_factors WHERE user_id = $1 AND id = $2 AND status = 'active'",
                    )
                    .bind(user.as_str())
                    .bind(&id.as_bytes()[..])
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db_err)?;
                    if active.is_none() {
                        return Err(StoreError::NotFound);
                    }
                    sqlx::query(
                        "UPDATE mfa_factors SET preferred = (id = $1) \
                         WHERE user_id = $2 AND preferred IS DISTINCT FROM (id = $1)",
                    )
                    .bind(&id.as_bytes()[..])
                    .bind(user.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                    tx.commit().await.map_err(db_err)
                }

                async fn delete_factor(&self, user: &UserId, id: &FactorId) -> StoreResult<FactorRecord> {
                    let mut tx = self.begin_user(user).await.map_err(db_err)?;
                    let sql = format!("DELETE FROM mfa_factors WHERE user_id = $1 AND id = $2 RETURNING {FACTOR_COLS}");
                    let rows = sqlx::query(&sql)
                        .bind(user.as_str())
                        .bind(&id.as_bytes()[..])
                        .fetch_all(&mut *tx)
                        .await
                        .map_err(db_err)?;
                    let record = rows.first().map(factor_from_row).transpose()?.ok_or(StoreError::NotFound)?;
                    sqlx::query("DELETE FROM mfa_throttles WHERE user_id = $1 AND scope = $2")
                        .bind(user.as_str())
                        .bind(ThrottleScope::Factor(*id).key())
                        .execute(&mut *tx)
                        .await
                        .map_err(db_err)?;
                    tx.commit().await.map_err(db_err)?;
                    Ok(record)
                }

                async fn advance_replay_marker(
                    &self,
                    user: &UserId,
                    id: &FactorId,
                    marker: u64,
                    used_at: Timestamp,
                ) -> StoreResult<bool> {
                    let done = sqlx::query(
                        "UPDATE mfa_factors SET replay_marker = $1, last_used_at = $2 \
                         WHERE user_id = $3 AND id = $4 AND status = 'active' \
                         AND (replay_marker IS NULL OR replay_marker < $1)",
                    )
                    .bind(marker_to_db(marker))
                    .bind(used_at.unix_millis())
                    .bind(user.as_str())
                    .bind(&id.as_bytes()[..])
                    .execute(&self.pool)
                    .await
                    .map_err(db_err)?;
                    Ok(done.rows_affected() == 1)
                }

                async fn put_ceremony(&self, record: &CeremonyRecord) -> StoreResult<()> {
                    let sql = format!(
                        "INSERT INTO mfa_ceremonies ({CEREMONY_COLS}) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
                    );
                    sqlx::query(&sql)
                        .bind(&record.id.as_bytes()[..])
                        .bind(record.user.as_ref().map(UserId::as_str))
                        .bind(record.factor.as_ref().map(|f| &f.as_bytes()[..]))
                        .bind(record.kind.as_str())
                        .bind(record.purpose.as_str())
                        .bind(record.payload.as_slice())
                        .bind(i64::from(record.attempts))
                        .bind(i64::from(record.max_attempts))
                        .bind(record.action.as_deref())
                        .bind(record.created_at.unix_millis())
                        .bind(record.expires_at.unix_millis())
                        .execute(&self.pool)
                        .await
                        .map_err(db_err)?;
                    Ok(())
                }

                async fn attempt_ceremony(
                    &self,
                    user: Option<&UserId>,
                    id: &ChallengeId,
                    now: Timestamp,
                ) -> StoreResult<Option<CeremonyRecord>> {
                    let sql = format!(
                        "UPDATE mfa_ceremonies SET attempts = attempts + 1 \
                         WHERE id = $1 AND user_id IS NOT DISTINCT FROM $2 AND expires_at > $3 \
                         AND attempts < max_attempts RETURNING {CEREMONY_COLS}"
                    );
                    let rows = sqlx::query(&sql)
                        .bind(&id.as_bytes()[..])
                        .bind(user.map(UserId::as_str))
                        .bind(now.unix_millis())
                        .fetch_all(&self.pool)
                        .await
                        .map_err(db_err)?;
                    rows.first().map(ceremony_from_row).transpose()
                }

                async fn get_ceremony(
                    &self,
                    user: Option<&UserId>,
                    id: &ChallengeId,
                    now: Timestamp,
                ) -> StoreResult<Option<CeremonyRecord>> {
                    let sql = format!(
                        "SELECT {CEREMONY_COLS} FROM mfa_ceremonies \
                         WHERE id = $1 AND user_id IS NOT DISTINCT FROM $2 AND expires_at > $3"
                    );
                    let row = sqlx::query(&sql)
                        .bind(&id.as_bytes()[..])
                        .bind(user.map(UserId::as_str))
                        .bind(now.unix_millis())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(db_err)?;
                    row.as_ref().map(ceremony_from_row).transpose()
                }

                async fn take_ceremony(
                    &self,
                    user: Option<&UserId>,
                    id: &ChallengeId,
                    now: Timestamp,
                ) -> StoreResult<Option<CeremonyRecord>> {
                    // Like the memory store: a ceremony bound to this caller is removed even
                    // if it expired, but only an unexpired one is returned.
                    let sql = format!(
                        "DELETE FROM mfa_ceremonies WHERE id = $1 AND user_id IS NOT DISTINCT FROM $2 \
                         RETURNING {CEREMONY_COLS}"
                    );
                    let rows = sqlx::query(&sql)
                        .bind(&id.as_bytes()[..])
                        .bind(user.map(UserId::as_str))
                        .fetch_all(&self.pool)
                        .await
                        .map_err(db_err)?;
                    Ok(rows.first().map(ceremony_from_row).transpose()?.filter(|c| now < c.expires_at))
                }

                async fn replace_recovery_codes(&self, user: &UserId, codes: &[RecoveryCodeRecord]) -> StoreResult<()> {
                    let mut tx = self.begin_user(user).await.map_err(db_err)?;
                    sqlx::query("DELETE FROM mfa_recovery_codes WHERE user_id = $1")
                        .bind(user.as_str())
                        .execute(&mut *tx)
                        .await
                        .map_err(db_err)?;
                    for code in codes {
                        // A repeated lookup part keeps the last one, as a map would.
                        sqlx::query(
                            "INSERT INTO mfa_recovery_codes (user_id, lookup, hash, created_at) \
                             VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, lookup) \
                             DO UPDATE SET hash = excluded.hash, created_at = excluded.created_at",
                        )
                        .bind(user.as_str())
                        .bind(code.lookup.as_str())
                        .bind(code.hash.as_str())
                        .bind(code.created_at.unix_millis())
                        .execute(&mut *tx)
                        .await
                        .map_err(db_err)?;
                    }
                    tx.commit().await.map_err(db_err)
                }

                async fn get_recovery_code(
                    &self,
                    user: &UserId,
                    lookup: &str,
                ) -> StoreResult<Option<RecoveryCodeRecord>> {
                    let row = sqlx::query(
                        "SELECT lookup, hash, created_at FROM mfa_recovery_codes WHERE user_id = $1 AND lookup = $2",
                    )
                    .bind(user.as_str())
                    .bind(lookup)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db_err)?;
                    row.as_ref().map(code_from_row).transpose()
                }

                async fn consume_recovery_code(&self, user: &UserId, lookup: &str, hash: &str) -> StoreResult<bool> {
                    let done = sqlx::query(
                        "DELETE FROM mfa_recovery_codes WHERE user_id = $1 AND lookup = $2 AND hash = $3",
                    )
                    .bind(user.as_str())
                    .bind(lookup)
                    .bind(hash)
                    .execute(&self.pool)
                    .await
                    .map_err(db_err)?;
                    Ok(done.rows_affected() == 1)
                }

                async fn count_recovery_codes(&self, user: &UserId) -> StoreResult<usize> {
                    let row = sqlx::query("SELECT COUNT(*) AS n FROM mfa_recovery_codes WHERE user_id = $1")
                        .bind(user.as_str())
                        .fetch_one(&self.pool)
                        .await
                        .map_err(db_err)?;
                    usize::try_from(get::<i64>(&row, "n")?).map_err(|_| corrupt("count"))
                }

                async fn insert_device_token(&self, record: &DeviceTokenRecord) -> StoreResult<()> {
                    let sql = format!("INSERT INTO mfa_device_tokens ({DEVICE_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7)");
                    sqlx::query(&sql)
                        .bind(&record.id.as_bytes()[..])
                        .bind(record.user.as_str())
                        .bind(record.label.as_str())
                        .bind(record.secret_hash.as_slice())
                        .bind(record.created_at.unix_millis())
                        .bind(opt_millis(record.last_seen_at))
                        .bind(record.expires_at.unix_millis())
                        .execute(&self.pool)
                        .await
                        .map_err(db_err)?;
                    Ok(())
                }

                async fn get_device_token(
                    &self,
                    user: &UserId,
                    id: &DeviceId,
                ) -> StoreResult<Option<DeviceTokenRecord>> {
                    let sql = format!("SELECT {DEVICE_COLS} FROM mfa_device_tokens WHERE user_id = $1 AND id = $2");
                    let row = sqlx::query(&sql)
                        .bind(user.as_str())
                        .bind(&id.as_bytes()[..])
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(db_err)?;
                    row.as_ref().map(device_from_row).transpose()
                }

                async fn list_device_tokens(&self, user: &UserId) -> StoreResult<Vec<DeviceTokenRecord>> {
                    let sql = format!("SELECT {DEVICE_COLS} FROM mfa_device_tokens WHERE user_id = $1");
                    let rows = sqlx::query(&sql).bind(user.as_str()).fetch_all(&self.pool).await.map_err(db_err)?;
                    rows.iter().map(device_from_row).collect()
                }

                async fn touch_device_token(&self, user: &UserId, id: &DeviceId, at: Timestamp) -> StoreResult<bool> {
                    let done =
                        sqlx::query("UPDATE mfa_device_tokens SET last_seen_at = $1 WHERE user_id = $2 AND id = $3")
                            .bind(at.unix_millis())
                            .bind(user.as_str())
                            .bind(&id.as_bytes()[..])
                            .execute(&self.pool)
                            .await
                            .map_err(db_err)?;
                    Ok(done.rows_affected() == 1)
                }

                async fn revoke_device_token(&self, user: &UserId, id: &DeviceId) -> StoreResult<bool> {
                    let done = sqlx::query("DELETE FROM mfa_device_tokens WHERE user_id = $1 AND id = $2")
                        .bind(user.as_str())
                        .bind(&id.as_bytes()[..])
                        .execute(&self.pool)
                        .await
                        .map_err(db_err)?;
                    Ok(done.rows_affected() == 1)
                }

                async fn revoke_all_device_tokens(&self, user: &UserId) -> StoreResult<u64> {
                    let done = sqlx::query("DELETE FROM mfa_device_tokens WHERE user_id = $1")
                        .bind(user.as_str())
                        .execute(&self.pool)
                        .await
                        .map_err(db_err)?;
                    Ok(done.rows_affected())
                }

                async fn get_throttle(&self, user: &UserId, scope: &ThrottleScope) -> StoreResult<ThrottleState> {
                    let row = sqlx::query(
                        "SELECT failures, last_attempt_at FROM mfa_throttles WHERE user_id = $1 AND scope = $2",
                    )
                    .bind(user.as_str())
                    .bind(scope.key())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db_err)?;
                    match row {
                        Some(row) => Ok(ThrottleState::new(
                            u32_from_db(get(&row, "failures")?, "failures")?,
                            opt_ts(get(&row, "last_attempt_at")?),
                        )),
                        None => Ok(ThrottleState::default()),
                    }
                }

                async fn compare_and_set_throttle(
                    &self,
                    user: &UserId,
                    scope: &ThrottleScope,
                    expected: &ThrottleState,
                    new: &ThrottleState,
                ) -> StoreResult<bool> {
                    let key = scope.key();
                    let (exp_failures, exp_at) = (i64::from(expected.failures), opt_millis(expected.last_attempt_at));
                    let (new_failures, new_at) = (i64::from(new.failures), opt_millis(new.last_attempt_at));
                    let done = match (is_default_throttle(expected), is_default_throttle(new)) {
                        // Absent (or a stored default) stays absent: nothing to write, so the
                        // answer is one read.
                        (true, true) => {
                            return Ok(is_default_throttle(&self.get_throttle(user, scope).await?));
                        }
                        // Insert when absent; overwrite only a stored default.
                        (true, false) => sqlx::query(
                            "INSERT INTO mfa_throttles (user_id, scope, failures, last_attempt_at) \
                             VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, scope) DO UPDATE \
                             SET failures = excluded.failures, last_attempt_at = excluded.last_attempt_at \
                             WHERE mfa_throttles.failures = 0 AND mfa_throttles.last_attempt_at IS NULL",
                        )
                        .bind(user.as_str())
                        .bind(key)
                        .bind(new_failures)
                        .bind(new_at)
                        .execute(&self.pool)
                        .await,
                        // Back to the default: delete the expected row.
                        (false, true) => sqlx::query(
                            "DELETE FROM mfa_throttles WHERE user_id = $1 AND scope = $2 \
                             AND failures = $3 AND last_attempt_at IS NOT DISTINCT FROM $4",
                        )
                        .bind(user.as_str())
                        .bind(key)
                        .bind(exp_failures)
                        .bind(exp_at)
                        .execute(&self.pool)
                        .await,
                        (false, false) => sqlx::query(
                            "UPDATE mfa_throttles SET failures = $1, last_attempt_at = $2 \
                             WHERE user_id = $3 AND scope = $4 \
                             AND failures = $5 AND last_attempt_at IS NOT DISTINCT FROM $6",
                        )
                        .bind(new_failures)
                        .bind(new_at)
                        .bind(user.as_str())
                        .bind(key)
                        .bind(exp_failures)
                        .bind(exp_at)
                        .execute(&self.pool)
                        .await,
                    }
                    .map_err(db_err)?;
                    Ok(done.rows_affected() == 1)
                }

                async fn get_counter(&self, key: &str, now: Timestamp) -> StoreResult<CounterState> {
                    let row = sqlx::query(
                        "SELECT count, window_start, last_at, expires_at FROM mfa_counters \
                         WHERE counter_key = $1 AND (expires_at IS NULL OR expires_at > $2)",
                    )
                    .bind(key)
                    .bind(now.unix_millis())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db_err)?;
                    match row {
                        Some(row) => Ok(CounterState::new(
                            u32_from_db(get(&row, "count")?, "count")?,
                            opt_ts(get(&row, "window_start")?),
                            opt_ts(get(&row, "last_at")?),
                            opt_ts(get(&row, "expires_at")?),
                        )),
                        None => Ok(CounterState::default()),
                    }
                }

                async fn compare_and_set_counter(
                    &self,
                    key: &str,
                    expected: &CounterState,
                    new: &CounterState,
                    now: Timestamp,
                ) -> StoreResult<bool> {
                    let now = now.unix_millis();
                    // A stored row reads as the default when it expired or holds the default.
                    const READS_AS_DEFAULT: &str = "((mfa_counters.expires_at IS NOT NULL AND \
                         mfa_counters.expires_at <= $1) OR (mfa_counters.count = 0 AND \
                         mfa_counters.window_start IS NULL AND mfa_counters.last_at IS NULL AND \
                         mfa_counters.expires_at IS NULL))";
                    // A live row equal to the expected state.
                    const EQUALS_EXPECTED: &str = "counter_key = $2 AND count = $3 AND window_start IS NOT DISTINCT FROM $4 \
                         AND last_at IS NOT DISTINCT FROM $5 AND expires_at IS NOT DISTINCT FROM $6 \
                         AND (expires_at IS NULL OR expires_at > $1)";
                    let done = match (is_default_counter(expected), is_default_counter(new)) {
                        (true, true) => {
                            // Drop a row that reads as the default (as the memory store does),
                            // then the answer is whether the counter reads as the default.
                            sqlx::query(&format!("DELETE FROM mfa_counters WHERE counter_key = $2 AND {READS_AS_DEFAULT}"))
                                .bind(now)
                                .bind(key)
                                .execute(&self.pool)
                                .await
                                .map_err(db_err)?;
                            let current = self.get_counter(key, Timestamp::from_unix_millis(now)).await?;
                            return Ok(is_default_counter(&current));
                        }
                        (true, false) => {
                            sqlx::query(&format!(
                                "INSERT INTO mfa_counters (counter_key, count, window_start, last_at, expires_at) \
                                 VALUES ($2, $3, $4, $5, $6) ON CONFLICT (counter_key) DO UPDATE SET \
                                 count = excluded.count, window_start = excluded.window_start, \
                                 last_at = excluded.last_at, expires_at = excluded.expires_at \
                                 WHERE {READS_AS_DEFAULT}"
                            ))
                            .bind(now)
                            .bind(key)
                            .bind(i64::from(new.count))
                            .bind(opt_millis(new.window_start))
                            .bind(opt_millis(new.last_at))
                            .bind(opt_millis(new.expires_at))
                            .execute(&self.pool)
                            .await
                        }
                        (false, true) => {
                            sqlx::query(&format!("DELETE FROM mfa_counters WHERE {EQUALS_EXPECTED}"))
                                .bind(now)
                                .bind(key)
                                .bind(i64::from(expected.count))
                                .bind(opt_millis(expected.window_start))
                                .bind(opt_millis(expected.last_at))
                                .bind(opt_millis(expected.expires_at))
                                .execute(&self.pool)
                                .await
                        }
                        (false, false) => {
                            sqlx::query(&format!(
                                "UPDATE mfa_counters SET count = $7, window_start = $8, last_at = $9, \
                                 expires_at = $10 WHERE {EQUALS_EXPECTED}"
                            ))
                            .bind(now)
                            .bind(key)
                            .bind(i64::from(expected.count))
                            .bind(opt_millis(expected.window_start))
                            .bind(opt_millis(expected.last_at))
                            .bind(opt_millis(expected.expires_at))
                            .bind(i64::from(new.count))
                            .bind(opt_millis(new.window_start))
                            .bind(opt_millis(new.last_at))
                            .bind(opt_millis(new.expires_at))
                            .execute(&self.pool)
                            .await
                        }
                    }
                    .map_err(db_err)?;
                    Ok(done.rows_affected() == 1)
                }

                async fn purge_expired(&self, now: Timestamp) -> StoreResult<u64> {
                    const PURGES: [&str; 4] = [
                        "DELETE FROM mfa_counters WHERE expires_at IS NOT NULL AND expires_at <= $1",
                        "DELETE FROM mfa_ceremonies WHERE expires_at <= $1",
                        "DELETE FROM mfa_device_tokens WHERE expires_at <= $1",
                        // Deleting the row frees its lookup key.
                        "DELETE FROM mfa_factors WHERE status = 'pending' \
                         AND (expires_at IS NULL OR expires_at <= $1)",
                    ];
                    let mut removed = 0;
                    for sql in PURGES {
                        let done =
                            sqlx::query(sql).bind(now.unix_millis()).execute(&self.pool).await.map_err(db_err)?;
                        removed += done.rows_affected();
                    }
                    Ok(removed)
                }
            }
        }
    };
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
