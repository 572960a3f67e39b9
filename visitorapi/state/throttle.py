"""Login throttling: failed attempts slow down, then lock, per account and per client.

Two counters are kept for every login attempt: one for the account name
typed (whether or not such an account exists, so the answer never reveals
it) and one for the client. A client is keyed by an HMAC-SHA-256 of its IP
under a random key kept in the store, never by the IP itself, and its row
is forgotten after a quiet day.

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
import secrets
from dataclasses import dataclass

from visitorapi.state.db import Connection

FORGET_AFTER = 24 * 60 * 60  # a key quiet this long starts from zero again


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


def client_key(conn: Connection, ip: str) -> str:
    """The counter key for a client: HMAC-SHA-256 of its IP under the store's throttle key."""
    return "client:" + hmac.new(_hmac_key(conn), ip.encode("ascii", "replace"),
                                "sha256").hexdigest()


def _hmac_key(conn: Connection) -> bytes:
    conn.execute("INSERT INTO dashboard_settings (name, value) VALUES ('throttle_key', ?) "
                 "ON CONFLICT DO NOTHING", (secrets.token_hex(32),))
    row = conn.execute("SELECT value FROM dashboard_settings WHERE name = 'throttle_key'").fetchone()
    return bytes.fromhex(row[0])


def _policy(key: str) -> Policy:
    return ACCOUNT_POLICY if key.startswith("account:") else CLIENT_POLICY


def wait_seconds(conn: Connection, keys, now: float) -> float:
    """Seconds until an attempt under all ``keys`` may be made (0 when it may be made now)."""
    waits = [0.0]
    for key in keys:
        row = conn.execute("SELECT blocked_until, last_failure_at FROM login_throttle "
                           "WHERE key = ?", (key,)).fetchone()
        if row and now - row[1] < FORGET_AFTER:
            waits.append(max(0.0, row[0] - now))
    return max(waits)


def record_failure(conn: Connection, keys, now: float) -> None:
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


def failures(conn: Connection, key: str) -> int:
    row = conn.execute("SELECT failures FROM login_throttle WHERE key = ?", (key,)).fetchone()
    return row[0] if row else 0


def record_success(conn: Connection, key: str) -> None:
    """Clear one key's counter (the account's, after a complete login)."""
    conn.execute("DELETE FROM login_throttle WHERE key = ?", (key,))


def prune(conn: Connection, now: float) -> int:
    """Forget keys that have been quiet for :data:`FORGET_AFTER`."""
    return conn.execute("DELETE FROM login_throttle WHERE last_failure_at <= ? "
                        "AND blocked_until <= ?", (now - FORGET_AFTER, now)).rowcount
