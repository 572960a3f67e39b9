"""``visitorapi notify test|publish``, the update-failure notification, and the settings."""
import shutil

import pytest

from support.cluster import make_certificate
from conftest import run_cli
from support.mail_and_webhooks import MailServer, Receiver
from support.servers import free_port
from visitorapi.config import ConfigError, load_settings
from visitorapi.state import accounts, db, notifications

PASSWORD = "violet staple orbit"


@pytest.fixture
def people(state_path):
    conn = db.connect(state_path, create=True)
    owner = accounts.create(conn, "owner@example.com", PASSWORD, "owner", "test")
    member = accounts.create(conn, "member@example.com", PASSWORD, "member", "test")
    yield conn, owner, member
    conn.close()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    return make_certificate(tmp_path_factory.mktemp("smtp-tls"))


def smtp_env(port, cafile, **extra):
    env = {"VISITORAPI_SMTP_HOST": "127.0.0.1", "VISITORAPI_SMTP_PORT": str(port),
           "VISITORAPI_SMTP_USER": "notify", "VISITORAPI_SMTP_PASSWORD": "s3cret-pass",
           "VISITORAPI_SMTP_FROM": "visitorapi@example.test", "VISITORAPI_SMTP_CAFILE": str(cafile)}
    env.update(extra)
    return env


def test_notify_test_sends_through_every_channel_and_prints_each_outcome(people, certificate):
    conn, owner, _member = people
    with MailServer(*certificate, port=free_port()) as mail, Receiver() as good, \
            Receiver(status=404) as bad:
        hook = notifications.add_webhook(conn, owner.id, good.url)
        good.secret = hook.secret
        notifications.add_webhook(conn, owner.id, bad.url)
        result = run_cli("notify", "test", "--user", "owner@example.com",
                         env=smtp_env(mail.port, certificate[0]))
        (message,) = mail.wait_for(1)
    assert result.returncode == 1, result.stderr   # one channel failed
    lines = result.stdout.splitlines()
    assert lines == ["email    owner@example.com: delivered",
                     f"webhook  {good.url}: delivered",
                     f"webhook  {bad.url}: FAILED: HTTPError: HTTP Error 404: Not Found"]
    assert message.rcpt_tos == ["owner@example.com"] and mail.tls_sessions == [True]
    assert [r[2] for r in good.requests] == [True]   # signature checked out
    assert "Test notification" in message.content.decode()


def test_notify_test_without_smtp_says_what_to_set(people):
    result = run_cli("notify", "test")
    assert result.returncode == 1
    assert "email    owner@example.com: FAILED: not retried: email is not configured: set " \
           "VISITORAPI_SMTP_HOST" in result.stdout
    assert "member@example.com" in result.stdout


def test_notify_test_for_an_unknown_user_is_an_error(people):
    result = run_cli("notify", "test", "--user", "nobody@example.com")
    assert result.returncode == 1 and "nobody@example.com" in result.stderr


def test_publish_queues_a_notice_for_every_user(people):
    conn, *_ = people
    result = run_cli("notify", "publish", "--title", "Key rotation", "--body", "Rotate now.")
    assert result.returncode == 0, result.stderr
    assert "queued for 2 deliveries" in result.stdout
    assert sorted(e.address for e in notifications.delivery_log(conn)) == [
        "member@example.com", "owner@example.com"]
    assert run_cli("notify", "publish", "--title", "t", "--body", " ").returncode == 1


def test_a_failed_update_tells_the_owners(people, tmp_path):
    conn, owner, _member = people
    notifications.set_subscriptions(conn, owner.id, [("ipdb", "email")])
    result = run_cli("update", "--source", tmp_path / "missing.csv", "--db", tmp_path / "db.vdb")
    assert result.returncode == 1
    (entry,) = notifications.delivery_log(conn)
    assert (entry.title, entry.address) == ("An IP database update failed", "owner@example.com")


@pytest.mark.parametrize("env, problem", [
    pytest.param({"VISITORAPI_SMTP_FROM": "a@b.example"}, "set without VISITORAPI_SMTP_HOST",
                 id="no-host"),
    pytest.param({"VISITORAPI_SMTP_HOST": "mail.example"}, "VISITORAPI_SMTP_FROM=''",
                 id="no-from"),
    pytest.param({"VISITORAPI_SMTP_HOST": "mail.example", "VISITORAPI_SMTP_FROM": "a@b.example",
                  "VISITORAPI_SMTP_STARTTLS": "off"}, "only for a relay on this machine",
                 id="plain-remote"),
    pytest.param({"VISITORAPI_SMTP_HOST": "mail.example", "VISITORAPI_SMTP_FROM": "a@b.example",
                  "VISITORAPI_SMTP_PORT": "70000"}, "not a TCP port", id="port"),
    pytest.param({"VISITORAPI_SMTP_HOST": "mail.example", "VISITORAPI_SMTP_FROM": "a@b.example",
                  "VISITORAPI_SMTP_USER": "u", "VISITORAPI_SMTP_PASSWORD": "p",
                  "VISITORAPI_SMTP_PASSWORD_FILE": "/x"}, "not both", id="two-passwords"),
    pytest.param({"VISITORAPI_SMTP_HOST": "mail.example", "VISITORAPI_SMTP_FROM": "a@b.example",
                  "VISITORAPI_SMTP_USER": "u", "VISITORAPI_SMTP_PASSWORD_FILE": "/nonexistent"},
                 "cannot be read", id="password-file"),
    pytest.param({"VISITORAPI_NOTIFY": "maybe"}, "VISITORAPI_NOTIFY='maybe'", id="notify"),
    pytest.param({"VISITORAPI_NOTIFY_SPIKE_FACTOR": "0.5"}, "VISITORAPI_NOTIFY_SPIKE_FACTOR",
                 id="factor"),
])
def test_bad_notification_settings_are_named(env, problem):
    with pytest.raises(ConfigError, match=problem):
        load_settings(env)


def test_smtp_settings_with_a_password_file(tmp_path):
    secret = tmp_path / "smtp-password"
    secret.write_text("from-a-file\n")
    settings = load_settings({"VISITORAPI_SMTP_HOST": "localhost", "VISITORAPI_SMTP_FROM":
                              "a@b.example", "VISITORAPI_SMTP_STARTTLS": "off",
                              "VISITORAPI_SMTP_USER": "u",
                              "VISITORAPI_SMTP_PASSWORD_FILE": str(secret)})
    assert (settings.smtp.password, settings.smtp.starttls, settings.smtp.port) == \
        ("from-a-file", False, 587)
    assert load_settings({}).smtp is None
