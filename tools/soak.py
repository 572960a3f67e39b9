"""Soak: the whole service under mixed traffic and operator work, for minutes; did anything break?

Starts ``visitorapi serve`` (``--workers`` workers, 127.0.0.1 as a trusted
proxy so one machine can send many client addresses in X-Forwarded-For) on
a free loopback port with a throwaway state and cache folder, and for
``--minutes`` (or ``--seconds``):

- client processes send authorized, refused (wrong origin, unknown pid,
  rate-limited) and malformed (bad pid, bad X-Forwarded-For, bad HTTP)
  requests, plus /readyz, at ``--rate`` requests/s each, on kept-alive
  connections;
- the IP database is replaced with ``os.replace`` every ``--swap-seconds``
  by one of a few variants of a small fixture compiled with the project's
  own compiler; once by a corrupt file, which must be refused while the old
  one keeps serving;
- ``python3 -m visitorapi`` creates projects, adds and removes domains, and
  lists users and projects, every ``--cli-seconds``;
- a browser-like client logs in to the dashboard (password; and with a TOTP
  code for an account that enrolled in two-factor authentication);
- the master gets one SIGHUP (every worker replaced gracefully) and one
  worker gets SIGKILL.

Then it stops the service gracefully and prints a table: answers by kind
and status, failed requests beyond those in flight on the killed worker,
usage totals in the store against what clients were served, projects
created through the CLI that are missing, ``PRAGMA integrity_check`` and
each worker's memory (peak RSS, and the floor of anonymous memory after
warm-up and at the end). The exit status is 1 when a target is missed:

- no failed request beyond those in flight on the killed worker (a failure
  is a connection error without an answer, or an answer no correct server
  gives to that request, such as a 5xx);
- usage in the store equals what was served, per outcome, except for the
  killed worker's unflushed buffer (bound printed with the table);
- nothing the CLI created is lost; ``integrity_check`` says ok;
- no worker's memory grows after its warm-up (tolerance printed).

Usage: python3 tools/soak.py [--minutes 10 | --seconds S] [--workers 2] [--clients 4]
       [--rate 40] [--swap-seconds 5] [--cli-seconds 2] [--flush-seconds 2] [--keep]
Linux only (worker pids, connections and memory come from /proc).
"""
import argparse
import base64
import collections
import contextlib
import http.client
import json
import multiprocessing
import os
import random
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SHOP = "https://shop.example"
EDITED = "https://edit.example"
DASHBOARD_HOST = "soak.test"
PASSWORD = "soak password, long enough"
FLOOD_IP = "203.0.113.66"  # one client address sending far above its rate limit
CITY_NET = "192.0.2"  # the fixture's variants name a different city for this /24
CLIENT_RATE, CLIENT_BURST = 2, 5  # per client address, per worker (VISITORAPI_CLIENT_*)
VARIANTS = 3
WARMUP_SHARE = 0.25  # a worker's warm-up: the first quarter of its life, at least 10 s
WINDOW_SHARE = 0.1  # memory is compared in two windows, each this share of a worker's life
MEMORY_TOLERANCE = (4 << 20, 0.1)  # anonymous memory growth allowed: 4 MiB or 10 %, the larger
EVENTS = ("SIGHUP master", "SIGKILL worker", "corrupt database put in place",
          "served database damaged in place")
REFUSED = "database replacement refused"  # visitorapi.web.livedb's log line
MIB = 1 << 20
EVENT_WINDOW = 5.0  # seconds after a HUP or kill in which its dropped connections show


# -- the IP database: variants compiled from readable source -----------------------------

def variant_csv(number: int) -> str:
    """Fixture source whose 192.0.2.0/24 city names the variant (ip-location-db city layout)."""
    return (f"{CITY_NET}.0,{CITY_NET}.255,DE,Berlin,,Soak {number},,52.52,13.405,Europe/Berlin\n"
            "198.51.100.0,198.51.100.255,FR,Île-de-France,,Paris,,48.8566,2.3522,Europe/Paris\n"
            "1.0.0.0,126.255.255.255,US,California,,Mountain View,,37.422,-122.084,"
            "America/Los_Angeles\n"
            "2001:db8::,2001:db8:ffff:ffff:ffff:ffff:ffff:ffff,JP,Tokyo,,Tokyo,,35.6895,"
            "139.6917,Asia/Tokyo\n")


