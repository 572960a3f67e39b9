"""Notification settings and the outbox: who is told what, how, and what was sent.

Engine-neutral like the rest of :mod:`visitorapi.state`. The outbox is also
the delivery log: one row per (event, recipient, channel), written by
:func:`enqueue` inside the transaction that notices the event, so an event
is either recorded with all its deliveries or not at all, and nothing is
sent from a request. The sender (:mod:`visitorapi.notify.sender`) claims due
rows, tries them outside any transaction, and records each outcome.

Nothing here is about visitors (see the migration ``0006_notifications.sql``).
"""
import secrets
from dataclasses import dataclass

from visitorapi.state.audit import utc_now
from visitorapi.state.db import transaction
from visitorapi.state.engines import Connection

CHANNELS = ("email", "webhook")
MAX_WEBHOOKS_PER_ACCOUNT = 5
LEASE_SECONDS = 120   # a claimed row is retried by another sender if not settled by then
LOG_KEEP_DAYS = 90    # settled deliveries older than this leave the log


@dataclass(frozen=True)
class Webhook:
    id: int
    account_id: int
    url: str
    secret: str
    created_at: str


@dataclass(frozen=True)
class Delivery:
    """One outbox row, with where it goes resolved at claim time.

    Attributes:
        address: the account's email (channel ``email``) or the webhook URL.
        secret: the webhook's signing secret ('' for email); never stored in the row.
    """
    id: int
    created_at: str
    kind: str
    pid: str | None
    title: str
    details: str
    channel: str
    attempts: int
    address: str
    secret: str


@dataclass(frozen=True)
class LogEntry:
    """A delivery as the dashboard shows it (no secret, no body)."""
    id: int
    created_at: str
    kind: str
    pid: str | None
    title: str
    channel: str
    address: str
    state: str
    attempts: int
    last_error: str
    updated_at: str


# -- subscriptions and webhooks ----------------------------------------------

def subscriptions(conn: Connection, account_id: int) -> set:
    """``{(kind, channel)}`` the account has chosen."""
    return {(row[0], row[1]) for row in conn.execute(
        "SELECT kind, channel FROM notify_subscriptions WHERE account_id = ?", (account_id,))}


def set_subscriptions(conn: Connection, account_id: int, chosen) -> None:
    """Replace the account's choices with ``chosen``, an iterable of ``(kind, channel)``."""
    chosen = sorted(set(chosen))
    for _, channel in chosen:
        if channel not in CHANNELS:
            raise ValueError(f"unknown channel {channel!r}")
    with transaction(conn):
        conn.execute("DELETE FROM notify_subscriptions WHERE account_id = ?", (account_id,))
        conn.executemany("INSERT INTO notify_subscriptions (account_id, kind, channel) "
                         "VALUES (?, ?, ?)", [(account_id, k, c) for k, c in chosen])


def webhooks(conn: Connection, account_id: int) -> list:
    return [Webhook(*row) for row in conn.execute(
        "SELECT id, account_id, url, secret, created_at FROM notify_webhooks "
        "WHERE account_id = ? ORDER BY id", (account_id,))]


def add_webhook(conn: Connection, account_id: int, url: str) -> Webhook:
    """Add a webhook with a new random secret (the caller shows it once).

    The URL must already be checked (:func:`visitorapi.notify.webhook.check_url`).

    Raises:
        ValueError: the account has :data:`MAX_WEBHOOKS_PER_ACCOUNT` already.
    """
    with transaction(conn):
        count = conn.execute("SELECT count(*) FROM notify_webhooks WHERE account_id = ?",
                             (account_id,)).fetchone()[0]
        if count >= MAX_WEBHOOKS_PER_ACCOUNT:
            raise ValueError(f"at most {MAX_WEBHOOKS_PER_ACCOUNT} webhooks per user; "
                             "remove one first")
        row = conn.execute(
            "INSERT INTO notify_webhooks (account_id, url, secret, created_at) "
            "VALUES (?, ?, ?, ?) RETURNING id, account_id, url, secret, created_at",
            (account_id, url, secrets.token_hex(32), utc_now())).fetchone()
    return Webhook(*row)


