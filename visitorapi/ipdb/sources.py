"""CSV geolocation sources: one small reader per dialect, yielding address ranges.

Every dialect is reduced to the same value, :class:`SourceRange`: an inclusive
range of integer addresses with its location fields in
:data:`LOCATION_FIELDS` order. ``where`` ("path:line") travels with each range
so that errors found later (overlaps, in the compiler) still name the file
and line the operator must fix.

:func:`read_sources` opens each input (plain or gzip, told apart by its magic
bytes), recognises its dialect from the content (see :data:`DIALECTS` and
:func:`detect_dialect`) and streams its rows; nothing holds a whole file in
memory. Decisions this module takes for every dialect:

- Addresses are parsed strictly with ``socket.inet_pton`` (RFC 4291 section
  2.2 text for IPv6, dotted quad for IPv4): ``127.1``, ``010.0.0.1``,
  ``0x7f.0.0.1`` and zone ids (``fe80::1%eth0``) are malformed. Integer forms
  are ASCII decimal digits only (no sign, no ``_``).
- A CIDR network whose host bits are set (``10.0.0.1/8``) is an error, not
  silently masked: it means the file is not what its producer meant to write.
- Empty fields become ``None``. Country codes are upper-cased and must be two
  ASCII letters; ``ZZ`` (ISO 3166 "unknown") and ``-`` (IP2Location's
  placeholder) become ``None``; other codes (``EU``, ``AP``: reserved codes the
  registries use) are kept as given.
- A row with no location at all (every field ``None``: DB-IP's ``ZZ`` rows,
  IP2Location's ``-`` rows for reserved space) is counted in
  :attr:`SourceScan.unlocated` and not yielded: "not in any range" is how the
  database says "unknown".
- Latitude and longitude must be finite decimal numbers within +-90 and +-180,
  both present or both absent.
- Text must be UTF-8; a row with other bytes, or with control characters in a
  field, is an error naming its line.
- Unsorted input is fine; sorting and overlap checks are the compiler's job.
- AS-number dialects (:data:`ASN_DIALECTS`) yield ``(asn, as_organization)``
  tuples instead of locations: the AS number as an int (decimal digits, at
  most 2**32-1, RFC 6793; an optional ``AS`` prefix is accepted) or None,
  and the organization text. They make a database of their own, so one scan
  takes files of one kind only (:attr:`SourceScan.kind`).

With ``skip_invalid=True`` a bad row is counted and skipped instead of
raising; a bad *file* (empty, not gzip after all, unknown dialect) still
raises.
"""
import codecs
import csv
import gzip
import itertools
import math
import os
import re
import socket
import zlib
from typing import NamedTuple

from visitorapi.errors import OperatorError
from visitorapi.ipdb.format import ASN_KIND, LOCATION_KIND, MAX_ASN
from visitorapi.ipdb.reader import LOCATION_FIELDS



class SourceError(OperatorError):
    """A CSV input is unreadable or has a bad row; the message starts with "path:line:".

    Not a ``ValueError``: bad data files are the operator's to fix, and must not
    be caught by code that treats ``ValueError`` as malformed input.
    """


class SourceRange(NamedTuple):
    """An inclusive address range and its location, as read from one CSV row.

    PERF: a NamedTuple, not a frozen dataclass: it is built once per input row
    (8 M rows for the DB-IP city files) and costs 0.65 us to build against
    1.95 us for ``@dataclass(frozen=True, slots=True)`` (measured here).

    Attributes:
        first: the first address, as an integer.
        last: the last address, as an integer (``first <= last``).
        version: 4 or 6; IPv4-mapped IPv6 ranges (``::ffff:0:0/96``) keep
            version 6 here, and the compiler folds them into the IPv4 trie.
        location: one value per :data:`LOCATION_FIELDS` entry: ``str`` or
            ``None`` for text fields, ``float`` or ``None`` for latitude and
            longitude. Equal locations read in one scan are the same object.
        where: ``"path:line"`` of the row, for error messages.
    """

    first: int
    last: int
    version: int
    location: tuple
    where: str


