"""Requests per second through nginx with 1, 2 and 3 nodes on PostgreSQL, and 1 node on SQLite.

    python3 tools/bench_cluster.py [--seconds 10] [--clients 4] [--workers 1]

Everything is real and local: a throwaway PostgreSQL cluster (initdb in a
temporary folder, pg_stat_statements loaded, fsync off), nodes running
``visitorapi serve`` on 127.0.0.2-4 with the shipped gunicorn configuration,
nginx with the shipped deploy/nginx.conf (TLS, keep-alive), and client
processes sending ``GET /api/?pid=...`` with an authorized Origin over
keep-alive connections. The same machine runs all of it, so the figures
show ratios and where the CPU goes, not what separate machines would do.

Per configuration it prints: requests per second (all 200), the CPU
seconds per 1,000 requests of each component (client, nginx, the nodes,
PostgreSQL), and the database's load per 1,000 requests: statements run
and rows written (from pg_stat_statements, over the measured window, with
the shipped usage flush interval and project check interval).
"""
import argparse
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from support import cluster as cluster_helpers  # noqa: E402
from support import postgres as pg_helpers  # noqa: E402
from support.cluster import Nginx, Node, cli, node_env  # noqa: E402
from support.servers import compile_fixture  # noqa: E402

ORIGIN = "https://shop.example"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _client(port, cafile, path, seconds, results):
    """One client process: requests on one keep-alive connection until time is up."""
    import http.client
    import ssl
    context = ssl.create_default_context(cafile=cafile)
    context.check_hostname = False
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=context,
                                       source_address=(cluster_helpers.VISITOR_HOST, 0))
    ok = failed = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            conn.request("GET", path, headers={"Origin": ORIGIN})
            response = conn.getresponse()
            response.read()
            ok += response.status == 200
            failed += response.status != 200
        except OSError:
            failed += 1
            conn.close()
    conn.close()
    results.put((ok, failed))


def _cpu_seconds(pids) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])      # utime + stime
    return total / CLOCK_TICKS


def _processes_where(field, value):
    """Pids whose /proc/PID/stat field (after the command name) equals ``value``.

    Field 1 is the parent pid, field 2 the process group.
    """
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[field]) == value:
                found.append(int(entry.name))
    return found


def _group(pgid):
    """Every process in a process group (a node, nginx)."""
    return _processes_where(2, pgid)


def _postgres_pids(server):
    leader = int((server.data / "postmaster.pid").read_text().split()[0])
    return [leader] + _processes_where(1, leader)


def measure(label, nodes, nginx, pid, seconds, clients, server=None, url=None):
    path = f"/api/?pid={pid}"
    # Warm up: every worker has loaded the projects and opened its connections.
    warm = multiprocessing.Queue()
    for _ in range(clients):
        multiprocessing.Process(target=_client, args=(nginx.port, str(nginx.cert), path, 2, warm)).start()
    for _ in range(clients):
        warm.get()
    groups = {"nginx": lambda: _group(nginx.process.pid),
              "nodes": lambda: [p for node in nodes for p in _group(node.process.pid)]}
    if server is not None:
        groups["postgresql"] = lambda: _postgres_pids(server)
        server.query(url, "SELECT pg_stat_statements_reset()")
    before = {name: _cpu_seconds(pids()) for name, pids in groups.items()}
    results = multiprocessing.Queue()
    workers = [multiprocessing.Process(target=_client,
                                       args=(nginx.port, str(nginx.cert), path, seconds, results))
               for _ in range(clients)]
    started = time.monotonic()
    children = os.times()
    for process in workers:
        process.start()
    ok = failed = 0
    for _ in workers:
        a, b = results.get()
        ok, failed = ok + a, failed + b
    elapsed = time.monotonic() - started
    for process in workers:
        process.join()
    after = {name: _cpu_seconds(pids()) for name, pids in groups.items()}
    done = os.times()
    before["clients"] = children.children_user + children.children_system
    after["clients"] = done.children_user + done.children_system
    groups["clients"] = None
    row = {"label": label, "rps": ok / elapsed, "ok": ok, "failed": failed,
           "cpu": {name: (after[name] - before[name]) * 1000 / max(ok, 1) for name in groups}}
    if server is not None:
        [(statements, rows)] = server.query(url, """
            SELECT coalesce(sum(calls), 0), coalesce(sum(rows) FILTER (
                WHERE query ~* '^\\s*(insert|update|delete)'), 0)
            FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
            WHERE d.datname = current_database() AND query !~* 'pg_stat_statements'""")
        row["statements"] = float(statements) * 1000 / max(ok, 1)
        row["rows_written"] = float(rows) * 1000 / max(ok, 1)
    return row


def run_configuration(label, folder, state, database, hosts, args, server=None):
    env = node_env(folder, state, flush_seconds=5.0)
    created = cli(env, "projects", "create", label, "--domain", ORIGIN)
    if created.returncode:
        raise SystemExit(created.stderr)
    pid = created.stdout.strip()
    nodes = [Node(folder, host, node_env(folder / host, state, flush_seconds=5.0), database,
                  workers=args.workers) for host in hosts]
    nginx = None
    try:
        for node in nodes:
            node.wait_ready()
        nginx = Nginx([node.address for node in nodes])
        return measure(label, nodes, nginx, pid, args.seconds, args.clients, server,
                       state if server is not None else None)
    finally:
        if nginx is not None:
            nginx.destroy()
        for node in nodes:
            node.stop()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per setup")
    parser.add_argument("--clients", type=int, default=4, help="client processes")
    parser.add_argument("--workers", type=int, default=1, help="gunicorn workers per node")
    args = parser.parse_args(argv)
    reason = pg_helpers.missing_reason() or cluster_helpers.missing_reason()
    if reason:
        print(f"bench_cluster: cannot run: {reason}", file=sys.stderr)
        return 1
    folder = Path(tempfile.mkdtemp(prefix="visitorapi-bench-"))
    database = compile_fixture(folder)
    server = pg_helpers.PostgresServer({"shared_preload_libraries": "'pg_stat_statements'",
                                        "pg_stat_statements.track": "'all'"})
    rows = []
    try:
        url = server.new_database()
        server.query(url, "CREATE EXTENSION pg_stat_statements")
        for count in (1, 2, 3):
            rows.append(run_configuration(f"PostgreSQL, {count} node{'s' * (count > 1)}",
                                          folder / f"pg{count}", url, database,
                                          cluster_helpers.NODE_HOSTS[:count], args, server))
        rows.append(run_configuration("SQLite, 1 node", folder / "sqlite",
                                      folder / "sqlite" / "state.sqlite3", database,
                                      cluster_helpers.NODE_HOSTS[:1], args))
    finally:
        server.destroy()
    base = rows[0]["rps"]
    print(f"# {time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPUs, {args.clients} clients, "
          f"{args.workers} worker(s) per node, {args.seconds:g} s per setup")
    print("| setup | requests/s | vs 1 node | failed | CPU ms per 1,000 requests "
          "(clients / nginx / nodes / PostgreSQL) | DB statements per 1,000 | DB rows written per 1,000 |")
    print("|---|---:|---:|---:|---|---:|---:|")
    for row in rows:
        cpu = row["cpu"]
        parts = " / ".join(f"{cpu[name] * 1000:.0f}" for name in ("clients", "nginx", "nodes", "postgresql")
                           if name in cpu)
        print(f"| {row['label']} | {row['rps']:.0f} | {row['rps'] / base:.2f} | {row['failed']} | "
              f"{parts} | {row.get('statements', float('nan')):.1f} | "
              f"{row.get('rows_written', float('nan')):.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
