"""The HTTP face: WSGI app, request policy, metrics."""
