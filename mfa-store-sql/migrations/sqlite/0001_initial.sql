-- mfa-store-sql schema version 1 (SQLite). Applied by SqliteStore::migrate().
-- Ids are 16-byte BLOBs, timestamps Unix milliseconds, replay markers u64 stored as
-- INTEGER offset by -2^63 so that they order correctly.

CREATE TABLE mfa_factors (
    id                 BLOB    NOT NULL PRIMARY KEY,
    user_id            TEXT    NOT NULL,
    kind               TEXT    NOT NULL,
    label              TEXT    NOT NULL,
    status             TEXT    NOT NULL CHECK (status IN ('pending', 'active')),
    assurance          TEXT    NOT NULL,
    created_at         INTEGER NOT NULL,
    last_used_at       INTEGER,
    expires_at         INTEGER,
    preferred          INTEGER NOT NULL DEFAULT 0,
    masked_destination TEXT,
    details            TEXT    NOT NULL,
    secret_key_id      INTEGER,
    secret_ciphertext  BLOB,
    data               BLOB    NOT NULL,
    replay_marker      INTEGER,
    enrolment          BLOB,
    replaces           BLOB,
    lookup_key         TEXT
) STRICT;
CREATE INDEX mfa_factors_user ON mfa_factors (user_id, id);
CREATE UNIQUE INDEX mfa_factors_lookup_key ON mfa_factors (lookup_key);
CREATE INDEX mfa_factors_pending_expiry ON mfa_factors (expires_at) WHERE status = 'pending';

CREATE TABLE mfa_ceremonies (
    id           BLOB    NOT NULL PRIMARY KEY,
    user_id      TEXT,
    factor_id    BLOB,
    kind         TEXT    NOT NULL,
    purpose      TEXT    NOT NULL CHECK (purpose IN ('enrolment', 'challenge')),
    payload      BLOB    NOT NULL,
    attempts     INTEGER NOT NULL,
    max_attempts INTEGER NOT NULL,
    bound_action TEXT,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
) STRICT;
CREATE INDEX mfa_ceremonies_expiry ON mfa_ceremonies (expires_at);

CREATE TABLE mfa_recovery_codes (
    user_id    TEXT    NOT NULL,
    lookup     TEXT    NOT NULL,
    hash       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, lookup)
) STRICT, WITHOUT ROWID;

CREATE TABLE mfa_device_tokens (
    id           BLOB    NOT NULL PRIMARY KEY,
    user_id      TEXT    NOT NULL,
    label        TEXT    NOT NULL,
    secret_hash  BLOB    NOT NULL,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER,
    expires_at   INTEGER NOT NULL
) STRICT;
CREATE INDEX mfa_device_tokens_user ON mfa_device_tokens (user_id, id);
CREATE INDEX mfa_device_tokens_expiry ON mfa_device_tokens (expires_at);

CREATE TABLE mfa_throttles (
    user_id         TEXT    NOT NULL,
    scope           TEXT    NOT NULL,
    failures        INTEGER NOT NULL,
    last_attempt_at INTEGER,
    PRIMARY KEY (user_id, scope)
) STRICT, WITHOUT ROWID;

CREATE TABLE mfa_counters (
    counter_key  TEXT    NOT NULL PRIMARY KEY,
    count        INTEGER NOT NULL,
    window_start INTEGER,
    last_at      INTEGER,
    expires_at   INTEGER
) STRICT, WITHOUT ROWID;
CREATE INDEX mfa_counters_expiry ON mfa_counters (expires_at) WHERE expires_at IS NOT NULL;
