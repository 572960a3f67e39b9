"""Aggregate usage counters: counted in memory per request, written in batches.

What is counted (issue 5), per project, per UTC day and per UTC hour for the
last 48 hours: requests served, denied for an unauthorized origin,
rate-limited, and bad requests. Requests for an unknown or disabled project
are counted once for the whole service, under the pid :data:`SERVICE` (``""``),
which also holds bad requests whose project could not be read. For known
projects the store also keeps served requests per country per day, and every
refused origin (the website, never the visitor) with its count and first and
last sighting. Nothing that identifies a visitor is ever passed in.

Why buffered: a request must never wait for, or fail because of, the store.
:meth:`UsageRecorder.record` only appends the event to a deque (no lock,
well under a microsecond); a daemon thread per process aggregates the
events and writes the sums with one
``BEGIN IMMEDIATE`` transaction of upserts every ``flush_interval`` seconds.
A failed write (the store locked past its busy timeout, read-only, missing,
the disk full) puts the batch back and is retried at the next interval, so
nothing is lost and no "database is locked" error can reach a response. The
failure is loud but not noisy: one log line when a streak of failures starts
and one when writes work again, and ``flush_failures`` / ``dropped`` feed
``/metrics``. What waits in memory is bounded: at most
:data:`MAX_PENDING_AGGREGATES` (hour, project, outcome) and (hour, project,
country) sums per process (about 12 MB, measured). A service with 10 busy projects and
visitors from 50 countries adds about 550 sums an hour, so it keeps
everything through a week-long outage; past the bound, requests needing a new
sum are not counted and are added to ``dropped`` (logged once per streak).
The store is never created here (a serving process reports a missing store).

Crash window: a graceful stop (gunicorn's ``worker_exit`` hook, which runs on
SIGTERM, SIGINT, SIGQUIT and HUP-driven worker replacement, or ``atexit``)
calls :meth:`UsageRecorder.close`, which writes what is pending. A process
killed outright (SIGKILL, OOM, power loss) loses at most the counts of the
last ``flush_interval`` seconds, which were never written.

Retention: daily rows, country rows and denied origins older than
``retention_days`` (400 by default) and hourly rows older than 48 hours are
deleted by the flush itself, at most once an hour.
"""
import atexit
import collections
import logging
import threading
import time
from dataclasses import dataclass, fields

from visitorapi import forks
from visitorapi.errors import OperatorError
from visitorapi.state import db
from visitorapi.state.engines import Connection

log = logging.getLogger(__name__)

# The outcomes a request can be counted as; also the store's column names.
OUTCOMES = ("served", "denied", "rate_limited", "bad_request", "unknown_project")
_OUTCOME_SET = frozenset(OUTCOMES)

SERVICE = ""  # the pid under which whole-service counts are kept
_END = object()  # marks where a drain stops
HOURLY_KEEP_HOURS = 48
DEFAULT_RETENTION_DAYS = 400
DEFAULT_FLUSH_INTERVAL = 5.0
PRUNE_EVERY_SECONDS = 3600

# An attacker can send any Origin with a real pid; bound what that costs.
MAX_ORIGIN_LENGTH = 300
MAX_PENDING_ORIGINS = 1000          # distinct origins held in memory between flushes
MAX_STORED_ORIGINS_PER_PROJECT = 1000
MAX_PENDING_AGGREGATES = 100_000    # sums held while the store cannot be written (~12 MB)
OTHER_ORIGINS = "(other origins)"   # where origins past those caps are counted


def _day(hour: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(hour * 3600))


def _hour(hour: int) -> str:
    return time.strftime("%Y-%m-%dT%H", time.gmtime(hour * 3600))


