"""The response value and its one writer, shared by the API and the dashboard.

:meth:`Responder.respond` is the only code of either app that calls
``start_response``: it adds the headers every response carries (content
type and length, ``nosniff``, ``Cache-Control``, the app's header policy,
HSTS over https) and checks each header name and value for CR/LF/NUL.
"""
from visitorapi.http.headers import (NOSNIFF, STATUS_LINES, check_header_name,
                                     check_header_value, check_headers)

JSON = "application/json; charset=utf-8"
HTML = "text/html; charset=utf-8"
TEXT = "text/plain; charset=utf-8"
JAVASCRIPT = "text/javascript; charset=utf-8"
CSS = "text/css; charset=utf-8"
NO_STORE = "no-store"
_NO_STORE = ("Cache-Control", NO_STORE)


class Response:
    """A response under construction.

    Attributes:
        status: HTTP status code.
        body: the full body (dropped for HEAD by the writer).
        content_type: the Content-Type value.
        headers: extra ``(name, value)`` pairs, checked when written.
        policy: this response's own header policy, checked with
            :func:`~visitorapi.http.headers.check_headers` when built (``None``:
            the app's default), e.g. the demo page with its own CSP.
        cache_control: the Cache-Control value (``no-store`` unless a handler
            serves something cacheable, like a stylesheet).
    """

    __slots__ = ("status", "body", "content_type", "headers", "policy", "cache_control")

    def __init__(self, status=200, body=b"", *, content_type=HTML, headers=None, policy=None,
                 cache_control=NO_STORE):
        self.status = status
        self.body = body
        self.content_type = content_type
        self.headers = headers if headers is not None else []
        self.policy = policy
        self.cache_control = cache_control


class Responder:
    """Writes an app's responses with its header policy and the HSTS setting.

    Args:
        policy: the app's security headers, e.g. its Content-Security-Policy
            and Referrer-Policy (checked once, here).
        hsts: the Strict-Transport-Security value, ``Settings.hsts`` (from
            ``VISITORAPI_HSTS_MAX_AGE`` and its flags; "": no HSTS header).
            Sent only over https (RFC 6797 section 7.2: a browser ignores it
            over plain HTTP).
    """

    def __init__(self, policy, *, hsts: str):
        self.policy = check_headers(policy)
        self.hsts = check_headers((("Strict-Transport-Security", hsts),) if hsts else ())
        self._checked_names = set()

    def respond(self, start_response, response: Response, *, head: bool, https: bool):
        """Write the status and headers and return the body (none for HEAD)."""
        cache_control = response.cache_control
        headers = [("Content-Type", response.content_type),
                   ("Content-Length", str(len(response.body))),
                   NOSNIFF, _NO_STORE if cache_control is NO_STORE
                   else ("Cache-Control", check_header_value(cache_control)),
                   *(self.policy if response.policy is None else response.policy)]
        if response.status == 204:  # RFC 9110 section 8.6: no content, no Content-Length
            del headers[:2]
        for header in response.headers:
            name = header[0]
            # PERF: names come from code, not from requests: each is checked once.
            if name not in self._checked_names:
                self._checked_names.add(check_header_name(name))
            check_header_value(header[1])
            headers.append(header)
        if https:
            headers.extend(self.hsts)
        start_response(STATUS_LINES[response.status], headers)
        return [] if head else [response.body]
