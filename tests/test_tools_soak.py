"""tools/soak.py, run for a few seconds with light load, so the reliability benchmark does not rot.

Every part of a long soak happens once (a HUP, a killed worker, database
swaps and the corrupt file, CLI work, dashboard logins with and without
TOTP), and the tool's own verdict must be success.
"""
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(not Path("/proc/self/task").exists(),
                                reason="the soak reads workers and memory from /proc (Linux)")


def test_a_short_soak_meets_every_target():
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "soak.py"), "--seconds", "10", "--clients", "2",
         "--rate", "10", "--swap-seconds", "1", "--cli-seconds", "1", "--flush-seconds", "0.5"],
        capture_output=True, text=True, timeout=120)
    table = result.stdout
    assert result.returncode == 0, table + result.stderr[-3000:]
    assert table.rstrip().endswith("all targets met")
    assert "MISSED" not in table
    events = re.search(r"^events: (.*)$", table, re.MULTILINE).group(1)
    for event in ("SIGHUP master", "SIGKILL worker", "corrupt database put in place"):
        assert event in events
    assert re.search(r"corrupt database refused \(log lines\) +[1-9]", table)
    assert re.search(r"password \+ TOTP login [1-9]", table)
    assert re.search(r"password login [1-9]", table)
    served = re.search(r"^  served +(\d+) +(\d+)", table, re.MULTILINE)
    assert int(served.group(1)) > 0 and int(served.group(2)) > 0
