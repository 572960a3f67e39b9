"""The CSV source readers: dialect detection, strict validation, streaming.

Oracles: the expected integers come from ``ipaddress`` (fine in tests, never
on the read path); vendor fixtures in tests/fixtures/sources are written by
hand from the published column descriptions cited in their README.
"""
import csv
import gzip
import io
import ipaddress
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from visitorapi.ipdb.sources import (
    DIALECTS, LOCATION_FIELDS, SourceError, SourceRange, detect_dialect, read_sources,
)

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "sources"


def write(folder, name, text, *, gz=False):
    """Write ``text`` (str or bytes) to folder/name, gzip-compressed if asked."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    path = Path(folder) / name
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def ip(text):
    return int(ipaddress.ip_address(text))


def loc(country=None, region=None, district=None, city=None, postcode=None,
        latitude=None, longitude=None, timezone=None):
    return (country, region, district, city, postcode, latitude, longitude, timezone)


def read(*paths, **options):
    scan = read_sources([str(p) for p in paths], **options)
    return scan, list(scan)


# --------------------------------------------------------------------------
# ip-location-db: text and -num forms


def test_iplocation_city_text_fixture():
    path = FIXTURES / "iplocation-city.csv"
    scan, ranges = read(path)
    assert scan.files == [(str(path), "iplocation-city")]
    assert ranges == [
        SourceRange(ip("1.0.0.0"), ip("1.0.0.255"), 4,
                    loc("AU", "Queensland", None, "South Brisbane", None, -27.4767, 153.017),
                    f"{path}:1"),
        SourceRange(ip("2001:200::"), ip("2001:200:ffff:ffff:ffff:ffff:ffff:ffff"), 6,
                    loc("JP", "Tokyo", None, "Chiyoda", "100-0001", 35.6944, 139.754,
                        "Asia/Tokyo"),
                    f"{path}:2"),
        SourceRange(ip("1.0.1.0"), ip("1.0.3.255"), 4,
                    loc("CN", "Fujian", None, "Wenquan", None, 26.0998, 119.297), f"{path}:3"),
        SourceRange(ip("2.56.8.0"), ip("2.56.8.255"), 4,
                    loc("GR", "Central Macedonia", None, "Ampelokipoi, Thessaloniki", None,
                        40.6472, 22.9197), f"{path}:4"),
    ]
    assert (scan.rows, scan.skipped, scan.unlocated) == (4, 0, 0)


def test_iplocation_num_forms():
    city = FIXTURES / "iplocation-city-ipv4-num.csv"
    country = FIXTURES / "iplocation-country-ipv6-num.csv"
    scan, ranges = read(city, country)
    assert scan.files == [(str(city), "iplocation-city"), (str(country), "iplocation-country")]
    assert [(r.first, r.last, r.version, r.location[0]) for r in ranges] == [
        (ip("1.0.0.0"), ip("1.0.0.255"), 4, "AU"),
        (ip("1.0.1.0"), ip("1.0.3.255"), 4, "CN"),
        (ip("2001:200::"), ip("2001:200:ffff:ffff:ffff:ffff:ffff:ffff"), 6, "JP"),
        (ip("2001:4860::"), ip("2001:4860:ffff:ffff:ffff:ffff:ffff:ffff"), 6, "US"),
    ]
    assert ranges[0].location == loc("AU", "Queensland", None, "South Brisbane", None,
                                     -27.4767, 153.017)


@pytest.mark.parametrize("name, text, expected", [
    pytest.param("a.csv", "1.0.0.0,1.0.0.255,AU\n", "iplocation-country", id="country-text"),
    pytest.param("a.csv", "::,::ff,AU\n", "iplocation-country", id="country-text-v6"),
    pytest.param("a.csv", "16777216,16777471,AU\n", "iplocation-country", id="country-num"),
    pytest.param("a.csv", "1.0.0.0,1.0.0.255,AU,,,,,,,\n", "iplocation-city", id="city-text"),
    pytest.param("a.csv", "16777216,16777471,AU,,,,,,,\n", "iplocation-city", id="city-num"),
    pytest.param("a.csv", "ip_range_start,ip_range_end,country_code\n1.0.0.0,1.0.0.1,AU\n",
                 "iplocation-country", id="with-header"),
    pytest.param("a.csv", "\n\n1.0.0.0,1.0.0.255,AU\n", "iplocation-country",
                 id="leading-blank-lines"),
    pytest.param("a.csv", "\ufeff1.0.0.0,1.0.0.255,AU\r\n", "iplocation-country", id="bom-crlf"),
])
def test_detect_iplocation(tmp_path, name, text, expected):
    assert detect_dialect(write(tmp_path, name, text)) == expected


def test_gzip_is_detected_by_magic_not_name(tmp_path):
    text = (FIXTURES / "iplocation-city.csv").read_text(encoding="utf-8")
    plain = write(tmp_path, "plain.gz", text)  # a misleading name, plain bytes
    packed = write(tmp_path, "packed.csv", text, gz=True)  # gzip bytes, plain name
    _, from_plain = read(plain)
    _, from_packed = read(packed)
    assert [r[:4] for r in from_plain] == [r[:4] for r in from_packed]
    assert len(from_plain) == 4


def test_gzip_multi_member(tmp_path):
    path = tmp_path / "two.csv.gz"
    path.write_bytes(gzip.compress(b"1.0.0.0,1.0.0.255,AU\n") + gzip.compress(b"2.0.0.0,2.0.0.9,FR\n"))
    _, ranges = read(path)
    assert [r.location[0] for r in ranges] == ["AU", "FR"]


def test_chunk_boundaries_keep_rows_whole(tmp_path, monkeypatch):
    """Rows, CRLF pairs and multi-byte characters split across read chunks."""
    from visitorapi.ipdb import sources
    monkeypatch.setattr(sources, "_CHUNK", 7)
    text = "1.0.0.0,1.0.0.255,AU,Région,,Zürich,,1.5,2.5,\r\n2.0.0.0,2.0.0.1,FR,,,Orléans,,,,\r\n"
    _, ranges = read(write(tmp_path, "a.csv", text, gz=True))
    assert [r.location for r in ranges] == [
        loc("AU", "Région", None, "Zürich", None, 1.5, 2.5), loc("FR", None, None, "Orléans")]


def test_mixed_families_unsorted_and_shared_locations(tmp_path):
    text = ("9.0.0.0,9.0.0.255,US,,,,,,,\n"
            "::ffff:1.0.0.0,::ffff:1.0.0.255,US,,,,,,,\n"
            "1.0.0.0,1.0.0.255,US,,,,,,,\n")
    _, ranges = read(write(tmp_path, "a.csv", text))
    assert [(r.first, r.version) for r in ranges] == [
        (ip("9.0.0.0"), 4), (ip("::ffff:1.0.0.0"), 6), (ip("1.0.0.0"), 4)]
    assert ranges[0].location is ranges[1].location is ranges[2].location


def test_country_code_rules(tmp_path):
    text = ("1.0.0.0,1.0.0.0,au\n1.0.0.1,1.0.0.1,ZZ\n1.0.0.2,1.0.0.2,-\n"
            "1.0.0.3,1.0.0.3,EU\n1.0.0.4,1.0.0.4,\n")
    scan, ranges = read(write(tmp_path, "a.csv", text))
    assert [r.location[0] for r in ranges] == ["AU", "EU"]
    assert (scan.rows, scan.unlocated) == (5, 3)


def test_quoted_fields_and_multiline_row_numbers(tmp_path):
    text = ('1.0.0.0,1.0.0.0,AU,"Quoted ""Region""",,"A, B",,,,\n'
            '2.0.0.0,2.0.0.0,AU,"Two\nlines",,,,,,\n'
            '3.0.0.0,3.0.0.0,AU,,,,,,,\n')
    path = write(tmp_path, "a.csv", text)
    scan, ranges = read(path, skip_invalid=True)
    assert ranges[0].location == loc("AU", 'Quoted "Region"', None, "A, B")
    assert ranges[1].where == f"{path}:4"
    assert scan.skipped_examples == [f"{path}:2: the row contains the control character U+000A"]


