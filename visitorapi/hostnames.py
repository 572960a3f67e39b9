"""Host names as an operator types them, turned into the ASCII form browsers send.

Browsers put the ASCII ("A-label", ``xn--``) form of a host in ``Origin`` and
``Referer``; the URL Standard gets it with UTS #46 processing (nontransitional,
``CheckBidi`` and ``CheckJoiners`` on). :func:`to_ascii` does the same for an
operator's pattern, with the standard library only, and refuses what it cannot
convert with certainty. The refusal is the safe side: converting ``faß.de``
to ``fass.de`` (what Python's IDNA 2003 codec does) would authorize a domain
someone else owns, whereas refusing costs the operator one retyping in the
``xn--`` form their browser's address bar shows.

What is implemented, and where it deviates from the full UTS #46 table:

- Mapping: each code point goes through NFKC case folding (the basis of the
  UTS #46 mapping table), except the four *deviation* characters ß, ς,
  ZWJ and ZWNJ, which nontransitional processing keeps. The ideographic full
  stops U+3002, U+FF0E and U+FF61 separate labels like ``.``. The result is
  put in NFC (UTS #46 section 4, steps 1-2).
- Refused instead of mapped: invisible characters UTS #46 would silently drop
  (soft hyphen, zero-width space, variation selectors: an operator almost
  certainly pasted them by accident); U+1E9E capital sharp s, whose mapping
  changed between UTS #46 versions; CJK compatibility ideographs; anything
  unassigned in this Python's Unicode version; anything whose mapping yields
  ASCII other than letters, digits and hyphen (``⒈`` maps to ``1.``).
- Validity (RFC 5891 section 5.4 / RFC 5892): after mapping, a Unicode label
  may hold only lowercase letters, other letters, combining marks and decimal
  digits (general categories Ll, Lo, Lm, Mn, Mc, Nd); ZWNJ and ZWJ only after
  a virama (RFC 5892 appendix A.1-A.2; the joining-type rule needs Unicode
  data the stdlib lacks, so such names are refused with the ``xn--`` hint);
  no mixing of Arabic-Indic and extended Arabic-Indic digits; no leading
  combining mark or hyphen; the RFC 5893 Bidi rule on every label of a name
  that has a right-to-left label. IDNA2008 is stricter than browsers about
  symbols (``☃.net``): those are refused, and the hint names the ``xn--`` way.
- An ``xn--`` label typed by the operator is decoded and must re-encode to
  itself, decode to non-ASCII NFC text and be stable under the mapping; it is
  otherwise taken as typed, since an A-label matches an Origin byte for byte.
"""
import unicodedata

MAX_LABEL_LENGTH = 63   # RFC 1035 section 2.3.4
MAX_NAME_LENGTH = 253   # RFC 1035: 255 octets on the wire, less the length byte and root

ACE_PREFIX = "xn--"
_FULL_STOPS = {"\u3002": ".", "\uff0e": ".", "\uff61": "."}    # UTS #46 section 2.3
_DEVIATIONS = frozenset("\u00df\u03c2\u200c\u200d")             # ß ς ZWNJ ZWJ
_ZWNJ, _ZWJ = "\u200c", "\u200d"
_VIRAMA = 9                                                    # canonical combining class
_LETTERS_MARKS_DIGITS = frozenset({"Ll", "Lo", "Lm", "Mn", "Mc", "Nd"})
_LDH = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")
# RFC 5892 section 2.6: exceptions that are DISALLOWED despite their category.
_DISALLOWED_EXCEPTIONS = frozenset("\u0640\u07fa\u302e\u302f\u3031\u3032\u3033\u3034\u3035\u303b")
_ARABIC_INDIC = frozenset(chr(c) for c in range(0x0660, 0x066A))
_EXTENDED_ARABIC_INDIC = frozenset(chr(c) for c in range(0x06F0, 0x06FA))
# RFC 5893 section 2: bidirectional classes per rule.
_RTL_CLASSES = frozenset({"R", "AL", "AN"})
_RTL_ALLOWED = frozenset({"R", "AL", "AN", "EN", "ES", "CS", "ET", "ON", "BN", "NSM"})
_LTR_ALLOWED = frozenset({"L", "EN", "ES", "CS", "ET", "ON", "BN", "NSM"})


class HostError(ValueError):
    """A host name that cannot be used; the message says why and what to type instead."""


