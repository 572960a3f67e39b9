"""Browser (user-agent) family and version.

A browser UA lists its engine and the browsers it descends from before its own
name: Edge says ``Chrome/… Safari/… Edg/…``, Samsung Internet says
``SamsungBrowser/… Chrome/…``. So the product tokens after the platform
comment are looked up in one table that ranks every known product: the most
specific (lowest rank) wins, whatever its position. Family names follow
uap-core ("Chrome Mobile", "Mobile Safari", "Edge Mobile", ...).

PERF: one ``split`` of the text after the comment and one dict lookup per
token; no regex runs for the common browsers. Rarer shapes (no comment,
Opera Presto, MSIE, feature phones, apps) go to ``_fallback``.
"""
import re

from visitorapi.useragent.text import version2, version_after

# Kinds of product rule (third field of a _PRODUCTS value).
_PLAIN = 0      # family as given
_MOBILE = 1     # (desktop family, mobile family) by the "Mobile" marker on Android
_CHROME = 2     # Chrome, Chrome Mobile or Chrome Mobile WebView
_SAFARI = 3     # Safari or Mobile Safari, version from Version/
_NEEDS_MINOR = 4  # family only when the version has a minor part (uap quirk: FxiOS/118)
_FIREFOX = 5    # Firefox, Firefox Mobile, Firefox iOS...