# --------------------------------------------------------------------------
# Row errors: the message names file and line


ERRORS = [
    pytest.param("10.0.0.9,10.0.0.1,AU,,,,,,,", "end address 10.0.0.1 is before start 10.0.0.9",
                 id="start-after-end"),
    pytest.param("127.1,127.0.0.5,AU,,,,,,,", "malformed IPv4 start address '127.1'",
                 id="ipv4-shorthand"),
    pytest.param("010.0.0.1,10.0.0.5,AU,,,,,,,", "malformed IPv4 start address '010.0.0.1'",
                 id="octal-leading-zero"),
    pytest.param("0x7f.0.0.1,10.0.0.5,AU,,,,,,,", "malformed IPv4 start address '0x7f.0.0.1'",
                 id="hex-octet"),
    pytest.param("1.0.0.0,1.0.0.256,AU,,,,,,,", "malformed IPv4 end address '1.0.0.256'",
                 id="octet-too-big"),
    pytest.param(" 1.0.0.0,1.0.0.5,AU,,,,,,,", "malformed IPv4 start address ' 1.0.0.0'",
                 id="leading-space"),
    pytest.param("fe80::1%eth0,fe80::5,AU,,,,,,,",
                 "malformed IPv6 start address 'fe80::1%eth0' (zone ids are not allowed)",
                 id="zone-id"),
    pytest.param("1::2::3,1::5,AU,,,,,,,", "malformed IPv6 start address '1::2::3'",
                 id="double-double-colon"),
    pytest.param(",1.0.0.5,AU,,,,,,,", "start address is empty", id="empty-start"),
    pytest.param("1.0.0.0,::1,AU,,,,,,,",
                 "start 1.0.0.0 and end ::1 are of different address families",
                 id="mixed-families"),
    pytest.param("::1,1.0.0.0,AU,,,,,,,",
                 "start ::1 and end 1.0.0.0 are of different address families",
                 id="mixed-families-v6-first"),
    pytest.param("1.0.0.0,1.0.0.5,AU,,,", "expected 10 columns for iplocation-city, found 6",
                 id="too-few-columns"),
    pytest.param("1.0.0.0,1.0.0.5,AU,,,,,,,,", "expected 10 columns for iplocation-city, found 11",
                 id="too-many-columns"),
    pytest.param("1.0.0.0", "expected 10 columns for iplocation-city, found 1", id="one-column"),
    pytest.param("1.0.0.0,1.0.0.5,AU,,,,,north,1.0,", "latitude 'north' is not a number",
                 id="latitude-text"),
    pytest.param("1.0.0.0,1.0.0.5,AU,,,,,90.5,1.0,", "latitude 90.5 is out of range [-90, 90]",
                 id="latitude-range"),
    pytest.param("1.0.0.0,1.0.0.5,AU,,,,,1.0,-180.01,",
                 "longitude -180.01 is out of range [-180, 180]", id="longitude-range"),
    pytest.param("1.0.0.0,1.0.0.5,AU,,,,,nan,1.0,", "latitude 'nan' is not a finite number",
                 id="latitude-nan"),
    pytest.param("1.0.0.0,1.0.0.5,AU,,,,,1.0,-inf,", "longitude '-inf' is not a finite number",
                 id="longitude-inf"),
    pytest.param("1.0.0.0,1.0.0.5,AU,,,,,1_0,1.0,", "latitude '1_0' is not a number",
                 id="latitude-underscore"),
    pytest.param("1.0.0.0,1.0.0.5,AU,,,,, 1.0,1.0,", "latitude ' 1.0' is not a number",
                 id="latitude-space"),
    pytest.param("1.0.0.0,1.0.0.5,AU,,,,,1.0,,",
                 "latitude and longitude must both be given or both be empty",
                 id="latitude-alone"),
    pytest.param("1.0.0.0,1.0.0.5,USA,,,,,,,",
                 "country code 'USA' is not two letters (ISO 3166-1 alpha-2)", id="country-3"),
    pytest.param("1.0.0.0,1.0.0.5,A1,,,,,,,",
                 "country code 'A1' is not two letters (ISO 3166-1 alpha-2)", id="country-digit"),
    pytest.param("1.0.0.0,1.0.0.5,AU,Tab\there,,,,,,",
                 "the row contains the control character U+0009", id="control-character"),
    pytest.param('1.0.0.0,1.0.0.5,AU,"a"b,,,,,,',
                 "malformed CSV quoting (',' expected after '\"')", id="bad-quoting"),
    pytest.param(b"1.0.0.0,1.0.0.5,AU,Z\xfcrich,,,,,,", "the row is not valid UTF-8 (byte 0xfc)",
                 id="latin-1-byte"),
    pytest.param(b"1.0.0.\xff,1.0.0.5,AU,,,,,,,",
                 "start address is not valid UTF-8 (byte 0xff)", id="bad-byte-in-address"),
]


