"""``visitorapi audit [PID]``: print the settings audit trail, oldest first."""
import argparse
import contextlib
import json

from visitorapi.cli.output import print_table
from visitorapi.state import audit, db
from visitorapi.state.projects import check_pid


def register(subparsers) -> None:
    """Add ``audit`` to the ``visitorapi`` parser."""
    parser = subparsers.add_parser(
        "audit", help="show the audit trail of settings changes",
        description="Show who changed which setting when (oldest first). The trail is append-only.")
    parser.add_argument("pid", nargs="?", help="only the entries about this project")
    parser.add_argument("--format", choices=("table", "json"), default="table")
    parser.add_argument("--limit", type=_positive, metavar="N", help="only the newest N entries")
    parser.set_defaults(run=run_audit)


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return int(text)


def run_audit(args) -> int:
    pid = check_pid(args.pid) if args.pid is not None else None
    with contextlib.closing(db.connect(create=True)) as conn:
        found = audit.entries(conn, pid=pid, limit=args.limit)
    if args.format == "json":
        print(json.dumps([entry.as_dict() for entry in found], indent=2, ensure_ascii=False))
        return 0
    if not found:
        print("no audit entries" + (f" for project {pid}" if pid else ""))
        return 0
    rows = [("AT", "ACTOR", "ACTION", "PID", "CHANGE")]
    rows += [(e.at, e.actor, e.action, e.pid or "-", describe_change(e.before, e.after))
             for e in found]
    print_table(rows)
    return 0


def describe_change(before, after) -> str:
    """One line saying what changed between two JSON values, e.g. ``domains: +a.test -b.test``.

    A key on one side only (a whole project created or deleted, a domain's
    note that came or went with it) shows just its value; a nested dict
    (``domain_notes``) is described the same way, in braces.
    """
    if isinstance(before, dict) or isinstance(after, dict):
        old, new = before or {}, after or {}
        parts = []
        for key in sorted(old.keys() | new.keys()):
            if old.get(key) == new.get(key) and before is not None and after is not None:
                continue
            parts.append(f"{key}: {_difference(old.get(key), new.get(key), key in old, key in new)}")
        return "; ".join(parts)
    return f"{_short(before)} -> {_short(after)}"


def _difference(old, new, had: bool, has: bool) -> str:
    if isinstance(old, dict) or isinstance(new, dict):
        return "{" + describe_change(old if had else None, new if has else None) + "}"
    if isinstance(old, list) and isinstance(new, list):
        added = [f"+{item}" for item in new if item not in old]
        removed = [f"-{item}" for item in old if item not in new]
        return " ".join(added + removed) or "unchanged"
    if not had:
        return _short(new)
    if not has:
        return _short(old)
    return f"{_short(old)} -> {_short(new)}"


def _short(value) -> str:
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "none"
    if isinstance(value, str):
        return value or '""'
    return json.dumps(value)
