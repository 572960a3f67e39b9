"""Measure how many located addresses get a derived time zone (visitorapi.timezones).

Reads DB-IP Lite city CSVs (default: the shared copies in ../shared/data),
which carry no time zone, and prints for each file the share of rows and of
the address space (rows with a country) that ``derive`` gives a zone, and the
countries that most often get none. Usage::

    python tools/measure_timezones.py [CSV ...]
"""
import collections
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from visitorapi.ipdb import sources  # noqa: E402
from visitorapi.timezones import derive  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
DEFAULT_FILES = [SHARED / "dbip-city-ipv4.csv.gz", SHARED / "dbip-city-ipv6.csv.gz"]


def measure(path: Path) -> dict:
    rows = located_rows = zoned_rows = 0
    located_space = zoned_space = 0
    missing = collections.Counter()
    cache = {}
    for row in sources.read_sources([str(path)]):
        rows += 1
        country, latitude, longitude = row.location[0], row.location[5], row.location[6]
        if not country:
            continue
        size = row.last - row.first + 1
        located_rows += 1
        located_space += size
        key = (country, latitude, longitude)
        zone = cache.get(key)
        if zone is None and key not in cache:
            zone = cache[key] = derive(country, latitude, longitude)
        if zone:
            zoned_rows += 1
            zoned_space += size
        else:
            missing[country] += 1
    return {"rows": rows, "located_rows": located_rows, "zoned_rows": zoned_rows,
            "located_space": located_space, "zoned_space": zoned_space,
            "missing": missing.most_common(5)}


def main(argv=None) -> int:
    paths = [Path(arg) for arg in (argv if argv is not None else sys.argv[1:])] or DEFAULT_FILES
    for path in paths:
        if not path.exists():
            print(f"measure_timezones: {path}: no such file", file=sys.stderr)
            return 1
        started = time.monotonic()
        result = measure(path)
        print(f"{path.name}: {result['zoned_rows']:,} of {result['located_rows']:,} located rows "
              f"({100 * result['zoned_rows'] / result['located_rows']:.3f} %), "
              f"{100 * result['zoned_space'] / result['located_space']:.3f} % of located "
              f"addresses get a zone; without one: {result['missing'] or 'none'} "
              f"({time.monotonic() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
