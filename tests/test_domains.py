"""Domain patterns and origins: parsing, refusals, and matching (incl. bypass attempts)."""
import string
from urllib.parse import urlsplit

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from visitorapi.domains import (DomainPattern, Origin, PatternError, is_allowed, parse_origin,
                                parse_pattern, referer_origin, stored_pattern)

P = pytest.param


# --- patterns accepted, with their canonical stored form ------------------------------------

@pytest.mark.parametrize("text, canonical", [
    P("example.com", "example.com", id="bare-host"),
    P("EXAMPLE.Com", "example.com", id="case-folded"),
    P("https://example.com", "https://example.com", id="https"),
    P("HTTP://Example.com", "http://example.com", id="scheme-case"),
    P("https://example.com:443", "https://example.com", id="default-port-dropped"),
    P("http://example.com:443", "http://example.com:443", id="other-scheme-port-kept"),
    P("example.com:8443", "example.com:8443", id="port"),
    P("example.com:08443", "example.com:8443", id="port-leading-zero"),
    P("*.example.com", "*.example.com", id="wildcard"),
    P("https://*.example.com:8443", "https://*.example.com:8443", id="wildcard-scheme-port"),
    P("*.city.kawasaki.jp", "*.city.kawasaki.jp", id="psl-exception-is-registrable"),
    P("*.mybucket.s3.amazonaws.com", "*.mybucket.s3.amazonaws.com", id="below-private-suffix"),
    P("localhost", "localhost", id="localhost"),
    P("http://localhost:8000", "http://localhost:8000", id="localhost-port"),
    P("127.0.0.1", "127.0.0.1", id="ipv4"),
    P("http://127.0.0.1:8000", "http://127.0.0.1:8000", id="ipv4-port"),
    P("[::1]", "[::1]", id="ipv6"),
    P("[0:0:0:0:0:0:0:1]:8080", "[::1]:8080", id="ipv6-canonical"),
    P("[2001:DB8::A]", "[2001:db8::a]", id="ipv6-lowercase"),
    P("faß.de", "xn--fa-hia.de", id="idn-sharp-s-is-not-fass"),
    P("FASS.de", "fass.de", id="fass-stays-fass"),
    P("Bücher.example", "xn--bcher-kva.example", id="idn-umlaut"),
    P("xn--bcher-kva.example", "xn--bcher-kva.example", id="a-label-typed"),
    P("XN--BCHER-KVA.example", "xn--bcher-kva.example", id="a-label-uppercase"),
    P("ｅｘａｍｐｌｅ．ｃｏｍ", "example.com", id="fullwidth-mapped"),
    P("example。com", "example.com", id="ideographic-full-stop"),
    P("ΒΌΛΟΣ.com", "xn--nxasmq6b.com", id="greek-capital-sigma-folds"),
    P("βόλος.com", "xn--nxasmm1c.com", id="greek-final-sigma-deviation-kept"),
    P("例え.テスト", "xn--r8jz45g.xn--zckzah", id="japanese"),
    P("مثال.إختبار", "xn--mgbh0fb.xn--kgbechtv", id="arabic-rtl"),
    P("xn--n3h.net", "xn--n3h.net", id="symbol-via-a-label"),
    P("a" * 63 + ".com", "a" * 63 + ".com", id="label-63"),
    P(".".join(["a" * 63] * 3 + ["b" * 61]), ".".join(["a" * 63] * 3 + ["b" * 61]), id="name-253"),
])
def test_pattern_canonical_form(text, canonical):
    pattern = parse_pattern(text)
    assert pattern.text == canonical
    assert parse_pattern(pattern.text) == pattern


