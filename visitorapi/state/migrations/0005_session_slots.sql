-- Anonymous sessions (the login form's, which anyone can make) are capped by
-- a ring of slots: a new one takes slot (its rowid modulo the cap) and
-- replaces whatever older anonymous session held that slot, so starting one
-- costs the same whatever the table holds (visitorapi.state.sessions.create).
-- NULL for every other session, and for anonymous ones from before this.
ALTER TABLE sessions ADD COLUMN anonymous_slot INTEGER;
CREATE UNIQUE INDEX sessions_by_anonymous_slot ON sessions (anonymous_slot);

-- The expiry sweep (sessions.prune) finds old sessions by time, not by a scan.
CREATE INDEX sessions_by_last_seen ON sessions (last_seen_at);
CREATE INDEX sessions_by_stage_age ON sessions (stage, created_at);
