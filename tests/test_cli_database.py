"""``visitorapi compile|lookup|info|export|verify`` as an operator runs them, and atomic writes."""
import io
import json
import re
import sys

import pytest

from visitorapi.ipdb import open_database
from visitorapi.atomic import write_atomically
from visitorapi.ipdb.compiler import build_database
from visitorapi.ipdb.sources import SourceRange

from conftest import run_cli

CITY_CSV = """\
1.0.0.0,1.0.0.255,AU,Queensland,,South Brisbane,,-27.4767,153.017,
1.0.1.0,1.0.3.255,CN,Fujian,,Wenquan,,26.0998,119.297,
5.10.0.0,5.10.0.3,GR,Central Macedonia,,"Ampelokipoi, Thessaloniki",563 00,40.6511,22.9,Europe/Athens
2001:db8::,2001:db8::ffff,JP,東京都,,Shinjuku,160-0022,35.6938,139.7034,Asia/Tokyo
"""


@pytest.fixture
def city_csv(tmp_path):
    path = tmp_path / "city.csv"
    path.write_text(CITY_CSV, encoding="utf-8")
    return path


@pytest.fixture
def compiled(tmp_path, city_csv):
    out = tmp_path / "city.vdb"
    result = run_cli("compile", city_csv, "-o", out, "--attribution", "by DB-IP")
    assert result.returncode == 0, result.stderr
    return out


def test_compile_prints_one_summary_line(tmp_path, city_csv):
    result = run_cli("compile", city_csv, "-o", tmp_path / "x.vdb")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("compiled 4 rows (0 skipped) from 1 file(s)")
    assert "3 IPv4 + 1 IPv6 ranges, 4 records" in lines[0]
    assert result.stderr == ""  # no progress display without a terminal


def test_lookup_prints_one_json_object_per_ip(compiled):
    result = run_cli("lookup", "--db", compiled, "5.10.0.2", "::ffff:1.0.0.9", "9.9.9.9",
                     "2001:db8::1")
    assert result.returncode == 0, result.stderr
    objects = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["ip"] for o in objects] == ["5.10.0.2", "::ffff:1.0.0.9", "9.9.9.9", "2001:db8::1"]
    assert objects[0]["location"] == {
        "country_code": "GR", "region": "Central Macedonia", "district": None,
        "city": "Ampelokipoi, Thessaloniki", "postcode": "563 00", "latitude": 40.6511,
        "longitude": 22.9, "timezone": "Europe/Athens"}
    assert objects[0]["prefix_len"] == 30
    assert objects[1]["location"]["city"] == "South Brisbane"
    assert objects[2]["location"] is None
    assert objects[3]["location"]["region"] == "東京都"


def test_lookup_of_a_malformed_ip_reports_it_and_exits_1(compiled):
    result = run_cli("lookup", "--db", compiled, "127.1", "1.0.0.1")
    assert result.returncode == 1
    first, second = (json.loads(line) for line in result.stdout.splitlines())
    assert first == {"ip": "127.1", "error": "'127.1' is not a valid IPv4 or IPv6 address"}
    assert second["location"]["country_code"] == "AU"


def test_lookup_in_a_damaged_file_blames_the_file_not_the_address(compiled):
    """A record whose place is not UTF-8: one error naming the file, exit 1, no
    per-address "error" answer (the address was fine)."""
    data = bytearray(compiled.read_bytes())
    data[data.index("Ampelokipoi".encode())] = 0xFF
    compiled.write_bytes(bytes(data))  # the checksum is only checked by verify
    result = run_cli("lookup", "--db", compiled, "5.10.0.2")
    assert result.returncode == 1
    assert result.stdout == ""
    assert re.fullmatch(r"visitorapi lookup: error: \S*city\.vdb: the file is damaged .*\n",
                        result.stderr), result.stderr


def test_info_prints_the_header(compiled):
    result = run_cli("info", compiled)
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["attribution"] == "by DB-IP"
    assert info["rows"] == 4 and info["records"] == 4
    assert info["sources"] == [{"name": "city.csv", "dialect": "iplocation-city"}]
    assert info["format_version"] == 4
    assert set(info["sections"]) == {"ipv4", "ipv6", "records", "places"}


def test_export_writes_the_city_csv_back_with_derived_timezones(compiled, tmp_path):
    # AU and CN have several clocks: the zone nearest the coordinates; a zone
    # the source gives (GR, JP) is kept.
    derived = (CITY_CSV.replace("153.017,\n", "153.017,Australia/Brisbane\n")
               .replace("119.297,\n", "119.297,Asia/Shanghai\n"))
    result = run_cli("export", compiled)
    assert result.returncode == 0, result.stderr
    assert result.stdout == derived
    out = tmp_path / "out.csv"
    assert run_cli("export", compiled, "-o", out).returncode == 0
    assert out.read_text(encoding="utf-8") == derived
    assert json.loads(run_cli("info", compiled).stdout)["timezones_derived"] == 2


def test_compile_without_derived_timezones_round_trips_the_source(tmp_path, city_csv):
    out = tmp_path / "plain.vdb"
    result = run_cli("compile", city_csv, "-o", out, "--no-derive-timezones")
    assert result.returncode == 0, result.stderr
    assert run_cli("export", out).stdout == CITY_CSV
    assert "timezones_derived" not in json.loads(run_cli("info", out).stdout)