@pytest.mark.parametrize("text, message", [
    P("", "empty", id="empty"),
    P("*", "every website", id="star"),
    P("*.com", "top-level domain com", id="star-tld"),
    P("*.co.uk", "wildcard on the public suffix co.uk; authorize 'example.co.uk' or '*.example.co.uk'",
      id="star-public-suffix"),
    P("*.github.io", "public suffix github.io", id="star-private-suffix"),
    P("*.kawasaki.jp", "Public Suffix List entry", id="star-over-wildcard-rule"),
    P("*.amazonaws.com", "Public Suffix List entry", id="star-over-suffix-below"),
    P("*.localhost", "top-level", id="star-single-label"),
    P("**.example.com", "whole first label", id="double-star"),
    P("*example.com", "whole first label", id="star-glued"),
    P("foo.*.example.com", "whole first label", id="star-middle"),
    P("*.*.example.com", "whole first label", id="star-twice"),
    P("example.*", "whole first label", id="star-last"),
    P("*.127.0.0.1", "cannot have subdomains", id="star-ipv4"),
    P("*.[::1]", "cannot have subdomains", id="star-ipv6"),
    P("example.com/", "has a path", id="trailing-slash"),
    P("https://example.com/app", "write 'https://example.com'", id="path"),
    P("example.com?x=1", "has a path", id="query"),
    P("example.com#top", "has a path", id="fragment"),
    P("user@example.com", "userinfo", id="userinfo"),
    P("https://user:pw@example.com", "userinfo", id="userinfo-password"),
    P(" example.com", "whitespace", id="leading-space"),
    P("exa mple.com", "whitespace", id="inner-space"),
    P("example.com\n", "whitespace", id="newline"),
    P("example.com\u00a0", "whitespace", id="nbsp"),
    P("exa\\mple.com", "backslash", id="backslash"),
    P("example..com", "empty label", id="empty-label"),
    P(".example.com", "empty label", id="leading-dot"),
    P("example.com.", "ends with a dot", id="trailing-dot"),
    P("a" * 64 + ".com", "64 characters", id="label-64"),
    P(".".join(["a" * 63] * 4), "the limit is 253", id="name-255"),
    P("exa_mple.com", "'_' is not allowed", id="underscore"),
    P("exa%6dple.com", "'%' is not allowed", id="percent"),
    P("-example.com", "starts or ends with '-'", id="leading-hyphen"),
    P("ab--cd.com", "third and fourth", id="r-ldh"),
    P("xn--abc-.com", "xn--", id="bad-a-label"),
    P("xn--bcher-kva1.example", "punycode", id="a-label-garbage"),
    P("xn--ls8h.xn--a.com", "xn--", id="a-label-decodes-to-ascii"),
    P("ftp://example.com", "scheme 'ftp'", id="ftp"),
    P("javascript:alert(1)", "without '//'", id="javascript"),
    P("https:/example.com", "without '//'", id="one-slash"),
    P("example.com:0", "1 to 65535", id="port-0"),
    P("example.com:65536", "1 to 65535", id="port-big"),
    P("example.com:", "1 to 65535", id="port-empty"),
    P("example.com:８０", "1 to 65535", id="port-fullwidth-digits"),
    P("::1", "brackets", id="ipv6-unbracketed"),
    P("[::1", "closing", id="ipv6-unclosed"),
    P("[::g]", "not an IPv6", id="ipv6-bad"),
    P("[fe80::1%eth0]", "not an IPv6", id="ipv6-zone"),
    P("127.1", "IPv4", id="ipv4-short"),
    P("0x7f.0.0.1", "IPv4", id="ipv4-hex"),
    P("127.000.000.001", "write it as '127.0.0.1'", id="ipv4-zero-padded"),
    P("256.0.0.1", "IPv4", id="ipv4-overflow"),
    P("example.123", "IPv4", id="numeric-tld"),
    P("☃.net", "xn--", id="symbol-hint"),
    P("ẞ.de", "UTS #46", id="capital-sharp-s"),
    P("ex\u00adample.com", "invisible", id="soft-hyphen"),
    P("ex\u200bample.com", "invisible", id="zero-width-space"),
    P("exa\ufe0fmple.com", "invisible", id="variation-selector"),
    P("a\u200db.com", "xn--", id="zwj-without-virama"),
    P("\u0301a.com", "combining mark", id="leading-combining"),
    P("a\u2488.com", "stands for", id="maps-to-dot"),
    P("a\uff3fb.com", "stands for", id="fullwidth-underscore"),
    P("\u0661\u06f1.example", "mixes", id="arabic-digit-mix"),
    P("a\u0640b.example", "not allowed", id="tatweel"),
    P("\u05d0a.com", "Bidi", id="bidi-mixed"),
    P("\U000e0041.com", "invisible", id="tag-character"),
])
def test_pattern_refused_with_a_helpful_message(text, message):
    with pytest.raises(PatternError) as info:
        parse_pattern(text)
    assert message in str(info.value)


