"""Operator accounts: who may use the dashboard, with what role, password and second factor.

An *owner* manages users and every project; a *member* sees only the
projects granted to them. Passwords follow :mod:`visitorapi.passwords`;
the second factor is TOTP (:mod:`visitorapi.totp`) with ten one-time
recovery codes made at enrollment. MFA is switched on only once the user
confirms a first code, and an owner can require it for every account.

Every change is written to the audit trail with the actor that made it
(``"cli:<user>"`` or ``"dashboard:<email>"``); secrets never are.
Functions take an open connection from :func:`visitorapi.state.db.connect`.
"""
import hashlib
import re
import secrets
from dataclasses import dataclass

from visitorapi import passwords, totp
from visitorapi.errors import OperatorError
from visitorapi.state import audit
from visitorapi.state.db import Connection, IntegrityError, transaction

ROLES = ("owner", "member")
RECOVERY_CODE_COUNT = 10
ISSUER = "visitorapi"
# RFC 5321 section 4.5.3.1 limits a path to 256 octets; one "@", no spaces or controls.
_EMAIL = re.compile(r"^[^@\s\x00-\x1f\x7f]{1,64}@[^@\s\x00-\x1f\x7f]{1,253}$")


class AccountError(OperatorError):
    """A request about an account that cannot be done; the message says why."""


@dataclass(frozen=True)
class Account:
    """An operator account as stored (the TOTP secret stays in the store; ``mfa_enabled`` says
    whether one is set). Times are UTC ``YYYY-MM-DDTHH:MM:SSZ``."""

    id: int
    email: str
    role: str
    disabled: bool
    mfa_enabled: bool
    password_hash: str
    created_at: str
    password_changed_at: str

    @property
    def is_owner(self) -> bool:
        return self.role == "owner"


_COLUMNS = ("id, email, role, disabled, totp_secret IS NOT NULL, password_hash, created_at, "
            "password_changed_at")


def _row_to_account(row) -> Account:
    return Account(row[0], row[1], row[2], bool(row[3]), bool(row[4]), row[5], row[6], row[7])


def normalize_email(email: str) -> str:
    """Lowercase and strip an email address; raise :class:`AccountError` if it is not one."""
    email = email.strip().lower()
    if not _EMAIL.match(email):
        raise AccountError(f"{email!r} is not an email address (expected name@example.com)")
    return email


# --- reading ---------------------------------------------------------------

def find(conn: Connection, email: str):
    """The account for ``email``, or ``None`` (also for a malformed address)."""
    try:
        email = normalize_email(email)
    except AccountError:
        return None
    row = conn.execute(f"SELECT {_COLUMNS} FROM accounts WHERE email = ?", (email,)).fetchone()
    return _row_to_account(row) if row else None


def get(conn: Connection, account_id: int):
    """The account with ``account_id``, or ``None``."""
    row = conn.execute(f"SELECT {_COLUMNS} FROM accounts WHERE id = ?", (account_id,)).fetchone()
    return _row_to_account(row) if row else None


def require(conn: Connection, email: str) -> Account:
    """The account for ``email``; raise :class:`AccountError` naming it when there is none."""
    account = find(conn, email)
    if account is None:
        raise AccountError(f"no account {email.strip().lower()!r}; "
                           "see 'visitorapi users list'")
    return account


def list_accounts(conn: Connection) -> list:
    """Every account, by email."""
    return [_row_to_account(row)
            for row in conn.execute(f"SELECT {_COLUMNS} FROM accounts ORDER BY email")]


def granted_pids(conn: Connection, account: Account) -> set:
    """The pids a member was granted (owners see everything; this is their explicit list)."""
    return {row[0] for row in conn.execute(
        "SELECT pid FROM account_grants WHERE account_id = ?", (account.id,))}


def can_see(conn: Connection, account: Account, pid: str) -> bool:
    """True when ``account`` may see and manage project ``pid``."""
    return account.is_owner or pid in granted_pids(conn, account)


