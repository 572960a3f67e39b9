"""Client IP: REMOTE_ADDR, or trusted proxies' headers read from the right.

The pure function is tested as a table, then the same policy through the app
under wsgiref.validate (the address reaches "ipAddress"; a bad one is a 400
that does not echo it).
"""
import ipaddress

import pytest
from hypothesis import given, strategies as st

from visitorapi.web.clientip import TrustedProxies, client_ip, forwarded_https, parse_ip
from visitorapi.http.errors import HTTPError
from support.wsgi import FakeDatabase, call, make_app

PROXIES = TrustedProxies([ipaddress.ip_network("10.0.0.0/8"),
                          ipaddress.ip_network("2001:db8:ffff::/48")])
FORWARDED = TrustedProxies(PROXIES.networks, header="forwarded")
NONE = TrustedProxies()
BAD = HTTPError


def env(remote="10.1.1.1", xff=None, forwarded=None, **extra):
    environ = {"REMOTE_ADDR": remote, **extra}
    if xff is not None:
        environ["HTTP_X_FORWARDED_FOR"] = xff
    if forwarded is not None:
        environ["HTTP_FORWARDED"] = forwarded
    return environ


CASES = [
    # no trusted proxies: REMOTE_ADDR, headers ignored
    pytest.param(NONE, env("198.51.100.7", xff="203.0.113.9"), "198.51.100.7", id="untrusted-config-ignores-xff"),
    pytest.param(NONE, env("", xff="203.0.113.9"), BAD, id="no-remote-addr"),
    # peer not trusted: headers are the client's own words
    pytest.param(PROXIES, env("198.51.100.7", xff="203.0.113.9"), "198.51.100.7", id="peer-untrusted"),
    pytest.param(PROXIES, env("198.51.100.7", xff="not-an-ip"), "198.51.100.7", id="peer-untrusted-garbage-ignored"),
    # peer trusted: right-most untrusted entry
    pytest.param(PROXIES, env(xff="203.0.113.9"), "203.0.113.9", id="one-hop"),
    pytest.param(PROXIES, env(xff="1.2.3.4, 203.0.113.9"), "203.0.113.9", id="spoofed-left-entry-ignored"),
    pytest.param(PROXIES, env(xff="203.0.113.9, 10.2.2.2"), "203.0.113.9", id="skip-trusted-hop"),
    pytest.param(PROXIES, env(xff="203.0.113.9,10.2.2.2,10.3.3.3"), "203.0.113.9", id="skip-two-trusted-no-spaces"),
    pytest.param(PROXIES, env(xff="10.5.5.5, 10.2.2.2"), "10.5.5.5", id="all-trusted-left-most"),
    pytest.param(PROXIES, env(xff=""), "10.1.1.1", id="empty-header-peer"),
    pytest.param(PROXIES, env(), "10.1.1.1", id="no-header-peer"),
    pytest.param(PROXIES, env(xff="2001:DB8::1"), "2001:db8::1", id="ipv6-normalized"),
    pytest.param(PROXIES, env(xff="2001:db8::1, 2001:db8:ffff::5"), "2001:db8::1", id="ipv6-trusted-hop"),
    pytest.param(PROXIES, env("::ffff:10.1.1.1", xff="203.0.113.9"), "203.0.113.9", id="v4-mapped-peer-trusted"),
    pytest.param(PROXIES, env(xff="::ffff:8.8.8.8"), "8.8.8.8", id="v4-mapped-client-is-ipv4"),
    pytest.param(PROXIES, env(xff="8.8.8.8, ::ffff:10.2.2.2"), "8.8.8.8", id="v4-mapped-trusted-hop"),
    pytest.param(PROXIES, env(xff="203.0.113.9, garbage"), BAD, id="bad-right-entry"),
    pytest.param(PROXIES, env(xff="garbage, 203.0.113.9"), "203.0.113.9", id="bad-left-entry-never-read"),
    pytest.param(PROXIES, env(xff="203.0.113.9:443"), BAD, id="port-in-xff"),
    pytest.param(PROXIES, env(xff="[2001:db8::1]"), BAD, id="brackets-in-xff"),
    pytest.param(PROXIES, env(xff="fe80::1%eth0"), BAD, id="zone-id"),
    pytest.param(PROXIES, env(xff="010.1.1.1"), BAD, id="leading-zero-octal"),
    pytest.param(PROXIES, env(xff="1.2.3"), BAD, id="short-ipv4"),
    pytest.param(PROXIES, env(xff="203.0.113.9,,"), BAD, id="empty-entry"),
    pytest.param(PROXIES, env(xff="unknown"), BAD, id="unknown-token"),
    pytest.param(PROXIES, env(xff="203.0.113.9\x00"), BAD, id="nul"),
    pytest.param(PROXIES, env(xff="<script>"), BAD, id="markup"),
    pytest.param(PROXIES, env("garbage", xff="203.0.113.9"), BAD, id="bad-remote-addr"),
    # the header the proxy does not write is never read
    pytest.param(PROXIES, env(forwarded="for=203.0.113.9"), "10.1.1.1", id="forwarded-ignored-in-xff-mode"),
    pytest.param(FORWARDED, env(xff="203.0.113.9"), "10.1.1.1", id="xff-ignored-in-forwarded-mode"),
    # RFC 7239 Forwarded
    pytest.param(FORWARDED, env(forwarded="for=203.0.113.9"), "203.0.113.9", id="fwd-simple"),
    pytest.param(FORWARDED, env(forwarded='for="203.0.113.9:4711";proto=https'), "203.0.113.9", id="fwd-port-proto"),
    pytest.param(FORWARDED, env(forwarded='For="[2001:db8:cafe::17]:4711"'), "2001:db8:cafe::17", id="fwd-ipv6-port"),
    pytest.param(FORWARDED, env(forwarded="for=1.2.3.4, for=203.0.113.9;by=10.0.0.1"), "203.0.113.9", id="fwd-right-most"),
    pytest.param(FORWARDED, env(forwarded="for=203.0.113.9, for=10.2.2.2"), "203.0.113.9", id="fwd-skip-trusted"),
    pytest.param(FORWARDED, env(forwarded="for=unknown"), BAD, id="fwd-unknown"),
    pytest.param(FORWARDED, env(forwarded="for=_hidden"), BAD, id="fwd-obfuscated"),
    pytest.param(FORWARDED, env(forwarded="for=2001:db8::1"), BAD, id="fwd-unbracketed-ipv6"),
    pytest.param(FORWARDED, env(forwarded='for="[203.0.113.9]"'), BAD, id="fwd-bracketed-ipv4"),
    pytest.param(FORWARDED, env(forwarded='for="203.0.113.9'), BAD, id="fwd-unterminated-quote"),
    pytest.param(FORWARDED, env(forwarded="for 203.0.113.9"), BAD, id="fwd-no-equals"),
    pytest.param(FORWARDED, env(forwarded="proto=https"), BAD, id="fwd-no-for"),
    pytest.param(FORWARDED, env(forwarded='for="a,b", for=203.0.113.9'), "203.0.113.9", id="fwd-comma-in-quotes"),
    # a Unix-socket peer
    pytest.param(TrustedProxies(unix=True), env("", xff="203.0.113.9"), "203.0.113.9", id="unix-trusted"),
    pytest.param(TrustedProxies(unix=True), env(""), BAD, id="unix-no-header"),
    pytest.param(PROXIES, env("", xff="203.0.113.9"), BAD, id="unix-not-trusted"),
]