# Dialect name -> one line for `--format` help.
DIALECTS = {
    "iplocation-city": "ip-location-db city: start,end,country_code,state1,state2,city,"
                       "postcode,latitude,longitude,timezone (address text or -num integers)",
    "iplocation-country": "ip-location-db country: start,end,country_code "
                          "(address text or -num integers)",
    "dbip-city-lite": "DB-IP IP to City Lite: ip_start,ip_end,continent,country,stateprov,"
                      "city,latitude,longitude",
    "dbip-country-lite": "DB-IP IP to Country Lite: ip_start,ip_end,country "
                         "(the iplocation-country layout)",
    "geolite2-city": "MaxMind GeoLite2 City: Blocks-IPv4/-IPv6 CSV joined with the "
                     "Locations-<lang> CSV given alongside",
    "geolite2-country": "MaxMind GeoLite2 Country: Blocks-IPv4/-IPv6 CSV joined with the "
                        "Locations-<lang> CSV given alongside",
    "ip2location-db1": "IP2Location LITE DB1: ip_from,ip_to,country_code,country_name",
    "ip2location-db3": "IP2Location LITE DB3: DB1 + region_name,city_name",
    "ip2location-db5": "IP2Location LITE DB5: DB3 + latitude,longitude",
    "ip2location-db11": "IP2Location LITE DB11: DB5 + zip_code,time_zone",
    "iplocation-asn": "ip-location-db asn, and DB-IP IP to ASN Lite: start,end,as_number,"
                      "as_organization",
    "geolite2-asn": "MaxMind GeoLite2 ASN: network,autonomous_system_number,"
                    "autonomous_system_organization (with its header row)",
}
# The dialects whose rows are AS numbers, not locations.
ASN_DIALECTS = frozenset({"iplocation-asn", "geolite2-asn"})


# The name a GeoLite2 Locations-<lang> file gets in SourceScan.files; it is
# not a dialect of its own (it holds no ranges), so --format does not offer it.
GEOLITE2_LOCATIONS = "geolite2-locations"

_MAX_ADDRESS = {4: (1 << 32) - 1, 6: (1 << 128) - 1}
_BITS = {4: 32, 6: 128}
_CHUNK = 1 << 20
_SAMPLE_LINES = 20
_SKIP_EXAMPLES = 10
_KEY_CACHE_LIMIT = 1 << 20
# C0 controls, DEL, and the lone surrogates that surrogateescape decoding
# leaves for bytes that are not UTF-8. Searched once per distinct location
# text, never per row.
_BAD_TEXT = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")
# First fields of header rows we recognise and skip (ip-location-db, DB-IP
# and IP2Location publish none, but hand-made exports often add one).
_HEADER_NAMES = frozenset({"ip_range_start", "ip_start", "ip_from", "start", "start_ip",
                           "first", "network", "geoname_id"})


class _RangeDialect(NamedTuple):
    """A dialect whose rows are ``start,end,<location columns>``.

    ``mapping`` gives, for each :data:`LOCATION_FIELDS` entry, the index of
    its column among the location columns (after start and end), or None.
    """

    name: str
    columns: int
    mapping: tuple
    placeholders: frozenset = frozenset({""})
    kind: str = LOCATION_KIND


_N = None
_IDENTITY = tuple(range(len(LOCATION_FIELDS)))
_RANGE_DIALECTS = {d.name: d for d in (
    _RangeDialect("iplocation-city", 10, (0, 1, 2, 3, 4, 5, 6, 7)),
    _RangeDialect("iplocation-country", 3, (0, _N, _N, _N, _N, _N, _N, _N)),
    _RangeDialect("dbip-country-lite", 3, (0, _N, _N, _N, _N, _N, _N, _N)),
    # continent (column 0) is dropped: the country code implies it.
    _RangeDialect("dbip-city-lite", 8, (1, 2, _N, 3, _N, 4, 5, _N)),
    # country_name (column 1) is dropped: names come from the country code.
    _RangeDialect("ip2location-db1", 4, (0, _N, _N, _N, _N, _N, _N, _N), frozenset({"", "-"})),
    _RangeDialect("ip2location-db3", 6, (0, 2, _N, 3, _N, _N, _N, _N), frozenset({"", "-"})),
    _RangeDialect("ip2location-db5", 8, (0, 2, _N, 3, _N, 4, 5, _N), frozenset({"", "-"})),
    _RangeDialect("ip2location-db11", 10, (0, 2, _N, 3, 6, 4, 5, 7), frozenset({"", "-"})),
    _RangeDialect("iplocation-asn", 4, (0, 1), kind=ASN_KIND),
)}
_IP2LOCATION_BY_COLUMNS = {4: "ip2location-db1", 6: "ip2location-db3",
                           8: "ip2location-db5", 10: "ip2location-db11"}
_GEOLITE2 = ("geolite2-city", "geolite2-country")


class _Bad(Exception):
    """One row is invalid; the message says why (without the "path:line:" prefix)."""


# --------------------------------------------------------------------------
# Reading bytes and lines