def mfa_required(conn: Connection) -> bool:
    """True when an owner has required MFA for every account."""
    return get_setting(conn, "require_mfa") == "1"


def get_setting(conn: Connection, name: str, default=None):
    row = conn.execute("SELECT value FROM dashboard_settings WHERE name = ?", (name,)).fetchone()
    return row[0] if row else default


def _put_setting(conn: Connection, name: str, value: str) -> None:
    conn.execute("INSERT INTO dashboard_settings (name, value) VALUES (?, ?) "
                 "ON CONFLICT (name) DO UPDATE SET value = excluded.value", (name, value))


# --- creating and changing accounts ----------------------------------------

def create(conn: Connection, email: str, password: str, role: str, actor: str) -> Account:
    """Create an account.

    Raises:
        AccountError: bad email, unknown role, or the email is taken.
        passwords.PasswordRejected: the password breaks the policy.
    """
    email = normalize_email(email)
    if role not in ROLES:
        raise AccountError(f"unknown role {role!r}; choose one of: {', '.join(ROLES)}")
    passwords.check_policy(password)
    password_hash = passwords.hash_password(password)
    with transaction(conn):
        try:
            conn.execute("INSERT INTO accounts (email, role, password_hash) VALUES (?, ?, ?)",
                         (email, role, password_hash))
        except IntegrityError:
            raise AccountError(f"an account {email!r} already exists") from None
        audit.append(conn, actor=actor, action="account.created",
                     after={"account": email, "role": role})
    return find(conn, email)


def set_disabled(conn: Connection, email: str, disabled: bool, actor: str) -> Account:
    """Disable (or re-enable) an account; disabling ends its sessions at once."""
    account = require(conn, email)
    if disabled and account.is_owner and _other_active_owners(conn, account) == 0:
        raise AccountError(f"{account.email} is the last active owner; "
                           "make another owner first, or nobody could manage the dashboard")
    with transaction(conn):
        conn.execute("UPDATE accounts SET disabled = ? WHERE id = ?", (int(disabled), account.id))
        if disabled:
            conn.execute("DELETE FROM sessions WHERE account_id = ?", (account.id,))
        audit.append(conn, actor=actor,
                     action="account.disabled" if disabled else "account.enabled",
                     before={"account": account.email, "disabled": account.disabled},
                     after={"account": account.email, "disabled": disabled})
    return get(conn, account.id)


def set_role(conn: Connection, email: str, role: str, actor: str) -> Account:
    """Change an account's role; its sessions end, since its privileges changed."""
    account = require(conn, email)
    if role not in ROLES:
        raise AccountError(f"unknown role {role!r}; choose one of: {', '.join(ROLES)}")
    if account.role == role:
        return account
    if account.is_owner and not account.disabled and _other_active_owners(conn, account) == 0:
        raise AccountError(f"{account.email} is the last active owner; make another owner first")
    with transaction(conn):
        conn.execute("UPDATE accounts SET role = ? WHERE id = ?", (role, account.id))
        conn.execute("DELETE FROM sessions WHERE account_id = ?", (account.id,))
        audit.append(conn, actor=actor, action="account.role_changed",
                     before={"account": account.email, "role": account.role},
                     after={"account": account.email, "role": role})
    return get(conn, account.id)


def set_grant(conn: Connection, email: str, pid: str, granted: bool, actor: str) -> None:
    """Grant (or revoke) a member's access to project ``pid``."""
    account = require(conn, email)
    with transaction(conn):
        # Grants of deleted projects are pruned here, at the next change of grants.
        conn.execute("DELETE FROM account_grants WHERE pid NOT IN (SELECT pid FROM projects)")
        if granted:
            changed = conn.execute("INSERT INTO account_grants (account_id, pid) "
                                   "VALUES (?, ?) ON CONFLICT DO NOTHING", (account.id, pid)).rowcount
        else:
            changed = conn.execute("DELETE FROM account_grants WHERE account_id = ? AND pid = ?",
                                   (account.id, pid)).rowcount
        if changed:
            audit.append(conn, actor=actor, pid=pid,
                         action="account.granted" if granted else "account.grant_revoked",
                         before=None if granted else {"account": account.email},
                         after={"account": account.email} if granted else None)


