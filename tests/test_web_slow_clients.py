"""Idle and slow clients cannot stall the real server (`visitorapi serve`, shipped config).

Browsers call the API directly, usually with no buffering proxy in front:
speculative preconnects open connections that never send anything, and slow
or abandoned clients (and slowloris attacks) send their request a byte or a
line at a time. While such connections are held open, ordinary requests
must still be answered.

gunicorn's ``sync`` worker fails these tests (one idle connection holds it
until its 30 s timeout), and so does gunicorn 27's plain ``gthread``: a
connection holds a pool thread from its first byte to the end of its
request; see visitorapi.web.gunicorn_worker.

Every wait here is bounded by a socket timeout; nothing asserts how fast.
Latencies are printed (``pytest -s``), never asserted.
"""
import json
import socket
import statistics
import time
from pathlib import Path

import pytest

from support.servers import Server, base_env, compile_fixture, create_project
from support.slow_clients import SlowClients, many_sources

pytest.importorskip("visitorapi.ipdb.compiler")

ORIGIN = "https://shop.example"
IDLE_CONNECTIONS = 64        # 16x the shipped pool threads
CLIENT_TIMEOUT = 30.0        # a test socket's patience with the server; never reached when it works
NOT_STARVED = 10.0           # an ordinary request slower than this has been starved
ROUNDS = 12                  # seconds of slow-client pressure (one piece per connection per round)


def _start(tmp_path, workers=1, **settings):
    env = base_env(tmp_path, VISITORAPI_TRUSTED_PROXIES="127.0.0.1/32", **settings)
    pid = create_project(Path(env["VISITORAPI_STATE"]), ["shop.example"])
    database = compile_fixture(tmp_path)
    return Server(tmp_path, "--db", database, "--workers", workers, env=env), pid


@pytest.fixture
def server(tmp_path):
    running, pid = _start(tmp_path)
    with running:
        yield running, pid


def _ordinary_request(server, pid, n=7, timeout=CLIENT_TIMEOUT):
    """One API call as a customer page makes it (from 127.0.0.1, a trusted proxy)."""
    connection = server.connection(timeout=timeout)
    try:
        connection.request("GET", f"/api/?pid={pid}",
                           headers={"Origin": ORIGIN, "X-Forwarded-For": f"192.0.2.{n % 250 + 1}"})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def _connect(port, source="127.0.0.1"):
    return socket.create_connection(("127.0.0.1", port), timeout=CLIENT_TIMEOUT,
                                    source_address=(source, 0))


def _closed_by_server(sock) -> bool:
    """Wait (at most the socket timeout) for the server to close ``sock`` without answering."""
    try:
        return sock.recv(4096) == b""
    except ConnectionResetError:
        return True


def test_idle_connections_do_not_stall_requests(server):
    server, pid = server
    idle = [_connect(server.port) for _ in range(IDLE_CONNECTIONS)]
    try:
        status, body = _ordinary_request(server, pid)
        assert status == 200, body
        assert json.loads(body)["data"]["countryCode"] == "DE"
        for sock in idle:  # the server never answered a connection that asked nothing
            sock.setblocking(False)
            try:
                assert sock.recv(1) == b""  # closed by the server (idle timeout) is fine
            except BlockingIOError:
                pass  # still open, silent
    finally:
        for sock in idle:
            sock.close()


@pytest.mark.parametrize("sources", [
    pytest.param(["127.0.0.2"], id="one-address"),
    pytest.param(many_sources(50), id="50-addresses"),
])
def test_slow_heads_and_bodies_do_not_starve_the_api(tmp_path, sources):
    """Issue 13: 200 slow heads and 50 slow dashboard bodies; every /api request answers."""
    server, pid = _start(tmp_path, workers=2)
    latencies = []
    with server, SlowClients(server.port, pid, heads=200, bodies=50, sources=sources) as slow:
        assert slow.ready.wait(timeout=60), "the slow clients could not connect"
        # Past the request deadline (10 s), so slow heads are also cut off and reopened.
        until = slow.rounds + ROUNDS
        while slow.rounds < until or len(latencies) < 100:
            started = time.perf_counter()
            status, body = _ordinary_request(server, pid, len(latencies), timeout=NOT_STARVED)
            latencies.append(time.perf_counter() - started)
            assert status == 200, body
            time.sleep(0.05)
        output = server.output()
    assert slow.opened >= 250 and slow.closed_by_server  # the server did cut them off
    assert "Traceback" not in output
    latencies.sort()
    print(f"\n{len(sources)} source address(es), {slow.opened} slow connections opened, "
          f"{slow.closed_by_server} closed by the server: {len(latencies)} /api requests, median "
          f"{statistics.median(latencies) * 1000:.1f} ms, p99 "
          f"{latencies[int(len(latencies) * 0.99) - 1] * 1000:.1f} ms, "
          f"max {latencies[-1] * 1000:.1f} ms")