def open_source(path, name=None):
    """Open ``path`` for reading bytes, through gzip when its magic says so.

    The one place that tells plain, gzip and archive files apart (the
    compiler and ``visitorapi update``'s content check both read through it).

    Args:
        path: the file.
        name: what to call it in messages (default: ``path``), e.g. its URL.

    Raises:
        SourceError: the file is a zip, bzip2 or xz archive (name the tool).
    """
    raw = open(path, "rb")
    magic = raw.read(6)
    raw.seek(0)
    if magic[:2] == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=raw, mode="rb")
    for signature, kind in ((b"PK\x03\x04", "a zip archive"), (b"BZh", "bzip2 data"),
                            (b"\xfd7zXZ\x00", "xz data")):
        if magic.startswith(signature):
            raw.close()
            raise SourceError(f"{name or path}: is {kind}; unpack it first "
                              "(plain or gzip-compressed CSV is read directly)")
    return raw


def _line_blocks(path):
    """Yield lists of the file's physical lines, without line terminators.

    PERF: reading 1 MiB chunks and splitting them with ``str.split`` costs
    about half of iterating a TextIOWrapper line by line. Bytes that are not
    UTF-8 decode to lone surrogates (``surrogateescape``) so that the row
    holding them can be named; the slow paths reject them.

    Raises:
        SourceError: the gzip stream is corrupt or truncated.
    """
    decoder = codecs.getincrementaldecoder("utf-8")("surrogateescape")
    tail = ""
    first = True
    try:
        with open_source(path) as raw:
            while True:
                data = raw.read(_CHUNK)
                if not data:
                    break
                text = tail + decoder.decode(data)
                if first:
                    first = False
                    if text.startswith("\ufeff"):
                        text = text[1:]
                if "\r" in text:
                    text = text.replace("\r\n", "\n")
                lines = text.split("\n")
                tail = lines.pop()
                yield lines
    except (gzip.BadGzipFile, zlib.error) as exc:
        raise SourceError(f"{path}: corrupt gzip data ({exc})") from None
    except EOFError:
        raise SourceError(f"{path}: the gzip file is truncated") from None
    tail += decoder.decode(b"", final=True)
    if tail:
        yield [tail]


def _quoted_fields(line):
    """Split a CSV line that holds quotes (RFC 4180); None while a quote is open.

    PERF: IP2Location quotes every field; ``"a","b","c"`` is split with
    ``str.split`` when that is provably the same as what the csv module does.

    Raises:
        _Bad: the quoting is malformed (``"a"b``).
    """
    count = line.count('"')
    if count % 2:
        return None
    if line[:1] == '"' and line[-1:] == '"':
        parts = line[1:-1].split('","')
        if count == 2 * len(parts):
            return parts
    try:
        return next(csv.reader((line,), strict=True))
    except csv.Error as exc:
        raise _Bad(f"malformed CSV quoting ({exc})") from None


def _records(path):
    """Yield ``(line_number, text, fields)`` for every non-blank CSV record.

    ``fields`` is None for a line without quotes: the caller splits it
    itself, which is the fast path. A record with quotes comes split, and
    may span lines (RFC 4180); its number is that of its first line. A
    record whose quoting is malformed, or a quote left open at the end of
    the file, comes with a :class:`_Bad` instance as ``fields``.
    """
    lineno = 0
    pending = None
    pending_line = 0
    for block in _line_blocks(path):
        for line in block:
            lineno += 1
            if pending is None and '"' not in line:
                if line:
                    yield lineno, line, None
                continue
            if pending is not None:
                line = pending + "\n" + line
            else:
                pending_line = lineno
            try:
                fields = _quoted_fields(line)
            except _Bad as exc:
                fields = exc
            if fields is None:
                pending = line
                continue
            pending = None
            yield pending_line, line, fields
    if pending is not None:
        yield pending_line, pending, _Bad("a quoted field is never closed")


# --------------------------------------------------------------------------
# Field parsers (slow paths: once per distinct value or on error)


def _check_text(text, what):
    """Reject non-UTF-8 bytes and control characters in a field."""
    bad = _BAD_TEXT.search(text)
    if bad is None:
        return
    char = bad.group()
    if "\ud800" <= char <= "\udfff":
        raise _Bad(f"{what} is not valid UTF-8 (byte 0x{ord(char) - 0xdc00:02x})")
    raise _Bad(f"{what} contains the control character U+{ord(char):04X}")


def _checked_fields(key):
    """A row's location columns as a list: split if one text, each checked by _check_text."""
    if isinstance(key, str):
        _check_text(key, "the row")
        return key.split(",")
    fields = list(key)
    for field in fields:
        _check_text(field, "the row")
    return fields


def _country(code):
    """Normalise a country code: upper case, two letters; ZZ and - mean none."""
    upper = code.upper()
    if upper in ("ZZ", "-"):
        return None
    if len(upper) != 2 or not (upper.isascii() and upper.isalpha()):
        raise _Bad(f"country code {code!r} is not two letters (ISO 3166-1 alpha-2)")
    return upper


