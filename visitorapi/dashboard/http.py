"""The dashboard's side of the HTTP core: its header policy, cookies and HTML bodies.

The request view, the response and its writer, status lines and header
checks are :mod:`visitorapi.http`'s, shared with the API; this module adds
only what the dashboard alone needs.
"""
import re

from visitorapi.dashboard.markup import Html
from visitorapi.domains import parse_origin, referer_origin
from visitorapi.http.headers import check_headers
from visitorapi.http.request import Request
from visitorapi.http.response import Response

SESSION_COOKIE = "__Host-visitorapi-session"
_COOKIE_VALUE = re.compile(r"[A-Za-z0-9_-]{1,100}")

# The strictest policy the pages work under: no script at all, styles only
# from our own stylesheet, forms only to ourselves, never framed.
CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
       "base-uri 'none'; frame-ancestors 'none'")
POLICY = check_headers((
    ("Content-Security-Policy", CSP),
    # NOTE: not "no-referrer" as on the API: under no-referrer a browser sends
    # "Origin: null" with form POSTs (Fetch, "serializing a request origin"),
    # which would defeat the Origin check. same-origin leaks nothing outside.
    ("Referrer-Policy", "same-origin"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("X-Frame-Options", "DENY"),
))


class DashboardRequest(Request):
    """The core request view plus the dashboard's session cookie and form sender."""

    __slots__ = ()

    def session_cookie(self) -> str:
        """The session id from the ``__Host-`` cookie, or ``""`` when absent or malformed."""
        for part in self.environ.get("HTTP_COOKIE", "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == SESSION_COOKIE and _COOKIE_VALUE.fullmatch(value):
                return value
        return ""

    def sent_from_here(self) -> bool:
        """True if the page that sent this request has this server's origin (RFC 6454).

        The sender is the ``Origin`` header, or the origin of ``Referer`` when
        Origin is absent, parsed as the API parses them (:mod:`visitorapi.domains`);
        ``Origin: null``, a missing or a malformed sender is never ours.
        """
        header = self.environ.get("HTTP_ORIGIN")
        sender = (parse_origin(header.strip()) if header is not None
                  else referer_origin(self.environ.get("HTTP_REFERER")))
        own = parse_origin(self.origin)
        return sender is not None and own is not None and sender[:3] == own[:3]


def redirect(location: str, status: int = 303) -> Response:
    """A redirect to a local path (303 after a POST: the browser follows with GET)."""
    return Response(status, headers=[("Location", location)])


def session_cookie_header(value: str, clear: bool = False) -> tuple:
    """``Set-Cookie`` for the session: ``__Host-`` prefix, HttpOnly, Secure, SameSite=Strict.

    The ``__Host-`` prefix (RFC 6265bis section 4.1.3.2) makes the browser
    refuse the cookie unless it is Secure, has Path=/ and no Domain, so no
    subdomain or plain-HTTP page can plant or overwrite it. No Max-Age: the
    server enforces the idle and absolute timeouts.
    """
    expiry = "; Max-Age=0" if clear else ""
    return ("Set-Cookie", f"{SESSION_COOKIE}={'' if clear else value}; Path=/; Secure; HttpOnly; "
                          f"SameSite=Strict{expiry}")


def safe_next(path: str, prefix: str) -> str:
    """``path`` if it is a local dashboard path, else the dashboard's home (no open redirect).

    Only printable ASCII is kept (RFC 3986 URLs are ASCII): anything else
    could not be written in a ``Location`` header at all.
    """
    if path.startswith(prefix + "/") and "//" not in path and "\\" not in path \
            and all(33 <= ord(ch) <= 126 for ch in path):
        return path
    return prefix + "/"


def html_response(body: Html, status: int = 200, headers=()) -> Response:
    """An HTML page (the dashboard's body format)."""
    return Response(status, body.encode("utf-8"), headers=list(headers))
