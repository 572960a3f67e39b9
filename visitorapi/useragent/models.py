"""Brand, model and family of a device from its model token.

A phone names itself with a model token: ``SM-S928U`` and ``GT-I9300``
(Samsung), ``Redmi Note 9 Pro`` (Xiaomi), ``LG-H818``, ``HTC Desire``,
``Lenovo TB-8705F``. Vendors keep to a few conventions: their name in
front, or a model-number prefix of their own. So a token is branded by its
leading characters: this module holds one table of such prefixes, each with
how uap-core spells the brand, the model and the family ("Samsung SM-S928U",
"LG-H818" with model "H818", "Pixel 7" with brand "Google").

A rule is written as ``Rule(prefix, brand, model, family, ...)``; the model
and family templates are a fixed text plus at most one of ``{token}`` (the
whole model token) or ``{rest}`` (what follows the prefix and its separator).

PERF: ``lookup`` is on the per-request path of every Android UA. Rules are
indexed by the first two characters of each spelling of their prefix, so a
lookup is one slice, one dict access and a ``str.startswith`` with a tuple of
spellings per candidate (usually one or two); regexes run only for the few
shape rules (``Shape``) and only when no prefix fits.
"""
import re

# Where a template takes its variable part from.
_NONE, _TOKEN, _REST = 0, 1, 2
# How a prefix may be followed by a separator (" ", "_" or "-").
NO_SEP, OPT_SEP, REQ_SEP = 0, 1, 2
_SEPARATORS = " _-"


def _template(text: str):
    """``"Samsung {rest}"`` -> ``("Samsung ", _REST)``; a constant gives ``(text, _NONE)``."""
    for name, source in (("{token}", _TOKEN), ("{rest}", _REST)):
        if text.endswith(name):
            label = text[:-len(name)]
            if "{" in label:
                raise ValueError(f"template {text!r}: the variable part must come last")
            return label, source
    if "{" in text:
        raise ValueError(f"template {text!r}: use {{token}} or {{rest}} at the end")
    return text, _NONE


def _spellings(prefix: str, nocase: bool):
    """The spellings a prefix is recognised in: as written, or also upper, lower and capitalised."""
    if not nocase:
        return (prefix,)
    found = []
    for spelling in (prefix, prefix.upper(), prefix.lower(), prefix.capitalize()):
        if spelling not in found:
            found.append(spelling)
    return tuple(found)


class Rule:
    """A vendor prefix and how uap-core writes brand, model and family for it.

    Args:
        prefix: the leading text of the model token ("SM-", "Lenovo").
        brand: the brand as uap-core spells it.
        model, family: templates (see the module docstring).
        nocase: also accept the prefix in upper, lower and capitalised form.
        sep: NO_SEP (take the rest as is), OPT_SEP (drop separators after the
            prefix) or REQ_SEP (a separator must follow the prefix).
        then: a regex the rest must start with (``re.match``), e.g. a digit.
        keep: make ``{rest}`` just what ``then`` matched ("Nokia 8 Sirocco" -> "8").
    """

    __slots__ = ("spellings", "size", "sep", "then", "keep", "brand", "model", "family")

    def __init__(self, prefix, brand, model="{rest}", family=None, *, nocase=True, sep=OPT_SEP, then=None,
                 keep=False):
        self.spellings = _spellings(prefix, nocase)
        self.size = len(prefix)
        self.sep = sep
        self.then = re.compile(then) if then else None
        self.keep = keep
        self.brand = brand
        self.model = _template(model)
        self.family = _template(family if family is not None else brand + " " + model)

    def entry(self):
        """This rule as a ``Table`` candidate: ``(kind, spellings, payload)``."""
        (model_label, model_source), (family_label, family_source) = self.model, self.family
        if self.sep == NO_SEP and self.then is None and _REST not in (model_source, family_source):
            if model_source == family_source == _NONE:
                return _CONSTANT, self.spellings, _by_kind((self.brand, model_label, family_label))
            if model_source == family_source == _TOKEN:
                return _WITH_TOKEN, self.spellings, (self.brand, model_label, family_label)
        return _GENERAL, self.spellings, self

    def apply(self, token: str):
        """``(brand, model, family)`` when ``token`` fits this rule (its prefix already checked), else ``None``."""
        rest = token[self.size:]
        if self.sep:
            if rest[:1] and rest[0] in _SEPARATORS:
                rest = rest.lstrip(_SEPARATORS)
            elif self.sep == REQ_SEP:
                return None
        if self.then is not None:
            match = self.then.match(rest)
            if match is None:
                return None
            if self.keep:
                rest = match.group()
        model_label, model_source = self.model
        family_label, family_source = self.family
        if (model_source == _REST or family_source == _REST) and not rest:
            return None
        model = model_label if not model_source else model_label + (token if model_source == _TOKEN else rest)
        family = family_label if not family_source else family_label + (token if family_source == _TOKEN else rest)
        return self.brand, model, family


