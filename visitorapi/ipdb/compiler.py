"""The offline compiler: address ranges in, one ``.vdb`` database file out.

validate -> sort -> resolve overlaps -> number records in address order ->
build the two stride tries -> encode records and places -> write a
temporary file -> fsync -> ``os.replace``. The byte layout is defined in
:mod:`visitorapi.ipdb.format`.

The output depends only on which record each address maps to: records and
places are numbered in address order of first use, and equal
neighbours are merged before the trie is built. So compile -> export ->
compile gives back a byte-identical body.

PERF: 8 M rows must compile in well under 90 s and 2 GB, so rows are kept in
``array`` columns (IPv6 addresses as Python ints) rather than as objects, a
sorted input is detected and not sorted again, and the trie is built from
range boundaries without expanding any prefix into addresses.
"""
import datetime
import hashlib
import heapq
import json
import math
import os
import sys
import time
from array import array

from visitorapi import timezones
from visitorapi.atomic import write_atomically
from visitorapi.ipdb import format as fmt
from visitorapi.ipdb import licenses
from visitorapi.ipdb.format import ASN_FIELDS
from visitorapi.ipdb.reader import LOCATION_FIELDS
from visitorapi.ipdb.sources import SourceError, format_address, read_sources

ON_OVERLAP = ("error", "first", "last")
_PROGRESS_EVERY = 1 << 16
_MAPPED_ID = 0xFFFFFFFF  # location id of the pseudo-row covering ::ffff:0:0/96
_LAT, _LON = LOCATION_FIELDS.index("latitude"), LOCATION_FIELDS.index("longitude")
_TZ = LOCATION_FIELDS.index("timezone")
_UNSEEN = object()
_TEXT_FIELDS = tuple(LOCATION_FIELDS.index(name) for name in fmt.PLACE_FIELDS)


def _no_progress(phase, done):
    pass


class _Family:
    """The rows of one address family, as parallel columns in input order."""

    def __init__(self, version):
        self.version = version
        self.width = fmt.WIDTH[version]
        self.firsts = array("I") if version == 4 else []
        self.lasts = array("I") if version == 4 else []
        self.ids = array("I")
        self.wheres = array("Q")  # path number << 32 | line number
        self.is_sorted = True

    def __len__(self):
        return len(self.ids)


