"""The shipped gunicorn configuration (``gunicorn -c python:visitorapi.web.gunicorn_conf``).

``visitorapi serve`` runs gunicorn with it; operators who run gunicorn
themselves should use it too. It exists for four reasons:

- privacy: the access log has no client address, request line, query
  string, User-Agent or Referer, and :class:`PrivateLogger` keeps gunicorn's
  own warnings (malformed requests, limits) from naming the client;
- input limits tighter than gunicorn's defaults (4094-byte request line,
  100 headers of 8190 bytes): a valid /api request line is under 200 bytes;
- TLS 1.2 or newer with AEAD ciphers only (:data:`TLS12_CIPHERS`) when
  ``--certfile``/``--keyfile`` are given, and ``VISITORAPI_HTTPS=auto``
  resolved from the bind address;
- no control socket: gunicorn 25.1+ opens one (``gunicorn.ctl`` in
  ``$XDG_RUNTIME_DIR`` or ``~/.gunicorn``) through which anyone running as
  the service's user can resize or stop it; it exists only when
  ``VISITORAPI_CONTROL_SOCKET`` names a path for it;
- a worker model fit for browsers calling directly: threads, keepalive, and
  no stall from idle or slow clients (see ``worker_class`` below).

Client addresses and https behind a proxy are decided by the application
from ``VISITORAPI_TRUSTED_PROXIES``, so gunicorn's own forwarded-header
handling is switched off (``forwarded_allow_ips = ""``).
"""
import ipaddress
import os
import ssl

from visitorapi import logs
from visitorapi.config import ConfigError, hand_to_workers, load_settings
from visitorapi.web import accounting, ratelimit
from visitorapi.wsgi import prepare_default_database

wsgi_app = "visitorapi.wsgi:app"
bind = ["127.0.0.1:8000"]
proc_name = "visitorapi"

# Worker model: gthread, with idle connections parked in the poller and a
# deadline on request heads (visitorapi.web.gunicorn_worker explains both).
# Why not sync: browsers call the API directly, usually with no buffering
# proxy in front, and gunicorn's sync worker is held by every connection that
# sends nothing (a browser's speculative preconnect) until its 30 s timeout
# kills it; tests/test_web_slow_clients.py fails with it (and with gunicorn
# 27's stock gthread) and passes with this worker. gthread also answers a
# browser's next request on the same connection (keepalive; with TLS, no new
# handshake) and serves others while a client is idle or slow.
# What it costs, measured with tools/bench_service.py (docs/performance.md;
# 2 workers, wrk on loopback, shared 2-core machine): requests/s within the
# noise of sync's for every app (visitorapi / hello-world medians 0.67x-0.78x
# vs sync's 0.74x-0.78x); 20-40 µs more worker CPU per request for thread
# hand-offs than sync spends on a new connection per request.
# threads: 4; 2 to 8 measured within noise of each other; more threads mean
# more GIL hand-offs per request but more trickling clients to stall a worker.
worker_class = "visitorapi.web.gunicorn_worker.ThreadWorker"
threads = 4
keepalive = 5  # seconds an idle connection (kept-alive or new) is held open

limit_request_line = 2048
limit_request_fields = 40
limit_request_field_size = 4096

forwarded_allow_ips = ""

# gunicorn's control socket (gunicornc): off unless the operator names a path.
control_socket_path = os.environ.get("VISITORAPI_CONTROL_SOCKET", "").strip()
control_socket_disable = not control_socket_path
if control_socket_path:
    control_socket = control_socket_path
logger_class = "visitorapi.web.gunicorn_logger.PrivateLogger"
# Used only when an access log is enabled (--access-logfile): no %(h)s, %(r)s,
# %(q)s, %(a)s or %(f)s; PrivateLogger blanks those atoms even if they are added.
access_log_format = '%(t)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms pid=%(p)s'


# TLS 1.2 suites: forward secrecy (ECDHE) and AEAD only (RFC 9325 section 4.2;
# Mozilla's "intermediate" profile). TLS 1.3 suites are all AEAD and are not
# affected by this string.
TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!eNULL"


def ssl_context(config, default_ssl_context_factory):
    """TLS 1.2 is the floor (RFC 8996 deprecates 1.0 and 1.1); no CBC or non-ECDHE suites."""
    context = default_ssl_context_factory()
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(TLS12_CIPHERS)
    return context


def pre_request(worker, req):
    """Replace gunicorn's default, which logs the method and path at debug level."""


def is_loopback_bind(addresses) -> bool:
    """True if every listening address is loopback (or a Unix socket)."""
    for address in addresses:
        if isinstance(address, (str, bytes)):
            continue  # Unix socket: reachable only on this machine
        host = address[0]
        if host in ("localhost",):
            continue
        try:
            if not ipaddress.ip_address(host).is_loopback:
                return False
        except ValueError:
            return False  # a hostname: assume it is reachable from outside
    return True


def on_starting(server):
    """Resolve VISITORAPI_HTTPS=auto, make the metrics directory and the rate-limit table,
    and build the default database on a first start.

    Runs in the arbiter before workers fork, so every worker inherits them
    (see :mod:`visitorapi.web.metrics_share` for why the directory exists,
    :mod:`visitorapi.web.ratelimit` for the shared buckets). The database is
    built here rather than in a worker: a worker would build it too (under a
    lock, see visitorapi.ipdb.default), but inside gunicorn's worker boot
    timeout, which a first compile on a busy machine can exceed; the master
    has no such timeout, and the compiler's memory stays out of the workers.
    """
    ratelimit.create_shared()  # one set of rate-limit buckets for all workers of this node
    try:
        settings = load_settings()
    except ConfigError:
        return  # NOTE: each worker reports it, with every other bad setting, when it boots
    accounting.start_service(settings)
    if settings.https == "auto":
        loopback = is_loopback_bind(server.cfg.address)
        resolved = "off" if loopback else "require"
        hand_to_workers("VISITORAPI_HTTPS", resolved)
        server.log.info("VISITORAPI_HTTPS=auto resolved to %s (%s bind)", resolved,
                        "loopback" if loopback else "non-loopback")
    if settings.db_is_default:
        logs.configure(settings.log_format, settings.log_level)
        prepare_default_database(settings.db_path)


def when_ready(server):
    """The master is listening: start the notification sender beside it
    (:mod:`visitorapi.notify.child` says why a child process)."""
    from visitorapi.config import ConfigError, load_settings
    from visitorapi.notify import child
    try:
        settings = load_settings()
    except ConfigError:
        return  # each worker reports it, with every other bad setting, when it boots
    child.start(settings)


def worker_exit(server, worker):
    """A worker stops gracefully (TERM, INT, QUIT, HUP reload, max_requests):
    write its pending usage counts and retire its metrics."""
    accounting.worker_exit(server, worker)


def on_exit(server):
    """The master stops: stop the notification sender, remove the metrics directory."""
    from visitorapi.notify import child
    child.stop()
    accounting.on_exit(server)
