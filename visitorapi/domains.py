"""Authorized-domain patterns and the origins they match: parse, normalize, match.

A project lists the web origins (RFC 6454: scheme, host, port) whose pages may
call the API. An operator writes a *pattern*; a browser sends an *origin* in
the ``Origin`` header (Fetch standard) or, failing that, a ``Referer`` URL.
Both are parsed into plain values here and compared field by field, on label
boundaries; nothing ever compares raw header text with a substring, prefix,
suffix or regular expression, which is how ``example.com.evil.test`` and
``evil-example.com`` get through elsewhere.

Pattern forms (the stored form is :attr:`DomainPattern.text`):

==========================  ===================================================
``example.com``             that host over http and https, on ports 80 and 443
``https://example.com``     https only, port 443
``example.com:8443``        http or https on port 8443
``http://localhost:8000``   scheme and port together
``*.example.com``           any subdomain at any depth, not ``example.com``
``localhost``, ``127.0.0.1``, ``[::1]``  development hosts (any IP literal works)
==========================  ===================================================

Hosts are kept in lowercase A-label form (:mod:`visitorapi.hostnames` does
the UTS #46 conversion), the form browsers send.

Trailing dots: the URL Standard keeps ``example.com.`` as a host distinct from
``example.com``, and the two are different origins with separate storage and
cookies. An Origin with a trailing dot therefore parses, but matches no
pattern, and a pattern may not end in a dot: a site reached through the
fully qualified form gets 403, the conservative answer.

Nothing here does I/O except :mod:`visitorapi.publicsuffix` reading its
snapshot the first time a wildcard pattern is parsed.
"""
import functools
import ipaddress
import re
from dataclasses import dataclass
from typing import NamedTuple

from visitorapi import hostnames, publicsuffix
from visitorapi.errors import OperatorError

DEFAULT_PORTS = {"http": 80, "https": 443}

# An Origin header is exactly "scheme://host[:port]" (RFC 6454 section 6.2,
# Fetch "serializing an origin"); labels are checked in the same pass.
# re.ASCII: without it, case-insensitive [a-z] would also match U+212A
# KELVIN SIGN and U+017F LONG S.
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_AUTHORITY = rf"(https?)://(\[[0-9a-f:.]+\]|(?:{_LABEL}\.)*{_LABEL}\.?)(?::([1-9][0-9]{{0,4}}))?"
_ORIGIN_RE = re.compile(_AUTHORITY, re.ASCII | re.IGNORECASE)
# A Referer URL, reduced to the same: the authority must be followed by the
# end, a path, a query or a fragment.
_REFERER_RE = re.compile(_AUTHORITY + r"(?=[/?#]|\Z)", re.ASCII | re.IGNORECASE)
# Longer than any serialized origin ("https://" + 254-character host + ":65535").
_MAX_ORIGIN_LENGTH = 300
# NOTE: a comma too. gunicorn joins repeated headers with ",", so two Referer
# headers reach us as one value whose first URL would win; a request carrying
# two is refused like one with two Origins. Referer is only read when Origin
# is absent (same-origin pages and non-CORS loads), where a comma is rare.
_FORBIDDEN_IN_REFERER = re.compile(r"[\x00-\x20\x7f\\,]|[^\x00-\x7f]")
# URL Standard "ends in a number": such a host is parsed as IPv4 or rejected.
_NUMERIC_LABEL_RE = re.compile(r"[0-9]+|0[xX][0-9a-fA-F]*", re.ASCII)
_SCHEME_LIKE_RE = re.compile(r"[A-Za-z][A-Za-z0-9+-]*:(?![0-9])", re.ASCII)


class PatternError(OperatorError):
    """A domain pattern that cannot be authorized; the message says what to write instead.

    Not a ``ValueError``: a stored pattern that no longer parses is a
    configuration problem, and must not be caught by code that treats
    ``ValueError`` as a visitor's malformed input.
    """


@dataclass(frozen=True, slots=True)
class DomainPattern:
    """One authorized-origin pattern, parsed and normalized.

    Attributes:
        scheme: ``None`` (http and https), ``"http"`` or ``"https"``.
        host: lowercase A-labels, a ``*.`` prefix for a wildcard, an IPv4
            dotted quad or a bracketed IPv6 literal.
        port: ``None`` for the scheme's default port, else the port.
        text: the canonical form, as stored and shown.
    """
    scheme: str | None
    host: str
    port: int | None
    text: str

    @property
    def is_wildcard(self) -> bool:
        return self.host.startswith("*.")


