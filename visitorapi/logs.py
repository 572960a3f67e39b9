"""Operational logging: one JSON object per line on stderr (or plain text).

Every process of the service logs the same way: the CLI, the WSGI app and
gunicorn's error log (``visitorapi.web.gunicorn_logger.PrivateLogger`` applies
:func:`formatter` to it). A JSON line
holds ``time`` (UTC, RFC 3339), ``level``, ``event`` (a stable dotted name such
as ``db.refused``; the logger's name when the caller gave none), ``message``,
``project`` when the record is about one project (``extra={"pid": ...}``), and
any other ``extra`` values. ``VISITORAPI_LOG_FORMAT=text`` gives one readable
line instead; ``VISITORAPI_LOG_LEVEL`` sets the threshold.

Privacy: no code may log a visitor's IP, User-Agent, Referer or query string
(TEAM.md). As a second line of defence, extra fields whose names say they
hold visitor data are dropped here, and the retention canary test searches
every line this module writes.
"""
import json
import logging
import sys
import time

FORMATS = ("json", "text")
LEVELS = ("debug", "info", "warning", "error", "critical")
DEFAULT_FORMAT = "json"
DEFAULT_LEVEL = "info"

# Attributes every LogRecord has; anything else came from ``extra=``.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message", "asctime", "taskName"}
# ``extra`` names that could only hold visitor data: never written.
VISITOR_FIELDS = frozenset({"ip", "client_ip", "remote_addr", "ua", "user_agent", "useragent",
                            "referer", "referrer", "query", "query_string", "forwarded",
                            "x_forwarded_for", "headers", "environ", "cookie"})
_HANDLER_NAME = "visitorapi"


def _timestamp(created: float) -> str:
    seconds = int(created)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + \
        f".{int((created - seconds) * 1000):03d}Z"


def _fields(record: logging.LogRecord) -> dict:
    """The record's ``extra`` values, without ``event``/``pid`` and without visitor data."""
    return {key: value for key, value in vars(record).items()
            if key not in _STANDARD and key not in ("event", "pid")
            and key.lower() not in VISITOR_FIELDS and not key.startswith("_")}


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object on one line (newlines are escaped)."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": _timestamp(record.created),
            "level": record.levelname.lower(),
            "event": getattr(record, "event", None) or record.name,
            "message": record.getMessage(),
        }
        pid = getattr(record, "pid", None)
        if pid:
            line["project"] = pid
        line.update(_fields(record))
        line["process"] = record.process
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str, separators=(", ", ": "))


class TextFormatter(logging.Formatter):
    """Formats a record as ``TIME LEVEL event [project=PID] message key=value...``."""

    def format(self, record: logging.LogRecord) -> str:
        parts = [_timestamp(record.created), record.levelname,
                 getattr(record, "event", None) or record.name]
        pid = getattr(record, "pid", None)
        if pid:
            parts.append(f"project={pid}")
        parts.append(record.getMessage())
        parts.extend(f"{key}={value}" for key, value in _fields(record).items())
        text = " ".join(str(part) for part in parts)
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def formatter(fmt: str) -> logging.Formatter:
    """The formatter for ``fmt`` (``"json"`` or ``"text"``)."""
    return JsonFormatter() if fmt == "json" else TextFormatter()


def configure(fmt=DEFAULT_FORMAT, level=DEFAULT_LEVEL, stream=None) -> logging.Handler:
    """Send the root logger's records to stderr in the configured format.

    Idempotent: calling it again replaces the handler it installed before
    and leaves other handlers (pytest's, gunicorn's) alone.

    Args:
        fmt: ``"json"`` or ``"text"`` (``Settings.log_format``).
        level: a name from :data:`LEVELS` (``Settings.log_level``).
        stream: where to write; default ``sys.stderr`` at the time of each write.

    Returns:
        The installed handler.
    """
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
    handler = logging.StreamHandler(stream) if stream is not None else _StderrHandler()
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(formatter(fmt))
    root.addHandler(handler)
    root.setLevel(level.upper())
    return handler


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when the record is emitted (so capture works)."""

    def __init__(self):
        super().__init__(sys.stderr)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass
