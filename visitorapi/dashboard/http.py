"""The dashboard's view of HTTP: a parsed request, a response value, cookies and limits.

Pure helpers over the WSGI environ; :mod:`visitorapi.dashboard.app` is the
only place that calls ``start_response``.
"""
import http
import re
from dataclasses import dataclass, field
from urllib.parse import parse_qs

from visitorapi.dashboard.markup import Html
from visitorapi.domains import referer_origin
from visitorapi.web.errors import HTTPError
from visitorapi.web.https import HOST_HEADER

MAX_FORM_BYTES = 64 * 1024
MAX_FORM_FIELDS = 50
SESSION_COOKIE = "__Host-visitorapi-session"
_COOKIE_VALUE = re.compile(r"[A-Za-z0-9_-]{1,100}")
STATUS_LINES = {status.value: f"{status.value} {status.phrase}" for status in http.HTTPStatus}


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: list = field(default_factory=list)
    content_type: str = "text/html; charset=utf-8"


def redirect(location: str, status: int = 303) -> Response:
    """A redirect to a local path (303 after a POST: the browser follows with GET)."""
    return Response(status=status, headers=[("Location", location)])


class Request:
    """One dashboard request: method, path, query, cookies and (lazily) the posted form."""

    def __init__(self, environ, https: bool):
        self.environ = environ
        self.method = environ.get("REQUEST_METHOD", "GET").upper()
        self.path = environ.get("PATH_INFO", "") or "/"
        self.https = https
        self._query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True,
                               max_num_fields=MAX_FORM_FIELDS)
        self._form = None

    def query(self, name: str) -> str:
        """The single value of a query parameter, or ``""``."""
        values = self._query.get(name, [])
        return values[0] if len(values) == 1 else ""

    def session_cookie(self) -> str:
        """The session id from the ``__Host-`` cookie, or ``""`` when absent or malformed."""
        for part in self.environ.get("HTTP_COOKIE", "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == SESSION_COOKIE and _COOKIE_VALUE.fullmatch(value):
                return value
        return ""

    @property
    def host(self) -> str:
        host = self.environ.get("HTTP_HOST") or ""
        if not HOST_HEADER.fullmatch(host):
            raise HTTPError(400, "the Host header is missing or malformed")
        return host.lower()

    @property
    def origin(self) -> str:
        """This server's origin as the browser sees it (RFC 6454 serialization)."""
        scheme = "https" if self.https else "http"
        host = self.host
        default = ":443" if self.https else ":80"
        return f"{scheme}://{host.removesuffix(default)}"

    def sender_origin(self) -> str:
        """The ``Origin`` header, or the origin of ``Referer`` when Origin is absent, else ``""``."""
        origin = self.environ.get("HTTP_ORIGIN")
        if origin is not None:
            return origin.strip()
        referer = referer_origin(self.environ.get("HTTP_REFERER"))
        return referer.serialized.lower() if referer is not None else ""

    def form(self) -> dict:
        """The posted ``application/x-www-form-urlencoded`` form as ``{name: [values]}``.

        Raises:
            HTTPError: 415 for another content type, 413 past :data:`MAX_FORM_BYTES`,
                400 for a malformed body.
        """
        if self._form is None:
            content_type = self.environ.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
            if content_type != "application/x-www-form-urlencoded":
                raise HTTPError(415, "forms must be sent as application/x-www-form-urlencoded")
            try:
                length = int(self.environ.get("CONTENT_LENGTH") or 0)
            except ValueError:
                raise HTTPError(400, "the Content-Length header is not a number") from None
            if length < 0 or length > MAX_FORM_BYTES:
                raise HTTPError(413, f"the form is larger than {MAX_FORM_BYTES} bytes")
            body = self.environ["wsgi.input"].read(length) if length else b""
            try:
                self._form = parse_qs(body.decode("utf-8"), keep_blank_values=True,
                                      strict_parsing=bool(body), max_num_fields=MAX_FORM_FIELDS)
            except (UnicodeDecodeError, ValueError):
                raise HTTPError(400, "the form is not valid UTF-8 url-encoded data") from None
        return self._form

    def field(self, name: str, required: bool = True, max_length: int = 2000) -> str:
        """One form field's value.

        Raises:
            HTTPError: 400 when it is missing (and required), repeated or too long.
        """
        values = self.form().get(name, [])
        if len(values) > 1:
            raise HTTPError(400, f"the form field {name!r} appears more than once")
        if not values:
            if required:
                raise HTTPError(400, f"the form field {name!r} is missing")
            return ""
        if len(values[0]) > max_length:
            raise HTTPError(400, f"the form field {name!r} is longer than {max_length} characters")
        return values[0]


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
    return Response(status=status, body=body.encode("utf-8"), headers=list(headers))
