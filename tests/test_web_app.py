"""The response contract of every route, under wsgiref.validate.

Existing VisitorAPI clients rely on the exact shape: every data key present
and never null, the JSON status equal to the HTTP status, the listed
headers on every response (and the absent ones absent).
"""
import base64
import hashlib
import json
import re

import pytest

from visitorapi.http.headers import check_header_value
from visitorapi.web.ratelimit import RateLimiter
from support.wsgi import FakeDatabase, StaticDatabase, call, make_app

PID = "contractProject"
ORIGIN = {"Origin": "https://example.com"}
CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/120.0.0.0 Safari/537.36")
DATA_KEYS = {"ipAddress", "countryCode", "countryName", "currencies", "languages", "region",
             "city", "cityLatLong", "browser", "browserVersion", "os", "osVersion",
             "deviceBrand", "deviceModel", "deviceFamily", "timezone", "utcOffset",
             "continentCode", "isEU", "callingCode", "flag", "currencyDetails", "deviceType",
             "isBot", "asn", "asOrganization"}
LIST_KEYS = {"currencies", "languages", "currencyDetails"}
BOOLEAN_KEYS = {"isBot", "isEU"}
EVERY_RESPONSE = {
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Content-Type": "application/json; charset=utf-8",
}


@pytest.fixture
def app(tmp_path):
    return make_app(tmp_path, FakeDatabase(), {PID: ["example.com"]})


def assert_security_headers(reply, **overrides):
    expected = {**EVERY_RESPONSE, **overrides}
    for name, value in expected.items():
        assert reply.header(name) == value, name
    assert reply.header("Access-Control-Allow-Credentials") is None
    assert reply.header("Strict-Transport-Security") is None  # plain http in these tests
    if reply.status != 204:
        assert int(reply.header("Content-Length")) == len(reply.body) or reply.body == b""


def test_success_has_every_key_and_the_listed_headers(app):
    reply = call(app, query=f"pid={PID}", headers={**ORIGIN, "User-Agent": CHROME},
                 remote_addr="192.0.2.44")
    assert reply.status == 200
    assert reply.json["status"] == 200 and reply.json["result"] == "ok"
    data = reply.json["data"]
    assert set(data) == DATA_KEYS
    assert data["ipAddress"] == "192.0.2.44"
    assert data["countryCode"] == "DE" and data["countryName"] == "Germany"
    assert data["currencies"] == ["EUR"] and data["languages"][0] == "de"
    assert data["continentCode"] == "EU"
    assert data["region"] == "Berlin" and data["city"] == "Berlin"
    assert data["cityLatLong"] == "52.52,13.405"
    assert data["timezone"] == "Europe/Berlin"
    assert data["browser"] == "Chrome" and data["os"] == "Windows"
    assert data["isBot"] is False
    assert data["isEU"] is True and data["callingCode"] == "+49"
    assert data["flag"] == "\U0001F1E9\U0001F1EA"
    assert data["currencyDetails"] == [{"code": "EUR", "name": "Euro", "symbol": "€"}]
    assert data["utcOffset"] in ("+01:00", "+02:00")
    assert data["asn"] is None and data["asOrganization"] == ""   # no AS database here
    for key, value in data.items():
        if key == "asn":
            continue
        assert value is not None, key
        assert isinstance(value, list if key in LIST_KEYS else bool if key in BOOLEAN_KEYS
                          else str)
    assert_security_headers(reply)
    assert reply.header("Vary") == "Origin"
    assert reply.header("Access-Control-Allow-Origin") == "https://example.com"


@pytest.mark.parametrize("remote, user_agent", [
    pytest.param("100.64.0.1", "", id="unknown-ip-empty-ua"),
    pytest.param("2001:db8::9", "\x01weird\x7f", id="ipv6-control-chars-ua"),
    pytest.param("203.0.113.5", "curl/8.5.0", id="country-only-record"),
])
def test_unknown_values_are_empty_never_null(app, remote, user_agent):
    reply = call(app, query=f"pid={PID}", headers={**ORIGIN, "User-Agent": user_agent},
                 remote_addr=remote)
    assert reply.status == 200
    data = reply.json["data"]
    assert set(data) == DATA_KEYS
    assert all(value is not None for key, value in data.items() if key != "asn")
    assert data["ipAddress"] == remote


def test_body_is_compact_valid_utf8_json_with_non_ascii(app):
    reply = call(app, query=f"pid={PID}", headers=ORIGIN, remote_addr="198.51.100.3")
    assert reply.json["data"]["region"] == "Île-de-France"
    assert "Île-de-France".encode() in reply.body


