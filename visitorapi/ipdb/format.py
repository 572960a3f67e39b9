"""THE byte layout of a visitorapi IP database (``.vdb``), format version 4.

Versions 1 to 3 are not read (1 stored places as string numbers, 2 had a
20-bit IPv6 root and no array nodes, 3 had a bitmap node at IPv6 /32-/38);
see "Why this design" below. Any other version is refused with a message to
recompile.

Imported by the compiler (which writes it) and the reader (which maps it),
by nobody else. Every number about the layout lives here, once.

File layout
===========

All integers are little-endian. Every section starts at a multiple of 8 and
the file length is a multiple of 8, so the whole file can be viewed through
``memoryview(mmap).cast('I')`` and ``.cast('Q')`` without copying.

Fixed header (``HEADER``, 160 bytes):

====== ====== ===================================================================
offset size   field
====== ====== ===================================================================
0      8      magic ``b"\\x89VIPDB\\r\\n"`` (PNG-style: a high byte, and CR LF, so
              7-bit or text-mode transfers are caught)
8      2      format version, u16 (``VERSION`` = 4)
10     2      reserved, zero
12     4      CRC-32 of the header without this field (bytes [0, 12) then
              [16, header_size)): catches a damaged header in constant time
              at open
16     8      file size in bytes, u64 (a truncated file is caught at open)
24     4      header size in bytes, u32: 160 + metadata, padded to 8
28     4      metadata length in bytes, u32
32     32     SHA-256 of the body, bytes [header_size, file size); checked by
              ``verify``, not at open (it reads the whole file)
64     4      record count, u32 (record 0 is the "no data" record)
68     4      place count, u32 (for ``info``; the reader does not need it)
72     8      reserved, zero
80     64     section table: four (offset u64, length u64) pairs, in the order
              of ``SECTIONS``: ipv4 trie, ipv6 trie, records, places
144    16     reserved, zero
160    n      metadata: UTF-8 JSON object (build time, sources, counts,
              attribution), zero-padded to 8
====== ====== ===================================================================

Body sections, in file order:

``ipv4`` / ``ipv6`` trie
    u32 entries. First the root table, ``2**ROOT_BITS[family]`` entries
    (IPv4: 20 bits, IPv6: 16) indexed directly by the address's top bits;
    then the nodes of the levels in ``LEVELS[family]``. An entry
    ``e >= LEAF`` is a leaf holding record number ``e - LEAF`` (0: no data;
    ``MAPPED_REF`` in the IPv6 trie: "answer from the IPv4 trie", the whole
    of ``::ffff:0:0/96``). An entry ``e < LEAF`` points to a node of the
    next level, counted in u32 from the start of the section (pointers are
    relative to their own trie, so a body does not move when the metadata
    changes length, and no pointer can leave its trie). Two node kinds:

    - array node (IPv6 levels /16-/24, /24-/32 and /32-/38): one entry per
      slot, ``2**stride`` of them, slot ``i`` at ``e + i``; ``i`` is the
      address's next byte (or, for /32-/38, that byte's top 6 bits).
    - bitmap node: the block is split into ``2**STRIDE`` = 64 equal slots,
      consecutive slots with the same leaf forming one run. The node's
      64-bit bitmap is the u32 pair at ``e - 1, e`` (``e`` is odd, the
      bitmap is ``Q[e >> 1]``); bit ``j`` is set when slot ``j`` ends a run
      (bit 63 always is). The run entries follow, LAST run first, so slot
      ``i``'s entry is ``I[e + popcount(bitmap >> i)]``.

    Children are written before their parent: every pointer is smaller than
    the node holding it, which makes cycles impossible; and every level
    consumes its stride, so a walk ends within ``len(LEVELS[family])`` steps
    even in a corrupt file.

``records``
    ``RECORD`` (14 bytes) per record: the place's offset in the places
    section (u32) and length (u16), latitude and longitude as i32 in units of
    1e-7 degree (``NO_COORDINATE`` when absent).

``places``
    UTF-8 text, one place after another: country_code, region, district,
    city, postcode and timezone joined by ``PLACE_SEPARATOR`` (U+001F, which
    the compiler refuses in data); an empty field is absent. Places are
    deduplicated: many records share one and differ only in coordinates.

Network (AS number) databases use the same layout. Their metadata says
``"kind": "asn"`` (a location database says ``"location"``, or nothing);
each record's place text is the AS number in decimal and the organization
(``ASN_FIELDS``), and its coordinates are ``NO_COORDINATE``. Why a file of
its own rather than one file with both: the AS ranges (412 K IPv4, 103 K
IPv6) and the city ranges (3.7 M, 4.4 M) have unrelated boundaries, so a
joint trie holds the intersection of both range sets and a record per
distinct (place, network) pair, multiplying records; two tries keep each
file the size of its own data, one walk per source, and let each be
updated on its own schedule.

Why this design
===============

Measured on the shared DB-IP city data (3.68 M IPv4 and 4.39 M IPv6 ranges,
567 K distinct records) with tools/bench_lookup.py and throwaway
prototypes, on a shared 2-core machine, so CPU time rather than wall time.
The lookup cost in CPython is roughly: parse (``inet_pton`` +
``int.from_bytes``, 0.26 us IPv4 / 0.41 us IPv6), about 0.2 us per trie
level, and 0.8 us to build a record that is not cached.

- A one-bit walk costs a loop iteration per address bit (about 25 for IPv4,
  45 for IPv6): maxminddb's pure-Python reader, which walks that way, takes
  25 us (IPv4) and 38 us (IPv6) per lookup.
- Fixed 16-4-4-4-4 strides with plain 32-bit slots expand every prefix into
  all the slots it covers (about 1.4x the MMDB, from the issue).
- Chosen: a direct root (IPv4 20 bits, IPv6 16), then 6-bit nodes
  compressed by a run bitmap (the leaf compression of Poptrie, Asai &
  Ohara, SIGCOMM 2015). A node stores one entry per run of equal slots
  instead of 64 slots, and a slot's entry is found with ``int.bit_count``
  (one C call). IPv4 needs at most 3 reads. Root sizes for IPv4: 14 bits
  gave 28.3 MB and 2.16 us, 20 bits 30.4 MB and 1.89 us, 26 bits 274 MB and
  1.77 us (trie walk + parse, loaded machine).
- 6 bits, not 8, for bitmap nodes: a 64-bit bitmap is one ``Q`` read; a
  256-bit one needs a slice and ``int.from_bytes`` (0.2 us, a whole level).
- IPv6 lookups of DB-IP data end at /40-/48, 4-5 bitmap levels below a
  20-bit root (format version 2): 1.35 us for the walk. Unrolling the loop
  or walking the top 64 bits as a smaller int measured within noise (1.30
  and 1.37 us). What helped: the top of the IPv6 trie has few nodes (70
  blocks of /16 and 8,927 of /24 hold a boundary), so /16-/24 and /24-/32
  are plain 256-entry array nodes indexed by the address's next byte, two
  cheap steps instead of two bitmap levels. Cost: +4.3 MB (89.6 MB in all);
  gain: IPv6 lookups with cached records 1.85 -> 1.59 us. Version 4 makes
  /32-/38 a 64-entry array too (35 K nodes, +7.2 MB, 96.7 MB in all): the
  IPv6 walk in the same process went from 2.09 to 1.69 us. The next level
  down (/38-/44, 220 K nodes) would cost 56 MB as arrays. Plain 8-bit
  arrays all the way down would need 688 K nodes (705 MB), and for IPv4 the
  /20 level alone has 409 K non-uniform blocks, so IPv4 keeps bitmaps.
- Records: decoding one, which random addresses make the common case (a
  worker caches 16 K of 567 K records), costs three C calls:
  ``unpack_from`` of a 14-byte record, one ``decode`` and one ``split`` of
  the shared place text. A lookup does not decode: it returns a lazy
  Location holding the record number, decoded when a field is first read
  (the reader's ``Location``); that took IPv4 lookups from 2.0 to 1.16 us. Measured alternatives: places as six u32 string
  numbers with a string cache (about 2.2 us per miss against 0.8 us), and
  each record as one length-prefixed text with coordinates as decimals
  (26.6 MB against 14 MB, and not faster: 1.55 against 1.34 us per miss).
- Coordinates are fixed-point so ``x / 1e7`` gives back exactly the decimal
  the source wrote (for up to 7 decimals), in 4 bytes instead of 8.
"""
import hashlib
import json
import struct
import zlib
from dataclasses import dataclass

