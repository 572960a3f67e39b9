"""Time ``GET /dashboard/login`` with an empty store and at the anonymous-session cap.

Each view of the login form starts an anonymous session, and anyone can
make them, so their cost at the cap (``sessions.MAX_ANONYMOUS``) must be
what it is with none. Runs the dashboard in-process on a temporary store.

    PYTHONPATH=. python3 tools/bench_dashboard_login.py [--requests N]
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
    args = parser.parse_args(argv)
    from visitorapi.dashboard import DashboardApp
    from visitorapi.state import db, sessions
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "state.sqlite3"
        app = DashboardApp(path)
        conn = db.connect(path)
        empty = statistics.median(_get_login(app) for _ in range(args.requests))
        now = time.time()
        for i in range(sessions.MAX_ANONYMOUS + 50):
            sessions.create(conn, now + i / 1e6)
        full = statistics.median(_get_login(app) for _ in range(args.requests))
        count = conn.execute("SELECT count(*) FROM sessions").fetchone()[0]
        conn.close()
    print(f"GET /dashboard/login, median of {args.requests}: {empty * 1000:.2f} ms with "
          f"{args.requests} sessions or fewer, {full * 1000:.2f} ms with {count} anonymous sessions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
