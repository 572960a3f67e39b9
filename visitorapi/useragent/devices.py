"""Device brand, model and family from a User-Agent.

Two steps. First find the model token where each UA shape keeps it: the
Android comment (``Linux; Android 14; SM-S928U Build/...``), the head of a
feature-phone UA (``SAMSUNG-SGH-A801``, ``NOKIA-6230I``, ``MOT-V300/...``),
the vendor pair of a Windows Phone (``NOKIA; Lumia 920``). Then name its
brand with a small table of model-number conventions (Samsung's ``SM-``,
``GT-``; Oppo's ``CPH``; Xiaomi's ``Redmi``), indexed by the token's first
letter. Families and pseudo-brands follow uap-core: "Samsung SM-G991B",
"Generic_Android" with the raw model for an unknown Android phone,
"Generic_Android_Tablet" without the "Mobile" marker, "Generic Smartphone"
when an Android UA names no model, "Spider" for bots.

PERF: the table is indexed by the first character of the model token, so a
lookup tries a few anchored patterns on a ~10-character string.
"""
import re

# (pattern anchored at the model token, brand, family template, model template)
# Templates are a prefix and at most one group: {0} the whole match, {1} the first group.
_ANDROID_RULES = (
    # Samsung: SM-, GT-, SGH-, SCH-, SPH-, SHV-, SHW-, SHV, YP-, Galaxy.
    (r"(?i)SAMSUNG[ _-]((?:SM|GT|SGH|SCH|SPH|SHV|SHW|SC)-?[\w-]+)", "Samsung", "Samsung {1}", "{1}"),
    (r"((?:SM|GT|SGH|SCH|SPH|SHV|SHW|SGH|SC|YP)-[\w.-]+)", "Samsung", "Samsung {1}", "{1}"),
    (r"(?i)(Galaxy[ \w]*)", "Samsung", "Samsung {1}", "{1}"),
    (r"(?i)samsung[ _-]([\w -]+)", "Samsung", "Samsung {1}", "{1}"),
    # Google and the Nexus line.
    (r"(Pixel(?: [\w ()]+)?)", "Google", "{1}", "{1}"),
    (r"(Nexus (?:5X?|4))", "LG", "{1}", "{1}"),
    (r"(Nexus (?:6P))", "Huawei", "{1}", "{1}"),
    (r"(Nexus 6)\b", "Motorola", "{1}", "{1}"),
    (r"(Nexus 9)", "HTC", "{1}", "{1}"),
    (r"(Nexus (?:S))", "Samsung", "{1}", "{1}"),
    (r"(Nexus (?:7|10|One))", "Generic_Android", "{1}", "{1}"),
    # LG: the Android token keeps its "LG-" in the family.
    (r"(?i)(LG[-_ ]?([\w.-]+))", "LG", "{0}", "{2}"),
    (r"LM-[\w]+", "LG", "{0}", "{0}"),
    # HTC
    (r"(?i)HTC[ _/-]?([\w/ .+-]+)", "HTC", "HTC {1}", "{1}"),
    # Xiaomi
    (r"((?:Redmi|Mi|MI|POCO|Poco)(?: [\w+ ]+|\w+))", "XiaoMi", "XiaoMi {1}", "{1}"),
    (r"(?i)Xiaomi[ _-]([\w ]+)", "XiaoMi", "XiaoMi {1}", "{1}"),
    # Oppo and Realme.
    (r"((?:CPH|RMX|PCHM|PBAM|PDEM|PEGM)\d+\w*)", "Oppo", "Oppo {1}", "{1}"),
    (r"(?i)OPPO[ _-]?([\w]+)", "Oppo", "Oppo {1}", "{1}"),
    # OnePlus
    (r"(?i)(ONEPLUS [\w]+)", "OnePlus", "OnePlus {1}", "{1}"),
    (r"((?:BE|DN|EB|GM19[1-9]|HD|IN|KB|LE|NE|PHB|CPH)\d{4})", "OnePlus", "OnePlus OnePlus {1}", "OnePlus {1}"),
    # Huawei and Honor: three letters, dash, letter, two digits (VOG-L29).
    (r"(?i)HUAWEI[ _-]?([\w -]+)", "Huawei", "{0}", "{1}"),
    (r"(?i)Honor[ _-]?([\w -]+)", "Huawei", "Huawei Honor {1}", "Honor {1}"),
    (r"([A-Z]{3}-(?:[A-Z]X|L|AL|TL|N|W|U)\d{1,2}\w*)", "Huawei", "Huawei {1}", "{1}"),
    # Motorola
    (r"(?i)moto(?:rola)?[ _]([\w()+ ]+)", "Motorola", "Motorola {1}", "{1}"),
    (r"(XT\d{3,4}\w*)", "Motorola", "Motorola {1}", "{1}"),
    # Lenovo, Nokia, Sony, vivo, Tecno, Infinix, Itel, Amazon, ZTE, Alcatel, Asus...
    (r"(?i)Lenovo[ _-]?([\w -]+)", "Lenovo", "Lenovo {1}", "{1}"),
    (r"(?i)Nokia[ _]?(\d+)", "Nokia", "Nokia {1}", "{1}"),
    (r"(?i)Nokia[ _]?([\w ]+)", "Nokia", "Nokia {1}", "{1}"),
    (r"(?i)Sony ?([\w -]+)", "Sony", "Sony {1}", "{1}"),
    (r"(?i)vivo ([\w ]+)", "vivo", "vivo {1}", "{1}"),
    (r"(?i)TECNO[ _-]([\w ]+)", "Tecno", "TECNO {1}", "{1}"),
    (r"(?i)Infinix[ _-]([\w ]+)", "Infinix", "Infinix {1}", "{1}"),
    (r"(?i)itel[ _-]([\w ]+)", "Itel", "Itel {1}", "{1}"),
    (r"(KF[A-Z]{2,4}(?:WI|WA)?|Kindle[\w ]*)", "Amazon", "Kindle", "Kindle"),
    (r"(?i)ZTE[ _-]?([\w -]+)", "ZTE", "ZTE {1}", "{1}"),
    (r"(?i)ALCATEL[ _-]?(?:ONE[ _]?TOUCH[ _]?)?([\w -]+)", "Alcatel", "Alcatel {1}", "{1}"),
    (r"(?i)ASUS[ _-]?([\w -]+)", "Asus", "Asus {1}", "{1}"),
    (r"(?i)Micromax[ _-]?([\w -]+)", "Micromax", "Micromax {1}", "{1}"),
    (r"(?i)ARCHOS[ _-]?([\w -]+)", "Archos", "Archos {1}", "{1}"),
    (r"(?i)Acer[ _-]?([\w -]+)", "Acer", "Acer {1}", "{1}"),
    (r"(?i)Lava[ _-]([\w -]+)", "Lava", "Lava {1}", "{1}"),
    (r"(?i)Prestigio[ _-]?([\w -]+)", "Prestigio", "Prestigio {1}", "{1}"),
    (r"(P[AM]P\d{4}[\w-]*)", "Prestigio", "Prestigio {1}", "{1}"),
    (r"(?i)Fly[ _-]([\w -]+)", "Fly", "Fly {1}", "{1}"),
    (r"(?i)Coolpad[ _-]?([\w -]+)", "Coolpad", "Coolpad {1}", "{1}"),
    (r"(?i)Hisense[ _-]?([\w -]+)", "Hisense", "Hisense {1}", "{1}"),
    (r"(?i)Medion[ _-]?([\w -]+)", "Medion", "Medion {1}", "{1}"),
    (r"(?i)Odys[ _-]?([\w -]+)", "Odys", "Odys {1}", "{1}"),
    (r"(?i)Wiko[ _-]?([\w -]+)", "Wiko", "Wiko {1}", "{1}"),
    (r"(?i)Gionee[ _-]?([\w -]+)", "Gionee", "Gionee {1}", "{1}"),
    (r"(?i)Allview[ _-]?([\w -]+)", "Allview", "Allview {1}", "{1}"),
    (r"(?i)Blu[ _-]([\w -]+)", "Blu", "Blu {1}", "{1}"),
    (r"(?i)Xolo[ _-]?([\w -]+)", "Xolo", "Xolo {1}", "{1}"),
    (r"(?i)Karbonn[ _-]?([\w -]+)", "Karbonn", "Karbonn {1}", "{1}"),
    (r"(?i)Spice[ _-]?([\w -]+)", "Spice", "Spice {1}", "{1}"),
    (r"(?i)Intex[ _-]?([\w -]+)", "Intex", "Intex {1}", "{1}"),
    (r"(?i)Zopo[ _-]?([\w -]+)", "Zopo", "Zopo {1}", "{1}"),
    (r"(?i)ThL[ _-]?([\w -]+)", "Thl", "ThL {1}", "{1}"),
    (r"(?i)Polaroid[ _-]?([\w -]+)", "Polaroid", "Polaroid {1}", "{1}"),
    (r"(?i)Yarvik[ _-]?([\w -]+)", "Yarvik", "Yarvik {1}", "{1}"),
    (r"(?i)Toshiba[ _-]?([\w -]+)", "Toshiba", "Toshiba {1}", "{1}"),
    (r"(?i)Pantech[ _-]?([\w -]+)", "Pantech", "Pantech {1}", "{1}"),
    (r"(IM-A\d{3}\w*)", "Pantech", "Pantech {1}", "{1}"),
    (r"(?i)Dell[ _-]?([\w -]+)", "Dell", "Dell {1}", "{1}"),
    (r"(?i)i-mobile[ _-]?([\w .-]+)", "imobile", "i-mobile {1}", "{1}"),
    (r"(MID\d{4}\w*)", "CobyKyros", "CobyKyros {1}", "{1}"),
    (r"(?i)(?:Sony)?Ericsson[ _-]?([\w -]+)", "SonyEricsson", "SonyEricsson{1}", "{1}"),
)

