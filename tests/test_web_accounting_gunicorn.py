"""Counting under a real gunicorn: several workers, several client processes,
a graceful reload (HUP) and a worker stopped with TERM mid-load, then a
graceful stop of the whole service. The usage store and /metrics must add up
exactly: nothing lost, nothing counted twice.

Twice over: a small app that answers the status a request asks for (so
every outcome, 429 included, is hit an exact number of times), with the
shipped threaded worker and with gunicorn's sync worker; and the real API
under ``visitorapi serve``, where authorization, the database lookup and the
country decide the outcome (all but 429, whose per-worker buckets make
exact counts depend on which worker answers).
"""
import http.client
import multiprocessing
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from visitorapi.state import db, usage

from support import exposition
from support.servers import Server, base_env, compile_fixture, create_project

APPS = Path(__file__).resolve().parent / "apps"
ROOT = APPS.parent.parent

# Each client cycles through these requests: (query, Origin header, expected usage row).
PLAN = [
    ("status=200&pid=p1&cc=DE", None, ("p1", "served")),
    ("status=200&pid=p2&cc=US", None, ("p2", "served")),
    ("status=403&pid=p1", "https://evil.test", ("p1", "denied")),
    ("status=403", "https://x.test", ("", "unknown_project")),
    ("status=429&pid=p1", None, ("p1", "rate_limited")),
    ("status=400", None, ("", "bad_request")),
]
CLIENTS = 4
PER_CLIENT = 120


def _client(port, index, done, requests):
    """Send PER_CLIENT requests, cycling through ``requests`` ((path, headers)) from ``index``."""
    for i in range(PER_CLIENT):
        path, headers = requests[(i + index) % len(requests)]
        for attempt in range(3):
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                response.read()
                conn.close()
                break
            except ConnectionError:
                # NOTE: refused before gunicorn accepted it, so never counted: safe to retry.
                if attempt == 2:
                    raise
                time.sleep(0.05)
        with done.get_lock():
            done.value += 1


def _expected(keys):
    """How often each of ``keys`` (one per planned request) is sent in all."""
    expected = {}
    for index in range(CLIENTS):
        for i in range(PER_CLIENT):
            key = keys[(i + index) % len(keys)]
            expected[key] = expected.get(key, 0) + 1
    return expected