def _coordinate(text, name, limit):
    """Parse a latitude or longitude: a finite decimal number within +-limit."""
    try:
        if "_" in text or text != text.strip():
            raise ValueError
        value = float(text)
    except ValueError:
        raise _Bad(f"{name} {text!r} is not a number") from None
    if not math.isfinite(value):
        raise _Bad(f"{name} {text!r} is not a finite number")
    if not -limit <= value <= limit:
        raise _Bad(f"{name} {text} is out of range [-{limit}, {limit}]")
    return value


def _location(country, region, district, city, postcode, latitude, longitude, timezone):
    """Build a location tuple from raw text fields (None for absent ones).

    Raises:
        _Bad: a field is invalid.
    """
    if (latitude is None) != (longitude is None):
        raise _Bad("latitude and longitude must both be given or both be empty")
    if latitude is not None:
        latitude = _coordinate(latitude, "latitude", 90)
        longitude = _coordinate(longitude, "longitude", 180)
    if country is not None:
        country = _country(country)
    return (country, region, district, city, postcode, latitude, longitude, timezone)


def _address_text(text, role):
    """Parse one address in text form; return (integer, version).

    Raises:
        _Bad: with the reason, e.g. a zone id or an IPv4 shorthand.
    """
    if not text:
        raise _Bad(f"{role} address is empty")
    _check_text(text, f"{role} address")
    family, version = ((socket.AF_INET6, 6) if ":" in text else (socket.AF_INET, 4))
    try:
        return int.from_bytes(socket.inet_pton(family, text), "big"), version
    except (OSError, ValueError):
        hint = " (zone ids are not allowed)" if "%" in text else ""
        raise _Bad(f"malformed IPv{version} {role} address {text!r}{hint}") from None


def _address_integer(text, role, version):
    """Parse one address in decimal integer form for an IPv``version`` file."""
    if not (text.isascii() and text.isdigit()):
        if not text:
            raise _Bad(f"{role} address is empty")
        _check_text(text, f"{role} address")
        raise _Bad(f"{role} address {text!r} is not a decimal integer")
    value = int(text)
    if value > _MAX_ADDRESS[version]:
        raise _Bad(f"{role} address {text} is out of range for IPv{version} "
                   f"(at most {_MAX_ADDRESS[version]})")
    return value


def _diagnose_pair(start, end, integer_version):
    """Explain why a start/end pair failed the fast path; always raises _Bad."""
    if integer_version:
        _address_integer(start, "start", integer_version)
        _address_integer(end, "end", integer_version)
    else:
        first, v_first = _address_text(start, "start")
        last, v_last = _address_text(end, "end")
        if v_first != v_last:
            raise _Bad(f"start {start} and end {end} are of different address families")
    raise _Bad(f"unreadable address range {start!r}..{end!r}")  # pragma: no cover


def format_address(value, version):
    """Return the text form of an integer address (for messages)."""
    family, size = (socket.AF_INET, 4) if version == 4 else (socket.AF_INET6, 16)
    return socket.inet_ntop(family, value.to_bytes(size, "big"))


def _order_error(first, last, version):
    return _Bad(f"end address {format_address(last, version)} is before start "
                f"{format_address(first, version)}")


# --------------------------------------------------------------------------
# Dialect detection


def _sample(path):
    """Return ``(text, fields)`` of the first non-blank records of a file."""
    rows = []
    for _, line, fields in _records(path):
        if fields is None:
            fields = line.split(",")
        elif isinstance(fields, _Bad):
            fields = [line]
        rows.append((line, fields))
        if len(rows) >= _SAMPLE_LINES:
            break
    return rows


def _is_header(fields):
    """Whether a record's fields look like a header row we know."""
    return bool(fields) and fields[0].strip().lower() in _HEADER_NAMES


def _plain_fields(record):
    """The fields of a ``_records`` item, or None when its quoting is bad."""
    _, line, fields = record
    if fields is None:
        return line.split(",")
    return None if isinstance(fields, _Bad) else fields


def _address_form(text):
    """'text', 'integer', 'cidr' or None for the first field of a data row."""
    if text.isascii() and text.isdigit():
        return "integer"
    if "/" in text:
        return "cidr"
    try:
        _address_text(text, "start")
    except _Bad:
        return None
    return "text"


def _integer_version(path, fields):
    """The family of an integer-form file, from its first data row: 6 if its
    start or end needs more than 32 bits, else 6 if the file's name says
    ``ipv6``, else 4.

    NOTE: a decimal integer alone does not tell IPv4 from the bottom of the
    IPv6 space; real IPv6 files start far above 2**32 (IP2Location's first
    row ends at ::fffe:ffff:ffff), so the first row nearly always decides,
    and a later IPv4 row above 2**32-1 is an error rather than a switch.
    """
    for text in fields[:2]:
        if text.isascii() and text.isdigit() and int(text) > _MAX_ADDRESS[4]:
            return 6
    return 6 if "ipv6" in os.path.basename(os.fspath(path)).lower() else 4