def to_ascii(name: str) -> str:
    """Return the lowercase A-label form of a domain name, as a browser would send it.

    Args:
        name: a domain name without a trailing dot, in Unicode or ASCII,
            any letter case, e.g. ``"Bücher.Example"``.

    Returns:
        The name in ASCII, e.g. ``"xn--bcher-kva.example"``.

    Raises:
        HostError: the name is empty, has an empty or over-long label, holds a
            character no browser would accept, or one this module cannot map
            with certainty (the message then suggests the ``xn--`` form).
    """
    mapped = name.lower() if name.isascii() else _map(name)
    labels = mapped.split(".")
    unicode_labels = []
    ascii_labels = []
    for label in labels:
        if not label:
            raise HostError("it has an empty label (two dots in a row, or a dot at either end)")
        if label.startswith(ACE_PREFIX):
            unicode_labels.append(_decode_ace(label))
            ascii_labels.append(label)
        elif label.isascii():
            _check_ldh(label)
            unicode_labels.append(label)
            ascii_labels.append(label)
        else:
            _check_unicode_label(label)
            unicode_labels.append(label)
            ascii_labels.append(ACE_PREFIX + label.encode("punycode").decode("ascii"))
    _check_bidi(unicode_labels)
    for label in ascii_labels:
        if len(label) > MAX_LABEL_LENGTH:
            raise HostError(f"label {label!r} is {len(label)} characters long in ASCII; "
                            f"the limit is {MAX_LABEL_LENGTH}")
    result = ".".join(ascii_labels)
    if len(result) > MAX_NAME_LENGTH:
        raise HostError(f"the name is {len(result)} characters long in ASCII; "
                        f"the limit is {MAX_NAME_LENGTH}")
    return result


def _describe(char: str) -> str:
    name = unicodedata.name(char, "unnamed character")
    return f"{char!r} (U+{ord(char):04X} {name})"


def _xn_hint() -> str:
    return ("; if your site's name really uses it, enter the name in its ASCII "
            "'xn--' form, as your browser's address bar shows it")


def _map(name: str) -> str:
    """UTS #46 mapping (section 4 steps 1-2) of a name with non-ASCII characters."""
    out = []
    for char in name:
        if char in _FULL_STOPS:
            out.append(".")
            continue
        if char.isascii() or char in _DEVIATIONS:
            out.append(char.lower())
            continue
        category = unicodedata.category(char)
        if category == "Cn":
            raise HostError(f"character U+{ord(char):04X} is not assigned in Unicode "
                            f"{unicodedata.unidata_version}{_xn_hint()}")
        if category in ("Cf", "Cc", "Zs", "Zl", "Zp", "Co", "Cs") or _is_default_ignorable(char):
            raise HostError(f"it contains the invisible character {_describe(char)}; remove it")
        if char == "\u1e9e" or 0x2F800 <= ord(char) <= 0x2FA1F or 0xF900 <= ord(char) <= 0xFAFF:
            raise HostError(f"character {_describe(char)} maps differently across UTS #46 "
                            f"versions{_xn_hint()}")
        folded = _fold(char)
        for produced in folded:
            if produced.isascii() and produced not in _LDH:
                raise HostError(f"character {_describe(char)} stands for {folded!r}, "
                                "which is not allowed in a host name")
        out.append(folded)
    mapped = unicodedata.normalize("NFC", "".join(out))
    if _fold_all(mapped) != mapped:
        raise HostError(f"{name!r} does not settle to one form under Unicode case folding{_xn_hint()}")
    return mapped


# Unicode's Default_Ignorable_Code_Point ranges (DerivedCoreProperties.txt): UTS #46
# drops or disallows them; they are invisible, so refusing them is the honest answer.
_DEFAULT_IGNORABLE = ((0x00AD, 0x00AD), (0x034F, 0x034F), (0x061C, 0x061C), (0x115F, 0x1160),
                      (0x17B4, 0x17B5), (0x180B, 0x180F), (0x200B, 0x200F), (0x202A, 0x202E),
                      (0x2060, 0x206F), (0x3164, 0x3164), (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF),
                      (0xFFA0, 0xFFA0), (0xFFF0, 0xFFF8), (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A),
                      (0xE0000, 0xE0FFF))


def _is_default_ignorable(char: str) -> bool:
    point = ord(char)
    return any(low <= point <= high for low, high in _DEFAULT_IGNORABLE)


