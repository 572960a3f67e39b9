"""Serve the dashboard under ``/dashboard/`` of the API's own WSGI app.

The dashboard then sees requests exactly as the API does: the same
trusted-proxy rules decide the client's IP (for login throttling) and
whether the browser used HTTPS (for HSTS, the Origin check and the 308
when ``VISITORAPI_HTTPS=require``), and the footer carries the attribution
of the database being served at that moment.
"""
from visitorapi.dashboard.app import PREFIX, DashboardApp
from visitorapi.web.clientip import client_ip


def mount_dashboard(api, settings, database) -> DashboardApp:
    """Build the dashboard for ``api`` and add it to ``api.mounts``; return it.

    Args:
        api: the :class:`visitorapi.web.app.VisitorAPI`.
        settings: its :class:`visitorapi.config.Settings`.
        database: its :class:`visitorapi.web.livedb.LiveDatabase`.
    """
    def attribution() -> str:
        current = database.current()
        return (current.metadata.get("attribution") or "") if current is not None else ""

    dashboard = DashboardApp(settings.state_path,
                             client_ip=lambda environ: client_ip(environ, api.trusted),
                             is_https=api.is_https, https_required=api.https_required,
                             public_url=settings.public_url, hsts=settings.hsts,
                             attribution=attribution)
    api.mounts[PREFIX + "/"] = dashboard
    return dashboard
