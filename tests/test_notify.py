"""Notifications: who is told (subscriptions, project visibility), the detectors, and
delivery by real SMTP with STARTTLS and a real webhook receiver that checks signatures.

Store tests run on both engines (``store_location``).
"""
import json
import shutil
import time

import pytest
from support.cluster import make_certificate
from support.mail_and_webhooks import MailServer, Receiver
from support.servers import compile_fixture, free_port

from visitorapi import totp
from visitorapi.notify import detectors, webhook
from visitorapi.notify.email import SmtpSettings
from visitorapi.notify.events import Event, publish_notice, record
from visitorapi.notify.sender import Sender, retry_delay
from visitorapi.state import accounts, audit, db, notifications, projects
from visitorapi.state.db import transaction

PASSWORD = "correct horse battery staple"
DAY = 86400


@pytest.fixture
def conn(store_location):
    connection = db.connect(store_location, create=True)
    yield connection
    connection.close()


def people(conn):
    """An owner, a member granted project A, a member with nothing; projects A and B."""
    owner = accounts.create(conn, "owner@example.test", PASSWORD, "owner", "cli:test")
    member = accounts.create(conn, "member@example.test", PASSWORD, "member", "cli:test")
    outsider = accounts.create(conn, "outsider@example.test", PASSWORD, "member", "cli:test")
    a = projects.create(conn, "Shop", ["shop.example"], actor="cli:test").pid
    b = projects.create(conn, "Blog", ["blog.example"], actor="cli:test").pid
    accounts.set_grant(conn, member.email, a, True, "cli:test")
    return owner, member, outsider, a, b


def outbox(conn):
    return [(row[0], row[1], row[2]) for row in conn.execute(
        "SELECT a.email, o.channel, o.title FROM notify_outbox o "
        "JOIN accounts a ON a.id = o.account_id ORDER BY a.email, o.channel, o.id")]


def subscribe_all(conn, *accounts_):
    for account in accounts_:
        notifications.set_subscriptions(conn, account.id, [
            (kind, channel) for kind in ("refused", "usage", "ipdb", "security")
            for channel in ("email", "webhook")])


# -- who is told ----------------------------------------------------------------

def test_an_event_reaches_subscribers_who_can_see_its_project(conn):
    owner, member, outsider, a, b = people(conn)
    subscribe_all(conn, owner, member, outsider)
    notifications.add_webhook(conn, member.id, "https://hooks.example/x")
    notifications.set_subscriptions(conn, outsider.id, [])   # chose nothing
    with transaction(conn):
        record(conn, Event("refused", "about A", "d", pid=a), time.time())
        record(conn, Event("refused", "about B", "d", pid=b), time.time())
    assert outbox(conn) == [
        ("member@example.test", "email", "about A"),
        ("member@example.test", "webhook", "about A"),
        ("owner@example.test", "email", "about A"),
        ("owner@example.test", "email", "about B"),
    ]


def test_a_kind_not_chosen_is_not_sent(conn):
    owner, *_ , a, _b = people(conn)
    notifications.set_subscriptions(conn, owner.id, [("usage", "email")])
    with transaction(conn):
        assert record(conn, Event("refused", "about A", "d", pid=a), time.time()) == 0
        assert record(conn, Event("usage", "spike A", "d", pid=a), time.time()) == 1


def test_a_security_notice_reaches_every_active_account_whatever_it_chose(conn):
    owner, member, outsider, *_ = people(conn)
    accounts.set_disabled(conn, outsider.email, True, "cli:test")
    notifications.add_webhook(conn, member.id, "https://hooks.example/x")
    assert publish_notice(conn, "Rotate your keys", "Details.", "cli:test", time.time()) == 3
    assert outbox(conn) == [("member@example.test", "email", "Rotate your keys"),
                            ("member@example.test", "webhook", "Rotate your keys"),
                            ("owner@example.test", "email", "Rotate your keys")]
    assert audit.entries(conn)[-1].action == "notice.published"


def test_recording_outside_a_transaction_is_refused(conn):
    with pytest.raises(ValueError, match="inside the transaction"):
        record(conn, Event("usage", "t", "d"), time.time())


