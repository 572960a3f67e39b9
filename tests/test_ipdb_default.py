"""The embedded default database under plain gunicorn: built on first start, once,
under a lock on a separate file, into the user's cache that every worker shares."""
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import http.client

import pytest

from support.servers import base_env, create_project, free_port
from visitorapi.config import default_database_path
from visitorapi.ipdb import open_database
from visitorapi.ipdb.default import ensure_default_database
from visitorapi.ipdb.licenses import DBIP

pytest.importorskip("gunicorn")


def _get(port, path, headers=None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


@contextlib.contextmanager
def gunicorn(tmp_path, env, *options):
    """``python -m gunicorn [OPTIONS] visitorapi.wsgi:app`` on a free loopback port."""
    port = free_port()
    log = tmp_path / f"gunicorn-{port}.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", *options, "--bind", f"127.0.0.1:{port}",
             "--workers", "3", "visitorapi.wsgi:app"],
            env=env, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, log.read_text(errors="replace")[-3000:]
            with contextlib.suppress(OSError, http.client.HTTPException):
                if _get(port, "/healthz")[0] == 200:
                    break
            assert time.monotonic() < deadline, "gunicorn did not answer within 120 s"
            time.sleep(0.1)
        yield port, log, process.pid
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


def _events(log_text, event):
    return [line for line in log_text.splitlines() if f'"event": "{event}"' in line]


@pytest.mark.parametrize("options, built_by_master", [
    pytest.param((), False, id="plain-gunicorn"),  # a worker builds it, the others wait
    pytest.param(("-c", "python:visitorapi.web.gunicorn_conf"), True, id="shipped-config"),
])
def test_gunicorn_on_a_fresh_install_builds_the_default_database_once(tmp_path, options,
                                                                      built_by_master):
    env = base_env(tmp_path)  # fresh XDG_CACHE_HOME, no VISITORAPI_DB, no serve before
    pid = create_project(tmp_path / "state" / "state.sqlite3", ["https://shop.example"])
    database = default_database_path(env)
    assert not database.exists()
    with gunicorn(tmp_path, env, *options) as (port, log, master):
        # every worker that answers has waited for the build: no 503 window
        for _ in range(6):
            status, body = _get(port, f"/api/?pid={pid}", {"Origin": "https://shop.example"})
            assert status == 200, body
        assert json.loads(body)["data"]["countryCode"] == ""  # 127.0.0.1 is in no country
        status, body = _get(port, "/readyz")
        assert status == 200 and json.loads(body)["databaseBuilt"], body
    text = log.read_text(errors="replace")
    [built] = _events(text, "db.built")                    # three workers, one compile
    assert (json.loads(built)["process"] == master) is built_by_master
    assert len(_events(text, "db.building")) == 1
    assert not _events(text, "db.missing") and not _events(text, "db.attribution_missing")
    assert sorted(p.name for p in database.parent.iterdir()) == [database.name,
                                                                  database.name + ".lock"]
    with open_database(database) as built:
        assert built.metadata["attribution"] == DBIP.notice


def test_an_unwritable_cache_is_one_clear_log_line_and_a_503(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    env = base_env(tmp_path, XDG_CACHE_HOME=blocker)
    with gunicorn(tmp_path, env) as (port, log, _):
        status, body = _get(port, "/readyz")
        assert status == 503, body
    [line] = _events(log.read_text(errors="replace"), "db.missing")[:1]
    message = json.loads(line)["message"]
    assert message.startswith(f"cannot build the default IP database at {blocker}/visitorapi/")
    assert "XDG_CACHE_HOME" in message and "VISITORAPI_DB" in message


def test_a_damaged_cached_copy_is_rebuilt_and_a_good_one_kept(tmp_path):
    path = tmp_path / "cache" / "dbip-country-test.vdb"
    path.parent.mkdir()
    path.write_bytes(b"not a database")
    messages = []
    assert ensure_default_database(path, announce=messages.append) > 0
    assert "the cached copy is unusable" in messages[0]
    inode = path.stat().st_ino
    assert ensure_default_database(path, announce=messages.append) is None
    assert len(messages) == 1 and path.stat().st_ino == inode
