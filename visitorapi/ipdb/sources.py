"""CSV geolocation sources: one small reader per dialect, yielding address ranges.

Every dialect is reduced to the same value, :class:`SourceRange`: an inclusive
range of integer addresses with its location fields in
:data:`LOCATION_FIELDS` order. ``where`` ("path:line") travels with each range
so that errors found later (overlaps, in the compiler) still name the file
and line the operator must fix.
"""
from dataclasses import dataclass

from visitorapi.errors import OperatorError

# The order of the location tuple in every SourceRange and in the database.
LOCATION_FIELDS = ("country_code", "region", "district", "city", "postcode",
                   "latitude", "longitude", "timezone")


class SourceError(OperatorError, ValueError):
    """A CSV input is unreadable or has a bad row; the message starts with "path:line:"."""


@dataclass(frozen=True, slots=True)
class SourceRange:
    """An inclusive address range and its location, as read from one CSV row.

    Attributes:
        first: the first address, as an integer.
        last: the last address, as an integer (``first <= last``).
        version: 4 or 6; IPv4-mapped IPv6 ranges (``::ffff:0:0/96``) keep
            version 6 here, and the compiler folds them into the IPv4 trie.
        location: one value per :data:`LOCATION_FIELDS` entry: ``str`` or
            ``None`` for text fields, ``float`` or ``None`` for latitude and
            longitude.
        where: ``"path:line"`` of the row, for error messages.
    """

    first: int
    last: int
    version: int
    location: tuple
    where: str
