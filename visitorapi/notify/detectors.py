"""Detectors: read what the store already records and turn it into events.

Each detector runs in one write transaction that reads, records its events
(:func:`visitorapi.notify.events.record`) and moves its mark
(``notify_marks``) together, so an event is raised exactly once even when
two background processes run (the second waits for the lock, then sees the
moved mark). A detector's first run only sets its mark: history from before
notifications were switched on is not replayed.

What is watched, and the thresholds (docs/notifications.md):

- the audit trail (:func:`scan_audit`): users created, disabled or given a
  new role; MFA turned off or reset; the last recovery code used; a project
  disabled or deleted; a security notice is recorded by its publisher;
- refused origins (:func:`scan_refused`): a website refused for a project
  for the first time (at most one message per project and hour), and more
  than ``refused_per_hour`` refused requests for a project within the current UTC hour (once per project and hour);
- usage (:func:`scan_usage`): the last full UTC hour's requests for a project
  above ``spike_factor`` times its baseline and above ``spike_floor``; the
  baseline is the median of its daily requests over the 7 full UTC days
  before today, divided by 24 (days without requests count as 0);
- the IP database (:func:`scan_database`, :func:`scan_refused_database`):
  older than ``VISITORAPI_DB_MAX_AGE_DAYS`` (once per database build), or a
  file the workers refuse (once per file version). Update failures are
  recorded by ``visitorapi update`` itself (:func:`record_update_failure`).
"""
import json
import statistics
import time
from dataclasses import dataclass

from visitorapi.notify.events import Event, record
from visitorapi.state import accounts, audit, notifications, projects
from visitorapi.state.db import transaction
from visitorapi.state.usage import OTHER_ORIGINS, SERVICE

AUDIT_BATCH = 500
MAX_ORIGINS_LISTED = 20


@dataclass(frozen=True)
class Thresholds:
    refused_per_hour: int = 100
    spike_factor: float = 10.0
    spike_floor: int = 1000


