"""Token buckets: limits, refill, expiry, key rotation, and no raw IP held."""
import pytest

from visitorapi.web.ratelimit import RateLimiter, TokenBuckets


class Clock:
    def __init__(self, now=1000.0):
        self.now = now

    def __call__(self):
        return self.now


def test_bucket_allows_burst_then_waits_for_refill():
    buckets = TokenBuckets(rate=2.0, burst=3)
    assert [buckets.take("k", 0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("k", 0.0) == pytest.approx(0.5)
    assert buckets.take("k", 0.5) == 0.0       # one token refilled in 0.5 s
    assert buckets.take("k", 0.5) == pytest.approx(0.5)


def test_disabled_bucket_stores_nothing():
    buckets = TokenBuckets(rate=0, burst=1)
    assert all(buckets.take(i, 0.0) == 0.0 for i in range(100))
    assert buckets.entries == {}


def test_sweep_drops_only_buckets_that_refilled():
    buckets = TokenBuckets(rate=1.0, burst=10)
    buckets.take("old", 0.0)
    buckets.take("new", 9.5)
    buckets.sweep(10.0)
    assert set(buckets.entries) == {"new"}


def test_limiter_retry_after_is_whole_seconds_and_per_client():
    clock = Clock()
    limiter = RateLimiter(client_rate=0.5, client_burst=1, project_rate=0, clock=clock)
    assert limiter.check("p", "192.0.2.1") == 0
    assert limiter.check("p", "192.0.2.1") == 2
    assert limiter.check("p", "192.0.2.2") == 0
    clock.now += 2
    assert limiter.check("p", "192.0.2.1") == 0


def test_project_limit_applies_across_clients():
    limiter = RateLimiter(client_rate=0, project_rate=1, project_burst=2, clock=Clock())
    results = [limiter.check("p", f"192.0.2.{i}") for i in range(3)]
    assert results[:2] == [0, 0] and results[2] >= 1
    assert limiter.check("q", "192.0.2.1") == 0


def test_no_raw_ip_is_held_and_the_key_rotates():
    clock = Clock()
    limiter = RateLimiter(client_rate=1, client_burst=5, key_lifetime=60, sweep_interval=10,
                          clock=clock)
    limiter.check("p", "203.0.113.77")
    (key,) = limiter.clients.entries
    assert isinstance(key, bytes) and b"203.0.113.77" not in key
    assert key == limiter.client_key("203.0.113.77")
    clock.now += 61
    limiter.check("p", "198.51.100.1")             # maintenance: rotate, forget old buckets
    assert limiter.client_key("203.0.113.77") != key
    assert key not in limiter.clients.entries


def test_idle_entries_expire():
    clock = Clock()
    limiter = RateLimiter(client_rate=10, client_burst=10, sweep_interval=5, clock=clock)
    for i in range(50):
        limiter.check("p", f"192.0.2.{i}")
    assert len(limiter.clients.entries) == 50
    clock.now += 6
    limiter.check("p", "198.51.100.1")
    assert len(limiter.clients.entries) == 1
