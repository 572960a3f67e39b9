"""HTTPError, the one way a handler of either app says "answer with this status"."""


class HTTPError(Exception):
    """An HTTP error response: status, a message for the user, extra headers.

    Each app renders it in its own body format (the API as
    ``{"status": N, "result": message}`` JSON, the dashboard as an HTML page).

    Args:
        status: the HTTP status code (3xx, 4xx or 5xx).
        message: one sentence saying what is wrong and what to do instead;
            it must not echo raw request input or visitor data.
        headers: extra ``(name, value)`` pairs, e.g. ``Retry-After`` or ``Allow``.
    """

    def __init__(self, status: int, message: str, headers=()):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = tuple(headers)

    def __repr__(self):
        return f"HTTPError({self.status}, {self.message!r})"
