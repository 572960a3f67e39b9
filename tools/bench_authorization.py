"""Measure the per-request cost of authorization: patterns_for + parse_origin + is_allowed.

Every /api request looks up its project's patterns in the live view, parses
the Origin header and matches it. This prints nanoseconds per call for each
step and for the whole, in one process, against two named peers:

- "sqlite-per-request": the same answer read from the store with one SELECT
  per request (what the live view's in-memory snapshot avoids);
- "urllib-matcher": parsing with ``urllib.parse.urlsplit`` and comparing
  label lists (the naive reference the tests use as an oracle).

Usage: python tools/bench_authorization.py [--projects N] [--seconds S]
"""
import argparse
import sqlite3
import sys
import tempfile
import time
import timeit
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from visitorapi.countries import country_facts  # noqa: E402
from visitorapi.domains import _parse_origin_cached, is_allowed, parse_origin  # noqa: E402
from visitorapi.state import db  # noqa: E402
from visitorapi.state import projects as store  # noqa: E402
from visitorapi.state.authorized_domains import AuthorizedDomains  # noqa: E402


def per_call_ns(function, seconds: float) -> float:
    """Best-of-5 nanoseconds per call, each repeat running about seconds/5."""
    timer = timeit.Timer(function)
    count, _ = timer.autorange()
    repeats = max(1, int(count * seconds / 5 / max(timer.timeit(count), 1e-9)))
    return min(timer.repeat(5, repeats)) / repeats * 1e9


def urllib_allowed(origin_text: str, patterns) -> bool:
    parts = urlsplit(origin_text)
    port = parts.port or {"http": 80, "https": 443}[parts.scheme]
    labels = parts.hostname.split(".")
    for pattern in patterns:
        if pattern.scheme not in (None, parts.scheme):
            continue
        wanted = pattern.port or {"http": 80, "https": 443}[parts.scheme]
        if wanted != port:
            continue
        base = pattern.host.split(".")
        if base[0] == "*":
            if len(labels) > len(base) - 1 and labels[1 - len(base):] == base[1:]:
                return True
        elif labels == base:
            return True
    return False


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=1.0, help="time per measurement")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "state.sqlite3"
        conn = db.connect(path, create=True)
        pids = [store.create(conn, f"p{i}", [f"site{i}.example", f"*.site{i}.example",
                                             f"http://localhost:{8000 + i % 1000}"],
                             actor="cli:bench").pid for i in range(args.projects)]
        pid = pids[len(pids) // 2]
        view = AuthorizedDomains(path)
        patterns = view.patterns_for(pid)
        index = len(pids) // 2
        origin_text = f"https://www.site{index}.example"
        origin = parse_origin(origin_text)
        assert is_allowed(origin, patterns) and urllib_allowed(origin_text, patterns)
        reader = sqlite3.connect(path)
        query = "SELECT pattern FROM project_domains JOIN projects USING (pid) WHERE pid = ? AND enabled = 1"

        def sqlite_per_request():
            return reader.execute(query, (pid,)).fetchall()

        results = {
            "patterns_for (live view)": per_call_ns(lambda: view.patterns_for(pid), args.seconds),
            "parse_origin": per_call_ns(lambda: parse_origin(origin_text), args.seconds),
            "parse_origin, cache bypassed": per_call_ns(
                lambda: _parse_origin_cached.__wrapped__(origin_text), args.seconds),
            "is_allowed (3 patterns, wildcard hit)": per_call_ns(
                lambda: is_allowed(origin, patterns), args.seconds),
            "country_facts": per_call_ns(lambda: country_facts("DE"), args.seconds),
            "all three (patterns_for + parse_origin + is_allowed)": per_call_ns(
                lambda: is_allowed(parse_origin(origin_text), view.patterns_for(pid)), args.seconds),
            "patterns_for + is_allowed": per_call_ns(
                lambda: is_allowed(origin, view.patterns_for(pid)), args.seconds),
            "peer: sqlite-per-request SELECT": per_call_ns(sqlite_per_request, args.seconds),
            "peer: urllib-matcher (parse + match)": per_call_ns(
                lambda: urllib_allowed(origin_text, patterns), args.seconds),
        }
        view.close()
        conn.close()
        reader.close()
    print(f"authorization hot path, {args.projects} projects, Python {sys.version.split()[0]}")
    for name, ns in results.items():
        print(f"  {name:55s} {ns:9.0f} ns")
    ours = results["patterns_for (live view)"]
    print(f"  live view vs sqlite-per-request: {results['peer: sqlite-per-request SELECT'] / ours:.0f}x faster")
    mine = results["all three (patterns_for + parse_origin + is_allowed)"]
    peer = results["peer: urllib-matcher (parse + match)"]
    print(f"  parse_origin + is_allowed + patterns_for vs urllib-matcher alone: {peer / mine:.1f}x")
    return 0


if __name__ == "__main__":
    start = time.monotonic()
    code = main()
    print(f"  (ran {time.monotonic() - start:.1f} s)")
    sys.exit(code)
