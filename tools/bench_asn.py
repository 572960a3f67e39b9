"""Benchmark: AS-number lookups (.vdb, kind "asn") against a location lookup and stdlib bisect.

On the shared ip-location-db asn data (``../shared/data/asn-ipv*.csv.gz``)
and, for the location row, the shipped DB-IP country data, in one process
with the same random addresses for every reader, best of several rounds
with the readers interleaved. Prints one table. Not a test.

    python tools/bench_asn.py [--shared ../shared] [--samples 100000] [--rounds 5]

Addresses: one random address inside each of a random sample of AS rows.
"ours" returns the lazy AutonomousSystem; "ours, fields read" also reads
``asn`` and ``organization`` (what serving does on a record not yet cached).
The bisect peer is the naive oracle's data structure: sorted range starts,
``bisect_right``, then the row's values.
"""
import argparse
import bisect
import gzip
import random
import socket
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from visitorapi.ipdb import open_database  # noqa: E402
from visitorapi.ipdb.compiler import compile_files  # noqa: E402


def sample_rows(paths, samples, rng):
    rows = {4: [], 6: []}
    for path in paths:
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            for line in handle:
                first, last = line.split(",", 2)[:2]
                version = 6 if ":" in first else 4
                family = socket.AF_INET6 if version == 6 else socket.AF_INET
                rows[version].append((int.from_bytes(socket.inet_pton(family, first), "big"),
                                      int.from_bytes(socket.inet_pton(family, last), "big"),
                                      line.rstrip("\n").split(",", 3)[2]))
    addresses = {}
    for version, family in ((4, socket.AF_INET), (6, socket.AF_INET6)):
        chosen = rng.sample(rows[version], min(samples, len(rows[version])))
        width = 4 if version == 4 else 16
        addresses[version] = [socket.inet_ntop(family, rng.randint(first, last).to_bytes(
            width, "big")) for first, last, _ in chosen]
    return rows, addresses


def best(function, addresses, rounds):
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        function(addresses)
        times.append(time.perf_counter() - started)
    return min(times) / len(addresses) * 1e6


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    paths = [args.shared / "data" / f"asn-ipv{v}.csv.gz" for v in (4, 6)]
    if not all(path.exists() for path in paths):
        print(f"bench_asn: needs {paths[0]} and {paths[1]}", file=sys.stderr)
        return 1
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as scratch:
        started = time.perf_counter()
        summary = compile_files(paths, Path(scratch) / "asn.vdb", on_overlap="first")
        print(f"compiled {summary['source_rows']:,} AS rows in {time.perf_counter() - started:.1f} s: "
              f"{summary['bytes'] / 1e6:.1f} MB, {summary['records']:,} records")
        country = Path(scratch) / "country.vdb"
        compile_files([ROOT / "data" / "dbip-country-ipv4.csv.gz",
                       ROOT / "data" / "dbip-country-ipv6.csv.gz"], country)
        rows, addresses = sample_rows(paths, args.samples, rng)
        starts = {version: [row[0] for row in rows[version]] for version in (4, 6)}
        asn = open_database(Path(scratch) / "asn.vdb")
        location = open_database(country)

        def ours(sample):
            lookup = asn.lookup
            for ip in sample:
                lookup(ip)

        def ours_fields(sample):
            lookup = asn.lookup
            for ip in sample:
                network = lookup(ip)
                if network is not None:
                    network.asn, network.organization

        def ours_location(sample):
            lookup = location.lookup
            for ip in sample:
                lookup(ip)

        def peer_bisect(version):
            table, values = starts[version], rows[version]
            family = socket.AF_INET if version == 4 else socket.AF_INET6

            def run(sample):
                for ip in sample:
                    n = int.from_bytes(socket.inet_pton(family, ip), "big")
                    index = bisect.bisect_right(table, n) - 1
                    if index >= 0 and values[index][1] >= n:
                        values[index][2]
            return run

        print(f"{'reader':<34} {'IPv4 us':>9} {'IPv6 us':>9}")
        results = {}
        for name, make in (("ours: asn lookup", lambda v: ours),
                           ("ours: asn lookup, fields read", lambda v: ours_fields),
                           ("ours: location lookup (country)", lambda v: ours_location),
                           ("stdlib bisect over the AS rows", peer_bisect)):
            results[name] = [best(make(v), addresses[v], args.rounds) for v in (4, 6)]
            print(f"{name:<34} {results[name][0]:>9.2f} {results[name][1]:>9.2f}")
        mine, peer = results["ours: asn lookup"], results["stdlib bisect over the AS rows"]
        print(f"ratio bisect / ours: IPv4 {peer[0] / mine[0]:.2f}x, IPv6 {peer[1] / mine[1]:.2f}x")
        asn.close()
        location.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
