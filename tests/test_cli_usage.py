"""``visitorapi usage``: table with bars, JSON and CSV, argument errors."""
import csv
import io
import json
import time

import pytest

from visitorapi.cli.usage import bar
from visitorapi.state import db
from visitorapi.state.usage import UsageRecorder

from conftest import run_cli


@pytest.fixture
def counted(state_path):
    """A store with two days of counts for project p1 and one unknown-project request."""
    now = time.time()
    clock = [now - 86400]
    db.connect(state_path, create=True).close()
    recorder = UsageRecorder(state_path, clock=lambda: clock[0])
    recorder._thread = "not started"
    for _ in range(8):
        recorder.record("served", "p1", country="DE")
    recorder.record("denied", "p1", origin="https://evil.test")
    clock[0] = now
    for _ in range(4):
        recorder.record("served", "p1", country="US")
    recorder.record("rate_limited", "p1")
    recorder.record("unknown_project")
    assert recorder.flush()
    return state_path


def test_table_draws_a_bar_per_day_and_lists_origins_and_countries(counted):
    result = run_cli("usage", "p1", "--days", "3", env={"PYTHONIOENCODING": "utf-8"})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    day_rows = [line for line in lines if line[:4].isdigit()]
    assert len(day_rows) == 3
    assert day_rows[0].split()[1:] == ["0"] * 5                 # zero-filled, no bar
    assert day_rows[1].split()[1:3] == ["8", "1"]
    assert day_rows[1].split()[-1].count("█") > day_rows[2].split()[-1].count("█")
    assert "░" in day_rows[1] and "░" in day_rows[2]
    assert "https://evil.test" in result.stdout
    assert "DE 8, US 4" in result.stdout
    assert "14 requests in all" in result.stdout


def test_json_without_pid_sums_the_whole_service(counted):
    result = run_cli("usage", "--days", "2", "--format", "json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert [d["total"] for d in report["daily"]] == [9, 6]
    assert report["daily"][1]["unknown_project"] == 1
    assert report["countries"] == [{"countryCode": "DE", "requests": 8},
                                   {"countryCode": "US", "requests": 4}]
    assert report["deniedOrigins"][0]["origin"] == "https://evil.test"
    assert len(report["hourly"]) == 48


def test_csv_has_one_row_per_day(counted):
    result = run_cli("usage", "p1", "--days", "2", "--format", "csv")
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(r["served"], r["denied"], r["rate_limited"], r["total"]) for r in rows] == [
        ("8", "1", "0", "9"), ("4", "0", "1", "5")]


@pytest.mark.parametrize("args, message", [
    pytest.param(["--days", "0"], "between 1 and", id="zero-days"),
    pytest.param(["--days", "ten"], "whole number", id="not-a-number"),
    pytest.param(["--format", "xml"], "invalid choice", id="bad-format"),
])
def test_bad_arguments_are_usage_errors(state_path, args, message):
    result = run_cli("usage", *args)
    assert result.returncode == 2
    assert message in result.stderr


@pytest.mark.parametrize("served, other, peak, width, expected", [
    pytest.param(0, 0, 0, 10, "", id="nothing"),
    pytest.param(10, 0, 10, 10, "##########", id="peak-fills"),
    pytest.param(5, 5, 10, 10, "#####.....", id="half-and-half"),
    pytest.param(1, 0, 1000, 10, "#", id="tiny-still-visible"),
    pytest.param(0, 1, 1000, 10, ".", id="tiny-refused-still-visible"),
    pytest.param(999, 1, 1000, 10, "#########.", id="one-refused-shows-within-width"),
    pytest.param(996, 0, 1000, 10, "##########", id="rounding"),
])
def test_bar(served, other, peak, width, expected):
    assert bar(served, other, peak, width, unicode=False) == expected
