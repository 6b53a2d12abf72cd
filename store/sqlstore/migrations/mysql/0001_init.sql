-- backupkit schema, version 1 (MySQL 8 / MariaDB 10.6+).
--
-- The same tables as the SQLite set (see migrations/sqlite/0001_init.sql for
-- the meaning of each column and of the slot-claim key), with MySQL types:
--   * times are DATETIME(6) in UTC (the store sets the session time zone);
--   * keyed text is VARCHAR(255), other text TEXT/LONGTEXT, all utf8mb4_bin
--     (compared byte for byte, as in SQLite and PostgreSQL);
--   * flags are BOOLEAN (TINYINT(1)).
-- MySQL commits DDL implicitly, so every statement can run again after a crash
-- half-way: CREATE TABLE IF NOT EXISTS, with the indexes inside the table.
-- Each statement ends with a semicolon at the end of a line (the store splits
-- the script there).

CREATE TABLE IF NOT EXISTS schedules (
    id            VARCHAR(255) NOT NULL PRIMARY KEY,
    tenant        VARCHAR(255) NOT NULL DEFAULT '',
    name          VARCHAR(255) NOT NULL,
    tags          TEXT         NOT NULL,
    cron          VARCHAR(255) NOT NULL,
    timezone      VARCHAR(255) NOT NULL DEFAULT 'UTC',
    paused        BOOLEAN      NOT NULL DEFAULT FALSE,
    job           LONGTEXT     NOT NULL,
    next_run_at   DATETIME(6)  NULL,
    last_run_at   DATETIME(6)  NULL,
    last_status   VARCHAR(32)  NOT NULL DEFAULT '',
    success_count BIGINT       NOT NULL DEFAULT 0,
    failure_count BIGINT       NOT NULL DEFAULT 0,
    created_at    DATETIME(6)  NOT NULL,
    updated_at    DATETIME(6)  NOT NULL,
    UNIQUE KEY schedules_name (tenant, name),
    KEY schedules_due (paused, next_run_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS runs (
    id            VARCHAR(255) NOT NULL PRIMARY KEY,
    job           VARCHAR(255) NOT NULL,
    schedule_id   VARCHAR(255) NOT NULL DEFAULT '',
    slot          DATETIME(6)  NULL,
    trigger_kind  VARCHAR(32)  NOT NULL DEFAULT '',
    triggered_by  VARCHAR(255) NOT NULL DEFAULT '',
    status        VARCHAR(32)  NOT NULL,
    reason        TEXT         NOT NULL,
    owner         VARCHAR(255) NOT NULL DEFAULT '',
    attempt       INTEGER      NOT NULL DEFAULT 1,
    lease_until   DATETIME(6)  NULL,
    started_at    DATETIME(6)  NULL,
    finished_at   DATETIME(6)  NULL,
    bytes_read    BIGINT       NOT NULL DEFAULT 0,
    bytes_written BIGINT       NOT NULL DEFAULT 0,
    backup_id     VARCHAR(255) NOT NULL DEFAULT '',
    log_lines     BIGINT       NOT NULL DEFAULT 0,
    UNIQUE KEY runs_slot_claim (job, schedule_id, slot, attempt),
    KEY runs_started (started_at, id),
    KEY runs_job_started (job, started_at, id),
    KEY runs_status (status, started_at, id),
    KEY runs_lease (status, lease_until),
    KEY runs_schedule (schedule_id, slot)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS backups (
    id          VARCHAR(255) NOT NULL PRIMARY KEY,
    job         VARCHAR(255) NOT NULL,
    run_id      VARCHAR(255) NOT NULL DEFAULT '',
    status      VARCHAR(32)  NOT NULL DEFAULT '',
    created_at  DATETIME(6)  NOT NULL,
    size        BIGINT       NOT NULL DEFAULT 0,
    sha256      VARCHAR(64)  NOT NULL DEFAULT '',
    format      VARCHAR(64)  NOT NULL DEFAULT '',
    compression VARCHAR(64)  NOT NULL DEFAULT '',
    encryption  VARCHAR(64)  NOT NULL DEFAULT '',
    source_info LONGTEXT     NULL,
    protected   BOOLEAN      NOT NULL DEFAULT FALSE,
    KEY backups_created (created_at, id),
    KEY backups_job_created (job, created_at, id),
    KEY backups_run (run_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS backup_copies (
    id          BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    backup_id   VARCHAR(255) NOT NULL,
    destination VARCHAR(255) NOT NULL,
    object_key  TEXT         NOT NULL,
    size        BIGINT       NOT NULL DEFAULT 0,
    created_at  DATETIME(6)  NULL,
    UNIQUE KEY backup_copies_backup (backup_id, destination),
    KEY backup_copies_destination (destination),
    CONSTRAINT backup_copies_backup_fk FOREIGN KEY (backup_id) REFERENCES backups (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS run_logs (
    run_id    VARCHAR(255) NOT NULL,
    seq       BIGINT       NOT NULL,
    logged_at DATETIME(6)  NULL,
    level     VARCHAR(16)  NOT NULL DEFAULT '',
    message   TEXT         NOT NULL,
    PRIMARY KEY (run_id, seq),
    CONSTRAINT run_logs_run_fk FOREIGN KEY (run_id) REFERENCES runs (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS audit_log (
    id          VARCHAR(255) NOT NULL PRIMARY KEY,
    occurred_at DATETIME(6)  NOT NULL,
    actor       VARCHAR(255) NOT NULL,
    action      VARCHAR(255) NOT NULL,
    target      VARCHAR(255) NOT NULL DEFAULT '',
    details     LONGTEXT     NULL,
    KEY audit_log_occurred (occurred_at, id),
    KEY audit_log_target (target, occurred_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
