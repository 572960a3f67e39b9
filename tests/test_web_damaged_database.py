"""A damaged IP database is the operator's problem, never the visitor's.

The served file is damaged in place after the worker opened it (the mapped
bytes change under it, as with ``cp`` over a served file or a failing disk),
in the trie a lookup walks or in the place a record decodes. Then: the
visitor gets a generic 503 (never a 400 blaming their address, never a 500),
the log gets one line naming the file however many requests hit it,
``/readyz`` is 503 with the reason, and a good replacement brings both back.
"""
import json
import logging
import os
import shutil
import struct
from pathlib import Path

import pytest

from visitorapi.ipdb import format as fmt
from visitorapi.web.livedb import LiveDatabase, open_checked

from support.servers import Server, base_env, compile_fixture, create_project
from support.wsgi import call, make_app

PID = "shop"
ORIGIN = {"Origin": "https://shop.example"}
PARIS = "198.51.100.7"     # never looked up before the damage, so no cache hides it
BERLIN = "192.0.2.1"


def damage_place(path: Path):
    """Make the Paris place invalid UTF-8, in place (the same inode, as a mapping sees it)."""
    data = path.read_bytes()
    offset, length = fmt.read_header(data, path.name).section("places")
    at = data.index("Paris".encode(), offset, offset + length)
    _write_in_place(path, at, b"\xff")


def damage_trie(path: Path):
    """Point the IPv4 root entry covering PARIS at a record that does not exist, in place."""
    data = path.read_bytes()
    header = fmt.read_header(data, path.name)
    offset, _ = header.section("ipv4")
    address = int.from_bytes(bytes(map(int, PARIS.split("."))), "big")
    slot = offset + 4 * (address >> (32 - fmt.ROOT_BITS[4]))
    _write_in_place(path, slot, struct.pack("<I", fmt.LEAF + header.record_count + 5))


def _write_in_place(path, at, patch):
    with open(path, "r+b") as handle:
        handle.seek(at)
        handle.write(patch)


class Clock:
    now = 0.0

    def __call__(self):
        return self.now


def damaged_events(caplog):
    return [r for r in caplog.records if getattr(r, "event", None) == "db.damaged"]


@pytest.mark.parametrize("damage", [pytest.param(damage_place, id="record-place"),
                                    pytest.param(damage_trie, id="trie")])
def test_a_damaged_database_is_a_503_logged_once_and_not_ready(tmp_path, caplog, damage):
    served = compile_fixture(tmp_path)
    good = compile_fixture(tmp_path, name="good.vdb")
    clock = Clock()
    live = LiveDatabase(served, open_checked, check_interval=1.0, clock=clock)
    app = make_app(tmp_path, None, {PID: ["shop.example"]})
    app.database = live
    assert call(app, query=f"pid={PID}", headers=ORIGIN, remote_addr=BERLIN).status == 200

    damage(served)  # before the next identity check: the lookup itself finds it
    with caplog.at_level(logging.INFO, logger="visitorapi"):
        replies = [call(app, query=f"pid={PID}", headers=ORIGIN, remote_addr=address)
                   for address in (PARIS, PARIS, BERLIN, PARIS)]
        assert [reply.status for reply in replies] == [503] * 4
        for reply in replies:
            assert reply.json == {"status": 503, "result": "not ready: no IP database is loaded"}
            assert reply.header("Access-Control-Allow-Origin") == "https://shop.example"
            assert b"fixture.vdb" not in reply.body        # the visitor learns nothing of files
        ready = call(app, "/readyz")
        assert ready.status == 503
        assert "damaged" in ready.json["result"] and str(served) in ready.json["result"]
        clock.now = 1.0                                   # the changed file is checked again
        assert call(app, "/readyz").status == 503
    lines = damaged_events(caplog)
    assert len(lines) == 1, [r.getMessage() for r in lines]
    assert str(served) in lines[0].getMessage()
    assert lines[0].levelno == logging.ERROR
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR and r not in lines]

    incoming = tmp_path / "incoming.vdb"
    shutil.copy(good, incoming)
    os.replace(incoming, served)
    clock.now = 2.0
    assert call(app, "/readyz").status == 200
    reply = call(app, query=f"pid={PID}", headers=ORIGIN, remote_addr=PARIS)
    assert reply.status == 200 and reply.json["data"]["city"] == "Paris"


