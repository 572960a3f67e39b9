"""The serving path's live view of authorized domains: fresh, fork-safe, never failing."""
import logging
import multiprocessing
import sqlite3
import threading
import time

import pytest

from visitorapi.domains import is_allowed, parse_origin
from visitorapi.state import db
from visitorapi.state import projects as store
from visitorapi.state.authorized_domains import AuthorizedDomains, ProjectsUnavailable

ACTOR = "cli:tester"


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def path(store_location):
    return store_location


@pytest.fixture
def conn(path):
    connection = db.connect(path, create=True)
    yield connection
    connection.close()


def _hosts(patterns):
    return None if patterns is None else [p.text for p in patterns]


def test_known_unknown_and_disabled_projects(path, conn):
    live = store.create(conn, "Live", ["example.com", "*.example.org"], actor=ACTOR).pid
    off = store.create(conn, "Off", ["off.test"], actor=ACTOR).pid
    store.set_enabled(conn, off, False, actor=ACTOR)
    view = AuthorizedDomains(path)
    assert _hosts(view.patterns_for(live)) == ["*.example.org", "example.com"]
    assert view.patterns_for(off) is None
    assert view.patterns_for("unknownpid") is None
    assert view.healthy
    assert is_allowed(parse_origin("https://a.example.org"), view.patterns_for(live))
    view.close()


def test_changes_show_after_the_check_interval_and_not_before(path, conn):
    clock = FakeClock()
    pid = store.create(conn, "Shop", ["example.com"], actor=ACTOR).pid
    view = AuthorizedDomains(path, check_interval=0.25, clock=clock)
    assert _hosts(view.patterns_for(pid)) == ["example.com"]
    store.add_domain(conn, pid, "new.test", actor=ACTOR)
    clock.now += 0.1
    assert _hosts(view.patterns_for(pid)) == ["example.com"]      # the snapshot, no query
    clock.now += 0.2
    assert _hosts(view.patterns_for(pid)) == ["example.com", "new.test"]
    store.set_enabled(conn, pid, False, actor=ACTOR)
    clock.now += 0.3
    assert view.patterns_for(pid) is None
    store.set_enabled(conn, pid, True, actor=ACTOR)
    store.delete(conn, pid, actor=ACTOR)
    clock.now += 0.3
    assert view.patterns_for(pid) is None
    view.close()


def test_unchanged_store_keeps_the_same_snapshot_objects(path, conn):
    clock = FakeClock()
    pid = store.create(conn, "Shop", ["example.com"], actor=ACTOR).pid
    view = AuthorizedDomains(path, clock=clock)
    first = view.patterns_for(pid)
    clock.now += 1
    assert view.patterns_for(pid) is first
    store.create(conn, "Other", ["other.test"], actor=ACTOR)
    clock.now += 1
    second = view.patterns_for(pid)
    assert second == first and second[0] is first[0]              # parsed patterns reused
    view.close()


def test_stored_pattern_that_no_longer_parses_is_skipped_not_fatal(path, conn, caplog):
    pid = store.create(conn, "Shop", ["example.com"], actor=ACTOR).pid
    conn.execute("INSERT INTO project_domains (pid, pattern, added_at) VALUES (?, 'bad/path', 'x')", (pid,))
    view = AuthorizedDomains(path)
    with caplog.at_level(logging.WARNING):
        assert _hosts(view.patterns_for(pid)) == ["example.com"]
    assert [r.event for r in caplog.records] == ["projects.bad_stored_pattern"]
    view.close()


def test_locked_store_serves_the_last_snapshot_and_warns_once(tmp_path, caplog):
    path = tmp_path / "state.sqlite3"
    conn = db.connect(path, create=True)
    clock = FakeClock()
    pid = store.create(conn, "Shop", ["example.com"], actor=ACTOR).pid
    view = AuthorizedDomains(path, clock=clock)
    assert _hosts(view.patterns_for(pid)) == ["example.com"]
    view.close()                        # the worker must reconnect, as after a fork
    conn.close()
    locker = sqlite3.connect(path, isolation_level=None)
    locker.execute("PRAGMA locking_mode = EXCLUSIVE")
    locker.execute("BEGIN EXCLUSIVE")
    locker.execute("UPDATE projects SET name = 'locked'")
    caplog.clear()  # NOTE: creating the store logs at INFO when an earlier test set the root level
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            clock.now += 1
            assert _hosts(view.patterns_for(pid)) == ["example.com"]
        assert not view.healthy
        assert [r.event for r in caplog.records] == ["projects.store_unavailable"]
        locker.execute("ROLLBACK")
        locker.close()
        clock.now += 1
        assert _hosts(view.patterns_for(pid)) == ["example.com"]
        assert view.healthy
    assert [r.event for r in caplog.records] == ["projects.store_unavailable",
                                                 "projects.store_recovered"]
    view.close()


