"""IP data sources whose license requires a credit, and the notice each one asks for.

DB-IP Lite (CC BY 4.0), MaxMind GeoLite2 (its EULA) and IP2Location LITE
(CC BY-SA 4.0) may be used for free only if the service credits them. An
operator who compiles one of them without ``--attribution`` would otherwise
serve data whose credit appears nowhere, so the compiler stores the source's
own notice when none is given (:func:`notice_for`), and the server and
``visitorapi info`` warn about a database built from such a source that
carries no attribution at all (:func:`unattributed_sources`).

A source is recognised by the dialect its rows were read as or, for
layouts several vendors share (ip-location-db's ``start,end,country``), by
the vendor's name at the start of the file name, as the vendors and the
ip-location-db packaging name their files (``dbip-city-lite-2026-06.csv.gz``,
``GeoLite2-City-Blocks-IPv4.csv``, ``IP2LOCATION-LITE-DB11.CSV``).
"""
import os
from typing import NamedTuple


class KnownSource(NamedTuple):
    """A data vendor whose license requires attribution.

    Attributes:
        name: the vendor and product, for messages.
        notice: the credit, as plain text with its links as bare https URLs
            (the dashboard turns them into links).
        dialects: ``sources.DIALECTS`` names only this vendor's files have.
        prefixes: lower-case file-name prefixes of this vendor's files.
    """

    name: str
    notice: str
    dialects: frozenset
    prefixes: tuple


DBIP = KnownSource(
    "DB-IP Lite",
    "IP Geolocation by DB-IP (https://db-ip.com), licensed under CC BY 4.0 "
    "(https://creativecommons.org/licenses/by/4.0/)",
    frozenset({"dbip-city-lite", "dbip-country-lite"}),
    ("dbip-",))
GEOLITE2 = KnownSource(
    "MaxMind GeoLite2",
    "This product includes GeoLite2 data created by MaxMind, available from "
    "https://www.maxmind.com",
    frozenset({"geolite2-city", "geolite2-country", "geolite2-locations"}),
    ("geolite2-",))
IP2LOCATION = KnownSource(
    "IP2Location LITE",
    "This site or product includes IP2Location LITE data available from "
    "https://lite.ip2location.com",
    frozenset({"ip2location-db1", "ip2location-db3", "ip2location-db5", "ip2location-db11"}),
    ("ip2location-",))

KNOWN_SOURCES = (DBIP, GEOLITE2, IP2LOCATION)


def identify(name: str, dialect: str):
    """Return the :class:`KnownSource` a file comes from, or None.

    Args:
        name: the file's path or name (only its base name is looked at).
        dialect: the dialect its rows were read as.
    """
    base = os.path.basename(name).lower()
    for source in KNOWN_SOURCES:
        if dialect in source.dialects or base.startswith(source.prefixes):
            return source
    return None


def notice_for(files):
    """The notice(s) a database built from ``files`` must carry, or None.

    Args:
        files: ``(path or name, dialect)`` pairs, as in ``SourceScan.files``.

    Returns:
        The notices of the known sources among ``files``, each once, in file
        order and joined by a space; None if none of them is known.
    """
    notices = []
    for name, dialect in files:
        source = identify(name, dialect)
        if source is not None and source.notice not in notices:
            notices.append(source.notice)
    return " ".join(notices) or None


def unattributed_sources(metadata) -> list:
    """Names of the known sources a database was built from, if it carries no attribution.

    Args:
        metadata: a database header's metadata (``Database.metadata``).

    Returns:
        ``["DB-IP Lite", ...]`` when the attribution is empty and some source
        requires one; ``[]`` otherwise.
    """
    if (metadata.get("attribution") or "").strip():
        return []
    names = []
    for entry in metadata.get("sources") or ():
        if not isinstance(entry, dict):
            continue
        source = identify(str(entry.get("name", "")), str(entry.get("dialect", "")))
        if source is not None and source.name not in names:
            names.append(source.name)
    return names
