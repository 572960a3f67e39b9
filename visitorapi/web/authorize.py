"""Which origin asks, and may it use this project: a typed :class:`Decision`.

``Origin`` decides when present; ``Referer`` is used only when ``Origin`` is
absent, reduced to its origin (RFC 6454). ``Origin: null`` (opaque origins:
sandboxed frames, ``file:``, some redirects) never matches anything. A
refusal says the same whether or not the project exists, so a caller
cannot probe for pids.
"""
import enum
from typing import NamedTuple

from visitorapi.domains import Origin, is_allowed, parse_origin, referer_origin
from visitorapi.http.headers import check_header_value


class Reason(enum.Enum):
    """Why a request's origin was allowed or refused."""

    AUTHORIZED = "authorized"
    NO_ORIGIN = "neither Origin nor Referer"
    NULL_ORIGIN = "Origin: null"
    INVALID_ORIGIN = "Origin is not an origin"
    INVALID_REFERER = "Referer is not an http(s) URL"
    NOT_AUTHORIZED = "origin not authorized for the project"


# The 403 message for each refusal whose text does not name the origin.
_MESSAGES = {
    Reason.NO_ORIGIN: "an Origin or Referer header from an authorized site is required",
    Reason.NULL_ORIGIN: "origin null is not authorized for this project",
    Reason.INVALID_ORIGIN: "the Origin header is not a valid origin (RFC 6454)",
    Reason.INVALID_REFERER: "the Referer header is not an http(s) URL",
}


class AskingOrigin(NamedTuple):
    """The origin a request speaks for.

    Attributes:
        origin: the parsed origin, or None (``reason`` says why).
        reason: None when ``origin`` was parsed, else why not.
        readable: the request carried an ``Origin`` this API may echo in
            ``Access-Control-Allow-Origin`` (a parseable one or ``null``), so the
            page can read the answer, errors included.
    """

    origin: Origin | None
    reason: Reason | None
    readable: bool


def asking_origin(environ) -> AskingOrigin:
    """Find the origin that asks (``Origin``, else the origin of ``Referer``)."""
    header = environ.get("HTTP_ORIGIN")
    if header is not None:
        if header.strip() == "null":
            return AskingOrigin(None, Reason.NULL_ORIGIN, _echoable(header))
        origin = parse_origin(header)
        if origin is None:
            return AskingOrigin(None, Reason.INVALID_ORIGIN, False)
        return AskingOrigin(origin, None, True)
    referer = environ.get("HTTP_REFERER")
    if referer is None:
        return AskingOrigin(None, Reason.NO_ORIGIN, False)
    origin = referer_origin(referer)
    if origin is None:
        return AskingOrigin(None, Reason.INVALID_REFERER, False)
    return AskingOrigin(origin, None, False)


def _echoable(header: str) -> bool:
    """True if ``header`` may be written back as a header value (no CR, LF or NUL)."""
    try:
        check_header_value(header)
    except ValueError:
        return False
    return True


class Decision(NamedTuple):
    """May this request use the project?

    Attributes:
        allowed: True only for an authorized origin of a known, enabled project.
        reason: :attr:`Reason.AUTHORIZED`, or why not.
        asking: the origin the request speaks for.
    """

    allowed: bool
    reason: Reason
    asking: AskingOrigin

    @property
    def denied_origin(self) -> str | None:
        """The serialized origin that was refused (None when allowed or none was parsed)."""
        if self.allowed or self.asking.origin is None:
            return None
        return self.asking.origin.serialized

    @property
    def message(self) -> str:
        """The 403 message for a refusal: what is wrong, never the raw header."""
        if self.reason is Reason.NOT_AUTHORIZED:
            return f"origin {self.asking.origin.serialized} is not authorized for this project"
        return _MESSAGES.get(self.reason, "")


def authorize(environ, patterns) -> Decision:
    """Decide whether the request's origin may use a project with ``patterns``.

    Args:
        environ: the WSGI environ (``Origin``, ``Referer``).
        patterns: the project's authorized-domain patterns, or None for an
            unknown or disabled project (then every origin is refused with
            the same message as an unauthorized one).
    """
    asking = asking_origin(environ)
    if asking.origin is None:
        return Decision(False, asking.reason, asking)
    if patterns is not None and is_allowed(asking.origin, patterns):
        return Decision(True, Reason.AUTHORIZED, asking)
    return Decision(False, Reason.NOT_AUTHORIZED, asking)
