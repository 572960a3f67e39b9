"""Read a ``.vdb`` database in place through mmap: ``open_database(path).lookup(ip)``.

Opening maps the file read-only and checks the header (magic, version, CRC,
section bounds) in constant time; nothing in the body is parsed. A lookup
returns a lazy :class:`Location`, decoded when a field is first read, and
decoded records go into a small bounded cache, so the mapped file, shared by
every process through the page cache, is the only full copy: this is what
makes gunicorn's ``--preload`` (open in the master, look up in forked
workers and their threads) cheap. ``verify()`` reads everything: the body
checksum and every trie invariant.

A malformed address raises ``ValueError``; a damaged file raises
:class:`InvalidDatabaseError`, never an ``IndexError`` or a hang.
"""
import ipaddress
import mmap
import os
import struct
from socket import AF_INET, AF_INET6, inet_ntop, inet_pton
from typing import Optional

from visitorapi.ipdb import format as fmt
from visitorapi.ipdb.format import InvalidDatabaseError

__all__ = ["AutonomousSystem", "Database", "Location", "InvalidDatabaseError", "open_database",
           "verify"]

# A bounded cache of decoded Locations. PERF: 16 K Locations are about 6 MB
# of a worker's private memory when full; a hit saves the ~1 us decode.
RECORD_CACHE_SIZE = 16384

# The fields of a Location, in the order of its tuple form: every SourceRange,
# the compiler's records and the CLI's JSON use this one list.
LOCATION_FIELDS = ("country_code", "region", "district", "city", "postcode", "latitude",
                   "longitude", "timezone")


class _Decoded:
    """A field of a lazy Location: decodes the record on first read.

    A non-data descriptor, so once the record is decoded into the instance's
    ``__dict__``, reads find the value there and never come back here.
    PERF: measured against ``__slots__`` with ``__getattr__`` (which costs
    an AttributeError on the first read): 0.6 us against 1.4 us per decode.
    """

    __slots__ = ("name",)

    def __init__(self, name):
        self.name = name

    def __get__(self, location, owner=None):
        if location is None:
            return self
        location._records.load(location)
        return location.__dict__[self.name]


class _Record:
    """What lazy answers share: equality, hashing, iteration and pickling by value.

    PERF: those use the ``_values`` tuple, so hashing and comparing (a
    server's render cache does both on every request) run in C, as for a
    plain tuple.
    """

    FIELDS = ()

    def __iter__(self):
        return iter(self._values)

    def __eq__(self, other):
        if not isinstance(other, _Record) or other.FIELDS != self.FIELDS:
            return NotImplemented
        return self._values == other._values

    def __hash__(self):
        return hash(self._values)

    def __reduce__(self):
        # A plain instance, for pickle and copy: the values, not the database.
        return self._plain, self._values

    def __repr__(self):
        values = ", ".join(f"{name}={value!r}" for name, value in zip(self.FIELDS, self))
        return f"{self._plain.__name__}({values})"


class Location(_Record):
    """Where an address is. Every field is ``None`` when the source had no value.

    ``Location(country_code=..., ...)`` builds one from values. A Location
    returned by a lookup is lazy: it holds only its record number until a
    field is first read, and then decodes all of its fields at once from the
    mapped file. PERF: decoding (unpack, slice, UTF-8, split, a float per
    coordinate, and two likely cache misses in a 14 MB table) costs more
    than the trie walk; a caller that only counts hits, or reads one field
    of a hot record, should not pay for it on every lookup. Decoded
    Locations go into the database's bounded cache, so a hot record is
    decoded once.

    Locations compare equal when their fields are equal, iterate over their
    fields in the order of ``LOCATION_FIELDS``, and hash accordingly.
    """

    FIELDS = LOCATION_FIELDS
    _records = None  # the record table a lazy Location decodes from (see Database)
    locals().update((name, _Decoded(name)) for name in LOCATION_FIELDS + ("_values",))

    def __init__(self, country_code=None, region=None, district=None, city=None, postcode=None,
                 latitude=None, longitude=None, timezone=None):
        values = (country_code, region, district, city, postcode, latitude, longitude, timezone)
        self.__dict__.update(zip(LOCATION_FIELDS, values), _values=values)


