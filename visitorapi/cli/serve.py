"""``visitorapi serve``: run the API under gunicorn with the shipped configuration.

On a fresh install with no arguments it serves on http://127.0.0.1:8000 from
the default country-level database (compiled once from the DB-IP Lite CSV
shipped in ``data/`` and cached), creates a demo project authorized for
``http://localhost:PORT`` and ``http://127.0.0.1:PORT``, prints its pid, and
serves a demo page at ``/``.

Everything an operator can get wrong (settings, certificate, database) is
checked here, before gunicorn starts, so the error is one clear line.
"""
import errno
import ipaddress
import os
import socket
import ssl
import sys
from pathlib import Path

from visitorapi.errors import OperatorError

DEMO_NAME = "demo (visitorapi serve)"
DEFAULT_BIND = "127.0.0.1:8000"


def register(subparsers):
    parser = subparsers.add_parser(
        "serve", help="run the API under gunicorn",
        description="Run the visitor API under gunicorn with the shipped configuration "
                    "(visitorapi.web.gunicorn_conf).")
    parser.add_argument("--bind", default=DEFAULT_BIND, metavar="HOST:PORT",
                        help=f"address to listen on (default {DEFAULT_BIND}); a non-loopback "
                             "address makes https required unless VISITORAPI_HTTPS=off")
    parser.add_argument("--workers", type=_positive, default=2, metavar="N",
                        help="gunicorn worker processes (default 2)")
    parser.add_argument("--db", metavar="PATH",
                        help="the IP database (default $VISITORAPI_DB, else the shipped "
                             "country-level DB-IP Lite data, compiled once)")
    parser.add_argument("--certfile", metavar="PEM", help="TLS certificate chain (TLS 1.2+)")
    parser.add_argument("--keyfile", metavar="PEM", help="TLS private key")
    parser.add_argument("--no-demo", action="store_true",
                        help="do not create or serve the demo project")
    parser.set_defaults(run=run)


def _positive(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        import argparse
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return value


def run(args) -> int:
    """Validate everything, prepare database and demo project, then exec gunicorn."""
    if bool(args.certfile) != bool(args.keyfile):
        print("visitorapi serve: error: --certfile and --keyfile go together", file=sys.stderr)
        return 2
    host, port = parse_bind(args.bind)
    env = dict(os.environ)
    if args.db:
        env["VISITORAPI_DB"] = str(Path(args.db).resolve())
    from visitorapi.config import load_settings
    settings = load_settings(env)
    if args.certfile:
        check_certificate(args.certfile, args.keyfile)
    check_port_free(args.bind, host, port)
    if settings.db_is_default:
        prepare_default_database(settings.db_path)
    else:
        check_database(settings.db_path)
    open_store(settings.state_path)
    scheme = "https" if args.certfile else "http"
    if not args.no_demo and not settings.demo_pid and _is_loopback(host):
        pid = ensure_demo_project(settings.state_path, port)
        env["VISITORAPI_DEMO_PID"] = pid
        print(f"demo project pid: {pid}")
        print(f"demo page: {scheme}://{_visit_host(host)}:{port}/")
    argv = [sys.executable, "-m", "gunicorn", "--config", "python:visitorapi.web.gunicorn_conf",
            "--bind", args.bind, "--workers", str(args.workers)]
    if args.certfile:
        argv += ["--certfile", args.certfile, "--keyfile", args.keyfile]
    argv.append("visitorapi.wsgi:app")
    print(f"serving {scheme}://{args.bind} with {args.workers} workers "
          f"(database {settings.db_path})")
    if port is not None:
        print(f"dashboard: {scheme}://{_visit_host(host)}:{port}/dashboard/ (no account yet? "
              "create one with: visitorapi users create you@example.com)")
    if not args.certfile and redirects_plain_http(settings.https, host, port):
        print(f"note: plain HTTP on {args.bind} is answered with 308 redirects to https "
              "(VISITORAPI_HTTPS=require, the default off loopback; /healthz and /readyz "
              "excepted). Serve TLS with --certfile/--keyfile, or put a TLS proxy in front "
              "and list it in VISITORAPI_TRUSTED_PROXIES, or set VISITORAPI_HTTPS=off on a "
              "private network.")
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, argv, env)
    return 1  # not reached


