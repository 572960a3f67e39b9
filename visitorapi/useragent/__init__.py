"""Browser, OS and device of a visitor from the User-Agent header.

``parse(ua)`` is the one entry point the API uses. It is pure and
deterministic, never raises, and takes time linear in the UA's length (every
rule is a substring test or an anchored regex without nested repetition;
``tools/bench_useragent.py`` measures the worst case on adversarial input).
Family names and version formats follow uap-core, the rule set most UA
parsers share, so answers compare directly with other tools; the rules here
are written from scratch, not taken from uap-core's regexes.yaml.

The rules live in one module per question:
``systems`` (OS), ``browsers``, ``devices``, ``bots``; ``vendors`` holds the
device makers' model-number conventions (as ``models`` tables), ``appliances``
the TVs, consoles and carrier phones that name themselves in a standard field,
and ``text`` the shared string helpers. ``fast`` answers the commonest browser
shapes first; the tests check it against the general rules.

A small in-process cache (bounded, keyed by the UA string only, never by an
IP; see ``set_cache_size``) spares repeat work for the few UAs that make up
most traffic. ``parse_uncached`` skips it.
"""
from visitorapi.useragent import bots, browsers, devices, fast, systems
from visitorapi.useragent.text import split_comment

__all__ = ["parse", "parse_uncached", "set_cache_size", "KEYS"]

KEYS = ("browser", "browserVersion", "os", "osVersion", "deviceBrand",
        "deviceModel", "deviceFamily", "deviceType", "isBot")

# PERF: a UA longer than this is cut before parsing. Real ones stay under
# 600 characters; the cap bounds the work any single header can cause.
MAX_LENGTH = 2048

_TV_MARKERS = ("SmartTV", "SMART-TV", "Smart TV", "HbbTV", "GoogleTV", "AppleTV", "Apple TV",
               "CrKey", "Roku", "BRAVIA", "NetCast", "Web0S", "AFT", "TV Safari", "Large Screen")
_CONSOLE_MARKERS = ("PlayStation", "PLAYSTATION", "Xbox", "Nintendo")

_cache = {}
_cache_size = 4096


def set_cache_size(size: int) -> None:
    """Bound the parse cache to ``size`` entries; 0 turns it off and empties it.

    The cache holds parse results keyed by the UA string alone, in this
    process's memory only; nothing about the visitor's address is kept.
    """
    global _cache_size
    if size < 0:
        raise ValueError("cache size must be 0 (off) or a positive number of entries")
    _cache_size = size
    _cache.clear()


def parse(ua: str) -> dict:
    """Describe the browser, OS and device behind a User-Agent string.

    Args:
        ua: the User-Agent header value; any string (also "", or text with
            control characters) is accepted.

    Returns:
        A new dict with ``browser``, ``browserVersion``, ``os``, ``osVersion``,
        ``deviceBrand``, ``deviceModel``, ``deviceFamily`` (strings: "Other"
        for an unknown family, "" for an unknown version, brand or model),
        ``deviceType`` (desktop, mobile, tablet, tv, console, wearable, bot
        or unknown) and ``isBot`` (bool).
    """
    if _cache_size:
        hit = _cache.get(ua)
        if hit is not None:
            return dict(hit)
    result = parse_uncached(ua)
    if _cache_size and isinstance(ua, str):
        if len(_cache) >= _cache_size:
            try:  # FIFO eviction; a concurrent thread may have evicted first.
                del _cache[next(iter(_cache))]
            except (KeyError, RuntimeError, StopIteration):
                pass
        _cache[ua] = result
        return dict(result)
    return result


def parse_uncached(ua: str) -> dict:
    """``parse`` without the cache (for benchmarks and tests)."""
    try:
        # PERF: the commonest shapes are tried first, in one regex match (which
        # also reads only the first MAX_LENGTH characters); see fast.SHAPES.
        match = _shape_match(ua, 0, MAX_LENGTH)
    except TypeError:  # not a str
        ua = "" if ua is None else str(ua)
        match = _shape_match(ua, 0, MAX_LENGTH)
    try:
        if match is not None:
            result = _from_shape(match)
            if result is not None:
                return result
        if ua.startswith("Mozilla/5.0 (") and len(ua) <= MAX_LENGTH:
            result = fast.parse(ua)
            if result is not None:
                return result
        return _parse_general(ua[:MAX_LENGTH])
    except Exception:  # noqa: BLE001 - the contract is "never raises"; tests call _parse directly.
        return dict(_UNKNOWN)


# PERF: bound once, so the hot path does no attribute lookups.
_shape_match = fast.SHAPES.fullmatch
_from_shape = fast.from_shape


_UNKNOWN = {"browser": "Other", "browserVersion": "", "os": "Other", "osVersion": "",
            "deviceBrand": "", "deviceModel": "", "deviceFamily": "Other",
            "deviceType": "unknown", "isBot": False}


def _parse(ua: str) -> dict:
    """Parse without the safety net; raises only on a bug in the rules."""
    match = _shape_match(ua)
    if match is not None:
        result = fast.from_shape(match)
        if result is not None:
            return result
    if ua.startswith("Mozilla/5.0 ("):
        result = fast.parse(ua)
        if result is not None:
            return result
    return _parse_general(ua)


def _parse_general(ua: str) -> dict:
    """The general rules, for every UA (the fast path agrees with them where it answers)."""
    head, comment, tail = split_comment(ua)
    os_family, os_version = systems.detect(ua, comment)
    browser, browser_version = browsers.detect(ua, comment, tail, os_family)
    mobile = "Mobile" in tail or "Mobile" in comment
    brand, model, family, device_type = devices.detect(ua, comment, os_family, mobile)
    bot = bots.detect(ua, comment) if bots.MAYBE.search(ua) is not None else None
    is_bot = bot is not None
    if is_bot:
        browser, browser_version = bot
        if os_family != "Android" or family == "Other":
            small = "iPhone" in comment or "Mobile" in ua or "Android" in comment
            brand, model, family = "Spider", ("Smartphone" if small else "Desktop"), "Spider"
        device_type = "bot"
    elif device_type in ("desktop", "unknown"):
        device_type = _other_type(ua, os_family, device_type)
    return {
        "browser": browser, "browserVersion": browser_version,
        "os": os_family, "osVersion": os_version,
        "deviceBrand": brand, "deviceModel": model, "deviceFamily": family,
        "deviceType": device_type, "isBot": is_bot,
    }


def _other_type(ua: str, os_family: str, current: str) -> str:
    """TV, console and wearable, which uap-core's families do not separate out."""
    for marker in _TV_MARKERS:
        if marker in ua:
            return "tv"
    for marker in _CONSOLE_MARKERS:
        if marker in ua:
            return "console"
    if os_family == "WatchOS" or "Watch" in ua and "watchOS" in ua:
        return "wearable"
    if os_family in ("Windows", "Mac OS X", "Linux", "Chrome OS", "Ubuntu", "Fedora",
                     "Debian", "FreeBSD", "OpenBSD", "NetBSD", "Solaris"):
        return "desktop"
    return current if current != "desktop" else "unknown"
