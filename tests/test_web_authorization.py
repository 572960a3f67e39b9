"""Who may call /api: authorization and CORS tables, under wsgiref.validate.

The project below lists one pattern of each form. Every row is an Origin
(or Referer) a browser or an attacker could send, and whether the project
must answer it. Rejected rows must also do no database lookup and must not
tell an unknown pid from a foreign origin.
"""
import pytest

from visitorapi.domains import parse_pattern
from visitorapi.web.authorize import Reason, authorize
from support.wsgi import FakeDatabase, call, make_app

PID = "demoProject_0123456789"
OTHER_PID = "otherProject-42"
PATTERNS = ["example.com", "https://secure.example.org", "example.net:8443", "*.example.io",
            "localhost", "http://localhost:8000", "127.0.0.1", "bücher.example"]

ALLOWED, DENIED = True, False

ORIGIN_CASES = [
    pytest.param("https://example.com", ALLOWED, id="exact-https"),
    pytest.param("http://example.com", ALLOWED, id="exact-http"),
    pytest.param("https://example.com:443", ALLOWED, id="explicit-default-port"),
    pytest.param("https://example.com:8443", DENIED, id="other-port"),
    pytest.param("https://www.example.com", DENIED, id="subdomain-of-exact"),
    pytest.param("https://evil-example.com", DENIED, id="hyphen-prefix"),
    pytest.param("https://evilexample.com", DENIED, id="glued-prefix"),
    pytest.param("https://example.com.evil.com", DENIED, id="suffix-domain"),
    pytest.param("https://exampleXcom", DENIED, id="dot-as-wildcard"),
    pytest.param("https://example.com/", DENIED, id="trailing-slash"),
    pytest.param("https://evil.com/example.com", DENIED, id="path"),
    pytest.param("https://example.com@evil.com", DENIED, id="userinfo-good"),
    pytest.param("https://evil.com@example.com", DENIED, id="userinfo-evil"),
    pytest.param("https://example.com\\@evil.com", DENIED, id="backslash"),
    pytest.param("https://example.com.", DENIED, id="trailing-dot"),
    pytest.param("HTTPS://EXAMPLE.COM", ALLOWED, id="upper-case"),
    pytest.param("https://EXAMPLE.com.evil.com", DENIED, id="upper-case-suffix"),
    pytest.param("null", DENIED, id="null"),
    pytest.param("ftp://example.com", DENIED, id="ftp-scheme"),
    pytest.param("javascript://example.com", DENIED, id="javascript-scheme"),
    pytest.param("https://example.com https://evil.com", DENIED, id="two-origins-space"),
    pytest.param("https://evil.com, https://example.com", DENIED, id="two-origins-comma"),
    pytest.param("https://exa mple.com", DENIED, id="inner-space"),
    pytest.param("https://example.com%2eevil.com", DENIED, id="percent-encoded-dot"),
    pytest.param("https://example.com:0", DENIED, id="port-zero"),
    pytest.param("https://example.com:65536", DENIED, id="port-too-big"),
    pytest.param("https://example.com:", DENIED, id="empty-port"),
    pytest.param("https://secure.example.org", ALLOWED, id="scheme-pattern-https"),
    pytest.param("http://secure.example.org", DENIED, id="scheme-pattern-http"),
    pytest.param("https://secure.example.org:444", DENIED, id="scheme-pattern-port"),
    pytest.param("http://example.net:8443", ALLOWED, id="port-pattern-http"),
    pytest.param("https://example.net:8443", ALLOWED, id="port-pattern-https"),
    pytest.param("https://example.net", DENIED, id="port-pattern-default-port"),
    pytest.param("https://a.example.io", ALLOWED, id="wildcard-one-label"),
    pytest.param("https://a.b.example.io", ALLOWED, id="wildcard-two-labels"),
    pytest.param("https://example.io", DENIED, id="wildcard-apex"),
    pytest.param("https://aexample.io", DENIED, id="wildcard-glued"),
    pytest.param("https://a.example.io.evil.com", DENIED, id="wildcard-suffix"),
    pytest.param("https://*.example.io", DENIED, id="literal-star"),
    pytest.param("http://localhost", ALLOWED, id="localhost"),
    pytest.param("http://localhost:8000", ALLOWED, id="localhost-port-pattern"),
    pytest.param("http://localhost:9999", DENIED, id="localhost-other-port"),
    pytest.param("http://localhost.evil.com", DENIED, id="localhost-suffix"),
    pytest.param("http://127.0.0.1", ALLOWED, id="loopback-ip"),
    pytest.param("http://127.0.0.2", DENIED, id="other-loopback-ip"),
    pytest.param("http://2130706433", DENIED, id="decimal-ip"),
    pytest.param("http://0x7f.0.0.1", DENIED, id="hex-ip"),
    pytest.param("http://127.0.0.1.evil.com", DENIED, id="ip-suffix"),
    pytest.param("http://[::1]", DENIED, id="ipv6-loopback-unlisted"),
    pytest.param("https://xn--bcher-kva.example", ALLOWED, id="idn-a-label"),
    pytest.param("https://bücher.example", DENIED, id="idn-u-label-raw"),
    pytest.param("https://bucher.example", DENIED, id="idn-folded"),
    pytest.param("https://xn--bcher-kva.example.evil.com", DENIED, id="idn-suffix"),
]