@pytest.mark.parametrize("trusted, environ, expected", CASES)
def test_client_ip(trusted, environ, expected):
    if expected is BAD:
        with pytest.raises(HTTPError) as caught:
            client_ip(environ, trusted)
        assert caught.value.status == 400
    else:
        assert client_ip(environ, trusted) == expected


def _answer(function, environ, trusted):
    try:
        return function(environ, trusted)
    except HTTPError as error:
        return error.status


def test_remembered_peers_change_no_answer_and_hold_no_visitor():
    """The remembered trusted peers (PERF) give every case the answer of a fresh instance,
    and hold only addresses in the trusted networks: proxies, never visitors."""
    shared = {id(trusted): TrustedProxies(trusted.networks, unix=trusted.unix,
                                          header=trusted.header)
              for trusted, _, _ in (case.values for case in CASES)}
    for _ in range(2):  # the second pass answers from what the first remembered
        for case in CASES:
            trusted, environ, _ = case.values
            for function in (client_ip, forwarded_https):
                fresh = TrustedProxies(trusted.networks, unix=trusted.unix, header=trusted.header)
                assert (_answer(function, environ, shared[id(trusted)])
                        == _answer(function, environ, fresh)), case.id
    remembered = [peer for trusted in shared.values() for peer in trusted.trusted_peers]
    assert remembered  # the trusted-peer cases were remembered
    for trusted in shared.values():
        for remote, address in trusted.trusted_peers.items():
            assert trusted.contains(address) and address == parse_ip(remote)
    assert "198.51.100.7" not in remembered  # an untrusted peer is a visitor: never kept


NETWORKS = [ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("::/1"),
            ipaddress.ip_network("2001:db8::/32")]


def naive_trusted(address) -> bool:
    """The oracle's trust test, with the ipaddress module (IPv4-mapped counts as IPv4)."""
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in NETWORKS)