class Shape:
    """A model-number shape that needs a regex (``VOG-L29`` is Huawei's); ``{rest}`` is group 1.

    ``firsts`` lists the characters such a token can start with, so the regex
    only runs on tokens that could match.
    """

    __slots__ = ("firsts", "regex", "brand", "model", "family")

    def __init__(self, firsts, pattern, brand, model="{token}", family=None):
        self.firsts = firsts
        self.regex = re.compile(pattern)
        self.brand = brand
        self.model = _template(model)
        self.family = _template(family if family is not None else brand + " " + model)

    def apply(self, token: str):
        match = self.regex.match(token)
        if match is None:
            return None
        rest = match.group(1) if self.regex.groups else token
        parts = []
        for label, source in (self.model, self.family):
            parts.append((label if not source else label + (token if source == _TOKEN else rest)).strip())
        return self.brand, parts[0], parts[1]


# Kinds of entry in a Table's candidate lists (see Table.lookup).
_EXACT, _CONSTANT, _WITH_TOKEN, _GENERAL = 0, 1, 2, 3


class Table:
    """Exact tokens, prefix rules and shapes, indexed for ``lookup``.

    PERF: candidates are grouped by the first two characters of the token.
    Exact tokens and the rules whose answer is fixed text or the token with a
    label in front are stored pre-digested, so most lookups are one slice,
    one dict access, a ``str.startswith`` or ``==``, and two concatenations.
    """

    def __init__(self, exact=None, rules=(), shapes=()):
        leads = {}
        for token, found in (exact or {}).items():
            leads.setdefault(token[:2], []).append((_EXACT, token, _by_kind(found)))
        # Longer prefixes first, so "SAMSUNG-SGH" beats "SAMSUNG"; table order breaks ties.
        for _, rule in sorted(enumerate(rules), key=lambda pair: (-pair[1].size, pair[0])):
            entry = rule.entry()
            for lead in {spelling[:2] for spelling in rule.spellings}:
                leads.setdefault(lead, []).append(entry)
        self.leads = {lead: tuple(found) for lead, found in leads.items()}
        by_first = {}
        for shape in shapes:
            for char in shape.firsts:
                by_first.setdefault(char, []).append(shape)
        self.shapes = {char: tuple(found) for char, found in by_first.items()}

    def lookup(self, token: str, mobile: bool = True):
        """``(brand, model, family, device_type)`` for a model token, or ``None`` when no rule knows it.

        ``device_type`` is "mobile" or, when ``mobile`` is false, "tablet".
        """
        for kind, key, payload in self.leads.get(token[:2], ()):
            if kind == _EXACT:
                if token == key:
                    return payload[mobile]
            elif token.startswith(key):
                if kind == _WITH_TOKEN:
                    brand, model_label, family_label = payload
                    return brand, model_label + token, family_label + token, "mobile" if mobile else "tablet"
                if kind == _CONSTANT:
                    return payload[mobile]
                found = payload.apply(token)
                if found is not None:
                    return found + (("mobile",) if mobile else ("tablet",))
        for shape in self.shapes.get(token[:1], ()):
            found = shape.apply(token)
            if found is not None:
                return found + (("mobile",) if mobile else ("tablet",))
        return None


