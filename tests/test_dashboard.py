"""The dashboard under wsgiref.validate: login, MFA, sessions, CSRF, throttling, pages, escaping."""
import concurrent.futures
import html
import re
import threading

import pytest

from support.dashboard_client import Client, current_code
from visitorapi import passwords
from visitorapi.dashboard import DashboardApp
from visitorapi.state import accounts, audit, db, projects, sessions, throttle
from visitorapi.state.copy import TABLES

PASSWORD = "violet staple orbit"
pytestmark = pytest.mark.usefixtures("fast_scrypt")
START = 1_800_000_000.0


class Clock:
    def __init__(self, now=START):
        self.now = now

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += seconds


@pytest.fixture
def store(store_location):
    path = store_location
    conn = db.connect(path, create=True)
    accounts.create(conn, "owner@example.com", PASSWORD, "owner", "test:setup")
    yield path, conn
    conn.close()


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def app(store, clock):
    return DashboardApp(store[0], clock=clock, attribution=lambda: "IP data by DB-IP "
                        "https://db-ip.com (CC BY 4.0)")


@pytest.fixture
def conn(store):
    return store[1]


def login(client, email="owner@example.com", password=PASSWORD):
    page = client.submit("/dashboard/login", {"email": email, "password": password})
    return page


def logged_in(app, **kwargs):
    client = Client(app, **kwargs)
    page = login(client)
    assert page.status == 303 and page.location == "/dashboard/projects"
    return client


def enroll(client, clock):
    page = client.get("/dashboard/security/mfa")
    secret = page.totp_secret()
    done = client.post("/dashboard/security/mfa", {"code": current_code(secret, clock.now),
                                                    "csrf": page.csrf()})
    assert done.status == 200 and "recovery-codes" in done.text
    return secret, re.findall(r"<li><code>([a-z0-9-]{19})</code></li>", done.text)


def reauth(client, clock, secret=None, next_path="/dashboard/security"):
    page = client.get(f"/dashboard/reauth?next={next_path}")
    form = {"password": PASSWORD, "next": next_path, "csrf": page.csrf()}
    if secret:
        clock.advance(30)
        form["code"] = current_code(secret, clock.now)
    result = client.post("/dashboard/reauth", form)
    assert result.status == 303, result.text
    return result


# --- headers --------------------------------------------------------------------

@pytest.mark.parametrize("https", [pytest.param(True, id="https"), pytest.param(False, id="http")])
def test_security_headers(app, https):
    page = Client(app, https=https).get("/dashboard/login")
    assert page.status == 200
    csp = page.header("Content-Security-Policy")
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert "script-src" not in csp and "unsafe-inline" not in csp
    assert "style-src 'self'" in csp
    assert page.header("X-Content-Type-Options") == "nosniff"
    assert page.header("Cache-Control") == "no-store"
    assert page.header("X-Frame-Options") == "DENY"
    assert page.header("Cross-Origin-Resource-Policy") == "same-origin"
    assert (page.header("Strict-Transport-Security") is not None) is https
    assert "<script" not in page.text and "style=" not in page.text and "<style" not in page.text


def test_session_cookie_attributes(app):
    cookie = Client(app).get("/dashboard/login").header("Set-Cookie")
    assert cookie.startswith("__Host-visitorapi-session=")
    assert all(part in cookie for part in ("Path=/", "Secure", "HttpOnly", "SameSite=Strict"))
    assert "Domain" not in cookie and "Max-Age" not in cookie


def test_stylesheet_is_served_and_unknown_pages_are_404(app):
    client = Client(app)
    css = client.get("/dashboard/static/dashboard.css")
    assert css.status == 200 and css.header("Content-Type").startswith("text/css")
    assert client.get("/dashboard/static/../app.py").status == 404
    assert client.get("/dashboard/nope").status == 404
    assert client.request("PUT", "/dashboard/login").status == 405


def test_footer_shows_the_database_attribution(app):
    page = Client(app).get("/dashboard/login")
    assert '<footer>IP data by DB-IP <a href="https://db-ip.com">https://db-ip.com</a> (CC BY 4.0)' \
        in page.text


# --- login ------------------------------------------------------------------------

def test_login_without_mfa_and_logout(app):
    client = logged_in(app)
    assert client.get("/dashboard/projects").status == 200
    page = client.submit("/dashboard/logout", page=client.get("/dashboard/projects"))
    assert page.status == 303 and client.cookie == ""
    assert client.get("/dashboard/projects").location == "/dashboard/login"


def test_pages_need_a_login(app):
    for path in ("/dashboard/projects", "/dashboard/audit", "/dashboard/security",
                 "/dashboard/users", "/dashboard/login/code"):
        page = Client(app).get(path)
        assert page.status == 303 and page.location == "/dashboard/login", path