@pytest.mark.parametrize("path", ["/api", "/api/"])
def test_head_is_get_without_body(app, path):
    get = call(app, path, query=f"pid={PID}", headers=ORIGIN)
    head = call(app, path, query=f"pid={PID}", headers=ORIGIN, method="HEAD")
    assert head.status == get.status == 200
    assert head.body == b""
    assert head.headers == get.headers


QUERY_CASES = [
    pytest.param("", 400, id="no-query"),
    pytest.param("pid=", 400, id="empty-pid"),
    pytest.param(f"pid={PID}&pid={PID}", 400, id="repeated-pid"),
    pytest.param(f"pid={PID}&pid=other", 400, id="two-pids"),
    pytest.param("pid=" + "a" * 65, 400, id="pid-too-long"),
    pytest.param("pid=" + "a" * 64, 403, id="pid-max-length-unknown"),
    pytest.param("pid=abc%20def", 400, id="pid-space"),
    pytest.param("pid=abc.def", 400, id="pid-dot"),
    pytest.param("pid=abc%0Adef", 400, id="pid-newline"),
    pytest.param("pid=ab%C3%A9", 400, id="pid-non-ascii"),
    pytest.param(f"pid={PID}%0A", 400, id="pid-trailing-newline"),
    pytest.param(f"pid={PID}&ip=8.8.8.8", 400, id="ip-parameter"),
    pytest.param(f"pid={PID}&callback=cb", 400, id="jsonp-callback"),
    pytest.param(f"pid={PID}&jsonp=cb", 400, id="jsonp"),
    pytest.param(f"pid={PID}&_=1700000000", 200, id="cache-buster-ignored"),
    pytest.param(f"pid=%{PID[0]}", 400, id="bad-percent"),
    pytest.param("&".join(f"x{i}=1" for i in range(40)) + f"&pid={PID}", 400, id="too-many-params"),
    pytest.param(f"PID={PID}", 400, id="pid-name-is-case-sensitive"),
]


@pytest.mark.parametrize("query, status", QUERY_CASES)
def test_query_validation(app, query, status):
    reply = call(app, query=query, headers=ORIGIN)
    assert reply.status == status, reply.body
    assert reply.json["status"] == status
    assert reply.header("Vary") == "Origin"
    # readable by the calling page, so the snippet reaches its error callback
    assert reply.header("Access-Control-Allow-Origin") == ORIGIN["Origin"]
    assert_security_headers(reply)


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "TRACE"])
def test_wrong_method_is_405(app, method):
    reply = call(app, query=f"pid={PID}", headers=ORIGIN, method=method)
    assert reply.status == 405
    assert reply.json == {"status": 405, "result": f"method {method} is not allowed; use GET"}
    assert reply.header("Allow") == "GET, HEAD, OPTIONS"
    assert reply.header("Vary") == "Origin"
    assert reply.header("Access-Control-Allow-Origin") == ORIGIN["Origin"]


@pytest.mark.parametrize("path", ["/nope", "/api/x", "/API/", "/api//", "/healthz/"])
def test_unknown_path_is_404(app, path):
    reply = call(app, path, query=f"pid={PID}", headers=ORIGIN)
    assert reply.status == 404
    assert reply.json["status"] == 404
    assert_security_headers(reply)


def test_rate_limit_is_429_with_retry_after(tmp_path):
    app = make_app(tmp_path, FakeDatabase(), {PID: ["example.com"]},
                   VISITORAPI_CLIENT_RATE="1", VISITORAPI_CLIENT_BURST="2")
    statuses = [call(app, query=f"pid={PID}", headers=ORIGIN).status for _ in range(3)]
    assert statuses == [200, 200, 429]
    reply = call(app, query=f"pid={PID}", headers=ORIGIN)
    assert reply.json["status"] == 429
    assert int(reply.header("Retry-After")) >= 1
    assert reply.header("Access-Control-Allow-Origin") == "https://example.com"
    # another client is not limited
    assert call(app, query=f"pid={PID}", headers=ORIGIN, remote_addr="192.0.2.99").status == 200


def test_no_database_is_503_and_not_ready(tmp_path):
    app = make_app(tmp_path, None, {PID: ["example.com"]})
    app.database = StaticDatabase(None, error="database file x does not exist")
    reply = call(app, query=f"pid={PID}", headers=ORIGIN)
    assert reply.status == 503 and reply.json["status"] == 503
    ready = call(app, "/readyz")
    assert ready.status == 503
    assert "does not exist" in ready.json["result"]
    assert call(app, "/healthz").status == 200


