"""The ``visitorapi`` command's wiring: help, version, usage errors, exit codes."""
import pytest

from visitorapi import __version__
from visitorapi.cli import COMMAND_GROUPS, build_parser, main

from conftest import run_cli


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
