"""Accounting.count: one call per request feeds the usage store and the metrics."""
import pytest

from visitorapi.state import db, usage
from visitorapi.web import accounting


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


def test_count_feeds_usage_and_metrics(tmp_path):
    counting = accounting.Accounting(tmp_path / "state.sqlite3", metrics_dir=tmp_path)
    counting.count("/api", 200, 0.001, pid="p1", country="DE")
    counting.count("/api", 403, 0.001, pid="p1", denied_origin="https://evil.test")
    counting.count("/api", 403, 0.001, pid=None, denied_origin="https://stranger.test")
    counting.count("/api", 429, 0.001, pid="p1")
    counting.count("/api", 400, 0.001)
    counting.count("/healthz", 200, 0.001)
    text = counting.metrics_text(database=(1_700_000_000, "x"), now=1_700_000_100)
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
    made = accounting.current(lambda: accounting.Accounting(tmp_path / "s.sqlite3", metrics_dir=tmp_path))
    assert accounting.current() is made
    made.count("/api", 200, 0.001, pid="p1", country="")
    accounting.worker_exit(None, None)
    assert usage.daily(db.connect(tmp_path / "s.sqlite3"), "p1", days=1)[0].served == 1
