"""The store on both engines: creation, WAL (SQLite), migrations applied once, newer stores
refused, the PostgreSQL URL and driver."""
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


def test_migrations_run_once(store_location):
    first = db.connect(store_location, create=True)
    applied = {row[0] for row in first.execute("SELECT name FROM schema_migrations")}
    assert applied == {name for name, _ in db.available_migrations()}   # same names on both
    first.close()
    conn = db.connect(store_location, create=True)
    assert db.migrate(conn) == []
    conn.close()


def test_default_path_honours_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("VISITORAPI_STATE", str(tmp_path / "x.sqlite3"))
    assert db.default_state_path() == tmp_path / "x.sqlite3"
    monkeypatch.delenv("VISITORAPI_STATE")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert db.default_state_path() == tmp_path / "xdg" / "visitorapi" / "state.sqlite3"


def test_store_from_a_newer_version_is_refused(store_location):
    conn = db.connect(store_location, create=True)
    conn.execute("INSERT INTO schema_migrations (name, applied_at) VALUES ('9999_from_the_future', 'x')")
    conn.close()
    with pytest.raises(OperatorError, match="9999_from_the_future"):
        db.connect(store_location, create=True)


def test_failed_migration_leaves_store_unchanged(store_location, monkeypatch):
    db.connect(store_location, create=True).close()
    available = db.available_migrations
    monkeypatch.setattr(db, "available_migrations", lambda engine=None: available(engine) + [
        ("9998_broken", "CREATE TABLE half_done (x INTEGER);\nTHIS IS NOT SQL;\n")])
    with pytest.raises(OperatorError, match="unusable"):
        db.connect(store_location, create=True)
    monkeypatch.undo()
    conn = db.connect(store_location, create=True)
    with pytest.raises(db.StoreError, match="half_done"):
        conn.execute("SELECT * FROM half_done")
    assert "9998_broken" not in {row[0] for row in conn.execute("SELECT name FROM schema_migrations")}
    conn.close()


def test_the_audit_trail_cannot_be_truncated_on_postgresql(postgres_server):
    conn = db.connect(postgres_server.new_database(), create=True)
    with pytest.raises(db.StoreError, match="append-only"):
        conn.execute("TRUNCATE audit_log")
    conn.close()


@pytest.mark.parametrize("url, shown", [
    pytest.param("postgresql://app:s3cret@db.internal:5432/visitorapi",
                 "postgresql://app:***@db.internal:5432/visitorapi", id="password"),
    pytest.param("postgresql://app@db.internal/visitorapi",
                 "postgresql://app@db.internal/visitorapi", id="no-password"),
    pytest.param("/var/lib/visitorapi/state.sqlite3", "/var/lib/visitorapi/state.sqlite3",
                 id="file"),
])
def test_a_url_is_described_without_its_password(url, shown):
    assert db.describe(url) == shown


def test_a_postgresql_url_is_kept_as_given(monkeypatch):
    monkeypatch.setenv("VISITORAPI_STATE", "postgresql://app@db.internal:5432/visitorapi")
    assert db.default_state_path() == "postgresql://app@db.internal:5432/visitorapi"


def test_without_psycopg_the_error_says_what_to_install(monkeypatch):
    import builtins
    real_import = builtins.__import__

    def no_psycopg(name, *args, **kwargs):
        if name == "psycopg" or name.startswith("psycopg."):
            raise ImportError("No module named 'psycopg'")
        return real_import(name, *args, **kwargs)
    monkeypatch.setattr(builtins, "__import__", no_psycopg)
    with pytest.raises(OperatorError, match=r"pip install 'visitorapi\[postgresql\]'"):
        db.connect("postgresql://app@127.0.0.1:1/visitorapi")


def test_an_unreachable_server_is_named_without_its_password(monkeypatch):
    pytest.importorskip("psycopg")
    with pytest.raises(OperatorError) as raised:
        db.connect("postgresql://app:s3cret@127.0.0.1:1/visitorapi")
    message = str(raised.value)
    assert "postgresql://app:***@127.0.0.1:1/visitorapi" in message and "s3cret" not in message
    assert "PGPASSWORD" in message


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


def test_a_serving_process_never_creates_the_postgresql_tables(postgres_server):
    url = postgres_server.new_database()
    with pytest.raises(OperatorError, match="has no visitorapi tables; a serving process never"):
        db.connect(url)
    assert postgres_server.query(url, "SELECT to_regclass('projects')") == [(None,)]
    db.connect(url, create=True).close()
    db.connect(url).close()


def test_both_engines_have_the_same_tables_and_columns(tmp_path, postgres_server):
    """The migrations are written twice (one folder per engine); this keeps them twins."""
    from visitorapi.state.copy import TABLES

    def columns(conn):
        return {table: [c[0] for c in conn.execute(f"SELECT * FROM {table} LIMIT 0").description]
                for table in [t for t, _ in TABLES] + ["projects_revision", "schema_migrations"]}
    sqlite = db.connect(tmp_path / "state.sqlite3", create=True)
    postgresql = db.connect(postgres_server.new_database(), create=True)
    expected = columns(sqlite)
    expected["projects"].append("rowid")   # SQLite's is implicit; PostgreSQL's is a column
    assert columns(postgresql) == expected
    sqlite.close()
    postgresql.close()
