-- Operator accounts for the dashboard: passwords, TOTP, recovery codes,
-- server-side sessions and login throttling. Nothing here is about visitors.

-- One row per operator. The email is stored lowercased; the password hash
-- carries its own scrypt parameters (visitorapi.passwords). totp_secret is
-- set only once enrollment is confirmed with a first code; totp_last_step is
-- the last RFC 6238 time step accepted, so no code is accepted twice.
CREATE TABLE accounts (
    id INTEGER PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL CHECK (role IN ('owner', 'member')),
    password_hash TEXT NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    totp_secret TEXT,
    totp_pending_secret TEXT,
    totp_last_step INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    password_changed_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);

-- Projects a member may see (owners see all). No foreign key: a deleted
-- project's grants are ignored by the join and pruned on the next change.
CREATE TABLE account_grants (
    account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    pid TEXT NOT NULL,
    PRIMARY KEY (account_id, pid)
);

-- Ten one-time recovery codes per enrollment, stored as SHA-256 digests
-- (the codes carry 80 random bits, so a fast hash is enough).
CREATE TABLE recovery_codes (
    account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    used_at TEXT,
    PRIMARY KEY (account_id, code_hash)
);

-- Server-side sessions. Only the SHA-256 of the cookie value is stored, so a
-- copy of this file does not hold live session ids. stage: 'anonymous'
-- (before login; holds the login form's CSRF token), 'mfa' (password given,
-- second factor pending), 'full'. Times are Unix seconds.
CREATE TABLE sessions (
    id_hash TEXT PRIMARY KEY,
    account_id INTEGER REFERENCES accounts (id) ON DELETE CASCADE,
    stage TEXT NOT NULL CHECK (stage IN ('anonymous', 'mfa', 'full')),
    csrf_token TEXT NOT NULL,
    created_at REAL NOT NULL,
    last_seen_at REAL NOT NULL,
    reauth_at REAL,
    label TEXT NOT NULL DEFAULT ''
);
CREATE INDEX sessions_by_account ON sessions (account_id);

-- Failed-login counters. key is 'account:<sha256 of email>' or
-- 'client:<HMAC of the IP>'; never a raw IP.
CREATE TABLE login_throttle (
    key TEXT PRIMARY KEY,
    failures INTEGER NOT NULL,
    last_failure_at REAL NOT NULL,
    blocked_until REAL NOT NULL
);

-- Dashboard-wide settings: require_mfa, the throttle's HMAC key.
CREATE TABLE dashboard_settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