def _hour(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H", time.gmtime(seconds))


def _project_label(conn, pid) -> str:
    project = projects.get(conn, pid) if pid else None
    return f"{project.name} ({pid})" if project else str(pid)


# -- the audit trail -------------------------------------------------------------

def _subject(entry):
    for value in (entry.after, entry.before):
        if isinstance(value, dict) and value.get("account"):
            return value["account"]
    return None


def audit_event(conn, entry):
    """The event for one audit entry and who hears it, or None when it is not one.

    Returns:
        ``(Event, audience)``, audience being the keyword arguments for
        :func:`visitorapi.notify.events.record`.
    """
    who = _subject(entry)
    by = f"By {entry.actor} at {entry.at}."
    about_user = {"owners": True, "account": who}
    if entry.action == "account.created":
        role = (entry.after or {}).get("role", "")
        return Event("security", f"User {who} created ({role})", by), about_user
    if entry.action == "account.disabled":
        return Event("security", f"User {who} disabled", by), about_user
    if entry.action == "account.role_changed":
        role = (entry.after or {}).get("role", "")
        return Event("security", f"User {who} is now {role}", by), about_user
    if entry.action in ("mfa.disabled", "mfa.reset"):
        what = "reset" if entry.action == "mfa.reset" else "turned off"
        return Event("security", f"Two-factor authentication {what} for {who}",
                     by + " If this was not expected, check the account at once."), about_user
    if entry.action == "mfa.recovery_code_used":
        account = accounts.find(conn, who) if who else None
        if account is None or accounts.recovery_codes_left(conn, account):
            return None
        return Event("security", f"{who} has used the last recovery code",
                     f"{by} Make new recovery codes on the Security page."), about_user
    if entry.action in ("project.disabled", "project.deleted"):
        what = entry.action.split(".")[1]
        name = (entry.before or {}).get("name")   # a deleted project's last state
        label = f"{name} ({entry.pid})" if name else _project_label(conn, entry.pid)
        return Event("security", f"Project {label} {what}", by, pid=entry.pid), {}
    return None


def scan_audit(conn, now: float) -> int:
    """Turn new audit entries into events; return how many deliveries were queued."""
    with transaction(conn):
        last = notifications.get_mark(conn, "audit.last_id")
        if last is None:
            newest = conn.execute("SELECT coalesce(max(id), 0) FROM audit_log").fetchone()[0]
            notifications.set_mark(conn, "audit.last_id", str(newest))
            return 0
        entries = audit.entries_after(conn, int(last), AUDIT_BATCH)
        queued = 0
        for entry in entries:
            found = audit_event(conn, entry)
            if found is not None:
                event, audience = found
                queued += record(conn, event, now, **audience)
        if entries:
            notifications.set_mark(conn, "audit.last_id", str(entries[-1].id))
        return queued


# -- refused origins -------------------------------------------------------------

def scan_refused(conn, now: float, thresholds: Thresholds = Thresholds()) -> int:
    """New refused websites, and projects refused often this hour; return deliveries queued."""
    with transaction(conn):
        queued = 0
        hour = _hour(now)
        for pid, origins in sorted(_new_refused_origins(conn, now).items()):
            # NOTE: anyone can send any Origin with a real pid; one message per project and
            # hour keeps that from becoming a mail flood.
            if notifications.get_mark(conn, f"refused.new:{pid}") == hour:
                continue
            notifications.set_mark(conn, f"refused.new:{pid}", hour)
            listed = "\n".join(f"  {origin}" for origin in origins[:MAX_ORIGINS_LISTED])
            more = len(origins) - MAX_ORIGINS_LISTED
            details = ("The API refused requests from a website it had not refused before "
                       "(it is not among the project's authorized domains):\n" + listed +
                       (f"\n  and {more} more" if more > 0 else "") +
                       "\nIf it is yours, authorize it; if not, another site is using "
                       "this project id. Websites first refused later this hour are not sent "
                       "separately: the project's page lists every refused website.")
            queued += record(conn, Event(
                "refused", f"New website refused for {_project_label(conn, pid)}",
                details, pid=pid), now)
        for pid, denied in conn.execute(
                "SELECT pid, denied FROM usage_hourly WHERE hour = ? AND pid <> ? AND denied > ?",
                (hour, SERVICE, thresholds.refused_per_hour)).fetchall():
            mark = f"refused.many:{pid}"
            if notifications.get_mark(conn, mark) == hour:
                continue
            notifications.set_mark(conn, mark, hour)
            queued += record(conn, Event(
                "refused", f"Many refused requests for {_project_label(conn, pid)}",
                f"{denied} requests were refused for an unauthorized website in the UTC hour "
                f"{hour}:00 (alert threshold {thresholds.refused_per_hour}). The Projects page "
                "lists the refused websites.", pid=pid), now)
        return queued


def _new_refused_origins(conn, now: float) -> dict:
    """``{pid: [origin]}`` first refused since the last call; moves the mark.

    The mark is the newest ``first_seen`` handled (whole seconds) and the
    origins first seen in that very second, so one refused a moment later
    in the same second is still new next time, and none is told twice.
    """
    mark = json.loads(notifications.get_mark(conn, "refused.first_seen", "null"))
    since, handled = (mark["at"], set(map(tuple, mark["seen"]))) if mark else \
        (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)), None)
    rows = [(pid, origin, first_seen) for pid, origin, first_seen in conn.execute(
        "SELECT pid, origin, first_seen FROM usage_denied_origins "
        "WHERE first_seen >= ? AND pid <> ? ORDER BY first_seen, pid, origin", (since, SERVICE))
        if (pid, origin) not in (handled or ())]
    newest = max([since] + [row[2] for row in rows])
    seen = {(pid, origin) for pid, origin, first_seen in rows if first_seen == newest}
    if newest == since:
        seen |= handled or set()
    notifications.set_mark(conn, "refused.first_seen",
                           json.dumps({"at": newest, "seen": sorted(seen)}))
    if handled is None:
        return {}   # the first run: what is there already is history
    new = {}
    for pid, origin, _ in rows:
        if origin != OTHER_ORIGINS:
            new.setdefault(pid, []).append(origin)
    return new


