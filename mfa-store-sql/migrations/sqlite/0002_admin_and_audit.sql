-- mfa-store-sql schema version 2 (SQLite). Applied by SqliteStore::migrate().
-- Ceremonies may hold a temporary access code; indexes for resetting a user and for
-- coverage; the audit trail written by SqlAuditSink.

-- SQLite cannot alter a CHECK constraint: rebuild mfa_ceremonies with the wider one,
-- keeping its rows, then recreate its index. (No view, trigger or foreign key refers to it.)
CREATE TABLE mfa_ceremonies_v2 (
    id           BLOB    NOT NULL PRIMARY KEY,
    user_id      TEXT,
    factor_id    BLOB,
    kind         TEXT    NOT NULL,
    purpose      TEXT    NOT NULL CHECK (purpose IN ('enrolment', 'challenge', 'temporary_access')),
    payload      BLOB    NOT NULL,
    attempts     INTEGER NOT NULL,
    max_attempts INTEGER NOT NULL,
    bound_action TEXT,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
) STRICT;
INSERT INTO mfa_ceremonies_v2
    (id, user_id, factor_id, kind, purpose, payload, attempts, max_attempts, bound_action, created_at, expires_at)
    SELECT id, user_id, factor_id, kind, purpose, payload, attempts, max_attempts, bound_action, created_at, expires_at
    FROM mfa_ceremonies;
DROP TABLE mfa_ceremonies;
ALTER TABLE mfa_ceremonies_v2 RENAME TO mfa_ceremonies;
CREATE INDEX mfa_ceremonies_expiry ON mfa_ceremonies (expires_at);
-- Resetting or erasing a user deletes the ceremonies bound to them.
CREATE INDEX mfa_ceremonies_user ON mfa_ceremonies (user_id);

-- Coverage: users with an active factor, overall and per kind, read from the index alone.
-- (Recovery codes are already indexed by user: their primary key starts with user_id.)
CREATE INDEX mfa_factors_status_kind_user ON mfa_factors (status, kind, user_id);

-- The audit trail: one row per event, appended by SqlAuditSink.
CREATE TABLE mfa_audit_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at         INTEGER NOT NULL,
    user_id    TEXT,
    actor      TEXT    NOT NULL,
    ip         TEXT,
    user_agent TEXT,
    event      TEXT    NOT NULL,
    body       TEXT    NOT NULL
) STRICT;
CREATE INDEX mfa_audit_events_user ON mfa_audit_events (user_id, at);
CREATE INDEX mfa_audit_events_at ON mfa_audit_events (at);
