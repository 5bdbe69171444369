//! Every SQL statement the stores run, as constants, next to the schema they query
//! (`migrations/`).
//!
//! One text serves both backends: SQLite (3.39+, bundled) and PostgreSQL both accept `$n`
//! placeholders, `IS NOT DISTINCT FROM`, `ON CONFLICT ... DO UPDATE ... WHERE` and
//! `RETURNING`. The few statements only one backend runs are marked so. Column lists that
//! several statements share are spelled once, as macros, so that `concat!` can build the
//! statements at compile time.

// ---------------------------------------------------------------------------------------
// Factors (`mfa_factors`)
// ---------------------------------------------------------------------------------------

/// Every column of `mfa_factors`, in the order [`INSERT_FACTOR`] binds them.
macro_rules! factor_columns {
    () => {
        "id, user_id, kind, label, status, assurance, created_at, last_used_at, expires_at, preferred, \
         masked_destination, details, secret_key_id, secret_ciphertext, data, replay_marker, enrolment, \
         replaces, lookup_key"
    };
}

/// Inserts a factor: every column, `$1`..`$19`.
pub(crate) const INSERT_FACTOR: &str = concat!(
    "INSERT INTO mfa_factors (",
    factor_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)"
);

/// The factor holding lookup key `$1`.
pub(crate) const SELECT_FACTOR_BY_LOOKUP_KEY: &str =
    concat!("SELECT ", factor_columns!(), " FROM mfa_factors WHERE lookup_key = $1");

/// Factor `$2` of user `$1`.
pub(crate) const SELECT_FACTOR: &str =
    concat!("SELECT ", factor_columns!(), " FROM mfa_factors WHERE user_id = $1 AND id = $2");

/// Every factor of user `$1`.
pub(crate) const SELECT_FACTORS_OF_USER: &str =
    concat!("SELECT ", factor_columns!(), " FROM mfa_factors WHERE user_id = $1");

/// Applies a factor update to factor `$11` of user `$10`, atomically, returning the
/// result. A NULL argument leaves its column as it is (no column it sets is ever set to
/// NULL): `$1` label, `$2` last use, `$3`/`$4` sealed secret (key id, ciphertext), `$5`
/// data, `$6` details, `$7` enrolment, `$8` lookup key. `$9` raises the replay marker, which
/// never moves back. A lookup-key conflict fails the whole statement.
pub(crate) const UPDATE_FACTOR: &str = concat!(
    "UPDATE mfa_factors SET label = COALESCE($1, label), last_used_at = COALESCE($2, last_used_at), \
     secret_key_id = COALESCE($3, secret_key_id), secret_ciphertext = COALESCE($4, secret_ciphertext), \
     data = COALESCE($5, data), details = COALESCE($6, details), enrolment = COALESCE($7, enrolment), \
     lookup_key = COALESCE($8, lookup_key), \
     replay_marker = CASE WHEN replay_marker IS NULL OR replay_marker < $9 THEN $9 ELSE replay_marker END, \
     assurance = COALESCE($10, assurance) \
     WHERE user_id = $11 AND id = $12 RETURNING ",
    factor_columns!()
);

/// One change of a per-user edit to factor `$4` of user `$3`: if `$1`, makes it active
/// (clearing what only a pending factor carries); a non-NULL `$2` sets its preferred flag.
pub(crate) const EDIT_FACTOR: &str = "UPDATE mfa_factors SET \
     status = CASE WHEN $1 THEN 'active' ELSE status END, \
     expires_at = CASE WHEN $1 THEN NULL ELSE expires_at END, \
     enrolment = CASE WHEN $1 THEN NULL ELSE enrolment END, \
     replaces = CASE WHEN $1 THEN NULL ELSE replaces END, \
     preferred = COALESCE($2, preferred) \
     WHERE user_id = $3 AND id = $4";

/// Deletes factor `$2` of user `$1`, returning it.
pub(crate) const DELETE_FACTOR: &str =
    concat!("DELETE FROM mfa_factors WHERE user_id = $1 AND id = $2 RETURNING ", factor_columns!());

