"""/metrics: counters, exposition (checked by a strict parser), access, cross-worker sums."""
import ipaddress
import json
import math
import os
import signal
import time
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from visitorapi.config import METRICS_DIR_VARIABLE, ConfigError, Settings, load_settings
from visitorapi.web import accounting, metrics, metrics_share
from visitorapi.web.metrics import LATENCY_BUCKETS, Counters

from support import exposition
def rendered(counters_list, **kwargs):
    total = metrics.empty_total()
    for counters in counters_list:
        metrics.merge(total, counters.snapshot())
    return exposition.parse(metrics.render(total, **kwargs))


def test_render_counts_requests_latency_rate_limits_and_database():
    counters = Counters()
    counters.observe("/api", 200, 0.00004, "p1")
    counters.observe("/api", 200, 0.003, "p1")
    counters.observe("/api", 429, 0.00002, "p1")
    counters.observe("/api", 403, 0.00001, "")
    counters.observe("/metrics", 200, 0.002)
    families = rendered([counters], database_loaded=True, database_built=1_700_000_000, service_started=1_700_000_500,
                        restarts=2, now=1_700_086_400)
    get = exposition.value
    assert get(families, "visitorapi_requests_total", route="/api", status=200, project="p1") == 2
    assert get(families, "visitorapi_requests_total", route="/api", status=403, project="") == 1
    assert get(families, "visitorapi_rate_limited_total", project="p1") == 1
    assert get(families, "visitorapi_request_duration_seconds_count", route="/api") == 4
    assert get(families, "visitorapi_request_duration_seconds_bucket", route="/api", le="0.0001") == 3
    assert get(families, "visitorapi_request_duration_seconds_bucket", route="/api", le="+Inf") == 4
    assert get(families, "visitorapi_request_duration_seconds_sum", route="/api") == pytest.approx(0.00307)
    assert get(families, "visitorapi_database_build_time_seconds") == 1_700_000_000
    assert get(families, "visitorapi_database_age_seconds") == 86400
    assert get(families, "visitorapi_database_loaded") == 1
    assert get(families, "visitorapi_workers") == 1
    assert get(families, "visitorapi_worker_exits_total") == 2
    assert get(families, "process_start_time_seconds") == 1_700_000_500
    assert get(families, "process_resident_memory_bytes") > 0
    assert families["visitorapi_requests_total"]["type"] == "counter"
    assert families["visitorapi_request_duration_seconds"]["type"] == "histogram"


def test_without_a_database_only_the_loaded_gauge_says_so():
    families = rendered([Counters()], database_loaded=False)
    assert exposition.value(families, "visitorapi_database_loaded") == 0
    assert "visitorapi_database_age_seconds" not in families


@given(st.lists(st.floats(min_value=0, max_value=10, allow_nan=False), max_size=50))
def test_histogram_buckets_match_a_naive_count(latencies):
    counters = Counters()
    for seconds in latencies:
        counters.observe("/api", 200, seconds)
    families = rendered([counters])
    for bound in LATENCY_BUCKETS + (math.inf,):
        le = metrics.format_value(float(bound))
        assert exposition.value(families, "visitorapi_request_duration_seconds_bucket",
                                route="/api", le=le) == sum(1 for s in latencies if s <= bound)


@pytest.mark.parametrize("raw, escaped", [
    pytest.param('a"b', 'a\\"b', id="quote"),
    pytest.param("a\\b", "a\\\\b", id="backslash"),
    pytest.param("a\nb", "a\\nb", id="newline"),
    pytest.param("plain", "plain", id="plain"),
])
def test_label_values_are_escaped_and_parse_back(raw, escaped):
    assert metrics.escape_label(raw) == escaped
    counters = Counters()
    counters.observe(raw, 200, 0.001)
    families = rendered([counters])
    assert exposition.value(families, "visitorapi_requests_total", route=raw) == 1


@pytest.mark.parametrize("text", [
    pytest.param("# TYPE x counter\nx 1", id="no-final-newline"),
    pytest.param("x 1\n", id="sample-before-type"),
    pytest.param("# TYPE x counter\n# TYPE x counter\nx 1\n", id="type-twice"),
    pytest.param("# TYPE x counter\nx{a=\"\\q\"} 1\n", id="bad-escape"),
    pytest.param("# TYPE x counter\nx{a=b} 1\n", id="unquoted-label"),
    pytest.param("# TYPE x counter\nx one\n", id="bad-value"),
    pytest.param("# TYPE x counter\nx -1\n", id="negative-counter"),
    pytest.param("# TYPE x counter\ny 1\n", id="sample-outside-family"),
    pytest.param("# TYPE x counter\nx 1\n# TYPE y gauge\ny 1\n# TYPE x counter\n", id="not-contiguous"),
    pytest.param("# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n", id="no-inf-bucket"),
    pytest.param("# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
                 id="decreasing-buckets"),
    pytest.param("# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 1\n", id="count-mismatch"),
])
def test_the_strict_parser_rejects_invalid_expositions(text):
    with pytest.raises(ValueError):
        exposition.parse(text)


