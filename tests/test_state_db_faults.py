"""Store faults are loud: named in /readyz and the log, never papered over (issue 10).

A serving process never creates a store; a damaged store stops every command
and ``serve`` with one line; while the store is sick the API serves from the
project lists it holds, and answers 503 when it holds none.
"""
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from conftest import ROOT, run_cli
from support.servers import Server, base_env, compile_fixture, create_project, free_port
from test_state_db import damage
from visitorapi.state import db
from visitorapi.web import accounting
from visitorapi.wsgi import create_app
from support.wsgi import call

ORIGIN = "https://shop.example"


@pytest.fixture(autouse=True)
def own_accounting_and_logging(monkeypatch):
    """create_app's per-process Accounting, made afresh for each test's store and closed
    after; and the root logger as it was (create_app configures logging)."""
    monkeypatch.setattr(accounting, "_current", None)
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    yield
    if accounting._current is not None:
        accounting._current.close()
    root.handlers[:] = handlers
    root.setLevel(level)


def _environ(tmp_path, database, **extra):
    return {"VISITORAPI_STATE": str(tmp_path / "state" / "state.sqlite3"),
            "VISITORAPI_DB": str(database), "VISITORAPI_HTTPS": "off",
            "VISITORAPI_RUN_DIR": str(tmp_path / "run"), **extra}


@pytest.mark.parametrize("command", [
    pytest.param(["projects", "list"], id="cli"),
    pytest.param(["serve", "--no-demo"], id="serve"),
])
def test_a_damaged_store_stops_commands_and_serve_with_one_line(tmp_path, command):
    database = compile_fixture(tmp_path)
    state = tmp_path / "state" / "state.sqlite3"
    state.parent.mkdir()
    damage(state)
    extra = ["--db", database, "--bind", f"127.0.0.1:{free_port()}"] if command[0] == "serve" else []
    result = run_cli(*command, *extra, env={"VISITORAPI_STATE": str(state),
                                            "XDG_CACHE_HOME": str(tmp_path / "cache")})
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith(f"visitorapi {command[0]}: error: state database {state} is damaged")
    assert 'docs/operations.md, "Restoring a backup"' in line
    assert "serving" not in result.stdout  # serve stopped before gunicorn


def test_readyz_names_a_damaged_replacement_and_the_api_serves_from_memory(tmp_path):
    database = compile_fixture(tmp_path)
    environ = _environ(tmp_path, database, VISITORAPI_USAGE_FLUSH_SECONDS="3600")
    state = Path(environ["VISITORAPI_STATE"])
    pid = create_project(state, [ORIGIN])
    app = create_app(environ)
    assert call(app, "/readyz").status == 200
    assert call(app, query=f"pid={pid}", headers={"Origin": ORIGIN}).status == 200
    broken = tmp_path / "broken.sqlite3"
    damage(broken)
    broken.rename(state)                        # the file is replaced by a damaged one
    reply = call(app, "/readyz")
    assert reply.status == 503
    assert f"state database {state} is damaged" in reply.json["result"]
    assert call(app, query=f"pid={pid}", headers={"Origin": ORIGIN}).status == 200
    assert call(app, query="pid=unknownpid", headers={"Origin": ORIGIN}).status == 403
    state.unlink()
    db.connect(state, create=True).close()      # "restored": the pending usage counts land
    assert call(app, "/readyz").status == 200


def test_a_worker_reads_the_projects_as_it_starts_not_at_its_first_request(tmp_path):
    """A worker no request reached before the store broke still serves /api from memory."""
    database = compile_fixture(tmp_path)
    environ = _environ(tmp_path, database, VISITORAPI_USAGE_FLUSH_SECONDS="3600")
    state = Path(environ["VISITORAPI_STATE"])
    pid = create_project(state, [ORIGIN])
    app = create_app(environ)
    broken = tmp_path / "broken.sqlite3"
    damage(broken)
    broken.rename(state)                        # before this worker's first request
    assert call(app, query=f"pid={pid}", headers={"Origin": ORIGIN}).status == 200
    assert call(app, "/readyz").status == 503
    state.unlink()
    db.connect(state, create=True).close()      # "restored": the pending usage count lands


