"""``visitorapi update``: download from a loopback HTTP server, check, compile, swap.

Every failure (HTTP 404 and 500, a truncated body, corrupt gzip, an HTML
page, a CSV the compiler rejects) must leave the database file in place
byte for byte.
"""
import gzip
import http.server
import ipaddress
import threading

import pytest

from visitorapi.ipdb import update
from visitorapi.errors import OperatorError

from conftest import run_cli

CSV = b"1.0.0.0,1.0.0.255,AU\n1.0.1.0,1.0.3.255,CN\n2001:db8::,2001:db8::ffff,DE\n"
OLD_DB = b"OLD DATABASE, still serving"


class Routes(http.server.BaseHTTPRequestHandler):
    """Serves ``routes[path] = (status, body, declared_length or None)``."""

    routes = {}

    def do_GET(self):
        status, body, declared = self.routes.get(self.path, (404, b"not found", None))
        self.send_response(status)
        self.send_header("Content-Length", str(declared if declared is not None else len(body)))
        self.end_headers()
        self.wfile.write(body)  # shorter than declared: a truncated download

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def http_server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Routes)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(10)


@pytest.fixture
def server(http_server):
    """The loopback server's base URL and its (emptied) routes."""
    Routes.routes = {}
    return http_server, Routes.routes


def fake_compile(inputs, output, format=None, attribution=None):
    """Stands in for the compiler: checks each row, writes a marked file."""
    rows = []
    for name in inputs:
        with open(name, "rb") as raw:
            data = raw.read()
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        for number, line in enumerate(data.decode().splitlines(), 1):
            fields = line.split(",")
            try:
                ipaddress.ip_address(fields[0]), ipaddress.ip_address(fields[1])
            except (ValueError, IndexError):
                raise OperatorError(f"{name}:{number}: malformed address") from None
            rows.append(line)
    with open(output, "w") as out:
        out.write("COMPILED\n" + "\n".join(rows))


def fake_verify(path):
    with open(path) as compiled:
        if compiled.readline() != "COMPILED\n":
            raise OperatorError(f"{path}: not a database")


@pytest.fixture
def db_path(tmp_path):
    path = tmp_path / "db" / "visitor.vdb"
    path.parent.mkdir()
    path.write_bytes(OLD_DB)
    return path


def do_update(source, target, *, max_bytes=1 << 20, timeout=10, **kwargs):
    return update.update(source, target, compile_files=fake_compile, verify=fake_verify,
                         max_bytes=max_bytes, timeout=timeout, **kwargs)


def leftovers(db_path):
    return sorted(p.name for p in db_path.parent.iterdir() if p != db_path)


@pytest.mark.parametrize("body", [pytest.param(CSV, id="plain"), pytest.param(gzip.compress(CSV), id="gzip")])
def test_success_swaps_the_new_database_in(server, db_path, body):
    base, routes = server
    routes["/dbip.csv"] = (200, body, None)
    inode = db_path.stat().st_ino
    facts = do_update(f"{base}/dbip.csv", db_path)
    assert db_path.read_text().startswith("COMPILED\n1.0.0.0,1.0.0.255,AU")
    assert db_path.stat().st_ino != inode  # a new file renamed over the old: servers see a new inode
    assert facts["bytes"] == db_path.stat().st_size
    assert leftovers(db_path) == []


@pytest.mark.parametrize("route, source, message", [
    pytest.param(None, "/missing.csv.gz", "HTTP 404", id="http-404"),
    pytest.param((500, b"oops", None), "/error.csv.gz", "HTTP 500", id="http-500"),
    pytest.param((200, CSV[:20], len(CSV)), "/short.csv", "truncated download", id="truncated-length"),
    pytest.param((200, gzip.compress(CSV * 50)[:-30], None), "/cut.csv.gz", "gzip data is truncated",
                 id="truncated-gzip-no-length"),
    pytest.param((200, b"\x1f\x8b" + b"\x00" * 40, None), "/bad.gz", "truncated or corrupt", id="corrupt-gzip"),
    pytest.param((200, b"<!DOCTYPE html><html>Log in</html>", None), "/login", "HTML", id="html-page"),
    pytest.param((200, b"", None), "/empty", "empty", id="empty"),
    pytest.param((200, b"PK\x03\x04rest", None), "/x.zip", "zip archive", id="zip"),
    pytest.param((200, b"just some words\nand more\n", None), "/words", "no comma", id="not-csv"),
    pytest.param((200, b"1.0.0.0,1.0.0.255,AU\nnot-an-ip,1.0.1.0,CN\n", None), "/corrupt.csv",
                 "compiling .* failed: .*:2: malformed address", id="corrupt-csv"),
    pytest.param((200, bytes(range(256)) * 20, None), "/big.gz", "4000-byte limit", id="too-big"),
])
def test_every_failure_leaves_the_old_database_serving(server, db_path, route, source, message):
    base, routes = server
    if route is not None:
        routes[source] = route
    with pytest.raises(update.UpdateError, match=message):
        do_update(f"{base}{source}", db_path, max_bytes=4000)
    assert db_path.read_bytes() == OLD_DB
    assert leftovers(db_path) == []