TOKEN = "s3cret-token"
LOOPBACK = Settings.metrics_allow


def networks(*cidrs):
    return tuple(ipaddress.ip_network(c) for c in cidrs)


@pytest.mark.parametrize("client_ip, authorization, networks, token, expected", [
    pytest.param("127.0.0.1", None, LOOPBACK, None, True, id="loopback-v4"),
    pytest.param("127.9.9.9", None, LOOPBACK, None, True, id="loopback-range"),
    pytest.param("::1", None, LOOPBACK, None, True, id="loopback-v6"),
    pytest.param("::ffff:127.0.0.1", None, LOOPBACK, None, True, id="v4-mapped-loopback"),
    pytest.param("203.0.113.5", None, LOOPBACK, None, False, id="public"),
    pytest.param("203.0.113.5", f"Bearer {TOKEN}", LOOPBACK, TOKEN, True, id="token"),
    pytest.param("203.0.113.5", f"bearer  {TOKEN} ", LOOPBACK, TOKEN, True, id="token-scheme-case"),
    pytest.param("203.0.113.5", f"Bearer {TOKEN}x", LOOPBACK, TOKEN, False, id="wrong-token"),
    pytest.param("203.0.113.5", f"Basic {TOKEN}", LOOPBACK, TOKEN, False, id="wrong-scheme"),
    pytest.param("203.0.113.5", "Bearer ", LOOPBACK, "", False, id="empty-token-configured"),
    pytest.param("203.0.113.5", "Bearer \udcff", LOOPBACK, TOKEN, False, id="undecodable"),
    pytest.param("10.1.2.3", None, networks("10.1.2.0/24", "192.0.2.1"), None, True,
                 id="configured-cidr"),
    pytest.param("127.0.0.1", None, networks("10.1.2.0/24"), None, False,
                 id="loopback-not-configured"),
    pytest.param("not-an-ip", None, LOOPBACK, None, False, id="garbage-address"),
])
def test_access(client_ip, authorization, networks, token, expected):
    assert metrics.allowed(client_ip, authorization, networks, token) is expected


@pytest.mark.parametrize("env, expected", [
    pytest.param({}, Settings.metrics_allow, id="default-loopback"),
    pytest.param({"VISITORAPI_METRICS_ALLOW": "10.1.0.0/16, 192.0.2.7"},
                 networks("10.1.0.0/16", "192.0.2.7/32"), id="configured"),
])
def test_metrics_settings(tmp_path, env, expected):
    settings = load_settings({"VISITORAPI_STATE": str(tmp_path / "s"), **env})
    assert settings.metrics_allow == expected


@pytest.mark.parametrize("env, message", [
    pytest.param({"VISITORAPI_METRICS_ALLOW": "127.0.0.0/8,10.0.0.300"}, "'10.0.0.300' is not a CIDR",
                 id="bad-network"),
    pytest.param({"VISITORAPI_METRICS_TOKEN": "short"}, "at least 16", id="short-token"),
    pytest.param({"VISITORAPI_USAGE_RETENTION_DAYS": "1"}, "VISITORAPI_USAGE_RETENTION_DAYS", id="retention"),
    pytest.param({"VISITORAPI_LOG_FORMAT": "xml"}, "VISITORAPI_LOG_FORMAT", id="log-format"),
    pytest.param({"VISITORAPI_DB_MAX_AGE_DAYS": "soon"}, "VISITORAPI_DB_MAX_AGE_DAYS", id="max-age"),
])
def test_bad_operations_settings_are_named(tmp_path, env, message):
    with pytest.raises(ConfigError, match=message):
        load_settings({"VISITORAPI_STATE": str(tmp_path / "s"), **env})


# -- across processes --------------------------------------------------------


def _child(directory, requests, mode, ready, release):
    shared = metrics_share.SharedMetrics(directory, interval=3600)
    for _ in range(requests):
        shared.observe("/api", 200, 0.001, "p1")
    shared.publish()
    if mode == "graceful":
        shared.close()
    os.write(ready, b"x")
    if mode in ("live", "killed"):
        os.read(release, 1)  # wait here (a live worker) until released or killed
    os._exit(0)


