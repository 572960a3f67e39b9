"""A browser-like test client for the dashboard WSGI app, under wsgiref.validate.

It keeps the session cookie the way a browser keeps a ``__Host-`` cookie
(only when Secure, Path=/ and no Domain), sends ``Origin`` with every POST
like a browser does for same-origin forms, and reads CSRF tokens and
TOTP secrets out of the returned HTML.
"""
import io
import re
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit
from wsgiref.util import setup_testing_defaults
from wsgiref.validate import validator

from visitorapi import totp
from visitorapi.dashboard.http import SESSION_COOKIE

SAME = object()


@dataclass
class Page:
    status: int
    headers: list
    text: str

    def header(self, name: str):
        values = [value for key, value in self.headers if key.lower() == name.lower()]
        return values[0] if values else None

    def header_all(self, name: str) -> list:
        return [value for key, value in self.headers if key.lower() == name.lower()]

    @property
    def location(self) -> str:
        return self.header("Location")

    def csrf(self) -> str:
        match = re.search(r'name="csrf" value="([^"]+)"', self.text)
        assert match, f"no CSRF field in the page:\n{self.text[:2000]}"
        return match.group(1)

    def totp_secret(self) -> str:
        match = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', self.text)
        assert match, "no TOTP secret on the page"
        return match.group(1).replace(" ", "")


@dataclass
class Client:
    app: object
    host: str = "dash.test"
    https: bool = True
    ip: str = "192.0.2.10"
    cookie: str = ""
    history: list = field(default_factory=list)

    @property
    def origin(self) -> str:
        return f"{'https' if self.https else 'http'}://{self.host}"

    def request(self, method: str, path: str, form=None, headers=None, origin=SAME) -> Page:
        path, _, query = path.partition("?")
        environ = {}
        setup_testing_defaults(environ)
        body = urlencode(form or {}, doseq=True).encode() if form is not None else b""
        environ.update({"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query,
                        "HTTP_HOST": self.host, "REMOTE_ADDR": self.ip,
                        "wsgi.url_scheme": "https" if self.https else "http",
                        "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body))})
        if form is not None:
            environ["CONTENT_TYPE"] = "application/x-www-form-urlencoded"
        if method == "POST" and origin is not None:
            environ["HTTP_ORIGIN"] = self.origin if origin is SAME else origin
        if self.cookie:
            environ["HTTP_COOKIE"] = f"{SESSION_COOKIE}={self.cookie}"
        for name, value in (headers or {}).items():
            environ["HTTP_" + name.upper().replace("-", "_")] = value
        captured = {}

        def start_response(status, response_headers, exc_info=None):
            captured["status"] = int(status.split()[0])
            captured["headers"] = response_headers

        chunks = validator(self.app)(environ, start_response)
        try:
            text = b"".join(chunks).decode("utf-8")
        finally:
            chunks.close()
        page = Page(captured["status"], captured["headers"], text)
        self._store_cookie(page)
        self.history.append((method, path, page.status))
        return page

    def _store_cookie(self, page: Page) -> None:
        for value in page.header_all("Set-Cookie"):
            name, _, rest = value.partition("=")
            if name != SESSION_COOKIE:
                continue
            attributes = [part.strip().lower() for part in rest.split(";")[1:]]
            # The __Host- prefix rules a browser enforces (RFC 6265bis 4.1.3.2).
            assert "secure" in attributes and "path=/" in attributes
            assert not any(a.startswith("domain") for a in attributes)
            self.cookie = "" if "max-age=0" in attributes else rest.split(";")[0]

    def get(self, path: str, **kwargs) -> Page:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, form=None, **kwargs) -> Page:
        return self.request("POST", path, form or {}, **kwargs)

    def follow(self, page: Page) -> Page:
        """Follow redirects the way a browser does after a form (GET)."""
        while page.status in (301, 302, 303, 307, 308):
            page = self.get(urlsplit(page.location)._replace(scheme="", netloc="").geturl())
        return page

    def submit(self, path: str, form=None, page: Page = None, **kwargs) -> Page:
        """POST a form with the CSRF token from ``page`` (or from a fresh GET of ``path``)."""
        token = (page or self.get(path)).csrf()
        return self.post(path, {**(form or {}), "csrf": token}, **kwargs)


def current_code(secret: str, now: float) -> str:
    return totp.totp(totp.decode_secret(secret), now)
