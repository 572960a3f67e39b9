-- An operator's free-text note per authorized domain ("staging site, owner:
-- Ana"): one line of printable text, at most 200 characters, '' for none.
-- Existing domains get ''. Checked in visitorapi.state.projects; the CHECK is
-- the last line of defence.
ALTER TABLE project_domains ADD COLUMN note TEXT NOT NULL DEFAULT '' CHECK (length(note) <= 200);
