#!/usr/bin/env python3
"""Benchmark visitorapi.useragent against ua-parser (pure Python and its Rust accelerator).

usage: python tools/bench_useragent.py [--shared DIR] [--count 5000] [--rounds 5]

Parses the same distinct UAs, in one process, with no cache anywhere:
  * ours:        visitorapi.useragent.parse_uncached
  * ua-parser:   ua_parser.basic.Resolver (pure-Python regex resolver, uap-core rules)
  * ua-parser-rs: ua_parser.regex.Resolver (the Rust accelerator, same rules)
The UAs are every distinct UA of the two traffic corpora (what the API sees),
topped up to --count with uap-core's test UAs in file order.

The machine this runs on may be shared, so the parsers are interleaved: each
round times every parser on every UA once, in a rotating order, and a UA's
time is its fastest run over all rounds (a scheduler hiccup then does not
count as parser time, for any parser). The timer's own cost is measured and
subtracted. Each round's own medians and their ratio are printed too, so the
spread of the ratio under load is visible, not hidden.

Prints median, p99 and worst per-UA time for each parser, the ratios, the
slowest UA of ours, and the worst case over adversarial 8 KB inputs, plus
times for growing input lengths to show that the cost is linear.

Install the peers for the benchmark only:
  pip install ua-parser ua-parser-rs ua-parser-builtins
"""
import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from visitorapi.useragent import MAX_LENGTH, _parse, parse_uncached  # noqa: E402

CORPORA = ("traffic-public.jsonl", "traffic-history-public.jsonl", "uap-tests-public.jsonl")
OURS = "visitorapi.useragent"


def load_uas(shared: Path, count: int):
    """Distinct UAs: the traffic corpora first, then uap-tests, in file order."""
    seen = {}
    for name in CORPORA:
        with open(shared / "ua" / name, encoding="utf-8") as corpus:
            for line in corpus:
                if line.strip():
                    seen.setdefault(json.loads(line)["ua"], None)
                    if len(seen) >= count:
                        return list(seen)
    return list(seen)


def timer_overhead(repeat=20000):
    """Median cost of a perf_counter_ns pair around a no-op call, in ns (what to subtract)."""
    noop = (lambda text: None)
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter_ns()
        noop("x")
        samples.append(time.perf_counter_ns() - t0)
    return statistics.median(samples)


def time_rounds(parsers, uas, rounds, overhead):
    """Interleaved timing: ``({name: per-UA fastest us}, [{name: that round's median us}])``."""
    best = {name: [float("inf")] * len(uas) for name in parsers}
    per_round = []
    names = list(parsers)
    for round_index in range(rounds):
        medians = {}
        order = names[round_index % len(names):] + names[:round_index % len(names)]
        for name in order:
            parse, fastest, times = parsers[name], best[name], []
            clock = time.perf_counter_ns
            for index, ua in enumerate(uas):
                t0 = clock()
                parse(ua)
                elapsed = clock() - t0
                times.append(elapsed)
                if elapsed < fastest[index]:
                    fastest[index] = elapsed
            medians[name] = max(0.0, (statistics.median(times) - overhead) / 1000.0)
        per_round.append(medians)
    return {name: [max(0.0, (ns - overhead) / 1000.0) for ns in best[name]] for name in names}, per_round


def summary(times):
    ordered = sorted(times)
    return {
        "median": statistics.median(ordered),
        "p99": ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))],
        "max": ordered[-1],
        "mean": statistics.fmean(ordered),
    }


def peers():
    """The ua-parser resolvers, or an explanation of why they are missing."""
    try:
        from ua_parser import Domain, load_builtins
        from ua_parser.basic import Resolver as BasicResolver
    except ImportError as error:
        return {}, f"ua-parser not installed ({error}); pip install ua-parser ua-parser-builtins"
    matchers = load_builtins()
    found = {"ua-parser (pure Python)": _bind(BasicResolver(matchers), Domain.ALL)}
    note = ""
    try:
        from ua_parser.regex import Resolver as RustResolver
        found["ua-parser-rs (Rust)"] = _bind(RustResolver(matchers), Domain.ALL)
    except ImportError as error:
        note = f"ua-parser-rs not installed ({error})"
    return found, note


def _bind(resolver, domains):
    return lambda ua: resolver(ua, domains)