# product token name -> (rank, family or (family, mobile family), kind)
_PRODUCTS = {
    # In-app browsers and apps that wrap a system web view.
    "GSA": (5, "Google", _PLAIN),
    "Snapchat": (5, "Snapchat", _PLAIN),
    "Instagram": (5, "Instagram", _PLAIN),
    "MicroMessenger": (5, "WeChat Browser", _PLAIN),
    "Line": (5, "LINE", _PLAIN),
    "Pinterest": (5, "Pinterest", _PLAIN),
    "NAVER": (5, "NAVER", _PLAIN),
    "KAKAOTALK": (5, "KakaoTalk", _PLAIN),
    "Crosswalk": (6, "Crosswalk", _PLAIN),
    # Browsers built on Chromium or WebKit that add their own token.
    "Edg": (10, "Edge", _PLAIN),
    "Edge": (10, "Edge", _PLAIN),
    "EdgA": (10, "Edge Mobile", _PLAIN),
    "EdgiOS": (10, "Edge Mobile", _PLAIN),
    "EdgW": (10, "Edge", _PLAIN),
    "OPR": (10, ("Opera", "Opera Mobile"), _MOBILE),
    "OPT": (10, "Opera Touch", _PLAIN),
    "OPX": (10, "Opera GX", _PLAIN),
    "OPiOS": (10, "Opera Mini", _PLAIN),
    "OPRGX": (10, "Opera GX", _PLAIN),
    "YaBrowser": (10, "Yandex Browser", _PLAIN),
    "YaSearchBrowser": (10, "Yandex Browser", _PLAIN),
    "SamsungBrowser": (10, "Samsung Internet", _PLAIN),
    "CriOS": (10, "Chrome Mobile iOS", _PLAIN),
    "FxiOS": (10, "Firefox iOS", _NEEDS_MINOR),
    "Focus": (12, "Firefox Focus", _PLAIN),
    "Ddg": (10, ("DuckDuckGo", "DuckDuckGo Mobile"), _MOBILE),
    "DuckDuckGo": (10, "DuckDuckGo Mobile", _PLAIN),
    "Brave": (10, "Brave", _PLAIN),
    "Whale": (10, "Whale", _PLAIN),
    "UCBrowser": (10, "UC Browser", _PLAIN),
    "UBrowser": (10, "UC Browser", _PLAIN),
    "MiuiBrowser": (10, "MiuiBrowser", _PLAIN),
    "HuaweiBrowser": (10, "Huawei Browser", _PLAIN),
    "HeyTapBrowser": (10, "HeyTapBrowser", _PLAIN),
    "VivoBrowser": (10, "vivo Browser", _PLAIN),
    "Silk": (10, "Amazon Silk", _PLAIN),
    "Vivaldi": (10, "Vivaldi", _PLAIN),
    "Avast": (10, "Avast Secure Browser", _PLAIN),
    "AvastSecureBrowser": (10, "Avast Secure Browser", _PLAIN),
    "AVG": (10, "AVG", _PLAIN),
    "Norton": (10, "Norton", _PLAIN),
    "ADG": (10, "AOL Desktop Gold Browser", _PLAIN),
    "Maxthon": (10, "Maxthon", _PLAIN),
    "MxBrowser": (10, "Maxthon", _PLAIN),
    "Tenta": (10, "Tenta Browser", _PLAIN),
    "ABB": (10, "Aloha Browser", _PLAIN),
    "AlohaBrowser": (10, "Aloha Browser", _PLAIN),
    "Unique": (10, "Unique", _PLAIN),
    "LikeWise": (10, "LikeWise", _PLAIN),
    "Iron": (10, "Iron", _PLAIN),
    "Puffin": (10, "Puffin", _PLAIN),
    "MQQBrowser": (10, "QQ Browser Mobile", _PLAIN),
    "QQBrowser": (10, "QQ Browser", _PLAIN),
    "coc_coc_browser": (10, "Coc Coc", _PLAIN),
    "SeaMonkey": (10, "SeaMonkey", _PLAIN),
    "PaleMoon": (10, "Pale Moon", _PLAIN),
    "Camino": (10, "Camino", _PLAIN),
    "Iceweasel": (10, "Iceweasel", _PLAIN),
    "IceCat": (10, "IceCat", _PLAIN),
    "Waterfox": (10, "Waterfox", _PLAIN),
    "Thunderbird": (10, "Thunderbird", _PLAIN),
    "Midori": (10, "Midori", _PLAIN),
    "QupZilla": (10, "QupZilla", _PLAIN),
    "Falkon": (10, "Falkon", _PLAIN),
    "Konqueror": (10, "Konqueror", _PLAIN),
    "Epiphany": (10, "Epiphany", _PLAIN),
    "NokiaBrowser": (10, "Nokia Browser", _PLAIN),
    "BrowserNG": (10, "Nokia Browser", _PLAIN),
    "Dolfin": (10, "Dolfin", _PLAIN),
    "SailfishBrowser": (10, "Sailfish Browser", _PLAIN),
    "HeadlessChrome": (10, "HeadlessChrome", _PLAIN),
    "Electron": (10, "Electron", _PLAIN),
    "PhantomJS": (10, "PhantomJS", _PLAIN),
    "Otter": (10, "Otter", _PLAIN),
    "Sleipnir": (10, "Sleipnir", _PLAIN),
    "Qwant": (10, "Qwant", _PLAIN),
    "SznProhlizec": (10, "Seznam prohlížeč", _PLAIN),
    "Quark": (10, "Quark", _PLAIN),
    "Spotify": (10, "Spotify", _PLAIN),
    "AdobeAIR": (10, "AdobeAIR", _PLAIN),
    "OneBrowser": (10, "ONE Browser", _PLAIN),
    "Lotus-Notes": (10, "Lotus Notes", _PLAIN),
    "Kindle": (30, "Kindle", _PLAIN),
    "wOSBrowser": (10, "webOS Browser", _PLAIN),
    "S40OviBrowser": (10, "Ovi Browser", _PLAIN),
    "NintendoBrowser": (10, "NetFront NX", _PLAIN),
    "rekonq": (10, "Rekonq", _PLAIN),
    "konqueror": (10, "Konqueror", _PLAIN),
    "Conkeror": (10, "Conkeror", _PLAIN),
    "FireWeb": (10, "FireWeb", _PLAIN),
    "Espial": (10, "Espial", _PLAIN),
    "RockMelt": (10, "RockMelt", _PLAIN),
    "Comodo_Dragon": (10, "Comodo Dragon", _PLAIN),
    "Snowshoe": (10, "Snowshoe", _PLAIN),
    "kmail2": (10, "kmail2", _PLAIN),
    "ThunderBrowse": (9, "ThunderBrowse", _PLAIN),
    "Lightning": (11, "Lightning", _PLAIN),
    "Shiretoko": (10, "Firefox (Shiretoko)", _PLAIN),
    "Minefield": (10, "Firefox (Minefield)", _PLAIN),
    "Namoroka": (10, "Firefox (Namoroka)", _PLAIN),
    "GranParadiso": (10, "Firefox (GranParadiso)", _PLAIN),
    "Fennec": (10, "Fennec", _PLAIN),
    "baidubrowser": (10, "Baidu Browser", _PLAIN),
    "luakit": (10, "LuaKit", _PLAIN),
    "mDolphin": (10, "mDolphin", _PLAIN),
    "1Password": (10, "1Password", _PLAIN),
    "DolphinHDCN": (10, "Dolphin", _PLAIN),
    "Netscape": (10, "Netscape", _PLAIN),
    "Netscape6": (10, "Netscape", _PLAIN),
    "Navigator": (10, "Netscape", _PLAIN),
    "Flock": (10, "Flock", _PLAIN),
    "Galeon": (10, "Galeon", _PLAIN),
    "K-Meleon": (10, "K-Meleon", _PLAIN),
    "Lunascape": (10, "Lunascape", _PLAIN),
    "Arora": (10, "Arora", _PLAIN),
    "Chimera": (10, "Chimera", _PLAIN),
    "Phoenix": (10, "Phoenix", _PLAIN),
    "Firebird": (10, "Firebird", _PLAIN),
    "Minimo": (10, "Minimo", _PLAIN),
    "Iris": (10, "Iris", _PLAIN),
    "Bolt": (10, "BOLT", _PLAIN),
    "Teleca": (10, "Teleca Browser", _PLAIN),
    "Obigo": (10, "Obigo", _PLAIN),
    "Dalvik": (60, "Android", _PLAIN),
    # The engines' own browsers, lowest priority.
    "Firefox": (40, "Firefox", _FIREFOX),
    "Chrome": (50, "Chrome", _CHROME),
    "CrMo": (50, "Chrome Mobile", _PLAIN),
    "Chromium": (45, "Chromium", _PLAIN),
    "Version": (80, "Safari", _SAFARI),
    "Safari": (90, "Safari", _SAFARI),
}

