"""The one WSGI test harness (API and dashboard), and builders for API apps.

Every in-process request goes through :func:`wsgiref.validate.validator`,
which raises on any PEP 3333 violation (bad status line, non-str header,
missing Content-Type, start_response misuse) before gunicorn would.
:func:`call` is the API tests' request; the dashboard's browser-like client
(``dashboard_client``) builds its environ with :func:`make_environ` and runs
it with :func:`run_wsgi` too.
"""
import io
import ipaddress
import json
import sys
from wsgiref.util import setup_testing_defaults
from wsgiref.validate import validator

from visitorapi.config import load_settings
from visitorapi.countries import country_facts as real_facts
from visitorapi.domains import parse_pattern
from visitorapi.useragent import parse as real_parse
from visitorapi.web.app import VisitorAPI


class Reply:
    """A response as the tests see it."""

    def __init__(self, status_line, headers, body):
        self.status = int(status_line.split(" ", 1)[0])
        self.status_line = status_line
        self.headers = headers
        self.body = body

    def header(self, name):
        """The single value of header ``name`` (None if absent; fails if repeated)."""
        values = [value for key, value in self.headers if key.lower() == name.lower()]
        assert len(values) <= 1, f"{name} appears {len(values)} times"
        return values[0] if values else None

    @property
    def json(self):
        return json.loads(self.body)


def make_environ(path="/api/", query="", *, method="GET", headers=None,
                 remote_addr="192.0.2.10", scheme="http", host="api.test", body=b"",
                 environ_changes=None):
    """A complete WSGI environ for one request (``headers``: {"Name": value}).

    ``environ_changes`` is applied last ({key: None} removes a key).
    """
    environ = {"REQUEST_METHOD": method, "SCRIPT_NAME": "", "PATH_INFO": path,
               "QUERY_STRING": query,
               "REMOTE_ADDR": remote_addr, "HTTP_HOST": host, "SERVER_NAME": host,
               "wsgi.url_scheme": scheme, "wsgi.input": io.BytesIO(body),
               "CONTENT_LENGTH": str(len(body)), "wsgi.errors": sys.stderr}
    for name, value in (headers or {}).items():
        key = name.upper().replace("-", "_")
        environ[key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else "HTTP_" + key] = value
    setup_testing_defaults(environ)
    for key, value in (environ_changes or {}).items():
        if value is None:
            environ.pop(key, None)
        else:
            environ[key] = value
    return environ


def call(app, path="/api/", query="", **request):
    """Send one request to ``app`` under wsgiref.validate; return a :class:`Reply`.

    ``request``: the keyword arguments of :func:`make_environ`.
    """
    return run_wsgi(app, make_environ(path, query, **request))


def run_wsgi(app, environ) -> Reply:
    """Run ``app`` on ``environ`` under wsgiref.validate; return a :class:`Reply`."""
    captured = {}

    def start_response(status, response_headers, exc_info=None):
        captured["status"], captured["headers"] = status, response_headers
        return lambda data: None

    result = validator(app)(environ, start_response)
    try:
        body = b"".join(result)
    finally:
        result.close()
    return Reply(captured["status"], captured["headers"], body)


class Domains:
    """Authorized domains by pid, as the projects store's live view answers them."""

    def __init__(self, projects):
        self.projects = {pid: tuple(parse_pattern(p) for p in patterns)
                         for pid, patterns in projects.items()}

    def patterns_for(self, pid):
        return self.projects.get(pid)


class StaticDatabase:
    """A LiveDatabase stand-in that always serves one database (or none)."""

    def __init__(self, database, error=None):
        self.database = database
        self.error = error

    def current(self):
        return self.database


def make_settings(tmp_path, **env):
    """Settings from a private environment (defaults: no rate limits, https off)."""
    environ = {"VISITORAPI_STATE": str(tmp_path / "state.sqlite3"),
               "VISITORAPI_DB": str(tmp_path / "db.vdb"),
               "VISITORAPI_HTTPS": "off", "VISITORAPI_CLIENT_RATE": "0",
               "VISITORAPI_PROJECT_RATE": "0", **env}
    return load_settings(environ)


def make_app(tmp_path, database, projects=None, *, parse_ua=None, country_facts=None, **env):
    """A VisitorAPI over ``database`` with ``projects`` = {pid: [pattern, ...]}."""
    return VisitorAPI(make_settings(tmp_path, **env),
                      database=StaticDatabase(database),
                      domains=Domains(projects or {}),
                      parse_ua=parse_ua or real_parse,
                      country_facts=country_facts or real_facts)


class Place:
    """A location record with the attributes of ``visitorapi.ipdb.Location``."""

    __slots__ = ("country_code", "region", "district", "city", "postcode", "latitude",
                 "longitude", "timezone")

    def __init__(self, country_code=None, region=None, district=None, city=None, postcode=None,
                 latitude=None, longitude=None, timezone=None):
        for name in self.__slots__:
            setattr(self, name, locals()[name])

    def _key(self):
        return tuple(getattr(self, name) for name in self.__slots__)

    def __iter__(self):
        return iter(self._key())  # a Location iterates over its fields in this order

    def __eq__(self, other):
        return isinstance(other, Place) and self._key() == other._key()

    def __hash__(self):
        return hash(self._key())


class FakeDatabase:
    """A stand-in for an opened ipdb Database that counts lookups.

    It honors the ``Database.lookup`` contract the web layer relies on
    (ValueError for a malformed address, None when not found), so the web
    tests exercise policy without compiling a database; the server tests
    use a real compiled one.
    """

    def __init__(self, places=None):
        self.places = [(ipaddress.ip_network(net), place)
                       for net, place in (places or DEFAULT_PLACES).items()]
        self.lookups = 0

    def lookup(self, ip):
        self.lookups += 1
        address = ipaddress.ip_address(ip)  # ValueError on malformed, as the contract says
        for network, place in self.places:
            if address.version == network.version and address in network:
                return place
        return None


DEFAULT_PLACES = {
    "192.0.2.0/24": Place("DE", "Berlin", None, "Berlin", None, 52.52, 13.405, "Europe/Berlin"),
    "198.51.100.0/24": Place("FR", "Île-de-France", None, "Paris", None, 48.8566, 2.3522,
                             "Europe/Paris"),
    "203.0.113.0/24": Place("US"),
    "2001:db8::/32": Place("JP", "Tokyo", None, "Tokyo", None, 35.6895, 139.6917, "Asia/Tokyo"),
}
