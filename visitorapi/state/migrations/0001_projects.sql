-- Projects, their authorized domain patterns, and the append-only audit trail.
-- Times are UTC ISO 8601 text ('YYYY-MM-DDTHH:MM:SSZ'), which sorts as time.

CREATE TABLE projects (
    pid                 TEXT PRIMARY KEY CHECK (pid GLOB '[A-Za-z0-9_-]*' AND length(pid) BETWEEN 1 AND 64),
    name                TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    enabled             INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    created_at          TEXT NOT NULL,
    -- When an operator last confirmed the domain list (the dashboard reminds after 90 days).
    domains_reviewed_at TEXT NOT NULL
);

CREATE TABLE project_domains (
    pid      TEXT NOT NULL REFERENCES projects (pid) ON DELETE CASCADE,
    pattern  TEXT NOT NULL,   -- canonical DomainPattern.text, ASCII
    added_at TEXT NOT NULL,
    PRIMARY KEY (pid, pattern)
) WITHOUT ROWID;

-- One row; every change to projects or project_domains bumps it, so a
-- serving process learns of a change with one cheap read.
CREATE TABLE projects_revision (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    revision INTEGER NOT NULL
);
INSERT INTO projects_revision (id, revision) VALUES (1, 0);

CREATE TRIGGER projects_revision_on_insert AFTER INSERT ON projects
BEGIN UPDATE projects_revision SET revision = revision + 1 WHERE id = 1; END;
CREATE TRIGGER projects_revision_on_update AFTER UPDATE ON projects
BEGIN UPDATE projects_revision SET revision = revision + 1 WHERE id = 1; END;
CREATE TRIGGER projects_revision_on_delete AFTER DELETE ON projects
BEGIN UPDATE projects_revision SET revision = revision + 1 WHERE id = 1; END;
CREATE TRIGGER project_domains_revision_on_insert AFTER INSERT ON project_domains
BEGIN UPDATE projects_revision SET revision = revision + 1 WHERE id = 1; END;
CREATE TRIGGER project_domains_revision_on_update AFTER UPDATE ON project_domains
BEGIN UPDATE projects_revision SET revision = revision + 1 WHERE id = 1; END;
CREATE TRIGGER project_domains_revision_on_delete AFTER DELETE ON project_domains
BEGIN UPDATE projects_revision SET revision = revision + 1 WHERE id = 1; END;

-- The audit trail: settings history, never visitor data. No foreign key to
-- projects, so entries outlive a deleted project. before/after hold JSON.
CREATE TABLE audit_log (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    at     TEXT NOT NULL,
    actor  TEXT NOT NULL CHECK (length(actor) > 0),
    action TEXT NOT NULL CHECK (length(action) > 0),
    pid    TEXT,
    before TEXT,
    after  TEXT
);
CREATE INDEX audit_log_by_pid ON audit_log (pid, id);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: entries are never edited'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: entries are never deleted'); END;
