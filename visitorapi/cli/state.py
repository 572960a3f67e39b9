"""``visitorapi state``: back up the store while the service runs, and restore it.

A backup is SQLite's online backup (a consistent copy even while workers
write), written to a private temporary file and renamed into place. A
restore checks the copy first (integrity, migrations this visitorapi
knows), copies it into ``VISITORAPI_STATE`` with the same backup API, brings
its schema up to date, ends every dashboard session it brought back and
moves the projects revision past the live one, so running workers reload
their authorized domains instead of trusting a cache of the replaced store.
"""
import os
import sqlite3
from pathlib import Path

from visitorapi.config import state_path
from visitorapi.errors import OperatorError
from visitorapi.state import audit, db
from visitorapi.state.db import transaction


def register(subparsers) -> None:
    state = subparsers.add_parser(
        "state", help="back up or restore the store (VISITORAPI_STATE)",
        description="Back up the store while the service runs, or restore a backup into it.")
    commands = state.add_subparsers(dest="state_command", metavar="SUBCOMMAND", required=True)
    backup = commands.add_parser("backup", help="write a consistent copy of the store",
                                 description="Write a consistent copy of the store to FILE "
                                             "(mode 0600); FILE must not exist yet.")
    backup.add_argument("file", type=Path)
    backup.set_defaults(run=run_backup)
    restore = commands.add_parser(
        "restore", help="replace the store's content with a backup",
        description="Check FILE, then replace the store's content with it. Every dashboard "
                    "session ends; changes made after the backup are lost (export the audit "
                    "trail first: visitorapi audit --format json).")
    restore.add_argument("file", type=Path)
    restore.set_defaults(run=run_restore)


def run_backup(args) -> int:
    target = args.file
    if target.exists():
        raise OperatorError(f"{target} already exists; choose a new file name")
    temporary = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    source = db.connect(state_path())
    try:
        os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        copy = sqlite3.connect(temporary)
        try:
            source.backup(copy)
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
    print(f"backed up {state_path()} to {target} ({target.stat().st_size} bytes)")
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
    if not args.file.is_file():
        raise OperatorError(f"{args.file}: no such file")
    check_backup(args.file)
    live = db.connect(state_path())
    try:
        live_revision = live.execute("SELECT revision FROM projects_revision").fetchone()[0]
        copy = sqlite3.connect(f"file:{args.file}?mode=ro", uri=True)
        try:
            copy.backup(live)
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
    print(f"restored {state_path()} from {args.file}; {ended} restored "
          "session(s) ended, everyone logs in again")
    return 0
