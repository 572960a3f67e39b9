"""Rate limits per client and per project, shared by a node's workers, without holding any IP.

A client is its IPv4 address or its IPv6 /64 (``VISITORAPI_CLIENT_IPV6_PREFIX``):
ISPs hand a whole /64 to one subscriber, so keying by the full IPv6 address
would give one client 2^64 buckets (issue 13: 150 addresses of one /64 got
150 answers where one address was limited after 100). In memory a client is
only a keyed hash of it (BLAKE2b in its keyed mode, RFC 7693 section 2.9,
a MAC like HMAC at a fraction of its cost here), where the key is random,
is never written anywhere, and is replaced every ``key_lifetime`` seconds
(which also forgets every bucket).

**Per node.** The buckets live in one :class:`BucketTable`: anonymous shared
memory that the gunicorn master creates before it forks the workers
(:func:`create_shared`, from ``gunicorn_conf.on_starting``), so every worker
of a node charges the same buckets and a configured limit holds per node
whatever the worker count. With N nodes behind a load balancer a client can
get N times the limit (docs/configuration.md). A process that no master
prepared (tests, wsgiref) gets a private table, which is the same thing
for one process.

**Buckets** are GCRA (the token bucket written as one number per key, RFC
2697's single-rate idea as ATM's cell-rate algorithm states it): a key's
*theoretical arrival time* ``tat`` is when its bucket would be full again.
A request at ``now`` is allowed when ``tat - now <= (burst - 1) / rate`` and
then moves ``tat`` on by ``1 / rate``. A slot whose ``tat`` has passed is
the same as no slot, so it is free for another key: the table needs no sweep.
"""
import fcntl
import hashlib
import math
import mmap
import secrets
import struct
import tempfile
import threading
import time

from visitorapi.config import Settings
from visitorapi.web.clientip import parse_ip

# The table's byte layout (native byte order: only forks of one process read it).
#   offset 0   f64  key_expires (monotonic seconds; 0: no key yet)
#   offset 8   32B  key
#   offset 64  slots of SLOT bytes: 16-byte bucket key, f64 tat; a zero key is empty
_HEADER = struct.Struct("=d32s")
HEADER_SIZE = 64
_TAT = struct.Struct("=d")
KEY_SIZE = 16
_SLOT = struct.Struct(f"={KEY_SIZE}sd")
SLOT = _SLOT.size
WAYS = 8                # slots per set: a key lives in one of the WAYS slots of its set
SET_SIZE = WAYS * SLOT
DEFAULT_SLOTS = 65536   # 1.5 MiB; more keys than that evict the buckets closest to full
_EMPTY = bytes(KEY_SIZE)

_shared = None  # the table the gunicorn master made for its workers (create_shared)


def client_network(ip: str, ipv6_prefix: int = 64) -> str:
    """The text that names one client: an IPv4 address, or an IPv6 address's /prefix.

    An IPv4-mapped IPv6 address (``::ffff:192.0.2.7``) is its IPv4 address.
    Text that is not an address is returned as it is (it is a key, nothing more).
    """
    if ":" not in ip:
        return ip
    address = parse_ip(ip)   # NOTE: an IPv4-mapped address parses as its IPv4 client
    if address is None:
        return ip
    if address.version == 4:
        return address.text
    return f"{address.value >> (128 - ipv6_prefix):x}/{ipv6_prefix}"


def gcra(tat: float, now: float, rate: float, burst: float):
    """One request against a bucket whose theoretical arrival time is ``tat``.

    Returns:
        ``(new_tat, wait)``: ``wait`` is 0.0 when allowed, else the seconds
        until one request would be (and ``new_tat`` is ``tat`` unchanged).
    """
    tat = max(tat, now)
    wait = tat - now - (burst - 1.0) / rate
    if wait > 0:
        return tat, wait
    return tat + 1.0 / rate, 0.0


