"""Projects and their authorized domain patterns: the store's read and write API.

A project is what a website embeds: a public id (``pid``), a name, an
enabled flag and the domain patterns whose pages may call the API, each with
an optional note for the operator ("staging site, owner: Ana"). Every
function takes a connection from :func:`visitorapi.state.db.connect`; every
change runs in one ``BEGIN IMMEDIATE`` transaction together with its audit
entry (:mod:`visitorapi.state.audit`), so the trail and the settings never
disagree. Serving processes do not call this module per request: they read
through :class:`visitorapi.state.authorized_domains.AuthorizedDomains`.
"""
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from visitorapi.domains import PatternError, parse_pattern, stored_pattern
from visitorapi.errors import OperatorError
from visitorapi.state import audit
from visitorapi.state.db import Connection, transaction

PID_LENGTH = 20                     # characters of secrets.token_urlsafe output
PID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}", re.ASCII)   # what a request's pid may be
MAX_NAME_LENGTH = 200
MAX_NOTE_LENGTH = 200               # also a CHECK in 0004_domain_notes.sql
REVIEW_INTERVAL = timedelta(days=90)


class UnknownProjectError(OperatorError, LookupError):
    """No project has this pid."""


@dataclass(frozen=True)
class Project:
    """A project as stored.

    Attributes:
        pid: the public project id websites put in ``/api/?pid=``.
        name: the operator's label for it.
        enabled: False while disabled (requests get the same 403 as unknown pids).
        created_at, domains_reviewed_at: UTC, ``YYYY-MM-DDTHH:MM:SSZ``.
        domains: canonical pattern texts, sorted.
        domain_notes: ``(pattern, note)`` pairs for the domains that have a
            note, sorted by pattern; :meth:`note` reads one.
    """
    pid: str
    name: str
    enabled: bool
    created_at: str
    domains_reviewed_at: str
    domains: tuple
    domain_notes: tuple = ()

    def review_due(self, now: datetime | None = None) -> bool:
        """True when the domain list was last reviewed more than 90 days ago."""
        reviewed = datetime.strptime(self.domains_reviewed_at, "%Y-%m-%dT%H:%M:%SZ")
        now = now or datetime.now(timezone.utc)
        return now - reviewed.replace(tzinfo=timezone.utc) > REVIEW_INTERVAL

    def note(self, pattern: str) -> str:
        """The operator's note on one of :attr:`domains`, ``""`` when it has none."""
        return dict(self.domain_notes).get(pattern, "")

    def as_dict(self) -> dict:
        return {"pid": self.pid, "name": self.name, "enabled": self.enabled,
                "created_at": self.created_at, "domains_reviewed_at": self.domains_reviewed_at,
                "domains": list(self.domains), "domain_notes": dict(self.domain_notes)}