@pytest.mark.parametrize("email, password", [
    pytest.param("owner@example.com", "wrong password!!", id="wrong-password"),
    pytest.param("nobody@example.com", PASSWORD, id="unknown-account"),
    pytest.param("not an email", PASSWORD, id="malformed-email"),
])
def test_failed_login_says_the_same_thing(app, email, password):
    page = login(Client(app), email, password)
    assert page.status == 200
    assert "The email or password is incorrect." in page.text
    assert "no account" not in page.text.lower()


def test_disabled_account_gets_the_same_answer(app, conn):
    accounts.create(conn, "m@example.com", PASSWORD, "member", "test")
    accounts.set_disabled(conn, "m@example.com", True, "test")
    page = login(Client(app), "m@example.com")
    assert "The email or password is incorrect." in page.text


def test_brute_force_slows_then_locks_the_account(app, clock):
    client = Client(app)
    statuses = []
    for _ in range(throttle.ACCOUNT_POLICY.lock_after):
        clock.advance(throttle.wait_seconds(app.connection(),
                                            (throttle.account_key("owner@example.com"),), clock.now))
        statuses.append(login(client, password="not the password").status)
    assert statuses == [200] * throttle.ACCOUNT_POLICY.lock_after
    locked = login(client)  # even the right password is refused while locked
    assert locked.status == 429 and "Too many failed attempts" in locked.text
    assert "Wait 900 seconds" in locked.text and locked.header("Retry-After") == "900"
    other_client = Client(app, ip="198.51.100.20")
    assert login(other_client).status == 429  # the lock is on the account, from any client
    clock.advance(900)
    assert login(other_client).status == 303


def test_lockout_looks_the_same_for_an_unknown_account(app, clock):
    def lock(email):
        client = Client(app, ip=f"203.0.113.{len(email)}")
        for _ in range(throttle.ACCOUNT_POLICY.lock_after):
            clock.advance(3600)
            login(client, email, "not the password")
        return login(client, email, "not the password")

    def normalized(page):
        text = re.sub(r'name="csrf" value="[^"]+"', "", page.text)
        return text.replace("owner@example.com", "X").replace("ghost@example.com", "X")

    known, unknown = lock("owner@example.com"), lock("ghost@example.com")
    assert known.status == unknown.status == 429
    assert normalized(known) == normalized(unknown)


def test_one_client_trying_many_accounts_is_throttled(app, clock):
    client = Client(app)
    for i in range(throttle.CLIENT_POLICY.free + 1):
        login(client, f"user{i}@example.com", "not the password")
    assert login(client, "fresh@example.com").status == 429
    assert login(Client(app, ip="198.51.100.99")).status == 303  # other clients are unaffected


def test_concurrent_wrong_passwords_get_no_more_tries_than_sequential_ones(app, monkeypatch):
    """24 guesses at once for one account: only as many reach the password check as one by one.

    Every call to check_password waits (bounded) until all 24 requests are
    inside it, so on code that checks the throttle before counting, all 24
    get there; reserving the attempt first lets only the free ones through.
    """
    attempts = 24
    arrived, everyone_in, lock = [], threading.Event(), threading.Lock()
    real_check = accounts.check_password

    def slow_check(*args):
        with lock:
            arrived.append(1)
            if len(arrived) == attempts:
                everyone_in.set()
        everyone_in.wait(timeout=2)
        return real_check(*args)

    monkeypatch.setattr(accounts, "check_password", slow_check)
    clients = [Client(app, ip=f"198.51.{100 + i}.1") for i in range(attempts)]  # many networks
    forms = [client.get("/dashboard/login").csrf() for client in clients]

    def guess(client, token):
        return client.post("/dashboard/login", {"email": "owner@example.com",
                                                "password": "not the password", "csrf": token})

    with concurrent.futures.ThreadPoolExecutor(attempts) as pool:
        statuses = [page.status for page in pool.map(guess, clients, forms)]
    allowed = throttle.ACCOUNT_POLICY.free + 1  # the sequential cut-off
    assert len(arrived) == allowed
    assert statuses.count(200) == allowed and statuses.count(429) == attempts - allowed


def test_a_right_password_gives_the_client_its_attempt_back(app, conn, clock):
    client = Client(app, ip="203.0.113.5")
    for _ in range(3):
        login(client, "someone@example.com", "not the password")
    key = throttle.client_key(conn, "203.0.113.5", clock.now)
    assert throttle.failures(conn, key) == 3
    assert login(client).status == 303
    assert throttle.failures(conn, key) == 3