from visitorapi.errors import OperatorError

MAGIC = b"\x89VIPDB\r\n"
VERSION = 4

WIDTH = {4: 32, 6: 128}
ROOT_BITS = {4: 20, 6: 16}
STRIDE = 6  # bitmap nodes
FANOUT = 1 << STRIDE
ARRAY_STRIDE = 8  # array nodes
ARRAY = "array"
BITMAP = "bitmap"
# The node kind and stride of each level below the root, per family.
LEVELS = {
    4: ((BITMAP, STRIDE),) * 2,
    6: ((ARRAY, ARRAY_STRIDE),) * 2 + ((ARRAY, STRIDE),) + ((BITMAP, STRIDE),) * 15,
}
assert all(ROOT_BITS[v] + sum(stride for _, stride in LEVELS[v]) == WIDTH[v] for v in WIDTH)
LEAF = 0x80000000
MAPPED_REF = 0x7FFFFFFF
MAX_REF = MAPPED_REF - 1
# ::ffff:0:0/96, RFC 4291 section 2.5.5.2: IPv4-mapped IPv6 addresses.
MAPPED_FIRST = 0xFFFF << 32
MAPPED_LAST = MAPPED_FIRST | 0xFFFFFFFF

HEADER = struct.Struct("<8sHHIQII32sIIQ64s16x")
SECTION = struct.Struct("<QQ")
SECTIONS = ("ipv4", "ipv6", "records", "places")
RECORD = struct.Struct("<IHii")
PLACE_SEPARATOR = "\x1f"
MAX_PLACE_BYTES = 0xFFFF
COORDINATE_SCALE = 10_000_000
NO_COORDINATE = -(1 << 31)
PLACE_FIELDS = ("country_code", "region", "district", "city", "postcode", "timezone")
# What a database answers (metadata "kind"; absent means "location"): its
# records' place text holds PLACE_FIELDS, or for "asn" ASN_FIELDS (the AS
# number in decimal, then the organization) with no coordinates.
LOCATION_KIND = "location"
ASN_KIND = "asn"
ASN_FIELDS = ("asn", "as_organization")
TEXT_FIELDS = {LOCATION_KIND: PLACE_FIELDS, ASN_KIND: ASN_FIELDS}
MAX_ASN = 0xFFFFFFFF   # RFC 6793: AS numbers are 32 bits
MAX_HEADER = 1 << 20