class Origin(NamedTuple):
    """A web origin (RFC 6454): scheme, host, port, and the text the client sent.

    Immutable. PERF: a NamedTuple rather than a frozen dataclass, because one
    is built per request and a frozen dataclass costs several times more to
    construct.

    Attributes:
        scheme: ``"http"`` or ``"https"``.
        host: lowercase; A-labels, a dotted quad or a bracketed IPv6 literal
            in canonical form; a trailing dot is kept (see the module doc).
        port: always filled in, with the scheme's default when absent.
        serialized: ``scheme://host[:port]`` exactly as received; the value to
            echo in ``Access-Control-Allow-Origin``.
    """
    scheme: str
    host: str
    port: int
    serialized: str


def parse_pattern(text: str) -> DomainPattern:
    """Parse an operator's domain pattern into its canonical form.

    Args:
        text: e.g. ``"example.com"``, ``"https://example.com"``,
            ``"example.com:8443"``, ``"*.example.com"``, ``"Bücher.example"``,
            ``"http://localhost:8000"``, ``"[::1]"``.

    Returns:
        The parsed pattern; ``parse_pattern(p.text) == p``.

    Raises:
        PatternError: the pattern is malformed or too broad; the message
            quotes it and says what to write instead.
    """
    return _parse_pattern(text, check_public_suffix=True)


def stored_pattern(text: str) -> DomainPattern:
    """Parse a pattern read back from the store.

    It was checked against the Public Suffix List when it was added; it is not
    checked again, so a newer snapshot never silently drops an authorization
    that is already in use.

    Raises:
        PatternError: the stored text is not a valid pattern at all.
    """
    return _parse_pattern(text, check_public_suffix=False)


def _parse_pattern(text: str, check_public_suffix: bool) -> DomainPattern:
    if not isinstance(text, str) or not text:
        raise PatternError("an empty domain pattern authorizes nothing; write e.g. 'example.com'")
    if any(c.isspace() or ord(c) < 0x20 or c == "\x7f" for c in text):
        raise PatternError(f"domain pattern {text!r} contains whitespace or a control character; "
                           "remove it")
    rest = text
    scheme = None
    if "://" in rest:
        scheme, rest = rest.split("://", 1)
        scheme = scheme.lower()
        if scheme not in DEFAULT_PORTS:
            raise PatternError(f"domain pattern {text!r}: scheme {scheme!r} is not allowed; "
                               "web pages calling the API are served over 'http://' or 'https://'")
    elif _SCHEME_LIKE_RE.match(rest) and not rest.startswith("["):
        raise PatternError(f"domain pattern {text!r} looks like a URL without '//'; "
                           "write e.g. 'https://example.com' or just 'example.com'")
    if "\\" in rest:
        raise PatternError(f"domain pattern {text!r} contains a backslash; write just the host, "
                           "e.g. 'example.com'")
    for mark in "/?#":
        if mark in rest:
            origin_part = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
            suggestion = f"{scheme}://{origin_part}" if scheme else origin_part
            raise PatternError(f"domain pattern {text!r} has a path, query or fragment; "
                               f"authorization is per origin, so write {suggestion!r}")
    if "@" in rest:
        raise PatternError(f"domain pattern {text!r} contains userinfo ('user@'); "
                           "write just the host, e.g. 'example.com'")
    host, port = _split_host_port(text, rest)
    host = _pattern_host(text, host, check_public_suffix)
    if scheme is not None and port == DEFAULT_PORTS[scheme]:
        port = None
    canonical = host if port is None else f"{host}:{port}"
    if scheme is not None:
        canonical = f"{scheme}://{canonical}"
    return DomainPattern(scheme=scheme, host=host, port=port, text=canonical)


