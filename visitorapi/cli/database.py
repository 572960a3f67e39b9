"""``visitorapi compile|lookup|info|export|verify``: build and inspect IP databases.

NOTE: the ipdb, state and web modules a command needs are imported inside
its function: every ``visitorapi`` run imports every command module to build
its parser, and the compiler, the CSV readers, urllib and ssl are not needed
to list projects.
"""
import json
import signal
import sys
import threading
import time

from visitorapi.atomic import write_atomically
from visitorapi.errors import OperatorError
from visitorapi.ipdb.licenses import unattributed_sources



def register(subparsers) -> None:
    """Add the database subcommands."""
    compile_ = subparsers.add_parser(
        "compile", help="compile CSV geolocation ranges into a database file",
        description="Compile CSV files (plain or gzip; IPv4 and IPv6 may be mixed, in any "
                    "order) into one memory-mappable database file, written atomically.")
    compile_.add_argument("inputs", nargs="+", metavar="INPUT", help="CSV file(s)")
    compile_.add_argument("-o", "--output", required=True, metavar="OUT",
                          help="database file to write (replaced atomically)")
    compile_.add_argument("--format", metavar="DIALECT", default=None,
                          help="force a CSV dialect instead of detecting it: "
                               + ", ".join(_dialect_names()))
    compile_.add_argument("--on-overlap", choices=("error", "first", "last"), default="error",
                          help="overlapping ranges: fail (default), or let the row given "
                               "first / last win")
    compile_.add_argument("--no-derive-timezones", dest="derive_timezones", action="store_false",
                          help="keep the source's timezone column as it is (by default a row "
                               "without one gets its country's zone, or the zone nearest its "
                               "coordinates: data/timezones.json)")
    compile_.add_argument("--skip-invalid", action="store_true",
                          help="skip and count bad rows instead of failing")
    attribution = compile_.add_mutually_exclusive_group()
    attribution.add_argument("--attribution", metavar="TEXT",
                             help="the data's license and attribution text, stored in the file")
    attribution.add_argument("--attribution-file", metavar="PATH",
                             help="read the attribution text from a file")
    compile_.add_argument("-q", "--quiet", action="store_true",
                          help="no progress display (the summary line is still printed)")
    compile_.set_defaults(run=run_compile)

    lookup = subparsers.add_parser("lookup", help="look addresses up in a database",
                                   description="Print one JSON object per address.")
    lookup.add_argument("--db", required=True, metavar="FILE", help="database file")
    lookup.add_argument("ips", nargs="+", metavar="IP")
    lookup.set_defaults(run=run_lookup)

    info = subparsers.add_parser("info", help="print a database's header as JSON")
    info.add_argument("database", metavar="FILE")
    info.set_defaults(run=run_info)

    export = subparsers.add_parser(
        "export", help="write a database back out as ip-location-db city (or asn) CSV",
        description="Write start,end,country_code,state1,state2,city,postcode,latitude,"
                    "longitude,timezone rows (an AS-number database: start,end,as_number,"
                    "as_organization), no header, IPv4 first.")
    export.add_argument("database", metavar="FILE")
    export.add_argument("-o", "--output", metavar="OUT",
                        help="CSV file to write atomically (default: standard output)")
    export.set_defaults(run=run_export)

    verify = subparsers.add_parser(
        "verify", help="check a database's checksum and structure",
        description="Read the whole file: body checksum and every trie invariant.")
    verify.add_argument("database", metavar="FILE")
    verify.set_defaults(run=run_verify)


def _dialect_names():
    from visitorapi.ipdb import sources
    return sorted(getattr(sources, "DIALECTS", {}))


class _Progress:
    """Rows done, rows/s and phase on one terminal line (stderr), redrawn in place."""

    def __init__(self, stream):
        self.stream = stream
        self.started = time.monotonic()
        self.drawn = False

    def __call__(self, phase, count):
        elapsed = max(time.monotonic() - self.started, 1e-9)
        self.stream.write(f"\r\x1b[K{phase}: {count:,} rows, {count / elapsed:,.0f} rows/s, "
                          f"{elapsed:.0f} s")
        self.stream.flush()
        self.drawn = True

    def finish(self):
        if self.drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