def _by_kind(found):
    """``(brand, model, family)`` -> the answers for a tablet and a phone, indexed by ``mobile``."""
    return found + ("tablet",), found + ("mobile",)


_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

# The model tokens of Android UAs (the comment part before `` Build/``).
ANDROID = Table(
    exact={
        "Nexus 5": ("LG", "Nexus 5", "Nexus 5"), "Nexus 5X": ("LG", "Nexus 5X", "Nexus 5X"),
        "Nexus 4": ("LG", "Nexus 4", "Nexus 4"), "Nexus 6P": ("Huawei", "Nexus 6P", "Nexus 6P"),
        "Nexus 6": ("Motorola", "Nexus 6", "Nexus 6"), "Nexus 9": ("HTC", "Nexus 9", "Nexus 9"),
        "Nexus S": ("Samsung", "Nexus S", "Nexus S"), "Nexus 7": ("Generic_Android", "Nexus 7", "Nexus 7"),
        "Nexus 10": ("Generic_Android", "Nexus 10", "Nexus 10"),
        "Nexus One": ("Generic_Android", "Nexus One", "Nexus One"),
        "GM1910": ("OnePlus", "OnePlus GM1910", "OnePlus GM1910"),
    },
    rules=(
        # Samsung: a brand prefix, or one of its model-number series.
        Rule("SAMSUNG", "Samsung", "{rest}", "Samsung {rest}"),
        *(Rule(series, "Samsung", "{token}", "Samsung {token}", nocase=False, sep=NO_SEP)
          for series in ("SM-", "GT-", "SGH-", "SCH-", "SPH-", "SHV-", "SHW-", "SC-", "YP-")),
        Rule("Galaxy", "Samsung", "{token}", "Samsung {token}"),
        # Google and the Nexus line (exact tokens above).
        Rule("Pixel", "Google", "{token}", "{token}", nocase=False, sep=NO_SEP),
        # LG keeps its "LG-" in the family.
        Rule("LG", "LG", "{rest}", "{token}"),
        Rule("LM-", "LG", "{token}", "{token}", nocase=False, sep=NO_SEP),
        Rule("HTC", "HTC", "{rest}", "HTC {rest}"),
        # Xiaomi
        *(Rule(series, "XiaoMi", "{token}", "XiaoMi {token}", nocase=False, sep=NO_SEP)
          for series in ("Redmi", "POCO", "Poco")),
        *(Rule(series, "XiaoMi", "{token}", "XiaoMi {token}", nocase=False, sep=NO_SEP, then=r"[ \w+]")
          for series in ("Mi", "MI")),
        Rule("Xiaomi", "XiaoMi", "{rest}", "XiaoMi {rest}"),
        # Oppo and its Realme line.
        *(Rule(series, "Oppo", "{token}", "Oppo {token}", nocase=False, sep=NO_SEP, then=r"\d")
          for series in ("CPH", "RMX", "PCHM", "PBAM", "PDEM", "PEGM")),
        Rule("OPPO", "Oppo", "{rest}", "Oppo {rest}"),
        # OnePlus
        Rule("ONEPLUS ", "OnePlus", "{token}", "OnePlus {token}", sep=NO_SEP),
        *(Rule(series, "OnePlus", "OnePlus {token}", "OnePlus {token}", nocase=False, sep=NO_SEP, then=r"\d{4}")
          for series in ("BE", "DN", "EB", "HD", "IN", "KB", "LE", "NE", "PHB")),
        # Huawei and Honor.
        Rule("HUAWEI", "Huawei", "{rest}", "{token}"),
        Rule("Honor", "Huawei", "Honor {rest}", "Huawei Honor {rest}"),
        # Motorola
        Rule("Motorola", "Motorola", "{rest}", "Motorola {rest}", sep=REQ_SEP),
        Rule("moto", "Motorola", "{rest}", "Motorola {rest}", sep=REQ_SEP),
        Rule("XT", "Motorola", "{token}", "Motorola {token}", nocase=False, sep=NO_SEP, then=r"\d{3}"),
        # Amazon's Fire tablets.
        Rule("KF", "Amazon", "Kindle", "Kindle", nocase=False, sep=NO_SEP, then=r"[A-Z]{2}"),
        Rule("Kindle", "Amazon", "Kindle", "Kindle", nocase=False, sep=NO_SEP),
        # Brands that put their name in front of the model.
        Rule("Lenovo", "Lenovo"),
        Rule("Nokia", "Nokia", "{rest}", "Nokia {rest}", then=r"\d+", keep=True),
        Rule("Nokia", "Nokia", "{rest}", "Nokia {rest}"),
        Rule("Sony", "Sony"),
        Rule("vivo", "vivo", sep=REQ_SEP),
        Rule("TECNO", "Tecno", "{rest}", "TECNO {rest}", sep=REQ_SEP),
        Rule("Infinix", "Infinix", sep=REQ_SEP),
        Rule("itel", "Itel", sep=REQ_SEP),
        Rule("ZTE", "ZTE"),
        Rule("ALCATEL ONE TOUCH", "Alcatel"),
        Rule("ALCATEL ONETOUCH", "Alcatel"),
        Rule("ALCATEL", "Alcatel"),
        Rule("ASUS", "Asus"),
        Rule("Micromax", "Micromax"),
        Rule("ARCHOS", "Archos"),
        Rule("Acer", "Acer"),
        Rule("Lava", "Lava", sep=REQ_SEP),
        Rule("Prestigio", "Prestigio"),
        *(Rule(series, "Prestigio", "{token}", "Prestigio {token}", nocase=False, sep=NO_SEP, then=r"\d{4}")
          for series in ("PAP", "PMP")),
        Rule("Fly", "Fly", sep=REQ_SEP),
        Rule("Coolpad", "Coolpad"),
        Rule("Hisense", "Hisense"),
        Rule("Medion", "Medion"),
        Rule("Odys", "Odys"),
        Rule("Wiko", "Wiko"),
        Rule("Gionee", "Gionee"),
        Rule("Allview", "Allview"),
        Rule("Blu", "Blu", sep=REQ_SEP),
        Rule("Xolo", "Xolo"),
        Rule("Karbonn", "Karbonn"),
        Rule("Spice", "Spice"),
        Rule("Intex", "Intex"),
        Rule("Zopo", "Zopo"),
        Rule("ThL", "Thl", "{rest}", "ThL {rest}"),
        Rule("Polaroid", "Polaroid"),
        Rule("Yarvik", "Yarvik"),
        Rule("Toshiba", "Toshiba"),
        Rule("Pantech", "Pantech"),
        Rule("IM-A", "Pantech", "{token}", "Pantech {token}", nocase=False, sep=NO_SEP, then=r"\d{3}"),
        Rule("Dell", "Dell"),
        Rule("i-mobile", "imobile", "{rest}", "i-mobile {rest}"),
        Rule("MID", "CobyKyros", "{token}", "CobyKyros {token}", nocase=False, sep=NO_SEP, then=r"\d{4}"),
        Rule("SonyEricsson", "SonyEricsson", "{rest}", "SonyEricsson{rest}"),
        Rule("Ericsson", "SonyEricsson", "{rest}", "SonyEricsson{rest}"),
    ),
    shapes=(
        # Huawei: three letters, a dash, a letter code and one or two digits (VOG-L29, MAR-LX1A).
        Shape(_UPPER, r"[A-Z]{3}-(?:[A-Z]X|L|AL|TL|N|W|U)\d{1,2}", "Huawei"),
    ),
)