# Feature phones and old mobile UAs: the vendor prefix starts the whole UA.
_HEAD_RULES = (
    (r"(?i)SAMSUNG[-_ ](?:SAMSUNG[-_ ])?([A-Za-z0-9+-]+)", "Samsung", "Samsung {1}", "{1}"),
    (r"(?i)SEC-(\w+)", "Samsung", "Samsung {1}", "{1}"),
    (r"(?i)NOKIA[-_ ]?([\w.-]+)", "Nokia", "Nokia {1}", "{1}"),
    (r"(?i)MOT(?:OROLA)?[-_ ]?([\w.]+(?:-\w+)?)", "Motorola", "Motorola {1}", "{1}"),
    (r"(?i)LGE?[-_ ]?([\w]+)", "LG", "LG {1}", "{1}"),
    (r"(?i)SIE-(\w+)", "Siemens", "Siemens {1}", "{1}"),
    (r"(?i)SonyEricsson([\w-]+)", "SonyEricsson", "Ericsson {1}", "{1}"),
    (r"(?i)BlackBerry ?(\d+)", "BlackBerry", "BlackBerry {1}", "{1}"),
    (r"(?i)Alcatel-([\w-]+)", "Alcatel", "Alcatel {1}", "{1}"),
    (r"(?i)HTC[_ -]([\w-]+)", "HTC", "HTC {1}", "{1}"),
    (r"(?i)Pantech[_-]?(\w+)", "Pantech", "Pantech {1}", "{1}"),
    (r"(?i)Amoi-(\w+)", "Amoi", "Amoi {1}", "{1}"),
    (r"(?i)Huawei[-_ ]?(\w+)", "Huawei", "Huawei {1}", "{1}"),
    (r"(?i)ZTE[-_ ]?(\w+)", "ZTE", "ZTE {1}", "{1}"),
    (r"(?i)LENOVO[-_ ]?(\w+)", "Lenovo", "Lenovo {1}", "{1}"),
    (r"(?i)ASUS-(\w+)", "Asus", "Asus {1}", "{1}"),
    (r"(?i)Sharp[-_ ]?(\w+)", "Sharp", "Sharp {1}", "{1}"),
    (r"(?i)Philips[-_ ]?(\w+)", "Philips", "Philips {1}", "{1}"),
    (r"(?i)Sagem[-_ ]?(\w+)", "Sagem", "Sagem {1}", "{1}"),
    (r"(?i)Panasonic[-_ ]?(\w+)", "Panasonic", "Panasonic {1}", "{1}"),
    (r"(?i)Kyocera[-_ ]?(\w+)", "Kyocera", "Kyocera {1}", "{1}"),
    (r"(?i)Sanyo[-_ ]?(\w+)", "Sanyo", "Sanyo {1}", "{1}"),
)


