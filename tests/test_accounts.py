"""Accounts, TOTP enrollment and replay, recovery codes, sessions and login throttling."""
import pytest

from visitorapi import passwords, totp
from visitorapi.state import accounts, db, sessions, throttle
from visitorapi.errors import OperatorError
from visitorapi.state.accounts import AccountError

NOW = 1_700_000_000.0
ACTOR = "test:suite"
PASSWORD = "violet staple orbit"
pytestmark = pytest.mark.usefixtures("fast_scrypt")


@pytest.fixture
def conn(store_location):
    connection = db.connect(store_location, create=True)
    yield connection
    connection.close()


@pytest.fixture
def owner(conn):
    return accounts.create(conn, "Owner@Example.com", PASSWORD, "owner", ACTOR)


def current_code(secret, now=NOW):
    return totp.totp(totp.decode_secret(secret), now)


def enroll(conn, account, now=NOW):
    secret = accounts.begin_enrollment(conn, account)
    codes = accounts.confirm_enrollment(conn, account, current_code(secret, now), now, ACTOR)
    return secret, codes


# --- accounts -----------------------------------------------------------------

def test_create_stores_lowercased_email_and_a_scrypt_hash(conn, owner):
    assert owner.email == "owner@example.com" and owner.role == "owner"
    assert owner.password_hash.startswith("scrypt$") and PASSWORD not in owner.password_hash
    assert accounts.find(conn, " OWNER@example.com ") == owner


@pytest.mark.parametrize("email, role, password, error", [
    pytest.param("not-an-email", "member", PASSWORD, "not an email", id="bad-email"),
    pytest.param("a b@example.com", "member", PASSWORD, "not an email", id="space-in-email"),
    pytest.param("m@example.com", "admin", PASSWORD, "unknown role", id="bad-role"),
    pytest.param("m@example.com", "member", "short", "at least 12", id="short-password"),
    pytest.param("owner@example.com", "member", PASSWORD, "already exists", id="duplicate"),
])
def test_create_refuses(conn, owner, email, role, password, error):
    with pytest.raises(OperatorError, match=error):
        accounts.create(conn, email, password, role, ACTOR)


def test_check_password(conn, owner):
    assert accounts.check_password(conn, "owner@example.com", PASSWORD) == owner
    assert accounts.check_password(conn, "owner@example.com", PASSWORD + "x") is None
    assert accounts.check_password(conn, "nobody@example.com", PASSWORD) is None


def test_login_rehashes_when_parameters_were_raised(conn, owner):
    passwords.set_default_params(passwords.ScryptParams(n=2 ** 5, r=1, p=1))
    account = accounts.check_password(conn, owner.email, PASSWORD)
    assert account.password_hash.startswith("scrypt$n=32,r=1,p=1$")
    assert account.password_hash != owner.password_hash
    assert accounts.check_password(conn, owner.email, PASSWORD) == account  # still logs in


def test_disabled_account_cannot_log_in_and_loses_sessions(conn, owner):
    member = accounts.create(conn, "m@example.com", PASSWORD, "member", ACTOR)
    sessions.create(conn, NOW, member.id, "full")
    accounts.set_disabled(conn, member.email, True, ACTOR)
    assert accounts.check_password(conn, member.email, PASSWORD) is None
    assert sessions.for_account(conn, member.id, NOW) == []


def test_last_owner_cannot_be_disabled_or_demoted(conn, owner):
    with pytest.raises(AccountError, match="last active owner"):
        accounts.set_disabled(conn, owner.email, True, ACTOR)
    with pytest.raises(AccountError, match="last active owner"):
        accounts.set_role(conn, owner.email, "member", ACTOR)


def test_member_sees_only_granted_projects(conn, owner):
    member = accounts.create(conn, "m@example.com", PASSWORD, "member", ACTOR)
    accounts.set_grant(conn, member.email, "pid-a", True, ACTOR)
    assert accounts.can_see(conn, member, "pid-a") and not accounts.can_see(conn, member, "pid-b")
    assert accounts.can_see(conn, owner, "pid-b")
    accounts.set_grant(conn, member.email, "pid-a", False, ACTOR)
    assert not accounts.can_see(conn, member, "pid-a")


def test_password_change_ends_every_session(conn, owner):
    for _ in range(3):
        sessions.create(conn, NOW, owner.id, "full")
    accounts.change_password(conn, owner, "another fine passphrase", ACTOR)
    assert sessions.for_account(conn, owner.id, NOW) == []
    assert accounts.check_password(conn, owner.email, "another fine passphrase")
    assert accounts.check_password(conn, owner.email, PASSWORD) is None


# --- TOTP -----------------------------------------------------------------------

def test_mfa_is_off_until_a_first_code_is_confirmed(conn, owner):
    secret = accounts.begin_enrollment(conn, owner)
    assert accounts.begin_enrollment(conn, owner) == secret  # reloading the page keeps it
    assert not accounts.get(conn, owner.id).mfa_enabled
    assert accounts.confirm_enrollment(conn, owner, "000000", NOW, ACTOR) in (None,)
    assert not accounts.get(conn, owner.id).mfa_enabled
    codes = accounts.confirm_enrollment(conn, owner, current_code(secret), NOW, ACTOR)
    assert len(codes) == 10 and len(set(codes)) == 10
    assert accounts.get(conn, owner.id).mfa_enabled


