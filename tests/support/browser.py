"""Drive headless Chromium over the Chrome DevTools Protocol, standard library only.

Chromium reads commands from fd 3 and writes replies and events to fd 4
(``--remote-debugging-pipe``), each a JSON object ended by a NUL byte.
Only what the browser tests need: open a page, navigate, evaluate, fill and
submit forms, wait for a condition, take screenshots.
"""
import base64
import contextlib
import fcntl
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--disable-dev-shm-usage")


class Browser:
    """One Chromium process with a fresh profile and one page, driven over the pipe."""

    def __init__(self, profile: Path, extra_flags=()):
        # NOTE: no speculative preconnects. Chromium otherwise opens idle sockets
        # to origins it expects to visit, and a gunicorn sync worker that accepts
        # one waits on it while the real request queues behind.
        (profile / "Default").mkdir(parents=True, exist_ok=True)
        (profile / "Default" / "Preferences").write_text(
            json.dumps({"net": {"network_prediction_options": 2}}))
        to_chrome_read, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_write = os.pipe()

        def wire_pipes():  # in the child: CDP expects fds 3 (commands) and 4 (replies)
            # NOTE: move both ends above 4 first, so neither dup2 can clobber the other.
            read_end = fcntl.fcntl(to_chrome_read, fcntl.F_DUPFD, 10)
            write_end = fcntl.fcntl(from_chrome_write, fcntl.F_DUPFD, 10)
            os.dup2(read_end, 3)
            os.dup2(write_end, 4)

        self.process = subprocess.Popen(
            [CHROMIUM, *FLAGS, *extra_flags, f"--user-data-dir={profile}",
             "--remote-debugging-pipe", "about:blank"],
            pass_fds=(3, 4), preexec_fn=wire_pipes, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        os.close(to_chrome_read)
        os.close(from_chrome_write)
        self._buffer = b""
        self._next_id = 0
        self.session = None
        target = self.call("Target.createTarget", {"url": "about:blank"}, session=False)
        attached = self.call("Target.attachToTarget",
                             {"targetId": target["targetId"], "flatten": True}, session=False)
        self.session = attached["sessionId"]
        self.call("Page.enable")
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": 1000, "height": 900, "deviceScaleFactor": 1, "mobile": False})

    def call(self, method, params=None, *, session=True, timeout=30.0):
        """Send one command and return its result (events in between are dropped)."""
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session and self.session:
            message["sessionId"] = self.session
        os.write(self._to_chrome, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]

    def _read(self, deadline):
        while b"\0" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([self._from_chrome], [], [], remaining)[0]:
                raise TimeoutError("no answer from Chromium")
            chunk = os.read(self._from_chrome, 1 << 16)
            if not chunk:
                raise RuntimeError("Chromium closed the debugging pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def evaluate(self, expression: str):
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                "awaitPromise": True})
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 20.0):
        """Poll ``expression`` until it is truthy; return its value."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(RuntimeError):  # mid-navigation: no context yet
                value = self.evaluate(expression)
                if value:
                    return value
            time.sleep(0.05)
        raise TimeoutError(f"still false after {timeout} s: {expression}")

    def navigate(self, url: str) -> None:
        self.evaluate("window.__visited = true")
        self.call("Page.navigate", {"url": url})
        self.wait_loaded()

    def wait_loaded(self) -> None:
        """Wait until a new document (not the one marked before) has finished loading."""
        self.wait_for("!window.__visited && document.readyState === 'complete'")

    def submit(self, form_selector: str, values: dict) -> None:
        """Fill a form's fields by name and submit it as a user would (requestSubmit)."""
        script = ("(() => { const f = document.querySelector(%s); if (!f) return false;"
                  " const v = %s; for (const k in v) { f.elements[k].value = v[k]; }"
                  " window.__visited = true; f.requestSubmit(); return true; })()"
                  % (json.dumps(form_selector), json.dumps(values)))
        if not self.evaluate(script):
            raise LookupError(f"no form {form_selector} on {self.url}")
        self.wait_loaded()

    def text(self, selector: str = "body") -> str:
        return self.evaluate(f"(document.querySelector({json.dumps(selector)}) || "
                             "{textContent: ''}).textContent")

    @property
    def url(self) -> str:
        return self.evaluate("location.href")

    def screenshot(self, path: Path) -> Path:
        data = self.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
        path.write_bytes(base64.b64decode(data["data"]))
        return path

    def cookies(self) -> list:
        return self.call("Storage.getCookies", session=False).get("cookies", [])

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.call("Browser.close", session=False, timeout=5)
        for fd in (self._to_chrome, self._from_chrome):
            with contextlib.suppress(OSError):
                os.close(fd)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, 9)
            self.process.wait(timeout=5)
