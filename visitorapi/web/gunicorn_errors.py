"""gunicorn's own error answers, in the application's shape.

When gunicorn refuses a request before the application sees it (a request
line or header it cannot parse, limits, an unsupported transfer coding),
its stock answer is an HTML page that quotes the offending input, with none
of the application's headers. :func:`answer` replaces it, for
:class:`visitorapi.web.gunicorn_worker.ThreadWorker`: the same JSON error
body as every other error (``{"status": N, "result": "..."}``), the same
security headers, a message that never repeats what was sent, and a log
line that names neither the client nor its input.
"""
from datetime import datetime
from ssl import SSLError

from gunicorn import util
from gunicorn.http import errors
from gunicorn.http.message import Request
from gunicorn.http.wsgi import Response, default_environ

from visitorapi.http.headers import NOSNIFF, STATUS_LINES, check_header_value
from visitorapi.http.response import JSON, NO_STORE
from visitorapi.web.responses import POLICY, render_error

# (exception classes, status, message); first match wins. Messages may name
# a configured limit, never the request's content.
_ANSWERS = (
    ((errors.InvalidResponseHeader, errors.InvalidResponseHeaderName, errors.ConfigurationProblem),
     500, "internal error"),
    ((errors.LimitRequestLine,), 414, "the request line is longer than {limit_request_line} bytes"),
    ((errors.LimitRequestHeaders,), 431,
     "the request has more than {limit_request_fields} header fields or one longer than "
     "{limit_request_field_size} bytes"),
    ((errors.UnsupportedTransferCoding,), 501,
     "this transfer coding is not supported; send a Content-Length body or chunked"),
    ((errors.ExpectationFailed,), 417, "only Expect: 100-continue is supported"),
    ((errors.ForbiddenProxyRequest,), 403, "the PROXY protocol header is not accepted here"),
    ((errors.InvalidRequestLine, errors.InvalidRequestMethod, errors.InvalidHTTPVersion,
      errors.InvalidH2CPreface), 400, "the request line is not valid HTTP/1.1 (RFC 9112)"),
    ((errors.InvalidHeader, errors.InvalidHeaderName, errors.ObsoleteFolding), 400,
     "a request header is malformed (RFC 9110 section 5)"),
    ((errors.InvalidChunkSize, errors.ChunkMissingTerminator, errors.InvalidChunkExtension), 400,
     "the chunked request body is malformed (RFC 9112 section 7.1)"),
    ((errors.InvalidProxyLine, errors.InvalidSchemeHeaders), 400,
     "the request's proxy headers are malformed"),
    ((SSLError,), 400, "the TLS connection failed"),
)


def classify(exc, cfg) -> tuple:
    """``(status, message)`` for an exception gunicorn raised while reading a request."""
    for classes, status, message in _ANSWERS:
        if isinstance(exc, classes):
            return status, message.format(limit_request_line=cfg.limit_request_line,
                                          limit_request_fields=cfg.limit_request_fields,
                                          limit_request_field_size=cfg.limit_request_field_size)
    return 500, "internal error"


def render(status: int, message: str, extra_headers=()) -> bytes:
    """The whole HTTP/1.1 response: status line, the API's headers (as the core's
    Responder writes them), JSON body."""
    body = render_error(status, message)
    headers = [("Content-Type", JSON), ("Content-Length", str(len(body))), NOSNIFF,
               ("Cache-Control", NO_STORE), *POLICY, *extra_headers, ("Connection", "close")]
    head = f"HTTP/1.1 {STATUS_LINES[status]}\r\n" + "".join(
        f"{name}: {check_header_value(value)}\r\n" for name, value in headers)
    return (head + "\r\n").encode("latin-1") + body


def answer(worker, req, client, addr, exc) -> None:
    """Log, count in the access log, and answer one request gunicorn refused (or failed on).

    Takes the place of gunicorn's ``Worker.handle_error`` (gunicorn 27,
    ``workers/base.py``), which logs the client's address and the offending
    input and writes an HTML page quoting it.
    """
    started = datetime.now()
    status, message = classify(exc, worker.cfg)
    if status >= 500:
        worker.log.exception("error handling a request (%s)", type(exc).__name__)
    else:
        worker.log.warning("invalid request refused with %d (%s)", status, type(exc).__name__)
    if req is None and isinstance(getattr(exc, "req", None), Request):
        # NOTE: some of gunicorn's errors keep the request there; InvalidRequestLine
        # keeps the offending line's text under the same name.
        req = exc.req
    if req is not None:
        addr = addr or ("", -1)  # a Unix socket has no peer address
        environ = default_environ(req, client, worker.cfg)
        environ["REMOTE_ADDR"], environ["REMOTE_PORT"] = addr[0], str(addr[1])
        response = Response(req, client, worker.cfg)
        response.status = STATUS_LINES[status]
        response.response_length = len(message)
        worker.log.access(response, req, environ, datetime.now() - started)
    # HSTS as the application sends it, when this connection is TLS
    responder = getattr(worker.wsgi, "responder", None)
    hsts = responder.hsts if responder is not None and worker.cfg.is_ssl else ()
    try:
        util.write_nonblock(client, render(status, message, hsts))
    except Exception:  # noqa: BLE001 - the client is gone; nothing to tell
        worker.log.debug("failed to send an error answer")
