"""The API's WSGI application: routes, the /api handler, and its header policy.

A request walks down once: the HTTP core's request view -> HTTPS policy ->
route -> (for /api) pid -> origin and typed authorization decision
(``authorize``) -> client address (``clientip``) -> rate limits -> database
lookup + country facts + user-agent parse -> JSON, with CORS headers
(``cors``) on the way out. Policy lives in pure functions; this module is
the glue, and the core's :class:`~visitorapi.http.response.Responder` is
the only caller of ``start_response``.

:meth:`VisitorAPI.finish` is the one place where a request's outcome
(route, status, project, country, denied origin) is known; observers
registered there (usage counting, metrics) see every response and can never
fail it.
"""
import json
import logging
import time
from urllib.parse import parse_qsl

from visitorapi import pids
from visitorapi.domains import is_allowed
from visitorapi.http.errors import HTTPError
from visitorapi.http.request import Request
from visitorapi.http.response import HTML, JAVASCRIPT, TEXT, Responder
from visitorapi.ipdb import InvalidDatabaseError
from visitorapi.state.authorized_domains import ProjectsUnavailable
from visitorapi.web import answer, cors, pages
from visitorapi.web import metrics as metrics_policy
from visitorapi.web.authorize import asking_origin, authorize
from visitorapi.web.clientip import TrustedProxies, client_ip, forwarded_https
from visitorapi.web.https import host_problem, https_location
from visitorapi.web.ratelimit import RateLimiter
from visitorapi.web.responses import (API_POLICY, POLICY, SCRIPT_POLICY, ApiResponse,
                                      render_error)
from visitorapi.web.routes import ALIASES, PATHS, ROUTES, route_name

log = logging.getLogger(__name__)

_READ_METHODS = ("GET", "HEAD")
_UNSUPPORTED_PARAMETERS = {
    "ip": "the ip parameter is not supported: the API answers for the caller's own address",
    "callback": "JSONP is not supported; call the API with XMLHttpRequest or fetch (CORS)",
    "jsonp": "JSONP is not supported; call the API with XMLHttpRequest or fetch (CORS)",
}
# The visitor's answer when no sound database is served (missing or damaged);
# the reason is for the operator: /readyz and the log.
_NO_DATABASE = "not ready: no IP database is loaded"
_GRANT_CACHE_SIZE = 4096


class Degraded(str):
    """A store problem a node serves through, for ``store_ready`` to return.

    A shared PostgreSQL server that is down or restarting is down for every
    node at once: were ``/readyz`` to answer 503, a load balancer or
    Kubernetes would take every node out of rotation and turn a database
    outage into a full one, while each node can go on answering ``/api``
    from the projects it holds in memory. ``/readyz`` then answers 200 with
    ``"result": "degraded"`` and the problem, for monitoring.
    """


# Health probes are exempt from the redirect to https: load balancers call them
# over plain HTTP on the inside.
_PROBES = ("/healthz", "/readyz")


