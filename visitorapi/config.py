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
from visitorapi.state.db import state_location
from visitorapi.web.clientip import ipv4_equivalent

HTTPS_MODES = ("auto", "require", "off")
PROXY_HEADERS = ("x-forwarded-for", "forwarded")
# NOTE: set by the gunicorn master for its workers (see hand_to_workers), not by operators.
METRICS_DIR_VARIABLE = "VISITORAPI_METRICS_DIR"
_HSTS_PRELOAD_MIN_AGE = 31536000  # one year: https://hstspreload.org/#submission-requirements
_CONTACT = re.compile(r"(mailto:[^\s@]+@[^\s@]+|https://\S+|tel:\+?[0-9-]+)")
_HTTPS_URL = re.compile(r"https://[!-~]+")
_LANGUAGE_TAG = re.compile(r"[A-Za-z]{2,8}(?:-[A-Za-z0-9]{1,8})*")  # RFC 5646, simplified


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
    hsts_include_subdomains: bool = False
    hsts_preload: bool = False
    public_url: str = ""  # "https://host[:port]", the origin the 308 to https points at
    client_rate: float = 10.0
    client_burst: float = 50.0
    project_rate: float = 1000.0
    project_burst: float = 2000.0
    rate_key_lifetime: float = 3600.0
    client_ipv6_prefix: int = 64
    # slow clients (issue 13): the worker's poller, per worker process
    request_timeout: float = 10.0
    max_pending_per_client: int = 64
    max_pending: int = 512
    db_check_interval: float = 2.0
    asn_db_path: Path | None = None
    security_contact: str = ""
    security_expires: datetime.datetime = field(default=None)
    security_policy: str = ""  # RFC 9116 Policy: (https URL)
    security_acknowledgments: str = ""  # RFC 9116 Acknowledgments: (https URL)
    security_languages: tuple = ("en",)  # RFC 9116 Preferred-Languages: (RFC 5646 tags)
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
    # notifications (issue 14): docs/notifications.md
    smtp: object = None            # visitorapi.notify.email.SmtpSettings, or None: no email
    notify: bool = True            # the shipped gunicorn config starts the background sender
    notify_interval: float = 15.0
    notify_thresholds: object = None   # visitorapi.notify.detectors.Thresholds
    # things that are allowed but probably wrong, logged once at start
    warnings: tuple = ()

    @property
    def hsts(self) -> str:
        """The Strict-Transport-Security value (RFC 6797), or "" when it is switched off."""
        if not self.hsts_max_age:
            return ""
        return "; ".join([f"max-age={self.hsts_max_age}"]
                         + ["includeSubDomains"] * self.hsts_include_subdomains
                         + ["preload"] * self.hsts_preload)


def state_path(environ=None):
    """``$VISITORAPI_STATE`` (a Path, or a ``postgresql://`` URL as given), or
    ``visitorapi/state.sqlite3`` in the user's data dir.

    The per-user data directory follows the XDG base-directory spec
    (``$XDG_DATA_HOME``, else ``~/.local/share``).
    """
    environ = os.environ if environ is None else environ
    configured = environ.get("VISITORAPI_STATE", "").strip()
    if configured:
        return state_location(configured)
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

    def flag(self, name) -> bool:
        """A yes/no variable: 1, true, yes, on or 0, false, no, off (empty: no)."""
        raw = self.text(name).lower()
        if raw in ("", "0", "false", "no", "off"):
            return False
        if raw in ("1", "true", "yes", "on"):
            return True
        self.problems.append(f"{name}={raw!r} must be 1 or 0 (yes/no, true/false, on/off)")
        return False

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


# A proxy fleet lives in a few networks; anything this broad trusts the whole
# internet to name its own address, read /metrics and skip the https redirect.
CATCH_ALL_PREFIX = {4: 8, 6: 32}


def _trusted_proxies(reader):
    """``VISITORAPI_TRUSTED_PROXIES``: catch-all networks refused unless forced, public ones warned."""
    name = "VISITORAPI_TRUSTED_PROXIES"
    networks, unix = _networks(reader, name)
    forced = reader.flag("VISITORAPI_TRUSTED_PROXIES_FORCE")
    warnings = []
    for network in map(ipv4_equivalent, networks):
        if (network.prefixlen < CATCH_ALL_PREFIX[network.version] and not network.is_private
                and not forced):
            reader.problems.append(
                f"{name}: {network} covers a large part of the internet (shorter than "
                f"/{CATCH_ALL_PREFIX[network.version]}), so any client could claim any address, read "
                "/metrics and skip the https redirect; list your proxies' own networks, or set "
                "VISITORAPI_TRUSTED_PROXIES_FORCE=1 if this is really meant")
        elif network.is_global:
            warnings.append(f"{name}: {network} is a public network; only proxies you run "
                            "should be there (clients in it can choose their reported address)")
    return networks, unix, warnings


def _public_url(reader):
    """``VISITORAPI_PUBLIC_URL``: the https origin browsers use, e.g. https://api.example.com."""
    from urllib.parse import urlsplit
    name = "VISITORAPI_PUBLIC_URL"
    raw = reader.text(name)
    if not raw:
        return ""
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        parts, port = None, None
    if (parts is None or parts.scheme.lower() != "https" or not parts.hostname
            or parts.username is not None or parts.path not in ("", "/") or parts.query
            or parts.fragment or not raw.isascii() or any(c.isspace() for c in raw)):
        reader.problems.append(f"{name}={raw!r} must be an https origin without path, query or "
                               "user, e.g. https://api.example.com or https://api.example.com:8443")
        return ""
    host = parts.hostname
    if ":" in host:
        host = f"[{host}]"
    return f"https://{host}" + (f":{port}" if port not in (None, 443) else "")


