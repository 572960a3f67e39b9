"""A real PostgreSQL server for the tests, in a temporary folder, on 127.0.0.1.

``initdb`` refuses to run as root, and CI runs as root, so the cluster is
made and run as the ``postgres`` system user (``runuser``) when the tests
run as root; the folder is then owned by that user. The server listens on a
free loopback port and on a Unix socket in the folder, trusts local
connections (the tests' role is ``visitorapi``), and is tuned for tests
(fsync off): the data is thrown away with the folder.

Everything skips cleanly when the PostgreSQL binaries or psycopg are absent.
"""
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
ROLE = "visitorapi"


def find_binaries():
    """The folder holding initdb and pg_ctl, or None."""
    for folder in [*BIN_DIRS, *(Path(p) for p in os.environ.get("PATH", "").split(os.pathsep))]:
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    return None


def missing_reason():
    """Why a PostgreSQL server cannot be started here, or None when it can."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install 'visitorapi[postgresql]')"
    if find_binaries() is None:
        return "PostgreSQL server binaries (initdb, pg_ctl) are not installed"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root without runuser to start PostgreSQL as another user"
    return None


def free_port(host="127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class PostgresServer:
    """One throwaway PostgreSQL cluster.

    Args:
        settings: extra ``postgresql.conf`` lines (``{"log_statement": "'all'"}``).
    """

    def __init__(self, settings=None):
        self.bin = find_binaries()
        self.folder = Path(tempfile.mkdtemp(prefix="visitorapi-pg-"))
        self.data = self.folder / "data"
        self.log = self.folder / "server.log"
        self.port = free_port()
        self.host = "127.0.0.1"
        self._names = itertools.count(1)
        self._as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self._as_user:
            shutil.chown(self.folder, "postgres", "postgres")
        self._run("initdb", "-D", self.data, "-U", ROLE, "--auth=trust", "--no-locale",
                  "-E", "UTF8", "--no-sync")
        lines = {"listen_addresses": f"'{self.host}'", "port": str(self.port),
                 "unix_socket_directories": f"'{self.folder}'", "fsync": "off",
                 "synchronous_commit": "off", "full_page_writes": "off",
                 "max_connections": "200", "log_min_messages": "warning",
                 **(settings or {})}
        with open(self.data / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.writelines(f"{name} = {value}\n" for name, value in lines.items())
        self.start()

    def _run(self, tool, *args, check=True):
        return subprocess.run([*self._as_user, str(self.bin / tool), *map(str, args)],
                              capture_output=True, text=True, check=check, timeout=120)

    def url(self, database="postgres") -> str:
        return f"postgresql://{ROLE}@{self.host}:{self.port}/{database}"

    def start(self):
        """Start the server and wait until it accepts connections (pg_ctl -w)."""
        self._run("pg_ctl", "-D", self.data, "-l", self.log, "-w", "-t", "60", "start")

    def stop(self, mode="fast"):
        self._run("pg_ctl", "-D", self.data, "-m", mode, "-w", "stop", check=False)

    def restart(self):
        """Stop (ending every connection) and start again, as an operator's restart does."""
        self._run("pg_ctl", "-D", self.data, "-l", self.log, "-m", "fast", "-w", "-t", "60",
                  "restart")

    def new_database(self) -> str:
        """Create an empty database; return its URL."""
        import psycopg
        name = f"test_{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def query(self, url: str, sql: str, params=None):
        """Run one statement outside visitorapi (as the tests' superuser role); return the rows."""
        import psycopg
        with psycopg.connect(url, autocommit=True) as conn:
            cursor = conn.execute(sql, params)
            return cursor.fetchall() if cursor.description else []

    def destroy(self):
        self.stop("immediate")
        shutil.rmtree(self.folder, ignore_errors=True)
