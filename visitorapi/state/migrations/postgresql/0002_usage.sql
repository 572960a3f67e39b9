-- PostgreSQL twin of ../0002_usage.sql: aggregate usage counters, counts only
-- (no IP, no User-Agent, no Referer). pid '' is the whole service.

CREATE TABLE usage_daily (
    day             TEXT COLLATE "C" NOT NULL,
    pid             TEXT COLLATE "C" NOT NULL,
    served          BIGINT NOT NULL DEFAULT 0,
    denied          BIGINT NOT NULL DEFAULT 0,
    rate_limited    BIGINT NOT NULL DEFAULT 0,
    bad_request     BIGINT NOT NULL DEFAULT 0,
    unknown_project BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (day, pid)
);
CREATE INDEX usage_daily_by_pid ON usage_daily (pid, day);

CREATE TABLE usage_hourly (
    hour            TEXT COLLATE "C" NOT NULL,
    pid             TEXT COLLATE "C" NOT NULL,
    served          BIGINT NOT NULL DEFAULT 0,
    denied          BIGINT NOT NULL DEFAULT 0,
    rate_limited    BIGINT NOT NULL DEFAULT 0,
    bad_request     BIGINT NOT NULL DEFAULT 0,
    unknown_project BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (hour, pid)
);
CREATE INDEX usage_hourly_by_pid ON usage_hourly (pid, hour);

CREATE TABLE usage_countries (
    day          TEXT COLLATE "C" NOT NULL,
    pid          TEXT COLLATE "C" NOT NULL,
    country_code TEXT COLLATE "C" NOT NULL,
    requests     BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (day, pid, country_code)
);
CREATE INDEX usage_countries_by_pid ON usage_countries (pid, day);

-- Websites refused for a project (the website, never the visitor).
CREATE TABLE usage_denied_origins (
    pid        TEXT COLLATE "C" NOT NULL,
    origin     TEXT COLLATE "C" NOT NULL,
    requests   BIGINT NOT NULL DEFAULT 0,
    first_seen TEXT COLLATE "C" NOT NULL,
    last_seen  TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (pid, origin)
);
CREATE INDEX usage_denied_origins_by_last_seen ON usage_denied_origins (last_seen);
