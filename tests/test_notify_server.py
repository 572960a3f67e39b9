"""The sender beside a real gunicorn (`visitorapi serve`): /api answers while the mail
server is down, the failed delivery is recorded and retried, the webhook is delivered,
and no notification carries a visitor's address or user agent (privacy canary)."""
import contextlib
import json
import time

from support.mail_and_webhooks import Receiver
from support.servers import Server, base_env, compile_fixture, create_project, free_port

from visitorapi.state import accounts, db, notifications

PASSWORD = "violet staple orbit"
REFUSED_SITE = "https://copycat.example"
CANARY_IP = "203.0.113.199"
CANARY_UA = "Mozilla/5.0 CanaryUA-notify-3f9a"


def wait_until(condition, what: str, timeout: float = 90.0):
    """Poll ``condition`` (an event in another process) until it holds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.1)


def test_api_answers_while_smtp_is_down_and_nothing_sent_names_a_visitor(tmp_path):
    state = tmp_path / "state" / "state.sqlite3"
    database = compile_fixture(tmp_path)
    pid = create_project(state, ["shop.example"], name="Shop")
    conn = db.connect(state)
    owner = accounts.create(conn, "owner@example.com", PASSWORD, "owner", "test")
    notifications.set_subscriptions(conn, owner.id, [("refused", "email"),
                                                     ("refused", "webhook")])
    closed_port = free_port()   # nothing listens here: the mail server is down
    env = base_env(tmp_path, VISITORAPI_DB=database, VISITORAPI_TRUSTED_PROXIES="127.0.0.1/32",
                   VISITORAPI_SMTP_HOST="127.0.0.1", VISITORAPI_SMTP_PORT=closed_port,
                   VISITORAPI_SMTP_FROM="visitorapi@example.test",
                   VISITORAPI_NOTIFY="on", VISITORAPI_NOTIFY_INTERVAL="0.2",
                   VISITORAPI_USAGE_FLUSH_SECONDS="0.2")
    visitor = {"X-Forwarded-For": CANARY_IP, "User-Agent": CANARY_UA}
    with contextlib.closing(conn), Receiver() as receiver:
        receiver.secret = notifications.add_webhook(conn, owner.id, receiver.url).secret
        with Server(tmp_path, "--no-demo", env=env) as server:
            # The sender's first pass marks where refused origins start counting as new.
            wait_until(lambda: notifications.get_mark(conn, "refused.first_seen"),
                       "the sender's first pass")
            refused = server.request(f"/api/?pid={pid}", {**visitor, "Origin": REFUSED_SITE})
            assert refused[0] == 403
            served = server.request(f"/api/?pid={pid}",
                                    {**visitor, "Origin": "https://shop.example"})
            assert served[0] == 200 and json.loads(served[2])["status"] == 200

            def email_failed():
                return [e for e in notifications.delivery_log(conn)
                        if e.channel == "email" and e.attempts >= 1]
            (email,) = wait_until(email_failed, "the email attempt")
            assert email.state == "pending"                  # to be retried with backoff
            assert "ConnectionRefusedError" in email.last_error
            # the API still answers, unaffected, after the failure
            for _ in range(5):
                assert server.request(f"/api/?pid={pid}",
                                      {**visitor, "Origin": "https://shop.example"})[0] == 200
            wait_until(lambda: receiver.requests, "the webhook")
            output = server.output()
        (headers, body, signature_ok, payload), = receiver.requests
    assert signature_ok
    assert payload["event"]["kind"] == "refused" and REFUSED_SITE in payload["event"]["details"]
    assert "notify" in output   # the sender ran beside gunicorn's master
    # privacy canary: nothing queued or sent names the visitor
    conn = db.connect(state)
    with contextlib.closing(conn):
        rows = conn.execute("SELECT kind, pid, title, details, last_error FROM notify_outbox"
                            ).fetchall()
    sent = [body.decode(), str(headers)] + [" ".join(map(str, row)) for row in rows]
    assert rows
    for text in sent:
        for canary in (CANARY_IP, CANARY_UA, "CanaryUA"):
            assert canary not in text
