"""The dashboard's QR encoder, checked by a real decoder (zbarimg) reading its SVG."""
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given, strategies as st

from visitorapi.dashboard import qr

SVG = "{http://www.w3.org/2000/svg}"

# ISO/IEC 18004 Table 7: byte-mode capacity at level M.
KNOWN_CAPACITY = dict(enumerate([
    14, 26, 42, 62, 84, 106, 122, 152, 180, 213, 251, 287, 331, 362, 412, 450, 504, 560, 624, 666,
    711, 779, 857, 911, 997, 1059, 1125, 1190, 1264, 1370, 1452, 1538, 1628, 1722, 1809, 1911,
    1989, 2099, 2213, 2331], start=1))


@pytest.mark.parametrize("version, capacity", [
    pytest.param(v, c, id=f"v{v}") for v, c in KNOWN_CAPACITY.items()])
def test_capacity_matches_the_standard(version, capacity):
    assert qr.choose_version(capacity) == version
    if version < 40:
        assert qr.choose_version(capacity + 1) == version + 1


def test_too_long_is_refused_with_the_limit():
    with pytest.raises(qr.QRCapacityError, match="2331"):
        qr.encode(b"x" * 2332)


@pytest.mark.parametrize("version, expected", [
    pytest.param(1, [], id="v1"), pytest.param(2, [6, 18], id="v2"),
    pytest.param(7, [6, 22, 38], id="v7"), pytest.param(14, [6, 26, 46, 66], id="v14"),
    pytest.param(32, [6, 34, 60, 86, 112, 138], id="v32"),
    pytest.param(40, [6, 30, 58, 86, 114, 142, 170], id="v40"),
])
def test_alignment_positions_match_annex_e(version, expected):
    assert qr.alignment_positions(version) == expected


def test_every_version_has_whole_blocks():
    for version in range(1, 41):
        total = qr.raw_data_modules(version) // 8
        blocks = qr.EC_BLOCKS[version]
        short_data = total // blocks - qr.EC_CODEWORDS_PER_BLOCK[version]
        assert short_data > qr.EC_CODEWORDS_PER_BLOCK[version] // 2  # M: EC about 15% + margin


def rasterize(svg: str, scale: int = 4) -> bytes:
    """The SVG's dark runs painted into a binary PGM (the only shapes to_svg emits)."""
    root = ET.fromstring(svg)
    width = int(root.get("viewBox").split()[2])
    assert root.find(SVG + "rect").get("fill") == "#fff"
    pixels = bytearray(b"\xff" * (width * scale) ** 2)
    path = root.find(SVG + "path")
    assert path.get("fill") == "#000"
    runs = re.findall(r"M(\d+),(\d+)h(\d+)v1h-(\d+)z", path.get("d"))
    assert "".join(f"M{x},{y}h{n}v1h-{m}z" for x, y, n, m in runs) == path.get("d")
    for x, y, n, _ in runs:
        x, y, n = int(x), int(y), int(n)
        for row in range(y * scale, (y + 1) * scale):
            start = row * width * scale
            pixels[start + x * scale:start + (x + n) * scale] = b"\x00" * (n * scale)
    return b"P5 %d %d 255\n" % (width * scale, width * scale) + bytes(pixels)


@pytest.fixture(scope="module")
def zbarimg():
    path = shutil.which("zbarimg")
    if path is None:
        pytest.skip("zbarimg is not installed (apt-get install zbar-tools)")
    return path


def decode(zbarimg, tmp_path, svg: str) -> str:
    image = tmp_path / "code.pgm"
    image.write_bytes(rasterize(svg))
    result = subprocess.run([zbarimg, "--quiet", "--raw", "-Sbinary", str(image)],
                            capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.decode("utf-8").removesuffix("\n")


OTPAUTH = ("otpauth://totp/visitorapi:operations.team%2Bdash@example.com?"
           "secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=visitorapi&algorithm=SHA1&digits=6&period=30")


@pytest.mark.parametrize("text, version", [
    pytest.param("A", 1, id="v1-one-byte"),
    pytest.param("https://example.com/", 2, id="v2"),
    pytest.param(OTPAUTH, 8, id="v8-otpauth-uri"),
    pytest.param("x" * 122, 7, id="v7-full-version-info"),
    pytest.param("Grüße, 東京! " * 12, 10, id="v10-utf8-16-bit-count"),
    pytest.param("".join(chr(33 + i % 90) for i in range(1125)), 27, id="v27-many-blocks"),
    pytest.param("".join(chr(48 + i % 75) for i in range(2331)), 40, id="v40-largest"),
])
def test_zbarimg_decodes_the_svg(zbarimg, tmp_path, text, version):
    modules = qr.encode(text.encode("utf-8"))
    assert len(modules) == qr.size_of(version)
    assert decode(zbarimg, tmp_path, qr.to_svg(modules)) == text


def test_svg_has_no_inline_style_and_escapes_its_label():
    svg = qr.qr_svg("hello", label='<script>"x"</script>')
    assert "style" not in svg and "<script>" not in svg
    assert "&lt;script&gt;" in svg
    ET.fromstring(svg)  # well-formed


@given(st.binary(min_size=1, max_size=60), st.sampled_from(sorted(set(qr.EC_CODEWORDS_PER_BLOCK[1:]))))
def test_reed_solomon_codewords_are_multiples_of_the_generator(data, ec_length):
    """A Reed-Solomon codeword (data followed by its EC bytes) leaves no remainder."""
    divisor = qr._rs_divisor(ec_length)
    ec = qr._rs_remainder(data, divisor)
    assert len(ec) == ec_length
    assert qr._rs_remainder(data + ec, divisor) == bytes(ec_length)


@given(st.integers(min_value=1, max_value=255), st.integers(min_value=1, max_value=255))
def test_gf256_multiplication_matches_carryless_oracle(x, y):
    product = 0
    for bit in range(8):  # naive: carry-less product, then reduce by 0x11D
        if (y >> bit) & 1:
            product ^= x << bit
    for bit in range(15, 7, -1):
        if (product >> bit) & 1:
            product ^= 0x11D << (bit - 8)
    assert qr._gf_multiply(x, y) == product
