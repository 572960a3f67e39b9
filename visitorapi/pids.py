"""What a project id (pid) looks like: the one definition every layer checks against.

A pid appears in URLs (``/api/?pid=``, dashboard paths), in the store, in
``VISITORAPI_DEMO_PID`` and in the OpenAPI description; all of them use
:data:`PATTERN`.
"""
import re

PATTERN = r"[A-Za-z0-9_-]{1,64}"
FORM = "1 to 64 characters from A-Z a-z 0-9 _ -"
_PID = re.compile(PATTERN, re.ASCII)


def is_pid(text) -> bool:
    """True if ``text`` is a string of the pid's form."""
    return isinstance(text, str) and _PID.fullmatch(text) is not None
