"""The WSGI application: routes, the /api handler, and the single ``respond``.

A request walks: HTTPS policy -> route -> (for /api) pid -> origin
authorization -> client IP -> rate limits -> database lookup + country
facts + user-agent parse -> JSON. Policy lives in pure functions
(``cors``, ``clientip``, ``ratelimit``, ``visitorapi.domains``); this module
is the glue, and :meth:`VisitorAPI.respond` is the only caller of
``start_response``.

:meth:`VisitorAPI.finish` is the one place where a request's outcome
(route, status, project, country, denied origin) is known; observers
registered there (usage counting, metrics) see every response and can never
fail it.
"""
import functools
import http
import json
import logging
import re
import time
from json.encoder import encode_basestring_ascii
from urllib.parse import parse_qsl, quote

from visitorapi.domains import is_allowed
from visitorapi.state.authorized_domains import ProjectsUnavailable
from visitorapi.web import cors, pages
from visitorapi.web import metrics as metrics_policy
from visitorapi.web.clientip import TrustedProxies, client_ip, forwarded_https
from visitorapi.web.errors import HTTPError, render_error
from visitorapi.web.ratelimit import RateLimiter

log = logging.getLogger(__name__)

_PID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_HOST = re.compile(r"(?:[A-Za-z0-9-]{1,63}\.)*[A-Za-z0-9-]{1,63}\.?|\[[0-9A-Fa-f:.]{2,45}\]")
_STATUS_LINES = {status.value: f"{status.value} {status.phrase}" for status in http.HTTPStatus}
_READ_METHODS = ("GET", "HEAD")
_UNSUPPORTED_PARAMETERS = {
    "ip": "the ip parameter is not supported: the API answers for the caller's own address",
    "callback": "JSONP is not supported; call the API with XMLHttpRequest or fetch (CORS)",
    "jsonp": "JSONP is not supported; call the API with XMLHttpRequest or fetch (CORS)",
}
_NOT_FOUND_DATA = ('"countryCode":"","countryName":"","currencies":[],"languages":[],'
                   '"region":"","city":"","cityLatLong":""', '"timezone":"","continentCode":""')
_UA_FIELDS = ("browser", "browserVersion", "os", "osVersion", "deviceBrand", "deviceModel",
              "deviceFamily")
_UA_EXTRAS = ("deviceType", "isBot")
_LOCATION_CACHE_SIZE = 16384
_GRANT_CACHE_SIZE = 4096
_UA_CACHE_SIZE = 8192



class Degraded(str):
    """A store problem a node serves through, for ``store_ready`` to return.

    A shared PostgreSQL server that is down or restarting is down for every
    node at once: were ``/readyz`` to answer 503, a load balancer or
    Kubernetes would take every node out of rotation and turn a database
    outage into a full one, while each node can go on answering ``/api``
    from the projects it holds in memory. ``/readyz`` then answers 200 with
    ``"result": "degraded"`` and the problem, for monitoring.
    """

class Response:
    """A response under construction, plus the outcome facts observers count.

    Attributes:
        status: HTTP status code.
        body: the full body (``respond`` drops it for HEAD).
        content_type: the Content-Type value.
        headers: extra (name, value) pairs, checked for CR/LF/NUL in ``respond``.
        route: the route's canonical path (``"/api"`` for both ``/api`` and ``/api/``,
            ``"/healthz"``, ...; ``"unknown"`` for any other path, never the raw path).
        pid: the project, when the request named a known and enabled one.
        country: the visitor's country code on a 200 from /api ("" if unknown).
        denied_origin: the serialized origin a known project refused.
        seconds: time from the request's arrival to the response being ready.
    """

    __slots__ = ("status", "body", "content_type", "headers", "route", "pid", "country",
                 "denied_origin", "csp", "corp", "referrer_policy", "seconds")

    def __init__(self, status, body, *, content_type=cors.JSON, headers=None, route="unknown",
                 csp=cors.STRICT_CSP, corp=cors.CORP_SAME_ORIGIN):
        self.status = status
        self.body = body
        self.content_type = content_type
        self.headers = headers if headers is not None else []
        self.route = route
        self.pid = None
        self.country = None
        self.denied_origin = None
        self.seconds = 0.0
        self.csp = csp
        self.corp = corp
        self.referrer_policy = cors.NO_REFERRER


