"""TOTP (RFC 6238) and HOTP (RFC 4226) against the RFCs' published test vectors."""
import base64

import pytest
from hypothesis import given, strategies as st

from visitorapi import totp

# RFC 6238 Appendix B: the seed is the ASCII digits repeated to the hash's length.
SEEDS = {
    "sha1": b"12345678901234567890",
    "sha256": b"12345678901234567890123456789012",
    "sha512": b"1234567890123456789012345678901234567890123456789012345678901234",
}
RFC6238_VECTORS = [
    (59, "94287082", "sha1"), (59, "46119246", "sha256"), (59, "90693936", "sha512"),
    (1111111109, "07081804", "sha1"), (1111111109, "68084774", "sha256"),
    (1111111109, "25091201", "sha512"),
    (1111111111, "14050471", "sha1"), (1111111111, "67062674", "sha256"),
    (1111111111, "99943326", "sha512"),
    (1234567890, "89005924", "sha1"), (1234567890, "91819424", "sha256"),
    (1234567890, "93441116", "sha512"),
    (2000000000, "69279037", "sha1"), (2000000000, "90698825", "sha256"),
    (2000000000, "38618901", "sha512"),
    (20000000000, "65353130", "sha1"), (20000000000, "77737706", "sha256"),
    (20000000000, "47863826", "sha512"),
]


@pytest.mark.parametrize("unix_time, expected, algorithm", [
    pytest.param(t, code, alg, id=f"{alg}-{t}") for t, code, alg in RFC6238_VECTORS])
def test_rfc6238_appendix_b(unix_time, expected, algorithm):
    assert totp.totp(SEEDS[algorithm], unix_time, digits=8, algorithm=algorithm) == expected


# RFC 4226 Appendix D: HOTP-SHA-1, 6 digits, counters 0..9.
@pytest.mark.parametrize("counter, expected", list(enumerate(
    ["755224", "287082", "359152", "969429", "338314",
     "254676", "287922", "162583", "399871", "520489"])))
def test_rfc4226_appendix_d(counter, expected):
    assert totp.hotp(SEEDS["sha1"], counter) == expected


SECRET = base64.b32encode(SEEDS["sha1"]).decode()  # GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ


def code_at(unix_time):
    return totp.totp(SEEDS["sha1"], unix_time)


@pytest.mark.parametrize("offset_steps, accepted", [
    pytest.param(-2, False, id="two-steps-old"),
    pytest.param(-1, True, id="one-step-old"),
    pytest.param(0, True, id="current"),
    pytest.param(1, True, id="one-step-ahead"),
    pytest.param(2, False, id="two-steps-ahead"),
])
def test_window_is_plus_minus_one_step(offset_steps, accepted):
    now = 1_700_000_015
    step = totp.time_step(now)
    match = totp.match_step(SECRET, code_at(now + 30 * offset_steps), now)
    assert (match == step + offset_steps) if accepted else match is None


@pytest.mark.parametrize("code", [
    pytest.param("", id="empty"), pytest.param("12345", id="short"),
    pytest.param("1234567", id="long"), pytest.param("12a456", id="letter"),
    pytest.param("١٢٣٤٥٦", id="arabic-indic-digits"),
])
def test_malformed_codes_never_match(code):
    assert totp.match_step(SECRET, code, 1_700_000_000) is None


def test_code_with_spaces_is_accepted():
    code = code_at(1_700_000_000)
    assert totp.match_step(SECRET, f" {code[:3]} {code[3:]} ", 1_700_000_000) is not None


def test_secret_is_160_bits_of_base32():
    secret = totp.new_secret()
    assert len(totp.decode_secret(secret)) == 20
    assert secret != totp.new_secret()


@given(st.binary(min_size=10, max_size=64), st.integers(min_value=0, max_value=2 ** 40))
def test_hotp_matches_naive_rfc4226(key, counter):
    import hmac
    digest = hmac.new(key, counter.to_bytes(8, "big"), "sha1").digest()
    offset = digest[19] & 0xF
    binary = ((digest[offset] & 0x7F) << 24 | digest[offset + 1] << 16
              | digest[offset + 2] << 8 | digest[offset + 3])
    assert totp.hotp(key, counter) == "%06d" % (binary % 1_000_000)


def test_provisioning_uri_carries_the_parameters():
    uri = totp.provisioning_uri("ABC", "a+b@example.com", "visitorapi")
    assert uri.startswith("otpauth://totp/visitorapi:a%2Bb@example.com?")
    assert "secret=ABC" in uri and "issuer=visitorapi" in uri
    assert "digits=6" in uri and "period=30" in uri and "algorithm=SHA1" in uri
