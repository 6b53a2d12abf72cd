-- backupkit schema, version 3 (MySQL/MariaDB): list a schedule's runs newest
-- first along an index (run pages filtered by schedule).
ALTER TABLE runs ADD INDEX runs_schedule_started (schedule_id, started_at, id);
