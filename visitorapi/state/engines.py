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
import os
import re
import sqlite3
import stat
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from visitorapi.errors import OperatorError

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
URL_SCHEMES = ("postgresql://", "postgres://")
# An arbitrary, fixed key: every visitorapi writer of one PostgreSQL database
# takes this advisory lock, so BEGIN IMMEDIATE means the same on both engines.
WRITE_LOCK_KEY = 0x76697369   # "visi"
PG_CONNECT_TIMEOUT = 3        # seconds; a down server must not hold a worker long


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

    @staticmethod
    def open(path: Path, *, busy_timeout_ms: int) -> Connection:
        """Open (creating) the SQLite file ``path`` in WAL mode.

        Raises:
            OperatorError: it cannot be opened or is not a SQLite database.
        """
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            # NOTE: the store holds password hashes, TOTP secrets and the client HMAC
            # key: a new file (and its -wal and -shm) is the owner's alone. Only
            # SQLite opens the file: closing another descriptor on it would drop
            # this process's POSIX locks on it.
            previous = os.umask(0o077) if not path.exists() else None
            try:
                raw = sqlite3.connect(path, timeout=busy_timeout_ms / 1000,
                                      isolation_level=None, check_same_thread=False)
            finally:
                if previous is not None:
                    os.umask(previous)
        except (OSError, sqlite3.Error) as exc:
            raise OperatorError(f"cannot open state database {path}: {exc}; "
                                "check VISITORAPI_STATE and the folder's permissions") from exc
        try:
            raw.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            raw.execute("PRAGMA foreign_keys = ON")
            if raw.execute("PRAGMA journal_mode = WAL").fetchone()[0].lower() != "wal":
                raise OperatorError(f"state database {path}: cannot switch to WAL mode")
            raw.execute("PRAGMA synchronous = NORMAL")
        except sqlite3.DatabaseError as exc:
            raw.close()
            raise OperatorError(f"state database {path} is unusable: {exc}; restore it from "
                                "a backup or point VISITORAPI_STATE elsewhere") from exc
        return Connection(raw, SQLite)

    @staticmethod
    def file_mode(path: Path):
        """The permission bits of the store file (None when it cannot be read)."""
        try:
            return stat.S_IMODE(path.stat().st_mode)
        except OSError:
            return None

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
    _placeholder = re.compile(r"'[^']*'|\?|%")

    @classmethod
    def open(cls, url: str, *, busy_timeout_ms: int) -> Connection:
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
        return Connection(raw, cls)

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

    @classmethod
    def translate(cls, sql: str) -> tuple:
        """SQLite-flavoured SQL to PostgreSQL: placeholders and the two kinds of BEGIN."""
        stripped = sql.strip().upper()
        if stripped == "BEGIN IMMEDIATE":
            return ("BEGIN", f"SELECT pg_advisory_xact_lock({WRITE_LOCK_KEY})")
        if stripped == "BEGIN":
            return ("BEGIN ISOLATION LEVEL REPEATABLE READ",)
        # '?' becomes '%s' and a literal '%' becomes '%%', except inside quoted strings.
        return (cls._placeholder.sub(
            lambda m: "%s" if m.group() == "?" else "%%" if m.group() == "%" else m.group(),
            sql),)

    @staticmethod
    def execute(raw, sql, params):
        return raw.execute(sql, tuple(params) if params else None, prepare=False)

    @staticmethod
    def executemany(raw, sql, rows):
        cursor = raw.cursor()
        rows = list(rows)
        if rows:
            cursor.executemany(sql, rows)
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


def engine_for(location):
    """The engine class for a SQLite path or a PostgreSQL URL."""
    return PostgreSQL if is_url(location) else SQLite
