"""The shipped gunicorn settings and the private logger, as plain functions."""
import datetime
import logging
import os
from types import SimpleNamespace

import pytest
from gunicorn.config import Config
from gunicorn.http.errors import NoMoreData

from visitorapi.web import gunicorn_conf
from visitorapi.web.gunicorn_logger import PrivateLogger


@pytest.mark.parametrize("addresses, loopback", [
    pytest.param([("127.0.0.1", 8000)], True, id="ipv4-loopback"),
    pytest.param([("::1", 8000)], True, id="ipv6-loopback"),
    pytest.param([("localhost", 8000)], True, id="localhost"),
    pytest.param(["/run/visitorapi.sock"], True, id="unix-socket"),
    pytest.param([("0.0.0.0", 8000)], False, id="any-ipv4"),
    pytest.param([("::", 8000)], False, id="any-ipv6"),
    pytest.param([("127.0.0.1", 8000), ("192.0.2.1", 443)], False, id="mixed"),
    pytest.param([("api.example.com", 443)], False, id="hostname"),
])
def test_loopback_bind(addresses, loopback):
    assert gunicorn_conf.is_loopback_bind(addresses) is loopback


@pytest.mark.parametrize("configured, addresses, resolved", [
    pytest.param("auto", [("0.0.0.0", 443)], "require", id="auto-public"),
    pytest.param("auto", [("127.0.0.1", 8000)], "off", id="auto-loopback"),
    pytest.param("off", [("0.0.0.0", 443)], "off", id="explicit-off-kept"),
])
def test_on_starting_resolves_https_auto(monkeypatch, tmp_path, configured, addresses, resolved):
    monkeypatch.setenv("VISITORAPI_HTTPS", configured)
    monkeypatch.setenv("VISITORAPI_RUN_DIR", str(tmp_path))
    monkeypatch.setenv("VISITORAPI_METRICS_DIR", "")  # restored after the test
    monkeypatch.setenv("VISITORAPI_DB", str(tmp_path / "given.vdb"))  # no default build here
    server = SimpleNamespace(cfg=SimpleNamespace(address=addresses),
                             log=logging.getLogger("test"))
    gunicorn_conf.on_starting(server)
    assert os.environ["VISITORAPI_HTTPS"] == resolved


def test_limits_are_tighter_than_gunicorn_defaults():
    defaults = Config()
    assert gunicorn_conf.limit_request_line < defaults.limit_request_line
    assert gunicorn_conf.limit_request_fields < defaults.limit_request_fields
    assert gunicorn_conf.limit_request_field_size < defaults.limit_request_field_size
    assert gunicorn_conf.forwarded_allow_ips == ""
    for atom in ("%(h)s", "%(r)s", "%(q)s", "%(a)s", "%(f)s"):
        assert atom not in gunicorn_conf.access_log_format


@pytest.fixture
def logger():
    config = Config()
    config.set("accesslog", "-")
    return PrivateLogger(config)


def test_access_atoms_carry_no_visitor_data(logger):
    request = SimpleNamespace(method="GET", path="/api/", query="pid=p&x=CANARY",
                              version=(1, 1), headers=[("USER-AGENT", "CANARY-UA"),
                                                       ("REFERER", "https://canary.test/")],
                              uri="/api/?pid=p&x=CANARY")
    response = SimpleNamespace(status="200 OK", response_length=10, sent=10,
                               headers=[("Content-Type", "application/json")])
    environ = {"REMOTE_ADDR": "198.51.100.99", "RAW_URI": "/api/?pid=p&x=CANARY",
               "SERVER_PROTOCOL": "HTTP/1.1", "HTTP_USER_AGENT": "CANARY-UA",
               "HTTP_REFERER": "https://canary.test/", "QUERY_STRING": "pid=p&x=CANARY",
               "REQUEST_METHOD": "GET", "PATH_INFO": "/api/"}
    atoms = logger.atoms(response, request, environ, datetime.timedelta(milliseconds=3))
    rendered = repr(dict(atoms)) + repr([atoms[key] for key in ("{user-agent}i", "{referer}i")])
    assert "CANARY" not in rendered.upper() and "198.51.100.99" not in rendered
    assert atoms["U"] == "/api/" and atoms["s"] == "200"


@pytest.mark.parametrize("method, message, args", [
    pytest.param("warning", "Invalid request from ip=198.51.100.99: Invalid HTTP request line: "
                 "'GET /?CANARY'", (), id="malformed-request"),
    pytest.param("exception", "Error handling request %s %s", ("GET", "/?CANARY"),
                 id="handler-error"),
    pytest.param("error", "Error handling request %s", ("/?CANARY",), id="handler-error-uri"),
    pytest.param("debug", "Ignored premature client disconnection. %s",
                 (NoMoreData(b"Host: x\r\nX-Forwarded-For: 198.51.100.99\r\nUser-Agent: CANARY"),),
                 id="truncated-head"),
    pytest.param("debug", "Closing connection. %s", (StopIteration("GET /?CANARY"),),
                 id="closing"),
    pytest.param("info", "Error while closing socket %s", (("198.51.100.99", 5000),),
                 id="address"),
    pytest.param("critical", RuntimeError("GET /?CANARY"), (), id="exception-as-message"),
])
def test_gunicorn_messages_that_name_the_client_are_rewritten(logger, method, message, args):
    # NOTE: gunicorn's error log does not propagate to the root logger, so the
    # records are read from a handler on that log itself (caplog sees nothing).
    records = []
    handler = logging.Handler(logging.DEBUG)
    handler.emit = records.append
    logger.error_log.addHandler(handler)
    logger.error_log.setLevel(logging.DEBUG)  # as with --log-level debug
    try:
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            getattr(logger, method)(message, *args)
    finally:
        logger.error_log.removeHandler(handler)
    text = "\n".join(logging.Formatter().format(record) for record in records)
    assert records and "withheld" in text
    assert "CANARY" not in text and "198.51.100.99" not in text


def test_gunicorn_wsgi_module_log_is_filtered_too(logger):
    """gunicorn.http.wsgi logs through its own module logger, not the error log."""
    records = []
    handler = logging.Handler(logging.DEBUG)
    handler.emit = records.append
    wsgi_log = logging.getLogger("gunicorn.http.wsgi")
    wsgi_log.addHandler(handler)
    try:
        wsgi_log.warning("WSGI app sent body bytes on a no-body response (method=%s status=%s)",
                         NoMoreData(b"X-Forwarded-For: 198.51.100.99"), 204)
    finally:
        wsgi_log.removeHandler(handler)
    text = "\n".join(logging.Formatter().format(record) for record in records)
    assert records and "198.51.100.99" not in text and "204" in text