def test_throttle_store_never_holds_the_ip(app, conn):
    login(Client(app, ip="203.0.113.77"), "x@example.com", "not the password")
    dump = "\n".join(str(row) for table, _ in TABLES           # every table, either engine
                      for row in conn.execute(f"SELECT * FROM {table}").fetchall())
    assert "203.0.113.77" not in dump


# --- MFA --------------------------------------------------------------------------

def test_enroll_then_log_in_with_totp(app, clock, conn):
    client = logged_in(app)
    page = client.get("/dashboard/security/mfa")
    assert "<svg" in page.text and "otpauth://totp/visitorapi:owner@example.com" in page.text
    secret = page.totp_secret()
    assert not accounts.find(conn, "owner@example.com").mfa_enabled
    wrong = client.post("/dashboard/security/mfa", {"code": "000000", "csrf": page.csrf()})
    assert wrong.status == 400 and not accounts.find(conn, "owner@example.com").mfa_enabled
    before = client.cookie
    secret, codes = enroll(client, clock)
    assert client.cookie != before  # privilege change: the session id rotated
    assert len(codes) == 10
    assert accounts.find(conn, "owner@example.com").mfa_enabled

    fresh = Client(app)
    page = login(fresh)
    assert page.location == "/dashboard/login/code"
    assert fresh.get("/dashboard/projects").location == "/dashboard/login"  # not in yet
    clock.advance(30)
    code = current_code(secret, clock.now)
    half = fresh.cookie
    done = fresh.submit("/dashboard/login/code", {"code": code})
    assert done.status == 303 and done.location == "/dashboard/projects"
    assert fresh.cookie != half
    assert fresh.get("/dashboard/projects").status == 200

    # The same code again (replay) is refused, from any session.
    again = Client(app)
    login(again)
    replay = again.submit("/dashboard/login/code", {"code": code})
    assert replay.status == 200 and "not valid" in replay.text
    # A recovery code works once.
    ok = again.submit("/dashboard/login/code", {"code": codes[0]})
    assert ok.status == 303
    third = Client(app)
    login(third)
    assert "not valid" in third.submit("/dashboard/login/code", {"code": codes[0]}).text


def test_wrong_totp_codes_lock_out(app, clock, conn):
    client = logged_in(app)
    secret, _ = enroll(client, clock)
    attacker = Client(app, ip="203.0.113.5")
    login(attacker)
    for _ in range(throttle.ACCOUNT_POLICY.lock_after):
        clock.advance(throttle.wait_seconds(conn, (throttle.account_key("owner@example.com"),),
                                            clock.now))
        page = attacker.submit("/dashboard/login/code", {"code": "123456"})
        if page.status == 303:
            pytest.skip("guessed a live code by chance")
    clock.advance(32)
    page = attacker.submit("/dashboard/login/code", {"code": current_code(secret, clock.now)})
    assert page.status == 429


def test_half_logged_in_session_expires(app, clock):
    client = logged_in(app)
    enroll(client, clock)
    other = Client(app)
    login(other)
    clock.advance(sessions.STAGE_LIFETIME["mfa"])
    assert other.get("/dashboard/login/code").location == "/dashboard/login"


def test_owner_can_require_mfa(app, clock, conn):
    accounts.create(conn, "m@example.com", PASSWORD, "member", "test")
    accounts.set_mfa_required(conn, True, "test")
    member = Client(app)
    assert login(member, "m@example.com").status == 303
    page = member.get("/dashboard/projects")
    assert page.status == 303 and page.location.startswith("/dashboard/security/mfa")
    assert "owner requires" in member.follow(page).text
    enroll(member, clock)
    assert member.get("/dashboard/projects").status == 200


# --- sessions and CSRF ---------------------------------------------------------------

def test_session_fixation_is_defeated(app):
    attacker = Client(app)
    attacker.get("/dashboard/login")
    planted = attacker.cookie
    victim = Client(app, cookie=planted)
    assert login(victim).status == 303
    assert victim.cookie != planted
    assert attacker.get("/dashboard/projects").location == "/dashboard/login"
    assert victim.get("/dashboard/projects").status == 200


def test_a_made_up_session_id_is_ignored(app):
    client = Client(app, cookie="A" * 43)
    page = client.get("/dashboard/login")
    assert client.cookie != "A" * 43 and page.status == 200


