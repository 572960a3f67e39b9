"""The ``visitorapi`` command's wiring: help, version, usage errors, exit codes."""
import os
import signal
import subprocess
import sys

import pytest

from visitorapi import __version__
from visitorapi.cli import COMMAND_GROUPS, build_parser, main
from visitorapi.state import db

from conftest import ROOT, run_cli


def test_module_entry_point_prints_version():
    result = run_cli("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"visitorapi {__version__}"


def test_no_command_prints_help_and_exits_2(capsys):
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().err


def test_unknown_command_is_a_usage_error():
    result = run_cli("no-such-command")
    assert result.returncode == 2
    assert "invalid choice" in result.stderr


@pytest.mark.parametrize("group", COMMAND_GROUPS)
def test_every_command_group_registers_runnable_commands(group):
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command")
    assert subparsers.choices, f"{group} registered no commands"
    for name, sub in subparsers.choices.items():
        assert sub.get_default("run") is not None or any(
            a.dest.endswith("command") for a in sub._actions), name


@pytest.mark.parametrize("args", [
    pytest.param(("projects", "list", "--format", "json"), id="projects-list"),
    pytest.param(("usage", "--format", "csv"), id="usage-csv"),
])
def test_a_closed_pipe_ends_the_command_quietly(tmp_path, args):
    """``visitorapi ... | head``: no traceback, no message, 128 + SIGPIPE like Unix tools."""
    db.connect(tmp_path / "state.sqlite3", create=True).close()  # else "created a new ..."
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first write
    env = {**os.environ, "PYTHONPATH": str(ROOT),
           "VISITORAPI_STATE": str(tmp_path / "state.sqlite3")}
    try:
        result = subprocess.run([sys.executable, "-m", "visitorapi", *args], stdout=write_end,
                                stderr=subprocess.PIPE, env=env, timeout=60)
    finally:
        os.close(write_end)
    assert result.stderr == b""
    assert result.returncode == 128 + signal.SIGPIPE
