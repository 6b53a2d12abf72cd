-- backupkit schema, version 2 (PostgreSQL); see the SQLite set for comments.

CREATE TABLE schedule_tags (
    schedule_id TEXT NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
    tag         TEXT NOT NULL,
    PRIMARY KEY (schedule_id, tag)
);

CREATE INDEX schedule_tags_tag ON schedule_tags (tag);

CREATE TABLE connections (
    id         TEXT        PRIMARY KEY,
    tenant     TEXT        NOT NULL DEFAULT '',
    name       TEXT        NOT NULL,
    kind       TEXT        NOT NULL,
    type       TEXT        NOT NULL DEFAULT '',
    config     TEXT        NOT NULL DEFAULT '{}',
    secret     BYTEA,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    UNIQUE (tenant, name)
);

CREATE TABLE schedule_connections (
    schedule_id   TEXT NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
    connection_id TEXT NOT NULL REFERENCES connections (id),
    PRIMARY KEY (schedule_id, connection_id)
);

CREATE INDEX schedule_connections_connection ON schedule_connections (connection_id);

ALTER TABLE run_logs ADD COLUMN attrs TEXT;

CREATE INDEX audit_log_actor   ON audit_log (actor, occurred_at DESC);
CREATE INDEX audit_log_action  ON audit_log (action, occurred_at DESC);
CREATE INDEX backups_protected ON backups (protected, created_at DESC, id DESC);
