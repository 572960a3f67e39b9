"""CORS (Fetch standard) and the security headers every response carries.

Pure functions over header values; ``app.respond`` is the only caller that
writes them. References: the Fetch standard's "CORS protocol" section
(https://fetch.spec.whatwg.org/#http-cors-protocol), RFC 6454 (origins).
"""
from visitorapi.domains import parse_origin, referer_origin

JSON = "application/json; charset=utf-8"
JAVASCRIPT = "text/javascript; charset=utf-8"
HTML = "text/html; charset=utf-8"
TEXT = "text/plain; charset=utf-8"

STRICT_CSP = "default-src 'none'; frame-ancestors 'none'"

# Headers on every response (content type and CSP are added per response).
SECURITY_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("Cache-Control", "no-store"),
)
NO_REFERRER = "no-referrer"
# NOTE: same-origin everywhere but /client.js: a customer page loads that
# script with <script src>, a no-cors request that CORP same-origin would block.
CORP_SAME_ORIGIN = ("Cross-Origin-Resource-Policy", "same-origin")
CORP_CROSS_ORIGIN = ("Cross-Origin-Resource-Policy", "cross-origin")

VARY_ORIGIN = ("Vary", "Origin")
ALLOWED_METHODS = ("GET", "HEAD")
PREFLIGHT_HEADERS = (
    ("Access-Control-Allow-Methods", "GET, HEAD"),
    ("Access-Control-Max-Age", "7200"),
)

def check_header_value(value: str) -> str:
    """Return ``value`` if it is safe to write as a header value, else raise ValueError.

    CR and LF would split the response (header injection); NUL is refused
    by RFC 9110 section 5.5. (PERF: three ``in`` tests beat a regex here.)
    """
    if "\r" in value or "\n" in value or "\0" in value:
        raise ValueError("header value contains CR, LF or NUL")
    return value


def request_origin(environ):
    """Find the origin that asks, per the authorization rules.

    ``Origin`` decides when present; ``Referer`` is used only when ``Origin``
    is absent, reduced to its origin. ``Origin: null`` (opaque origins:
    sandboxed frames, ``file:``, some redirects) never matches anything.

    Returns:
        ``(origin, is_cors, problem)``: the parsed origin (or None), whether
        the request carried an ``Origin`` header (only then do CORS headers
        apply), and, when ``origin`` is None, a message saying why, which
        does not repeat the header.
    """
    header = environ.get("HTTP_ORIGIN")
    if header is not None:
        if header.strip() == "null":
            return None, True, "origin null is not authorized for this project"
        origin = parse_origin(header)
        if origin is None:
            return None, True, "the Origin header is not a valid origin (RFC 6454)"
        return origin, True, None
    referer = environ.get("HTTP_REFERER")
    if referer is None:
        return None, False, ("an Origin or Referer header from an authorized site "
                             "is required")
    origin = referer_origin(referer)
    if origin is None:
        return None, False, "the Referer header is not an http(s) URL"
    return origin, False, None


def is_preflight(environ) -> bool:
    """True for a CORS preflight: OPTIONS with ``Access-Control-Request-Method``."""
    return "HTTP_ACCESS_CONTROL_REQUEST_METHOD" in environ


def preflight_acceptable(environ) -> bool:
    """True if the preflight asks for a method and headers this API allows.

    The API allows GET and HEAD (method names are case-sensitive in Fetch;
    browsers send them upper-case) and only CORS-safelisted request headers,
    which a browser never lists in ``Access-Control-Request-Headers``: any
    listed header is one the API does not allow.
    """
    if environ.get("HTTP_ACCESS_CONTROL_REQUEST_METHOD") not in ALLOWED_METHODS:
        return False
    requested = environ.get("HTTP_ACCESS_CONTROL_REQUEST_HEADERS", "")
    return not requested.strip(" \t,")