@pytest.mark.parametrize("kind", ["", "visitor", "NOTICE"])
def test_unknown_event_kinds_are_refused(kind):
    with pytest.raises(ValueError, match="unknown event kind"):
        Event(kind, "t", "d")


# -- detectors --------------------------------------------------------------------

def test_audit_trail_events_are_raised_once_and_history_is_not_replayed(conn):
    owner, member, _, a, _b = people(conn)   # before the first scan: history
    subscribe_all(conn, owner, member)
    assert detectors.scan_audit(conn, time.time()) == 0   # first run sets the mark only
    accounts.set_role(conn, member.email, "owner", "dashboard:owner@example.test")
    accounts.set_role(conn, member.email, "member", "dashboard:owner@example.test")
    projects.set_enabled(conn, a, False, actor="cli:test")
    projects.add_domain(conn, a, "other.example", actor="cli:test")   # not an event
    detectors.scan_audit(conn, time.time())
    assert detectors.scan_audit(conn, time.time()) == 0   # nothing twice
    titles = outbox(conn)
    assert ("owner@example.test", "email", "User member@example.test is now owner") in titles
    # the member hears about its own account, and about project A it can see
    assert ("member@example.test", "email", "User member@example.test is now member") in titles
    assert ("member@example.test", "email", f"Project Shop ({a}) disabled") in titles
    assert not [t for t in titles if "other.example" in t[2]]


def test_mfa_reset_and_last_recovery_code_are_security_events(conn):
    owner, member, *_ = people(conn)
    subscribe_all(conn, owner)
    detectors.scan_audit(conn, time.time())
    secret = accounts.begin_enrollment(conn, member)
    code = totp.totp(totp.decode_secret(secret), time.time())
    codes = accounts.confirm_enrollment(conn, member, code, time.time(),
                                        "dashboard:member@example.test")
    member = accounts.find(conn, member.email)
    for code in codes[:-1]:
        assert accounts.verify_second_factor(conn, member, code, time.time()) == "recovery"
    detectors.scan_audit(conn, time.time())
    assert not [t for t in outbox(conn) if "last recovery code" in t[2]]
    accounts.verify_second_factor(conn, member, codes[-1], time.time())
    accounts.disable_mfa(conn, member.email, "cli:root", action="mfa.reset")
    detectors.scan_audit(conn, time.time())
    titles = [t[2] for t in outbox(conn)]
    assert "member@example.test has used the last recovery code" in titles
    assert "Two-factor authentication reset for member@example.test" in titles


def _denied_origin(conn, pid, origin, first_seen):
    with transaction(conn):
        conn.execute("INSERT INTO usage_denied_origins (pid, origin, requests, first_seen, "
                     "last_seen) VALUES (?, ?, 1, ?, ?)", (pid, origin, first_seen, first_seen))


def _stamp(seconds):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def test_a_new_refused_origin_is_reported_once_and_old_ones_never(conn):
    owner, _m, _o, a, _b = people(conn)
    subscribe_all(conn, owner)
    now = time.time()
    _denied_origin(conn, a, "https://old.example", _stamp(now - 3600))
    detectors.scan_refused(conn, now)                      # first run: mark only
    _denied_origin(conn, a, "https://copycat.example", _stamp(now))   # in the mark's second
    detectors.scan_refused(conn, now + 10)
    _denied_origin(conn, a, "https://flood.example", _stamp(now + 10))
    detectors.scan_refused(conn, now + 10)                 # same hour: not sent again
    later = now + 3600
    _denied_origin(conn, a, "https://second.example", _stamp(later))
    detectors.scan_refused(conn, later)
    _denied_origin(conn, a, "https://third.example", _stamp(later))   # the mark's second again
    detectors.scan_refused(conn, later + 3600)
    detectors.scan_refused(conn, later + 3610)
    rows = conn.execute("SELECT title, details FROM notify_outbox ORDER BY id").fetchall()
    assert [row[0] for row in rows] == [f"New website refused for Shop ({a})"] * 3
    assert ["copycat" in rows[0][1], "second" in rows[1][1], "third" in rows[2][1]] == [True] * 3
    assert not [row for row in rows if "old.example" in row[1]]


