"""End to end in a real headless Chromium: the copied snippet from customer pages.

`visitorapi serve` runs on 127.0.0.1; two little page servers on other ports
play the customer sites, each page running the copied XMLHttpRequest
snippet. The project authorizes only the first, so its page must get the
visitor's data and the second must reach its error callback (with the 403
readable). The demo page at / of the service must also work.

Chromium is driven with the Chrome DevTools Protocol over
``--remote-debugging-pipe`` (fd 3 in, fd 4 out, NUL-terminated JSON), with
the standard library only.
"""
import contextlib
import http.server
import json
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

from server_helpers import Server, base_env, compile_fixture, create_project
from visitorapi.web.pages import snippet

# The server needs the IP database (ipdb) and country facts; until both are
# in the tree these tests cannot run.
pytest.importorskip("visitorapi.ipdb.compiler")
pytest.importorskip("visitorapi.countries")

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

def customer_page(api: str, pid: str) -> str:
    """A customer's page: the copied snippet, with callbacks that record the outcome."""
    return ("<!doctype html><html><head><meta charset='utf-8'><title>customer</title></head>"
            "<body><script>\n" + snippet(api) + "\n"
            'VisitorAPI("' + pid + '", function (data) { window.outcome = {ok: true, data: data}; },'
            " function (status, message) { window.outcome = {ok: false, status: status,"
            " message: message}; });\n</script></body></html>")


class DevTools:
    """A Chromium process and a CDP session over its debugging pipe."""

    def __init__(self, profile: Path):
        to_chrome_read, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_write = os.pipe()

        def wire_pipes():  # runs in the child: CDP expects fds 3 and 4
            os.dup2(to_chrome_read, 3)
            os.dup2(from_chrome_write, 4)

        self.process = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--no-first-run", "--disable-dev-shm-usage", f"--user-data-dir={profile}",
             "--remote-debugging-pipe", "about:blank"],
            pass_fds=(3, 4), preexec_fn=wire_pipes, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        os.close(to_chrome_read)
        os.close(from_chrome_write)
        self._buffer = b""
        self._next_id = 0
        self.session = None

    def call(self, method, params=None, *, session=True, timeout=30.0):
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session and self.session:
            message["sessionId"] = self.session
        os.write(self._to_chrome, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            reply = self._read(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]
        raise TimeoutError(method)

    def _read(self, deadline):
        import select
        while b"\0" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([self._from_chrome], [], [], remaining)[0]:
                raise TimeoutError("no answer from Chromium")
            chunk = os.read(self._from_chrome, 65536)
            if not chunk:
                raise RuntimeError("Chromium closed the debugging pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def open_page(self):
        target = self.call("Target.createTarget", {"url": "about:blank"}, session=False)
        attached = self.call("Target.attachToTarget",
                             {"targetId": target["targetId"], "flatten": True}, session=False)
        self.session = attached["sessionId"]

    def evaluate(self, expression):
        result = self.call("Runtime.evaluate", {"expression": expression,
                                                "returnByValue": True})
        return result["result"].get("value")

    def visit_and_wait(self, url, expression, timeout=30.0):
        """Navigate to ``url``; poll ``expression`` until it is not null; return it."""
        self.call("Page.navigate", {"url": url})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value is not None:
                return value
            time.sleep(0.1)
        raise TimeoutError(f"{url}: {expression} stayed null")

    def close(self):
        with contextlib.suppress(Exception):
            self.call("Browser.close", session=False, timeout=5)
        with contextlib.suppress(OSError):
            os.close(self._to_chrome)
            os.close(self._from_chrome)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, 9)
            self.process.wait(timeout=5)


@contextlib.contextmanager
def page_server(pages: dict):
    """Serve ``pages[origin]`` at / on a free 127.0.0.1 port; yield the origin.

    ``pages`` is read at request time, so a page can name its own origin.
    """

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = pages[origin].encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    origin = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield origin
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed")
def test_snippet_in_chromium_authorized_and_foreign(tmp_path):
    env = base_env(tmp_path)
    database = compile_fixture(tmp_path)
    with Server(tmp_path, "--db", database, "--workers", 1, env=env) as server:
        api = f"http://127.0.0.1:{server.port}"
        demo_pid = server.output().split("demo project pid: ", 1)[1].split()[0]
        browser = DevTools(tmp_path / "profile")
        try:
            browser.open_page()
            # the demo page served by the service itself (same origin, Referer-based)
            status = browser.visit_and_wait(
                f"{api}/", "document.getElementById('result').textContent || null")
            assert json.loads(status)["ipAddress"] == "127.0.0.1"
            pages = {}
            with page_server(pages) as authorized, page_server(pages) as foreign:
                pid = create_project(Path(env["VISITORAPI_STATE"]), [authorized])
                page = customer_page(api, pid)
                pages.update({authorized: page, foreign: page})
                time.sleep(1.2)  # the workers' view of the store refreshes within 1 s
                outcome = browser.visit_and_wait(f"{authorized}/", "window.outcome || null")
                assert outcome["ok"] is True, outcome
                assert outcome["data"]["ipAddress"] == "127.0.0.1"
                assert set(outcome["data"]) >= {"countryCode", "browser", "os", "cityLatLong"}
                assert outcome["data"]["browser"].startswith(("Chrome", "Headless"))
                outcome = browser.visit_and_wait(f"{foreign}/", "window.outcome || null")
                assert outcome == {"ok": False, "status": 403, "message":
                                   f"origin {foreign} is not authorized for this project"}
            assert demo_pid
        finally:
            browser.close()
