"""Benchmark: rows per second of read_sources against simpler readers of the same file.

Not a test. Reads one CSV (default: the shared DB-IP city IPv4 file, 3.68 M
rows gzipped) in one process with four readers and prints a table:

- ``lines``: gzip + UTF-8 + line iteration (TextIOWrapper), no parsing: the floor;
- ``csv.reader``: the csv module's split, nothing checked;
- ``naive parse``: csv.reader, then inet_pton + int.from_bytes, float() and
  an 8-tuple per row: what a reader without validation or caching costs;
- ``read_sources``: ours, strict validation, SourceRange values with "where".

Usage: python tools/bench_sources.py [CSV] [--rows N]   (VISITORAPI_SHARED locates ../shared)
"""
import argparse
import csv
import gzip
import io
import os
import socket
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # a checkout, installed or not

from visitorapi.ipdb.sources import read_sources  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("VISITORAPI_SHARED", ROOT.parent / "shared"))
DEFAULT = SHARED / "data" / "dbip-city-ipv4.csv.gz"


def _text(path):
    return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")


def bench_lines(path, limit):
    count = 0
    with _text(path) as text:
        for _ in text:
            count += 1
            if count == limit:
                break
    return count


def bench_csv(path, limit):
    count = 0
    with _text(path) as text:
        for _ in csv.reader(text):
            count += 1
            if count == limit:
                break
    return count


def bench_naive(path, limit):
    pton, from_bytes = socket.inet_pton, int.from_bytes
    count = 0
    with _text(path) as text:
        for row in csv.reader(text):
            family = socket.AF_INET6 if ":" in row[0] else socket.AF_INET
            first = from_bytes(pton(family, row[0]), "big")
            last = from_bytes(pton(family, row[1]), "big")
            location = (row[2] or None, row[3] or None, row[4] or None, row[5] or None,
                        row[6] or None, float(row[7]) if row[7] else None,
                        float(row[8]) if row[8] else None, row[9] or None)
            _ = (first, last, location)
            count += 1
            if count == limit:
                break
    return count


def bench_ours(path, limit):
    count = 0
    for _ in read_sources([str(path)]):
        count += 1
        if count == limit:
            break
    return count


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", nargs="?", default=str(DEFAULT))
    parser.add_argument("--rows", type=int, default=0, help="stop after N rows (0: all)")
    args = parser.parse_args(argv)
    path = Path(args.csv)
    if not path.exists():
        print(f"bench_sources: {path} is absent", file=sys.stderr)
        return 1
    limit = args.rows or -1
    results = []
    for name, function in (("lines", bench_lines), ("csv.reader", bench_csv),
                           ("naive parse", bench_naive), ("read_sources", bench_ours)):
        start = time.perf_counter()
        rows = function(path, limit)
        seconds = time.perf_counter() - start
        results.append((name, rows, seconds))
    ours = results[-1][2] / results[-1][1]
    print(f"file: {path} ({results[-1][1]:,} rows)")
    print(f"{'reader':<14} {'seconds':>8} {'rows/s':>11} {'us/row':>7} {'ours / it':>9}")
    for name, rows, seconds in results:
        per_row = seconds / rows
        print(f"{name:<14} {seconds:8.2f} {rows / seconds:11,.0f} {per_row * 1e6:7.2f} "
              f"{ours / per_row:9.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
