"""``visitorapi.wsgi:app``, the WSGI entry point for gunicorn: wiring only.

Importing this module does nothing; the first access to ``app`` (gunicorn
does it when a worker loads the application) reads and validates the
settings, opens the database and the projects store, and builds the app,
so a bad setting stops the worker at boot with a clear message.
"""
import logging

log = logging.getLogger(__name__)


def create_app(environ=None):
    """Build the visitor API from VISITORAPI_* settings.

    Raises:
        visitorapi.config.ConfigError: a setting is invalid.
    """
    from visitorapi import logs
    from visitorapi.config import load_settings
    from visitorapi.countries import country_facts
    from visitorapi.dashboard.mount import mount_dashboard
    from visitorapi.state.authorized_domains import AuthorizedDomains
    from visitorapi.state.db import is_url, write_problem
    from visitorapi.useragent import parse
    from visitorapi.web import accounting
    from visitorapi.web.app import Degraded, VisitorAPI
    from visitorapi.web.livedb import LiveDatabase, open_checked

    settings = load_settings(environ)
    logs.configure(settings.log_format, settings.log_level)
    if settings.https == "auto":
        log.warning("VISITORAPI_HTTPS=auto was not resolved (gunicorn was started without "
                    "visitorapi.web.gunicorn_conf); plain HTTP is served: set "
                    "VISITORAPI_HTTPS=require on a public address", extra={"event": "config.https"})
    if settings.db_is_default:
        prepare_default_database(settings.db_path)
    database = LiveDatabase(settings.db_path, open_checked,
                            check_interval=settings.db_check_interval)
    if database.current() is None:
        log.error("no IP database: %s; /api answers 503 until one is in place",
                  database.error, extra={"event": "db.missing"})
    domains = AuthorizedDomains(settings.state_path)

    def store_ready():
        """None when the store can be read and written now (for /readyz), else the problem.

        Reading is the project list's refresh (missing, unopenable, damaged at
        open, locked, replaced); writing is a permission check, since a
        read-only store still serves but loses every change and usage count.
        """
        if not domains.refresh():
            if domains.revision is None or not is_url(settings.state_path):
                return domains.problem
            return Degraded(f"{domains.problem}; /api serves the projects it holds in memory")
        return write_problem(settings.state_path)

    # One Accounting per worker process; gunicorn's worker_exit hook closes it
    # (writes pending usage, retires this worker's metrics).
    counting = accounting.current(lambda: accounting.Accounting.from_settings(settings))
    counting.watch_database(database, settings.db_max_age_days)
    api = VisitorAPI(settings, database=database, domains=domains,
                     parse_ua=parse, country_facts=country_facts, store_ready=store_ready,
                     accounting=counting)
    mount_dashboard(api, settings, database)
    return api


def prepare_default_database(path):
    """Build the embedded default database on a first start (see visitorapi.ipdb.default).

    The shipped gunicorn config calls this in the master before workers fork;
    each worker calls it again when it builds the app, which costs one open
    when the file is there and builds it under plain ``gunicorn
    visitorapi.wsgi:app``. A failure is logged, not raised: the worker still
    boots, and /readyz and /api say 503 until a database is in place, as with
    any missing file.
    """
    from visitorapi.errors import OperatorError
    from visitorapi.ipdb.default import ensure_default_database

    def announce(message):
        log.info("%s", message, extra={"event": "db.building"})

    try:
        seconds = ensure_default_database(path, announce=announce)
    except (OSError, OperatorError) as exc:
        log.error("cannot build the default IP database at %s: %s; make XDG_CACHE_HOME a "
                  "writable folder, or set VISITORAPI_DB to a compiled database",
                  path, exc, extra={"event": "db.missing"})
        return
    if seconds is not None:
        log.info("default IP database built at %s in %.1f s", path, seconds,
                 extra={"event": "db.built"})


def __getattr__(name):
    # PEP 562: build the app lazily, once, when gunicorn asks for it.
    if name == "app":
        global app
        app = create_app()
        return app
    raise AttributeError(name)
