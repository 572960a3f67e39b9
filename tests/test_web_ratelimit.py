"""Rate limits: GCRA buckets, clients by IPv4 address or IPv6 /64, one table per node, no raw IP."""
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from visitorapi.web.ratelimit import BucketTable, RateLimiter, client_network, gcra

from support.servers import Server, base_env, compile_fixture, create_project


class Clock:
    def __init__(self, now=1000.0):
        self.now = now

    def __call__(self):
        return self.now


@pytest.mark.parametrize("ip, prefix, expected", [
    pytest.param("192.0.2.7", 64, "192.0.2.7", id="ipv4-by-address"),
    pytest.param("::ffff:192.0.2.7", 64, "192.0.2.7", id="ipv4-mapped-is-ipv4"),
    pytest.param("2001:db8:1:2:aaaa::1", 64, client_network("2001:db8:1:2::ffff", 64),
                 id="same-64"),
    pytest.param("2001:db8:1:2::1", 56, client_network("2001:db8:1:ff::1", 56), id="same-56"),
    pytest.param("not-an-ip", 64, "not-an-ip", id="text-is-kept"),
])
def test_client_network(ip, prefix, expected):
    assert client_network(ip, prefix) == expected


def test_client_network_separates_other_prefixes():
    assert client_network("2001:db8:1:2::1") != client_network("2001:db8:1:3::1")
    assert client_network("2001:db8:1:2::1", 128) != client_network("2001:db8:1:2::2", 128)
    assert client_network("192.0.2.7") != client_network("192.0.2.8")


def test_gcra_allows_burst_then_one_per_interval():
    tat, allowed = 0.0, []
    for _ in range(4):
        tat, wait = gcra(tat, 10.0, rate=2.0, burst=3)
        allowed.append(wait)
    assert allowed[:3] == [0.0, 0.0, 0.0]
    assert allowed[3] == pytest.approx(0.5)
    assert gcra(tat, 10.5, 2.0, 3)[1] == 0.0      # one request refilled in 0.5 s


def test_limiter_retry_after_is_whole_seconds_and_per_client():
    clock = Clock()
    limiter = RateLimiter(client_rate=0.5, client_burst=1, project_rate=0, clock=clock,
                          table=BucketTable(64))
    assert limiter.check("p", "192.0.2.1") == 0
    assert limiter.check("p", "192.0.2.1") == 2
    assert limiter.check("p", "192.0.2.2") == 0
    clock.now += 2
    assert limiter.check("p", "192.0.2.1") == 0


def test_ipv6_clients_are_limited_per_64():
    """Issue 13: 150 addresses of one /64 got 150 answers where one address got 100."""
    limiter = RateLimiter(client_rate=1, client_burst=100, clock=Clock(), table=BucketTable())
    results = [limiter.check("p", f"2001:db8:0:7::{i:x}") for i in range(1, 151)]
    assert results[:100] == [0] * 100 and all(results[100:])
    assert limiter.check("p", "2001:db8:0:8::1") == 0  # the next /64 is another client


def test_project_limit_applies_across_clients():
    limiter = RateLimiter(client_rate=0, project_rate=1, project_burst=2, clock=Clock(),
                          table=BucketTable(64))
    results = [limiter.check("p", f"192.0.2.{i}") for i in range(3)]
    assert results[:2] == [0, 0] and results[2] >= 1
    assert limiter.check("q", "192.0.2.1") == 0


def test_no_raw_ip_is_held_and_the_key_rotates():
    clock = Clock()
    table = BucketTable(64)
    limiter = RateLimiter(client_rate=1, client_burst=1, key_lifetime=60, clock=clock,
                          table=table)
    ip = "203.0.113.77"
    assert limiter.check("p", ip) == 0
    memory = bytes(table.memory)
    for form in (ip.encode(), bytes(map(int, ip.split(".")))):
        assert form not in memory
    assert limiter.check("p", ip) >= 1               # the bucket is there, keyed by the HMAC
    clock.now += 61
    assert limiter.check("q", "198.51.100.1") == 0   # a new key: every bucket forgotten
    assert limiter.check("p", ip) == 0


def test_a_full_table_evicts_the_bucket_closest_to_full():
    clock = Clock()
    limiter = RateLimiter(client_rate=1, client_burst=1, clock=clock, table=BucketTable(8))
    for i in range(2, 9):                             # seven clients, full again at 1001.0
        assert limiter.check("p", f"192.0.2.{i}") == 0
    clock.now += 0.5
    assert limiter.check("p", "192.0.2.1") == 0      # the eighth, full again at 1001.5
    assert limiter.check("p", "192.0.2.9") == 0      # a ninth must evict one of the eight...
    assert limiter.check("p", "192.0.2.1") >= 1      # ...not the one furthest from full
    assert limiter.check("p", "192.0.2.9") >= 1      # and the ninth's bucket is kept


def test_one_table_holds_across_processes_and_threads():
    """The master's table, inherited by forked workers: burst B allows B requests in all."""
    table = BucketTable(1024)
    limiter = RateLimiter(client_rate=0.001, client_burst=50, table=table)
    limiter.check("warm", "198.51.100.200")  # the key exists before the fork
    read, write = os.pipe()
    children = []
    for _ in range(3):
        child = os.fork()
        if child == 0:  # pragma: no cover - runs in the child
            try:
                with ThreadPoolExecutor(4) as pool:
                    allowed = sum(r == 0 for r in pool.map(
                        lambda _: limiter.check("p", "192.0.2.77"), range(40)))
                os.write(write, bytes([allowed]))
            finally:
                os._exit(0)
        children.append(child)
    for child in children:
        os.waitpid(child, 0)
    os.close(write)
    counts = list(os.read(read, 16))
    os.close(read)
    assert len(counts) == 3 and sum(counts) == 50


# -- a real server: 3 workers, one node ---------------------------------------------------------

def test_the_burst_holds_across_gunicorn_workers(tmp_path):
    env = base_env(tmp_path, VISITORAPI_TRUSTED_PROXIES="127.0.0.1/32",
                   VISITORAPI_CLIENT_RATE="0.001", VISITORAPI_CLIENT_BURST="20")
    pid = create_project(Path(env["VISITORAPI_STATE"]), ["shop.example"])
    with Server(tmp_path, "--db", compile_fixture(tmp_path), "--workers", 3, env=env) as server:
        def call(ip):
            return server.request(f"/api/?pid={pid}", {"Origin": "https://shop.example",
                                                        "X-Forwarded-For": ip})[0]

        barrier = threading.Barrier(12)

        def burst(ip):
            # NOTE: 12 clients connect at once, so all three workers accept some.
            barrier.wait(timeout=30)
            return [call(ip) for _ in range(5)]

        for ips in (["192.0.2.60"] * 12,
                    [f"2001:db8:0:9::{i:x}" for i in range(1, 13)]):  # one /64
            with ThreadPoolExecutor(12) as pool:
                statuses = [s for batch in pool.map(burst, ips) for s in batch]
            assert statuses.count(200) == 20, statuses
            assert statuses.count(429) == 40
        assert call("192.0.2.61") == 200  # another client has its own burst
