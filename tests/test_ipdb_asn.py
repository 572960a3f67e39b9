"""AS-number databases: sources, the compiled trie against a naive scan, CLI, real data."""
import gzip
import ipaddress
import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from test_ipdb_trie import MAPPED_FIRST, MAPPED_LAST, PROPERTY, TOP, compile_ranges, points, text
from visitorapi.ipdb import AutonomousSystem, Location, open_database
from visitorapi.ipdb.compiler import build_database, compile_files
from visitorapi.ipdb.sources import SourceError, SourceRange, detect_dialect, read_sources

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
NETWORKS = [(13335, "Cloudflare, Inc."), (15169, "Google LLC"), (64512, None), (None, "Unknown AS"),
            (4294967295, "Largest 32-bit AS")]
IPLOCATION_ASN = """\
1.0.0.0,1.0.0.255,13335,"Cloudflare, Inc."
8.8.8.0,8.8.8.255,15169,Google LLC
9.9.9.0,9.9.9.255,AS19281,Quad9
10.0.0.0,10.0.0.255,,
2001:4860::,2001:4860:ffff:ffff:ffff:ffff:ffff:ffff,15169,Google LLC
"""
GEOLITE2_ASN = """\
network,autonomous_system_number,autonomous_system_organization
1.0.0.0/24,13335,"CLOUDFLARENET"
8.8.8.0/24,15169,GOOGLE
2001:4860::/32,15169,GOOGLE
"""


@st.composite
def asn_ranges(draw, version):
    cuts = sorted(set(draw(st.lists(points(version), min_size=1, max_size=14))))
    ends = cuts[1:] + [TOP[version] + 1]
    return [(first, following - 1, NETWORKS[draw(st.integers(0, len(NETWORKS) - 1))])
            for first, following in zip(cuts, ends) if draw(st.integers(0, 3))]


@PROPERTY
@given(v4=asn_ranges(4), v6=asn_ranges(6), extra4=st.lists(points(4), max_size=20),
       extra6=st.lists(points(6), max_size=20))
def test_asn_trie_matches_a_naive_scan(tmp_path_factory, v4, v6, extra4, extra6):
    v6 = [row for row in v6 if row[1] < MAPPED_FIRST or row[0] > MAPPED_LAST]
    rows = [SourceRange(first, last, 4, network, f"a.csv:{n}") for n, (first, last, network)
            in enumerate(v4, 1)] + [SourceRange(first, last, 6, network, f"b.csv:{n}")
                                    for n, (first, last, network) in enumerate(v6, 1)]
    path = compile_ranges(tmp_path_factory.mktemp("asn"), rows, kind="asn")
    with open_database(path, verify=True) as database:
        assert database.kind == "asn"
        for version, ranges, extra in ((4, v4, extra4), (6, v6, extra6)):
            probes = set(extra)
            for first, last, _ in ranges:
                probes.update((first - 1, first, last, last + 1))
            for value in sorted(p for p in probes if 0 <= p <= TOP[version]):
                probe, ranges_here = text(version, value), ranges
                if version == 6 and MAPPED_FIRST <= value <= MAPPED_LAST:
                    # ::ffff:a.b.c.d answers as a.b.c.d (no IPv6 row touches the block).
                    value, ranges_here = value - MAPPED_FIRST, v4
                found = [network for first, last, network in ranges_here
                         if first <= value <= last]
                want = AutonomousSystem(*found[0]) if found else None
                assert database.lookup(probe) == want, probe


@pytest.mark.parametrize("content, dialect", [
    pytest.param(IPLOCATION_ASN, "iplocation-asn", id="ip-location-db-and-dbip-asn-lite"),
    pytest.param(GEOLITE2_ASN, "geolite2-asn", id="geolite2-asn"),
])
def test_asn_dialects_are_detected_and_compiled(tmp_path, content, dialect):
    source = tmp_path / "asn.csv"
    source.write_text(content, encoding="utf-8")
    assert detect_dialect(source) == dialect
    summary = compile_files([source], tmp_path / "asn.vdb")
    assert summary["timezones_derived"] == 0
    with open_database(tmp_path / "asn.vdb", verify=True) as database:
        assert database.lookup("8.8.8.8").asn == 15169
        assert database.lookup("2001:4860::8888").asn == 15169
        assert database.lookup("1.0.0.1").organization in ("Cloudflare, Inc.", "CLOUDFLARENET")
        assert database.lookup("192.0.2.1") is None
        assert database.metadata["kind"] == "asn"