Location._plain = Location


class AutonomousSystem(_Record):
    """Which network an address belongs to, from an AS-number database (kind "asn").

    Attributes:
        asn: the autonomous system number (int), or None.
        organization: the organization that runs it (str), or None.

    Lazy like :class:`Location`: a lookup's answer decodes on first read.
    """

    FIELDS = ("asn", "organization")
    _records = None
    locals().update((name, _Decoded(name)) for name in FIELDS + ("_values",))

    def __init__(self, asn=None, organization=None):
        values = (asn, organization)
        self.__dict__.update(zip(self.FIELDS, values), _values=values)


AutonomousSystem._plain = AutonomousSystem


# Maps a u32 entry's high byte to 0 for a node pointer (< LEAF), 1 for a leaf.
_POINTER_BYTES = bytes(128) + bytes([1]) * 128
_CLOSED = "the database is closed"


def open_database(path, *, verify: bool = False, checksum: bool = False) -> "Database":
    """Open a database file for lookups.

    Opening alone checks the header and every section's bounds in constant
    time. A server should also pass ``checksum=True``: it catches a damaged
    body (bit flips inside a section) for about 1 ms per MB, where the full
    ``verify`` walks every node (seconds for city data).

    Args:
        path: the ``.vdb`` file.
        verify: also run :meth:`Database.verify` (reads and checks everything).
        checksum: also run :meth:`Database.verify_checksum`.

    Raises:
        InvalidDatabaseError: the file is not a database, truncated or damaged.
        OSError: the file cannot be opened.
    """
    database = Database(path)
    try:
        if verify:
            database.verify()
        elif checksum:
            database.verify_checksum()
    except BaseException:
        database.close()
        raise
    return database


def verify(path) -> dict:
    """Open ``path``, run :meth:`Database.verify` and close it; return its counts.

    Raises:
        InvalidDatabaseError: the file is not a sound database.
    """
    with Database(path) as database:
        return database.verify()


def _not_an_address(ip):
    return ValueError(f"{ip!r} is not a valid IPv4 or IPv6 address")


def _damaged(path, detail=None):
    detail = f" ({detail})" if detail else ""
    return InvalidDatabaseError(f"{path}: the file is damaged{detail}; run `visitorapi verify` "
                                "on it and recompile or copy it again")


class _RecordTable:
    """The records and places sections of one mapped file; decodes lazy Locations.

    It holds the mapping itself (not a view of it), so a Location looked up
    before its database was closed still reads its fields afterwards: the
    file stays mapped until the last such Location is gone.
    """

    def __init__(self, buffer, header, path, cache):
        self.buffer = buffer
        self.records_at = header.section("records")[0]
        self.places_at, self.places_size = header.section("places")
        self.path = path
        self.cache = cache

    def load(self, location):
        """Decode ``location``'s record into its fields and cache it.

        Raises:
            InvalidDatabaseError: the record or its place is damaged.
        """
        ref = location._ref
        buffer = self.buffer
        try:
            at, size, latitude, longitude = fmt.RECORD.unpack_from(
                buffer, self.records_at + ref * fmt.RECORD.size)
            if at + size > self.places_size:
                raise ValueError(f"place of record {ref} out of bounds")
            start = self.places_at + at
            (country_code, region, district, city, postcode,
             timezone) = buffer[start:start + size].decode().split(fmt.PLACE_SEPARATOR)
        except (ValueError, struct.error) as exc:  # UnicodeDecodeError is a ValueError
            raise _damaged(self.path, exc) from None
        values = (country_code or None, region or None, district or None, city or None,
                  postcode or None,
                  None if latitude == fmt.NO_COORDINATE else latitude / fmt.COORDINATE_SCALE,
                  None if longitude == fmt.NO_COORDINATE else longitude / fmt.COORDINATE_SCALE,
                  timezone or None)
        fields = location.__dict__
        (fields["country_code"], fields["region"], fields["district"], fields["city"],
         fields["postcode"], fields["latitude"], fields["longitude"], fields["timezone"]) = values
        fields["_values"] = values
        self.remember(location, ref)

    def remember(self, record, ref):
        """Put a decoded answer into the bounded cache."""
        cache = self.cache
        if len(cache) >= RECORD_CACHE_SIZE:
            cache.clear()
        cache[fmt.LEAF + ref] = record


