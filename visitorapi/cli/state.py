"""``visitorapi state``: copy the store between engines, back it up, restore it.

``copy SRC DST`` moves a whole store into an empty one (SQLite to PostgreSQL,
or back), in one transaction.

``backup`` and ``restore`` are for a SQLite store. A backup is SQLite's
online backup (a consistent copy even while workers write), written to a
private temporary file and renamed into place. A restore checks the copy
first (integrity, migrations this visitorapi knows), copies it into
``VISITORAPI_STATE`` with the same backup API, brings its schema up to date,
ends every dashboard session it brought back and moves the projects revision
past the live one, so running workers reload their authorized domains instead
of trusting a cache of the replaced store.

A PostgreSQL store is backed up with PostgreSQL's own ``pg_dump`` and
restored with ``pg_restore`` into a new database (docs/deploy.md, "Backups
and restores"); both commands refuse it and print that procedure, rather
than half-imitate it.
"""
import contextlib
import os
import sqlite3
from pathlib import Path

from visitorapi.config import state_path
from visitorapi.errors import OperatorError
from visitorapi.state import audit, db
from visitorapi.state.copy import copy_store, count_rows
from visitorapi.state.db import transaction

POSTGRESQL_PROCEDURE = (
    "back it up with `pg_dump --format=custom --file=BACKUP.dump DATABASE` and restore with "
    "`pg_restore --no-owner --dbname=NEW_EMPTY_DATABASE BACKUP.dump`, then point "
    "VISITORAPI_STATE at the new database and restart the nodes (docs/deploy.md, \"Backups "
    "and restores\"); `visitorapi state copy URL FILE.sqlite3` also makes a SQLite copy of it")


def register(subparsers) -> None:
    """Add ``state`` to the ``visitorapi`` parser."""
    state = subparsers.add_parser(
        "state", help="copy, back up or restore the store (VISITORAPI_STATE)",
        description="Manage the store VISITORAPI_STATE names: a SQLite file or a "
                    "postgresql:// URL.")
    commands = state.add_subparsers(dest="state_command", metavar="SUBCOMMAND", required=True)
    copy = commands.add_parser(
        "copy", help="copy every project, account, usage count and audit entry into an empty store",
        description="Copy a whole store into a new, empty one, in one transaction (e.g. "
                    "visitorapi state copy /var/lib/visitorapi/state.sqlite3 "
                    "postgresql://visitorapi@db.internal/visitorapi). Stop the dashboard and "
                    "the CLI first; nodes keep serving meanwhile. The destination is created "
                    "(SQLite) or migrated (PostgreSQL) and must hold no data.")
    copy.add_argument("source", help="the store to read: a SQLite file or a postgresql:// URL")
    copy.add_argument("destination", help="the empty store to fill")
    copy.set_defaults(run=run_copy)
    backup = commands.add_parser("backup", help="write a consistent copy of a SQLite store",
                                 description="Write a consistent copy of the SQLite store to FILE "
                                             "(mode 0600); FILE must not exist yet. A PostgreSQL "
                                             "store is backed up with pg_dump (docs/deploy.md).")
    backup.add_argument("file", type=Path)
    backup.set_defaults(run=run_backup)
    restore = commands.add_parser(
        "restore", help="replace a SQLite store's content with a backup",
        description="Check FILE, then replace the SQLite store's content with it. Every dashboard "
                    "session ends; changes made after the backup are lost (export the audit "
                    "trail first: visitorapi audit --format json). A PostgreSQL store is "
                    "restored with pg_restore (docs/deploy.md).")
    restore.add_argument("file", type=Path)
    restore.set_defaults(run=run_restore)


def run_copy(args) -> int:
    with contextlib.closing(db.connect(args.source)) as source, \
            contextlib.closing(db.connect(args.destination, create=True)) as destination:
        copied = copy_store(source, destination)
        if count_rows(destination) != count_rows(source):
            raise OperatorError("the copy does not match its source; nothing should have "
                                "changed the source meanwhile: stop its writers and copy again")
    for table, rows in copied.items():
        print(f"{table:22} {rows:>10} rows")
    print(f"copied {db.describe(args.source)} -> {db.describe(args.destination)}")
    return 0


def _sqlite_store(command: str):
    """The SQLite store's path; a PostgreSQL store is refused with its own procedure."""
    location = state_path()
    if db.is_url(location):
        raise OperatorError(f"`visitorapi state {command}` works on a SQLite store, and "
                            f"VISITORAPI_STATE is {db.describe(location)}: "
                            + POSTGRESQL_PROCEDURE)
    return location


def run_backup(args) -> int:
    store = _sqlite_store("backup")
    target = args.file
    if target.exists():
        raise OperatorError(f"{target} already exists; choose a new file name")
    temporary = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    source = db.connect(store)
    try:
        os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        copy = sqlite3.connect(temporary)
        try:
            source.raw.backup(copy)
        finally:
            copy.close()
        with open(temporary, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    finally:
        source.close()
    print(f"backed up {store} to {target} ({target.stat().st_size} bytes)")
    return 0


def check_backup(path: Path) -> None:
    """Raise OperatorError unless ``path`` is an intact store this visitorapi can read."""
    try:
        copy = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise OperatorError(f"cannot open backup {path}: {exc}") from exc
    try:
        result = copy.execute("PRAGMA integrity_check").fetchone()[0]
        if result != "ok":
            raise OperatorError(f"backup {path} is damaged ({result}); use another one")
        applied = {row[0] for row in copy.execute("SELECT name FROM schema_migrations")}
    except sqlite3.DatabaseError as exc:
        raise OperatorError(f"{path} is not a visitorapi store backup ({exc})") from exc
    finally:
        copy.close()
    unknown = applied - {name for name, _ in db.available_migrations()}
    if unknown:
        raise OperatorError(f"backup {path} was written by a newer visitorapi "
                            f"({', '.join(sorted(unknown))}); upgrade before restoring it")


def run_restore(args) -> int:
    store = _sqlite_store("restore")
    if not args.file.is_file():
        raise OperatorError(f"{args.file}: no such file")
    check_backup(args.file)
    live = db.connect(store)
    try:
        live_revision = live.execute("SELECT revision FROM projects_revision").fetchone()[0]
        copy = sqlite3.connect(f"file:{args.file}?mode=ro", uri=True)
        try:
            copy.backup(live.raw)
        finally:
            copy.close()
        db.migrate(live)
        with transaction(live):
            ended = live.execute("DELETE FROM sessions").rowcount
            live.execute("UPDATE projects_revision SET revision = max(revision, ?) + 1",
                         (live_revision,))
            audit.append(live, actor=audit.cli_actor(), action="state.restored",
                         after={"backup": args.file.name, "sessions_ended": ended})
    finally:
        live.close()
    print(f"restored {store} from {args.file}; {ended} restored "
          "session(s) ended, everyone logs in again")
    return 0