def _split_host_port(text: str, rest: str):
    if rest.startswith("*.["):
        raise PatternError(f"domain pattern {text!r}: an IP address cannot have subdomains; "
                           "drop the '*.'")
    if rest.startswith("["):
        end = rest.find("]")
        if end < 0:
            raise PatternError(f"domain pattern {text!r}: IPv6 address lacks its closing ']'")
        host, after = rest[:end + 1], rest[end + 1:]
        if after and not after.startswith(":"):
            raise PatternError(f"domain pattern {text!r}: unexpected {after!r} after the IPv6 address")
        port_text = after[1:] if after else None
    elif rest.count(":") > 1:
        raise PatternError(f"domain pattern {text!r}: write an IPv6 address in brackets, "
                           "e.g. '[::1]' or '[::1]:8000'")
    elif ":" in rest:
        host, port_text = rest.split(":")
    else:
        host, port_text = rest, None
    if port_text is None:
        return host, None
    if not port_text.isascii() or not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise PatternError(f"domain pattern {text!r}: port {port_text!r} must be a number "
                           "from 1 to 65535")
    return host, int(port_text)


def _pattern_host(text: str, host: str, check_public_suffix: bool) -> str:
    """Validate and normalize the host part of a pattern (see :func:`parse_pattern`)."""
    if not host:
        raise PatternError(f"domain pattern {text!r} has no host; write e.g. 'example.com'")
    if host == "*":
        raise PatternError(f"domain pattern {text!r} would authorize every website; "
                           "list your sites, e.g. 'example.com' or '*.example.com'")
    wildcard = host.startswith("*.")
    name = host[2:] if wildcard else host
    if "*" in name:
        raise PatternError(f"domain pattern {text!r}: '*' may only be the whole first label, "
                           "as in '*.example.com'")
    if name.startswith("["):
        if wildcard:
            raise PatternError(f"domain pattern {text!r}: an IP address cannot have subdomains; "
                               "drop the '*.'")
        return _ipv6_host(name, text)
    if name.endswith(".") and name != ".":
        raise PatternError(f"domain pattern {text!r} ends with a dot; write it without, e.g. "
                           f"{text.rstrip('.')!r} (the dotted form is a different origin to browsers)")
    try:
        name = hostnames.to_ascii(name)
    except hostnames.HostError as exc:
        raise PatternError(f"domain pattern {text!r}: {exc}") from None
    if _NUMERIC_LABEL_RE.fullmatch(name.rsplit(".", 1)[-1]):
        canonical = _canonical_ipv4(name)
        if canonical is None or canonical != name:
            hint = f"write it as {canonical!r}" if canonical else "use a name or a dotted-quad IPv4 address"
            raise PatternError(f"domain pattern {text!r}: {name!r} ends in a number, so browsers "
                               f"read it as an IPv4 address; {hint}")
        if wildcard:
            raise PatternError(f"domain pattern {text!r}: an IP address cannot have subdomains; "
                               "drop the '*.'")
        return name
    if wildcard and check_public_suffix:
        _check_wildcard_scope(text, name)
    return f"*.{name}" if wildcard else name


def _check_wildcard_scope(text: str, name: str) -> None:
    """Refuse ``*.name`` when the hosts under ``name`` belong to many owners (Public Suffix List)."""
    suffix = publicsuffix.public_suffix_within(name)
    if suffix is None:
        return
    if suffix == name:
        kind = "top-level domain" if "." not in name else "public suffix"
        raise PatternError(f"{text!r} is a wildcard on the {kind} {name}; authorize "
                           f"'example.{name}' or '*.example.{name}' instead (a wildcard there "
                           "would cover sites of many owners)")
    raise PatternError(f"{text!r} would cover the Public Suffix List entry {suffix}, under which sites of "
                       f"many owners live; authorize your own host names under {name} one by one")


def _ipv6_host(bracketed: str, text: str) -> str:
    inner = bracketed[1:-1]
    try:
        if "%" in inner:
            raise ValueError("zone identifiers are not part of a URL")
        address = ipaddress.IPv6Address(inner)
    except ValueError as exc:
        raise PatternError(f"domain pattern {text!r}: {inner!r} is not an IPv6 address ({exc})") from None
    return f"[{address.compressed}]"


def _canonical_ipv4(host: str) -> str | None:
    """Return the dotted-quad form of ``host`` if it is one IPv4 address in decimal, else None.

    NOTE: The URL Standard also reads ``127.1`` and ``0x7f.0.0.1`` as IPv4 and
    serializes them as ``127.0.0.1``; such spellings are refused with this
    form as the hint rather than guessed at.
    """
    parts = host.split(".")
    if len(parts) != 4 or not all(p.isascii() and p.isdigit() and len(p) <= 3 for p in parts):
        return None
    values = [int(p) for p in parts]
    if any(v > 255 for v in values):
        return None
    return ".".join(map(str, values))