def test_compile_export_compile_is_the_identity(compiled, tmp_path):
    exported = tmp_path / "exported.csv"
    assert run_cli("export", compiled, "-o", exported).returncode == 0
    again = tmp_path / "again.vdb"
    assert run_cli("compile", exported, "-o", again, "-q").returncode == 0
    size = int.from_bytes(compiled.read_bytes()[24:28], "little")
    size_again = int.from_bytes(again.read_bytes()[24:28], "little")
    assert compiled.read_bytes()[size:] == again.read_bytes()[size_again:]


def test_verify_ok_and_damaged(compiled, tmp_path):
    result = run_cli("verify", compiled)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{compiled}: ok")
    data = bytearray(compiled.read_bytes())
    data[-20] ^= 0x01
    damaged = tmp_path / "damaged.vdb"
    damaged.write_bytes(bytes(data))
    result = run_cli("verify", damaged)
    assert result.returncode == 1
    assert "checksum mismatch" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("content, message", [
    pytest.param("1.0.0.9,1.0.0.1,AU,,,,,,,\n", "city.csv:1", id="start-after-end"),
    pytest.param("1.0.0.0,1.0.0.9,AU,,,,,,,\n1.0.0.5,1.0.0.20,FR,,,,,,,\n",
                 r"city.csv:2: range 1.0.0.5-1.0.0.20 overlaps range 1.0.0.0-1.0.0.9 from \S*city.csv:1",
                 id="overlap"),
])
def test_bad_input_names_file_and_line_and_keeps_the_old_file(tmp_path, compiled, content,
                                                              message):
    bad = tmp_path / "city.csv"
    bad.write_text(content, encoding="utf-8")
    before = compiled.read_bytes()
    result = run_cli("compile", bad, "-o", compiled)
    assert result.returncode == 1
    assert re.search(message, result.stderr) and "Traceback" not in result.stderr
    assert compiled.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["city.csv", "city.vdb"]


@pytest.mark.parametrize("content", [
    pytest.param(bytes(range(256)) * 12, id="random-bytes"),
    pytest.param(b"\x7fELF\x02\x01\x01" + bytes(200) + b",\n", id="executable"),
    pytest.param("1.0.0.0,1.0.0.9,AU\n".encode("utf-16"), id="utf-16-csv"),
])
def test_binary_input_is_refused_in_words(tmp_path, content):
    binary = tmp_path / "data.bin"
    binary.write_bytes(content)
    result = run_cli("compile", binary, "-o", tmp_path / "out.vdb")
    assert result.returncode == 1
    assert result.stderr == (f"visitorapi compile: error: {binary}: is not a CSV text file "
                             "(its first bytes are binary data or not UTF-8); give the CSV file "
                             "itself, plain or gzip-compressed\n")


def test_a_missing_input_is_named_plainly(tmp_path):
    result = run_cli("compile", "nope.csv", "-o", "out.vdb", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr == "visitorapi compile: error: nope.csv: no such file\n"


def test_on_overlap_last_and_skip_invalid(tmp_path):
    source = tmp_path / "in.csv"
    source.write_text("1.0.0.0,1.0.0.9,AU,,,,,,,\n1.0.0.5,1.0.0.20,FR,,,,,,,\n"
                      "1.0.0.99,nonsense,FR,,,,,,,\n", encoding="utf-8")
    out = tmp_path / "out.vdb"
    result = run_cli("compile", source, "-o", out, "--on-overlap", "last", "--skip-invalid")
    assert result.returncode == 0, result.stderr
    assert "(1 skipped)" in result.stdout
    with open_database(out) as database:
        assert database.lookup("1.0.0.4").country_code == "AU"
        assert database.lookup("1.0.0.5").country_code == "FR"


def test_unknown_format_is_a_usage_error(tmp_path, city_csv):
    result = run_cli("compile", city_csv, "-o", tmp_path / "x.vdb", "--format", "nope")
    assert result.returncode == 2
    assert "iplocation-city" in result.stderr


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "db.vdb"
    target.write_bytes(b"old contents")

    def chunks():
        yield b"partial"
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomically(target, chunks())
    assert target.read_bytes() == b"old contents"
    assert [p.name for p in tmp_path.iterdir()] == ["db.vdb"]


def test_an_interrupted_compile_leaves_the_old_file(tmp_path):
    target = tmp_path / "db.vdb"
    build_database([SourceRange(0, 9, 4, ("AU",) + (None,) * 7, "a:1")], target)
    before = target.read_bytes()

    def rows():
        yield SourceRange(0, 9, 4, ("FR",) + (None,) * 7, "a:1")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build_database(rows(), target)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["db.vdb"]


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_on_a_terminal_and_quiet(tmp_path, city_csv, monkeypatch, capsys):
    from visitorapi.cli import main

    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(["compile", str(city_csv), "-o", str(tmp_path / "a.vdb")]) == 0
    shown = terminal.getvalue()
    for phase in ("sorting IPv4", "building IPv4 trie", "building IPv6 trie", "writing"):
        assert f"\r\x1b[K{phase}: 4 rows, " in shown
    assert "rows/s" in shown and shown.endswith("\r\x1b[K")  # the line is cleared at the end
    assert capsys.readouterr().out.startswith("compiled 4 rows")

    quiet = _Terminal()
    monkeypatch.setattr(sys, "stderr", quiet)
    assert main(["compile", str(city_csv), "-o", str(tmp_path / "b.vdb"), "--quiet"]) == 0
    assert quiet.getvalue() == ""
    assert capsys.readouterr().out.startswith("compiled 4 rows")
