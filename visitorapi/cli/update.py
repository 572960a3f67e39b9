"""``visitorapi update --source URL|FILE``: refresh the IP database in place.

Downloads (or takes) a CSV release, compiles it next to the configured
database, verifies it and swaps it in atomically; running servers pick the
new file up within seconds. On any failure the current database stays in
place and keeps serving, and the command exits 1 with the reason. See
:mod:`visitorapi.refresh` and docs/operations.md, "Keeping the database fresh".
"""
import contextlib
import logging
import os
import time

from visitorapi import refresh
from visitorapi.errors import OperatorError
from visitorapi.state.engines import StoreError

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
                             f"or {refresh.DEFAULT_MAX_BYTES})")
    parser.add_argument("--timeout", type=float, metavar="SECONDS", default=refresh.DEFAULT_TIMEOUT,
                        help=f"give up when the server is silent this long (default {refresh.DEFAULT_TIMEOUT:g})")
    parser.set_defaults(run=run)


def run(args) -> int:
    """Refresh; print one summary line; return 0 (failures raise OperatorError)."""
    target = args.db or os.environ.get("VISITORAPI_DB")
    if not target:
        raise OperatorError("no database to replace: set VISITORAPI_DB (the file 'serve' reads) "
                            "or pass --db PATH")
    max_bytes = args.max_bytes
    if max_bytes is None:
        configured = os.environ.get("VISITORAPI_UPDATE_MAX_BYTES", "")
        try:
            max_bytes = int(configured) if configured else refresh.DEFAULT_MAX_BYTES
        except ValueError:
            raise OperatorError(f"VISITORAPI_UPDATE_MAX_BYTES must be a number of bytes, "
                                f"not {configured!r}") from None
    try:
        facts = refresh.refresh(args.source, target, format=args.format,
                                attribution=args.attribution, max_bytes=max_bytes,
                                timeout=args.timeout)
    except OperatorError as exc:
        _tell_owners(target, str(exc))
        raise
    print(f"updated {facts['target']}: {facts['bytes']} bytes in {facts['seconds']:.1f} s; "
          "running servers pick it up within seconds")
    return 0


def _tell_owners(target, reason: str) -> None:
    """Queue an 'update failed' notification for the owners (docs/notifications.md).

    Best effort: without a usable store the failure is still the command's
    exit status and message, which is what a cron job or timer reports.
    """
    from visitorapi.notify.detectors import record_update_failure
    from visitorapi.state import db
    try:
        with contextlib.closing(db.connect()) as conn:
            record_update_failure(conn, target, reason, time.time())
    except (OperatorError, StoreError) as exc:
        log.warning("could not queue the update-failure notification: %s", exc,
                    extra={"event": "notify.not_queued"})
