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
_NONE, _TOKEN, _REST, _WHOLE, _SPELLED = 0, 1, 2, 3, 4
# How a prefix may be followed by a separator (" ", "_", "-", "/" or ".").
NO_SEP, OPT_SEP, REQ_SEP = 0, 1, 2
_SEPARATORS = " _-/."
# Where a model token found by ``Table.scan`` ends: the end of its product or comment part, and
# at most 80 characters on (real model names are far shorter), so a failed attempt costs O(1).
_TOKEN_END = re.compile(r"[^;(),\[\]\n\r\t]{0,80}")
# How many vendor words ``Table.scan`` tries before giving up (real UAs name one or two).
_SCAN_ATTEMPTS = 8


def _template(text: str):
    """``"Samsung {rest}"`` -> ``("Samsung ", _REST)``; a constant gives ``(text, _NONE)``."""
    for name, source in (("{spelled} {rest}", _SPELLED), ("{token}", _TOKEN), ("{rest}", _REST),
                         ("{whole}", _WHOLE)):
        if text.endswith(name):
            label = text[:-len(name)]
            if "{" in label:
                raise ValueError(f"template {text!r}: the variable part must come last")
            return label, source
    if "{" in text:
        raise ValueError(f"template {text!r}: use {{token}}, {{rest}} or {{whole}} at the end")
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

    Templates take ``{token}`` (the model token up to a "/", which starts a
    firmware or build suffix), ``{whole}`` (the token with that suffix),
    ``{rest}`` (what follows the prefix and its separator, up to a "/") or
    ``{spelled} {rest}`` (the prefix as the token spells it, a space, the rest:
    "GIONEE_GN800" -> "GIONEE GN800").

    Args:
        prefix: the leading text of the model token ("SM-", "Lenovo"), or a
            tuple of such texts that mean the same.
        brand: the brand as uap-core spells it.
        model, family: templates; the family defaults to ``brand + " " + model``.
        nocase: also accept the prefix in upper, lower and capitalised form.
        sep: NO_SEP (take the rest as is), OPT_SEP (drop separators after the
            prefix) or REQ_SEP (a separator must follow the prefix).
        then: a regex the rest must start with (``re.match``), e.g. a digit.
        keep: make ``{rest}`` just what ``then`` matched ("Nokia 8 Sirocco" -> "8").
        spaces: write "_" in the variable part as a space ("Amaze_4G" -> "Amaze 4G").
        word: the rest ends at its first space ("LG VN271 Browser" -> "VN271").
    """

    __slots__ = ("prefixes", "nocase", "sep", "then", "keep", "spaces", "word", "brand", "model", "family")

    def __init__(self, prefix, brand, model="{rest}", family=None, *, nocase=True, sep=OPT_SEP, then=None,
                 keep=False, spaces=False, word=False):
        self.prefixes = (prefix,) if isinstance(prefix, str) else tuple(prefix)
        self.nocase = nocase
        self.sep = sep
        self.then = re.compile(then) if then else None
        self.keep = keep
        self.spaces = spaces
        self.word = word
        self.brand = brand
        self.model = _template(model)
        self.family = _template(family if family is not None else brand + " " + model)

    def entries(self):
        """This rule as ``Table`` candidates: ``(prefix length, kind, spellings, payload)`` per prefix."""
        (model_label, model_source), (family_label, family_source) = self.model, self.family
        simple = self.sep == NO_SEP and self.then is None and not self.spaces and not self.word
        for prefix in self.prefixes:
            spellings = _spellings(prefix, self.nocase)
            if simple and model_source == family_source == _NONE:
                yield len(prefix), _CONSTANT, spellings, _by_kind((self.brand, model_label, family_label))
            elif simple and model_source in (_TOKEN, _WHOLE) and family_source in (_TOKEN, _WHOLE):
                # Without a "/" in the token, {token} and {whole} are the token itself.
                yield len(prefix), _WITH_TOKEN, spellings, (self.brand, model_label, family_label, self, len(prefix))
            else:
                yield len(prefix), _GENERAL, spellings, (self, len(prefix))

    def apply(self, token: str, size: int):
        """``(brand, model, family)`` when ``token`` fits this rule (its ``size``-long prefix already checked)."""
        rest = token[size:]
        if self.sep:
            if rest[:1] and rest[0] in _SEPARATORS:
                rest = rest.lstrip(_SEPARATORS)
            elif self.sep == REQ_SEP:
                return None
        rest = rest.partition("/")[0]
        if self.word:
            rest = rest.partition(" ")[0]
        cut = token.partition("/")[0]
        if self.then is not None:
            match = self.then.match(rest)
            if match is None:
                return None
            if self.keep:
                rest = match.group()
        values = {_TOKEN: cut, _REST: rest, _WHOLE: token, _SPELLED: token[:size] + " " + rest}
        if self.spaces:
            values = {source: value.replace("_", " ") for source, value in values.items()}
        parts = []
        for label, source in (self.model, self.family):
            if source and not (rest if source == _SPELLED else values[source]):
                return None
            parts.append(label + values[source] if source else label)
        return self.brand, parts[0].strip(), parts[1].strip()


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
        shapes = [*shapes, *(rule for rule in rules if isinstance(rule, Shape))]
        rules = [rule for rule in rules if not isinstance(rule, Shape)]
        leads = {}
        for token, found in (exact or {}).items():
            leads.setdefault(token[:2], []).append((_EXACT, token, _by_kind(found)))
        # Longer prefixes first, so "SAMSUNG-SGH" beats "SAMSUNG"; table order breaks ties.
        entries = [entry for rule in rules for entry in rule.entries()]
        for _, (_, kind, spellings, payload) in sorted(enumerate(entries), key=lambda pair: (-pair[1][0], pair[0])):
            for lead in {spelling[:2] for spelling in spellings}:
                leads.setdefault(lead, []).append((kind, spellings, payload))
        self.leads = {lead: tuple(found) for lead, found in leads.items()}
        by_first = {}
        for shape in shapes:
            for char in shape.firsts:
                by_first.setdefault(char, []).append(shape)
        self.shapes = {char: tuple(found) for char, found in by_first.items()}
        words = {spelling.lower() for entries in leads.values() for _, spellings, _ in entries
                 for spelling in ([spellings] if isinstance(spellings, str) else spellings)}
        self._words = frozenset(word.strip(_SEPARATORS) for word in words)
        # A vendor word starts a token where no letter comes right before it.
        self._scanner = re.compile("(?<![a-z])" + alternation(sorted(words)))

    def scan(self, ua: str, mobile: bool = True):
        """``lookup`` of the first model token anywhere in ``ua`` that a rule knows ("... Nokia6350/13.17)").

        PERF: one regex search over the lower-cased UA finds where vendor
        words start (the words are merged into a trie, so each position tries
        a character or two); only those positions are looked up, at most
        ``_SCAN_ATTEMPTS`` of them, each on a token of at most 80 characters,
        so the cost stays linear in the UA's length whatever it repeats.
        """
        low, position = ua.lower(), 0
        for _ in range(_SCAN_ATTEMPTS):
            match = self._scanner.search(low, position)
            if match is None:
                return None
            # The next attempt may start inside this word ("lge LG-P720": "LG-" after "lge ").
            position = match.start() + 1
            token = _TOKEN_END.match(ua, match.start()).group().strip()
            found = self.lookup(token, mobile)
            # "HTC HTC One X", "LENOVO Lenovo S750": a vendor word is no model; the next one names it.
            if found is not None and found[1].lower() not in self._words:
                return found
        return None

    def lookup(self, token: str, mobile: bool = True):
        """``(brand, model, family, device_type)`` for a model token, or ``None`` when no rule knows it.

        ``token`` has no spaces around it (every caller strips it);
        ``device_type`` is "mobile" or, when ``mobile`` is false, "tablet".
        """
        for kind, key, payload in self.leads.get(token[:2], ()):
            if kind == _EXACT:
                if token == key:
                    return payload[mobile]
            elif token.startswith(key):
                if kind == _CONSTANT:
                    return payload[mobile]
                if kind == _WITH_TOKEN:
                    if "/" not in token:
                        return payload[0], payload[1] + token, payload[2] + token, "mobile" if mobile else "tablet"
                    payload = payload[3:]
                found = payload[0].apply(token, payload[1])
                if found is not None:
                    return found + (("mobile",) if mobile else ("tablet",))
        for shape in self.shapes.get(token[:1], ()):
            found = shape.apply(token)
            if found is not None:
                return found + (("mobile",) if mobile else ("tablet",))
        return None


def alternation(words):
    """A regex for "any of ``words``", merged into a trie: ``ab|ac|b`` -> ``(?:a(?:b|c)|b)``.

    Optional tails are single ``(?:...)?`` groups, never repeated, so a match
    attempt costs at most the length of the longest word.
    """
    trie = {}
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}

    def build(node):
        branches = [re.escape(char) + build(child) for char, child in sorted(node.items()) if char]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return "(?:" + body + ")?" if "" in node else body

    return build(trie)


def _by_kind(found):
    """``(brand, model, family)`` -> the answers for a tablet and a phone, indexed by ``mobile``."""
    return found + ("tablet",), found + ("mobile",)