@pytest.mark.parametrize("path, form", [
    pytest.param("/dashboard/projects", {"name": "forged", "domains": ""}, id="create-project"),
    pytest.param("/dashboard/projects/{pid}/domains/note", {"pattern": "example.com", "note": "forged"},
                 id="domain-note"),
])
@pytest.mark.parametrize("change", [
    pytest.param({"csrf": None}, id="missing-token"),
    pytest.param({"csrf": "forged"}, id="wrong-token"),
    pytest.param({"origin": "https://evil.test"}, id="foreign-origin"),
    pytest.param({"origin": "null"}, id="null-origin"),
    pytest.param({"origin": None}, id="no-origin-no-referer"),
    pytest.param({"origin": "http://dash.test"}, id="downgraded-origin"),
    pytest.param({"origin": "https://dash.test.evil.test"}, id="suffix-origin"),
    pytest.param({"origin": "https://dash.test:8443"}, id="other-port"),
])
def test_forged_posts_are_refused(app, conn, change, path, form):
    existing = projects.create(conn, "Shop", ["example.com"], actor="test")
    client = logged_in(app)
    token = client.get("/dashboard/projects").csrf()
    form = dict(form)
    if change.get("csrf", token) is not None:
        form["csrf"] = change.get("csrf", token)
    page = client.post(path.format(pid=existing.pid), form,
                       origin=change.get("origin", Client.origin.fget(client)))
    assert page.status == 403
    assert projects.list_projects(conn) == [existing]


def test_token_of_another_session_is_refused(app, conn):
    mine, theirs = logged_in(app), logged_in(app)
    their_token = theirs.get("/dashboard/projects").csrf()
    page = mine.post("/dashboard/projects", {"name": "x", "csrf": their_token})
    assert page.status == 403 and projects.list_projects(conn) == []


@pytest.mark.parametrize("origin, referer, accepted", [
    pytest.param(None, "https://dash.test/dashboard/projects", True, id="referer"),
    pytest.param(None, "https://evil.test/dashboard/projects", False, id="foreign-referer"),
    pytest.param(None, "https://user@dash.test/dashboard/", False, id="referer-with-userinfo"),
    pytest.param("https://DASH.test", None, True, id="origin-in-upper-case"),
    pytest.param("https://dash.test:443", None, True, id="origin-with-its-default-port"),
    pytest.param("https://evil.test", "https://dash.test/dashboard/projects", False,
                 id="origin-decides-over-referer"),
])
def test_the_sender_is_compared_as_an_origin(app, conn, origin, referer, accepted):
    client = logged_in(app)
    token = client.get("/dashboard/projects").csrf()
    page = client.post("/dashboard/projects", {"name": "sent", "csrf": token}, origin=origin,
                       headers={"Referer": referer} if referer else None)
    assert page.status == (303 if accepted else 403)
    assert [p.name for p in projects.list_projects(conn)] == (["sent"] if accepted else [])


