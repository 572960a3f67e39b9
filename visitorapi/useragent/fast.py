"""The fast path: the few UA shapes that make up nearly all browser traffic.

Most requests carry ``Mozilla/5.0 (<platform>) AppleWebKit/<v> (KHTML, like
Gecko) <products>`` or the Gecko equivalent, with a platform comment from a
short list (Windows NT 10.0, macOS's frozen "Intel Mac OS X 10_15_7", an
iPhone or iPad, an Android phone). This module answers those with a handful of
slices and dict lookups, and returns ``None`` for anything it is not certain
about, so the general rules in the sibling modules decide every other UA.

It holds no rules of its own: the answers for fixed platform comments are
computed once, at import, by the general ``systems`` and ``devices`` rules,
and browsers are resolved by ``browsers.from_products``. The tests check that
the fast path and the general rules agree on every corpus UA.

PERF: this path is what ``tools/bench_useragent.py`` measures for typical
traffic; each step here is one C-level string operation where possible.
"""
from visitorapi.useragent import browsers, devices, systems

# Platform comments that browsers freeze or repeat verbatim ("; rv:N" is cut first).
_FIXED_COMMENTS = (
    "Windows NT 10.0; Win64; x64", "Windows NT 10.0", "Windows NT 10.0; WOW64",
    "Windows NT 10.0; Win64; x64; Xbox; Xbox One",
    "Windows NT 6.1; Win64; x64", "Windows NT 6.1; WOW64", "Windows NT 6.1",
    "Windows NT 6.2; Win64; x64", "Windows NT 6.2; WOW64", "Windows NT 6.3; Win64; x64",
    "Windows NT 6.3; WOW64", "Windows NT 5.1", "Windows NT 6.0",
    "X11; Linux x86_64", "X11; Linux aarch64", "X11; Linux i686", "X11; Ubuntu; Linux x86_64",
    "X11; Fedora; Linux x86_64", "Macintosh; Intel Mac OS X 10_15_7", "Macintosh; Intel Mac OS X 10.15",
)
_DESKTOP_DEVICE = {"deviceBrand": "", "deviceModel": "", "deviceFamily": "Other", "deviceType": "desktop"}


def _platform_of(comment: str):
    """The general rules' answer for a fixed platform comment (run once per entry, at import)."""
    ua = "Mozilla/5.0 (" + comment + ")"
    os_family, os_version = systems.detect(ua, comment)
    brand, model, family, device_type = devices.detect(ua, comment, os_family, False)
    if "Xbox" in comment:
        device_type = "console"
    return os_family, {"os": os_family, "osVersion": os_version, "deviceBrand": brand,
                       "deviceModel": model, "deviceFamily": family, "deviceType": device_type,
                       "isBot": False}


_FIXED = {comment: _platform_of(comment) for comment in _FIXED_COMMENTS}
_APPLE_IPHONE = ("Apple", "iPhone", "iPhone", "mobile")
_APPLE_IPAD = ("Apple", "iPad", "iPad", "tablet")


def _dotted(version: str, separator: str) -> str:
    """``18_7_1`` -> ``18.7``; "" unless it is digits separated by ``separator``."""
    major, _, rest = version.partition(separator)
    if not major.isdecimal():
        return ""
    minor = rest.partition(separator)[0]
    return major + "." + minor if minor.isdecimal() else major


def _apple(comment: str):
    """iPhone and iPad comments: ``iPhone; CPU iPhone OS 18_7 like Mac OS X``."""
    if not comment.endswith(" like Mac OS X"):
        return None
    if comment.startswith("iPhone; CPU iPhone OS "):
        version, device = comment[22:-14], _APPLE_IPHONE
    elif comment.startswith("iPad; CPU OS "):
        version, device = comment[13:-14], _APPLE_IPAD
    else:
        return None
    version = _dotted(version, "_")
    if not version:
        return None
    brand, model, family, device_type = device
    return "iOS", {"os": "iOS", "osVersion": version, "deviceBrand": brand, "deviceModel": model,
                   "deviceFamily": family, "deviceType": device_type, "isBot": False}


def _android(ua: str, comment: str, mobile: bool):
    """``Linux; Android 14; SM-S928U Build/UP1A.231005.007; wv``: version by slicing, model by the rules."""
    version, _, rest = comment[15:].partition(";")
    if not version.replace(".", "").isdecimal():
        return None
    version = _dotted(version, ".")
    if not version or "compatible" in rest or "ot" in rest or "pider" in rest or "rawl" in rest:
        return None
    brand, model, family, device_type = devices.android(ua, comment, mobile)
    return "Android", {"os": "Android", "osVersion": version, "deviceBrand": brand, "deviceModel": model,
                       "deviceFamily": family, "deviceType": device_type, "isBot": False}


def parse(ua: str):
    """The full answer for a common browser UA, or ``None`` to defer to the general rules."""
    end = ua.find(")", 13)
    if end < 0:
        return None
    comment = ua[13:end]
    if "(" in comment:
        return None
    tail = ua[end + 1:]
    if tail.startswith(" AppleWebKit/"):
        close = tail.find(") ", 13)
        if close < 0 or not tail.startswith("(KHTML, like Gecko", close - 18):
            return None
        products = tail[close + 2:]
    elif tail.startswith(" Gecko/"):
        products = tail[1:]
    else:
        return None
    base = comment
    rv = comment.find("; rv:")
    if rv >= 0:
        if ";" in comment[rv + 2:]:
            return None
        base = comment[:rv]
    fixed = _FIXED.get(base)
    if fixed is not None:
        os_family, platform = fixed
    elif base.startswith("Linux; Android "):
        found = _android(ua, comment, "Mobile" in products)
        if found is None:
            return None
        os_family, platform = found
    else:
        found = _apple(comment)
        if found is None:
            return None
        os_family, platform = found
    browser = browsers.from_products(products, ua, comment, tail, os_family)
    if browser is None:
        return None
    result = dict(platform)
    result["browser"], result["browserVersion"] = browser
    return result
