"""Status lines, header checks and the security headers every response carries.

References: RFC 9110 section 5.1 (field names are tokens) and 5.5 (field
values: CR, LF and NUL are never allowed).
"""
import http
import re

STATUS_LINES = {status.value: f"{status.value} {status.phrase}" for status in http.HTTPStatus}

# RFC 9110 section 5.6.2: token = 1*tchar
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")

# On every response of both apps; Cache-Control comes from the response
# (no-store unless a handler says otherwise) and the rest from the app's policy.
NOSNIFF = ("X-Content-Type-Options", "nosniff")


def check_header_name(name: str) -> str:
    """Return ``name`` if it is an RFC 9110 token, else raise ValueError."""
    if not _TOKEN.fullmatch(name):
        raise ValueError(f"header name {name!r} is not an RFC 9110 token")
    return name


def check_header_value(value: str) -> str:
    """Return ``value`` if it is safe to write as a header value, else raise ValueError.

    CR and LF would split the response (header injection); NUL is refused
    by RFC 9110 section 5.5. (PERF: three ``in`` tests beat a regex here.)
    """
    if "\r" in value or "\n" in value or "\0" in value:
        raise ValueError("header value contains CR, LF or NUL")
    return value


def check_headers(headers) -> tuple:
    """Return ``headers`` as a tuple after checking every name and value."""
    for name, value in headers:
        check_header_name(name)
        check_header_value(value)
    return tuple(headers)
