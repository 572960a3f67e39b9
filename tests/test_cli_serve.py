"""`visitorapi serve`: the Quickstart path on a fresh install, and its operator errors."""
import json
import re
import socket

import pytest

from conftest import run_cli
from support.servers import Server, base_env
from visitorapi.cli.serve import redirects_plain_http

pytest.importorskip("visitorapi.ipdb.compiler")


def test_fresh_install_compiles_the_default_database_once_and_serves_the_demo(tmp_path):
    env = base_env(tmp_path, VISITORAPI_TRUSTED_PROXIES="127.0.0.1/32")
    with Server(tmp_path, env=env) as server:
        output = server.output()
        pid = re.search(r"demo project pid: (\S+)", output).group(1)
        assert "compiling the default country database" in output and "(first start only)" in output
        assert re.search(r"compiled in \d+\.\d s", output) and "about a minute" not in output
        assert (f"dashboard: http://localhost:{server.port}/dashboard/ (no account yet? create "
                "one with: visitorapi users create you@example.com)") in output
        assert "308" not in output  # loopback: plain HTTP is served, nothing to warn about
        status, headers, body = server.request("/")
        assert status == 200 and headers["Content-Type"].startswith("text/html")
        assert b"https://db-ip.com" in body and pid.encode() in body
        # the demo page's own call: same origin, so no Origin header, only a Referer
        status, _, body = server.request(
            f"/api/?pid={pid}", {"Referer": f"http://127.0.0.1:{server.port}/",
                                 "X-Forwarded-For": "8.8.8.8"})
        assert status == 200, body
        data = json.loads(body)["data"]
        assert data["countryCode"] == "US" and data["countryName"] == "United States"
        assert data["city"] == "" and data["cityLatLong"] == ""
        status, _, body = server.request("/readyz")
        assert status == 200 and json.loads(body)["databaseBuilt"]
    port = server.port
    with Server(tmp_path, env=env, port=port) as again:
        assert "compiling" not in again.output()
        assert f"demo project pid: {pid}" in again.output()


@pytest.mark.parametrize("args, env, status, message", [
    pytest.param(["--bind", "nowhere"], {}, 1, "is not HOST:PORT", id="bad-bind"),
    pytest.param(["--certfile", "x.pem"], {}, 2, "go together", id="cert-without-key"),
    pytest.param(["--workers", "0"], {}, 2, "positive whole number", id="zero-workers"),
    pytest.param(["--db", "missing.vdb"], {}, 1, "missing.vdb", id="missing-database"),
    pytest.param([], {"VISITORAPI_HTTPS": "always"}, 1, "VISITORAPI_HTTPS", id="bad-setting"),
])
def test_serve_reports_operator_errors_before_starting(tmp_path, args, env, status, message):
    result = run_cli("serve", *args, env=base_env(tmp_path, **env), cwd=tmp_path, timeout=60)
    assert result.returncode == status, result.stderr
    assert message in result.stderr


def test_a_busy_port_is_one_clear_line_before_anything_else(tmp_path):
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        bind = f"127.0.0.1:{other.getsockname()[1]}"
        result = run_cli("serve", "--bind", bind, env=base_env(tmp_path), cwd=tmp_path, timeout=60)
    assert result.returncode == 1
    assert result.stderr == (f"visitorapi serve: error: {bind} is already in use (another "
                             "server, perhaps another visitorapi serve, listens there); stop it "
                             "or choose another --bind\n")
    assert result.stdout == ""  # no pid, no URL, no compile: nothing that looks like success


def test_https_required_on_plain_http_is_said_at_start_and_is_what_happens(tmp_path):
    env = base_env(tmp_path, VISITORAPI_HTTPS="require")
    with Server(tmp_path, "--no-demo", env=env) as server:
        assert ("note: plain HTTP on 127.0.0.1:%d is answered with 308 redirects to https"
                % server.port) in server.output()
        status, headers, _ = server.request("/api/?pid=abc")
        assert status == 308 and headers["Location"].startswith("https://")


@pytest.mark.parametrize("https, host, port, expected", [
    pytest.param("auto", "0.0.0.0", 8002, True, id="auto-public"),
    pytest.param("auto", "::", 8002, True, id="auto-public-ipv6"),
    pytest.param("auto", "127.0.0.1", 8000, False, id="auto-loopback"),
    pytest.param("auto", "localhost", 8000, False, id="auto-localhost"),
    pytest.param("auto", "unix:/run/v.sock", None, False, id="auto-unix-socket"),
    pytest.param("require", "127.0.0.1", 8000, True, id="require"),
    pytest.param("off", "0.0.0.0", 8002, False, id="off"),
])
def test_redirects_plain_http_mirrors_the_shipped_config(https, host, port, expected):
    assert redirects_plain_http(https, host, port) is expected
