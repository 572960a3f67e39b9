"""Small string helpers shared by the user-agent rule modules.

PERF: every helper here runs on the per-request path, so each is a handful of
C-level string operations or one anchored regex match; none scans the whole
User-Agent more than once.
"""
import re

# A version as uap-core reports it, cut to major[.minor]: "138.0.7204.119" ->
# "138.0", "18_7_1" -> "18.7", "11" -> "11". Anchored, no nested repetition,
# so a match costs at most one pass over the digits.
_VERSION = re.compile(r"(\d+)(?:[._](\d+))?")


def version2(text: str) -> str:
    """Return the leading ``major[.minor]`` of ``text``, or "" if it has no digits first."""
    # PERF: clean "153.0.0.0" versions (most of them) take two partitions, no regex.
    major, dot, rest = text.partition(".")
    if major.isdecimal():
        if not dot:
            return major
        minor = rest.partition(".")[0]
        if minor.isdecimal():
            return major + "." + minor
    match = _VERSION.match(text)
    if match is None:
        return ""
    major, minor = match.groups()
    return major if minor is None else major + "." + minor


def version_after(text: str, marker: str) -> str:
    """Return ``version2`` of what follows the first ``marker`` in ``text`` ("" if absent)."""
    at = text.find(marker)
    if at < 0:
        return ""
    return version2(text[at + len(marker):at + len(marker) + 24])


def split_comment(ua: str):
    """Split a UA into ``(head, comment, tail)`` around its first parenthesised comment.

    RFC 9110 section 10.1.5 defines ``User-Agent = product *( RWS ( product /
    comment ) )``; browsers put the platform in the first comment. A nested
    parenthesis inside it (``moto g(10)``, ``Pixel 4a (5G)``) is kept in the
    comment. Without a comment, ``comment`` is "" and ``tail`` is "".
    """
    start = ua.find("(")
    if start < 0:
        return ua, "", ""
    end = ua.find(")", start)
    if end < 0:
        return ua[:start], ua[start + 1:], ""
    inner = ua.find("(", start + 1, end)
    if inner >= 0:
        # One level of nesting is what real UAs carry; deeper is ignored.
        close = ua.find(")", end + 1)
        if close >= 0 and ua.find("(", end + 1, close) < 0:
            end = close
    return ua[:start], ua[start + 1:end], ua[end + 1:]
