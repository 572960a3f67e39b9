"""/metrics and request counting through the real WSGI app, under wsgiref.validate."""
import pytest

from visitorapi.state import db, usage
from visitorapi.useragent import parse
from visitorapi.web.accounting import Accounting
from visitorapi.web.app import VisitorAPI

from support import exposition
from support.wsgi import Domains, FakeDatabase, StaticDatabase, call, make_settings

ORIGIN = "https://shop.example"
TOKEN = "0123456789abcdef0123"


class Built(FakeDatabase):
    metadata = {"build_time": "2023-11-14T22:13:20Z"}


@pytest.fixture
def make(tmp_path):
    made = []

    def build(accounting=True, database=None, **env):
        settings = make_settings(tmp_path, **env)
        db.connect(settings.state_path, create=True).close()
        counting = Accounting(settings.state_path, metrics_dir=tmp_path) if accounting else None
        if counting:
            made.append(counting)
        app = VisitorAPI(settings, database=StaticDatabase(database or Built()),
                         domains=Domains({"p1": ["shop.example"]}), parse_ua=parse,
                         country_facts=lambda code: None, accounting=counting)
        return app, counting
    yield build
    for counting in made:
        counting.close()


def test_metrics_count_every_route_and_status_with_known_projects_only(make):
    app, counting = make()
    assert call(app, query="pid=p1", headers={"Origin": ORIGIN}).status == 200
    assert call(app, query="pid=p1", headers={"Origin": "https://evil.test"}).status == 403
    assert call(app, query="pid=nosuchproject", headers={"Origin": ORIGIN}).status == 403
    assert call(app, query="pid=p1&pid=p2").status == 400
    assert call(app, "/nope").status == 404
    reply = call(app, "/metrics", remote_addr="127.0.0.1")
    assert reply.status == 200
    assert reply.header("Content-Type") == "text/plain; version=0.0.4; charset=utf-8"
    families = exposition.parse(reply.body.decode())
    get = exposition.value
    assert get(families, "visitorapi_requests_total", route="/api", status=200, project="p1") == 1
    assert get(families, "visitorapi_requests_total", route="/api", status=403, project="p1") == 1
    assert get(families, "visitorapi_requests_total", route="/api", status=403, project="") == 1
    assert get(families, "visitorapi_requests_total", route="/api", status=400, project="") == 1
    assert get(families, "visitorapi_requests_total", route="unknown", status=404, project="") == 1
    assert get(families, "visitorapi_request_duration_seconds_count", route="/api") == 4
    assert get(families, "visitorapi_request_duration_seconds_sum", route="/api") > 0
    assert get(families, "visitorapi_database_build_time_seconds") == 1_700_000_000
    assert get(families, "visitorapi_database_age_seconds") > 0
    assert b"nosuchproject" not in reply.body and b"evil" not in reply.body


def test_usage_is_counted_through_the_app(make, tmp_path):
    app, counting = make()
    call(app, query="pid=p1", headers={"Origin": ORIGIN}, remote_addr="192.0.2.10")
    call(app, query="pid=p1", headers={"Origin": "https://evil.test"})
    call(app, query="pid=nosuchproject", headers={"Origin": ORIGIN})
    call(app, query="pid=p1", headers={"Origin": ORIGIN, "Access-Control-Request-Method": "GET"},
         method="OPTIONS")
    counting.close()
    conn = db.connect(tmp_path / "state.sqlite3")
    [p1] = usage.daily(conn, "p1", days=1)
    assert (p1.served, p1.denied) == (1, 1)
    assert usage.daily(conn, usage.SERVICE, days=1)[0].unknown_project == 1
    assert usage.countries(conn, "p1", days=1) == [("DE", 1)]
    assert [(o.pid, o.origin) for o in usage.top_denied_origins(conn)] == [("p1", "https://evil.test")]


@pytest.mark.parametrize("env, remote_addr, headers, status", [
    pytest.param({}, "127.0.0.1", {}, 200, id="loopback"),
    pytest.param({}, "::1", {}, 200, id="loopback-v6"),
    pytest.param({}, "192.0.2.10", {}, 403, id="public-refused"),
    pytest.param({}, "127.0.0.1", {"X-Forwarded-For": "203.0.113.9"}, 403,
                 id="through-an-untrusted-local-proxy"),
    pytest.param({"VISITORAPI_TRUSTED_PROXIES": "127.0.0.1/32"}, "127.0.0.1",
                 {"X-Forwarded-For": "203.0.113.9"}, 403, id="trusted-proxy-public-client"),
    pytest.param({"VISITORAPI_TRUSTED_PROXIES": "127.0.0.1/32", "VISITORAPI_METRICS_ALLOW": "10.0.0.0/8"},
                 "127.0.0.1", {"X-Forwarded-For": "10.1.2.3"}, 200, id="trusted-proxy-allowed-client"),
    pytest.param({"VISITORAPI_METRICS_ALLOW": "10.0.0.0/8"}, "127.0.0.1", {}, 403,
                 id="loopback-not-in-configured-list"),
    pytest.param({"VISITORAPI_METRICS_TOKEN": TOKEN}, "192.0.2.10",
                 {"Authorization": f"Bearer {TOKEN}"}, 200, id="token"),
    pytest.param({"VISITORAPI_METRICS_TOKEN": TOKEN}, "192.0.2.10",
                 {"Authorization": f"Bearer {TOKEN[:-1]}"}, 401, id="wrong-token"),
    pytest.param({"VISITORAPI_METRICS_TOKEN": TOKEN}, "192.0.2.10", {}, 401, id="no-token"),
])
def test_access(make, env, remote_addr, headers, status):
    app, _ = make(**env)
    reply = call(app, "/metrics", remote_addr=remote_addr, headers=headers)
    assert reply.status == status
    if status == 401:
        challenge = reply.header("WWW-Authenticate")
        assert challenge.startswith('Bearer realm="metrics"')
        assert ("invalid_token" in challenge) == ("Authorization" in headers)
    else:
        assert reply.header("WWW-Authenticate") is None
    if status != 200:
        assert b"visitorapi_requests_total" not in reply.body


def test_metrics_is_read_only_and_absent_without_accounting(make):
    app, _ = make()
    assert call(app, "/metrics", method="POST", remote_addr="127.0.0.1").status == 405
    assert call(app, "/metrics", method="HEAD", remote_addr="127.0.0.1").body == b""
    bare, _ = make(accounting=False)
    assert call(bare, "/metrics", remote_addr="127.0.0.1").status == 404