def _split_top(body: str):
    """Split a regex at its top-level ``|``; ``None`` if it has a character class with ``|`` or ``(``."""
    depth = 0
    parts = [""]
    in_class = False
    for char in body:
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and depth == 0:
            parts.append("")
            continue
        parts[-1] += char
    return parts


def _first_chars(pattern: str) -> str:
    """The characters a rule's match can start with, or "" when it may start with anything.

    PERF: lets ``_lookup`` try only the rules whose literal prefix fits the
    token. Understands literal words and leading groups of literal
    alternatives (``((?:SM|GT|SGH)-...``); anything else is "".
    """
    nocase = pattern.startswith("(?i)")
    body = pattern[4:] if nocase else pattern
    firsts = set()
    pending = [body]
    while pending:
        alternatives = _split_top(pending.pop())
        for alt in alternatives:
            if alt.startswith("(?:") or (alt.startswith("(") and not alt.startswith("(?")):
                inner = 3 if alt.startswith("(?:") else 1
                depth, close = 1, None
                for index in range(inner, len(alt)):
                    if alt[index] == "(":
                        depth += 1
                    elif alt[index] == ")":
                        depth -= 1
                        if depth == 0:
                            close = index
                            break
                if close is None or alt[close + 1:close + 2] in ("?", "*"):
                    return ""
                pending.append(alt[inner:close])
            elif alt[:1].isalnum() and alt[1:2] not in ("?", "*", "{"):
                firsts.add(alt[0])
            else:
                return ""
    chars = "".join(sorted(firsts))
    if nocase:
        chars = "".join(sorted(set(chars.upper() + chars.lower())))
    return chars


