"""What counting costs a request: µs per Accounting.count() against named peers.

Run: ``python tools/bench_counting.py`` (one process, a throwaway store and
metrics directory). Measures, per counted request:

- ``visitorapi Accounting.count``: usage aggregates + metrics, in memory
  (what the app pays; writes happen in background threads), for a served
  request (with country) and a denied one (with origin);
- the writer threads' share: folding those events into aggregates, per
  request (runs off the request path, but on the same CPU);
- the same with the background writers running (usage flush and metrics
  publish every 0.05 s instead of 5 s / 2 s, to show their interference);
- peer ``prometheus_client`` (if installed; benchmark-only): a labelled
  Counter ``inc()`` plus a Histogram ``observe()``, i.e. metrics alone;
- peer "synchronous SQLite": one upsert transaction per request, the naive
  way to keep usage counts, which buffering avoids.

Prints a table of µs per request and ratios against our number.
"""
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from visitorapi.state import db  # noqa: E402
from visitorapi.web import accounting  # noqa: E402

N = 200_000


def per_call(function, n=N):
    """Best of 3 runs, µs per call."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        function(n)
        best = min(best, (time.perf_counter() - started) / n * 1e6)
    return best


def ours(folder, interval_usage, interval_metrics):
    db.connect(folder / "state.sqlite3", create=True).close()
    counting = accounting.Accounting(folder / "state.sqlite3", flush_interval=interval_usage,
                                     metrics_interval=interval_metrics, metrics_dir=folder / "m")
    (folder / "m").mkdir(exist_ok=True)
    pids = [f"project{i:02d}" for i in range(20)]
    countries = ["DE", "US", "FR", "GB", "JP", "BR", "IN", ""]

    def served(n):
        count = counting.count
        for i in range(n):
            count("/api", 200, 0.00002, pid=pids[i % 20], country=countries[i % 8])

    def denied(n):
        count = counting.count
        for i in range(n):
            count("/api", 403, 0.00001, pid=pids[i % 20], denied_origin="https://evil.test")

    return counting, served, denied


def aggregation(counting, served, n=N):
    """µs per request that the writer threads spend folding events (best of 3)."""
    best = float("inf")
    for _ in range(3):
        served(n)
        started = time.perf_counter()
        with counting.usage._flush_lock:
            counting.usage._drain()
        with counting.metrics.counters._lock:
            counting.metrics.counters._drain()
        best = min(best, (time.perf_counter() - started) / n * 1e6)
    return best


def empty_loop(n):
    def count(*args, **kwargs):
        pass
    for i in range(n):
        count("/api", 200, 0.00002, pid="project01", country="DE")


def prometheus_peer():
    try:
        import prometheus_client
    except ImportError:
        return None
    registry = prometheus_client.CollectorRegistry()
    requests = prometheus_client.Counter("requests", "r", ["route", "status", "project"], registry=registry)
    latency = prometheus_client.Histogram("latency", "l", ["route"], registry=registry)
    pids = [f"project{i:02d}" for i in range(20)]

    def run(n):
        for i in range(n):
            requests.labels("/api", "200", pids[i % 20]).inc()
            latency.labels("/api").observe(0.00002)
    return run


def sqlite_peer(folder):
    conn = db.connect(folder / "sync.sqlite3", create=True)

    def run(n):
        for i in range(n):
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO usage_daily (day, pid, served) VALUES ('2024-01-01', ?, 1) "
                         "ON CONFLICT (day, pid) DO UPDATE SET served = served + 1", (f"p{i % 20}",))
            conn.execute("COMMIT")
    return run


def main():
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        rows = []
        empty = per_call(empty_loop)
        rows.append(("loop + call of an empty function (floor)", empty))
        counting, served, denied = ours(folder, 3600, 3600)
        counting.usage._thread = counting.metrics._thread = "off"  # NOTE: measure the call alone
        ours_served = per_call(served)
        rows.append(("visitorapi count(), served + country", ours_served))
        rows.append(("visitorapi count(), denied + origin", per_call(denied)))
        rows.append(("visitorapi background aggregation, per request", aggregation(counting, served)))
        (folder / "busy").mkdir()
        busy, served_busy, _ = ours(folder / "busy", 0.05, 0.05)
        rows.append(("visitorapi count(), writers every 0.05 s", per_call(served_busy)))
        busy.close()
        peer = prometheus_peer()
        if peer is not None:
            rows.append(("peer prometheus_client Counter+Histogram", per_call(peer)))
        rows.append(("peer synchronous SQLite upsert per request", per_call(sqlite_peer(folder), 5_000)))
        print(f"{'per counted request':48} {'µs':>8} {'× ours':>8}")
        for name, micros in rows:
            print(f"{name:48} {micros:8.3f} {micros / ours_served:8.2f}")
        print(f"\nours minus the empty-call floor: {ours_served - empty:.3f} µs per request "
              f"(python {sys.version.split()[0]}, pid {os.getpid()})")


if __name__ == "__main__":
    main()
