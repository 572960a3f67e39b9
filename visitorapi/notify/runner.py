"""The background process: run the detectors, then deliver what is due, every few seconds.

Exactly one per service, outside the request path: the shipped gunicorn
configuration starts it as a child of the master (``visitorapi notify run``,
see :mod:`visitorapi.web.gunicorn_conf`), or an operator runs it as its own
service. Two at once (several nodes on one PostgreSQL store) are harmless:
detectors move their marks and the sender claims rows under the store's
write lock, so nothing is raised or sent twice.

A store that cannot be used is logged once when the trouble starts and once
when it ends; the loop keeps going.
"""
import logging
import os
import threading
import time
from dataclasses import dataclass

from visitorapi.errors import OperatorError
from visitorapi.notify import detectors
from visitorapi.notify.sender import Sender
from visitorapi.state import notifications
from visitorapi.state.db import Connection
from visitorapi.state.engines import StoreError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DatabaseFacts:
    """What the sender reads of the configured IP database file, once per pass."""
    built: float | None = None   # build time (seconds), when the file says
    problem: str = ""            # why the file cannot be opened ('' when it can)
    identity: str = ""           # inode, mtime and size: one file version


def database_facts(path) -> DatabaseFacts:
    """Open the configured database as a worker would; report its age or why it is refused."""
    from visitorapi.ipdb import InvalidDatabaseError, open_database
    from visitorapi.web.livedb import build_time
    try:
        stat = os.stat(path)
    except OSError:
        return DatabaseFacts()   # NOTE: a missing file is /readyz's and the log's to report
    identity = f"{stat.st_ino}:{stat.st_mtime_ns}:{stat.st_size}"
    try:
        database = open_database(path)
    except (OSError, InvalidDatabaseError) as exc:
        return DatabaseFacts(problem=str(exc), identity=identity)
    try:
        return DatabaseFacts(built=build_time(database), identity=identity)
    finally:
        database.close()


class Runner:
    """One pass (:meth:`run_once`) or a loop (:meth:`run`) of detectors and delivery.

    Args:
        settings: :class:`visitorapi.config.Settings`.
        sender: a :class:`Sender` (default: one for ``settings.smtp``).
        clock: ``time.time``, or a test's clock.
    """

    def __init__(self, settings, sender=None, clock=time.time):
        self.settings = settings
        self.sender = sender or Sender(settings.smtp, clock=clock)
        self.clock = clock
        self.store = Connection(settings.state_path)
        self._failing = False

    def run_once(self) -> int:
        """Detect, then deliver everything due; return the deliveries attempted."""
        conn = self.store.get()
        now = self.clock()
        thresholds = self.settings.notify_thresholds or detectors.Thresholds()
        detectors.scan_audit(conn, now)
        detectors.scan_refused(conn, now, thresholds)
        detectors.scan_usage(conn, now, thresholds)
        facts = database_facts(self.settings.db_path)
        detectors.scan_database(conn, now, facts.built, self.settings.db_max_age_days,
                                self.settings.db_path)
        if facts.problem:
            detectors.scan_refused_database(conn, now, facts.problem, facts.identity,
                                            self.settings.db_path)
        notifications.prune(conn, time.strftime(
            "%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - notifications.LOG_KEEP_DAYS * 86400)))
        attempted = 0
        while True:
            outcomes = self.sender.deliver_due(conn)
            attempted += len(outcomes)
            if not outcomes:
                return attempted

    def run(self, stop: threading.Event, parent_pid: int | None = None) -> None:
        """Loop until ``stop`` is set (or, given ``parent_pid``, that process is gone),
        every ``settings.notify_interval`` seconds."""
        log.info("notifications: sender started (every %gs, email %s)",
                 self.settings.notify_interval,
                 "on" if self.settings.smtp else "not configured",
                 extra={"event": "notify.started"})
        while not stop.is_set():
            if parent_pid is not None and os.getppid() != parent_pid:
                log.info("notifications: the service stopped; the sender stops too",
                         extra={"event": "notify.orphaned"})
                break
            try:
                self.run_once()
                if self._failing:
                    log.info("notifications: the store works again",
                             extra={"event": "notify.store_ok"})
                    self._failing = False
            except (OperatorError, StoreError) as exc:
                self.store.close()
                if not self._failing:
                    log.error("notifications: cannot use the store (%s); retrying every %gs",
                              exc, self.settings.notify_interval,
                              extra={"event": "notify.store_failed"})
                    self._failing = True
            except Exception:   # NOTE: one bad pass (a bug, a bad row) must not end the sender
                log.exception("notifications: a pass failed; trying again next time",
                              extra={"event": "notify.error"})
            stop.wait(self.settings.notify_interval)
        self.store.close()
