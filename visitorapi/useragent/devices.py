"""Device brand, model and family from a User-Agent.

Two steps. First find the model token where each UA shape keeps it: the
Android comment (``Linux; Android 14; SM-S928U Build/...``), a vendor word
anywhere in a feature-phone or app UA (``SAMSUNG-SGH-A801``,
``(SonyEricssonW900i/R1L)``, ``... 240X400 LG VN271``), the vendor pair of a
Windows Phone (``NOKIA; Lumia 920``), or a device class's standard field
(``appliances``: HbbTV, NetCast, docomo, consoles). Then name its brand with
the vendor conventions in ``vendors`` (Samsung's ``SM-``, ``GT-``; Sony
Ericsson's ``LT26i``; the Japanese carriers' ``SH-01D``). Families and
pseudo-brands follow uap-core: "Samsung SM-G991B", "Generic_Android" with the
raw model for an unknown Android phone, "Generic_Android_Tablet" without the
"Mobile" marker, "Generic Smartphone" when an Android UA names no model,
"Spider" for bots.

PERF: ``vendors`` tables are indexed by the token's first two characters
(see ``models.Table``); the vendor-word scan is one regex search.
"""
import re

from visitorapi.useragent import appliances, vendors

_APPLE = {
    "iPhone": ("Apple", "iPhone", "iPhone", "mobile"),
    "iPad": ("Apple", "iPad", "iPad", "tablet"),
    "iPod": ("Apple", "iPod", "iPod", "mobile"),
    "Macintosh": ("Apple", "Mac", "Mac", "desktop"),
}
_NO_DEVICE = ("", "", "Other", "desktop")
_UNKNOWN_DEVICE = ("", "", "Other", "unknown")
_LOCALE = re.compile(r"[a-zA-Z]{2,3}(?:[-_][a-zA-Z]{2,4})?")
_SKIP_PARTS = frozenset(("U", "I", "N", "wv", "Mobile", "Tablet", "Linux", "K", ""))


def is_filler(part: str) -> bool:
    """Whether a comment part is not a model name: a marker ("U", "wv", "Mobile"), ``rv:``, or a locale."""
    return part in _SKIP_PARTS or part.startswith("rv:") or (len(part) <= 8 and _LOCALE.fullmatch(part) is not None)


def android_model(comment: str) -> str:
    """The model token of an Android comment: before `` Build/``, else the part after the version."""
    at = comment.find(" Build/")
    if at < 0:
        at = comment.find("Build/")
    if at < 0:
        at = comment.find(" Build ")  # UC Browser writes "GT-I9300 Build IMM76D"
    if at >= 0:
        start = comment.rfind(";", 0, at) + 1
        return comment[start:at].strip()
    parts = comment.split(";")
    seen_android = False
    for part in parts:
        part = part.strip()
        if not seen_android:
            seen_android = part.startswith("Android")
            continue
        if is_filler(part):
            if part == "K":
                return "K"
            continue
        return part
    return ""


def detect(ua: str, comment: str, os_family: str, mobile: bool):
    """Return ``(brand, model, family, device_type)``; unknown is ``("", "", "Other", ...)``.

    Args:
        ua: the whole User-Agent.
        comment: its first parenthesised comment.
        os_family: the OS already detected.
        mobile: whether the UA carries the "Mobile" marker.
    """
    if os_family == "iOS" or os_family == "Mac OS X":
        # The device named first: "iPod touch; CPU iPhone OS 9_3" is an iPod.
        first = None
        for marker, device in _APPLE.items():
            at = comment.find(marker)
            if at >= 0 and (first is None or at < first[0]):
                first = (at, device)
        if first is not None:
            return first[1]
        if os_family == "Mac OS X":
            return _APPLE["Macintosh"]
        return _head_device(ua) or _UNKNOWN_DEVICE
    if os_family == "Android":
        return android(ua, comment, mobile)
    found = appliances.detect(ua)
    if found is not None:
        return found
    if os_family in ("Windows", "Linux", "Chrome OS", "Ubuntu", "Fedora", "Debian"):
        return _NO_DEVICE
    if os_family == "Windows Phone":
        return _windows_phone(comment) or _UNKNOWN_DEVICE
    return _head_device(ua) or _UNKNOWN_DEVICE


def android(ua: str, comment: str, mobile: bool):
    """``detect`` for an Android UA: the model token of its comment, branded by the rules.

    An app's UA often names the handset outside a browser-style comment
    ("VKAndroidApp/3.2.1 (Android 4.1.2; SDK 16; armeabi-v7a; samsung
    GT-I9105; ru)"); when the comment is not a browser's ``Linux; ...`` one
    and its token is unknown, the vendor words anywhere in the UA decide.
    """
    token = android_model(comment)
    if token:
        found = vendors.ANDROID.lookup(token, mobile)
        if found is not None:
            return found
    if not token or not comment.startswith("Linux"):
        found = vendors.PHONES.scan(ua)
        if found is not None:
            return found
    if token:
        return unknown_android(token, mobile)
    if mobile or "Mobile" in ua:
        return ("Generic", "Smartphone", "Generic Smartphone", "mobile")
    if "Tablet" in comment:
        return ("Generic", "Tablet", "Generic Tablet", "tablet")
    return ("Generic", "Smartphone", "Generic Smartphone", "mobile")


def android_device(token: str, mobile: bool):
    """``(brand, model, family, device_type)`` for a non-empty Android model token."""
    return vendors.ANDROID.lookup(token, mobile) or unknown_android(token, mobile)


def unknown_android(token: str, mobile: bool):
    """uap-core's answer for an Android model token no rule knows: the token with a pseudo-brand."""
    if mobile:
        return ("Generic_Android", token, token, "mobile")
    return ("Generic_Android_Tablet", token, token, "tablet")


def _windows_phone(comment):
    """``...; IEMobile/10.0; ARM; Touch; NOKIA; Lumia 920)``: vendor then model."""
    parts = [p.strip() for p in comment.split(";")]
    for index, part in enumerate(parts[:-1]):
        upper = part.upper()
        if upper in ("NOKIA", "SAMSUNG", "HTC", "LG", "MICROSOFT", "HUAWEI", "ZTE", "ACER", "DELL"):
            model = parts[index + 1]
            brand = {"NOKIA": "Nokia", "SAMSUNG": "Samsung", "MICROSOFT": "Microsoft",
                     "HUAWEI": "Huawei", "ACER": "Acer", "DELL": "Dell"}.get(upper, upper)
            family = model if model.startswith("Lumia") else brand + " " + model
            return (brand, model, family, "mobile")
    return None


def _head_device(ua):
    """Feature phones and other handsets that name their vendor anywhere in the UA."""
    return vendors.PHONES.scan(ua)
