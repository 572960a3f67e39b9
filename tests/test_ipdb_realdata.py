"""Both DB-IP city files compiled and checked against a bisect oracle over the same CSV.

Slow (it compiles 8 M rows); skips cleanly when ../shared is absent.
"""
import bisect
import csv
import gzip
import random
from array import array
from socket import AF_INET, AF_INET6, inet_ntop, inet_pton

import pytest

from visitorapi.ipdb import open_database
from visitorapi.ipdb.compiler import compile_files

SAMPLES = 100_000  # per family: 200,000 addresses in all


def oracle(path, version):
    """Sorted starts, ends and raw rows of one ip-location-db city CSV."""
    family = AF_INET if version == 4 else AF_INET6
    starts = array("I") if version == 4 else []
    ends = array("I") if version == 4 else []
    rows = []
    with gzip.open(path, "rt", encoding="utf-8", newline="") as handle:
        for row in csv.reader(handle):
            starts.append(int.from_bytes(inet_pton(family, row[0]), "big"))
            ends.append(int.from_bytes(inet_pton(family, row[1]), "big"))
            rows.append((row[2], row[3], row[5], row[7], row[8]))
    return starts, ends, rows


@pytest.mark.slow
def test_dbip_city_matches_a_bisect_oracle(shared_dir, tmp_path):
    data = shared_dir / "data"
    paths = {version: data / f"dbip-city-ipv{version}.csv.gz" for version in (4, 6)}
    output = tmp_path / "city.vdb"
    summary = compile_files([paths[4], paths[6]], output)
    assert summary["source_rows"] == 3_678_154 + 4_393_989
    assert summary["skipped"] == 0
    rng = random.Random(2)
    with open_database(output) as database:
        for version, width in ((4, 32), (6, 128)):
            starts, ends, rows = oracle(paths[version], version)
            family = AF_INET if version == 4 else AF_INET6
            top = (1 << width) - 1
            # Half uniform over the data's span, half near range edges.
            values = [rng.randint(starts[0], ends[-1]) for _ in range(SAMPLES // 2)]
            for _ in range(SAMPLES // 2):
                index = rng.randrange(len(starts))
                values.append(min(top, max(0, rng.choice(
                    (starts[index], ends[index], starts[index] - 1, ends[index] + 1)))))
            mismatches = []
            for value in values:
                ip = inet_ntop(family, value.to_bytes(width // 8, "big"))
                index = bisect.bisect_right(starts, value) - 1
                want = rows[index] if index >= 0 and value <= ends[index] else None
                got = database.lookup(ip)
                if want is None:
                    same = got is None
                else:
                    same = got is not None and (
                        got.country_code or "", got.region or "", got.city or "",
                        got.latitude, got.longitude) == (
                        want[0], want[1], want[2], float(want[3]), float(want[4]))
                if not same:
                    mismatches.append((ip, want, got))
            assert not mismatches[:5], f"{len(mismatches)} mismatches in IPv{version}"
