"""Real servers for tests: a compiled fixture database, projects, and `visitorapi serve`.

Servers bind 127.0.0.1 on free ports and are always stopped (SIGTERM, then
SIGKILL of the whole process group).
"""
import contextlib
import http.client
import http.server
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

from visitorapi.web.pages import snippet

ROOT = Path(__file__).resolve().parents[2]  # the repository

# Readable source for the fixture database (ip-location-db "city" layout).
FIXTURE_CSV = """\
192.0.2.0,192.0.2.255,DE,Berlin,,Berlin,,52.52,13.405,Europe/Berlin
198.51.100.0,198.51.100.255,FR,Île-de-France,,Paris,,48.8566,2.3522,Europe/Paris
203.0.113.0,203.0.113.255,US,California,,Mountain View,,37.422,-122.084,America/Los_Angeles
127.0.0.0,127.255.255.255,ZZ,,,,,,,
2001:db8::,2001:db8:ffff:ffff:ffff:ffff:ffff:ffff,JP,Tokyo,,Tokyo,,35.6895,139.6917,Asia/Tokyo
"""


def compile_fixture(folder: Path, csv_text: str = FIXTURE_CSV, name="fixture.vdb") -> Path:
    """Compile ``csv_text`` with the project's own compiler; return the database path."""
    from visitorapi.ipdb.compiler import compile_files
    source = folder / (name + ".csv")
    source.write_text(csv_text, encoding="utf-8")
    output = folder / name
    compile_files([source], output)
    return output


def create_project(state_path: Path, patterns, name="test") -> str:
    """Create a project in the store at ``state_path``; return its pid."""
    from visitorapi.state import projects
    from visitorapi.state.db import connect
    conn = connect(state_path, create=True)
    try:
        return projects.create(conn, name, patterns, actor="cli:test").pid
    finally:
        conn.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def base_env(tmp_path: Path, **extra) -> dict:
    """A private environment: state, cache and data dirs under ``tmp_path``."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("VISITORAPI_", "GUNICORN_"))}
    env.update({
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
        "VISITORAPI_STATE": str(tmp_path / "state" / "state.sqlite3"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "VISITORAPI_RUN_DIR": str(tmp_path / "run"),  # metrics files: scanned with the rest
        "HOME": str(tmp_path / "home"),
        # The notification sender is a child of gunicorn's master; tests that count the
        # master's children as workers (HUP, graceful exits) must not see it. The tests
        # of notifications switch it on.
        "VISITORAPI_NOTIFY": "off",
    })
    env.update({key: str(value) for key, value in extra.items()})
    return env


class Server:
    """``python -m visitorapi serve ARGS`` in its own process group, output to files."""

    def __init__(self, tmp_path: Path, *args, env=None, port=None, tls_context=None):
        self.port = port or free_port()
        self.tmp_path = tmp_path
        self.stdout_path = tmp_path / f"serve-{self.port}.out"
        self.stderr_path = tmp_path / f"serve-{self.port}.err"
        self.tls_context = tls_context
        self.args = ["--bind", f"127.0.0.1:{self.port}", *map(str, args)]
        self.env = env if env is not None else base_env(tmp_path)
        self.process = None

    def __enter__(self):
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "visitorapi", "serve", *self.args],
                env=self.env, cwd=self.tmp_path, stdout=out, stderr=err,
                start_new_session=True)
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc):
        self.stop()

    def wait_ready(self, timeout=120.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"serve exited with {self.process.returncode}: "
                                   f"{self.stderr_path.read_text(errors='replace')[-3000:]}")
            with contextlib.suppress(OSError, http.client.HTTPException):
                if self.request("/healthz")[0] == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"serve did not answer within {timeout} s")

    def connection(self, timeout=10.0):
        if self.tls_context is not None:
            return http.client.HTTPSConnection("127.0.0.1", self.port, timeout=timeout,
                                               context=self.tls_context)
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, path, headers=None, method="GET"):
        """Return (status, headers dict, body bytes) of one request on a new connection."""
        connection = self.connection()
        try:
            connection.request(method, path, headers=headers or {})
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            connection.close()

    def stop(self):
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)

    def output(self) -> str:
        return (self.stdout_path.read_text(errors="replace")
                + self.stderr_path.read_text(errors="replace"))

    def log_mark(self) -> int:
        """How many lines the server has logged so far (``since`` for :meth:`wait_logged`)."""
        return len(self.stderr_path.read_text(errors="replace").splitlines())

    def wait_logged(self, event, processes, *, since=0, poke=None, timeout=60.0) -> int:
        """Wait until ``processes`` processes (workers) have logged ``event`` after line ``since``.

        A real condition to wait on where a worker's state matters: requests
        cannot choose their worker, so "N answers in a row" proves nothing
        about the others. ``poke()`` runs between looks (a worker notices a
        file change on its next request). Returns how many processes logged
        it, fewer only when ``timeout`` passed first.
        """
        deadline = time.monotonic() + timeout
        while True:
            seen = set()
            for line in self.stderr_path.read_text(errors="replace").splitlines()[since:]:
                try:
                    record = json.loads(line)
                except ValueError:
                    continue  # a line being written, or not JSON
                if record.get("event") == event:
                    seen.add(record.get("process"))
            if len(seen) >= processes or time.monotonic() >= deadline:
                return len(seen)
            if poke is not None:
                poke()
            time.sleep(0.05)


def tls_client_context(certfile) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(certfile))
    context.check_hostname = False  # the certificate names 127.0.0.1 as an IP SAN anyway
    return context


def customer_page(api: str, pid: str, *, client_js: bool = False) -> str:
    """A customer's page calling ``VisitorAPI(pid, ...)``; its callbacks record the outcome.

    The function comes from the copied snippet, or with ``client_js`` from
    ``<script src="API/client.js">``.
    """
    source = (f"<script src='{api}/client.js'></script><script>\n" if client_js
              else "<script>\n" + snippet(api) + "\n")
    return ("<!doctype html><html><head><meta charset='utf-8'><title>customer</title></head>"
            "<body>" + source +
            'VisitorAPI("' + pid + '", function (data) { window.outcome = {ok: true, data: data}; },'
            " function (status, message) { window.outcome = {ok: false, status: status,"
            " message: message}; });\n</script></body></html>")


@contextlib.contextmanager
def page_server(pages: dict):
    """Serve ``pages[origin]`` at / on a free 127.0.0.1 port; yield the origin.

    ``pages`` is read at request time, so a page can name its own origin.
    """

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = pages[origin].encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    origin = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield origin
    finally:
        server.shutdown()
        server.server_close()
