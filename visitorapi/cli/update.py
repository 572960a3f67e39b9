"""``visitorapi update --source URL|FILE``: replace the IP database in place.

Downloads (or takes) a CSV release, compiles it next to the configured
database, verifies it and swaps it in atomically; running servers pick the
new file up within seconds. On any failure the current database stays in
place and keeps serving, and the command exits 1 with the reason. See
:mod:`visitorapi.ipdb.update` and docs/operations.md, "Keeping the database
fresh".
"""
import contextlib
import logging
import time

from visitorapi.config import Settings, load_settings
from visitorapi.errors import OperatorError
from visitorapi.state.engines import StoreError

# NOTE: visitorapi.ipdb.update (urllib, ssl, the compiler) is imported in run():
# every ``visitorapi`` run imports this module to build its parser.
TIMEOUT = 60.0  # seconds without progress before giving up
log = logging.getLogger(__name__)


def register(subparsers):
    """Add the ``update`` command."""
    parser = subparsers.add_parser(
        "update", help="download, compile, verify and swap in a new IP database",
        description="Refresh the IP database at VISITORAPI_DB (or --db) from a CSV release. "
                    "Every failure leaves the current database serving.")
    parser.add_argument("--source", required=True, metavar="URL|FILE",
                        help="https:// URL or local CSV file (plain or .gz)")
    parser.add_argument("--format", metavar="DIALECT", default=None,
                        help="force the CSV dialect (default: detected; see 'compile --help')")
    parser.add_argument("--db", metavar="PATH", default=None,
                        help="the database to replace (default: $VISITORAPI_DB)")
    parser.add_argument("--attribution", metavar="TEXT", default=None,
                        help="attribution stored in the file (default: the source's own "
                             "notice for DB-IP, GeoLite2 and IP2Location files)")
    parser.add_argument("--max-bytes", type=int, metavar="N", default=None,
                        help=f"download size limit (default $VISITORAPI_UPDATE_MAX_BYTES "
                             f"or {Settings.update_max_bytes})")
    parser.add_argument("--timeout", type=float, metavar="SECONDS", default=TIMEOUT,
                        help=f"give up when the server is silent this long (default {TIMEOUT:g})")
    parser.set_defaults(run=run)


def run(args) -> int:
    """Update; print one summary line; return 0 (failures raise OperatorError)."""
    from visitorapi.ipdb import update
    settings = load_settings()
    target = args.db or (None if settings.db_is_default else settings.db_path)
    if not target:
        raise OperatorError("no database to replace: set VISITORAPI_DB (the file 'serve' reads) "
                            "or pass --db PATH")
    max_bytes = settings.update_max_bytes if args.max_bytes is None else args.max_bytes
    try:
        facts = update.update(args.source, target, format=args.format,
                              attribution=args.attribution, max_bytes=max_bytes,
                              timeout=args.timeout)
    except OperatorError as exc:
        _tell_owners(settings.state_path, target, str(exc))
        raise
    print(f"updated {facts['target']}: {facts['bytes']} bytes in {facts['seconds']:.1f} s; "
          "running servers pick it up within seconds")
    return 0


def _tell_owners(state, target, reason: str) -> None:
    """Queue an 'update failed' notification for the owners (docs/notifications.md).

    Best effort: without a usable store the failure is still the command's
    exit status and message, which is what a cron job or timer reports.
    """
    from visitorapi.notify.detectors import record_update_failure
    from visitorapi.state import db
    try:
        with contextlib.closing(db.connect(state)) as conn:
            record_update_failure(conn, target, reason, time.time())
    except (OperatorError, StoreError) as exc:
        log.warning("could not queue the update-failure notification: %s", exc,
                    extra={"event": "notify.not_queued"})