def error_response(error: HTTPError, route: str, headers=()) -> Response:
    """Return the JSON error response for ``error``, with ``headers`` added."""
    return Response(error.status, render_error(error.status, error.message),
                    headers=[*headers, *error.headers], route=route)


class VisitorAPI:
    """The visitor API as a WSGI callable.

    Args:
        settings: validated :class:`visitorapi.config.Settings`.
        database: a :class:`visitorapi.web.livedb.LiveDatabase`.
        domains: an object with ``patterns_for(pid) -> tuple | None`` (None
            for an unknown or disabled project).
        parse_ua: ``visitorapi.useragent.parse``.
        country_facts: ``visitorapi.countries.country_facts``.
        store_ready: callable returning None when the store is reachable,
            else a message (for /readyz).
        observers: callables ``f(response)`` run once per request (counting).
        accounting: a :class:`visitorapi.web.accounting.Accounting`: counts
            every response and serves ``/metrics`` (None: neither).
        mounts: ``{"/prefix/": wsgi_app}`` served before the API's routes.
        rate_limiter: a :class:`RateLimiter` (default: from ``settings``).
    """

    def __init__(self, settings, *, database, domains, parse_ua, country_facts,
                 store_ready=lambda: None, observers=(), mounts=None, rate_limiter=None,
                 accounting=None):
        self.settings = settings
        self.database = database
        self.domains = domains
        self.parse_ua = parse_ua
        self.country_facts = country_facts
        self.store_ready = store_ready
        self.observers = list(observers)
        self.accounting = accounting
        if accounting is not None:
            self.observers.append(accounting.observe)
        self.mounts = dict(mounts or {})
        self.trusted = TrustedProxies(settings.trusted_proxies, unix=settings.trust_unix_socket,
                                      header=settings.proxy_header)
        self.limiter = rate_limiter or RateLimiter(
            settings.client_rate, settings.client_burst, settings.project_rate,
            settings.project_burst, key_lifetime=settings.rate_key_lifetime)
        self.https_required = settings.https == "require"
        self.hsts = (("Strict-Transport-Security", f"max-age={settings.hsts_max_age}"),
                     ) if settings.hsts_max_age else ()
        self.pages = pages.Pages(settings)
        # PERF: the two halves of "data" that depend only on the database
        # record and only on the User-Agent are rendered once and cached.
        self._location_json = functools.lru_cache(_LOCATION_CACHE_SIZE)(self._render_location)
        self._ua_json = functools.lru_cache(_UA_CACHE_SIZE)(self._render_ua)
        self._grants = {}
        self._routes = {
            "/api": self.api, "/api/": self.api,
            "/healthz": self.healthz, "/readyz": self.readyz,
            "/.well-known/security.txt": self.security_txt,
            "/openapi.json": self.openapi, "/client.js": self.client_js, "/": self.demo,
            "/metrics": self.metrics,
        }
        for name, value in (*cors.SECURITY_HEADERS, cors.CORP_SAME_ORIGIN,
                            cors.CORP_CROSS_ORIGIN, *self.hsts):
            cors.check_header_value(value)

    # -- WSGI ---------------------------------------------------------------

    def __call__(self, environ, start_response):
        started = time.perf_counter()
        path = environ.get("PATH_INFO") or "/"
        for prefix, mounted in self.mounts.items():
            if path.startswith(prefix) or path == prefix.rstrip("/"):
                return mounted(environ, start_response)
        try:
            response = self.handle(environ, path)
        except Exception:  # NOTE: the traceback goes to the server log, never to the client
            log.exception("unhandled error in %s", _route_name(path),
                          extra={"event": "request.error"})
            response = Response(500, render_error(500, "internal error"),
                                route=_route_name(path))
        response.seconds = time.perf_counter() - started
        self.finish(response)
        return self.respond(environ, start_response, response)

    def handle(self, environ, path) -> Response:
        """Route the request and return its response (HTTPError becomes JSON)."""
        handler = self._routes.get(path)
        route = _route_name(path)
        try:
            if self.https_required:
                redirect = self.https_redirect(environ, path)
                if redirect is not None:
                    return redirect
            if handler is None:
                raise HTTPError(404, "no such path; the API is GET /api/?pid=PID")
            return handler(environ)
        except HTTPError as error:
            return error_response(error, route)

    def finish(self, response: Response):
        """The one place a request's outcome is complete: tell every observer.

        Observers count (usage, metrics); an observer's failure is logged and
        never changes the response.
        """
        for observer in self.observers:
            try:
                observer(response)
            except Exception:
                log.exception("observer failed", extra={"event": "observer.error"})

    def respond(self, environ, start_response, response: Response):
        """Write the status and headers (the app's only ``start_response``) and return the body."""
        headers = [("Content-Type", response.content_type),
                   ("Content-Length", str(len(response.body))),
                   *cors.SECURITY_HEADERS,
                   ("Content-Security-Policy", response.csp),
                   ("Referrer-Policy", response.referrer_policy),
                   response.corp]
        if response.status == 204:  # RFC 9110 section 8.6: no content, no Content-Length
            del headers[:2]
        if response.route == "/api":
            # Every /api answer depends on Origin, errors, redirects and 500s included.
            headers.append(cors.VARY_ORIGIN)
        for header in response.headers:
            cors.check_header_value(header[1])
            headers.append(header)
        if self.hsts and self.is_https(environ):
            headers.extend(self.hsts)
        start_response(_STATUS_LINES[response.status], headers)
        if environ.get("REQUEST_METHOD") == "HEAD":
            return []
        return [response.body]

    # -- HTTPS ----------------------------------------------------------------

    def is_https(self, environ) -> bool:
        """True if the client reached us over https (directly or via a trusted proxy)."""
        return environ.get("wsgi.url_scheme") == "https" or (
            self.trusted.enabled and forwarded_https(environ, self.trusted))

    def https_redirect(self, environ, path):
        """Return a 308 to https for a plain-HTTP request when https is required.

        Health probes (/healthz, /readyz) are exempt: load balancers call
        them over plain HTTP on the inside.
        """
        if path in ("/healthz", "/readyz") or self.is_https(environ):
            return None
        host = environ.get("HTTP_HOST", "")
        host_only = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        if not _HOST.fullmatch(host_only):
            raise HTTPError(400, "https is required and the Host header is missing or invalid")
        target = "https://" + host_only + quote(path.encode("latin-1"), safe="/:@!$&'()*+,;=~")
        query = environ.get("QUERY_STRING")
        if query:
            target += "?" + quote(query, safe="=&;%+/:@!$'()*,~?")
        message = "this service requires https; use " + "https://" + host_only
        return Response(308, render_error(308, message), headers=[("Location", target)],
                        route=_route_name(path))

    # -- /api ------------------------------------------------------------------

    def api(self, environ) -> Response:
        """GET/HEAD /api/?pid=PID: the visitor's information, for authorized origins."""
        method = environ.get("REQUEST_METHOD")
        if method == "OPTIONS":
            return self.preflight(environ)
        cors_headers = []
        origin_header = environ.get("HTTP_ORIGIN")
        response = Response(200, b"", headers=cors_headers, route="/api")
        try:
            if method not in _READ_METHODS:
                raise HTTPError(405, f"method {method if method.isalpha() else 'used'} is not "
                                     "allowed; use GET", headers=[("Allow", "GET, HEAD, OPTIONS")])
            pid = pid_from_query(environ.get("QUERY_STRING", ""), validate=False)
            try:
                patterns = self.domains.patterns_for(pid)
            except ProjectsUnavailable:
                # NOTE: the reason (it names files) is in /readyz and the log, not here.
                raise HTTPError(503, "not ready: the project list cannot be read") from None
            if patterns is not None:
                response.pid = pid
            else:
                # PERF: a pid the store knows is well-formed; only others are checked.
                check_pid(pid)
            # PERF: a page's Origin repeats on every visit; the decision for
            # (pid, Origin) is kept while the project's patterns are the same object.
            grant = self._grants.get((pid, origin_header)) if origin_header else None
            if grant is None or grant[0] is not patterns:
                grant = self.authorize(environ, patterns)
                if origin_header:
                    if len(self._grants) >= _GRANT_CACHE_SIZE:
                        self._grants.clear()
                    self._grants[(pid, origin_header)] = grant
            _, allowed, readable, denied, problem = grant
            if readable:
                # NOTE: error responses are readable by the calling page too, so the
                # copied snippet can JSON.parse them and reach its error callback.
                # Data is only ever sent to authorized origins (below).
                cors_headers.append(("Access-Control-Allow-Origin", origin_header))
            if not allowed:
                if patterns is not None:
                    response.denied_origin = denied
                raise HTTPError(403, problem)
            ip = client_ip(environ, self.trusted)
            retry_after = self.limiter.check(pid, ip)
            if retry_after:
                raise HTTPError(429, f"rate limit exceeded; retry after {retry_after} s",
                                headers=[("Retry-After", str(retry_after))])
            database = self.database.current()
            if database is None:
                raise HTTPError(503, "not ready: no IP database is loaded")
            try:
                location = database.lookup(ip)
            except ValueError:
                raise HTTPError(400, "the client address is not an IP address") from None
            response.body = self.render_data(ip, location, environ.get("HTTP_USER_AGENT", ""),
                                             response)
            return response
        except HTTPError as error:
            if origin_header and not cors_headers:
                # A 400/405 found before authorization: readable by the page too.
                origin, is_cors, problem = cors.request_origin(environ)
                if origin is not None or problem.startswith("origin null"):
                    cors_headers.append(("Access-Control-Allow-Origin", origin_header))
            return _as_error(response, error)

    @staticmethod
    def authorize(environ, patterns):
        """Decide whether the request's origin may use a project with ``patterns``.

        Returns:
            ``(patterns, allowed, readable, denied_origin, problem)``:
            ``readable`` when the request carries an Origin to echo in
            Access-Control-Allow-Origin; ``denied_origin`` is the serialized
            origin that was refused (None if none could be parsed); ``problem``
            the 403 message, the same whether or not the pid exists.
        """
        origin, is_cors, problem = cors.request_origin(environ)
        readable = is_cors and (origin is not None or problem.startswith("origin null"))
        if readable:
            cors.check_header_value(environ["HTTP_ORIGIN"])
        if origin is not None and patterns is not None and is_allowed(origin, patterns):
            return patterns, True, readable, None, None
        if origin is not None:
            problem = f"origin {origin.serialized} is not authorized for this project"
        return patterns, False, readable, origin.serialized if origin else None, problem

    def preflight(self, environ) -> Response:
        """OPTIONS /api: 204 with CORS grants for an authorized origin, else 403 bare."""
        response = Response(204, b"", route="/api")
        try:
            pid = pid_from_query(environ.get("QUERY_STRING", ""))
        except HTTPError:
            pid = None
        origin = None
        if "HTTP_ORIGIN" in environ and cors.is_preflight(environ):
            origin, _, _ = cors.request_origin(environ)
        patterns = self.domains.patterns_for(pid) if pid is not None else None
        if patterns is not None:
            response.pid = pid
        if (origin is None or patterns is None or not is_allowed(origin, patterns)
                or not cors.preflight_acceptable(environ)):
            if origin is not None and patterns is not None:
                response.denied_origin = origin.serialized
            return _as_error(response, HTTPError(
                403, "preflight refused: only GET and HEAD without extra headers, "
                     "from an authorized origin, are allowed"))
        response.headers += [
            ("Access-Control-Allow-Origin", cors.check_header_value(environ["HTTP_ORIGIN"])),
            *cors.PREFLIGHT_HEADERS]
        return response

    def render_data(self, ip, location, user_agent, response) -> bytes:
        """Return the success body; set ``response.country``.

        PERF: assembled from cached fragments (see ``_render_location`` and
        ``_render_ua``) instead of one ``json.dumps`` per request.
        """
        if location is None:
            country, (place, zone) = "", _NOT_FOUND_DATA
        else:
            country, place, zone = self._location_json(location)
        response.country = country
        browser, device = self._ua_json(user_agent)
        return ''.join(('{"status":200,"result":"ok","data":{"ipAddress":',
                        encode_basestring_ascii(ip), ',', place, ',', browser, ',', zone, ',',
                        device, '}}')).encode()

    def _render_location(self, location):
        """Return (country code, JSON members before the UA ones, members after)."""
        code = location.country_code or ""
        facts = self.country_facts(code) if code else None
        lat_long = (f"{location.latitude},{location.longitude}"
                    if location.latitude is not None and location.longitude is not None else "")
        place = {
            "countryCode": code,
            "countryName": facts.name if facts else "",
            "currencies": list(facts.currencies) if facts else [],
            "languages": list(facts.languages) if facts else [],
            "region": location.region or "",
            "city": location.city or "",
            "cityLatLong": lat_long,
        }
        zone = {"timezone": location.timezone or "",
                "continentCode": facts.continent_code if facts else ""}
        return code, _members(place), _members(zone)

    def _render_ua(self, user_agent):
        """Return (browser/OS/device JSON members, deviceType/isBot members)."""
        parsed = self.parse_ua(user_agent)
        main = {name: parsed.get(name) or "" for name in _UA_FIELDS}
        extra = {"deviceType": parsed.get("deviceType") or "",
                 "isBot": bool(parsed.get("isBot"))}
        return _members(main), _members(extra)

    # -- other routes -------------------------------------------------------------

    def healthz(self, environ) -> Response:
        """Liveness: the process answers."""
        _read_only(environ)
        return Response(200, b'{"status": 200, "result": "ok"}', route="/healthz")

    def readyz(self, environ) -> Response:
        """Readiness: a database is loaded and the store is reachable (200 "degraded" with the
        problem when the store is a shared server this node serves through, see Degraded)."""
        _read_only(environ)
        database = self.database.current()
        if database is None:
            raise HTTPError(503, f"not ready: {self.database.error or 'no IP database loaded'}")
        problem = self.store_ready()
        if problem and not isinstance(problem, Degraded):
            raise HTTPError(503, f"not ready: {problem}")
        body = {"status": 200, "result": "degraded" if problem else "ready"}
        if problem:
            body["problem"] = str(problem)
        built = (getattr(database, "metadata", None) or {}).get("build_time")
        if built:
            body["databaseBuilt"] = str(built)
        return Response(200, json.dumps(body).encode(), route="/readyz")

    def metrics(self, environ) -> Response:
        """Prometheus metrics for the whole service (all workers), for allowed callers only.

        Allowed: a client address in ``VISITORAPI_METRICS_ALLOW`` (loopback by
        default), or ``Authorization: Bearer`` with ``VISITORAPI_METRICS_TOKEN``.
        A request that came through a proxy this app does not trust never
        qualifies by address: behind an untrusted local reverse proxy every
        client would otherwise look like loopback.
        """
        _read_only(environ)
        if self.accounting is None:
            raise HTTPError(404, "no such path; the API is GET /api/?pid=PID")
        ip = client_ip(environ, self.trusted)
        via_untrusted_proxy = ip == environ.get("REMOTE_ADDR") and any(
            name in environ for name in _FORWARDING_HEADERS)
        token = self.settings.metrics_token
        authorization = environ.get("HTTP_AUTHORIZATION")
        if not metrics_policy.allowed("" if via_untrusted_proxy else ip, authorization,
                                      self.settings.metrics_allow, token):
            if token:  # RFC 6750 section 3: say which scheme would work
                error = 'Bearer realm="metrics", error="invalid_token"' if authorization \
                    else 'Bearer realm="metrics"'
                raise HTTPError(401, "metrics need a valid bearer token or an allowed address",
                                headers=[("WWW-Authenticate", error)])
            raise HTTPError(403, "metrics are limited to VISITORAPI_METRICS_ALLOW networks")
        body = self.accounting.metrics_text(database=self.database.current())
        return Response(200, body.encode("utf-8"), content_type=metrics_policy.CONTENT_TYPE,
                        route="/metrics")

    def security_txt(self, environ) -> Response:
        """RFC 9116 security.txt, when VISITORAPI_SECURITY_CONTACT is set."""
        _read_only(environ)
        body = self.pages.security_txt()
        if body is None:
            raise HTTPError(404, "no security contact is configured "
                                 "(VISITORAPI_SECURITY_CONTACT)")
        return Response(200, body, content_type=cors.TEXT, route="/.well-known/security.txt")

    def openapi(self, environ) -> Response:
        """The OpenAPI 3.1 description of this service."""
        _read_only(environ)
        return Response(200, self.pages.openapi(), route="/openapi.json")

    def client_js(self, environ) -> Response:
        """The VisitorAPI(pid, onSuccess, onError) client script."""
        _read_only(environ)
        return Response(200, self.pages.client_js(), content_type=cors.JAVASCRIPT,
                        route="/client.js", corp=cors.CORP_CROSS_ORIGIN)

    def demo(self, environ) -> Response:
        """The demo page (when ``visitorapi serve`` created a demo project)."""
        _read_only(environ)
        page = self.pages.demo()
        if page is None:
            raise HTTPError(404, "no demo project is configured; the API is GET /api/?pid=PID")
        body, csp = page
        response = Response(200, body, content_type=cors.HTML, route="/", csp=csp)
        # NOTE: the demo calls the API on its own origin, where browsers send
        # no Origin header; the Referer (reduced to its origin) must reach it.
        response.referrer_policy = "strict-origin"
        return response


