"""The serving path's read-only, in-memory view of which origins each project allows.

Every API request asks ``patterns_for(pid)``; that must cost a dictionary
lookup, not a database query. :class:`AuthorizedDomains` keeps a snapshot
``{pid: (DomainPattern, ...)}`` of the enabled projects and, every
``check_interval`` seconds (0.25 s by default), reads the store's revision
counter (one row, bumped by schema triggers on every project or domain
change); only when it moved is the snapshot rebuilt. From the first load on,
the checks run in a background thread of each serving process, so an idle
worker is as current as a busy one and requests do not wait for the store
(on PostgreSQL, for the network): a change made with the CLI or the
dashboard on any node reaches every worker of every node within
``check_interval`` plus one read, with no restart.

Failure never fails a request: if the store is locked, missing or broken,
the last good snapshot keeps serving, :attr:`problem` says why (``/readyz``
reports it) and one warning naming the file is logged (and one "recovered"
line when it works again). Before the first successful load there is no
snapshot (:attr:`revision` is None), and the API answers 503. The store is
never created here: a serving process that finds none reports it.

Processes and threads: a SQLite connection must not cross ``fork()``
(gunicorn ``--preload`` forks workers from a master that may have used this
object), so the connection is opened lazily, and :mod:`visitorapi.forks`
makes a forked child forget the parent's connection and lock (never using or
closing them) and open its own; the snapshot itself is plain data and keeps
serving. Refreshes are serialized by a lock that request threads never wait
on once a snapshot exists.
"""
import logging
import threading
import time

from visitorapi import forks
from visitorapi.domains import PatternError, stored_pattern
from visitorapi.errors import OperatorError
from visitorapi.state import db
from visitorapi.state.projects import enabled_domains, read_revision

log = logging.getLogger(__name__)

DEFAULT_CHECK_INTERVAL = 0.25   # seconds between revision checks
READ_BUSY_TIMEOUT_MS = 200      # a request waits at most this long for a locked store
CHECK_WAIT = 0.2                # ... and at most this long for another thread's check


class ProjectsUnavailable(Exception):
    """No project list has been read from the store yet (the API answers 503, not 403)."""


