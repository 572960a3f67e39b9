"""Is a name a public suffix? Answered from the shipped Public Suffix List snapshot.

A wildcard pattern such as ``*.github.io`` would authorize every site anyone
hosts under ``github.io``; the Public Suffix List (https://publicsuffix.org,
MPL-2.0) is the community's record of such names. The snapshot lives in
``data/public_suffix_list.dat`` (date and source in ``data/README.md``;
``tools/update_public_suffix_list.py`` refreshes it) and is read once, on the
first question, so nothing happens at import.

The matching follows the list's own algorithm (publicsuffix.org/list/): a
name is a public suffix when a normal rule equals it, or a wildcard rule
``*.parent`` covers it and no exception rule ``!name`` lifts it; the implicit
rule ``*`` makes every single-label name (a top-level domain) one too. Both
the ICANN and the PRIVATE sections count, since either way the names below
belong to different owners.
"""
import functools

from visitorapi import resources

DATA_FILE = "public_suffix_list.dat"


def is_public_suffix(name: str) -> bool:
    """Return True when ``name`` is a public suffix.

    Args:
        name: a lowercase domain name in A-label form without a trailing dot,
            e.g. ``"co.uk"`` or ``"xn--55qx5d.cn"``.
    """
    rules, wildcards, exceptions = _rules()
    if name in exceptions:
        return False
    if name in rules or "." not in name:
        return True
    return name.partition(".")[2] in wildcards


def public_suffix_within(name: str) -> str | None:
    """Return a public suffix at or below ``name``, or None if there is none.

    This is the question a wildcard ``*.name`` raises: it covers every host
    under ``name``, so it spans many owners when ``name`` is itself a public
    suffix (``co.uk``), when its children are (``*.kawasaki.jp`` is a rule),
    or when some name below it is (``s3.amazonaws.com`` under
    ``amazonaws.com``).

    Args:
        name: a lowercase domain name in A-label form without a trailing dot.

    Returns:
        ``name`` itself, or one public suffix below it (for the error
        message), or None.
    """
    if is_public_suffix(name):
        return name
    return _suffixes_below().get(name)


def snapshot_version() -> str:
    """Return the snapshot's ``VERSION:`` line (e.g. ``2026-10-22_08-36-41_UTC``), or ``""``."""
    for line in resources.data_path(DATA_FILE).read_text(encoding="utf-8").splitlines():
        if line.startswith("// VERSION:"):
            return line.split(":", 1)[1].strip()
    return ""


@functools.cache
def _rules():
    """Parse the snapshot into (rules, wildcard parents, exceptions), all in A-label form."""
    rules, wildcards, exceptions = set(), set(), set()
    text = resources.data_path(DATA_FILE).read_text(encoding="utf-8")
    for line in text.splitlines():
        rule = line.split(None, 1)[0] if line.strip() else ""
        if not rule or rule.startswith("//"):
            continue
        if rule.startswith("!"):
            exceptions.add(_ascii(rule[1:]))
        elif rule.startswith("*."):
            wildcards.add(_ascii(rule[2:]))
        else:
            rules.add(_ascii(rule))
    return frozenset(rules), frozenset(wildcards), frozenset(exceptions)


@functools.cache
def _suffixes_below():
    """Map every proper ancestor of a rule to one rule under it, e.g. ``amazonaws.com`` -> ``s3.amazonaws.com``."""
    rules, wildcards, _ = _rules()
    below = {}
    for rule in sorted(rules | {f"*.{parent}" for parent in wildcards}, key=lambda r: (len(r), r)):
        labels = rule.split(".")
        for start in range(1, len(labels)):
            below.setdefault(".".join(labels[start:]), rule)
    return below


def _ascii(rule: str) -> str:
    """A-label form of a list entry.

    NOTE: entries are already lowercase NFC U-labels, so ToASCII reduces to
    punycode-encoding each non-ASCII label (RFC 5891 section 4.4).
    """
    return ".".join(label if label.isascii() else "xn--" + label.encode("punycode").decode("ascii")
                    for label in rule.lower().split("."))