ADVERSARIAL = {
    "8 KB of one letter": "a" * 8192,
    "8 KB of '('": "(" * 8192,
    "8 KB of ')('": ")(" * 4096,
    "8 KB repeated Android comment": "Mozilla/5.0 (" + "Linux; Android 10; " * 431,
    "8 KB 'SM-' model": "Mozilla/5.0 (Linux; Android 10; " + "SM-" * 2720 + ")",
    "8 KB run then 'bot'": "x" * 8188 + " bot",
    "8 KB 'bot' token": "bot" + "x" * 8189,
    "8 KB version dots": "Chrome/" + "1." * 4092,
    "8 KB of '/1 '": "a/1 " * 2048,
    "8 KB of spaces": " " * 8192,
    "8 KB control characters": "\x00\x01\x1b[" * 2048,
    "8 KB latin-1 bytes": bytes(range(256)).decode("latin-1") * 32,
    "8 KB Chrome UA padding": ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                               "Chrome/138.0.0.0 Safari/537.36 ") * 64,
    "8 KB 'compatible; '": "Mozilla/5.0 (" + "compatible; " * 682,
    "8 KB 'Opera Mini/'": "Opera/9.80 (" + "Opera Mini/" * 744,
    # Aimed at the one-match fast path (visitorapi.useragent.fast.SHAPES).
    "8 KB Android model of ' Build/x'": ("Mozilla/5.0 (Linux; Android 10; " + " Build/x" * 1015
                                         + ") AppleWebKit/537.36 (KHTML, like Gecko) Chrome/1.0 Safari/1"),
    "8 KB Chrome version digits": ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/1."
                                   + "1" * 8100 + " x"),
    "8 KB Android version '.1'": "Mozilla/5.0 (Linux; Android 1" + ".1" * 4080 + "; x)",
    "8 KB iOS version '_1'": "Mozilla/5.0 (iPhone; CPU iPhone OS 1" + "_1" * 4080 + " like",
    # Aimed at the vendor-word scan and the appliance fields (devices, appliances).
    "8 KB vendor words, no model": "Huawei/1 " * 910,
    "8 KB 'LG; '": "LG; " * 2048,
    "8 KB unclosed HbbTV fields": "HbbTV/1 (" * 910,
    "8 KB unclosed Inettv fields": "InettvBrowser/1 (" * 481,
}
# Markers the rules search for; the marker sweep repeats each in a few shapes to show no
# input makes a search scan the rest of the UA once per occurrence (which would be quadratic).
MARKERS = ("Mozilla/5.0 (", "Mozilla/5.0 (Linux; Android 1", "Android ", "Build/", "Windows NT ", "Windows",
           "like Mac OS X", "CrOS x ", "CFNetwork/", "Darwin/", "compatible; ", "MSIE ", "Trident/",
           "Version/", "Opera Mini/", "UCBrowser", "FBAV/", "[FB", "HbbTV/", "InettvBrowser/", "LG Browser/",
           "LGE; ", "DoCoMo/", ";FOMA;", "Kindle/", "Sprint ", "(BB10; ", "Nintendo", "watchOS", "SAMSUNG ",
           "Nokia", "HTC_", "MOT-", "Huawei", "bot", "spider", "http", "rv:")


def adversarial(repeat):
    """Worst single-call time per adversarial input, through the public entry point and uncapped."""
    rows = []
    for name, ua in ADVERSARIAL.items():
        capped = min(_time_one(parse_uncached, ua) for _ in range(repeat))
        uncapped = min(_time_one(_parse, ua) for _ in range(repeat))
        rows.append((name, len(ua), capped, uncapped))
    return rows


def _time_one(parse, ua):
    t0 = time.perf_counter_ns()
    parse(ua)
    return (time.perf_counter_ns() - t0) / 1000.0