/// Sets the replay marker of active factor `$4` of user `$3` to `$1`, and its last use to
/// `$2`, only if that moves the marker forward.
pub(crate) const ADVANCE_REPLAY_MARKER: &str = "UPDATE mfa_factors SET replay_marker = $1, last_used_at = $2 \
     WHERE user_id = $3 AND id = $4 AND status = 'active' AND (replay_marker IS NULL OR replay_marker < $1)";

// ---------------------------------------------------------------------------------------
// The verification hot path: `begin_attempt` and `accept_verification`
// ---------------------------------------------------------------------------------------

/// Factor `$2` of user `$1`, with its throttle (scope `$3`) as `failures` and
/// `last_attempt_at` (0 and NULL when there is none).
macro_rules! factor_with_throttle {
    () => {
        concat!(
            "SELECT ",
            factor_columns!(),
            ", COALESCE((SELECT failures FROM mfa_throttles WHERE user_id = $1 AND scope = $3), 0) AS failures, \
             (SELECT last_attempt_at FROM mfa_throttles WHERE user_id = $1 AND scope = $3) AS last_attempt_at \
             FROM mfa_factors WHERE user_id = $1 AND id = $2"
        )
    };
}

/// Counts a first attempt (one failure at `$4`) on the throttle (scope `$3`) of factor `$2`
/// of user `$1`, if the factor is active, of a kind named by `$5` and its throttle clear.
macro_rules! count_first_attempt {
    ($kind_is_named:literal) => {
        concat!(
            "INSERT INTO mfa_throttles (user_id, scope, failures, last_attempt_at) \
             SELECT $1, $3, 1, $4 FROM mfa_factors WHERE user_id = $1 AND id = $2 AND status = 'active' AND ",
            $kind_is_named,
            " ON CONFLICT (user_id, scope) DO UPDATE SET failures = 1, last_attempt_at = excluded.last_attempt_at \
             WHERE mfa_throttles.failures = 0 AND mfa_throttles.last_attempt_at IS NULL"
        )
    };
}

/// SQLite: [`count_first_attempt!`], the kinds `$5` given as a JSON array of strings.
#[cfg(feature = "sqlite")]
pub(crate) const SQLITE_COUNT_FIRST_ATTEMPT: &str = count_first_attempt!("kind IN (SELECT value FROM json_each($5))");

/// SQLite: [`factor_with_throttle!`].
#[cfg(feature = "sqlite")]
pub(crate) const SQLITE_FACTOR_WITH_THROTTLE: &str = factor_with_throttle!();

/// SQLite: takes ceremony `$1` of user `$2` (NULL: no user) if unexpired at `$3`.
#[cfg(feature = "sqlite")]
pub(crate) const SQLITE_TAKE_LIVE_CEREMONY: &str =
    "DELETE FROM mfa_ceremonies WHERE id = $1 AND user_id IS NOT DISTINCT FROM $2 AND expires_at > $3";

/// The acceptance of factor `$8` of user `$7`, if active and its replay marker is behind
/// `$1` (NULL: no marker): sets the marker, last use `$2`, and where not NULL the sealed
/// secret `$3`/`$4`, data `$5` and details `$6`.
macro_rules! accept_factor {
    () => {
        "UPDATE mfa_factors SET replay_marker = COALESCE($1, replay_marker), last_used_at = $2, \
         secret_key_id = COALESCE($3, secret_key_id), secret_ciphertext = COALESCE($4, secret_ciphertext), \
         data = COALESCE($5, data), details = COALESCE($6, details) \
         WHERE user_id = $7 AND id = $8 AND status = 'active' \
         AND ($1 IS NULL OR replay_marker IS NULL OR replay_marker < $1)"
    };
}

/// SQLite: [`accept_factor!`].
#[cfg(feature = "sqlite")]
pub(crate) const SQLITE_ACCEPT_FACTOR: &str = accept_factor!();

/// Clears the throttle of user `$user` in scope `$scope` after a success. The row is kept at
/// the default (which reads as no row) rather than deleted: the next first attempt then
/// updates it in place instead of inserting it again, and the row goes with its factor.
macro_rules! clear_throttle {
    ($user:literal, $scope:literal) => {
        concat!(
            "UPDATE mfa_throttles SET failures = 0, last_attempt_at = NULL WHERE user_id = ",
            $user,
            " AND scope = ",
            $scope,
            " AND (failures <> 0 OR last_attempt_at IS NOT NULL)"
        )
    };
}