class _ASRecordTable(_RecordTable):
    """The record table of an AS-number database: decodes lazy AutonomousSystems."""

    def load(self, network):
        ref = network._ref
        try:
            at, size, _, _ = fmt.RECORD.unpack_from(self.buffer,
                                                    self.records_at + ref * fmt.RECORD.size)
            if at + size > self.places_size:
                raise ValueError(f"place of record {ref} out of bounds")
            start = self.places_at + at
            asn, organization = self.buffer[start:start + size].decode().split(
                fmt.PLACE_SEPARATOR)
            asn = int(asn) if asn else None
        except (ValueError, struct.error) as exc:  # UnicodeDecodeError is a ValueError
            raise _damaged(self.path, exc) from None
        values = (asn, organization or None)
        fields = network.__dict__
        fields["asn"], fields["organization"] = values
        fields["_values"] = values
        self.remember(network, ref)


# Per kind (the metadata's "kind"): the answer's class and its record table.
_KINDS = {fmt.LOCATION_KIND: (Location, _RecordTable),
          fmt.ASN_KIND: (AutonomousSystem, _ASRecordTable)}


class Database:
    """A mapped database; use as a context manager or call :meth:`close`.

    Safe to share between threads, and across ``fork()``: the mapping is
    read-only and the cache only ever holds decoded Locations.
    """

    def __init__(self, path):
        self.path = os.fspath(path)
        self.name = os.path.basename(self.path)
        with open(self.path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size == 0:
                raise InvalidDatabaseError(f"{self.path}: the file is empty, not a database")
            self._map = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        try:
            self.header = fmt.read_header(self._map, self.path)
            self._views = []
            self._tries = {version: self._trie_views(version) for version in (4, 6)}
        except BaseException:
            self._release()
            raise
        self._metadata = None
        self._closed = False
        self._cache = {}
        try:
            self.kind = self.metadata.get("kind", fmt.LOCATION_KIND)
            answer, table = _KINDS[self.kind]
        except KeyError:
            self._release()
            raise InvalidDatabaseError(f"{self.path}: unknown kind of database "
                                       f"{self.metadata.get('kind')!r}; this visitorapi reads "
                                       f"{', '.join(_KINDS)}") from None
        except BaseException:
            self._release()
            raise
        # Lookups make instances of a subclass that knows this file's records.
        # PERF: the record number is a slot, so a lazy Location has no dict
        # until it is decoded.
        self._location_type = type(answer.__name__, (answer,), {
            "__module__": answer.__module__, "__slots__": ("_ref",),
            "_records": table(self._map, self.header, self.path, self._cache)})
        self.lookup = self._make_lookup()

    # -- lifecycle -------------------------------------------------------

    def close(self) -> None:
        """Let go of the file. Lookups afterwards raise ``ValueError``.

        Locations already looked up stay readable: they hold the mapping
        (through their type), and it is unmapped when the last of them goes.
        """
        if not getattr(self, "_closed", True):
            self._closed = True
            self._cache.clear()
            # Every path from here to the mapping: the lookup closure, the
            # Location type and the cache (Locations read later go into it).
            del self.lookup, self._location_type, self._cache
            self._release(unmap=False)

    def _release(self, unmap=True):
        for view in reversed(self.__dict__.pop("_views", [])):
            view.release()
        mapping = self.__dict__.pop("_map", None)
        if mapping is not None and unmap:
            mapping.close()

    def _trie_views(self, version):
        """``(entries, bitmaps)``: one trie section as u32 and as u64 values."""
        offset, length = self.header.section(f"ipv{version}")
        whole = memoryview(self._map)
        section = whole[offset:offset + length - length % 8]
        entries, bitmaps = section.cast("I"), section.cast("Q")
        self._views += [whole, section, entries, bitmaps]
        return entries, bitmaps

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def __repr__(self):
        return f"<Database {self.path!r}{' closed' if self._closed else ''}>"

    @property
    def metadata(self) -> dict:
        """The header metadata: build_time, attribution, sources, counts."""
        if self._metadata is None:
            self._check_open()
            self._metadata = fmt.read_metadata(self._map, self.header, self.path)
        return self._metadata

    def _check_open(self):
        if self._closed:
            raise ValueError(_CLOSED)

    def _corrupt(self, exc=None):
        """The error for an inconsistency found while reading the body."""
        if self._closed:
            return ValueError(_CLOSED)
        return _damaged(self.path, exc)

    # -- lookups ---------------------------------------------------------

    def lookup(self, ip: str) -> Optional[Location]:
        """Return the :class:`Location` of an address, or ``None`` when unknown.

        ``::ffff:a.b.c.d`` answers as ``a.b.c.d``. Replaced per instance by a
        closure (see ``_make_lookup``) while the database is open; this body
        documents the contract, and answers once it is closed.

        Raises:
            ValueError: ``ip`` is not a valid address (validation is strict:
                ``127.1`` and ``010.0.0.1`` are refused), or the database is
                closed.
            InvalidDatabaseError: the file turned out to be damaged.
        """
        raise ValueError(_CLOSED)

    def _make_lookup(self):
        """Build the hot lookup function with everything it needs bound locally.

        PERF: a closure reads its variables as fast locals instead of
        attributes; IPv4 is unrolled to its at most three reads (root + two
        6-bit levels); a leaf entry is its own cache key; and a cache miss
        makes a lazy Location (two C steps) instead of decoding the record.
        """
        entries4, bitmaps4 = self._tries[4]
        entries6, bitmaps6 = self._tries[6]
        leaf = fmt.LEAF
        shift4 = 32 - fmt.ROOT_BITS[4]
        # The 6-bit levels below /50, as right shifts of the 128-bit address.
        deep_shifts6 = tuple(range(128 - 50 - fmt.STRIDE, -1, -fmt.STRIDE))
        get = self._cache.get
        record_count = self.header.record_count
        new = object.__new__
        location_type = self._location_type
        from_bytes = int.from_bytes
        corrupt = self._corrupt
        mapped = fmt.LEAF | fmt.MAPPED_REF
        # The unrolled walks below rely on these levels.
        assert fmt.LEVELS[4] == ((fmt.BITMAP, fmt.STRIDE),) * 2
        assert fmt.LEVELS[6][:5] == ((fmt.ARRAY, 8),) * 2 + ((fmt.ARRAY, 6),) + (
            (fmt.BITMAP, fmt.STRIDE),) * 2
        assert fmt.ROOT_BITS[6] == 16 and fmt.STRIDE == 6

        def lookup(ip):
            if ":" in ip:
                try:
                    packed = inet_pton(AF_INET6, ip)
                except (OSError, ValueError):
                    raise _not_an_address(ip) from None
                try:
                    e = entries6[(packed[0] << 8) | packed[1]]
                    if e < leaf:
                        # Array nodes for /16-/24, /24-/32 and /32-/38: the slot is
                        # the address's next byte, then the top 6 bits of the one after.
                        e = entries6[e + packed[2]]
                        if e < leaf:
                            e = entries6[e + packed[3]]
                            if e < leaf:
                                e = entries6[e + (packed[4] >> 2)]
                                if e < leaf:
                                    # PERF: the bitmap levels /38-/44 and /44-/50 (where
                                    # most IPv6 data ends) take their slots from the
                                    # address bytes: no 128-bit int, no slice.
                                    byte = packed[5]
                                    e = entries6[e + (bitmaps6[e >> 1] >> (
                                        ((packed[4] & 3) << 4) | (byte >> 4))).bit_count()]
                                    if e < leaf:
                                        e = entries6[e + (bitmaps6[e >> 1] >> (
                                            ((byte & 15) << 2) | (packed[6] >> 6))).bit_count()]
                                        if e < leaf:
                                            n = from_bytes(packed, "big")
                                            for shift in deep_shifts6:
                                                if e >= leaf:
                                                    break
                                                e = entries6[e + (bitmaps6[e >> 1] >> (
                                                    (n >> shift) & 63)).bit_count()]
                except (IndexError, ValueError) as exc:
                    raise corrupt(exc) from None
                if e == mapped:
                    return lookup(inet_ntop(AF_INET, packed[12:]))
            else:
                try:
                    n = from_bytes(inet_pton(AF_INET, ip), "big")
                except (OSError, ValueError):
                    raise _not_an_address(ip) from None
                try:
                    e = entries4[n >> shift4]
                    if e < leaf:
                        e = entries4[e + (bitmaps4[e >> 1] >> ((n >> 6) & 63)).bit_count()]
                        if e < leaf:
                            e = entries4[e + (bitmaps4[e >> 1] >> (n & 63)).bit_count()]
                except (IndexError, ValueError) as exc:
                    raise corrupt(exc) from None
            location = get(e)
            if location is not None:
                return location
            if e == leaf:
                return None
            ref = e - leaf
            if not 0 < ref < record_count:
                raise corrupt("trie deeper than the address" if ref < 0
                              else f"record {ref} out of range")
            location = new(location_type)
            location._ref = ref
            return location

        return lookup

    def _parse(self, ip):
        """Address text -> (version, integer); ValueError when malformed."""
        if not isinstance(ip, str):
            raise TypeError(f"an IP address must be str, not {type(ip).__name__}")
        family, version = (AF_INET6, 6) if ":" in ip else (AF_INET, 4)
        try:
            return version, int.from_bytes(inet_pton(family, ip), "big")
        except (OSError, ValueError):
            raise _not_an_address(ip) from None

    def _walk(self, version, n):
        """Find the leaf for integer address ``n``; return ``(leaf, prefix_len)``.

        The prefix is the largest aligned block around ``n`` that the trie
        stores as one run, as maxminddb reports it.
        """
        self._check_open()
        width = fmt.WIDTH[version]
        entries, bitmaps = self._tries[version]
        root_bits = fmt.ROOT_BITS[version]
        try:
            child_bits = width - root_bits
            slot = n >> child_bits
            e = entries[slot]
            if e >= fmt.LEAF:
                return e, root_bits - _uniform_bits(entries[:1 << root_bits], slot, root_bits)
            for kind, stride in fmt.LEVELS[version]:
                child_bits -= stride
                slot = (n >> child_bits) & ((1 << stride) - 1)
                if kind == fmt.ARRAY:
                    node = e
                    e = entries[node + slot]
                    if e >= fmt.LEAF:
                        bits = _uniform_bits(entries[node:node + (1 << stride)], slot, stride)
                        return e, width - child_bits - bits
                    continue
                bitmap = bitmaps[e >> 1]
                e = entries[e + (bitmap >> slot).bit_count()]
                if e >= fmt.LEAF:
                    run_end = ((bitmap >> slot) & -(bitmap >> slot)).bit_length() - 1 + slot
                    run_start = (bitmap & ((1 << slot) - 1)).bit_length()
                    return e, width - child_bits - _aligned_bits(slot, run_start, run_end, stride)
        except (IndexError, ValueError) as exc:
            raise self._corrupt(exc) from None
        raise self._corrupt("trie deeper than the address")

    def lookup_with_prefix(self, ip: str):
        """Return ``(Location | None, prefix_len)`` for an address.

        ``prefix_len`` is the length of the network around ``ip`` that the
        database stores as one block (for ``::ffff:a.b.c.d``: 96 plus the
        IPv4 prefix).

        Raises:
            ValueError: ``ip`` is malformed.
        """
        version, n = self._parse(ip)
        e, prefix_len = self._walk(version, n)
        if version == 6 and e == fmt.LEAF | fmt.MAPPED_REF:
            e, prefix_len = self._walk(4, n & 0xFFFFFFFF)
            prefix_len += 96
        return self.lookup(ip), prefix_len

    def _location_at(self, version, address):
        """The Location stored for integer ``address`` (None when no data), via lookup."""
        make = ipaddress.IPv4Address if version == 4 else ipaddress.IPv6Address
        return self.lookup(str(make(address)))

    # -- iteration -------------------------------------------------------

    def ranges(self):
        """Yield ``(version, first, last, Location)`` for every stored range.

        In address order, IPv4 first; neighbours with the same record are
        merged; addresses without data are skipped, and so is the IPv6 view
        of the IPv4-mapped block (its data is the IPv4 ranges).
        """
        for version in (4, 6):
            pending = None
            for first, last, e in self._runs(version):
                if pending and pending[2] == e and pending[1] + 1 == first:
                    pending = (pending[0], last, e)
                    continue
                if pending and pending[2] != fmt.LEAF and pending[2] != fmt.LEAF | fmt.MAPPED_REF:
                    yield version, pending[0], pending[1], self._location_at(version, pending[0])
                pending = (first, last, e)
            if pending and pending[2] != fmt.LEAF and pending[2] != fmt.LEAF | fmt.MAPPED_REF:
                yield version, pending[0], pending[1], self._location_at(version, pending[0])

    def __iter__(self):
        """Yield ``(network, Location)`` for every stored block, as CIDR networks."""
        for version, first, last, location in self.ranges():
            make = ipaddress.IPv4Address if version == 4 else ipaddress.IPv6Address
            for network in ipaddress.summarize_address_range(make(first), make(last)):
                yield network, location

    def _runs(self, version):
        """Yield ``(first, last, leaf)`` runs of one trie in address order."""
        self._check_open()
        entries, bitmaps = self._tries[version]
        levels = fmt.LEVELS[version]
        root_bits = fmt.ROOT_BITS[version]
        child_bits = fmt.WIDTH[version] - root_bits
        root_slots = 1 << root_bits
        try:
            raw = entries[:root_slots].tobytes()
            slot = 0
            while slot < root_slots:
                e = entries[slot]
                if e >= fmt.LEAF:
                    end = _run_end(raw, slot, root_slots)
                    yield slot << child_bits, (end << child_bits) - 1, e
                    slot = end
                    continue
                # Depth first, in address order. A stack item is a node
                # (pointer, start, level >= 0) or a leaf (e, first, -1 - last).
                stack = [(e, slot << child_bits, 0)]
                slot += 1
                while stack:
                    pointer, start, level = stack.pop()
                    if level < 0:
                        yield start, -1 - level, pointer
                        continue
                    if level >= len(levels):
                        raise self._corrupt("trie deeper than the address")
                    kind, stride = levels[level]
                    bits = fmt.WIDTH[version] - root_bits - sum(s for _, s in levels[:level + 1])
                    children = []
                    for first_slot, last_slot, child in _node_runs(kind, stride, entries,
                                                                   bitmaps, pointer):
                        first = start + (first_slot << bits)
                        if child >= fmt.LEAF:
                            last = start + ((last_slot + 1) << bits) - 1
                            children.append((child, first, -1 - last))
                        else:
                            children.append((child, first, level + 1))
                    children.reverse()
                    stack.extend(children)
        except (IndexError, ValueError) as exc:
            raise self._corrupt(exc) from None

    # -- verification ----------------------------------------------------

    def verify_checksum(self):
        """Check the body's SHA-256 against the header's.

        Raises:
            InvalidDatabaseError: the body was damaged after it was written.
        """
        self._check_open()
        if fmt.body_sha256(self._map, self.header.header_size) != self.header.body_sha256:
            raise InvalidDatabaseError(f"{self.path}: body checksum mismatch: the file is "
                                       "damaged; recompile it or copy it again")

    def verify(self) -> dict:
        """Check the body checksum and every structural invariant.

        Checks: SHA-256 of the body; every trie pointer lands on a node inside
        its own trie, below the node that holds it (so no cycles), and is
        used once; no walk is deeper than the address; every bitmap ends its
        last run; every leaf names an existing record; records name places
        inside the places section and have coordinates in range; every place
        is UTF-8 with six fields.

        Returns:
            Counts: nodes per trie, records, places.

        Raises:
            InvalidDatabaseError: naming the first problem found.
        """
        self.verify_checksum()
        header = self.header

        def bad(problem):
            return InvalidDatabaseError(f"{self.path}: {problem}; recompile it or copy it again")

        counts = {}
        for version in (4, 6):
            counts[f"ipv{version}_nodes"] = self._verify_trie(version, bad)
        places = self._verify_tables(bad)
        mapped = self._walk(6, fmt.MAPPED_FIRST)[0], self._walk(6, fmt.MAPPED_LAST)[0]
        if mapped != (fmt.LEAF | fmt.MAPPED_REF,) * 2:
            raise bad("the IPv4-mapped block ::ffff:0:0/96 does not point to the IPv4 trie")
        counts.update(records=header.record_count - 1, places=places)
        return counts

    def _verify_trie(self, version, bad):
        entries, bitmaps = self._tries[version]
        levels = fmt.LEVELS[version]
        end = len(entries)
        nodes_from = 1 << fmt.ROOT_BITS[version]
        records = self.header.record_count
        seen = set()

        def check_leaf(e):
            ref = e - fmt.LEAF
            if ref >= records and not (version == 6 and ref == fmt.MAPPED_REF):
                raise bad(f"IPv{version} trie names record {ref}, but there are {records}")

        root_entries = entries[:nodes_from]
        for e in set(root_entries.tolist()):
            if e >= fmt.LEAF:
                check_leaf(e)
        # PERF: the high byte of each little-endian entry tells leaf from
        # pointer; translate + find visit only the pointers, in C.
        high_bytes = root_entries.tobytes()[3::4].translate(_POINTER_BYTES)
        stack = []
        slot = high_bytes.find(0)
        while slot >= 0:
            stack.append((root_entries[slot], end, 0))
            slot = high_bytes.find(0, slot + 1)
        root_entries.release()
        while stack:
            pointer, holder, level = stack.pop()
            if level >= len(levels):
                raise bad(f"IPv{version} trie is deeper than the address")
            kind, stride = levels[level]
            size = 1 << stride if kind == fmt.ARRAY else None
            if kind == fmt.ARRAY:
                valid = nodes_from <= pointer and pointer + size <= holder
            else:
                valid = pointer & 1 and nodes_from < pointer < holder
            if not valid:
                raise bad(f"IPv{version} trie pointer {pointer} is out of bounds")
            if pointer in seen:
                raise bad(f"IPv{version} trie node {pointer} is shared")
            seen.add(pointer)
            if kind == fmt.BITMAP:
                bitmap = bitmaps[pointer >> 1]
                if not bitmap >> (fmt.FANOUT - 1):
                    raise bad(f"IPv{version} trie node {pointer} has a bad bitmap")
                size = bitmap.bit_count()
                if pointer + size >= end:
                    raise bad(f"IPv{version} trie node {pointer} runs past the section")
                children = entries[pointer + 1:pointer + 1 + size].tolist()
            else:
                children = entries[pointer:pointer + size].tolist()
            for child in children:
                if child >= fmt.LEAF:
                    check_leaf(child)
                else:
                    stack.append((child, pointer, level + 1))
        return len(seen)

    def _verify_tables(self, bad):
        header = self.header
        records_at = header.section("records")[0]
        places_at, places_size = header.section("places")
        places = set()
        for ref in range(1, header.record_count):
            at, size, latitude, longitude = fmt.RECORD.unpack_from(
                self._map, records_at + fmt.RECORD.size * ref)
            if at + size > places_size:
                raise bad(f"record {ref} names a place outside the places section")
            for value, limit in ((latitude, 90), (longitude, 180)):
                if value != fmt.NO_COORDINATE and abs(value) > limit * fmt.COORDINATE_SCALE:
                    raise bad(f"record {ref} has a coordinate out of range")
            places.add((at, size))
        for at, size in places:
            try:
                text = self._map[places_at + at:places_at + at + size].decode()
            except UnicodeDecodeError:
                raise bad(f"the place at {at} is not UTF-8") from None
            fields = fmt.TEXT_FIELDS[self.kind]
            if text.count(fmt.PLACE_SEPARATOR) != len(fields) - 1:
                raise bad(f"the place at {at} does not have {len(fields)} fields")
            if self.kind == fmt.ASN_KIND:
                asn = text.partition(fmt.PLACE_SEPARATOR)[0]
                if asn and not (asn.isascii() and asn.isdigit() and int(asn) <= fmt.MAX_ASN):
                    raise bad(f"the AS number at {at} is not a number from 0 to {fmt.MAX_ASN}")
        return len(places)


def _run_end(raw, slot, limit):
    """End (exclusive) of the run of equal u32 entries in ``raw`` starting at ``slot``.

    PERF: galloping slice comparisons run in C; a million-slot root of
    mostly long runs is scanned in a few hundred compares, not a million
    Python steps.
    """
    pattern = raw[4 * slot:4 * slot + 4]
    end, step = slot + 1, 1
    while end < limit:
        following = min(limit, end + step)
        if raw[4 * end:4 * following] == pattern * (following - end):
            end, step = following, step * 2
        elif step == 1:
            break
        else:
            step = 1
    return end


def _node_runs(kind, stride, entries, bitmaps, pointer):
    """Yield ``(first slot, last slot, entry)`` for the runs of one node."""
    slots = 1 << stride
    if kind == fmt.ARRAY:
        values = entries[pointer:pointer + slots].tolist()
        if len(values) != slots:
            raise IndexError("array node runs past the section")
        first = 0
        for slot in range(1, slots + 1):
            if slot == slots or values[slot] != values[first] or values[first] < fmt.LEAF:
                yield first, slot - 1, values[first]
                first = slot
        return
    bitmap = bitmaps[pointer >> 1]
    run_start = 0
    while run_start < slots:
        rest = bitmap >> run_start
        if not rest:
            raise ValueError("node bitmap does not end its last run")
        run_end = (rest & -rest).bit_length() - 1 + run_start
        yield run_start, run_end, entries[pointer + rest.bit_count()]
        run_start = run_end + 1


def _uniform_bits(view, slot, max_bits):
    """Largest k such that the aligned 2**k block of u32 slots around ``slot`` is uniform.

    ``view`` is a node's (or the root's) entries; it is released here.
    """
    try:
        pattern = view[slot:slot + 1].tobytes()
        bits = 0
        while bits < max_bits:
            first = (slot >> (bits + 1)) << (bits + 1)
            if view[first:first + (2 << bits)].tobytes() != pattern * (2 << bits):
                break
            bits += 1
        return bits
    finally:
        view.release()


def _aligned_bits(slot, run_start, run_end, stride):
    """Largest k such that the aligned 2**k block of slots around ``slot`` fits the run."""
    bits = 0
    while bits < stride:
        first = (slot >> (bits + 1)) << (bits + 1)
        if first < run_start or first + (2 << bits) - 1 > run_end:
            break
        bits += 1
    return bits