class _Rows:
    """Streams :class:`SourceRange` values into compact per-family columns."""

    def __init__(self, progress, normalize):
        self.normalize = normalize
        self.families = {4: _Family(4), 6: _Family(6)}
        self.location_ids = {}
        self.locations = [None]  # location id -> normalized location tuple
        self.paths = {}
        self.path_names = []
        self.count = 0
        self.progress = progress

    def where(self, family, index):
        """The ``path:line`` of row ``index`` of a family, for error messages."""
        packed = family.wheres[index]
        if packed >> 32 == 0xFFFFFFFF:
            return "(the IPv4-mapped block ::ffff:0:0/96)"
        path, line = self.path_names[packed >> 32], packed & 0xFFFFFFFF
        return f"{path}:{line}" if line else path

    def _location_id(self, location, where):
        location_id = self.location_ids.get(location)
        if location_id is None:
            location_id = len(self.locations)
            self.locations.append(self.normalize(location, where))
            self.location_ids[location] = location_id
        return location_id

    def _where(self, where):
        path, colon, line = where.rpartition(":")
        if not colon or not line.isdecimal():
            path, line = where, "0"
        number = self.paths.get(path)
        if number is None:
            number = self.paths[path] = len(self.path_names)
            self.path_names.append(path)
        return number << 32 | int(line)

    def add_all(self, ranges):
        """Append every range to its family's columns; fold IPv4-mapped ones.

        PERF: this loop runs once per input row (8 M for DB-IP city), so it
        binds every method it calls to a local, and parses "path:line" by
        remembering the last path instead of splitting every string.
        """
        v4, v6 = self.families[4], self.families[6]
        progress, every = self.progress, _PROGRESS_EVERY
        columns = {4: (v4, v4.firsts.append, v4.lasts.append, v4.ids.append, v4.wheres.append),
                   6: (v6, v6.firsts.append, v6.lasts.append, v6.ids.append, v6.wheres.append)}
        limits = {4: 0xFFFFFFFF, 6: (1 << 128) - 1}
        location_id = self.location_ids.get
        previous = {4: -1, 6: -1}
        prefix, prefix_size, path_bits = "\0", 1, 0
        mapped_first, mapped_last = fmt.MAPPED_FIRST, fmt.MAPPED_LAST
        count = 0
        for count, row in enumerate(ranges, 1):
            first, last, version, where = row.first, row.last, row.version, row.where
            if version not in limits:
                raise SourceError(f"{where}: IP version {version!r} is neither 4 nor 6")
            if not 0 <= first <= last <= limits[version]:
                raise _bad_range(row)
            if version == 6 and first <= mapped_last and last >= mapped_first:
                self._add_mapped(row)
                previous = {version: family.firsts[-1] if family.firsts else -1
                            for version, family in self.families.items()}
                continue
            family, add_first, add_last, add_id, add_where = columns[version]
            if first < previous[version]:
                family.is_sorted = False
            previous[version] = first
            add_first(first)
            add_last(last)
            identifier = location_id(row.location)
            add_id(self._location_id(row.location, where) if identifier is None else identifier)
            line = where[prefix_size:]
            if where.startswith(prefix) and line.isdecimal():
                add_where(path_bits | int(line))
            else:
                packed = self._where(where)
                add_where(packed)
                path_bits = packed >> 32 << 32
                prefix = self.path_names[packed >> 32] + ":"
                prefix_size = len(prefix)
            if not count % every:
                progress("reading", count)
        self.count = count
        # NOTE: this pseudo-row keeps ::ffff:0:0/96 (whose data was folded
        # into the IPv4 rows) marked "answer from the IPv4 trie".
        v6.firsts.append(fmt.MAPPED_FIRST)
        v6.lasts.append(fmt.MAPPED_LAST)
        v6.ids.append(_MAPPED_ID)
        v6.wheres.append(0xFFFFFFFF << 32)
        if len(v6.firsts) > 1 and v6.firsts[-2] > fmt.MAPPED_FIRST:
            v6.is_sorted = False

    def _add_mapped(self, row):
        """Fold an IPv6 range touching ::ffff:0:0/96 into the IPv4 rows.

        The part inside the block becomes IPv4 (``::ffff:a.b.c.d`` is
        ``a.b.c.d``, RFC 4291 2.5.5.2); parts outside it stay IPv6.
        """
        first, last = row.first, row.last
        pieces = []
        if first < fmt.MAPPED_FIRST:
            pieces.append((6, first, fmt.MAPPED_FIRST - 1))
        pieces.append((4, max(first, fmt.MAPPED_FIRST) - fmt.MAPPED_FIRST,
                       min(last, fmt.MAPPED_LAST) - fmt.MAPPED_FIRST))
        if last > fmt.MAPPED_LAST:
            pieces.append((6, fmt.MAPPED_LAST + 1, last))
        location_id = self._location_id(row.location, row.where)
        where = self._where(row.where)
        for version, piece_first, piece_last in pieces:
            family = self.families[version]
            if family.firsts and piece_first < family.firsts[-1]:
                family.is_sorted = False
            family.firsts.append(piece_first)
            family.lasts.append(piece_last)
            family.ids.append(location_id)
            family.wheres.append(where)


def _bad_range(row):
    return SourceError(f"{row.where}: range {row.first}-{row.last} is not a valid "
                       f"IPv{row.version} range (first must be <= last, both in range)")


def _normalize(location, where):
    """Check a location tuple; empty text becomes None, coordinates floats."""
    if not isinstance(location, tuple) or len(location) != len(LOCATION_FIELDS):
        raise SourceError(f"{where}: a location needs {len(LOCATION_FIELDS)} fields "
                          f"({', '.join(LOCATION_FIELDS)})")
    values = list(location)
    for index in _TEXT_FIELDS:
        value = values[index]
        if value == "":
            values[index] = None
        elif value is not None and (not isinstance(value, str) or fmt.PLACE_SEPARATOR in value):
            raise SourceError(f"{where}: {LOCATION_FIELDS[index]} {value!r} is not text "
                              "(or holds the control character U+001F)")
    for index, limit in ((_LAT, 90), (_LON, 180)):
        value = values[index]
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not math.isfinite(value) or abs(value) > limit:
            raise SourceError(f"{where}: {LOCATION_FIELDS[index]} {value!r} is not a "
                              f"number between -{limit} and {limit}")
        values[index] = float(value)
    return tuple(values)