class BucketTable:
    """Fixed-size, set-associative bucket table in shared memory, behind one lock.

    Args:
        slots: capacity (rounded down to a multiple of :data:`WAYS`).

    The lock is a ``threading.Lock`` (threads of one worker) around a POSIX
    ``lockf`` on an unlinked temporary file (the worker processes); both
    the mapping and the file are inherited across ``fork``.
    """

    def __init__(self, slots: int = DEFAULT_SLOTS):
        self.sets = max(1, slots // WAYS)
        self.memory = mmap.mmap(-1, HEADER_SIZE + self.sets * SET_SIZE)  # MAP_SHARED
        self._lockfile = tempfile.TemporaryFile(prefix="visitorapi-ratelimit-")
        self._thread_lock = threading.Lock()

    def __enter__(self):
        self._thread_lock.acquire()
        try:
            fcntl.lockf(self._lockfile, fcntl.LOCK_EX)
        except BaseException:
            self._thread_lock.release()
            raise
        return self

    def __exit__(self, *exc):
        fcntl.lockf(self._lockfile, fcntl.LOCK_UN)
        self._thread_lock.release()

    # Everything below runs with the lock held.

    def key_state(self):
        """``(key_expires, key)`` from the header."""
        return _HEADER.unpack_from(self.memory, 0)

    def replace_key(self, expires: float):
        """Draw a new random key and forget every bucket."""
        self.memory[HEADER_SIZE:] = bytes(len(self.memory) - HEADER_SIZE)
        _HEADER.pack_into(self.memory, 0, expires, secrets.token_bytes(32))

    def take(self, key: bytes, now: float, rate: float, burst: float) -> float:
        """Charge one request to bucket ``key``; return 0.0 if allowed, else seconds to wait."""
        memory = self.memory
        base = HEADER_SIZE + int.from_bytes(key[:8], "little") % self.sets * SET_SIZE
        # PERF: one copy of the set and a search in C, instead of a Python loop per slot.
        slots = memory[base:base + SET_SIZE]
        found = slots.find(key)
        while found > 0 and found % SLOT:
            found = slots.find(key, found + 1)
        if found >= 0:
            offset = base + found + KEY_SIZE
            tat, wait = gcra(_TAT.unpack_from(memory, offset)[0], now, rate, burst)
            _TAT.pack_into(memory, offset, tat)
            return wait
        # Not there: take an empty slot, else the bucket closest to full (the
        # smallest tat; one whose tat has passed is full, the same as empty).
        victim = min(range(WAYS), key=lambda i: -math.inf if slots[i * SLOT:i * SLOT + KEY_SIZE]
                     == _EMPTY else _SLOT.unpack_from(slots, i * SLOT)[1]) * SLOT + base
        tat, wait = gcra(now, now, rate, burst)
        _SLOT.pack_into(memory, victim, key, tat)
        return wait


def create_shared(slots: int = DEFAULT_SLOTS) -> BucketTable:
    """Make this process's table the one every later fork shares (the gunicorn master)."""
    global _shared
    _shared = BucketTable(slots)
    return _shared


class RateLimiter:
    """Per-client and per-project limits for the API, per node.

    Args:
        client_rate, client_burst: requests per second and burst per client.
        project_rate, project_burst: the same per project (pid).
        key_lifetime: seconds before the hash key is replaced (all buckets forgotten).
        ipv6_prefix: leading bits of an IPv6 address that name one client.
        table: a :class:`BucketTable`; default the master's shared one, else a private one.
        clock: monotonic seconds (``time.monotonic`` is one clock for all processes).
    """

    def __init__(self, client_rate=Settings.client_rate, client_burst=Settings.client_burst,
                 project_rate=Settings.project_rate, project_burst=Settings.project_burst, *,
                 key_lifetime=Settings.rate_key_lifetime, ipv6_prefix=Settings.client_ipv6_prefix,
                 table=None,
                 clock=time.monotonic):
        self.client_rate, self.client_burst = float(client_rate), max(float(client_burst), 1.0)
        self.project_rate, self.project_burst = (float(project_rate),
                                                 max(float(project_burst), 1.0))
        self.key_lifetime = float(key_lifetime)
        self.ipv6_prefix = ipv6_prefix
        self.table = table or _shared or BucketTable()
        self.clock = clock

    def _key(self, now: float) -> bytes:
        """The table's current key, replaced first when due; call with the lock held."""
        expires, key = self.table.key_state()
        if now >= expires:  # also the first use: a new table's key expired at 0
            self.table.replace_key(now + self.key_lifetime)
            key = self.table.key_state()[1]
        return key

    @staticmethod
    def _bucket_key(key: bytes, kind: bytes, name: str) -> bytes:
        # NOTE: all zero (an empty slot) with odds of 2^-128.
        return hashlib.blake2b(kind + name.encode("utf-8", "replace"), digest_size=KEY_SIZE,
                               key=key).digest()

    def check(self, pid: str, ip: str) -> int:
        """Charge one request to the client and the project.

        Returns:
            0 when the request may proceed, else the ``Retry-After`` value in
            whole seconds (at least 1).
        """
        if self.client_rate <= 0 and self.project_rate <= 0:
            return 0
        network = client_network(ip, self.ipv6_prefix) if self.client_rate > 0 else None
        now = self.clock()
        wait = 0.0
        with self.table:
            key = self._key(now)
            if network is not None:
                wait = self.table.take(self._bucket_key(key, b"c", network), now,
                                       self.client_rate, self.client_burst)
            if not wait and self.project_rate > 0:
                wait = self.table.take(self._bucket_key(key, b"p", pid), now,
                                       self.project_rate, self.project_burst)
        return max(1, math.ceil(wait)) if wait else 0