def detect_dialect(path):
    """Name the dialect of one CSV file from its first rows.

    Returns:
        A :data:`DIALECTS` key, or :data:`GEOLITE2_LOCATIONS`.

    Raises:
        SourceError: the file is empty or matches no known dialect.
    """
    sample = _sample(path)
    if not sample:
        raise SourceError(f"{path}: the file is empty (no rows)")
    header = [field.strip().lower() for field in sample[0][1]]
    if header[0] == "geoname_id":
        return GEOLITE2_LOCATIONS
    if header[0] == "network":
        if "autonomous_system_number" in header:
            return "geolite2-asn"
        return "geolite2-city" if "latitude" in header or "postal_code" in header \
            else "geolite2-country"
    data_rows = sample[1:] if _is_header(sample[0][1]) else sample
    if not data_rows:
        raise SourceError(f"{path}: the file has a header but no rows")
    line, fields = data_rows[0]
    quoted = line.startswith('"')
    form = _address_form(fields[0])
    columns = len(fields)
    name = None
    if form == "text":
        name = {3: "iplocation-country", 8: "dbip-city-lite", 10: "iplocation-city"}.get(columns)
        if columns == 4 and _ASN_TEXT.fullmatch(fields[2].strip()):
            name = "iplocation-asn"
    elif form == "integer":
        if quoted or columns in (4, 6, 8):
            name = _IP2LOCATION_BY_COLUMNS.get(columns)
        else:
            name = {3: "iplocation-country", 10: "iplocation-city"}.get(columns)
    if name is None and _BAD_TEXT.search(line.replace("\t", "")):
        raise SourceError(f"{path}: is not a CSV text file (its first bytes are binary data "
                          "or not UTF-8); give the CSV file itself, plain or gzip-compressed")
    if name is None:
        shape = {"text": "address text", "integer": "integer addresses",
                 "cidr": "CIDR networks without a header"}.get(form, "no address")
        raise SourceError(
            f"{path}: unknown CSV dialect (first row has {columns} columns and {shape}: "
            f"{','.join(fields)[:80]!r}); known dialects: {', '.join(DIALECTS)}; "
            "name one with --format")
    return name


# --------------------------------------------------------------------------
# The scan