def test_a_slow_head_is_cut_off_at_the_request_deadline(tmp_path):
    server, pid = _start(tmp_path, VISITORAPI_REQUEST_TIMEOUT=2)
    with server:
        slow = _connect(server.port, "127.0.0.2")
        slow.sendall(f"GET /api/?pid={pid} HTTP/1.1\r\nHost: x\r\n".encode())
        assert _closed_by_server(slow)  # bounded by CLIENT_TIMEOUT, far above the deadline
        slow.close()
        assert _ordinary_request(server, pid)[0] == 200


def test_a_slow_body_is_cut_off_and_never_reaches_the_dashboard(tmp_path):
    server, pid = _start(tmp_path, VISITORAPI_REQUEST_TIMEOUT=2)
    with server:
        slow = _connect(server.port, "127.0.0.2")
        slow.sendall(b"POST /dashboard/login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Content-Type: application/x-www-form-urlencoded\r\n"
                     b"Content-Length: 60000\r\n\r\nemail=a")
        assert _closed_by_server(slow)  # no answer: the request never reached the app
        slow.close()
        assert _ordinary_request(server, pid)[0] == 200


def test_waiting_connections_over_the_per_client_cap_close_the_oldest(tmp_path):
    server, pid = _start(tmp_path, VISITORAPI_MAX_PENDING_PER_CLIENT=4,
                         VISITORAPI_REQUEST_TIMEOUT=120)
    with server:
        partial = f"GET /api/?pid={pid} HTTP/1.1\r\nHost: x\r\n".encode()
        oldest = _connect(server.port, "127.0.0.2")
        oldest.sendall(partial)
        others = [_connect(server.port, "127.0.0.2") for _ in range(4)]
        for sock in others:
            sock.sendall(partial)
        # The 5th connection from 127.0.0.2 closed the 1st at once (its deadline is 120 s).
        assert _closed_by_server(oldest)
        # Another address is not affected, and the others still finish their request.
        elsewhere = _connect(server.port, "127.0.0.3")
        elsewhere.sendall(partial + f"Origin: {ORIGIN}\r\n\r\n".encode())
        assert elsewhere.recv(4096).startswith(b"HTTP/1.1 200")
        others[-1].sendall(f"Origin: {ORIGIN}\r\n\r\n".encode())
        assert others[-1].recv(4096).startswith(b"HTTP/1.1 200")
        for sock in [oldest, elsewhere, *others]:
            sock.close()


def test_keepalive_pipelining_and_forms_are_served(tmp_path):
    """Requests read in the poller are the same requests: kept-alive, pipelined, with a body."""
    server, pid = _start(tmp_path)
    with server:
        sock = _connect(server.port)
        request = (f"GET /api/?pid={pid} HTTP/1.1\r\nHost: x\r\nOrigin: {ORIGIN}\r\n"
                   "X-Forwarded-For: 192.0.2.9\r\n\r\n").encode()
        sock.sendall(request * 3)  # pipelined
        received = b""
        while received.count(b'"countryCode":"DE"') < 3:  # three whole answers
            data = sock.recv(65536)
            assert data, received
            received += data
        assert received.count(b"HTTP/1.1 200") == 3
        # A form body, with Expect: 100-continue: the worker answers 100 before the body.
        form = b"email=nobody%40example.test&password=wrong"
        sock.sendall(b"POST /dashboard/login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Content-Type: application/x-www-form-urlencoded\r\n"
                     b"Expect: 100-continue\r\n"
                     b"Content-Length: " + str(len(form)).encode() + b"\r\n\r\n")
        assert sock.recv(4096) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(form)
        answer = sock.recv(65536)
        status = int(answer.split(b" ", 2)[1])
        assert status not in (100, 408, 500), answer[:200]
        assert 400 <= status < 500 or status in (200, 303), answer[:200]
        sock.close()


@pytest.mark.parametrize("head, status", [
    pytest.param(b"GET /api/?q=" + b"x" * 3000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", b"414",
                 id="request-line-too-long"),
    pytest.param(b"GET /api/?q=" + b"x" * 3000, b"414", id="request-line-too-long-unfinished"),
    pytest.param(b"GET /api/ HTTP/1.1\r\nHost: x\r\n"
                 + b"".join(b"X-H%d: y\r\n" % i for i in range(60)) + b"\r\n", b"431",
                 id="too-many-headers"),
    pytest.param(b"GET /api/ HTTP/1.1\nHost: x\n\n", b"400", id="bare-lf"),
    pytest.param(b"GET /api/ HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n"
                 b"\r\n", b"400", id="two-content-lengths"),
])
def test_heads_gunicorn_refuses_are_answered_at_once(server, head, status):
    """Heads read in the poller reach gunicorn's parser whole: its 4xx come at once."""
    server, _ = server
    with _connect(server.port) as sock:
        sock.sendall(head)
        assert sock.recv(4096).split(b" ", 2)[1] == status  # not the deadline's silent close