def _timestamp(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


class _Batch:
    """Counts aggregated and not yet written (kept whole when a write fails)."""

    __slots__ = ("counts", "countries", "origins")

    def __init__(self):
        self.counts = {}     # (hour, pid, outcome) -> n
        self.countries = {}  # (hour, pid, country_code) -> n
        self.origins = {}    # (pid, origin) -> [n, first_seen, last_seen]

    def __bool__(self):
        return bool(self.counts or self.countries or self.origins)


class UsageRecorder:
    """Counts requests in memory and writes them to the store in the background.

    One recorder per process. It is fork-aware: a child process (a gunicorn
    worker forked from a master that imported the app) starts with empty
    counters and its own writer thread.

    Args:
        path: the SQLite store; ``None`` means :func:`visitorapi.state.db.default_state_path`.
        flush_interval: seconds between writes, the most a crash can lose.
        retention_days: how long daily aggregates are kept.
        clock: returns the current time in seconds since the epoch (tests
            pass a fake one).
        busy_timeout_ms: how long a write waits for another writer's lock.
        max_pending: the bound on sums kept while writes fail.

    Attributes:
        flush_failures: writes that failed (a counter, for ``/metrics``).
        dropped: requests not counted because the pending sums were full.
    """

    def __init__(self, path=None, *, flush_interval=DEFAULT_FLUSH_INTERVAL,
                 retention_days=DEFAULT_RETENTION_DAYS, clock=time.time,
                 busy_timeout_ms=db.BUSY_TIMEOUT_MS, max_pending=MAX_PENDING_AGGREGATES):
        if flush_interval <= 0:
            raise ValueError("flush_interval must be positive")
        if retention_days < 1:
            raise ValueError("retention_days must be at least 1")
        self.path = path
        self.busy_timeout_ms = busy_timeout_ms
        self.max_pending = max_pending
        self.flush_interval = float(flush_interval)
        self.retention_days = int(retention_days)
        self._clock = clock
        self._events = collections.deque()   # (hour, outcome, pid, country), not yet aggregated
        self._origins = collections.deque()  # (time, pid, origin) of denied requests
        self._flush_lock = threading.Lock()  # one writer at a time; guards _pending
        self._pending = _Batch()             # aggregated, not yet written
        self._store = db.Connection(path, busy_timeout_ms=busy_timeout_ms)
        self._thread = None
        self._stop = threading.Event()
        self._last_prune = None
        self.flush_failures = 0
        self.dropped = 0
        self._streak = None                  # (failures, dropped) when a failure streak began
        self._dropping = False               # "dropping" was logged since the last good write
        self._atexit_registered = False
        forks.reset_in_children(self)

    # -- the request path -------------------------------------------------

    def record(self, outcome: str, pid: str = SERVICE, country=None, origin=None):
        """Count one request. Never touches the store; never raises for I/O.

        Args:
            outcome: one of :data:`OUTCOMES`.
            pid: a known project's pid, or :data:`SERVICE`. Never pass a pid
                taken from a request that did not match a project: the store
                would then hold whatever strings strangers send.
            country: for a served request, the ISO 3166-1 code ("" if unknown).
            origin: for a denied request, the refused origin (a website).

        Raises:
            ValueError: ``outcome`` is not one of :data:`OUTCOMES` (a bug).
        """
        if outcome not in _OUTCOME_SET:
            raise ValueError(f"unknown usage outcome {outcome!r}; expected one of {OUTCOMES}")
        # PERF: deque appends are atomic under the GIL, so no lock; the writer
        # thread aggregates in C (tools/bench_counting.py).
        now = self._clock()
        self._events.append((now // 3600, outcome, pid, country))
        if origin is not None:
            self._origins.append((now, pid, origin))
        if self._thread is None:
            self.start()

    def _drain(self):
        """Move recorded events into the pending aggregates (caller holds _flush_lock).

        PERF: the end marker bounds the drain without a lock: events
        appended after it wait for the next drain, and ``Counter`` over
        ``iter(popleft, marker)`` runs in C, so the work is per distinct
        (hour, outcome, pid, country), not per request.
        """
        pending = self._pending
        counts, countries = pending.counts, pending.countries
        room = self.max_pending - len(counts) - len(countries)
        dropped = 0
        self._events.append(_END)
        for (hour, outcome, pid, country), n in collections.Counter(
                iter(self._events.popleft, _END)).items():
            hour = int(hour)
            key = (hour, pid, outcome)
            country_key = (hour, pid, country) if country is not None and pid != SERVICE else None
            new = (key not in counts) + (country_key is not None and country_key not in countries)
            if new > room:
                dropped += n    # NOTE: the whole request, so sums and their breakdowns agree
                continue
            room -= new
            counts[key] = counts.get(key, 0) + n
            if country_key is not None:
                countries[country_key] = countries.get(country_key, 0) + n
        if dropped:
            if not self._dropping:
                self._dropping = True
                log.error("usage counts are being dropped: %d sums wait for the state database "
                          "%s (the most kept in memory); counting resumes when it can be "
                          "written", self.max_pending, db.describe(self._store.path),
                          extra={"event": "usage.dropping"})
            self.dropped += dropped
        self._origins.append(_END)
        for now, pid, origin in iter(self._origins.popleft, _END):
            if pid != SERVICE:
                self._record_origin(pending, pid, origin, now)

    @staticmethod
    def _record_origin(pending, pid, origin, now):
        if len(origin) > MAX_ORIGIN_LENGTH:
            origin = OTHER_ORIGINS
        key = (pid, origin)
        seen = pending.origins.get(key)
        if seen is None:
            if len(pending.origins) >= MAX_PENDING_ORIGINS:
                key = (pid, OTHER_ORIGINS)
                seen = pending.origins.get(key)
            if seen is None:
                pending.origins[key] = [1, now, now]
                return
        seen[0] += 1
        seen[1] = min(seen[1], now)
        seen[2] = max(seen[2], now)

    # -- the writer -------------------------------------------------------

    def start(self):
        """Start the background writer thread (idempotent; ``record`` calls it)."""
        with self._flush_lock:
            if self._thread is not None:
                return
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="visitorapi-usage",
                                            daemon=True)
            self._thread.start()
            if not self._atexit_registered:
                # NOTE: gunicorn's worker_exit hook is the main graceful path;
                # this covers every other interpreter exit (CLI, wsgiref, tests).
                atexit.register(self.close)
                self._atexit_registered = True

    def _run(self):
        while not self._stop.wait(self.flush_interval):
            self.flush()

    def flush(self) -> bool:
        """Write everything pending in one transaction.

        Returns:
            True when the store holds every count recorded before the call;
            False when the write failed (the counts stay pending for the
            next attempt; the first failure of a streak is logged).
        """
        with self._flush_lock:
            self._drain()
            batch, self._pending = self._pending, _Batch()
            now = self._clock()
            prune = self._last_prune is None or now - self._last_prune >= PRUNE_EVERY_SECONDS
            if not batch and not prune:
                return True
            try:
                self._write(batch, now, prune)
            except (db.StoreError, OperatorError, OSError) as exc:
                self._pending = batch  # NOTE: only the writer touches _pending
                self._store.close()
                if self._streak is None:
                    self._streak = (self.flush_failures, self.dropped)
                    log.error("usage counts cannot be written to the state database %s: %s; "
                              "they are kept in memory (up to %d sums) and retried every %g s",
                              db.describe(self._store.path), exc, self.max_pending, self.flush_interval,
                              extra={"event": "usage.flush_failed"})
                self.flush_failures += 1
                return False
            if prune:
                self._last_prune = now
            self._dropping = False
            if self._streak is not None:
                failures, dropped = self._streak
                self._streak = None
                log.warning("usage counts written to the state database %s again after %d "
                            "failed attempts; %d requests were not counted (memory bound)",
                            db.describe(self._store.path), self.flush_failures - failures,
                            self.dropped - dropped, extra={"event": "usage.flush_recovered"})
            return True

    def _write(self, batch: _Batch, now: float, prune: bool):
        conn = self._store.get()
        conn.execute("BEGIN IMMEDIATE")
        try:
            _upsert(conn, batch, now)
            if prune:
                _prune(conn, now, self.retention_days)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def close(self, timeout: float = 10.0) -> bool:
        """Stop the writer thread and write what is pending (a graceful stop).

        Safe to call more than once, from a signal-driven exit path, or
        from a process that never counted anything.

        Returns:
            True when nothing is left unwritten.
        """
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        self._thread = None
        written = self.flush()
        self._store.close()
        if not written:
            log.error("usage counts lost at exit: %d sums could not be written to the state "
                      "database %s", len(self._pending.counts), db.describe(self._store.path),
                      extra={"event": "usage.lost_at_exit"})
        return written

    def _after_fork(self):
        # NOTE: the parent's thread does not exist in the child, its lock may
        # have been held at fork time, and its counts are the parent's to write.
        self._events = collections.deque()
        self._origins = collections.deque()
        self._flush_lock = threading.Lock()
        self._pending = _Batch()
        self._store = db.Connection(self.path, busy_timeout_ms=self.busy_timeout_ms)
        self._thread = None
        self._stop = threading.Event()
        self._streak = None
        self._dropping = False
        self.flush_failures = 0     # NOTE: per-process counters; /metrics sums the workers'
        self.dropped = 0


def _upsert(conn: Connection, batch: _Batch, now: float):
    """Add a batch's counts to the store (inside the caller's transaction)."""
    daily, hourly = {}, {}
    oldest_hour = int(now // 3600) - HOURLY_KEEP_HOURS + 1
    for (hour, pid, outcome), n in batch.counts.items():
        column = OUTCOMES.index(outcome)
        row = daily.setdefault((_day(hour), pid), [0] * len(OUTCOMES))
        row[column] += n
        if hour >= oldest_hour:
            row = hourly.setdefault((_hour(hour), pid), [0] * len(OUTCOMES))
            row[column] += n
    columns = ", ".join(OUTCOMES)
    marks = ", ".join("?" * len(OUTCOMES))
    for table, key_column, rows in (("usage_daily", "day", daily),
                                    ("usage_hourly", "hour", hourly)):
        additions = ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in OUTCOMES)
        conn.executemany(
            f"INSERT INTO {table} ({key_column}, pid, {columns}) VALUES (?, ?, {marks}) "
            f"ON CONFLICT ({key_column}, pid) DO UPDATE SET {additions}",
            [(period, pid, *counts) for (period, pid), counts in rows.items()])
    countries = {}
    for (hour, pid, country_code), n in batch.countries.items():
        key = (_day(hour), pid, country_code)
        countries[key] = countries.get(key, 0) + n
    conn.executemany(
        "INSERT INTO usage_countries (day, pid, country_code, requests) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (day, pid, country_code) DO UPDATE SET requests = usage_countries.requests + excluded.requests",
        [(*key, n) for key, n in countries.items()])
    conn.executemany(
        "INSERT INTO usage_denied_origins (pid, origin, requests, first_seen, last_seen) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (pid, origin) DO UPDATE SET "
        "requests = usage_denied_origins.requests + excluded.requests, "
        "first_seen = CASE WHEN excluded.first_seen < usage_denied_origins.first_seen"
        " THEN excluded.first_seen ELSE usage_denied_origins.first_seen END, "
        "last_seen = CASE WHEN excluded.last_seen > usage_denied_origins.last_seen"
        " THEN excluded.last_seen ELSE usage_denied_origins.last_seen END",
        [(pid, origin, n, _timestamp(first), _timestamp(last))
         for (pid, origin), (n, first, last) in batch.origins.items()])


def _prune(conn: Connection, now: float, retention_days: int):
    """Delete aggregates past their retention (inside the caller's transaction)."""
    today = int(now // 86400)
    oldest_day = _day((today - retention_days + 1) * 24)
    oldest_hour = _hour(int(now // 3600) - HOURLY_KEEP_HOURS + 1)
    conn.execute("DELETE FROM usage_daily WHERE day < ?", (oldest_day,))
    conn.execute("DELETE FROM usage_countries WHERE day < ?", (oldest_day,))
    conn.execute("DELETE FROM usage_hourly WHERE hour < ?", (oldest_hour,))
    conn.execute("DELETE FROM usage_denied_origins WHERE last_seen < ?", (oldest_day,))
    # NOTE: bounds what a flood of made-up origins against one real pid can
    # store; the most recently seen survive.
    conn.execute(
        "DELETE FROM usage_denied_origins WHERE (pid, origin) IN ("
        " SELECT pid, origin FROM ("
        "  SELECT pid, origin, row_number() OVER ("
        "   PARTITION BY pid ORDER BY last_seen DESC, requests DESC) AS rank"
        "  FROM usage_denied_origins) AS ranked WHERE rank > ?)",
        (MAX_STORED_ORIGINS_PER_PROJECT,))


# -- reading: the API the CLI and the dashboard use -----------------------


@dataclass(frozen=True)
class UsageCounts:
    """The counts of one period (a day ``YYYY-MM-DD`` or an hour ``YYYY-MM-DDTHH``)."""

    period: str
    served: int = 0
    denied: int = 0
    rate_limited: int = 0
    bad_request: int = 0
    unknown_project: int = 0

    @property
    def total(self) -> int:
        """Every request counted in the period."""
        return self.served + self.denied + self.rate_limited + self.bad_request + self.unknown_project

    def as_dict(self) -> dict:
        """The counts as a plain dict (for JSON), ``total`` included."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values["total"] = self.total
        return values


@dataclass(frozen=True)
class DeniedOrigin:
    """A website refused for a project: how often, first and last seen (UTC)."""

    pid: str
    origin: str
    requests: int
    first_seen: str
    last_seen: str


def _pid_filter(pid):
    """SQL condition and parameters: ``None`` sums every pid; otherwise one pid."""
    if pid is None:
        return "TRUE", ()
    return "pid = ?", (pid,)


def daily(conn: Connection, pid=None, days: int = 30, now=None) -> list:
    """Per-day counts for the last ``days`` UTC days, today last, zero-filled.

    Args:
        conn: a store connection (:func:`visitorapi.state.db.connect`).
        pid: one project, :data:`SERVICE` for the whole-service row, or
            ``None`` for the sum over everything.
        days: how many days, ending today.
        now: the current time (seconds since the epoch); defaults to now.

    Returns:
        A list of :class:`UsageCounts`, one per day, oldest first.
    """
    today = int((time.time() if now is None else now) // 86400)
    periods = [_day((today - back) * 24) for back in range(days - 1, -1, -1)]
    return _series(conn, "usage_daily", "day", periods, pid)


def hourly(conn: Connection, pid=None, hours: int = HOURLY_KEEP_HOURS, now=None) -> list:
    """Per-hour counts for the last ``hours`` UTC hours (at most 48 are kept), zero-filled.

    Same arguments as :func:`daily`; periods are ``YYYY-MM-DDTHH``.
    """
    this_hour = int((time.time() if now is None else now) // 3600)
    periods = [_hour(this_hour - back) for back in range(hours - 1, -1, -1)]
    return _series(conn, "usage_hourly", "hour", periods, pid)


def _series(conn, table, key_column, periods, pid):
    if not periods:
        return []
    condition, params = _pid_filter(pid)
    sums = ", ".join(f"sum({c})" for c in OUTCOMES)
    found = {row[0]: row[1:] for row in conn.execute(
        f"SELECT {key_column}, {sums} FROM {table} "
        f"WHERE {key_column} BETWEEN ? AND ? AND {condition} GROUP BY {key_column}",
        (periods[0], periods[-1], *params))}
    return [UsageCounts(period, *found.get(period, (0,) * len(OUTCOMES))) for period in periods]


def totals_by_project(conn: Connection, days: int = 30, now=None) -> dict:
    """``{pid: UsageCounts}`` summed over the last ``days`` days (period = first day)."""
    today = int((time.time() if now is None else now) // 86400)
    first = _day((today - days + 1) * 24)
    sums = ", ".join(f"sum({c})" for c in OUTCOMES)
    return {row[0]: UsageCounts(first, *row[1:]) for row in conn.execute(
        f"SELECT pid, {sums} FROM usage_daily WHERE day >= ? GROUP BY pid ORDER BY pid", (first,))}


def countries(conn: Connection, pid=None, days: int = 30, now=None) -> list:
    """``[(country_code, requests)]`` served in the last ``days`` days, most first."""
    today = int((time.time() if now is None else now) // 86400)
    condition, params = _pid_filter(pid)
    return [tuple(row) for row in conn.execute(
        f"SELECT country_code, sum(requests) AS n FROM usage_countries "
        f"WHERE day >= ? AND {condition} GROUP BY country_code ORDER BY n DESC, country_code",
        (_day((today - days + 1) * 24), *params))]


def top_denied_origins(conn: Connection, pid=None, limit: int = 20) -> list:
    """The most-refused origins (for one project, or all), as :class:`DeniedOrigin`, most first."""
    condition, params = _pid_filter(pid)
    return [DeniedOrigin(*row) for row in conn.execute(
        f"SELECT pid, origin, requests, first_seen, last_seen FROM usage_denied_origins "
        f"WHERE {condition} ORDER BY requests DESC, last_seen DESC, origin LIMIT ?",
        (*params, limit))]
