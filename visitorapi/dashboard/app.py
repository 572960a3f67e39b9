"""The dashboard's WSGI application: routing, access rules, CSRF, and the one respond().

Served by the same gunicorn as the API, under ``/dashboard/`` (the web app
hands every path under that prefix to :class:`DashboardApp`); it also runs
on its own for tests (``wsgiref``).

Every request walks the same path: static file, or load the session from
its ``__Host-`` cookie → check the route's access level (anonymous login
step, second-factor step, logged in, owner) → for a POST, check the Origin
and the session's CSRF synchronizer token → run the page → add the security
headers → :meth:`DashboardApp.respond`, the only caller of start_response.
"""
import logging
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from visitorapi.dashboard import layout
from visitorapi.dashboard.http import (STATUS_LINES, Request, Response, redirect,
                                       session_cookie_header)
from visitorapi.dashboard.markup import render
from visitorapi.errors import OperatorError
from visitorapi.state import accounts, db, sessions
from visitorapi.useragent import parse as parse_ua
from visitorapi.web.errors import HTTPError

log = logging.getLogger(__name__)

PREFIX = "/dashboard"
STATIC = Path(__file__).resolve().parent / "static"

# The strictest policy the pages work under: no script at all, styles only
# from our own stylesheet, forms only to ourselves, never framed.
CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
       "base-uri 'none'; frame-ancestors 'none'")
SECURITY_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("Cache-Control", "no-store"),
    # NOTE: not "no-referrer" as on the API: under no-referrer a browser sends
    # "Origin: null" with form POSTs (Fetch, "serializing a request origin"),
    # which would defeat the Origin check. same-origin leaks nothing outside.
    ("Referrer-Policy", "same-origin"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("X-Frame-Options", "DENY"),
)
HSTS = ("Strict-Transport-Security", "max-age=31536000")
_UNSAFE_HEADER_CHARS = re.compile(r"[\r\n\x00]")

# Access levels a route can ask for.
PRE_LOGIN = "pre-login"  # anonymous session (made on GET), for the login form
SECOND_FACTOR = "second-factor"  # password given, code pending
ENROLL = "enroll"  # logged in, allowed even while an owner-required MFA is not set up
USER = "user"  # logged in (and enrolled if MFA is required)
OWNER = "owner"


@dataclass
class Context:
    """What a page handler gets: the request, the store, the session and its account."""

    app: "DashboardApp"
    request: Request
    conn: object
    now: float
    session: sessions.Session = None
    account: accounts.Account = None
    headers: list = field(default_factory=list)

    @property
    def prefix(self) -> str:
        return self.app.prefix

    def attribution(self) -> str:
        return self.app.attribution()

    def actor(self) -> str:
        """The audit trail's actor for this request's account."""
        return f"dashboard:{self.account.email}"

    def client_ip(self) -> str:
        return self.app.client_ip(self.request.environ)

    def set_session(self, cookie_value: str, session: sessions.Session) -> None:
        """Send a (new) session id to the browser and use it for the rest of the request."""
        self.session = session
        self.headers.append(session_cookie_header(cookie_value))

    def end_session(self) -> None:
        if self.session is not None:
            sessions.delete(self.conn, self.session.id_hash)
        self.session = None
        self.headers.append(session_cookie_header("", clear=True))

    def start_session(self, account, stage: str, reauthenticated: bool) -> None:
        """Replace whatever session the browser had with a new id (login: no fixation)."""
        if self.session is not None:
            sessions.delete(self.conn, self.session.id_hash)
        cookie, session = sessions.create(self.conn, self.now, account.id, stage,
                                          label=self.device_label(),
                                          reauth_at=self.now if reauthenticated else None)
        self.account = account
        self.set_session(cookie, session)

    def device_label(self) -> str:
        """A coarse "Browser on OS" label for the sessions list (the operator's, never a visitor's)."""
        parsed = parse_ua(self.request.environ.get("HTTP_USER_AGENT", ""))
        return f"{parsed['browser']} on {parsed['os']}"

    def rotate_session(self, **changes) -> None:
        """New id and CSRF token for the same session (any change of privilege)."""
        cookie, session = sessions.rotate(self.conn, self.session, self.now, **changes)
        self.set_session(cookie, session)

    def require_reauth(self, back: str) -> None:
        """Raise a redirect to re-authentication (then back to page ``back``) unless recent."""
        if not self.session.recently_reauthenticated(self.now):
            raise Redirect(f"{self.prefix}/reauth?next={self.prefix}{back}")


