-- backupkit schema, version 2 (SQLite): schedule tags and connections as
-- rows (filterable), log line attributes, connections with encrypted
-- credentials.

-- One row per tag of a schedule; schedules.tags keeps the JSON copy.
CREATE TABLE schedule_tags (
    schedule_id TEXT NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
    tag         TEXT NOT NULL,
    PRIMARY KEY (schedule_id, tag)
) STRICT, WITHOUT ROWID;

CREATE INDEX schedule_tags_tag ON schedule_tags (tag);

-- Named source and destination definitions. secret is the AES-256-GCM
-- sealed credentials (nonce || ciphertext), NULL when there are none.
CREATE TABLE connections (
    id         TEXT    PRIMARY KEY,
    tenant     TEXT    NOT NULL DEFAULT '',
    name       TEXT    NOT NULL,
    kind       TEXT    NOT NULL,           -- "source" or "destination"
    type       TEXT    NOT NULL DEFAULT '', -- adapter, e.g. "mysql", "s3"
    config     TEXT    NOT NULL DEFAULT '{}', -- JSON, no secrets
    secret     BLOB,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (tenant, name)
) STRICT;

-- Which connections a schedule uses, by connection id.
CREATE TABLE schedule_connections (
    schedule_id   TEXT NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
    connection_id TEXT NOT NULL REFERENCES connections (id),
    PRIMARY KEY (schedule_id, connection_id)
) STRICT, WITHOUT ROWID;

CREATE INDEX schedule_connections_connection ON schedule_connections (connection_id);

-- Attributes of a log line, a JSON object of strings; NULL when none.
ALTER TABLE run_logs ADD COLUMN attrs TEXT;

CREATE INDEX audit_log_actor  ON audit_log (actor, occurred_at DESC);
CREATE INDEX audit_log_action ON audit_log (action, occurred_at DESC);
CREATE INDEX backups_protected ON backups (protected, created_at DESC, id DESC);