@pytest.mark.parametrize("line, message", ERRORS)
def test_row_errors_name_file_and_line(tmp_path, line, message):
    good = b"1.0.0.0,1.0.0.255,AU,,,,,,,\n"
    bad = line if isinstance(line, bytes) else line.encode("utf-8")
    path = write(tmp_path, "x.csv", good + bad + b"\n" + good)
    with pytest.raises(SourceError) as caught:
        read(path, format="iplocation-city")
    assert str(caught.value) == f"{path}:2: {message}"


@pytest.mark.parametrize("line, message", ERRORS)
def test_skip_invalid_counts_and_samples(tmp_path, line, message):
    good = b"1.0.0.0,1.0.0.255,AU,,,,,,,\n"
    bad = line if isinstance(line, bytes) else line.encode("utf-8")
    path = write(tmp_path, "x.csv", good + bad + b"\n" + good)
    scan, ranges = read(path, format="iplocation-city", skip_invalid=True)
    assert len(ranges) == 2
    assert (scan.rows, scan.skipped) == (3, 1)
    assert scan.skipped_examples == [f"{path}:2: {message}"]


NUM_ERRORS = [
    pytest.param("4294967296,4294967296", "start address 4294967296 is out of range for IPv4 "
                 "(at most 4294967295)", id="ipv4-too-big"),
    pytest.param("+5,9", "start address '+5' is not a decimal integer", id="plus-sign"),
    pytest.param("-1,9", "start address '-1' is not a decimal integer", id="negative"),
    pytest.param("1_0,90", "start address '1_0' is not a decimal integer", id="underscore"),
    pytest.param("\u0663,9", "start address '\u0663' is not a decimal integer",
                 id="arabic-indic-digit"),
    pytest.param("9,5", "end address 0.0.0.5 is before start 0.0.0.9", id="start-after-end"),
    pytest.param("1.0.0.0,5", "start address '1.0.0.0' is not a decimal integer",
                 id="text-in-num-file"),
]