def _template(template: str):
    """``"Samsung {1}"`` -> ``("Samsung ", 1)``: a prefix and one group (``None``: constant)."""
    prefix, brace, rest = template.partition("{")
    if not brace:
        return prefix, None
    if rest[1:] != "}":
        raise ValueError(f"device template {template!r} must be a prefix followed by one {{N}}")
    return prefix, int(rest[0])


def _index(rules):
    """Group rules by the characters their token can start with, keeping table order."""
    by_first = {}
    anywhere = []
    ordered = []
    for pattern, brand, family, model in rules:
        rule = (re.compile(pattern), brand) + _template(family) + _template(model)
        ordered.append((_first_chars(pattern), rule))
    for firsts, rule in ordered:
        if not firsts:
            anywhere.append(rule)
    # A token tries its first-letter rules, then the rules that may start anywhere.
    for firsts, rule in ordered:
        for char in firsts:
            by_first.setdefault(char, []).append(rule)
    return {k: tuple(v) for k, v in by_first.items()}, tuple(anywhere)


_ANDROID_BY_FIRST, _ANDROID_ANYWHERE = _index(_ANDROID_RULES)
_HEAD_BY_FIRST, _HEAD_ANYWHERE = _index(_HEAD_RULES)

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


def _lookup(token, by_first, anywhere):
    """Brand the model token with the first matching rule; ``None`` when no rule fits."""
    for table in (by_first.get(token[:1], ()), anywhere):
        for compiled, brand, family_prefix, family_group, model_prefix, model_group in table:
            match = compiled.match(token)
            if match is not None:
                # PERF: templates are pre-split, so no str.format per lookup.
                family = family_prefix if family_group is None else family_prefix + (match.group(family_group) or "")
                model = model_prefix if model_group is None else model_prefix + (match.group(model_group) or "")
                return (brand, model.strip(), family.strip())
    return None


def android_model(comment: str) -> str:
    """The model token of an Android comment: before `` Build/``, else the part after the version."""
    at = comment.find(" Build/")
    if at < 0:
        at = comment.find("Build/")
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
        if part in _SKIP_PARTS or part.startswith("rv:") or (len(part) <= 8 and _LOCALE.fullmatch(part)):
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
        for marker, device in _APPLE.items():
            if comment.startswith(marker) or marker in comment:
                return device
        if os_family == "Mac OS X":
            return _APPLE["Macintosh"]
        return _head_device(ua) or _UNKNOWN_DEVICE
    if os_family == "Android":
        return android(ua, comment, mobile)
    if os_family in ("Windows", "Linux", "Chrome OS", "Ubuntu", "Fedora", "Debian"):
        return _NO_DEVICE
    if os_family == "Windows Phone":
        return _windows_phone(comment) or _UNKNOWN_DEVICE
    return _head_device(ua) or _UNKNOWN_DEVICE


def android(ua: str, comment: str, mobile: bool):
    """``detect`` for an Android UA: the model token of its comment, branded by the rules."""
    token = android_model(comment)
    if token == "K":
        return ("Generic_Android", "K", "K", "mobile") if mobile else ("Generic_Android_Tablet", "K", "K", "tablet")
    if not token:
        if mobile or "Mobile" in ua:
            return ("Generic", "Smartphone", "Generic Smartphone", "mobile")
        if "Tablet" in comment:
            return ("Generic", "Tablet", "Generic Tablet", "tablet")
        return ("Generic", "Smartphone", "Generic Smartphone", "mobile")
    found = _lookup(token, _ANDROID_BY_FIRST, _ANDROID_ANYWHERE)
    kind = "mobile" if mobile else "tablet"
    if found is not None:
        return found + (kind,)
    if mobile:
        return ("Generic_Android", token, token, kind)
    return ("Generic_Android_Tablet", token, token, kind)


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
    """Feature phones whose UA starts with the vendor and model."""
    found = _lookup(ua, _HEAD_BY_FIRST, _HEAD_ANYWHERE)
    if found is not None:
        return found + ("mobile",)
    return None