def _run_load(master, port, requests):
    """Run the clients; HUP the master a third of the way, TERM a worker at two thirds."""
    done = multiprocessing.get_context("fork").Value("i", 0)
    clients = [multiprocessing.get_context("fork").Process(target=_client,
                                                           args=(port, i, done, requests))
               for i in range(CLIENTS)]
    for client in clients:
        client.start()
    total = CLIENTS * PER_CLIENT
    deadline = time.monotonic() + 120

    def wait_for(count):
        while done.value < count:
            assert time.monotonic() < deadline, f"load stalled at {done.value}"
            time.sleep(0.01)

    wait_for(total // 3)
    os.kill(master, signal.SIGHUP)              # graceful reload: every worker replaced
    wait_for(2 * total // 3)
    os.kill(_worker_pids(master)[0], signal.SIGTERM)  # one worker stops gracefully
    for client in clients:
        client.join(120)
        assert client.exitcode == 0


def _metrics_converge(port, want):
    """Poll /metrics until its /api counts equal ``want``; never above it, never backwards."""
    seen = {}
    deadline = time.monotonic() + 30
    while True:
        families = _metrics(port)
        counted = _api_requests(families)
        for key, value in counted.items():
            assert value <= want.get(key, 0), f"{key} counted twice: {value} > {want.get(key)}"
            assert value >= seen.get(key, 0), f"{key} went backwards"
        seen = counted
        if counted == want:
            return families
        assert time.monotonic() < deadline, f"metrics stuck at {counted}, want {want}"
        time.sleep(0.1)


def _stored(state_path, pids):
    """{(pid, outcome): count} from the usage store."""
    conn = db.connect(state_path)
    stored = {}
    for pid in pids:
        for day in usage.daily(conn, pid, days=2):
            for outcome in usage.OUTCOMES:
                if getattr(day, outcome):
                    stored[(pid, outcome)] = stored.get((pid, outcome), 0) + getattr(day, outcome)
    conn.close()
    return stored


def _worker_pids(master):
    children = Path(f"/proc/{master}/task/{master}/children")
    return [int(pid) for pid in children.read_text().split()] if children.exists() else []


def _metrics(port):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/metrics")
    response = conn.getresponse()
    body = response.read().decode()
    conn.close()
    assert response.status == 200
    return exposition.parse(body)


def _api_requests(families):
    return {(labels["status"], labels["project"]): value
            for name, labels, value in families["visitorapi_requests_total"]["samples"]
            if labels["route"] == "/api"}


# The shipped worker (threads; graceful stop waits for requests in flight on
# every thread) and gunicorn's sync worker, which operators may still choose.
WORKER_MODELS = [
    pytest.param(["--worker-class", "visitorapi.web.gunicorn_worker.ThreadWorker",
                  "--threads", "4"], id="shipped-gthread"),
    pytest.param(["--worker-class", "sync"], id="sync"),
]


@pytest.fixture(params=WORKER_MODELS)
def gunicorn(tmp_path, request):
    env = dict(os.environ, VISITORAPI_STATE=str(tmp_path / "state.sqlite3"),
               VISITORAPI_RUN_DIR=str(tmp_path / "run"), TEST_INTERVAL="0.2",
               PYTHONPATH=os.pathsep.join([str(ROOT), str(APPS)]))
    env.pop("VISITORAPI_METRICS_DIR", None)
    db.connect(tmp_path / "state.sqlite3", create=True).close()  # as `visitorapi serve` does
    log = open(tmp_path / "gunicorn.log", "w+")
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", str(APPS / "counting_gunicorn.py"),
         "-b", "127.0.0.1:0", *request.param, "counting_app:app"],
        env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 60
        port = None
        while port is None:
            assert process.poll() is None, Path(log.name).read_text()
            assert time.monotonic() < deadline, "gunicorn did not start"
            match = re.search(r"Listening at: http://127\.0\.0\.1:(\d+)", Path(log.name).read_text())
            port = int(match.group(1)) if match else time.sleep(0.05)
        while len(_worker_pids(process.pid)) < 3:
            assert time.monotonic() < deadline, "workers did not boot"
            time.sleep(0.05)
        yield process, port, tmp_path
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(30)
        log.close()


def test_counts_add_up_across_workers_reload_and_stop(gunicorn):
    process, port, tmp_path = gunicorn
    _run_load(process.pid, port, [(f"/api?{query}", {"Origin": origin} if origin else {})
                                  for query, origin, _ in PLAN])

    expected = _expected([key for _, _, key in PLAN])
    by_status = {}
    for query, _, (pid, outcome) in PLAN:
        status = re.search(r"status=(\d+)", query).group(1)
        project = pid if outcome != "unknown_project" else ""
        by_status[(status, project)] = expected[(pid, outcome)]

    # /metrics: any worker's answer converges to the exact totals, never above them.
    families = _metrics_converge(port, by_status)
    assert exposition.value(families, "visitorapi_worker_exits_total") >= 3  # HUP replaced 3
    assert 1 <= exposition.value(families, "visitorapi_workers") <= 3  # a fresh worker may be idle
    assert exposition.value(families, "visitorapi_usage_flush_failures_total") == 0

    process.send_signal(signal.SIGTERM)          # graceful stop: every worker writes what is pending
    assert process.wait(60) == 0
    assert _stored(tmp_path / "state.sqlite3", ("p1", "p2", "")) == expected
    conn = db.connect(tmp_path / "state.sqlite3")
    assert dict(usage.countries(conn, "p1", days=2)) == {"DE": expected[("p1", "served")]}
    [origin] = usage.top_denied_origins(conn)
    assert (origin.pid, origin.origin, origin.requests) == ("p1", "https://evil.test",
                                                           expected[("p1", "denied")])
    conn.close()
    assert not any((tmp_path / "run").iterdir()), "the metrics directory outlived the service"


def test_the_real_api_counts_exactly_under_serve(tmp_path):
    database = compile_fixture(tmp_path)
    env = base_env(tmp_path, VISITORAPI_TRUSTED_PROXIES="127.0.0.1/32",
                   VISITORAPI_CLIENT_RATE="0", VISITORAPI_PROJECT_RATE="0",
                   VISITORAPI_USAGE_FLUSH_SECONDS="0.2", VISITORAPI_METRICS_INTERVAL="0.2")
    state = Path(env["VISITORAPI_STATE"])
    shop = create_project(state, ["shop.example"], name="shop")
    other = create_project(state, ["other.example"], name="other")
    unknown = "U" * 20  # well formed, in no project
    # (path, headers, usage key, metrics key, country): the fixture database
    # puts 192.0.2.0/24 in DE and 203.0.113.0/24 in US.
    plan = [
        (f"/api/?pid={shop}", {"Origin": "https://shop.example", "X-Forwarded-For": "192.0.2.7"},
         (shop, "served"), ("200", shop), "DE"),
        (f"/api/?pid={other}",
         {"Origin": "https://other.example", "X-Forwarded-For": "203.0.113.9"},
         (other, "served"), ("200", other), "US"),
        (f"/api/?pid={shop}", {"Origin": "https://evil.test"}, (shop, "denied"), ("403", shop),
         None),
        (f"/api/?pid={unknown}", {"Origin": "https://shop.example"}, ("", "unknown_project"),
         ("403", ""), None),
        ("/api/?pid=not*a*pid", {"Origin": "https://shop.example"}, ("", "bad_request"),
         ("400", ""), None),
    ]
    expected = _expected([usage_key for _, _, usage_key, _, _ in plan])
    by_status = _expected([metrics_key for _, _, _, metrics_key, _ in plan])
    with Server(tmp_path, "--db", database, "--workers", 3, "--no-demo", env=env) as server:
        while len(_worker_pids(server.process.pid)) < 3:
            time.sleep(0.05)
        _run_load(server.process.pid, server.port,
                  [(path, headers) for path, headers, *_ in plan])
        families = _metrics_converge(server.port, by_status)
        assert exposition.value(families, "visitorapi_usage_flush_failures_total") == 0
    assert server.process.returncode == 0  # a graceful stop, which writes what is pending
    assert _stored(state, (shop, other, "")) == expected
    conn = db.connect(state)
    assert dict(usage.countries(conn, shop, days=2)) == {"DE": expected[(shop, "served")]}
    assert dict(usage.countries(conn, other, days=2)) == {"US": expected[(other, "served")]}
    [origin] = usage.top_denied_origins(conn)
    assert (origin.pid, origin.origin, origin.requests) == (shop, "https://evil.test",
                                                           expected[(shop, "denied")])
    conn.close()
