"""A browser-like test client for the dashboard, on the one WSGI harness (web_helpers).

It keeps the session cookie the way a browser keeps a ``__Host-`` cookie
(only when Secure, Path=/ and no Domain), sends ``Origin`` with every POST
like a browser does for same-origin forms, and reads CSRF tokens and
TOTP secrets out of the returned HTML.
"""
import re
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit

from visitorapi import totp
from visitorapi.dashboard.http import SESSION_COOKIE
from support.wsgi import make_environ, run_wsgi

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
        body = urlencode(form or {}, doseq=True).encode() if form is not None else b""
        browser = {}
        if form is not None:
            browser["Content-Type"] = "application/x-www-form-urlencoded"
        if method == "POST" and origin is not None:
            browser["Origin"] = self.origin if origin is SAME else origin
        if self.cookie:
            browser["Cookie"] = f"{SESSION_COOKIE}={self.cookie}"
        environ = make_environ(path, query, method=method, headers={**browser, **(headers or {})},
                               remote_addr=self.ip, scheme="https" if self.https else "http",
                               host=self.host, body=body)
        reply = run_wsgi(self.app, environ)
        page = Page(reply.status, reply.headers, reply.body.decode("utf-8"))
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
