"""Webhook delivery: a JSON POST whose body is signed with HMAC-SHA256.

Each request carries

- ``X-Visitorapi-Timestamp``: Unix seconds when it was signed;
- ``X-Visitorapi-Signature: sha256=<hex>``: HMAC-SHA256 with the webhook's
  secret over ``<timestamp>.<body>`` (the timestamp is signed too, so a
  receiver that refuses timestamps older than a few minutes refuses replays);
- ``X-Visitorapi-Delivery``: the outbox id; a retry sends the same id, so a
  receiver can drop duplicates.

:func:`verify` is what a receiver does; the tests use it as one. Redirects
are not followed (a signed body goes only where the operator said).
"""
import functools
import hashlib
import hmac
import json
import urllib.parse

from visitorapi.config import is_loopback_host

TIMEOUT_SECONDS = 10.0
MAX_URL_LENGTH = 500
REPLAY_WINDOW_SECONDS = 300
SIGNATURE_HEADER = "X-Visitorapi-Signature"
TIMESTAMP_HEADER = "X-Visitorapi-Timestamp"
DELIVERY_HEADER = "X-Visitorapi-Delivery"


def check_url(url: str) -> str:
    """Return ``url`` if it is a webhook target we post to, else raise ValueError saying why.

    https anywhere; plain http only to this machine (a receiver beside the
    service), since the body would otherwise cross the network in clear.
    """
    url = url.strip()
    if len(url) > MAX_URL_LENGTH:
        raise ValueError(f"a webhook URL has at most {MAX_URL_LENGTH} characters")
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port   # NOTE: reading it raises ValueError for a port out of range
    except ValueError as exc:
        raise ValueError(f"{url!r} is not a URL ({exc})") from None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError(f"{url!r} is not an https:// URL")
    if parts.username or parts.password:
        raise ValueError("put no user or password in a webhook URL; the signature "
                         "authenticates the sender")
    if parts.fragment or any(c.isspace() or ord(c) < 32 for c in url):
        raise ValueError(f"{url!r} has a fragment, spaces or control characters")
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise ValueError("a webhook URL must use https:// (http:// only to this machine)")
    return url


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Visitorapi-Signature`` value: ``sha256=`` + HMAC-SHA256(secret, "ts." + body)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: str, headers, body: bytes, now: float) -> bool:
    """What a receiver checks: a fresh timestamp and a matching signature (constant time)."""
    try:
        timestamp = int(headers.get(TIMESTAMP_HEADER, ""))
    except ValueError:
        return False
    if abs(now - timestamp) > REPLAY_WINDOW_SECONDS:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body),
                               headers.get(SIGNATURE_HEADER, ""))


def body_for(delivery) -> bytes:
    """The JSON body for one outbox delivery."""
    return json.dumps({"id": delivery.id, "created": delivery.created_at,
                       "event": {"kind": delivery.kind, "project": delivery.pid,
                                 "title": delivery.title, "details": delivery.details}},
                      sort_keys=True, ensure_ascii=False).encode()


@functools.cache
def _opener():
    """urllib's opener without redirects, built on the first delivery.

    NOTE: urllib.request (and with it ssl) is imported here, not at the top:
    the dashboard imports this module for :func:`check_url`, and the serving
    path must not load the HTTP client (tests/test_web_livedb.py checks it).
    """
    import urllib.request

    class NoRedirects(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, req, fp, code, msg, headers, newurl):
            return None   # NOTE: urllib then raises HTTPError with the 3xx status

    return urllib.request.build_opener(NoRedirects), urllib.request.Request


def post(url: str, secret: str, delivery_id: int, body: bytes, now: float,
         timeout: float = TIMEOUT_SECONDS) -> None:
    """POST ``body`` signed; return on a 2xx answer.

    Raises:
        OSError: unreachable, timed out, or an answer other than 2xx (as
            :class:`urllib.error.HTTPError`, which is an OSError).
    """
    timestamp = int(now)
    opener, make_request = _opener()
    request = make_request(url, data=body, method="POST", headers={
        "Content-Type": "application/json",
        "User-Agent": "visitorapi-notify",
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature(secret, timestamp, body),
        DELIVERY_HEADER: str(delivery_id),
    })
    with opener.open(request, timeout=timeout) as response:
        response.read(4096)

