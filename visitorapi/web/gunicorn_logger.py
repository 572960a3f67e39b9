"""A gunicorn logger that never writes a visitor's address, request line or headers.

gunicorn's own messages name the client in places the access-log format
cannot reach (checked against gunicorn 27's ``workers/base.py``):

- ``handle_error`` warns ``Invalid request from ip=ADDR: ERROR`` for every
  malformed request, and ERROR quotes the offending request line or header
  (``Invalid request line 'GET /?x HTTP/1.1'``, header names/values,
  ``LimitRequestLine`` text);
- ``Error handling request METHOD URI`` carries the query string;
- the access log's atoms include ``h`` (address), ``r``/``q`` (request line,
  query), ``a`` (User-Agent), ``f`` (Referer) and ``{name}i`` (any header).

- at debug level, ``Ignored premature client disconnection. No more data
  after: b'...'`` quotes the bytes of a request head cut off mid-way, and
  other debug lines pass exceptions whose text quotes the request.

This class blanks those atoms, and :class:`PrivacyFilter`, on gunicorn's
loggers (``gunicorn.error``, ``gunicorn.http.wsgi``), rewrites those
messages and withholds every argument that can quote a request (bytes,
exceptions, addresses), at every level and whatever format an operator
configures. Select it with ``logger_class`` (the shipped
``visitorapi.web.gunicorn_conf`` does).
"""
import logging

from gunicorn.glogging import Logger

from visitorapi import logs
from visitorapi.config import ConfigError, log_settings
from visitorapi.web.routes import PATHS

WITHHELD = "(withheld)"
# gunicorn messages that name the client or quote the request in their text.
_REWRITES = (
    ("Invalid request from ip=", "invalid request refused (client address and request text "
                                 "withheld)"),
    ("Error handling request", "Error handling request (request line withheld)"),
)
# gunicorn's loggers: its error log, and the module logger of its WSGI layer.
GUNICORN_LOGGERS = ("gunicorn.error", "gunicorn.http.wsgi")


def scrub(msg, args):
    """Return gunicorn's ``(msg, args)`` with everything that could quote a request withheld.

    Arguments that are bytes (request data), exceptions (their text quotes
    the request line, a header or the head read so far) or tuples (socket
    addresses) become :data:`WITHHELD`; numbers and gunicorn's own strings
    (pids, bind addresses, worker names) stay.
    """
    if not isinstance(msg, str):
        return f"{type(msg).__name__} (text withheld)", ()
    for prefix, replacement in _REWRITES:
        if msg.startswith(prefix):
            return replacement, ()
    if isinstance(args, tuple):
        args = tuple(WITHHELD if isinstance(arg, (bytes, bytearray, memoryview, BaseException,
                                                  tuple)) else arg for arg in args)
    elif args:
        return msg.replace("%", "%%"), ()  # a mapping: keep the template only
    return msg, args


class PrivacyFilter(logging.Filter):
    """Applies :func:`scrub` to every record of the logger it is on, at every level."""

    def filter(self, record):
        record.msg, record.args = scrub(record.msg, record.args)
        return True


PRIVACY_FILTER = PrivacyFilter()

# Access-log atoms that can carry visitor data; rendered as "-".
PRIVATE_ATOMS = ("h", "r", "q", "a", "f", "u", "U")  # U is re-added below without the query


class PrivateLogger(Logger):
    """gunicorn's Logger with visitor-identifying details withheld."""

    def setup(self, cfg):
        """gunicorn's setup, then its error log and the app's loggers in our format.

        The error log's lines become one JSON object each (or plain text,
        ``VISITORAPI_LOG_FORMAT``), like every other operational log line;
        the access log keeps its own (visitor-free) format.
        """
        super().setup(cfg)
        for name in GUNICORN_LOGGERS:
            logger = logging.getLogger(name)
            if PRIVACY_FILTER not in logger.filters:
                logger.addFilter(PRIVACY_FILTER)
        try:
            fmt, level = log_settings()
        except ConfigError:
            return  # NOTE: load_settings reports the bad variable when the app loads
        for handler in self.error_log.handlers:
            handler.setFormatter(logs.formatter(fmt))
        logs.configure(fmt, level)

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        path = atoms.get("U", "-")
        for key in list(atoms):
            if key in PRIVATE_ATOMS or (key.startswith("{") and key[-2:] in ("}i", "}e", "}o")):
                atoms[key] = "-"
        # The route is not visitor data, but a path can still carry text a
        # client chose: keep it only when it is one of ours.
        atoms["U"] = path if path in PATHS else "(other)"
        return atoms
