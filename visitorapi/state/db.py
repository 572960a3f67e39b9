"""The SQLite store: where it lives, how it is opened, how its schema evolves.

The schema is a sequence of migrations, one SQL file each in
``visitorapi/state/migrations/`` named ``NNNN_what.sql``. A migration runs
once, inside the same transaction that records it in ``schema_migrations``,
so a crash mid-migration leaves the store as it was. Files are never edited
after they land; a change to the schema is a new file.

Connections use WAL so gunicorn workers read while the CLI or a flush writes,
and a busy timeout so concurrent writers wait instead of failing with
"database is locked".

Only SQLite's own code opens a store file (see :func:`_open_sqlite` for why
anything else corrupts it), and only the command line and ``visitorapi
serve`` create one: a serving process that finds none says so. A store is
checked with ``PRAGMA quick_check`` when a process first opens it, so damage
stops a command or a start with one line naming the file.
"""
import contextlib
import logging
import os
import sqlite3
import stat
import urllib.parse
from pathlib import Path

from visitorapi.errors import OperatorError

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
BUSY_TIMEOUT_MS = 5000


def connect(path, *, create: bool = False,
            busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> sqlite3.Connection:
    """Open the store, check it, and bring its schema up to date.

    Only the command line and ``visitorapi serve`` pass ``create=True``: a
    serving process that finds no store must say so (``/readyz``, the log),
    never start an empty one in its place, which would refuse every visitor
    and every login while looking healthy.

    Args:
        path: the SQLite file (``Settings.state_path``).
        create: make the file (and its folder) when it does not exist.
        busy_timeout_ms: how long a statement waits for another writer's lock
            (the serving path passes a short one: it would rather serve stale
            settings than hold a request).

    Returns:
        A connection in autocommit mode (``isolation_level=None``): callers
        open transactions explicitly with ``BEGIN`` / ``BEGIN IMMEDIATE``.

    Raises:
        OperatorError: the file is missing (and ``create`` is false), cannot
            be opened, fails ``PRAGMA quick_check``, is not a SQLite
            database, or was written by a newer visitorapi. The message
            names the file and what to do.
    """
    path = Path(path)
    conn, mode = _open_sqlite(path, create, busy_timeout_ms)
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        conn.execute("PRAGMA foreign_keys = ON")
        if conn.execute("PRAGMA journal_mode = WAL").fetchone()[0].lower() != "wal":
            raise OperatorError(f"state database {path}: cannot switch to WAL mode")
        conn.execute("PRAGMA synchronous = NORMAL")
        _check_once(conn, path)
        migrate(conn)
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise OperatorError(_explain(path, exc)) from exc
    except BaseException:
        conn.close()
        raise
    if mode & 0o077:
        # NOTE: a warning, not a chmod: the operator may share it on purpose (a backup group).
        log.warning("state database %s is open to other users (mode %03o); it holds password "
                    "hashes and TOTP secrets: chmod 600 it unless that is intended",
                    path, mode, extra={"event": "state.permissions"})
    return conn


# -- SQLite specifics: opening without foreign descriptors, checking, following the file ------

# PRAGMA quick_check's verdict per (device, inode, size, mtime) of a store file in this
# process: None when it passed, else the operator's message.
_checked = {}


def _check_once(conn: sqlite3.Connection, path: Path) -> None:
    """Run ``PRAGMA quick_check`` the first time this process opens this file.

    PERF: quick_check reads every page (about 0.2 s for a 28 MB store on a busy
    2-core machine), so it runs once per process and version of the file, not
    at every open: a worker opens several connections (project list, usage
    writer, one per dashboard thread) and reopens them while the store is
    locked or damaged. The main file changes (size, mtime) only when the WAL
    is checkpointed into it, so a file written since its last check is checked
    again. Damage between opens surfaces as SQLite errors, which /readyz reports.
    """
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return  # NOTE: deleted after the open; the next use reports it
    identity = (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)
    if identity not in _checked:
        problems = [row[0] for row in conn.execute("PRAGMA quick_check")]
        _checked[identity] = (None if problems == ["ok"]
                              else _damaged(path, "; ".join(problems[:3])))
    if _checked[identity] is not None:
        raise OperatorError(_checked[identity])


def _open_sqlite(path: Path, create: bool, busy_timeout_ms: int):
    """Open ``path`` with SQLite's own code only; return ``(connection, file mode)``.

    NOTE: never ``open()``/``os.open()`` a store file here or anywhere else in a
    process that may hold a connection to it. POSIX record locks belong to the
    process and the file, so closing *any* descriptor of the file drops every
    lock SQLite holds on it; another process then believes it is the last user,
    checkpoints and deletes ``-wal`` and ``-shm`` under live connections (SQLite,
    "How To Corrupt An SQLite Database File", section 2.2). ``os.stat`` reads
    the mode without a descriptor; a new file is created by SQLite itself.

    The URI ``mode=rw`` makes SQLite refuse a missing file, so a file deleted
    between the ``stat`` and the open is reported, not silently recreated.
    """
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        if not create:
            raise OperatorError(missing_message(path)) from None
        mode = None
    except OSError as exc:
        raise OperatorError(f"cannot open state database {path}: {exc.strerror or exc}; "
                            "check VISITORAPI_STATE and the folder's permissions") from exc
    try:
        if mode is not None:
            return _sqlite_connect(path, "rw", busy_timeout_ms), mode
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # NOTE: the store holds password hashes, TOTP secrets and the client
        # HMAC key, so a new file is the owner's alone whatever the umask
        # (SQLite gives -wal and -shm the main file's mode). os.umask is
        # process-wide: only the command line and `serve` create a store, both
        # single-threaded at that point; serving processes never get here.
        previous = os.umask(0o077)
        try:
            conn = _sqlite_connect(path, "rwc", busy_timeout_ms)
        finally:
            os.umask(previous)
        log.info("created a new state database %s", path, extra={"event": "state.created"})
        return conn, 0o600
    except (OSError, sqlite3.Error) as exc:
        raise OperatorError(f"cannot open state database {path}: {exc}; "
                            "check VISITORAPI_STATE and the folder's permissions") from exc


def _sqlite_connect(path: Path, mode: str, busy_timeout_ms: int) -> sqlite3.Connection:
    uri = f"file:{urllib.parse.quote(str(path.absolute()))}?mode={mode}"
    return sqlite3.connect(uri, uri=True, timeout=busy_timeout_ms / 1000, isolation_level=None,
                           check_same_thread=False)


def missing_message(path) -> str:
    """What a process that must not create the store says when it is missing."""
    return (f"state database {path} does not exist; a serving process never creates one: "
            "restore it from a backup (docs/operations.md), or create it with `visitorapi "
            "serve` or a `visitorapi` command (e.g. `visitorapi projects list`), and check "
            "VISITORAPI_STATE")


def _damaged(path, detail: str) -> str:
    detail = " ".join(detail.split())  # NOTE: quick_check reports span lines; this is one
    if len(detail) > 200:
        detail = detail[:200] + "..."
    return (f"state database {path} is damaged ({detail}); stop the service and restore "
            "your latest backup (docs/operations.md, \"Restoring a backup\"), or point "
            "VISITORAPI_STATE elsewhere")


def _explain(path, exc: sqlite3.DatabaseError) -> str:
    """Turn a SQLite error met while opening into the operator's next step."""
    name = getattr(exc, "sqlite_errorname", "")
    if name in ("SQLITE_CORRUPT", "SQLITE_NOTADB") or type(exc) is sqlite3.DatabaseError:
        return _damaged(path, str(exc))
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return (f"state database {path} is locked by another process: {exc}; "
                "retry, or look for a stuck visitorapi or sqlite3 process")
    problem = write_problem(path)
    return f"state database {path} is unusable: {exc}" + (f"; {problem}" if problem else "")


def write_problem(path):
    """Why the store cannot be written, or None; for ``/readyz``.

    Uses ``os.access`` (a permission check, no descriptor), which also
    reports a read-only file system to root.
    """
    path = Path(path)
    if not os.path.exists(path):
        return missing_message(path)
    for target, what in ((path, "file"), (path.parent, "folder")):
        if not os.access(target, os.W_OK):
            return (f"state database {path} is read-only (its {what} is not writable, or the "
                    "file system is mounted read-only); changes and usage counts cannot be "
                    "saved")
    return None


def file_identity(path):
    """``(device, inode)`` of the store file, or None when it is missing (a ``stat``, no descriptor)."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None
    return info.st_dev, info.st_ino


class Connection:
    """A serving process's long-lived connection that follows the store file.

    A connection kept for hours would go on reading and writing a file that
    was deleted or replaced (a restore), silently losing what it writes.
    :meth:`get` stats the path before each use (never opening it) and reopens
    when the file changed; a missing file raises, so the caller reports it.

    Args:
        path: the store (``Settings.state_path``).
        busy_timeout_ms: passed to :func:`connect`.
    """

    def __init__(self, path, *, busy_timeout_ms: int = BUSY_TIMEOUT_MS):
        self.path = Path(path)
        self.busy_timeout_ms = busy_timeout_ms
        self._conn = None
        self._identity = None

    def get(self) -> sqlite3.Connection:
        """The open connection, reopened when the file was replaced.

        Raises:
            OperatorError: the file is missing or cannot be opened.
        """
        identity = file_identity(self.path)
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
            try:
                conn.close()
            except sqlite3.Error:
                pass


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
    both migrate. A store that is up to date is only read: opening it takes
    no write lock, so a worker can open a store on a read-only disk and serve
    from it, and no open waits behind a long write.

    Raises:
        OperatorError: the store records a migration this code does not have,
            i.e. it was written by a newer visitorapi.
    """
    known = available_migrations()
    if _has_migrations_table(conn):
        done = {row[0] for row in conn.execute("SELECT name FROM schema_migrations")}
        if done == {name for name, _ in known}:
            return []
    conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations ("
                 " name TEXT PRIMARY KEY,"
                 " applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')))")
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


def _has_migrations_table(conn: sqlite3.Connection) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table'"
                        " AND name = 'schema_migrations'").fetchone() is not None


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