@pytest.mark.parametrize("pair, message", NUM_ERRORS)
def test_integer_form_errors(tmp_path, pair, message):
    path = write(tmp_path, "x-ipv4-num.csv", f"16777216,16777471,AU\n{pair},AU\n")
    with pytest.raises(SourceError) as caught:
        read(path)
    assert str(caught.value) == f"{path}:2: {message}"


def test_ipv6_integer_out_of_range(tmp_path):
    too_big = str(1 << 128)
    path = write(tmp_path, "x.csv", f"42540528726795050063891204319802818560,{too_big},JP\n")
    with pytest.raises(SourceError, match=rf"^{path}:1: end address {too_big} is out of range "
                                          r"for IPv6 \(at most 3402\d+\)$"):
        read(path)


def test_integer_family_from_name_when_values_are_small(tmp_path):
    path = write(tmp_path, "tiny-ipv6-num.csv", "0,255,AU\n")
    _, ranges = read(path)
    assert (ranges[0].version, ranges[0].last) == (6, 255)


# --------------------------------------------------------------------------
# File-level errors: never skipped


@pytest.mark.parametrize("content, message", [
    pytest.param(b"", "the file is empty (no rows)", id="empty"),
    pytest.param(b"\n\n\r\n", "the file is empty (no rows)", id="blank-lines"),
    pytest.param(gzip.compress(b""), "the file is empty (no rows)", id="empty-gzip"),
    pytest.param(b"ip_range_start,ip_range_end,country_code\n", "the file has a header but no rows",
                 id="header-only"),
    pytest.param(b"PK\x03\x04rest", "is a zip archive; unpack it first "
                 "(plain or gzip-compressed CSV is read directly)", id="zip"),
    pytest.param(b"\x1f\x8b\x08\x00garbage-not-deflate", "corrupt gzip data", id="corrupt-gzip"),
    pytest.param(gzip.compress(b"1.0.0.0,1.0.0.255,AU\n" * 50)[:-12],
                 "the gzip file is truncated", id="truncated-gzip"),
])
def test_file_errors(tmp_path, content, message):
    path = write(tmp_path, "f.csv", content)
    with pytest.raises(SourceError) as caught:
        read(path, skip_invalid=True)
    assert str(caught.value).startswith(f"{path}: {message}")


def test_unknown_dialect_names_file_and_known_dialects(tmp_path):
    path = write(tmp_path, "odd.csv", "1.0.0.0,1.0.0.255,AU,x,y\n")
    with pytest.raises(SourceError) as caught:
        read_sources([str(path)])
    message = str(caught.value)
    assert message.startswith(f"{path}: unknown CSV dialect (first row has 5 columns")
    assert all(name in message for name in DIALECTS)
    assert "--format" in message


def test_unknown_format_lists_known_ones(tmp_path):
    with pytest.raises(SourceError, match="unknown format 'csv'; known formats: iplocation-city"):
        read_sources([str(FIXTURES / "iplocation-city.csv")], format="csv")


def test_no_paths():
    with pytest.raises(SourceError, match="no input files given"):
        read_sources([])


def test_missing_file_is_an_os_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_sources([str(tmp_path / "absent.csv")])


def test_forced_format_skips_detection(tmp_path):
    path = write(tmp_path, "a.csv", "1.0.0.0,1.0.0.255,AU\n")
    scan, ranges = read(path, format="dbip-country-lite")
    assert scan.files == [(str(path), "dbip-country-lite")]
    assert ranges[0].location == loc("AU")


