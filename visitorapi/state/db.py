"""The SQLite store: where it lives, how it is opened, how its schema evolves.

The schema is a sequence of migrations, one SQL file each in
``visitorapi/state/migrations/`` named ``NNNN_what.sql``. A migration runs
once, inside the same transaction that records it in ``schema_migrations``,
so a crash mid-migration leaves the store as it was. Files are never edited
after they land; a change to the schema is a new file.

Connections use WAL so gunicorn workers read while the CLI or a flush writes,
and a busy timeout so concurrent writers wait instead of failing with
"database is locked".
"""
import contextlib
import logging
import os
import sqlite3
import stat
from pathlib import Path

from visitorapi.errors import OperatorError

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
BUSY_TIMEOUT_MS = 5000


def connect(path, *, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> sqlite3.Connection:
    """Open the store (creating it and its folder if needed) and bring its schema up to date.

    Args:
        path: the SQLite file (``Settings.state_path``).
        busy_timeout_ms: how long a statement waits for another writer's lock
            (the serving path passes a short one: it would rather serve stale
            settings than hold a request).

    Returns:
        A connection in autocommit mode (``isolation_level=None``): callers
        open transactions explicitly with ``BEGIN`` / ``BEGIN IMMEDIATE``.

    Raises:
        OperatorError: the file cannot be opened, is not a SQLite database,
            or was written by a newer visitorapi.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # NOTE: the store holds password hashes, TOTP secrets and the client
        # HMAC key: a new file is the owner's alone (SQLite gives its -wal
        # and -shm files the same mode), whatever the umask or the folder.
        handle = os.open(path, os.O_RDONLY | os.O_CREAT, 0o600)
        try:
            mode = stat.S_IMODE(os.fstat(handle).st_mode)
        finally:
            os.close(handle)
        conn = sqlite3.connect(path, timeout=busy_timeout_ms / 1000, isolation_level=None,
                               check_same_thread=False)
    except (OSError, sqlite3.Error) as exc:
        raise OperatorError(f"cannot open state database {path}: {exc}; "
                            "check VISITORAPI_STATE and the folder's permissions") from exc
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        conn.execute("PRAGMA foreign_keys = ON")
        if conn.execute("PRAGMA journal_mode = WAL").fetchone()[0].lower() != "wal":
            raise OperatorError(f"state database {path}: cannot switch to WAL mode")
        conn.execute("PRAGMA synchronous = NORMAL")
        migrate(conn)
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise OperatorError(f"state database {path} is unusable: {exc}; "
                            "restore it from a backup or point VISITORAPI_STATE elsewhere") from exc
    except BaseException:
        conn.close()
        raise
    if mode & 0o077:
        # NOTE: a warning, not a chmod: the operator may share it on purpose (a backup group).
        log.warning("state database %s is open to other users (mode %03o); it holds password "
                    "hashes and TOTP secrets: chmod 600 it unless that is intended",
                    path, mode, extra={"event": "state.permissions"})
    return conn


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection):
    """Run the ``with`` block in one write transaction (``BEGIN IMMEDIATE``).

    Commits when the block ends, rolls back if it raises. IMMEDIATE takes the
    write lock up front, so a read-then-write block cannot fail half way with
    "database is locked"; other writers wait up to the busy timeout.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def available_migrations():
    """Return ``[(name, sql)]`` for every migration file, in order."""
    return [(path.stem, path.read_text(encoding="utf-8"))
            for path in sorted(MIGRATIONS_DIR.glob("[0-9][0-9][0-9][0-9]_*.sql"))]


def migrate(conn: sqlite3.Connection) -> list:
    """Apply every migration not yet recorded; return the names applied.

    Runs under ``BEGIN IMMEDIATE`` so two processes starting at once do not
    both migrate.

    Raises:
        OperatorError: the store records a migration this code does not have,
            i.e. it was written by a newer visitorapi.
    """
    conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations ("
                 " name TEXT PRIMARY KEY,"
                 " applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')))")
    known = available_migrations()
    applied = []
    conn.execute("BEGIN IMMEDIATE")
    try:
        done = {row[0] for row in conn.execute("SELECT name FROM schema_migrations")}
        unknown = done - {name for name, _ in known}
        if unknown:
            raise OperatorError(
                f"the state database has schema migrations this visitorapi does not know "
                f"({', '.join(sorted(unknown))}); upgrade visitorapi or use another VISITORAPI_STATE")
        for name, sql in known:
            if name in done:
                continue
            for statement in _statements(sql):
                conn.execute(statement)
            conn.execute("INSERT INTO schema_migrations (name) VALUES (?)", (name,))
            applied.append(name)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return applied


def _statements(sql: str):
    """Split a migration into complete statements.

    NOTE: ``executescript`` would commit the open transaction first, which
    would make a migration non-atomic, so statements run one at a time.
    """
    pending = ""
    for line in sql.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            if pending.strip():
                yield pending
            pending = ""
    if pending.strip() and not pending.strip().startswith("--"):
        raise OperatorError(f"incomplete SQL statement in a migration: {pending.strip()[:60]}")
