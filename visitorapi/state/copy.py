"""Copy everything a store holds into another, empty one (SQLite -> PostgreSQL, or back).

The move from one machine to several is a copy: stop the writers (the CLI,
the dashboard), copy, point every node at the new store. The copy runs as
one transaction on the destination, so it lands whole or not at all, and it
reads the source in one snapshot. Both stores are first brought to the
schema this visitorapi knows, so their tables match; the destination must be
empty, so nothing is merged or overwritten by accident.

Ids are copied as they are (accounts, audit entries), so grants, recovery
codes, sessions and the audit trail keep pointing at the same rows.
"""
from visitorapi.errors import OperatorError
from visitorapi.state.db import Connection, transaction

# Every table with data, parents before children. projects_revision is not
# data (the destination's own triggers move it), nor is schema_migrations.
TABLES = (
    ("projects", "created_at, rowid"),
    ("project_domains", "pid, pattern"),
    ("audit_log", "id"),
    ("usage_daily", "day, pid"),
    ("usage_hourly", "hour, pid"),
    ("usage_countries", "day, pid, country_code"),
    ("usage_denied_origins", "pid, origin"),
    ("accounts", "id"),
    ("account_grants", "account_id, pid"),
    ("recovery_codes", "account_id, code_hash"),
    ("sessions", "id_hash"),
    ("login_throttle", "key"),
    ("dashboard_settings", "name"),
    ("notify_subscriptions", "account_id, kind, channel"),
    ("notify_webhooks", "id"),
    ("notify_outbox", "id"),
    ("notify_marks", "name"),
    ("notify_known_browsers", "account_id, label"),
)


def copy_store(source: Connection, destination: Connection) -> dict:
    """Copy every table of ``source`` into the empty ``destination``; return ``{table: rows}``.

    Raises:
        OperatorError: the destination already holds data.
    """
    source.execute("BEGIN")     # NOTE: one snapshot of the source, however long the copy
    try:
        with transaction(destination):
            occupied = [table for table, _ in TABLES
                        if destination.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone()]
            if occupied:
                raise OperatorError(f"the destination already holds data ({', '.join(occupied)});"
                                    " copy into a new, empty store")
            copied = {table: _copy_table(source, destination, table, order)
                      for table, order in TABLES}
    finally:
        source.execute("COMMIT")
    return copied


def _copy_table(source, destination, table, order) -> int:
    columns = [c for c in _columns(source, table) if c in set(_columns(destination, table))]
    names = ", ".join(columns)
    rows = source.execute(f"SELECT {names} FROM {table} ORDER BY {order}").fetchall()
    destination.executemany(f"INSERT INTO {table} ({names}) VALUES "
                            f"({', '.join('?' * len(columns))})", rows)
    destination.engine.after_copy(destination, table)
    return len(rows)


def _columns(conn, table) -> list:
    return [column[0] for column in conn.execute(f"SELECT * FROM {table} LIMIT 0").description]


def count_rows(conn: Connection) -> dict:
    """``{table: rows}`` for every copied table (to compare a copy with its source)."""
    return {table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table, _ in TABLES}
