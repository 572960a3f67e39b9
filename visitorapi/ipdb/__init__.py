"""The geolocation database: CSV sources, the offline compiler, the mmap reader.

``format`` defines the byte layout and is imported by the compiler and the
reader only; ``sources`` turns vendor CSV into :class:`SourceRange` values;
``compiler`` writes a ``.vdb`` file; ``reader`` maps one and answers lookups.
The serving path imports only the reader (through this package).
"""
from visitorapi.ipdb.format import InvalidDatabaseError
from visitorapi.ipdb.reader import AutonomousSystem, Database, Location, open_database, verify

__all__ = ["AutonomousSystem", "Database", "InvalidDatabaseError", "Location", "open_database",
           "verify"]