def test_stored_pattern_skips_only_the_public_suffix_check():
    assert stored_pattern("*.github.io").host == "*.github.io"
    with pytest.raises(PatternError):
        stored_pattern("example.com/path")


def test_pattern_fields():
    assert parse_pattern("https://*.Example.com:8443") == DomainPattern(
        scheme="https", host="*.example.com", port=8443, text="https://*.example.com:8443")
    assert parse_pattern("*.example.com").is_wildcard
    assert not parse_pattern("example.com").is_wildcard


# --- Origin and Referer parsing --------------------------------------------------------------

@pytest.mark.parametrize("value, expected", [
    P("https://example.com", ("https", "example.com", 443), id="https"),
    P("http://example.com", ("http", "example.com", 80), id="http"),
    P("https://example.com:8443", ("https", "example.com", 8443), id="port"),
    P("https://example.com:443", ("https", "example.com", 443), id="explicit-default"),
    P("HTTPS://EXAMPLE.COM", ("https", "example.com", 443), id="case"),
    P("http://127.0.0.1:8000", ("http", "127.0.0.1", 8000), id="ipv4"),
    P("http://[::1]:8000", ("http", "[::1]", 8000), id="ipv6"),
    P("http://[0:0::1]", ("http", "[::1]", 80), id="ipv6-noncanonical"),
    P("https://example.com.", ("https", "example.com.", 443), id="trailing-dot-kept"),
    P("https://xn--fa-hia.de", ("https", "xn--fa-hia.de", 443), id="a-label"),
    P("null", None, id="null"),
    P("", None, id="empty"),
    P(None, None, id="absent"),
    P("https://example.com/", None, id="trailing-slash"),
    P("https://example.com/path", None, id="path"),
    P("https://user@example.com", None, id="userinfo"),
    P("https://example.com https://evil.test", None, id="origin-list"),
    P(" https://example.com", None, id="leading-space"),
    P("https://example.com\r\n", None, id="crlf"),
    P("https:\\\\example.com", None, id="backslash"),
    P("ftp://example.com", None, id="ftp"),
    P("chrome-extension://abcdef", None, id="extension"),
    P("https://faß.de", None, id="unicode"),
    P("https://\u212aelvin.com", None, id="kelvin-sign"),
    P("https://example.com:", None, id="empty-port"),
    P("https://example.com:0", None, id="port-0"),
    P("https://example.com:65536", None, id="port-too-big"),
    P("https://example.com:0443", None, id="port-leading-zero"),
    P("https://example..com", None, id="empty-label"),
    P("https://.example.com", None, id="leading-dot"),
    P("https://-example.com", None, id="leading-hyphen"),
    P("https://exa_mple.com", None, id="underscore"),
    P("https://127.1", None, id="short-ipv4"),
    P("https://[::1", None, id="ipv6-unclosed"),
    P("https://[::g]", None, id="ipv6-bad"),
    P("https://" + "a" * 64 + ".com", None, id="long-label"),
    P("https://*.example.com", None, id="wildcard"),
])
def test_parse_origin(value, expected):
    origin = parse_origin(value)
    if expected is None:
        assert origin is None
    else:
        assert (origin.scheme, origin.host, origin.port) == expected
        assert origin.serialized == value


