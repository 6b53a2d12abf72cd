-- backupkit schema, version 1 (SQLite).
--
-- Conventions (the PostgreSQL and MySQL sets follow them with their own types):
--   * times are INTEGER Unix nanoseconds, UTC; NULL is "not set" (Go's zero time);
--   * optional text is '' rather than NULL, except JSON documents (NULL = none);
--   * ids are 26-character time-sortable strings (internal/id) made by the store;
--   * every table is STRICT, so a wrongly typed value is an error, not a surprise.
-- Tables not used by store.Store yet (schedules, audit_log) are here so that the
-- roadmap does not need a migration for each of them.

-- Schedules: a job's cron timing and its configuration.
CREATE TABLE schedules (
    id            TEXT    PRIMARY KEY,
    tenant        TEXT    NOT NULL DEFAULT '',
    name          TEXT    NOT NULL,
    tags          TEXT    NOT NULL DEFAULT '[]',  -- JSON array of strings
    cron          TEXT    NOT NULL,
    timezone      TEXT    NOT NULL DEFAULT 'UTC', -- IANA name
    paused        INTEGER NOT NULL DEFAULT 0 CHECK (paused IN (0, 1)),
    job           TEXT    NOT NULL DEFAULT '{}',  -- job configuration, JSON; credentials encrypted by the caller
    next_run_at   INTEGER,
    last_run_at   INTEGER,
    last_status   TEXT    NOT NULL DEFAULT '',
    success_count INTEGER NOT NULL DEFAULT 0,
    failure_count INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    -- Names are unique per tenant ('' for single-tenant installations).
    UNIQUE (tenant, name)
) STRICT;

CREATE INDEX schedules_due ON schedules (paused, next_run_at);

-- Runs: one attempt at one job, or a skipped/missed slot.
--
-- Slot claiming: of many replicas exactly one may record a given attempt at a
-- given slot. The key is (job, schedule_id, slot, attempt):
--   * slot is the nominal time; it is NULL for manual runs, and NULLs are
--     distinct in a unique key (SQLite, PostgreSQL, MySQL alike), so manual
--     runs never collide with anything;
--   * schedule_id is '' for schedules that live only in configuration; the job
--     is part of the key so that such schedules of different jobs do not
--     collide at the same slot;
--   * attempt lets a retry of a slot be claimed again, by exactly one replica;
--   * skipped and missed slots are rows too, so "skip" and "run" cannot both
--     win a slot.
CREATE TABLE runs (
    id            TEXT    PRIMARY KEY,
    job           TEXT    NOT NULL,
    schedule_id   TEXT    NOT NULL DEFAULT '',
    slot          INTEGER,
    trigger_kind  TEXT    NOT NULL DEFAULT '',
    triggered_by  TEXT    NOT NULL DEFAULT '',
    status        TEXT    NOT NULL,
    reason        TEXT    NOT NULL DEFAULT '',
    owner         TEXT    NOT NULL DEFAULT '',
    attempt       INTEGER NOT NULL DEFAULT 1,
    lease_until   INTEGER,
    started_at    INTEGER,
    finished_at   INTEGER,
    bytes_read    INTEGER NOT NULL DEFAULT 0,
    bytes_written INTEGER NOT NULL DEFAULT 0,
    backup_id     TEXT    NOT NULL DEFAULT '', -- no foreign key: history outlives pruned backups
    log_lines     INTEGER NOT NULL DEFAULT 0,  -- last run_logs.seq; serializes appends per run
    CONSTRAINT runs_slot_claim UNIQUE (job, schedule_id, slot, attempt)
) STRICT;

CREATE INDEX runs_started     ON runs (started_at DESC, id DESC);
CREATE INDEX runs_job_started ON runs (job, started_at DESC, id DESC);
CREATE INDEX runs_status      ON runs (status, started_at DESC, id DESC);
CREATE INDEX runs_lease       ON runs (status, lease_until);
CREATE INDEX runs_schedule    ON runs (schedule_id, slot);

-- Backups: the catalog. run_id has no foreign key: the catalog can be rebuilt
-- from manifests when the run history is gone.
CREATE TABLE backups (
    id          TEXT    PRIMARY KEY,
    job         TEXT    NOT NULL,
    run_id      TEXT    NOT NULL DEFAULT '',
    status      TEXT    NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL,
    size        INTEGER NOT NULL DEFAULT 0,
    sha256      TEXT    NOT NULL DEFAULT '',
    format      TEXT    NOT NULL DEFAULT '',
    compression TEXT    NOT NULL DEFAULT '',
    encryption  TEXT    NOT NULL DEFAULT '',
    source_info TEXT,  -- source.Info as JSON, kept byte for byte
    protected   INTEGER NOT NULL DEFAULT 0 CHECK (protected IN (0, 1))
) STRICT;

CREATE INDEX backups_created     ON backups (created_at DESC, id DESC);
CREATE INDEX backups_job_created ON backups (job, created_at DESC, id DESC);
CREATE INDEX backups_run         ON backups (run_id);

-- Copies of a backup's artifact, one per destination. id keeps insertion order.
CREATE TABLE backup_copies (
    id          INTEGER PRIMARY KEY,
    backup_id   TEXT    NOT NULL REFERENCES backups (id) ON DELETE CASCADE,
    destination TEXT    NOT NULL,
    object_key  TEXT    NOT NULL,
    size        INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER,
    UNIQUE (backup_id, destination)
) STRICT;

CREATE INDEX backup_copies_destination ON backup_copies (destination);

-- Per-run log lines, in append order.
CREATE TABLE run_logs (
    run_id    TEXT    NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    seq       INTEGER NOT NULL,
    logged_at INTEGER,
    level     TEXT    NOT NULL DEFAULT '',
    message   TEXT    NOT NULL,
    PRIMARY KEY (run_id, seq)
) STRICT, WITHOUT ROWID;

-- Audit trail of changes, triggers, restores and deletes (DESIGN.md section 8).
CREATE TABLE audit_log (
    id          TEXT    PRIMARY KEY,  -- time-sortable
    occurred_at INTEGER NOT NULL,
    actor       TEXT    NOT NULL,
    action      TEXT    NOT NULL,
    target      TEXT    NOT NULL DEFAULT '',
    details     TEXT    -- JSON, free of secrets
) STRICT;

CREATE INDEX audit_log_occurred ON audit_log (occurred_at DESC, id DESC);
CREATE INDEX audit_log_target   ON audit_log (target, occurred_at DESC);
