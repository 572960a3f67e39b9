"""Issue 13 section 5 under wsgiref: the https redirect, Host, Referer, IPv4-mapped clients.

The real-server side (gunicorn's own error pages, TLS ciphers, the control
socket) is in test_web_hardening.py.
"""
import json

import pytest

from support.dashboard_client import Client
from visitorapi.dashboard.mount import mount_dashboard
from support.wsgi import FakeDatabase, StaticDatabase, call, make_app

PID = "contractProject"
ORIGIN = {"Origin": "https://example.com"}


def api(tmp_path, **env):
    return make_app(tmp_path, FakeDatabase(), {PID: ["example.com"]}, **env)


def with_dashboard(tmp_path, **env):
    app = api(tmp_path, **env)
    mount_dashboard(app, app.settings, StaticDatabase(None))
    return app


# -- the 308 to https ------------------------------------------------------------------------

@pytest.mark.parametrize("path", [
    pytest.param("/dashboard/\r\nSet-Cookie: x=1", id="crlf"),
    pytest.param("/dashboard/\x00", id="nul"),
    pytest.param("/dashboard/a\tb", id="tab"),
    pytest.param("/api/\r\n", id="api-crlf"),
])
def test_control_characters_in_a_redirected_path_are_a_400(tmp_path, path):
    app = with_dashboard(tmp_path, VISITORAPI_HTTPS="require")
    reply = call(app, path, headers={"Host": "api.example.com"})
    assert reply.status == 400
    assert reply.header("Location") is None
    assert "control characters" in reply.body.decode()


@pytest.mark.parametrize("path, host, env, location", [
    pytest.param("/dashboard/login", "evil.test", {"VISITORAPI_PUBLIC_URL": "https://api.example.com"},
                 "https://api.example.com/dashboard/login", id="dashboard-public-url"),
    pytest.param("/api/", "evil.test:8080", {"VISITORAPI_PUBLIC_URL": "https://api.example.com:8443"},
                 "https://api.example.com:8443/api/?pid=" + PID, id="api-public-url"),
    pytest.param("/dashboard/login", "api.example.com:8080", {},
                 "https://api.example.com/dashboard/login", id="dashboard-drops-plain-port"),
    pytest.param("/api/", "API.example.com:8080", {}, "https://api.example.com/api/?pid=" + PID,
                 id="api-drops-plain-port"),
    pytest.param("/dashboard/é", "[2001:db8::1]:80", {}, "https://[2001:db8::1]/dashboard/%C3%A9",
                 id="ipv6-host-and-encoded-path"),
])
def test_the_redirect_goes_to_the_public_url_or_the_host_without_its_port(
        tmp_path, path, host, env, location):
    app = with_dashboard(tmp_path, VISITORAPI_HTTPS="require", **env)
    reply = call(app, path.encode().decode("latin-1"), query=f"pid={PID}" if path == "/api/" else "",
                 headers={"Host": host})
    assert reply.status == 308
    assert reply.header("Location") == location


# -- Host (RFC 9112 section 3.2) ---------------------------------------------------------------

@pytest.mark.parametrize("protocol, host, status", [
    pytest.param("HTTP/1.1", None, 400, id="http11-without-host"),
    pytest.param("HTTP/1.1", "a.example,b.example", 400, id="two-hosts-joined"),
    pytest.param("HTTP/1.1", "a.example/x", 400, id="path-in-host"),
    pytest.param("HTTP/1.1", "", 400, id="empty-host"),
    pytest.param("HTTP/1.0", None, 200, id="http10-may-omit-host"),
    pytest.param("HTTP/1.1", "api.example.com:8000", 200, id="host-and-port"),
])
@pytest.mark.parametrize("path", ["/api/", "/dashboard/login"])
def test_host_header_rules(tmp_path, protocol, host, status, path):
    app = with_dashboard(tmp_path)
    reply = call(app, path, query=f"pid={PID}", headers=ORIGIN,
                 environ_changes={"SERVER_PROTOCOL": protocol, "HTTP_HOST": host})
    if path == "/dashboard/login" and status == 200:
        return  # the dashboard's own answer depends on the session; only the 400s matter here
    assert reply.status == status, reply.body
    if status == 400:
        assert json.loads(reply.body)["result"].startswith(("an HTTP/1.1 request needs",
                                                            "the Host header"))
        assert reply.header("Cache-Control") == "no-store"


# -- Referer --------------------------------------------------------------------------------------

def test_two_referer_headers_are_refused_like_two_origins(tmp_path):
    app = api(tmp_path)
    one = call(app, "/api/", f"pid={PID}", headers={"Referer": "https://example.com/page"})
    assert one.status == 200
    # gunicorn joins repeated header lines with ","; the first would win
    two = call(app, "/api/", f"pid={PID}",
               headers={"Referer": "https://example.com/page,https://evil.test/"})
    assert two.status == 403
    two_origins = call(app, "/api/", f"pid={PID}",
                       headers={"Origin": "https://example.com,https://evil.test"})
    assert two_origins.status == 403


def test_dashboard_forms_with_two_referers_are_refused(tmp_path):
    from visitorapi.dashboard import DashboardApp
    from visitorapi.state import db
    db.connect(tmp_path / "state.sqlite3", create=True).close()
    app = DashboardApp(tmp_path / "state.sqlite3")
    client = Client(app)
    token = client.get("/dashboard/login").csrf()
    page = client.post("/dashboard/login", {"email": "a@example.com", "password": "x" * 12,
                                            "csrf": token}, origin=None,
                       headers={"Referer": "https://dash.test/dashboard/login,https://evil.test/"})
    assert page.status == 403


# -- IPv4-mapped clients ---------------------------------------------------------------------------

def test_an_ipv4_mapped_forwarded_client_is_the_ipv4_visitor(tmp_path):
    app = api(tmp_path, VISITORAPI_TRUSTED_PROXIES="10.0.0.0/8")
    reply = call(app, "/api/", f"pid={PID}", remote_addr="10.0.0.1",
                 headers={**ORIGIN, "X-Forwarded-For": "::ffff:8.8.8.8"})
    assert reply.status == 200
    assert json.loads(reply.body)["data"]["ipAddress"] == "8.8.8.8"


def test_a_public_trusted_proxy_network_is_warned_about_at_start(tmp_path, caplog):
    from visitorapi.wsgi import create_app
    create_app({"VISITORAPI_STATE": str(tmp_path / "state.sqlite3"),
                "VISITORAPI_DB": str(tmp_path / "missing.vdb"), "VISITORAPI_HTTPS": "off",
                "VISITORAPI_RUN_DIR": str(tmp_path / "run"),
                "VISITORAPI_TRUSTED_PROXIES": "10.0.0.0/8 8.8.8.0/24"})
    warnings = [record for record in caplog.records
                if getattr(record, "event", "") == "config.warning"]
    assert len(warnings) == 1 and "8.8.8.0/24 is a public network" in warnings[0].getMessage()
