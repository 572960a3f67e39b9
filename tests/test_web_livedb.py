"""LiveDatabase: follows atomic replacements, refuses a corrupt one, keeps serving."""
import gc
import logging
import os
import subprocess
import sys

import pytest

from support.servers import FIXTURE_CSV, compile_fixture
from visitorapi.web.livedb import LiveDatabase, open_checked
from support.wsgi import call, make_app

from conftest import ROOT


class Clock:
    now = 0.0

    def __call__(self):
        return self.now


def opener(path):
    """Open a 'database' whose file must start with GOOD (a stand-in for open_database)."""
    with open(path, "rb") as handle:
        content = handle.read()
    if not content.startswith(b"GOOD"):
        raise ValueError(f"{path}: not a database")
    return content


def replace(path, content):
    temporary = str(path) + ".tmp"
    with open(temporary, "wb") as handle:
        handle.write(content)
    os.replace(temporary, path)


def test_follows_replacements_and_refuses_corrupt_ones(tmp_path, caplog):
    path = tmp_path / "db.vdb"
    clock = Clock()
    live = LiveDatabase(path, opener, check_interval=1.0, clock=clock)
    assert live.current() is None and "does not exist" in live.error
    replace(path, b"GOOD 1")
    assert live.current() is None            # not checked again before the interval
    clock.now = 1.0
    assert live.current() == b"GOOD 1"
    replace(path, b"GOOD 2")
    clock.now = 2.0
    assert live.current() == b"GOOD 2"
    with caplog.at_level(logging.WARNING, logger="visitorapi.web.livedb"):
        replace(path, b"CORRUPT")
        clock.now = 3.0
        assert live.current() == b"GOOD 2"    # the old one keeps serving
        clock.now = 4.0
        assert live.current() == b"GOOD 2"
    refusals = [r for r in caplog.records if getattr(r, "event", None) == "db.refused"]
    assert len(refusals) == 1                 # logged once per replacement, not per check
    replace(path, b"GOOD 3")
    clock.now = 5.0
    assert live.current() == b"GOOD 3"


def test_a_deleted_file_keeps_the_loaded_database(tmp_path):
    path = tmp_path / "db.vdb"
    replace(path, b"GOOD")
    clock = Clock()
    live = LiveDatabase(path, opener, check_interval=1.0, clock=clock)
    assert live.current() == b"GOOD"
    os.unlink(path)
    clock.now = 2.0
    assert live.current() == b"GOOD"


def test_a_replacement_with_a_damaged_body_is_refused(tmp_path, caplog):
    """A bit flip inside a section passes open's constant-time checks, so the
    served opener (the one visitorapi.wsgi wires in) checks the body's checksum."""
    from visitorapi.ipdb import open_database
    from support.servers import compile_fixture

    path = compile_fixture(tmp_path)
    clock = Clock()
    live = LiveDatabase(path, open_checked, check_interval=1.0, clock=clock)
    assert live.current().lookup("192.0.2.1").city == "Berlin"
    damaged = bytearray(path.read_bytes())
    damaged[-3] ^= 0x10                       # inside the last section, not the header
    replace(path, bytes(damaged))
    open_database(path).close()               # open's constant-time checks cannot see it
    with caplog.at_level(logging.WARNING, logger="visitorapi.web.livedb"):
        clock.now = 1.0
        assert live.current().lookup("192.0.2.1").city == "Berlin"   # the old one serves
    assert "checksum" in live.error
    assert [r for r in caplog.records if getattr(r, "event", None) == "db.refused"]


def test_the_serving_path_never_imports_the_updater_or_the_compiler():
    """Serving watches the database's age; replacing it is `visitorapi update`'s job."""
    probe = ("import sys, visitorapi.wsgi; print(sorted(m for m in sys.modules if m in "
             "('ssl', 'urllib.request', 'visitorapi.ipdb.update', 'visitorapi.ipdb.compiler', "
             "'visitorapi.ipdb.sources')))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            cwd=ROOT, check=True)
    assert result.stdout.strip() == "[]"


@pytest.mark.skipif(not os.path.exists("/proc/self/maps"), reason="needs /proc/self/maps")
def test_a_replaced_file_is_unmapped_once_the_app_serves_the_new_one(tmp_path):
    """The app's caches hold no Location of an old file, which would keep it mapped.

    Each replacement brings a record the others lack (a new city), as real
    updates do; a worker that kept every replaced file mapped would grow by
    a file per update and never free their disk space.
    """
    live = tmp_path / "live.vdb"
    pid = "p" * 20
    app = make_app(tmp_path, None, {pid: ["https://shop.example"]})
    app.database = LiveDatabase(live, open_checked, check_interval=0)
    for number in range(4):
        csv_text = FIXTURE_CSV.replace("Berlin,,52.52", f"Berlin {number},,52.52")  # the city
        source = compile_fixture(tmp_path, csv_text, name=f"v{number}.vdb")
        replace(live, source.read_bytes())
        reply = call(app, query=f"pid={pid}", headers={"Origin": "https://shop.example"},
                     remote_addr="192.0.2.7")
        assert reply.status == 200 and f"Berlin {number}" in reply.json["data"]["city"]
    gc.collect()
    with open("/proc/self/maps") as maps:
        mapped = {line.split()[4] for line in maps if str(live) in line}
    assert mapped == {str(os.stat(live).st_ino)}