class VisitorAPI:
    """The visitor API as a WSGI callable.

    Args:
        settings: validated :class:`visitorapi.config.Settings`.
        database: a :class:`visitorapi.web.livedb.LiveDatabase`.
        networks: the AS-number database's ``LiveDatabase`` (None: not configured).
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

    def __init__(self, settings, *, database, domains, parse_ua, country_facts, networks=None,
                 store_ready=lambda: None, observers=(), mounts=None, rate_limiter=None,
                 accounting=None):
        self.settings = settings
        self.database = database
        self.networks = networks
        self.domains = domains
        self.renderer = answer.Renderer(parse_ua, country_facts)
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
            settings.project_burst, key_lifetime=settings.rate_key_lifetime,
            ipv6_prefix=settings.client_ipv6_prefix)
        self.https_required = settings.https == "require"
        self.responder = Responder(POLICY, hsts=settings.hsts)
        self.pages = pages.Pages(settings)
        self._grants = {}
        self._routes = {path: getattr(self, ROUTES[ALIASES.get(path, path)]) for path in PATHS}

    # -- WSGI ---------------------------------------------------------------

    def __call__(self, environ, start_response):
        started = time.perf_counter()
        path = environ.get("PATH_INFO") or "/"
        problem = host_problem(environ)
        if problem is None:
            for prefix, mounted in self.mounts.items():
                if path.startswith(prefix) or path == prefix.rstrip("/"):
                    return mounted(environ, start_response)
        request = Request(environ, self.is_https(environ))
        try:
            response = (self.handle(request) if problem is None else
                        ApiResponse(400, render_error(400, problem), route=route_name(path)))
        except Exception:  # NOTE: the traceback goes to the server log, never to the client
            log.exception("unhandled error in %s", route_name(path),
                          extra={"event": "request.error"})
            response = ApiResponse(500, render_error(500, "internal error"),
                                   route=route_name(path))
        if response.route == "/api":
            # Every /api answer depends on Origin, errors, redirects and 500s included.
            response.policy = API_POLICY
        response.seconds = time.perf_counter() - started
        self.finish(response)
        return self.responder.respond(start_response, response, head=request.method == "HEAD",
                                      https=request.https)

    def handle(self, request: Request) -> ApiResponse:
        """Route the request and return its response (HTTPError becomes JSON)."""
        path = request.path
        handler = self._routes.get(path)
        try:
            if self.https_required and not request.https and path not in _PROBES:
                return self.https_redirect(request)
            if handler is None:
                raise HTTPError(404, "no such path; the API is GET /api/?pid=PID")
            return handler(request)
        except HTTPError as error:
            return ApiResponse(error.status, render_error(error.status, error.message),
                               headers=list(error.headers), route=route_name(path))

    def finish(self, response: ApiResponse):
        """The one place a request's outcome is complete: tell every observer.

        Observers count (usage, metrics); an observer's failure is logged and
        never changes the response.
        """
        for observer in self.observers:
            try:
                observer(response)
            except Exception:
                log.exception("observer failed", extra={"event": "observer.error"})

    # -- HTTPS ----------------------------------------------------------------

    def is_https(self, environ) -> bool:
        """True if the client reached us over https (directly or via a trusted proxy)."""
        return environ.get("wsgi.url_scheme") == "https" or (
            self.trusted.enabled and forwarded_https(environ, self.trusted))

    def https_redirect(self, request: Request) -> ApiResponse:
        """A 308 to https for a plain-HTTP request when https is required."""
        target = https_location(request.path, request.environ.get("QUERY_STRING", ""),
                                request.environ.get("HTTP_HOST", ""), self.settings.public_url)
        origin = "/".join(target.split("/", 3)[:3])
        return ApiResponse(308, render_error(308, "this service requires https; use " + origin),
                           headers=[("Location", target)], route=route_name(request.path))

    # -- /api ------------------------------------------------------------------

    def api(self, request: Request) -> ApiResponse:
        """GET/HEAD /api/?pid=PID: the visitor's information, for authorized origins.

        The walk, once, in the order of the module map: (the project named)
        client address -> origin and decision -> limits -> lookup -> answer.
        An error keeps the CORS grant made so far, so the calling page can read it.
        """
        environ = request.environ
        if request.method == "OPTIONS":
            return self.preflight(request)
        response = ApiResponse(200, b"", route="/api")
        try:
            method = request.method
            if method not in _READ_METHODS:
                raise HTTPError(405, f"method {method if method.isalpha() else 'used'} is not "
                                     "allowed; use GET", headers=[("Allow", "GET, HEAD, OPTIONS")])
            pid, fields = query_parameters(environ.get("QUERY_STRING", ""), validate=False)
            try:
                patterns = self.domains.patterns_for(pid)
            except ProjectsUnavailable:
                # NOTE: the reason (it names files) is in /readyz and the log, not here.
                raise HTTPError(503, "not ready: the project list cannot be read") from None
            if patterns is not None:
                response.pid = pid  # NOTE: known first, so every outcome counts for it
            else:
                # PERF: a pid the store knows is well-formed; only others are checked.
                check_pid(pid)
            # 1. client address
            ip = client_ip(environ, self.trusted)
            # 2. origin -> decision
            # PERF: a page's Origin repeats on every visit; the decision for
            # (pid, Origin) is kept while the project's patterns are the same object.
            grant = self._grants.get((pid, environ.get("HTTP_ORIGIN")))
            decision = grant[1] if grant is not None and grant[0] is patterns \
                else self.decide(environ, pid, patterns)
            if decision.asking.readable:
                # NOTE: error responses are readable by the calling page too, so the
                # copied snippet can JSON.parse them and reach its error callback.
                # Data is only ever sent to authorized origins (below).
                response.headers.append((cors.ALLOW_ORIGIN, environ["HTTP_ORIGIN"]))
            if not decision.allowed:
                if patterns is not None:
                    response.denied_origin = decision.denied_origin
                raise HTTPError(403, decision.message)
            # 3. limits
            retry_after = self.limiter.check(pid, ip)
            if retry_after:
                raise HTTPError(429, f"rate limit exceeded; retry after {retry_after} s",
                                headers=[("Retry-After", str(retry_after))])
            # 4. lookup
            database = self.database.current()
            if database is None:
                raise HTTPError(503, _NO_DATABASE)
            try:
                location = database.lookup(ip)
            except ValueError:
                raise HTTPError(400, "the client address is not an IP address") from None
            except InvalidDatabaseError as error:
                raise self.damaged(database, error) from None
            # 5. answer
            network = self.network_of(ip)
            try:
                response.body, response.country = self.renderer.render(
                    ip, location, environ.get("HTTP_USER_AGENT", ""), fields, network=network)
            except InvalidDatabaseError as error:  # a lazy Location decodes its record here
                raise self.damaged(database, error) from None
            return response
        except HTTPError as error:
            if not response.headers and "HTTP_ORIGIN" in environ \
                    and asking_origin(environ).readable:
                # A 400/405 found before the decision: readable by the page too.
                response.headers.append((cors.ALLOW_ORIGIN, environ["HTTP_ORIGIN"]))
            return response.fail(error)

    def network_of(self, ip):
        """The address's AS-number values ``(asn, organization)``, or None.

        None when the address is not in the AS data, or no sound AS database
        is loaded. NOTE: the AS data is an extra: while its database is
        missing or damaged the answer still goes out, with ``asn: null``, and
        /readyz says why; a damaged file is reported once, like the IP database.
        """
        networks = self.networks.current() if self.networks is not None else None
        if networks is None:
            return None
        try:
            network = networks.lookup(ip)
            # NOTE: decoded here, so a damaged record blames this file, not the
            # location database, and the render cache never holds the mapping.
            return None if network is None else tuple(network)
        except InvalidDatabaseError as error:
            self.networks.report_damage(networks, error)
            return None

    def damaged(self, database, error) -> HTTPError:
        """The 503 for a lookup that found ``database`` damaged, which stops being served.

        The visitor is told nothing about the file; the operator gets one
        log line naming it, and /readyz the reason (``LiveDatabase.report_damage``).
        """
        self.database.report_damage(database, error)
        return HTTPError(503, _NO_DATABASE)

    def decide(self, environ, pid, patterns):
        """Authorize the request (a :class:`~visitorapi.web.authorize.Decision`) and cache it.

        Only a decision keyed by an Origin header is kept: one from a Referer
        depends on the whole header, which varies by page.
        """
        origin_header = environ.get("HTTP_ORIGIN")
        decision = authorize(environ, patterns)
        if not origin_header:
            return decision
        key = (pid, origin_header)
        if len(self._grants) >= _GRANT_CACHE_SIZE:
            self._grants.clear()
        self._grants[key] = (patterns, decision)
        return decision

    def preflight(self, request: Request) -> ApiResponse:
        """OPTIONS /api: 204 with CORS grants for an authorized origin, else 403 bare."""
        environ = request.environ
        response = ApiResponse(204, b"", route="/api")
        try:
            pid = pid_from_query(environ.get("QUERY_STRING", ""))
        except HTTPError:
            pid = None
        patterns = self.domains.patterns_for(pid) if pid is not None else None
        if patterns is not None:
            response.pid = pid
        decision = authorize(environ, patterns) if cors.is_preflight(environ) else None
        if decision is None or not decision.allowed or not cors.preflight_acceptable(environ):
            asking = decision.asking.origin if decision is not None else None
            if asking is not None and patterns is not None:
                response.denied_origin = asking.serialized
            return response.fail(HTTPError(
                403, "preflight refused: only GET and HEAD without extra headers, "
                     "from an authorized origin, are allowed"))
        response.headers += [(cors.ALLOW_ORIGIN, environ["HTTP_ORIGIN"]), *cors.PREFLIGHT_HEADERS]
        return response

    # -- other routes -------------------------------------------------------------

    def healthz(self, request: Request) -> ApiResponse:
        """Liveness: the process answers."""
        _read_only(request)
        return ApiResponse(200, b'{"status": 200, "result": "ok"}', route="/healthz")

    def readyz(self, request: Request) -> ApiResponse:
        """Readiness: a sound database is loaded and the store is reachable.

        A missing, refused or damaged database is 503 with the reason (it
        names the file: this answer is for the operator's probes). When the
        store is a shared server this node serves through without it, the
        answer is 200 "degraded" with the problem (see Degraded).
        """
        _read_only(request)
        database = self.database.current()
        if database is None:
            raise HTTPError(503, f"not ready: {self.database.error or 'no IP database loaded'}")
        if self.networks is not None and self.networks.current() is None:
            raise HTTPError(503, f"not ready: {self.networks.error or 'no AS-number database'}")
        problem = self.store_ready()
        if problem and not isinstance(problem, Degraded):
            raise HTTPError(503, f"not ready: {problem}")
        body = {"status": 200, "result": "degraded" if problem else "ready"}
        if problem:
            body["problem"] = str(problem)
        built = (getattr(database, "metadata", None) or {}).get("build_time")
        if built:
            body["databaseBuilt"] = str(built)
        return ApiResponse(200, json.dumps(body).encode(), route="/readyz")

    def metrics(self, request: Request) -> ApiResponse:
        """Prometheus metrics for the whole service (all workers), for allowed callers only.

        Allowed: a client address in ``VISITORAPI_METRICS_ALLOW`` (loopback by
        default), or ``Authorization: Bearer`` with ``VISITORAPI_METRICS_TOKEN``.
        A request that came through a proxy this app does not trust never
        qualifies by address: behind an untrusted local reverse proxy every
        client would otherwise look like loopback.
        """
        _read_only(request)
        if self.accounting is None:
            raise HTTPError(404, "no such path; the API is GET /api/?pid=PID")
        environ = request.environ
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
        return ApiResponse(200, body.encode("utf-8"), content_type=metrics_policy.CONTENT_TYPE,
                        route="/metrics")

    def security_txt(self, request: Request) -> ApiResponse:
        """RFC 9116 security.txt, when VISITORAPI_SECURITY_CONTACT is set."""
        _read_only(request)
        body = self.pages.security_txt()
        if body is None:
            raise HTTPError(404, "no security contact is configured "
                                 "(VISITORAPI_SECURITY_CONTACT)")
        return ApiResponse(200, body, content_type=TEXT, route="/.well-known/security.txt")

    def openapi(self, request: Request) -> ApiResponse:
        """The OpenAPI 3.1 description of this service."""
        _read_only(request)
        return ApiResponse(200, self.pages.openapi(), route="/openapi.json")

    def client_js(self, request: Request) -> ApiResponse:
        """The VisitorAPI(pid, onSuccess, onError) client script."""
        _read_only(request)
        return ApiResponse(200, self.pages.client_js(), content_type=JAVASCRIPT,
                           route="/client.js", policy=SCRIPT_POLICY)

    def demo(self, request: Request) -> ApiResponse:
        """The demo page (when ``visitorapi serve`` created a demo project)."""
        _read_only(request)
        page = self.pages.demo()
        if page is None:
            raise HTTPError(404, "no demo project is configured; the API is GET /api/?pid=PID")
        body, policy = page
        return ApiResponse(200, body, content_type=HTML, route="/", policy=policy)


def pid_from_query(query: str, *, validate=True) -> str:
    """Return the ``pid`` of a query string, validated unless ``validate`` is False.

    Raises:
        HTTPError: 400, as :func:`query_parameters`.
    """
    return query_parameters(query, validate=validate)[0]


def query_parameters(query: str, *, validate=True) -> tuple:
    """Return ``(pid, fields)`` of an /api query string; ``fields`` is None when not asked.

    ``fields=countryCode,city`` keeps only those members of the answer's
    data (names from :data:`visitorapi.web.answer.NAMES`, comma-separated).

    Raises:
        HTTPError: 400 when pid is missing, repeated or malformed (unless
            ``validate`` is False), fields is repeated, empty or names an
            unknown field, or an unsupported parameter (``ip``, JSONP
            ``callback``) is present.
    """
    # PERF: the snippet's query is exactly "pid=...", which needs no parsing.
    if query.startswith("pid=") and "&" not in query and "%" not in query and "+" not in query:
        pid, fields = query[4:], None
    else:
        try:
            pairs = parse_qsl(query, keep_blank_values=True, max_num_fields=32)
        except ValueError:
            raise HTTPError(400, "the query string has too many parameters") from None
        found, asked = [], []
        for name, value in pairs:
            if name == "pid":
                found.append(value)
            elif name == "fields":
                asked.append(value)
            elif name.lower() in _UNSUPPORTED_PARAMETERS:
                raise HTTPError(400, _UNSUPPORTED_PARAMETERS[name.lower()])
        if len(found) != 1:
            raise HTTPError(400, "the pid parameter is required exactly once: /api/?pid=PID"
                            if not found else "the pid parameter appears more than once")
        pid = found[0]
        fields = _fields(asked) if asked else None
    return (check_pid(pid) if validate else pid), fields


def _fields(asked: list) -> frozenset:
    """Check the ``fields`` parameter's names against the answer's."""
    if len(asked) > 1:
        raise HTTPError(400, "the fields parameter appears more than once; "
                             "list the names in one: fields=countryCode,city")
    names = [name.strip() for name in asked[0].split(",")]
    if not any(names):
        raise HTTPError(400, "the fields parameter is empty; list the answer's members to "
                             "keep, e.g. fields=countryCode,city")
    unknown = [name for name in names if name not in answer.NAMES]
    if unknown:
        shown = ", ".join(repr(name[:40]) for name in unknown[:5])
        raise HTTPError(400, f"unknown field(s) {shown}; the answer's fields are "
                             + ",".join(answer.NAMES))
    return frozenset(names)


def check_pid(pid: str) -> str:
    """Return ``pid`` if it has the form of a project id, else raise HTTPError 400."""
    if not pids.is_pid(pid):
        raise HTTPError(400, f"pid must be {pids.FORM}")
    return pid


def _read_only(request: Request):
    """Refuse anything but GET and HEAD with 405."""
    if request.method not in _READ_METHODS:
        raise HTTPError(405, "only GET and HEAD are allowed here", headers=[("Allow", "GET, HEAD")])


_FORWARDING_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED", "HTTP_X_REAL_IP")

