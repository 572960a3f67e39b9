"""Token-bucket rate limits per project and per client, without holding any IP.

A client is known only by ``HMAC-SHA256(key, ip)``, where ``key`` is random,
lives in this process's memory only, and is replaced every
``key_lifetime`` seconds (which also forgets every client bucket). A bucket
that would be full again is equivalent to no bucket, so idle entries are
dropped by a periodic sweep: memory holds only clients seen in the last
``burst / rate`` seconds.

Limits are per gunicorn worker (buckets are in process memory): with W
workers a client can get up to W times the configured rate. That is the
price of keeping visitor-derived data out of any shared store.
"""
import hashlib
import hmac
import math
import secrets
import time

from visitorapi.config import Settings


class TokenBuckets:
    """Buckets of ``burst`` tokens refilled at ``rate`` tokens per second, by key.

    ``rate <= 0`` disables the limit (every ``take`` succeeds, nothing is stored).
    """

    def __init__(self, rate: float, burst: float):
        self.rate = float(rate)
        self.burst = max(float(burst), 1.0)
        self.entries = {}  # key -> [tokens, last_update]

    def take(self, key, now: float) -> float:
        """Take one token for ``key``; return 0.0 if allowed, else seconds until one refills."""
        if self.rate <= 0:
            return 0.0
        entry = self.entries.get(key)
        if entry is None:
            self.entries[key] = [self.burst - 1.0, now]
            return 0.0
        tokens = min(self.burst, entry[0] + (now - entry[1]) * self.rate)
        entry[1] = now
        if tokens >= 1.0:
            entry[0] = tokens - 1.0
            return 0.0
        entry[0] = tokens
        return (1.0 - tokens) / self.rate

    def sweep(self, now: float):
        """Drop every bucket that has refilled to full (it is the same as no entry)."""
        if self.rate <= 0:
            return
        full_after = self.burst / self.rate
        # NOTE: list() copies the items in one C call, so a request thread (gthread
        # workers) adding a bucket meanwhile cannot break the iteration.
        stale = [key for key, (tokens, last) in list(self.entries.items())
                 if now - last >= full_after - tokens / self.rate]
        for key in stale:
            self.entries.pop(key, None)

    def clear(self):
        self.entries.clear()


class RateLimiter:
    """Per-client and per-project limits for the API.

    Args:
        client_rate, client_burst: tokens per second and bucket size per client.
        project_rate, project_burst: the same per project (pid).
        key_lifetime: seconds before the client-key HMAC key is replaced.
        sweep_interval: seconds between sweeps of idle buckets.
        clock: monotonic seconds; injectable for tests.
    """

    def __init__(self, client_rate=Settings.client_rate, client_burst=Settings.client_burst,
                 project_rate=Settings.project_rate, project_burst=Settings.project_burst, *,
                 key_lifetime=Settings.rate_key_lifetime, sweep_interval=60.0,
                 clock=time.monotonic):
        self.clients = TokenBuckets(client_rate, client_burst)
        self.projects = TokenBuckets(project_rate, project_burst)
        self.key_lifetime = float(key_lifetime)
        self.sweep_interval = float(sweep_interval)
        self.clock = clock
        now = clock()
        self._new_key(now)
        self._next_sweep = now + self.sweep_interval

    def _new_key(self, now: float):
        """Draw a new random HMAC key (RFC 2104, SHA-256); it never leaves this process."""
        # PERF: the keyed inner/outer state is computed once per key and copied
        # per request, which is cheaper than hmac.digest() setting it up each time.
        self._mac = hmac.new(secrets.token_bytes(32), digestmod=hashlib.sha256)
        self._key_expires = now + self.key_lifetime

    def client_key(self, ip: str) -> bytes:
        """Return the HMAC under the current key that stands for ``ip`` in memory."""
        mac = self._mac.copy()
        mac.update(ip.encode("ascii", "replace"))
        return mac.digest()[:16]

    def check(self, pid: str, ip: str) -> int:
        """Charge one request to the client and the project.

        Returns:
            0 when the request may proceed, else the ``Retry-After`` value in
            whole seconds (at least 1).
        """
        now = self.clock()
        if now >= self._next_sweep:
            self._maintain(now)
        wait = 0.0
        if self.clients.rate > 0:
            wait = self.clients.take(self.client_key(ip), now)
        if not wait and self.projects.rate > 0:
            wait = self.projects.take(pid, now)
        return max(1, math.ceil(wait)) if wait else 0

    def _maintain(self, now: float):
        """Rotate the HMAC key when due and drop idle buckets."""
        if now >= self._key_expires:
            self._new_key(now)
            self.clients.clear()
        self.clients.sweep(now)
        self.projects.sweep(now)
        self._next_sweep = now + self.sweep_interval