def remove_webhook(conn: Connection, account_id: int, webhook_id: int) -> bool:
    """Remove one of the account's webhooks; its unsent deliveries are given up.

    Its deliveries stay in the log (their webhook shows as removed).
    """
    with transaction(conn):
        conn.execute("UPDATE notify_outbox SET state = 'failed', last_error = 'webhook removed', "
                     "updated_at = ? WHERE webhook_id = ? AND account_id = ? "
                     "AND state IN ('pending', 'sending')", (utc_now(), webhook_id, account_id))
        return conn.execute("DELETE FROM notify_webhooks WHERE id = ? AND account_id = ?",
                            (webhook_id, account_id)).rowcount > 0


# -- the outbox ----------------------------------------------------------------

# Accounts that may hear about a project: active, and owners or granted it.
_AUDIENCE = ("a.disabled = 0 AND (CAST(? AS TEXT) IS NULL OR a.role = 'owner' OR EXISTS ("
             "SELECT 1 FROM account_grants g WHERE g.account_id = a.id AND g.pid = ?))")


def enqueue(conn: Connection, event, now: float, *, everyone: bool = False,
            owners: bool = False, account: str | None = None) -> int:
    """Write one outbox row per subscribed recipient and channel; return how many.

    Call it inside the transaction that notices the event. By default the
    audience is every account that can see ``event.pid`` (all accounts when
    it is None) and chose ``event.kind``.

    Args:
        event: a :class:`visitorapi.notify.events.Event`.
        everyone: every active account, by email and all its webhooks, whatever
            it chose (security notices, promise 9.1).
        owners, account: instead of the project's audience, the owners and/or
            the account with this email (events about the dashboard itself:
            users, MFA, sign-ins), if they chose the kind.
    """
    if not conn.in_transaction:
        raise ValueError("enqueue must run inside the transaction that records the event")
    at = utc_now()
    columns = ("created_at, kind, pid, title, details, account_id, channel, webhook_id, "
               "next_attempt_at, updated_at")
    values = (at, event.kind, event.pid, event.title, event.details)
    if everyone:
        who, who_params = "a.disabled = 0", ()
        email_filter = webhook_filter = ""
    else:
        if owners or account:
            who = "a.disabled = 0 AND ((a.role = 'owner' AND ? = 1) OR a.email = ?)"
            who_params = (int(owners), account)
        else:
            who, who_params = _AUDIENCE, (event.pid, event.pid)
        email_filter = (" AND EXISTS (SELECT 1 FROM notify_subscriptions s WHERE "
                        "s.account_id = a.id AND s.kind = ? AND s.channel = 'email')")
        webhook_filter = email_filter.replace("'email'", "'webhook'")
    kind_params = () if everyone else (event.kind,)
    emails = conn.execute(
        f"INSERT INTO notify_outbox ({columns}) SELECT ?, ?, ?, ?, ?, a.id, 'email', NULL, ?, ? "
        f"FROM accounts a WHERE {who}{email_filter}",
        (*values, now, at, *who_params, *kind_params)).rowcount
    hooks = conn.execute(
        f"INSERT INTO notify_outbox ({columns}) SELECT ?, ?, ?, ?, ?, a.id, 'webhook', w.id, ?, ? "
        f"FROM accounts a JOIN notify_webhooks w ON w.account_id = a.id "
        f"WHERE {who}{webhook_filter}",
        (*values, now, at, *who_params, *kind_params)).rowcount
    return emails + hooks


def enqueue_test(conn: Connection, event, account_id: int, now: float) -> list:
    """Queue ``event`` for one account on its email and every webhook; return the outbox ids."""
    with transaction(conn):
        at = utc_now()
        values = (at, event.kind, event.pid, event.title, event.details, account_id)
        columns = ("created_at, kind, pid, title, details, account_id, channel, webhook_id, "
                   "next_attempt_at, updated_at")
        ids = [conn.execute(f"INSERT INTO notify_outbox ({columns}) "
                            "VALUES (?, ?, ?, ?, ?, ?, 'email', NULL, ?, ?) RETURNING id",
                            (*values, now, at)).fetchone()[0]]
        ids += [row[0] for row in conn.execute(
            f"INSERT INTO notify_outbox ({columns}) "
            "SELECT ?, ?, ?, ?, ?, ?, 'webhook', id, ?, ? FROM notify_webhooks "
            "WHERE account_id = ? RETURNING id", (*values, now, at, account_id)).fetchall()]
    return ids


