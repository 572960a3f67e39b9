"""Usage accounting: in-memory counts, batched writes, retention, the query API.

The property test replays random request streams against a naive oracle
(plain counting in Python) with flushes at random points; several processes
writing to one store at once must add up exactly.
"""
import multiprocessing
import os
import time

import pytest
from hypothesis import given, settings, strategies as st

from visitorapi.state import db, usage
from visitorapi.state.usage import OUTCOMES, SERVICE, UsageRecorder

DAY = 86400
T0 = 1_700_000_000  # 2023-11-14T22:13:20Z


class FakeClock:
    def __init__(self, now=T0):
        self.now = now

    def __call__(self):
        return self.now


@pytest.fixture
def store(store_location):
    db.connect(store_location, create=True).close()   # as `visitorapi serve` does
    return store_location


def make(store, clock, **kwargs):
    recorder = UsageRecorder(store, clock=clock, **kwargs)
    recorder._thread = "not started"  # NOTE: tests flush by hand, no background thread
    return recorder


def test_one_flush_writes_daily_hourly_countries_and_origins(store):
    clock = FakeClock()
    recorder = make(store, clock)
    recorder.record("served", "p1", country="DE")
    recorder.record("served", "p1", country="DE")
    recorder.record("served", "p1", country="")
    recorder.record("denied", "p1", origin="https://evil.test")
    clock.now += 10
    recorder.record("denied", "p1", origin="https://evil.test")
    recorder.record("rate_limited", "p1")
    recorder.record("unknown_project")
    recorder.record("bad_request")
    assert recorder.flush()
    conn = db.connect(store, create=True)
    [today] = usage.daily(conn, "p1", days=1, now=clock.now)
    assert (today.period, today.served, today.denied, today.rate_limited, today.bad_request,
            today.unknown_project, today.total) == ("2023-11-14", 3, 2, 1, 0, 0, 6)
    [service] = usage.daily(conn, SERVICE, days=1, now=clock.now)
    assert (service.unknown_project, service.bad_request, service.total) == (1, 1, 2)
    assert usage.daily(conn, None, days=1, now=clock.now)[0].total == 8
    assert usage.hourly(conn, "p1", hours=1, now=clock.now)[0].period == "2023-11-14T22"
    assert usage.hourly(conn, "p1", hours=1, now=clock.now)[0].total == 6
    assert usage.countries(conn, "p1", days=1, now=clock.now) == [("DE", 2), ("", 1)]
    [origin] = usage.top_denied_origins(conn, "p1")
    assert origin == usage.DeniedOrigin("p1", "https://evil.test", 2,
                                        "2023-11-14T22:13:20Z", "2023-11-14T22:13:30Z")


def test_whole_service_row_never_keeps_countries_or_origins(store):
    recorder = make(store, FakeClock())
    recorder.record("unknown_project", SERVICE, country="DE", origin="https://x.test")
    recorder.flush()
    conn = db.connect(store, create=True)
    assert usage.countries(conn) == []
    assert usage.top_denied_origins(conn) == []


def test_unknown_outcome_is_a_bug(store):
    with pytest.raises(ValueError, match="unknown usage outcome"):
        make(store, FakeClock()).record("servd", "p1")


def test_series_are_zero_filled_oldest_first(store):
    clock = FakeClock()
    recorder = make(store, clock)
    recorder.record("served", "p1")
    clock.now += 2 * DAY
    recorder.record("served", "p1")
    recorder.flush()
    series = usage.daily(db.connect(store, create=True), "p1", days=4, now=clock.now)
    assert [(d.period, d.served) for d in series] == [
        ("2023-11-13", 0), ("2023-11-14", 1), ("2023-11-15", 0), ("2023-11-16", 1)]
    hours = usage.hourly(db.connect(store, create=True), "p1", hours=48, now=clock.now)
    assert len(hours) == 48 and hours[-1] == usage.UsageCounts("2023-11-16T22", served=1)
    assert sum(h.total for h in hours) == 1  # the first one is older than 48 hours


def test_failed_flush_keeps_counts_and_the_retry_writes_them_once(store):
    recorder = make(store, FakeClock(), busy_timeout_ms=50)
    recorder.record("served", "p1", country="FR")
    assert recorder.flush()
    recorder.record("served", "p1", country="FR")
    recorder.record("denied", "p1", origin="https://a.test")
    blocker = db.connect(store)
    blocker.execute("BEGIN IMMEDIATE")  # another writer holds the lock
    assert recorder.flush() is False
    assert recorder.flush_failures == 1
    recorder.record("served", "p1", country="FR")  # counted while the store is locked
    blocker.execute("ROLLBACK")
    blocker.close()
    assert recorder.flush()
    conn = db.connect(store, create=True)
    assert usage.daily(conn, "p1", days=1, now=T0)[0].served == 3
    assert usage.countries(conn, "p1", days=1, now=T0) == [("FR", 3)]
    assert usage.top_denied_origins(conn, "p1")[0].requests == 1


