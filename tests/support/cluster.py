"""Several real nodes behind the shipped nginx configuration, for tests and tools/bench_cluster.py.

A node is ``visitorapi serve`` (gunicorn with the shipped configuration) on
its own loopback address (127.0.0.2, .3, .4), all sharing one store. nginx
runs ``deploy/nginx.conf`` with only what a test must change: the node
list, its listening address, the certificate and the file paths (into a
temporary folder; ``-p`` prefix, ``daemon off``). One line is added for the
tests: an ``X-Test-Upstream`` response header naming the node that answered.

Clients connect from 127.0.0.5, so the visitor's address differs from the
proxy's (127.0.0.1), which is the only address the nodes trust.
"""
import contextlib
import http.client
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the repository
NGINX = Path(os.environ.get("VISITORAPI_TEST_NGINX", "/usr/sbin/nginx"))
NODE_HOSTS = ("127.0.0.2", "127.0.0.3", "127.0.0.4")
PROXY_HOST = "127.0.0.1"
VISITOR_HOST = "127.0.0.5"
UPSTREAM_HEADER = "X-Test-Upstream"


def missing_reason():
    """Why nginx or openssl cannot run here, or None."""
    if not NGINX.is_file():
        return f"nginx is not installed ({NGINX})"
    if shutil.which("openssl") is None:
        return "openssl is not installed"
    return None


def free_port(host) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def make_certificate(folder: Path):
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj",
                    "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    return cert, key


def node_env(folder: Path, state, *, flush_seconds=0.5, **extra) -> dict:
    """A node's environment: the shared store, trust in the proxy only, https required."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("VISITORAPI_", "GUNICORN_"))}
    env.update({
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
        "VISITORAPI_STATE": str(state),
        "VISITORAPI_TRUSTED_PROXIES": PROXY_HOST,
        "VISITORAPI_HTTPS": "require",
        "VISITORAPI_USAGE_FLUSH_SECONDS": str(flush_seconds),
        # One visitor address sends all the load: per-client limits would refuse it.
        "VISITORAPI_CLIENT_RATE": "1000000", "VISITORAPI_CLIENT_BURST": "1000000",
        "VISITORAPI_PROJECT_RATE": "1000000", "VISITORAPI_PROJECT_BURST": "1000000",
        "XDG_CACHE_HOME": str(folder / "cache"), "XDG_DATA_HOME": str(folder / "data"),
        "VISITORAPI_RUN_DIR": str(folder / "run"), "HOME": str(folder / "home"),
    })
    env.update({key: str(value) for key, value in extra.items()})
    return env


def cli(env, *args, input=None):
    """``python -m visitorapi ARGS`` with a node's environment; return the CompletedProcess."""
    return subprocess.run([sys.executable, "-m", "visitorapi", *map(str, args)], env=env,
                          input=input, capture_output=True, text=True, timeout=120)


class Node:
    """One ``visitorapi serve`` on ``host``, in its own process group."""

    def __init__(self, folder: Path, host: str, env: dict, database: Path, workers=2):
        self.host, self.port = host, free_port(host)
        self.folder = folder / f"node-{host}"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.env = env
        self.log = self.folder / "serve.log"
        with open(self.log, "wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "visitorapi", "serve", "--bind", f"{host}:{self.port}",
                 "--workers", str(workers), "--db", str(database), "--no-demo"],
                env=env, cwd=self.folder, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def wait_ready(self, timeout=120.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"node {self.address} exited: {self.output()[-3000:]}")
            with contextlib.suppress(OSError, http.client.HTTPException):
                conn = http.client.HTTPConnection(self.host, self.port, timeout=5)
                conn.request("GET", "/readyz")
                if conn.getresponse().status == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"node {self.address} not ready within {timeout} s")

    def kill(self):
        """SIGKILL the whole node (gunicorn master and workers) at once."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self):
        """A graceful stop (SIGTERM): workers write their pending usage first."""
        if self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.kill()

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def render_nginx_conf(shipped: str, folder: Path, listen_port: int, upstreams, cert, key) -> str:
    """The shipped configuration with a test's addresses, files and the upstream header."""
    conf = shipped
    replacements = [
        (r"^pid .*;$", f"pid {folder}/nginx.pid;"),
        (r"^error_log (\S+) (\w+);$", rf"error_log {folder}/error.log \2;"),
        (r"access_log /\S+ visitorapi_private;", f"access_log {folder}/access.log visitorapi_private;"),
        (r"^worker_processes .*;$", "worker_processes 2;"),
        (r"listen 80;", f"listen {PROXY_HOST}:{free_port(PROXY_HOST)};"),
        (r"listen 443 ssl;", f"listen {PROXY_HOST}:{listen_port} ssl;"),
        (r"ssl_certificate /\S+;", f"ssl_certificate {cert};"),
        (r"ssl_certificate_key /\S+;", f"ssl_certificate_key {key};"),
        (r"proxy_pass http://visitorapi;",
         f"proxy_pass http://visitorapi;\n            add_header {UPSTREAM_HEADER} $upstream_addr always;"),
        (r"^http \{$", "http {\n" + "".join(
            f"    {kind}_temp_path {folder}/{kind}_temp;\n"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))),
    ]
    for pattern, replacement in replacements:
        conf, count = re.subn(pattern, replacement, conf, flags=re.MULTILINE)
        assert count, f"deploy/nginx.conf no longer has {pattern!r}"
    servers = "".join(f"        server {address} max_fails=1 fail_timeout=5s;\n"
                      for address in upstreams)
    conf, count = re.subn(r"(    upstream visitorapi \{\n(?:\s*#.*\n)*)(?:\s*server .*;\n)+",
                          lambda m: m.group(1) + servers, conf)
    assert count == 1, "deploy/nginx.conf has no upstream block to fill"
    return conf