def build_variants(folder: Path) -> list:
    """Compile the variants and one corrupt copy (a flipped byte in the body); return paths."""
    from visitorapi.ipdb.compiler import compile_files
    paths = []
    for number in range(VARIANTS):
        source = folder / f"variant{number}.csv"
        source.write_text(variant_csv(number), encoding="utf-8")
        compile_files([source], folder / f"variant{number}.vdb")
        paths.append(folder / f"variant{number}.vdb")
    data = bytearray(paths[0].read_bytes())
    data[len(data) * 3 // 4] ^= 0x40
    corrupt = folder / "corrupt.vdb"
    corrupt.write_bytes(bytes(data))
    return paths + [corrupt]


def put_in_place(source: Path, live: Path):
    """Copy ``source`` beside ``live``, then rename it over ``live`` (as ``visitorapi update``)."""
    temporary = live.with_name(live.name + ".new")
    shutil.copyfile(source, temporary)
    os.replace(temporary, live)


def damage_in_place(live: Path):
    """Overwrite the served file's IPv4 trie with 0xFF bytes, keeping its inode and size.

    Every IPv4 lookup then meets a record number out of range. The size does
    not change, so the mapping stays readable (a truncation would SIGBUS).
    """
    from visitorapi.ipdb import format as layout
    with open(live, "r+b") as file:
        offset, length = layout.read_header(file.read(), live.name).section("ipv4")
        file.seek(offset)
        file.write(b"\xff" * length)


# -- the service ------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def service_env(folder: Path, flush_seconds: float) -> dict:
    """The environment of the service and of every CLI call: everything under ``folder``."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("VISITORAPI_", "GUNICORN_"))}
    env.update({
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
        "VISITORAPI_STATE": str(folder / "state" / "state.sqlite3"),
        "VISITORAPI_DB": str(folder / "live.vdb"),
        "XDG_CACHE_HOME": str(folder / "cache"), "XDG_DATA_HOME": str(folder / "data"),
        "VISITORAPI_RUN_DIR": str(folder / "run"), "HOME": str(folder / "home"),
        "VISITORAPI_TRUSTED_PROXIES": "127.0.0.1",
        "VISITORAPI_CLIENT_RATE": str(CLIENT_RATE), "VISITORAPI_CLIENT_BURST": str(CLIENT_BURST),
        "VISITORAPI_PROJECT_RATE": "0",
        "VISITORAPI_USAGE_FLUSH_SECONDS": str(flush_seconds),
        "VISITORAPI_DB_CHECK_INTERVAL": "0.5",
        "VISITORAPI_METRICS_INTERVAL": "0.5",
    })
    return env


class Service:
    """``python3 -m visitorapi serve`` in its own process group; the pid is gunicorn's master."""

    def __init__(self, folder: Path, env: dict, workers: int):
        self.port = free_port()
        self.log_path = folder / "serve.log"
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "visitorapi", "serve", "--bind", f"127.0.0.1:{self.port}",
                 "--workers", str(workers), "--no-demo"],
                env=env, cwd=folder, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 120
        while len(self.worker_pids()) < workers or not self.answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"visitorapi serve did not start:\n{self.log()[-3000:]}")
            time.sleep(0.1)

    def answers(self) -> bool:
        with contextlib.suppress(OSError, http.client.HTTPException):
            return self.get("/healthz")[0] == 200
        return False

    def get(self, path, headers=None):
        """(status, body) of one GET on a new connection."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request("GET", path, headers=headers or {})
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def worker_pids(self) -> list:
        """The master's children (gunicorn workers), from /proc."""
        master = self.process.pid
        with contextlib.suppress(OSError):
            return [int(pid) for pid in
                    Path(f"/proc/{master}/task/{master}/children").read_text().split()]
        return []

    def client_ports(self, worker: int) -> set:
        """The client-side ports of the TCP connections ``worker`` holds open (from /proc)."""
        inodes = set()
        for fd in Path(f"/proc/{worker}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        ports = set()
        for line in Path(f"/proc/{worker}/net/tcp").read_text().splitlines()[1:]:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if fields[9] in inodes and local_port == self.port:
                ports.add(int(fields[2].rsplit(":", 1)[1], 16))
        return ports

    def stop(self) -> int:
        """SIGTERM (a graceful stop: workers write pending usage); SIGKILL after 60 s."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        return self.process.returncode

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


# -- traffic ----------------------------------------------------------------------------

# kind: (weight, the statuses a correct server answers)
KINDS = {
    "authorized": (55, {200}),
    "refused origin": (10, {403}),
    "unknown pid": (5, {403}),
    "rate-limited": (8, {200, 429}),
    "edited domains": (6, {200, 403}),
    "malformed pid": (5, {400}),
    "malformed X-Forwarded-For": (4, {400}),
    "malformed HTTP": (4, {400}),
    "/readyz": (3, {200}),
}
# The usage outcome of an /api answer, as visitorapi.web.accounting counts it
# (every /api kind here but "unknown pid" names a project that exists).
USAGE_OUTCOMES = {200: "served", 403: "denied", 429: "rate_limited", 400: "bad_request"}


def usage_outcome(kind, status):
    if kind in ("malformed HTTP", "/readyz"):
        return None  # gunicorn refuses the first; the second is not /api
    if kind == "unknown pid" and status == 403:
        return "unknown_project"
    return USAGE_OUTCOMES.get(status)


def random_ip(rng) -> str:
    if rng.random() < 0.5:
        return f"{CITY_NET}.{rng.randint(1, 254)}"
    return ".".join(str(rng.randint(low, high)) for low, high in ((1, 126), (0, 255), (0, 255),
                                                                  (1, 254)))


def plan_request(kind, rng, pids):
    """(path, headers) for one request of ``kind``."""
    main, edited = pids
    headers = {"Origin": SHOP, "X-Forwarded-For": random_ip(rng), "User-Agent": "soak/1"}
    path = f"/api/?pid={main}"
    if kind == "refused origin":
        headers["Origin"] = "https://evil.test"
    elif kind == "unknown pid":
        path = "/api/?pid=" + base64.urlsafe_b64encode(rng.randbytes(15)).decode()
    elif kind == "rate-limited":
        headers["X-Forwarded-For"] = FLOOD_IP
    elif kind == "edited domains":
        path, headers["Origin"] = f"/api/?pid={edited}", EDITED
    elif kind == "malformed pid":
        path = "/api/?pid=not*a*pid"
    elif kind == "malformed X-Forwarded-For":
        headers["X-Forwarded-For"] = "not-an-address"
    elif kind == "/readyz":
        path, headers = "/readyz", {}
    return path, headers


class Tally:
    """What one client saw, sent back to the orchestrator when it stops (plain, picklable)."""

    def __init__(self):
        self.answers = collections.Counter()    # (kind, status)
        self.served = collections.Counter()     # (monotonic second, usage outcome)
        # (monotonic time, kind, client port, what, status or None): connection
        # errors and answers a correct server does not give (judged in report())
        self.failures = []
        self.retries = []  # the same, for requests resent on a new connection
        self.cities = collections.Counter()


def malformed_http(sock) -> int:
    """Send a request gunicorn must refuse (a header line without a colon); return its status."""
    sock.sendall(b"GET /api/?pid=x HTTP/1.1\r\nHost: 127.0.0.1\r\nno colon here\r\n\r\n")
    head = b""
    while b"\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("closed without an answer")
        head += chunk
    return int(head.split()[1])


def run_client(index, port, pids, rate, stop, results):
    """One client process: one kept-alive connection, ``rate`` requests/s, until ``stop``."""
    rng = random.Random(index)
    tally = Tally()
    kinds, weights = list(KINDS), [KINDS[kind][0] for kind in KINDS]
    conn = None
    next_at = time.monotonic()
    while not stop.is_set():
        next_at += 1 / rate
        time.sleep(max(0.0, next_at - time.monotonic()))
        kind = rng.choices(kinds, weights)[0]
        if kind == "malformed HTTP":  # a connection of its own, as gunicorn closes it
            client_port = None
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
                    client_port = sock.getsockname()[1]
                    tally.answers[kind, malformed_http(sock)] += 1
            except OSError as exc:
                tally.failures.append((time.monotonic(), kind, client_port, repr(exc), None))
            continue
        path, headers = plan_request(kind, rng, pids)
        for attempt in (1, 2):
            reused = conn is not None
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            client_port = None
            try:
                if conn.sock is None:
                    conn.connect()
                client_port = conn.sock.getsockname()[1]
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                conn = None
                if reused and attempt == 1:
                    # NOTE: a kept-alive connection the server closed before any answer:
                    # browsers and HTTP libraries resend an idempotent request (RFC 9112
                    # section 9.3.1). Which event closed it is judged afterwards.
                    tally.retries.append((time.monotonic(), kind, client_port, repr(exc), None))
                    continue
                tally.failures.append((time.monotonic(), kind, client_port, repr(exc), None))
                break
            try:
                body = response.read()
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                conn = None
                tally.failures.append((time.monotonic(), kind, client_port, repr(exc), None))
                break
            if response.will_close:
                conn.close()
                conn = None
            tally.answers[kind, response.status] += 1
            outcome = usage_outcome(kind, response.status)
            if outcome:
                tally.served[int(time.monotonic()), outcome] += 1
            if response.status not in KINDS[kind][1]:
                tally.failures.append((time.monotonic(), kind, client_port,
                                       f"{response.status} {body[:200]!r}", response.status))
            elif kind == "authorized" and headers["X-Forwarded-For"].startswith(CITY_NET + "."):
                tally.cities[json.loads(body)["data"].get("city")] += 1
            break
    results.put(tally.__dict__)


# -- the dashboard, as a browser -----------------------------------------------------------

class Browser:
    """One dashboard visitor behind the trusted proxy: cookies, CSRF tokens, https via the proxy.

    Each request has its own connection, so a worker that stops gracefully
    never closes a kept-alive one under a POST (which may not be resent).
    """

    def __init__(self, port, ip):
        self.port = port
        self.ip = ip
        self.cookies = {}

    def request(self, method, path, form=None):
        headers = {"Host": DASHBOARD_HOST, "X-Forwarded-For": self.ip,
                   "X-Forwarded-Proto": "https"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            from urllib.parse import urlencode
            body = urlencode(form)
            headers.update({"Origin": f"https://{DASHBOARD_HOST}",
                            "Content-Type": "application/x-www-form-urlencoded"})
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers={**headers, "Connection": "close"})
            response = conn.getresponse()
            text = response.read().decode("utf-8", "replace")
        finally:
            conn.close()
        for name, value in response.getheaders():
            if name.lower() == "set-cookie":
                key, _, rest = value.partition("=")
                if "max-age=0" in rest.lower():
                    self.cookies.pop(key, None)
                else:
                    self.cookies[key] = rest.split(";")[0]
        return response.status, response.getheader("Location"), text

    def form(self, path, fields, page_text=None):
        """POST ``fields`` to ``path`` with the CSRF token of ``page_text`` (or of a GET)."""
        if page_text is None:
            page_text = self.request("GET", path)[2]
        match = re.search(r'name="csrf" value="([^"]+)"', page_text)
        if not match:
            raise AssertionError(f"no CSRF token on {path}")
        return self.request("POST", path, {**fields, "csrf": match.group(1)})


def alert(page_text: str) -> str:
    """The error a dashboard page shows (its role="alert" paragraph), or ""."""
    match = re.search(r'role="alert">([^<]*)<', page_text)
    return match.group(1) if match else ""


def dashboard_visit(port, email, expect_page, secret=None, last_step=None):
    """Log in (password, then TOTP if ``secret``), open the projects page, log out.

    Returns:
        the TOTP time step used (None without ``secret``).
    Raises:
        AssertionError: a page was not what a working dashboard shows.
    """
    from visitorapi import totp
    browser = Browser(port, "198.51.100.20")
    status, location, text = browser.form("/dashboard/login", {"email": email,
                                                               "password": PASSWORD})
    step = None
    if secret is not None:
        assert (status, location) == (303, "/dashboard/login/code"), (status, location,
                                                                      alert(text))
        now = time.time()
        step = totp.time_step(now)
        if step <= last_step:
            raise LookupError("this step's TOTP code was used already")
        status, location, text = browser.form(
            "/dashboard/login/code", {"code": totp.totp(totp.decode_secret(secret), now)})
    assert (status, location) == (303, "/dashboard/projects"), (status, location, alert(text))
    status, _, text = browser.request("GET", "/dashboard/projects")
    assert status == 200 and expect_page in text, f"projects page: {status}"
    status, location, _ = browser.form("/dashboard/logout", {}, text)
    assert status == 303, f"logout: {status}"
    return step


def enroll_totp(port, email):
    """Turn on two-factor authentication for ``email`` the way a user does.

    Returns:
        (secret, the TOTP time step its confirming code used).
    """
    from visitorapi import totp
    browser = Browser(port, "198.51.100.21")
    status, location, _ = browser.form("/dashboard/login", {"email": email,
                                                            "password": PASSWORD})
    assert status == 303, f"login before enrolling: {status}"
    status, _, text = browser.request("GET", "/dashboard/security/mfa")
    match = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', text)
    assert status == 200 and match, f"enrollment page: {status}"
    secret = match.group(1).replace(" ", "")
    # NOTE: the previous step's code (accepted: RFC 6238 section 5.2 allows a step
    # of clock drift), so that the first login can use the current one: a code
    # works once, and a short run may not live to see the next 30 s step.
    then = time.time() - totp.STEP_SECONDS
    status, _, _ = browser.form("/dashboard/security/mfa",
                                {"code": totp.totp(totp.decode_secret(secret), then)}, text)
    assert status == 200, f"enrollment: {status}"
    return secret, totp.time_step(then)


# -- the orchestrator -------------------------------------------------------------------

class Soak:
    """Runs the service, the clients and the operator's actions; collects what happened."""

    def __init__(self, args, folder: Path):
        self.args = args
        self.folder = folder
        self.env = service_env(folder, args.flush_seconds)
        self.events = []          # (monotonic time, what)
        self.problems = []        # failed CLI commands, dashboard visits, soak threads
        self.cli_runs = collections.Counter()
        self.dashboard = collections.Counter()
        self.created = {}         # pid -> domains it must have at the end
        self.wal_missing = 0
        self.memory = {}  # worker pid -> [(monotonic time, rss, anon, file, old files mapped)]
        self.killed = None        # (time, worker pid, its client ports)
        self.stop = threading.Event()
        self.service = None

    # operator actions -------------------------------------------------------------------

    def cli(self, *argv, stdin=None) -> str:
        """Run ``python3 -m visitorapi ARGV``; record a failure; return its output."""
        result = subprocess.run([sys.executable, "-m", "visitorapi", *argv], env=self.env,
                                input=stdin, capture_output=True, text=True, timeout=120)
        self.cli_runs[argv[0] + (" " + argv[1] if len(argv) > 1 else "")] += 1
        if result.returncode != 0:
            self.problems.append(f"visitorapi {' '.join(argv)}: exit {result.returncode}: "
                                 f"{result.stderr.strip()[-300:]}")
        state = Path(self.env["VISITORAPI_STATE"])
        if self.service is not None and not all(
                state.with_name(state.name + suffix).exists() for suffix in ("-wal", "-shm")):
            self.wal_missing += 1
        return result.stdout

    def operator(self):
        """CLI work every ``--cli-seconds``: projects, domains, listings."""
        number = 0
        while not self.stop.wait(self.args.cli_seconds):
            number += 1
            step = number % 4
            if step == 1:
                domain = f"https://n{number}.example"
                pid = self.cli("projects", "create", f"soak {number}", "--domain", domain).strip()
                if pid:
                    self.created[pid] = {domain}
            elif step == 2 and self.created:
                pid = list(self.created)[-1]
                self.cli("projects", "domains", "add", pid, f"https://more{number}.example")
                self.created[pid].add(f"https://more{number}.example")
            elif step == 3:
                # the clients' "edited domains" project: authorized half of the time
                verb = "remove" if number % 8 == 3 else "add"
                self.cli("projects", "domains", verb, self.pids[1], EDITED)
            else:
                self.cli("users" if number % 8 == 0 else "projects", "list")

    def visitor(self):
        """Dashboard logins every few seconds; the TOTP account at most once per 30 s step."""
        last_step = self.enrolled_step
        while not self.stop.wait(3):
            try:
                dashboard_visit(self.service.port, "owner@soak.test", "soak main")
                self.dashboard["password login"] += 1
                if self.secret:  # NOTE: the same page, after a second factor
                    last_step = dashboard_visit(self.service.port, "mfa@soak.test", "soak main",
                                                self.secret, last_step)
                    self.dashboard["password + TOTP login"] += 1
            except LookupError:
                pass  # NOTE: a TOTP code works once; the next step comes within 30 s
            except (OSError, http.client.HTTPException) as exc:
                if self.killed and 0 <= time.monotonic() - self.killed[0] <= EVENT_WINDOW:
                    self.dashboard["in flight on the killed worker"] += 1
                else:
                    self.dashboard["failed"] += 1
                    self.problems.append(f"dashboard: {exc!r}"[:300])
            except AssertionError as exc:
                self.dashboard["failed"] += 1
                self.problems.append(f"dashboard: {exc!r}"[:300])

    def sampler(self):
        """Memory of every worker, once a second, from /proc/PID/status and /proc/PID/maps."""
        live = self.env["VISITORAPI_DB"]
        while not self.stop.wait(1):
            now = time.monotonic()
            for pid in self.service.worker_pids():
                with contextlib.suppress(OSError):
                    status = Path(f"/proc/{pid}/status").read_text()
                    fields = dict(re.findall(r"^(VmRSS|RssAnon|RssFile):\s+(\d+) kB", status,
                                             re.MULTILINE))
                    if len(fields) < 3:
                        continue  # NOTE: a killed worker not yet reaped has no memory to show
                    # replaced database files this worker still maps (each mapping once per
                    # file; "(deleted)": renamed over, so its disk space is not freed either)
                    old = len({line.split()[4] for line in
                               Path(f"/proc/{pid}/maps").read_text().splitlines()
                               if live in line and line.endswith("(deleted)")})
                    self.memory.setdefault(pid, []).append(
                        (now, int(fields["VmRSS"]) << 10, int(fields["RssAnon"]) << 10,
                         int(fields["RssFile"]) << 10, old))

    def swapper(self, variants, live):
        """Replace the database every ``--swap-seconds``, twice with a fault instead.

        At 55 % of the run, a corrupt file is renamed into place: it must be
        refused while the old one keeps serving. At 75 %, the served file
        itself is damaged in place (as a ``cp`` over it would): the service
        must say 503 and not ready, never blame the visitor, until the next
        good file is renamed into place.
        """
        faults = [(self.started + self.duration * 0.55, "corrupt database put in place",
                   lambda: put_in_place(variants[-1], live)),
                  (self.started + self.duration * 0.75, "served database damaged in place",
                   lambda: damage_in_place(live))]
        number = 0
        while not self.stop.wait(self.args.swap_seconds):
            if faults and time.monotonic() >= faults[0][0]:
                _, what, fault = faults.pop(0)
                refused = self.service.log().count(REFUSED)
                started = time.monotonic()  # NOTE: requests may meet the fault while it is made
                fault()
                self.events.append((started, what))
                if what.startswith("corrupt"):
                    # NOTE: a worker checks the file at its next request; leave the
                    # corrupt one in place until one has (at most 10 s), so a short
                    # run refuses it too.
                    deadline = time.monotonic() + 10
                    while (self.service.log().count(REFUSED) == refused
                           and time.monotonic() < deadline and not self.stop.wait(0.1)):
                        pass
                continue
            number += 1
            put_in_place(variants[number % VARIANTS], live)
            self.events.append((time.monotonic(), f"database variant {number % VARIANTS}"))

    def signals(self):
        """SIGHUP to the master at 20 % of the run, SIGKILL to a worker at 40 %."""
        if self.stop.wait(self.duration * 0.2):
            return
        os.kill(self.service.process.pid, signal.SIGHUP)
        self.events.append((time.monotonic(), "SIGHUP master"))
        if self.stop.wait(self.duration * 0.2):
            return
        while len(self.service.worker_pids()) < self.args.workers:  # the HUP's are booting
            if self.stop.wait(0.1):
                return
        worker = self.service.worker_pids()[0]
        ports = self.service.client_ports(worker)
        # NOTE: the time is taken before the kill: clients see it at once
        self.killed = (time.monotonic(), worker, ports)
        os.kill(worker, signal.SIGKILL)
        self.events.append((self.killed[0], f"SIGKILL worker {worker}"))

    def guarded(self, target, *args):
        """Run one of the soak's threads; a crash in it is a problem of the run, never silent."""
        try:
            target(*args)
        except Exception as exc:
            self.problems.append(f"soak thread {target.__name__} crashed: {exc!r}")
            raise

    # the run ----------------------------------------------------------------------------

    def run(self):
        live = self.folder / "live.vdb"
        variants = build_variants(self.folder)
        put_in_place(variants[0], live)
        self.pids = (self.cli("projects", "create", "soak main", "--domain", SHOP).strip(),
                     self.cli("projects", "create", "soak edited", "--domain", EDITED).strip())
        for email in ("owner@soak.test", "mfa@soak.test"):
            self.cli("users", "create", email, "--role", "owner", "--password-stdin",
                     stdin=PASSWORD + "\n")
        if self.problems:
            raise RuntimeError("setup failed: " + "; ".join(self.problems))
        self.service = Service(self.folder, self.env, self.args.workers)
        try:
            self.secret, self.enrolled_step = enroll_totp(self.service.port, "mfa@soak.test")
            context = multiprocessing.get_context("fork")
            stop, results = context.Event(), context.Queue()
            clients = [context.Process(target=run_client, args=(index, self.service.port,
                                                                 self.pids, self.args.rate,
                                                                 stop, results))
                       for index in range(self.args.clients)]
            self.duration = self.args.seconds
            self.started, self.wall_started = time.monotonic(), time.time()
            for client in clients:
                client.start()
            threads = [threading.Thread(target=self.guarded, args=(target, *extra), daemon=True)
                       for target, extra in ((self.operator, ()), (self.visitor, ()),
                                             (self.sampler, ()), (self.signals, ()),
                                             (self.swapper, (variants, live)))]
            for thread in threads:
                thread.start()
            time.sleep(self.duration)
            self.stop.set()
            stop.set()
            self.tallies = [results.get(timeout=120) for _ in clients]
            for client in clients:
                client.join(60)
            for thread in threads:
                thread.join(120)
            self.metrics = self.service.get("/metrics")[1].decode()
        finally:
            self.stop.set()
            exit_status = self.service.stop()
        self.service = None
        self.exit_status = exit_status
        self.log = (self.folder / "serve.log").read_text(errors="replace")
        self.projects = {project["pid"]: set(project["domains"]) for project in json.loads(
            self.cli("projects", "list", "--format", "json") or "[]")}
        usage = json.loads(self.cli("usage", "--days", "2", "--format", "json") or "{}")
        self.stored = collections.Counter()
        for day in usage.get("daily", []):
            for outcome in ("served", "denied", "rate_limited", "bad_request",
                            "unknown_project"):
                self.stored[outcome] += day[outcome]
        self.integrity = integrity_check(Path(self.env["VISITORAPI_STATE"]))


def integrity_check(path: Path) -> str:
    """``PRAGMA integrity_check`` through SQLite, read-only, after the service has stopped."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            rows = conn.execute("PRAGMA integrity_check").fetchall()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return f"cannot check: {exc}"
    return "; ".join(row[0] for row in rows)[:500]


# -- the report -------------------------------------------------------------------------

def metric(text: str, name: str) -> float:
    """Sum of a metric family's samples in a Prometheus text exposition."""
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(name + " ") or line.startswith(name + "{"))


