"""The shipped gunicorn worker: gthread, where a pool thread only ever runs a complete request.

The API is called straight from visitors' browsers, usually with no
buffering proxy in front, so the worker meets every kind of client
directly: speculative preconnects that never send anything, slow mobile
links, abandoned tabs, and deliberate slowloris attacks (one header line per
second, or a small body one byte per second). gunicorn 27's ``gthread``
worker lends a pool thread to a connection as soon as it has a byte to read,
and that thread then blocks on the socket until the request head and body
have arrived, with no deadline on either: ``threads`` slow clients take the
worker (issue 13: 50 slow heads, or 16 slow ``POST /dashboard/login``
bodies, and no ``/api`` probe answered for 30 s).

:class:`ThreadWorker` keeps every client that is not done sending in the
poller (the worker's main loop), and a pool thread never reads a socket; the
requests gunicorn itself refuses are answered in the application's JSON
shape, with its security headers (:mod:`visitorapi.web.gunicorn_errors`):

- **reading in the poller**: new and kept-alive connections wait in the
  poller; their bytes are read without blocking and buffered per
  connection. When the request head is complete (and, if it declares a
  ``Content-Length`` of at most :data:`MAX_BUFFERED_BODY`, its body too:
  the dashboard's forms), the whole request goes to a pool thread, whose
  gunicorn parser reads it from that buffer (:class:`BufferedUnreader`),
  never from the socket. A larger or chunked body is not waited for: the
  request is answered without it (the API never reads a body) and the
  connection closes. TLS handshakes run in the poller too.
- **a deadline per request**: from a request's first byte (a TLS
  connection: from its accept) the head and body must be complete within
  ``VISITORAPI_REQUEST_TIMEOUT`` seconds, else the connection is closed. A
  connection that sends nothing is closed after ``keepalive`` seconds (at
  least :data:`MIN_IDLE_SECONDS`).
- **caps on waiting connections**: at most ``VISITORAPI_MAX_PENDING_PER_CLIENT``
  connections per client address (per IPv6 /64, ``VISITORAPI_CLIENT_IPV6_PREFIX``)
  and ``VISITORAPI_MAX_PENDING`` in all may wait in one worker; past either
  cap the connection that has waited longest is closed at once. A client
  that sends its request promptly is never the oldest, so a flood of slow
  connections evicts its own. Trusted proxies (``VISITORAPI_TRUSTED_PROXIES``)
  carry many clients and have no per-client cap.
- **bounded writes and closes**: a response write that stalls for
  ``VISITORAPI_REQUEST_TIMEOUT`` seconds (a client that stops reading) ends
  the connection; the lingering close after ``Connection: close`` (RFC 9112
  section 9.6) waits in the poller, where gunicorn's ``close_graceful``
  would block the main loop for up to 2 s per client.

The caps and deadlines are per worker process; ``docs/configuration.md``
says what they mean for a node. The worker speaks HTTP/1.x only (gunicorn's
``http_protocols = h2``, h2c and the PROXY protocol are refused at start).
It relies on gunicorn 27's ``gthread`` worker (``TConn``, ``enqueue_req``,
``finish_request``, ``murder_keepalived``, ``handle_request``) and its HTTP/1
parser, which ``tests/test_web_slow_clients.py`` exercises against a real
server.
"""
import errno
import re
import selectors
import socket
import ssl
import time
from functools import partial

from gunicorn import http
from gunicorn import sock as gsock
from gunicorn.http.errors import NoMoreData
from gunicorn.http.unreader import Unreader
from gunicorn.workers import gthread

from visitorapi.web import gunicorn_errors
from visitorapi.config import load_settings
from visitorapi.http.request import MAX_FORM_BYTES
from visitorapi.web.clientip import TrustedProxies, parse_ip
from visitorapi.web.ratelimit import client_network