class Redirect(Exception):
    """Raised by a handler to answer with a 303 to a local path."""

    def __init__(self, location: str):
        super().__init__(location)
        self.location = location


def _default_client_ip(environ) -> str:
    return environ.get("REMOTE_ADDR") or ""


def _default_is_https(environ) -> bool:
    return environ.get("wsgi.url_scheme") == "https"


class DashboardApp:
    """The operator dashboard as a WSGI application.

    Args:
        state_path: the SQLite store (default: ``VISITORAPI_STATE``).
        prefix: the path the dashboard is served under.
        client_ip: ``f(environ) -> str``, the client's IP for login throttling
            (the web app passes its trusted-proxy aware function).
        is_https: ``f(environ) -> bool``, whether the browser connected over TLS.
        https_required: answer plain-HTTP requests with a 308 to https (as the API
            does under ``VISITORAPI_HTTPS=require``).
        attribution: ``f() -> str``, the IP database's attribution text.
        clock: ``f() -> float``, the current Unix time (tests move it).
    """

    def __init__(self, state_path=None, *, prefix=PREFIX, client_ip=None, is_https=None,
                 https_required=False, attribution=None, clock=time.time):
        from visitorapi.dashboard import routes  # NOTE: the pages import this module's names
        self.state_path = state_path
        self.prefix = prefix
        self.client_ip = client_ip or _default_client_ip
        self.is_https = is_https or _default_is_https
        self.attribution = attribution or (lambda: "")
        self.https_required = https_required
        self.clock = clock
        self.routes = [(method, re.compile(re.escape(prefix) + pattern), handler, access)
                       for method, pattern, handler, access in routes.ROUTES]
        self._local = threading.local()
        self._static = {path.name: path.read_bytes() for path in STATIC.iterdir()
                        if path.suffix == ".css"}

    def connection(self):
        """This thread's store connection (reopened if the file was replaced).

        Raises:
            HTTPError: 503 when the store is missing or unusable (logged with
                the reason; the page does not name server files).
        """
        store = getattr(self._local, "store", None)
        if store is None:
            store = self._local.store = db.Connection(self.state_path)
        try:
            return store.get()
        except OperatorError as exc:
            raise self.store_unavailable(exc) from None

    def store_unavailable(self, exc) -> HTTPError:
        """The 503 for a store that cannot be opened or failed mid-page (logged with the reason;
        the page does not name server files). This thread reconnects on its next request."""
        self._local.store.close()
        log.error("dashboard unavailable: %s", exc, extra={"event": "dashboard.store_unavailable"})
        return HTTPError(503, "The service's state database is unavailable; the reason is in "
                              "the server log. The API keeps serving visitors meanwhile; try "
                              "again in a minute.", headers=[("Retry-After", "30")])

    def __call__(self, environ, start_response):
        request = Request(environ, self.is_https(environ))
        try:
            response = self.handle(request)
        except HTTPError as error:
            response = self.error_page(request, error.status, error.message)
            response.headers.extend(error.headers)
        except db.StoreError as exc:
            error = self.store_unavailable(exc)
            response = self.error_page(request, error.status, error.message)
            response.headers.extend(error.headers)
        except Exception:  # noqa: BLE001 - a bug: generic page, traceback only in the log
            log.exception("dashboard page failed", extra={"event": "dashboard.error"})
            response = self.error_page(request, 500, "Something went wrong on the server; "
                                                     "the error has been logged.")
        return self.respond(request, response, start_response)

    def handle(self, request: Request) -> Response:
        path = request.path
        method = "GET" if request.method == "HEAD" else request.method
        if self.https_required and not request.https:
            query = request.environ.get("QUERY_STRING")
            return redirect(f"https://{request.host}{path}{'?' + query if query else ''}", 308)
        if path == self.prefix or path == self.prefix + "/":
            return redirect(f"{self.prefix}/projects", 302)
        if path.startswith(self.prefix + "/static/"):
            return self.static(path[len(self.prefix) + 8:], method)
        matched, allowed = None, set()
        for route_method, pattern, handler, access in self.routes:
            match = pattern.fullmatch(path)
            if match:
                allowed.add(route_method)
                if route_method == method:
                    matched = (handler, access, match.groupdict())
        if matched is None:
            if allowed:
                raise HTTPError(405, f"{request.method} is not allowed here")
            raise HTTPError(404, "There is no such page.")
        handler, access, arguments = matched
        conn = self.connection()
        ctx = Context(self, request, conn, self.clock())
        ctx.session = sessions.load(conn, request.session_cookie(), ctx.now)
        if ctx.session is not None and ctx.session.account_id is not None:
            ctx.account = accounts.get(conn, ctx.session.account_id)
            if ctx.account is None or ctx.account.disabled:
                ctx.end_session()
                ctx.account = None
        try:
            early = self.check_access(ctx, access, method)
            if early is not None:
                early.headers.extend(ctx.headers)
                return early
            if method == "POST":
                self.check_csrf(ctx)
            response = handler(ctx, **arguments)
        except Redirect as target:
            response = redirect(target.location)
        except HTTPError as error:
            response = self.error_page(request, error.status, error.message, ctx)
            response.headers.extend(error.headers)
        response.headers.extend(ctx.headers)
        return response

    def check_access(self, ctx: Context, access: str, method: str):
        """Return a redirect when the session may not use this route, else ``None``."""
        stage = ctx.session.stage if ctx.session else None
        if access == PRE_LOGIN:
            if stage == "full":
                return redirect(f"{self.prefix}/projects")
            if stage != "anonymous" and method == "GET":
                if stage is not None:
                    ctx.end_session()
                cookie, session = sessions.create(ctx.conn, ctx.now)
                ctx.set_session(cookie, session)
            return None
        if access == SECOND_FACTOR:
            return None if stage == "mfa" else redirect(f"{self.prefix}/login")
        if stage != "full":
            if method == "POST" and ctx.session is None:
                raise HTTPError(403, "Your session has expired. Log in again.")
            return redirect(f"{self.prefix}/login")
        if (access != ENROLL and not ctx.account.mfa_enabled
                and accounts.mfa_required(ctx.conn)):
            return redirect(f"{self.prefix}/security/mfa?done=enroll")
        if access == OWNER and not ctx.account.is_owner:
            raise HTTPError(403, "Only an owner can do this.")
        return None

    def check_csrf(self, ctx: Context) -> None:
        """A POST must come from our own origin and carry this session's synchronizer token.

        Raises:
            HTTPError: 403 otherwise (the form is not processed).
        """
        sender = ctx.request.sender_origin()
        if sender != ctx.request.origin:
            raise HTTPError(403, "This form was sent from another site (or without an Origin "
                                 "header) and was refused.")
        if ctx.session is None:
            raise HTTPError(403, "Your session has expired. Reload the page and try again.")
        if not ctx.session.csrf_matches(ctx.request.field("csrf", required=False, max_length=100)):
            raise HTTPError(403, "The form's security token is missing or out of date. Reload the "
                                 "page and try again.")

    def static(self, name: str, method: str) -> Response:
        body = self._static.get(name)
        if body is None or method != "GET":
            raise HTTPError(404, "There is no such file.")
        return Response(body=body, content_type="text/css; charset=utf-8",
                        headers=[("Cache-Control", "public, max-age=3600")])

    def error_page(self, request: Request, status: int, message: str, ctx=None) -> Response:
        if ctx is None:
            ctx = Context(self, request, None, self.clock())
        title = STATUS_LINES.get(status, str(status)).split(" ", 1)[1]
        return layout.page(ctx, title, render('<p class="error">{0}</p><p><a href="{1}/">'
                                              'Back to the dashboard</a></p>', message, self.prefix),
                           status)

    def respond(self, request: Request, response: Response, start_response):
        """Write the status, the security headers and the body: the only start_response."""
        headers = [("Content-Type", response.content_type), ("Content-Security-Policy", CSP)]
        headers.extend(header for header in SECURITY_HEADERS
                       if not (header[0] == "Cache-Control" and any(
                           name == "Cache-Control" for name, _ in response.headers)))
        if request.https:
            headers.append(HSTS)
        headers.extend(response.headers)
        headers.append(("Content-Length", str(len(response.body))))
        for name, value in headers:
            if _UNSAFE_HEADER_CHARS.search(value):
                raise ValueError(f"header {name} carries CR, LF or NUL")
        start_response(STATUS_LINES.get(response.status, f"{response.status} Unknown"), headers)
        return [b"" if request.method == "HEAD" else response.body]
