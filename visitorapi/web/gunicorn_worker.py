"""The shipped gunicorn worker: gthread, where no thread waits on a client that is not sending.

The API is called straight from visitors' browsers, usually with no
buffering proxy in front, so the worker meets every kind of client
directly. gunicorn's ``sync`` worker serves one connection at a time and
blocks on it: a browser's speculative preconnect (a connection that never
sends a request) holds it until gunicorn's ``timeout`` (30 s) kills it, and
one slowloris client does the same (gunicorn's docs: sync workers need a
buffering proxy). gunicorn's ``gthread`` worker keeps connections alive and
parks idle kept-alive connections in its poller, but as of gunicorn 27 it
still lends a pool thread to every new connection for up to 5 s while it
waits for the first byte, and a thread that is reading a request head has no
deadline at all: ``threads`` trickling clients stall a worker for as long as
they trickle.

:class:`ThreadWorker` closes both gaps, and answers the requests gunicorn
itself refuses in the application's JSON shape, with its security headers
(:mod:`visitorapi.web.gunicorn_errors`); it changes nothing else:

- **idle connections cost no thread**: a new connection waits in the poller,
  like an idle kept-alive one, until it is readable (closed after
  ``keepalive`` seconds, at least :data:`MIN_IDLE_SECONDS`, if it never is);
- **a request head has a deadline**: from the first byte to the end of the
  headers (the TLS handshake included) a client has :data:`HEADER_TIMEOUT`
  seconds; then the worker shuts the socket down, the reading thread sees
  end-of-stream and is free again. Request bodies and responses are not
  timed: the API's requests have no body and its answers fit in the socket
  buffer.

What it does not do: a client that opens ``threads`` x ``workers`` trickling
connections every :data:`HEADER_TIMEOUT` seconds still delays everyone else
that long. Against deliberate attacks, a buffering reverse proxy in front
(nginx, a CDN) remains the answer; this worker makes direct browser traffic
(preconnects, slow mobile links, abandoned tabs) safe.

It relies on gunicorn 27's ``gthread`` internals (``pending_conns``,
``on_pending_socket_readable``, ``murder_keepalived``), which
``tests/test_web_slow_clients.py`` exercises against a real server.
"""
import errno
import selectors
import socket
import time
from functools import partial

from gunicorn.workers import gthread

from visitorapi.web import gunicorn_errors

HEADER_TIMEOUT = 10.0  # seconds from a request's first byte to the end of its headers
MIN_IDLE_SECONDS = 2.0  # a new connection's wait for its first byte, even with keepalive 0


class ThreadWorker(gthread.ThreadWorker):
    """gunicorn's gthread worker; idle connections wait in the poller, request heads have a deadline."""

    header_timeout = HEADER_TIMEOUT

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # conn -> monotonic deadline, while a pool thread reads that connection's
        # request head. Written by pool threads, swept by the main thread
        # (single dict operations, atomic under the GIL).
        self.reading = {}

    def accept(self, listener):
        """Accept a connection and park it in the poller until it sends something.

        gunicorn's own ``accept`` hands it to a pool thread at once, which
        then waits up to 5 s for a first byte that a preconnect never sends.
        """
        try:
            sock, client = listener.accept()
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                return
            raise
        self.nr_conns += 1
        conn = gthread.TConn(self.cfg, sock, client, listener.getsockname())  # non-blocking
        # NOTE: the same expiry gunicorn gives connections it parks itself, so
        # pending_conns stays ordered by timeout for murder_pending().
        conn.timeout = time.monotonic() + max(self.cfg.keepalive, MIN_IDLE_SECONDS)
        self.pending_conns.append(conn)
        self.poller.register(sock, selectors.EVENT_READ,
                             partial(self.on_pending_socket_readable, conn))

    def handle(self, conn):
        """Serve one request on ``conn`` (a pool thread), under the header deadline."""
        self.reading[conn] = time.monotonic() + self.header_timeout
        try:
            return super().handle(conn)
        finally:
            self.reading.pop(conn, None)

    def handle_request(self, req, conn):
        """The head is complete: lift the deadline, then run the application."""
        self.reading.pop(conn, None)
        return super().handle_request(req, conn)

    def handle_http2(self, conn):
        """An HTTP/2 connection (only if an operator enables h2) lives on: no deadline."""
        self.reading.pop(conn, None)
        return super().handle_http2(conn)

    def handle_error(self, req, client, addr, exc):
        """gunicorn's own error answers (400, 414, 431, 501, 500) with the app's JSON and headers."""
        gunicorn_errors.answer(self, req, client, addr, exc)

    def murder_keepalived(self, force=False):
        """gunicorn's sweep of expired idle connections (main thread, at least once a second),
        plus: end every request head that has outlived its deadline."""
        super().murder_keepalived(force)
        now = time.monotonic()
        for conn, deadline in list(self.reading.items()):
            if deadline <= now and self.reading.pop(conn, None) is not None:
                try:
                    # The blocked recv() in the pool thread returns b"": gunicorn
                    # treats it as a client that went away and frees the thread.
                    # NOTE: the socket-level call, also for TLS: SSLSocket.shutdown
                    # would drop the SSL object under the reading thread.
                    socket.socket.shutdown(conn.sock, socket.SHUT_RDWR)
                except OSError:
                    pass  # already closed by the client
                self.log.debug("request head not complete after %.0f s; connection closed",
                               self.header_timeout)
