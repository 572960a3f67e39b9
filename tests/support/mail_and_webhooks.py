"""Real peers for notification tests: an SMTP server with STARTTLS (aiosmtpd) and a
webhook receiver that checks every signature, both on 127.0.0.1."""
import http.server
import json
import ssl
import threading
import time

import pytest

from visitorapi.notify import webhook


class MailServer:
    """aiosmtpd on a free port: STARTTLS with ``cert``/``key`` required before AUTH and
    before mail; one login ``user``/``password``; messages kept in :attr:`messages`."""

    def __init__(self, cert, key, port, user="notify", password="s3cret-pass"):
        aiosmtpd = pytest.importorskip("aiosmtpd.controller")
        from aiosmtpd.smtp import AuthResult
        self.messages, self.tls_sessions = [], []
        server = self

        class Handler:
            async def handle_DATA(self, smtp_server, session, envelope):
                server.tls_sessions.append(session.ssl is not None)
                server.messages.append(envelope)
                return "250 OK"

        def authenticate(smtp_server, session, envelope, mechanism, auth_data):
            ok = (auth_data.login.decode(), auth_data.password.decode()) == (user, password)
            return AuthResult(success=ok, handled=False)

        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        self.controller = aiosmtpd.Controller(
            Handler(), hostname="127.0.0.1", port=port, tls_context=context,
            require_starttls=True, auth_require_tls=True, authenticator=authenticate,
            auth_exclude_mechanism=["CRAM-MD5"])
        self.port = port

    def __enter__(self):
        self.controller.start()
        return self

    def __exit__(self, *exc):
        self.controller.stop()

    def wait_for(self, count: int, timeout: float = 60.0) -> list:
        """The first ``count`` messages, waiting for them (an event, not a timing)."""
        deadline = time.monotonic() + timeout
        while len(self.messages) < count:
            assert time.monotonic() < deadline, f"{len(self.messages)} of {count} messages came"
            time.sleep(0.05)
        return self.messages[:count]


class Receiver:
    """A webhook receiver: answers ``status`` (200 by default) and records each request
    with whether its signature checked out against ``secrets`` (set per test)."""

    def __init__(self, status: int = 200):
        self.status = status
        self.secret = ""
        self.requests = []   # (headers dict, body bytes, signature_ok, parsed JSON)
        receiver = self

        class Handle(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                ok = webhook.verify(receiver.secret, self.headers, body, time.time())
                receiver.requests.append((dict(self.headers), body, ok, json.loads(body)))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handle)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()

