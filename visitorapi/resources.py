"""Where the shipped files under ``data/`` live at run time.

In a source checkout or an editable install they sit in the repository's
``data/`` folder; ``pip install .`` copies them to ``<prefix>/share/visitorapi``
(see ``setup.py``). This module is the only place that knows both.
"""
import site
import sys
import sysconfig
from pathlib import Path

from visitorapi.errors import OperatorError

_CHECKOUT_DATA = Path(__file__).resolve().parent.parent / "data"


def _candidates():
    yield _CHECKOUT_DATA
    yield Path(sysconfig.get_path("data")) / "share" / "visitorapi"
    yield Path(sys.prefix) / "share" / "visitorapi"
    yield Path(site.getuserbase()) / "share" / "visitorapi"


def data_path(name: str) -> Path:
    """Return the path of a shipped data file.

    Args:
        name: the file's path relative to ``data/``, e.g. ``"countries.json"``.

    Raises:
        OperatorError: the file is in none of the places an install puts it.
    """
    tried = []
    for folder in _candidates():
        path = folder / name
        if path.exists():
            return path
        tried.append(str(folder))
    raise OperatorError(
        f"shipped data file {name!r} is missing (looked in {', '.join(tried)}); "
        "reinstall visitorapi with 'pip install .' from a full checkout"
    )
