"""Devices that say what they are in a standard field: TVs, consoles, e-readers, carrier phones.

Some device classes carry their make and model in a fixed place rather than
in a model token: an HbbTV set names ``(capabilities; vendor; model; ...)``
after its ``HbbTV/`` product (ETSI TS 102 796, the HbbTV specification,
defines that user-agent field); LG's NetCast sets put ``LGE; <model>`` in the
comment of ``LG Browser/``; NTT docomo's i-mode phones start with
``DoCoMo/2.0 <model>(...)``; Japanese Inettv sets name the model second in
``InettvBrowser/x (<maker id>;<model>;...)``. uap-core reports these with
fixed families ("HbbTV", "NetCast.TV", "Inettv").

PERF: ``detect`` is reached only by UAs outside the fast path and first
checks one marker substring per class.
"""
import re

_HBBTV = re.compile(r"HbbTV/[0-9.]+ *\(([^()]*)\)")
_NETCAST = re.compile(r"LGE; ?([^;)]+)")
_INETTV = re.compile(r"InettvBrowser/[0-9.]+ *\(([^;()]*);([^;()]*)")
_DOCOMO = re.compile(r"DoCoMo/[0-9.]+[ /]([A-Za-z0-9]+)|\(([A-Za-z0-9]+);FOMA;")
_KINDLE = re.compile(r"Kindle/([0-9]+\.[0-9]+)")
_SPRINT = re.compile(r"Sprint ?([A-Z]{1,3}[0-9]+[A-Za-z0-9]*)")
_BB10 = re.compile(r"\(BB10; ([^;)]+)")
_NINTENDO = re.compile(r"Nintendo ?(WiiU|Wii|3DS|DSi|DS|Switch)")
_WATCH = re.compile(r"model/(Watch[0-9]+,[0-9]+)")
_NINTENDO_MODELS = {"WiiU": "Wii U"}
_VENDOR_NAMES = {"LGE": "LG"}
_YEAR = re.compile(r"20[0-9][0-9]")


def hbbtv(ua: str):
    """``(vendor, model, model year)`` from an HbbTV UA's field, or ``None`` without vendor and model."""
    match = _HBBTV.search(ua)
    if match is None:
        return None
    fields = [field.strip() for field in match.group(1).split(";")]
    vendor = fields[1] if len(fields) > 1 else ""
    vendor = vendor[4:] if vendor.startswith("CUS:") else vendor
    model = fields[2] if len(fields) > 2 else ""
    if not vendor or not model:
        return None
    year = _YEAR.search(";".join(fields[2:]))
    return _VENDOR_NAMES.get(vendor, vendor), model, year.group() if year is not None else ""


def detect(ua: str):
    """``(brand, model, family, device_type)`` for a UA of one of these classes, else ``None``."""
    if "HbbTV/" in ua:
        tv = hbbtv(ua)
        if tv is not None:
            return tv[0], tv[1], "HbbTV", "tv"
    if "LG Browser/" in ua or "NetCast" in ua:
        match = _NETCAST.search(ua)
        if match is not None:
            return "LG", match.group(1).strip(), "NetCast.TV", "tv"
    if "InettvBrowser/" in ua:
        match = _INETTV.search(ua)
        if match is not None and match.group(2):
            return "Generic_Inettv", match.group(2), "Inettv", "tv"
    if "DoCoMo/" in ua or ";FOMA;" in ua:
        match = _DOCOMO.search(ua)
        if match is not None:
            model = match.group(1) or match.group(2)
            return "DoCoMo", model, "DoCoMo " + model, "mobile"
    if "Kindle/" in ua:
        match = _KINDLE.search(ua)
        if match is not None:
            return "Amazon", "Kindle " + match.group(1), "Kindle", "tablet"
    if "Sprint" in ua:
        match = _SPRINT.search(ua)
        if match is not None:
            return "Sprint", match.group(1), "Sprint" + match.group(1), "mobile"
    if "(BB10; " in ua:
        match = _BB10.search(ua)
        if match is not None:
            return "BlackBerry", match.group(1), "BlackBerry " + match.group(1), "mobile"
    if "PlayStation" in ua or "PLAYSTATION" in ua:
        for model in ("PlayStation 4", "PlayStation 5", "PlayStation Portable", "PlayStation Vita",
                      "PLAYSTATION 3", "PlayStation 3"):
            if model in ua:
                return "Sony", model, model, "console"
    if "Nintendo" in ua:
        match = _NINTENDO.search(ua)
        if match is not None:
            model = _NINTENDO_MODELS.get(match.group(1), match.group(1))
            return "Nintendo", model, "Nintendo " + model, "console"
    if "watchOS" in ua:
        match = _WATCH.search(ua)
        if match is not None:
            return "Apple", match.group(1), "Apple Watch", "wearable"
    return None