class SourceScan:
    """The ranges of one or more CSV files, streamed in file order.

    Iterate it once for :class:`SourceRange` values; the counters below grow
    while it runs, so a progress display can read them between rows.

    Attributes:
        files: ``(path, dialect)`` for every input, known before iterating.
        rows: data rows read so far (headers and blank lines excluded;
            skipped and unlocated rows included).
        skipped: rows skipped as invalid (only with ``skip_invalid``).
        skipped_examples: the first few skip messages, "path:line: why".
        unlocated: rows read whose location was entirely empty (not yielded).
    """

    def __init__(self, paths, *, format=None, skip_invalid=False):
        if isinstance(paths, (str, bytes, os.PathLike)):
            paths = [paths]
        paths = [os.fspath(path) for path in paths]
        if not paths:
            raise SourceError("no input files given")
        if format is not None and format not in DIALECTS:
            raise SourceError(f"unknown format {format!r}; known formats: {', '.join(DIALECTS)}")
        self.skip_invalid = skip_invalid
        self.rows = 0
        self.skipped = 0
        self.unlocated = 0
        self.skipped_examples = []
        self.files = [(path, self._dialect_of(path, format)) for path in paths]
        kinds = {ASN_KIND if name in ASN_DIALECTS else LOCATION_KIND for _, name in self.files}
        if len(kinds) > 1:
            first_asn = next(path for path, name in self.files if name in ASN_DIALECTS)
            raise SourceError(f"{first_asn}: an AS-number file makes a database of its own; "
                              "compile it without the location files (visitorapi compile "
                              "asn.csv -o asn.vdb) and serve it with VISITORAPI_ASN_DB")
        self.kind = kinds.pop()
        self._locations = {}  # location tuple -> the one shared instance
        self._iterated = False
        blocks = [path for path, name in self.files if name in _GEOLITE2]
        if blocks and not any(name == GEOLITE2_LOCATIONS for _, name in self.files):
            raise SourceError(
                f"{blocks[0]}: a GeoLite2 Blocks file needs its Locations-<lang>.csv "
                "(e.g. GeoLite2-City-Locations-en.csv) given as another input")

    @staticmethod
    def _dialect_of(path, format):
        if format is None:
            return detect_dialect(path)
        if format in _GEOLITE2:
            # NOTE: a forced GeoLite2 format still tells Locations from Blocks
            # files by their header; both kinds are needed for one database.
            sample = _sample(path)
            if not sample:
                raise SourceError(f"{path}: the file is empty (no rows)")
            first = sample[0][1][0].strip().lower()
            if first == "geoname_id":
                return GEOLITE2_LOCATIONS
            if first != "network":
                raise SourceError(f"{path}: not a GeoLite2 Blocks or Locations file "
                                  f"(its header starts {sample[0][0][:60]!r})")
        return format

    def __iter__(self):
        if self._iterated:
            raise RuntimeError("a SourceScan can be iterated only once")
        self._iterated = True
        # PERF: chain() hands each file's rows on in C, without a second
        # generator frame per row.
        return itertools.chain.from_iterable(self._per_file())

    def _per_file(self):
        """Yield one iterator of ranges per input file, opened when reached."""
        geonames = None
        for path, name in self.files:
            if name == "geolite2-asn":
                yield self._network_rows(path, None)
            elif name in _GEOLITE2:
                if geonames is None:
                    geonames = _read_geonames(
                        [p for p, n in self.files if n == GEOLITE2_LOCATIONS])
                yield self._network_rows(path, geonames)
            elif name != GEOLITE2_LOCATIONS:
                yield self._range_rows(path, _RANGE_DIALECTS[name])

    def _reject(self, path, lineno, exc):
        """Raise a row's error, or count and sample it under skip_invalid."""
        message = f"{path}:{lineno}: {exc}"
        if not self.skip_invalid:
            raise SourceError(message) from None
        self.skipped += 1
        if len(self.skipped_examples) < _SKIP_EXAMPLES:
            self.skipped_examples.append(message)

    def _share(self, location):
        """Return the scan's one instance of an equal location, or None if empty."""
        if location.count(None) == len(location):
            return None
        return self._locations.setdefault(location, location)

    def _range_location(self, dialect, key):
        """Location of a start,end row from its location columns (a cache miss)."""
        fields = _checked_fields(key)
        if len(fields) != dialect.columns - 2:
            raise _Bad(f"expected {dialect.columns} columns for {dialect.name}, "
                       f"found {len(fields) + 2}")
        if dialect.kind == ASN_KIND:
            return self._share(_as_record(*fields))
        empty = dialect.placeholders
        if dialect.mapping == _IDENTITY and len(empty) == 1:
            location = _location(*[field or None for field in fields])
        else:
            location = _location(*[None if index is None or fields[index] in empty
                                   else fields[index] for index in dialect.mapping])
        if "-" in empty and location[0] is None and location[5] == 0 == location[6]:
            # IP2Location gives its "-" rows (reserved space) coordinates 0,0.
            location = location[:5] + (None, None) + location[7:]
        return self._share(location)

    def _range_rows(self, path, dialect):
        """Stream one start,end,... file.

        PERF: the hot loop splits off start and end and looks the remaining
        text up in a cache of parsed locations; parsing, validation and the
        shared-instance lookup run once per distinct location text.
        """
        records = _records(path)
        head = list(itertools.islice(records, 2))
        if not head:
            raise SourceError(f"{path}: the file is empty (no rows)")
        if _is_header(_plain_fields(head[0])):
            del head[0]
        data_fields = _plain_fields(head[0]) if head else None
        integer_version = 0
        if data_fields and data_fields[0].isascii() and data_fields[0].isdigit():
            integer_version = _integer_version(path, data_fields)
        max_integer = _MAX_ADDRESS.get(integer_version, 0)
        pton, from_bytes, new = socket.inet_pton, int.from_bytes, tuple.__new__
        af4, af6 = socket.AF_INET, socket.AF_INET6
        cache = {}
        rows = 0
        for row_line, line, fields in itertools.chain(head, records):
            rows += 1
            self.rows += 1
            try:
                if fields is None:
                    try:
                        start, end, key = line.split(",", 2)
                    except ValueError:
                        raise _Bad(f"expected {dialect.columns} columns for "
                                   f"{dialect.name}, found {line.count(',') + 1}") from None
                else:
                    if isinstance(fields, _Bad):
                        raise fields
                    if len(fields) < 3:
                        raise _Bad(f"expected {dialect.columns} columns for "
                                   f"{dialect.name}, found {len(fields)}")
                    start, end, key = fields[0], fields[1], tuple(fields[2:])
                location = cache.get(key, cache)
                if location is cache:
                    if len(cache) >= _KEY_CACHE_LIMIT:
                        cache.clear()
                    location = cache[key] = self._range_location(dialect, key)
                if integer_version:
                    if not (start.isascii() and start.isdigit()
                            and end.isascii() and end.isdigit()):
                        _diagnose_pair(start, end, integer_version)
                    first, last, version = int(start), int(end), integer_version
                    if last > max_integer or first > max_integer:
                        _diagnose_pair(start, end, integer_version)
                else:
                    try:
                        if ":" in start:
                            first = from_bytes(pton(af6, start), "big")
                            last = from_bytes(pton(af6, end), "big")
                            version = 6
                        else:
                            first = from_bytes(pton(af4, start), "big")
                            last = from_bytes(pton(af4, end), "big")
                            version = 4
                    except (OSError, ValueError):
                        _diagnose_pair(start, end, 0)
                if first > last:
                    raise _order_error(first, last, version)
            except _Bad as exc:
                self._reject(path, row_line, exc)
                continue
            if location is None:
                self.unlocated += 1
                continue
            yield new(SourceRange, (first, last, version, location, f"{path}:{row_line}"))
        if not rows:
            raise SourceError(f"{path}: the file has a header but no rows")

    def _network_rows(self, path, geonames):
        """Stream one GeoLite2 Blocks file (a header row, then network,...)."""
        records = _records(path)
        for lineno, line, fields in records:
            columns = [c.strip().lower() for c in (fields or line.split(","))] \
                if not isinstance(fields, _Bad) else [""]
            needed = "geoname_id" if geonames is not None else "autonomous_system_number"
            if columns[0] != "network" or needed not in columns:
                raise SourceError(f"{path}:{lineno}: not a GeoLite2 "
                                  f"{'Blocks' if geonames is not None else 'ASN'} header: "
                                  f"{line[:80]!r}")
            break
        else:
            raise SourceError(f"{path}: the file is empty (no rows)")
        resolve = (_geolite2_resolver(columns, geonames, self._share) if geonames is not None
                   else _geolite2_asn_resolver(columns, self._share))
        cache = {}
        for row_line, line, fields in records:
            self.rows += 1
            try:
                if fields is None:
                    network, _, key = line.partition(",")
                elif isinstance(fields, _Bad):
                    raise fields
                else:
                    network, key = fields[0], tuple(fields[1:])
                location = cache.get(key, cache)
                if location is cache:
                    if len(cache) >= _KEY_CACHE_LIMIT:
                        cache.clear()
                    location = cache[key] = resolve(key)
                first, last, version = _network(network)
            except _Bad as exc:
                self._reject(path, row_line, exc)
                continue
            if location is None:
                self.unlocated += 1
                continue
            yield SourceRange(first, last, version, location, f"{path}:{row_line}")


