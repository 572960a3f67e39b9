"""The HTTP core both faces share: header checks, the request view, the one writer."""
import pytest

from visitorapi.http.errors import HTTPError
from visitorapi.http.headers import STATUS_LINES, check_header_name, check_header_value
from visitorapi.http.request import Request
from visitorapi.http.response import Responder, Response
from support.wsgi import make_environ

POLICY = (("Content-Security-Policy", "default-src 'none'"), ("X-Frame-Options", "DENY"))


@pytest.mark.parametrize("value, safe", [
    pytest.param("https://example.com", True, id="plain"),
    pytest.param("a\r\nSet-Cookie: x=1", False, id="crlf"),
    pytest.param("a\nb", False, id="lf"),
    pytest.param("a\rb", False, id="cr"),
    pytest.param("a\0b", False, id="nul"),
])
def test_header_values_with_cr_lf_or_nul_are_refused(value, safe):
    if safe:
        assert check_header_value(value) == value
    else:
        with pytest.raises(ValueError):
            check_header_value(value)


@pytest.mark.parametrize("name, token", [
    pytest.param("Access-Control-Allow-Origin", True, id="token"),
    pytest.param("X-Weird_Name.1", True, id="tchars"),
    pytest.param("Bad Name", False, id="space"),
    pytest.param("Bad:Name", False, id="colon"),
    pytest.param("Bad\r\nName", False, id="crlf"),
    pytest.param("", False, id="empty"),
])
def test_header_names_must_be_tokens(name, token):
    if token:
        assert check_header_name(name) == name
    else:
        with pytest.raises(ValueError):
            check_header_name(name)


@pytest.mark.parametrize("host, https, origin", [
    pytest.param("Example.COM", False, "http://example.com", id="name"),
    pytest.param("example.com:8080", True, "https://example.com:8080", id="port"),
    pytest.param("example.com:443", True, "https://example.com", id="default-port"),
    pytest.param("[2001:db8::1]:443", True, "https://[2001:db8::1]", id="ipv6"),
    pytest.param("192.0.2.1", False, "http://192.0.2.1", id="ipv4"),
])
def test_the_server_origin_from_the_host_header(host, https, origin):
    assert Request(make_environ(host=host), https=https).origin == origin


@pytest.mark.parametrize("host", [
    pytest.param("", id="missing"),
    pytest.param("evil.com/path", id="path"),
    pytest.param("a b", id="space"),
    pytest.param("example.com:port", id="port-not-a-number"),
    pytest.param("user@example.com", id="userinfo"),
])
def test_a_malformed_host_is_a_400(host):
    with pytest.raises(HTTPError) as caught:
        Request(make_environ(host=host), https=False).origin
    assert caught.value.status == 400


def write(responder, response, *, method="GET", https=True):
    captured = {}

    def start_response(status, headers):
        captured["status"], captured["headers"] = status, dict(headers)

    body = responder.respond(start_response, response, head=method == "HEAD", https=https)
    return captured["status"], captured["headers"], b"".join(body)


def test_the_writer_adds_the_core_headers_and_the_app_policy():
    status, headers, body = write(Responder(POLICY, hsts="max-age=600"), Response(200, b"<p>"))
    assert status == "200 OK" and body == b"<p>"
    assert headers == {"Content-Type": "text/html; charset=utf-8", "Content-Length": "3",
                       "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store",
                       "Content-Security-Policy": "default-src 'none'",
                       "X-Frame-Options": "DENY", "Strict-Transport-Security": "max-age=600"}


def test_hsts_only_over_https_and_never_when_the_setting_is_zero():
    response = Response(200, b"")
    assert "Strict-Transport-Security" not in write(Responder(POLICY, hsts="max-age=600"),
                                                    response, https=False)[1]
    assert "Strict-Transport-Security" not in write(Responder(POLICY, hsts=""),
                                                    response)[1]


def test_head_has_no_body_and_204_no_length():
    responder = Responder(POLICY, hsts="")
    _, headers, body = write(responder, Response(200, b"hello"), method="HEAD")
    assert body == b"" and headers["Content-Length"] == "5"
    status, headers, _ = write(responder, Response(204))
    assert status == "204 No Content"
    assert "Content-Length" not in headers and "Content-Type" not in headers


def test_a_response_may_carry_its_own_policy_and_cache_control():
    own = (("Content-Security-Policy", "default-src 'self'"),)
    response = Response(200, b"", policy=own, cache_control="public, max-age=60")
    _, headers, _ = write(Responder(POLICY, hsts=""), response)
    assert headers["Content-Security-Policy"] == "default-src 'self'"
    assert headers["Cache-Control"] == "public, max-age=60" and "X-Frame-Options" not in headers


@pytest.mark.parametrize("header", [
    pytest.param(("Location", "/x\r\nSet-Cookie: a=b"), id="value-crlf"),
    pytest.param(("Bad Name", "x"), id="name-space"),
])
def test_an_unsafe_header_is_never_written(header):
    with pytest.raises(ValueError):
        write(Responder(POLICY, hsts=""), Response(200, b"", headers=[header]))


def test_every_status_has_its_reason_phrase():
    assert STATUS_LINES[308] == "308 Permanent Redirect"
    assert STATUS_LINES[429] == "429 Too Many Requests"