def parse_origin(value: str | None) -> Origin | None:
    """Parse an ``Origin`` request header.

    Args:
        value: the header value, e.g. ``"https://example.com"``.

    Returns:
        The origin, or None for ``null`` (an opaque origin), a scheme other
        than http/https, and anything that is not a serialized origin
        (RFC 6454 section 6.2): paths, userinfo, whitespace, lists, bad ports,
        non-ASCII, empty labels, malformed IP literals.
    """
    if not value or len(value) > _MAX_ORIGIN_LENGTH:
        return None
    return _parse_origin_cached(value)


@functools.lru_cache(maxsize=4096)
def _parse_origin_cached(value: str) -> Origin | None:
    """PERF: a page's visitors all send the same Origin, so most requests are a
    cache hit. The cache is bounded (4,096 values of at most 300 characters)
    and holds site origins only, never anything about a visitor."""
    match = _ORIGIN_RE.fullmatch(value)
    if match is None:
        return None
    return _origin_from(match, value)


def referer_origin(value: str | None) -> Origin | None:
    """Reduce a ``Referer`` URL to its origin, strictly.

    Browsers send ``Referer`` fully serialized (URL Standard), so anything
    else is refused rather than repaired: whitespace, control characters,
    backslashes and non-ASCII anywhere, userinfo, bad ports, and commas
    (two Referer headers, joined by the server).

    Returns:
        The origin, with :attr:`Origin.serialized` the ``scheme://host[:port]``
        prefix of the value; or None.
    """
    if not value or _FORBIDDEN_IN_REFERER.search(value):
        return None
    match = _REFERER_RE.match(value)
    if match is None:
        return None
    return _origin_from(match, match.group(0))


def _origin_from(match, serialized: str) -> Origin | None:
    scheme, host, port_text = match.groups()
    scheme = scheme.lower()
    host = host.lower()
    if host[0] == "[":
        try:
            host = f"[{ipaddress.IPv6Address(host[1:-1]).compressed}]"
        except ValueError:
            return None
    else:
        # The regex checked every label; a trailing dot stays in ``host`` (module doc).
        name = host[:-1] if host[-1] == "." else host
        if len(name) > hostnames.MAX_NAME_LENGTH:
            return None
        last = name.rpartition(".")[2]
        if last[0] in "0123456789" and _NUMERIC_LABEL_RE.fullmatch(last) \
                and _canonical_ipv4(name) is None:
            return None
    if port_text is None:
        port = DEFAULT_PORTS[scheme]
    else:
        port = int(port_text)
        if port > 65535:
            return None
    return Origin(scheme, host, port, serialized)


def is_allowed(origin: Origin | None, patterns) -> bool:
    """Return True when ``origin`` matches one of ``patterns``.

    Scheme, host and port are compared as parsed values. A pattern without a
    scheme admits http and https; without a port, only the scheme's default
    port. A wildcard ``*.example.com`` admits hosts with one or more labels
    before ``example.com``, never ``example.com`` itself.

    Args:
        origin: from :func:`parse_origin` or :func:`referer_origin`; None
            (no usable origin) is never allowed.
        patterns: an iterable of :class:`DomainPattern`.
    """
    if origin is None:
        return False
    scheme, host, port = origin.scheme, origin.host, origin.port
    default_port = DEFAULT_PORTS[scheme]
    for pattern in patterns:
        if pattern.scheme is not None and pattern.scheme != scheme:
            continue
        if port != (default_port if pattern.port is None else pattern.port):
            continue
        wanted = pattern.host
        if wanted[0] == "*":
            # NOTE: both hosts are validated label sequences and wanted[1:]
            # starts with ".", so this suffix test falls on a label boundary:
            # "a.example.com" matches ".example.com", "evilexample.com" and
            # "example.com" do not, and a trailing-dot host never does.
            if len(host) > len(wanted) - 1 and host.endswith(wanted[1:]):
                return True
        elif host == wanted:
            return True
    return False
