"""VISITORAPI_* settings: read once at start, validated, with errors that say what to fix.

Every variable is documented in docs/configuration.md. A bad value stops
the service before it answers anything, with a message naming the variable,
what it holds and what it should hold; all problems are reported at once so
the operator fixes them in one pass.

This module is the only reader of the environment: the rest of the code is
handed a :class:`Settings` (or, for the CLI's store commands, :func:`state_path`).
Each default is written once, as the :class:`Settings` field's default.
"""
import datetime
import ipaddress
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import tempfile

from visitorapi import __version__, logs, pids
from visitorapi.errors import OperatorError
from visitorapi.pids import is_pid

HTTPS_MODES = ("auto", "require", "off")
PROXY_HEADERS = ("x-forwarded-for", "forwarded")
# NOTE: set by the gunicorn master for its workers (see hand_to_workers), not by operators.
METRICS_DIR_VARIABLE = "VISITORAPI_METRICS_DIR"
_CONTACT = re.compile(r"(mailto:[^\s@]+@[^\s@]+|https://\S+|tel:\+?[0-9-]+)")


class ConfigError(OperatorError):
    """One or more VISITORAPI_* variables are invalid; the message lists each."""


@dataclass(frozen=True)
class Settings:
    """Validated settings; see docs/configuration.md for each field's variable."""

    state_path: Path
    db_path: Path
    db_is_default: bool
    trusted_proxies: tuple = ()
    trust_unix_socket: bool = False
    proxy_header: str = "x-forwarded-for"
    https: str = "auto"
    hsts_max_age: int = 31536000
    client_rate: float = 10.0
    client_burst: float = 50.0
    project_rate: float = 1000.0
    project_burst: float = 2000.0
    rate_key_lifetime: float = 3600.0
    db_check_interval: float = 2.0
    security_contact: str = ""
    security_expires: datetime.datetime = field(default=None)
    demo_pid: str = ""
    # operations (issue 5): usage, metrics, logs, database age
    usage_flush_seconds: float = 5.0
    usage_retention_days: int = 400
    metrics_allow: tuple = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))
    metrics_token: str = ""
    metrics_interval: float = 2.0
    db_max_age_days: float = 45.0
    log_format: str = logs.DEFAULT_FORMAT
    log_level: str = logs.DEFAULT_LEVEL
    update_max_bytes: int = 1 << 30  # 1 GiB: DB-IP Lite City (both families) is ~90 MB gzipped
    run_dir: Path = None  # where the gunicorn master makes the metrics directory
    metrics_dir: Path = None  # the service's metrics directory, from the master (or None)


def state_path(environ=None) -> Path:
    """``$VISITORAPI_STATE``, or ``visitorapi/state.sqlite3`` in the user's data dir.

    The per-user data directory follows the XDG base-directory spec
    (``$XDG_DATA_HOME``, else ``~/.local/share``).
    """
    environ = os.environ if environ is None else environ
    configured = environ.get("VISITORAPI_STATE", "").strip()
    if configured:
        return Path(configured)
    base = environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "visitorapi" / "state.sqlite3"


def run_dir(environ) -> Path:
    """``$VISITORAPI_RUN_DIR``, else ``$XDG_RUNTIME_DIR/visitorapi``, else the temp dir."""
    configured = environ.get("VISITORAPI_RUN_DIR", "").strip()
    if configured:
        return Path(configured)
    runtime = environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return Path(runtime) / "visitorapi"
    return Path(tempfile.gettempdir())


def hand_to_workers(name: str, value: str) -> None:
    """Set a variable in the gunicorn master for the workers it forks (or re-executes).

    NOTE: the environment is gunicorn's one channel from the master to its
    workers that survives a re-exec (USR2), and each worker reads it again
    through :func:`load_settings`; nothing else in visitorapi writes it.
    """
    os.environ[name] = value