class AuthorizedDomains:
    """Live, read-only map from pid to its authorized domain patterns.

    Args:
        state_path: the SQLite store; defaults to ``$VISITORAPI_STATE``.
        check_interval: seconds between checks for changes.
        clock: a monotonic clock (tests pass a fake one).
    """

    def __init__(self, state_path=None, *, check_interval: float = DEFAULT_CHECK_INTERVAL,
                 clock=time.monotonic):
        self._path = state_path
        self._interval = check_interval
        self._clock = clock
        self._snapshot = {}
        self._parsed = {}
        self._revision = None
        self._next_check = float("-inf")
        self._healthy = False
        self._problem = "the state database has not been read yet"
        self._warned = False        # one warning per outage, not one per check
        self._store = db.Connection(state_path, busy_timeout_ms=READ_BUSY_TIMEOUT_MS)
        self._lock = threading.Lock()
        self._watcher = None
        self._watch_lock = threading.Lock()
        self._stop = threading.Event()
        forks.reset_in_children(self)

    def patterns_for(self, pid: str):
        """Return the patterns of an enabled project, or None (unknown or disabled pid).

        Raises:
            ProjectsUnavailable: the store has never been read in this
                process, so no answer about any pid would be true.

        PERF: this runs on every request. In the common case it is one clock
        read, two comparisons and one dict lookup; the store is consulted at
        most every ``check_interval`` seconds.
        """
        # NOTE: until a first snapshot is loaded, every thread goes to _refresh and
        # waits there for the one loading it (gthread: a worker's first requests
        # arrive together; the loader moves _next_check before it reads the store).
        if self._clock() >= self._next_check or self._revision is None:
            self._refresh()
            if self._revision is None:
                raise ProjectsUnavailable(self._problem)
        return self._snapshot.get(pid)

    def refresh(self) -> bool:
        """Check the store for changes now; return True when it was readable."""
        self._next_check = float("-inf")
        self._refresh()
        return self._healthy

    @property
    def healthy(self) -> bool:
        """True when the last check read the store (``/readyz`` reports it)."""
        return self._healthy

    @property
    def problem(self):
        """Why the last check could not read the store (None when it could)."""
        return None if self._healthy else self._problem

    @property
    def revision(self):
        """The store revision the snapshot reflects (None before the first load)."""
        return self._revision

    def close(self) -> None:
        """Stop checking and close this process's connection (the snapshot stays usable)."""
        self._stop.set()
        watcher, self._watcher = self._watcher, None
        if watcher is not None and watcher is not threading.current_thread():
            watcher.join(5)
        self._store.close()

    def _refresh(self) -> None:
        # Before the first load, wait for whoever is loading: an empty snapshot
        # would refuse every pid. After that, a request that finds a check under way waits for it (a read:
        # about a millisecond), so no answer given after a check began is older
        # than it; at most CHECK_WAIT, so a store that hangs (a network
        # partition) never holds requests long.
        if not self._lock.acquire(timeout=-1 if self._revision is None else CHECK_WAIT):
            return
        try:
            if self._clock() < self._next_check:
                return
            self._next_check = self._clock() + self._interval
            self._check()
        finally:
            self._lock.release()
        if self._watcher is None and self._revision is not None:
            self._watch()   # NOTE: from the first load on, whichever path made it

    def _watch(self) -> None:
        """Start this process's background checker (once; again in a forked child)."""
        with self._watch_lock:
            if self._watcher is not None or self._stop.is_set():
                return
            self._watcher = threading.Thread(target=self._run, name="visitorapi-projects",
                                             daemon=True)
            self._watcher.start()

    def _run(self) -> None:
        while not self._stop.wait(max(self._interval, 0.01)):
            self._refresh()

    def _after_fork(self) -> None:
        """In a forked child: forget the parent's connection and lock (never use or close them)."""
        self._store = db.Connection(self._path, busy_timeout_ms=READ_BUSY_TIMEOUT_MS)
        self._lock = threading.Lock()
        self._watcher = None          # the parent's thread does not exist here
        self._watch_lock = threading.Lock()
        self._stop = threading.Event()
        self._next_check = float("-inf")

    def _check(self) -> None:
        try:
            conn = self._store.get()
            if read_revision(conn) != self._revision:
                revision, rows = enabled_domains(conn)
                self._snapshot = self._build(rows)
                self._revision = revision
        except (db.StoreError, OperatorError, OSError) as exc:
            self._store.close()
            self._healthy = False
            self._problem = (str(exc) if isinstance(exc, OperatorError)
                             else f"state database {db.describe(self._store.path)} cannot be read: {exc}")
            if not self._warned:
                self._warned = True
                log.warning("%s; %s", self._problem,
                            "serving the last good project snapshot" if self._revision is not None
                            else "the API answers 503 until it can be read",
                            extra={"event": "projects.store_unavailable"})
            return
        self._healthy = True
        if self._warned:
            self._warned = False
            log.warning("state database %s readable again", db.describe(self._store.path),
                        extra={"event": "projects.store_recovered"})

    def _build(self, rows) -> dict:
        """Turn ``{pid: (text, ...)}`` into ``{pid: (DomainPattern, ...)}``, reusing parsed patterns."""
        parsed = {}
        snapshot = {}
        for pid, texts in rows.items():
            patterns = []
            for text in texts:
                pattern = parsed.get(text) or self._parsed.get(text)
                if pattern is None:
                    try:
                        pattern = stored_pattern(text)
                    except PatternError as exc:
                        log.warning("stored domain pattern skipped: %s", exc,
                                    extra={"event": "projects.bad_stored_pattern", "pid": pid})
                        continue
                parsed[text] = pattern
                patterns.append(pattern)
            snapshot[pid] = tuple(patterns)
        self._parsed = parsed
        return snapshot