def test_unreachable_server_is_a_clear_error(db_path):
    import socket
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(update.UpdateError, match="cannot connect"):
        do_update(f"http://127.0.0.1:{port}/x.csv", db_path, timeout=5)
    assert db_path.read_bytes() == OLD_DB


def test_a_verify_failure_leaves_the_old_database(tmp_path, db_path):
    source = tmp_path / "in.csv"
    source.write_bytes(CSV)

    def broken_compile(inputs, output, **kwargs):
        with open(output, "w") as out:
            out.write("GARBAGE")
    with pytest.raises(update.UpdateError, match="failed verification"):
        update.update(str(source), db_path, compile_files=broken_compile, verify=fake_verify,
                      max_bytes=1 << 20, timeout=10)
    assert db_path.read_bytes() == OLD_DB and leftovers(db_path) == []


def test_local_file_and_missing_file(tmp_path, db_path):
    source = tmp_path / "in.csv.gz"
    source.write_bytes(gzip.compress(CSV))
    do_update(str(source), db_path)
    assert db_path.read_text().startswith("COMPILED")
    with pytest.raises(update.UpdateError, match="no such file"):
        do_update(str(tmp_path / "absent.csv"), db_path)


def test_query_and_userinfo_are_not_logged(server, db_path, caplog):
    base, routes = server
    routes["/dl.csv?key=SECRETKEY"] = (200, CSV, None)
    do_update(f"{base}/dl.csv?key=SECRETKEY", db_path)
    assert "SECRETKEY" not in caplog.text


@pytest.mark.parametrize("args, env, message", [
    pytest.param(["--source", "x.csv"], {"VISITORAPI_DB": ""}, "set VISITORAPI_DB", id="no-target"),
    pytest.param(["--source", "x.csv", "--db", "/nonexistent-dir/x.vdb"], {}, "does not exist",
                 id="no-folder"),
    pytest.param(["--source", "x.csv", "--db", "{tmp}/x.vdb"], {"VISITORAPI_UPDATE_MAX_BYTES": "lots"},
                 "VISITORAPI_UPDATE_MAX_BYTES", id="bad-limit"),
])
def test_cli_errors_exit_1_with_the_reason(tmp_path, args, env, message):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    result = run_cli("update", *args, env=env)
    assert result.returncode == 1
    assert message in result.stderr


# -- with the real compiler and verifier ------------------------------------------------

@pytest.fixture
def real_db(tmp_path):
    """A database compiled by the project's compiler from one row, as the "old" file."""
    compiler = pytest.importorskip("visitorapi.ipdb.compiler")
    source = tmp_path / "old.csv"
    source.write_text("9.9.9.0,9.9.9.255,CH\n")
    path = tmp_path / "db" / "visitor.vdb"
    path.parent.mkdir()
    compiler.compile_files([source], path)
    return path


def _country(path, ip):
    from visitorapi.ipdb import open_database
    database = open_database(path)
    try:
        location = database.lookup(ip)
        return location.country_code if location else None
    finally:
        database.close()


def test_real_refresh_over_http_serves_the_new_data(server, real_db):
    base, routes = server
    routes["/dbip-country-lite.csv.gz"] = (200, gzip.compress(CSV), None)
    result = run_cli("update", "--source", f"{base}/dbip-country-lite.csv.gz", "--db", real_db)
    assert result.returncode == 0, result.stderr
    assert "updated" in result.stdout
    assert _country(real_db, "1.0.1.7") == "CN" and _country(real_db, "9.9.9.9") is None
    assert leftovers(real_db) == []
    # the URL's file name says DB-IP, though the download's temporary name does not
    from visitorapi.ipdb import open_database
    from visitorapi.ipdb.licenses import DBIP
    with open_database(real_db) as database:
        assert database.metadata["attribution"] == DBIP.notice


@pytest.mark.parametrize("body, message", [
    pytest.param(b"1.0.0.0,1.0.0.255,AU\n1.0.1.0,1.0.0.9,CN\n", "compiling", id="end-before-start"),
    pytest.param(b"1.0.0.0,1.0.0.255,AU\nnot-an-address,1.0.1.9,CN\n", "compiling", id="bad-address"),
    pytest.param(gzip.compress(CSV * 200)[:-40], "truncated", id="truncated-gzip"),
])
def test_real_refresh_failures_keep_the_old_database(server, real_db, body, message):
    base, routes = server
    routes["/x.csv"] = (200, body, None)
    before = real_db.read_bytes()
    result = run_cli("update", "--source", f"{base}/x.csv", "--db", real_db)
    assert result.returncode == 1
    assert message in result.stderr
    assert real_db.read_bytes() == before and _country(real_db, "9.9.9.9") == "CH"
    assert leftovers(real_db) == []
