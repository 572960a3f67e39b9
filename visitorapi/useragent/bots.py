"""Crawlers, monitors and other automated clients.

uap-core names a bot by its own product token ("Googlebot", "Bytespider",
"Baiduspider-render") and gives it the pseudo-device "Spider". A bot is
recognised by a keyword inside one of its tokens (bot, spider, crawl...), so
the token is cut out around the keyword with plain string searches.

PERF and safety: no regex scans the UA here. A keyword is found with
``str.find`` on the lower-cased UA and its token is delimited with
``rfind``/``find`` of separators, so the cost is linear in the UA's length
whatever the input (an 8 KB run of letters cannot trigger backtracking).
"""
import re

from visitorapi.useragent.models import alternation
from visitorapi.useragent.text import version2

# PERF: a cheap pre-filter so ``detect`` runs on few UAs: every keyword below
# contains one of these case-sensitive pieces in the spellings crawlers use
# ("Googlebot", "BOT", "Spider", "CRAWLER", "http://..." in a contact URL).
HINTS = ("ot", "OT", "pider", "PIDER", "rawl", "RAWL", "http", "lurp", "onitor", "review", "etcher", "canner",
         "alidator", "ndexer", "rchiver", "crape", "hecker")
MAYBE = re.compile(alternation(HINTS))
# Substrings (lower case) that mark a token as a bot's name.
_KEYWORDS = ("bot", "spider", "crawl", "slurp", "scrape", "archiver", "fetcher",
             "monitor", "checker", "preview", "scanner", "validator", "indexer")
# Tokens that contain a keyword but belong to ordinary clients.
_NOT_BOTS = ("cubot", "bottom", "robot-mower", "abbott")
_SEPARATORS = " ;(),[]+"


def _token_around(ua: str, at: int, length: int) -> str:
    """The product token that contains ``ua[at:at + length]``, without its version."""
    start = max(ua.rfind(sep, 0, at) for sep in _SEPARATORS) + 1
    end = len(ua)
    for sep in _SEPARATORS + "/":
        found = ua.find(sep, at + length)
        if 0 <= found < end:
            end = found
    return ua[start:end]


def _leading_name(ua: str):
    """``(name, version)`` of the UA's first product: ``Steeler/3.3 (...)`` -> ("Steeler", "3.3")."""
    end = len(ua)
    for sep in ("/", " (", ";", ",", " http", " +http", "(", " - "):
        found = ua.find(sep)
        if 0 < found < end:
            end = found
    name = ua[:end].strip()
    version = ""
    if ua[end:end + 1] == "/":
        version = version2(ua[end + 1:end + 25])
    else:
        # "Comodo-Webinspector-Crawler 2.2.2" or "SiteScoreBot v20210315": version after a space.
        space = name.rfind(" ")
        if space > 0:
            last = name[space + 1:]
            number = last[1:] if last[:1] in ("v", "V") else last
            if number[:1].isdigit():
                name, version = name[:space], version2(number)
    return name, version


def _compatible_name(comment: str):
    """``compatible; Name/1.0; +http://...`` -> ("Name", "1.0"), the usual crawler comment."""
    at = comment.find("compatible;")
    if at < 0:
        return None
    part = comment[at + 11:].lstrip()
    end = len(part)
    for sep in (";", " +", " http", ")"):
        found = part.find(sep)
        if 0 <= found < end:
            end = found
    part = part[:end].strip()
    name, _, version = part.partition("/")
    if not name or not name[0].isalnum() or name.startswith(("MSIE", "Windows", "Mozilla")):
        return None
    return name, version2(version)


def detect(ua: str, comment: str = ""):
    """Return ``(name, version)`` when the UA is an automated client, else ``None``.

    The name is the crawler's own product: the token after ``compatible;`` in
    a browser-shaped UA, else the UA's first product, else the token that
    holds the keyword.

    Args:
        ua: the whole User-Agent.
        comment: its first parenthesised comment ("" if none).
    """
    low = ua.lower()
    for keyword in _KEYWORDS:
        at = low.find(keyword)
        if at < 0:
            continue
        if any(word in low for word in _NOT_BOTS):
            return None
        if ua.startswith("Mozilla/"):
            named = _compatible_name(comment)
            if named is not None:
                return named
            name = _token_around(ua, at, len(keyword)).strip(":-_.")
            if not name or not name[0].isalnum():
                return None
            end_of_name = ua.find(name, max(0, at - len(name))) + len(name)
            rest = ua[end_of_name:end_of_name + 24]
            version = ""
            if rest.startswith("/"):
                version = version2(rest[1:])
            elif rest.startswith(" v") and rest[2:3].isdigit():
                version = version2(rest[2:])
            return name, version
        name, version = _leading_name(ua)
        if not name or not name[0].isalnum():
            return None
        return name, version
    return None
