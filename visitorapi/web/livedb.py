"""The IP database a worker serves from, swapped when its file is replaced.

Operators (and ``visitorapi update``) replace the database by writing a new
file and ``os.replace``-ing it over the old name. Each worker notices within
``check_interval`` seconds: it compares the file's identity (device, inode,
size, mtime) on the request path, at most once per interval, and opens the
new file before letting go of the old one. An in-flight lookup keeps its
reference to the old ``Database``, whose mmap stays valid after the rename
(the old inode lives while it is mapped), so no request fails.

A replacement that does not open (truncated, corrupt, foreign, or with a
damaged body) is refused: it is logged once and the old database keeps
serving until the file changes again.

A database found damaged while serving (a lookup read a bad record, or the
served file itself was rewritten in place and no longer checks out) is
dropped: ``current()`` answers None, so ``/api`` says 503 and ``/readyz``
says why, until a good file is in place. It is logged once, naming the file.
A damaged file is the operator's problem, never the visitor's.

:class:`AgeWatch` warns when the served database is older than
``VISITORAPI_DB_MAX_AGE_DAYS``; replacing it is ``visitorapi update``'s job
(:mod:`visitorapi.ipdb.update`), which serving never imports.
"""
import datetime
import logging
import os
import threading
import time

from visitorapi.config import Settings
from visitorapi.ipdb import InvalidDatabaseError, open_database
from visitorapi.ipdb.licenses import unattributed_sources

log = logging.getLogger(__name__)


def _identity(path):
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)


def open_checked(path, kind="location"):
    """Open a database for serving: header and section bounds, plus the body's checksum.

    The checksum catches bit flips inside a section, which open's
    constant-time checks cannot see, for about 1 ms per MB. The full
    structural check (``visitorapi verify``, seconds for city data) is run
    by ``visitorapi update`` before it swaps a file in.

    A database built from a source whose license requires a credit (DB-IP,
    GeoLite2, IP2Location) but carrying none is served, with a warning: the
    data is fine, the operator's obligation is not met.

    Raises:
        InvalidDatabaseError: also when the file answers another ``kind``
            ("location" for VISITORAPI_DB, "asn" for VISITORAPI_ASN_DB).
    """
    database = open_database(path, checksum=True)
    if database.kind != kind:
        database.close()
        setting = "VISITORAPI_ASN_DB" if database.kind == "asn" else "VISITORAPI_DB"
        raise InvalidDatabaseError(f"{path} is a {database.kind!r} database, not a {kind!r} "
                                   f"one; serve it with {setting}")
    missing = unattributed_sources(database.metadata)
    if missing:
        log.warning("database %s holds %s data but no attribution, which its license "
                    "requires: recompile it with visitorapi compile, which stores the "
                    "source's notice unless --attribution gives another, and credit the "
                    "source on your site",
                    path, " and ".join(missing), extra={"event": "db.attribution_missing"})
    return database


class LiveDatabase:
    """Holds the current database for one process and follows replacements of its file.

    Args:
        path: the database file.
        opener: ``open_database``-like callable (path -> Database); raises on a bad file.
        check_interval: seconds between checks of the file's identity.
        clock: monotonic seconds, injectable for tests.
    """

    def __init__(self, path, opener, *, check_interval=Settings.db_check_interval,
                 clock=time.monotonic):
        self.path = os.fspath(path)
        self.opener = opener
        self.check_interval = check_interval
        self.clock = clock
        self.database = None
        self.error = None
        self._identity = None   # of the file last tried
        self._served = None     # of the file self.database was opened from
        self._next_check = 0.0
        self._lock = threading.Lock()

    def current(self):
        """Return the database to use for this request, or None if none is loaded.

        PERF: one clock read per call; the stat and any reopen happen at
        most once per ``check_interval``.
        """
        now = self.clock()
        if now >= self._next_check:
            self._next_check = now + self.check_interval
            self.reload()
        return self.database

    def reload(self):
        """Open the file if it changed since the last attempt; keep the old one on failure."""
        with self._lock:
            identity = _identity(self.path)
            if identity is None:
                if self.database is None:
                    self.error = f"database file {self.path} does not exist"
                return
            if identity == self._identity:
                return
            self._identity = identity
            try:
                database = self.opener(self.path)
            except Exception as exc:  # NOTE: any failure to open must leave the old one serving
                if self.database is not None and self._served[:2] == identity[:2]:
                    # The same inode: the served file itself was rewritten in
                    # place, and the mapping being served reads the new bytes.
                    self._drop(f"{exc}; it was rewritten in place: replace the file with a "
                               "rename instead (write a new file, then mv it over the old one)")
                    return
                self.error = f"database file {self.path} was refused: {exc}"
                log.warning("database replacement refused: %s; %s", exc,
                            "the previous database keeps serving" if self.database is not None
                            else "no database is loaded",
                            extra={"event": "db.refused"})
                return
            replaced = self.database is not None
            self.database = database
            self._served = identity
            self.error = None
        log.info("database %s: %s", "replaced" if replaced else "loaded", self.path,
                 extra={"event": "db.replaced" if replaced else "db.loaded"})

    def report_damage(self, database, error):
        """A lookup in ``database`` found it damaged: stop serving it until the file is replaced.

        Called by every request that hits the damage; only the first one for
        the served database changes anything or logs.

        Args:
            database: the database the lookup used (from :meth:`current`).
            error: the :class:`~visitorapi.ipdb.InvalidDatabaseError` raised;
                its message names the file.
        """
        with self._lock:
            if database is self.database:
                self._drop(str(error))

    def _drop(self, problem):
        """Stop serving the current database, which is damaged; say so once (lock held)."""
        self.database = None
        self.error = f"the IP database is damaged: {problem}"
        log.error("IP database damaged: %s; /api answers 503 and /readyz reports not ready "
                  "until a good file replaces it", problem, extra={"event": "db.damaged"})



def build_time(database):
    """The database's build time in seconds since the epoch, or None if it does not say.

    Reads ``metadata["build_time"]`` (RFC 3339, e.g. ``2026-06-05T13:00:00Z``).
    """
    metadata = getattr(database, "metadata", None) or {}
    value = metadata.get("build_time") if isinstance(metadata, dict) else None
    if isinstance(value, (int, float)):
        return float(value)
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment.timestamp()


class AgeWatch:
    """Logs a warning when the serving database is older than ``max_age_days``.

    Checked at most every ``every`` seconds (callers may call :meth:`check`
    on every request); warns once per loaded database and then once a day,
    so an operator sees it without the log filling up.
    """

    def __init__(self, max_age_days: float, *, every: float = 60.0, clock=time.time):
        self.max_age = max_age_days * 86400
        self.every = every
        self.clock = clock
        self._next_check = 0.0
        self._warned = {}  # id(database) -> when last warned

    def check(self, database, path="") -> bool:
        """Return True when ``database`` is stale (and log if a warning is due)."""
        now = self.clock()
        if now < self._next_check or database is None:
            return False
        self._next_check = now + self.every
        built = build_time(database)
        if built is None or now - built <= self.max_age:
            return False
        last = self._warned.get(id(database))
        if last is None or now - last >= 86400:
            self._warned = {id(database): now}
            log.warning("the IP database %s was built %.0f days ago (limit %.0f, "
                        "VISITORAPI_DB_MAX_AGE_DAYS); run 'visitorapi update'",
                        path, (now - built) / 86400, self.max_age / 86400,
                        extra={"event": "db.stale", "db": str(path)})
        return True