def pid_from_query(query: str, *, validate=True) -> str:
    """Return the ``pid`` of a query string, validated unless ``validate`` is False.

    Raises:
        HTTPError: 400 when pid is missing, repeated, malformed, or an
            unsupported parameter (``ip``, JSONP ``callback``) is present.
    """
    # PERF: the snippet's query is exactly "pid=...", which needs no parsing.
    if query.startswith("pid=") and "&" not in query and "%" not in query and "+" not in query:
        pid = query[4:]
    else:
        try:
            pairs = parse_qsl(query, keep_blank_values=True, max_num_fields=32)
        except ValueError:
            raise HTTPError(400, "the query string has too many parameters") from None
        pids = []
        for name, value in pairs:
            if name == "pid":
                pids.append(value)
            elif name.lower() in _UNSUPPORTED_PARAMETERS:
                raise HTTPError(400, _UNSUPPORTED_PARAMETERS[name.lower()])
        if len(pids) != 1:
            raise HTTPError(400, "the pid parameter is required exactly once: /api/?pid=PID"
                            if not pids else "the pid parameter appears more than once")
        pid = pids[0]
    return check_pid(pid) if validate else pid


def check_pid(pid: str) -> str:
    """Return ``pid`` if it has the form of a project id, else raise HTTPError 400."""
    if not _PID.fullmatch(pid):
        raise HTTPError(400, "pid must be 1 to 64 characters from A-Z a-z 0-9 _ -")
    return pid


