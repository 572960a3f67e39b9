"""The service's fixed documents: security.txt, openapi.json, client.js and the demo page.

Each is rendered once per process from settings and cached; none depends on
the request.
"""
import base64
import functools
import hashlib
import html
import json
from pathlib import Path

from visitorapi.web.openapi import document
from visitorapi.web.responses import header_policy

STATIC = Path(__file__).resolve().parent / "static"

# The snippet customer sites copy (the classic VisitorAPI contract): an
# XMLHttpRequest GET to <base>/api/?pid=PID; success(data) when the JSON
# status is 200, otherwise error(status, result). BASE is replaced by the
# service's origin ("" on the service's own pages).
SNIPPET = """var VisitorAPI = function (pid, success, error) {
  var xhr = new XMLHttpRequest();
  xhr.onreadystatechange = function () {
    if (xhr.readyState === XMLHttpRequest.DONE) {
      var response = JSON.parse(xhr.responseText);
      if (response.status === 200) {
        success(response.data);
      } else {
        error(response.status, response.result);
      }
    }
  };
  xhr.open("GET", "BASE/api/?pid=" + pid);
  xhr.send(null);
};"""

DBIP_ATTRIBUTION = '<a href="https://db-ip.com">IP Geolocation by DB-IP</a>'


def snippet(base: str = "") -> str:
    """Return the copyable snippet calling the service at ``base`` (an origin, or "")."""
    return SNIPPET.replace("BASE", base)


def _csp_hash(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


class Pages:
    """Renders the fixed documents for one process's settings."""

    def __init__(self, settings):
        self.settings = settings

    def security_txt(self):
        """RFC 9116 security.txt bytes, or None when no contact is configured.

        Canonical is given when ``VISITORAPI_PUBLIC_URL`` says where the file lives.
        """
        settings = self.settings
        if not settings.security_contact:
            return None
        lines = [f"Contact: {settings.security_contact}",
                 f"Expires: {settings.security_expires.strftime('%Y-%m-%dT%H:%M:%SZ')}"]
        if settings.security_policy:
            lines.append(f"Policy: {settings.security_policy}")
        if settings.security_acknowledgments:
            lines.append(f"Acknowledgments: {settings.security_acknowledgments}")
        lines.append(f"Preferred-Languages: {', '.join(settings.security_languages)}")
        if settings.public_url:
            lines.append(f"Canonical: {settings.public_url}/.well-known/security.txt")
        return ("\n".join(lines) + "\n").encode("utf-8")

    @functools.cache
    def openapi(self) -> bytes:
        """The OpenAPI 3.1 document, as JSON bytes."""
        return json.dumps(document(), indent=1).encode("utf-8")

    @functools.cache
    def client_js(self) -> bytes:
        return (STATIC / "client.js").read_bytes()

    @functools.cache
    def demo(self):
        """Return ``(html bytes, header policy)`` or None without a demo project.

        NOTE: the demo calls the API on its own origin, where browsers send no
        Origin header; the Referer (reduced to its origin) must reach it, hence
        strict-origin rather than the API's no-referrer.
        """
        pid = self.settings.demo_pid
        if not pid:
            return None
        template = (STATIC / "demo.html").read_text(encoding="utf-8")
        attribution = (f"Location data: {DBIP_ATTRIBUTION}, licensed under CC BY 4.0."
                       if self.settings.db_is_default else "")
        page = (template.replace("{snippet_html}", html.escape(snippet()))
                .replace("{snippet}", snippet())
                .replace("{attribution}", attribution)
                .replace("{pid}", pid))  # NOTE: pid is [A-Za-z0-9_-]; safe in HTML and JS
        script = page.split("<script>", 1)[1].split("</script>", 1)[0]
        style = page.split("<style>", 1)[1].split("</style>", 1)[0]
        csp = (f"default-src 'none'; script-src {_csp_hash(script)}; "
               f"style-src {_csp_hash(style)}; connect-src 'self'; base-uri 'none'; "
               "form-action 'none'; frame-ancestors 'none'")
        return page.encode("utf-8"), header_policy(csp=csp, referrer="strict-origin")