@pytest.mark.parametrize("value, expected, serialized", [
    P("https://example.com/page?q=1#x", ("https", "example.com", 443), "https://example.com",
      id="full-url"),
    P("https://example.com", ("https", "example.com", 443), "https://example.com", id="bare"),
    P("http://example.com:8080/", ("http", "example.com", 8080), "http://example.com:8080",
      id="port"),
    P("https://example.com?q", ("https", "example.com", 443), "https://example.com", id="query"),
    P("HTTPS://Example.com/", ("https", "example.com", 443), "HTTPS://Example.com", id="case"),
    P("https://user:pw@example.com/", None, None, id="userinfo"),
    P("https://evil.test@example.com/", None, None, id="userinfo-confusion"),
    P("https://example.com\\@evil.test/", None, None, id="backslash"),
    P("https://example.com/a b", None, None, id="space-in-path"),
    P("https://example.com/\u00e9", None, None, id="non-ascii-path"),
    P("https://example.com:99999/", None, None, id="bad-port"),
    P("https://example.com:/", None, None, id="empty-port"),
    P("https://example.com.evil.test/", ("https", "example.com.evil.test", 443),
      "https://example.com.evil.test", id="lookalike-parses"),
    P("//example.com/", None, None, id="scheme-relative"),
    P("example.com", None, None, id="no-scheme"),
    P("null", None, None, id="null"),
    P("", None, None, id="empty"),
])
def test_referer_origin(value, expected, serialized):
    origin = referer_origin(value)
    if expected is None:
        assert origin is None
    else:
        assert (origin.scheme, origin.host, origin.port) == expected
        assert origin.serialized == serialized


# --- matching: the authorization table -------------------------------------------------------

SITE = ["example.com"]
STRICT = ["https://example.com"]
WILD = ["*.example.com"]


def _allowed(patterns, origin_value):
    return is_allowed(parse_origin(origin_value), [parse_pattern(p) for p in patterns])


