"""Benchmark: our .vdb reader vs maxminddb (C extension, pure Python) vs stdlib bisect.

On the shared DB-IP city data (``../shared/data``), in one process, with the
same random addresses for every reader. Prints one table. Not a test.

    /work/venv/bin/pip install maxminddb      # benchmark only, never a dependency
    python tools/bench_lookup.py [--shared ../shared] [--scratch /tmp/vdb-bench]

Addresses: a random sample of CSV rows (each row equally likely), one random
address inside each row, so deep and shallow ranges are hit as often as the
data has them. Timings are the best of several rounds, readers interleaved,
because the machine is shared and noisy; ratios are computed within one run.

"ours" is text to record: our lookup returns a lazy Location that decodes
its fields when one is first read, where maxminddb builds a dict of every
field. "ours, then every field read" adds that decoding, which is what
serving a request costs; both rows are printed so neither is hidden.
"""
import argparse
import bisect
import csv
import gc
import gzip
import os
import random
import shutil
import sys
import time
from array import array
from pathlib import Path
from socket import AF_INET, AF_INET6, inet_ntop, inet_pton

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from visitorapi.ipdb import open_database  # noqa: E402

FAMILIES = (4, 6)


def private_kib() -> int:
    """Anonymous (heap) memory of this process, from /proc/self/smaps_rollup.

    NOTE: not Private_Clean: the mapped database's pages count as "private"
    there whenever no other process happens to map them, yet they are page
    cache that N workers share. Anonymous memory is what each worker pays.
    """
    with open("/proc/self/smaps_rollup") as handle:
        for line in handle:
            if line.startswith("Anonymous:"):
                return int(line.split()[1])
    return 0


def rss_kib() -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def read_csv(path, version):
    """Bisect tables of one ip-location-db city CSV: starts, lasts, records."""
    family = AF_INET if version == 4 else AF_INET6
    starts = array("I") if version == 4 else []
    lasts = array("I") if version == 4 else []
    records = []
    interned = {}
    with gzip.open(path, "rt", encoding="utf-8", newline="") as handle:
        for row in csv.reader(handle):
            starts.append(int.from_bytes(inet_pton(family, row[0]), "big"))
            lasts.append(int.from_bytes(inet_pton(family, row[1]), "big"))
            key = tuple(row[2:])
            records.append(interned.setdefault(key, key))
    return starts, lasts, records


def sample_addresses(path, version, count, rng):
    """``count`` addresses: random rows (each row equally likely), a random address in each."""
    family = AF_INET if version == 4 else AF_INET6
    size = 4 if version == 4 else 16
    rows = []
    with gzip.open(path, "rt", encoding="utf-8", newline="") as handle:
        for line in handle:
            if rng.random() < 0.06:
                first, last = line.split(",", 2)[:2]
                rows.append((first, last))
    rng.shuffle(rows)
    addresses = []
    for first, last in rows[:count]:
        low = int.from_bytes(inet_pton(family, first), "big")
        high = int.from_bytes(inet_pton(family, last), "big")
        addresses.append(inet_ntop(family, rng.randint(low, high).to_bytes(size, "big")))
    return addresses


COMPILE_CHILD = """
import resource, sys, time
sys.path.insert(0, sys.argv[1])
from visitorapi.ipdb.compiler import compile_files
started, cpu = time.perf_counter(), time.process_time()
summary = compile_files(sys.argv[3:], sys.argv[2])
print(time.perf_counter() - started, time.process_time() - cpu,
      resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, summary["source_rows"])
"""


def make_bisect_lookup(starts, lasts, records, version):
    family = AF_INET if version == 4 else AF_INET6
    from_bytes = int.from_bytes
    find = bisect.bisect_right

    def lookup(ip):
        n = from_bytes(inet_pton(family, ip), "big")
        index = find(starts, n) - 1
        if index >= 0 and n <= lasts[index]:
            return records[index]
        return None
    return lookup


def read_every_field(lookup):
    """``lookup``, then every field of its lazy Location read, as a server answering does."""
    def lookup_and_read(ip):
        return tuple(lookup(ip) or ())
    return lookup_and_read


