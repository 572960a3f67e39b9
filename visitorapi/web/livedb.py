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
"""
import logging
import os
import time

from visitorapi.ipdb.licenses import unattributed_sources

log = logging.getLogger(__name__)


def _identity(path):
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)


def open_checked(path):
    """Open a database for serving: header and section bounds, plus the body's checksum.

    The checksum catches bit flips inside a section, which open's
    constant-time checks cannot see, for about 1 ms per MB. The full
    structural check (``visitorapi verify``, seconds for city data) is run
    by ``visitorapi update`` before it swaps a file in.

    A database built from a source whose license requires a credit (DB-IP,
    GeoLite2, IP2Location) but carrying none is served, with a warning: the
    data is fine, the operator's obligation is not met.
    """
    from visitorapi.ipdb import open_database
    database = open_database(path, checksum=True)
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

    def __init__(self, path, opener, *, check_interval=2.0, clock=time.monotonic):
        self.path = os.fspath(path)
        self.opener = opener
        self.check_interval = check_interval
        self.clock = clock
        self.database = None
        self.error = None
        self._identity = None
        self._next_check = 0.0

    def current(self):
        """Return the database to use for this request, or None if none is loaded.

        PERF: one clock read per call; the stat and any reopen happen at
        most once per ``check_interval``.
        """
        now = self.clock()
        if now >= self._next_check:
            self._next_check = now + self.check_interval
            self.refresh()
        return self.database

    def refresh(self):
        """Open the file if it changed since the last attempt; keep the old one on failure."""
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
            self.error = f"database file {self.path} was refused: {exc}"
            log.warning("database replacement refused: %s; %s", exc,
                        "the previous database keeps serving" if self.database is not None
                        else "no database is loaded",
                        extra={"event": "db.refused"})
            return
        replaced = self.database is not None
        self.database = database
        self.error = None
        log.info("database %s: %s", "replaced" if replaced else "loaded", self.path,
                 extra={"event": "db.replaced" if replaced else "db.loaded"})
