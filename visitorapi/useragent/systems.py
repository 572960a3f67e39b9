"""Operating system family and version from a User-Agent.

Names and version formats follow uap-core's conventions ("Mac OS X" with
"10.15", "Windows" with "10" for both Windows 10 and 11 because the NT version
in the UA is frozen at 10.0, "iOS" with "18.7"), so the answers line up with
what other uap-based tools report.

PERF: the platform almost always sits in the first comment, so the common
cases are decided by substring tests on that short string; regexes run only
on the rare shapes that need them.
"""
import re

from visitorapi.useragent import appliances
from visitorapi.useragent.text import version2, version_after

# "Windows NT x.y" -> the marketing name uap-core reports as the version.
_WINDOWS_NT = {
    "10.0": "10", "6.4": "10", "6.3": "8.1", "6.2": "8", "6.1": "7",
    "6.0": "Vista", "5.2": "XP", "5.1": "XP", "5.01": "2000", "5.0": "2000",
    "4.0": "NT 4.0",
}
_WINDOWS_OLD = (
    ("Windows 98", "98"), ("Win98", "98"), ("Win 9x 4.90", "ME"), ("Windows ME", "ME"),
    ("Windows 95", "95"), ("Win95", "95"), ("Win32", "95"), ("Windows 3.1", "3.1"),
    ("Win3.1", "3.1"), ("Windows 2000", "2000"), ("Windows XP", "XP"),
    ("Windows Vista", "Vista"), ("Windows 7", "7"), ("Windows 8.1", "8.1"),
    ("Windows 8", "8"), ("Windows 10", "10"), ("Windows 11", "10"),
)
_WINDOWS_NT_RE = re.compile(r"Windows NT (\d+\.\d+)")
_ANDROID_RE = re.compile(r"Android[ /:-]?\s?(\d+)(?:[._](\d+))?")
_IOS_RE = re.compile(r"(?:iPhone|CPU|iPad|iPh|iPd) ?OS ?[ _]?(\d+)(?:[_.](\d+))?")
_MAC_RE = re.compile(r"Mac OS X ?(\d+)(?:[_.](\d+))?")
_CROS_RE = re.compile(r"CrOS [\w-]+ (\d+)(?:\.(\d+))?")
_DARWIN_RE = re.compile(r"Darwin/(\d+)\.(\d+)")
_BSD_RE = re.compile(r"(FreeBSD|OpenBSD|NetBSD)[ /]?(\d+)?(?:\.(\d+))?", re.IGNORECASE)
# Firefox OS release by the Gecko version its UA carries (Mozilla's release table).
_FIREFOX_OS = {"18.0": "1.0", "18.1": "1.1", "26.0": "1.2", "28.0": "1.3", "30.0": "1.4", "32.0": "2.0",
               "34.0": "2.1", "37.0": "2.2", "44.0": "2.5"}
_LINUX_DISTROS = (
    ("Ubuntu", "Ubuntu"), ("Kubuntu", "Kubuntu"), ("Fedora", "Fedora"),
    ("Red Hat", "Red Hat"), ("Debian", "Debian"), ("Mandriva", "Mandriva"),
    ("Linux Mint", "Linux Mint"), ("Gentoo", "Gentoo"), ("CentOS", "CentOS"),
    ("SUSE", "SUSE"), ("Slackware", "Slackware"), ("Arch Linux", "Arch Linux"),
)


def _match2(match) -> str:
    """``major[.minor]`` from a match whose first two groups are the numbers."""
    major, minor = match.group(1), match.group(2)
    return major if minor is None else major + "." + minor


# iOS release per Darwin kernel (major, minor) for iOS 9-14, where the minor
# numbers do not line up; from iOS 15 on, Darwin 21.x is iOS 15.x.
_DARWIN_IOS = {
    (15, 0): "9.0", (15, 2): "9.1", (15, 3): "9.2", (15, 4): "9.3", (15, 5): "9.3", (15, 6): "9.3",
    (16, 0): "10.0", (16, 1): "10.1", (16, 3): "10.2", (16, 5): "10.3", (16, 6): "10.3", (16, 7): "10.3",
    (17, 0): "11.0", (17, 2): "11.1", (17, 3): "11.2", (17, 4): "11.2", (17, 5): "11.3", (17, 6): "11.4",
    (17, 7): "11.4", (18, 0): "12.0", (18, 2): "12.1", (18, 5): "12.2", (18, 6): "12.3", (18, 7): "12.4",
    (19, 0): "13", (19, 2): "13.3", (19, 3): "13.3", (19, 4): "13.4", (19, 5): "13.5", (19, 6): "13.6",
    (20, 0): "14", (20, 1): "14.2", (20, 2): "14.3", (20, 3): "14.4", (20, 4): "14.5", (20, 5): "14.6",
    (20, 6): "14.8",
}
# Before iOS 9 the CFNetwork build tells the release apart better than Darwin does.
_CFNETWORK_IOS = (
    ("758.", "9.3"), ("711.2", "8.2"), ("711.1", "8.1"), ("711.", "8.1"), ("709.", "8.0"),
    ("705.", "8.0"), ("673.", "7.1"), ("672.1", "7.1"), ("672.0", "7.0"), ("672.", "7.0"),
    ("609.1", "6.1"), ("609", "6.0"), ("602", "6.0"), ("548.1", "5.1"), ("548.0.4", "5.0"),
    ("548.0", "5"), ("485.13", "4.3"), ("485.12", "4"), ("485", "4.2"), ("467", "4"),
    ("459", "3.1"), ("342", "1"),
)


