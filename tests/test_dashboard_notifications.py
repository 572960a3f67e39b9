"""The dashboard's Notifications page under wsgiref.validate: choices, webhooks (secret shown
once), the delivery log by role, and publishing a security notice (owners, re-authenticated)."""
import re

import pytest

from support.dashboard_client import Client
from test_dashboard import PASSWORD, Clock, logged_in, reauth
from visitorapi.dashboard import DashboardApp
from visitorapi.state import accounts, db, notifications, projects, sessions

pytestmark = pytest.mark.usefixtures("fast_scrypt")
PAGE = "/dashboard/notifications"


@pytest.fixture
def conn(tmp_path):
    connection = db.connect(tmp_path / "state.sqlite3", create=True)
    accounts.create(connection, "owner@example.com", PASSWORD, "owner", "test:setup")
    accounts.create(connection, "member@example.com", PASSWORD, "member", "test:setup")
    yield connection
    connection.close()


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def app(conn, tmp_path, clock):
    return DashboardApp(tmp_path / "state.sqlite3", clock=clock, attribution=lambda: "")


def member_client(app):
    client = Client(app)
    page = client.submit("/dashboard/login", {"email": "member@example.com",
                                              "password": PASSWORD})
    assert page.status == 303
    return client


def send(client, path, form):
    """POST a form of the Notifications page with its CSRF token, as the browser would."""
    return client.submit(path, form, page=client.get(PAGE))


def test_the_page_is_in_the_navigation_and_needs_a_login(app):
    assert Client(app).get(PAGE).status == 303
    page = logged_in(app).get(PAGE)
    assert page.status == 200
    assert f'href="{PAGE}"' in page.text
    assert "Publish a security notice" in page.text   # owners only
    assert "Publish a security notice" not in member_client(app).get(PAGE).text


def test_choices_are_saved_per_user(app, conn):
    client = logged_in(app)
    page = send(client, PAGE + "/choices", {"security.email": "1", "refused.webhook": "1"})
    assert page.status == 303 and page.location == PAGE + "?done=settings"
    owner = accounts.find(conn, "owner@example.com")
    assert notifications.subscriptions(conn, owner.id) == {("security", "email"),
                                                           ("refused", "webhook")}
    text = client.get(PAGE).text
    assert re.search(r'name="security\.email" value="1" aria-label="[^"]+" checked', text)
    assert not re.search(r'name="usage\.email" value="1" aria-label="[^"]+" checked', text)
    assert send(client, PAGE + "/choices", {"visitor.email": "1"}).status == 400
    assert client.post(PAGE + "/choices", {"security.email": "1"}).status == 403   # no CSRF


def test_a_webhook_is_added_with_its_secret_shown_once_and_removed(app, conn):
    client = logged_in(app)
    page = send(client, PAGE + "/webhooks/add", {"url": "https://hooks.example/visitorapi"})
    assert page.status == 200
    (secret,) = re.findall(r"<code>([0-9a-f]{64})</code>", page.text)
    owner = accounts.find(conn, "owner@example.com")
    (hook,) = notifications.webhooks(conn, owner.id)
    assert hook.secret == secret and hook.url == "https://hooks.example/visitorapi"
    again = client.get(PAGE)
    assert "https://hooks.example/visitorapi" in again.text and secret not in again.text
    refused = send(client, PAGE + "/webhooks/add", {"url": "http://hooks.example/x"})
    assert refused.status == 400 and "must use https" in refused.text
    # another user cannot remove it
    other = member_client(app)
    assert send(other, PAGE + "/webhooks/remove", {"id": str(hook.id)}).status == 404
    assert send(client, PAGE + "/webhooks/remove", {"id": str(hook.id)}).status == 303
    assert notifications.webhooks(conn, owner.id) == []


def test_publishing_a_notice_needs_an_owner_and_a_recent_reauthentication(app, conn, clock):
    member = member_client(app)
    assert send(member, PAGE + "/notice", {"title": "t", "body": "b"}).status == 403
    client = logged_in(app)
    clock.advance(sessions.REAUTH_SECONDS)   # the login's own proof of identity has expired
    page = send(client, PAGE + "/notice", {"title": "Rotate keys", "body": "Because."})
    assert page.status == 303 and "/reauth" in page.location
    assert notifications.delivery_log(conn) == []
    reauth(client, clock, next_path=PAGE)
    page = send(client, PAGE + "/notice", {"title": "Rotate keys", "body": "Because."})
    assert page.status == 303 and page.location == PAGE + "?done=notice"
    log = client.get(PAGE).text
    assert log.count("Rotate keys") == 2   # one delivery per user, owners see all
    assert member.get(PAGE).text.count("Rotate keys") == 1   # members see their own
    empty = send(client, PAGE + "/notice", {"title": "t", "body": "  "})
    assert empty.status == 400


def test_the_log_shows_outcomes_and_never_a_webhook_secret(app, conn):
    owner = accounts.find(conn, "owner@example.com")
    hook = notifications.add_webhook(conn, owner.id, "https://hooks.example/x")
    pid = projects.create(conn, "Shop", [], actor="test").pid
    from visitorapi.notify.events import publish_notice
    publish_notice(conn, "Notice <b>", "Body", "test", 0)
    (delivery, *_), = [notifications.claim_due(conn, 1, limit=1)]
    notifications.record_outcome(conn, delivery.id, "ConnectionRefusedError: refused", 2,
                                 retry_at=40)
    text = logged_in(app).get(PAGE).text
    assert "waiting to retry" in text and "ConnectionRefusedError: refused" in text
    assert "Notice &lt;b&gt;" in text and "Notice <b>" not in text
    assert hook.secret not in text
    assert pid not in text


def test_a_sign_in_from_a_new_browser_is_told_to_that_account(app, conn):
    member = accounts.find(conn, "member@example.com")
    owner = accounts.find(conn, "owner@example.com")
    for account in (member, owner):
        notifications.set_subscriptions(conn, account.id, [("security", "email")])
    firefox = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 "
                             "Firefox/120.0"}
    chrome = {"User-Agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
                            "(KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"}

    def sign_in(headers):
        client = Client(app)
        page = client.request("POST", "/dashboard/login", {
            "email": "member@example.com", "password": PASSWORD,
            "csrf": client.get("/dashboard/login").csrf()}, headers=headers)
        assert page.status == 303

    sign_in(firefox)   # the first sign-in ever is not news
    sign_in(firefox)
    assert notifications.delivery_log(conn) == []
    sign_in(chrome)
    sign_in(chrome)
    (entry,) = notifications.delivery_log(conn)
    assert entry.address == "member@example.com"   # not the owners: it is the member's
    assert entry.title == "New sign-in to member@example.com from Chrome on Windows"
