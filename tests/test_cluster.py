"""Several nodes behind nginx, sharing one store: what an operator of a cluster relies on.

PostgreSQL: a real server (initdb in a temporary folder), three nodes on
127.0.0.2-4 (two gunicorn workers each) and nginx in front with the shipped
deploy/nginx.conf. SQLite: the same tests on one node behind the same nginx
(the parts that need several nodes or a database server skip), so both
engines stay equal.

Propagation: a serving worker checks the store's revision at most every
0.25 s, and the first request after that checks before it answers. So once
the promised second has passed after the CLI committed a change, every
answer from every worker must already reflect it: the tests wait exactly
that second and then require it of every answer.
"""
import http.cookies
import json
import re
import time
from urllib.parse import urlencode

import pytest

from support import cluster as cluster_helpers
from support.cluster import VISITOR_HOST, Load, Nginx, Node, cli, node_env
from support.servers import compile_fixture

PROMISED_SECONDS = 1.0
ORIGIN = "https://shop.example"
NEW_ORIGIN = "https://new.example"
MARKER_UA = "ClusterVisitorMarker/7.3 (privacy probe)"
SPOOFED = "203.0.113.99"
PASSWORD = "violet staple orbit"


@pytest.fixture(scope="module", params=["postgresql", "sqlite"])
def cluster(request, tmp_path_factory):
    reason = cluster_helpers.missing_reason()
    if reason:
        pytest.skip(reason)
    folder = tmp_path_factory.mktemp(f"cluster-{request.param}")
    if request.param == "postgresql":
        server = request.getfixturevalue("postgres_server")
        state, hosts = server.new_database(), cluster_helpers.NODE_HOSTS
    else:
        server, state, hosts = None, folder / "state" / "state.sqlite3", cluster_helpers.NODE_HOSTS[:1]
    database = compile_fixture(folder)
    env = node_env(folder, state)
    created = cli(env, "projects", "create", "Shop", "--domain", ORIGIN)
    assert created.returncode == 0, created.stderr
    nodes = [Node(folder, host, node_env(folder / host, state), database) for host in hosts]
    nginx = None
    try:
        for node in nodes:
            node.wait_ready()
        nginx = Nginx([node.address for node in nodes])
        yield Cluster(request.param, server, state, env, nodes, nginx, created.stdout.strip())
    finally:
        if nginx is not None:
            nginx.destroy()
        for node in nodes:
            node.stop()


class Cluster:
    def __init__(self, engine, server, state, env, nodes, nginx, pid):
        self.engine, self.server, self.state, self.env = engine, server, state, env
        self.nodes, self.nginx, self.pid = nodes, nginx, pid

    def require_nodes(self, count):
        if len(self.live_nodes()) < count:
            pytest.skip(f"needs {count} nodes; SQLite is one machine's store")

    def live_nodes(self):
        return [node for node in self.nodes if node.process.poll() is None]

    def cli(self, *args, input=None):
        result = cli(self.env, *args, input=input)
        assert result.returncode == 0, result.stderr
        return result.stdout

    def new_project(self, name, *domains):
        return self.cli("projects", "create", name,
                        *(arg for d in domains for arg in ("--domain", d))).strip()

    def api(self, pid, origin, rounds=4):
        """Ask the API through the balancer ``rounds`` times per live node; return
        ``[(status, node)]`` (round robin: every node answers)."""
        answers = []
        for _ in range(rounds * len(self.live_nodes())):
            status, headers, _ = self.nginx.request(f"/api/?pid={pid}", {"Origin": origin})
            answers.append((status, headers.get(cluster_helpers.UPSTREAM_HEADER)))
        return answers

    def served(self, pid):
        """(served, denied) stored for ``pid`` today, summed over every node."""
        from visitorapi.state import db, usage
        conn = db.connect(self.state)
        try:
            [today] = usage.daily(conn, pid, days=1)
            return today.served, today.denied
        finally:
            conn.close()

    def wait_for_usage(self, pid, expected, timeout=60.0):
        """Wait until the store holds ``expected`` (served, denied) for ``pid``; fail otherwise.

        Exactness: more than expected never becomes equal, so double counting fails too.
        """
        deadline = time.monotonic() + timeout
        while (found := self.served(pid)) != expected:
            assert time.monotonic() < deadline, f"usage for {pid}: stored {found}, served {expected}"
            time.sleep(0.2)


def _addresses(answers):
    return {node for _, node in answers}