def _network(text):
    """Parse a CIDR network; return (first, last, version).

    Raises:
        _Bad: malformed, prefix out of range, or host bits set.
    """
    address, slash, prefix = text.partition("/")
    if not slash:
        raise _Bad(f"network {text!r} has no /prefix")
    value, version = _address_text(address, "network")
    bits = _BITS[version]
    if not (prefix.isascii() and prefix.isdigit()) or (len(prefix) > 1 and prefix[0] == "0") \
            or int(prefix) > bits:
        raise _Bad(f"network {text!r} has an invalid prefix length (0 to {bits})")
    host_mask = (1 << (bits - int(prefix))) - 1
    if value & host_mask:
        raise _Bad(f"network {text} has host bits set "
                   f"(did you mean {format_address(value & ~host_mask, version)}/{prefix}?)")
    return value, value | host_mask, version


def _read_geonames(paths):
    """Read GeoLite2 Locations files into {geoname_id: (country, region, district, city, tz)}.

    Raises:
        SourceError: a bad row, or one geoname_id described differently by
            two files (e.g. two languages given at once).
    """
    table, origin = {}, {}
    for path in paths:
        header = None
        for lineno, fields in _csv_rows(path):
            if header is None:
                header = {name.strip().lower(): index for index, name in enumerate(fields)}
                missing = {"geoname_id", "country_iso_code"} - header.keys()
                if missing:
                    raise SourceError(f"{path}:{lineno}: a GeoLite2 Locations header needs "
                                      f"the columns {', '.join(sorted(missing))}")
                continue
            if len(fields) != len(header):
                raise SourceError(f"{path}:{lineno}: expected {len(header)} columns, "
                                  f"found {len(fields)}")

            def column(name, fields=fields):
                return _pick(header, fields, name)

            try:
                for field in fields:
                    _check_text(field, "the row")
                geoname_id = column("geoname_id")
                if geoname_id is None or not (geoname_id.isascii() and geoname_id.isdigit()):
                    raise _Bad(f"geoname_id {geoname_id!r} is not a decimal integer")
                country = column("country_iso_code")
                entry = (_country(country) if country else None,
                         column("subdivision_1_name"), column("subdivision_2_name"),
                         column("city_name"), column("time_zone"))
            except _Bad as exc:
                raise SourceError(f"{path}:{lineno}: {exc}") from None
            key = int(geoname_id)
            if table.get(key, entry) != entry:
                raise SourceError(
                    f"{path}:{lineno}: geoname_id {key} differs from {origin[key]}; "
                    "give one Locations file per database (one language)")
            table[key] = entry
            origin.setdefault(key, f"{path}:{lineno}")
    return table


