"""``visitorapi usage [PID] [--days N] [--format table|json|csv]``: the usage counts.

Reads the aggregates :mod:`visitorapi.state.usage` keeps. Without a PID the
figures are the whole service's (every project plus requests for unknown
projects); ``--format table`` draws a bar per day in the terminal, ``json``
and ``csv`` are for scripts. Counts written by a running server reach the
store within its flush interval (``VISITORAPI_USAGE_FLUSH_SECONDS``).
"""
import argparse
import csv
import json
import shutil
import sys

from visitorapi.state import db, usage

FORMATS = ("table", "json", "csv")
MAX_DAYS = 3660


def register(subparsers):
    """Add the ``usage`` command."""
    parser = subparsers.add_parser(
        "usage", help="show request counts per day (aggregates only, never visitors)",
        description="Show served, denied, rate-limited and bad requests per UTC day, "
                    "with countries and refused origins. Without PID: the whole service.")
    parser.add_argument("pid", nargs="?", metavar="PID", help="one project (default: all)")
    parser.add_argument("--days", type=_days, default=30, metavar="N",
                        help="how many days back, today included (default 30)")
    parser.add_argument("--format", choices=FORMATS, default="table",
                        help="table (with a bar chart), json or csv (default table)")
    parser.set_defaults(run=run)


def _days(text: str) -> int:
    try:
        days = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--days wants a whole number, not {text!r}") from None
    if not 1 <= days <= MAX_DAYS:
        raise argparse.ArgumentTypeError(f"--days must be between 1 and {MAX_DAYS}, not {days}")
    return days


def run(args) -> int:
    """Print the report; return 0."""
    conn = db.connect(create=True)
    try:
        report = collect(conn, args.pid, args.days)
    finally:
        conn.close()
    {"table": print_table, "json": print_json, "csv": print_csv}[args.format](report, sys.stdout)
    return 0


def collect(conn, pid, days: int) -> dict:
    """Everything the report shows, as plain values."""
    return {
        "pid": pid,
        "days": usage.daily(conn, pid, days=days),
        "hours": usage.hourly(conn, pid),
        "countries": usage.countries(conn, pid, days=days),
        "denied_origins": usage.top_denied_origins(conn, pid, limit=10),
    }


def print_json(report: dict, out):
    json.dump({
        "pid": report["pid"],
        "daily": [row.as_dict() for row in report["days"]],
        "hourly": [row.as_dict() for row in report["hours"]],
        "countries": [{"countryCode": code, "requests": n} for code, n in report["countries"]],
        "deniedOrigins": [{"pid": o.pid, "origin": o.origin, "requests": o.requests,
                           "firstSeen": o.first_seen, "lastSeen": o.last_seen}
                          for o in report["denied_origins"]],
    }, out, indent=2)
    out.write("\n")


def print_csv(report: dict, out):
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["day", *usage.OUTCOMES, "total"])
    for row in report["days"]:
        writer.writerow([row.period, *(getattr(row, o) for o in usage.OUTCOMES), row.total])


COLUMNS = (("served", "served"), ("denied", "denied"), ("rate_limited", "limited"),
           ("bad_request", "bad"), ("unknown_project", "unknown"))


def print_table(report: dict, out):
    rows = report["days"]
    who = f"project {report['pid']}" if report["pid"] else "the whole service"
    out.write(f"Requests per UTC day for {who}, last {len(rows)} days "
              f"({_bar_legend(out)}):\n\n")
    widths = [max(len(label), *(len(str(getattr(r, name))) for r in rows))
              for name, label in COLUMNS]
    header = "  ".join(label.rjust(w) for (_, label), w in zip(COLUMNS, widths))
    out.write(f"{'day':10}  {header}\n")
    fixed = 10 + 2 + len(header) + 2
    bar_width = max(10, min(60, shutil.get_terminal_size((100, 24)).columns - fixed - 1))
    peak = max((r.total for r in rows), default=0)
    for row in rows:
        cells = "  ".join(str(getattr(row, name)).rjust(w) for (name, _), w in zip(COLUMNS, widths))
        out.write(f"{row.period:10}  {cells}  {bar(row.served, row.total - row.served, peak, bar_width, _unicode(out))}\n")
    total = sum(r.total for r in rows)
    out.write(f"\n{total} requests in all.\n")
    if report["countries"]:
        out.write("\nTop countries (served): " + ", ".join(
            f"{code or '??'} {n}" for code, n in report["countries"][:10]) + "\n")
    if report["denied_origins"]:
        out.write("\nRefused origins (websites using this pid without authorization):\n")
        for o in report["denied_origins"]:
            owner = "" if report["pid"] else f"  [{o.pid}]"
            out.write(f"  {o.requests:>8}  {o.origin}  (first {o.first_seen}, last {o.last_seen}){owner}\n")


def _unicode(out) -> bool:
    encoding = (getattr(out, "encoding", None) or "ascii").lower()
    return encoding.replace("-", "").startswith("utf")


def _bar_legend(out) -> str:
    full, other = ("█", "░") if _unicode(out) else ("#", ".")
    return f"bar: {full} served, {other} refused or failed"


def bar(served: int, other: int, peak: int, width: int, unicode: bool = True) -> str:
    """A horizontal bar of ``served + other`` scaled so that ``peak`` fills ``width`` cells.

    Any non-zero count gets at least one cell, so a quiet day is not drawn
    empty and a single refused request shows, taking a cell from ``served``
    rather than growing the bar past ``width``.
    """
    if peak <= 0 or served + other <= 0:
        return ""
    full, rest = ("█", "░") if unicode else ("#", ".")
    total_cells = max(1, round((served + other) * width / peak))
    served_cells = round(served * width / peak)
    if served and not served_cells:
        served_cells = 1
    other_cells = total_cells - served_cells
    if other and other_cells <= 0:
        other_cells = 1
        if served_cells + other_cells > width:
            served_cells -= 1
    return full * served_cells + rest * max(0, other_cells)
