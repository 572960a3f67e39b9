"""The SQLite store: creation, WAL, migrations applied once, newer stores refused."""
import logging
import os
import sqlite3
import stat

import pytest

from visitorapi.errors import OperatorError
from visitorapi.state import db, projects


def test_connect_creates_store_in_wal_mode_with_all_migrations(tmp_path):
    path = tmp_path / "nested" / "state.sqlite3"
    conn = db.connect(path, create=True)
    assert path.exists()
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    applied = {row[0] for row in conn.execute("SELECT name FROM schema_migrations")}
    assert applied == {name for name, _ in db.available_migrations()}
    conn.close()


def test_a_new_store_is_readable_by_its_owner_only(tmp_path):
    old_umask = os.umask(0o022)  # the usual default: new files world-readable
    try:
        conn = db.connect(tmp_path / "state.sqlite3", create=True)
        conn.execute("CREATE TABLE probe (x)")  # the WAL file exists once something is written
    finally:
        os.umask(old_umask)
    files = sorted(tmp_path.glob("state.sqlite3*"))
    assert [path.name for path in files] == ["state.sqlite3", "state.sqlite3-shm",
                                             "state.sqlite3-wal"]
    assert {stat.S_IMODE(path.stat().st_mode) for path in files} == {0o600}
    conn.close()


def test_a_store_open_to_others_is_named_in_a_warning(tmp_path, caplog):
    path = tmp_path / "state.sqlite3"
    db.connect(path, create=True).close()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]  # made private
    path.chmod(0o644)
    with caplog.at_level("WARNING", logger="visitorapi.state.db"):
        db.connect(path).close()
    [record] = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert str(path) in record.getMessage() and "mode 644" in record.getMessage()
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # warned about, not changed


def test_migrations_run_once(tmp_path):
    path = tmp_path / "state.sqlite3"
    db.connect(path, create=True).close()
    conn = db.connect(path, create=True)
    assert db.migrate(conn) == []
    conn.close()


def test_store_from_a_newer_version_is_refused(tmp_path):
    path = tmp_path / "state.sqlite3"
    db.connect(path, create=True).close()
    raw = sqlite3.connect(path)
    raw.execute("INSERT INTO schema_migrations (name) VALUES ('9999_from_the_future')")
    raw.commit()
    raw.close()
    with pytest.raises(OperatorError, match="9999_from_the_future"):
        db.connect(path, create=True)


def test_failed_migration_leaves_store_unchanged(tmp_path, monkeypatch):
    path = tmp_path / "state.sqlite3"
    db.connect(path, create=True).close()
    good = db.available_migrations()
    monkeypatch.setattr(db, "available_migrations", lambda: good + [
        ("9998_broken", "CREATE TABLE half_done (x INTEGER);\nTHIS IS NOT SQL;\n")])
    with pytest.raises(OperatorError):
        db.connect(path, create=True)
    raw = sqlite3.connect(path)
    tables = {row[0] for row in raw.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "half_done" not in tables
    raw.close()


def test_not_a_database_gives_a_clear_error(tmp_path):
    path = tmp_path / "state.sqlite3"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(OperatorError, match="is damaged .*docs/operations.md"):
        db.connect(path, create=True)


def test_without_create_a_missing_store_is_named_and_not_made(tmp_path):
    path = tmp_path / "gone" / "state.sqlite3"
    with pytest.raises(OperatorError, match=f"state database {path} does not exist"):
        db.connect(path)
    assert not path.parent.exists()  # neither the file nor its folder


def damage(path):
    """Zero the body of one index page of a store with some history (no connection open)."""
    conn = db.connect(path, create=True)
    for index in range(200):
        projects.create(conn, f"project {index}", [f"site{index}.example"], actor="cli:test")
    [(page,)] = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'audit_log_by_pid'")
    [(size,)] = conn.execute("PRAGMA page_size")
    conn.close()  # NOTE: the last connection: the WAL is checkpointed into the file
    data = bytearray(path.read_bytes())
    start = (page - 1) * size
    data[start + 100:start + size] = bytes(size - 100)
    path.write_bytes(bytes(data))


def test_a_damaged_store_is_one_line_naming_it_and_the_restore_procedure(tmp_path):
    path = tmp_path / "state.sqlite3"
    damage(path)
    with pytest.raises(OperatorError) as raised:
        db.connect(path)
    message = str(raised.value)
    assert message.startswith(f"state database {path} is damaged (")
    assert '(docs/operations.md, "Restoring a backup")' in message and "\n" not in message


def test_an_up_to_date_store_opens_without_the_write_lock(tmp_path):
    path = tmp_path / "state.sqlite3"
    db.connect(path, create=True).close()
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # a long write elsewhere (the CLI, a usage flush)
    try:
        conn = db.connect(path, busy_timeout_ms=50)
        assert conn.execute("SELECT count(*) FROM projects").fetchone() == (0,)
        conn.close()
    finally:
        writer.execute("ROLLBACK")
        writer.close()


def test_a_long_lived_connection_follows_the_file(tmp_path):
    path = tmp_path / "state.sqlite3"
    first = db.connect(path, create=True)
    projects.create(first, "old", [], actor="cli:test")
    first.close()
    store = db.Connection(path)
    assert [p.name for p in projects.list_projects(store.get())] == ["old"]
    path.rename(tmp_path / "old.sqlite3")       # moved away under the open connection
    with pytest.raises(OperatorError, match="does not exist"):
        store.get()
    replacement = db.connect(tmp_path / "new.sqlite3", create=True)
    projects.create(replacement, "new", [], actor="cli:test")
    replacement.close()
    (tmp_path / "new.sqlite3").rename(path)     # a restore puts another file in place
    assert [p.name for p in projects.list_projects(store.get())] == ["new"]
    store.close()
