"""`visitorapi serve`: the Quickstart path on a fresh install, and its operator errors."""
import json
import re

import pytest

from conftest import run_cli
from server_helpers import Server, base_env

pytest.importorskip("visitorapi.ipdb.compiler")


def test_fresh_install_compiles_the_default_database_once_and_serves_the_demo(tmp_path):
    env = base_env(tmp_path, VISITORAPI_TRUSTED_PROXIES="127.0.0.1/32")
    with Server(tmp_path, env=env) as server:
        pid = re.search(r"demo project pid: (\S+)", server.output()).group(1)
        assert "compiling the default country database" in server.output()
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
