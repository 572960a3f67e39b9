"""HTTPError, the one way a request handler says "answer with this status".

Every error the API returns has the same JSON shape, which existing VisitorAPI
clients rely on: ``{"status": N, "result": "message"}`` with ``N`` equal to
the HTTP status. Messages never echo raw request input (headers, query
values): they name what is wrong and what to do instead.
"""
import json


class HTTPError(Exception):
    """An HTTP error response: status, a message for ``result``, extra headers.

    Args:
        status: the HTTP status code (4xx or 5xx).
        message: one sentence for the caller; must not contain visitor data.
        headers: extra ``(name, value)`` pairs, e.g. ``Retry-After`` or ``Allow``.
    """

    def __init__(self, status: int, message: str, headers=()):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = tuple(headers)

    def __repr__(self):
        return f"HTTPError({self.status}, {self.message!r})"


def render_error(status: int, message: str) -> bytes:
    """Return the JSON body of an error response.

    >>> render_error(404, "no such path")
    b'{"status": 404, "result": "no such path"}'
    """
    return json.dumps({"status": status, "result": message}).encode("utf-8")