def _fold(char: str) -> str:
    """NFKC case folding of one code point: NFKC(casefold(NFKD(c))), the UTS #46 mapping basis."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKD", char).casefold())


def _fold_all(text: str) -> str:
    return unicodedata.normalize(
        "NFC", "".join(c if c.isascii() or c in _DEVIATIONS else _fold(c) for c in text))


def _check_ldh(label: str) -> None:
    """An ASCII label: letters, digits, inner hyphens (RFC 1123 section 2.1, RFC 5891 4.2.3.1)."""
    for char in label:
        if char not in _LDH:
            raise HostError(f"character {char!r} is not allowed in a host name "
                            "(letters, digits and '-' only)")
    if label[0] == "-" or label[-1] == "-":
        raise HostError(f"label {label!r} starts or ends with '-'")
    if label[2:4] == "--":
        raise HostError(f"label {label!r} has '--' in its third and fourth places, "
                        "which only 'xn--' labels may have")


def _check_unicode_label(label: str) -> None:
    """RFC 5891 section 5.4 validity of a U-label (after mapping), as summarized in the module doc."""
    if label[0] == "-" or label[-1] == "-":
        raise HostError(f"label {label!r} starts or ends with '-'")
    if label[2:4] == "--":
        raise HostError(f"label {label!r} has '--' in its third and fourth places")
    if unicodedata.category(label[0]).startswith("M"):
        raise HostError(f"label {label!r} starts with the combining mark {_describe(label[0])}")
    for index, char in enumerate(label):
        if char.isascii():
            if char not in _LDH:
                raise HostError(f"character {char!r} is not allowed in a host name")
            continue
        if char in (_ZWNJ, _ZWJ):
            before = label[index - 1] if index else ""
            if not before or unicodedata.combining(before) != _VIRAMA:
                raise HostError(f"{_describe(char)} is allowed only in contexts this "
                                f"check cannot verify{_xn_hint()}")
            continue
        if (unicodedata.category(char) not in _LETTERS_MARKS_DIGITS
                or char in _DISALLOWED_EXCEPTIONS
                or 0x1100 <= ord(char) <= 0x11FF or 0xA960 <= ord(char) <= 0xA97F
                or 0xD7B0 <= ord(char) <= 0xD7FF):
            raise HostError(f"character {_describe(char)} is not allowed in an "
                            f"internationalized host name (IDNA2008){_xn_hint()}")
    chars = set(label)
    if chars & _ARABIC_INDIC and chars & _EXTENDED_ARABIC_INDIC:
        raise HostError(f"label {label!r} mixes Arabic-Indic and extended Arabic-Indic digits")


def _decode_ace(label: str) -> str:
    """Check an ``xn--`` label an operator typed; return its Unicode form."""
    try:
        decoded = label[len(ACE_PREFIX):].encode("ascii").decode("punycode")
    except UnicodeError:
        raise HostError(f"label {label!r} starts with 'xn--' but is not valid punycode") from None
    if decoded.isascii() or decoded.startswith("-") or decoded.endswith("-"):
        raise HostError(f"label {label!r} is not a valid 'xn--' label")
    if ACE_PREFIX + decoded.encode("punycode").decode("ascii") != label:
        raise HostError(f"label {label!r} is not the canonical 'xn--' form of {decoded!r}")
    if unicodedata.normalize("NFC", decoded) != decoded or _fold_all(decoded) != decoded:
        raise HostError(f"label {label!r} decodes to {decoded!r}, which is not in the "
                        "normalized lowercase form browsers send")
    for char in decoded:
        if unicodedata.category(char) in ("Cc", "Zs", "Zl", "Zp", "Cn", "Cs", "Co") or char == ".":
            raise HostError(f"label {label!r} decodes to a name containing {_describe(char)}")
        if char.isascii() and char not in _LDH:
            raise HostError(f"label {label!r} decodes to a name containing {char!r}")
    return decoded


def _check_bidi(labels) -> None:
    """RFC 5893 section 2: the Bidi rule, applied to every label once any label is right-to-left."""
    if not any(unicodedata.bidirectional(c) in _RTL_CLASSES for label in labels for c in label):
        return
    for label in labels:
        classes = [unicodedata.bidirectional(c) for c in label]
        first = classes[0]
        trimmed = classes[:]
        while trimmed and trimmed[-1] == "NSM":
            trimmed.pop()
        last = trimmed[-1] if trimmed else "NSM"
        if first in ("R", "AL"):
            ok = (set(classes) <= _RTL_ALLOWED and last in ("R", "AL", "EN", "AN")
                  and not ("EN" in classes and "AN" in classes))
        elif first == "L":
            ok = set(classes) <= _LTR_ALLOWED and last in ("L", "EN")
        else:
            ok = False
        if not ok:
            raise HostError(f"label {label!r} breaks the Bidi rule for right-to-left "
                            "names (RFC 5893)")