def test_scan_is_single_use():
    scan = read_sources([str(FIXTURES / "iplocation-city.csv")])
    list(scan)
    with pytest.raises(RuntimeError):
        iter(scan)


def test_every_dialect_has_a_description():
    assert all(isinstance(text, str) and text for text in DIALECTS.values())
    assert LOCATION_FIELDS[0] == "country_code"


# --------------------------------------------------------------------------
# Properties

TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=12)
COUNTRY = st.from_regex(r"\A[A-Z]{2}\Z").filter(lambda code: code != "ZZ")


@st.composite
def city_rows(draw):
    """A valid ip-location-db city row: (row as written, the SourceRange fields)."""
    version = draw(st.sampled_from((4, 6)))
    top = (1 << (32 if version == 4 else 128)) - 1
    first = draw(st.integers(0, top))
    last = draw(st.integers(first, top))
    country = draw(COUNTRY)
    region, district, city, postcode, timezone = (
        draw(st.none() | TEXT) for _ in range(5))
    if draw(st.booleans()):
        latitude = draw(st.floats(-90, 90, allow_nan=False))
        longitude = draw(st.floats(-180, 180, allow_nan=False))
    else:
        latitude = longitude = None
    location = (country, region, district, city, postcode, latitude, longitude, timezone)
    return version, first, last, location


def _as_text(value, version):
    return str(ipaddress.IPv4Address(value) if version == 4 else ipaddress.IPv6Address(value))


@given(st.lists(city_rows(), min_size=1, max_size=8), st.booleans(), st.booleans())
def test_valid_rows_round_trip(tmp_path_factory, rows, numeric, compressed):
    """Any valid row written by csv.writer reads back to the same values."""
    folder = tmp_path_factory.mktemp("rt")
    if numeric:  # one family per -num file, as ip-location-db publishes them
        rows = [row for row in rows if row[0] == rows[0][0]]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for version, first, last, location in rows:
        start, end = ((str(first), str(last)) if numeric
                      else (_as_text(first, version), _as_text(last, version)))
        writer.writerow([start, end] + ["" if v is None else v for v in location])
    name = f"rt-ipv{rows[0][0]}-num.csv" if numeric else "rt.csv"
    path = write(folder, name, buffer.getvalue(), gz=compressed)
    _, ranges = read(path, format="iplocation-city")
    assert [(r.version, r.first, r.last, r.location) for r in ranges] == rows
    assert [r.where for r in ranges] == [f"{path}:{n}" for n in range(1, len(rows) + 1)]


@given(st.binary(max_size=60).filter(lambda b: b"\n" not in b), st.sampled_from(
    [None, "iplocation-city", "iplocation-country", "dbip-city-lite", "ip2location-db11"]))
def test_garbage_line_gives_source_error_with_line(tmp_path_factory, garbage, format):
    """A garbage second line is either a valid row, blank, or a SourceError at line 2."""
    path = write(tmp_path_factory.mktemp("g"), "g.csv",
                 b"1.0.0.0,1.0.0.255,AU,,,,,,,\n" + garbage + b"\n")
    try:
        read(path, format=format)
    except SourceError as exc:
        assert str(exc).startswith(f"{path}:")
        if format is not None and format != "iplocation-city":
            return  # line 1 does not fit the forced dialect: error at line 1
        assert str(exc).startswith(f"{path}:2: ") or str(exc).startswith(f"{path}: ")


@given(st.binary(max_size=60).filter(lambda b: b"\n" not in b), st.sampled_from(
    [None, "iplocation-city", "iplocation-country", "dbip-city-lite", "ip2location-db11",
     "geolite2-city"]))
def test_garbage_first_line_gives_source_error(tmp_path_factory, garbage, format):
    """Garbage as the first line (where headers and the address form are
    sniffed) is a valid row, a skipped header, or a SourceError naming the file."""
    path = write(tmp_path_factory.mktemp("g"), "g.csv",
                 garbage + b"\n1.0.0.0,1.0.0.255,AU,,,,,,,\n")
    try:
        read(path, format=format)
    except SourceError as exc:
        assert str(exc).startswith(f"{path}:")


@pytest.mark.slow
def test_shared_country_files_read_completely(shared_dir):
    """The real ip-location-db country files: every row read, none rejected."""
    counts = {"dbip-country-ipv4.csv.gz": 355_800, "dbip-country-ipv6.csv.gz": 345_868,
              "geo-whois-asn-country-ipv4.csv.gz": 334_373,
              "geo-whois-asn-country-ipv6.csv.gz": 216_295}
    for name, rows in counts.items():
        scan = read_sources([str(shared_dir / "data" / name)])
        versions = {r.version for r in scan}
        assert scan.files[0][1] == "iplocation-country"
        assert (scan.rows, scan.skipped) == (rows, 0)
        assert versions == ({4} if "ipv4" in name else {6})


