"""The two store engines, SQLite and PostgreSQL, behind one small connection type.

This is the only module that knows SQL dialects and drivers. Everything else
in :mod:`visitorapi.state` writes SQL that both engines accept (``?``
placeholders, ``INSERT ... ON CONFLICT``, ``RETURNING``, ``TRUE``, ``CASE``
instead of the scalar ``min``/``max``) and talks to a :class:`Connection`:

- ``execute(sql, params)`` and ``executemany(sql, rows)`` return a DB-API
  cursor (``fetchone``, ``fetchall``, iteration, ``rowcount``);
- ``BEGIN IMMEDIATE`` is one writer at a time on both engines (SQLite's
  write lock; a transaction-level advisory lock on PostgreSQL), and a plain
  ``BEGIN`` is a consistent snapshot (SQLite's read transaction; REPEATABLE
  READ on PostgreSQL);
- driver errors come out as :class:`StoreError` (the store cannot be used
  now: locked, down, restarting, broken) or :class:`IntegrityError` (a
  constraint refused a row), so no caller imports a driver.

Each engine has its own migration files with the same names (the schema is
the same; the DDL is not): ``migrations/NNNN_*.sql`` for SQLite and
``migrations/postgresql/NNNN_*.sql`` for PostgreSQL.
"""
import functools
import logging
import os
import re
import sqlite3
import stat
import urllib.parse
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from visitorapi.errors import OperatorError

log = logging.getLogger("visitorapi.state.db")   # NOTE: one logger for the store, whichever engine

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
URL_SCHEMES = ("postgresql://", "postgres://")
# An arbitrary, fixed key: every visitorapi writer of one PostgreSQL database
# takes this advisory lock, so BEGIN IMMEDIATE means the same on both engines.
WRITE_LOCK_KEY = 0x76697369   # "visi"
PG_CONNECT_TIMEOUT = 3        # seconds; a down server must not hold a worker long


def missing_message(location) -> str:
    """What a process that must not create the store says when it is missing."""
    if is_url(location):
        return (f"state database {describe(location)} has no visitorapi tables; a serving "
                "process never creates them: run any `visitorapi` command against it once "
                "(e.g. `visitorapi projects list`), or copy a store into it with "
                "`visitorapi state copy`, and check VISITORAPI_STATE")
    return (f"state database {location} does not exist; a serving process never creates one: "
            "restore it from a backup (docs/operations.md), or create it with `visitorapi "
            "serve` or a `visitorapi` command (e.g. `visitorapi projects list`), and check "
            "VISITORAPI_STATE")


def damaged_message(path, detail: str) -> str:
    detail = " ".join(detail.split())  # NOTE: quick_check reports span lines; this is one
    if len(detail) > 200:
        detail = detail[:200] + "..."
    return (f"state database {path} is damaged ({detail}); stop the service and restore "
            "your latest backup (docs/operations.md, \"Restoring a backup\"), or point "
            "VISITORAPI_STATE elsewhere")


class StoreError(Exception):
    """The store could not run a statement (locked, unreachable, restarting, damaged)."""


class IntegrityError(StoreError):
    """A constraint of the schema refused the change (a duplicate key, a CHECK)."""


def is_url(location) -> bool:
    """True when ``location`` names a PostgreSQL database rather than a SQLite file."""
    return isinstance(location, str) and location.startswith(URL_SCHEMES)


def describe(location) -> str:
    """``location`` fit for a log line or an error message: a URL loses its password."""
    if not is_url(location):
        return str(location)
    parts = urlsplit(location)
    if parts.password is None:
        return location
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


class Connection:
    """A store connection with the same face on both engines (see the module docstring).

    Args:
        raw: the driver's connection, in autocommit mode.
        engine: :class:`SQLite` or :class:`PostgreSQL`.
    """

    file_mode = None    # a SQLite file's permission bits, read when it was opened

    def __init__(self, raw, engine):
        self.raw = raw
        self.engine = engine
        self._translated = {}

    @property
    def in_transaction(self) -> bool:
        return self.engine.in_transaction(self.raw)

    def execute(self, sql: str, params=()):
        """Run one statement; return its cursor."""
        try:
            for statement in self._translate(sql):
                cursor = self.engine.execute(self.raw, statement, params)
            return cursor
        except self.engine.integrity_errors as exc:
            raise IntegrityError(str(exc).strip()) from exc
        except self.engine.errors as exc:
            raise StoreError(str(exc).strip()) from exc

    def executemany(self, sql: str, rows):
        """Run one statement once per parameter row."""
        (statement,) = self._translate(sql)
        try:
            return self.engine.executemany(self.raw, statement, rows)
        except self.engine.integrity_errors as exc:
            raise IntegrityError(str(exc).strip()) from exc
        except self.engine.errors as exc:
            raise StoreError(str(exc).strip()) from exc

    def close(self) -> None:
        """Close the connection; errors closing a dead one are not worth reporting."""
        try:
            self.raw.close()
        except self.engine.errors:
            pass

    def _translate(self, sql):
        translated = self._translated.get(sql)
        if translated is None:
            translated = self._translated[sql] = self.engine.translate(sql)
        return translated