def server_errors(log: str) -> collections.Counter:
    """Error-level lines of the service's JSON log, by event and the exception's last line."""
    errors = collections.Counter()
    for text in log.splitlines():
        with contextlib.suppress(ValueError):
            record = json.loads(text)
            if record.get("level") in ("error", "critical"):
                last = (record.get("exception") or "").strip().splitlines()[-1:] or [""]
                errors[f"{record.get('event')}: {record.get('message')} {last[0]}"[:160]] += 1
    return errors


def memory_windows(samples):
    """A worker's memory in two windows: just after its warm-up, and at the end of its life.

    Args:
        samples: ``(time, rss, anon, file, old files mapped)`` once a second.
    Returns:
        (seconds lived, peak RSS, most replaced database files mapped at once,
        and for each window a ``(peak RSS, floor of anonymous RSS)`` pair, or
        None for both when the worker did not live long enough for two windows).

    Anonymous memory is judged, not all of RSS: the rest is mostly pages of
    mapped database files, shared with the page cache, and a replaced file
    stays mapped until Python's cyclic garbage collector frees the last
    objects of its file (a full collection, minutes apart), so that part
    comes and goes with the collector. Floors (minimums), because a login's
    scrypt takes 32 MiB of anonymous memory for a moment; a leak raises the
    floor.
    """
    born, died = samples[0][0], samples[-1][0]
    lived = died - born
    peak = max(sample[1] for sample in samples)
    most_old = max(sample[4] for sample in samples)
    warm_end = born + max(10.0, lived * WARMUP_SHARE)
    window = max(10.0, lived * WINDOW_SHARE)
    if warm_end + window > died - window:
        return lived, peak, most_old, None, None

    def measure(start, end):
        inside = [sample for sample in samples if start <= sample[0] <= end]
        return max(sample[1] for sample in inside), min(sample[2] for sample in inside)

    return (lived, peak, most_old, measure(warm_end, warm_end + window),
            measure(died - window, died))


