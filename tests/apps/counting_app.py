"""A minimal WSGI app that counts like the real one, for the cross-process counting test.

``/api?status=N&pid=P&cc=C`` answers status N and counts it through
:mod:`visitorapi.web.accounting`; ``/metrics`` answers the summed metrics.
"""
import os
import time
from urllib.parse import parse_qs

from visitorapi.config import load_settings
from visitorapi.web import accounting


def _make():
    interval = float(os.environ.get("TEST_INTERVAL", "0.2"))
    settings = load_settings()
    return accounting.Accounting(settings.state_path, flush_interval=interval,
                                 metrics_interval=interval, metrics_dir=settings.metrics_dir,
                                 run_dir=settings.run_dir)


def app(environ, start_response):
    started = time.perf_counter()
    counting = accounting.current(_make)
    if environ["PATH_INFO"] == "/metrics":
        body = counting.metrics_text().encode()
        route, status = "/metrics", 200
    else:
        query = parse_qs(environ.get("QUERY_STRING", ""))
        status = int(query["status"][0])
        pid = query.get("pid", [None])[0]
        counting.count("/api", status, time.perf_counter() - started, pid=pid,
                       country=query.get("cc", [None])[0],
                       denied_origin=environ.get("HTTP_ORIGIN"))
        body = b"ok"
        route = None
    start_response(f"{status} X", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    if route:
        counting.count(route, status, time.perf_counter() - started)
    return [body]