def _normalize_asn(network, where):
    """Check an AS tuple ``(asn, as_organization)``; empty text becomes None."""
    if not isinstance(network, tuple) or len(network) != len(ASN_FIELDS):
        raise SourceError(f"{where}: an AS record needs {len(ASN_FIELDS)} fields "
                          f"({', '.join(ASN_FIELDS)})")
    asn, organization = network
    if asn is not None and (isinstance(asn, bool) or not isinstance(asn, int)
                            or not 0 <= asn <= fmt.MAX_ASN):
        raise SourceError(f"{where}: AS number {asn!r} is not an integer from 0 to "
                          f"{fmt.MAX_ASN}")
    if organization == "":
        organization = None
    elif organization is not None and (not isinstance(organization, str)
                                       or fmt.PLACE_SEPARATOR in organization):
        raise SourceError(f"{where}: AS organization {organization!r} is not text "
                          "(or holds the control character U+001F)")
    return (asn, organization)


def _location_text(location):
    return (fmt.PLACE_SEPARATOR.join(location[index] or "" for index in _TEXT_FIELDS),
            location[_LAT], location[_LON])


def _asn_text(network):
    asn, organization = network
    return (f"{'' if asn is None else asn}{fmt.PLACE_SEPARATOR}{organization or ''}",
            None, None)


# Per kind of database: how a source tuple is checked, and how it becomes
# (place text, latitude, longitude) in the records.
_KINDS = {fmt.LOCATION_KIND: (_normalize, _location_text), fmt.ASN_KIND: (_normalize_asn, _asn_text)}


def _sorted_rows(rows, family, on_overlap):
    """Yield ``(first, last, location id)`` in address order, overlaps resolved.

    Raises:
        SourceError: on overlap when ``on_overlap`` is "error", naming both rows.
    """
    firsts, lasts, ids = family.firsts, family.lasts, family.ids
    count = len(firsts)
    order = range(count) if family.is_sorted else sorted(range(count), key=firsts.__getitem__)
    end, holder = -1, None
    for index in order:
        first = firsts[index]
        if first <= end:
            if on_overlap == "error":
                raise _overlap(rows, family, holder, index)
            yield from _resolve(family, order, on_overlap)
            return
        end, holder = lasts[index], index
    for index in order:
        yield firsts[index], lasts[index], ids[index]


def _overlap(rows, family, earlier, later):
    def text(index):
        return f"{format_address(family.firsts[index], family.version)}-" \
               f"{format_address(family.lasts[index], family.version)}"
    return SourceError(
        f"{rows.where(family, later)}: range {text(later)} overlaps range {text(earlier)} "
        f"from {rows.where(family, earlier)}; fix the input or pass --on-overlap=first|last")


def _resolve(family, order, on_overlap):
    """Sweep the sorted rows; where rows overlap, the first (or last) given row wins."""
    firsts, lasts, ids = family.firsts, family.lasts, family.ids
    sign = 1 if on_overlap == "first" else -1
    heap = []
    count = len(order)
    k = 0
    position = 0
    while k < count or heap:
        if not heap:
            position = firsts[order[k]]
        while k < count and firsts[order[k]] == position:
            index = order[k]
            heapq.heappush(heap, (sign * index, lasts[index], index))
            k += 1
        while heap and heap[0][1] < position:
            heapq.heappop(heap)
        if not heap:
            continue
        winner = heap[0][2]
        following = firsts[order[k]] if k < count else 1 << 129
        end = min(lasts[winner], following - 1)
        yield position, end, ids[winner]
        position = end + 1


class _Numbering:
    """Numbers records in address order of first use; deduplicates places."""

    def __init__(self, locations, to_text):
        self.locations = locations
        self.to_text = to_text
        self.refs = array("I", bytes(4 * len(locations)))
        self.record_of = {}
        self.records = [None]  # ref -> (place offset, place length, latitude, longitude)
        self.place_of = {}
        self.places = bytearray()

    def ref(self, location_id):
        if location_id == _MAPPED_ID:
            return fmt.MAPPED_REF
        ref = self.refs[location_id]
        if ref:
            return ref
        location = self.locations[location_id]
        ref = self.record_of.get(location)
        if ref is None:
            ref = self.record_of[location] = len(self.records)
            if ref > fmt.MAX_REF:
                raise SourceError("too many distinct locations for one database")
            text, latitude, longitude = self.to_text(location)
            self.records.append(self._place(text) + (latitude, longitude))
        self.refs[location_id] = ref
        return ref

    def _place(self, text):
        place = self.place_of.get(text)
        if place is None:
            data = text.encode("utf-8")
            if len(data) > fmt.MAX_PLACE_BYTES:
                raise SourceError(f"a location's text is longer than {fmt.MAX_PLACE_BYTES} bytes: "
                                  f"{text[:60]!r}...")
            place = self.place_of[text] = (len(self.places), len(data))
            self.places += data
        return place


