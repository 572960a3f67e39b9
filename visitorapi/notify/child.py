"""Start and stop ``visitorapi notify run`` as a child of the gunicorn master.

Why a child process, not a thread in the master: the master forks workers,
and a thread there could hold a lock (the store's, logging's) at the moment
of a fork, deadlocking the new worker; a thread in every worker would send
everything once per worker. A child process has neither problem, and its
slow SMTP or webhook peers never touch a request. The child exits by itself
when the master is gone (it watches its parent), so it never outlives the
service.
"""
import logging
import os
import subprocess
import sys

log = logging.getLogger(__name__)
STOP_TIMEOUT = 10.0

_child = None


def start(settings) -> None:
    """Start the sender unless ``VISITORAPI_NOTIFY=off`` (an operator runs it elsewhere)."""
    global _child
    if not settings.notify or _child is not None:
        return
    _child = subprocess.Popen([sys.executable, "-m", "visitorapi", "notify", "run",
                               "--parent", str(os.getpid())])
    log.info("notifications: sender started as pid %d", _child.pid,
             extra={"event": "notify.child_started"})


def stop() -> None:
    """Stop the sender (SIGTERM, then SIGKILL after :data:`STOP_TIMEOUT` seconds)."""
    global _child
    child, _child = _child, None
    if child is None:
        return
    child.terminate()
    try:
        child.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()
    except ChildProcessError:
        pass   # NOTE: gunicorn's arbiter reaps every child (waitpid(-1)); it may have been first
