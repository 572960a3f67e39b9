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
"""
import contextlib
import logging
import os
from pathlib import Path

from visitorapi.errors import OperatorError
from visitorapi.state.audit import utc_now
from visitorapi.state.engines import (Connection, IntegrityError, StoreError, describe,
                                      engine_for, is_url)

__all__ = ["Connection", "IntegrityError", "StoreError", "connect", "default_state_path",
           "describe", "is_url", "migrate", "state_location", "transaction"]

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


def connect(location=None, *, busy_timeout_ms: int | None = None) -> Connection:
    """Open the store (creating a SQLite file and its folder if needed) and bring its schema
    up to date.

    Args:
        location: a SQLite file or a ``postgresql://`` URL; defaults to
            :func:`default_state_path`.
        busy_timeout_ms: how long a statement waits for another writer's lock
            (default :data:`BUSY_TIMEOUT_MS`)
            (the serving path passes a short one: it would rather serve stale
            settings than hold a request).

    Returns:
        A :class:`Connection` in autocommit mode: callers open transactions
        explicitly with ``BEGIN`` / ``BEGIN IMMEDIATE``.

    Raises:
        OperatorError: the store cannot be opened or reached, is not a
            store, or was written by a newer visitorapi.
    """
    location = default_state_path() if location is None else state_location(location)
    engine = engine_for(location)
    conn = engine.open(location, busy_timeout_ms=busy_timeout_ms or BUSY_TIMEOUT_MS)
    try:
        migrate(conn)
    except StoreError as exc:
        conn.close()
        raise OperatorError(f"state database {describe(location)} is unusable: {exc}; "
                            "restore it from a backup or point VISITORAPI_STATE elsewhere") from exc
    except BaseException:
        conn.close()
        raise
    if not is_url(location):
        _warn_if_shared(location, engine.file_mode(location))
    return conn


def _warn_if_shared(path: Path, mode) -> None:
    """Log once per open when a SQLite store is readable by other users."""
    if mode is not None and mode & 0o077:
        # NOTE: a warning, not a chmod: the operator may share it on purpose (a backup group).
        log.warning("state database %s is open to other users (mode %03o); it holds password "
                    "hashes and TOTP secrets: chmod 600 it unless that is intended",
                    path, mode, extra={"event": "state.permissions"})


@contextlib.contextmanager
def transaction(conn: Connection):
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
    folder = (engine or engine_for(None)).migrations_dir
    return [(path.stem, path.read_text(encoding="utf-8"))
            for path in sorted(folder.glob("[0-9][0-9][0-9][0-9]_*.sql"))]


def migrate(conn: Connection) -> list:
    """Apply every migration not yet recorded; return the names applied.

    Runs as one writer (``BEGIN IMMEDIATE``) so two processes starting at
    once do not both migrate.

    Raises:
        OperatorError: the store records a migration this code does not have,
            i.e. it was written by a newer visitorapi.
    """
    known = available_migrations(conn.engine)
    applied = []
    with transaction(conn):
        conn.execute(conn.engine.schema_migrations_ddl)
        done = {row[0] for row in conn.execute("SELECT name FROM schema_migrations")}
        unknown = done - {name for name, _ in known}
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


