"""``visitorapi users``: create (prompted or --password-stdin), list, disable, enable, reset-mfa."""
import pytest

from conftest import run_cli
from visitorapi import passwords
from visitorapi.state import accounts, db

PASSWORD = "violet staple orbit"


def test_first_account_defaults_to_owner_then_member(state_path):
    first = run_cli("users", "create", "Boss@Example.com", "--password-stdin", input=PASSWORD + "\n")
    assert first.returncode == 0, first.stderr
    assert "created owner boss@example.com" in first.stdout
    second = run_cli("users", "create", "m@example.com", "--password-stdin", input=PASSWORD + "\n")
    assert "created member m@example.com" in second.stdout
    listing = run_cli("users", "list")
    assert listing.returncode == 0
    lines = listing.stdout.splitlines()
    assert lines[0].split() == ["EMAIL", "ROLE", "STATUS", "MFA", "CREATED"]
    assert lines[1].split()[:4] == ["boss@example.com", "owner", "active", "off"]
    assert lines[2].split()[:4] == ["m@example.com", "member", "active", "off"]
    # NOTE: safe to read the bytes: only the CLI subprocesses, now gone, opened this store.
    assert PASSWORD not in state_path.read_bytes().decode("latin-1")


@pytest.mark.parametrize("args, stdin, status, message", [
    pytest.param(["x@example.com"], "short\n", 1, "at least 12", id="short-password"),
    pytest.param(["x@example.com"], "qwerty123456\n", 1, "breached", id="breached-password"),
    pytest.param(["x@example.com"], "", 1, "standard input is empty", id="no-input"),
    pytest.param(["not-an-email"], PASSWORD + "\n", 1, "not an email", id="bad-email"),
    pytest.param(["x@example.com", "--role", "root"], PASSWORD + "\n", 2, "invalid choice",
                 id="bad-role"),
])
def test_create_errors(state_path, args, stdin, status, message):
    result = run_cli("users", "create", *args, "--password-stdin", input=stdin)
    assert result.returncode == status
    assert message in result.stderr


def test_duplicate_and_unknown_accounts(state_path):
    run_cli("users", "create", "a@example.com", "--password-stdin", input=PASSWORD + "\n")
    dup = run_cli("users", "create", "A@example.com", "--password-stdin", input=PASSWORD + "\n")
    assert dup.returncode == 1 and "already exists" in dup.stderr
    missing = run_cli("users", "disable", "ghost@example.com")
    assert missing.returncode == 1 and "no account 'ghost@example.com'" in missing.stderr


def test_disable_enable_and_reset_mfa(state_path):
    run_cli("users", "create", "o@example.com", "--password-stdin", input=PASSWORD + "\n")
    run_cli("users", "create", "m@example.com", "--password-stdin", input=PASSWORD + "\n")
    conn = db.connect(state_path)
    try:
        member = accounts.find(conn, "m@example.com")
        secret = accounts.begin_enrollment(conn, member)
        from visitorapi import totp
        assert accounts.confirm_enrollment(conn, member, totp.totp(totp.decode_secret(secret), 1e9),
                                           1e9, "test")
        assert accounts.find(conn, "m@example.com").mfa_enabled
    finally:
        conn.close()
    assert run_cli("users", "disable", "m@example.com").returncode == 0
    assert "disabled" in run_cli("users", "list").stdout.splitlines()[1]
    assert "last active owner" in run_cli("users", "disable", "o@example.com").stderr
    assert run_cli("users", "enable", "m@example.com").returncode == 0
    reset = run_cli("users", "reset-mfa", "m@example.com")
    assert reset.returncode == 0 and "MFA is off" in reset.stdout
    conn = db.connect(state_path)
    try:
        assert not accounts.find(conn, "m@example.com").mfa_enabled
    finally:
        conn.close()


def test_prompt_asks_twice_and_refuses_a_mismatch(monkeypatch, state_path):
    from visitorapi.cli import main
    answers = iter(["first passphrase!", "second passphrase"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    assert main(["users", "create", "p@example.com"]) == 1
    answers = iter([PASSWORD, PASSWORD])
    previous = passwords.set_default_params(passwords.ScryptParams(n=16, r=1, p=1))
    try:
        assert main(["users", "create", "p@example.com"]) == 0
    finally:
        passwords.set_default_params(previous)


def test_require_mfa(state_path):
    assert "MFA required for every account: no" in run_cli("users", "list").stdout
    result = run_cli("users", "require-mfa", "yes")
    assert result.returncode == 0 and "required for every account" in result.stdout
    assert "MFA required for every account: yes" in run_cli("users", "list").stdout
    assert run_cli("users", "require-mfa", "maybe").returncode == 2
