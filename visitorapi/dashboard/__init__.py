"""The operator dashboard: server-rendered HTML pages under ``/dashboard/``.

:class:`DashboardApp` is a WSGI application; the web app mounts it under
``/dashboard/`` of the same gunicorn. Pages are rendered with the standard
library (:mod:`visitorapi.dashboard.markup` escapes everything that is not
already markup) and use no JavaScript.
"""
from visitorapi.dashboard.app import DashboardApp

__all__ = ["DashboardApp"]
