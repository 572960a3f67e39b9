"""Idle and slow clients cannot stall the real server (`visitorapi serve`, shipped config).

Browsers call the API directly, usually with no buffering proxy in front:
speculative preconnects open connections that never send anything, and slow
or abandoned clients send their request a byte at a time. While such
connections are held open, an ordinary request must still be answered.

gunicorn's ``sync`` worker fails both tests (one idle connection holds it
until its 30 s timeout), and so does gunicorn 27's plain ``gthread`` (each
idle connection holds a pool thread for 5 s; a trickling one holds it for
as long as it trickles); see visitorapi.web.gunicorn_worker.

Every wait here is bounded by a socket timeout; nothing asserts how fast.
"""
import json
import socket
import threading
import time
from pathlib import Path

import pytest

from visitorapi.web import gunicorn_conf, gunicorn_worker

from server_helpers import Server, base_env, compile_fixture, create_project

pytest.importorskip("visitorapi.ipdb.compiler")

ORIGIN = "https://shop.example"
IDLE_CONNECTIONS = 64        # 16x the shipped pool threads; each costs stock gthread 5 s
CLIENT_TIMEOUT = 30.0        # the ordinary request's patience: below sync's 30 s kill cycle x 2


@pytest.fixture
def server(tmp_path):
    env = base_env(tmp_path, VISITORAPI_TRUSTED_PROXIES="127.0.0.1/32")
    pid = create_project(Path(env["VISITORAPI_STATE"]), ["shop.example"])
    database = compile_fixture(tmp_path)
    with Server(tmp_path, "--db", database, "--workers", 1, env=env) as running:
        yield running, pid


def _ordinary_request(server, pid):
    """One API call as a customer page makes it; returns (status, body)."""
    connection = server.connection(timeout=CLIENT_TIMEOUT)
    try:
        connection.request("GET", f"/api/?pid={pid}",
                           headers={"Origin": ORIGIN, "X-Forwarded-For": "192.0.2.7"})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def _connect(port):
    return socket.create_connection(("127.0.0.1", port), timeout=CLIENT_TIMEOUT)


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


def test_trickling_request_heads_are_cut_off_and_others_served(server):
    """As many trickling clients as the worker has threads: the deadline frees them."""
    server, pid = server
    slow = [_connect(server.port) for _ in range(gunicorn_conf.threads)]
    stop = threading.Event()

    def trickle():
        """A byte every 0.2 s per connection, for at most 3 header timeouts."""
        deadline = time.monotonic() + 3 * gunicorn_worker.HEADER_TIMEOUT
        for sock in slow:
            sock.sendall(b"GET /api/?pid=" + pid.encode() + b" HTTP/1.1\r\nX-Slow: ")
        while not stop.is_set() and time.monotonic() < deadline:
            for sock in slow:
                try:
                    sock.sendall(b"z")
                except OSError:
                    pass  # cut off by the server: what this test expects
            stop.wait(0.2)

    trickler = threading.Thread(target=trickle)
    trickler.start()
    try:
        status, body = _ordinary_request(server, pid)
        assert status == 200, body
        cut_off = 0
        for sock in slow:
            try:
                # Bounded by CLIENT_TIMEOUT; the server ends the head without answering.
                cut_off += sock.recv(4096) == b""
            except ConnectionResetError:
                cut_off += 1
        assert cut_off == len(slow)
    finally:
        stop.set()
        trickler.join(timeout=60)
        for sock in slow:
            sock.close()
    assert "Traceback" not in server.output()