def test_readyz_reports_an_unreachable_store(app):
    app.store_ready = lambda: "state database is locked"
    assert call(app, "/readyz").status == 503
    app.store_ready = lambda: None
    assert call(app, "/readyz").json["status"] == 200


def test_readyz_is_degraded_not_unready_for_a_shared_store_the_node_serves_through(app):
    from visitorapi.web.app import Degraded
    app.store_ready = lambda: Degraded("cannot connect to the state database postgresql://db/x")
    ready = call(app, "/readyz")
    assert ready.status == 200
    assert ready.json["result"] == "degraded" and "cannot connect" in ready.json["problem"]


def test_unexpected_exception_is_a_generic_500(app):
    def broken(ip):
        raise RuntimeError("secret internals")
    app.database = StaticDatabase(type("Broken", (), {"lookup": staticmethod(broken)})())
    reply = call(app, query=f"pid={PID}", headers=ORIGIN)
    assert reply.status == 500
    assert reply.json == {"status": 500, "result": "internal error"}
    assert reply.header("Vary") == "Origin"
    assert b"secret" not in reply.body


def test_observers_see_each_outcome_and_cannot_break_a_request(app):
    seen = []
    app.observers = [lambda r: seen.append((r.route, r.status, r.pid, r.country, r.denied_origin)),
                     lambda r: 1 / 0]
    call(app, query=f"pid={PID}", headers=ORIGIN, remote_addr="192.0.2.1")
    call(app, query=f"pid={PID}", headers={"Origin": "https://evil.test"})
    call(app, query="pid=unknownProject", headers={"Origin": "https://evil.test"})
    call(app, query="pid=", headers=ORIGIN)
    assert call(app, "/missing").status == 404
    assert seen == [("/api", 200, PID, "DE", None),
                    ("/api", 403, PID, None, "https://evil.test"),
                    ("/api", 403, None, None, None),
                    ("/api", 400, None, None, None),
                    ("unknown", 404, None, None, None)]


# -- HTTPS ------------------------------------------------------------------------------

@pytest.fixture
def https_app(tmp_path):
    return make_app(tmp_path, FakeDatabase(), {PID: ["example.com"]}, VISITORAPI_HTTPS="require",
                    VISITORAPI_TRUSTED_PROXIES="10.0.0.0/8")


@pytest.mark.parametrize("path, query, host, location", [
    pytest.param("/api/", f"pid={PID}", "api.test", f"https://api.test/api/?pid={PID}", id="api"),
    pytest.param("/api/", f"pid={PID}", "api.test:8080", f"https://api.test/api/?pid={PID}", id="port-dropped"),
    pytest.param("/", "", "[2001:db8::1]:80", "https://[2001:db8::1]/", id="ipv6-host"),
    pytest.param("/client.js", "", "api.test", "https://api.test/client.js", id="script"),
])
def test_plain_http_is_redirected_with_308(https_app, path, query, host, location):
    reply = call(https_app, path, query=query, host=host, remote_addr="198.51.100.1")
    assert reply.status == 308
    assert reply.header("Location") == location
    assert reply.json["status"] == 308
    assert reply.header("Vary") == ("Origin" if path == "/api/" else None)


@pytest.mark.parametrize("host", ["", "evil.test/x", "a b", "api.test\\x"])
def test_redirect_refuses_a_bad_host(https_app, host):
    assert call(https_app, "/api/", query=f"pid={PID}", host=host).status == 400


def test_probes_are_not_redirected(https_app):
    assert call(https_app, "/healthz").status == 200


def test_https_and_trusted_proxy_https_are_served_with_hsts(https_app):
    direct = call(https_app, query=f"pid={PID}", headers=ORIGIN, scheme="https")
    assert direct.status == 200
    assert direct.header("Strict-Transport-Security") == "max-age=31536000"
    proxied = call(https_app, query=f"pid={PID}", remote_addr="10.0.0.2",
                   headers={**ORIGIN, "X-Forwarded-Proto": "https", "X-Forwarded-For": "192.0.2.9"})
    assert proxied.status == 200
    assert proxied.header("Strict-Transport-Security") == "max-age=31536000"
    spoofed = call(https_app, query=f"pid={PID}", remote_addr="198.51.100.1",
                   headers={**ORIGIN, "X-Forwarded-Proto": "https"})
    assert spoofed.status == 308


# -- other routes ---------------------------------------------------------------------------

def test_healthz(app):
    reply = call(app, "/healthz")
    assert reply.json == {"status": 200, "result": "ok"}
    assert_security_headers(reply)
    assert call(app, "/healthz", method="POST").status == 405