def _darwin_to_ios(ua: str, darwin_major: int, darwin_minor: int) -> str:
    """iOS version of a CFNetwork app UA (``CFNetwork/811.5.4 Darwin/16.6.0`` -> "10.3")."""
    if darwin_major >= 21:
        return "%d.%d" % (darwin_major - 6, darwin_minor)
    known = _DARWIN_IOS.get((darwin_major, darwin_minor))
    if known is not None:
        return known
    build = ua[ua.find("CFNetwork/") + 10:]
    for prefix, version in _CFNETWORK_IOS:
        if build.startswith(prefix):
            return version
    return str(darwin_major - 6) if darwin_major >= 15 else ""


def detect(ua: str, comment: str):
    """Return ``(os_family, os_version)`` for a UA and its first comment.

    Args:
        ua: the whole User-Agent.
        comment: the text of its first parenthesised comment ("" if none).

    Returns:
        A ``(family, version)`` pair; ``("Other", "")`` when unknown.
    """
    text = comment or ua
    # PERF: ordered by traffic share; each test is one C-level substring scan.
    if "Windows" in text:
        if "Windows Phone" in text:
            return "Windows Phone", version_after(text, "Windows Phone OS ") or version_after(text, "Windows Phone ")
        if "Windows NT" in text:
            match = _WINDOWS_NT_RE.search(text)
            if match is not None:
                return "Windows", _WINDOWS_NT.get(match.group(1), match.group(1))
            return "Windows", ""
        if "Windows Mobile" in text or "Windows CE" in text or "WindowsCE" in text:
            return ("Windows Mobile", "") if "Windows Mobile" in ua else ("Windows CE", "")
    if "Android" in text and "like Android" not in text:
        if "Windows Phone" in ua:
            return "Windows Phone", version_after(ua, "Windows Phone ")
        match = _ANDROID_RE.search(text)
        return "Android", (_match2(match) if match is not None else "")
    if "like Mac OS X" in text or "iPhone" in text or "iPad" in text or "iPod" in text:
        if "Apple TV" in text:
            return "ATV OS X", ""
        match = _IOS_RE.search(text)
        if match is None and "Darwin/" in ua:
            return _darwin(ua)
        return "iOS", (_match2(match) if match is not None else "")
    if "Mac OS X" in text or "Macintosh" in text:
        match = _MAC_RE.search(text)
        return "Mac OS X", (_match2(match) if match is not None else "")
    if "CrOS" in text:
        match = _CROS_RE.search(text)
        return "Chrome OS", (_match2(match) if match is not None else "")
    if "Linux" in text or "X11" in text:
        return _linux(ua, text)
    return _rare(ua, comment)


def _linux(ua: str, text: str):
    """Linux and its distributions, Chromecast, Tizen, webOS, KaiOS, Sailfish, TVs and e-readers."""
    found = _appliance(ua)
    if found is not None:
        return found
    if "CrKey/" in ua:
        return "Chromecast Linux", version_after(ua, "CrKey/")
    if "Tizen" in ua:
        return "Tizen", version_after(ua, "Tizen ")
    if "Web0S" in ua or "webOS" in ua or "hpwOS" in ua:
        if "hpwOS/" in ua:
            return "webOS", version_after(ua, "hpwOS/")
        return ("Web0S" if "Web0S" in ua else "webOS"), ""
    if "Sailfish" in ua:
        return "Sailfish", version_after(ua, "Sailfish ")
    if "KAIOS/" in ua:
        return "KaiOS", version_after(ua, "KAIOS/")
    for marker, family in _LINUX_DISTROS:
        if marker in ua:
            version = version_after(ua, marker + "/") if marker + "/" in ua else ""
            return family, version
    if "FreeBSD" in ua:
        return "FreeBSD", version_after(ua, "FreeBSD ")
    if "SunOS" in text:
        return "Solaris", ""
    return "Linux", version_after(text, "Linux ") or version_after(text, "Linux/")


