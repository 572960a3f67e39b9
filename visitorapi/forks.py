"""Reset per-process state in a forked child (gunicorn forks its workers from the master).

Objects with background threads, locks and buffered counts must not carry the
parent's copies into a child: the thread does not exist there, a lock may
have been held at the moment of the fork, and the counts are the parent's to
write. :func:`reset_in_children` registers an object whose ``_after_fork()``
then runs in every child.
"""
import os
import weakref

_tracked = weakref.WeakSet()
_hook_installed = False


def reset_in_children(obj):
    """Call ``obj._after_fork()`` in every child forked after this call (while obj lives)."""
    global _hook_installed
    if not _hook_installed:
        os.register_at_fork(after_in_child=_reset_all)
        _hook_installed = True
    _tracked.add(obj)


def _reset_all():
    for obj in list(_tracked):
        obj._after_fork()
