-- mfa-store-sql schema version 1 (PostgreSQL). Applied by PostgresStore::migrate().
-- Ids are 16-byte BYTEAs, timestamps Unix milliseconds, replay markers u64 stored as
-- BIGINT offset by -2^63 so that they order correctly.

CREATE TABLE mfa_factors (
    id                 BYTEA   NOT NULL PRIMARY KEY,
    user_id            TEXT    NOT NULL,
    kind               TEXT    NOT NULL,
    label              TEXT    NOT NULL,
    status             TEXT    NOT NULL CHECK (status IN ('pending', 'active')),
    assurance          TEXT    NOT NULL,
    created_at         BIGINT  NOT NULL,
    last_used_at       BIGINT,
    expires_at         BIGINT,
    preferred          BOOLEAN NOT NULL DEFAULT FALSE,
    masked_destination TEXT,
    details            TEXT    NOT NULL,
    secret_key_id      BIGINT,
    secret_ciphertext  BYTEA,
    data               BYTEA   NOT NULL,
    replay_marker      BIGINT,
    enrolment          BYTEA,
    replaces           BYTEA,
    lookup_key         TEXT
);
CREATE INDEX mfa_factors_user ON mfa_factors (user_id, id);
CREATE UNIQUE INDEX mfa_factors_lookup_key ON mfa_factors (lookup_key);
CREATE INDEX mfa_factors_pending_expiry ON mfa_factors (expires_at) WHERE status = 'pending';

CREATE TABLE mfa_ceremonies (
    id           BYTEA   NOT NULL PRIMARY KEY,
    user_id      TEXT,
    factor_id    BYTEA,
    kind         TEXT    NOT NULL,
    purpose      TEXT    NOT NULL CHECK (purpose IN ('enrolment', 'challenge')),
    payload      BYTEA   NOT NULL,
    attempts     BIGINT  NOT NULL,
    max_attempts BIGINT  NOT NULL,
    bound_action TEXT,
    created_at   BIGINT  NOT NULL,
    expires_at   BIGINT  NOT NULL
);
CREATE INDEX mfa_ceremonies_expiry ON mfa_ceremonies (expires_at);

CREATE TABLE mfa_recovery_codes (
    user_id    TEXT    NOT NULL,
    lookup     TEXT    NOT NULL,
    hash       TEXT    NOT NULL,
    created_at BIGINT  NOT NULL,
    PRIMARY KEY (user_id, lookup)
);

CREATE TABLE mfa_device_tokens (
    id           BYTEA   NOT NULL PRIMARY KEY,
    user_id      TEXT    NOT NULL,
    label        TEXT    NOT NULL,
    secret_hash  BYTEA   NOT NULL,
    created_at   BIGINT  NOT NULL,
    last_seen_at BIGINT,
    expires_at   BIGINT  NOT NULL
);
CREATE INDEX mfa_device_tokens_user ON mfa_device_tokens (user_id, id);
CREATE INDEX mfa_device_tokens_expiry ON mfa_device_tokens (expires_at);

CREATE TABLE mfa_throttles (
    user_id         TEXT    NOT NULL,
    scope           TEXT    NOT NULL,
    failures        BIGINT  NOT NULL,
    last_attempt_at BIGINT,
    PRIMARY KEY (user_id, scope)
);

CREATE TABLE mfa_counters (
    counter_key  TEXT    NOT NULL PRIMARY KEY,
    count        BIGINT  NOT NULL,
    window_start BIGINT,
    last_at      BIGINT,
    expires_at   BIGINT 
);
CREATE INDEX mfa_counters_expiry ON mfa_counters (expires_at) WHERE expires_at IS NOT NULL;