def best_rate(function, addresses, rounds):
    """Best CPU seconds per call. NOTE: CPU time, not wall time: the machine is
    shared, and time spent descheduled says nothing about the reader."""
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        for ip in addresses:
            function(ip)
        best = min(best, time.process_time() - started)
    return best / len(addresses)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", default=str(ROOT.parent / "shared"))
    parser.add_argument("--scratch", default="/tmp/vdb-bench")
    parser.add_argument("--addresses", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--reuse", action="store_true",
                        help="reuse a database compiled by an earlier run (skips compile timing)")
    args = parser.parse_args(argv)
    data = Path(args.shared) / "data"
    scratch = Path(args.scratch)
    scratch.mkdir(parents=True, exist_ok=True)
    csvs = {v: data / f"dbip-city-ipv{v}.csv.gz" for v in FAMILIES}
    database_path = scratch / "dbip-city.vdb"
    results = {}

    # 1. Compile in a child process: its time and peak RSS are the compiler's alone.
    if not (args.reuse and database_path.exists()):
        import subprocess
        out = subprocess.run([sys.executable, "-c", COMPILE_CHILD, str(ROOT), str(database_path),
                              str(csvs[4]), str(csvs[6])], check=True, capture_output=True,
                             text=True).stdout.split()
        results.update(compile_s=float(out[0]), compile_cpu_s=float(out[1]),
                       compile_peak_mib=int(out[2]) / 1024, rows=int(out[3]))

    # 2. The MMDBs, unzipped into scratch.
    mmdbs = {}
    for version in FAMILIES:
        target = scratch / f"dbip-city-ipv{version}.mmdb"
        if not target.exists():
            with gzip.open(data / f"dbip-city-ipv{version}.mmdb.gz", "rb") as source, \
                    open(target, "wb") as out:
                shutil.copyfileobj(source, out, 1 << 20)
        mmdbs[version] = target
    size = database_path.stat().st_size
    mmdb_size = sum(path.stat().st_size for path in mmdbs.values())

    # 3. The addresses (small: only the sample is kept).
    rng = random.Random(20260605)
    samples = {version: sample_addresses(csvs[version], version, args.addresses, rng)
               for version in FAMILIES}
    gc.collect()

    # 4. Open time, memory after open, private memory growth over 1 M lookups,
    # while this process holds little else.
    open_times = []
    for _ in range(20):
        started = time.perf_counter()
        database = open_database(database_path)
        open_times.append(time.perf_counter() - started)
        database.close()
    rss_before_open, private_before_open = rss_kib(), private_kib()
    database = open_database(database_path)
    rss_after_open, private_after_open = rss_kib(), private_kib()
    mixed = samples[4][:100_000] + samples[6][:100_000]
    read_all = read_every_field(database.lookup)
    for _ in range(5):
        for ip in mixed:
            read_all(ip)  # NOTE: reading the fields fills the record cache, as serving does
    gc.collect()
    growth = private_kib() - private_after_open
    rss_after_lookups = rss_kib()

    # 5. The bisect baseline, and a correctness spot check against it.
    tables = {}
    for version in FAMILIES:
        tables[version] = make_bisect_lookup(*read_csv(csvs[version], version), version)
    gc.collect()
    gc.freeze()  # NOTE: keep the big tables out of the timed collections, for every reader
    mismatches = 0
    for version in FAMILIES:
        for ip in samples[version][:20000]:
            want = tables[version](ip)
            got = database.lookup(ip)
            if (want is None) != (got is None) or (
                    got is not None and (got.country_code or "", got.city or "") !=
                    (want[0], want[3])):
                mismatches += 1

    # 6. Lookup speed, readers interleaved, best of rounds.
    import maxminddb
    readers = {}
    for version in FAMILIES:
        c_reader = maxminddb.open_database(str(mmdbs[version]), maxminddb.MODE_MMAP_EXT)
        py_reader = maxminddb.open_database(str(mmdbs[version]), maxminddb.MODE_MMAP)
        readers[version] = {
            "ours": database.lookup,
            "ours, then every field read": read_every_field(database.lookup),
            "maxminddb C": c_reader.get,
            "maxminddb Python": py_reader.get,
            "bisect": tables[version],
        }
    timings = {version: {name: float("inf") for name in readers[version]} for version in FAMILIES}
    for _ in range(args.rounds):
        for version in FAMILIES:
            addresses = samples[version]
            for name, function in readers[version].items():
                subset = addresses[:20000] if name == "maxminddb Python" else addresses
                timings[version][name] = min(timings[version][name],
                                             best_rate(function, subset, 1))
    # Skewed traffic: a hot set of 5,000 addresses per family, repeated, so
    # our record cache hits (maxminddb has no cache and builds a dict anyway).
    hot = {version: samples[version][:5000] * 20 for version in FAMILIES}
    hot_timings = {version: {} for version in FAMILIES}
    for version in FAMILIES:
        for name in ("ours", "maxminddb C"):
            hot_timings[version][name] = best_rate(readers[version][name], hot[version],
                                                   args.rounds)

    # 8. The table.
    print(f"data: DB-IP city lite, {results.get('rows', 'n/a'):,} rows" if "rows" in results
          else "data: DB-IP city lite (compile reused)")
    print(f"addresses: {len(samples[4]):,} IPv4 + {len(samples[6]):,} IPv6, one random "
          f"address in each of a random sample of rows; CPU time, best of {args.rounds} rounds")
    print()
    print("| reader | IPv4 us/lookup | IPv6 us/lookup | IPv4 vs ours | IPv6 vs ours |")
    print("|---|---:|---:|---:|---:|")
    for name in readers[4]:
        t4, t6 = timings[4][name] * 1e6, timings[6][name] * 1e6
        r4, r6 = timings[4][name] / timings[4]["ours"], timings[6][name] / timings[6]["ours"]
        print(f"| {name} | {t4:.3f} | {t6:.3f} | {r4:.2f}x | {r6:.2f}x |")
    for name in ("ours", "maxminddb C"):
        t4, t6 = hot_timings[4][name] * 1e6, hot_timings[6][name] * 1e6
        r4 = hot_timings[4][name] / hot_timings[4]["ours"]
        r6 = hot_timings[6][name] / hot_timings[6]["ours"]
        print(f"| {name}, hot set of 5,000 (records cached) | {t4:.3f} | {t6:.3f} | "
              f"{r4:.2f}x | {r6:.2f}x |")
    print()
    print("| measure | value |")
    print("|---|---:|")
    if "compile_s" in results:
        print(f"| compile both files, wall (s) | {results['compile_s']:.1f} |")
        print(f"| compile both files, CPU of this process (s) | {results['compile_cpu_s']:.1f} |")
        print(f"| compile peak RSS (MiB) | {results['compile_peak_mib']:.0f} |")
    print(f"| our file (MB) | {size / 1e6:.1f} |")
    print(f"| MMDB v4 + v6 (MB) | {mmdb_size / 1e6:.1f} |")
    print(f"| our size / MMDB | {size / mmdb_size:.2f}x |")
    print(f"| load average (1 min) during the run | {os.getloadavg()[0]:.1f} |")
    print(f"| open, median of 20 (ms) | {sorted(open_times)[10] * 1e3:.2f} |")
    print(f"| RSS before / after open (MiB) | {rss_before_open / 1024:.1f} / "
          f"{rss_after_open / 1024:.1f} |")
    print(f"| private (anonymous) memory added by open (MiB) | "
          f"{(private_after_open - private_before_open) / 1024:.2f} |")
    print(f"| private (anonymous) memory growth over 1 M lookups (MiB) | {growth / 1024:.1f} |")
    print(f"| RSS after 1 M lookups (MiB; shared file pages included) | "
          f"{rss_after_lookups / 1024:.1f} |")
    print(f"| mismatches vs bisect on 40,000 addresses | {mismatches} |")
    database.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
