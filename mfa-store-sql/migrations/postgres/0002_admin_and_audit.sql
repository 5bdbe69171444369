-- mfa-store-sql schema version 2 (PostgreSQL). Applied by PostgresStore::migrate().
-- Ceremonies may hold a temporary access code; indexes for resetting a user and for
-- coverage; the audit trail written by SqlAuditSink.

-- Version 1 declared the purpose CHECK inline, so PostgreSQL named it
-- mfa_ceremonies_purpose_check; replace it with the wider one under the same name.
ALTER TABLE mfa_ceremonies
    DROP CONSTRAINT mfa_ceremonies_purpose_check,
    ADD CONSTRAINT mfa_ceremonies_purpose_check
        CHECK (purpose IN ('enrolment', 'challenge', 'temporary_access'));
-- Resetting or erasing a user deletes the ceremonies bound to them.
CREATE INDEX mfa_ceremonies_user ON mfa_ceremonies (user_id);

-- Coverage: users with an active factor, overall and per kind, read from the index alone.
-- (Recovery codes are already indexed by user: their primary key starts with user_id.)
CREATE INDEX mfa_factors_status_kind_user ON mfa_factors (status, kind, user_id);

-- The audit trail: one row per event, appended by SqlAuditSink.
CREATE TABLE mfa_audit_events (
    id         BIGSERIAL PRIMARY KEY,
    at         BIGINT    NOT NULL,
    user_id    TEXT,
    actor      TEXT      NOT NULL,
    ip         TEXT,
    user_agent TEXT,
    event      TEXT      NOT NULL,
    body       TEXT      NOT NULL
);
CREATE INDEX mfa_audit_events_user ON mfa_audit_events (user_id, at);
CREATE INDEX mfa_audit_events_at ON mfa_audit_events (at);