@pytest.fixture
def ip_database():
    return FakeDatabase()


@pytest.fixture
def app(tmp_path, ip_database):
    return make_app(tmp_path, ip_database, {PID: PATTERNS, OTHER_PID: ["other.test"]})


@pytest.mark.parametrize("origin, allowed", ORIGIN_CASES)
def test_origin_decides(app, ip_database, origin, allowed):
    before = ip_database.lookups
    reply = call(app, query=f"pid={PID}", headers={"Origin": origin})
    assert reply.header("Vary") == "Origin"
    if allowed:
        assert reply.status == 200, reply.body
        assert reply.json["status"] == 200
        assert reply.header("Access-Control-Allow-Origin") == origin
        assert ip_database.lookups == before + 1
    else:
        assert reply.status == 403, reply.body
        assert reply.json["status"] == 403
        assert "data" not in reply.json
        assert ip_database.lookups == before
    assert reply.header("Access-Control-Allow-Credentials") is None
    assert reply.header("Access-Control-Allow-Origin") != "*"


REFERER_CASES = [
    pytest.param("https://example.com/page?x=1#top", ALLOWED, id="referer-page"),
    pytest.param("https://example.com", ALLOWED, id="referer-bare-origin"),
    pytest.param("https://evil.com/?https://example.com", DENIED, id="referer-in-query"),
    pytest.param("https://evil.com/https://example.com/", DENIED, id="referer-in-path"),
    pytest.param("https://example.com.evil.com/", DENIED, id="referer-suffix"),
    pytest.param("https://user@example.com/", DENIED, id="referer-userinfo"),
    pytest.param("https://example.com\\.evil.com/", DENIED, id="referer-backslash"),
    pytest.param("android-app://com.example/", DENIED, id="referer-app-scheme"),
]


@pytest.mark.parametrize("referer, allowed", REFERER_CASES)
def test_referer_used_only_without_origin(app, referer, allowed):
    reply = call(app, query=f"pid={PID}", headers={"Referer": referer})
    assert reply.status == (200 if allowed else 403), reply.body
    assert reply.header("Vary") == "Origin"
    # No Origin header: not a CORS request, so no CORS grant either way.
    assert reply.header("Access-Control-Allow-Origin") is None


@pytest.mark.parametrize("headers, status", [
    pytest.param({"Origin": "https://evil.com", "Referer": "https://example.com/"}, 403,
                 id="origin-evil-referer-good"),
    pytest.param({"Origin": "https://example.com", "Referer": "https://evil.com/"}, 200,
                 id="origin-good-referer-evil"),
    pytest.param({"Origin": "null", "Referer": "https://example.com/"}, 403,
                 id="origin-null-referer-good"),
    pytest.param({}, 403, id="neither"),
])
def test_origin_outranks_referer(app, headers, status):
    assert call(app, query=f"pid={PID}", headers=headers).status == status


def test_unknown_pid_disabled_project_and_foreign_origin_look_the_same(app, ip_database):
    """The response must not reveal which pids exist."""
    origin = {"Origin": "https://example.com"}
    unknown = call(app, query="pid=doesNotExist", headers=origin)
    foreign = call(app, query=f"pid={OTHER_PID}", headers=origin)
    assert unknown.status == foreign.status == 403
    assert unknown.body == foreign.body
    assert unknown.headers == foreign.headers
    assert ip_database.lookups == 0


def test_denied_message_names_the_origin_not_the_pid(app):
    reply = call(app, query=f"pid={PID}", headers={"Origin": "https://x.test"})
    assert reply.json == {"status": 403,
                          "result": "origin https://x.test is not authorized for this project"}


# -- CORS ---------------------------------------------------------------------------

PREFLIGHT_CASES = [
    pytest.param({"Origin": "https://example.com", "Access-Control-Request-Method": "GET"},
                 204, id="get-authorized"),
    pytest.param({"Origin": "https://example.com", "Access-Control-Request-Method": "HEAD"},
                 204, id="head-authorized"),
    pytest.param({"Origin": "https://example.com", "Access-Control-Request-Method": "GET",
                  "Access-Control-Request-Headers": ""}, 204, id="empty-request-headers"),
    pytest.param({"Origin": "https://evil.com", "Access-Control-Request-Method": "GET"},
                 403, id="foreign-origin"),
    pytest.param({"Origin": "null", "Access-Control-Request-Method": "GET"}, 403, id="null"),
    pytest.param({"Origin": "https://example.com", "Access-Control-Request-Method": "POST"},
                 403, id="post"),
    pytest.param({"Origin": "https://example.com", "Access-Control-Request-Method": "get"},
                 403, id="lower-case-method"),
    pytest.param({"Origin": "https://example.com", "Access-Control-Request-Method": "GET",
                  "Access-Control-Request-Headers": "x-api-key"}, 403, id="custom-header"),
    pytest.param({"Origin": "https://example.com", "Access-Control-Request-Method": "GET",
                  "Access-Control-Request-Headers": "content-type"}, 403,
                 id="non-safelisted-content-type"),
    pytest.param({"Origin": "https://example.com"}, 403, id="options-without-request-method"),
    pytest.param({"Access-Control-Request-Method": "GET"}, 403, id="no-origin"),
    pytest.param({"Referer": "https://example.com/", "Access-Control-Request-Method": "GET"},
                 403, id="referer-only"),
]


