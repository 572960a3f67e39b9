"""``visitorapi serve``: run the API under gunicorn with the shipped configuration.

On a fresh install with no arguments it serves on http://127.0.0.1:8000 from
the default country-level database (compiled once from the DB-IP Lite CSV
shipped in ``data/`` and cached), creates a demo project authorized for
``http://localhost:PORT`` and ``http://127.0.0.1:PORT``, prints its pid, and
serves a demo page at ``/``.

Everything an operator can get wrong (settings, certificate, database) is
checked here, before gunicorn starts, so the error is one clear line.

NOTE: the ipdb, state and web modules a command needs are imported inside
its function: every ``visitorapi`` run imports every command module to build
its parser, and the compiler, the CSV readers, urllib and ssl are not needed
to list projects.
"""
import argparse
import fcntl
import ipaddress
import os
import ssl
import sys
from pathlib import Path

from visitorapi.config import load_settings
from visitorapi.errors import OperatorError

DEMO_NAME = "demo (visitorapi serve)"
DEFAULT_BIND = "127.0.0.1:8000"
DEFAULT_SOURCES = ("dbip-country-ipv4.csv.gz", "dbip-country-ipv6.csv.gz")
DBIP_ATTRIBUTION = ("IP to Country Lite by DB-IP (https://db-ip.com), licensed under "
                    "CC BY 4.0 (https://creativecommons.org/licenses/by/4.0/)")


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
    settings = load_settings(env)
    if args.certfile:
        check_certificate(args.certfile, args.keyfile)
    if settings.db_is_default:
        ensure_default_database(settings.db_path)
    else:
        check_database(settings.db_path)
    scheme = "https" if args.certfile else "http"
    if not args.no_demo and not settings.demo_pid and _is_loopback(host):
        pid = ensure_demo_project(settings.state_path, port)
        env["VISITORAPI_DEMO_PID"] = pid
        print(f"demo project pid: {pid}")
        print(f"demo page: {scheme}://{'localhost' if host != '::1' else '[::1]'}:{port}/")
    argv = [sys.executable, "-m", "gunicorn", "--config", "python:visitorapi.web.gunicorn_conf",
            "--bind", args.bind, "--workers", str(args.workers)]
    if args.certfile:
        argv += ["--certfile", args.certfile, "--keyfile", args.keyfile]
    argv.append("visitorapi.wsgi:app")
    print(f"serving {scheme}://{args.bind} with {args.workers} workers "
          f"(database {settings.db_path})", flush=True)
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
    from visitorapi.web.livedb import open_checked
    try:
        open_checked(path).close()
    except OSError as exc:
        raise OperatorError(f"cannot open the IP database {path}: {exc.strerror or exc}; "
                            "check VISITORAPI_DB / --db") from exc


def ensure_default_database(path: Path):
    """Compile the shipped DB-IP country CSV into ``path`` unless a good copy is cached.

    A lock file serializes concurrent first starts; the compiler writes a
    temporary file and renames it, so a crash leaves no half database.
    """
    from visitorapi.ipdb import open_database
    from visitorapi.ipdb.compiler import compile_files
    from visitorapi.resources import data_path
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if path.exists():
            try:
                open_database(path)
                return
            except Exception as exc:  # a stale or corrupt cache: rebuild it
                print(f"cached default database {path} is unusable ({exc}); recompiling",
                      file=sys.stderr)
        sources = [data_path(name) for name in DEFAULT_SOURCES]
        print(f"compiling the default country database into {path} (once; about a minute)",
              flush=True)
        compile_files(sources, path, attribution=DBIP_ATTRIBUTION)


def ensure_demo_project(state_path, port) -> str:
    """Return the demo project's pid, creating it or its localhost domains as needed."""
    from visitorapi.state import projects
    from visitorapi.state.audit import cli_actor
    from visitorapi.state.db import connect
    wanted = [f"http://localhost:{port}", f"http://127.0.0.1:{port}"]
    conn = connect(state_path)
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
