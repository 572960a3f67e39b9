"""Password policy and scrypt hashing: parameters stored per hash, rehash when raised."""
import pytest

from visitorapi import passwords
from visitorapi.passwords import PasswordRejected, ScryptParams

WEAK = ScryptParams(n=2 ** 4, r=1, p=1)
STRONGER = ScryptParams(n=2 ** 5, r=1, p=1)


@pytest.fixture(autouse=True)
def fast_params():
    previous = passwords.set_default_params(WEAK)
    yield
    passwords.set_default_params(previous)


def test_hash_records_parameters_and_verifies():
    stored = passwords.hash_password("correct horse battery")
    assert stored.startswith("scrypt$n=16,r=1,p=1$")
    assert passwords.verify_password("correct horse battery", stored)
    assert not passwords.verify_password("correct horse batterY", stored)


def test_same_password_gets_a_fresh_salt():
    assert passwords.hash_password("same password!") != passwords.hash_password("same password!")


def test_unicode_is_normalized_before_hashing():
    stored = passwords.hash_password("caf\u00e9 au lait, please")
    assert passwords.verify_password("cafe\u0301 au lait, please", stored)


def test_raised_parameters_ask_for_a_rehash():
    stored = passwords.hash_password("correct horse battery")
    assert not passwords.needs_rehash(stored)
    passwords.set_default_params(STRONGER)
    assert passwords.needs_rehash(stored)
    assert passwords.verify_password("correct horse battery", stored)  # old hashes still verify
    assert not passwords.needs_rehash(passwords.hash_password("correct horse battery"))


@pytest.mark.parametrize("stored", [
    pytest.param("", id="empty"), pytest.param("plain", id="no-fields"),
    pytest.param("md5$n=16,r=1,p=1$AAAA$AAAA", id="other-scheme"),
    pytest.param("scrypt$n=16$AAAA$AAAA", id="missing-params"),
    pytest.param("scrypt$n=16,r=1,p=1$!!$AAAA", id="bad-base64"),
])
def test_malformed_hashes_never_match(stored):
    assert passwords.verify_password("anything at all", stored) is False


@pytest.mark.parametrize("password, message", [
    pytest.param("short", "at least 12", id="too-short"),
    pytest.param("elevenchars", "at least 12", id="eleven"),
    pytest.param("qwerty123456", "breached", id="breached"),
    pytest.param("QWERTY123456", "breached", id="breached-any-case"),
    pytest.param(" leading space ok?", "whitespace", id="leading-space"),
    pytest.param("x" * 1025, "at most", id="too-long"),
])
def test_policy_refuses(password, message):
    with pytest.raises(PasswordRejected, match=message):
        passwords.check_policy(password)


@pytest.mark.parametrize("password", [
    pytest.param("twelve chars", id="exactly-12"),
    pytest.param("violet staple orbit", id="passphrase"),
])
def test_policy_accepts(password):
    passwords.check_policy(password)


def test_shipped_list_is_loaded():
    common = passwords.common_passwords()
    assert len(common) > 10000 and "password" in common and "1q2w3e4r5t6y" in common