def test_an_unopenable_store_is_retried_not_raised(tmp_path):
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    recorder = make(not_a_dir / "state.sqlite3", FakeClock())
    recorder.record("served", "p1")
    assert recorder.flush() is False
    assert recorder._pending.counts  # still pending, not dropped


def test_an_unreachable_postgresql_is_retried_not_raised():
    pytest.importorskip("psycopg")
    recorder = make("postgresql://visitorapi@127.0.0.1:1/nothing", FakeClock())
    recorder.record("served", "p1")
    assert recorder.flush() is False
    assert recorder._pending.counts


def test_retention_prunes_old_days_hours_and_origins(store):
    clock = FakeClock()
    recorder = make(store, clock, retention_days=10)
    recorder.record("served", "p1", country="DE")
    recorder.record("denied", "p1", origin="https://old.test")
    recorder.flush()
    clock.now += 9 * DAY
    recorder.record("served", "p1", country="DE")
    recorder.record("denied", "p1", origin="https://new.test")
    recorder.flush()  # the first day is the 10th day back: still kept
    assert len(usage.top_denied_origins(db.connect(store, create=True))) == 2
    clock.now += 1 * DAY
    recorder.flush()  # the first day is now the 11th day back
    conn = db.connect(store, create=True)
    days = {row[0] for row in conn.execute("SELECT day FROM usage_daily")}
    assert days == {"2023-11-23"}
    assert {row[0] for row in conn.execute("SELECT day FROM usage_countries")} == {"2023-11-23"}
    assert [o.origin for o in usage.top_denied_origins(conn)] == ["https://new.test"]
    assert [row[0] for row in conn.execute("SELECT hour FROM usage_hourly")] == ["2023-11-23T22"]


def test_origin_flood_is_bounded_in_memory_and_in_the_store(store, monkeypatch):
    monkeypatch.setattr(usage, "MAX_PENDING_ORIGINS", 5)
    monkeypatch.setattr(usage, "MAX_STORED_ORIGINS_PER_PROJECT", 7)
    clock = FakeClock()
    recorder = make(store, clock)
    for i in range(8):
        recorder.record("denied", "p1", origin=f"https://site{i}.test")
    recorder.record("denied", "p1", origin="https://" + "x" * 400 + ".test")
    recorder._drain()
    assert len(recorder._pending.origins) == 6
    recorder.flush()
    for i in range(8, 12):
        clock.now += 1
        recorder.record("denied", "p1", origin=f"https://site{i}.test")
    clock.now += usage.PRUNE_EVERY_SECONDS
    recorder.flush()
    conn = db.connect(store, create=True)
    origins = usage.top_denied_origins(conn, "p1", limit=100)
    assert len(origins) == 7
    assert {o.origin for o in origins} >= {f"https://site{i}.test" for i in range(8, 12)}
    assert dict((o.origin, o.requests) for o in origins).get(usage.OTHER_ORIGINS, 4) == 4


def test_totals_by_project(store):
    recorder = make(store, FakeClock())
    for outcome in ("served", "served", "denied"):
        recorder.record(outcome, "p1")
    recorder.record("served", "p2")
    recorder.flush()
    totals = usage.totals_by_project(db.connect(store, create=True), days=7, now=T0)
    assert {pid: c.total for pid, c in totals.items()} == {"p1": 3, "p2": 1}


def test_background_thread_flushes_and_close_writes_the_rest(store):
    recorder = UsageRecorder(store, flush_interval=0.05)
    recorder.record("served", "p1")
    conn = db.connect(store, create=True)
    deadline = time.monotonic() + 30
    while usage.daily(conn, "p1", days=1)[0].served != 1:
        assert time.monotonic() < deadline, "the writer thread never flushed"
        time.sleep(0.02)
    recorder.record("served", "p1")
    assert recorder.close()
    assert usage.daily(conn, "p1", days=1)[0].served == 2
    assert recorder.close()  # twice is fine


def test_a_forked_child_starts_empty(store):
    recorder = make(store, FakeClock())
    recorder.record("served", "p1")
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        ok = not recorder._events and not recorder._pending and recorder._thread is None
        os.write(write, b"1" if ok else b"0")
        os._exit(0)
    os.waitpid(child, 0)
    assert os.read(read, 1) == b"1"
    assert recorder._events  # the parent keeps its own


OUTCOME = st.sampled_from(OUTCOMES)
EVENT = st.tuples(
    st.integers(0, 5 * DAY),            # seconds after T0
    OUTCOME,
    st.sampled_from(["p1", "p2", SERVICE]),
    st.sampled_from([None, "DE", "US", ""]),
    st.sampled_from([None, "https://a.test", "http://b.test:8080"]),
    st.booleans(),                      # flush after this event
)


