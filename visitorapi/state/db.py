"""The store: where it lives, how it is opened, how its schema evolves.

``VISITORAPI_STATE`` is either a file path (SQLite, the embedded default for
one machine) or a ``postgresql://`` URL (one database shared by several
nodes). :mod:`visitorapi.state.engines` holds everything that differs between
the two; this module and the rest of :mod:`visitorapi.state` are the same for
both.

The schema is a sequence of migrations, one SQL file each per engine
(``migrations/NNNN_what.sql`` for SQLite, ``migrations/postgresql/`` for
PostgreSQL, with the same names). A migration runs once, inside the same
transaction that records it in ``schema_migrations``, so a crash
mid-migration leaves the store as it was. Files are never edited after they
land; a change to the schema is a new file in both folders.

SQLite connections use WAL so gunicorn workers read while the CLI or a flush
writes, and a busy timeout so concurrent writers wait instead of failing with
"database is locked"; PostgreSQL connections use a lock timeout of the same
length.

Only the command line and ``visitorapi serve`` create a store
(``create=True``): a serving process that finds none says so (``/readyz``,
the log), never starts an empty one in its place, which would refuse every
visitor and every login while looking healthy.
"""
import contextlib
import logging
import os
from pathlib import Path

from visitorapi.errors import OperatorError
from visitorapi.state import engines
from visitorapi.state.audit import utc_now
from visitorapi.state.engines import (IntegrityError, StoreError, describe, engine_for, is_url,
                                      missing_message)

__all__ = ["Connection", "IntegrityError", "StoreError", "connect", "default_state_path",
           "describe", "is_url", "migrate", "missing_message", "state_location", "transaction",
           "write_problem"]

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 5000


def default_state_path():
    """Return ``$VISITORAPI_STATE`` (a Path, or a ``postgresql://`` URL as given), or
    ``visitorapi/state.sqlite3`` in the user's data dir.

    The per-user data directory follows the XDG base-directory spec
    (``$XDG_DATA_HOME``, else ``~/.local/share``).
    """
    configured = os.environ.get("VISITORAPI_STATE")
    if configured:
        return state_location(configured)
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "visitorapi" / "state.sqlite3"


def state_location(value):
    """``VISITORAPI_STATE``'s value as a store location: a URL as given, else a Path."""
    return value if is_url(value) else Path(value)


def connect(location=None, *, create: bool = False,
            busy_timeout_ms: int | None = None) -> engines.Connection:
    """Open the store, check it, and bring its schema up to date.

    Args:
        location: a SQLite file or a ``postgresql://`` URL; defaults to
            :func:`default_state_path`.
        create: make the SQLite file (and its folder), or PostgreSQL's tables,
            when they do not exist; only the command line and ``serve`` pass it.
        busy_timeout_ms: how long a statement waits for another writer's lock
            (default :data:`BUSY_TIMEOUT_MS`; the serving path passes a short
            one: it would rather serve stale settings than hold a request).

    Returns:
        An :class:`engines.Connection` in autocommit mode: callers open
        transactions explicitly with ``BEGIN`` / ``BEGIN IMMEDIATE``.

    Raises:
        OperatorError: the store is missing (and ``create`` is false), cannot
            be opened or reached, is damaged, or was written by a newer
            visitorapi. The message names it and what to do.
    """
    location = default_state_path() if location is None else state_location(location)
    engine = engine_for(location)
    conn = engine.open(location, create=create, busy_timeout_ms=busy_timeout_ms or BUSY_TIMEOUT_MS)
    try:
        migrate(conn)
    except StoreError as exc:
        conn.close()
        raise OperatorError(engine.explain(location, exc)) from exc
    except BaseException:
        conn.close()
        raise
    if conn.file_mode is not None and conn.file_mode & 0o077:
        # NOTE: a warning, not a chmod: the operator may share it on purpose (a backup group).
        log.warning("state database %s is open to other users (mode %03o); it holds password "
                    "hashes and TOTP secrets: chmod 600 it unless that is intended",
                    location, conn.file_mode, extra={"event": "state.permissions"})
    return conn