def test_a_domain_added_and_removed_through_one_node_reaches_every_node(cluster):
    pid = cluster.new_project("Propagation", ORIGIN)
    time.sleep(PROMISED_SECONDS)
    before = cluster.api(pid, NEW_ORIGIN)
    assert {status for status, _ in before} == {403}
    assert _addresses(before) == {node.address for node in cluster.live_nodes()}

    cluster.cli("projects", "domains", "add", pid, NEW_ORIGIN)
    time.sleep(PROMISED_SECONDS)
    added = cluster.api(pid, NEW_ORIGIN)
    assert {status for status, _ in added} == {200}, added
    assert _addresses(added) == {node.address for node in cluster.live_nodes()}

    cluster.cli("projects", "domains", "remove", pid, NEW_ORIGIN)
    time.sleep(PROMISED_SECONDS)
    assert {status for status, _ in cluster.api(pid, NEW_ORIGIN)} == {403}
    assert {status for status, _ in cluster.api(pid, ORIGIN)} == {200}

    cluster.cli("projects", "disable", pid)
    time.sleep(PROMISED_SECONDS)
    assert {status for status, _ in cluster.api(pid, ORIGIN)} == {403}


def test_usage_totals_across_nodes_equal_what_the_client_was_served(cluster):
    pid = cluster.new_project("Counting", ORIGIN)
    time.sleep(PROMISED_SECONDS)
    with Load(cluster.nginx, f"/api/?pid={pid}", {"Origin": ORIGIN}) as served_load:
        served_load.wait_for(300)
    with Load(cluster.nginx, f"/api/?pid={pid}", {"Origin": "https://other.example"},
              threads=2) as denied_load:
        denied_load.wait_for(40)
    assert not served_load.failures and not denied_load.failures
    assert set(served_load.statuses) == {200} and set(denied_load.statuses) == {403}
    assert set(served_load.upstreams) == {node.address for node in cluster.live_nodes()}
    cluster.wait_for_usage(pid, (served_load.statuses[200], denied_load.statuses[403]))


def test_the_visitors_address_reaches_the_answer_and_spoofing_does_not(cluster):
    status, _, body = cluster.nginx.request(f"/api/?pid={cluster.pid}", {
        "Origin": ORIGIN, "User-Agent": MARKER_UA, "X-Forwarded-For": SPOOFED,
        "Forwarded": f"for={SPOOFED}"})
    assert status == 200, body
    assert json.loads(body)["data"]["ipAddress"] == VISITOR_HOST


def _cookie(headers):
    jar = http.cookies.SimpleCookie()
    for name, value in headers:
        if name.lower() == "set-cookie":
            jar.load(value)
    return {name: morsel.value for name, morsel in jar.items()}


