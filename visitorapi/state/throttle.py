"""Login throttling: failed attempts slow down, then lock, per account and per client.

Two counters are kept for every login attempt: one for the account name
typed (whether or not such an account exists, so the answer never reveals
it) and one for the client's network. The client is never stored: its
address is cut to its /24 (IPv4) or /48 (IPv6) network and that network is
keyed with HMAC-SHA-256 under a random key kept in the store. The key is
replaced, and every client row dropped with it, once a day
(:data:`KEY_LIFETIME`), so the store and its key together give back at
most a network, and only one that failed to log in within the last day.

An attempt is *reserved* before its password is hashed (:func:`reserve`):
the check and the count happen in one write transaction, so concurrent
attempts cannot all pass the check before any of them is counted. A
password or code that turns out right gives its reservation back
(:func:`refund`).

The wait after each failure grows exponentially (:func:`delay_after`):
the first few failures are free, then each one doubles the wait, and past
``lock_after`` failures the key is locked for ``lock_seconds``, doubling
again with each further failure up to ``max_seconds``. An attempt made
while blocked is refused without checking the password and without
counting. A successful login clears the account's counter, not the
client's (so one valid account cannot launder another's guesses).
"""
import hashlib
import hmac
import ipaddress
import secrets
import sqlite3
from dataclasses import dataclass

from visitorapi.state.db import transaction

FORGET_AFTER = 24 * 60 * 60  # a key quiet this long starts from zero again
KEY_LIFETIME = 24 * 60 * 60  # the client HMAC key (and every client row) lives this long
IPV4_PREFIX = 24  # what is kept of a client: its network, never its address
IPV6_PREFIX = 48


@dataclass(frozen=True)
class Policy:
    free: int  # failures with no wait at all
    base_seconds: float  # the wait after the first non-free failure
    lock_after: int  # from this many failures on, the key is locked
    lock_seconds: float  # the first lock's length
    max_seconds: float  # no wait is longer than this


ACCOUNT_POLICY = Policy(free=3, base_seconds=1, lock_after=10, lock_seconds=15 * 60,
                        max_seconds=24 * 60 * 60)
CLIENT_POLICY = Policy(free=10, base_seconds=1, lock_after=30, lock_seconds=15 * 60,
                       max_seconds=24 * 60 * 60)


def delay_after(failures: int, policy: Policy) -> float:
    """Seconds to wait after the ``failures``-th consecutive failure."""
    if failures <= policy.free:
        return 0.0
    if failures < policy.lock_after:
        wait = policy.base_seconds * 2 ** (failures - policy.free - 1)
    else:
        wait = policy.lock_seconds * 2 ** (failures - policy.lock_after)
    return float(min(wait, policy.max_seconds))


def account_key(email: str) -> str:
    """The counter key for a typed account name (hashed, lowercased)."""
    digest = hashlib.sha256(email.strip().lower().encode("utf-8", "replace")).hexdigest()
    return f"account:{digest}"


def client_network(ip: str) -> str:
    """The /24 (IPv4) or /48 (IPv6) network of ``ip``; an IPv4-mapped address counts as IPv4.

    Anything that is not an address (a Unix-socket peer has none) is one
    network of its own, ``"?"``.
    """
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return "?"
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    prefix = IPV4_PREFIX if address.version == 4 else IPV6_PREFIX
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


def client_key(conn: sqlite3.Connection, ip: str, now: float) -> str:
    """The counter key for a client: HMAC-SHA-256 of its network under today's throttle key."""
    return "client:" + hmac.new(_hmac_key(conn, now), client_network(ip).encode("ascii"),
                                "sha256").hexdigest()


def _hmac_key(conn: sqlite3.Connection, now: float) -> bytes:
    """Today's client key; an older one is replaced and every client row dropped with it.

    The key's birth is stored beside it as ``"<hex key> <unix time>"``.
    """
    row = conn.execute("SELECT value FROM dashboard_settings WHERE name = 'throttle_key'"
                       ).fetchone()
    key, _, born = row[0].partition(" ") if row else ("", "", "")
    if born and 0 <= now - float(born) < KEY_LIFETIME:
        return bytes.fromhex(key)
    with transaction(conn):
        row = conn.execute("SELECT value FROM dashboard_settings WHERE name = 'throttle_key'"
                           ).fetchone()
        if row is None or row[0].partition(" ")[2] == born:  # nobody rotated it meanwhile
            value = f"{secrets.token_hex(32)} {now!r}"
            conn.execute("INSERT INTO dashboard_settings (name, value) VALUES ('throttle_key', ?) "
                         "ON CONFLICT (name) DO UPDATE SET value = excluded.value", (value,))
            conn.execute("DELETE FROM login_throttle WHERE key LIKE 'client:%'")
        else:
            value = row[0]
    return bytes.fromhex(value.partition(" ")[0])


