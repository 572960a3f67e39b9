"""Issue 13 section 5 against a real gunicorn (`visitorapi serve`) on 127.0.0.1.

- requests gunicorn itself refuses (bad request line, header, limits,
  transfer coding) get the application's JSON error and security headers,
  and neither the answer nor the log repeats what was sent;
- an HTTP/1.1 request without Host is a 400;
- TLS 1.2 offers only ECDHE AEAD suites, and HSTS carries the configured
  includeSubDomains and preload;
- gunicorn's control socket exists only when VISITORAPI_CONTROL_SOCKET asks for it.
"""
import json
import socket
import ssl
import time
from pathlib import Path

import pytest

from support.servers import Server, base_env, tls_client_context
from test_web_server import certificate, fixture_db  # noqa: F401 - fixtures shared with it

pytest.importorskip("visitorapi.ipdb.compiler")

CANARY = "<script>CanaryFragment7731</script>"


@pytest.fixture(scope="module")
def plain_server(tmp_path_factory, fixture_db):  # noqa: F811
    tmp_path = tmp_path_factory.mktemp("plain")
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    env = base_env(tmp_path, XDG_RUNTIME_DIR=runtime)
    with Server(tmp_path, "--db", fixture_db, "--workers", 1, env=env) as server:
        server.runtime = runtime
        yield server


