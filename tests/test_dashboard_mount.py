"""The dashboard mounted in the API's WSGI app: same client IP, HTTPS view and attribution."""
import pytest

from dashboard_client import Client
from visitorapi.dashboard.mount import mount_dashboard
from visitorapi.state import accounts, db, throttle
from web_helpers import StaticDatabase, make_app

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
    assert throttle.failures(conn, throttle.client_key(conn, "203.0.113.9")) == 1
    assert throttle.failures(conn, throttle.client_key(conn, "10.0.0.2")) == 0
    conn.close()
