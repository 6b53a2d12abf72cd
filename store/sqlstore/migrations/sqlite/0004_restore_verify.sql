-- backupkit schema, version 4 (SQLite): restore and verify runs (runs.kind,
-- backup_id names the backup they concern), the last verification of a
-- backup, the expiry of a safety backup's protection, and copies found
-- missing by a catalog rebuild.
ALTER TABLE runs ADD COLUMN kind TEXT NOT NULL DEFAULT 'backup';
CREATE INDEX runs_kind_started ON runs (kind, started_at DESC, id DESC);

ALTER TABLE backups ADD COLUMN protected_until  INTEGER;
ALTER TABLE backups ADD COLUMN last_verified_at INTEGER;
ALTER TABLE backups ADD COLUMN verify_level     TEXT    NOT NULL DEFAULT '';
ALTER TABLE backups ADD COLUMN verify_ok        INTEGER NOT NULL DEFAULT 0 CHECK (verify_ok IN (0, 1));
ALTER TABLE backups ADD COLUMN verify_problem   TEXT    NOT NULL DEFAULT '';

ALTER TABLE backup_copies ADD COLUMN missing_since INTEGER;