def default_database_path(environ=None) -> Path:
    """Where ``visitorapi serve`` caches the database compiled from the shipped CSV.

    ``$XDG_CACHE_HOME/visitorapi/`` (else ``~/.cache/visitorapi/``); the
    file name carries the package version so an upgrade recompiles.
    """
    environ = os.environ if environ is None else environ
    base = environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "visitorapi" / f"dbip-country-{__version__}.vdb"


class _Reader:
    """Reads variables and collects every problem instead of stopping at the first."""

    def __init__(self, environ):
        self.environ = environ
        self.problems = []

    def text(self, name, default=""):
        return self.environ.get(name, default).strip()

    def number(self, name, default, *, minimum=0.0, integer=False):
        raw = self.text(name)
        if not raw:
            return default
        try:
            value = int(raw) if integer else float(raw)
        except ValueError:
            kind = "a whole number" if integer else "a number"
            self.problems.append(f"{name}={raw!r} is not {kind}")
            return default
        if not value >= minimum or value != value or value in (float("inf"),):
            self.problems.append(f"{name}={raw!r} must be a finite number >= {minimum:g}")
            return default
        return value

    def choice(self, name, default, choices):
        raw = self.text(name).lower() or default
        if raw not in choices:
            self.problems.append(f"{name}={raw!r} must be one of: {', '.join(choices)}")
            return default
        return raw


def _networks(reader, name):
    """Parse a CIDR list (commas or spaces); ``unix`` trusts a Unix-socket peer."""
    networks, unix = [], False
    for item in re.split(r"[,\s]+", reader.text(name)):
        if not item:
            continue
        if item.lower() == "unix":
            unix = True
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=True))
        except ValueError as exc:
            reader.problems.append(f"{name}: {item!r} is not a CIDR network ({exc}); "
                                   "write e.g. 10.0.0.0/8, 192.0.2.7, ::1 or unix")
    return tuple(networks), unix


def _expires(reader, name, now):
    raw = reader.text(name)
    if not raw:
        return now + datetime.timedelta(days=180)
    try:
        value = datetime.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        reader.problems.append(f"{name}={raw!r} is not an ISO 8601 date-time "
                               "(e.g. 2027-01-31T00:00:00Z)")
        return now
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.timezone.utc)
    if value <= now:
        reader.problems.append(f"{name}={raw!r} is in the past; RFC 9116 security.txt "
                               "must not be served expired")
    return value.astimezone(datetime.timezone.utc)


def log_settings(environ=None) -> tuple:
    """The validated ``(VISITORAPI_LOG_FORMAT, VISITORAPI_LOG_LEVEL)``.

    The CLI and gunicorn's logger need them before (or without) the rest of
    the settings; a bad value raises here with the same message as
    :func:`load_settings`.

    Raises:
        ConfigError: either variable is not one of its choices.
    """
    reader = _Reader(os.environ if environ is None else environ)
    chosen = _log_choices(reader)
    if reader.problems:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(reader.problems))
    return chosen


def _log_choices(reader) -> tuple:
    return (reader.choice("VISITORAPI_LOG_FORMAT", Settings.log_format, logs.FORMATS),
            reader.choice("VISITORAPI_LOG_LEVEL", Settings.log_level, logs.LEVELS))