def _security_txt(reader) -> dict:
    """The optional RFC 9116 fields: Policy, Acknowledgments (https URLs), Preferred-Languages."""
    fields = {}
    for name, key, section in (("VISITORAPI_SECURITY_POLICY", "security_policy", "2.5.7"),
                               ("VISITORAPI_SECURITY_ACKNOWLEDGMENTS", "security_acknowledgments",
                                "2.5.1")):
        value = reader.text(name)
        if value and not _HTTPS_URL.fullmatch(value):
            reader.problems.append(f"{name}={value!r} must be an https:// URL "
                                   f"(RFC 9116 section {section})")
            value = ""
        fields[key] = value
    name = "VISITORAPI_SECURITY_LANGUAGES"
    tags = tuple(tag for tag in re.split(r"[,\s]+", reader.text(name, "en")) if tag)
    bad = [tag for tag in tags if not _LANGUAGE_TAG.fullmatch(tag)]
    if bad or not tags:
        reader.problems.append(f"{name}={reader.text(name)!r} must be language tags separated by "
                               "commas, e.g. 'en, de' (RFC 9116 section 2.5.8)")
        tags = ("en",)
    fields["security_languages"] = tags
    return fields
def _ipv6_prefix(reader, name):
    """How many leading bits of an IPv6 address name one client (one /64 site by default)."""
    default = Settings.client_ipv6_prefix
    prefix = reader.number(name, default, minimum=1, integer=True)
    if prefix > 128:
        reader.problems.append(f"{name}={prefix} must be an IPv6 prefix length from 1 to 128 "
                               f"({default} keys a client by its /{default}, as ISPs assign them)")
        return default
    return prefix


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
    networks, unix, warnings = _trusted_proxies(reader)
    contact = reader.text("VISITORAPI_SECURITY_CONTACT")
    if contact and not _CONTACT.fullmatch(contact):
        reader.problems.append(f"VISITORAPI_SECURITY_CONTACT={contact!r} must be a "
                               "mailto:, https: or tel: URI (RFC 9116 section 2.5.3)")
    security_txt = _security_txt(reader)
    demo_pid = reader.text("VISITORAPI_DEMO_PID")
    if demo_pid and not is_pid(demo_pid):
        reader.problems.append(f"VISITORAPI_DEMO_PID is not a project id ({pids.FORM})")
    hsts_max_age = reader.number("VISITORAPI_HSTS_MAX_AGE", Settings.hsts_max_age, integer=True)
    include_subdomains = reader.flag("VISITORAPI_HSTS_INCLUDE_SUBDOMAINS")
    preload = reader.flag("VISITORAPI_HSTS_PRELOAD")
    if preload and (not include_subdomains or hsts_max_age < _HSTS_PRELOAD_MIN_AGE):
        # https://hstspreload.org/#submission-requirements
        reader.problems.append("VISITORAPI_HSTS_PRELOAD=1 needs VISITORAPI_HSTS_INCLUDE_SUBDOMAINS=1 "
                               f"and VISITORAPI_HSTS_MAX_AGE of at least {_HSTS_PRELOAD_MIN_AGE} "
                               "(one year)")
    settings = Settings(
        state_path=state_path(environ),
        db_path=Path(db_raw) if db_raw else default_database_path(environ),
        db_is_default=not db_raw,
        trusted_proxies=networks,
        trust_unix_socket=unix,
        proxy_header=reader.choice("VISITORAPI_PROXY_HEADER", Settings.proxy_header,
                                   PROXY_HEADERS),
        https=reader.choice("VISITORAPI_HTTPS", Settings.https, HTTPS_MODES),
        hsts_max_age=hsts_max_age,
        hsts_include_subdomains=include_subdomains,
        hsts_preload=preload,
        public_url=_public_url(reader),
        client_rate=reader.number("VISITORAPI_CLIENT_RATE", Settings.client_rate),
        client_burst=reader.number("VISITORAPI_CLIENT_BURST", Settings.client_burst, minimum=1),
        project_rate=reader.number("VISITORAPI_PROJECT_RATE", Settings.project_rate),
        project_burst=reader.number("VISITORAPI_PROJECT_BURST", Settings.project_burst, minimum=1),
        rate_key_lifetime=reader.number("VISITORAPI_RATE_KEY_LIFETIME",
                                        Settings.rate_key_lifetime, minimum=1),
        client_ipv6_prefix=_ipv6_prefix(reader, "VISITORAPI_CLIENT_IPV6_PREFIX"),
        request_timeout=reader.number("VISITORAPI_REQUEST_TIMEOUT", Settings.request_timeout,
                                      minimum=1),
        max_pending_per_client=reader.number("VISITORAPI_MAX_PENDING_PER_CLIENT",
                                             Settings.max_pending_per_client, minimum=1,
                                             integer=True),
        max_pending=reader.number("VISITORAPI_MAX_PENDING", Settings.max_pending, minimum=1,
                                  integer=True),
        db_check_interval=reader.number("VISITORAPI_DB_CHECK_INTERVAL",
                                        Settings.db_check_interval, minimum=0.05),
        asn_db_path=Path(reader.text("VISITORAPI_ASN_DB")) if reader.text("VISITORAPI_ASN_DB")
        else None,
        security_contact=contact,
        **security_txt,
        security_expires=_expires(reader, "VISITORAPI_SECURITY_EXPIRES", now),
        demo_pid=demo_pid,
        **_operations(reader),
        warnings=tuple(warnings),
        **_notifications(reader),
    )
    if reader.problems:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(reader.problems))
    return settings
