-- backupkit schema, version 3 (SQLite): list a schedule's runs newest first
-- along an index (run pages filtered by schedule).
CREATE INDEX runs_schedule_started ON runs (schedule_id, started_at DESC, id DESC);
