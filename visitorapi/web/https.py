"""Where a plain-HTTP request is sent instead, and which Host headers are acceptable.

Both faces (the API and the dashboard) answer plain HTTP with a 308 to
https when ``VISITORAPI_HTTPS=require``. The target is built from
``VISITORAPI_PUBLIC_URL`` when it is set, so a forged ``Host`` cannot send a
browser elsewhere; without it, from the Host header's name with its port
dropped (the plain-HTTP port is never the https one).
"""
from urllib.parse import quote

from visitorapi.http.errors import HTTPError
from visitorapi.http.request import HOST_HEADER

_PATH_SAFE = "/:@!$&'()*+,;=~"
_QUERY_SAFE = "=&;%+/:@!$'()*,~?"


def host_problem(environ):
    """Why the request's Host header is unacceptable (RFC 9112 section 3.2), or None.

    An HTTP/1.1 request must carry exactly one valid Host; HTTP/1.0 may omit it.
    """
    host = environ.get("HTTP_HOST")
    if host is None:
        if environ.get("SERVER_PROTOCOL", "HTTP/1.0") != "HTTP/1.0":
            return "an HTTP/1.1 request needs a Host header (RFC 9112 section 3.2)"
        return None
    if not HOST_HEADER.fullmatch(host):
        return "the Host header is not one host name or address with an optional port"
    return None


def https_location(path: str, query: str, host: str, public_url: str = "") -> str:
    """The https URL a plain-HTTP request for ``path`` and ``query`` is redirected to.

    Args:
        path: PATH_INFO (PEP 3333: bytes decoded as latin-1).
        query: QUERY_STRING.
        host: the Host header ("" when absent).
        public_url: ``VISITORAPI_PUBLIC_URL`` ("https://host[:port]"), or "".

    Raises:
        HTTPError: 400 when the path holds control characters (CR, LF, NUL
            and the like: no such URL exists), or there is no public URL and
            the Host header is missing or malformed.
    """
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in path):
        raise HTTPError(400, "the request path contains control characters; "
                             "percent-encoded CR, LF and NUL are not valid in a path here")
    base = public_url
    if not base:
        if not HOST_HEADER.fullmatch(host or ""):
            raise HTTPError(400, "https is required and the Host header is missing or invalid")
        name = host[:host.index("]") + 1] if host.startswith("[") else host.split(":")[0]
        base = "https://" + name.lower()
    target = base + quote(path.encode("latin-1", "replace"), safe=_PATH_SAFE)
    if query:
        target += "?" + quote(query.encode("latin-1", "replace"), safe=_QUERY_SAFE)
    return target