@settings(max_examples=60)
@given(st.lists(EVENT, max_size=40))
def test_counts_match_a_naive_oracle(tmp_path_factory, events):
    store = tmp_path_factory.mktemp("usage") / "state.sqlite3"
    db.connect(store, create=True).close()
    clock = FakeClock()
    recorder = make(store, clock)
    day_counts, countries, origins = {}, {}, {}
    for offset, outcome, pid, country, origin, flush in sorted(events, key=lambda e: e[0]):
        clock.now = T0 + offset
        recorder.record(outcome, pid, country=country, origin=origin)
        day = time.strftime("%Y-%m-%d", time.gmtime(clock.now))
        key = (day, pid, outcome)
        day_counts[key] = day_counts.get(key, 0) + 1
        if country is not None and pid:
            countries[(pid, country)] = countries.get((pid, country), 0) + 1
        if origin is not None and pid:
            origins[(pid, origin)] = origins.get((pid, origin), 0) + 1
        if flush:
            assert recorder.flush()
    clock.now = T0 + 5 * DAY
    assert recorder.flush()
    conn = db.connect(store, create=True)
    for pid in ("p1", "p2", SERVICE):
        for counts in usage.daily(conn, pid, days=6, now=clock.now):
            for outcome in OUTCOMES:
                assert getattr(counts, outcome) == day_counts.get((counts.period, pid, outcome), 0)
        assert dict(usage.countries(conn, pid, days=6, now=clock.now)) == {
            c: n for (p, c), n in countries.items() if p == pid}
    assert {(o.pid, o.origin): o.requests for o in usage.top_denied_origins(conn, limit=100)} == origins
    conn.close()


def _hammer(store, worker, rounds):
    recorder = UsageRecorder(store, flush_interval=0.01)
    for i in range(rounds):
        recorder.record("served", f"p{i % 3}", country="DE")
        if i % 7 == 0:
            recorder.record("denied", "p0", origin=f"https://w{worker}.test")
    recorder.close()


def test_concurrent_processes_add_up_exactly(store):
    db.connect(store, create=True).close()
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_hammer, args=(store, w, 3000)) for w in range(4)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(120)
        assert process.exitcode == 0
    conn = db.connect(store, create=True)
    assert sum(c.served for c in usage.daily(conn, days=2)) == 4 * 3000
    assert sum(n for _, n in usage.countries(conn, days=2)) == 4 * 3000
    assert sum(o.requests for o in usage.top_denied_origins(conn)) == 4 * len(range(0, 3000, 7))


def test_failed_writes_are_logged_once_per_streak_and_retried_until_written(store, caplog):
    recorder = make(store, FakeClock(), busy_timeout_ms=50)
    blocker = db.connect(store)
    blocker.execute("BEGIN IMMEDIATE")  # a real writer holds the store's lock
    with caplog.at_level("WARNING", logger="visitorapi.state.usage"):
        for _ in range(3):
            recorder.record("served", "p1", country="DE")
            assert recorder.flush() is False
        blocker.execute("ROLLBACK")
        blocker.close()
        assert recorder.flush()
        recorder.record("served", "p1", country="DE")
        assert recorder.flush()
    assert [r.event for r in caplog.records] == ["usage.flush_failed", "usage.flush_recovered"]
    assert str(store) in caplog.records[0].getMessage()
    assert "after 3 failed attempts; 0 requests were not counted" in caplog.records[1].getMessage()
    assert (recorder.flush_failures, recorder.dropped) == (3, 0)
    conn = db.connect(store)
    assert usage.daily(conn, "p1", days=1, now=T0)[0].served == 4
    assert usage.countries(conn, "p1", days=1, now=T0) == [("DE", 4)]


def test_pending_sums_are_bounded_and_what_does_not_fit_is_counted_as_dropped(store, caplog):
    clock = FakeClock()
    recorder = make(store, clock, busy_timeout_ms=50, max_pending=4)
    blocker = db.connect(store)
    blocker.execute("BEGIN IMMEDIATE")
    with caplog.at_level("WARNING", logger="visitorapi.state.usage"):
        recorder.record("served", "p1", country="DE")   # two sums: served, and DE
        recorder.record("denied", "p1")                 # three
        assert recorder.flush() is False
        recorder.record("served", "p1", country="DE")   # existing sums: kept
        recorder.record("served", "p2", country="FR")   # needs two more: dropped
        recorder.record("rate_limited", "p1")           # the fourth sum: kept
        recorder.record("bad_request", "p1")            # full: dropped
        assert recorder.flush() is False
        clock.now += 3600
        recorder.record("served", "p1", country="DE")   # a new hour needs new sums: dropped
        assert recorder.flush() is False
        blocker.execute("ROLLBACK")
        blocker.close()
        assert recorder.flush()
    assert recorder.dropped == 3
    assert [r.event for r in caplog.records] == ["usage.flush_failed", "usage.dropping",
                                                 "usage.flush_recovered"]
    assert "3 requests were not counted" in caplog.records[2].getMessage()
    conn = db.connect(store)
    [p1] = usage.daily(conn, "p1", days=1, now=T0)
    assert (p1.served, p1.denied, p1.rate_limited, p1.bad_request) == (2, 1, 1, 0)
    assert usage.daily(conn, "p2", days=1, now=T0)[0].total == 0