def test_security_txt(tmp_path):
    app = make_app(tmp_path, FakeDatabase(), VISITORAPI_SECURITY_CONTACT="mailto:sec@example.com",
                   VISITORAPI_SECURITY_EXPIRES="2099-01-31T00:00:00Z")
    reply = call(app, "/.well-known/security.txt")
    assert reply.status == 200
    assert reply.header("Content-Type") == "text/plain; charset=utf-8"
    assert reply.body.decode().splitlines() == [
        "Contact: mailto:sec@example.com", "Expires: 2099-01-31T00:00:00Z",
        "Preferred-Languages: en"]


def test_security_txt_policy_acknowledgments_languages_and_canonical(tmp_path):
    app = make_app(tmp_path, FakeDatabase(), VISITORAPI_SECURITY_CONTACT="mailto:sec@example.com",
                   VISITORAPI_SECURITY_EXPIRES="2099-01-31T00:00:00Z",
                   VISITORAPI_SECURITY_POLICY="https://example.com/security-policy",
                   VISITORAPI_SECURITY_ACKNOWLEDGMENTS="https://example.com/hall-of-fame",
                   VISITORAPI_SECURITY_LANGUAGES="en, de,pt-BR",
                   VISITORAPI_PUBLIC_URL="https://api.example.com")
    assert call(app, "/.well-known/security.txt").body.decode().splitlines() == [
        "Contact: mailto:sec@example.com", "Expires: 2099-01-31T00:00:00Z",
        "Policy: https://example.com/security-policy",
        "Acknowledgments: https://example.com/hall-of-fame",
        "Preferred-Languages: en, de, pt-BR",
        "Canonical: https://api.example.com/.well-known/security.txt"]


def test_security_txt_absent_without_contact(app):
    assert call(app, "/.well-known/security.txt").status == 404


def test_openapi_describes_the_api(app):
    reply = call(app, "/openapi.json")
    document = reply.json
    assert document["openapi"] == "3.1.0"
    responses = document["paths"]["/api/"]["get"]["responses"]
    assert set(responses) == {"200", "400", "403", "404", "405", "429", "503"}
    data = document["components"]["schemas"]["Success"]["properties"]["data"]
    assert set(data["required"]) == DATA_KEYS
    assert {"/healthz", "/readyz", "/.well-known/security.txt", "/client.js"} <= set(document["paths"])


def test_openapi_operation_ids_are_unique(app):
    document = call(app, "/openapi.json").json
    ids = [operation["operationId"] for path in document["paths"].values()
           for operation in path.values()]
    assert len(ids) == len(set(ids)), sorted(ids)
    assert {"getVisitor", "getVisitorWithoutSlash"} <= set(ids)
    assert document["paths"]["/api"]["get"]["responses"] == document["paths"]["/api/"]["get"]["responses"]


def test_client_js_is_loadable_cross_site(app):
    reply = call(app, "/client.js")
    assert reply.header("Content-Type") == "text/javascript; charset=utf-8"
    assert reply.header("Cross-Origin-Resource-Policy") == "cross-origin"
    assert b"function VisitorAPI(pid, onSuccess, onError)" in reply.body


def test_demo_page_runs_its_inline_snippet_under_a_hash_csp(tmp_path):
    app = make_app(tmp_path, FakeDatabase(), {"demoPid": ["localhost"]},
                   VISITORAPI_DEMO_PID="demoPid")
    reply = call(app, "/")
    assert reply.status == 200
    assert reply.header("Content-Type") == "text/html; charset=utf-8"
    page = reply.body.decode()
    script = re.search(r"<script>(.*?)</script>", page, re.S).group(1)
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    csp = reply.header("Content-Security-Policy")
    assert f"script-src 'sha256-{digest}'" in csp and "connect-src 'self'" in csp
    assert 'VisitorAPI("demoPid"' in script
    assert reply.header("Referrer-Policy") == "strict-origin"
    assert "https://db-ip.com" not in page  # VISITORAPI_DB is set here: not the DB-IP default


def test_no_demo_page_without_a_demo_project(app):
    assert call(app, "/").status == 404


@pytest.mark.parametrize("value", ["a\rb", "a\nb", "a\x00b", "x\r\nSet-Cookie: y=1"])
def test_header_values_with_cr_lf_nul_are_refused(value):
    with pytest.raises(ValueError):
        check_header_value(value)


