"""Damaged and foreign files give a clean InvalidDatabaseError, never a crash or a hang."""
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from visitorapi.ipdb import InvalidDatabaseError, open_database, verify
from visitorapi.ipdb import format as fmt
from visitorapi.ipdb.compiler import build_database
from visitorapi.ipdb.sources import SourceRange

LOCATIONS = [("DE", "Berlin", None, "Berlin", "10115", 52.52, 13.405, "Europe/Berlin"),
             ("FR", None, None, None, None, 46.0, 2.0, None)]
PROBES = ["0.0.0.1", "10.0.3.7", "10.1.0.9", "192.0.2.1", "2001:db8::1",
          "2001:db8:0:5::1", "::ffff:10.0.3.7", "ffff::1"]


@pytest.fixture(scope="module")
def good_file(tmp_path_factory):
    rows = [SourceRange((10 << 24) + i * 97, (10 << 24) + i * 97 + 50, 4, LOCATIONS[i % 2],
                        f"a.csv:{i}") for i in range(300)]
    rows += [SourceRange((0x20010DB8 << 96) + (i << 64), (0x20010DB8 << 96) + (i << 64) + 999,
                         6, LOCATIONS[i % 2], f"b.csv:{i}") for i in range(40)]
    path = tmp_path_factory.mktemp("good") / "good.vdb"
    build_database(rows, path, attribution="test data")
    return path


def boundaries(data):
    header = fmt.read_header(data, "good")
    points = {0, 4, len(fmt.MAGIC), 12, fmt.HEADER.size - 1, fmt.HEADER.size,
              header.header_size, len(data) - 8, len(data) - 1}
    for offset, length in header.sections.values():
        points.update((offset, offset + length // 2, offset + length - 1))
    return sorted(point for point in points if point < len(data))


def test_the_good_file_verifies(good_file):
    counts = verify(good_file)
    assert counts["records"] == 2


def test_truncated_at_every_section_boundary(good_file, tmp_path):
    data = good_file.read_bytes()
    for size in boundaries(data):
        path = tmp_path / f"cut{size}.vdb"
        path.write_bytes(data[:size])
        with pytest.raises(InvalidDatabaseError, match=f"cut{size}.vdb"):
            open_database(path)


@pytest.mark.parametrize("patch, message", [
    pytest.param(lambda d: b"PK\x03\x04" + d[4:], "bad magic", id="zip-file"),
    pytest.param(lambda d: b"1.0.0.0,1.0.0.255,AU\n" * 20, "bad magic", id="csv-file"),
    pytest.param(lambda d: d[:8] + struct.pack("<H", fmt.VERSION + 1) + d[10:],
                 f"format version {fmt.VERSION + 1} is not supported", id="newer-version"),
    pytest.param(lambda d: d[:8] + struct.pack("<H", 1) + d[10:],
                 "format version 1 is not supported", id="older-version"),
    pytest.param(lambda d: d[:8] + struct.pack("<H", 0) + d[10:], "format version 0",
                 id="version-zero"),
    pytest.param(lambda d: d + bytes(8), "header says", id="grown"),
    pytest.param(lambda d: d[:200] + bytes([d[200] ^ 1]) + d[201:], "header checksum",
                 id="metadata-bit"),
    pytest.param(lambda d: b"", "empty", id="empty"),
])
def test_foreign_and_damaged_headers(good_file, tmp_path, patch, message):
    path = tmp_path / "bad.vdb"
    path.write_bytes(patch(good_file.read_bytes()))
    with pytest.raises(InvalidDatabaseError, match=message):
        open_database(path)


def use_everything(database):
    """Exercise every reading path; anything but InvalidDatabaseError is a bug."""
    for ip in PROBES:
        tuple(database.lookup(ip) or ())  # a Location reads its fields lazily
        database.lookup_with_prefix(ip)
    for count, (*_, location) in enumerate(database.ranges()):
        tuple(location)
        assert count < 100_000  # never a runaway walk
    database.metadata


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_bit_flips_are_caught(good_file, tmp_path, data):
    original = good_file.read_bytes()
    header = fmt.read_header(original, "good")
    # Aim at every section in turn, not just the large root tables.
    ranges = [(0, header.header_size)] + [
        (offset, offset + length) for offset, length in header.sections.values() if length]
    ranges.append((header.sections["ipv4"][0] + (4 << fmt.ROOT_BITS[4]),
                   sum(header.sections["ipv4"])))
    start, end = data.draw(st.sampled_from(ranges))
    position = data.draw(st.integers(start, end - 1))
    bit = data.draw(st.integers(0, 7))
    damaged = bytearray(original)
    damaged[position] ^= 1 << bit
    path = tmp_path / "flipped.vdb"
    path.write_bytes(bytes(damaged))
    try:
        database = open_database(path)
    except InvalidDatabaseError:
        return
    with database:
        with pytest.raises(InvalidDatabaseError):
            database.verify()
        try:
            use_everything(database)
        except InvalidDatabaseError:
            pass


def test_open_with_verify_refuses_a_damaged_body(good_file, tmp_path):
    data = bytearray(good_file.read_bytes())
    header = fmt.read_header(bytes(data), "good")
    data[header.sections["places"][0] + 1] ^= 0x40
    path = tmp_path / "damaged.vdb"
    path.write_bytes(bytes(data))
    open_database(path).close()  # the header alone is fine
    with pytest.raises(InvalidDatabaseError, match="checksum"):
        open_database(path, verify=True)
