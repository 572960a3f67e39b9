"""A QR code encoder (ISO/IEC 18004) in the standard library, rendered as SVG.

Enough of the standard for the dashboard's MFA enrollment: byte mode, error
correction level M, versions 1 to 40 (the smallest that fits is chosen), all
eight masks scored with the standard's penalty rules, format information and
version information with their BCH codes. An ``otpauth://`` URI of ~150
bytes needs version 7 or 8.

The layout follows the standard's section numbers; the Reed-Solomon and
placement steps are shaped after Project Nayuki's reference encoder (MIT).
Correctness is checked by decoding the output with a real decoder
(``zbarimg``) in ``tests/test_dashboard_qr.py``.
"""
from visitorapi.dashboard.markup import Html, escape

# ISO/IEC 18004 Table 9, level M: error-correction codewords per block and
# number of blocks, indexed by version (index 0 unused).
EC_CODEWORDS_PER_BLOCK = (
    None, 10, 16, 26, 18, 24, 16, 18, 22, 22, 26, 30, 22, 22, 24, 24, 28, 28, 26, 26, 26,
    26, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28)
EC_BLOCKS = (
    None, 1, 1, 1, 2, 2, 4, 4, 4, 5, 5, 5, 8, 9, 9, 10, 10, 11, 13, 14, 16,
    17, 17, 18, 20, 21, 23, 25, 26, 28, 29, 31, 33, 35, 37, 38, 40, 43, 45, 47, 49)
FORMAT_EC_LEVEL_M = 0b00  # section 7.9.1, Table 25
MODE_BYTE = 0b0100  # section 7.4.1, Table 2
QUIET_ZONE = 4  # modules of light margin, section 6.3.8


class QRCapacityError(ValueError):
    """The data does not fit in a version 40 symbol at level M."""


def size_of(version: int) -> int:
    """Modules per side: 17 + 4 * version (section 6.3.1)."""
    return 17 + 4 * version


def raw_data_modules(version: int) -> int:
    """Modules left for data and EC after the function patterns (Table 1's 'data modules')."""
    result = (16 * version + 128) * version + 64
    if version >= 2:
        count = version // 7 + 2
        result -= (25 * count - 10) * count - 55
        if version >= 7:
            result -= 36  # two 6x3 version information blocks
    return result


def data_codewords(version: int) -> int:
    """Data codewords a level-M symbol of ``version`` carries."""
    return raw_data_modules(version) // 8 - EC_CODEWORDS_PER_BLOCK[version] * EC_BLOCKS[version]


def alignment_positions(version: int) -> list:
    """Row/column centres of the alignment patterns (Annex E, Table E.1)."""
    if version == 1:
        return []
    count = version // 7 + 2
    step = (version * 8 + count * 3 + 5) // (count * 4 - 4) * 2
    last = size_of(version) - 7
    return [6] + [last - i * step for i in reversed(range(count - 1))]


def choose_version(length: int) -> int:
    """The smallest version whose level-M capacity holds ``length`` bytes in byte mode."""
    for version in range(1, 41):
        count_bits = 8 if version <= 9 else 16  # Table 3
        if 4 + count_bits + 8 * length <= data_codewords(version) * 8:
            return version
    raise QRCapacityError(f"{length} bytes do not fit in a QR code (level M holds at most "
                          f"{data_codewords(40) - 3} bytes)")


def encode(data: bytes) -> list:
    """Encode ``data`` in byte mode, level M; return the module matrix (rows of bools, True = dark)."""
    version = choose_version(len(data))
    codewords = _interleave(version, _data_codewords(version, data))
    symbol = _Symbol(version)
    symbol.draw_function_patterns()
    symbol.draw_codewords(codewords)
    best = min(range(8), key=lambda mask: symbol.masked(mask).penalty())
    return symbol.masked(best).modules


def to_svg(modules: list, scale: int = 4, label: str = "QR code") -> Html:
    """Render a module matrix as a standalone SVG with a light quiet zone.

    Dark modules are merged into one path of horizontal runs; colours are
    presentation attributes, not inline styles, so a strict CSP allows them.
    """
    size = len(modules)
    full = size + 2 * QUIET_ZONE
    runs = []
    for y, row in enumerate(modules):
        x = 0
        while x < size:
            if row[x]:
                start = x
                while x < size and row[x]:
                    x += 1
                runs.append(f"M{start + QUIET_ZONE},{y + QUIET_ZONE}h{x - start}v1h-{x - start}z")
            else:
                x += 1
    title = escape(label)
    return Html(
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {full} {full}" '
        f'width="{full * scale}" height="{full * scale}" shape-rendering="crispEdges" '
        f'role="img" aria-label="{title}">'
        f'<title>{title}</title>'
        f'<rect width="{full}" height="{full}" fill="#fff"/>'
        f'<path d="{"".join(runs)}" fill="#000"/></svg>')


