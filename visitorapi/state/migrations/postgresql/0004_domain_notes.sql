-- PostgreSQL twin of ../0004_domain_notes.sql: an operator's one-line note
-- per authorized domain, at most 200 characters, '' for none.
ALTER TABLE project_domains ADD COLUMN note TEXT NOT NULL DEFAULT '' CHECK (length(note) <= 200);