def _other_active_owners(conn: Connection, account: Account) -> int:
    return conn.execute("SELECT count(*) FROM accounts WHERE role = 'owner' AND disabled = 0 "
                        "AND id != ?", (account.id,)).fetchone()[0]


def set_mfa_required(conn: Connection, required: bool, actor: str) -> None:
    """Require (or stop requiring) MFA for every account."""
    with transaction(conn):
        before = get_setting(conn, "require_mfa") == "1"
        _put_setting(conn, "require_mfa", "1" if required else "0")
        if before != required:
            audit.append(conn, actor=actor, action="settings.mfa_required",
                         before={"mfa_required": before}, after={"mfa_required": required})


# --- passwords --------------------------------------------------------------

def check_password(conn: Connection, email: str, password: str):
    """The active account whose password this is, else ``None``.

    Spends the same scrypt work whether or not the account exists, so timing
    does not reveal it. On success, a hash made with weaker parameters than
    the current ones is replaced (rehash at login).
    """
    account = find(conn, email)
    if account is None or account.disabled:
        passwords.dummy_verify(password)
        return None
    if not passwords.verify_password(password, account.password_hash):
        return None
    if passwords.needs_rehash(account.password_hash):
        conn.execute("UPDATE accounts SET password_hash = ? WHERE id = ? AND password_hash = ?",
                     (passwords.hash_password(password), account.id, account.password_hash))
        account = get(conn, account.id)
    return account


def change_password(conn: Connection, account: Account, new_password: str,
                    actor: str) -> Account:
    """Set a new password and end every session of the account (the caller starts a fresh one)."""
    passwords.check_policy(new_password)
    password_hash = passwords.hash_password(new_password)
    with transaction(conn):
        conn.execute("UPDATE accounts SET password_hash = ?, "
                     "password_changed_at = ? WHERE id = ?",
                     (password_hash, audit.utc_now(), account.id))
        conn.execute("DELETE FROM sessions WHERE account_id = ?", (account.id,))
        audit.append(conn, actor=actor, action="account.password_changed",
                     after={"account": account.email})
    return get(conn, account.id)


# --- TOTP and recovery codes -----------------------------------------------

def begin_enrollment(conn: Connection, account: Account) -> str:
    """Make (or return the pending) TOTP secret; MFA stays off until :func:`confirm_enrollment`."""
    row = conn.execute("SELECT totp_pending_secret FROM accounts WHERE id = ?",
                       (account.id,)).fetchone()
    if row and row[0]:
        return row[0]
    secret = totp.new_secret()
    conn.execute("UPDATE accounts SET totp_pending_secret = ? WHERE id = ?", (secret, account.id))
    return secret


def provisioning_uri(account: Account, secret: str) -> str:
    """The ``otpauth://`` URI for an authenticator app."""
    return totp.provisioning_uri(secret, account.email, ISSUER)


def confirm_enrollment(conn: Connection, account: Account, code: str, now: float,
                       actor: str):
    """Switch MFA on if ``code`` is valid for the pending secret; return the ten recovery codes.

    Returns ``None`` (and changes nothing) for a wrong code or when no
    enrollment is pending.
    """
    row = conn.execute("SELECT totp_pending_secret FROM accounts WHERE id = ?",
                       (account.id,)).fetchone()
    secret = row[0] if row else None
    step = totp.match_step(secret, code, now) if secret else None
    if step is None:
        return None
    with transaction(conn):
        conn.execute("UPDATE accounts SET totp_secret = totp_pending_secret, "
                     "totp_pending_secret = NULL, totp_last_step = ? WHERE id = ?",
                     (step, account.id))
        codes = _replace_recovery_codes(conn, account)
        audit.append(conn, actor=actor, action="mfa.enabled",
                     before={"account": account.email, "mfa": False},
                     after={"account": account.email, "mfa": True})
    return codes


