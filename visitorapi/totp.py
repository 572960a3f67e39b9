"""Time-based one-time passwords: RFC 6238 (TOTP) on RFC 4226 (HOTP).

The dashboard uses SHA-1, 30-second steps and 6 digits, the parameters
every authenticator app supports, and accepts a code from the current step
or one step either side (RFC 6238 section 5.2). Replay protection (each code
accepted only once) needs state, so :func:`match_step` returns the matched
time step and the caller (``visitorapi.state.accounts``) refuses any step not
newer than the last one it accepted.

The functions are pure: the time is an argument, which is also how the
RFC 6238 Appendix B vectors (8 digits, SHA-1/256/512) are tested.
"""
import base64
import hashlib
import hmac
import secrets
import struct
from urllib.parse import quote, urlencode

STEP_SECONDS = 30
DIGITS = 6
WINDOW = 1  # steps accepted either side of the current one
SECRET_BYTES = 20  # 160 bits, the HMAC-SHA-1 block-friendly size RFC 4226 section 4 recommends


def new_secret() -> str:
    """A fresh random shared secret, base32 without padding (as authenticator apps expect)."""
    return base64.b32encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii").rstrip("=")


def decode_secret(secret: str) -> bytes:
    """Decode a base32 secret, tolerating lowercase, spaces and missing padding.

    Raises:
        ValueError: the text is not base32.
    """
    text = secret.replace(" ", "").upper()
    return base64.b32decode(text + "=" * (-len(text) % 8))


def hotp(key: bytes, counter: int, digits: int = DIGITS, algorithm: str = "sha1") -> str:
    """RFC 4226 section 5.3: HMAC, dynamic truncation, modulo 10^digits, zero-padded."""
    digest = hmac.new(key, struct.pack(">Q", counter), algorithm).digest()
    offset = digest[-1] & 0x0F
    code = struct.unpack(">I", digest[offset:offset + 4])[0] & 0x7FFFFFFF
    return str(code % 10 ** digits).zfill(digits)


def time_step(unix_time: float, step: int = STEP_SECONDS) -> int:
    """RFC 6238 section 4.2: T = floor((now - T0) / X) with T0 = 0."""
    return int(unix_time // step)


def totp(key: bytes, unix_time: float, digits: int = DIGITS, algorithm: str = "sha1",
         step: int = STEP_SECONDS) -> str:
    """The TOTP code for ``unix_time`` (RFC 6238 section 4)."""
    return hotp(key, time_step(unix_time, step), digits, algorithm)


def match_step(secret: str, code: str, unix_time: float, window: int = WINDOW):
    """Return the time step whose code equals ``code`` within ±``window`` steps, else ``None``.

    Every candidate is compared in constant time, and all are compared, so
    the answer's timing does not say which step matched.
    """
    code = code.strip().replace(" ", "")
    if len(code) != DIGITS or not code.isascii() or not code.isdigit():
        return None
    try:
        key = decode_secret(secret)
    except ValueError:
        return None
    now = time_step(unix_time)
    found = None
    for candidate in range(now - window, now + window + 1):
        if hmac.compare_digest(hotp(key, candidate), code) and found is None:
            found = candidate
    return found


def provisioning_uri(secret: str, account: str, issuer: str) -> str:
    """The ``otpauth://totp/`` URI authenticator apps import (Google Authenticator Key URI format)."""
    label = quote(f"{issuer}:{account}", safe="@:")
    query = urlencode({"secret": secret, "issuer": issuer, "algorithm": "SHA1",
                       "digits": DIGITS, "period": STEP_SECONDS})
    return f"otpauth://totp/{label}?{query}"
