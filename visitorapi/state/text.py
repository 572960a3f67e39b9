"""The one rule for operator-typed text kept in the store: one line of printable characters.

Project names, domain notes and account emails are shown back to operators
(dashboard, CLI, audit trail), where a control or format character could
hide or reorder what they read.
"""
from visitorapi.errors import OperatorError


def check_text(text: str, what: str, limit: int) -> str:
    """Return ``text`` if it is at most ``limit`` characters of one printable line.

    NOTE: ``str.isprintable`` is False for control (Cc: C0 and C1, NUL, ESC,
    newlines) and format (Cf) characters, so bidi overrides (U+202E, which
    can make text read differently from what it is) and zero-width spaces
    (U+200B) are refused too.

    Raises:
        OperatorError: naming ``what`` and the first offending character.
    """
    if len(text) > limit:
        raise OperatorError(f"{what} is {len(text)} characters long; the limit is {limit}")
    bad = next((c for c in text if not c.isprintable()), None)
    if bad is not None:
        raise OperatorError(f"{what} contains a control character (U+{ord(bad):04X}); "
                            "use one line of printable text")
    return text