def claim_due(conn: Connection, now: float, limit: int = 20, only=None) -> list:
    """Claim up to ``limit`` deliveries that are due; return them as :class:`Delivery`.

    A claimed row is 'sending' for :data:`LEASE_SECONDS`; if its sender dies,
    another claims it after that. ``only`` restricts to these outbox ids.
    """
    sql = ("SELECT o.id, o.created_at, o.kind, o.pid, o.title, o.details, o.channel, o.attempts, "
           "CASE WHEN o.channel = 'email' THEN a.email ELSE w.url END, "
           "CASE WHEN o.channel = 'email' THEN '' ELSE w.secret END "
           "FROM notify_outbox o JOIN accounts a ON a.id = o.account_id "
           "LEFT JOIN notify_webhooks w ON w.id = o.webhook_id "
           "WHERE o.state IN ('pending', 'sending') AND o.next_attempt_at <= ? "
           "AND (o.channel = 'email' OR w.id IS NOT NULL)")
    params = [now]
    if only is not None:
        ids = list(only) or [-1]
        sql += f" AND o.id IN ({', '.join('?' * len(ids))})"
        params += ids
    sql += " ORDER BY o.next_attempt_at, o.id LIMIT ?"
    params.append(limit)
    with transaction(conn):
        claimed = [Delivery(*row) for row in conn.execute(sql, params).fetchall()]
        conn.executemany("UPDATE notify_outbox SET state = 'sending', next_attempt_at = ? "
                         "WHERE id = ?", [(now + LEASE_SECONDS, d.id) for d in claimed])
    return claimed


def record_outcome(conn: Connection, delivery_id: int, error: str, now: float, *,
                   retry_at: float | None) -> None:
    """Record one attempt: ``error`` '' is success; else retry at ``retry_at`` (None: give up)."""
    state = "sent" if not error else ("pending" if retry_at is not None else "failed")
    with transaction(conn):
        conn.execute("UPDATE notify_outbox SET state = ?, attempts = attempts + 1, "
                     "next_attempt_at = ?, last_error = ?, updated_at = ? WHERE id = ?",
                     (state, retry_at if retry_at is not None else now, error[:300],
                      utc_now(), delivery_id))


def prune(conn: Connection, before: str) -> int:
    """Delete settled deliveries (sent or given up) created before ``before`` (store time text)."""
    with transaction(conn):
        return conn.execute("DELETE FROM notify_outbox WHERE state IN ('sent', 'failed') "
                            "AND created_at < ?", (before,)).rowcount


def delivery_log(conn: Connection, account_id: int | None = None, limit: int = 100) -> list:
    """The newest deliveries (one account's, or everyone's), newest first."""
    sql = ("SELECT o.id, o.created_at, o.kind, o.pid, o.title, o.channel, "
           "CASE WHEN o.channel = 'email' THEN a.email ELSE coalesce(w.url, '(removed)') END, "
           "o.state, o.attempts, o.last_error, o.updated_at "
           "FROM notify_outbox o JOIN accounts a ON a.id = o.account_id "
           "LEFT JOIN notify_webhooks w ON w.id = o.webhook_id")
    params = []
    if account_id is not None:
        sql += " WHERE o.account_id = ?"
        params.append(account_id)
    sql += " ORDER BY o.id DESC LIMIT ?"
    params.append(limit)
    return [LogEntry(*row) for row in conn.execute(sql, params)]


def remember_browser(conn: Connection, account_id: int, label: str) -> tuple:
    """Note that the account signed in from ``label``; return ``(new, first_ever)``.

    Call it inside the transaction that records the sign-in's event.
    """
    known = conn.execute("SELECT count(*) FROM notify_known_browsers WHERE account_id = ?",
                         (account_id,)).fetchone()[0]
    added = conn.execute("INSERT INTO notify_known_browsers (account_id, label, first_seen) "
                         "VALUES (?, ?, ?) ON CONFLICT (account_id, label) DO NOTHING",
                         (account_id, label, utc_now())).rowcount
    return bool(added), known == 0


# -- the detectors' marks ------------------------------------------------------

def get_mark(conn: Connection, name: str, default: str | None = None):
    row = conn.execute("SELECT value FROM notify_marks WHERE name = ?", (name,)).fetchone()
    return row[0] if row else default


def set_mark(conn: Connection, name: str, value: str) -> None:
    """Set a mark; call it inside the transaction that acts on it."""
    conn.execute("INSERT INTO notify_marks (name, value) VALUES (?, ?) "
                 "ON CONFLICT (name) DO UPDATE SET value = excluded.value", (name, str(value)))
