"""The incident-response commands: ``users revoke-sessions``, ``keys rotate``, ``state backup``
and ``state restore``; the first two on both engines."""
import time

import pytest

from conftest import run_cli
from support.dashboard_client import Client
from visitorapi.dashboard import DashboardApp
from visitorapi.state import accounts, db, throttle

PASSWORD = "violet staple orbit"
pytestmark = pytest.mark.usefixtures("fast_scrypt")


def open_with_accounts(location):
    conn = db.connect(location, create=True)
    for email, role in (("o@example.com", "owner"), ("m@example.com", "member")):
        accounts.create(conn, email, PASSWORD, role, "test:setup")
    return conn


@pytest.fixture
def store(state_path):
    """A SQLite store (backup and restore are SQLite's) with an owner and a member."""
    conn = open_with_accounts(state_path)
    yield conn
    conn.close()


@pytest.fixture
def location(store_location, monkeypatch):
    """VISITORAPI_STATE on each engine (a SQLite file, then a PostgreSQL database)."""
    monkeypatch.setenv("VISITORAPI_STATE", str(store_location))
    return store_location


@pytest.fixture
def any_store(location):
    """The store of :func:`location`, with an owner and a member."""
    conn = open_with_accounts(location)
    yield conn
    conn.close()


def logged_in(state_path, email):
    client = Client(DashboardApp(state_path))
    page = client.submit("/dashboard/login", {"email": email, "password": PASSWORD})
    assert page.status == 303 and client.get("/dashboard/projects").status == 200
    return client


def test_revoke_sessions_all_logs_every_browser_out(location, any_store):
    owner, member = logged_in(location, "o@example.com"), logged_in(location, "m@example.com")
    Client(DashboardApp(location)).get("/dashboard/login")  # an anonymous session too
    result = run_cli("users", "revoke-sessions", "--all")
    assert result.returncode == 0, result.stderr
    assert "ended 3 sessions (every account)" in result.stdout
    assert any_store.execute("SELECT count(*) FROM sessions").fetchone()[0] == 0
    for client in (owner, member):
        page = client.get("/dashboard/projects")
        assert page.status == 303 and page.location == "/dashboard/login"
    actions = [row[0] for row in any_store.execute("SELECT action FROM audit_log ORDER BY id")]
    assert actions[-1] == "sessions.revoked"


def test_revoke_sessions_of_one_account(location, any_store):
    owner, member = logged_in(location, "o@example.com"), logged_in(location, "m@example.com")
    result = run_cli("users", "revoke-sessions", "M@example.com")
    assert result.returncode == 0, result.stderr
    assert "ended 1 session (m@example.com)" in result.stdout
    assert member.get("/dashboard/projects").location == "/dashboard/login"
    assert owner.get("/dashboard/projects").status == 200


@pytest.mark.parametrize("args, status, message", [
    pytest.param([], 2, "one of the arguments email --all is required", id="neither"),
    pytest.param(["--all", "o@example.com"], 2, "not allowed with", id="both"),
    pytest.param(["ghost@example.com"], 1, "no account 'ghost@example.com'", id="unknown"),
])
def test_revoke_sessions_usage(location, any_store, args, status, message):
    result = run_cli("users", "revoke-sessions", *args)
    assert result.returncode == status and message in result.stderr


def test_keys_rotate_replaces_the_throttle_key_and_lists_the_rest(location, any_store):
    now = time.time()
    before = throttle.client_key(any_store, "203.0.113.7", now)
    throttle.record_failure(any_store, (before,), now)
    result = run_cli("keys", "rotate")
    assert result.returncode == 0, result.stderr
    assert "login throttle key replaced; 1 client counter dropped" in result.stdout
    assert "VISITORAPI_METRICS_TOKEN" in result.stdout and "revoke-sessions --all" in result.stdout
    assert throttle.client_key(any_store, "203.0.113.7", now) != before
    assert throttle.failures(any_store, before) == 0
    actions = [row[0] for row in any_store.execute("SELECT action FROM audit_log ORDER BY id")]
    assert actions[-1] == "keys.rotated"


def test_backup_while_running_then_restore_ends_sessions_and_reloads_domains(state_path, store,
                                                                            tmp_path):
    from visitorapi.state import projects
    from visitorapi.state.authorized_domains import AuthorizedDomains
    pid = projects.create(store, "shop", ["shop.example"], actor="test").pid
    backup = tmp_path / "backups" / "state-1.sqlite3"
    backup.parent.mkdir()
    result = run_cli("state", "backup", backup)
    assert result.returncode == 0, result.stderr
    assert backup.stat().st_mode & 0o777 == 0o600
    assert run_cli("state", "backup", backup).returncode == 1  # never overwrites
    # after the backup: an attacker adds a domain and holds a session
    live_view = AuthorizedDomains(state_path, check_interval=0)
    projects.add_domain(store, pid, "evil.example", actor="dashboard:attacker")
    attacker = logged_in(state_path, "o@example.com")
    assert "evil.example" in " ".join(map(str, live_view.patterns_for(pid)))
    result = run_cli("state", "restore", backup)
    assert result.returncode == 0, result.stderr
    assert projects.get(store, pid).domains == ("shop.example",)
    assert attacker.get("/dashboard/projects").location == "/dashboard/login"
    assert "evil.example" not in " ".join(map(str, live_view.patterns_for(pid)))  # reloaded
    actions = [row[0] for row in store.execute("SELECT action FROM audit_log ORDER BY id")]
    assert actions[-1] == "state.restored"


@pytest.mark.parametrize("content, message", [
    pytest.param(b"not a database at all" * 100, "not a visitorapi store backup", id="garbage"),
    pytest.param(None, "no such file", id="missing"),
])
def test_restore_refuses_what_is_not_a_backup(state_path, store, tmp_path, content, message):
    path = tmp_path / "backup.sqlite3"
    if content is not None:
        path.write_bytes(content)
    result = run_cli("state", "restore", path)
    assert result.returncode == 1 and message in result.stderr


@pytest.mark.parametrize("command", ["backup", "restore"])
def test_backup_and_restore_refuse_a_postgresql_store_naming_its_procedure(
        postgres_server, monkeypatch, tmp_path, command):
    url = postgres_server.new_database()
    db.connect(url, create=True).close()
    monkeypatch.setenv("VISITORAPI_STATE", url)
    path = tmp_path / "backup.dump"
    result = run_cli("state", command, path)
    assert result.returncode == 1, result.stdout
    assert f"`visitorapi state {command}` works on a SQLite store" in result.stderr
    assert "pg_dump --format=custom" in result.stderr and "pg_restore" in result.stderr
    assert "docs/deploy.md" in result.stderr
    assert not path.exists()