def parse_bind(bind: str):
    """Split HOST:PORT (IPv6 as [::1]:PORT); raise OperatorError on anything else."""
    if bind.startswith("unix:"):
        return bind, None
    host, sep, port_text = bind.rpartition(":")
    if not sep or not port_text.isdigit() or not 0 < int(port_text) < 65536 or not host:
        raise OperatorError(f"--bind {bind!r} is not HOST:PORT (e.g. 127.0.0.1:8000, "
                            "0.0.0.0:443, [::]:8000)")
    return host.strip("[]"), int(port_text)


def _is_loopback(host) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_certificate(certfile, keyfile):
    """Load the pair once so a wrong path or mismatched key fails here, clearly."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(certfile, keyfile)
    except (OSError, ssl.SSLError) as exc:
        raise OperatorError(f"cannot use --certfile {certfile} with --keyfile {keyfile}: "
                            f"{exc}") from exc


def check_database(path):
    """Open the configured database once, so a missing or corrupt file fails here."""
    from visitorapi.ipdb import open_database
    try:
        database = open_database(path, checksum=True)
    except OSError as exc:
        raise OperatorError(f"cannot open the IP database {path}: {exc.strerror or exc}; "
                            "check VISITORAPI_DB / --db") from exc
    close = getattr(database, "close", None)
    if close:
        close()


def prepare_default_database(path):
    """Build the default database now, if needed, so its one-time compile shows here."""
    from visitorapi.ipdb.default import ensure_default_database
    seconds = ensure_default_database(path, announce=lambda message: print(message, flush=True))
    if seconds is not None:
        print(f"compiled in {seconds:.1f} s")


def check_port_free(bind, host, port):
    """Bind the address once, so a busy port is one clear line, not gunicorn's retries.

    SO_REUSEADDR as gunicorn sets it: a closed server's connections in
    TIME_WAIT do not count as busy, a listening socket does.
    """
    if port is None:
        return  # a Unix socket: gunicorn replaces a stale one itself
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    except socket.gaierror as exc:
        raise OperatorError(f"--bind {bind}: cannot resolve {host!r} ({exc.strerror})") from None
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise OperatorError(f"{bind} is already in use (another server, perhaps another "
                                    "visitorapi serve, listens there); stop it or choose "
                                    "another --bind") from None
            raise OperatorError(f"cannot listen on {bind}: {exc.strerror}") from None


def redirects_plain_http(https: str, host, port) -> bool:
    """Whether gunicorn will answer plain HTTP on this address with redirects to https.

    Mirrors ``gunicorn_conf.on_starting``, which resolves ``auto`` from the
    bind address: ``require`` unless it is loopback or a Unix socket.
    """
    if https == "auto":
        return port is not None and not _is_loopback(host)
    return https == "require"


def _visit_host(host) -> str:
    """The host part of a URL to open in a browser for a server bound to ``host``."""
    if _is_loopback(host):
        return "localhost" if host != "::1" else "[::1]"
    if host in ("0.0.0.0", "::"):
        return socket.gethostname()
    return f"[{host}]" if ":" in host else host


def open_store(state_path):
    """Create the store on first run and stop here, in one line, if it is damaged.

    Workers never create a store (:func:`visitorapi.state.db.connect`): this
    command is where one is made, and where a damaged one stops the start.
    """
    from visitorapi.state.db import connect
    connect(state_path, create=True).close()


def ensure_demo_project(state_path, port) -> str:
    """Return the demo project's pid, creating it or its localhost domains as needed."""
    from visitorapi.state import projects
    from visitorapi.state.audit import cli_actor
    from visitorapi.state.db import connect
    wanted = [f"http://localhost:{port}", f"http://127.0.0.1:{port}"]
    conn = connect(state_path, create=True)
    try:
        for project in projects.list_projects(conn):
            if project.name == DEMO_NAME and project.enabled:
                for pattern in wanted:
                    if pattern not in project.domains:
                        projects.add_domain(conn, project.pid, pattern, actor=cli_actor())
                return project.pid
        return projects.create(conn, DEMO_NAME, wanted, actor=cli_actor()).pid
    finally:
        conn.close()