/// SQLite: [`clear_throttle!`] for user `$1`, scope `$2`.
#[cfg(feature = "sqlite")]
pub(crate) const SQLITE_CLEAR_THROTTLE: &str = clear_throttle!("$1", "$2");

/// PostgreSQL: `begin_attempt` in one statement. Every part reads the same snapshot; the
/// count re-checks the throttle on its newest version (`ON CONFLICT ... WHERE`), so of
/// concurrent calls on a clear throttle exactly one counts. Returns the factor's columns,
/// the throttle as it was (`failures`, `last_attempt_at`) and `counted`; no row if there is
/// no such factor. `$5` is the kinds, as `TEXT[]`.
#[cfg(feature = "postgres")]
pub(crate) const POSTGRES_BEGIN_ATTEMPT: &str = concat!(
    "WITH f AS (",
    factor_with_throttle!(),
    "), c AS (",
    count_first_attempt!(
        "kind = ANY($5) AND EXISTS (SELECT 1 FROM f WHERE f.failures = 0 AND f.last_attempt_at IS NULL)"
    ),
    " RETURNING 1) SELECT f.*, EXISTS (SELECT 1 FROM c) AS counted FROM f"
);

/// PostgreSQL: `accept_verification` in one statement. `$9`/`$10`: the ceremony (NULL: none)
/// and the user it is bound to, taken if unexpired at `$2`; the factor changes only if the
/// ceremony was taken (or none is named), as [`accept_factor!`] does; the throttle (scope
/// `$12`) is cleared, as [`clear_throttle!`] does, if `$11` and the factor changed. Returns `took` and `accepted`.
#[cfg(feature = "postgres")]
pub(crate) const POSTGRES_ACCEPT: &str = concat!(
    "WITH c AS (DELETE FROM mfa_ceremonies WHERE $9::BYTEA IS NOT NULL AND id = $9 \
     AND user_id IS NOT DISTINCT FROM $10 AND expires_at > $2 RETURNING 1), \
     f AS (",
    accept_factor!(),
    " AND ($9::BYTEA IS NULL OR EXISTS (SELECT 1 FROM c)) RETURNING 1), \
     t AS (",
    clear_throttle!("$7", "$12"),
    " AND $11 AND EXISTS (SELECT 1 FROM f) RETURNING 1) \
     SELECT EXISTS (SELECT 1 FROM c) AS took, EXISTS (SELECT 1 FROM f) AS accepted"
);

// ---------------------------------------------------------------------------------------
// Ceremonies (`mfa_ceremonies`)
// ---------------------------------------------------------------------------------------

/// Every column of `mfa_ceremonies`, in the order [`INSERT_CEREMONY`] binds them.
macro_rules! ceremony_columns {
    () => {
        "id, user_id, factor_id, kind, purpose, payload, attempts, max_attempts, bound_action, created_at, expires_at"
    };
}

/// Inserts a ceremony: every column, `$1`..`$11`.
pub(crate) const INSERT_CEREMONY: &str = concat!(
    "INSERT INTO mfa_ceremonies (",
    ceremony_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
);

/// Counts an attempt on ceremony `$1` of user `$2` (NULL: no user) if it is unexpired at
/// `$3` and has attempts left, returning it.
pub(crate) const ATTEMPT_CEREMONY: &str = concat!(
    "UPDATE mfa_ceremonies SET attempts = attempts + 1 \
     WHERE id = $1 AND user_id IS NOT DISTINCT FROM $2 AND expires_at > $3 AND attempts < max_attempts \
     RETURNING ",
    ceremony_columns!()
);

/// Ceremony `$1` of user `$2` (NULL: no user) if unexpired at `$3`.
pub(crate) const SELECT_CEREMONY: &str = concat!(
    "SELECT ",
    ceremony_columns!(),
    " FROM mfa_ceremonies WHERE id = $1 AND user_id IS NOT DISTINCT FROM $2 AND expires_at > $3"
);

/// Deletes ceremony `$1` of user `$2` (NULL: no user), expired or not, returning it.
pub(crate) const TAKE_CEREMONY: &str = concat!(
    "DELETE FROM mfa_ceremonies WHERE id = $1 AND user_id IS NOT DISTINCT FROM $2 RETURNING ",
    ceremony_columns!()
);