@pytest.mark.parametrize("row, problem", [
    pytest.param("8.8.8.0,8.8.8.255,4294967296,Too big", "AS number '4294967296'", id="too-big"),
    pytest.param("8.8.8.0,8.8.8.255,-5,Negative", "AS number '-5'", id="negative"),
    pytest.param("8.8.8.0,8.8.8.255,15169,Evil\x07Org", "control character", id="control"),
])
def test_bad_asn_rows_name_the_line(tmp_path, row, problem):
    source = tmp_path / "asn.csv"
    source.write_text("1.0.0.0,1.0.0.255,13335,Cloudflare\n" + row + "\n", encoding="utf-8")
    with pytest.raises(SourceError, match=rf"asn.csv:2: .*{problem}"):
        compile_files([source], tmp_path / "asn.vdb", format="iplocation-asn")


def test_location_and_asn_files_cannot_share_one_database(tmp_path):
    asn = tmp_path / "asn.csv"
    asn.write_text(IPLOCATION_ASN, encoding="utf-8")
    city = tmp_path / "country.csv"
    city.write_text("1.0.0.0,1.0.0.255,AU\n", encoding="utf-8")
    with pytest.raises(SourceError, match="makes a database of its own"):
        read_sources([city, asn])


def test_a_location_database_never_answers_with_an_as(tmp_path):
    rows = [SourceRange(0, 255, 4, ("DE",) + (None,) * 7, "x.csv:1")]
    build_database(rows, tmp_path / "city.vdb")
    with open_database(tmp_path / "city.vdb") as database:
        assert database.kind == "location" and isinstance(database.lookup("0.0.0.1"), Location)


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "visitorapi", *map(str, args)],
                          capture_output=True, text=True, cwd=ROOT)


def test_cli_lookup_and_export_of_an_asn_database(tmp_path):
    source = tmp_path / "asn.csv"
    source.write_text(IPLOCATION_ASN, encoding="utf-8")
    assert run_cli("compile", source, "-o", tmp_path / "asn.vdb").returncode == 0
    lookup = run_cli("lookup", "--db", tmp_path / "asn.vdb", "9.9.9.9")
    assert json.loads(lookup.stdout)["network"] == {"asn": 19281, "organization": "Quad9"}
    exported = run_cli("export", tmp_path / "asn.vdb").stdout
    assert exported == IPLOCATION_ASN.replace("AS19281", "19281").replace(
        "10.0.0.0,10.0.0.255,,\n", "")


@pytest.mark.slow
def test_shared_asn_data_answers_google_for_8_8_8_8(tmp_path):
    paths = [SHARED / "asn-ipv4.csv.gz", SHARED / "asn-ipv6.csv.gz"]
    if not all(path.exists() for path in paths):
        pytest.skip("../shared/data/asn-ipv*.csv.gz is not available")
    # NOTE: the packaging has one overlap (215.0.0.0/16 in two rows, noted
    # as known data errors in its README): the earlier row wins.
    summary = compile_files(paths, tmp_path / "asn.vdb", on_overlap="first")
    assert summary["source_rows"] == 411_961 + 103_197
    with open_database(tmp_path / "asn.vdb", verify=True) as database:
        assert database.lookup("8.8.8.8").asn == 15169
        assert database.lookup("2001:4860:4860::8888").asn == 15169
        # Every 97th row answers its own AS at its first and last address.
        previous_last = -1
        with gzip.open(paths[0], "rt", encoding="utf-8") as rows:
            for number, line in enumerate(rows):
                first, last, asn = line.split(",")[:3]
                start = int(ipaddress.IPv4Address(first))
                overlapped, previous_last = start <= previous_last, int(
                    ipaddress.IPv4Address(last))
                if number % 97 or overlapped:
                    continue
                assert database.lookup(first).asn == int(asn), line
                assert database.lookup(last).asn == int(asn), line


def test_serving_refuses_a_database_of_the_other_kind(tmp_path):
    from visitorapi.ipdb import InvalidDatabaseError
    from visitorapi.web.livedb import open_checked
    source = tmp_path / "asn.csv"
    source.write_text(IPLOCATION_ASN, encoding="utf-8")
    compile_files([source], tmp_path / "asn.vdb")
    with pytest.raises(InvalidDatabaseError, match="serve it with VISITORAPI_ASN_DB"):
        open_checked(tmp_path / "asn.vdb")
    open_checked(tmp_path / "asn.vdb", kind="asn").close()