def _segments(rows_in_order, numbering, width):
    """Turn sorted ranges into boundaries: ``starts[i]`` begins a run of leaf ``values[i]``.

    Runs cover the whole address space (gaps are leaf "no data", record 0)
    and neighbours with equal leaves are merged, so the trie is canonical.
    """
    starts = array("I") if width == 32 else []
    values = array("I")
    end = 0
    ref, refs = numbering.ref, numbering.refs
    for first, last, location_id in rows_in_order:
        if first > end and (not values or values[-1] != fmt.LEAF):
            starts.append(end)
            values.append(fmt.LEAF)
        known = refs[location_id] if location_id != _MAPPED_ID else 0
        value = fmt.LEAF | (known or ref(location_id))
        if not values or values[-1] != value:
            starts.append(first)
            values.append(value)
        end = last + 1
    if end < 1 << width and (not values or values[-1] != fmt.LEAF):
        starts.append(end)
        values.append(fmt.LEAF)
    return starts, values


def _build_trie(starts, values, version):
    """Build one trie (root table, then nodes) as u32 entries.

    Args:
        starts, values: run boundaries from :func:`_segments`.
        version: 4 or 6; the levels come from ``fmt.LEVELS``.

    PERF: work is proportional to the number of runs, not slots: a run of
    whole slots inside one range is emitted in one step.
    """
    width = fmt.WIDTH[version]
    levels = fmt.LEVELS[version]
    root_bits = fmt.ROOT_BITS[version]
    # bits_below[level]: address bits a slot of that level covers.
    bits_below = [width - root_bits - sum(stride for _, stride in levels[:level + 1])
                  for level in range(len(levels))]
    out = array("I", bytes(4 << root_bits))
    count = len(starts)
    end_of_space = 1 << width
    cursor = 0  # index of the run containing the current address

    def runs(node_start, slots, child_bits, level):
        """The node's runs as ``(last slot, entry)``; children are emitted first."""
        nonlocal cursor
        run_ends = []
        run_values = []
        slot = 0
        child_size = 1 << child_bits
        while slot < slots:
            address = node_start + (slot << child_bits)
            while cursor + 1 < count and starts[cursor + 1] <= address:
                cursor += 1
            following = starts[cursor + 1] if cursor + 1 < count else end_of_space
            if following >= address + child_size:
                last_slot = min(slots - 1, ((following - node_start) >> child_bits) - 1)
                value = values[cursor]
                if run_values and run_values[-1] == value:
                    run_ends[-1] = last_slot
                else:
                    run_ends.append(last_slot)
                    run_values.append(value)
                slot = last_slot + 1
            else:
                run_ends.append(slot)
                run_values.append(node(address, level))
                slot += 1
        return run_ends, run_values

    def node(node_start, level):
        """Emit the node of ``level`` starting at ``node_start``; return its pointer."""
        kind, stride = levels[level]
        run_ends, run_values = runs(node_start, 1 << stride, bits_below[level], level + 1)
        if kind == fmt.ARRAY:
            pointer = len(out)
            first = 0
            for last, value in zip(run_ends, run_values):
                out.extend(array("I", [value]) * (last + 1 - first))
                first = last + 1
        else:
            bitmap = 0
            for slot in run_ends:
                bitmap |= 1 << slot
            if len(out) & 1:
                out.append(0)
            pointer = len(out) + 1
            out.append(bitmap & 0xFFFFFFFF)
            out.append(bitmap >> 32)
            run_values.reverse()
            out.extend(run_values)
        if len(out) >= fmt.LEAF:
            raise SourceError("the database would exceed the format's 8 GiB trie limit")
        return pointer

    run_ends, run_values = runs(0, 1 << root_bits, width - root_bits, 0)
    first = 0
    for last, value in zip(run_ends, run_values):
        out[first:last + 1] = array("I", [value]) * (last + 1 - first)
        first = last + 1
    if len(out) & 1:
        out.append(0)
    return out


def _little_endian(values: array) -> bytes:
    if sys.byteorder != "little":
        values = array(values.typecode, values)
        values.byteswap()
    return values.tobytes()