def marker_sweep(repeat):
    """For each marker and filler shape: uncapped time at 2 KB and 8 KB (linear: about 4x)."""
    rows = []
    for marker in MARKERS:
        for shape in ("{m}", "{m}1 (", "{m}x; ", "{m}1.1 ", "({m}"):
            unit = shape.format(m=marker)
            small = min(_time_one(_parse, unit * (2048 // len(unit))) for _ in range(repeat))
            large = min(_time_one(_parse, unit * (8192 // len(unit))) for _ in range(repeat))
            rows.append((large / max(small, 1e-3), large, unit))
    rows.sort(reverse=True)
    # A load spike on this shared machine can inflate one measurement: time the
    # largest growths again, longer, before reporting them.
    for index, (_, _, unit) in enumerate(rows[:8]):
        small = min(_time_one(_parse, unit * (2048 // len(unit))) for _ in range(3 * repeat))
        large = min(_time_one(_parse, unit * (8192 // len(unit))) for _ in range(3 * repeat))
        rows[index] = (large / max(small, 1e-3), large, unit)
    return sorted(rows, reverse=True)


def growth(repeat):
    """Uncapped cost against length for the slowest adversarial shape: linear means ~2x per doubling."""
    rows = []
    shapes = {
        "letters": lambda length: "a" * length,
        "SM- model": lambda length: "Mozilla/5.0 (Linux; Android 10; " + "SM-" * (length // 3) + ")",
        "Android comment": lambda length: "Mozilla/5.0 (" + "Linux; Android 10; " * (length // 19),
        "Build/ model": lambda length: ("Mozilla/5.0 (Linux; Android 10; " + " Build/x" * (length // 8)
                                        + ") AppleWebKit/537.36 (KHTML, like Gecko) Chrome/1.0 Safari/1"),
        "Chrome version": lambda length: ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
                                          "Chrome/1." + "1" * length + " x"),
    }
    for name, make in shapes.items():
        for length in (2048, 4096, 8192, 16384, 32768):
            ua = make(length)
            rows.append((name, len(ua), min(_time_one(_parse, ua) for _ in range(repeat))))
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path,
                        default=Path(os.environ.get("VISITORAPI_SHARED", ROOT.parent / "shared")))
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=5, help="runs per adversarial input (fastest kept)")
    args = parser.parse_args(argv)
    if not (args.shared / "ua").is_dir():
        print(f"bench_useragent: {args.shared / 'ua'} not found; pass --shared DIR", file=sys.stderr)
        return 2

    uas = load_uas(args.shared, args.count)
    overhead = timer_overhead()
    print(f"{len(uas)} distinct UAs, {args.rounds} interleaved rounds, fastest run per UA kept, "
          f"timer cost {overhead:.0f} ns subtracted")
    print(f"python {sys.version.split()[0]} on {os.uname().machine}, load average "
          + " ".join(f"{load:.1f}" for load in os.getloadavg()))
    print()
    found, note = peers()
    parsers = {OURS: parse_uncached, **found}
    for parse in parsers.values():  # warm up imports and lazy compiles
        for ua in uas[:50]:
            parse(ua)

    times, per_round = time_rounds(parsers, uas, args.rounds, overhead)
    results = {name: summary(values) for name, values in times.items()}
    print(f"{'parser':<26} {'median us':>10} {'p99 us':>10} {'worst us':>10} {'mean us':>10}")
    for name, stats in results.items():
        print(f"{name:<26} {stats['median']:>10.2f} {stats['p99']:>10.2f} {stats['max']:>10.2f} {stats['mean']:>10.2f}")
    if note:
        print(note)
    print()
    mine = results[OURS]
    for name in found:
        peer = results[name]
        ratios = [medians[name] / medians[OURS] for medians in per_round]
        print(f"ours vs {name}: {peer['median'] / mine['median']:.1f}x faster by median, "
              f"{peer['mean'] / mine['mean']:.1f}x by mean; "
              f"per round (by that round's medians): " + " ".join(f"{ratio:.1f}x" for ratio in ratios))
    ours = times[OURS]
    slowest = max(range(len(uas)), key=ours.__getitem__)
    print(f"slowest UA of ours: {ours[slowest]:.2f} us  {uas[slowest][:150]!r}")
    print()

    print(f"adversarial inputs (public parse caps at {MAX_LENGTH} chars; 'uncapped' parses all of it):")
    worst_capped = worst_uncapped = 0.0
    for name, length, capped, uncapped in adversarial(args.repeat):
        worst_capped, worst_uncapped = max(worst_capped, capped), max(worst_uncapped, uncapped)
        print(f"  {name:<32} {length:>6} chars  {capped:>9.1f} us  uncapped {uncapped:>9.1f} us")
    print(f"adversarial worst case: {worst_capped:.1f} us through parse (cut to {MAX_LENGTH} chars), "
          f"{worst_uncapped:.1f} us uncut")
    print()
    sweep = marker_sweep(args.repeat)
    print(f"marker sweep: {len(sweep)} repeated-marker inputs, 2 KB -> 8 KB uncapped "
          f"(linear: about 4x); largest growth:")
    for ratio, micros, unit in sweep[:3]:
        print(f"  {ratio:4.1f}x  {micros:9.1f} us at 8 KB  {unit!r}")
    print(f"  slowest at 8 KB: {max(row[1] for row in sweep):.1f} us")
    print()
    print("uncapped cost by length (linear: about 2x per doubling):")
    for name, length, micros in growth(args.repeat):
        print(f"  {name:<18} {length:>6} chars  {micros:>9.1f} us")
    return 0


if __name__ == "__main__":
    sys.exit(main())
