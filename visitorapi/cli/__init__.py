"""The ``visitorapi`` command: one subcommand per operator task.

Each command group lives in its own module under ``visitorapi.cli`` and
exposes ``register(subparsers)``, which adds its subcommands and sets
``run=function(args) -> int`` on each. This module only wires them together
and turns :class:`~visitorapi.errors.OperatorError` into a one-line message
and exit status 1. Exit codes: 0 ok, 1 failure, 2 usage.
"""
import argparse
import importlib
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
        return args.run(args)
    except (OperatorError, OSError) as exc:
        # NOTE: OSError covers the operator's own files (missing, unreadable,
        # disk full); its message already names the path.
        print(f"visitorapi {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"visitorapi {args.command}: interrupted", file=sys.stderr)
        return 130
