-- backupkit schema, version 4 (PostgreSQL); see the SQLite set for comments.
ALTER TABLE runs ADD COLUMN kind TEXT NOT NULL DEFAULT 'backup';
CREATE INDEX runs_kind_started ON runs (kind, started_at DESC NULLS LAST, id DESC);

ALTER TABLE backups ADD COLUMN protected_until  TIMESTAMPTZ;
ALTER TABLE backups ADD COLUMN last_verified_at TIMESTAMPTZ;
ALTER TABLE backups ADD COLUMN verify_level     TEXT    NOT NULL DEFAULT '';
ALTER TABLE backups ADD COLUMN verify_ok        BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE backups ADD COLUMN verify_problem   TEXT    NOT NULL DEFAULT '';

ALTER TABLE backup_copies ADD COLUMN missing_since TIMESTAMPTZ;
