"""The fast path: the few UA shapes that make up nearly all browser traffic.

Most requests carry ``Mozilla/5.0 (<platform>) AppleWebKit/<v> (KHTML, like
Gecko) <products>`` or the Gecko equivalent, with a platform comment from a
short list (Windows NT 10.0, macOS's frozen "Intel Mac OS X 10_15_7", an
iPhone or iPad, an Android phone). Two layers answer those and return
``None`` for anything they are not certain about, so the general rules in the
sibling modules decide every other UA:

* ``SHAPES`` + ``from_shape``: one regex match reads Chrome, Android web
  view, Safari and Firefox UAs whole; the Android model goes to the same
  ``vendors`` table the general rules use.
* ``parse``: a few slices and dict lookups for the other browsers on those
  platforms, with ``browsers.from_products`` naming the browser.

The answers for fixed platform comments are computed once, at import, by the
general ``systems`` and ``devices`` rules. ``from_shape`` repeats the browser
names ``browsers`` gives these product lists; the tests check that every
layer agrees with the general rules on every corpus UA and on generated ones.

PERF: this path is what ``tools/bench_useragent.py`` measures for typical
traffic; see the PERF notes below for why each step looks the way it does.
"""
import re

from visitorapi.useragent import bots, browsers, devices, models, systems, vendors

# PERF: the commonest UA shapes read in one C-level match: Chrome (or an
# Android web view), Safari and Firefox with nothing after their own product,
# on an Android, iPhone or iPad comment or any other comment (looked up in
# _FIXED). Every quantifier is followed by a character it cannot consume, so
# a failed match gives back each character at most once per alternative: the
# cost is linear in the length.
SHAPES = re.compile(
    r"Mozilla/5\.0 \("
    r"(?:Linux; Android ([0-9]+(?:\.[0-9]+)?)(?:\.[0-9]+)*; ([^;()]*)(; wv)?"              # 1-3 Android
    r"|(?:(iPhone); CPU iPhone|iPad; CPU) OS ([0-9]+)(?:_([0-9]+))?(?:_[0-9]+)* like Mac OS X"  # 4-6 iOS
    r"|([^()]*))\) "                                                                  # 7 other
    r"(?:AppleWebKit/[0-9.]+ \(KHTML, like Gecko\) "
    r"(?:(Version/[0-9.]+ )?Chrome/([0-9]+\.[0-9]+)(?:\.[0-9.]*)? (Mobile )?"                # 8-10 Chrome
    r"|Version/([0-9]+\.[0-9]+)(?:\.[0-9.]*)? (Mobile/[0-9A-Za-z]+ )?)Safari/[0-9.]+"       # 11-12 Safari
    r"|Gecko/[0-9]+ Firefox/([0-9]+\.[0-9]+)(?:\.[0-9.]*)?)")                              # 13 Firefox
# What in an Android model part sends the UA to the general rules: a bot hint
# (``bots.HINTS``, the general rules' own pre-filter, so the two cannot
# drift apart), or a word ``systems`` or ``browsers`` would read as another
# OS or browser. PERF: case-sensitive like the pre-filter, so no lower(), and
# merged into a trie so each position tries a character or two.
_DECLINE = re.compile(models.alternation(
    bots.HINTS + ("Windows", "like Android", "TwitterAndroid", "Opera Mini", "[FB", "FBAN/", " Build ")))

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