// ---------------------------------------------------------------------------------------
// Recovery codes (`mfa_recovery_codes`)
// ---------------------------------------------------------------------------------------

/// Deletes every recovery code of user `$1`.
pub(crate) const DELETE_RECOVERY_CODES: &str = "DELETE FROM mfa_recovery_codes WHERE user_id = $1";

/// Stores code `$2` (lookup part) of user `$1` with hash `$3`, created at `$4`; a code
/// with the same lookup part is overwritten.
pub(crate) const UPSERT_RECOVERY_CODE: &str = "INSERT INTO mfa_recovery_codes (user_id, lookup, hash, created_at) \
     VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, lookup) \
     DO UPDATE SET hash = excluded.hash, created_at = excluded.created_at";

/// Recovery code `$2` (lookup part) of user `$1`.
pub(crate) const SELECT_RECOVERY_CODE: &str =
    "SELECT lookup, hash, created_at FROM mfa_recovery_codes WHERE user_id = $1 AND lookup = $2";

/// Deletes recovery code `$2` of user `$1` if its hash is `$3`.
pub(crate) const CONSUME_RECOVERY_CODE: &str =
    "DELETE FROM mfa_recovery_codes WHERE user_id = $1 AND lookup = $2 AND hash = $3";

/// How many recovery codes user `$1` has left, as `n`.
pub(crate) const COUNT_RECOVERY_CODES: &str = "SELECT COUNT(*) AS n FROM mfa_recovery_codes WHERE user_id = $1";

// ---------------------------------------------------------------------------------------
// Remembered devices (`mfa_device_tokens`)
// ---------------------------------------------------------------------------------------

/// Every column of `mfa_device_tokens`, in the order [`INSERT_DEVICE_TOKEN`] binds them.
macro_rules! device_columns {
    () => {
        "id, user_id, label, secret_hash, created_at, last_seen_at, expires_at"
    };
}

/// Inserts a remembered device: every column, `$1`..`$7`.
pub(crate) const INSERT_DEVICE_TOKEN: &str =
    concat!("INSERT INTO mfa_device_tokens (", device_columns!(), ") VALUES ($1, $2, $3, $4, $5, $6, $7)");

/// Remembered device `$2` of user `$1`.
pub(crate) const SELECT_DEVICE_TOKEN: &str =
    concat!("SELECT ", device_columns!(), " FROM mfa_device_tokens WHERE user_id = $1 AND id = $2");

/// Every remembered device of user `$1`.
pub(crate) const SELECT_DEVICE_TOKENS_OF_USER: &str =
    concat!("SELECT ", device_columns!(), " FROM mfa_device_tokens WHERE user_id = $1");

/// Records that remembered device `$3` of user `$2` was seen at `$1`.
pub(crate) const TOUCH_DEVICE_TOKEN: &str =
    "UPDATE mfa_device_tokens SET last_seen_at = $1 WHERE user_id = $2 AND id = $3";

/// Forgets remembered device `$2` of user `$1`.
pub(crate) const DELETE_DEVICE_TOKEN: &str = "DELETE FROM mfa_device_tokens WHERE user_id = $1 AND id = $2";

/// Forgets every remembered device of user `$1`.
pub(crate) const DELETE_DEVICE_TOKENS_OF_USER: &str = "DELETE FROM mfa_device_tokens WHERE user_id = $1";

// ---------------------------------------------------------------------------------------
// Throttles (`mfa_throttles`)
// ---------------------------------------------------------------------------------------

/// The throttle of user `$1` in scope `$2`.
pub(crate) const SELECT_THROTTLE: &str =
    "SELECT failures, last_attempt_at FROM mfa_throttles WHERE user_id = $1 AND scope = $2";

/// Stores throttle `$3`/`$4` for user `$1` in scope `$2` where none is stored, or only the
/// default (no failures, no attempt).
pub(crate) const INSERT_THROTTLE_OVER_DEFAULT: &str = "INSERT INTO mfa_throttles \
     (user_id, scope, failures, last_attempt_at) VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, scope) DO UPDATE \
     SET failures = excluded.failures, last_attempt_at = excluded.last_attempt_at \
     WHERE mfa_throttles.failures = 0 AND mfa_throttles.last_attempt_at IS NULL";

