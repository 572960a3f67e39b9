"""CORS (Fetch standard): which headers grant a page access to an /api answer.

Pure functions and constants over header values; the app adds them to the
response. ``Access-Control-Allow-Origin`` echoes the request's ``Origin``,
never ``*``: only an authorized origin may read data (errors are readable by
any page that sent a usable Origin, so the snippet can report them).
Reference: the Fetch standard's "CORS protocol" section
(https://fetch.spec.whatwg.org/#http-cors-protocol).
"""
ALLOW_ORIGIN = "Access-Control-Allow-Origin"
VARY_ORIGIN = ("Vary", "Origin")
ALLOWED_METHODS = ("GET", "HEAD")
PREFLIGHT_HEADERS = (
    ("Access-Control-Allow-Methods", "GET, HEAD"),
    ("Access-Control-Max-Age", "7200"),
)


def is_preflight(environ) -> bool:
    """True for a CORS preflight: OPTIONS with ``Origin`` and ``Access-Control-Request-Method``."""
    return "HTTP_ACCESS_CONTROL_REQUEST_METHOD" in environ and "HTTP_ORIGIN" in environ


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
