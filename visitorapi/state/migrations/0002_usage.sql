-- Aggregate usage counters (issue 5). Counts only: no IP, no User-Agent, no
-- Referer, nothing that identifies a visitor. pid '' is the whole service: it
-- holds requests for unknown or disabled projects and malformed requests
-- whose project could not be read. Times are UTC; written by
-- visitorapi.state.usage in one transaction per flush.

-- Per project per UTC day ('YYYY-MM-DD'), kept for the retention period.
CREATE TABLE usage_daily (
    day             TEXT    NOT NULL,
    pid             TEXT    NOT NULL,
    served          INTEGER NOT NULL DEFAULT 0,
    denied          INTEGER NOT NULL DEFAULT 0,
    rate_limited    INTEGER NOT NULL DEFAULT 0,
    bad_request     INTEGER NOT NULL DEFAULT 0,
    unknown_project INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (day, pid)
) WITHOUT ROWID;
CREATE INDEX usage_daily_by_pid ON usage_daily (pid, day);

-- Per project per UTC hour ('YYYY-MM-DDTHH'), kept for 48 hours.
CREATE TABLE usage_hourly (
    hour            TEXT    NOT NULL,
    pid             TEXT    NOT NULL,
    served          INTEGER NOT NULL DEFAULT 0,
    denied          INTEGER NOT NULL DEFAULT 0,
    rate_limited    INTEGER NOT NULL DEFAULT 0,
    bad_request     INTEGER NOT NULL DEFAULT 0,
    unknown_project INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (hour, pid)
) WITHOUT ROWID;
CREATE INDEX usage_hourly_by_pid ON usage_hourly (pid, hour);

-- Served requests per project per day per country (ISO 3166-1 alpha-2, ''
-- when the database had no answer).
CREATE TABLE usage_countries (
    day          TEXT    NOT NULL,
    pid          TEXT    NOT NULL,
    country_code TEXT    NOT NULL,
    requests     INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (day, pid, country_code)
) WITHOUT ROWID;
CREATE INDEX usage_countries_by_pid ON usage_countries (pid, day);

-- Websites (origins, RFC 6454 serialization) refused for a project: how
-- another site is using this pid. The origin is the website, never the
-- visitor. Times are 'YYYY-MM-DDTHH:MM:SSZ'.
CREATE TABLE usage_denied_origins (
    pid        TEXT    NOT NULL,
    origin     TEXT    NOT NULL,
    requests   INTEGER NOT NULL DEFAULT 0,
    first_seen TEXT    NOT NULL,
    last_seen  TEXT    NOT NULL,
    PRIMARY KEY (pid, origin)
) WITHOUT ROWID;
CREATE INDEX usage_denied_origins_by_last_seen ON usage_denied_origins (last_seen);