def _pick(index, fields, name):
    """The field of column ``name`` (by a {name: position} index), None if empty or absent."""
    position = index.get(name)
    return None if position is None else fields[position] or None


def _csv_rows(path):
    """Yield (line number, fields) for every non-blank row of a small CSV file.

    Raises:
        SourceError: malformed quoting.
    """
    for lineno, line, fields in _records(path):
        if fields is None:
            fields = line.split(",")
        elif isinstance(fields, _Bad):
            raise SourceError(f"{path}:{lineno}: {fields}")
        yield lineno, fields


def _geolite2_resolver(columns, geonames, share):
    """Return resolve(key) -> location for the data rows of one Blocks file.

    ``key`` is the row without its network column (text or tuple). The
    location comes from ``geoname_id``; rows without one (anonymous proxies,
    satellite providers) fall back to ``registered_country_geoname_id``,
    which gives the country only. A geoname_id missing from the Locations
    table is an error: the Locations file is from another release.
    """
    index = {name: position - 1 for position, name in enumerate(columns)}
    width = len(columns) - 1

    def pick(fields, name):
        return _pick(index, fields, name)

    def resolve(key):
        fields = _checked_fields(key)
        if len(fields) != width:
            raise _Bad(f"expected {width + 1} columns as in the header, found {len(fields) + 1}")
        geoname_id = pick(fields, "geoname_id")
        fallback = geoname_id is None
        if fallback:
            geoname_id = pick(fields, "registered_country_geoname_id")
        place = (None, None, None, None, None)
        if geoname_id is not None:
            if not (geoname_id.isascii() and geoname_id.isdigit()):
                raise _Bad(f"geoname_id {geoname_id!r} is not a decimal integer")
            place = geonames.get(int(geoname_id))
            if place is None:
                raise _Bad(f"geoname_id {geoname_id} is not in the Locations file given; "
                           "use the Locations-<lang>.csv of the same release")
            if fallback:
                place = (place[0], None, None, None, None)
        country, region, district, city, timezone = place
        location = _location(None, region, district, city, pick(fields, "postal_code"),
                             pick(fields, "latitude"), pick(fields, "longitude"), timezone)
        return share((country,) + location[1:])

    return resolve


_ASN_TEXT = re.compile(r"(?:AS)?[0-9]{1,10}", re.IGNORECASE)


def _as_record(number, organization):
    """Build an ``(asn, as_organization)`` tuple from raw text fields.

    Raises:
        _Bad: the AS number is not a decimal number (optionally ``AS``-prefixed)
            from 0 to 2**32-1.
    """
    number = (number or "").strip()
    asn = None
    if number:
        if not _ASN_TEXT.fullmatch(number) or int(number.lstrip("ASas")) > MAX_ASN:
            raise _Bad(f"AS number {number[:20]!r} is not a decimal number from 0 to {MAX_ASN}")
        asn = int(number.lstrip("ASas"))
    return (asn, organization or None)


def _geolite2_asn_resolver(columns, share):
    """Return resolve(key) -> (asn, organization) for the rows of a GeoLite2 ASN file."""
    index = {name: position - 1 for position, name in enumerate(columns)}
    width = len(columns) - 1

    def resolve(key):
        fields = key.split(",") if isinstance(key, str) else list(key)
        for field in fields:
            _check_text(field, "the row")
        if len(fields) != width:
            raise _Bad(f"expected {width + 1} columns as in the header, found {len(fields) + 1}")
        return share(_as_record(_pick(index, fields, "autonomous_system_number"),
                                _pick(index, fields, "autonomous_system_organization")))

    return resolve


def read_sources(paths, *, format=None, skip_invalid=False):
    """Open CSV geolocation files for streaming; return a :class:`SourceScan`.

    Args:
        paths: one path or a list of paths, plain or gzip CSV, in any order
            (GeoLite2 Locations files may come before or after their Blocks).
        format: a :data:`DIALECTS` name to force for every file; by default
            each file's dialect is detected from its first rows.
        skip_invalid: count and skip bad rows instead of raising.

    Returns:
        A :class:`SourceScan`; the files are detected now and read while it
        is iterated.

    Raises:
        SourceError: unknown format, empty or unrecognisable file, a
            GeoLite2 Blocks file without its Locations file; while iterating,
            a bad row (unless ``skip_invalid``) or corrupt gzip data.
        OSError: a file cannot be opened.
    """
    return SourceScan(paths, format=format, skip_invalid=skip_invalid)