def _encode_records(numbering) -> bytes:
    """Return the records section: one fixed-size RECORD per record."""
    size = fmt.RECORD.size
    records = bytearray(size * len(numbering.records))
    pack_record = fmt.RECORD.pack_into
    pack_record(records, 0, 0, 0, fmt.NO_COORDINATE, fmt.NO_COORDINATE)
    encode = fmt.encode_coordinate
    for index in range(1, len(numbering.records)):
        at, length, latitude, longitude = numbering.records[index]
        pack_record(records, index * size, at, length, encode(latitude), encode(longitude))
    return bytes(records)


def build_database(ranges, output, *, on_overlap="error", attribution=None, sources=(),
                   progress=None, extra_metadata=None, kind=fmt.LOCATION_KIND) -> dict:
    """Compile address ranges into a database file, atomically.

    Args:
        ranges: iterable of :class:`~visitorapi.ipdb.sources.SourceRange`,
            in any order, IPv4 and IPv6 mixed. IPv6 ranges in
            ``::ffff:0:0/96`` answer as the IPv4 addresses they map.
        output: the database path; replaced only once the new file is
            complete and synced.
        on_overlap: "error" (default) raises naming both rows; "first" or
            "last" lets the row given first (or last) win where rows overlap.
        attribution: the data's license and attribution text, stored in the
            header for the service to show.
        sources: descriptions of the inputs for the header, e.g.
            ``[{"name": "dbip-city-ipv4.csv.gz", "dialect": "ip-location-db-city"}]``,
            or a function returning them, called once every range is read.
        progress: ``progress(phase, count)`` called now and then.
        extra_metadata: more header metadata (a dict, or a function returning
            one, called once every range is read).
        kind: "location" (each range's ``location`` is a LOCATION_FIELDS
            tuple) or "asn" (an ``(asn, as_organization)`` tuple).

    Returns:
        A summary dict: output, rows, ranges per family, records, places,
        bytes, seconds.

    Raises:
        SourceError: a bad range or location, or an overlap (naming the rows).
        ValueError: an unknown ``on_overlap``.
        OSError: the output cannot be written (the old file is untouched).
    """
    if on_overlap not in ON_OVERLAP:
        raise ValueError(f"on_overlap must be one of {', '.join(ON_OVERLAP)}, not {on_overlap!r}")
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {', '.join(_KINDS)}, not {kind!r}")
    normalize, to_text = _KINDS[kind]
    progress = progress or _no_progress
    started = time.monotonic()
    rows = _Rows(progress, normalize)
    rows.add_all(ranges)
    numbering = _Numbering(rows.locations, to_text)
    segments = {}
    for version in (4, 6):
        progress(f"sorting IPv{version}", rows.count)
        family = rows.families[version]
        segments[version] = _segments(_sorted_rows(rows, family, on_overlap), numbering,
                                      family.width)
    range_counts = {version: sum(1 for value in values if value != fmt.LEAF
                                 and value != fmt.LEAF | fmt.MAPPED_REF)
                    for version, (_, values) in segments.items()}
    metadata = {
        "format_version": fmt.VERSION,
        "kind": kind,
        "build_time": datetime.datetime.now(datetime.timezone.utc)
        .replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "attribution": attribution,
        "sources": list(sources() if callable(sources) else sources),
        "rows": rows.count,
        "ranges_ipv4": range_counts[4],
        "ranges_ipv6": range_counts[6],
        "records": len(numbering.records) - 1,
        "places": len(numbering.place_of),
        **((extra_metadata() if callable(extra_metadata) else extra_metadata) or {}),
    }
    metadata_bytes = json.dumps(metadata, ensure_ascii=False, sort_keys=True).encode("utf-8")
    header_size = fmt.align(fmt.HEADER.size + len(metadata_bytes))
    if header_size > fmt.MAX_HEADER:
        raise SourceError("the attribution and source list are too long for the header")
    sections = {}
    position = header_size
    body = []
    for version in (4, 6):
        progress(f"building IPv{version} trie", rows.count)
        starts, values = segments.pop(version)
        trie = _build_trie(starts, values, version)
        del starts, values
        data = _little_endian(trie)
        sections[f"ipv{version}"] = (position, len(data))
        body.append(data)
        position = fmt.align(position + len(data))
    progress("encoding records", rows.count)
    for name, data in (("records", _encode_records(numbering)),
                       ("places", bytes(numbering.places))):
        sections[name] = (position, len(data))
        body.append(data)
        position = fmt.align(position + len(data))
    progress("writing", rows.count)
    digest = hashlib.sha256()
    padded = []
    for data in body:
        padding = bytes(fmt.align(len(data)) - len(data))
        digest.update(data)
        digest.update(padding)
        padded.append((data, padding))
    header = fmt.pack_header(
        file_size=position, header_size=header_size, metadata=metadata_bytes,
        body_sha256=digest.digest(), record_count=len(numbering.records),
        place_count=len(numbering.place_of), sections=sections)
    write_atomically(output, [header] + [part for pair in padded for part in pair])
    return {
        "output": str(output),
        "rows": rows.count,
        "ranges_ipv4": range_counts[4],
        "ranges_ipv6": range_counts[6],
        "records": metadata["records"],
        "places": metadata["places"],
        "bytes": position,
        "seconds": time.monotonic() - started,
    }


