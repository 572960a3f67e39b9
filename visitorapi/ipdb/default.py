"""The embedded default database: the shipped DB-IP Lite country CSV, compiled once per user.

Why on first start and not at install time: pip installs a wheel without
running any project code, and an editable install or a source checkout has
no install step at all, so a database built by ``setup.py`` would exist for
some installs and not for others. Compiling the shipped CSV takes a few
seconds, once per user and package version, into the user's cache
(``config.default_database_path``: ``$XDG_CACHE_HOME/visitorapi/``), where
``visitorapi serve``, a plain ``gunicorn visitorapi.wsgi:app`` and every
one of their workers find the same file.

Concurrent first starts (gunicorn's workers booting together, two servers
started at once) are serialized by an exclusive ``flock`` on a separate lock
file beside the database. The database file itself is never locked: it is
written only by the compiler's temporary-file-and-rename, so a reader sees
the old file, no file, or the whole new one, never half of one.
"""
import fcntl
import time
from pathlib import Path

from visitorapi.ipdb.format import InvalidDatabaseError
from visitorapi.ipdb.reader import open_database

# The files under data/ the default database is compiled from. Their names
# start with "dbip-", which is how the compiler knows to store DB-IP's notice.
SHIPPED_SOURCES = ("dbip-country-ipv4.csv.gz", "dbip-country-ipv6.csv.gz")


def ensure_default_database(path, *, announce=None):
    """Make sure a usable default database is at ``path``, compiling it if needed.

    Args:
        path: where it belongs (``Settings.db_path`` when ``db_is_default``).
        announce: ``announce(message)``, called with one line before
            compiling: ``visitorapi serve`` prints it, a worker logs it.

    Returns:
        The seconds spent compiling, or None if a usable copy was already there
        (built earlier, or by another process while this one waited).

    Raises:
        OSError: the cache folder cannot be created or written.
        visitorapi.errors.OperatorError: the shipped CSV files are missing.
    """
    path = Path(path)
    if _problem(path) is None:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released on close, or by the kernel if we die
        problem = _problem(path)
        if problem is None:
            return None
        # NOTE: imported here, not at the top: the serving path needs the
        # compiler only on a first start, and never loads it otherwise.
        from visitorapi.ipdb.compiler import compile_files
        from visitorapi.resources import data_path
        if announce is not None:
            announce(f"compiling the default country database into {path} from the shipped "
                     f"DB-IP Lite data ({problem})")
        started = time.monotonic()
        compile_files([data_path(name) for name in SHIPPED_SOURCES], path)
        return time.monotonic() - started


def _problem(path: Path):
    """Why the file at ``path`` cannot be served as it is, or None if it can.

    The same check as serving's (``open_checked``: header, bounds and the
    body's checksum), so a cached copy serving would refuse is rebuilt.
    """
    try:
        database = open_database(path, checksum=True)
    except FileNotFoundError:
        return "first start only"
    except (OSError, InvalidDatabaseError) as exc:
        return f"the cached copy is unusable: {exc}"
    database.close()
    return None