class SQLite:
    """The embedded default: one file on this machine, WAL mode."""

    name = "sqlite"
    migrations_dir = MIGRATIONS_DIR
    errors = (sqlite3.Error,)
    integrity_errors = (sqlite3.IntegrityError,)
    schema_migrations_ddl = ("CREATE TABLE IF NOT EXISTS schema_migrations ("
                             " name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")

    @classmethod
    def open(cls, path: Path, *, create: bool, busy_timeout_ms: int) -> Connection:
        """Open the SQLite file ``path`` in WAL mode and check it (``PRAGMA quick_check``).

        Raises:
            OperatorError: it is missing (and ``create`` is false), cannot be
                opened, is damaged or is not a SQLite database; the message
                names the file and what to do.
        """
        raw, mode = cls._open_file(path, create, busy_timeout_ms)
        try:
            raw.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            raw.execute("PRAGMA foreign_keys = ON")
            if raw.execute("PRAGMA journal_mode = WAL").fetchone()[0].lower() != "wal":
                raise OperatorError(f"state database {path}: cannot switch to WAL mode")
            raw.execute("PRAGMA synchronous = NORMAL")
            cls._check_once(raw, path)
        except sqlite3.DatabaseError as exc:
            raw.close()
            raise OperatorError(cls.explain(path, exc)) from exc
        except BaseException:
            raw.close()
            raise
        conn = Connection(raw, cls)
        conn.file_mode = mode
        return conn

    # PRAGMA quick_check's verdict per (device, inode, size, mtime) of a store file in this
    # process: None when it passed, else the operator's message.
    _checked = {}

    @classmethod
    def _check_once(cls, raw, path: Path) -> None:
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
        if identity not in cls._checked:
            problems = [row[0] for row in raw.execute("PRAGMA quick_check")]
            cls._checked[identity] = (None if problems == ["ok"]
                                      else damaged_message(path, "; ".join(problems[:3])))
        if cls._checked[identity] is not None:
            raise OperatorError(cls._checked[identity])

    @classmethod
    def _open_file(cls, path: Path, create: bool, busy_timeout_ms: int):
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
                return cls._connect(path, "rw", busy_timeout_ms), mode
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            # NOTE: the store holds password hashes, TOTP secrets and the client
            # HMAC key, so a new file is the owner's alone whatever the umask
            # (SQLite gives -wal and -shm the main file's mode). os.umask is
            # process-wide: only the command line and `serve` create a store, both
            # single-threaded at that point; serving processes never get here.
            previous = os.umask(0o077)
            try:
                raw = cls._connect(path, "rwc", busy_timeout_ms)
            finally:
                os.umask(previous)
            log.info("created a new state database %s", path, extra={"event": "state.created"})
            return raw, 0o600
        except (OSError, sqlite3.Error) as exc:
            raise OperatorError(f"cannot open state database {path}: {exc}; "
                                "check VISITORAPI_STATE and the folder's permissions") from exc

    @staticmethod
    def _connect(path: Path, mode: str, busy_timeout_ms: int) -> sqlite3.Connection:
        uri = f"file:{urllib.parse.quote(str(path.absolute()))}?mode={mode}"
        return sqlite3.connect(uri, uri=True, timeout=busy_timeout_ms / 1000,
                               isolation_level=None, check_same_thread=False)

    @staticmethod
    def explain(path, exc) -> str:
        """Turn a SQLite error met while opening into the operator's next step."""
        cause = exc.__cause__ if isinstance(exc, StoreError) else exc
        name = getattr(cause, "sqlite_errorname", "")
        if name in ("SQLITE_CORRUPT", "SQLITE_NOTADB") or type(cause) is sqlite3.DatabaseError:
            return damaged_message(path, str(exc))
        if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
            return (f"state database {path} is locked by another process: {exc}; "
                    "retry, or look for a stuck visitorapi or sqlite3 process")
        problem = SQLite.write_problem(path)
        return f"state database {path} is unusable: {exc}" + (f"; {problem}" if problem else "")

    @staticmethod
    def write_problem(path):
        """Why the file cannot be written, or None (``os.access``: a permission check, no
        descriptor; it also reports a read-only file system to root)."""
        if not os.path.exists(path):
            return missing_message(path)
        for target, what in ((path, "file"), (path.parent, "folder")):
            if not os.access(target, os.W_OK):
                return (f"state database {path} is read-only (its {what} is not writable, or "
                        "the file system is mounted read-only); changes and usage counts "
                        "cannot be saved")
        return None

    @staticmethod
    def identity(path):
        """``(device, inode)`` of the file, or None when it is missing (a ``stat``, no
        descriptor): a serving connection reopens when the file was replaced (a restore)."""
        try:
            info = os.stat(path)
        except FileNotFoundError:
            return None
        return info.st_dev, info.st_ino

    @staticmethod
    def has_table(conn: Connection, name: str) -> bool:
        return conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                            (name,)).fetchone() is not None

    @staticmethod
    def translate(sql: str) -> tuple:
        return (sql,)

    @staticmethod
    def execute(raw, sql, params):
        return raw.execute(sql, params)

    @staticmethod
    def executemany(raw, sql, rows):
        return raw.executemany(sql, rows)

    @staticmethod
    def in_transaction(raw) -> bool:
        return raw.in_transaction

    @staticmethod
    def run_migration(conn: Connection, sql: str) -> None:
        """Run a migration's statements one at a time.

        NOTE: ``executescript`` would commit the open transaction first, which
        would make a migration non-atomic.
        """
        pending = ""
        for line in sql.splitlines(keepends=True):
            pending += line
            if sqlite3.complete_statement(pending):
                if pending.strip():
                    conn.execute(pending)
                pending = ""
        if pending.strip() and not pending.strip().startswith("--"):
            raise OperatorError(f"incomplete SQL statement in a migration: {pending.strip()[:60]}")

    @staticmethod
    def after_copy(conn: Connection, table: str) -> None:
        """Nothing to do: SQLite's AUTOINCREMENT follows explicitly inserted ids."""