def raw_exchange(port: int, data: bytes, context=None) -> bytes:
    """Send ``data`` on a new connection and read until the server closes it."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        sock = context.wrap_socket(raw) if context else raw
        sock.sendall(data)
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)


def parse(reply: bytes):
    head, _, body = reply.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split()[1]), headers, body


REFUSED = [
    pytest.param(b"GET /" + b"a" * 3000 + CANARY.encode() + b" HTTP/1.1\r\nHost: x\r\n\r\n",
                 414, "longer than 2048 bytes", id="414-request-line"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: x\r\n" + b"".join(
        b"X-%d: %s\r\n" % (i, CANARY.encode()) for i in range(60)) + b"\r\n",
                 431, "more than 40 header fields", id="431-too-many-headers"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + CANARY.encode() * 300 + b"\r\n\r\n",
                 431, "longer than 4096 bytes", id="431-header-too-long"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: x\r\n" + CANARY.encode() + b": y\r\n\r\n",
                 400, "header is malformed", id="400-header-name"),
    pytest.param(CANARY.encode() + b" / HTTP/1.1\r\nHost: x\r\n\r\n",
                 400, "request line is not valid", id="400-method"),
    pytest.param(b"POST /api/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: " + b"x-canary, chunked"
                 + b"\r\nX-Canary: " + CANARY.encode() + b"\r\n\r\n0\r\n\r\n",
                 501, "transfer coding is not supported", id="501-transfer-coding"),
]


@pytest.mark.parametrize("request_bytes, status, message", REFUSED)
def test_requests_gunicorn_refuses_get_the_apps_json_and_headers(plain_server, request_bytes,
                                                                 status, message):
    got, headers, body = parse(raw_exchange(plain_server.port, request_bytes))
    assert got == status
    assert json.loads(body) == {"status": status, "result": json.loads(body)["result"]}
    assert message in json.loads(body)["result"]
    assert headers["content-type"] == "application/json; charset=utf-8"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["cache-control"] == "no-store"
    assert headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["content-length"] == str(len(body))
    assert "strict-transport-security" not in headers  # plain HTTP
    assert b"Canary" not in body and b"<" not in body
    assert "Canary" not in plain_server.output()


def test_http11_without_host_is_a_400_on_a_real_server(plain_server):
    status, headers, body = parse(raw_exchange(
        plain_server.port, b"GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n"))
    assert status == 400 and "Host header" in json.loads(body)["result"]
    status, _, _ = parse(raw_exchange(
        plain_server.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
    assert status == 200


def test_no_control_socket_unless_asked(plain_server, tmp_path, fixture_db):  # noqa: F811
    assert plain_server.request("/healthz")[0] == 200
    home = Path(plain_server.env["HOME"])
    assert not (plain_server.runtime / "gunicorn.ctl").exists()
    assert not (home / ".gunicorn" / "gunicorn.ctl").exists()
    wanted = tmp_path / "ctl" / "visitorapi.ctl"
    env = base_env(tmp_path, VISITORAPI_CONTROL_SOCKET=wanted)
    with Server(tmp_path, "--db", fixture_db, "--workers", 1, env=env):
        for _ in range(200):  # the arbiter opens it in a thread after the workers start
            if wanted.exists():
                break
            time.sleep(0.05)
        assert wanted.is_socket()


# -- TLS ---------------------------------------------------------------------------------------

CBC_AND_NON_ECDHE = ["ECDHE-ECDSA-AES128-SHA256", "ECDHE-ECDSA-AES256-SHA384",
                     "ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA",
                     "ECDHE-RSA-AES128-SHA256", "ECDHE-RSA-AES256-SHA384", "AES128-GCM-SHA256",
                     "AES256-SHA256", "DHE-RSA-AES128-GCM-SHA256"]
AEAD = ["ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305"]


def _tls12_client(cert, cipher):
    context = tls_client_context(cert)
    context.minimum_version = context.maximum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.set_ciphers(cipher)
    except ssl.SSLError:
        return None  # this OpenSSL cannot even offer it
    return context


def test_tls12_offers_only_ecdhe_aead_and_hsts_carries_the_settings(tmp_path, fixture_db,  # noqa: F811
                                                                    certificate):  # noqa: F811
    cert, key = certificate
    env = base_env(tmp_path, VISITORAPI_HSTS_INCLUDE_SUBDOMAINS=1, VISITORAPI_HSTS_PRELOAD=1,
                   VISITORAPI_HSTS_MAX_AGE=63072000)
    with Server(tmp_path, "--db", fixture_db, "--certfile", cert, "--keyfile", key,
                "--workers", 1, env=env, tls_context=tls_client_context(cert)) as server:
        status, headers, _ = server.request("/healthz")
        assert status == 200
        assert headers["Strict-Transport-Security"] == \
            "max-age=63072000; includeSubDomains; preload"
        offered = []
        for cipher in CBC_AND_NON_ECDHE:
            context = _tls12_client(cert, cipher)
            if context is None:
                continue
            offered.append(cipher)
            with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw:
                with pytest.raises(ssl.SSLError):
                    context.wrap_socket(raw).close()
        assert offered  # at least the CBC suites the review saw could be offered
        for cipher in AEAD:
            context = _tls12_client(cert, cipher)
            with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw:
                with context.wrap_socket(raw) as tls:
                    assert tls.cipher()[0] == cipher and tls.version() == "TLSv1.2"
        # gunicorn's own refusals over TLS carry HSTS like every other answer
        status, headers, _ = parse(raw_exchange(
            server.port, b"GET / HTTP/1.1\r\nHost: x\r\n" + CANARY.encode() + b": y\r\n\r\n",
            tls_client_context(cert)))
        assert status == 400
        assert headers["strict-transport-security"] == \
            "max-age=63072000; includeSubDomains; preload"


def test_https_redirects_on_a_real_server(tmp_path, fixture_db):  # noqa: F811
    """CR/LF/NUL in a redirected path: a 400, not gunicorn's 500 with a traceback; the 308
    goes to VISITORAPI_PUBLIC_URL whatever Host says."""
    env = base_env(tmp_path, VISITORAPI_HTTPS="require",
                   VISITORAPI_PUBLIC_URL="https://api.example.com")
    with Server(tmp_path, "--db", fixture_db, "--workers", 1, env=env) as server:
        for path in (b"/dashboard/%0d%0aSet-Cookie:%20x=1", b"/dashboard/%00", b"/api/%0a"):
            status, headers, body = parse(raw_exchange(
                server.port, b"GET " + path + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
            assert status == 400 and b"control characters" in body  # dashboard: HTML; API: JSON
            assert "location" not in headers and "set-cookie" not in headers
            assert headers["cache-control"] == "no-store"
        for path in (b"/dashboard/login", b"/api/?pid=abc"):
            status, headers, _ = parse(raw_exchange(
                server.port,
                b"GET " + path + b" HTTP/1.1\r\nHost: evil.test:8000\r\nConnection: close\r\n\r\n"))
            assert status == 308
            assert headers["location"] == "https://api.example.com" + path.decode()
    assert "Traceback" not in server.output()