def test_a_file_rewritten_in_place_is_damaged_even_before_a_lookup_hits_it(tmp_path, caplog):
    """The identity check sees the served inode change and fail its checksum: the
    mapping being served holds those same bytes, so it is not "the old one"."""
    served = compile_fixture(tmp_path)
    clock = Clock()
    live = LiveDatabase(served, open_checked, check_interval=1.0, clock=clock)
    assert live.current() is not None
    damage_place(served)
    with caplog.at_level(logging.WARNING, logger="visitorapi"):
        clock.now = 1.0
        assert live.current() is None
        clock.now = 2.0
        assert live.current() is None
    assert "rewritten in place" in live.error and "checksum" in live.error
    assert len(damaged_events(caplog)) == 1
    assert not [r for r in caplog.records if getattr(r, "event", None) == "db.refused"]


def test_a_refused_replacement_rewritten_in_place_leaves_the_served_one(tmp_path, caplog):
    """Only the served inode counts as "rewritten in place": a refused
    replacement that is then rewritten (still bad) is just refused again."""
    served = compile_fixture(tmp_path)
    clock = Clock()
    live = LiveDatabase(served, open_checked, check_interval=1.0, clock=clock)
    database = live.current()
    incoming = tmp_path / "incoming.vdb"
    incoming.write_bytes(served.read_bytes()[:200])
    os.replace(incoming, served)
    with caplog.at_level(logging.WARNING, logger="visitorapi"):
        clock.now = 1.0
        assert live.current() is database
        with open(served, "ab") as handle:  # the refused file changes in place
            handle.write(b"more")
        clock.now = 2.0
        assert live.current() is database
    assert damaged_events(caplog) == []
    assert len([r for r in caplog.records if getattr(r, "event", None) == "db.refused"]) == 2


def test_damage_reported_for_a_database_no_longer_served_changes_nothing(tmp_path, caplog):
    """A request still holding the previous database may hit its damage after a
    good file replaced it: the good one keeps serving."""
    served = compile_fixture(tmp_path)
    clock = Clock()
    live = LiveDatabase(served, open_checked, check_interval=1.0, clock=clock)
    previous = live.current()
    incoming = compile_fixture(tmp_path, name="incoming.vdb")
    os.replace(incoming, served)
    clock.now = 1.0
    current = live.current()
    assert current is not previous
    with caplog.at_level(logging.WARNING, logger="visitorapi"):
        live.report_damage(previous, "x.vdb: the file is damaged")
    assert live.current() is current and live.error is None
    assert damaged_events(caplog) == []


# -- a real server ---------------------------------------------------------------------------

def test_a_served_file_damaged_in_place_under_gunicorn(tmp_path):
    """Two workers: every answer after the damage is 503 (never 400 or 500), each
    worker logs it once, /readyz is 503 on all of them, and a good replacement
    brings every worker back."""
    env = base_env(tmp_path, VISITORAPI_DB_CHECK_INTERVAL="0.2",
                   VISITORAPI_TRUSTED_PROXIES="127.0.0.1/32", VISITORAPI_CLIENT_RATE="0")
    pid = create_project(Path(env["VISITORAPI_STATE"]), ["shop.example"])
    served = compile_fixture(tmp_path)
    good = compile_fixture(tmp_path, name="good.vdb")
    workers = 2

    def api(address):
        status, _, body = server.request(f"/api/?pid={pid}",
                                         {**ORIGIN, "X-Forwarded-For": address})
        return status, json.loads(body)

    def paris_is_503():
        status, body = api(PARIS)
        assert (status, body["result"]) == (503, "not ready: no IP database is loaded")

    with Server(tmp_path, "--db", served, "--workers", workers, env=env) as server:
        assert server.wait_logged("db.loaded", workers) == workers  # every worker is up
        assert api(BERLIN)[0] == 200
        mark = server.log_mark()
        damage_place(served)
        # Every worker finds the damage on its first request (its lookup or its
        # identity check); wait until each has said so, asking all the while.
        assert server.wait_logged("db.damaged", workers, since=mark, poke=paris_is_503) == workers
        for _ in range(10):
            status, _, body = server.request("/readyz")
            assert status == 503 and b"damaged" in body
            paris_is_503()
        mark = server.log_mark()
        incoming = tmp_path / "incoming.vdb"
        shutil.copy(good, incoming)
        os.replace(incoming, served)
        assert server.wait_logged("db.loaded", workers, since=mark,
                                  poke=lambda: server.request("/readyz")) == workers
        for _ in range(10):
            assert server.request("/readyz")[0] == 200
            status, body = api(PARIS)
            assert status == 200 and body["data"]["city"] == "Paris"
        damaged = [line for line in server.output().splitlines() if '"db.damaged"' in line]
        assert len(damaged) == workers                      # once per worker, not per request
        assert all(str(served) in line for line in damaged)
    assert "Traceback" not in server.output()
