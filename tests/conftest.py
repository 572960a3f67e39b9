"""Shared test fixtures: the repository root, the CLI runner, ../shared data.

Tests that need the large datasets in ``../shared`` ask for ``shared_dir``
and skip cleanly when it is absent, so a plain clone still runs the suite.
"""
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("VISITORAPI_SHARED", ROOT.parent / "shared"))

# Property tests: no wall-clock deadlines (CI machines are slow and noisy).
settings.register_profile("default", deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", deadline=None, max_examples=2000,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The read-only ``../shared`` folder; skips the test when it is absent."""
    if not (SHARED / "data").is_dir():
        pytest.skip(f"{SHARED} is absent (set VISITORAPI_SHARED to point at it)")
    return SHARED


def run_cli(*args, input=None, env=None, cwd=None, timeout=300):
    """Run ``python -m visitorapi ARGS`` in a subprocess; return the CompletedProcess.

    The subprocess imports this checkout, installed or not.
    """
    full_env = dict(os.environ)
    full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), full_env.get("PYTHONPATH")]))
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "visitorapi", *map(str, args)],
                          input=input, env=full_env, cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture
def state_path(tmp_path, monkeypatch) -> Path:
    """A fresh, private VISITORAPI_STATE for one test."""
    path = tmp_path / "state" / "state.sqlite3"
    monkeypatch.setenv("VISITORAPI_STATE", str(path))
    return path


@pytest.fixture
def fast_scrypt():
    """Cheap scrypt parameters for tests that hash many passwords (restored afterwards)."""
    from visitorapi import passwords
    previous = passwords.set_default_params(passwords.ScryptParams(n=2 ** 4, r=1, p=1))
    yield passwords.current_params()
    passwords.set_default_params(previous)


@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL server for the whole session (skips when it cannot run here)."""
    from support import postgres as pg_helpers
    reason = pg_helpers.missing_reason()
    if reason:
        pytest.skip(reason)
    server = pg_helpers.PostgresServer()
    yield server
    server.destroy()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_location(request, tmp_path):
    """A fresh, empty store on each engine: a SQLite file, then a PostgreSQL database URL.

    Tests of the store's behaviour take this, so both engines stay equal.
    """
    if request.param == "sqlite":
        return tmp_path / "state" / "state.sqlite3"
    return request.getfixturevalue("postgres_server").new_database()


@pytest.fixture(autouse=True)
def _root_logger_restored():
    """Undo what building the app does to the root logger (its level, our handler).

    ``create_app`` configures logging as a worker would; without this, a test
    that builds the app with ``VISITORAPI_LOG_LEVEL=critical`` silenced the
    warnings later tests assert on, depending on the order the files ran in.
    """
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    yield
    root.setLevel(level)
    for handler in root.handlers[:]:
        if handler not in handlers and handler.get_name() == "visitorapi":
            root.removeHandler(handler)