/// Deletes the throttle of user `$1` in scope `$2` if it is `$3`/`$4`.
pub(crate) const DELETE_THROTTLE_IF_EQUAL: &str = "DELETE FROM mfa_throttles WHERE user_id = $1 AND scope = $2 \
     AND failures = $3 AND last_attempt_at IS NOT DISTINCT FROM $4";

/// Sets the throttle of user `$3` in scope `$4` to `$1`/`$2` if it is `$5`/`$6`.
pub(crate) const UPDATE_THROTTLE_IF_EQUAL: &str = "UPDATE mfa_throttles SET failures = $1, last_attempt_at = $2 \
     WHERE user_id = $3 AND scope = $4 AND failures = $5 AND last_attempt_at IS NOT DISTINCT FROM $6";

/// Deletes the throttle of user `$1` in scope `$2` (its factor is gone).
pub(crate) const DELETE_THROTTLE: &str = "DELETE FROM mfa_throttles WHERE user_id = $1 AND scope = $2";

// ---------------------------------------------------------------------------------------
// Counters (`mfa_counters`). In every statement `$1` is the current time and `$2` the key.
// ---------------------------------------------------------------------------------------

/// Whether the stored counter reads as the default: expired, or holding the default.
macro_rules! counter_reads_as_default {
    () => {
        "((mfa_counters.expires_at IS NOT NULL AND mfa_counters.expires_at <= $1) \
         OR (mfa_counters.count = 0 AND mfa_counters.window_start IS NULL AND mfa_counters.last_at IS NULL \
         AND mfa_counters.expires_at IS NULL))"
    };
}

/// Whether counter `$2` is live and equal to the expected state `$3`..`$6`.
macro_rules! counter_equals_expected {
    () => {
        "counter_key = $2 AND count = $3 AND window_start IS NOT DISTINCT FROM $4 \
         AND last_at IS NOT DISTINCT FROM $5 AND expires_at IS NOT DISTINCT FROM $6 \
         AND (expires_at IS NULL OR expires_at > $1)"
    };
}

/// Counter `$1`, if unexpired at `$2`. (The one counter statement with other numbering.)
pub(crate) const SELECT_LIVE_COUNTER: &str = "SELECT count, window_start, last_at, expires_at FROM mfa_counters \
     WHERE counter_key = $1 AND (expires_at IS NULL OR expires_at > $2)";

/// Deletes counter `$2` if it reads as the default.
pub(crate) const DELETE_COUNTER_READING_AS_DEFAULT: &str =
    concat!("DELETE FROM mfa_counters WHERE counter_key = $2 AND ", counter_reads_as_default!());

/// Stores counter `$2` as `$3`..`$6` where none is stored, or it reads as the default.
pub(crate) const INSERT_COUNTER_OVER_DEFAULT: &str = concat!(
    "INSERT INTO mfa_counters (counter_key, count, window_start, last_at, expires_at) \
     VALUES ($2, $3, $4, $5, $6) ON CONFLICT (counter_key) DO UPDATE SET \
     count = excluded.count, window_start = excluded.window_start, \
     last_at = excluded.last_at, expires_at = excluded.expires_at WHERE ",
    counter_reads_as_default!()
);

/// Deletes counter `$2` if it is live and equal to `$3`..`$6`.
pub(crate) const DELETE_COUNTER_IF_EQUAL: &str = concat!("DELETE FROM mfa_counters WHERE ", counter_equals_expected!());

/// Sets counter `$2` to `$7`..`$10` if it is live and equal to `$3`..`$6`.
pub(crate) const UPDATE_COUNTER_IF_EQUAL: &str = concat!(
    "UPDATE mfa_counters SET count = $7, window_start = $8, last_at = $9, expires_at = $10 WHERE ",
    counter_equals_expected!()
);

// ---------------------------------------------------------------------------------------
// Whole-user operations (`AccountStore`): reset, erasure, coverage
// ---------------------------------------------------------------------------------------

/// Deletes every factor of user `$1`, pending ones included (their lookup keys go with
/// the rows).
pub(crate) const DELETE_FACTORS_OF_USER: &str = "DELETE FROM mfa_factors WHERE user_id = $1";