_MSIE_RE = re.compile(r"MSIE (\d+)\.(\d+)")
_TRIDENT_RE = re.compile(r"Trident/(\d+)")
_OPERA_VERSION_RE = re.compile(r"Version/(\d+)\.(\d+)")
_GENERIC_PRODUCT_RE = re.compile(r"([A-Za-z][A-Za-z0-9_.+ -]{0,40}?)[/ ]v?(\d+)(?:\.(\d+))?")
# Product names that are never the browser (platform, engine, library, device).
_NOT_A_BROWSER = frozenset((
    "Mozilla", "AppleWebKit", "Gecko", "KHTML", "Safari", "Mobile", "Version",
    "Linux", "Android", "U", "Profile", "Configuration", "MIDP", "CLDC",
))
# "The Bat! 4.0.0.22", "Airmail 1.0 rv:148 (...)": a name of letters, a space, a dotted version.
_SPACED_PRODUCT = re.compile(r"([A-Za-z][A-Za-z!&' ]{0,30}?) v?([0-9]+\.[0-9]+)")
_TRIDENT_TO_IE = {"4": "8.0", "5": "9.0", "6": "10.0", "7": "11.0", "8": "11.0"}


def detect(ua: str, comment: str, tail: str, os_family: str):
    """Return ``(family, version)`` of the browser; ``("Other", "")`` when unknown.

    Args:
        ua: the whole User-Agent.
        comment: its first parenthesised comment ("" if none).
        tail: the text after that comment ("" if none).
        os_family: the OS already detected (decides mobile variants).
    """
    best = None
    best_rank = 100
    best_version = ""
    for token in tail.split():
        name, _, version = token.partition("/")
        rule = _PRODUCTS.get(name)
        if rule is not None and rule[0] < best_rank:
            best, best_rank, best_version = rule, rule[0], version
    if "[FB" in ua or "FBAN/" in ua:
        return _facebook(ua)
    if best_rank >= 40 and (ua.startswith("Opera") or "Opera Mini" in ua):
        return _opera(ua)
    if best is None or best_rank >= 40:
        special = _special(ua, tail, os_family)
        if special is not None:
            return special
    if best is None:
        return _fallback(ua, comment, tail, os_family)
    return resolve(best, best_version, ua, comment, tail, os_family)


