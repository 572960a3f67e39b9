"""End to end in a real headless Chromium: the copied snippet from customer pages.

`visitorapi serve` runs on 127.0.0.1; two little page servers on other ports
play the customer sites, each page running the copied XMLHttpRequest
snippet. The project authorizes only the first, so its page must get the
visitor's data and the second must reach its error callback (with the 403
readable). The demo page at / of the service must also work.

Chromium is driven with the Chrome DevTools Protocol over
``--remote-debugging-pipe`` with the standard library only (``tests/support/browser.py``).
"""
import json
import time
from pathlib import Path

import pytest

from support.browser import CHROMIUM, Browser
from support.servers import (Server, base_env, compile_fixture, create_project, customer_page,
                            page_server)

# The server needs the IP database compiler and reader (ipdb).
pytest.importorskip("visitorapi.ipdb.compiler")

pytestmark = pytest.mark.browser


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed")
def test_snippet_in_chromium_authorized_and_foreign(tmp_path):
    env = base_env(tmp_path)
    database = compile_fixture(tmp_path)
    with Server(tmp_path, "--db", database, "--workers", 1, env=env) as server:
        api = f"http://127.0.0.1:{server.port}"
        demo_pid = server.output().split("demo project pid: ", 1)[1].split()[0]
        browser = Browser(tmp_path / "profile")
        try:
            # the demo page served by the service itself (same origin, Referer-based)
            browser.navigate(f"{api}/")
            status = browser.wait_for("document.getElementById('result').textContent")
            assert json.loads(status)["ipAddress"] == "127.0.0.1"
            pages = {}
            with page_server(pages) as authorized, page_server(pages) as foreign:
                pid = create_project(Path(env["VISITORAPI_STATE"]), [authorized])
                page = customer_page(api, pid)
                pages.update({authorized: page, foreign: page})
                time.sleep(1.2)  # the workers' view of the store refreshes within 1 s
                browser.navigate(f"{authorized}/")
                outcome = browser.wait_for("window.outcome")
                assert outcome["ok"] is True, outcome
                assert outcome["data"]["ipAddress"] == "127.0.0.1"
                assert set(outcome["data"]) >= {"countryCode", "browser", "os", "cityLatLong"}
                assert outcome["data"]["browser"].startswith(("Chrome", "Headless"))
                browser.navigate(f"{foreign}/")
                outcome = browser.wait_for("window.outcome")
                assert outcome == {"ok": False, "status": 403, "message":
                                   f"origin {foreign} is not authorized for this project"}
                # the same through <script src=".../client.js">, loaded cross-site
                pages[authorized] = customer_page(api, pid, client_js=True)
                browser.navigate(f"{authorized}/")
                outcome = browser.wait_for("window.outcome")
                assert outcome["ok"] is True, outcome
                assert outcome["data"]["ipAddress"] == "127.0.0.1"
            assert demo_pid
        finally:
            browser.close()