def _postgresql_driver():
    """Import psycopg 3, or say how to install it."""
    try:
        import psycopg
    except ImportError as exc:
        raise OperatorError("VISITORAPI_STATE is a postgresql:// URL but psycopg 3 is not "
                            "installed; install it with: pip install 'visitorapi[postgresql]'"
                            ) from exc
    return psycopg


class PostgreSQL:
    """A PostgreSQL database shared by every node, through psycopg 3.

    Connections are in autocommit mode, like the SQLite ones, so the callers'
    explicit ``BEGIN``/``COMMIT`` mean the same thing on both engines.
    """

    name = "postgresql"
    errors = ()             # psycopg's, bound when the driver is imported (it is optional)
    integrity_errors = ()
    migrations_dir = MIGRATIONS_DIR / "postgresql"
    schema_migrations_ddl = ("CREATE TABLE IF NOT EXISTS schema_migrations ("
                             " name TEXT COLLATE \"C\" PRIMARY KEY, applied_at TEXT NOT NULL)")

    @classmethod
    def open(cls, url: str, *, create: bool, busy_timeout_ms: int) -> Connection:
        """Connect to ``url`` (a libpq URL; the password may come from PGPASSWORD or PGPASSFILE).

        Raises:
            OperatorError: psycopg is not installed, or the server cannot be reached.
        """
        psycopg = _postgresql_driver()
        cls._bind_errors(psycopg)
        try:
            # NOTE: keepalives and tcp_user_timeout end a connection to a server
            # that vanished (a partition) in seconds instead of the kernel's minutes.
            raw = psycopg.connect(url, autocommit=True, connect_timeout=PG_CONNECT_TIMEOUT,
                                  application_name="visitorapi", keepalives=1,
                                  keepalives_idle=5, keepalives_interval=2, keepalives_count=3,
                                  tcp_user_timeout=10_000,
                                  options=f"-c lock_timeout={int(busy_timeout_ms)}")
        except psycopg.Error as exc:
            raise OperatorError(f"cannot connect to the state database {describe(url)}: "
                                f"{str(exc).strip()}; check VISITORAPI_STATE, that the server "
                                "is up, and the password (PGPASSWORD or PGPASSFILE)") from exc
        cls._register_loaders(raw, psycopg)
        conn = Connection(raw, cls)
        try:
            present = create or cls.has_table(conn, "schema_migrations")
        except StoreError as exc:
            conn.close()
            raise OperatorError(cls.explain(url, exc)) from exc
        if not present:
            conn.close()
            raise OperatorError(missing_message(url))
        return conn

    @staticmethod
    def has_table(conn: Connection, name: str) -> bool:
        return conn.execute("SELECT to_regclass(?) IS NOT NULL", (name,)).fetchone()[0]

    @staticmethod
    def explain(url, exc) -> str:
        return (f"state database {describe(url)} is unusable: {exc}; check the server's log, "
                "or restore it from a backup (docs/deploy.md)")

    @staticmethod
    def write_problem(url):
        """None: whether the server takes writes shows when one is made (and in /readyz's read)."""
        return None

    @staticmethod
    def identity(url):
        """A database server has no file to be replaced under a connection."""
        return url

    @classmethod
    def _bind_errors(cls, psycopg):
        cls.errors = (psycopg.Error,)
        cls.integrity_errors = (psycopg.errors.IntegrityError,)

    @staticmethod
    def _register_loaders(raw, psycopg):
        """Read ``numeric`` as ``int``: ``sum()`` of a BIGINT column is numeric in PostgreSQL.

        NOTE: the schema has no numeric columns, so every numeric value is such a sum.
        """
        from psycopg.types.numeric import NumericLoader

        class IntegralNumericLoader(NumericLoader):
            def load(self, data):
                return int(super().load(data))

        raw.adapters.register_loader("numeric", IntegralNumericLoader)

    @staticmethod
    def translate(sql: str) -> tuple:
        """The two kinds of BEGIN (see the module docstring); other SQL is kept as written."""
        stripped = sql.strip().upper()
        if stripped == "BEGIN IMMEDIATE":
            return ("BEGIN", f"SELECT pg_advisory_xact_lock({WRITE_LOCK_KEY})")
        if stripped == "BEGIN":
            return ("BEGIN ISOLATION LEVEL REPEATABLE READ",)
        return (sql,)

    @staticmethod
    def execute(raw, sql, params):
        # NOTE: without parameters psycopg sends the text as it is (a migration's
        # '%' stays '%'); with them, '?' becomes '%s' and '%' becomes '%%'.
        if not params:
            return raw.execute(sql, prepare=False)
        return raw.execute(_pyformat(sql), tuple(params), prepare=False)

    @staticmethod
    def executemany(raw, sql, rows):
        cursor = raw.cursor()
        rows = list(rows)
        if rows:
            cursor.executemany(_pyformat(sql), rows)
        return cursor

    @staticmethod
    def in_transaction(raw) -> bool:
        from psycopg.pq import TransactionStatus
        return raw.info.transaction_status != TransactionStatus.IDLE

    @staticmethod
    def run_migration(conn: Connection, sql: str) -> None:
        """Run a whole migration file at once (psycopg allows several statements without
        parameters), inside the caller's transaction."""
        conn.execute(sql)

    @staticmethod
    def after_copy(conn: Connection, table: str) -> None:
        """Move an identity sequence past the ids a copy inserted explicitly."""
        for (column,) in conn.execute(
                "SELECT attname FROM pg_attribute WHERE attrelid = ?::regclass"
                " AND attidentity <> '' AND NOT attisdropped", (table,)).fetchall():
            conn.execute(f"SELECT setval(pg_get_serial_sequence(?, ?),"
                         f" (SELECT coalesce(max({column}), 0) + 1 FROM {table}), false)",
                         (table, column))


_PLACEHOLDER = re.compile(r"'[^']*'|\?|%")


@functools.lru_cache(maxsize=512)
def _pyformat(sql: str) -> str:
    """``?`` placeholders to psycopg's ``%s``; every literal ``%`` doubled, and a ``?``
    inside a quoted string left alone."""
    return _PLACEHOLDER.sub(lambda m: "%s" if m.group() == "?" else "%%" if m.group() == "%"
                            else m.group().replace("%", "%%"), sql)


def engine_for(location):
    """The engine class for a SQLite path or a PostgreSQL URL."""
    return PostgreSQL if is_url(location) else SQLite
