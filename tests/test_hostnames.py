"""UTS #46 host-name conversion: known vectors, refusals, and properties."""
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from visitorapi.hostnames import HostError, to_ascii
from visitorapi.publicsuffix import is_public_suffix, public_suffix_within

P = pytest.param


@pytest.mark.parametrize("name, expected", [
    # Vectors whose UTS #46 nontransitional answer is well known (browsers agree).
    P("faß.de", "xn--fa-hia.de", id="sharp-s-deviation"),
    P("βόλος.com", "xn--nxasmm1c.com", id="final-sigma-deviation"),
    P("ΒΌΛΟΣ.com", "xn--nxasmq6b.com", id="capital-sigma"),
    P("münchen.de", "xn--mnchen-3ya.de", id="umlaut"),
    P("MÜNCHEN.DE", "xn--mnchen-3ya.de", id="umlaut-upper"),
    P("mu\u0308nchen.de", "xn--mnchen-3ya.de", id="decomposed-nfc"),
    P("日本語.jp", "xn--wgv71a119e.jp", id="cjk"),
    P("ｗｗｗ．ｅｘａｍｐｌｅ．ｃｏｍ", "www.example.com", id="fullwidth"),
    P("правительство.рф", "xn--80aealotwbjpid2k.xn--p1ai", id="cyrillic"),
    P("ශ්\u200dරී.com", "xn--10cl1a0b660p.com", id="zwj-after-virama"),
    P("example.com", "example.com", id="ascii"),
])
def test_known_vectors(name, expected):
    assert to_ascii(name) == expected


def test_stdlib_idna2003_codec_differs_where_we_must_not():
    assert "faß.de".encode("idna") == b"fass.de"      # the mistake this module exists to avoid
    assert to_ascii("faß.de") != "fass.de"


UNICODE_LETTERS = st.characters(whitelist_categories=("Ll", "Lu", "Lo"), max_codepoint=0x2FFF)
LABELS = st.text(alphabet=st.one_of(UNICODE_LETTERS, st.sampled_from("abc019-")), min_size=1, max_size=12)


@given(st.lists(LABELS, min_size=1, max_size=3))
def test_result_is_stable_ascii_that_decodes_back(labels):
    try:
        result = to_ascii(".".join(labels))
    except HostError:
        return
    assert result.isascii() and result == result.lower()
    assert to_ascii(result) == result                                  # idempotent
    for label in result.split("."):
        assert 1 <= len(label) <= 63
        if label.startswith("xn--"):
            decoded = label[4:].encode().decode("punycode")
            assert unicodedata.normalize("NFC", decoded) == decoded
            assert to_ascii(decoded) == label                         # U-label round trip


@given(st.text(max_size=30))
def test_only_host_error_escapes(text):
    try:
        to_ascii(text)
    except HostError:
        pass


@pytest.mark.parametrize("name, suffix, within", [
    P("com", True, "com", id="tld"),
    P("co.uk", True, "co.uk", id="icann"),
    P("github.io", True, "github.io", id="private"),
    P("example.com", False, None, id="registrable"),
    P("foo.kawasaki.jp", True, "foo.kawasaki.jp", id="wildcard-rule"),
    P("city.kawasaki.jp", False, None, id="exception-rule"),
    P("kawasaki.jp", False, "*.kawasaki.jp", id="parent-of-wildcard"),
    P("amazonaws.com", False, "s3.amazonaws.com", id="parent-of-suffix"),
    P("xn--55qx5d.cn", True, "xn--55qx5d.cn", id="idn-entry-as-a-labels"),
    P("localhost", True, "localhost", id="single-label-default-rule"),
])
def test_public_suffix_answers(name, suffix, within):
    assert is_public_suffix(name) is suffix
    assert public_suffix_within(name) == within
