"""The audit trail: who changed which setting, when, from what to what.

Every settings change (a project created, disabled or deleted, a domain added
or removed, later account and MFA changes) appends one entry *in the same
transaction* as the change, so the trail and the settings never disagree.
Entries are never edited or deleted: the application has no code for it, and
triggers in the schema (``0001_projects.sql``) refuse UPDATE and DELETE on
``audit_log`` from anyone else.

The trail holds settings only, never anything about a visitor.
"""
import getpass
import json
from dataclasses import dataclass
from datetime import datetime, timezone

from visitorapi.state.engines import Connection


@dataclass(frozen=True)
class AuditEntry:
    """One settings change.

    Attributes:
        id: position in the trail (increasing).
        at: UTC time, ``YYYY-MM-DDTHH:MM:SSZ``.
        actor: who did it: ``cli:<os user>`` or ``dashboard:<email>``.
        action: what happened, e.g. ``project.created``, ``domain.added``.
        pid: the project concerned, or None for changes that are not about one.
        before: the value before (decoded JSON), None when there was none.
        after: the value after (decoded JSON), None when there is none.
    """
    id: int
    at: str
    actor: str
    action: str
    pid: str | None
    before: object
    after: object

    def as_dict(self) -> dict:
        return {"id": self.id, "at": self.at, "actor": self.actor, "action": self.action,
                "pid": self.pid, "before": self.before, "after": self.after}


def utc_now() -> str:
    """The current UTC time in the store's text form, ``YYYY-MM-DDTHH:MM:SSZ``."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def cli_actor() -> str:
    """The actor name for a change made from the command line: ``cli:<os user>``."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError):
        # NOTE: getuser() raises when neither $USER nor the passwd entry exists (containers).
        user = "unknown"
    return f"cli:{user}"


def append(conn: Connection, *, actor: str, action: str, pid: str | None = None,
           before=None, after=None, at: str | None = None) -> int:
    """Append one entry; call it inside the transaction that makes the change.

    Args:
        conn: a store connection with an open write transaction.
        actor: ``cli:<user>`` or ``dashboard:<email>``.
        action: a dotted event name, e.g. ``domain.removed``.
        pid: the project concerned, if any.
        before, after: JSON-serializable values (None for "none").
        at: the time; defaults to now.

    Returns:
        The new entry's id.

    Raises:
        ValueError: actor or action is empty, or the caller has no open
            transaction (an entry outside one could outlive a rolled-back change).
    """
    if not actor or not action:
        raise ValueError("an audit entry needs an actor and an action")
    if not conn.in_transaction:
        raise ValueError("audit.append must run inside the transaction that makes the change")
    return conn.execute(
        "INSERT INTO audit_log (at, actor, action, pid, before, after) VALUES (?, ?, ?, ?, ?, ?)"
        " RETURNING id", (at or utc_now(), actor, action, pid, _dump(before), _dump(after))
    ).fetchone()[0]


def entries(conn: Connection, pid: str | None = None, limit: int | None = None) -> list:
    """Return audit entries, oldest first; for one project when ``pid`` is given.

    Args:
        limit: keep only the newest ``limit`` entries (still oldest first).
    """
    sql = "SELECT id, at, actor, action, pid, before, after FROM audit_log"
    params = []
    if pid is not None:
        sql += " WHERE pid = ?"
        params.append(pid)
    sql += " ORDER BY id DESC"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(int(limit))
    rows = conn.execute(sql, params).fetchall()
    return [_entry(row) for row in reversed(rows)]


def entries_after(conn: Connection, after_id: int, limit: int) -> list:
    """The first ``limit`` entries with an id above ``after_id``, oldest first (a reader's cursor)."""
    rows = conn.execute("SELECT id, at, actor, action, pid, before, after FROM audit_log "
                        "WHERE id > ? ORDER BY id LIMIT ?", (after_id, limit)).fetchall()
    return [_entry(row) for row in rows]


def _entry(row) -> AuditEntry:
    return AuditEntry(id=row[0], at=row[1], actor=row[2], action=row[3], pid=row[4],
                      before=_load(row[5]), after=_load(row[6]))


def _dump(value):
    return None if value is None else json.dumps(value, sort_keys=True, ensure_ascii=False)


def _load(text):
    return None if text is None else json.loads(text)