def test_every_status_json_matches_http_status(app):
    replies = [call(app, query="pid="), call(app, query=f"pid={PID}"), call(app, "/x"),
               call(app, method="PUT", query=f"pid={PID}")]
    assert [r.status for r in replies] == [400, 403, 404, 405]
    assert [json.loads(r.body)["status"] for r in replies] == [400, 403, 404, 405]


def test_rate_limiter_is_injectable(tmp_path):
    limiter = RateLimiter(0, 1, 1, 1, clock=lambda: 100.0)
    app = make_app(tmp_path, FakeDatabase(), {PID: ["example.com"]})
    app.limiter = limiter
    assert call(app, query=f"pid={PID}", headers=ORIGIN).status == 200
    assert call(app, query=f"pid={PID}", headers=ORIGIN).status == 429


@pytest.mark.parametrize("fields, keys", [
    pytest.param("countryCode", {"countryCode"}, id="one"),
    pytest.param("city,countryCode,isEU", {"city", "countryCode", "isEU"}, id="several"),
    pytest.param("countryCode,%20city", {"countryCode", "city"}, id="spaces-trimmed"),
    pytest.param("flag,flag", {"flag"}, id="repeated-name"),
])
def test_fields_keeps_only_the_named_members_in_answer_order(app, fields, keys):
    reply = call(app, query=f"pid={PID}&fields={fields}", headers=ORIGIN,
                 remote_addr="192.0.2.44")
    assert reply.status == 200
    data = reply.json["data"]
    assert set(data) == keys
    full = call(app, query=f"pid={PID}", headers=ORIGIN, remote_addr="192.0.2.44").json["data"]
    assert list(data) == [key for key in full if key in keys]
    assert all(data[key] == full[key] for key in keys)


@pytest.mark.parametrize("query, message", [
    pytest.param("fields=cuntryCode", "unknown field(s) 'cuntryCode'", id="typo"),
    pytest.param("fields=city,secret,", "unknown field(s) 'secret', ''", id="unknown-and-empty"),
    pytest.param("fields=", "the fields parameter is empty", id="empty"),
    pytest.param("fields=city&fields=region", "appears more than once", id="repeated"),
])
def test_fields_with_unknown_or_malformed_names_is_a_400_naming_them(app, query, message):
    reply = call(app, query=f"pid={PID}&{query}", headers=ORIGIN, remote_addr="192.0.2.44")
    assert reply.status == 400
    assert message in reply.json["result"]
    assert reply.header("Access-Control-Allow-Origin") == "https://example.com"


def test_openapi_lists_the_fields_parameter_with_every_name(app):
    document = call(app, "/openapi.json").json
    parameters = document["paths"]["/api/"]["get"]["parameters"]
    fields = next(parameter for parameter in parameters if parameter["name"] == "fields")
    assert set(fields["schema"]["items"]["enum"]) == DATA_KEYS


ASN_CSV = "192.0.2.0,192.0.2.255,64500,Example Networks\n2001:db8::,2001:db8::ffff,64501,\n"


@pytest.fixture
def asn_app(tmp_path):
    from visitorapi.ipdb import open_database
    from visitorapi.ipdb.compiler import compile_files
    source = tmp_path / "asn.csv"
    source.write_text(ASN_CSV, encoding="utf-8")
    compile_files([source], tmp_path / "asn.vdb")
    networks = open_database(tmp_path / "asn.vdb")
    app = make_app(tmp_path, FakeDatabase(), {PID: ["example.com"]})
    app.networks = StaticDatabase(networks)
    yield app
    networks.close()


@pytest.mark.parametrize("remote, asn, organization", [
    pytest.param("192.0.2.44", 64500, "Example Networks", id="known"),
    pytest.param("2001:db8::9", 64501, "", id="known-without-organization"),
    pytest.param("198.51.100.3", None, "", id="not-in-the-as-data"),
])
def test_the_answer_carries_the_network_from_the_asn_database(asn_app, remote, asn,
                                                               organization):
    reply = call(asn_app, query=f"pid={PID}", headers=ORIGIN, remote_addr=remote)
    assert reply.status == 200
    assert (reply.json["data"]["asn"], reply.json["data"]["asOrganization"]) == (asn,
                                                                                 organization)


def test_readyz_names_a_missing_asn_database(asn_app):
    asn_app.networks = StaticDatabase(None, error="database file /x/asn.vdb does not exist")
    reply = call(asn_app, "/readyz")
    assert reply.status == 503 and "/x/asn.vdb does not exist" in reply.json["result"]
    answer = call(asn_app, query=f"pid={PID}", headers=ORIGIN, remote_addr="192.0.2.44")
    assert answer.status == 200 and answer.json["data"]["asn"] is None