def _terminate_as_exit(signum, frame):
    # NOTE: SystemExit unwinds through the compiler's cleanup, which removes
    # the temporary file; the default SIGTERM action would leave it behind.
    raise SystemExit(128 + signum)


def run_compile(args) -> int:
    from visitorapi.ipdb.compiler import compile_files

    dialects = _dialect_names()
    if args.format is not None and dialects and args.format not in dialects:
        print(f"visitorapi compile: error: unknown --format {args.format!r}; choose one of: "
              + ", ".join(dialects), file=sys.stderr)
        return 2
    attribution = args.attribution
    if args.attribution_file:
        with open(args.attribution_file, encoding="utf-8") as handle:
            attribution = handle.read().strip()
    progress = None
    if not args.quiet and sys.stderr.isatty():
        progress = _Progress(sys.stderr)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminate_as_exit)
    try:
        summary = compile_files(args.inputs, args.output, format=args.format,
                                on_overlap=args.on_overlap, skip_invalid=args.skip_invalid,
                                attribution=attribution, quiet=progress is None,
                                progress=progress, derive_timezones=args.derive_timezones)
    finally:
        if progress:
            progress.finish()
    for example in summary.get("skipped_examples", ()):
        print(f"visitorapi compile: skipped: {example}", file=sys.stderr)
    print(f"compiled {summary['source_rows']:,} rows ({summary['skipped']:,} skipped) from "
          f"{len(summary['files'])} file(s) into {summary['output']}: "
          f"{summary['ranges_ipv4']:,} IPv4 + {summary['ranges_ipv6']:,} IPv6 ranges, "
          f"{summary['records']:,} records, {summary['bytes'] / 1e6:.1f} MB "
          f"in {summary['seconds']:.1f} s")
    if summary["attribution"]:
        print(f"attribution stored: {summary['attribution']}")
    return 0


def record_json(record) -> dict:
    """A Location or AutonomousSystem (or None) as a JSON-ready dict (None stays None)."""
    return None if record is None else dict(zip(record.FIELDS, record))


def run_lookup(args) -> int:
    from visitorapi.ipdb import open_database

    status = 0
    with open_database(args.db) as database:
        for ip in args.ips:
            try:
                location, prefix_len = database.lookup_with_prefix(ip)
            except ValueError as exc:  # a malformed address; a damaged file is no ValueError
                print(json.dumps({"ip": ip, "error": str(exc)}))
                status = 1
                continue
            key = "network" if database.kind == "asn" else "location"
            print(json.dumps({"ip": ip, "prefix_len": prefix_len,
                              key: record_json(location)}, ensure_ascii=False))
    return status


def run_info(args) -> int:
    from visitorapi.ipdb import open_database

    with open_database(args.database) as database:
        header = database.header
        info = {"file": args.database, "bytes": header.file_size,
                "sections": {name: {"offset": offset, "bytes": length}
                             for name, (offset, length) in header.sections.items()},
                "body_sha256": header.body_sha256.hex(), **database.metadata}
    print(json.dumps(info, indent=2, ensure_ascii=False))
    missing = unattributed_sources(database.metadata)
    if missing:
        print(f"visitorapi info: warning: {args.database} holds {' and '.join(missing)} data "
              "but no attribution, which its license requires; recompile it (visitorapi "
              "compile stores the source's notice) and credit the source where the data is "
              "used", file=sys.stderr)
    return 0


def run_export(args) -> int:
    from visitorapi.ipdb import open_database
    from visitorapi.ipdb.export import csv_chunks

    with open_database(args.database) as database:
        if args.output:
            write_atomically(args.output, csv_chunks(database))
        else:
            out = sys.stdout.buffer
            for chunk in csv_chunks(database):
                out.write(chunk)
            out.flush()
    return 0


def run_verify(args) -> int:
    from visitorapi.ipdb import verify

    counts = verify(args.database)
    print(f"{args.database}: ok ({counts['ipv4_nodes']:,} IPv4 and {counts['ipv6_nodes']:,} "
          f"IPv6 trie nodes, {counts['records']:,} records, {counts['places']:,} places)")
    return 0
