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

from visitorapi.useragent import vendors

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


def is_filler(part: str) -> bool:
    """Whether a comment part is not a model name: a marker ("U", "wv", "Mobile"), ``rv:``, or a locale."""
    return part in _SKIP_PARTS or part.startswith("rv:") or (len(part) <= 8 and _LOCALE.fullmatch(part) is not None)


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
    return android_device(token, mobile)


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
    """Feature phones whose UA starts with the vendor and model."""
    found = _lookup(ua, _HEAD_BY_FIRST, _HEAD_ANYWHERE)
    if found is not None:
        return found + ("mobile",)
    return None
