"""The request view both apps share: method, path, scheme, Host, query and form.

A thin, lazy view over the WSGI environ: nothing is parsed until a handler
asks for it, so the API's hot path pays only for the object itself.
"""
import re
from urllib.parse import parse_qs

from visitorapi.http.errors import HTTPError

MAX_FORM_BYTES = 64 * 1024
MAX_FORM_FIELDS = 50
FORM_TYPE = "application/x-www-form-urlencoded"
# RFC 9110 section 7.2 / RFC 3986 section 3.2.2: a reg-name (DNS-style) or a
# bracketed IP literal, optional port. One value only: gunicorn joins repeated
# headers with ",".
HOST_HEADER = re.compile(r"(?:(?:[A-Za-z0-9-]{1,63}\.)*[A-Za-z0-9-]{1,63}\.?"
                         r"|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?")


class Request:
    """One request as both apps see it.

    Args:
        environ: the WSGI environ.
        https: whether the browser reached us over TLS (directly or through
            a trusted proxy; the app decides).
    """

    __slots__ = ("environ", "method", "path", "https", "_query", "_form")

    def __init__(self, environ, https: bool):
        self.environ = environ
        self.method = environ.get("REQUEST_METHOD", "GET")  # case-sensitive (RFC 9110 9.1)
        self.path = environ.get("PATH_INFO") or "/"
        self.https = https
        self._query = None
        self._form = None

    def query(self, name: str) -> str:
        """The single value of a query parameter, or ``""`` (absent or repeated)."""
        if self._query is None:
            self._query = parse_qs(self.environ.get("QUERY_STRING", ""), keep_blank_values=True,
                                   max_num_fields=MAX_FORM_FIELDS)
        values = self._query.get(name, [])
        return values[0] if len(values) == 1 else ""

    @property
    def host(self) -> str:
        """The Host header, lower-cased, port included.

        Raises:
            HTTPError: 400 when it is missing or not a host name or address.
        """
        host = self.environ.get("HTTP_HOST") or ""
        if not HOST_HEADER.fullmatch(host):
            raise HTTPError(400, "the Host header is missing or malformed")
        return host.lower()

    @property
    def origin(self) -> str:
        """This server's origin as the browser sees it (RFC 6454 serialization)."""
        scheme = "https" if self.https else "http"
        default = ":443" if self.https else ":80"
        return f"{scheme}://{self.host.removesuffix(default)}"

    def form(self) -> dict:
        """The posted ``application/x-www-form-urlencoded`` form as ``{name: [values]}``.

        Raises:
            HTTPError: 415 for another content type, 413 past :data:`MAX_FORM_BYTES`,
                400 for a malformed body.
        """
        if self._form is None:
            content_type = self.environ.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
            if content_type != FORM_TYPE:
                raise HTTPError(415, f"forms must be sent as {FORM_TYPE}")
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
