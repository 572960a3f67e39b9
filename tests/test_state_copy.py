"""``visitorapi state copy``: a whole store moves between engines and reads back the same."""
import pytest

from conftest import run_cli
from visitorapi import totp
from visitorapi.state import accounts, audit, db, projects, sessions, throttle, usage

ACTOR = "cli:tester"
NOW = 1_700_000_000.0
PASSWORD = "violet staple orbit"
pytestmark = pytest.mark.usefixtures("fast_scrypt")


def fill(conn):
    """Put one of everything a store holds into ``conn``; return the session cookie made."""
    shop = projects.create(conn, "Shop", ["example.com", "*.example.org"], actor=ACTOR).pid
    projects.set_domain_note(conn, shop, "example.com", "main site, owner: Ana", actor=ACTOR)
    off = projects.create(conn, "Off", ["off.test"], actor=ACTOR).pid
    projects.set_enabled(conn, off, False, actor=ACTOR)
    owner = accounts.create(conn, "owner@example.com", PASSWORD, "owner", ACTOR)
    member = accounts.create(conn, "member@example.com", PASSWORD, "member", ACTOR)
    accounts.set_grant(conn, member.email, shop, True, ACTOR)
    secret = accounts.begin_enrollment(conn, owner)
    accounts.confirm_enrollment(conn, owner, totp.totp(totp.decode_secret(secret), NOW), NOW, ACTOR)
    cookie, _ = sessions.create(conn, NOW, account_id=owner.id, stage="full", label="Firefox")
    throttle.record_failure(conn, [throttle.account_key("x@example.com"),
                                   throttle.client_key(conn, "192.0.2.1")], NOW)
    with db.transaction(conn):
        usage._upsert(conn, _batch(shop), NOW)
    return cookie


def _batch(pid):
    batch = usage._Batch()
    hour = int(NOW // 3600)
    batch.counts = {(hour, pid, "served"): 7, (hour, pid, "denied"): 2, (hour, "", "bad_request"): 1}
    batch.countries = {(hour, pid, "DE"): 5, (hour, pid, ""): 2}
    batch.origins = {(pid, "https://evil.test"): [2, NOW, NOW + 5]}
    return batch


def snapshot(conn):
    """Everything the rest of the code reads from a store, engine-neutral."""
    return {
        "projects": projects.list_projects(conn),
        "accounts": accounts.list_accounts(conn),
        "grants": {a.email: accounts.granted_pids(conn, a) for a in accounts.list_accounts(conn)},
        "recovery": {a.email: accounts.recovery_codes_left(conn, a)
                     for a in accounts.list_accounts(conn)},
        "audit": audit.entries(conn),
        "daily": usage.daily(conn, None, days=2, now=NOW),
        "hourly": usage.hourly(conn, None, hours=2, now=NOW),
        "countries": usage.countries(conn, None, days=2, now=NOW),
        "origins": usage.top_denied_origins(conn),
        "throttle": throttle.failures(conn, throttle.account_key("x@example.com")),
        "settings": accounts.get_setting(conn, "throttle_key"),
    }


def test_sqlite_to_postgresql_and_back_reads_the_same(tmp_path, postgres_server):
    source = tmp_path / "state.sqlite3"
    conn = db.connect(source, create=True)
    cookie = fill(conn)
    before = snapshot(conn)
    conn.close()
    target = postgres_server.new_database()

    result = run_cli("state", "copy", source, target)
    assert result.returncode == 0, result.stderr
    assert "audit_log" in result.stdout and target in result.stdout

    moved = db.connect(target)
    assert snapshot(moved) == before
    assert sessions.load(moved, cookie, NOW + 1).label == "Firefox"   # still logged in
    # New rows get fresh ids after the copied ones (identity sequences moved on).
    newer = accounts.create(moved, "new@example.com", PASSWORD, "member", ACTOR)
    assert newer.id > max(a.id for a in before["accounts"])
    assert audit.entries(moved)[-1].id > before["audit"][-1].id
    moved.close()

    back = tmp_path / "back" / "state.sqlite3"
    assert run_cli("state", "copy", target, back).returncode == 0
    conn = db.connect(back)
    assert snapshot(conn)["projects"] == before["projects"]
    assert len(snapshot(conn)["audit"]) == len(before["audit"]) + 1
    conn.close()


def test_a_destination_with_data_is_refused_and_left_alone(tmp_path, store_location):
    source = tmp_path / "source.sqlite3"
    conn = db.connect(source, create=True)
    fill(conn)
    conn.close()
    dest = db.connect(store_location, create=True)
    projects.create(dest, "Already here", [], actor=ACTOR)
    before = snapshot(dest)
    result = run_cli("state", "copy", source, store_location)
    assert result.returncode == 1
    assert "already holds data (projects, audit_log)" in result.stderr
    assert snapshot(dest) == before
    dest.close()


def test_a_postgresql_store_survives_pg_dump_and_pg_restore(tmp_path, postgres_server):
    """The backup and restore docs/deploy.md gives, run for real."""
    import subprocess
    source = postgres_server.new_database()
    conn = db.connect(source, create=True)
    cookie = fill(conn)
    before = snapshot(conn)
    conn.close()
    dump = tmp_path / "visitorapi.dump"
    subprocess.run([str(postgres_server.bin / "pg_dump"), "--format=custom", f"--file={dump}",
                    source], check=True, capture_output=True, timeout=120)
    restored = postgres_server.new_database()
    subprocess.run([str(postgres_server.bin / "pg_restore"), "--no-owner", f"--dbname={restored}",
                    str(dump)], check=True, capture_output=True, timeout=120)
    conn = db.connect(restored)
    assert snapshot(conn) == before
    assert sessions.load(conn, cookie, NOW + 1) is not None
    projects.create(conn, "After the restore", [], actor=ACTOR)   # ids and triggers work
    with pytest.raises(db.StoreError, match="append-only"):
        conn.execute("DELETE FROM audit_log")
    conn.close()
