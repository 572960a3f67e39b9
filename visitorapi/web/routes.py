"""The API's paths: the one list the app routes by, counts by and logs by.

Each path is also the route's name in metrics and usage (``/api/`` counts as
``/api``); any other path is ``unknown`` there and ``(other)`` in the access
log, so a path a client chose is never written anywhere.
"""
# path -> the VisitorAPI method that answers it
ROUTES = {"/api": "api", "/healthz": "healthz", "/readyz": "readyz",
          "/.well-known/security.txt": "security_txt", "/openapi.json": "openapi",
          "/client.js": "client_js", "/": "demo", "/metrics": "metrics"}
ALIASES = {"/api/": "/api"}
PATHS = frozenset(ROUTES) | frozenset(ALIASES)


def route_name(path: str) -> str:
    """The route's name for counting; every unknown path is "unknown" (never the raw path)."""
    path = ALIASES.get(path, path)
    return path if path in ROUTES else "unknown"