def verify_second_factor(conn: Connection, account: Account, code: str, now: float) -> str:
    """Check a TOTP code or a recovery code; return ``"totp"``, ``"recovery"`` or ``""``.

    A TOTP code is accepted only for a time step newer than the last one
    accepted (RFC 6238 section 5.2: "the verifier MUST NOT accept the second
    attempt of the OTP"); a recovery code only once. Both are consumed in
    the same UPDATE that checks them, so two racing requests cannot both win.
    """
    row = conn.execute("SELECT totp_secret FROM accounts WHERE id = ?", (account.id,)).fetchone()
    if not row or not row[0]:
        return ""
    step = totp.match_step(row[0], code, now)
    if step is not None:
        used = conn.execute("UPDATE accounts SET totp_last_step = ? "
                            "WHERE id = ? AND totp_last_step < ?",
                            (step, account.id, step)).rowcount
        return "totp" if used else ""
    digest = _recovery_digest(code)
    if digest is None:
        return ""
    with transaction(conn):
        used = conn.execute("UPDATE recovery_codes SET used_at = ? "
                            "WHERE account_id = ? AND code_hash = ? AND used_at IS NULL",
                            (audit.utc_now(), account.id, digest)).rowcount
        if used:
            audit.append(conn, actor=f"dashboard:{account.email}", action="mfa.recovery_code_used",
                         after={"account": account.email})
    return "recovery" if used else ""


def recovery_codes_left(conn: Connection, account: Account) -> int:
    return conn.execute("SELECT count(*) FROM recovery_codes WHERE account_id = ? "
                        "AND used_at IS NULL", (account.id,)).fetchone()[0]


def regenerate_recovery_codes(conn: Connection, account: Account, actor: str) -> list:
    """Replace the recovery codes with ten new ones; return them (shown once)."""
    with transaction(conn):
        codes = _replace_recovery_codes(conn, account)
        audit.append(conn, actor=actor, action="mfa.recovery_codes_replaced",
                     after={"account": account.email})
    return codes


def disable_mfa(conn: Connection, email: str, actor: str, action="mfa.disabled",
                end_sessions: bool = False):
    """Switch MFA off, forgetting the secret and the recovery codes (also ``users reset-mfa``).

    ``end_sessions`` logs the account out everywhere: a reset is for a lost
    (maybe stolen) authenticator.
    """
    account = require(conn, email)
    with transaction(conn):
        conn.execute("UPDATE accounts SET totp_secret = NULL, totp_pending_secret = NULL, "
                     "totp_last_step = 0 WHERE id = ?", (account.id,))
        conn.execute("DELETE FROM recovery_codes WHERE account_id = ?", (account.id,))
        if end_sessions:
            conn.execute("DELETE FROM sessions WHERE account_id = ?", (account.id,))
        audit.append(conn, actor=actor, action=action,
                     before={"account": account.email, "mfa": account.mfa_enabled},
                     after={"account": account.email, "mfa": False})
    return get(conn, account.id)


def _replace_recovery_codes(conn: Connection, account: Account) -> list:
    codes = [new_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
    conn.execute("DELETE FROM recovery_codes WHERE account_id = ?", (account.id,))
    conn.executemany("INSERT INTO recovery_codes (account_id, code_hash) VALUES (?, ?)",
                     [(account.id, _recovery_digest(code)) for code in codes])
    return codes


_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i look-alikes


def new_recovery_code() -> str:
    """16 characters from a 31-symbol alphabet (79 bits), grouped ``xxxx-xxxx-xxxx-xxxx``."""
    raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(16))
    return "-".join(raw[i:i + 4] for i in range(0, 16, 4))


def _recovery_digest(code: str):
    """SHA-256 of the code without separators and case, or ``None`` if it cannot be one."""
    cleaned = code.strip().lower().replace("-", "").replace(" ", "")
    if len(cleaned) != 16 or any(ch not in _RECOVERY_ALPHABET for ch in cleaned):
        return None
    return hashlib.sha256(cleaned.encode("ascii")).hexdigest()