@pytest.mark.parametrize("patterns, origin, allowed", [
    P(SITE, "https://example.com", True, id="https-default"),
    P(SITE, "http://example.com", True, id="http-default"),
    P(SITE, "https://example.com:443", True, id="explicit-default-port"),
    P(SITE, "https://example.com:8443", False, id="other-port"),
    P(SITE, "http://example.com:443", False, id="http-on-443"),
    P(SITE, "https://EXAMPLE.COM", True, id="case-insensitive"),
    P(SITE, "https://www.example.com", False, id="subdomain-not-apex-pattern"),
    P(SITE, "https://evil-example.com", False, id="evil-dash"),
    P(SITE, "https://evilexample.com", False, id="evil-prefix"),
    P(SITE, "https://example.com.evil.com", False, id="evil-suffix"),
    P(SITE, "https://exampleXcom", False, id="dot-as-regex-any"),
    P(SITE, "https://example.co", False, id="prefix-of-pattern"),
    P(SITE, "https://example.com.", False, id="trailing-dot"),
    P(SITE, "https://user@example.com", False, id="userinfo"),
    P(SITE, "https://evil.com\\@example.com", False, id="backslash-userinfo"),
    P(SITE, "https:\\\\example.com", False, id="backslashes"),
    P(SITE, "https://example.com/", False, id="origin-with-slash"),
    P(SITE, "null", False, id="null"),
    P(SITE, "", False, id="empty"),
    P(SITE, "ftp://example.com", False, id="ftp"),
    P(SITE, "https://example.com%2eevil.com", False, id="percent-dot"),
    P(SITE, "https://example\u3002com", False, id="unicode-dot-in-origin"),
    P(STRICT, "https://example.com", True, id="strict-https"),
    P(STRICT, "http://example.com", False, id="strict-rejects-http"),
    P(["example.com:8443"], "https://example.com:8443", True, id="port-https"),
    P(["example.com:8443"], "http://example.com:8443", True, id="port-http"),
    P(["example.com:8443"], "https://example.com", False, id="port-required"),
    P(WILD, "https://a.example.com", True, id="wildcard-one-level"),
    P(WILD, "https://a.b.example.com", True, id="wildcard-two-levels"),
    P(WILD, "https://example.com", False, id="wildcard-not-apex"),
    P(WILD, "https://aexample.com", False, id="wildcard-label-boundary"),
    P(WILD, "https://a.example.com.evil.com", False, id="wildcard-evil-suffix"),
    P(WILD, "https://a.example.com.", False, id="wildcard-trailing-dot"),
    P(WILD, "https://a.example.co", False, id="wildcard-truncated"),
    P(WILD, "https://a-example.com", False, id="wildcard-dash"),
    P(WILD, "https://A.EXAMPLE.COM", True, id="wildcard-case"),
    P(WILD, "https://a.example.com:8443", False, id="wildcard-port"),
    P(["faß.de"], "https://xn--fa-hia.de", True, id="idn-alabel"),
    P(["faß.de"], "https://fass.de", False, id="idn-not-idna2003"),
    P(["fass.de"], "https://xn--fa-hia.de", False, id="idn-reverse"),
    P(["Bücher.example"], "https://XN--BCHER-KVA.example", True, id="idn-case"),
    P(["http://localhost:8000"], "http://localhost:8000", True, id="dev-localhost"),
    P(["http://localhost:8000"], "http://localhost:8001", False, id="dev-other-port"),
    P(["http://localhost:8000"], "http://localhost.evil.com:8000", False, id="dev-localhost-suffix"),
    P(["127.0.0.1"], "http://127.0.0.1", True, id="dev-ipv4"),
    P(["127.0.0.1"], "http://127.0.0.10", False, id="dev-ipv4-prefix"),
    P(["127.0.0.1"], "http://127.1", False, id="dev-ipv4-short"),
    P(["[::1]:8000"], "http://[0::1]:8000", True, id="dev-ipv6-canonical"),
    P(["[::1]:8000"], "http://[::2]:8000", False, id="dev-ipv6-other"),
    P([], "https://example.com", False, id="no-patterns"),
    P(["other.test", "example.com"], "https://example.com", True, id="second-pattern"),
    P(["https://other.test", "*.example.com"], "http://other.test", False, id="none-match"),
])
def test_authorization_table(patterns, origin, allowed):
    assert _allowed(patterns, origin) is allowed


def test_referer_reduced_origin_is_matched_the_same_way():
    patterns = [parse_pattern("example.com")]
    assert is_allowed(referer_origin("https://example.com/shop?item=1"), patterns)
    assert not is_allowed(referer_origin("https://example.com.evil.com/"), patterns)
    assert not is_allowed(referer_origin("https://example.com@evil.com/"), patterns)
    assert not is_allowed(None, patterns)


def test_overlong_origin_is_refused_before_parsing():
    host = ".".join(["a" * 60] * 5)
    assert parse_origin(f"https://{host}") is None
    assert parse_origin("https://" + "a" * 400) is None


def test_repeated_origins_give_the_same_answer():
    first = parse_origin("https://shop.example")
    assert parse_origin("https://shop.example") == first
    assert parse_origin("https://SHOP.example") == ("https", "shop.example", 443, "https://SHOP.example")


def test_origin_is_a_plain_value():
    assert parse_origin("https://a.test:8443") == Origin("https", "a.test", 8443, "https://a.test:8443")


# --- properties against a naive oracle built on urllib.parse ---------------------------------