# --------------------------------------------------------------------------
# Vendor fixtures (tests/fixtures/sources/README.md cites the column layouts)

AU = loc("AU")
US_LA = ("US", "California", None, "Los Angeles")
CN_FZ = ("CN", "Fujian", None, "Fuzhou")
AU_ME = ("AU", "Victoria", None, "Melbourne")


def mapped(text):
    """The IPv4-mapped IPv6 integer (::ffff:a.b.c.d) of an IPv4 address."""
    return ip("::ffff:" + text)


VENDOR_FIXTURES = [
    pytest.param(["dbip-city-lite-2026-06.csv"], "dbip-city-lite", [
        ("1.0.0.0", "1.0.0.255", loc("AU", "Queensland", None, "South Brisbane", None,
                                     -27.4767, 153.017)),
        ("1.0.1.0", "1.0.3.255", loc("CN", "Fujian", None, "Wenquan", None, 26.0998, 119.297)),
        ("2.56.8.0", "2.56.8.255", loc("GR", "Central Macedonia", None,
                                       "Ampelokipoi, Thessaloniki", None, 40.6472, 22.9197)),
        ("2001:200::", "2001:200:ffff:ffff:ffff:ffff:ffff:ffff",
         loc("JP", "Tokyo", None, "Chiyoda", None, 35.6944, 139.754)),
    ], 0, id="dbip-city-lite"),
    pytest.param(["dbip-country-lite-2026-06.csv"], "iplocation-country", [
        ("1.0.0.0", "1.0.0.255", AU), ("1.0.1.0", "1.0.3.255", loc("CN")),
        ("2001:200::", "2001:200:ffff:ffff:ffff:ffff:ffff:ffff", loc("JP")),
    ], 1, id="dbip-country-lite"),
    pytest.param(["GeoLite2-City-Locations-en.csv", "GeoLite2-City-Blocks-IPv4.csv",
                  "GeoLite2-City-Blocks-IPv6.csv"], "geolite2-city", [
        ("1.0.0.0", "1.0.0.255", loc("AU", latitude=-33.494, longitude=143.2104)),
        ("1.0.64.0", "1.0.127.255", loc("AU", "New South Wales", None, "Sydney", "2000",
                                        -33.8715, 151.2006, "Australia/Sydney")),
        ("2.20.183.0", "2.20.183.255", loc("ES", "Madrid", "Madrid", "Madrid", "28001",
                                           40.4163, -3.7038, "Europe/Madrid")),
        ("2.57.0.0", "2.57.3.255", loc("GB")),  # no geoname_id: the registered country
        ("2001:200::", "2001:200:ffff:ffff:ffff:ffff:ffff:ffff",
         loc("JP", latitude=35.6897, longitude=139.6895, timezone="Asia/Tokyo")),
        ("2001:268:9800::", "2001:268:98ff:ffff:ffff:ffff:ffff:ffff",
         loc("JP", "Tokyo", None, "Tokyo", "100-0001", 35.6895, 139.6917, "Asia/Tokyo")),
    ], 0, id="geolite2-city"),
    pytest.param(["GeoLite2-Country-Blocks-IPv4.csv", "GeoLite2-Country-Locations-en.csv"],
                 "geolite2-country", [
        ("1.0.0.0", "1.0.0.255", AU), ("1.0.1.0", "1.0.1.255", loc("JP")),
    ], 1, id="geolite2-country"),
    pytest.param(["IP2LOCATION-LITE-DB1.CSV"], "ip2location-db1", [
        ("1.0.0.0", "1.0.0.255", loc("US")), ("1.0.1.0", "1.0.3.255", loc("CN")),
        ("1.0.4.0", "1.0.7.255", AU),
    ], 1, id="ip2location-db1"),
    pytest.param(["IP2LOCATION-LITE-DB3.CSV"], "ip2location-db3", [
        ("1.0.0.0", "1.0.0.255", loc(*US_LA)), ("1.0.1.0", "1.0.3.255", loc(*CN_FZ)),
        ("1.0.4.0", "1.0.7.255", loc(*AU_ME)),
    ], 1, id="ip2location-db3"),
    pytest.param(["IP2LOCATION-LITE-DB5.CSV"], "ip2location-db5", [
        ("1.0.0.0", "1.0.0.255", loc(*US_LA, None, 34.05223, -118.24368)),
        ("1.0.1.0", "1.0.3.255", loc(*CN_FZ, None, 26.06139, 119.30611)),
        ("1.0.4.0", "1.0.7.255", loc(*AU_ME, None, -37.814007, 144.963171)),
    ], 1, id="ip2location-db5"),
    pytest.param(["IP2LOCATION-LITE-DB11.CSV"], "ip2location-db11", [
        ("1.0.0.0", "1.0.0.255", loc(*US_LA, "90001", 34.05223, -118.24368, "-07:00")),
        ("1.0.1.0", "1.0.3.255", loc(*CN_FZ, "350004", 26.06139, 119.30611, "+08:00")),
        ("1.0.4.0", "1.0.7.255", loc(*AU_ME, "3000", -37.814007, 144.963171, "+10:00")),
    ], 1, id="ip2location-db11"),
    pytest.param(["IP2LOCATION-LITE-DB11.IPV6.CSV"], "ip2location-db11", [
        ("::ffff:1.0.0.0", "::ffff:1.0.0.255",
         loc(*US_LA, "90001", 34.05223, -118.24368, "-07:00")),
        ("::ffff:1.0.1.0", "::ffff:1.0.3.255",
         loc(*CN_FZ, "350004", 26.06139, 119.30611, "+08:00")),
        ("2001:200::", "2001:200:ffff:ffff:ffff:ffff:ffff:ffff",
         loc("JP", "Tokyo", None, "Tokyo", "100-0001", 35.6895, 139.69171, "+09:00")),
    ], 1, id="ip2location-db11-ipv6"),
]


