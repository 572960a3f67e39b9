"""The geolocation database: CSV sources, the offline compiler, the mmap reader.

``format`` defines the byte layout and is imported by the compiler and the
reader only; ``sources`` turns vendor CSV into :class:`SourceRange` values.
"""