def test_unreachable_postgresql_serves_the_last_snapshot_and_recovers(postgres_server, caplog):
    url = postgres_server.new_database()
    name = url.rsplit("/", 1)[1]
    conn = db.connect(url, create=True)
    pid = store.create(conn, "Shop", ["example.com"], actor=ACTOR).pid
    conn.close()
    clock = FakeClock()
    view = AuthorizedDomains(url, clock=clock)
    assert _hosts(view.patterns_for(pid)) == ["example.com"]
    admin = postgres_server.url()
    # The database goes away under the view: its connection is ended and it cannot reconnect.
    postgres_server.query(admin, f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
    postgres_server.query(admin, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                                 " WHERE datname = %s", (name,))
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            clock.now += 1
            assert _hosts(view.patterns_for(pid)) == ["example.com"]
        assert not view.healthy
        assert [r.event for r in caplog.records] == ["projects.store_unavailable"]
        postgres_server.query(admin, f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        clock.now += 1
        assert _hosts(view.patterns_for(pid)) == ["example.com"]
        assert view.healthy
    assert [r.event for r in caplog.records] == ["projects.store_unavailable",
                                                 "projects.store_recovered"]
    view.close()


def test_unopenable_store_is_reported_not_guessed(tmp_path, caplog):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the store's folder should be")
    view = AuthorizedDomains(blocker / "state.sqlite3")
    with caplog.at_level(logging.WARNING):
        with pytest.raises(ProjectsUnavailable):
            view.patterns_for("anypid")
    assert not view.healthy
    assert not view.refresh()
    assert str(blocker / "state.sqlite3") in view.problem
    assert [r.event for r in caplog.records] == ["projects.store_unavailable"]


def _child_waits_for_change(view, pid, results):
    """Runs in a forked worker: report what it sees at first, then after the parent's change."""
    forgot_parent_connection = view._store._conn is None
    results.put(("first", _hosts(view.patterns_for(pid)), forgot_parent_connection))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        seen = _hosts(view.patterns_for(pid))
        if seen != ["example.com"]:
            results.put(("changed", seen, None))
            return
        time.sleep(0.02)
    results.put(("timeout", None, None))


def test_forked_worker_opens_its_own_connection_and_sees_later_changes(path, conn):
    pid = store.create(conn, "Shop", ["example.com"], actor=ACTOR).pid
    view = AuthorizedDomains(path, check_interval=0.05)
    assert _hosts(view.patterns_for(pid)) == ["example.com"]      # the master loaded it (--preload)
    parent_connection = view._store._conn
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    child = context.Process(target=_child_waits_for_change, args=(view, pid, results))
    child.start()
    try:
        assert results.get(timeout=30) == ("first", ["example.com"], True)
        store.add_domain(conn, pid, "later.test", actor=ACTOR)
        assert results.get(timeout=60)[:2] == ("changed", ["example.com", "later.test"])
    finally:
        child.join(timeout=30)
        if child.is_alive():
            child.kill()
    assert child.exitcode == 0
    assert view._store._conn is parent_connection      # the parent's connection was left alone
    view.close()


def test_concurrent_threads_always_get_a_consistent_answer(path, conn):
    pid = store.create(conn, "Shop", ["example.com"], actor=ACTOR).pid
    view = AuthorizedDomains(path, check_interval=0)
    errors = []
    stop = threading.Event()

    def reader():
        try:
            while not stop.is_set():
                patterns = view.patterns_for(pid)
                assert patterns is None or all(p.text for p in patterns)
        except Exception as exc:   # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for thread in threads:
        thread.start()
    for index in range(30):
        store.add_domain(conn, pid, f"site{index}.test", actor=ACTOR)
        store.set_enabled(conn, pid, index % 2 == 0, actor=ACTOR)
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    store.set_enabled(conn, pid, True, actor=ACTOR)
    assert len(view.patterns_for(pid)) == 31
    view.close()


def test_threads_arriving_during_the_first_load_wait_for_it(path, conn, monkeypatch):
    """gthread workers: the first requests of a worker come in together.

    Until the first snapshot is loaded an empty one would refuse every pid
    (403 for an authorized site), so a thread arriving meanwhile waits for the
    load instead of reading the empty snapshot.
    """
    import visitorapi.state.authorized_domains as module

    pid = store.create(conn, "Shop", ["example.com"], actor=ACTOR).pid
    real = module.enabled_domains

    def slow_enabled_domains(connection):
        time.sleep(0.2)  # NOTE: the first load is in progress while the others arrive
        return real(connection)

    monkeypatch.setattr(module, "enabled_domains", slow_enabled_domains)
    view = AuthorizedDomains(path)
    start = threading.Barrier(6)
    answers = []

    def request():
        start.wait(timeout=10)
        answers.append(_hosts(view.patterns_for(pid)))

    threads = [threading.Thread(target=request) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert answers == [["example.com"]] * 6
    view.close()