def _hourly(conn, pid, hour_start, served=0, denied=0):
    with transaction(conn):
        conn.execute("INSERT INTO usage_hourly (hour, pid, served, denied) VALUES (?, ?, ?, ?)",
                     (time.strftime("%Y-%m-%dT%H", time.gmtime(hour_start)), pid, served, denied))


def test_many_refusals_in_an_hour_alert_once_per_hour(conn):
    owner, _m, _o, a, b = people(conn)
    subscribe_all(conn, owner)
    now = time.time()
    limits = detectors.Thresholds(refused_per_hour=50)
    _hourly(conn, a, now, denied=51)
    _hourly(conn, b, now, denied=50)   # at the threshold: not above it
    assert detectors.scan_refused(conn, now, limits) == 1
    assert detectors.scan_refused(conn, now + 1, limits) == 0
    assert outbox(conn) == [
        ("owner@example.test", "email", f"Many refused requests for Shop ({a})")]


def test_usage_far_above_the_baseline_alerts(conn):
    owner, _m, _o, a, b = people(conn)
    subscribe_all(conn, owner)
    now = (time.time() // 3600) * 3600 + 600   # ten minutes into an hour
    today = int(now // DAY)
    with transaction(conn):
        for back in range(1, 8):   # a usual 2400 a day = 100 an hour, for A and B
            day = time.strftime("%Y-%m-%d", time.gmtime((today - back) * DAY))
            for pid in (a, b):
                conn.execute("INSERT INTO usage_daily (day, pid, served) VALUES (?, ?, 2400)",
                             (day, pid))
    limits = detectors.Thresholds(spike_factor=10, spike_floor=500)
    _hourly(conn, a, now - 3600, served=1001)   # > 10 x 100 and > 500
    _hourly(conn, b, now - 3600, served=999)    # under 10 x 100
    assert detectors.baseline(conn, a, now) == 100
    assert detectors.scan_usage(conn, now, limits) == 1
    assert detectors.scan_usage(conn, now + 60, limits) == 0
    assert outbox(conn) == [("owner@example.test", "email", f"Unusual usage for Shop ({a})")]


def test_a_stale_database_is_reported_once_per_build_to_owners(conn):
    owner, member, *_ = people(conn)
    subscribe_all(conn, owner, member)
    now = time.time()
    assert detectors.scan_database(conn, now, now - 10 * DAY, 45, "/db.vdb") == 0
    assert detectors.scan_database(conn, now, now - 50 * DAY, 45, "/db.vdb") == 1
    assert detectors.scan_database(conn, now + 60, now - 50 * DAY, 45, "/db.vdb") == 0
    assert outbox(conn) == [("owner@example.test", "email", "The IP database is out of date")]


# -- delivery ----------------------------------------------------------------------

class Clock:
    def __init__(self):
        self.now = time.time()

    def __call__(self):
        return self.now


def test_webhook_delivery_is_signed_and_verified_by_the_receiver(conn):
    owner, *_ , a, _b = people(conn)
    subscribe_all(conn, owner)
    with Receiver() as receiver:
        hook = notifications.add_webhook(conn, owner.id, receiver.url)
        receiver.secret = hook.secret
        with transaction(conn):
            record(conn, Event("usage", "spike", "details here", pid=a), time.time())
        outcomes = Sender(None).deliver_due(conn)
    by_channel = {o.channel: o for o in outcomes}
    assert by_channel["webhook"].error == ""
    assert by_channel["email"].error.startswith("not retried: email is not configured")
    (headers, body, signature_ok, payload), = receiver.requests
    assert signature_ok
    assert headers["Content-Type"] == "application/json"
    assert payload["event"] == {"kind": "usage", "project": a, "title": "spike",
                                "details": "details here"}
    assert headers[webhook.DELIVERY_HEADER] == str(payload["id"])
    assert hook.secret not in body.decode()
    # the receiver refuses a replay of the same request later, and a wrong secret
    later = int(headers[webhook.TIMESTAMP_HEADER]) + webhook.REPLAY_WINDOW_SECONDS + 1
    assert not webhook.verify(hook.secret, headers, body, later)
    assert not webhook.verify("another secret", headers, body, time.time())
    log = {e.channel: e for e in notifications.delivery_log(conn)}
    assert (log["webhook"].state, log["webhook"].attempts) == ("sent", 1)
    assert (log["email"].state, log["email"].attempts) == ("failed", 1)


def test_a_failing_webhook_is_retried_with_backoff_then_given_up(conn):
    owner, *_ , a, _b = people(conn)
    notifications.set_subscriptions(conn, owner.id, [("usage", "webhook")])
    clock = Clock()
    sender = Sender(None, max_attempts=3, backoff=30, clock=clock)
    with Receiver(status=500) as receiver:
        notifications.add_webhook(conn, owner.id, receiver.url)
        with transaction(conn):
            record(conn, Event("usage", "spike", "d", pid=a), clock())
        assert [o.gave_up for o in sender.deliver_due(conn)] == [False]
        assert sender.deliver_due(conn) == []            # not due before its backoff
        clock.now += retry_delay(1, 30) - 1
        assert sender.deliver_due(conn) == []
        clock.now += 1
        assert [o.gave_up for o in sender.deliver_due(conn)] == [False]
        clock.now += retry_delay(2, 30)
        (last,) = sender.deliver_due(conn)
        clock.now += 3600
        assert sender.deliver_due(conn) == []
    assert last.gave_up and "500" in last.error
    assert len(receiver.requests) == 3
    assert len({r[0][webhook.DELIVERY_HEADER] for r in receiver.requests}) == 1   # same id
    (entry,) = notifications.delivery_log(conn)
    assert (entry.state, entry.attempts) == ("failed", 3)
    assert [retry_delay(n, 30) for n in (1, 2, 3, 10)] == [30, 60, 120, 3600]


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    return make_certificate(tmp_path_factory.mktemp("smtp-tls"))


@pytest.fixture
def mail_server(certificate):
    with MailServer(*certificate, port=free_port()) as server:
        yield server


def smtp_settings(mail_server, certificate, **changes):
    values = dict(host="127.0.0.1", port=mail_server.port, user="notify",
                  password="s3cret-pass", sender="visitorapi@example.test", starttls=True,
                  cafile=str(certificate[0]))
    values.update(changes)
    return SmtpSettings(**values)


def test_email_goes_through_a_real_smtp_server_over_starttls(conn, mail_server, certificate):
    owner, member, _o, a, _b = people(conn)
    subscribe_all(conn, owner, member)
    with transaction(conn):
        record(conn, Event("refused", "New website refused", "  https://copycat.example",
                           pid=a), time.time())
    outcomes = Sender(smtp_settings(mail_server, certificate)).deliver_due(conn)
    assert [o.error for o in outcomes] == ["", ""]
    messages = mail_server.wait_for(2)
    assert mail_server.tls_sessions == [True, True]
    assert sorted(m.rcpt_tos[0] for m in messages) == ["member@example.test",
                                                       "owner@example.test"]
    text = messages[0].content.decode()
    assert "Subject: [visitorapi] New website refused" in text
    assert "Auto-Submitted: auto-generated" in text
    assert f"Project: {a}" in text and "https://copycat.example" in text


def test_a_wrong_smtp_password_or_untrusted_certificate_is_logged_and_retried(
        conn, mail_server, certificate):
    owner, *_ = people(conn)
    with transaction(conn):
        conn.execute("UPDATE accounts SET disabled = 1 WHERE id <> ?", (owner.id,))
    publish_notice(conn, "Notice", "Body", "cli:test", time.time())
    bad_login = Sender(smtp_settings(mail_server, certificate, password="wrong"))
    (outcome,) = bad_login.deliver_due(conn)
    assert "SMTP 535" in outcome.error and not outcome.gave_up
    with transaction(conn):
        conn.execute("UPDATE notify_outbox SET next_attempt_at = 0")
    untrusted = Sender(smtp_settings(mail_server, certificate, cafile=""))
    (outcome,) = untrusted.deliver_due(conn)
    assert "CERTIFICATE_VERIFY_FAILED" in outcome.error
    assert mail_server.messages == []
    (entry,) = notifications.delivery_log(conn)
    assert (entry.state, entry.attempts) == ("pending", 2)
    assert "wrong" not in entry.last_error


@pytest.mark.parametrize("url, problem", [
    pytest.param("https://hooks.example/x", None, id="https"),
    pytest.param("http://127.0.0.1:9/x", None, id="http-loopback"),
    pytest.param("http://localhost/x", None, id="http-localhost"),
    pytest.param("http://hooks.example/x", "must use https", id="http-remote"),
    pytest.param("ftp://hooks.example/x", "not an https", id="ftp"),
    pytest.param("https://user:pw@hooks.example/", "no user or password", id="credentials"),
    pytest.param("https://hooks.example:99999/", "not a URL", id="bad-port"),
    pytest.param("https:///nohost", "not an https", id="no-host"),
    pytest.param("https://hooks.example/" + "a" * 500, "at most 500", id="too-long"),
])
def test_webhook_urls(url, problem):
    if problem is None:
        assert webhook.check_url(url) == url
    else:
        with pytest.raises(ValueError, match=problem):
            webhook.check_url(url)


def test_webhook_body_is_the_event_and_nothing_else():
    delivery = notifications.Delivery(7, "2026-01-01T00:00:00Z", "usage", "pid1", "t", "d",
                                      "webhook", 0, "https://x", "secret")
    assert json.loads(webhook.body_for(delivery)) == {
        "id": 7, "created": "2026-01-01T00:00:00Z",
        "event": {"kind": "usage", "project": "pid1", "title": "t", "details": "d"}}


def test_a_refused_database_file_is_reported_once_per_version(conn, tmp_path):
    from visitorapi.notify.runner import database_facts
    owner, *_ = people(conn)
    subscribe_all(conn, owner)
    path = tmp_path / "db.vdb"
    path.write_bytes(b"not a database at all" * 10)
    facts = database_facts(path)
    assert facts.problem and facts.built is None
    assert detectors.scan_refused_database(conn, 1.0, facts.problem, facts.identity, path) == 1
    assert detectors.scan_refused_database(conn, 2.0, facts.problem, facts.identity, path) == 0
    (title, details), = conn.execute("SELECT title, details FROM notify_outbox").fetchall()
    assert title == "The IP database file was refused" and str(path) in details
    assert database_facts(tmp_path / "missing.vdb") == type(facts)()
    good = database_facts(compile_fixture(tmp_path))
    assert good.problem == "" and abs(good.built - time.time()) < DAY


def test_removing_a_webhook_gives_up_its_deliveries_and_keeps_them_in_the_log(conn):
    owner, *_ = people(conn)
    hook = notifications.add_webhook(conn, owner.id, "https://hooks.example/x")
    publish_notice(conn, "Notice", "Body", "cli:test", 0)
    assert notifications.remove_webhook(conn, owner.id, hook.id)
    assert not notifications.remove_webhook(conn, owner.id, hook.id)
    assert {d.channel for d in notifications.claim_due(conn, 1)} == {"email"}
    log = {e.channel: e for e in notifications.delivery_log(conn)}
    assert (log["webhook"].state, log["webhook"].address, log["webhook"].last_error) == \
        ("failed", "(removed)", "webhook removed")


def test_the_runner_delivers_and_prunes_settled_deliveries_after_90_days(conn, store_location):
    from visitorapi.config import load_settings
    from visitorapi.notify.runner import Runner
    owner, *_ = people(conn)
    with transaction(conn):
        conn.execute("UPDATE accounts SET disabled = 1 WHERE id <> ?", (owner.id,))
    publish_notice(conn, "Old", "Body", "cli:test", 0)
    publish_notice(conn, "New", "Body", "cli:test", 0)
    with transaction(conn):
        conn.execute("UPDATE notify_outbox SET created_at = '2000-01-01T00:00:00Z' "
                     "WHERE title = 'Old'")
    settings = load_settings({"VISITORAPI_STATE": str(store_location),
                              "VISITORAPI_DB": "/nonexistent.vdb"})
    runner = Runner(settings)
    try:
        assert runner.run_once() == 2   # both tried (email not configured: given up) ...
        runner.run_once()               # ... and the old one pruned on the next pass
    finally:
        runner.store.close()
    assert [(e.title, e.state) for e in notifications.delivery_log(conn)] == [("New", "failed")]
