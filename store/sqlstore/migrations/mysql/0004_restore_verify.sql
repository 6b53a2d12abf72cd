-- backupkit schema, version 4 (MySQL/MariaDB); see the SQLite set for
-- comments. Every statement can run again after a crash half-way: the store
-- skips "already exists" errors (1050, 1060, 1061) when migrating MySQL.

ALTER TABLE runs ADD COLUMN kind VARCHAR(32) NOT NULL DEFAULT 'backup';

ALTER TABLE runs ADD INDEX runs_kind_started (kind, started_at, id);

ALTER TABLE backups ADD COLUMN protected_until DATETIME(6) NULL;

ALTER TABLE backups ADD COLUMN last_verified_at DATETIME(6) NULL;

ALTER TABLE backups ADD COLUMN verify_level VARCHAR(32) NOT NULL DEFAULT '';

ALTER TABLE backups ADD COLUMN verify_ok BOOLEAN NOT NULL DEFAULT FALSE;

ALTER TABLE backups ADD COLUMN verify_problem TEXT NOT NULL;

ALTER TABLE backup_copies ADD COLUMN missing_since DATETIME(6) NULL;