LABELS = st.sampled_from(["a", "b", "ab", "a-b", "example", "com", "exa", "mple", "xn--fa-hia", "0a"])
HOSTS = st.lists(LABELS, min_size=1, max_size=4).map(".".join)
PORTS = st.sampled_from([None, 80, 443, 8000, 8443])
SCHEMES = st.sampled_from(["http", "https"])


@st.composite
def pattern_texts(draw):
    host = draw(HOSTS)
    if draw(st.booleans()) and "." in host:
        host = "*." + host
    scheme = draw(st.sampled_from([None, "http", "https"]))
    port = draw(PORTS)
    text = host if port is None else f"{host}:{port}"
    return text if scheme is None else f"{scheme}://{text}"


@st.composite
def origin_texts(draw):
    scheme = draw(SCHEMES)
    port = draw(PORTS)
    host = draw(HOSTS)
    return f"{scheme}://{host}" if port is None else f"{scheme}://{host}:{port}"


def oracle(origin_text: str, pattern_text: str) -> bool:
    """The naive reference: split both with urllib.parse, compare label lists."""
    origin = urlsplit(origin_text)
    default = {"http": 80, "https": 443}
    origin_port = origin.port or default[origin.scheme]
    pattern = urlsplit(pattern_text if "://" in pattern_text else "any://" + pattern_text)
    if pattern.scheme != "any" and pattern.scheme != origin.scheme:
        return False
    wanted_port = pattern.port or default[origin.scheme]
    if pattern.scheme != "any" and pattern.port is None:
        wanted_port = default[pattern.scheme]
    if origin_port != wanted_port:
        return False
    origin_labels = origin.hostname.split(".")
    pattern_labels = pattern.hostname.split(".")
    if pattern_labels[0] == "*":
        base = pattern_labels[1:]
        return len(origin_labels) > len(base) and origin_labels[-len(base):] == base
    return origin_labels == pattern_labels


def _parse_or_skip(text):
    try:
        return parse_pattern(text)
    except PatternError:
        assume(False)


@given(origin_texts(), st.lists(pattern_texts(), min_size=1, max_size=3))
def test_is_allowed_agrees_with_naive_oracle(origin_text, pattern_list):
    patterns = [_parse_or_skip(p) for p in pattern_list]
    expected = any(oracle(origin_text, p) for p in pattern_list)
    assert is_allowed(parse_origin(origin_text), patterns) is expected


@given(pattern_texts())
def test_canonical_text_round_trips(text):
    pattern = _parse_or_skip(text)
    assert parse_pattern(pattern.text) == pattern
    assert pattern.text.isascii() and pattern.text == pattern.text.lower()


@given(st.text(alphabet=string.printable + "\u00e9\u212a\u3002\uff0e\u200d\u00df", max_size=40))
def test_parsers_never_raise_anything_but_pattern_error(text):
    assert parse_origin(text) is None or parse_origin(text).serialized == text
    referer_origin(text)
    try:
        pattern = parse_pattern(text)
    except PatternError:
        return
    assert parse_pattern(pattern.text) == pattern


@given(origin_texts(), st.sampled_from(["", ".evil.test", "-x", "x", ".", "%2e"]))
def test_appending_to_the_host_never_keeps_an_exact_match(origin_text, tail):
    origin = parse_origin(origin_text)
    pattern = parse_pattern(f"{origin.scheme}://{origin.host}:{origin.port}")
    assert is_allowed(origin, [pattern])
    scheme, rest = origin_text.split("://")
    host = rest.split(":")[0]
    tampered = origin_text.replace(f"://{host}", f"://{host}{tail}", 1)
    assert tail == "" or not is_allowed(parse_origin(tampered), [pattern])


@given(origin_texts(), st.sampled_from(["", "/", "/shop?item=1", "?q=a", "#top", "/a/b/c.html"]))
def test_referer_reduces_to_the_same_origin_as_the_origin_header(origin_text, rest):
    from_referer = referer_origin(origin_text + rest)
    from_origin = parse_origin(origin_text)
    assert from_referer == from_origin