def new_pid() -> str:
    """Return a fresh pid: 20 URL-safe characters (about 119.9 random bits) from :mod:`secrets`.

    NOTE: a pid never starts with "-", so that ``visitorapi projects show PID``
    is not mistaken for an option.
    """
    while True:
        pid = secrets.token_urlsafe(PID_LENGTH * 3 // 4)
        if not pid.startswith("-"):
            return pid


def check_pid(pid: str) -> str:
    """Return ``pid`` if it has the form of a pid, else raise UnknownProjectError."""
    if not isinstance(pid, str) or not PID_PATTERN.fullmatch(pid):
        raise UnknownProjectError(f"{pid!r} is not a project id (1-64 letters, digits, '-' or '_'); "
                                  "'visitorapi projects list' shows them")
    return pid


def create(conn: Connection, name: str, patterns=(), *, actor: str) -> Project:
    """Create a project with a new pid and the given domain patterns.

    Args:
        name: the operator's label, 1-200 printable characters.
        patterns: domain pattern texts; each is checked by
            :func:`visitorapi.domains.parse_pattern` and stored canonically.
        actor: who asks, for the audit trail.

    Raises:
        OperatorError: a bad name; PatternError: a refused pattern (nothing is
            created then).
    """
    name = _check_name(name)
    canonical = sorted({parse_pattern(text).text for text in patterns})
    now = audit.utc_now()
    with transaction(conn):
        pid = new_pid()
        while conn.execute("SELECT 1 FROM projects WHERE pid = ?", (pid,)).fetchone():
            pid = new_pid()     # NOTE: 2**-120 per try; the loop is for correctness, not use
        conn.execute("INSERT INTO projects (pid, name, enabled, created_at, domains_reviewed_at)"
                     " VALUES (?, ?, 1, ?, ?)", (pid, name, now, now))
        conn.executemany("INSERT INTO project_domains (pid, pattern, added_at) VALUES (?, ?, ?)",
                         [(pid, text, now) for text in canonical])
        project = _read(conn, pid)
        audit.append(conn, actor=actor, action="project.created", pid=pid,
                     after=_public_state(project), at=now)
    return project


def get(conn: Connection, pid: str) -> Project | None:
    """Return the project with this pid, or None."""
    if not isinstance(pid, str) or not PID_PATTERN.fullmatch(pid):
        return None
    return _read(conn, pid)


def require(conn: Connection, pid: str) -> Project:
    """Return the project with this pid; raise UnknownProjectError when there is none."""
    project = get(conn, check_pid(pid))
    if project is None:
        raise UnknownProjectError(f"no project has pid {pid!r}; 'visitorapi projects list' shows them")
    return project


def list_projects(conn: Connection) -> list:
    """Return every project, oldest first."""
    domains = {}
    for pid, pattern, note in conn.execute(
            "SELECT pid, pattern, note FROM project_domains ORDER BY pid, pattern"):
        domains.setdefault(pid, []).append((pattern, note))
    return [_project(row, domains.get(row[0], ())) for row in conn.execute(
        "SELECT pid, name, enabled, created_at, domains_reviewed_at FROM projects"
        " ORDER BY created_at, rowid")]


def add_domain(conn: Connection, pid: str, pattern: str, *, note: str = "",
               actor: str) -> Project:
    """Authorize one more domain pattern for a project.

    Args:
        note: the operator's note on it (see :func:`check_note`); ``""`` for none.

    Raises:
        UnknownProjectError, PatternError, OperatorError (already authorized,
            or a bad note; nothing is added then).
    """
    text = parse_pattern(pattern).text
    note = check_note(note)
    with transaction(conn):
        before = require(conn, pid)
        if text in before.domains:
            raise OperatorError(f"project {pid} already authorizes {text!r}")
        conn.execute("INSERT INTO project_domains (pid, pattern, added_at, note)"
                     " VALUES (?, ?, ?, ?)", (pid, text, audit.utc_now(), note))
        after = _read(conn, pid)
        audit.append(conn, actor=actor, action="domain.added", pid=pid,
                     before={"domains": list(before.domains)},
                     after={"domains": list(after.domains)} | _notes_state({text: note}))
    return after


def set_domain_note(conn: Connection, pid: str, pattern: str, note: str, *,
                    actor: str) -> Project:
    """Set (or, with ``""``, clear) the note on one of a project's domains.

    The pattern may be given in any spelling that normalizes to the stored
    one. Setting the note it already has is a no-op with no audit entry.

    Raises:
        UnknownProjectError, OperatorError (the project does not have the
            pattern, or a bad note).
    """
    note = check_note(note)
    with transaction(conn):
        before = require(conn, pid)
        text = authorized_pattern(before, pattern)
        if before.note(text) == note:
            return before
        conn.execute("UPDATE project_domains SET note = ? WHERE pid = ? AND pattern = ?",
                     (note, pid, text))
        audit.append(conn, actor=actor, action="domain.note_changed", pid=pid,
                     before={"domain_notes": {text: before.note(text)}},
                     after={"domain_notes": {text: note}})
        return _read(conn, pid)


def remove_domain(conn: Connection, pid: str, pattern: str, *, actor: str) -> Project:
    """Stop authorizing a domain pattern (given in any spelling that normalizes to it).

    The audit entry keeps the domain's note, if it had one.

    Raises:
        UnknownProjectError, OperatorError (the project does not have it).
    """
    with transaction(conn):
        before = require(conn, pid)
        text = authorized_pattern(before, pattern)
        conn.execute("DELETE FROM project_domains WHERE pid = ? AND pattern = ?", (pid, text))
        after = _read(conn, pid)
        audit.append(conn, actor=actor, action="domain.removed", pid=pid,
                     before={"domains": list(before.domains)}
                     | _notes_state({text: before.note(text)}),
                     after={"domains": list(after.domains)})
    return after


def authorized_pattern(project: Project, pattern: str) -> str:
    """The stored text of ``pattern`` (any spelling that normalizes to it) if the project has it.

    Raises:
        OperatorError: the project does not authorize it; the message lists what it has.
    """
    try:
        text = stored_pattern(pattern).text
    except PatternError:
        text = pattern
    if text not in project.domains:
        listed = ", ".join(project.domains) or "none"
        raise OperatorError(f"project {project.pid} does not authorize {pattern!r} (it has: {listed})")
    return text


def set_enabled(conn: Connection, pid: str, enabled: bool, *, actor: str) -> Project:
    """Enable or disable a project; a no-op (and no audit entry) if it already is so."""
    with transaction(conn):
        before = require(conn, pid)
        if before.enabled == enabled:
            return before
        conn.execute("UPDATE projects SET enabled = ? WHERE pid = ?", (int(enabled), pid))
        audit.append(conn, actor=actor, action="project.enabled" if enabled else "project.disabled",
                     pid=pid, before={"enabled": before.enabled}, after={"enabled": enabled})
        return _read(conn, pid)


def delete(conn: Connection, pid: str, *, actor: str) -> Project:
    """Delete a project and its domains (its audit entries stay); return what was deleted."""
    with transaction(conn):
        before = require(conn, pid)
        conn.execute("DELETE FROM projects WHERE pid = ?", (pid,))
        audit.append(conn, actor=actor, action="project.deleted", pid=pid,
                     before=_public_state(before))
    return before


def mark_reviewed(conn: Connection, pid: str, *, actor: str) -> Project:
    """Record that an operator confirmed the project's domain list today."""
    now = audit.utc_now()
    with transaction(conn):
        before = require(conn, pid)
        conn.execute("UPDATE projects SET domains_reviewed_at = ? WHERE pid = ?", (now, pid))
        audit.append(conn, actor=actor, action="domains.reviewed", pid=pid,
                     before={"domains_reviewed_at": before.domains_reviewed_at,
                             "domains": list(before.domains)},
                     after={"domains_reviewed_at": now, "domains": list(before.domains)}, at=now)
        return _read(conn, pid)


def enabled_domains(conn: Connection):
    """Return ``(revision, {pid: (pattern text, ...)})`` for every enabled project, in one read.

    The revision changes whenever a project or domain row changes (schema
    triggers), so a reader can tell whether its copy is current.
    """
    conn.execute("BEGIN")   # NOTE: one read transaction, so revision and rows agree
    try:
        revision = read_revision(conn)
        domains = {pid: () for (pid,) in conn.execute("SELECT pid FROM projects WHERE enabled = 1")}
        for pid, pattern in conn.execute(
                "SELECT d.pid, d.pattern FROM project_domains d JOIN projects p USING (pid)"
                " WHERE p.enabled = 1 ORDER BY d.pid, d.pattern"):
            domains[pid] += (pattern,)
    finally:
        conn.execute("COMMIT")
    return revision, domains


def read_revision(conn: Connection) -> int:
    """The projects revision counter (bumped by every change to projects or their domains)."""
    return conn.execute("SELECT revision FROM projects_revision WHERE id = 1").fetchone()[0]


def check_note(note) -> str:
    """Return a domain note stripped of surrounding spaces; ``""`` (no note) is fine.

    Raises:
        OperatorError: over :data:`MAX_NOTE_LENGTH` characters, or not one
            line of printable text.
    """
    if not isinstance(note, str):
        raise OperatorError("a domain note must be text, e.g. 'staging site, owner: Ana'")
    return _check_text(note.strip(), "domain note", MAX_NOTE_LENGTH)


def _check_name(name) -> str:
    if not isinstance(name, str) or not name.strip():
        raise OperatorError("a project needs a name, e.g. 'My shop'")
    return _check_text(name.strip(), "project name", MAX_NAME_LENGTH)


def _check_text(text: str, what: str, limit: int) -> str:
    """Refuse operator text that is too long or not one line of printable characters.

    NOTE: ``str.isprintable`` is False for control (Cc) and format (Cf)
    characters, so newlines and bidi overrides (U+202E, which can make text
    read differently from what it is) are refused along with NUL and ESC.
    """
    if len(text) > limit:
        raise OperatorError(f"{what} is {len(text)} characters long; the limit is {limit}")
    bad = next((c for c in text if not c.isprintable()), None)
    if bad is not None:
        raise OperatorError(f"{what} contains a control character (U+{ord(bad):04X}); "
                            "use one line of printable text")
    return text


def _read(conn, pid):
    row = conn.execute("SELECT pid, name, enabled, created_at, domains_reviewed_at FROM projects"
                       " WHERE pid = ?", (pid,)).fetchone()
    if row is None:
        return None
    domains = conn.execute(
        "SELECT pattern, note FROM project_domains WHERE pid = ? ORDER BY pattern", (pid,)).fetchall()
    return _project(row, domains)


def _project(row, domains) -> Project:
    """A Project from a projects row and its sorted ``(pattern, note)`` rows."""
    return Project(pid=row[0], name=row[1], enabled=bool(row[2]), created_at=row[3],
                   domains_reviewed_at=row[4], domains=tuple(pattern for pattern, _ in domains),
                   domain_notes=tuple((pattern, note) for pattern, note in domains if note))


def _public_state(project: Project) -> dict:
    """What the audit trail records of a whole project (notes only when there are any)."""
    return {"name": project.name, "enabled": project.enabled,
            "domains": list(project.domains)} | _notes_state(dict(project.domain_notes))


def _notes_state(notes: dict) -> dict:
    """``{"domain_notes": {pattern: note}}`` for the non-empty notes, ``{}`` when there are none.

    Every audit entry that involves notes uses this one shape, so an entry
    about domains without notes reads exactly as it did before notes existed.
    """
    notes = {pattern: note for pattern, note in notes.items() if note}
    return {"domain_notes": notes} if notes else {}