def from_products(products: str, ua: str, comment: str, tail: str, os_family: str):
    """``detect`` for a plain product list, or ``None`` when a token needs the full rules.

    PERF: the fast path of ``visitorapi.useragent`` hands over the products
    after ``(KHTML, like Gecko)``. Only when every token is a known product
    (or the bare "Mobile" marker) is the answer certain without the special
    cases of ``detect``; anything else returns ``None``.
    """
    if products.startswith("Chrome/"):
        # PERF: "Chrome/V Safari/S" and "Chrome/V Mobile Safari/S" are most of all traffic;
        # with only these tokens the loop below would pick Chrome, so skip it.
        space = products.find(" ", 7)
        if space > 7:
            after = products[space:]
            if ((after.startswith(" Safari/") and after.find(" ", 8) < 0)
                    or (after.startswith(" Mobile Safari/") and after.find(" ", 15) < 0)):
                return _chrome(ua, comment, tail, os_family, products[7:space])
    best = None
    best_rank = 100
    best_version = ""
    for token in products.split(" "):
        name, _, version = token.partition("/")
        rule = _PRODUCTS.get(name)
        if rule is None:
            if name != "Mobile" and name != "Gecko":
                return None
        elif rule[0] < best_rank:
            best, best_rank, best_version = rule, rule[0], version
    if best is None or best[1] == "Kindle":
        return None  # (an e-reader's device comes from the general rules: devices/appliances)
    # With only known tokens, the one special case left is an iOS web view
    # that names no Safari (see _special); PERF: one comparison otherwise.
    if best_rank >= 40 and os_family == "iOS" and "Safari/" not in products:
        special = _special(ua, tail, os_family)
        if special is not None:
            return special
    return resolve(best, best_version, ua, comment, tail, os_family)


def resolve(rule, version: str, ua: str, comment: str, tail: str, os_family: str):
    """Family and version for the winning product rule (see ``_PRODUCTS``)."""
    family, kind = rule[1], rule[2]
    if kind == _PLAIN:
        return family, version2(version)
    if kind == _CHROME:
        return _chrome(ua, comment, tail, os_family, version)
    if kind == _SAFARI:
        return _safari(ua, comment, tail, os_family)
    if kind == _FIREFOX:
        return _firefox(ua, comment, os_family, version)
    if kind == _MOBILE:
        mobile = os_family in ("Android", "iOS")
        return family[1] if mobile else family[0], version2(version)
    # _NEEDS_MINOR
    version = version2(version)
    if "." in version:
        return family, version
    return "Mobile Safari UI/WKWebView", version_after(tail, "Version/")


def _chrome(ua, comment, tail, os_family, version):
    if os_family == "Android" and ("; wv" in comment or "Version/" in tail):
        return "Chrome Mobile WebView", version2(version)
    if "Mobile" in tail:
        return "Chrome Mobile", version2(version)
    return "Chrome", version2(version)


def _safari(ua, comment, tail, os_family):
    if os_family == "Android":
        # The stock Android browser reports the OS version (uap-core's "Android").
        return "Android", version_after(comment, "Android ")
    if os_family == "iOS" or "Mobile/" in tail:
        if "Safari/" not in tail:
            return "Mobile Safari UI/WKWebView", version_after(tail, "Version/")
        return "Mobile Safari", version_after(tail, "Version/")
    version = version_after(tail, "Version/")
    if "Safari/" in tail:
        return "Safari", version
    return "Other", ""


def _firefox(ua, comment, os_family, version):
    if os_family == "Android":
        return "Firefox Mobile", version2(version)
    if "b" in version or "a" in version:
        if "b" in version:
            return "Firefox Beta", version2(version)
        return "Firefox Alpha", version2(version)
    return "Firefox", version2(version)


def _facebook(ua):
    """Facebook's in-app browser and Messenger: ``[FBAN/...;FBAV/x.y;...]``."""
    family = "Facebook Messenger" if "FBAN/Messenger" in ua and "FBAN/MessengerLite" not in ua else "Facebook"
    return family, version_after(ua, "FBAV/")