MIN_IDLE_SECONDS = 2.0    # a new connection's wait for its first byte, even with keepalive 0
MAX_BUFFERED_BODY = MAX_FORM_BYTES  # the largest body any route reads: read in the poller
LINGER_SECONDS = 2.0      # a closing connection's wait for the client's FIN (RFC 9112 9.6)
LINGER_BYTES = 64 * 1024  # ... and the most bytes read from it meanwhile
RECV_BYTES = 65536
SWEEP_SECONDS = 0.25      # how often deadlines are checked
CHUNK_BYTES = 8192        # what the parser gets per read, as from gunicorn's SocketUnreader
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_BARE_LF = re.compile(rb"(?<!\r)\n")  # RFC 9112 2.2: gunicorn refuses it at once (400)


class BufferedUnreader(Unreader):
    """gunicorn's unreader over bytes the poller already read; never touches the socket.

    The parser sees the bytes in :data:`CHUNK_BYTES` pieces, as it would
    from a socket, so its limits (``limit_request_line``, header buffer)
    raise the same errors; past the end it sees end-of-stream.
    """

    def __init__(self):
        super().__init__()
        self.pending = b""

    def feed(self, data: bytes):
        self.pending += data

    def chunk(self, size_hint=None):
        data, self.pending = self.pending[:CHUNK_BYTES], self.pending[CHUNK_BYTES:]
        return data

    def take_all(self) -> bytes:
        """Everything not parsed yet (a pipelined next request), removed from here."""
        data = self.take_buffered() + self.pending
        self.pending = b""
        return data


class Connection(gthread.TConn):
    """A client connection with the request bytes read so far."""

    def __init__(self, cfg, sock, client, server, client_key):
        super().__init__(cfg, sock, client, server)  # non-blocking
        self.client_key = client_key  # None: no per-client cap (trusted proxy, Unix socket)
        self.buffer = bytearray()
        self.handshaking = False
        self.started = False     # the request's first byte (or TLS handshake) has come
        self.deadline = 0.0
        self.scanned = 0         # buffer bytes already searched for the end of the head
        self.expected = None     # bytes the request needs once its head is complete
        self.whole_body = True   # False: the declared body was not read; close after
        self.parser = http.RequestParser(cfg, (), client)
        self.parser.unreader = BufferedUnreader()
        self.initialized = True  # TConn.init() must not wrap the socket again


