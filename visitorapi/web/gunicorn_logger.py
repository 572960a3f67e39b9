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

This class rewrites those messages and blanks those atoms, whatever format
or log level an operator configures. Select it with ``logger_class`` (the
shipped ``visitorapi.web.gunicorn_conf`` does).
"""
from gunicorn.glogging import Logger

from visitorapi import logs
from visitorapi.config import ConfigError, log_settings
from visitorapi.web.routes import PATHS

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

    def warning(self, msg, *args, **kwargs):
        if isinstance(msg, str) and msg.startswith("Invalid request from ip="):
            msg, args = "invalid request refused (client address and request text withheld)", ()
        super().warning(msg, *args, **kwargs)

    def exception(self, msg, *args, **kwargs):
        if isinstance(msg, str) and msg.startswith("Error handling request"):
            msg, args = "Error handling request (request line withheld)", ()
        super().exception(msg, *args, **kwargs)

    def error(self, msg, *args, **kwargs):
        if isinstance(msg, str) and msg.startswith("Error handling request"):
            msg, args = "Error handling request (request line withheld)", ()
        super().error(msg, *args, **kwargs)

