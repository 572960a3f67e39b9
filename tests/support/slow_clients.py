"""Slow clients on loopback, for tests and tools/bench_service.py: slowloris heads and bodies.

Each connection sends a request a little at a time, forever: a slow head
adds one header line per round, a slow body (``POST /dashboard/login`` with
``Content-Length: 60000``) one byte per round. What the server closes is
opened again in the next round, so the pressure stays at the configured
number of connections. Source addresses are loopback addresses
(``127.0.0.x``) that client sockets bind to, so "many clients" are many
addresses on one machine. Only ever connects to 127.0.0.1.
"""
import socket
import threading

SLOW_BODY_LENGTH = 60000


def many_sources(count, first=10):
    """``count`` loopback source addresses, 127.0.0.<first> onwards."""
    return [f"127.0.0.{first + i}" for i in range(count)]


class SlowClients:
    """``heads`` slow-head and ``bodies`` slow-body connections to 127.0.0.1:``port``.

    Args:
        port: the server's port on 127.0.0.1.
        pid: the project named in the slow heads' request line.
        heads, bodies: how many connections of each kind to keep open.
        sources: loopback addresses to connect from, used in turn.
        interval: seconds between two pieces on one connection.
    """

    def __init__(self, port, pid, *, heads=200, bodies=50, sources=("127.0.0.2",),
                 interval=1.0):
        self.port = port
        self.starts = ([f"GET /api/?pid={pid} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode()] * heads
                       + [(f"POST /dashboard/login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                           "Content-Type: application/x-www-form-urlencoded\r\n"
                           f"Content-Length: {SLOW_BODY_LENGTH}\r\n\r\n").encode()] * bodies)
        self.pieces = [b"X-Slow: 1\r\n"] * heads + [b"a"] * bodies
        self.sources = list(sources)
        self.interval = interval
        self.sockets = [None] * (heads + bodies)
        self.opened = 0          # connections made, reconnections included
        self.closed_by_server = 0
        self.rounds = 0
        self.ready = threading.Event()  # every connection open and sending
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="slow-clients", daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=30)
        for sock in self.sockets:
            if sock is not None:
                sock.close()

    def _connect(self, index):
        source = self.sources[index % len(self.sources)]
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.bind((source, 0))
            sock.settimeout(5)
            sock.connect(("127.0.0.1", self.port))
            sock.sendall(self.starts[index])
            sock.setblocking(False)
        except OSError:
            sock.close()
            return None
        self.opened += 1
        return sock

    def _run(self):
        while not self._stop.is_set():
            for index, sock in enumerate(self.sockets):
                if sock is not None:
                    try:
                        sock.send(self.pieces[index])
                        continue
                    except (BlockingIOError, InterruptedError):
                        continue
                    except OSError:
                        sock.close()
                        self.closed_by_server += 1
                self.sockets[index] = self._connect(index)
            self.rounds += 1
            if self.rounds >= 2:
                self.ready.set()
            self._stop.wait(self.interval)
