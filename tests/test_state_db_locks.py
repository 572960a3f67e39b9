"""The store keeps its locks: nothing in visitorapi opens a store file outside SQLite.

POSIX record locks belong to a process and a file, so closing *any*
descriptor of the file drops every lock the process holds on it. A process
that did so while holding connections let the next process to close a
connection believe it was the last one: it checkpointed and deleted ``-wal``
and ``-shm`` under the live connections, and the store was corrupted
(issue 10). These tests reproduce that with real processes: two plain
processes, then a real gunicorn server with CLI commands run between its
requests.
"""
import http.client
import json
import re
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from urllib.parse import urlencode

from conftest import ROOT, run_cli
from support.servers import Server, base_env, compile_fixture
from visitorapi.state import db

# Process A: two connections from visitorapi's connect(), writing through both on command.
HOLDER = textwrap.dedent("""
    import sys
    from visitorapi.state import db, projects
    path = sys.argv[1]
    first = db.connect(path)
    projects.create(first, "before", ["before.test"], actor="cli:holder")
    second = db.connect(path)          # a second connect() while the first is open
    print("ready", flush=True)
    for line in sys.stdin:
        if line.strip() == "write":
            for index, conn in enumerate((first, second, first, second, first)):
                projects.create(conn, f"after {index}", [f"after{index}.test"], actor="cli:holder")
            print("written", flush=True)
        elif line.strip() == "exit":
            break
    first.close()
    second.close()
""")


def _side_files(path: Path) -> dict:
    return {suffix: Path(f"{path}{suffix}").exists() for suffix in ("-wal", "-shm")}


def _integrity(path: Path) -> list:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return [row[0] for row in conn.execute("PRAGMA integrity_check")]
    finally:
        conn.close()


def test_a_second_connect_keeps_the_first_connections_locks(tmp_path):
    path = tmp_path / "state.sqlite3"
    db.connect(path, create=True).close()
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)], cwd=ROOT, text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline().strip() == "ready"
        assert _side_files(path) == {"-wal": True, "-shm": True}
        other = db.connect(path)       # process B: another command opens and closes the store
        assert other.execute("SELECT count(*) FROM projects").fetchone() == (1,)
        other.close()
        # A still holds two connections, so B was not the last: it must leave both files.
        assert _side_files(path) == {"-wal": True, "-shm": True}
        holder.stdin.write("write\n")
        holder.stdin.flush()
        assert holder.stdout.readline().strip() == "written"
        holder.stdin.write("exit\n")
        holder.stdin.flush()
        assert holder.wait(60) == 0
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(30)
    assert _integrity(path) == ["ok"]
    conn = db.connect(path)
    names = sorted(row[0] for row in conn.execute("SELECT name FROM projects"))
    conn.close()
    assert names == ["after 0", "after 1", "after 2", "after 3", "after 4", "before"]


# -- a real server -----------------------------------------------------------------------------

PASSWORD = "violet staple orbit"


class Dashboard:
    """A logged-in operator's browser against the real server (cookie, Origin, CSRF token)."""

    def __init__(self, server):
        self.server = server
        self.cookie = ""

    def request(self, method, path, fields=None):
        headers = {"Cookie": self.cookie} if self.cookie else {}
        body = None
        if fields is not None:
            body = urlencode(fields)
            headers.update({"Content-Type": "application/x-www-form-urlencoded",
                            "Origin": f"http://127.0.0.1:{self.server.port}"})
        connection = self.server.connection()
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            text = response.read().decode()
        finally:
            connection.close()
        cookie = response.getheader("Set-Cookie")
        if cookie:
            self.cookie = cookie.split(";", 1)[0]
        return response.status, text

    def log_in(self, email, password):
        status, page = self.request("GET", "/dashboard/login")
        assert status == 200, page
        csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
        return self.request("POST", "/dashboard/login",
                            {"csrf": csrf, "email": email, "password": password})


def _api(server, pid, origin) -> int:
    return server.request(f"/api/?pid={pid}", {"Origin": origin})[0]


def test_cli_commands_between_requests_leave_the_live_store_whole(tmp_path):
    database = compile_fixture(tmp_path)
    env = base_env(tmp_path, VISITORAPI_USAGE_FLUSH_SECONDS="0.1",
                   VISITORAPI_CLIENT_RATE="0", VISITORAPI_PROJECT_RATE="0")
    state = Path(env["VISITORAPI_STATE"])

    def cli(*args, stdin=None):
        result = run_cli(*args, input=stdin, env=env)
        assert result.returncode == 0, result.stderr
        # The server's workers hold connections, so a command's exit must leave both files.
        assert _side_files(state) == {"-wal": True, "-shm": True}, f"after {args}"
        return result.stdout

    statuses = []

    def traffic(dashboard, pids):
        for pid, origin in pids.items():
            for _ in range(4):
                statuses.append(_api(server, pid, origin))
        statuses.append(dashboard.request("GET", "/dashboard/projects")[0])
        # a failed login writes the login throttle (its own browser: a new session)
        statuses.append(Dashboard(server).log_in("nobody@example.com", "wrong password 123")[0])
        statuses.append(server.request("/readyz")[0])

    with Server(tmp_path, "--db", database, "--workers", 2, "--no-demo", env=env) as server:
        assert server.request("/readyz")[0] == 200   # a worker now holds a connection
        cli("users", "create", "owner@example.com", "--password-stdin", stdin=PASSWORD + "\n")
        dashboard = Dashboard(server)
        assert dashboard.log_in("owner@example.com", PASSWORD)[0] == 303
        pids = {}
        for round_ in range(4):
            origin = f"https://shop{round_}.example"
            pid = cli("projects", "create", f"shop {round_}", "--domain", origin).strip()
            pids[pid] = origin
            traffic(dashboard, pids)
            cli("projects", "domains", "add", pid, f"https://www.shop{round_}.example")
            traffic(dashboard, pids)
            listed = json.loads(cli("projects", "list", "--format", "json"))
            assert {p["pid"] for p in listed} == set(pids)
            traffic(dashboard, pids)
            cli("users", "create", f"member{round_}@example.com", "--password-stdin",
                stdin=PASSWORD + "\n")
            traffic(dashboard, pids)
        status, page = dashboard.request("GET", "/dashboard/projects")
        assert status == 200 and all(f"shop {n}" in page for n in range(4))
        assert server.request("/readyz")[0] == 200
    assert not [s for s in statuses if s >= 500], statuses
    assert statuses.count(200) >= 4 * 4 * 4      # the API answered the authorized origins
    assert server.process.returncode == 0
    assert _integrity(state) == ["ok"]
    conn = db.connect(state)
    assert {row[0] for row in conn.execute("SELECT pid FROM projects")} == set(pids)
    assert conn.execute("SELECT count(*) FROM accounts").fetchone() == (5,)
    conn.close()