def test_idle_and_absolute_timeouts(app, clock):
    client = logged_in(app)
    clock.advance(sessions.IDLE_SECONDS - 1)
    assert client.get("/dashboard/projects").status == 200
    clock.advance(sessions.IDLE_SECONDS)
    assert client.get("/dashboard/projects").location == "/dashboard/login"
    client = logged_in(app)
    for _ in range(int(sessions.ABSOLUTE_SECONDS // (sessions.IDLE_SECONDS - 60)) + 2):
        clock.advance(sessions.IDLE_SECONDS - 60)
        if client.get("/dashboard/projects").status != 200:
            break
    else:
        pytest.fail("the session outlived its absolute timeout")
    assert clock.now - START >= sessions.ABSOLUTE_SECONDS - sessions.IDLE_SECONDS


# --- re-authentication and account security -------------------------------------------

def test_password_change_needs_reauth_and_logs_out_everywhere(app, clock, conn):
    client = logged_in(app)
    secret, _ = enroll(client, clock)
    other = Client(app)
    login(other)
    clock.advance(30)
    other.submit("/dashboard/login/code", {"code": current_code(secret, clock.now)})
    assert other.get("/dashboard/projects").status == 200
    clock.advance(sessions.REAUTH_SECONDS)
    page = client.get("/dashboard/security")
    assert "Confirm your identity" in page.text and 'name="new"' not in page.text
    blocked = client.post("/dashboard/security/password",
                          {"new": "a brand new passphrase", "again": "a brand new passphrase",
                           "csrf": page.csrf()})
    assert blocked.status == 303 and blocked.location.startswith("/dashboard/reauth")
    before = client.cookie
    reauth(client, clock, secret)
    assert client.cookie != before  # rotated at re-authentication
    page = client.get("/dashboard/security")
    mismatch = client.post("/dashboard/security/password",
                           {"new": "a brand new passphrase", "again": "different", "csrf": page.csrf()})
    assert mismatch.status == 400 and "differ" in mismatch.text
    weak = client.post("/dashboard/security/password",
                       {"new": "qwerty123456", "again": "qwerty123456", "csrf": page.csrf()})
    assert weak.status == 400 and "breached" in weak.text
    done = client.post("/dashboard/security/password",
                       {"new": "a brand new passphrase", "again": "a brand new passphrase",
                        "csrf": page.csrf()})
    assert done.status == 303
    assert client.get("/dashboard/projects").status == 200  # this browser keeps a fresh session
    assert other.get("/dashboard/projects").location == "/dashboard/login"  # others are out
    assert accounts.check_password(conn, "owner@example.com", "a brand new passphrase")


def test_reauth_refuses_wrong_password_or_code(app, clock):
    client = logged_in(app)
    secret, _ = enroll(client, clock)
    clock.advance(sessions.REAUTH_SECONDS)
    page = client.get("/dashboard/reauth?next=/dashboard/security")
    wrong = client.post("/dashboard/reauth", {"password": "nope nope nope", "code": "000000",
                                              "csrf": page.csrf()})
    assert "The password is incorrect." in wrong.text
    clock.advance(30)
    no_code = client.post("/dashboard/reauth", {"password": PASSWORD, "code": "000000",
                                                "csrf": page.csrf()})
    assert "not valid" in no_code.text
    assert "Confirm your identity" in client.get("/dashboard/security").text


def test_reauth_next_cannot_leave_the_dashboard(app, clock):
    client = logged_in(app)
    page = client.get("/dashboard/reauth?next=https://evil.test/")
    result = client.post("/dashboard/reauth", {"password": PASSWORD, "csrf": page.csrf(),
                                               "next": "//evil.test/"})
    assert result.location.startswith("/dashboard/?")


@pytest.mark.parametrize("next_path", [
    pytest.param("/dashboard/projects\u0100", id="non-latin-1"),
    pytest.param("/dashboard/projects\u00e9", id="latin-1"),
    pytest.param("/dashboard/projects\x7f", id="del"),
])
def test_reauth_with_a_next_that_cannot_be_a_location_goes_home_and_stays_logged_in(
        app, clock, next_path):
    """Under a real server, a non-ASCII Location was a 500 after the session had rotated."""
    client = logged_in(app)
    page = client.get("/dashboard/reauth?next=/dashboard/projects%C4%80")
    result = client.post("/dashboard/reauth", {"password": PASSWORD, "csrf": page.csrf(),
                                               "next": next_path})
    assert result.status == 303
    assert result.location == "/dashboard/?done=reauthenticated"
    assert result.location.encode("latin-1")  # writable as a header at all
    assert client.get("/dashboard/projects").status == 200


def test_disable_mfa_needs_reauth_and_rotates(app, clock, conn):
    client = logged_in(app)
    secret, _ = enroll(client, clock)
    clock.advance(sessions.REAUTH_SECONDS)
    token = client.get("/dashboard/security").csrf()
    page = client.post("/dashboard/security/mfa/disable", {"csrf": token})
    assert page.location.startswith("/dashboard/reauth")
    assert accounts.find(conn, "owner@example.com").mfa_enabled
    reauth(client, clock, secret)
    before = client.cookie
    page = client.submit("/dashboard/security/mfa/disable", page=client.get("/dashboard/security"))
    assert page.status == 303 and client.cookie != before
    assert not accounts.find(conn, "owner@example.com").mfa_enabled
    actions = [entry.action for entry in audit.entries(conn)]
    assert "mfa.enabled" in actions and "mfa.disabled" in actions


def test_sessions_list_and_revoke(app, clock):
    client, other = logged_in(app), logged_in(app)
    page = client.get("/dashboard/security")
    assert "this session" in page.text
    target = re.search(r'name="session" value="([0-9a-f]{64})"', page.text).group(1)
    assert client.post("/dashboard/security/sessions/revoke",
                       {"session": target, "csrf": page.csrf()}).status == 303
    assert other.get("/dashboard/projects").location == "/dashboard/login"


# --- projects ---------------------------------------------------------------------------

def test_project_lifecycle(app, clock, conn):
    client = logged_in(app)
    page = client.submit("/dashboard/projects", {"name": "Shop", "domains": "shop.example.com"})
    assert page.status == 303
    pid = page.location.split("/")[3].split("?")[0]
    page = client.follow(page)
    assert "Project created." in page.text and f'<code id="pid">{pid}</code>' in page.text
    snippet = html.unescape(page.text.split('<pre id="snippet"><code>')[1].split("</code>")[0])
    assert '"https://dash.test/api/?pid=" + pid' in snippet and f'VisitorAPI(\n  "{pid}"' in snippet
    bad = client.submit(f"/dashboard/projects/{pid}/domains/add", {"pattern": "*.com"}, page=page)
    assert bad.status == 400 and "*.com" in bad.text
    added = client.submit(f"/dashboard/projects/{pid}/domains/add",
                          {"pattern": "https://Blog.Example.com", "note": "blog, owner: Ana"}, page=page)
    assert added.status == 303
    assert projects.get(conn, pid).domains == ("https://blog.example.com", "shop.example.com")
    page = client.follow(added)
    assert "Domain added." in page.text
    assert re.search(r'<input type="hidden" name="pattern" value="https://blog.example.com">'
                     r'<input name="note" value="blog, owner: Ana" maxlength="200"', page.text)
    noted = client.submit(f"/dashboard/projects/{pid}/domains/note",
                          {"pattern": "shop.example.com", "note": "shop, owner: Bo"}, page=page)
    assert noted.status == 303 and "Note saved." in client.follow(noted).text
    assert projects.get(conn, pid).domain_notes == (("https://blog.example.com", "blog, owner: Ana"),
                                                   ("shop.example.com", "shop, owner: Bo"))
    too_long = client.submit(f"/dashboard/projects/{pid}/domains/note",
                             {"pattern": "shop.example.com", "note": "n" * 201}, page=page)
    assert too_long.status == 400
    assert "Domain note is 201 characters long; the limit is 200." in too_long.text
    assert projects.get(conn, pid).note("shop.example.com") == "shop, owner: Bo"
    no_field = client.submit(f"/dashboard/projects/{pid}/domains/note", {"pattern": "shop.example.com"},
                             page=page)
    assert no_field.status == 400 and projects.get(conn, pid).note("shop.example.com") == "shop, owner: Bo"
    removed = client.submit(f"/dashboard/projects/{pid}/domains/remove",
                            {"pattern": "shop.example.com"}, page=page)
    assert removed.status == 303 and projects.get(conn, pid).domains == ("https://blog.example.com",)
    assert client.submit(f"/dashboard/projects/{pid}/disable", page=page).status == 303
    assert not projects.get(conn, pid).enabled
    assert client.submit(f"/dashboard/projects/{pid}/enable", page=page).status == 303
    assert projects.get(conn, pid).enabled
    actors = {entry.actor for entry in audit.entries(conn, pid)}
    assert actors == {"dashboard:owner@example.com"}
    log = client.get("/dashboard/audit")
    assert "domain.added" in log.text and "project.created" in log.text
    assert "domain.note_changed" in log.text
    assert "{&quot;domain_notes&quot;: {&quot;shop.example.com&quot;: &quot;shop, owner: Bo&quot;}}" \
        in log.text


def test_delete_needs_reauth(app, clock, conn):
    client = logged_in(app)
    pid = projects.create(conn, "Doomed", [], actor="test").pid
    clock.advance(sessions.REAUTH_SECONDS)
    page = client.get(f"/dashboard/projects/{pid}")
    assert "Delete this project" not in page.text
    refused = client.post(f"/dashboard/projects/{pid}/delete", {"csrf": page.csrf()})
    assert refused.location == f"/dashboard/reauth?next=/dashboard/projects/{pid}"
    assert projects.get(conn, pid) is not None
    reauth(client, clock, next_path=f"/dashboard/projects/{pid}")
    page = client.get(f"/dashboard/projects/{pid}")
    assert client.post(f"/dashboard/projects/{pid}/delete", {"csrf": page.csrf()}).status == 303
    assert projects.get(conn, pid) is None


def test_review_reminder_and_reviewed_button(app, clock, conn):
    client = logged_in(app)
    pid = projects.create(conn, "Old", ["example.com"], actor="test").pid
    assert "more than 90 days ago" not in client.get(f"/dashboard/projects/{pid}").text
    clock.advance(91 * 86400)
    client = logged_in(app)
    page = client.get(f"/dashboard/projects/{pid}")
    assert "more than 90 days ago" in page.text
    assert client.submit(f"/dashboard/projects/{pid}/reviewed", page=page).status == 303
    assert [e.action for e in audit.entries(conn, pid)][-1] == "project.domains_reviewed" or \
        "review" in audit.entries(conn, pid)[-1].action


def test_usage_chart_and_unauthorized_access_patterns(app, clock, conn):
    client = logged_in(app)
    pid = projects.create(conn, "Busy", ["example.com"], actor="test").pid
    day = __import__("time").strftime("%Y-%m-%d", __import__("time").gmtime(clock.now))
    conn.execute("INSERT INTO usage_daily (day, pid, served, denied, rate_limited) "
                 "VALUES (?, ?, 7, 3, 2)", (day, pid))
    conn.execute("INSERT INTO usage_denied_origins VALUES (?, ?, 3, ?, ?)",
                 (pid, "https://<b>evil</b>.test", f"{day}T01:02:03Z", f"{day}T04:05:06Z"))
    page = client.get(f"/dashboard/projects/{pid}")
    assert f"{day}: 7 served, 3 denied, 2 rate-limited" in page.text
    assert "Unauthorized access patterns" in page.text
    assert "https://&lt;b&gt;evil&lt;/b&gt;.test" in page.text and "<b>evil" not in page.text
    assert f"{day} 01:02:03 UTC" in page.text and f"{day} 04:05:06 UTC" in page.text
    listing = client.get("/dashboard/projects")
    assert re.search(r"<td>7</td><td>3</td></tr>", listing.text)


XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'
# The payload escaped for an attribute value: quotes too, so it cannot close value="...".
XSS_ATTRIBUTE = ("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"
                 "&lt;img src=x onerror=alert(1)&gt;")
BREAKOUT = '"><svg onload=alert(2)>'       # a note that tries to close the input's value


def test_xss_payloads_render_escaped(app, conn):
    client = logged_in(app)
    page = client.submit("/dashboard/projects", {"name": XSS, "domains": ""})
    pid = page.location.split("/")[3].split("?")[0]
    project_page = client.get(f"/dashboard/projects/{pid}")
    bad_pattern = client.submit(f"/dashboard/projects/{pid}/domains/add",
                                {"pattern": XSS, "note": BREAKOUT}, page=project_page)
    assert bad_pattern.status == 400
    noted = client.submit(f"/dashboard/projects/{pid}/domains/add",
                          {"pattern": "example.com", "note": XSS}, page=project_page)
    assert noted.status == 303 and projects.get(conn, pid).note("example.com") == XSS
    assert client.submit(f"/dashboard/projects/{pid}/domains/add",
                         {"pattern": "b.example.com", "note": "ok"}, page=project_page).status == 303
    assert client.submit(f"/dashboard/projects/{pid}/domains/note",
                         {"pattern": "b.example.com", "note": BREAKOUT}, page=project_page).status == 303
    # The note form's error path shows the refused note again, in its row.
    bad_note = client.submit(f"/dashboard/projects/{pid}/domains/note",
                             {"pattern": "example.com", "note": XSS + "\n" + BREAKOUT},
                             page=project_page)
    assert bad_note.status == 400 and "control character (U+000A)" in bad_note.text
    bad_note_on = client.submit(f"/dashboard/projects/{pid}/domains/note",
                                {"pattern": XSS, "note": XSS}, page=project_page)
    assert bad_note_on.status == 400 and "does not authorize" in bad_note_on.text
    shown = client.get(f"/dashboard/projects/{pid}").text
    for text in (client.get("/dashboard/projects").text, shown, client.get("/dashboard/audit").text,
                 bad_pattern.text, bad_note.text, bad_note_on.text):
        assert "<script>" not in text and "<img src=x" not in text and "<svg onload" not in text
        assert "&lt;script&gt;" in text
    assert f'name="note" value="{XSS_ATTRIBUTE}"' in shown
    assert 'name="note" value="&quot;&gt;&lt;svg onload=alert(2)&gt;"' in shown
    assert 'name="note" value="&quot;&gt;&lt;svg onload=alert(2)&gt;" maxlength' in bad_pattern.text
    assert f'name="note" value="{XSS_ATTRIBUTE}\n&quot;&gt;&lt;svg' in bad_note.text
    too_long_error = client.submit("/dashboard/projects", {"name": "x" * 300})
    assert too_long_error.status == 400


# --- roles ---------------------------------------------------------------------------------

def test_member_sees_only_granted_projects(app, conn):
    accounts.create(conn, "m@example.com", PASSWORD, "member", "test")
    mine = projects.create(conn, "Granted", [], actor="test").pid
    other = projects.create(conn, "Hidden", [], actor="test").pid
    accounts.set_grant(conn, "m@example.com", mine, True, "test")
    member = Client(app)
    login(member, "m@example.com")
    listing = member.get("/dashboard/projects").text
    assert "Granted" in listing and "Hidden" not in listing
    assert member.get(f"/dashboard/projects/{other}").status == 404
    token = member.get("/dashboard/projects").csrf()
    assert member.post(f"/dashboard/projects/{other}/domains/note",
                       {"pattern": "example.com", "note": "x", "csrf": token}).status == 404
    assert member.get("/dashboard/users").status == 403
    assert "Hidden" not in member.get("/dashboard/audit").text
    created = member.submit("/dashboard/projects", {"name": "Member's own"})
    new_pid = created.location.split("/")[3].split("?")[0]
    assert member.get(f"/dashboard/projects/{new_pid}").status == 200


def test_owner_manages_users_after_reauth(app, clock, conn):
    client = logged_in(app)
    clock.advance(sessions.REAUTH_SECONDS)
    page = client.get("/dashboard/users")
    assert "Add a user" not in page.text
    refused = client.post("/dashboard/users/create", {"email": "n@example.com", "role": "member",
                                                      "password": PASSWORD, "csrf": page.csrf()})
    assert refused.location.startswith("/dashboard/reauth")
    reauth(client, clock, next_path="/dashboard/users")
    page = client.get("/dashboard/users")
    assert client.post("/dashboard/users/create", {"email": "n@example.com", "role": "member",
                                                   "password": PASSWORD, "csrf": page.csrf()}).status == 303
    pid = projects.create(conn, "P", [], actor="test").pid
    page = client.get("/dashboard/users")
    assert client.post("/dashboard/users/grant", {"email": "n@example.com", "pid": pid, "grant": "1",
                                                  "csrf": page.csrf()}).status == 303
    assert accounts.can_see(conn, accounts.find(conn, "n@example.com"), pid)
    assert client.post("/dashboard/users/update", {"email": "n@example.com", "change": "disable",
                                                   "csrf": page.csrf()}).status == 303
    assert accounts.find(conn, "n@example.com").disabled
    own = client.post("/dashboard/users/update", {"email": "owner@example.com", "change": "member",
                                                  "csrf": page.csrf()})
    assert own.status == 400
    assert client.post("/dashboard/users/require-mfa", {"required": "1",
                                                        "csrf": page.csrf()}).status == 303
    assert accounts.mfa_required(conn)
    actions = [entry.action for entry in audit.entries(conn)]
    for action in ("account.created", "account.granted", "account.disabled", "settings.mfa_required"):
        assert action in actions


def test_plain_http_is_redirected_when_https_is_required(store):
    app = DashboardApp(store[0], https_required=True)
    page = Client(app, https=False).get("/dashboard/projects?x=1")
    assert page.status == 308 and page.location == "https://dash.test/dashboard/projects?x=1"
    assert Client(app).get("/dashboard/login").status == 200


def test_sessions_list_names_the_browser_coarsely(app):
    ua = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/131.0.0.0 Safari/537.36")
    client = Client(app)
    client.get("/dashboard/login", headers={"User-Agent": ua})
    page = client.submit("/dashboard/login", {"email": "owner@example.com", "password": PASSWORD},
                         headers={"User-Agent": ua})
    assert page.status == 303
    text = client.get("/dashboard/security").text
    assert "<td>Chrome on Linux</td>" in text and "131.0" not in text


@pytest.mark.parametrize("text, expected", [
    pytest.param('<a href="https://db-ip.com">IP Geolocation by DB-IP</a>',
                 '<a href="https://db-ip.com">IP Geolocation by DB-IP</a>', id="dbip-anchor"),
    pytest.param("<a href='https://db-ip.com'>IP Geolocation by DB-IP</a>, CC BY 4.0",
                 '<a href="https://db-ip.com">IP Geolocation by DB-IP</a>, CC BY 4.0',
                 id="single-quoted"),
    pytest.param("Data: https://example.com/x (c) <b>", 'Data: <a href="https://example.com/x">'
                 'https://example.com/x</a> (c) &lt;b&gt;', id="bare-url"),
    pytest.param('<a href="javascript:alert(1)">x</a>',
                 '&lt;a href=&quot;javascript:alert(1)&quot;&gt;x&lt;/a&gt;', id="script-url"),
    pytest.param('<a href="https://x.test" onclick="alert(1)">x</a>',
                 '&lt;a href=&quot;<a href="https://x.test">https://x.test</a>&quot; '
                 'onclick=&quot;alert(1)&quot;&gt;x&lt;/a&gt;', id="extra-attribute"),
    pytest.param("IP Geolocation by DB-IP (https://db-ip.com), licensed under CC BY 4.0 "
                 "(https://creativecommons.org/licenses/by/4.0/)",
                 'IP Geolocation by DB-IP (<a href="https://db-ip.com">https://db-ip.com</a>), '
                 'licensed under CC BY 4.0 (<a href="https://creativecommons.org/licenses/by/4.0/">'
                 'https://creativecommons.org/licenses/by/4.0/</a>)', id="urls-in-parentheses"),
    pytest.param("See https://example.com/a_(b). Or https://example.com/c?d=1!",
                 'See <a href="https://example.com/a_(b)">https://example.com/a_(b)</a>. '
                 'Or <a href="https://example.com/c?d=1">https://example.com/c?d=1</a>!',
                 id="balanced-parenthesis-and-sentence-punctuation"),
    pytest.param("", "", id="none"),
])
def test_attribution_links_are_rebuilt_and_the_rest_escaped(text, expected):
    from visitorapi.dashboard.layout import attribution_html
    assert attribution_html(text) == expected