def _darwin(ua: str):
    """An Apple app's UA: ``MyApp/1.0 CFNetwork/811.5.4 Darwin/16.6.0`` names the kernel, not the OS."""
    match = _DARWIN_RE.search(ua)
    if match is not None:
        major, minor = int(match.group(1)), int(match.group(2))
        if "(x86_64)" in ua or "(i386)" in ua or "Macintosh" in ua:
            return "Mac OS X", "10.%d" % (major - 4)
        return "iOS", _darwin_to_ios(ua, major, minor)
    return "iOS", ""


def _appliance(ua: str):
    """uap-core names an HbbTV set's OS after its vendor (version: the model year) and a Kindle's "Kindle"."""
    if "HbbTV/" in ua:
        tv = appliances.hbbtv(ua)
        if tv is not None:
            return tv[0], tv[2]
    if "Kindle/" in ua:
        return "Kindle", version_after(ua, "Kindle/")
    return None


def _rare(ua: str, comment: str):
    """Platforms seen outside the common comment shapes: apps, feature phones, TVs."""
    found = _appliance(ua)
    if found is not None:
        return found
    if "CFNetwork/" in ua:
        return _darwin(ua)
    if "Darwin/" in ua:
        match = _DARWIN_RE.search(ua)
        if match is not None and match.group(1) == "10":
            return "Mac OS X", match.group(1) + "." + match.group(2)
    if "watchOS" in ua:
        return "WatchOS", version_after(ua, "watchOS/") or version_after(ua, "watchOS ")
    if "iOS" in ua or "iPhone" in ua or "iPad" in ua:
        return "iOS", version_after(ua, "iOS ") or version_after(ua, "iOS/")
    if "Android" in ua:
        match = _ANDROID_RE.search(ua)
        return "Android", (_match2(match) if match is not None else "")
    if "android " in ua or "android/" in ua:  # apps write it in lower case: "android mobile/8.0.0"
        return "Android", version_after(ua, "mobile/") or version_after(ua, "android/")
    if "Windows" in ua:
        for marker, version in _WINDOWS_OLD:
            if marker in ua:
                return "Windows", version
        match = _WINDOWS_NT_RE.search(ua)
        if match is not None:
            return "Windows", _WINDOWS_NT.get(match.group(1), match.group(1))
    elif "Win" in ua:
        for marker, version in _WINDOWS_OLD:
            if marker in ua:
                return "Windows", version
    if "SymbianOS/" in ua:
        return "Symbian OS", version_after(ua, "SymbianOS/")
    if "Symbian/3" in ua:
        return "Symbian^3", ""
    if "Series40" in ua:
        return "Nokia Series 40", ""
    if "Series30Plus" in ua:
        return "Nokia Series 30 Plus", ""
    if "S60" in ua or "Series 60" in ua or "SymbOS" in ua or "Symbian" in ua:
        return "Symbian OS", ""
    if "BlackBerry" in ua:
        if "RIM Tablet OS" in ua:
            return "BlackBerry Tablet OS", version_after(ua, "RIM Tablet OS ")
        return "BlackBerry OS", version_after(ua, "Version/") or version_after(ua, "/")
    if "RIM Tablet OS" in ua:
        return "BlackBerry Tablet OS", version_after(ua, "RIM Tablet OS ")
    if "Bada/" in ua:
        return "Bada", version_after(ua, "Bada/")
    if "Brew MP" in ua or "BMP " in ua:
        return "Brew MP", version_after(ua, "Brew MP ") or version_after(ua, "BMP ")
    if "BREW" in ua:
        return "BREW", version_after(ua, "BREW ")
    if "MeeGo" in ua:
        return "MeeGo", ""
    if "Roku/" in ua:
        return "Roku", version_after(ua, "DVP-")
    if "Kindle/" in ua:
        return "Kindle", version_after(ua, "Kindle/")
    if "KAIOS/" in ua:
        return "KaiOS", version_after(ua, "KAIOS/")
    if "Firefox/" in ua and ("(Mobile;" in ua or "(Tablet;" in ua):
        return "Firefox OS", _FIREFOX_OS.get(version_after(ua, "Gecko/"), "")
    match = _BSD_RE.search(ua)
    if match is not None:
        family = {"freebsd": "FreeBSD", "openbsd": "OpenBSD", "netbsd": "NetBSD"}[match.group(1).lower()]
        major, minor = match.group(2), match.group(3)
        return family, ("" if major is None else major if minor is None else major + "." + minor)
    if "SerenityOS" in ua:
        return "SerenityOS", ""
    if "VRE;" in ua:
        return "VRE", ""
    if "linux" in ua.lower():
        return "Linux", ""
    return "Other", ""