def compile_files(inputs, output, *, format=None, on_overlap="error", skip_invalid=False,
                  attribution=None, quiet=True, progress=None, derive_timezones=True) -> dict:
    """Read CSV files (any supported dialect) and compile them into ``output``.

    Args:
        inputs: CSV paths, plain or gzip; IPv4 and IPv6 may be mixed.
        output: the database path (written atomically).
        format: force a dialect name (see ``sources.DIALECTS``); detected when None.
        on_overlap: "error", "first" or "last" (see :func:`build_database`).
        skip_invalid: skip and count bad rows instead of failing.
        attribution: license and attribution text for the header; None
            stores the notice of a known source that requires one (DB-IP,
            GeoLite2, IP2Location: see :mod:`visitorapi.ipdb.licenses`), so
            following the docs cannot lose the credit.
        quiet: no progress callbacks (the CLI passes its own ``progress``).
        progress: ``progress(phase, count)``; ignored when ``quiet``.
        derive_timezones: fill the timezone of rows whose source has none
            (see :func:`with_derived_timezones`).

    Returns:
        The summary of :func:`build_database` plus ``skipped``, ``files`` and
        ``timezones_derived`` (distinct locations given a derived zone).
        The summary of :func:`build_database` plus ``attribution`` (as
        stored), ``skipped`` and ``files``.

    Raises:
        SourceError: a bad row (naming file and line), an unknown dialect or
            an overlap.
    """
    scan = read_sources([str(path) for path in inputs], format=format, skip_invalid=skip_invalid)
    if attribution is None:
        attribution = licenses.notice_for(scan.files)

    def metadata_sources():
        return [{"name": os.path.basename(str(path)), "dialect": dialect}
                for path, dialect in scan.files]

    derived = {}
    location_data = scan.kind == fmt.LOCATION_KIND
    ranges = with_derived_timezones(scan, derived) if derive_timezones and location_data else scan

    def extra_metadata():
        extra = {"source_rows": scan.rows, "skipped_rows": scan.skipped}
        if derived:
            extra["timezones_derived"] = sum(1 for zone in derived.values() if zone)
        return extra

    summary = build_database(
        ranges, output, on_overlap=on_overlap, attribution=attribution, sources=metadata_sources,
        progress=None if quiet else progress, extra_metadata=extra_metadata, kind=scan.kind)
    summary["timezones_derived"] = sum(1 for zone in derived.values() if zone)
    summary["attribution"] = attribution
    summary["skipped"] = scan.skipped
    summary["source_rows"] = scan.rows
    summary["files"] = [(str(path), dialect) for path, dialect in scan.files]
    summary["skipped_examples"] = list(getattr(scan, "skipped_examples", []))
    return summary


def with_derived_timezones(ranges, derived: dict):
    """Yield ``ranges`` with a derived timezone where the source gave none.

    The zone comes from :func:`visitorapi.timezones.derive` (country and
    coordinates), computed once per distinct location and remembered in
    ``derived`` (``{location: zone or None}``), which the caller reads for
    its summary (``{location: completed location, or None when no zone was
    found}``). A timezone the source gives is never replaced.
    """
    for row in ranges:
        location = row.location
        if location[_TZ]:
            yield row
            continue
        completed = derived.get(location, _UNSEEN)
        if completed is _UNSEEN:
            zone = timezones.derive(location[0], location[_LAT], location[_LON])
            completed = derived[location] = zone and location[:_TZ] + (zone,) + location[_TZ + 1:]
        yield row._replace(location=completed) if completed else row