@given(st.lists(st.ip_addresses(), min_size=1, max_size=6))
def test_right_most_untrusted_matches_a_naive_oracle(hops):
    """Oracle: walk the hops from the right with ipaddress; stop at the first untrusted one."""
    environ = env("10.9.9.9", xff=", ".join(map(str, hops)))
    expected = next((h for h in reversed(hops) if not naive_trusted(h)), hops[0])
    expected = getattr(expected, "ipv4_mapped", None) or expected  # the IPv4 visitor it maps
    assert ipaddress.ip_address(client_ip(environ, TrustedProxies(NETWORKS))) == expected


@given(st.ip_addresses())
def test_parse_ip_agrees_with_ipaddress(address):
    """Every address, in its exploded and compressed spellings, parses to the same value
    (an IPv4-mapped IPv6 address to the IPv4 address it maps)."""
    expected = getattr(address, "ipv4_mapped", None) or address
    for text in {str(address), address.exploded, str(address).upper()}:
        parsed = parse_ip(text)
        assert parsed is not None and parsed.value == int(expected)
        assert ipaddress.ip_address(parsed.text) == expected


@given(st.text(alphabet="0123456789abcdefABCDEF:.% x", max_size=45))
def test_parse_ip_accepts_exactly_what_ipaddress_accepts_without_zones(text):
    try:
        expected = ipaddress.ip_address(text)
    except ValueError:
        expected = None
    if "%" in text:
        expected = None  # zones are refused on purpose
    parsed = parse_ip(text)
    assert (parsed is None) == (expected is None)
    if parsed is not None:
        assert parsed.value == int(expected)


@pytest.mark.parametrize("text, valid", [
    ("192.0.2.1", True), ("::1", True), ("2001:db8::1", True), ("::ffff:192.0.2.1", True),
    (" 192.0.2.1", False), ("192.0.2.1 ", False), ("192.0.2.01", False), ("1e100", False),
    ("fe80::1%1", False), ("", False), ("192.0.2.256", False), ("0x7f.0.0.1", False),
])
def test_parse_ip_is_strict(text, valid):
    assert (parse_ip(text) is not None) == valid


@pytest.mark.parametrize("trusted, environ, https", [
    pytest.param(PROXIES, env(HTTP_X_FORWARDED_PROTO="https"), True, id="xfp-https"),
    pytest.param(PROXIES, env(HTTP_X_FORWARDED_PROTO="http, https"), True, id="xfp-right-most"),
    pytest.param(PROXIES, env(HTTP_X_FORWARDED_PROTO="https, http"), False, id="xfp-right-most-http"),
    pytest.param(PROXIES, env("198.51.100.7", HTTP_X_FORWARDED_PROTO="https"), False, id="xfp-untrusted-peer"),
    pytest.param(NONE, env(HTTP_X_FORWARDED_PROTO="https"), False, id="xfp-no-proxies"),
    pytest.param(FORWARDED, env(forwarded="for=203.0.113.9;proto=https"), True, id="fwd-proto"),
    pytest.param(FORWARDED, env(forwarded="proto=https, for=203.0.113.9;proto=http"), False, id="fwd-proto-right-most"),
    pytest.param(FORWARDED, env(HTTP_X_FORWARDED_PROTO="https"), False, id="xfp-ignored-in-forwarded-mode"),
])
def test_forwarded_https(trusted, environ, https):
    assert forwarded_https(environ, trusted) is https


# -- through the app ------------------------------------------------------------------

PID = "clientIpProject"


@pytest.fixture
def app(tmp_path):
    return make_app(tmp_path, FakeDatabase(), {PID: ["example.com"]},
                    VISITORAPI_TRUSTED_PROXIES="10.0.0.0/8, 2001:db8:ffff::/48")


@pytest.mark.parametrize("remote, xff, status, address", [
    pytest.param("198.51.100.7", None, 200, "198.51.100.7", id="direct"),
    pytest.param("10.1.1.1", "192.0.2.55", 200, "192.0.2.55", id="via-proxy"),
    pytest.param("10.1.1.1", "6.6.6.6, 192.0.2.55", 200, "192.0.2.55", id="spoof-attempt"),
    pytest.param("198.51.100.7", "192.0.2.55", 200, "198.51.100.7", id="untrusted-peer"),
    pytest.param("10.1.1.1", "2001:DB8:0::7", 200, "2001:db8::7", id="ipv6"),
    pytest.param("10.1.1.1", "192.0.2.55, bogus-canary-9f3", 400, None, id="invalid"),
])
def test_client_ip_through_the_app(app, remote, xff, status, address):
    headers = {"Origin": "https://example.com"}
    if xff is not None:
        headers["X-Forwarded-For"] = xff
    reply = call(app, query=f"pid={PID}", headers=headers, remote_addr=remote)
    assert reply.status == status, reply.body
    if address is not None:
        assert reply.json["data"]["ipAddress"] == address
    else:
        assert reply.json["status"] == 400
        assert b"bogus-canary-9f3" not in reply.body
