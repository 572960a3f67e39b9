"""The service under a real gunicorn (`visitorapi serve`) on 127.0.0.1.

- TLS 1.2+ with an openssl-made self-signed certificate;
- the retention canary: all logging on, canary IPs through a trusted proxy
  header and canary User-Agents, Referers and query strings, malformed
  requests; then no log and no file the service wrote contains any of them;
- hot database replacement under load: no failed request, the new data
  served within seconds, a corrupt replacement refused and logged.
"""
import json
import os
import shutil
import socket
import ssl
import threading
import time
from pathlib import Path

import pytest

from visitorapi.state import usage
from visitorapi.state.db import connect

from support.cluster import make_certificate
from support.servers import (FIXTURE_CSV, Server, base_env, compile_fixture, create_project,
                            tls_client_context)

# The server needs the IP database compiler and reader (ipdb).
pytest.importorskip("visitorapi.ipdb.compiler")

ORIGIN = "https://shop.example"


@pytest.fixture(scope="module")
def fixture_db(tmp_path_factory):
    return compile_fixture(tmp_path_factory.mktemp("ipdb"))


@pytest.fixture
def project(tmp_path):
    env = base_env(tmp_path)
    pid = create_project(Path(env["VISITORAPI_STATE"]), ["shop.example"])
    return env, pid


# -- TLS ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    return make_certificate(tmp_path_factory.mktemp("tls"))


def test_tls_serves_the_api_with_hsts_and_refuses_old_protocols(tmp_path, fixture_db, project,
                                                                certificate):
    env, pid = project
    cert, key = certificate
    with Server(tmp_path, "--db", fixture_db, "--certfile", cert, "--keyfile", key,
                "--workers", 1, env=env, tls_context=tls_client_context(cert)) as server:
        status, headers, body = server.request(f"/api/?pid={pid}", {"Origin": ORIGIN})
        assert status == 200, body
        assert json.loads(body)["status"] == 200
        assert headers["Strict-Transport-Security"].startswith("max-age=")
        assert headers["Access-Control-Allow-Origin"] == ORIGIN
        # kept alive: the handshake and both requests are read in the worker's poller
        connection = server.connection()
        try:
            for _ in range(2):
                connection.request("GET", f"/api/?pid={pid}", headers={"Origin": ORIGIN})
                response = connection.getresponse()
                assert response.status == 200 and json.loads(response.read())["status"] == 200
        finally:
            connection.close()

        for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            client = tls_client_context(cert)
            client.minimum_version = client.maximum_version = version
            with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw:
                with client.wrap_socket(raw) as tls:
                    assert tls.version() == version.name.replace("v1_", "v1.")
        # plain HTTP to the TLS port gets no HTTP answer
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw:
            raw.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert not raw.recv(100).startswith(b"HTTP/1.1 200")


def test_shipped_tls_context_refuses_tls_below_1_2():
    """The floor itself (a client refusing old TLS on its own would hide a missing floor)."""
    from visitorapi.web import gunicorn_conf
    context = gunicorn_conf.ssl_context(None, lambda: ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER))
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2


def test_serve_refuses_a_mismatched_certificate_pair(tmp_path, fixture_db, certificate):
    from conftest import run_cli
    result = run_cli("serve", "--db", fixture_db, "--certfile", certificate[0],
                     "--keyfile", certificate[0], env=base_env(tmp_path))
    assert result.returncode == 1
    assert "cannot use --certfile" in result.stderr


# -- retention canary -----------------------------------------------------------------------

CANARY_IPS = ["198.51.100.173", "2001:db8:ca:fe::173"]
FOREIGN_ORIGIN = "https://foreign-site.test"
CANARY_STRINGS = ["CanaryUA-5e1f0c", "canary-referer-77ab", "canaryquery91d2",
                  "CanaryPath-a0b1", "CanaryHeader-3c3c", *CANARY_IPS]


def _raw(port, data: bytes):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        try:
            return sock.recv(65536)
        except OSError:
            return b""