@pytest.mark.parametrize("headers, status", PREFLIGHT_CASES)
def test_preflight(app, ip_database, headers, status):
    reply = call(app, query=f"pid={PID}", method="OPTIONS", headers=headers)
    assert reply.status == status, reply.body
    assert reply.header("Vary") == "Origin"
    assert ip_database.lookups == 0
    cors = {"Access-Control-Allow-Origin", "Access-Control-Allow-Methods",
            "Access-Control-Max-Age", "Access-Control-Allow-Headers",
            "Access-Control-Allow-Credentials"}
    present = {name for name, _ in reply.headers if name in cors}
    if status == 204:
        assert reply.body == b""
        assert reply.header("Access-Control-Allow-Origin") == headers["Origin"]
        assert reply.header("Access-Control-Allow-Methods") == "GET, HEAD"
        assert reply.header("Access-Control-Max-Age") == "7200"
        assert present == {"Access-Control-Allow-Origin", "Access-Control-Allow-Methods",
                           "Access-Control-Max-Age"}
    else:
        assert present == set()


def test_preflight_for_unknown_pid_is_refused_bare(app):
    reply = call(app, query="pid=nope", method="OPTIONS",
                 headers={"Origin": "https://example.com",
                          "Access-Control-Request-Method": "GET"})
    assert reply.status == 403
    assert reply.header("Access-Control-Allow-Origin") is None


def test_errors_to_a_cors_caller_are_readable_so_the_snippet_reaches_its_error_callback(app):
    """The copied snippet JSON.parses every answer; a 403 it cannot read never reaches error()."""
    reply = call(app, query=f"pid={PID}", headers={"Origin": "https://evil.com"})
    assert reply.status == 403
    assert reply.header("Access-Control-Allow-Origin") == "https://evil.com"
    assert reply.json["status"] == 403


# -- the typed decision itself (web/authorize.py), as a table --------------------------

DECISIONS = [
    pytest.param({"HTTP_ORIGIN": "https://example.com"}, True, "AUTHORIZED", True, None,
                 id="authorized"),
    pytest.param({"HTTP_ORIGIN": "https://evil.com"}, False, "NOT_AUTHORIZED", True,
                 "origin https://evil.com is not authorized for this project", id="foreign"),
    pytest.param({"HTTP_ORIGIN": "null"}, False, "NULL_ORIGIN", True,
                 "origin null is not authorized for this project", id="null"),
    pytest.param({"HTTP_ORIGIN": "not an origin"}, False, "INVALID_ORIGIN", False,
                 "the Origin header is not a valid origin (RFC 6454)", id="invalid-origin"),
    pytest.param({}, False, "NO_ORIGIN", False,
                 "an Origin or Referer header from an authorized site is required",
                 id="neither"),
    pytest.param({"HTTP_REFERER": "https://example.com/page?q=1"}, True, "AUTHORIZED", False,
                 None, id="referer-authorized"),
    pytest.param({"HTTP_REFERER": "file:///etc/passwd"}, False, "INVALID_REFERER", False,
                 "the Referer header is not an http(s) URL", id="referer-not-http"),
    pytest.param({"HTTP_ORIGIN": "\nnull"}, False, "NULL_ORIGIN", False,
                 "origin null is not authorized for this project", id="null-with-newline"),
]


@pytest.mark.parametrize("environ, allowed, reason, readable, message", DECISIONS)
def test_authorize_returns_a_typed_decision(environ, allowed, reason, readable, message):
    patterns = tuple(parse_pattern(text) for text in PATTERNS)
    decision = authorize(environ, patterns)
    assert decision.allowed is allowed and decision.reason is Reason[reason]
    assert decision.asking.readable is readable
    assert (decision.message if not allowed else None) == message


def test_an_unknown_project_refuses_like_a_foreign_origin():
    environ = {"HTTP_ORIGIN": "https://example.com"}
    unknown = authorize(environ, None)
    foreign = authorize({"HTTP_ORIGIN": "https://example.com"}, (parse_pattern("other.org"),))
    assert unknown.reason is foreign.reason is Reason.NOT_AUTHORIZED
    assert unknown.message == foreign.message and unknown.denied_origin == "https://example.com"