def _special(ua, tail, os_family):
    """Apps whose token is not a plain ``Name/version`` product."""
    if "Twitter for i" in tail or "TwitterAndroid" in ua:
        return "Twitter", version_after(tail, "Twitter for iPhone/") or version_after(tail, "Twitter for iPad/")
    if "(Ecosia " in tail:
        if "Ecosia ios@" in tail:
            return "Ecosia iOS", version_after(tail, "ios@")
        return "Ecosia Android", version_after(tail, "android@")
    if " Brave" in tail and tail.endswith("Brave"):
        return "Brave", ""
    if "Iron Safari" in tail:
        return "Iron", version_after(tail, "Chrome/")
    if os_family == "iOS" and "AppleWebKit/" in ua and "Safari/" not in tail and "Version/" not in tail:
        if "Mobile/" in tail or tail.rstrip().endswith("Gecko)"):
            return "Mobile Safari UI/WKWebView", ""
    if os_family == "Mac OS X" and tail.rstrip().endswith("(KHTML, like Gecko)"):
        return "Apple Mail", version_after(tail, "AppleWebKit/")
    return None


def _fallback(ua, comment, tail, os_family):
    """Browsers outside the ``Mozilla/5.0 (platform) engine browser`` shape."""
    if ua.startswith("Opera/") or " Opera " in ua or "Opera Mini/" in ua:
        return _opera(ua)
    if "Obigo" in ua:
        return "Obigo", ""
    if "UP.Browser/" in ua:
        return "UP.Browser", version_after(ua, "UP.Browser/")
    if "MSIE " in ua or "Trident/" in ua:
        if "IEMobile" in ua:
            return "IE Mobile", version_after(ua, "IEMobile/") or version_after(ua, "IEMobile ")
        match = _TRIDENT_RE.search(ua)
        if match is not None and match.group(1) in _TRIDENT_TO_IE:
            return "IE", _TRIDENT_TO_IE[match.group(1)]
        match = _MSIE_RE.search(ua)
        if match is not None:
            return "IE", match.group(1) + "." + match.group(2)
        return "IE", version_after(ua, "rv:")
    if "NetFront" in ua:
        return "NetFront", version_after(ua, "NetFront/")
    if "UCBrowser" in ua or "UCWEB" in ua or "UC Browser" in ua:
        at = ua.find("UCBrowser")
        if at >= 0:
            return "UC Browser", version2(ua[at + 9:].lstrip("/"))
        at = ua.find("UC Browser")
        if at >= 0:
            return "UC Browser", version2(ua[at + 10:])
        return "UC Browser", version_after(ua, "UCWEB")
    if "Firefox/" in ua:
        return _firefox(ua, comment, os_family, ua[ua.find("Firefox/") + 8:])
    return _generic(ua)


def _opera(ua):
    """Presto-era Opera: Opera Mini, Opera Mobile, Opera Tablet, desktop Opera."""
    if "Opera Mini/" in ua:
        return "Opera Mini", version_after(ua, "Opera Mini/")
    if "Opera Mobi" in ua:
        match = _OPERA_VERSION_RE.search(ua)
        return "Opera Mobile", (match.group(1) + "." + match.group(2) if match else "")
    if "Opera Tablet" in ua:
        match = _OPERA_VERSION_RE.search(ua)
        return "Opera Tablet", (match.group(1) + "." + match.group(2) if match else "")
    match = _OPERA_VERSION_RE.search(ua)
    if match is not None:
        return "Opera", match.group(1) + "." + match.group(2)
    if ua.startswith("Opera/"):
        return "Opera", version2(ua[6:])
    return "Opera", version_after(ua, "Opera ")


def _generic(ua):
    """The first ``Name/version`` product of an app or tool UA, as uap-core does for many apps.

    Apps that write ``Name 1.2.3`` (a space, no slash) name themselves the same way.
    """
    spaced = _SPACED_PRODUCT.match(ua)
    if spaced is not None and "/" not in ua[:spaced.end()]:
        return spaced.group(1), version2(spaced.group(2))
    name, _, rest = ua.partition("/")
    for suffix in ("-iPad", "-iPhone"):
        if name.endswith(suffix):
            name = name[:-len(suffix)]
    if not rest or len(name) > 40 or " " in name.strip() and not name[:1].isupper():
        return "Other", ""
    name = name.strip()
    if not name or name in _NOT_A_BROWSER or not name[0].isalpha():
        return "Other", ""
    version = version2(rest)
    return name, version