def _android(ua: str, comment: str, tail: str):
    """``Linux; Android 14; SM-S928U Build/UP1A.231005.007; wv``: version and model by slicing.

    Returns ``(os_version, device)`` or ``None`` for a comment the general rules should read.
    """
    version, _, rest = comment[15:].partition("; ")
    major, dot, minor = version.partition(".")
    if not major.isdecimal():
        return None
    if dot:
        minor = minor.partition(".")[0]
        if not minor.isdecimal() or not version.replace(".", "").isdecimal():
            return None
        version = major + "." + minor
    if "ot" in rest or "compatible" in rest or "pider" in rest or "rawl" in rest:
        return None  # possibly a crawler: the general rules decide
    mobile = "Mobile" in tail or "Mobile" in rest
    if rest.endswith("; wv"):
        rest = rest[:-4]
    at = rest.find(" Build/")
    if at >= 0:
        token = rest[:at].strip()
    elif "Build/" in rest:
        return version, devices.android(ua, comment, mobile)
    else:
        token = rest.strip()
        if devices.is_filler(token):
            return version, devices.android(ua, comment, mobile)
    if not token or ";" in token:
        return version, devices.android(ua, comment, mobile)
    return version, devices.android_device(token, mobile)


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
    # PERF: Android first (half of all distinct UAs), then the fixed desktop comments, then Apple.
    if comment.startswith("Linux; Android "):
        found = _android(ua, comment, tail)
        if found is None:
            return None
        os_version, (brand, model, family, device_type) = found
        browser = browsers.from_products(products, ua, comment, tail, "Android")
        if browser is None:
            return None
        return {"browser": browser[0], "browserVersion": browser[1], "os": "Android", "osVersion": os_version,
                "deviceBrand": brand, "deviceModel": model, "deviceFamily": family, "deviceType": device_type,
                "isBot": False}
    fixed = _FIXED.get(comment)
    if fixed is None:
        rv = comment.find("; rv:")
        if rv >= 0:
            if ";" in comment[rv + 2:]:
                return None
            fixed = _FIXED.get(comment[:rv])
        if fixed is None:
            fixed = _apple(comment)
            if fixed is None:
                return None
    os_family, platform = fixed
    browser = browsers.from_products(products, ua, comment, tail, os_family)
    if browser is None:
        return None
    result = dict(platform)
    result["browser"], result["browserVersion"] = browser
    return result


def from_shape(match):
    """The answer for a UA that ``SHAPES`` matched in full, or ``None`` to defer to the general rules.

    The family names repeat what ``browsers`` decides for these product
    lists (``from_products``); the tests check both agree on every corpus UA.
    """
    (android, rest, webview, iphone, ios_major, ios_minor, comment,
     webview_version, chrome, mobile, safari, mobile_safari, firefox) = match.groups()
    if rest is not None:
        # PERF: Chrome on Android, most of all distinct UAs, is answered inline.
        if chrome is None or _decline(rest) is not None:
            return None  # the stock Android browser, Firefox on a Linux comment, a bot or an odd model
        at = rest.find(" Build/")
        if at >= 0:
            token = rest[:at].strip()
        elif "Build/" in rest:
            return None
        else:
            token = rest.strip()
            if len(token) <= 8 and token != "K" and devices.is_filler(token):
                return None
        if not token:
            return None
        phone = mobile is not None or "Mobile" in rest
        brand, model, family, device_type = _android_lookup(token, phone) or devices.unknown_android(token, phone)
        if webview or webview_version:
            browser = "Chrome Mobile WebView"
        else:
            browser = "Chrome Mobile" if mobile else "Chrome"
        return {"browser": browser, "browserVersion": chrome, "os": "Android", "osVersion": android,
                "deviceBrand": brand, "deviceModel": model, "deviceFamily": family, "deviceType": device_type,
                "isBot": False}
    if ios_major is not None:
        version = ios_major if ios_minor is None else ios_major + "." + ios_minor
        result = {"os": "iOS", "osVersion": version, "deviceBrand": "Apple", "deviceModel": "iPhone",
                  "deviceFamily": "iPhone", "deviceType": "mobile", "isBot": False} if iphone else {
                  "os": "iOS", "osVersion": version, "deviceBrand": "Apple", "deviceModel": "iPad",
                  "deviceFamily": "iPad", "deviceType": "tablet", "isBot": False}
        os_family = "iOS"
    else:
        if firefox is not None:
            comment, _, rv = comment.partition("; rv:")
            if ";" in rv:
                return None
        fixed = _FIXED.get(comment)
        if fixed is None:
            return None
        os_family, platform = fixed
        result = dict(platform)
    if chrome is not None:
        result["browser"] = "Chrome Mobile" if mobile else "Chrome"
        result["browserVersion"] = chrome
    elif safari is not None:
        result["browser"] = "Mobile Safari" if mobile_safari or os_family == "iOS" else "Safari"
        result["browserVersion"] = safari
    else:
        result["browser"] = "Firefox"
        result["browserVersion"] = firefox
    return result


# PERF: bound once, so the hot path does no attribute lookups.
_android_lookup = vendors.ANDROID.lookup
_decline = _DECLINE.search