def test_no_visitor_data_in_any_log_or_file(tmp_path, fixture_db, project):
    env, pid = project
    env.update({"VISITORAPI_TRUSTED_PROXIES": "127.0.0.1/32",
                "VISITORAPI_CLIENT_RATE": "1", "VISITORAPI_CLIENT_BURST": "2",
                "VISITORAPI_LOG_LEVEL": "debug", "VISITORAPI_LOG_FORMAT": "json",
                "VISITORAPI_USAGE_FLUSH_SECONDS": "0.2", "VISITORAPI_METRICS_INTERVAL": "0.2",
                "VISITORAPI_REQUEST_TIMEOUT": "1",
                "VISITORAPI_RUN_DIR": str(tmp_path / "run"),
                "GUNICORN_CMD_ARGS": (f"--log-level debug --access-logfile {tmp_path}/access.log "
                                      f"--error-logfile {tmp_path}/error.log")})
    with Server(tmp_path, "--db", fixture_db, "--workers", 2, env=env) as server:
        sent = 0
        for ip in CANARY_IPS:
            # NOTE: a refused Origin is kept on purpose (usage_denied_origins: the
            # website using the pid, never the visitor), so it is not a canary.
            for origin in (ORIGIN, FOREIGN_ORIGIN):
                headers = {"X-Forwarded-For": ip, "User-Agent": f"Mozilla/5.0 {CANARY_STRINGS[0]}",
                           "Origin": origin,
                           "Referer": f"https://{CANARY_STRINGS[1]}.example/page",
                           "X-Canary": CANARY_STRINGS[4]}
                for query in (f"pid={pid}&_={CANARY_STRINGS[2]}",
                              f"pid={pid}&ip={CANARY_STRINGS[2]}"):
                    status, _, body = server.request(f"/api/?{query}", headers)
                    assert status in (200, 400, 403, 429), body
                    sent += 1
            # rejected proxy entry, unknown path, preflight
            server.request(f"/api/?pid={pid}", {"X-Forwarded-For": f"{ip}, {CANARY_STRINGS[4]}",
                                                 "Origin": ORIGIN})
            server.request(f"/{CANARY_STRINGS[3]}?{CANARY_STRINGS[2]}",
                           {"X-Forwarded-For": ip, "User-Agent": CANARY_STRINGS[0]})
            server.request(f"/api/?pid={pid}", {"Origin": ORIGIN, "X-Forwarded-For": ip,
                                                 "Access-Control-Request-Method": "GET"},
                           method="OPTIONS")
        # what gunicorn itself rejects: bad request line, header limits, bad header
        _raw(server.port, f"GET /{CANARY_STRINGS[3]}?{CANARY_STRINGS[2]} HTTP/1.1 x\r\n\r\n".encode())
        _raw(server.port, f"GET /api/?q={'x' * 3000}{CANARY_STRINGS[2]} HTTP/1.1\r\n\r\n".encode())
        _raw(server.port, (f"GET /api/ HTTP/1.1\r\nHost: x\r\nUser-Agent: {CANARY_STRINGS[0]}"
                           f"{'y' * 5000}\r\n\r\n").encode())
        _raw(server.port, (f"GET /api/ HTTP/1.1\r\nHost: x\r\nBad\x01Header: {CANARY_STRINGS[4]}"
                           f"\r\n\r\n").encode())
        many = "".join(f"X-H{i}: {CANARY_STRINGS[4]}\r\n" for i in range(60))
        _raw(server.port, f"GET /api/ HTTP/1.1\r\nHost: x\r\n{many}\r\n".encode())
        _raw(server.port, f"GET /api/ HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: {CANARY_IPS[0]}\r\n"
                          f"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n".encode())
        # heads and bodies the client cuts off mid-way, and ones the request deadline
        # (VISITORAPI_REQUEST_TIMEOUT=1) cuts off: gunicorn logs the bytes read so far
        # at debug level ("Ignored premature client disconnection. No more data after")
        head = (f"GET /api/?pid={pid}&q={CANARY_STRINGS[2]} HTTP/1.1\r\nHost: x\r\n"
                f"X-Forwarded-For: {CANARY_IPS[0]}\r\nUser-Agent: {CANARY_STRINGS[0]}\r\n").encode()
        body = (f"POST /dashboard/login HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: {CANARY_IPS[1]}\r\n"
                "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 500\r\n\r\n"
                f"email={CANARY_STRINGS[4]}").encode()
        for partial in (head, body):
            with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
                sock.sendall(partial)  # and close: truncated
            with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
                sock.sendall(partial)
                assert sock.recv(100) == b""  # cut off at the deadline, without an answer
        assert server.request("/healthz")[0] == 200
        # what operations keep: /metrics (saved so the scan below reads it) and the
        # per-worker metrics files (removed when the master exits, so copied now)
        assert server.request("/metrics", {"X-Forwarded-For": CANARY_IPS[0]})[0] == 403
        time.sleep(0.5)  # NOTE: lets every worker publish; the assertions below do not time anything
        status, _, metrics_body = server.request("/metrics")
        assert status == 200 and b'route="/api"' in metrics_body
        (tmp_path / "metrics.txt").write_bytes(metrics_body)
        shutil.copytree(tmp_path / "run", tmp_path / "run-copy")
    access_log = (tmp_path / "access.log").read_text(errors="replace")
    assert access_log.count("/api/") >= sent           # the access log was really on
    error_log = (tmp_path / "error.log").read_text(errors="replace")
    assert "invalid request refused" in error_log      # and gunicorn's warnings were there
    conn = connect(env["VISITORAPI_STATE"])
    [counts] = usage.daily(conn, pid, days=1)
    assert counts.served and counts.denied and counts.bad_request  # the usage tables were written
    assert [o.origin for o in usage.top_denied_origins(conn, pid)] == [FOREIGN_ORIGIN]
    assert usage.countries(conn, pid, days=1)
    conn.close()
    error_lines = [line for line in error_log.splitlines() if line.startswith("{")]
    assert error_lines and all(json.loads(line)["event"] for line in error_lines)  # JSON logs
    written = [path for path in tmp_path.rglob("*") if path.is_file()
               and path.resolve() != Path(fixture_db).resolve()]
    assert any(path.name.startswith("worker-") for path in written)
    assert written
    # NOTE: the server is stopped and this process's connection is closed: reading a
    # store file's bytes with a connection open would drop its locks (tests/test_state_db_locks.py).
    for path in written:
        content = path.read_bytes()
        for canary in CANARY_STRINGS:
            assert canary.encode() not in content, f"{canary} found in {path}"
            assert canary.lower().encode() not in content.lower(), f"{canary} found in {path}"


