-- backupkit schema, version 2 (MySQL/MariaDB); see the SQLite set for
-- comments. Every statement can run again after a crash half-way: the store
-- skips "already exists" errors (1050, 1060, 1061) when migrating MySQL.

CREATE TABLE IF NOT EXISTS schedule_tags (
    schedule_id VARCHAR(255) NOT NULL,
    tag         VARCHAR(255) NOT NULL,
    PRIMARY KEY (schedule_id, tag),
    KEY schedule_tags_tag (tag),
    CONSTRAINT schedule_tags_schedule_fk FOREIGN KEY (schedule_id) REFERENCES schedules (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS connections (
    id         VARCHAR(255) NOT NULL PRIMARY KEY,
    tenant     VARCHAR(255) NOT NULL DEFAULT '',
    name       VARCHAR(255) NOT NULL,
    kind       VARCHAR(32)  NOT NULL,
    type       VARCHAR(64)  NOT NULL DEFAULT '',
    config     LONGTEXT     NOT NULL,
    secret     BLOB         NULL,
    created_at DATETIME(6)  NOT NULL,
    updated_at DATETIME(6)  NOT NULL,
    UNIQUE KEY connections_name (tenant, name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS schedule_connections (
    schedule_id   VARCHAR(255) NOT NULL,
    connection_id VARCHAR(255) NOT NULL,
    PRIMARY KEY (schedule_id, connection_id),
    KEY schedule_connections_connection (connection_id),
    CONSTRAINT schedule_connections_schedule_fk FOREIGN KEY (schedule_id) REFERENCES schedules (id) ON DELETE CASCADE,
    CONSTRAINT schedule_connections_connection_fk FOREIGN KEY (connection_id) REFERENCES connections (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

ALTER TABLE run_logs ADD COLUMN attrs LONGTEXT NULL;

ALTER TABLE audit_log ADD INDEX audit_log_actor (actor, occurred_at);

ALTER TABLE audit_log ADD INDEX audit_log_action (action, occurred_at);

ALTER TABLE backups ADD INDEX backups_protected (protected, created_at, id);