def damage_windows(events) -> list:
    """(start, end) of each time the served file was damaged, until a good one was picked up.

    A good file renamed into place is picked up within the service's check
    interval (``VISITORAPI_DB_CHECK_INTERVAL``, 0.5 s here) by each worker
    at its next request: one second of grace after the rename.
    """
    windows = []
    for index, (when, what) in enumerate(events):
        if what == "served database damaged in place":
            fixed = [later for later, name in events[index + 1:]
                     if name.startswith("database variant")]
            windows.append((when, (fixed[0] if fixed else float("inf")) + 1.0))
    return windows


def near(moment, events, label) -> bool:
    return any(what.startswith(label) and 0 <= moment - when <= EVENT_WINDOW
               for when, what in events)


def report(soak: Soak, out) -> bool:
    """Print the table; return True when every target is met."""
    args = soak.args
    answers = collections.Counter()
    served = collections.Counter()
    failures, retries, cities = [], [], collections.Counter()
    for tally in soak.tallies:
        answers.update(tally["answers"])
        served.update(tally["served"])
        failures += tally["failures"]
        retries += tally["retries"]
        cities.update(tally["cities"])
    ok = True

    def line(label, value, target=None, met=None):
        nonlocal ok
        mark = "" if met is None else ("  ok" if met else "  MISSED")
        ok = ok and met is not False
        out.write(f"  {label:44} {value}{f'   (target {target})' if target else ''}{mark}\n")

    total = sum(answers.values())
    out.write(f"soak {time.strftime('%Y-%m-%d %H:%M', time.gmtime(soak.wall_started))} UTC: "
              f"{args.seconds:.0f} s, {args.workers} workers, {args.clients} clients x "
              f"{args.rate:g} requests/s, database replaced every {args.swap_seconds:g} s, "
              f"CLI every {args.cli_seconds:g} s, usage flush every {args.flush_seconds:g} s\n\n")
    out.write(f"answers by kind and status ({total} in all)\n")
    statuses = sorted({status for _, status in answers})
    out.write(f"  {'kind':28}" + "".join(f"{status:>8}" for status in statuses) + "\n")
    for kind in KINDS:
        out.write(f"  {kind:28}" + "".join(f"{answers[kind, status]:>8}" for status in statuses)
                  + "\n")
    out.write(f"  database variants seen by clients: {dict(sorted(cities.items(), key=str))}\n")

    # failures, each judged against the event that explains it, if any
    kill_time, killed_worker, killed_ports = soak.killed or (None, None, set())
    damaged = damage_windows(soak.events)
    in_flight, at_hup, unready, beyond = [], [], [], []
    for drop in sorted(failures + retries):
        when, kind, port, what, status = drop
        if (status is None and kill_time is not None and port in killed_ports
                and 0 <= when - kill_time <= EVENT_WINDOW
                and port not in {entry[2] for entry in in_flight}):
            in_flight.append(drop)  # at most one request in flight per connection
        elif drop in retries and near(when, soak.events, "SIGHUP"):
            at_hup.append(drop)
        elif status == 503 and any(start <= when <= end for start, end in damaged):
            unready.append(drop)
        else:
            beyond.append(drop)
    out.write("\nfailed requests\n")
    line("connections the SIGKILLed worker held", len(killed_ports))
    line("requests in flight on it (failed or resent)", len(in_flight))
    line("resent: kept-alive connection closed at HUP", len(at_hup))
    line("503 while the served file was damaged", len(unready))
    line("failed beyond those in flight", len(beyond), "0", not beyond)
    grouped = collections.defaultdict(list)
    for when, kind, _, what, _ in beyond:
        grouped[kind, what[:120]].append(when - soak.started)
    for (kind, what), moments in sorted(grouped.items(), key=lambda item: item[1][0])[:10]:
        out.write(f"    {len(moments):6} x {kind}, {moments[0]:.1f}-{moments[-1]:.1f} s: {what}\n")

    # usage in the store against what clients were served
    window = 2 * args.flush_seconds + 1
    unflushed = collections.Counter()
    if kill_time is not None:
        for (second, outcome), count in served.items():
            if kill_time - window <= second <= kill_time:
                unflushed[outcome] += count
    by_outcome = collections.Counter()
    for (_, outcome), count in served.items():
        by_outcome[outcome] += count
    out.write(f"\nusage in the store against answers received (per outcome; the killed worker's "
              f"unflushed buffer may be missing: at most what all workers answered in the "
              f"{window:g} s before the kill, 2 x VISITORAPI_USAGE_FLUSH_SECONDS + 1 s)\n")
    out.write(f"  {'outcome':16}{'answered':>10}{'stored':>10}{'missing':>10}{'bound':>8}\n")
    for outcome in ("served", "denied", "rate_limited", "bad_request", "unknown_project"):
        missing = by_outcome[outcome] - soak.stored[outcome]
        met = 0 <= missing <= unflushed[outcome]
        ok = ok and met
        out.write(f"  {outcome:16}{by_outcome[outcome]:>10}{soak.stored[outcome]:>10}"
                  f"{missing:>10}{unflushed[outcome]:>8}  {'ok' if met else 'MISSED'}\n")
    line("usage flush failures (/metrics)",
         f"{metric(soak.metrics, 'visitorapi_usage_flush_failures_total'):.0f}")

    # the operator's side and the store
    lost = {pid: sorted(domains - soak.projects.get(pid, set()))
            for pid, domains in soak.created.items() if domains - soak.projects.get(pid, set())}
    out.write("\noperator's side and the store\n")
    line("CLI commands run", sum(soak.cli_runs.values()))
    line("dashboard logins", ", ".join(f"{k} {v}" for k, v in sorted(soak.dashboard.items())))
    line("failed operator actions (CLI, dashboard)", len(soak.problems),
         "0", not soak.problems)
    for problem in soak.problems[:8]:
        out.write(f"    {problem[:200]}\n")
    happened = " ".join(what for _, what in soak.events)
    skipped = [event for event in EVENTS if event not in happened]
    line("scheduled events that did not happen", ", ".join(skipped) or "none", "none",
         not skipped)
    line("CLI exits leaving no -wal/-shm while serving", soak.wal_missing)
    line("projects created by the CLI, lost or changed", f"{len(lost)} of {len(soak.created)}",
         "0", not lost)
    refused = soak.log.count(REFUSED)
    line("corrupt database refused (log lines)", refused, ">= 1", refused >= 1)
    errors = server_errors(soak.log)
    line("server log lines at error level", sum(errors.values()))
    for what, count in errors.most_common(5):
        out.write(f"    {count:5} x {what}\n")
    line("store PRAGMA integrity_check", soak.integrity, "ok", soak.integrity == "ok")
    line("graceful stop exit status", soak.exit_status, "0", soak.exit_status == 0)

    # memory per worker
    floor, share = MEMORY_TOLERANCE
    out.write(f"\nworker memory, MiB (from /proc every second; warm-up: the first "
              f"{WARMUP_SHARE:.0%} of a worker's life, at least 10 s; then two windows of "
              f"{WINDOW_SHARE:.0%} of its life, at least 10 s: just after warm-up, and at the "
              f"end. Target: the floor of anonymous memory grows at most {floor / MIB:g} MiB "
              f"or {share:.0%}, the larger. Peaks include each dashboard login's scrypt, 32 MiB "
              f"for a moment, and the pages of replaced database files the worker still maps "
              f"until Python's cyclic garbage collector frees them)\n")
    out.write(f"  {'worker':>8}{'lived s':>9}{'peak RSS':>10}{'old files':>11}"
              f"{'after warm-up':>23}{'end':>23}\n")
    out.write(f"  {'':>27}{'mapped':>11}{'peak RSS, anon floor':>23}{'peak RSS, anon floor':>23}"
              "\n")
    for pid, samples in sorted(soak.memory.items(), key=lambda item: item[1][0][0]):
        lived, peak, most_old, settled, last = memory_windows(samples)
        head = f"  {pid:>8}{lived:>9.0f}{peak / MIB:>10.1f}{most_old:>11}"
        if settled is None:
            out.write(f"{head}{'-':>23}{'-':>23}  (too short to judge)\n")
            continue
        grew = last[1] > settled[1] + max(floor, settled[1] * share)
        ok = ok and not grew
        out.write(f"{head}{settled[0] / MIB:>15.1f}, {settled[1] / MIB:>6.1f}"
                  f"{last[0] / MIB:>15.1f}, {last[1] / MIB:>6.1f}"
                  f"{'  MISSED: grew' if grew else '  ok'}\n")
    out.write("\nevents: " + ", ".join(f"{what} at {when - soak.started:.0f} s"
                                       for when, what in soak.events
                                       if not what.startswith("database variant")) + "\n")
    out.write(f"\n{'all targets met' if ok else 'TARGETS MISSED'}\n")
    return ok


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    length = parser.add_mutually_exclusive_group()
    length.add_argument("--minutes", type=float, default=10)
    length.add_argument("--seconds", type=float, help="run length in seconds (short runs)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", type=int, default=4, help="client processes")
    parser.add_argument("--rate", type=float, default=40, help="requests/s per client")
    parser.add_argument("--swap-seconds", type=float, default=5)
    parser.add_argument("--cli-seconds", type=float, default=2)
    parser.add_argument("--flush-seconds", type=float, default=2,
                        help="VISITORAPI_USAGE_FLUSH_SECONDS for the service")
    parser.add_argument("--keep", action="store_true",
                        help="keep the temporary folder (service log, store, memory.json)")
    args = parser.parse_args(argv)
    if args.seconds is None:
        args.seconds = args.minutes * 60
    if args.workers < 2 or args.clients < 1 or args.rate <= 0 or args.seconds < 5:
        parser.error("want --workers >= 2, --clients >= 1, --rate > 0 and a run of 5 s or more")
    folder = Path(tempfile.mkdtemp(prefix="visitorapi-soak-"))
    try:
        soak = Soak(args, folder)
        soak.run()
        if args.keep:  # the raw memory samples, for a closer look at a worker
            (folder / "memory.json").write_text(json.dumps(
                {pid: [(when - soak.started, *rest) for when, *rest in samples]
                 for pid, samples in soak.memory.items()}))
        return 0 if report(soak, sys.stdout) else 1
    finally:
        if args.keep:
            print(f"kept {folder}", file=sys.stderr)
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