_CRC_AT = 12
_CRC_END = 16


class InvalidDatabaseError(OperatorError):
    """The file is not a visitorapi database, or it is truncated or corrupt.

    Not a ``ValueError`` on purpose: a lookup raises ``ValueError`` for a
    malformed address (the caller's input), and a damaged file must never be
    mistaken for that. It is the operator's problem, never the visitor's.
    """


def align(n: int) -> int:
    """Round ``n`` up to a multiple of 8 (every section starts aligned)."""
    return (n + 7) & ~7


@dataclass(frozen=True)
class Header:
    """The parsed fixed header: the section table and counts.

    Derived offsets are properties, so no layout arithmetic is repeated in
    the reader or the compiler.
    """

    file_size: int
    header_size: int
    metadata_size: int
    body_sha256: bytes
    record_count: int
    place_count: int
    sections: dict  # name -> (offset, length) in bytes

    def section(self, name: str) -> tuple:
        """Return ``(offset, length)`` of a body section, in bytes."""
        return self.sections[name]



def pack_header(*, file_size, header_size, metadata, body_sha256, record_count,
                place_count, sections) -> bytes:
    """Return the header bytes (fixed part, metadata and padding), CRC filled in."""
    table = b"".join(SECTION.pack(*sections[name]) for name in SECTIONS)
    fixed = HEADER.pack(MAGIC, VERSION, 0, 0, file_size, header_size, len(metadata),
                        body_sha256, record_count, place_count, 0, table)
    raw = bytearray(fixed + metadata)
    raw.extend(bytes(header_size - len(raw)))
    struct.pack_into("<I", raw, _CRC_AT, _header_crc(raw, header_size))
    return bytes(raw)


