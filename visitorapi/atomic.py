"""Replace files atomically: readers see the old file or the new one, never a mix.

A new file is written under a temporary name in the target's folder (one
filesystem, so ``os.replace`` is a POSIX rename(2), which is atomic), synced,
then renamed over the target; the folder is synced so the rename survives a
crash. Used by the compiler, ``visitorapi update`` and ``export``.
"""
import os
import tempfile
from pathlib import Path


def write_atomically(path, chunks) -> None:
    """Write ``chunks`` to ``path`` via a synced temporary file and ``os.replace``.

    A failure or interruption at any point removes the temporary file and
    leaves whatever was at ``path`` untouched.
    """
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    handle = tempfile.NamedTemporaryFile(dir=directory, prefix=f".{path.name}.",
                                         suffix=".tmp", delete=False)
    try:
        with handle:
            for chunk in chunks:
                handle.write(chunk)
            handle.flush()
            os.fsync(handle.fileno())
        replace(handle.name, path)
    except BaseException:
        remove_quietly(handle.name)
        raise


def replace(finished, path) -> None:
    """Make the finished file ``finished`` world-readable and rename it onto ``path``, durably."""
    os.chmod(finished, 0o644)
    os.replace(finished, path)
    fsync_directory(Path(path).parent)


def fsync_directory(directory) -> None:
    """Make a rename inside ``directory`` durable (best effort: not every filesystem can)."""
    try:
        directory_fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(directory_fd)
    except OSError:
        pass
    finally:
        os.close(directory_fd)


def remove_quietly(path) -> None:
    """Remove ``path`` if it is there (cleaning up a temporary file)."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