def write_problem(location=None):
    """Why the store cannot be written, or None; for ``/readyz``."""
    location = default_state_path() if location is None else state_location(location)
    return engine_for(location).write_problem(location)


class Connection:
    """A serving process's long-lived connection that follows the store.

    A connection kept for hours would go on reading and writing a SQLite
    file that was deleted or replaced (a restore), silently losing what it
    writes. :meth:`get` stats the path before each use (never opening it)
    and reopens when the file changed; a missing file raises, so the caller
    reports it. A PostgreSQL connection is kept until it fails (the caller
    then closes it and the next :meth:`get` reconnects).

    Args:
        path: the store; None means :func:`default_state_path`.
        busy_timeout_ms: passed to :func:`connect`.
    """

    def __init__(self, path=None, *, busy_timeout_ms: int = BUSY_TIMEOUT_MS):
        self.path = state_location(path) if path is not None else default_state_path()
        self.busy_timeout_ms = busy_timeout_ms
        self._engine = engine_for(self.path)
        self._conn = None
        self._identity = None

    def get(self) -> engines.Connection:
        """The open connection, reopened when the file was replaced.

        Raises:
            OperatorError: the store is missing or cannot be opened or reached.
        """
        identity = self._engine.identity(self.path)
        if self._conn is not None and identity != self._identity:
            self.close()
        if self._conn is None:
            if identity is None:
                raise OperatorError(missing_message(self.path))
            self._conn = connect(self.path, busy_timeout_ms=self.busy_timeout_ms)
            self._identity = identity
        return self._conn

    def close(self) -> None:
        """Close the connection (the next :meth:`get` reopens)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()


@contextlib.contextmanager
def transaction(conn: engines.Connection):
    """Run the ``with`` block in one write transaction (``BEGIN IMMEDIATE``).

    Commits when the block ends, rolls back if it raises. IMMEDIATE takes the
    write lock up front (on PostgreSQL, an advisory lock every visitorapi
    writer takes), so a read-then-write block cannot fail half way with
    "database is locked" or race another writer; others wait up to the busy
    timeout.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        with contextlib.suppress(StoreError):   # NOTE: a dead connection has nothing to undo
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def available_migrations(engine=None):
    """Return ``[(name, sql)]`` for every migration file of an engine (default SQLite), in order."""
    folder = (engine or engines.SQLite).migrations_dir
    return [(path.stem, path.read_text(encoding="utf-8"))
            for path in sorted(folder.glob("[0-9][0-9][0-9][0-9]_*.sql"))]


def migrate(conn: engines.Connection) -> list:
    """Apply every migration not yet recorded; return the names applied.

    A store that is up to date is only read: opening it takes no write lock,
    so a worker can open a store on a read-only disk and serve from it, and
    no open waits behind a long write. Otherwise it runs as one writer
    (``BEGIN IMMEDIATE``), so two processes starting at once do not both
    migrate.

    Raises:
        OperatorError: the store records a migration this code does not have,
            i.e. it was written by a newer visitorapi.
    """
    known = available_migrations(conn.engine)
    names = {name for name, _ in known}
    if conn.engine.has_table(conn, "schema_migrations"):
        if {row[0] for row in conn.execute("SELECT name FROM schema_migrations")} == names:
            return []
    applied = []
    with transaction(conn):
        conn.execute(conn.engine.schema_migrations_ddl)
        done = {row[0] for row in conn.execute("SELECT name FROM schema_migrations")}
        unknown = done - names
        if unknown:
            raise OperatorError(
                f"the state database has schema migrations this visitorapi does not know "
                f"({', '.join(sorted(unknown))}); upgrade visitorapi or use another VISITORAPI_STATE")
        for name, sql in known:
            if name in done:
                continue
            conn.engine.run_migration(conn, sql)
            conn.execute("INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)",
                         (name, utc_now()))
            applied.append(name)
    return applied
