"""The ``visitorapi`` command: one subcommand per operator task.

Each command group lives in its own module under ``visitorapi.cli`` and
exposes ``register(subparsers)``, which adds its subcommands and sets
``run=function(args) -> int`` on each. This module only wires them together
and turns :class:`~visitorapi.errors.OperatorError` into a one-line message
and exit status 1. Exit codes: 0 ok, 1 failure, 2 usage.
"""
import argparse
import importlib
import os
import signal
import sys

from visitorapi import __version__, logs
from visitorapi.config import ConfigError, log_settings
from visitorapi.errors import OperatorError

# Modules under visitorapi.cli, in the order their commands appear in --help.
COMMAND_GROUPS = (
    "database",
    "projects",
    "audit",
    "usage",
    "update",
    "serve",
    "users",
    "keys",
    "state",
    "notify",
)


def build_parser() -> argparse.ArgumentParser:
    """Return the full argument parser with every command group registered."""
    parser = argparse.ArgumentParser(
        prog="visitorapi",
        description="Self-hostable, privacy-first visitor-information API.",
    )
    parser.add_argument("--version", action="version", version=f"visitorapi {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_GROUPS:
        importlib.import_module(f"visitorapi.cli.{name}").register(subparsers)
    return parser


def main(argv=None) -> int:
    """Run the command line; return the process exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        logs.configure(*log_settings())
    except ConfigError as exc:
        print(f"visitorapi: error: {exc}", file=sys.stderr)
        return 1
    if getattr(args, "run", None) is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        status = args.run(args)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's exit
        return status
    except BrokenPipeError:
        return _reader_went_away()
    except (OperatorError, OSError) as exc:
        # NOTE: OSError covers the operator's own files (missing, unreadable,
        # disk full).
        print(f"visitorapi {args.command}: error: {_describe(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"visitorapi {args.command}: interrupted", file=sys.stderr)
        return 130


def _describe(exc) -> str:
    """An error as one line: ``FILE: no such file`` rather than ``[Errno 2] ...: 'FILE'``."""
    if isinstance(exc, OSError) and exc.filename is not None:
        reason = "no such file" if isinstance(exc, FileNotFoundError) else exc.strerror
        return f"{exc.filename}: {reason or exc}"
    return str(exc)


def _reader_went_away() -> int:
    """Stdout's reader closed the pipe (``visitorapi ... | head``): stop quietly.

    As a standard Unix tool killed by SIGPIPE would: no message, exit status
    128 + SIGPIPE. Stdout is pointed at /dev/null so that the interpreter's
    final flush of what is still buffered does not fail again
    (https://docs.python.org/3/library/signal.html#note-on-sigpipe).
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return 128 + signal.SIGPIPE