class ThreadWorker(gthread.ThreadWorker):
    """gunicorn's gthread worker; requests are read in the poller, threads only run them."""

    @classmethod
    def check_config(cls, cfg, log):
        """Refuse what this worker cannot serve from its poller: HTTP/2 and the PROXY protocol."""
        super().check_config(cfg, log)
        if "h2" in (cfg.http_protocols or ()) or getattr(cfg, "http2_cleartext", "off") != "off":
            raise RuntimeError("visitorapi's worker serves HTTP/1.1 only: remove h2 from "
                               "http_protocols and http2_cleartext (terminate HTTP/2 at a proxy)")
        if cfg.proxy_protocol != "off":
            raise RuntimeError("visitorapi's worker does not read the PROXY protocol: "
                               "set proxy_protocol = off and use VISITORAPI_TRUSTED_PROXIES")

    def init_process(self):
        """Read the limits (after fork, like the app) and start gunicorn's loop."""
        settings = load_settings()
        self.request_timeout = settings.request_timeout
        self.ipv6_prefix = settings.client_ipv6_prefix
        self.max_pending_per_client = settings.max_pending_per_client
        # NOTE: gunicorn stops accepting at worker_connections: waiting, running
        # and closing connections together must stay below it.
        room = self.cfg.worker_connections - 2 * self.cfg.threads
        self.max_pending = max(1, min(settings.max_pending, room - 1))
        self.max_closing = max(1, room - self.max_pending)
        # PERF: one TLS context per worker, not one per connection (gunicorn's way),
        # which would load the certificate chain on the main loop for every client.
        self.ssl_context = gsock.ssl_context(self.cfg) if self.cfg.is_ssl else None
        self.next_sweep = 0.0
        self.trusted = TrustedProxies(settings.trusted_proxies, unix=settings.trust_unix_socket,
                                      header=settings.proxy_header)
        self.idle_seconds = max(self.cfg.keepalive, MIN_IDLE_SECONDS)
        self.line_limit = self.cfg.limit_request_line or 8190
        self.head_limit = self._head_limit()
        self.waiting = {}    # conn -> None; insertion order: longest waiting first
        self.by_client = {}  # client key -> {conn: None}, same order
        self.closing = {}    # conn -> None, lingering after FIN; oldest first
        super().init_process()

    def _head_limit(self) -> int:
        """The most head bytes gunicorn's parser reads before it refuses (431/414)."""
        fields = self.cfg.limit_request_fields or 32768
        field_size = self.cfg.limit_request_field_size or 8190
        return self.line_limit + 2 + fields * (field_size + 2) + 4 + CHUNK_BYTES

    # -- the poller: accept, read, hand over ------------------------------------------------

    def accept(self, listener):
        """Accept a connection and let it wait in the poller (a TLS one starts its handshake)."""
        try:
            sock, client = listener.accept()
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                return
            raise
        self.nr_conns += 1
        conn = Connection(self.cfg, sock, client, listener.getsockname(), self._client_key(client))
        if self.cfg.is_ssl:
            try:
                conn.sock = self.ssl_context.wrap_socket(
                    sock, server_side=True, do_handshake_on_connect=False,
                    suppress_ragged_eofs=self.cfg.suppress_ragged_eofs)
            except (OSError, ValueError):
                self.nr_conns -= 1
                conn.close()
                return
            conn.handshaking = True
            # The handshake is timed like a request; an idle wait starts after it.
            self._wait(conn, time.monotonic() + self.request_timeout, started=True)
        else:
            self._wait(conn, time.monotonic() + self.idle_seconds)

    def _client_key(self, client):
        """The key of the per-client cap: the peer's address (its /64 for IPv6), or None."""
        if not isinstance(client, tuple) or not client or not client[0]:
            return None  # a Unix socket: a local proxy
        address = parse_ip(client[0])
        if address is not None and self.trusted.contains(address):
            return None
        return client_network(client[0], self.ipv6_prefix)

    def _wait(self, conn, deadline, data=b"", started=False):
        """Park ``conn`` in the poller until its next request is complete; apply the caps."""
        conn.deadline = deadline
        conn.started = started
        conn.expected = None
        conn.buffer = bytearray()
        conn.scanned = 0
        self.waiting[conn] = None
        if conn.client_key is not None:
            mine = self.by_client.setdefault(conn.client_key, {})
            mine[conn] = None
            if len(mine) > self.max_pending_per_client:
                self._evict(next(iter(mine)), "per-client")
        if len(self.waiting) > self.max_pending:
            self._evict(next(iter(self.waiting)), "total")
        # NOTE: ``conn`` is the newest, so never the one evicted (both caps are >= 1).
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self.on_readable, conn))
        if data:
            self._received(conn, data)
        elif isinstance(conn.sock, ssl.SSLSocket) and not conn.handshaking and conn.sock.pending():
            # NOTE: bytes already decrypted into the TLS layer never wake the poller.
            self.on_readable(conn, conn.sock)

    def _unwait(self, conn):
        self.waiting.pop(conn, None)
        mine = self.by_client.get(conn.client_key)
        if mine is not None:
            mine.pop(conn, None)
            if not mine:
                del self.by_client[conn.client_key]
        try:
            self.poller.unregister(conn.sock)
        except (KeyError, ValueError, OSError):
            pass  # NOTE: closing must go on whatever the poller says

    def _evict(self, conn, cap):
        self.log.debug("waiting-connection cap (%s) reached: closed the longest-waiting one", cap)
        self._drop(conn)

    def _drop(self, conn):
        """Close a connection that has no request in progress in a thread."""
        self._unwait(conn)
        self.nr_conns -= 1
        conn.close()

    def on_readable(self, conn, _sock):
        """Read what the client sent (never blocking); hand over a complete request."""
        if conn.handshaking and not self._handshake(conn):
            return
        while True:
            try:
                data = conn.sock.recv(RECV_BYTES)
            except (BlockingIOError, InterruptedError, ssl.SSLWantReadError,
                    ssl.SSLWantWriteError):
                return
            except OSError:  # ssl.SSLError included: reset, or a broken TLS stream
                self._drop(conn)
                return
            if not data:
                self._drop(conn)  # gone before completing a request: nothing to log
                return
            if self._received(conn, data):
                return

    def _handshake(self, conn) -> bool:
        """Advance a TLS handshake; True once it is done."""
        try:
            conn.sock.do_handshake()
        except ssl.SSLWantReadError:
            self.poller.modify(conn.sock, selectors.EVENT_READ, partial(self.on_readable, conn))
            return False
        except ssl.SSLWantWriteError:
            self.poller.modify(conn.sock, selectors.EVENT_WRITE, partial(self.on_readable, conn))
            return False
        except (OSError, ValueError):  # handshake refused (old TLS, plain HTTP): no log line
            self._unwait(conn)
            self._close_gracefully(conn)  # NOTE: a plain close would reset the client's read
            return False
        conn.handshaking = False
        conn.started = False
        conn.deadline = time.monotonic() + self.idle_seconds
        self.poller.modify(conn.sock, selectors.EVENT_READ, partial(self.on_readable, conn))
        return True

    def _received(self, conn, data) -> bool:
        """Add ``data``; hand the request over when complete. True when ``conn`` left the poller."""
        if not conn.started:
            # The request's first byte: from now on the request deadline applies.
            conn.started = True
            conn.deadline = time.monotonic() + self.request_timeout
        conn.buffer += data
        if conn.expected is None:
            conn.expected = self._measure(conn)
            if conn.expected is None:
                return False
        if len(conn.buffer) < conn.expected:
            return False
        self._unwait(conn)
        conn.parser.unreader.feed(bytes(conn.buffer))
        conn.buffer = bytearray()
        conn.sock.setblocking(True)
        self.enqueue_req(conn)
        return True

    def _measure(self, conn):
        """How many bytes the request needs, once that is known from its head; else None.

        A head gunicorn's parser would refuse (bare LF, too long) is handed
        over as it is, for the parser's 400/414/431.
        """
        buffer = conn.buffer
        # PERF: only new bytes are searched; a trickled head costs O(length), not O(length²).
        end = buffer.find(b"\r\n\r\n", max(0, conn.scanned - 3))
        if end < 0:
            if (_BARE_LF.search(buffer, conn.scanned)
                    or (len(buffer) > self.line_limit + 4 and buffer.find(b"\r\n", 2) < 0)
                    or len(buffer) > self.head_limit):
                return len(buffer)
            conn.scanned = len(buffer)
            return None
        head_length = end + 4
        length, chunked, expect = None, False, False
        for line in bytes(buffer[:end]).split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = value.strip() if length is None else b"repeated"
            elif name == b"transfer-encoding":
                chunked = True
            elif name == b"expect":
                expect = value.strip().lower() == b"100-continue"
        if chunked or length is None or not length.isdigit():
            # No body, or one gunicorn refuses (400) or that nothing here waits for.
            conn.whole_body = not chunked and length is None
            return head_length
        body = int(length)
        if body > MAX_BUFFERED_BODY:
            conn.whole_body = False
            return head_length
        conn.whole_body = True
        if body and expect and len(buffer) == head_length and \
                buffer.find(b" HTTP/1.1\r\n", 0, end + 2) >= 0:
            try:
                conn.sock.send(CONTINUE)  # 25 bytes on an idle socket: never blocks
            except (BlockingIOError, ssl.SSLWantWriteError):
                pass  # the client sends the body after its own timeout (RFC 9110 10.1.1)
            except OSError:
                pass  # reset: the next recv reports it
        return head_length + body

    # -- the pool thread: run one complete request ------------------------------------------

    def handle(self, conn):
        """Run the buffered request (a pool thread). Returns True to keep the connection."""
        req = None
        try:
            # NOTE: bounds the response writes; the parser never reads the socket.
            conn.sock.settimeout(self.request_timeout)
            req = next(conn.parser)
            # NOTE: the poller answered "Expect: 100-continue" if it waited for the
            # body; a body it did not wait for is not invited (the connection closes).
            req._expected_100_continue = False
            if not conn.whole_body:
                req.force_close()  # its body is still on the socket: no next request
            keepalive = self.handle_request(req, conn)
            return keepalive and conn.parser.finish_body()
        except StopIteration:
            pass
        except NoMoreData:
            # NOTE: the exception holds the request bytes: never logged.
            self.log.debug("request ended before its declared length; connection closed")
        except TimeoutError:
            self.log.debug("client stopped reading the response for %.0f s; connection closed",
                           self.request_timeout)
        except ssl.SSLError:
            self.log.debug("TLS error while answering; connection closed")
        except OSError as exc:
            if exc.errno not in (errno.EPIPE, errno.ECONNRESET, errno.ENOTCONN):
                self.log.exception("socket error while answering a request")
        except Exception as exc:
            self.handle_error(req, conn.sock, conn.client, exc)
        return False

    def finish_request(self, conn, fs):
        """Back on the main thread: wait for the next request, or close gracefully."""
        try:
            keep = not fs.cancelled() and fs.result()
        except Exception:
            keep = False
        if not keep:
            self._close_gracefully(conn)
            return
        try:
            conn.sock.setblocking(False)
        except OSError:
            self.nr_conns -= 1
            conn.close()
            return
        idle = self.idle_seconds if self.alive else min(self.idle_seconds,
                                                        gthread.STOP_KEEPALIVE_LINGER)
        self._wait(conn, time.monotonic() + idle, conn.parser.unreader.take_all())

    # -- closing --------------------------------------------------------------------------

    def _close_gracefully(self, conn):
        """Send FIN, then drain what the client still sends until its FIN, in the poller.

        gunicorn's ``close_graceful`` does this blocking, on the main thread.
        """
        try:
            conn.sock.setblocking(False)
            socket.socket.shutdown(conn.sock, socket.SHUT_WR)
            self.poller.register(conn.sock, selectors.EVENT_READ,
                                 partial(self.on_closing_readable, conn))
        except (OSError, ValueError, KeyError):
            self.nr_conns -= 1
            conn.close()
            return
        conn.deadline = time.monotonic() + LINGER_SECONDS
        conn.expected = LINGER_BYTES
        self.closing[conn] = None
        if len(self.closing) > self.max_closing:
            self._end_closing(next(iter(self.closing)))  # a flood of closes: no linger for it

    def on_closing_readable(self, conn, _sock):
        try:
            data = socket.socket.recv(conn.sock, RECV_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        conn.expected -= len(data)
        if not data or conn.expected <= 0:
            self._end_closing(conn)

    def _end_closing(self, conn):
        self.closing.pop(conn, None)
        try:
            self.poller.unregister(conn.sock)
        except (KeyError, ValueError, OSError):
            pass
        self.nr_conns -= 1
        conn.close()

    # -- deadlines (gunicorn calls this once a second, and with force=True at exit) --------

    def handle_error(self, req, client, addr, exc):
        """gunicorn's own error answers (400, 414, 431, 501, 500) with the app's JSON and headers."""
        gunicorn_errors.answer(self, req, client, addr, exc)

    def murder_keepalived(self, force=False):
        """Close waiting connections past their deadline, and lingering closes past theirs."""
        super().murder_keepalived(force)
        now = time.monotonic()
        if now < self.next_sweep and not force:
            return  # PERF: gunicorn calls this after every poller wake-up; sweep 4 times a second
        self.next_sweep = now + SWEEP_SECONDS
        for conn in list(self.closing):
            if force or conn.deadline <= now:
                self._end_closing(conn)
        expired = [conn for conn in self.waiting if force or conn.deadline <= now]
        for conn in expired:
            self._drop(conn)
        if expired and not force:
            self.log.debug("%d connection(s) closed: no complete request in time", len(expired))

    def _cap_keepalive(self, deadline):
        """Stopping: idle connections get at most ``deadline``; partial requests keep theirs."""
        super()._cap_keepalive(deadline)
        for conn in self.waiting:
            if not conn.started:
                conn.deadline = min(conn.deadline, deadline)
