"""Counting each request on its way out: usage aggregates and metrics, one call.

The WSGI app calls :meth:`Accounting.count` once per request, where the
request's outcome is known. That feeds :class:`~visitorapi.state.usage.UsageRecorder`
(what operators review per project) and
:class:`~visitorapi.web.metrics_share.SharedMetrics` (what Prometheus
scrapes). Both only touch memory on the request path; their background
threads write the store and the run directory.

Usage outcome of an ``/api`` request, from its status:

======  =========================================  =========================
status  project known                              project unknown/disabled
======  =========================================  =========================
2xx     served (with its country)                  (cannot happen)
403     denied (with the refused origin)           unknown_project
429     rate_limited                               rate_limited (service)
400     bad_request                                bad_request (service)
======  =========================================  =========================

Other routes and statuses (404, 405, 503, 308, CORS preflights) count in the
metrics only.

gunicorn: the shipped config calls :func:`on_starting`, :func:`on_exit` in
the master and :func:`worker_exit` in each worker, so a graceful stop
(SIGTERM, SIGINT, SIGQUIT, or a HUP that replaces the workers) writes what is
pending before the worker goes.
"""
import logging
import os
import threading

from visitorapi import refresh
from visitorapi.state import usage as usage_store
from visitorapi.state.usage import SERVICE, UsageRecorder
from visitorapi.web import metrics, metrics_share
from visitorapi.web.metrics_share import SharedMetrics

log = logging.getLogger(__name__)

API_ROUTE = "/api"  # route names are the paths (see visitorapi.web.app), "unknown" for 404s


# (status, project known) -> usage outcome, for the /api route (see the table above).
_API_OUTCOMES = {
    (200, True): "served",
    (403, True): "denied",
    (403, False): "unknown_project",
    (429, True): "rate_limited",
    (429, False): "rate_limited",
    (400, True): "bad_request",
    (400, False): "bad_request",
}


def usage_outcome(route: str, status: int, project_known: bool):
    """The usage outcome (see the module table), or None when usage does not count it."""
    if route != API_ROUTE:
        return None
    return _API_OUTCOMES.get((status, project_known))


class Accounting:
    """One process's counting: usage aggregates plus shared metrics.

    Args:
        state_path: the SQLite store (None: ``VISITORAPI_STATE`` / default).
        flush_interval: usage write interval (the crash window).
        retention_days: usage retention.
        metrics_interval: how often this worker publishes its metrics.
        metrics_dir: the service's metrics directory (None: from the environment).
    """

    def __init__(self, state_path=None, *, flush_interval=usage_store.DEFAULT_FLUSH_INTERVAL,
                 retention_days=usage_store.DEFAULT_RETENTION_DAYS,
                 metrics_interval=metrics_share.DEFAULT_INTERVAL, metrics_dir=None):
        self.usage = UsageRecorder(state_path, flush_interval=flush_interval,
                                   retention_days=retention_days)
        self.metrics = SharedMetrics(metrics_dir, interval=metrics_interval)
        self.metrics.extra_snapshot = lambda: {"usage_flush_failures": self.usage.flush_failures,
                                               "usage_dropped": self.usage.dropped}
        self._observe = self.metrics.observe
        self._record = self.usage.record
        self.live_database = None
        self.age_watch = None

    def count(self, route: str, status: int, seconds: float, *, pid=None, country=None,
              denied_origin=None):
        """Count one finished request. Never raises for I/O; never blocks on the store.

        Args:
            route: the route's fixed name (``"/api"``, ``"/healthz"``, ...; ``"other"``
                for unknown paths), never the raw path.
            status: the HTTP status sent.
            seconds: time from the request's arrival to its response.
            pid: the pid of a known, enabled project; None otherwise (an unknown
                pid must never be passed: it is a stranger's string).
            country: for a served request, the country code found ("" if none).
            denied_origin: for a 403 on a known project, the refused origin.
        """
        # PERF: positional calls and one table lookup; ~1.5 µs in all (tools/bench_counting.py).
        self._observe(route, status, seconds, pid or "")
        if route == API_ROUTE:
            outcome = _API_OUTCOMES.get((status, pid is not None))
            if outcome is not None:
                if outcome == "served":
                    self._record(outcome, pid, country)
                elif outcome == "denied":
                    self._record(outcome, pid, None, denied_origin)
                else:
                    self._record(outcome, pid if pid is not None and outcome != "unknown_project"
                                 else SERVICE)

    def observe(self, response):
        """The app's observer (``VisitorAPI(observers=[...])``): count a finished response.

        Reads the outcome facts :class:`visitorapi.web.app.Response` carries.
        """
        self.count(response.route, response.status, response.seconds, pid=response.pid,
                   country=response.country, denied_origin=response.denied_origin)
        if self.age_watch is not None:
            self.age_watch.check(self.live_database.database, self.live_database.path)

    def watch_database(self, live_database, max_age_days):
        """Warn in the log when ``live_database`` serves a file older than ``max_age_days``."""
        self.live_database = live_database
        self.age_watch = refresh.AgeWatch(max_age_days)

    def metrics_text(self, database=None, now=None) -> str:
        """The ``/metrics`` body, summed over every worker of the service.

        Args:
            database: the IP database this worker serves from (None: none loaded).
        """
        total, exits = self.metrics.collect()
        return metrics.render(total, database_loaded=database is not None,
                              database_built=refresh.build_time(database),
                              service_started=self.metrics.started(), restarts=exits, now=now)

    @classmethod
    def from_settings(cls, settings) -> "Accounting":
        """The Accounting ``VISITORAPI_*`` settings describe (:mod:`visitorapi.config`)."""
        return cls(settings.state_path, flush_interval=settings.usage_flush_seconds,
                   retention_days=settings.usage_retention_days,
                   metrics_interval=settings.metrics_interval)

    def close(self):
        """A graceful stop: write pending usage and retire this worker's metrics."""
        self.usage.close()
        self.metrics.close()


# -- one instance per process, and the gunicorn hooks -------------------------

_current = None
_current_lock = threading.Lock()


def current(factory=None) -> Accounting:
    """This process's :class:`Accounting`, made on first use by ``factory()`` (default settings)."""
    global _current
    if _current is None:
        with _current_lock:
            if _current is None:
                _current = (factory or Accounting)()
    return _current


def on_starting(server=None):
    """gunicorn master hook: a fresh metrics directory for this service instance."""
    metrics_share.create_service_dir()


def worker_exit(server=None, worker=None):
    """gunicorn worker hook (also fine to call at any exit): write what is pending."""
    if _current is not None:
        try:
            _current.close()
        except Exception:  # NOTE: an exit hook must not mask the exit itself
            log.exception("final usage/metrics write failed", extra={"event": "accounting.close_failed"})


def on_exit(server=None):
    """gunicorn master hook: remove the metrics directory."""
    metrics_share.remove_service_dir()