def test_a_totp_code_is_accepted_only_once(conn, owner):
    secret, _ = enroll(conn, owner)
    later = NOW + 60
    code = current_code(secret, later)
    assert accounts.verify_second_factor(conn, owner, code, later) == "totp"
    assert accounts.verify_second_factor(conn, owner, code, later) == ""  # replay
    # The confirmation code's step (NOW) is older than the last accepted: refused too.
    assert accounts.verify_second_factor(conn, owner, current_code(secret, NOW), later) == ""


def test_enrollment_code_cannot_be_replayed_at_login(conn, owner):
    secret, _ = enroll(conn, owner)
    assert accounts.verify_second_factor(conn, owner, current_code(secret), NOW) == ""


def test_wrong_totp_code_is_refused(conn, owner):
    secret, _ = enroll(conn, owner)
    wrong = "%06d" % ((int(current_code(secret, NOW + 30)) + 1) % 1_000_000)
    assert accounts.verify_second_factor(conn, owner, wrong, NOW + 30) == ""


def test_recovery_codes_work_once_each_and_are_stored_hashed(conn, owner):
    _, codes = enroll(conn, owner)
    stored = [row[0] for row in conn.execute("SELECT code_hash FROM recovery_codes")]
    assert len(stored) == 10 and not set(codes) & set(stored)
    assert accounts.verify_second_factor(conn, owner, codes[0].upper(), NOW) == "recovery"
    assert accounts.verify_second_factor(conn, owner, codes[0], NOW) == ""
    assert accounts.recovery_codes_left(conn, owner) == 9
    fresh = accounts.regenerate_recovery_codes(conn, owner, ACTOR)
    assert accounts.verify_second_factor(conn, owner, codes[1], NOW) == ""  # old set is void
    assert accounts.verify_second_factor(conn, owner, fresh[1], NOW) == "recovery"


def test_disable_mfa_forgets_secret_and_codes(conn, owner):
    _, codes = enroll(conn, owner)
    account = accounts.disable_mfa(conn, owner.email, ACTOR)
    assert not account.mfa_enabled
    assert accounts.verify_second_factor(conn, account, codes[0], NOW) == ""


def test_require_mfa_setting(conn, owner):
    assert not accounts.mfa_required(conn)
    accounts.set_mfa_required(conn, True, ACTOR)
    assert accounts.mfa_required(conn)


# --- sessions -------------------------------------------------------------------

def test_session_ids_are_random_256_bit_and_stored_hashed(conn, owner):
    cookie, session = sessions.create(conn, NOW, owner.id, "full")
    assert len(cookie) == 43  # 32 bytes, base64url
    assert cookie not in {row[0] for row in conn.execute("SELECT id_hash FROM sessions")}
    assert sessions.load(conn, cookie, NOW) == session


@pytest.mark.parametrize("stage, age, idle, alive", [
    pytest.param("full", 60, 60, True, id="fresh"),
    pytest.param("full", sessions.IDLE_SECONDS - 1, sessions.IDLE_SECONDS - 1, True,
                 id="just-inside-idle"),
    pytest.param("full", sessions.IDLE_SECONDS, sessions.IDLE_SECONDS, False, id="idle-timeout"),
    pytest.param("full", sessions.ABSOLUTE_SECONDS, 10, False, id="absolute-timeout"),
    pytest.param("mfa", sessions.STAGE_LIFETIME["mfa"], 10, False, id="mfa-step-timeout"),
    pytest.param("anonymous", sessions.STAGE_LIFETIME["anonymous"], 10, False,
                 id="anonymous-timeout"),
])
def test_session_expiry(conn, owner, stage, age, idle, alive):
    cookie, _ = sessions.create(conn, NOW, owner.id, stage)
    # Keep it active until `idle` seconds before the check.
    t = NOW
    while t + sessions.TOUCH_EVERY < NOW + age - idle:
        t += sessions.TOUCH_EVERY
        assert sessions.load(conn, cookie, t) is not None
    conn.execute("UPDATE sessions SET last_seen_at = ?", (NOW + age - idle,))
    assert (sessions.load(conn, cookie, NOW + age) is not None) == alive


def test_rotation_invalidates_the_old_id_and_csrf_token(conn, owner):
    cookie, session = sessions.create(conn, NOW, owner.id, "mfa")
    new_cookie, rotated = sessions.rotate(conn, session, NOW + 1, stage="full")
    assert new_cookie != cookie and rotated.csrf_token != session.csrf_token
    assert sessions.load(conn, cookie, NOW + 1) is None
    assert sessions.load(conn, new_cookie, NOW + 1).stage == "full"
    assert not rotated.csrf_matches(session.csrf_token)


