"""Prometheus metrics: this worker's counters and the text exposition.

Counts only: requests by route, status and project; request latency as a
histogram per route; rate-limit hits per project. A project label is only
ever a pid the store knows (the caller passes ``""`` otherwise), so strangers
cannot mint label values. The figures are per worker here;
:mod:`visitorapi.web.metrics_share` sums them across gunicorn workers.

The exposition follows the Prometheus text format 0.0.4
(https://prometheus.io/docs/instrumenting/exposition_formats/): ``# HELP``
and ``# TYPE`` once per family, label values escaped (backslash, double
quote, newline), histogram buckets cumulative with a final ``le="+Inf"``
equal to ``_count``.
"""
import bisect
import collections
import hmac
import ipaddress
import math
import os
import platform
import resource
import threading
import time

# Latency bucket upper bounds in seconds: the in-process path takes tens of
# microseconds, a loaded worker milliseconds.
LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                   0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_END = object()  # marks where a drain stops


class Counters:
    """One process's request counters. Thread-safe; cheap to update.

    The snapshot is a plain JSON-able dict, the unit that workers publish
    and that :func:`merge` adds up.
    """

    def __init__(self):
        self._events = collections.deque()  # (route, status, project, bucket), not yet aggregated
        self._durations = {}                # route -> deque of seconds, not yet summed
        self._lock = threading.Lock()       # guards the aggregates below
        self.requests = {}      # (route, status, project) -> n
        self.latency = {}       # route -> [n per bucket..., n above the last, sum of seconds]
        self.rate_limited = {}  # project -> n
        self.started = time.time()

    def observe(self, route: str, status: int, seconds: float, project: str = ""):
        """Count one finished request.

        Args:
            route: the matched route's name (a fixed set, never the raw path).
            status: the HTTP status sent.
            seconds: time from the request's arrival to its response.
            project: a known project's pid, or "".
        """
        # PERF: deque appends are atomic under the GIL, so no lock; the
        # aggregation runs in C when a snapshot drains (tools/bench_counting.py).
        self._events.append((route, status, project, bisect.bisect_left(LATENCY_BUCKETS, seconds)))
        durations = self._durations.get(route)
        if durations is None:
            durations = self._durations.setdefault(route, collections.deque())
        durations.append(seconds)

    def _drain(self):
        """Fold observed events into the aggregates (caller holds ``_lock``).

        The end marker bounds the drain without blocking observers; see
        :meth:`visitorapi.state.usage.UsageRecorder._drain`.
        """
        requests, latency = self.requests, self.latency
        self._events.append(_END)
        for (route, status, project, slot), n in collections.Counter(
                iter(self._events.popleft, _END)).items():
            key = (route, status, project)
            requests[key] = requests.get(key, 0) + n
            histogram = latency.get(route)
            if histogram is None:
                histogram = latency[route] = [0] * (len(LATENCY_BUCKETS) + 1) + [0.0]
            histogram[slot] += n
            if status == 429:
                self.rate_limited[project] = self.rate_limited.get(project, 0) + n
        for route, durations in list(self._durations.items()):
            durations.append(_END)
            # NOTE: a route's first duration can be drained before its count
            # (or the reverse) when a request is mid-observe; both land by the
            # next snapshot.
            seconds = math.fsum(iter(durations.popleft, _END))
            if seconds:
                histogram = latency.get(route)
                if histogram is None:
                    histogram = latency[route] = [0] * (len(LATENCY_BUCKETS) + 1) + [0.0]
                histogram[-1] += seconds

    def counted(self) -> bool:
        """True once anything was observed."""
        return bool(self._events or self.requests)

    def snapshot(self) -> dict:
        """This process's counters so far, with its process facts."""
        with self._lock:
            self._drain()
            requests = [[route, status, project, n]
                        for (route, status, project), n in self.requests.items()]
            latency = {route: list(histogram) for route, histogram in self.latency.items()}
            rate_limited = dict(self.rate_limited)
        return {"requests": requests, "latency": latency, "rate_limited": rate_limited,
                "process": process_facts(), "started": self.started}