def test_a_worker_never_creates_the_store(tmp_path, caplog):
    database = compile_fixture(tmp_path)
    environ = _environ(tmp_path, database)
    state = Path(environ["VISITORAPI_STATE"])
    app = create_app(environ)
    with caplog.at_level("WARNING"):
        reply = call(app, query="pid=somepid", headers={"Origin": ORIGIN})
        assert reply.status == 503 and reply.json["result"] == (
            "not ready: the project list cannot be read")
        readyz = call(app, "/readyz")
        call(app, query="pid=somepid", headers={"Origin": ORIGIN})
    assert readyz.status == 503
    assert f"state database {state} does not exist" in readyz.json["result"]
    assert not state.parent.exists()
    [line] = [r.getMessage() for r in caplog.records if r.event == "projects.store_unavailable"]
    assert str(state) in line
    db.connect(state, create=True).close()     # the operator runs a command
    assert call(app, "/readyz").status == 200
    assert call(app, query="pid=somepid", headers={"Origin": ORIGIN}).status == 403


def test_after_rm_and_hup_the_new_workers_report_the_missing_store(tmp_path):
    database = compile_fixture(tmp_path)
    env = base_env(tmp_path)
    state = Path(env["VISITORAPI_STATE"])
    pid = create_project(state, [ORIGIN])
    with Server(tmp_path, "--db", database, "--workers", 2, "--no-demo", env=env) as server:
        assert server.request(f"/api/?pid={pid}", {"Origin": ORIGIN})[0] == 200
        old_workers = set(_worker_pids(server.process.pid))
        for path in state.parent.glob("state.sqlite3*"):
            path.unlink()
        os.kill(server.process.pid, signal.SIGHUP)
        deadline = time.monotonic() + 60
        while set(_worker_pids(server.process.pid)) & old_workers or \
                len(_worker_pids(server.process.pid)) < 2:
            assert time.monotonic() < deadline, "HUP did not replace the workers"
            time.sleep(0.05)
        for _ in range(6):
            status, _, body = server.request("/readyz")
            assert status == 503 and f"state database {state} does not exist".encode() in body
            status, _, body = server.request(f"/api/?pid={pid}", {"Origin": ORIGIN})
            assert status == 503, body
        assert not state.exists()               # nobody made an empty one
        log = server.stderr_path.read_text()
        lines = [line for line in log.splitlines() if "projects.store_unavailable" in line]
        assert lines and all(str(state) in line for line in lines)
        assert len(lines) <= 2 + len(old_workers)  # once per worker, not once per request


def _worker_pids(master):
    children = Path(f"/proc/{master}/task/{master}/children")
    return [int(pid) for pid in children.read_text().split()] if children.exists() else []


# A worker whose store sits on a read-only file system, in a private mount namespace.
READ_ONLY_WORKER = textwrap.dedent("""
    import json, sys
    from visitorapi.wsgi import create_app
    from support.wsgi import call
    app = create_app(json.loads(sys.argv[1]))
    reply = call(app, "/readyz")
    print(reply.status, reply.json["result"])
""")


def test_readyz_names_a_read_only_store(tmp_path):
    if shutil.which("unshare") is None:
        pytest.skip("unshare is not installed")
    database = compile_fixture(tmp_path)
    environ = _environ(tmp_path, database)
    state = Path(environ["VISITORAPI_STATE"])
    create_project(state, [ORIGIN])
    folder = str(state.parent)
    script = (f"mount --bind {folder} {folder} && mount -o remount,bind,ro {folder} && "
              f'exec "$0" -c "$1" "$2"')
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "tests")]))
    result = subprocess.run(["unshare", "-m", "sh", "-c", script, sys.executable,
                             READ_ONLY_WORKER, json.dumps(environ)],
                            env=env, capture_output=True, text=True, timeout=120)
    if result.returncode != 0 and "mount" in result.stderr:
        pytest.skip(f"no private read-only mount here: {result.stderr.strip()[:200]}")
    assert result.returncode == 0, result.stderr
    status, reason = result.stdout.strip().split(" ", 1)
    assert status == "503"
    assert f"state database {state} is read-only" in reason