def test_a_dashboard_session_works_whichever_node_answers(cluster):
    cluster.cli("users", "create", "owner@example.com", "--role", "owner", "--password-stdin",
                input=PASSWORD + "\n")
    host = f"127.0.0.1:{cluster.nginx.port}"
    conn = cluster.nginx.connection()
    conn.request("GET", "/dashboard/login", headers={"Host": host})
    page = conn.getresponse()
    text = page.read().decode()
    cookies = _cookie(page.getheaders())
    csrf = re.search(r'name="csrf" value="([^"]+)"', text).group(1)
    form = urlencode({"email": "owner@example.com", "password": PASSWORD, "csrf": csrf})
    conn.request("POST", "/dashboard/login", body=form, headers={
        "Host": host, "Origin": f"https://{host}",
        "Content-Type": "application/x-www-form-urlencoded",
        "Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())})
    answer = conn.getresponse()
    body = answer.read()[:500]
    assert (answer.status, answer.getheader("Location")) == (303, "/dashboard/projects"), body
    cookies.update(_cookie(answer.getheaders()))
    conn.close()

    seen = set()
    cookie_header = "; ".join(f"{k}={v}" for k, v in cookies.items())
    for _ in range(4 * len(cluster.live_nodes())):
        status, headers, body = cluster.nginx.request("/dashboard/projects", {
            "Host": host, "Cookie": cookie_header})
        assert status == 200 and b"Shop" in body, (status, body[:300])
        seen.add(headers[cluster_helpers.UPSTREAM_HEADER])
    assert seen == {node.address for node in cluster.live_nodes()}

    # A domain added on the dashboard (whichever node takes the POST) reaches every node.
    pid = cluster.new_project("Dashboard-made", ORIGIN)
    status, _, body = cluster.nginx.request(f"/dashboard/projects/{pid}", {
        "Host": host, "Cookie": cookie_header})
    csrf = re.search(r'name="csrf" value="([^"]+)"', body.decode()).group(1)
    status, headers, _ = cluster.nginx.request(
        f"/dashboard/projects/{pid}/domains/add", method="POST",
        body=urlencode({"pattern": NEW_ORIGIN, "csrf": csrf}), headers={
            "Host": host, "Origin": f"https://{host}", "Cookie": cookie_header,
            "Content-Type": "application/x-www-form-urlencoded"})
    assert status == 303 and headers["Location"].endswith("done=domain-added")
    time.sleep(PROMISED_SECONDS)
    added = cluster.api(pid, NEW_ORIGIN)
    assert {status for status, _ in added} == {200}, added
    assert _addresses(added) == {node.address for node in cluster.live_nodes()}


def test_postgresql_restarted_under_load_fails_no_request_and_loses_no_usage(cluster):
    if cluster.engine != "postgresql":
        pytest.skip("SQLite has no server to restart")
    pid = cluster.new_project("Restart", ORIGIN)
    time.sleep(PROMISED_SECONDS)
    with Load(cluster.nginx, f"/api/?pid={pid}", {"Origin": ORIGIN}) as load:
        load.wait_for(100)
        restart_began = time.monotonic()
        cluster.server.restart()
        restarted = time.monotonic()
        load.wait_for(200)       # served while the nodes reconnect and retry their writes
    assert load.failures == [] and set(load.statuses) == {200}, (
        load.statuses, load.failures[:3], restart_began, restarted, load.unexpected[:20])
    cluster.wait_for_usage(pid, (load.statuses[200], 0))


def test_the_dashboard_answers_503_with_a_clear_page_while_postgresql_is_down(cluster):
    if cluster.engine != "postgresql":
        pytest.skip("SQLite has no server to stop")
    host = f"127.0.0.1:{cluster.nginx.port}"
    cluster.server.stop()
    try:
        status, headers, body = cluster.nginx.request("/dashboard/login", {"Host": host})
        assert status == 503 and b"state database is unavailable" in body
        assert headers.get("Retry-After") == "30"
        assert {status for status, _ in cluster.api(cluster.pid, ORIGIN)} == {200}
        node = cluster.live_nodes()[0]
        ready = node_readyz(node)
        # Degraded, not unready: a balancer keeps every node in rotation (all see the outage).
        assert ready[0] == 200 and json.loads(ready[1])["result"] == "degraded", ready
        # NOTE: which of the two a worker reports depends on whether its connection
        # saw the server shut down before this check (then this check reconnects
        # and cannot) or only now; both name the store.
        problem = json.loads(ready[1])["problem"]
        assert ("cannot connect to the state database postgresql://" in problem
                or ("state database postgresql://" in problem
                    and "terminating connection due to administrator command" in problem)), problem
        assert "/api serves the projects it holds in memory" in ready[1]
    finally:
        cluster.server.start()


def node_readyz(node):
    import http.client
    conn = http.client.HTTPConnection(node.host, node.port, timeout=10)
    try:
        conn.request("GET", "/readyz")
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def test_a_node_killed_under_load_fails_only_what_it_had_in_flight(cluster):
    cluster.require_nodes(3)
    pid = cluster.new_project("Kill", ORIGIN)
    time.sleep(PROMISED_SECONDS)
    threads = 4
    victim = cluster.live_nodes()[-1]
    with Load(cluster.nginx, f"/api/?pid={pid}", {"Origin": ORIGIN}, threads=threads) as load:
        load.wait_for(100)
        victim.kill()
        load.wait_for(300)
    # At most one request per client thread can have been on the victim when it died
    # (nginx retries those GETs on another node, so usually none fails).
    assert len(load.failures) + sum(n for s, n in load.statuses.items() if s != 200) <= threads, (
        load.statuses, load.failures)
    after = cluster.api(pid, ORIGIN)
    assert {status for status, _ in after} == {200}
    assert victim.address not in _addresses(after)


def test_nothing_about_a_visitor_lands_in_any_log(cluster):
    """Runs last: every log the cluster wrote, after all the traffic above."""
    cluster.nginx.request(f"/api/?pid={cluster.pid}", {
        "Origin": ORIGIN, "User-Agent": MARKER_UA, "X-Forwarded-For": SPOOFED})
    cluster.nginx.request("/api/?pid=unknownpid", {"User-Agent": MARKER_UA})
    logs = {"nginx": cluster.nginx.logs()}
    logs.update({f"node {node.address}": node.output() for node in cluster.nodes})
    if cluster.server is not None:
        logs["postgresql"] = cluster.server.log.read_text(errors="replace")
    assert logs["nginx"] and all(logs.values())   # each one did write something
    for name, text in logs.items():
        for secret in (VISITOR_HOST, SPOOFED, MARKER_UA, "ClusterVisitorMarker"):
            assert secret not in text, f"{secret!r} found in the {name} log"
