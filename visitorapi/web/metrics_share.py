"""Summing metrics across gunicorn workers through a private run directory.

Each worker is a separate process with its own counters, and any one of
them may answer ``/metrics``. So that the answer covers the whole service:

1. **Publish.** Every worker writes its cumulative snapshot
   (:meth:`visitorapi.web.metrics.Counters.snapshot`) to
   ``<dir>/worker-<token>.json`` by temp file and ``os.replace``: every
   ``interval`` seconds from a background thread, when it answers
   ``/metrics`` (before reading the others) and when it stops gracefully.
   ``token`` is unique per worker process (pid + random), never reused.
2. **Liveness by lock.** For its whole life a worker holds an exclusive
   ``flock`` on ``<dir>/worker-<token>.lock``. The kernel drops the lock when
   the process dies, however it dies (SIGKILL, OOM), so "can I take this
   lock?" means "is this worker gone?", with no pid reuse to fool it. The
   lock file is created under a temporary name, locked, then renamed into
   place, so a reader never sees an unlocked file of a live worker.
3. **Collect.** ``/metrics`` takes ``<dir>/retired.lock``, sums every live
   worker's last snapshot, and folds each dead worker's last snapshot into
   ``<dir>/retired.json`` (cumulative counts of exited workers), recording its
   token there first and deleting its files after; a token already recorded
   is never added twice, so a collector that dies mid-way cannot double
   count.

Why counters never go backwards: everything summed was published first, a
published snapshot only grows, and a dead worker's last snapshot moves into
``retired.json`` rather than vanishing. What a worker counted after its last
publish and before a crash is lost (at most ``interval`` seconds of its
requests), like the usage store's crash window. A graceful stop
(gunicorn's ``worker_exit``) publishes and retires the worker at once.
Figures of other workers are at most ``interval`` seconds old.

The directory is made fresh by the gunicorn master when it starts
(:func:`create_service_dir`, from the ``on_starting`` hook) and handed to the
workers in ``VISITORAPI_METRICS_DIR``; a new master starts from zero, which
Prometheus reads as a counter reset. A process not run by that master
(wsgiref, tests) gets a private directory of its own. The directory is
``0700``: it holds counts only, but nobody else needs it.
"""
import atexit
import errno
import fcntl
import json
import logging
import os
import secrets
import shutil
import tempfile
import threading
import time
from pathlib import Path

from visitorapi import forks
from visitorapi.web import metrics

log = logging.getLogger(__name__)

ENV_DIR = "VISITORAPI_METRICS_DIR"
DEFAULT_INTERVAL = 2.0
_RETIRED = "retired.json"
_RETIRED_LOCK = "retired.lock"
_STARTED = "started"
_MAX_FOLDED_TOKENS = 10_000


def run_base() -> Path:
    """``$VISITORAPI_RUN_DIR``, else ``$XDG_RUNTIME_DIR/visitorapi``, else the temp dir."""
    configured = os.environ.get("VISITORAPI_RUN_DIR")
    if configured:
        return Path(configured)
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return Path(runtime) / "visitorapi"
    return Path(tempfile.gettempdir())


def create_service_dir(base=None) -> Path:
    """Make a fresh private metrics directory for one service instance and export it.

    Called in the gunicorn master before workers fork; sets
    :data:`ENV_DIR` so the workers find it.
    """
    path = _new_dir(base)
    os.environ[ENV_DIR] = str(path)
    return path


def _new_dir(base=None) -> Path:
    """A new private directory under ``base`` with a ``started`` time stamp."""
    base = Path(base) if base is not None else run_base()
    base.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = Path(tempfile.mkdtemp(prefix="visitorapi-metrics-", dir=base))
    (path / _STARTED).write_text(repr(time.time()), encoding="utf-8")
    return path


def remove_service_dir(path=None):
    """Delete a directory made by :func:`create_service_dir` (the master's ``on_exit``)."""
    path = path or os.environ.get(ENV_DIR)
    if path:
        shutil.rmtree(path, ignore_errors=True)