# -- usage far above the baseline ---------------------------------------------

def baseline(conn, pid: str, now: float) -> float:
    """Requests per hour a project usually gets: the median daily total of the 7 full UTC
    days before today, divided by 24."""
    today = int(now // 86400)
    days = [time.strftime("%Y-%m-%d", time.gmtime((today - back) * 86400))
            for back in range(7, 0, -1)]
    totals = dict(conn.execute(
        "SELECT day, served + denied + rate_limited FROM usage_daily "
        "WHERE pid = ? AND day BETWEEN ? AND ?", (pid, days[0], days[-1])).fetchall())
    return statistics.median(totals.get(day, 0) for day in days) / 24


def scan_usage(conn, now: float, thresholds: Thresholds = Thresholds()) -> int:
    """Projects whose last full hour was far above their baseline; return deliveries queued."""
    with transaction(conn):
        hour = _hour(now - 3600)
        queued = 0
        for pid, total in conn.execute(
                "SELECT pid, served + denied + rate_limited FROM usage_hourly "
                "WHERE hour = ? AND pid <> ? AND served + denied + rate_limited > ?",
                (hour, SERVICE, thresholds.spike_floor)).fetchall():
            usual = baseline(conn, pid, now)
            mark = f"usage.spike:{pid}"
            if total <= thresholds.spike_factor * usual or \
                    notifications.get_mark(conn, mark) == hour:
                continue
            notifications.set_mark(conn, mark, hour)
            queued += record(conn, Event(
                "usage", f"Unusual usage for {_project_label(conn, pid)}",
                f"{total} requests in the UTC hour {hour}:00, against a usual {usual:.0f} per "
                f"hour (median day of the last 7, divided by 24); alerts fire above "
                f"{thresholds.spike_factor:g} times the usual and above {thresholds.spike_floor}. "
                "Check the project's usage and refused websites on the dashboard.", pid=pid), now)
        return queued


# -- the IP database -------------------------------------------------------------

def scan_database(conn, now: float, built: float | None, max_age_days: float, path) -> int:
    """An event when the served database is older than ``max_age_days`` (once per build)."""
    if built is None or now - built <= max_age_days * 86400:
        return 0
    with transaction(conn):
        if notifications.get_mark(conn, "ipdb.stale") == str(int(built)):
            return 0
        notifications.set_mark(conn, "ipdb.stale", str(int(built)))
        built_text = time.strftime("%Y-%m-%d", time.gmtime(built))
        return record(conn, Event(
            "ipdb", "The IP database is out of date",
            f"{path} was built on {built_text}, {(now - built) / 86400:.0f} days ago (limit "
            f"{max_age_days:g} days, VISITORAPI_DB_MAX_AGE_DAYS). Locations drift as address "
            "blocks move: run 'visitorapi update' (docs/operations.md)."), now, owners=True)


def scan_refused_database(conn, now: float, problem: str, identity: str, path) -> int:
    """An event when the database file cannot be opened (once per file version): the
    workers refuse it and keep serving what they had, or serve nothing."""
    with transaction(conn):
        if notifications.get_mark(conn, "ipdb.refused") == identity:
            return 0
        notifications.set_mark(conn, "ipdb.refused", identity)
        return record(conn, Event(
            "ipdb", "The IP database file was refused",
            f"{path} cannot be opened: {problem}\nRunning workers keep serving the database "
            "they had; a worker that starts now has none. Replace the file with a good one "
            "('visitorapi update', or restore it) and check /readyz."), now, owners=True)


def record_update_failure(conn, target, reason: str, now: float) -> int:
    """Tell owners that ``visitorapi update`` failed or refused the new file."""
    with transaction(conn):
        return record(conn, Event(
            "ipdb", "An IP database update failed",
            f"Updating {target} failed; the current database keeps serving.\nReason: {reason}"),
            now, owners=True)