def _header_crc(buffer, header_size: int) -> int:
    return zlib.crc32(buffer[_CRC_END:header_size], zlib.crc32(buffer[:_CRC_AT]))


def read_header(buffer, name: str) -> Header:
    """Parse and check the header of a mapped file, in constant time.

    Checks the magic, the version, the header CRC, the file size and that
    every section lies inside the body, aligned and in order, with the
    length its counts imply. Nothing in the body is read.

    Args:
        buffer: the whole file (an ``mmap`` or bytes).
        name: the file's name, for error messages.

    Raises:
        InvalidDatabaseError: naming the file and what is wrong with it.
    """
    def bad(problem):
        return InvalidDatabaseError(f"{name}: {problem}")

    size = len(buffer)
    if size < HEADER.size or buffer[:len(MAGIC)] != MAGIC:
        raise bad("not a visitorapi IP database (bad magic number)")
    (_, version, _, crc, file_size, header_size, metadata_size, body_sha256,
     record_count, place_count, _, table) = HEADER.unpack_from(buffer, 0)
    if version != VERSION:
        raise bad(f"format version {version} is not supported (this reader reads "
                  f"version {VERSION}); recompile it with this visitorapi")
    if file_size != size:
        raise bad(f"file is {size} bytes but its header says {file_size}: "
                  "truncated or damaged (recompile or copy it again)")
    if not (HEADER.size <= header_size <= min(size, MAX_HEADER)) or header_size % 8 \
            or HEADER.size + metadata_size > header_size:
        raise bad("header size is out of bounds: the file is damaged")
    if _header_crc(buffer, header_size) != crc:
        raise bad("header checksum mismatch: the file is damaged")
    sections = {}
    position = header_size
    expected = {"records": RECORD.size * record_count}
    for index, section in enumerate(SECTIONS):
        offset, length = SECTION.unpack_from(table, index * SECTION.size)
        if offset != position or offset + length > size:
            raise bad(f"section {section} is out of bounds: the file is damaged")
        if section in expected and length != expected[section]:
            raise bad(f"section {section} has the wrong length: the file is damaged")
        sections[section] = (offset, length)
        position = align(offset + length)
    if position != size:
        raise bad("sections do not end at the end of the file: the file is damaged")
    for version_ in (4, 6):
        if sections[f"ipv{version_}"][1] < 4 << ROOT_BITS[version_]:
            raise bad(f"the IPv{version_} trie is shorter than its root table")
    if record_count < 1:
        raise bad("the record table is empty: the file is damaged")
    return Header(file_size, header_size, metadata_size, bytes(body_sha256), record_count,
                  place_count, sections)


def read_metadata(buffer, header: Header, name: str) -> dict:
    """Decode the metadata JSON object (covered by the header CRC)."""
    raw = bytes(buffer[HEADER.size:HEADER.size + header.metadata_size])
    try:
        metadata = json.loads(raw.decode("utf-8"))
    except ValueError as exc:
        raise InvalidDatabaseError(f"{name}: metadata is not valid JSON: {exc}") from None
    if not isinstance(metadata, dict):
        raise InvalidDatabaseError(f"{name}: metadata is not a JSON object")
    return metadata


def body_sha256(buffer, header_size: int) -> bytes:
    """SHA-256 of the body, the bytes after the header."""
    digest = hashlib.sha256()
    view = memoryview(buffer)
    try:
        for start in range(header_size, len(view), 1 << 24):
            digest.update(view[start:start + (1 << 24)])
    finally:
        view.release()
    return digest.digest()


def encode_coordinate(value) -> int:
    """Degrees as float (or None) -> fixed-point i32 in 1e-7 degree units."""
    if value is None:
        return NO_COORDINATE
    return round(value * COORDINATE_SCALE)


def decode_coordinate(value: int):
    """Fixed-point i32 -> degrees as float, or None when absent."""
    # NOTE: an exact integer divided by 1e7 rounds to the double nearest the
    # decimal the source wrote (for up to 7 decimals): 374220000 -> 37.422.
    return None if value == NO_COORDINATE else value / COORDINATE_SCALE