def _write_json(path: Path, value):
    fd, temp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(value, out, separators=(",", ":"))
        os.replace(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise


def _read_json(path: Path):
    try:
        with open(path, encoding="utf-8") as source:
            return json.load(source)
    except FileNotFoundError:
        return None
    except (ValueError, OSError) as exc:
        log.warning("unreadable metrics file %s ignored: %s", path, exc,
                    extra={"event": "metrics.unreadable"})
        return None


class SharedMetrics:
    """This worker's :class:`~visitorapi.web.metrics.Counters`, published for its siblings.

    Args:
        directory: the service's metrics directory; default ``$VISITORAPI_METRICS_DIR``,
            else a private one for this process.
        interval: seconds between background publishes.
    """

    def __init__(self, directory=None, *, interval=DEFAULT_INTERVAL):
        self.counters = metrics.Counters()
        self.interval = interval
        self._directory = Path(directory) if directory else None
        self._private = False  # True when this process made (and so removes) the directory
        self._lock = threading.Lock()
        self._directory_lock = threading.Lock()
        self._token = None
        self._lock_fd = None
        self._thread = None
        self._stop = threading.Event()
        self._atexit_registered = False
        self.extra_snapshot = dict  # NOTE: callers add their own facts (usage failures)
        forks.reset_in_children(self)

    def observe(self, route, status, seconds, project=""):
        """Count one request (see :meth:`Counters.observe`); starts publishing on first use."""
        self.counters.observe(route, status, seconds, project)
        if self._thread is None:
            self.start()

    # -- the worker's side ---------------------------------------------------

    @property
    def directory(self) -> Path:
        # NOTE: the publishing thread and a request thread may both get here
        # first; without the lock each would make a private directory and one
        # would be left behind.
        with self._directory_lock:
            if self._directory is None:
                configured = os.environ.get(ENV_DIR)
                if configured:
                    self._directory = Path(configured)
                else:  # not under the shipped gunicorn config: this process's own directory
                    self._directory, self._private = _new_dir(), True
            return self._directory

    def started(self):
        """When the service's counters started (Unix time), or None if unknown."""
        try:
            return float((self.directory / _STARTED).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def _register(self):
        """Create and lock this worker's lock file (once per process)."""
        if self._token is not None:
            return
        directory = self.directory
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        token = f"{os.getpid()}-{secrets.token_hex(6)}"
        temp = directory / f".tmp-{token}.lock"
        fd = os.open(temp, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.replace(temp, directory / f"worker-{token}.lock")
        self._token, self._lock_fd = token, fd

    def start(self):
        """Start the background publisher (idempotent)."""
        with self._lock:
            if self._thread is not None:
                return
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="visitorapi-metrics", daemon=True)
            self._thread.start()
            if not self._atexit_registered:
                atexit.register(self.close)  # NOTE: gunicorn's worker_exit is the main path
                self._atexit_registered = True

    def _run(self):
        while True:
            self.publish()
            if self._stop.wait(self.interval):
                return

    def snapshot(self) -> dict:
        snapshot = self.counters.snapshot()
        snapshot.update(self.extra_snapshot())
        return snapshot

    def publish(self) -> bool:
        """Write this worker's snapshot; False (logged) when the directory is unusable."""
        try:
            with self._lock:
                self._register()
                _write_json(self.directory / f"worker-{self._token}.json", self.snapshot())
            return True
        except OSError as exc:
            log.warning("metrics snapshot not written: %s", exc, extra={"event": "metrics.publish_failed"})
            return False

    def close(self, timeout: float = 5.0):
        """A graceful stop: publish the final snapshot and fold it into the retired totals.

        Afterwards this object starts from zero (what it counted now lives in
        the retired totals), so a second ``close`` (worker_exit, then atexit)
        or a later request never counts anything twice.
        """
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        self._thread = None
        if self._token is None and not self.counters.counted():
            return
        if not self.publish():
            return
        try:
            with _Locked(self.directory / _RETIRED_LOCK):
                self._retire(self._token)
        except OSError as exc:
            log.warning("metrics of this worker not retired: %s", exc,
                        extra={"event": "metrics.retire_failed"})
        with self._lock:
            if self._lock_fd is not None:
                os.close(self._lock_fd)  # a collector folds the file if _retire failed
            self._token = self._lock_fd = None
            self.counters = metrics.Counters()
        if self._private:
            shutil.rmtree(self._directory, ignore_errors=True)
            self._directory, self._private = None, False

    def _after_fork(self):
        self.counters = metrics.Counters()
        if self._private:  # NOTE: the parent's own directory stays the parent's
            self._directory, self._private = None, False
        self._lock = threading.Lock()
        self._directory_lock = threading.Lock()
        self._token = self._lock_fd = None  # NOTE: the parent's lock fd stays the parent's
        self._thread = None
        self._stop = threading.Event()

    # -- the collector's side -------------------------------------------------

    def collect(self) -> dict:
        """Publish this worker, then sum every worker of the service.

        Returns:
            ``(total, exits)``: ``total`` as :func:`metrics.merge` builds
            it, over live and exited workers; ``exits`` is the number of
            workers that have exited since the directory was made.
        """
        self.publish()
        directory = self.directory
        with _Locked(directory / _RETIRED_LOCK):
            for token in self._tokens():
                if token != self._token and not _is_alive(directory / f"worker-{token}.lock"):
                    self._retire(token)
            retired = _read_json(directory / _RETIRED) or {}
            total = metrics.merge(metrics.empty_total(), retired.get("snapshot", {}), live=False)
            for token in self._tokens():
                snapshot = _read_json(directory / f"worker-{token}.json")
                if snapshot is not None:
                    metrics.merge(total, snapshot, live=True)
        return total, retired.get("exits", 0)

    def _tokens(self):
        tokens = set()
        for path in self.directory.iterdir():
            name = path.name
            if name.startswith("worker-") and name.endswith((".lock", ".json")):
                tokens.add(name[len("worker-"):name.rindex(".")])
        return sorted(tokens)

    def _retire(self, token):
        """Fold a finished worker's last snapshot into retired.json (caller holds retired.lock)."""
        directory = self.directory
        retired_path = directory / _RETIRED
        retired = _read_json(retired_path) or {"exits": 0, "folded": [], "snapshot": {}}
        data_path = directory / f"worker-{token}.json"
        snapshot = _read_json(data_path)
        if token not in retired["folded"]:
            if snapshot is not None:
                retired["snapshot"] = _fold(retired["snapshot"], snapshot)
            retired["exits"] += 1
            retired["folded"].append(token)
            # NOTE: only tokens whose files may still exist matter for dedup.
            retired["folded"] = [t for t in retired["folded"]
                                 if t == token or (directory / f"worker-{t}.json").exists()
                                 or (directory / f"worker-{t}.lock").exists()][-_MAX_FOLDED_TOKENS:]
            _write_json(retired_path, retired)
        for path in (data_path, directory / f"worker-{token}.lock"):
            try:
                path.unlink()
            except FileNotFoundError:
                pass


def _fold(into: dict, snapshot: dict) -> dict:
    """Add one snapshot's counters to a retired snapshot (both JSON shapes)."""
    total = metrics.merge(metrics.merge(metrics.empty_total(), into, live=False), snapshot, live=False)
    folded = {
        "requests": [[route, status, project, n] for (route, status, project), n in total["requests"].items()],
        "latency": total["latency"],
        "rate_limited": total["rate_limited"],
        "process": {"cpu_seconds": total["cpu_seconds"]},
        "usage_flush_failures": total["usage_flush_failures"],
        "usage_dropped": total["usage_dropped"],
    }
    return folded


def _is_alive(lock_path: Path) -> bool:
    """True while the worker owning ``lock_path`` holds its lock."""
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            return True
        raise
    finally:
        os.close(fd)
    return False


class _Locked:
    """``with _Locked(path):`` holds an exclusive flock on ``path``."""

    def __init__(self, path: Path):
        self.path = path

    def __enter__(self):
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        os.close(self.fd)