def process_facts() -> dict:
    """CPU seconds, resident memory and open descriptors of this process (Linux /proc, else best effort)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    facts = {"cpu_seconds": usage.ru_utime + usage.ru_stime, "open_fds": 0,
             "max_fds": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
             "resident_bytes": usage.ru_maxrss * 1024}
    try:
        with open("/proc/self/statm", "rb") as statm:
            facts["resident_bytes"] = int(statm.read().split()[1]) * resource.getpagesize()
        facts["open_fds"] = len(os.listdir("/proc/self/fd"))
    except OSError:
        pass
    return facts


def empty_total() -> dict:
    """The neutral element of :func:`merge`."""
    return {"requests": {}, "latency": {}, "rate_limited": {}, "cpu_seconds": 0.0,
            "resident_bytes": 0, "open_fds": 0, "workers": 0, "usage_flush_failures": 0,
            "usage_dropped": 0}


def merge(total: dict, snapshot: dict, live: bool = True) -> dict:
    """Add one worker's snapshot into ``total`` (in place) and return it.

    Counters always add up; gauges (memory, descriptors, worker count) only
    for a ``live`` worker, since a dead worker holds no memory.
    """
    requests = total["requests"]
    for route, status, project, n in snapshot.get("requests", ()):
        key = (route, int(status), project)
        requests[key] = requests.get(key, 0) + n
    for route, histogram in snapshot.get("latency", {}).items():
        into = total["latency"].setdefault(route, [0] * len(histogram))
        for i, value in enumerate(histogram):
            into[i] += value
    for project, n in snapshot.get("rate_limited", {}).items():
        total["rate_limited"][project] = total["rate_limited"].get(project, 0) + n
    total["usage_flush_failures"] += snapshot.get("usage_flush_failures", 0)
    total["usage_dropped"] += snapshot.get("usage_dropped", 0)
    facts = snapshot.get("process", {})
    total["cpu_seconds"] += facts.get("cpu_seconds", 0.0)
    if live:
        total["resident_bytes"] += facts.get("resident_bytes", 0)
        total["open_fds"] += facts.get("open_fds", 0)
        total["workers"] += 1
    return total


# -- exposition ------------------------------------------------------------


def escape_label(value) -> str:
    """A label value escaped per the text format: backslash, double quote, newline."""
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def format_value(value) -> str:
    """A sample value as Go's ParseFloat reads it (``+Inf``, ``NaN``, integers without ``.0``)."""
    if isinstance(value, bool):
        value = int(value)
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def _labels(pairs) -> str:
    if not pairs:
        return ""
    return "{" + ",".join(f'{name}="{escape_label(value)}"' for name, value in pairs) + "}"


class Exposition:
    """Builds the text: one ``family()`` call per metric, then ``sample()`` lines."""

    def __init__(self):
        self._lines = []

    def family(self, name: str, kind: str, help_text: str):
        """Start a metric family (``kind``: counter, gauge, histogram, untyped)."""
        help_text = help_text.replace("\\", "\\\\").replace("\n", "\\n")
        self._lines.append(f"# HELP {name} {help_text}")
        self._lines.append(f"# TYPE {name} {kind}")

    def sample(self, name: str, value, labels=()):
        """One sample line; ``labels`` is a sequence of ``(name, value)`` pairs."""
        self._lines.append(f"{name}{_labels(labels)} {format_value(value)}")

    def text(self) -> str:
        return "\n".join(self._lines) + "\n"


