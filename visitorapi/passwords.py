"""Operator passwords: the policy a new password must meet, and scrypt hashing.

A password is at least :data:`MIN_LENGTH` characters and is not in the
shipped list of common breached passwords (``data/common-passwords.txt.gz``,
see ``data/README.md``), compared case-insensitively as that list is
lowercased. Passwords are hashed with ``hashlib.scrypt`` (RFC 7914); each
hash carries its own cost parameters and salt, so the parameters can be
raised later and old hashes upgraded at the next successful login
(:func:`needs_rehash`). Hashes are compared in constant time.

Stored form: ``scrypt$n=32768,r=8,p=1$<salt, base64>$<key, base64>``.
"""
import base64
import functools
import gzip
import hashlib
import hmac
import secrets
import unicodedata
from dataclasses import dataclass

from visitorapi.errors import OperatorError
from visitorapi.resources import data_path

MIN_LENGTH = 12
MAX_LENGTH = 1024  # NOTE: bounds the work one login attempt can cause
COMMON_PASSWORDS_FILE = "common-passwords.txt.gz"
SALT_BYTES = 16
KEY_BYTES = 32


class PasswordRejected(OperatorError):
    """A new password does not meet the policy; the message says which rule."""


@dataclass(frozen=True, order=True)
class ScryptParams:
    """scrypt cost parameters (RFC 7914 section 2): CPU/memory cost n, block size r, parallelism p."""

    n: int = 2 ** 15
    r: int = 8
    p: int = 1

    @property
    def maxmem(self) -> int:
        """Memory scrypt needs (128 * n * r bytes, RFC 7914 section 5), with headroom."""
        return 128 * self.n * self.r * (self.p + 1) + 1024 * 1024

    def encode(self) -> str:
        return f"n={self.n},r={self.r},p={self.p}"

    @classmethod
    def decode(cls, text: str) -> "ScryptParams":
        fields = dict(part.split("=", 1) for part in text.split(","))
        return cls(n=int(fields["n"]), r=int(fields["r"]), p=int(fields["p"]))

    def weaker_than(self, other: "ScryptParams") -> bool:
        """True when any cost parameter is below ``other``'s."""
        return self.n < other.n or self.r < other.r or self.p < other.p


# The parameters new hashes get. ~32 MiB and ~0.1 s per hash on a slow core;
# tests lower them through set_default_params().
DEFAULT_PARAMS = ScryptParams()
_current = DEFAULT_PARAMS


def current_params() -> ScryptParams:
    """The parameters new hashes are made with."""
    return _current


def set_default_params(params: ScryptParams) -> ScryptParams:
    """Change the parameters for new hashes (tests, or an operator raising them); return the old ones."""
    global _current
    previous, _current = _current, params
    return previous


def _normalize(password: str) -> bytes:
    # NOTE: NFC so the same password typed on two systems hashes the same
    # (NIST SP 800-63B 5.1.1.2 recommends normalizing Unicode passwords).
    return unicodedata.normalize("NFC", password).encode("utf-8")


def hash_password(password: str, params: ScryptParams = None) -> str:
    """Return the stored form of ``password`` under ``params`` (default: current) with a fresh salt."""
    params = params or _current
    salt = secrets.token_bytes(SALT_BYTES)
    key = _derive(password, salt, params)
    return "$".join(["scrypt", params.encode(), _b64(salt), _b64(key)])


def verify_password(password: str, stored: str) -> bool:
    """True when ``password`` matches the stored hash. Constant-time compare.

    A malformed stored hash never matches (and never raises), so a damaged
    account row cannot be logged into.
    """
    try:
        scheme, params_text, salt_text, key_text = stored.split("$")
        if scheme != "scrypt":
            return False
        params = ScryptParams.decode(params_text)
        salt, expected = _unb64(salt_text), _unb64(key_text)
    except (ValueError, KeyError, AttributeError):
        return False
    if len(password) > MAX_LENGTH:
        return False
    return hmac.compare_digest(_derive(password, salt, params, len(expected)), expected)


def needs_rehash(stored: str) -> bool:
    """True when the stored hash uses weaker parameters than the current ones (rehash at login)."""
    try:
        params = ScryptParams.decode(stored.split("$")[1])
    except (IndexError, ValueError, KeyError):
        return True
    return params.weaker_than(_current)


def dummy_verify(password: str) -> None:
    """Spend the time of one verification, so an unknown account answers as slowly as a known one."""
    verify_password(password, _dummy_hash(_current))


@functools.lru_cache(maxsize=4)
def _dummy_hash(params: ScryptParams) -> str:
    return hash_password(secrets.token_urlsafe(16), params)


def check_policy(password: str) -> None:
    """Raise :class:`PasswordRejected` unless ``password`` may be used as a new password."""
    if len(password) < MIN_LENGTH:
        raise PasswordRejected(f"the password must be at least {MIN_LENGTH} characters long "
                               f"(it has {len(password)})")
    if len(password) > MAX_LENGTH:
        raise PasswordRejected(f"the password must be at most {MAX_LENGTH} characters long")
    if password.strip() != password:
        raise PasswordRejected("the password must not start or end with whitespace")
    if password.lower() in common_passwords():
        raise PasswordRejected("this password is in a list of commonly used breached passwords; "
                               "choose another (a few unrelated words make a strong one)")


@functools.lru_cache(maxsize=1)
def common_passwords() -> frozenset:
    """The shipped breached-password list, lowercased (loaded once)."""
    with gzip.open(data_path(COMMON_PASSWORDS_FILE), "rt", encoding="utf-8") as lines:
        return frozenset(line.strip().lower() for line in lines if line.strip())


def _derive(password: str, salt: bytes, params: ScryptParams, length: int = KEY_BYTES) -> bytes:
    return hashlib.scrypt(_normalize(password), salt=salt, n=params.n, r=params.r, p=params.p,
                          maxmem=params.maxmem, dklen=length)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
