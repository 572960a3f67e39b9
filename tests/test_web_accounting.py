"""Accounting.count: one call per request feeds the usage store and the metrics."""
import pytest

from support import exposition
from visitorapi.state import db, usage
from visitorapi.web import accounting, livedb


@pytest.mark.parametrize("route, status, known, expected", [
    pytest.param("/api", 200, True, "served", id="served"),
    pytest.param("/api", 403, True, "denied", id="foreign-origin"),
    pytest.param("/api", 403, False, "unknown_project", id="unknown-or-disabled"),
    pytest.param("/api", 429, True, "rate_limited", id="rate-limited"),
    pytest.param("/api", 429, False, "rate_limited", id="rate-limited-unknown"),
    pytest.param("/api", 400, True, "bad_request", id="bad-request"),
    pytest.param("/api", 400, False, "bad_request", id="bad-request-no-pid"),
    pytest.param("/api", 204, True, None, id="preflight"),
    pytest.param("/api", 405, False, None, id="wrong-method"),
    pytest.param("/api", 503, True, None, id="not-ready"),
    pytest.param("/healthz", 200, False, None, id="other-route"),
    pytest.param("other", 404, False, None, id="unknown-path"),
])
def test_usage_outcome_table(route, status, known, expected):
    assert accounting.usage_outcome(route, status, known) == expected


class FakeDatabase:
    def __init__(self, build_time):
        self.metadata = {"build_time": build_time}


def test_count_feeds_usage_and_metrics(tmp_path):
    db.connect(tmp_path / "state.sqlite3", create=True).close()
    counting = accounting.Accounting(tmp_path / "state.sqlite3", metrics_dir=tmp_path)
    counting.count("/api", 200, 0.001, pid="p1", country="DE")
    counting.count("/api", 403, 0.001, pid="p1", denied_origin="https://evil.test")
    counting.count("/api", 403, 0.001, pid=None, denied_origin="https://stranger.test")
    counting.count("/api", 429, 0.001, pid="p1")
    counting.count("/api", 400, 0.001)
    counting.count("/healthz", 200, 0.001)
    text = counting.metrics_text(database=FakeDatabase("2023-11-14T22:13:20Z"), now=1_700_000_100)
    assert 'visitorapi_requests_total{route="/api",status="403",project=""} 1' in text
    assert 'visitorapi_requests_total{route="/healthz",status="200",project=""} 1' in text
    assert 'visitorapi_rate_limited_total{project="p1"} 1' in text
    assert "visitorapi_database_age_seconds 100.0" in text
    assert "stranger" not in text
    counting.close()
    conn = db.connect(tmp_path / "state.sqlite3")
    [p1] = usage.daily(conn, "p1", days=1)
    assert (p1.served, p1.denied, p1.rate_limited, p1.bad_request) == (1, 1, 1, 0)
    [service] = usage.daily(conn, usage.SERVICE, days=1)
    assert (service.unknown_project, service.bad_request) == (1, 1)
    assert [o.origin for o in usage.top_denied_origins(conn)] == ["https://evil.test"]
    assert usage.countries(conn, "p1", days=1) == [("DE", 1)]


def test_current_is_one_per_process_and_worker_exit_closes_it(tmp_path, monkeypatch):
    monkeypatch.setattr(accounting, "_current", None)
    db.connect(tmp_path / "s.sqlite3", create=True).close()
    made = accounting.current(lambda: accounting.Accounting(tmp_path / "s.sqlite3", metrics_dir=tmp_path))
    assert accounting.current() is made
    made.count("/api", 200, 0.001, pid="p1", country="")
    accounting.worker_exit(None, None)
    assert usage.daily(db.connect(tmp_path / "s.sqlite3"), "p1", days=1)[0].served == 1


class FakeLive:
    path = "/srv/visitor.vdb"

    def __init__(self, database):
        self.database = database


def test_a_stale_database_is_logged_once_per_day(caplog):
    clock = [1_700_000_000 + 46 * 86400]
    watch = livedb.AgeWatch(45, every=60, clock=lambda: clock[0])
    stale = FakeDatabase("2023-11-14T22:13:20Z")
    assert watch.check(stale, "/srv/visitor.vdb")
    clock[0] += 30
    assert not watch.check(stale)                   # not re-checked within a minute
    clock[0] += 3600
    assert watch.check(stale)                       # checked, but warned already today
    clock[0] += 86400
    assert watch.check(stale)
    warnings = [r for r in caplog.records if getattr(r, "event", "") == "db.stale"]
    assert len(warnings) == 2 and "46 days ago" in warnings[0].getMessage()
    fresh = FakeDatabase("2023-12-20T00:00:00Z")
    clock[0] += 3600
    assert not watch.check(fresh)


@pytest.mark.parametrize("value, expected", [
    pytest.param("2023-11-14T22:13:20Z", 1_700_000_000.0, id="rfc3339-z"),
    pytest.param("2023-11-14T22:13:20+00:00", 1_700_000_000.0, id="offset"),
    pytest.param("2023-11-14T22:13:20", 1_700_000_000.0, id="naive-is-utc"),
    pytest.param(1_700_000_000, 1_700_000_000.0, id="epoch"),
    pytest.param("last tuesday", None, id="garbage"),
    pytest.param(None, None, id="absent"),
])
def test_build_time(value, expected):
    assert livedb.build_time(FakeDatabase(value)) == expected
    assert livedb.build_time(None) is None


def test_metrics_count_failed_usage_writes_and_dropped_requests(tmp_path):
    state = tmp_path / "state.sqlite3"
    counting = accounting.Accounting(state, flush_interval=3600, metrics_dir=tmp_path)
    counting.usage.max_pending = 2
    counting.count("/api", 200, 0.001, pid="p1", country="DE")   # two sums
    counting.count("/api", 429, 0.001, pid="p1")                 # no room: dropped
    assert counting.usage.flush() is False      # no store, and a worker never makes one
    assert not state.exists()
    families = exposition.parse(counting.metrics_text())
    assert exposition.value(families, "visitorapi_usage_flush_failures_total") == 1
    assert exposition.value(families, "visitorapi_usage_dropped_total") == 1
    db.connect(state, create=True).close()      # the operator restores or creates it
    assert counting.usage.flush()
    counting.close()
    [p1] = usage.daily(db.connect(state), "p1", days=1)
    assert (p1.served, p1.rate_limited) == (1, 0)
