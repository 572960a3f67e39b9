"""Dashboard sessions, kept server-side.

A session id is 32 random bytes from :mod:`secrets` (256 bits), sent to the
browser once in the cookie and stored only as its SHA-256, so the state file
holds no usable id. Each session carries its own CSRF synchronizer token.

Lifetimes: a session ends after :data:`IDLE_SECONDS` without a request or
:data:`ABSOLUTE_SECONDS` after login, whichever comes first (OWASP Session
Management Cheat Sheet). Anonymous sessions (the login form) and
half-logged-in ones (password given, second factor pending) are short.
The id is never reused across a change of privilege: :func:`rotate` gives
the same session a new id and a new CSRF token.
"""
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from visitorapi.state.db import Connection

IDLE_SECONDS = 30 * 60
ABSOLUTE_SECONDS = 12 * 60 * 60
STAGE_LIFETIME = {"anonymous": 30 * 60, "mfa": 5 * 60, "full": ABSOLUTE_SECONDS}
REAUTH_SECONDS = 10 * 60  # how long a re-authentication unlocks sensitive actions
TOUCH_EVERY = 30  # seconds: last_seen_at is written at most this often (fewer writes)
# NOTE: anyone can make an anonymous session (GET /dashboard/login); past this
# many the oldest are dropped, so a flood of requests cannot grow the store.
MAX_ANONYMOUS = 10_000


@dataclass(frozen=True)
class Session:
    id_hash: str
    account_id: int  # None while anonymous
    stage: str
    csrf_token: str
    created_at: float
    last_seen_at: float
    reauth_at: float  # None until the user re-authenticates
    label: str

    def recently_reauthenticated(self, now: float) -> bool:
        """True within :data:`REAUTH_SECONDS` of a re-authentication (or of a full login)."""
        return self.reauth_at is not None and now - self.reauth_at < REAUTH_SECONDS

    def expired(self, now: float) -> bool:
        """Idle or absolute timeout reached (see module docstring)."""
        lifetime = STAGE_LIFETIME[self.stage]
        return now - self.last_seen_at >= IDLE_SECONDS or now - self.created_at >= lifetime

    def csrf_matches(self, token: str) -> bool:
        """Constant-time comparison of a submitted CSRF token with this session's."""
        return bool(token) and hmac.compare_digest(token.encode(), self.csrf_token.encode())


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("ascii", "replace")).hexdigest()


def _new_id() -> str:
    return secrets.token_urlsafe(32)


def _fetch(conn: Connection, id_hash: str):
    row = conn.execute("SELECT id_hash, account_id, stage, csrf_token, created_at, last_seen_at, "
                       "reauth_at, label FROM sessions WHERE id_hash = ?", (id_hash,)).fetchone()
    return Session(*row) if row else None


def create(conn: Connection, now: float, account_id=None, stage="anonymous",
           label="", reauth_at=None):
    """Start a session; return ``(cookie_value, Session)``."""
    session_id = _new_id()
    conn.execute("INSERT INTO sessions (id_hash, account_id, stage, csrf_token, created_at, "
                 "last_seen_at, reauth_at, label) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                 (_digest(session_id), account_id, stage, secrets.token_urlsafe(32), now, now,
                  reauth_at, label[:100]))
    if stage == "anonymous":
        conn.execute("DELETE FROM sessions WHERE stage = 'anonymous' AND id_hash NOT IN ("
                     "SELECT id_hash FROM sessions WHERE stage = 'anonymous' "
                     "ORDER BY created_at DESC LIMIT ?)", (MAX_ANONYMOUS,))
    return session_id, _fetch(conn, _digest(session_id))


def load(conn: Connection, session_id: str, now: float):
    """The live session for a cookie value, else ``None``; an expired one is deleted."""
    if not session_id or len(session_id) > 100:
        return None
    session = _fetch(conn, _digest(session_id))
    if session is None:
        return None
    if session.expired(now):
        conn.execute("DELETE FROM sessions WHERE id_hash = ?", (session.id_hash,))
        return None
    if now - session.last_seen_at >= TOUCH_EVERY:
        conn.execute("UPDATE sessions SET last_seen_at = ? WHERE id_hash = ?",
                     (now, session.id_hash))
        session = _fetch(conn, session.id_hash)
    return session


def rotate(conn: Connection, session: Session, now: float, **changes):
    """Give ``session`` a new id and CSRF token, applying ``changes``; return ``(cookie_value, Session)``.

    Used at every change of privilege (MFA passed, re-authentication, MFA
    switched on or off), so an id seen before the change is worth nothing after.
    """
    session_id = _new_id()
    fields = {"id_hash": _digest(session_id), "csrf_token": secrets.token_urlsafe(32),
              "last_seen_at": now, **changes}
    assignments = ", ".join(f"{name} = ?" for name in fields)
    conn.execute(f"UPDATE sessions SET {assignments} WHERE id_hash = ?",
                 (*fields.values(), session.id_hash))
    return session_id, _fetch(conn, fields["id_hash"])


def delete(conn: Connection, id_hash: str, account_id=None) -> bool:
    """End one session (only ``account_id``'s when given); True if it existed."""
    if account_id is None:
        return conn.execute("DELETE FROM sessions WHERE id_hash = ?", (id_hash,)).rowcount > 0
    return conn.execute("DELETE FROM sessions WHERE id_hash = ? AND account_id = ?",
                        (id_hash, account_id)).rowcount > 0


def for_account(conn: Connection, account_id: int, now: float) -> list:
    """The account's live, fully logged-in sessions, most recent first."""
    rows = conn.execute("SELECT id_hash, account_id, stage, csrf_token, created_at, last_seen_at, "
                        "reauth_at, label FROM sessions WHERE account_id = ? AND stage = 'full' "
                        "ORDER BY last_seen_at DESC", (account_id,)).fetchall()
    return [session for session in map(lambda row: Session(*row), rows) if not session.expired(now)]


def prune(conn: Connection, now: float) -> int:
    """Delete every expired session; return how many."""
    oldest_full = now - ABSOLUTE_SECONDS
    return conn.execute(
        "DELETE FROM sessions WHERE last_seen_at <= ? OR created_at <= ? "
        "OR (stage = 'anonymous' AND created_at <= ?) OR (stage = 'mfa' AND created_at <= ?)",
        (now - IDLE_SECONDS, oldest_full, now - STAGE_LIFETIME["anonymous"],
         now - STAGE_LIFETIME["mfa"])).rowcount
