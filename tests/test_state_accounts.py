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
    pytest.param("adm\u202enim@example.com", "member", PASSWORD, "U\\+202E", id="bidi-override"),
    pytest.param("owner\u200b@example.com", "member", PASSWORD, "U\\+200B", id="zero-width-space"),
    pytest.param("a\x85b@example.com", "member", PASSWORD, "U\\+0085", id="c1-control"),
    pytest.param("a\x9bb@example.com", "member", PASSWORD, "U\\+009B", id="c1-csi"),
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
    client_key = throttle.client_key(conn, "192.0.2.1", NOW)
    keys = (account_key, client_key)
    t = NOW
    for _ in range(10):
        t += throttle.wait_seconds(conn, keys, t)
        throttle.record_failure(conn, keys, t)
    assert throttle.wait_seconds(conn, keys, t) == 900
    assert throttle.wait_seconds(conn, (throttle.account_key("b@example.com"),), t) == 0
    throttle.record_success(conn, account_key)
    assert throttle.wait_seconds(conn, keys, t) == throttle.delay_after(10, throttle.CLIENT_POLICY)


def test_client_key_is_an_hmac_of_the_network_not_the_ip(conn):
    key = throttle.client_key(conn, "198.51.100.7", NOW)
    assert "198.51.100" not in key and key == throttle.client_key(conn, "198.51.100.7", NOW)
    assert key == throttle.client_key(conn, "198.51.100.8", NOW)  # one /24, one counter
    assert key == throttle.client_key(conn, "::ffff:198.51.100.9", NOW)
    assert key != throttle.client_key(conn, "198.51.101.7", NOW)
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


def test_store_and_key_together_give_back_at_most_the_network(conn):
    """Brute force with the store's own key: the /24 (or /48) is found, never the address."""
    import hmac
    import ipaddress
    for ip in ("203.0.113.77", "2001:db8:aa:bb::1"):
        throttle.record_failure(conn, (throttle.client_key(conn, ip, NOW),), NOW)
    key_hex = conn.execute("SELECT value FROM dashboard_settings "
                           "WHERE name = 'throttle_key'").fetchone()[0].split()[0]
    stored = {row[0].removeprefix("client:") for row in
              conn.execute("SELECT key FROM login_throttle WHERE key LIKE 'client:%'")}

    def keyed(text):
        return hmac.new(bytes.fromhex(key_hex), text.encode(), "sha256").hexdigest()

    candidates = [str(address) for address in ipaddress.ip_network("203.0.113.0/24")]
    candidates += ["2001:db8:aa:bb::1", "2001:db8:aa:bb:0:0:0:1", "203.0.113.77"]
    assert not stored & {keyed(text) for text in candidates}
    assert stored == {keyed("203.0.113.0/24"), keyed("2001:db8:aa::/48")}


def test_the_client_key_and_client_rows_expire_within_a_day(conn):
    first = throttle.client_key(conn, "203.0.113.77", NOW)
    throttle.record_failure(conn, (first, throttle.account_key("a@example.com")), NOW)
    assert throttle.client_key(conn, "203.0.113.77", NOW + throttle.KEY_LIFETIME - 1) == first
    later = NOW + throttle.KEY_LIFETIME
    second = throttle.client_key(conn, "203.0.113.77", later)
    assert second != first
    assert throttle.failures(conn, first) == 0 and throttle.failures(conn, second) == 0
    assert throttle.failures(conn, throttle.account_key("a@example.com")) == 1  # not an address
    assert throttle.client_key(conn, "203.0.113.77", later + 60) == second


def test_rotate_key_drops_every_client_row_now(conn):
    first = throttle.client_key(conn, "203.0.113.77", NOW)
    throttle.record_failure(conn, (first,), NOW)
    assert throttle.rotate_key(conn, NOW) == 1
    assert throttle.client_key(conn, "203.0.113.77", NOW) != first


def test_reserve_counts_before_the_check_and_refund_gives_it_back(conn):
    keys = (throttle.account_key("a@example.com"),)
    for _ in range(throttle.ACCOUNT_POLICY.free + 1):
        assert throttle.reserve(conn, keys, NOW) == 0
    assert throttle.reserve(conn, keys, NOW) == throttle.ACCOUNT_POLICY.base_seconds
    assert throttle.failures(conn, keys[0]) == throttle.ACCOUNT_POLICY.free + 1  # refused: not counted
    throttle.refund(conn, keys)
    assert throttle.failures(conn, keys[0]) == throttle.ACCOUNT_POLICY.free
    assert throttle.wait_seconds(conn, keys, NOW) == 0
    for _ in range(throttle.ACCOUNT_POLICY.free):
        throttle.refund(conn, keys)
    assert conn.execute("SELECT count(*) FROM login_throttle").fetchone()[0] == 0


def _statements_cost(conn, action) -> int:
    """The work ``action`` makes the store do, as a count rather than wall-clock time.

    SQLite: virtual-machine steps. PostgreSQL: rows of ``sessions`` read by
    scans and index fetches (the server's own statistics, flushed after each
    statement), which is what a sort of the whole table would show.
    """
    if conn.engine.name == "postgresql":
        def rows_read():
            conn.execute("SELECT pg_stat_force_next_flush()")
            conn.execute("SELECT pg_stat_clear_snapshot()")
            return conn.execute("SELECT coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0)"
                                " FROM pg_stat_user_tables WHERE relname = 'sessions'"
                                ).fetchone()[0]
        before = rows_read()
        action()
        return rows_read() - before
    steps = [0]

    def count():
        steps[0] += 1
        return 0

    conn.raw.set_progress_handler(count, 1)
    try:
        action()
    finally:
        conn.raw.set_progress_handler(None, 1)
    return steps[0]


def test_starting_and_pruning_sessions_costs_the_same_at_the_cap(conn):
    """At the 10,000-session cap a login page view costs what it costs with 100 sessions."""
    def fill(count, start):  # all within one second: nothing expires, prune deletes nothing
        for i in range(start, start + count):
            sessions.create(conn, NOW + i / 100_000)
        if conn.engine.name == "postgresql":
            # NOTE: PostgreSQL plans from table statistics; autovacuum gathers them
            # after this many inserts in a running service, this does it at once.
            conn.execute("ANALYZE sessions")

    def cost_now(at):
        return (_statements_cost(conn, lambda: sessions.create(conn, at)),
                _statements_cost(conn, lambda: sessions.prune(conn, at)))

    fill(100, 0)
    small = cost_now(NOW + 1)
    fill(sessions.MAX_ANONYMOUS + 10, 200)
    assert conn.execute("SELECT count(*) FROM sessions").fetchone()[0] == sessions.MAX_ANONYMOUS
    large = cost_now(NOW + 1)
    assert large[0] < 2 * small[0], (small, large)
    assert large[1] < 2 * small[1], (small, large)
