"""``visitorapi state copy SRC DST``: move the store, e.g. from SQLite to PostgreSQL."""
import contextlib

from visitorapi.errors import OperatorError
from visitorapi.state import db
from visitorapi.state.copy import copy_store, count_rows


def register(subparsers) -> None:
    """Add ``state`` to the ``visitorapi`` parser."""
    parser = subparsers.add_parser(
        "state", help="manage the state store (projects, accounts, usage)",
        description="Manage the store VISITORAPI_STATE names: a SQLite file or a "
                    "postgresql:// URL.")
    commands = parser.add_subparsers(dest="state_command", metavar="COMMAND", required=True)
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
