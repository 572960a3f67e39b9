"""The dashboard mounted in the API's WSGI app: same client IP, HTTPS view and attribution."""
import time

import pytest

from support.dashboard_client import Client
from visitorapi.dashboard.mount import mount_dashboard
from visitorapi.state import accounts, db, throttle
from support.wsgi import StaticDatabase, make_app

pytestmark = pytest.mark.usefixtures("fast_scrypt")


class DatabaseWithHeader:
    metadata = {"attribution": '<a href="https://db-ip.com">IP Geolocation by DB-IP</a>'}


def mounted(tmp_path, **env):
    api = make_app(tmp_path, None, **env)
    db.connect(api.settings.state_path, create=True).close()
    api.database = StaticDatabase(DatabaseWithHeader())
    mount_dashboard(api, api.settings, api.database)
    return api


def test_dashboard_paths_reach_the_dashboard_and_api_paths_do_not(tmp_path):
    api = mounted(tmp_path)
    client = Client(api)
    login = client.get("/dashboard/login")
    assert login.status == 200 and "<h1>Log in</h1>" in login.text
    assert '<footer><a href="https://db-ip.com">IP Geolocation by DB-IP</a></footer>' in login.text
    assert client.get("/dashboard").location == "/dashboard/projects"
    api_reply = client.get("/api/")
    assert api_reply.header("Content-Type").startswith("application/json")


def test_https_policy_of_the_api_applies(tmp_path):
    api = mounted(tmp_path, VISITORAPI_HTTPS="require")
    page = Client(api, https=False).get("/dashboard/login")
    assert page.status == 308 and page.location == "https://dash.test/dashboard/login"
    secure = Client(api).get("/dashboard/login")
    assert secure.status == 200 and secure.header("Strict-Transport-Security")


def test_throttling_sees_the_client_behind_a_trusted_proxy(tmp_path):
    api = mounted(tmp_path, VISITORAPI_TRUSTED_PROXIES="10.0.0.0/8")
    conn = db.connect(tmp_path / "state.sqlite3", create=True)
    accounts.create(conn, "o@example.com", "violet staple orbit", "owner", "test")
    client = Client(api, ip="10.0.0.2")
    client.submit("/dashboard/login", {"email": "o@example.com", "password": "wrong wrong wrong"},
                  headers={"X-Forwarded-For": "203.0.113.9"})
    now = time.time()
    assert throttle.failures(conn, throttle.client_key(conn, "203.0.113.9", now)) == 1
    assert throttle.failures(conn, throttle.client_key(conn, "10.0.0.2", now)) == 0
    conn.close()


@pytest.mark.parametrize("max_age, expected", [
    pytest.param("0", None, id="hsts-off"),
    pytest.param("600", "max-age=600", id="hsts-short"),
    pytest.param(None, "max-age=31536000", id="hsts-default"),
])
def test_hsts_setting_is_the_same_on_the_api_and_the_dashboard(tmp_path, max_age, expected):
    env = {} if max_age is None else {"VISITORAPI_HSTS_MAX_AGE": max_age}
    client = Client(mounted(tmp_path, **env))
    for path in ("/healthz", "/api/", "/dashboard/login", "/dashboard/static/dashboard.css"):
        assert client.get(path).header("Strict-Transport-Security") == expected, path
    # Over plain HTTP neither face sends it (RFC 6797 section 7.2).
    plain = Client(mounted(tmp_path, **env), https=False)
    for path in ("/healthz", "/dashboard/login"):
        assert plain.get(path).header("Strict-Transport-Security") is None, path


def test_both_faces_send_the_core_headers_with_their_own_policy(tmp_path):
    client = Client(mounted(tmp_path))
    api, page = client.get("/healthz"), client.get("/dashboard/login")
    for reply in (api, page):
        assert reply.header("X-Content-Type-Options") == "nosniff"
        assert reply.header("Cache-Control") == "no-store"
        assert reply.header("Cross-Origin-Resource-Policy") == "same-origin"
    assert api.header("Referrer-Policy") == "no-referrer"
    assert page.header("Referrer-Policy") == "same-origin"
    assert api.header("Content-Security-Policy") == "default-src 'none'; frame-ancestors 'none'"
    assert "form-action 'self'" in page.header("Content-Security-Policy")
    assert api.header("X-Frame-Options") is None and page.header("X-Frame-Options") == "DENY"
    css = client.get("/dashboard/static/dashboard.css")
    assert css.header("Cache-Control") == "public, max-age=3600"
    assert css.header("Content-Type") == "text/css; charset=utf-8"


def test_a_plain_http_request_is_sent_to_the_same_https_url_by_both_faces(tmp_path):
    client = Client(mounted(tmp_path, VISITORAPI_HTTPS="require"), https=False,
                    host="dash.test:8080")
    for path in ("/client.js", "/dashboard/login"):
        reply = client.get(path + "?a=1")
        assert reply.status == 308 and reply.location == f"https://dash.test{path}?a=1"