@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("names, dialect, expected, unlocated", VENDOR_FIXTURES)
def test_vendor_fixture(tmp_path, names, dialect, expected, unlocated, compressed):
    paths = []
    for name in names:
        data = (FIXTURES / name).read_bytes()
        paths.append(write(tmp_path, name, data, gz=compressed))
    scan, ranges = read(*paths)
    assert dialect in {name for _, name in scan.files}
    got = [(r.first, r.last, r.version, r.location) for r in ranges]
    assert got == [(ip(first), ip(last), ip_version(first), location)
                   for first, last, location in expected]
    assert scan.unlocated == unlocated
    assert scan.skipped == 0


def ip_version(text):
    return ipaddress.ip_address(text).version


def test_ip2location_ipv6_keeps_mapped_ranges_in_ffff_block():
    _, ranges = read(FIXTURES / "IP2LOCATION-LITE-DB11.IPV6.CSV")
    assert ranges[0].first == mapped("1.0.0.0") == 281470681743360 + 16777216
    assert ranges[0].version == 6


def test_ip2location_detected_by_quotes_and_columns(tmp_path):
    unquoted = write(tmp_path, "u.csv", "16777216,16777471,US,United States of America\n")
    assert detect_dialect(unquoted) == "ip2location-db1"
    quoted = write(tmp_path, "q.csv", '"16777216","16777471","US","United States",'
                                      '"California","Los Angeles","34.05","-118.24","90001",'
                                      '"-07:00"\n')
    assert detect_dialect(quoted) == "ip2location-db11"


def test_ip2location_quoted_comma_and_escaped_quote(tmp_path):
    path = write(tmp_path, "DB3.CSV", '"16777216","16777471","KR","Korea, Republic of",'
                                      '"Seoul ""Teukbyeolsi""","Seoul"\r\n')
    _, ranges = read(path)
    assert ranges[0].location == loc("KR", 'Seoul "Teukbyeolsi"', None, "Seoul")


@pytest.mark.parametrize("order", [(0, 1, 2), (1, 0, 2), (2, 1, 0), (1, 2, 0)],
                         ids=lambda order: "-".join(map(str, order)))
def test_geolite2_join_ignores_argument_order(order):
    names = ["GeoLite2-City-Locations-en.csv", "GeoLite2-City-Blocks-IPv4.csv",
             "GeoLite2-City-Blocks-IPv6.csv"]
    _, ranges = read(*(FIXTURES / names[i] for i in order))
    assert sorted((r.first, r.location) for r in ranges) == sorted(
        (r.first, r.location) for r in read(*(FIXTURES / n for n in names))[1])
    assert len(ranges) == 6


LOCATIONS_HEADER = ("geoname_id,locale_code,continent_code,continent_name,country_iso_code,"
                    "country_name,is_in_european_union\n")
BLOCKS_HEADER = ("network,geoname_id,registered_country_geoname_id,"
                 "represented_country_geoname_id,is_anonymous_proxy,is_satellite_provider\n")


