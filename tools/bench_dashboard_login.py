"""Time ``GET /dashboard/login`` with an empty store and at the anonymous-session cap.

Each view of the login form starts an anonymous session, and anyone can
make them, so their cost at the cap (``sessions.MAX_ANONYMOUS``) must be
what it is with none. Runs the dashboard in-process on a temporary SQLite
store, or on an empty PostgreSQL database given with ``--state``.

    PYTHONPATH=. python3 tools/bench_dashboard_login.py [--requests N] [--state URL]
"""
import argparse
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path


def _get_login(app) -> float:
    """One GET /dashboard/login, as a browser without a cookie sends it; seconds taken."""
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/dashboard/login", "QUERY_STRING": "",
               "SERVER_NAME": "dash.test", "SERVER_PORT": "443", "SERVER_PROTOCOL": "HTTP/1.1",
               "HTTP_HOST": "dash.test", "REMOTE_ADDR": "192.0.2.1", "wsgi.url_scheme": "https",
               "wsgi.input": io.BytesIO(), "wsgi.errors": sys.stderr}
    started = time.perf_counter()
    b"".join(app(environ, lambda status, headers, exc_info=None: None))
    return time.perf_counter() - started


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200, help="requests per measurement")
    parser.add_argument("--state", help="an empty postgresql:// database to use instead of "
                                        "a temporary SQLite file")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        empty, full, count = _measure(args.state or Path(folder) / "state.sqlite3", args.requests)
    print(f"GET /dashboard/login, median of {args.requests}: {empty * 1000:.2f} ms with "
          f"{args.requests} sessions or fewer, {full * 1000:.2f} ms with {count} anonymous sessions")
    return 0


def _measure(location, requests):
    """Median seconds per login page view with no sessions and at the cap; sessions at the end."""
    from visitorapi.dashboard import DashboardApp
    from visitorapi.state import db, sessions
    conn = db.connect(location, create=True)    # NOTE: the dashboard never creates a store
    try:
        app = DashboardApp(location)
        empty = statistics.median(_get_login(app) for _ in range(requests))
        now = time.time()
        for i in range(sessions.MAX_ANONYMOUS + 50):
            sessions.create(conn, now + i / 1e6)
        full = statistics.median(_get_login(app) for _ in range(requests))
        return empty, full, conn.execute("SELECT count(*) FROM sessions").fetchone()[0]
    finally:
        conn.close()


if __name__ == "__main__":
    sys.exit(main())
