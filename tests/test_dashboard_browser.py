"""The dashboard end to end in a real headless Chromium, against a real `visitorapi serve`.

The path an operator walks: create the first owner with the CLI; log in;
enroll TOTP by computing a code from the secret the page shows (and decode
the page's QR code from a screenshot with zbarimg when it is installed); log
in again with a recovery code; create a project and add a customer site's
origin as a domain; the API then answers that site; the usage chart shows
the request. Screenshots of each step go to a temporary folder.

The __Host- session cookie must be Secure: Chromium keeps Secure cookies
from http://127.0.0.1, a potentially trustworthy origin (W3C Secure
Contexts), so the server runs on loopback without TLS.
"""
import re
import shutil
import subprocess
import time

import pytest

from support.browser import CHROMIUM, Browser
from conftest import run_cli
from support.servers import Server, base_env, compile_fixture, customer_page, page_server
from visitorapi import totp

# The server needs the IP database compiler and country facts.
pytest.importorskip("visitorapi.ipdb.compiler")
pytest.importorskip("visitorapi.countries")

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed")]

PASSWORD = "violet staple orbit"


def test_operator_walks_the_dashboard(tmp_path):
    shots = tmp_path / "screenshots"
    shots.mkdir()
    env = base_env(tmp_path, VISITORAPI_USAGE_FLUSH_SECONDS="0.5")
    created = run_cli("users", "create", "owner@example.com", "--role", "owner",
                      "--password-stdin", input=PASSWORD + "\n", env=env)
    assert created.returncode == 0, created.stderr
    database = compile_fixture(tmp_path)
    pages = {}
    with Server(tmp_path, "--db", database, "--workers", 1, env=env) as server, \
            page_server(pages) as customer:
        base = f"http://127.0.0.1:{server.port}"
        browser = Browser(tmp_path / "profile")
        try:
            # 1. log in with the password
            browser.navigate(f"{base}/dashboard/login")
            browser.screenshot(shots / "1-login.png")
            cookie = [c for c in browser.cookies() if c["name"] == "__Host-visitorapi-session"]
            assert cookie and cookie[0]["secure"] and cookie[0]["httpOnly"]
            assert cookie[0]["sameSite"] == "Strict"
            browser.submit("form[action='/dashboard/login']",
                           {"email": "owner@example.com", "password": PASSWORD})
            assert browser.url == f"{base}/dashboard/projects"

            # 2. enroll TOTP with a code computed from the secret on the page
            browser.navigate(f"{base}/dashboard/security/mfa")
            secret = browser.text("#totp-secret").replace(" ", "")
            uri = browser.evaluate("document.getElementById('totp-uri').textContent")
            assert f"secret={secret}" in uri
            qr_shot = browser.screenshot(shots / "2-enroll.png")
            if shutil.which("zbarimg"):
                decoded = subprocess.run(["zbarimg", "--quiet", "--raw", str(qr_shot)],
                                         capture_output=True, text=True, timeout=60)
                assert decoded.stdout.strip() == uri
            code = totp.totp(totp.decode_secret(secret), time.time())
            browser.submit("form[action='/dashboard/security/mfa']", {"code": code})
            recovery = re.findall(r"[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}",
                                  browser.text("#recovery-codes"))
            assert len(recovery) == 10
            browser.screenshot(shots / "3-recovery-codes.png")

            # 3. log out; log in again: password, then the second factor
            browser.submit("form[action='/dashboard/logout']", {})
            assert browser.url == f"{base}/dashboard/login"
            browser.submit("form[action='/dashboard/login']",
                           {"email": "owner@example.com", "password": PASSWORD})
            assert browser.url == f"{base}/dashboard/login/code"
            browser.submit("form[action='/dashboard/login/code']", {"code": recovery[0]})
            assert browser.url == f"{base}/dashboard/projects"

            # 4. create a project, then add the customer's origin as a domain
            browser.submit("form[action='/dashboard/projects']", {"name": "Customer shop"})
            pid = browser.text("#pid")
            assert browser.url == f"{base}/dashboard/projects/{pid}?done=created"
            browser.submit(f"form[action='/dashboard/projects/{pid}/domains/add']",
                           {"pattern": customer})
            assert customer in browser.text("main")
            browser.screenshot(shots / "4-project.png")

            # 5. the API now answers that origin (workers see store changes within 1 s)
            pages[customer] = customer_page(base, pid)
            deadline = time.monotonic() + 10
            while True:
                browser.navigate(f"{customer}/")
                outcome = browser.wait_for("window.outcome")
                if outcome["ok"] or time.monotonic() > deadline:
                    break
                time.sleep(0.3)
            assert outcome["ok"] is True, outcome
            assert outcome["data"]["ipAddress"] == "127.0.0.1"

            # 6. the usage chart shows the request (counts are flushed every 0.5 s)
            day = time.strftime("%Y-%m-%d", time.gmtime())
            deadline = time.monotonic() + 15
            while True:
                browser.navigate(f"{base}/dashboard/projects/{pid}")
                served = browser.evaluate(
                    f"(document.querySelector('#usage-chart g[data-day=\"{day}\"] title') || "
                    "{textContent: ''}).textContent")
                if "1 served" in served or time.monotonic() > deadline:
                    break
                time.sleep(0.3)
            assert served.startswith(f"{day}: 1 served"), served
            browser.screenshot(shots / "5-usage.png")
        finally:
            browser.close()
    assert sorted(path.name for path in shots.iterdir()) == [
        "1-login.png", "2-enroll.png", "3-recovery-codes.png", "4-project.png", "5-usage.png"]