def _as_error(response: Response, error: HTTPError) -> Response:
    """Turn ``response`` (keeping its CORS headers and outcome facts) into ``error``."""
    response.status = error.status
    response.body = render_error(error.status, error.message)
    response.headers = [*response.headers, *error.headers]
    return response


def _members(mapping) -> str:
    """Render a dict as JSON object members, without the braces."""
    return json.dumps(mapping, ensure_ascii=False, separators=(",", ":"))[1:-1]


def _read_only(environ):
    """Refuse anything but GET and HEAD with 405."""
    if environ.get("REQUEST_METHOD") not in _READ_METHODS:
        raise HTTPError(405, "only GET and HEAD are allowed here", headers=[("Allow", "GET, HEAD")])


_FORWARDING_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED", "HTTP_X_REAL_IP")
_ROUTE_NAMES = {"/api": "/api", "/api/": "/api", "/healthz": "/healthz", "/readyz": "/readyz",
                "/metrics": "/metrics", "/": "/",
                "/.well-known/security.txt": "/.well-known/security.txt",
                "/openapi.json": "/openapi.json", "/client.js": "/client.js"}


def _route_name(path: str) -> str:
    """The route's name for counting; every unknown path is "unknown" (never the raw path)."""
    return _ROUTE_NAMES.get(path, "unknown")