def _operations(reader) -> dict:
    """The operations settings: usage store, /metrics, logs, database age, updates."""
    allow, _ = _networks(reader, "VISITORAPI_METRICS_ALLOW")
    if not reader.text("VISITORAPI_METRICS_ALLOW"):
        allow = Settings.metrics_allow
    token = reader.text("VISITORAPI_METRICS_TOKEN")
    if token and (len(token) < 16 or not token.isprintable() or " " in token):
        reader.problems.append("VISITORAPI_METRICS_TOKEN must be at least 16 printable "
                               "characters without spaces (e.g. from 'openssl rand -hex 32')")
        token = ""
    metrics_dir = reader.text(METRICS_DIR_VARIABLE)
    log_format, log_level = _log_choices(reader)
    return {
        "usage_flush_seconds": reader.number("VISITORAPI_USAGE_FLUSH_SECONDS",
                                             Settings.usage_flush_seconds, minimum=0.05),
        "usage_retention_days": reader.number("VISITORAPI_USAGE_RETENTION_DAYS",
                                              Settings.usage_retention_days, minimum=2,
                                              integer=True),
        "metrics_allow": allow,
        "metrics_token": token,
        "metrics_interval": reader.number("VISITORAPI_METRICS_INTERVAL", Settings.metrics_interval,
                                          minimum=0.05),
        "db_max_age_days": reader.number("VISITORAPI_DB_MAX_AGE_DAYS", Settings.db_max_age_days,
                                         minimum=1),
        "log_format": log_format,
        "log_level": log_level,
        "update_max_bytes": reader.number("VISITORAPI_UPDATE_MAX_BYTES", Settings.update_max_bytes,
                                          minimum=1, integer=True),
        "run_dir": run_dir(reader.environ),
        "metrics_dir": Path(metrics_dir) if metrics_dir else None,
    }


def load_settings(environ=None, *, now=None) -> Settings:
    """Read and validate every VISITORAPI_* variable.

    Args:
        environ: the environment to read (default ``os.environ``).
        now: the current UTC time (for ``VISITORAPI_SECURITY_EXPIRES``).

    Raises:
        ConfigError: listing every invalid variable.
    """
    environ = os.environ if environ is None else environ
    now = now or datetime.datetime.now(datetime.timezone.utc)
    reader = _Reader(environ)
    db_raw = reader.text("VISITORAPI_DB")
    networks, unix = _networks(reader, "VISITORAPI_TRUSTED_PROXIES")
    contact = reader.text("VISITORAPI_SECURITY_CONTACT")
    if contact and not _CONTACT.fullmatch(contact):
        reader.problems.append(f"VISITORAPI_SECURITY_CONTACT={contact!r} must be a "
                               "mailto:, https: or tel: URI (RFC 9116 section 2.5.3)")
    demo_pid = reader.text("VISITORAPI_DEMO_PID")
    if demo_pid and not is_pid(demo_pid):
        reader.problems.append(f"VISITORAPI_DEMO_PID is not a project id ({pids.FORM})")
    settings = Settings(
        state_path=state_path(environ),
        db_path=Path(db_raw) if db_raw else default_database_path(environ),
        db_is_default=not db_raw,
        trusted_proxies=networks,
        trust_unix_socket=unix,
        proxy_header=reader.choice("VISITORAPI_PROXY_HEADER", Settings.proxy_header,
                                   PROXY_HEADERS),
        https=reader.choice("VISITORAPI_HTTPS", Settings.https, HTTPS_MODES),
        hsts_max_age=reader.number("VISITORAPI_HSTS_MAX_AGE", Settings.hsts_max_age, integer=True),
        client_rate=reader.number("VISITORAPI_CLIENT_RATE", Settings.client_rate),
        client_burst=reader.number("VISITORAPI_CLIENT_BURST", Settings.client_burst, minimum=1),
        project_rate=reader.number("VISITORAPI_PROJECT_RATE", Settings.project_rate),
        project_burst=reader.number("VISITORAPI_PROJECT_BURST", Settings.project_burst, minimum=1),
        rate_key_lifetime=reader.number("VISITORAPI_RATE_KEY_LIFETIME",
                                        Settings.rate_key_lifetime, minimum=1),
        db_check_interval=reader.number("VISITORAPI_DB_CHECK_INTERVAL",
                                        Settings.db_check_interval, minimum=0.05),
        security_contact=contact,
        security_expires=_expires(reader, "VISITORAPI_SECURITY_EXPIRES", now),
        demo_pid=demo_pid,
        **_operations(reader),
    )
    if reader.problems:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(reader.problems))
    return settings