# -- hot database replacement ----------------------------------------------------------------

def test_database_replacement_under_load(tmp_path, fixture_db, project):
    env, pid = project
    env.update({"VISITORAPI_DB_CHECK_INTERVAL": "0.2", "VISITORAPI_CLIENT_RATE": "0",
                "VISITORAPI_TRUSTED_PROXIES": "127.0.0.1/32"})
    live = tmp_path / "live.vdb"
    shutil.copy(fixture_db, live)
    replacement = compile_fixture(tmp_path, FIXTURE_CSV.replace("DE,Berlin", "AT,Vienna"),
                                  name="next.vdb")
    workers = 2
    with Server(tmp_path, "--db", live, "--workers", workers, env=env) as server:
        failures, regions, stop = [], [], threading.Event()

        def load():
            """Request continuously (bounded in time) and record every answer."""
            deadline = time.monotonic() + 60
            while not stop.is_set() and time.monotonic() < deadline:
                try:
                    status, _, body = server.request(f"/api/?pid={pid}", VISITOR)
                except OSError as exc:
                    failures.append(("error", repr(exc)))
                    continue
                if status != 200:
                    failures.append((status, body))
                else:
                    regions.append(json.loads(body)["data"]["region"])

        threads = [threading.Thread(target=load) for _ in range(3)]
        for thread in threads:
            thread.start()
        try:
            # NOTE: requests cannot choose their worker, so answers prove nothing
            # about the other one. On a busy machine it may still be booting (it
            # would then open whichever file is in place by then, the corrupt one
            # included), or take no request while twenty answers in a row come
            # from its sibling and so keep serving Berlin into the corrupt swap.
            # Wait for what each worker logs instead, while the load keeps
            # requests flowing to both (a worker checks the file on a request).
            assert server.wait_logged("db.loaded", workers) == workers
            assert _all_answers(server, pid, "Berlin")
            incoming = tmp_path / "incoming.vdb"
            logged = server.log_mark()
            shutil.copy(replacement, incoming)
            os.replace(incoming, live)
            assert server.wait_logged("db.replaced", workers, since=logged) == workers
            assert _all_answers(server, pid, "Vienna")
            corrupt = tmp_path / "corrupt.vdb"
            corrupt.write_bytes(live.read_bytes()[:200])
            logged = server.log_mark()
            os.replace(corrupt, live)
            assert server.wait_logged("db.refused", workers, since=logged) == workers
            assert _all_answers(server, pid, "Vienna")   # the old one keeps serving
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=30)
        assert failures == []
        assert {"Berlin", "Vienna"} <= set(regions)
    assert "database replacement refused" in server.output()


VISITOR = {"Origin": ORIGIN, "X-Forwarded-For": "192.0.2.1"}


def _all_answers(server, pid, region):
    """Ask 20 times, on fresh connections spread over the workers; all must say ``region``."""
    for _ in range(20):
        status, _, body = server.request(f"/api/?pid={pid}", VISITOR)
        if status != 200 or json.loads(body)["data"]["region"] != region:
            return False
    return True
