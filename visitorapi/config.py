"""VISITORAPI_* settings: read once at start, validated, with errors that say what to fix.

Every variable is documented in docs/configuration.md. A bad value
stops the service before it answers anything, with a message naming the
variable, what it holds and what it should hold; all problems are reported
at once so the operator fixes them in one pass.
"""
import datetime
import ipaddress
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from visitorapi.errors import OperatorError
from visitorapi.state.db import default_state_path, state_location

HTTPS_MODES = ("auto", "require", "off")
PROXY_HEADERS = ("x-forwarded-for", "forwarded")
METRICS_ALLOW_DEFAULT = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))
_PID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_CONTACT = re.compile(r"(mailto:[^\s@]+@[^\s@]+|https://\S+|tel:\+?[0-9-]+)")


class ConfigError(OperatorError):
    """One or more VISITORAPI_* variables are invalid; the message lists each."""


@dataclass(frozen=True)
class Settings:
    """Validated settings; see docs/configuration.md for each field's variable."""

    state_path: Path | str      # a SQLite file, or a postgresql:// URL
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
    metrics_allow: tuple = ()
    metrics_token: str = ""
    metrics_interval: float = 2.0
    db_max_age_days: float = 45.0
    log_format: str = "json"
    log_level: str = "info"
    # notifications (issue 14): docs/notifications.md
    smtp: object = None            # visitorapi.notify.email.SmtpSettings, or None: no email
    notify: bool = True            # the shipped gunicorn config starts the background sender
    notify_interval: float = 15.0
    notify_thresholds: object = None   # visitorapi.notify.detectors.Thresholds


def default_database_path(environ=None) -> Path:
    """Where ``visitorapi serve`` caches the database compiled from the shipped CSV.

    ``$XDG_CACHE_HOME/visitorapi/`` (else ``~/.cache/visitorapi/``); the
    file name carries the package version so an upgrade recompiles.
    """
    from visitorapi import __version__
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


def _operations(reader) -> dict:
    """The operations settings: usage store, /metrics, logs, database age."""
    from visitorapi import logs
    allow, _ = _networks(reader, "VISITORAPI_METRICS_ALLOW")
    if not reader.text("VISITORAPI_METRICS_ALLOW"):
        allow = METRICS_ALLOW_DEFAULT
    token = reader.text("VISITORAPI_METRICS_TOKEN")
    if token and (len(token) < 16 or not token.isprintable() or " " in token):
        reader.problems.append("VISITORAPI_METRICS_TOKEN must be at least 16 printable "
                               "characters without spaces (e.g. from 'openssl rand -hex 32')")
        token = ""
    return {
        "usage_flush_seconds": reader.number("VISITORAPI_USAGE_FLUSH_SECONDS", 5.0, minimum=0.05),
        "usage_retention_days": reader.number("VISITORAPI_USAGE_RETENTION_DAYS", 400, minimum=2,
                                              integer=True),
        "metrics_allow": allow,
        "metrics_token": token,
        "metrics_interval": reader.number("VISITORAPI_METRICS_INTERVAL", 2.0, minimum=0.05),
        "db_max_age_days": reader.number("VISITORAPI_DB_MAX_AGE_DAYS", 45.0, minimum=1),
        "log_format": reader.choice("VISITORAPI_LOG_FORMAT", logs.DEFAULT_FORMAT, logs.FORMATS),
        "log_level": reader.choice("VISITORAPI_LOG_LEVEL", logs.DEFAULT_LEVEL, logs.LEVELS),
    }


def _notifications(reader) -> dict:
    """The notification settings: SMTP (validated as a whole), the sender, thresholds."""
    from visitorapi.notify.detectors import Thresholds
    return {
        "smtp": _smtp(reader),
        "notify": reader.choice("VISITORAPI_NOTIFY", "on", ("on", "off")) == "on",
        "notify_interval": reader.number("VISITORAPI_NOTIFY_INTERVAL", 15.0, minimum=0.05),
        "notify_thresholds": Thresholds(
            refused_per_hour=reader.number("VISITORAPI_NOTIFY_REFUSED_PER_HOUR", 100, minimum=1,
                                           integer=True),
            spike_factor=reader.number("VISITORAPI_NOTIFY_SPIKE_FACTOR", 10.0, minimum=1),
            spike_floor=reader.number("VISITORAPI_NOTIFY_SPIKE_FLOOR", 1000, minimum=1,
                                      integer=True)),
    }