def qr_svg(text: str, scale: int = 4, label: str = "QR code") -> Html:
    """Encode ``text`` (UTF-8) and render it as SVG."""
    return to_svg(encode(text.encode("utf-8")), scale, label)


# --- codewords -------------------------------------------------------------

def _data_codewords(version: int, data: bytes) -> bytes:
    """Section 7.4: mode indicator, character count, data, terminator, pad bytes."""
    capacity = data_codewords(version) * 8
    bits = []

    def put(value, length):
        bits.extend((value >> i) & 1 for i in reversed(range(length)))

    put(MODE_BYTE, 4)
    put(len(data), 8 if version <= 9 else 16)
    for byte in data:
        put(byte, 8)
    put(0, min(4, capacity - len(bits)))  # terminator (7.4.9)
    put(0, -len(bits) % 8)
    out = bytearray(int("".join(map(str, bits[i:i + 8])), 2) for i in range(0, len(bits), 8))
    pad = (0xEC, 0x11)
    while len(out) < capacity // 8:
        out.append(pad[(len(out) - len(bits) // 8) % 2])
    return bytes(out)


def _interleave(version: int, data: bytes) -> bytes:
    """Section 7.5-7.6: split into blocks, add Reed-Solomon EC, interleave."""
    blocks_count = EC_BLOCKS[version]
    ec_len = EC_CODEWORDS_PER_BLOCK[version]
    total = raw_data_modules(version) // 8
    short_blocks = blocks_count - total % blocks_count
    short_len = total // blocks_count - ec_len  # data codewords in a short block
    divisor = _rs_divisor(ec_len)
    blocks, position = [], 0
    for index in range(blocks_count):
        length = short_len + (0 if index < short_blocks else 1)
        chunk = data[position:position + length]
        position += length
        blocks.append((chunk, _rs_remainder(chunk, divisor)))
    out = bytearray()
    for i in range(short_len + 1):
        for chunk, _ in blocks:
            if i < len(chunk):
                out.append(chunk[i])
    for i in range(ec_len):
        for _, ec in blocks:
            out.append(ec[i])
    return bytes(out)


def _gf_multiply(x: int, y: int) -> int:
    """Multiply in GF(2^8) modulo x^8 + x^4 + x^3 + x^2 + 1 (0x11D, section 7.5.2)."""
    product = 0
    for i in reversed(range(8)):
        product = (product << 1) ^ ((product >> 7) * 0x11D)
        product ^= ((y >> i) & 1) * x
    return product


def _rs_divisor(degree: int) -> list:
    """Generator polynomial prod(x - a^i), i < degree, without its leading 1 term."""
    result = [0] * (degree - 1) + [1]
    root = 1
    for _ in range(degree):
        for j in range(degree):
            result[j] = _gf_multiply(result[j], root)
            if j + 1 < degree:
                result[j] ^= result[j + 1]
        root = _gf_multiply(root, 0x02)
    return result


def _rs_remainder(data: bytes, divisor: list) -> bytes:
    result = [0] * len(divisor)
    for byte in data:
        factor = byte ^ result.pop(0)
        result.append(0)
        for i, coefficient in enumerate(divisor):
            result[i] ^= _gf_multiply(coefficient, factor)
    return bytes(result)


# --- the symbol ------------------------------------------------------------

_MASKS = (
    lambda x, y: (x + y) % 2 == 0,
    lambda x, y: y % 2 == 0,
    lambda x, y: x % 3 == 0,
    lambda x, y: (x + y) % 3 == 0,
    lambda x, y: (x // 3 + y // 2) % 2 == 0,
    lambda x, y: x * y % 2 + x * y % 3 == 0,
    lambda x, y: (x * y % 2 + x * y % 3) % 2 == 0,
    lambda x, y: ((x + y) % 2 + x * y % 3) % 2 == 0,
)  # section 7.8.2, Table 10 (x = column j, y = row i)


class _Symbol:
    """A module matrix with a parallel map of which modules are function patterns."""

    def __init__(self, version: int):
        self.version = version
        self.size = size_of(version)
        self.modules = [[False] * self.size for _ in range(self.size)]
        self.function = [[False] * self.size for _ in range(self.size)]

    def set_function(self, x: int, y: int, dark: bool) -> None:
        self.modules[y][x] = dark
        self.function[y][x] = True

    def draw_function_patterns(self) -> None:
        size = self.size
        for i in range(size):  # timing patterns (6.3.5)
            self.set_function(6, i, i % 2 == 0)
            self.set_function(i, 6, i % 2 == 0)
        for cx, cy in ((3, 3), (size - 4, 3), (3, size - 4)):  # finders + separators (6.3.3)
            for dy in range(-4, 5):
                for dx in range(-4, 5):
                    x, y = cx + dx, cy + dy
                    if 0 <= x < size and 0 <= y < size:
                        self.set_function(x, y, max(abs(dx), abs(dy)) not in (2, 4))
        positions = alignment_positions(self.version)
        last = len(positions) - 1
        for i, cx in enumerate(positions):  # alignment patterns (6.3.6)
            for j, cy in enumerate(positions):
                if (i, j) in ((0, 0), (0, last), (last, 0)):
                    continue  # these would overlap a finder
                for dy in range(-2, 3):
                    for dx in range(-2, 3):
                        self.set_function(cx + dx, cy + dy, max(abs(dx), abs(dy)) != 1)
        self.draw_format(0)  # reserve the areas; real bits once the mask is known
        self.draw_version()

    def draw_format(self, mask: int) -> None:
        """Format information: 5 bits, BCH(15,5), XOR 0x5412, two copies (7.9)."""
        data = FORMAT_EC_LEVEL_M << 3 | mask
        remainder = data
        for _ in range(10):
            remainder = (remainder << 1) ^ ((remainder >> 9) * 0x537)
        bits = (data << 10 | remainder) ^ 0x5412
        bit = lambda i: (bits >> i) & 1 == 1  # noqa: E731
        size = self.size
        for i in range(6):
            self.set_function(8, i, bit(i))
        self.set_function(8, 7, bit(6))
        self.set_function(8, 8, bit(7))
        self.set_function(7, 8, bit(8))
        for i in range(9, 15):
            self.set_function(14 - i, 8, bit(i))
        for i in range(8):
            self.set_function(size - 1 - i, 8, bit(i))
        for i in range(8, 15):
            self.set_function(8, size - 15 + i, bit(i))
        self.set_function(8, size - 8, True)  # the dark module (6.3.4 / 7.9.1)

    def draw_version(self) -> None:
        """Version information for versions 7+: 6 bits, BCH(18,6), two 6x3 blocks (7.10)."""
        if self.version < 7:
            return
        remainder = self.version
        for _ in range(12):
            remainder = (remainder << 1) ^ ((remainder >> 11) * 0x1F25)
        bits = self.version << 12 | remainder
        for i in range(18):
            dark = (bits >> i) & 1 == 1
            a, b = self.size - 11 + i % 3, i // 3
            self.set_function(a, b, dark)
            self.set_function(b, a, dark)

    def draw_codewords(self, codewords: bytes) -> None:
        """Place bits in two-module columns, zigzagging up and down from the bottom right (7.7.3)."""
        total_bits = len(codewords) * 8
        index = 0
        right = self.size - 1
        while right >= 1:
            if right == 6:
                right = 5  # skip the vertical timing pattern
            upward = (right + 1) & 2 == 0
            for vertical in range(self.size):
                y = self.size - 1 - vertical if upward else vertical
                for x in (right, right - 1):
                    if not self.function[y][x] and index < total_bits:
                        self.modules[y][x] = (codewords[index >> 3] >> (7 - (index & 7))) & 1 == 1
                        index += 1
            right -= 2

    def masked(self, mask: int) -> "_Symbol":
        """A copy with ``mask`` applied to the data modules and its format information drawn."""
        copy = _Symbol.__new__(_Symbol)
        copy.version, copy.size, copy.function = self.version, self.size, self.function
        rule = _MASKS[mask]
        copy.modules = [[dark ^ (not self.function[y][x] and rule(x, y)) for x, dark in enumerate(row)]
                        for y, row in enumerate(self.modules)]
        copy.draw_format(mask)
        return copy

    def penalty(self) -> int:
        """The section 7.8.3 penalty score: runs, 2x2 blocks, finder look-alikes, balance."""
        rows = self.modules
        columns = [list(column) for column in zip(*rows)]
        score = 0
        for line in rows + columns:
            score += _run_penalty(line) + _finder_penalty(line)
        for y in range(self.size - 1):
            top, bottom = rows[y], rows[y + 1]
            for x in range(self.size - 1):
                if top[x] == top[x + 1] == bottom[x] == bottom[x + 1]:
                    score += 3
        dark = sum(map(sum, rows))
        total = self.size * self.size
        score += (abs(dark * 20 - total * 10) + total - 1) // total * 10 - 10
        return score


def _run_penalty(line: list) -> int:
    """N1: 3 + (length - 5) for each run of five or more same-coloured modules."""
    score, run, previous = 0, 0, None
    for dark in line + [None]:
        if dark == previous:
            run += 1
            continue
        if run >= 5:
            score += 3 + run - 5
        run, previous = 1, dark
    return score


_FINDER_LIKE = ((True, False, True, True, True, False, True, False, False, False, False),
                (False, False, False, False, True, False, True, True, True, False, True))


def _finder_penalty(line: list) -> int:
    """N3: 40 for each 1:1:3:1:1 dark pattern with four light modules on one side."""
    padded = [False] * 4 + line + [False] * 4  # the quiet zone is light
    score = 0
    for start in range(len(padded) - 10):
        window = tuple(padded[start:start + 11])
        if window in _FINDER_LIKE:
            score += 40
    return score