def render(total: dict, *, database_loaded=False, database_built=None, service_started=None,
           restarts=0, now=None) -> str:
    """The whole ``/metrics`` body for the service.

    Args:
        total: the counters summed over every worker (:func:`merge`).
        database_loaded: whether this worker has an IP database to serve from.
        database_built: its build time (seconds since the epoch), if known.
        service_started: when the counters started (the service's start).
        restarts: how many workers have exited since then.
        now: the current time (tests fix it).
    """
    from visitorapi import __version__  # NOTE: import here: keeps this module import-light

    now = time.time() if now is None else now
    out = Exposition()
    out.family("visitorapi_requests_total", "counter",
               "Requests answered, by route, HTTP status and project (empty: none or unknown).")
    for (route, status, project), n in sorted(total["requests"].items()):
        out.sample("visitorapi_requests_total", n,
                   (("route", route), ("status", status), ("project", project)))

    out.family("visitorapi_request_duration_seconds", "histogram",
               "Time from a request's arrival to its response, by route.")
    for route, histogram in sorted(total["latency"].items()):
        cumulative = 0
        for bound, n in zip(LATENCY_BUCKETS + (math.inf,), histogram):
            cumulative += n
            out.sample("visitorapi_request_duration_seconds_bucket", cumulative,
                       (("route", route), ("le", format_value(float(bound)))))
        out.sample("visitorapi_request_duration_seconds_sum", float(histogram[-1]), (("route", route),))
        out.sample("visitorapi_request_duration_seconds_count", cumulative, (("route", route),))

    out.family("visitorapi_rate_limited_total", "counter",
               "Requests refused with 429 by a rate limit, by project.")
    for project, n in sorted(total["rate_limited"].items()):
        out.sample("visitorapi_rate_limited_total", n, (("project", project),))

    out.family("visitorapi_database_loaded", "gauge",
               "1 when an IP database is loaded and serving.")
    out.sample("visitorapi_database_loaded", 1 if database_loaded else 0)
    if database_loaded and database_built is not None:
        build_time = database_built
        out.family("visitorapi_database_build_time_seconds", "gauge",
                   "When the serving IP database was compiled (Unix time).")
        out.sample("visitorapi_database_build_time_seconds", float(build_time))
        out.family("visitorapi_database_age_seconds", "gauge",
                   "Age of the serving IP database.")
        out.sample("visitorapi_database_age_seconds", max(0.0, float(now - build_time)))

    out.family("visitorapi_usage_flush_failures_total", "counter",
               "Usage-store writes that failed and were retried.")
    out.sample("visitorapi_usage_flush_failures_total", total["usage_flush_failures"])
    out.family("visitorapi_usage_dropped_total", "counter",
               "Requests not counted in usage: the store could not be written and the "
               "sums kept in memory reached their bound.")
    out.sample("visitorapi_usage_dropped_total", total["usage_dropped"])

    out.family("visitorapi_workers", "gauge", "Live worker processes that have counted requests.")
    out.sample("visitorapi_workers", total["workers"])
    out.family("visitorapi_worker_exits_total", "counter",
               "Workers that counted requests and have since exited (reloads, restarts, crashes).")
    out.sample("visitorapi_worker_exits_total", restarts)
    out.family("process_cpu_seconds_total", "counter",
               "User and system CPU time of every worker, exited ones included.")
    out.sample("process_cpu_seconds_total", float(total["cpu_seconds"]))
    out.family("process_resident_memory_bytes", "gauge",
               "Resident memory of the live workers, summed.")
    out.sample("process_resident_memory_bytes", total["resident_bytes"])
    out.family("process_open_fds", "gauge", "Open file descriptors of the live workers, summed.")
    out.sample("process_open_fds", total["open_fds"])
    out.family("process_max_fds", "gauge", "Descriptor limit of one worker.")
    out.sample("process_max_fds", resource.getrlimit(resource.RLIMIT_NOFILE)[0])
    if service_started is not None:
        out.family("process_start_time_seconds", "gauge",
                   "When the service (and its counters) started, Unix time.")
        out.sample("process_start_time_seconds", float(service_started))
    out.family("visitorapi_build_info", "gauge", "Version of visitorapi and of Python; always 1.")
    out.sample("visitorapi_build_info", 1, (("version", __version__),
                                             ("python", ".".join(map(str, os.sys.version_info[:3])))))
    return out.text()


# -- who may read /metrics --------------------------------------------------


def allowed(client_ip: str, authorization, networks, token) -> bool:
    """May this request read ``/metrics``?

    Yes when it carries ``Authorization: Bearer <token>`` matching the
    configured token (compared in constant time, RFC 6750 section 2.1), or
    when the client address is in one of ``networks``.

    Args:
        client_ip: the request's client address as the app resolved it
            (behind a trusted proxy, the proxy's client, not the proxy).
        authorization: the ``Authorization`` header, or None.
        networks: allowed networks (``Settings.metrics_allow``).
        token: the configured bearer token, or None/"" for none.
    """
    if token and authorization:
        scheme, _, credentials = authorization.strip().partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(
                credentials.strip().encode("utf-8", "surrogateescape"), token.encode("utf-8")):
            return True
    try:
        address = ipaddress.ip_address(client_ip)
    except ValueError:
        return False
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in networks)