def _smtp(reader):
    """``VISITORAPI_SMTP_*`` as one SmtpSettings, or None when no host is set."""
    from visitorapi.notify.email import SmtpSettings
    host = reader.text("VISITORAPI_SMTP_HOST")
    names = ("PORT", "USER", "PASSWORD", "PASSWORD_FILE", "FROM", "STARTTLS", "CAFILE")
    if not host:
        stray = [f"VISITORAPI_SMTP_{name}" for name in names
                 if reader.text(f"VISITORAPI_SMTP_{name}")]
        if stray:
            reader.problems.append(f"{', '.join(stray)} set without VISITORAPI_SMTP_HOST; set the "
                                   "mail server's host name, or unset them")
        return None
    port = reader.number("VISITORAPI_SMTP_PORT", 587, minimum=1, integer=True)
    if port > 65535:
        reader.problems.append(f"VISITORAPI_SMTP_PORT={port} is not a TCP port (1-65535)")
    sender = reader.text("VISITORAPI_SMTP_FROM")
    if not re.fullmatch(r"[^\s@<>]+@[^\s@<>]+", sender):
        reader.problems.append(f"VISITORAPI_SMTP_FROM={sender!r} must be the sender's address, "
                               "e.g. visitorapi@example.com (required with VISITORAPI_SMTP_HOST)")
    starttls = reader.choice("VISITORAPI_SMTP_STARTTLS", "on", ("on", "off")) == "on"
    if not starttls and not is_loopback_host(host):
        reader.problems.append("VISITORAPI_SMTP_STARTTLS=off is allowed only for a relay on "
                               "this machine (localhost); mail and passwords would cross the "
                               "network in clear")
    password = reader.text("VISITORAPI_SMTP_PASSWORD")
    password_file = reader.text("VISITORAPI_SMTP_PASSWORD_FILE")
    if password and password_file:
        reader.problems.append("set VISITORAPI_SMTP_PASSWORD or VISITORAPI_SMTP_PASSWORD_FILE, "
                               "not both")
    elif password_file:
        try:
            password = Path(password_file).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            reader.problems.append(f"VISITORAPI_SMTP_PASSWORD_FILE={password_file!r} cannot be "
                                   f"read ({exc.__class__.__name__}: {exc})")
    user = reader.text("VISITORAPI_SMTP_USER")
    if password and not user:
        reader.problems.append("an SMTP password is set without VISITORAPI_SMTP_USER")
    cafile = reader.text("VISITORAPI_SMTP_CAFILE")
    if cafile and not Path(cafile).is_file():
        reader.problems.append(f"VISITORAPI_SMTP_CAFILE={cafile!r} is not a readable file "
                               "(PEM certificates of the CAs to trust)")
    return SmtpSettings(host=host, port=port, user=user, password=password, sender=sender,
                        starttls=starttls, cafile=cafile)


def is_loopback_host(host: str) -> bool:
    """True for ``localhost`` and loopback addresses: a peer on this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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
    if demo_pid and not _PID.fullmatch(demo_pid):
        reader.problems.append("VISITORAPI_DEMO_PID is not a project id "
                               "(1-64 of A-Z a-z 0-9 _ -)")
    settings = Settings(
        state_path=(state_location(environ["VISITORAPI_STATE"]) if environ.get("VISITORAPI_STATE")
                    else default_state_path()),
        db_path=Path(db_raw) if db_raw else default_database_path(environ),
        db_is_default=not db_raw,
        trusted_proxies=networks,
        trust_unix_socket=unix,
        proxy_header=reader.choice("VISITORAPI_PROXY_HEADER", "x-forwarded-for", PROXY_HEADERS),
        https=reader.choice("VISITORAPI_HTTPS", "auto", HTTPS_MODES),
        hsts_max_age=reader.number("VISITORAPI_HSTS_MAX_AGE", 31536000, integer=True),
        client_rate=reader.number("VISITORAPI_CLIENT_RATE", 10.0),
        client_burst=reader.number("VISITORAPI_CLIENT_BURST", 50.0, minimum=1),
        project_rate=reader.number("VISITORAPI_PROJECT_RATE", 1000.0),
        project_burst=reader.number("VISITORAPI_PROJECT_BURST", 2000.0, minimum=1),
        rate_key_lifetime=reader.number("VISITORAPI_RATE_KEY_LIFETIME", 3600.0, minimum=1),
        db_check_interval=reader.number("VISITORAPI_DB_CHECK_INTERVAL", 2.0, minimum=0.05),
        security_contact=contact,
        security_expires=_expires(reader, "VISITORAPI_SECURITY_EXPIRES", now),
        demo_pid=demo_pid,
        **_operations(reader),
        **_notifications(reader),
    )
    if reader.problems:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(reader.problems))
    return settings