class Nginx:
    """nginx running the shipped configuration in front of ``upstreams``."""

    def __init__(self, upstreams):
        self.folder = Path(tempfile.mkdtemp(prefix="visitorapi-nginx-"))
        self.folder.chmod(0o755)    # NOTE: workers run as nobody when the tests run as root
        self.cert, self.key = make_certificate(self.folder)
        self.port = free_port(PROXY_HOST)
        shipped = (ROOT / "deploy" / "nginx.conf").read_text(encoding="utf-8")
        self.conf = self.folder / "nginx.conf"
        self.conf.write_text(render_nginx_conf(shipped, self.folder, self.port, upstreams,
                                               self.cert, self.key), encoding="utf-8")
        self.process = subprocess.Popen(
            [str(NGINX), "-p", str(self.folder), "-c", str(self.conf), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL, stderr=open(self.folder / "stderr.log", "wb"),
            start_new_session=True)
        deadline = time.monotonic() + 30
        while True:
            if self.process.poll() is not None:
                raise RuntimeError("nginx exited: "
                                   + (self.folder / "stderr.log").read_text(errors="replace"))
            with contextlib.suppress(OSError), socket.create_connection((PROXY_HOST, self.port), 1):
                break
            if time.monotonic() > deadline:
                raise RuntimeError("nginx did not listen within 30 s")
            time.sleep(0.05)
        self.context = ssl.create_default_context(cafile=str(self.cert))
        self.context.check_hostname = False

    def connection(self, timeout=10.0):
        """A keep-alive https connection to the balancer, from the visitor's address."""
        return http.client.HTTPSConnection(PROXY_HOST, self.port, timeout=timeout,
                                           context=self.context,
                                           source_address=(VISITOR_HOST, 0))

    def request(self, path, headers=None, method="GET", body=None):
        """(status, headers dict, body) of one request on a new connection."""
        conn = self.connection()
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            conn.close()

    def logs(self) -> str:
        return "".join(path.read_text(errors="replace")
                       for path in sorted(self.folder.glob("*.log")))

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    def destroy(self):
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


class Load:
    """Client threads sending ``path`` through the balancer until stopped; counts every answer.

    Each thread keeps one connection; a failed connection counts as a failure
    and is replaced.
    """

    def __init__(self, nginx: Nginx, path: str, headers: dict, threads=4):
        self.nginx, self.path, self.headers = nginx, path, headers
        self.statuses = {}
        self.failures = []
        self.upstreams = {}
        self.unexpected = []     # (monotonic time, status, node) of answers other than 200
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def __enter__(self):
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for thread in self._threads:
            thread.join(60)

    def total(self) -> int:
        with self._lock:
            return sum(self.statuses.values()) + len(self.failures)

    def wait_for(self, requests: int, timeout=120.0):
        """Block until ``requests`` more answers have come back."""
        target = self.total() + requests
        deadline = time.monotonic() + timeout
        while self.total() < target:
            if time.monotonic() > deadline:
                raise AssertionError(f"the load made no progress: {self.statuses} {self.failures[:3]}")
            time.sleep(0.02)

    def _run(self):
        conn = None
        while not self._stop.is_set():
            if conn is None:
                conn = self.nginx.connection()
            try:
                conn.request("GET", self.path, headers=self.headers)
                response = conn.getresponse()
                response.read()
                upstream = response.getheader(UPSTREAM_HEADER, "")
            except (OSError, http.client.HTTPException) as exc:
                with self._lock:
                    self.failures.append(repr(exc))
                conn.close()
                conn = None
                continue
            with self._lock:
                self.statuses[response.status] = self.statuses.get(response.status, 0) + 1
                self.upstreams[upstream] = self.upstreams.get(upstream, 0) + 1
                if response.status != 200 and len(self.unexpected) < 50:
                    self.unexpected.append((time.monotonic(), response.status, upstream))
        if conn is not None:
            conn.close()