def _fork_child(directory, requests, mode):
    ready_r, ready_w = os.pipe()
    release_r, release_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        try:
            _child(directory, requests, mode, ready_w, release_r)
        finally:
            os._exit(1)
    assert os.read(ready_r, 1) == b"x"
    return pid, release_w


def test_counts_are_summed_over_live_exited_and_killed_workers(tmp_path):
    directory = tmp_path / "metrics"
    directory.mkdir()
    collector = metrics_share.SharedMetrics(directory, interval=3600)
    collector.observe("/api", 200, 0.001, "p1")
    children = {mode: _fork_child(directory, n, mode)
                for mode, n in (("live", 10), ("graceful", 20), ("killed", 40))}
    total, exits = collector.collect()
    assert total["requests"][("/api", 200, "p1")] == 71
    assert total["workers"] == 3 and exits == 1  # the graceful one has retired itself

    pid, _ = children["killed"]
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    total, exits = collector.collect()
    assert total["requests"][("/api", 200, "p1")] == 71  # never goes backwards
    assert total["workers"] == 2 and exits == 2

    collector.observe("/api", 200, 0.001, "p1")
    total, exits = collector.collect()
    assert total["requests"][("/api", 200, "p1")] == 72
    families = exposition.parse(metrics.render(total, restarts=exits))
    assert exposition.value(families, "visitorapi_request_duration_seconds_count", route="/api") == 72

    pid, release = children["live"]
    os.write(release, b"x")
    os.waitpid(pid, 0)
    os.waitpid(children["graceful"][0], 0)
    total, exits = collector.collect()
    assert total["requests"][("/api", 200, "p1")] == 72 and exits == 3
    assert sorted(p.name for p in directory.iterdir() if p.name.startswith("worker-")) == [
        f"worker-{collector._token}.json", f"worker-{collector._token}.lock"]
    collector.close()


def test_a_collector_that_died_mid_fold_does_not_count_twice(tmp_path):
    directory = tmp_path / "metrics"
    directory.mkdir()
    pid, _ = _fork_child(directory, 5, "killed")
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    token = next(p.name for p in directory.iterdir() if p.name.endswith(".json"))[7:-5]
    # As if a collector had written retired.json and died before deleting the files:
    snapshot = json.loads((directory / f"worker-{token}.json").read_text())
    (directory / "retired.json").write_text(json.dumps(
        {"exits": 1, "folded": [token], "snapshot": snapshot}))
    total, exits = metrics_share.SharedMetrics(directory).collect()
    assert total["requests"][("/api", 200, "p1")] == 5 and exits == 1


def test_background_thread_publishes(tmp_path):
    shared = metrics_share.SharedMetrics(tmp_path, interval=0.05)
    shared.observe("/api", 200, 0.001)
    other = metrics_share.SharedMetrics(tmp_path)
    deadline = time.monotonic() + 30
    while other.collect()[0]["requests"].get(("/api", 200, "")) != 1:
        assert time.monotonic() < deadline, "never published"
        time.sleep(0.02)
    shared.close()


def test_service_dir_is_private_and_exported(tmp_path, monkeypatch):
    monkeypatch.setenv("VISITORAPI_RUN_DIR", str(tmp_path / "run"))
    monkeypatch.setenv(METRICS_DIR_VARIABLE, "")  # restored after the test
    accounting.on_starting()
    path = Path(os.environ[METRICS_DIR_VARIABLE])
    assert path.parent == tmp_path / "run" and (path.stat().st_mode & 0o777) == 0o700
    assert load_settings().metrics_dir == path
    assert metrics_share.SharedMetrics(load_settings().metrics_dir).directory == path
    accounting.on_exit()
    assert not path.exists()


def test_closing_twice_or_counting_after_close_never_double_counts(tmp_path):
    shared = metrics_share.SharedMetrics(tmp_path, interval=3600)
    shared.observe("/api", 200, 0.001)
    shared.close()
    shared.close()
    shared.observe("/api", 200, 0.001)
    shared.close()
    total, exits = metrics_share.SharedMetrics(tmp_path).collect()
    assert total["requests"][("/api", 200, "")] == 2


def test_a_process_outside_gunicorn_uses_and_removes_its_own_directory(tmp_path):
    shared = metrics_share.SharedMetrics(run_dir=tmp_path, interval=3600)
    shared.observe("/api", 200, 0.001)
    directory = shared.directory
    assert directory.parent == tmp_path and shared.started() is not None
    assert shared.collect()[0]["requests"][("/api", 200, "")] == 1
    shared.close()
    assert not directory.exists()
