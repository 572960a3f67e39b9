"""The SQLite store: creation, WAL, migrations applied once, newer stores refused."""
import os
import sqlite3
import stat

import pytest

from visitorapi.errors import OperatorError
from visitorapi.state import db


def test_connect_creates_store_in_wal_mode_with_all_migrations(tmp_path):
    path = tmp_path / "nested" / "state.sqlite3"
    conn = db.connect(path)
    assert path.exists()
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    applied = {row[0] for row in conn.execute("SELECT name FROM schema_migrations")}
    assert applied == {name for name, _ in db.available_migrations()}
    conn.close()


def test_a_new_store_is_readable_by_its_owner_only(tmp_path):
    old_umask = os.umask(0o022)  # the usual default: new files world-readable
    try:
        conn = db.connect(tmp_path / "state.sqlite3")
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
    db.connect(path).close()
    assert not caplog.records  # a store it made itself is private
    path.chmod(0o644)
    with caplog.at_level("WARNING", logger="visitorapi.state.db"):
        db.connect(path).close()
    [record] = caplog.records
    assert str(path) in record.getMessage() and "mode 644" in record.getMessage()
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # warned about, not changed


def test_migrations_run_once(tmp_path):
    path = tmp_path / "state.sqlite3"
    db.connect(path).close()
    conn = db.connect(path)
    assert db.migrate(conn) == []
    conn.close()


def test_store_from_a_newer_version_is_refused(tmp_path):
    path = tmp_path / "state.sqlite3"
    db.connect(path).close()
    raw = sqlite3.connect(path)
    raw.execute("INSERT INTO schema_migrations (name) VALUES ('9999_from_the_future')")
    raw.commit()
    raw.close()
    with pytest.raises(OperatorError, match="9999_from_the_future"):
        db.connect(path)


def test_failed_migration_leaves_store_unchanged(tmp_path, monkeypatch):
    path = tmp_path / "state.sqlite3"
    db.connect(path).close()
    good = db.available_migrations()
    monkeypatch.setattr(db, "available_migrations", lambda: good + [
        ("9998_broken", "CREATE TABLE half_done (x INTEGER);\nTHIS IS NOT SQL;\n")])
    with pytest.raises(OperatorError):
        db.connect(path)
    raw = sqlite3.connect(path)
    tables = {row[0] for row in raw.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "half_done" not in tables
    raw.close()


def test_not_a_database_gives_a_clear_error(tmp_path):
    path = tmp_path / "state.sqlite3"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(OperatorError, match="unusable"):
        db.connect(path)
