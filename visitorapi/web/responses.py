"""The API's side of the HTTP core: its header policy and its JSON body format.

Every error the API returns has the same JSON shape, which existing
VisitorAPI clients rely on: ``{"status": N, "result": "message"}`` with
``N`` equal to the HTTP status. Messages never echo raw request input
(headers, query values): they name what is wrong and what to do instead.
"""
import json

from visitorapi.http.errors import HTTPError
from visitorapi.http.headers import check_headers
from visitorapi.http.response import JSON, NO_STORE, Response
from visitorapi.web.cors import VARY_ORIGIN

STRICT_CSP = "default-src 'none'; frame-ancestors 'none'"


def header_policy(*, csp=STRICT_CSP, corp="same-origin", referrer="no-referrer") -> tuple:
    """The API's security headers for a response (checked here, once per policy).

    NOTE: CORP is same-origin everywhere but /client.js: a customer page
    loads that script with <script src>, a no-cors request that CORP
    same-origin would block.
    """
    return check_headers((("Content-Security-Policy", csp), ("Referrer-Policy", referrer),
                          ("Cross-Origin-Resource-Policy", corp)))


POLICY = header_policy()
SCRIPT_POLICY = header_policy(corp="cross-origin")
# Every /api answer depends on the request's Origin (CORS), errors included.
API_POLICY = (*POLICY, VARY_ORIGIN)


class ApiResponse(Response):
    """A response of the API plus the outcome facts observers count.

    Attributes (besides :class:`visitorapi.http.response.Response`'s):
        route: the route's canonical path (``"/api"`` for both ``/api`` and ``/api/``,
            ``"/healthz"``, ...; ``"unknown"`` for any other path, never the raw path).
        pid: the project, when the request named a known and enabled one.
        country: the visitor's country code on a 200 from /api ("" if unknown).
        denied_origin: the serialized origin a known project refused.
        seconds: time from the request's arrival to the response being ready.
    """

    __slots__ = ("route", "pid", "country", "denied_origin", "seconds")

    def __init__(self, status, body, *, content_type=JSON, headers=None, route="unknown",
                 policy=None):
        # PERF: the slots are set here rather than through super().__init__: one
        # Python call less on every request.
        self.status = status
        self.body = body
        self.content_type = content_type
        self.headers = headers if headers is not None else []
        self.policy = policy
        self.cache_control = NO_STORE
        self.route = route
        self.pid = None
        self.country = None
        self.denied_origin = None
        self.seconds = 0.0

    def fail(self, error: HTTPError) -> "ApiResponse":
        """Turn this response (keeping its headers and outcome facts) into ``error``."""
        self.status = error.status
        self.body = render_error(error.status, error.message)
        self.headers.extend(error.headers)
        return self


def render_error(status: int, message: str) -> bytes:
    """Return the JSON body of an error response.

    >>> render_error(404, "no such path")
    b'{"status": 404, "result": "no such path"}'
    """
    return json.dumps({"status": status, "result": message}).encode("utf-8")