@pytest.mark.parametrize("block, message", [
    pytest.param("1.0.0.0/24,999,999,,0,0", "geoname_id 999 is not in the Locations file given; "
                 "use the Locations-<lang>.csv of the same release", id="unknown-geoname"),
    pytest.param("1.0.0.1/24,2077456,2077456,,0,0",
                 "network 1.0.0.1/24 has host bits set (did you mean 1.0.0.0/24?)",
                 id="host-bits"),
    pytest.param("2001:db8::1/32,2077456,2077456,,0,0",
                 "network 2001:db8::1/32 has host bits set (did you mean 2001:db8::/32?)",
                 id="host-bits-v6"),
    pytest.param("1.0.0.0/33,2077456,2077456,,0,0",
                 "network '1.0.0.0/33' has an invalid prefix length (0 to 32)", id="prefix-33"),
    pytest.param("1.0.0.0/024,2077456,2077456,,0,0",
                 "network '1.0.0.0/024' has an invalid prefix length (0 to 32)",
                 id="prefix-leading-zero"),
    pytest.param("1.0.0.0,2077456,2077456,,0,0", "network '1.0.0.0' has no /prefix",
                 id="no-prefix"),
    pytest.param("1.0.0/24,2077456,2077456,,0,0", "malformed IPv4 network address '1.0.0'",
                 id="short-address"),
    pytest.param("1.0.0.0/24,2077456,2077456,,0", "expected 6 columns as in the header, found 5",
                 id="column-count"),
    pytest.param("1.0.0.0/24,abc,2077456,,0,0", "geoname_id 'abc' is not a decimal integer",
                 id="geoname-not-integer"),
])
def test_geolite2_row_errors(tmp_path, block, message):
    locations = write(tmp_path, "L.csv", LOCATIONS_HEADER + "2077456,en,OC,Oceania,AU,Australia,0\n")
    blocks = write(tmp_path, "B.csv", BLOCKS_HEADER + "2.0.0.0/8,2077456,2077456,,0,0\n" + block + "\n")
    with pytest.raises(SourceError) as caught:
        read(blocks, locations)
    assert str(caught.value) == f"{blocks}:3: {message}"
    scan, ranges = read(blocks, locations, skip_invalid=True)
    assert (len(ranges), scan.rows, scan.skipped) == (1, 2, 1)


def test_geolite2_blocks_without_locations(tmp_path):
    blocks = write(tmp_path, "GeoLite2-Country-Blocks-IPv4.csv",
                   BLOCKS_HEADER + "1.0.0.0/24,2077456,2077456,,0,0\n")
    with pytest.raises(SourceError, match=r"needs its Locations-<lang>\.csv"):
        read_sources([str(blocks)])


def test_geolite2_two_languages_conflict(tmp_path):
    english = write(tmp_path, "en.csv", LOCATIONS_HEADER + "2921044,en,EU,Europe,DE,Germany,1\n")
    german = write(tmp_path, "de.csv", LOCATIONS_HEADER + "2921044,de,EU,Europa,DE,Deutschland,1\n")
    blocks = write(tmp_path, "B.csv", BLOCKS_HEADER + "1.0.0.0/24,2921044,2921044,,0,0\n")
    # Country-only tables agree on what we keep (the code), so they merge.
    _, ranges = read(blocks, english, german)
    assert ranges[0].location == loc("DE")
    city_header = LOCATIONS_HEADER.replace("country_name,", "country_name,city_name,")
    english = write(tmp_path, "en.csv", city_header + "1,en,EU,Europe,DE,Germany,Munich,1\n")
    german = write(tmp_path, "de.csv", city_header + "1,de,EU,Europa,DE,Deutschland,München,1\n")
    with pytest.raises(SourceError, match=rf"^{german}:2: geoname_id 1 differs from {english}:2"):
        read(write(tmp_path, "B.csv", BLOCKS_HEADER + "1.0.0.0/24,1,1,,0,0\n"), english, german)


def test_forced_geolite2_rejects_other_files():
    with pytest.raises(SourceError, match="not a GeoLite2 Blocks or Locations file"):
        read_sources([str(FIXTURES / "iplocation-city.csv")], format="geolite2-city")


@pytest.mark.parametrize("format", [None, "iplocation-city"])
def test_bad_quoting_on_the_first_line(tmp_path, format):
    path = write(tmp_path, "q.csv", '"1.0.0.0"x,1.0.0.255,AU,,,,,,,\n1.0.1.0,1.0.1.255,AU,,,,,,,\n')
    with pytest.raises(SourceError, match=rf"^{path}:"):
        read(path, format=format)