@pytest.mark.parametrize("token, ok", [
    pytest.param(None, False, id="missing"), pytest.param("", False, id="empty"),
    pytest.param("x", False, id="wrong"), pytest.param("SELF", True, id="own"),
])
def test_csrf_token_check(conn, token, ok):
    _, session = sessions.create(conn, NOW)
    assert session.csrf_matches(session.csrf_token if token == "SELF" else token) is ok


def test_csrf_token_of_another_session_is_refused(conn):
    _, mine = sessions.create(conn, NOW)
    _, other = sessions.create(conn, NOW)
    assert not mine.csrf_matches(other.csrf_token)


# --- throttling -----------------------------------------------------------------

@pytest.mark.parametrize("failures, seconds", [
    pytest.param(1, 0, id="1-free"), pytest.param(3, 0, id="3-free"),
    pytest.param(4, 1, id="4-slow"), pytest.param(5, 2, id="5-doubles"),
    pytest.param(9, 32, id="9-slow"), pytest.param(10, 900, id="10-locked"),
    pytest.param(11, 1800, id="11-lock-doubles"), pytest.param(40, 86400, id="capped"),
])
def test_account_backoff(failures, seconds):
    assert throttle.delay_after(failures, throttle.ACCOUNT_POLICY) == seconds


def test_throttle_counts_per_key_and_success_clears_the_account(conn):
    account_key = throttle.account_key("a@example.com")
    client_key = throttle.client_key(conn, "192.0.2.1")
    keys = (account_key, client_key)
    t = NOW
    for _ in range(10):
        t += throttle.wait_seconds(conn, keys, t)
        throttle.record_failure(conn, keys, t)
    assert throttle.wait_seconds(conn, keys, t) == 900
    assert throttle.wait_seconds(conn, (throttle.account_key("b@example.com"),), t) == 0
    throttle.record_success(conn, account_key)
    assert throttle.wait_seconds(conn, keys, t) == throttle.delay_after(10, throttle.CLIENT_POLICY)


def test_client_key_is_an_hmac_not_the_ip(conn):
    key = throttle.client_key(conn, "198.51.100.7")
    assert "198.51.100.7" not in key and key == throttle.client_key(conn, "198.51.100.7")
    assert key != throttle.client_key(conn, "198.51.100.8")
    assert key.startswith("client:") and len(key) == len("client:") + 64


def test_quiet_keys_are_forgotten(conn):
    keys = (throttle.account_key("a@example.com"),)
    for _ in range(5):
        throttle.record_failure(conn, keys, NOW)
    later = NOW + throttle.FORGET_AFTER
    assert throttle.wait_seconds(conn, keys, later) == 0
    throttle.record_failure(conn, keys, later)
    assert throttle.failures(conn, keys[0]) == 1


def test_account_and_mfa_changes_are_audited_without_secrets(conn, owner):
    from visitorapi.state import audit
    secret, codes = enroll(conn, owner)
    accounts.verify_second_factor(conn, owner, codes[0], NOW)
    accounts.change_password(conn, owner, "another fine passphrase", ACTOR)
    member = accounts.create(conn, "m@example.com", PASSWORD, "member", ACTOR)
    accounts.set_grant(conn, member.email, "pid-a", True, ACTOR)
    accounts.set_role(conn, member.email, "owner", ACTOR)
    accounts.disable_mfa(conn, owner.email, ACTOR)
    accounts.set_mfa_required(conn, True, ACTOR)
    entries = audit.entries(conn)
    assert [e.action for e in entries] == [
        "account.created", "mfa.enabled", "mfa.recovery_code_used", "account.password_changed",
        "account.created", "account.granted", "account.role_changed", "mfa.disabled",
        "settings.mfa_required"]
    assert entries[5].pid == "pid-a"
    assert entries[6].before == {"account": "m@example.com", "role": "member"}
    dump = repr([e.as_dict() for e in entries])
    for secret_text in (PASSWORD, "another fine passphrase", secret, *codes):
        assert secret_text not in dump


def test_anonymous_sessions_are_capped(conn, monkeypatch):
    monkeypatch.setattr(sessions, "MAX_ANONYMOUS", 5)
    cookies = [sessions.create(conn, NOW + i)[0] for i in range(8)]
    assert conn.execute("SELECT count(*) FROM sessions").fetchone()[0] == 5
    assert sessions.load(conn, cookies[0], NOW + 8) is None  # the oldest went first
    assert sessions.load(conn, cookies[-1], NOW + 8) is not None


def test_grants_of_deleted_projects_are_pruned(conn, owner):
    from visitorapi.state import projects
    member = accounts.create(conn, "m@example.com", PASSWORD, "member", ACTOR)
    kept = projects.create(conn, "kept", [], actor=ACTOR).pid
    gone = projects.create(conn, "gone", [], actor=ACTOR).pid
    accounts.set_grant(conn, member.email, gone, True, ACTOR)
    projects.delete(conn, gone, actor=ACTOR)
    accounts.set_grant(conn, member.email, kept, True, ACTOR)
    assert accounts.granted_pids(conn, member) == {kept}