/// Deletes every ceremony bound to user `$1`.
pub(crate) const DELETE_CEREMONIES_OF_USER: &str = "DELETE FROM mfa_ceremonies WHERE user_id = $1";

/// Deletes every throttle of user `$1`, returning for each whether it `held` failures: a
/// row kept at the default after a success reads as no counter, and is not counted.
pub(crate) const DELETE_THROTTLES_OF_USER: &str = "DELETE FROM mfa_throttles WHERE user_id = $1 \
     RETURNING (failures <> 0 OR last_attempt_at IS NOT NULL) AS held";

/// Deletes keyed counter `$1`, live or expired.
pub(crate) const DELETE_COUNTER: &str = "DELETE FROM mfa_counters WHERE counter_key = $1";

/// Deployment-wide coverage in one statement (one snapshot), as rows of `metric`, `kind`
/// and `n`: `with_factor` (users with an active factor), `without_active_factor` (users
/// with a factor, recovery code or remembered device, but no active factor), `few_codes`
/// (users with an active factor and fewer than `$1` recovery codes) and one `kind` row per
/// factor kind (users with an active factor of it). The compound `UNION ... EXCEPT` reads
/// left to right on both backends. Served by the indexes of migration 2
/// (`mfa_factors (status, kind, user_id)`) and the recovery codes' primary key.
pub(crate) const SELECT_COVERAGE: &str = "WITH active AS \
     (SELECT DISTINCT user_id FROM mfa_factors WHERE status = 'active') \
     SELECT 'with_factor' AS metric, NULL AS kind, COUNT(*) AS n FROM active \
     UNION ALL SELECT 'without_active_factor', NULL, COUNT(*) FROM \
     (SELECT user_id FROM mfa_factors UNION SELECT user_id FROM mfa_recovery_codes \
     UNION SELECT user_id FROM mfa_device_tokens EXCEPT SELECT user_id FROM active) AS held \
     UNION ALL SELECT 'few_codes', NULL, COUNT(*) FROM active \
     WHERE (SELECT COUNT(*) FROM mfa_recovery_codes r WHERE r.user_id = active.user_id) < $1 \
     UNION ALL SELECT 'kind', kind, COUNT(DISTINCT user_id) FROM mfa_factors WHERE status = 'active' GROUP BY kind";

// ---------------------------------------------------------------------------------------
// The audit trail (`mfa_audit_events`)
// ---------------------------------------------------------------------------------------

/// Every column of `mfa_audit_events` but `id`, in the order [`INSERT_AUDIT_EVENT`] binds
/// them.
macro_rules! audit_columns {
    () => {
        "at, user_id, actor, ip, user_agent, event, body"
    };
}

/// Appends an event: `$1`..`$7`.
pub(crate) const INSERT_AUDIT_EVENT: &str =
    concat!("INSERT INTO mfa_audit_events (", audit_columns!(), ") VALUES ($1, $2, $3, $4, $5, $6, $7)");

/// The events of user `$1` at `$2` or later and before `$3`, newest first, at most `$4`.
pub(crate) const SELECT_AUDIT_EVENTS_OF_USER: &str = concat!(
    "SELECT id, ",
    audit_columns!(),
    " FROM mfa_audit_events WHERE user_id = $1 AND at >= $2 AND at < $3 ORDER BY at DESC, id DESC LIMIT $4"
);

/// Every event at `$1` or later and before `$2`, newest first, at most `$3`. (A separate
/// statement from [`SELECT_AUDIT_EVENTS_OF_USER`] rather than an optional user, so that
/// each has one plan using its own index.)
pub(crate) const SELECT_AUDIT_EVENTS: &str = concat!(
    "SELECT id, ",
    audit_columns!(),
    " FROM mfa_audit_events WHERE at >= $1 AND at < $2 ORDER BY at DESC, id DESC LIMIT $3"
);

/// Deletes every event of user `$1`.
pub(crate) const DELETE_AUDIT_EVENTS_OF_USER: &str = "DELETE FROM mfa_audit_events WHERE user_id = $1";

/// Deletes every event before `$1`.
pub(crate) const DELETE_AUDIT_EVENTS_BEFORE: &str = "DELETE FROM mfa_audit_events WHERE at < $1";

// ---------------------------------------------------------------------------------------
// Housekeeping and migrations
// ---------------------------------------------------------------------------------------

