-- Notifications for operators (issue 14): who is told what, how, and what
-- was sent. Nothing here is about visitors: an event names a project, a
-- kind, a title and details built from settings and counts, never an
-- address, a user agent or a visitor's page.

-- Which event kinds reach an account, by which channel. No row: not told
-- (security notices, kind 'notice', reach every active account by email
-- whatever is chosen here; see visitorapi.notify.events).
CREATE TABLE notify_subscriptions (
    account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    channel TEXT NOT NULL CHECK (channel IN ('email', 'webhook')),
    PRIMARY KEY (account_id, kind, channel)
);

-- An account's webhooks. secret signs each body (HMAC-SHA256); it is shown
-- once, when the webhook is added, and never written into the outbox.
CREATE TABLE notify_webhooks (
    id INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    url TEXT NOT NULL CHECK (length(url) <= 500),
    secret TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX notify_webhooks_by_account ON notify_webhooks (account_id);

-- The outbox and the delivery log in one: one row per (event, recipient,
-- channel), written in the transaction that notices the event; the sender
-- claims due rows, tries, and records the outcome. state: 'pending' (to try
-- at next_attempt_at), 'sending' (claimed until next_attempt_at), 'sent',
-- 'failed' (gave up after the last attempt, or its webhook was removed: the
-- row stays in the log with webhook_id NULL). Times: created_at/updated_at
-- 'YYYY-MM-DDTHH:MM:SSZ'; next_attempt_at Unix seconds.
CREATE TABLE notify_outbox (
    id INTEGER PRIMARY KEY,
    created_at TEXT NOT NULL,
    kind TEXT NOT NULL,
    pid TEXT,
    title TEXT NOT NULL,
    details TEXT NOT NULL,
    account_id INTEGER REFERENCES accounts (id) ON DELETE CASCADE,
    channel TEXT NOT NULL CHECK (channel IN ('email', 'webhook')),
    webhook_id INTEGER REFERENCES notify_webhooks (id) ON DELETE SET NULL,
    state TEXT NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'sending', 'sent', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    last_error TEXT NOT NULL DEFAULT '',
    updated_at TEXT NOT NULL
);
CREATE INDEX notify_outbox_due ON notify_outbox (state, next_attempt_at);
CREATE INDEX notify_outbox_by_account ON notify_outbox (account_id, id);

-- The detectors' memory: how far the audit trail has been read, which
-- alerts were already raised this hour (so each is raised once).
CREATE TABLE notify_marks (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Browsers each account has signed in from ("Firefox on Linux", the coarse
-- label the sessions list shows), so a sign-in from a new one can be told.
CREATE TABLE notify_known_browsers (
    account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    label TEXT NOT NULL,
    first_seen TEXT NOT NULL,
    PRIMARY KEY (account_id, label)
);
