"""The compiled trie against a naive linear scan over the same ranges (hypothesis).

Every range's first and last address and their neighbours are probed, plus
random addresses, in both the plain and the ``::ffff:a.b.c.d`` spelling.
"""
import gc
import ipaddress
import os
import pickle
import random

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from visitorapi.ipdb import InvalidDatabaseError, Location, open_database
from visitorapi.ipdb.compiler import build_database
from visitorapi.ipdb.export import city_csv_rows
from visitorapi.ipdb.sources import SourceError, SourceRange

MAPPED_FIRST = 0xFFFF << 32
MAPPED_LAST = MAPPED_FIRST + 0xFFFFFFFF
TOP = {4: (1 << 32) - 1, 6: (1 << 128) - 1}
LOCATIONS = [
    ("AU", "Queensland", None, "South Brisbane", None, -27.4767, 153.017, None),
    ("CN", "Fujian", "", "Wenquan", "", 26.0998, 119.297, ""),
    ("GR", "Central Macedonia", "Thessaloniki", "Ampelokipoi, Thessaloniki", "563 00",
     40.6511, 22.9, "Europe/Athens"),
    ("ZZ", None, None, None, None, None, None, None),
    ("JP", "東京都", None, "Shinjuku", "160-0022", 35.6938, 139.7034, "Asia/Tokyo"),
]
# NOTE: no shrinking: each example compiles a file with two 4 MiB root tables,
# and shrinking a failure took over five minutes; the unshrunk example is
# printed in full, which is enough to reproduce it.
PROPERTY = settings(max_examples=25, deadline=None,
                    phases=[Phase.explicit, Phase.reuse, Phase.generate],
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def expected(location):
    """What the database should return for a source location tuple."""
    if location is None:
        return None
    return Location(*[None if value == "" else value for value in location])


def text(version, value):
    return str(ipaddress.IPv4Address(value) if version == 4 else ipaddress.IPv6Address(value))


def points(version):
    """Addresses that stress a trie: edges, aligned prefixes, dense clusters."""
    top = TOP[version]
    width = 32 if version == 4 else 128
    edges = [0, 1, top - 1, top, 1 << (width - 1), 1 << 12, (1 << 12) - 1]
    if version == 6:
        edges += [MAPPED_FIRST - 1, MAPPED_FIRST, MAPPED_FIRST + 1, MAPPED_LAST - 1,
                  MAPPED_LAST, MAPPED_LAST + 1, 0x20010DB8 << 96]
    aligned = st.builds(lambda value, bits: value >> bits << bits,
                        st.integers(0, top), st.integers(0, width))
    near = st.builds(lambda base, delta: min(top, base + delta),
                     st.sampled_from(edges), st.integers(0, 300))
    return st.one_of(st.sampled_from(edges), aligned, near, st.integers(0, top))


@st.composite
def range_sets(draw, version, max_points=14):
    """Non-overlapping ranges with locations: adjacent, gapped, single, whole-space."""
    top = TOP[version]
    cuts = sorted(set(draw(st.lists(points(version), min_size=1, max_size=max_points))))
    if draw(st.booleans()):
        cuts = sorted(set(cuts) | {0})
    ends = cuts[1:] + [top + 1]
    ranges = []
    for first, following in zip(cuts, ends):
        if draw(st.integers(0, 3)) == 0:
            continue  # a gap
        location = LOCATIONS[draw(st.integers(0, len(LOCATIONS) - 1))]
        ranges.append((first, following - 1, location))
    return ranges


def source_ranges(version, ranges, tag):
    return [SourceRange(first, last, version, location, f"{tag}.csv:{line}")
            for line, (first, last, location) in enumerate(ranges, 1)]


class Oracle:
    """Linear scan over the source ranges, with IPv4-mapped folding."""

    def __init__(self, v4, v6):
        self.v4, self.v6 = v4, v6

    def find(self, version, value):
        if version == 6 and MAPPED_FIRST <= value <= MAPPED_LAST:
            return self.find(4, value - MAPPED_FIRST)
        found = [location for first, last, location in (self.v4 if version == 4 else self.v6)
                 if first <= value <= last]
        if version == 4:
            mapped = value + MAPPED_FIRST
            found += [location for first, last, location in self.v6 if first <= mapped <= last]
        assert len(found) <= 1
        return expected(found[0]) if found else None

    def edges(self, version):
        """Every address where the answer may change (a range starts, or one ended)."""
        edges = set()
        for first, last, _ in self.v4:
            edges.update((first, last + 1))
        for first, last, _ in self.v6:
            edges.update((first, last + 1))
            if first <= MAPPED_LAST and last >= MAPPED_FIRST:
                edges.update((max(first, MAPPED_FIRST) - MAPPED_FIRST,
                              min(last, MAPPED_LAST) + 1 - MAPPED_FIRST))
        if version == 6:
            edges.update(edge + MAPPED_FIRST for edge in list(edges) if edge <= 1 << 32)
            edges.update((MAPPED_FIRST, MAPPED_LAST + 1))
        return edges

    def probes(self, version, extra):
        probes = set(extra)
        for first, last, _ in (self.v4 if version == 4 else self.v6):
            probes.update((first - 1, first, last, last + 1))
        return sorted(value for value in probes if 0 <= value <= TOP[version])


def compile_ranges(tmp_path, rows, name="db.vdb", **options):
    path = tmp_path / name
    shuffled = list(rows)
    random.Random(len(rows)).shuffle(shuffled)  # unsorted input is accepted
    build_database(shuffled, path, **options)
    return path


def check_against_oracle(database, oracle, version, extra):
    for value in oracle.probes(version, extra):
        want = oracle.find(version, value)
        assert database.lookup(text(version, value)) == want, (version, text(version, value))
        if version == 4:
            assert database.lookup(f"::ffff:{text(4, value)}") == want
        location, prefix_len = database.lookup_with_prefix(text(version, value))
        assert location == want
        check_prefix(oracle, version, value, prefix_len, want)


def check_prefix(oracle, version, value, prefix_len, want):
    """The prefix is a uniform block around the address, and the largest such."""
    width = 32 if version == 4 else 128
    low_bits = width - prefix_len
    block_first = value >> low_bits << low_bits
    block_last = block_first + (1 << low_bits) - 1
    assert oracle.find(version, block_first) == want == oracle.find(version, block_last)
    all_edges = oracle.edges(version)
    inside = {edge for edge in all_edges if block_first < edge <= block_last}
    for edge in inside:  # equal neighbours may meet inside the block
        assert oracle.find(version, edge - 1) == want == oracle.find(version, edge)
    mapped = version == 6 and block_first <= MAPPED_LAST and block_last >= MAPPED_FIRST
    if prefix_len and not mapped:
        parent_first = value >> (low_bits + 1) << (low_bits + 1)
        parent_last = parent_first + (2 << low_bits) - 1
        edges = {parent_first, parent_last} | {
            point for edge in all_edges for point in (edge - 1, edge)
            if parent_first <= point <= parent_last}
        if version == 6 and parent_first <= MAPPED_LAST and parent_last >= MAPPED_FIRST:
            return  # the IPv4-mapped block is a region of its own
        assert any(oracle.find(version, edge) != want for edge in edges), "not maximal"


@PROPERTY
@given(v4=range_sets(4), v6=range_sets(6), extra4=st.lists(points(4), max_size=8),
       extra6=st.lists(points(6), max_size=8))
def test_lookup_equals_linear_scan(tmp_path, v4, v6, extra4, extra6):
    v6 = [(first, last, location) for first, last, location in v6
          if last < MAPPED_FIRST or first > MAPPED_LAST]  # folding has its own test
    path = compile_ranges(tmp_path, source_ranges(4, v4, "v4") + source_ranges(6, v6, "v6"))
    oracle = Oracle(v4, v6)
    with open_database(path) as database:
        check_against_oracle(database, oracle, 4, extra4)
        check_against_oracle(database, oracle, 6, extra6)
        database.verify()


@PROPERTY
@given(v6=range_sets(6), extra4=st.lists(points(4), max_size=8))
def test_ipv4_mapped_ranges_fold_into_the_ipv4_trie(tmp_path, v6, extra4):
    """IPv6 rows over ::ffff:0:0/96 answer IPv4 lookups, split at the block's edges."""
    path = compile_ranges(tmp_path, source_ranges(6, v6, "v6"))
    oracle = Oracle([], v6)
    with open_database(path) as database:
        check_against_oracle(database, oracle, 6, [MAPPED_FIRST - 1, MAPPED_FIRST,
                                                   MAPPED_LAST, MAPPED_LAST + 1])
        check_against_oracle(database, oracle, 4, extra4 + [0, TOP[4]])


@PROPERTY
@given(v4=range_sets(4), v6=range_sets(6))
def test_iteration_yields_the_merged_ranges(tmp_path, v4, v6):
    v6 = [r for r in v6 if r[1] < MAPPED_FIRST or r[0] > MAPPED_LAST]
    path = compile_ranges(tmp_path, source_ranges(4, v4, "v4") + source_ranges(6, v6, "v6"))
    want = []
    for version, ranges in ((4, v4), (6, v6)):
        for first, last, location in ranges:
            location = expected(location)
            if want and want[-1][0] == version and want[-1][2] + 1 == first \
                    and want[-1][3] == location:
                want[-1] = (version, want[-1][1], last, location)
            else:
                want.append((version, first, last, location))
    with open_database(path) as database:
        assert list(database.ranges()) == want
        networks = list(database)
    covered = sum(network.num_addresses for network, _ in networks)
    assert covered == sum(last - first + 1 for _, first, last, _ in want)
    for network, location in networks:
        version = network.version
        assert Oracle(v4, v6).find(version, int(network.network_address)) == location
        assert Oracle(v4, v6).find(version, int(network.broadcast_address)) == location


def body(path):
    data = path.read_bytes()
    header_size = int.from_bytes(data[24:28], "little")
    return data[header_size:]


@PROPERTY
@given(v4=range_sets(4), v6=range_sets(6))
def test_export_then_compile_is_the_identity(tmp_path, v4, v6):
    """Export as city CSV, read it back as ranges, compile: the same bytes."""
    path = compile_ranges(tmp_path, source_ranges(4, v4, "v4") + source_ranges(6, v6, "v6"),
                          on_overlap="last")
    with open_database(path) as database:
        rows = list(city_csv_rows(database))
    again = []
    for line, row in enumerate(rows, 1):
        first, last = ipaddress.ip_address(row[0]), ipaddress.ip_address(row[1])
        coordinates = [float(value) if value else None for value in row[7:9]]
        location = tuple(row[2:7]) + tuple(coordinates) + (row[9],)
        again.append(SourceRange(int(first), int(last), first.version, location,
                                 f"export.csv:{line}"))
    copy = compile_ranges(tmp_path, again, name="copy.vdb")
    assert body(copy) == body(path)


def test_whole_spaces_and_single_addresses(tmp_path):
    rows = [SourceRange(0, TOP[4], 4, LOCATIONS[0], "a:1"),
            SourceRange(0, MAPPED_FIRST - 1, 6, LOCATIONS[1], "a:2"),
            SourceRange(MAPPED_LAST + 1, TOP[6] - 1, 6, LOCATIONS[2], "a:3"),
            SourceRange(TOP[6], TOP[6], 6, LOCATIONS[4], "a:4")]
    with open_database(compile_ranges(tmp_path, rows)) as database:
        assert database.lookup_with_prefix("0.0.0.0") == (expected(LOCATIONS[0]), 0)
        assert database.lookup("255.255.255.255") == expected(LOCATIONS[0])
        assert database.lookup("::ffff:255.255.255.255") == expected(LOCATIONS[0])
        assert database.lookup("::") == expected(LOCATIONS[1])
        assert database.lookup("::fffe:ffff:ffff") == expected(LOCATIONS[1])
        assert database.lookup("::1:0:0:0") == expected(LOCATIONS[2])
        assert database.lookup_with_prefix("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff") == \
            (expected(LOCATIONS[4]), 128)
        assert database.lookup_with_prefix("::ffff:1.2.3.4")[1] == 96


@pytest.mark.parametrize("ip", [
    pytest.param("127.1", id="short-ipv4"),
    pytest.param("010.0.0.1", id="leading-zero"),
    pytest.param("1.2.3.256", id="octet-too-big"),
    pytest.param(" 1.2.3.4", id="space"),
    pytest.param("1.2.3.4\x00", id="nul"),
    pytest.param("1::2::3", id="two-double-colons"),
    pytest.param("fe80::1%eth0", id="zone-id"),
    pytest.param("::ffff:01.2.3.4", id="mapped-leading-zero"),
    pytest.param("", id="empty"),
    pytest.param("ünïcode", id="non-ascii"),
])
def test_malformed_addresses_raise_value_error_naming_them(tmp_path, ip):
    path = compile_ranges(tmp_path, [SourceRange(0, 5, 4, LOCATIONS[0], "a:1")])
    with open_database(path) as database:
        for method in (database.lookup, database.lookup_with_prefix):
            with pytest.raises(ValueError, match="is not a valid") as caught:
                method(ip)
            assert repr(ip) in str(caught.value)
            assert not isinstance(caught.value, InvalidDatabaseError)


@pytest.mark.parametrize("mode, want", [
    pytest.param("first", [0, 0, 0, 1, 1], id="first-wins"),
    pytest.param("last", [0, 1, 1, 1, 1], id="last-wins"),
])
def test_on_overlap_first_and_last(tmp_path, mode, want):
    rows = [SourceRange(10, 12, 4, LOCATIONS[0], "a.csv:1"),
            SourceRange(11, 14, 4, LOCATIONS[1], "a.csv:2")]
    build_database(rows, tmp_path / "db.vdb", on_overlap=mode)
    with open_database(tmp_path / "db.vdb") as database:
        got = [database.lookup(text(4, value)) for value in range(10, 15)]
    assert got == [expected(LOCATIONS[index]) for index in want]


def test_overlap_is_an_error_naming_both_rows(tmp_path):
    rows = [SourceRange(10, 20, 4, LOCATIONS[0], "a.csv:7"),
            SourceRange(MAPPED_FIRST + 15, MAPPED_FIRST + 30, 6, LOCATIONS[1], "b.csv:9")]
    with pytest.raises(SourceError, match=r"b\.csv:9: .*overlaps.*a\.csv:7.*--on-overlap"):
        build_database(rows, tmp_path / "db.vdb")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("row, message", [
    pytest.param(SourceRange(5, 4, 4, LOCATIONS[0], "a.csv:3"), "a.csv:3", id="start-after-end"),
    pytest.param(SourceRange(0, 1 << 32, 4, LOCATIONS[0], "a.csv:3"), "a.csv:3", id="too-big"),
    pytest.param(SourceRange(0, 1, 5, LOCATIONS[0], "a.csv:3"), "a.csv:3", id="bad-version"),
    pytest.param(SourceRange(0, 1, 4, LOCATIONS[0][:5] + (91.0, 0.0, None), "a.csv:3"),
                 "a.csv:3: latitude", id="latitude"),
    pytest.param(SourceRange(0, 1, 4, LOCATIONS[0][:6] + (float("nan"), None), "a.csv:3"),
                 "a.csv:3: longitude", id="longitude-nan"),
    pytest.param(SourceRange(0, 1, 4, LOCATIONS[0][:7], "a.csv:3"), "a.csv:3", id="short"),
])
def test_bad_ranges_name_the_row(tmp_path, row, message):
    with pytest.raises(SourceError, match=message):
        build_database([row], tmp_path / "db.vdb")


def test_records_are_deduplicated_and_decoded_lazily(tmp_path):
    rows = [SourceRange(i * 10, i * 10 + 4, 4, LOCATIONS[i % 2], f"a:{i}") for i in range(100)]
    summary = build_database(rows, tmp_path / "db.vdb")
    assert summary["records"] == 2
    with open_database(tmp_path / "db.vdb") as database:
        assert database.metadata["records"] == 2
        assert not database._cache
        first, second = database.lookup("0.0.0.1"), database.lookup("0.0.0.2")
        assert not database._cache  # nothing decoded yet
        assert first.city == LOCATIONS[0][3]
        assert len(database._cache) == 1
        assert database.lookup("0.0.0.3") is first  # a decoded record comes from the cache
        assert second == first == expected(LOCATIONS[0])
        assert database.lookup("0.0.0.11") == expected(LOCATIONS[1])
        assert len(database._cache) == 2


def test_a_location_outlives_its_database(tmp_path):
    path = compile_ranges(tmp_path, [SourceRange(0, 5, 4, LOCATIONS[0], "a:1")])
    with open_database(path) as database:
        location, unread = database.lookup("0.0.0.1"), database.lookup("0.0.0.2")
    assert location == expected(LOCATIONS[0])  # read after close: the file stays mapped
    assert tuple(location) == tuple(expected(LOCATIONS[0]))
    assert repr(location).startswith("Location(country_code=")
    copy = pickle.loads(pickle.dumps(unread))  # pickled unread: the values, not the file
    assert type(copy) is Location and copy == location
    with pytest.raises(AttributeError, match="no attribute 'town'"):
        location.town


@pytest.mark.skipif(not os.path.exists("/proc/self/maps"), reason="needs /proc/self/maps")
def test_close_unmaps_the_file_once_no_location_holds_it(tmp_path):
    path = compile_ranges(tmp_path, [SourceRange(0, 5, 4, LOCATIONS[0], "a:1")])

    def mapped():
        gc.collect()  # a Location's type, which holds the mapping, lives in a reference cycle
        with open("/proc/self/maps") as maps:
            return str(path) in maps.read()

    database = open_database(path)
    location = database.lookup("0.0.0.1")
    database.close()
    assert mapped()
    assert location.city == LOCATIONS[0][3]
    del location
    assert not mapped()


def test_closed_database_refuses_lookups(tmp_path):
    path = compile_ranges(tmp_path, [SourceRange(0, 5, 4, LOCATIONS[0], "a:1")])
    database = open_database(path)
    database.close()
    database.close()
    with pytest.raises(ValueError, match="closed"):
        database.lookup("0.0.0.1")


def test_metadata_and_attribution(tmp_path):
    build_database([SourceRange(0, 5, 4, LOCATIONS[0], "a:1")], tmp_path / "db.vdb",
                   attribution="IP Geolocation by DB-IP (https://db-ip.com), CC BY 4.0",
                   sources=[{"name": "a.csv", "dialect": "test"}])
    with open_database(tmp_path / "db.vdb") as database:
        metadata = database.metadata
    assert metadata["attribution"].startswith("IP Geolocation by DB-IP")
    assert metadata["sources"] == [{"name": "a.csv", "dialect": "test"}]
    assert metadata["build_time"].endswith("Z")
    assert metadata["ranges_ipv4"] == 1 and metadata["ranges_ipv6"] == 0


def test_threads_and_fork_share_one_database(tmp_path):
    import os
    import threading

    rows = [SourceRange(i << 8, (i << 8) + 255, 4, LOCATIONS[i % 5], f"a:{i}") for i in range(500)]
    path = compile_ranges(tmp_path, rows)
    database = open_database(path)
    want = {i: expected(LOCATIONS[i % 5]) for i in range(500)}
    failures = []

    def worker():
        for i in range(500):
            if database.lookup(text(4, (i << 8) + 7)) != want[i]:
                failures.append(i)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures
    pid = os.fork()
    if pid == 0:  # the child: use the parent's mapping, report by exit status
        ok = all(database.lookup(text(4, (i << 8) + 1)) == want[i] for i in range(500))
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    database.close()


def test_threads_share_one_database_while_its_cache_clears(tmp_path, monkeypatch):
    """gthread workers look up from several threads; a cache cleared by one
    thread must never turn another thread's "no record" into an error."""
    import sys
    import threading

    from visitorapi.ipdb import reader
    monkeypatch.setattr(reader, "RECORD_CACHE_SIZE", 2)  # clears on almost every miss
    rows = [SourceRange(i * 10, i * 10 + 4, 4, LOCATIONS[i % 2], f"a:{i}") for i in range(50)]
    path = compile_ranges(tmp_path, rows)
    probes = [(f"0.0.0.{i}", expected(LOCATIONS[(i // 10) % 2]) if i % 10 < 5 else None)
              for i in range(250)]
    failures = []

    def work():
        try:
            for _ in range(20):
                for ip, want in probes:
                    got = database.lookup(ip)
                    if got != want:
                        failures.append((ip, got, want))
        except Exception as exc:  # the bug this test guards against raised here
            failures.append(repr(exc))

    old_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        with open_database(path) as database:
            threads = [threading.Thread(target=work) for _ in range(4)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
    finally:
        sys.setswitchinterval(old_interval)
    assert failures == []