/// Deletes what expired at `$1`: counters, ceremonies, remembered devices, and pending
/// factors (which frees their lookup keys).
/// The factor delete comes last: the backend's `PURGE_PENDING_FACTOR_THROTTLES` runs just
/// before it, removing the failure counters of the pending factors it is about to delete.
pub(crate) const PURGE_EXPIRED: [&str; 4] = [
    "DELETE FROM mfa_counters WHERE expires_at IS NOT NULL AND expires_at <= $1",
    "DELETE FROM mfa_ceremonies WHERE expires_at <= $1",
    "DELETE FROM mfa_device_tokens WHERE expires_at <= $1",
    "DELETE FROM mfa_factors WHERE status = 'pending' AND (expires_at IS NULL OR expires_at <= $1)",
];

/// SQLite: deletes the failure counters (`factor:<hex id>`) of the pending factors that
/// expired at `$1`, which the last statement of [`PURGE_EXPIRED`] then deletes.
#[cfg(feature = "sqlite")]
pub(crate) const SQLITE_PURGE_PENDING_FACTOR_THROTTLES: &str = "DELETE FROM mfa_throttles \
     WHERE (user_id, scope) IN (SELECT user_id, 'factor:' || lower(hex(id)) FROM mfa_factors \
     WHERE status = 'pending' AND (expires_at IS NULL OR expires_at <= $1))";

/// PostgreSQL: as [`SQLITE_PURGE_PENDING_FACTOR_THROTTLES`].
#[cfg(feature = "postgres")]
pub(crate) const POSTGRES_PURGE_PENDING_FACTOR_THROTTLES: &str = "DELETE FROM mfa_throttles \
     WHERE (user_id, scope) IN (SELECT user_id, 'factor:' || encode(id, 'hex') FROM mfa_factors \
     WHERE status = 'pending' AND (expires_at IS NULL OR expires_at <= $1))";

/// One embedded migration: a script of statements bringing the schema to `version`.
#[derive(Debug)]
pub(crate) struct Migration {
    /// The schema version the script brings the database to.
    pub(crate) version: i64,
    /// A short name, recorded with the version.
    pub(crate) name: &'static str,
    /// The script (`migrations/<backend>/<version>_<name>.sql`).
    pub(crate) sql: &'static str,
}

/// Creates the table recording applied migrations, if missing.
pub(crate) const CREATE_SCHEMA_VERSION_TABLE: &str = "CREATE TABLE IF NOT EXISTS mfa_schema_version (\
     version BIGINT NOT NULL PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)";

/// Fails if the migration table does not exist yet.
pub(crate) const PROBE_SCHEMA_VERSION_TABLE: &str = "SELECT 1 AS one FROM mfa_schema_version LIMIT 1";

/// The schema version, as `v` (0 when no migration was applied).
pub(crate) const SELECT_SCHEMA_VERSION: &str = "SELECT COALESCE(MAX(version), 0) AS v FROM mfa_schema_version";

/// Records migration `$1` named `$2` as applied at `$3`.
pub(crate) const INSERT_SCHEMA_VERSION: &str =
    "INSERT INTO mfa_schema_version (version, name, applied_at) VALUES ($1, $2, $3)";

// ---------------------------------------------------------------------------------------
// Transactions: the statements that differ between backends
// ---------------------------------------------------------------------------------------

/// SQLite: starts a transaction holding the write lock from the start.
#[cfg(feature = "sqlite")]
pub(crate) const SQLITE_BEGIN_IMMEDIATE: &str = "BEGIN IMMEDIATE";

/// PostgreSQL: holds an advisory lock on user `$1` until the transaction ends.
#[cfg(feature = "postgres")]
pub(crate) const POSTGRES_LOCK_USER: &str =
    "SELECT 1 AS locked FROM pg_advisory_xact_lock(hashtextextended('mfa-store-sql:user:' || $1, 0))";

/// PostgreSQL: holds an advisory lock on migrating the current schema until the
/// transaction ends.
#[cfg(feature = "postgres")]
pub(crate) const POSTGRES_LOCK_MIGRATION: &str = "SELECT 1 AS locked FROM \
     pg_advisory_xact_lock(hashtextextended('mfa-store-sql:migrate:' || current_schema(), 0))";