def rotate_key(conn: sqlite3.Connection, now: float) -> int:
    """Replace the client key now and drop every client row (incident response); return how many."""
    with transaction(conn):
        conn.execute("INSERT INTO dashboard_settings (name, value) VALUES ('throttle_key', ?) "
                     "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                     (f"{secrets.token_hex(32)} {now!r}",))
        return conn.execute("DELETE FROM login_throttle WHERE key LIKE 'client:%'").rowcount


def _policy(key: str) -> Policy:
    return ACCOUNT_POLICY if key.startswith("account:") else CLIENT_POLICY


def wait_seconds(conn: sqlite3.Connection, keys, now: float) -> float:
    """Seconds until an attempt under all ``keys`` may be made (0 when it may be made now)."""
    waits = [0.0]
    for key in keys:
        row = conn.execute("SELECT blocked_until, last_failure_at FROM login_throttle "
                           "WHERE key = ?", (key,)).fetchone()
        if row and now - row[1] < FORGET_AFTER:
            waits.append(max(0.0, row[0] - now))
    return max(waits)


def record_failure(conn: sqlite3.Connection, keys, now: float) -> None:
    """Count one failed attempt under each key and set its next allowed time."""
    for key in keys:
        row = conn.execute("SELECT failures, last_failure_at FROM login_throttle WHERE key = ?",
                           (key,)).fetchone()
        failures = 1 if row is None or now - row[1] >= FORGET_AFTER else row[0] + 1
        conn.execute("INSERT INTO login_throttle (key, failures, last_failure_at, blocked_until) "
                     "VALUES (?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET "
                     "failures = excluded.failures, last_failure_at = excluded.last_failure_at, "
                     "blocked_until = excluded.blocked_until",
                     (key, failures, now, now + delay_after(failures, _policy(key))))


def reserve(conn: sqlite3.Connection, keys, now: float) -> float:
    """Check and count one attempt under ``keys`` in one write transaction.

    Returns:
        0 when the attempt may go ahead (it is now counted as a failure,
        until :func:`refund` takes it back), else the seconds to wait (the
        attempt is refused and not counted).
    """
    with transaction(conn):
        wait = wait_seconds(conn, keys, now)
        if wait == 0:
            record_failure(conn, keys, now)
    return wait


def refund(conn: sqlite3.Connection, keys) -> None:
    """Take back one reserved failure under each key (the password or code was right).

    The wait is recomputed from the remaining count, measured from the
    last failure.
    """
    with transaction(conn):
        for key in keys:
            row = conn.execute("SELECT failures, last_failure_at FROM login_throttle "
                               "WHERE key = ?", (key,)).fetchone()
            if row is None:
                continue
            failures = row[0] - 1
            if failures <= 0:
                conn.execute("DELETE FROM login_throttle WHERE key = ?", (key,))
            else:
                conn.execute("UPDATE login_throttle SET failures = ?, blocked_until = ? "
                             "WHERE key = ?",
                             (failures, row[1] + delay_after(failures, _policy(key)), key))


def failures(conn: sqlite3.Connection, key: str) -> int:
    row = conn.execute("SELECT failures FROM login_throttle WHERE key = ?", (key,)).fetchone()
    return row[0] if row else 0


def record_success(conn: sqlite3.Connection, key: str) -> None:
    """Clear one key's counter (the account's, after a complete login)."""
    conn.execute("DELETE FROM login_throttle WHERE key = ?", (key,))


def prune(conn: sqlite3.Connection, now: float) -> int:
    """Forget keys that have been quiet for :data:`FORGET_AFTER`."""
    return conn.execute("DELETE FROM login_throttle WHERE last_failure_at <= ? "
                        "AND blocked_until <= ?", (now - FORGET_AFTER, now)).rowcount
